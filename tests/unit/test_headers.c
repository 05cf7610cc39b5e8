/*
 * RequestHeader and Header (server/headers.c): each action on a request's headers, early lines apart from the
 * others, Header's always and onsuccess, the order of the lines, a vhost's after the main server's, and the
 * configuration errors.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "conftest.h"
#include "headers.h"
#include "pool.h"

TestSuite(headers, .init = conftest_setup, .fini = conftest_teardown);

#define HEAD "Listen 127.0.0.1:8080\n"

/* The headers "Name: value" lines joined by '|' after the main server's lines of text whose `when` is in the
 * mask are applied to the headers given ("Name", "value", ..., NULL): its RequestHeader lines, or with
 * HDR_ONSUCCESS or HDR_ALWAYS in the mask its Header lines. */
static char *edited(const char *text, unsigned when, const char *const *in)
{
    struct server *s = conftest_load_ok(HEAD, text, NULL);
    struct pool *p = pool_create(4096);
    int n = 0;
    while (in[2 * n] != NULL)
        n++;
    struct http_header *hs = pool_alloc(p, sizeof(*hs) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        hs[i] = (struct http_header){.name = in[2 * i], .value = in[2 * i + 1]};
    const struct header_op *ops =
        when & (HDR_ONSUCCESS | HDR_ALWAYS) ? s->main.response_headers : s->main.request_headers;
    cr_assert_eq(headers_apply(p, ops, when, &hs, &n), 0);
    static char out[1024];
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s: %s", i ? "|" : "", hs[i].name,
                 hs[i].value);
    pool_destroy(p);
    config_free(s);
    return out;
}

static const char *const in[] = {"Host", "a", "Accept",  "text/html", "X-A", "1",
                                 "x-a",  "2", "X-Empty", "",          NULL};

Test(headers, actions)
{
    cr_assert_str_eq(edited("RequestHeader set X-A new\n", HDR_LATE, in),
                     "Host: a|Accept: text/html|X-Empty: |X-A: new", "set replaces every X-A, in any case");
    cr_assert_str_eq(edited("RequestHeader set X-New v\n", HDR_LATE, in),
                     "Host: a|Accept: text/html|X-A: 1|x-a: 2|X-Empty: |X-New: v");
    cr_assert_str_eq(edited("RequestHeader unset x-A\n", HDR_LATE, in),
                     "Host: a|Accept: text/html|X-Empty: ");
    cr_assert_str_eq(edited("RequestHeader append accept text/plain\n", HDR_LATE, in),
                     "Host: a|Accept: text/html, text/plain|X-A: 1|x-a: 2|X-Empty: ");
    cr_assert_str_eq(
        edited("RequestHeader append X-A 3\n", HDR_LATE, in),
        "Host: a|Accept: text/html|X-A: 1, 3|x-a: 2|X-Empty: ", "the first of them, as Apache's");
    cr_assert_str_eq(edited("RequestHeader append X-Empty v\n", HDR_LATE, in),
                     "Host: a|Accept: text/html|X-A: 1|x-a: 2|X-Empty: v");
    cr_assert_str_eq(edited("RequestHeader append X-None v\n", HDR_LATE, in),
                     "Host: a|Accept: text/html|X-A: 1|x-a: 2|X-Empty: |X-None: v");
    cr_assert_str_eq(edited("RequestHeader add X-A 3\n", HDR_LATE, in),
                     "Host: a|Accept: text/html|X-A: 1|x-a: 2|X-Empty: |X-A: 3");
    cr_assert_str_eq(edited("RequestHeader setifempty X-A 3\nRequestHeader setifempty X-B 4\n", HDR_LATE, in),
                     "Host: a|Accept: text/html|X-A: 1|x-a: 2|X-Empty: |X-B: 4", "only when absent");
    cr_assert_str_eq(
        edited("RequestHeader merge Accept text/html\nRequestHeader merge Accept a/b\n", HDR_LATE, in),
        "Host: a|Accept: text/html, a/b|X-A: 1|x-a: 2|X-Empty: ", "merge adds only what the list lacks");
}

Test(headers, order_and_early)
{
    const char *text = "RequestHeader set X-A early-one early\n"
                       "RequestHeader add X-B late\n"
                       "RequestHeader append X-A two\n"
                       "RequestHeader unset Host early\n";
    cr_assert_str_eq(edited(text, HDR_EARLY, in), "Accept: text/html|X-Empty: |X-A: early-one");
    cr_assert_str_eq(edited(text, HDR_LATE, in),
                     "Host: a|Accept: text/html|X-A: 1, two|x-a: 2|X-Empty: |X-B: late");
    /* many additions grow the array */
    char many[4096] = "";
    for (int i = 0; i < 40; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "RequestHeader add X-%d %d\n", i, i);
    const char *out = edited(many, HDR_LATE, in);
    cr_assert(strstr(out, "|X-0: 0|X-1: 1|") != NULL && strstr(out, "|X-39: 39") != NULL, "%s", out);
}

Test(headers, values_are_literal)
{
    cr_assert_str_eq(
        edited("RequestHeader set X-P \"100%% \\\"sure\\\"\"\n", HDR_LATE, (const char *const[]){NULL}),
        "X-P: 100% \"sure\"");
    conftest_expect_refused(HEAD, "RequestHeader set X-P %{HTTPS}e\n",
                            "test.conf:2: RequestHeader '%{HTTPS}e': format specifiers");
    conftest_expect_refused(HEAD, "RequestHeader set X-P \"a\tb%D\"\n", "format specifiers");
}

/* Header: the same actions on a response; `always` lines also on the server's own error pages. */
Test(headers, response_lines)
{
    const char *text = "Header set X-Frame-Options DENY\n"
                       "Header always set Strict-Transport-Security \"max-age=31536000\"\n"
                       "Header onsuccess unset Server\n"
                       "Header always append Cache-Control no-store\n"
                       "RequestHeader set X-Req 1\n";
    const char *const resp[] = {"Server", "app/1.0", "Cache-Control", "private", NULL};
    cr_assert_str_eq(edited(text, HDR_ONSUCCESS | HDR_ALWAYS, resp),
                     "Cache-Control: private, no-store|X-Frame-Options: DENY|"
                     "Strict-Transport-Security: max-age=31536000");
    cr_assert_str_eq(
        edited(text, HDR_ALWAYS, resp),
        "Server: app/1.0|Cache-Control: private, no-store|Strict-Transport-Security: max-age=31536000",
        "an error page: the always lines only");
    cr_assert_str_eq(edited(text, HDR_LATE, resp), "Server: app/1.0|Cache-Control: private|X-Req: 1",
                     "RequestHeader lines are the request's");
    conftest_expect_refused(
        HEAD, "Header set Content-Length 5\n",
        "test.conf:2: Header 'Content-Length': the server's own header, not to be edited");
    conftest_expect_refused(HEAD, "Header always unset connection\n",
                            "'connection': the server's own header");
    conftest_expect_refused(HEAD, "Header unset Content-Type\n", "the server's own header");
    conftest_expect_refused(HEAD, "Header set X v early\n", "'early': nothing is understood after the value");
    conftest_expect_refused(HEAD, "Header echo ^X-\n", "'echo': not supported");
    conftest_expect_refused(HEAD, "Header always\n", "Header takes an action");
    /* RequestHeader has no condition word */
    conftest_expect_refused(HEAD, "RequestHeader always set X v\n", "'always': the action must be");
}

Test(headers, vhosts_after_the_main_server)
{
    struct server *s = conftest_load_ok(HEAD,
                                        "RequestHeader set X-A main\n"
                                        "<VirtualHost *:8080>\n  RequestHeader set X-A own\n</VirtualHost>\n"
                                        "<VirtualHost *:8080>\n</VirtualHost>\n"
                                        "RequestHeader add X-B later\n",
                                        NULL);
    const struct header_op *a = s->vhosts->request_headers, *b = s->vhosts->next->request_headers;
    cr_assert_str_eq(a->value, "main");
    cr_assert_str_eq(a->next->value, "later", "the main server's lines, wherever written");
    cr_assert_str_eq(a->next->next->value, "own");
    cr_assert_null(a->next->next->next);
    cr_assert_str_eq(b->value, "main");
    cr_assert_str_eq(b->next->value, "later");
    cr_assert_null(b->next->next);
    cr_assert_null(s->main.request_headers->next->next);
    config_free(s);
}

Test(headers, errors)
{
    conftest_expect_refused(HEAD, "RequestHeader set\n", "test.conf:2: RequestHeader takes an action");
    conftest_expect_refused(HEAD, "RequestHeader replace X v\n", "'replace': the action must be set, append");
    conftest_expect_refused(HEAD, "RequestHeader edit X a b\n", "'edit': not supported");
    conftest_expect_refused(HEAD, "RequestHeader set X\n", "set takes a value");
    conftest_expect_refused(HEAD, "RequestHeader set X:Y v\n", "'X:Y': not a header name");
    conftest_expect_refused(HEAD, "RequestHeader set X v env=HTTPS\n",
                            "'env=HTTPS': conditions are not supported");
    conftest_expect_refused(HEAD, "RequestHeader unset X always\n", "'always': after the value only 'early'");
    conftest_expect_refused(HEAD, "<Location /x>\n  RequestHeader set X v\n</Location>\n",
                            "not allowed inside <Location>");
}
