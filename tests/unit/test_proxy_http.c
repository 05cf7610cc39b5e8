/*
 * The proxy's HTTP: the upstream request head (hop-by-hop headers, X-Forwarded-*, Via, Host, re-framing),
 * ProxyPassReverse, and the response parser fed whole and split at every byte (chunked with trailers, no
 * length, 1xx, HEAD, invalid heads).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "proxy_conf.h"
#include "proxy_http.h"
#include "testserver.h"

TestSuite(proxy_http, .init = testserver_pool_setup, .fini = testserver_pool_teardown);

static struct server srv;
static struct proxy_conf pc;
static struct proxy_worker worker;
static struct proxy_pass pass;

/* A request GET /app/<rest> from 192.0.2.7 with the given headers ("Name", "value", ..., NULL). */
static struct request *request(const char *path, const char *const *hdrs)
{
    testserver_init(&srv, test_pool);
    srv.main.server_name = "front.example";
    srv.main.hostname = "front.example";
    memset(&pc, 0, sizeof(pc));
    pc.add_headers = 1;
    memset(&worker, 0, sizeof(worker));
    cr_assert_null(proxy_parse_url(test_pool, "http://127.0.0.1:9000/base/", &worker));
    pass = (struct proxy_pass){.prefix = "/app/", .len = 5, .worker = &worker};
    struct request *r = testserver_request(test_pool, &srv);
    r->method = METHOD_GET;
    r->method_name = "GET";
    r->version_major = 1;
    r->version_minor = 1;
    r->path = path;
    r->content_length = -1;
    r->peer_family = AF_INET;
    memcpy(r->peer_addr, "\xc0\x00\x02\x07", 4);
    int n = 0;
    while (hdrs != NULL && hdrs[2 * n] != NULL)
        n++;
    r->headers = pool_calloc(test_pool, sizeof(*r->headers) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        r->headers[i].name = hdrs[2 * i];
        r->headers[i].value = hdrs[2 * i + 1];
        if (strcasecmp(hdrs[2 * i], "Host") == 0)
            r->host = hdrs[2 * i + 1];
    }
    r->n_headers = n;
    return r;
}

static char *head_of(struct request *r)
{
    size_t len;
    char *h = proxy_request_head(r, &pc, &pass, &worker, &len);
    cr_assert_not_null(h);
    cr_assert_eq(strlen(h), len);
    return h;
}

Test(proxy_http, header_kinds)
{
    cr_assert_eq(proxy_header_kind("HOST"), PROXY_HDR_HOST);
    cr_assert_eq(proxy_header_kind("content-length"), PROXY_HDR_CONTENT_LENGTH);
    cr_assert_eq(proxy_header_kind("Expect"), PROXY_HDR_EXPECT);
    cr_assert_eq(proxy_header_kind("X-Forwarded-For"), PROXY_HDR_X_FORWARDED_FOR);
    cr_assert_eq(proxy_header_kind("x-forwarded-host"), PROXY_HDR_X_FORWARDED_HOST);
    cr_assert_eq(proxy_header_kind("X-Forwarded-Server"), PROXY_HDR_X_FORWARDED_SERVER);
    cr_assert_eq(proxy_header_kind("Via"), PROXY_HDR_VIA);
    cr_assert_eq(proxy_header_kind("Location"), PROXY_HDR_LOCATION);
    cr_assert_eq(proxy_header_kind("Content-Location"), PROXY_HDR_LOCATION);
    cr_assert_eq(proxy_header_kind("uri"), PROXY_HDR_LOCATION);
    cr_assert_eq(proxy_header_kind("Set-Cookie"), PROXY_HDR_SET_COOKIE);
    cr_assert_eq(proxy_header_kind("set-cookiE"), PROXY_HDR_SET_COOKIE);
    cr_assert_eq(proxy_header_kind("Set-Cookie2"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind("Proxy-Connection"), PROXY_HDR_HOP);
    cr_assert_eq(proxy_header_kind("Keep-Alive"), PROXY_HDR_HOP);
    cr_assert_eq(proxy_header_kind("CONNECTION"), PROXY_HDR_CONNECTION);
    cr_assert_eq(proxy_header_kind("te"), PROXY_HDR_HOP);
    cr_assert_eq(proxy_header_kind("Upgrade"), PROXY_HDR_HOP);
    cr_assert_eq(proxy_header_kind("Trailer"), PROXY_HDR_HOP);
    cr_assert_eq(proxy_header_kind("Transfer-Encoding"), PROXY_HDR_HOP);
    cr_assert_eq(proxy_header_kind_n("Location: x", 8), PROXY_HDR_LOCATION);
    /* same length or same first letter as a known one, but another name */
    cr_assert_eq(proxy_header_kind("Hosts"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind("Vary"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind("Content-Type"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind("Prox"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind("X-Forwarded-Proto"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind("Tf"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind("Uia"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind("Keep-Alivf"), PROXY_HDR_OTHER);
    cr_assert_eq(proxy_header_kind(""), PROXY_HDR_OTHER);
}

Test(proxy_http, hop_by_hop_names)
{
    cr_assert(proxy_hop_by_hop(proxy_header_kind("connection"), "connection", NULL));
    cr_assert(proxy_hop_by_hop(proxy_header_kind("Keep-Alive"), "Keep-Alive", NULL));
    cr_assert(proxy_hop_by_hop(proxy_header_kind("TE"), "TE", NULL));
    cr_assert(proxy_hop_by_hop(proxy_header_kind("Trailer"), "Trailer", NULL));
    cr_assert(proxy_hop_by_hop(proxy_header_kind("Transfer-Encoding"), "Transfer-Encoding", NULL));
    cr_assert(proxy_hop_by_hop(proxy_header_kind("Upgrade"), "Upgrade", NULL));
    cr_assert(proxy_hop_by_hop(proxy_header_kind("Proxy-Authorization"), "Proxy-Authorization", NULL));
    cr_assert(proxy_hop_by_hop(proxy_header_kind("X-Secret"), "X-Secret", "keep-alive, x-secret"));
    cr_assert(proxy_hop_by_hop(proxy_header_kind("X-Secret"), "X-Secret", " close ,X-SECRET "));
    cr_assert_not(proxy_hop_by_hop(proxy_header_kind("X-Secret2"), "X-Secret2", "x-secret"));
    cr_assert_not(proxy_hop_by_hop(proxy_header_kind("Accept"), "Accept", "close"));
}

Test(proxy_http, request_head_filters_and_adds)
{
    static const char *const hdrs[] = {"Host",
                                       "front:8080",
                                       "Connection",
                                       "close, X-Drop",
                                       "X-Drop",
                                       "1",
                                       "Keep-Alive",
                                       "5",
                                       "TE",
                                       "trailers",
                                       "Proxy-Authorization",
                                       "secret",
                                       "Upgrade",
                                       "h2c",
                                       "Accept",
                                       "*/*",
                                       "X-Forwarded-For",
                                       "10.0.0.1",
                                       "Expect",
                                       "100-continue",
                                       NULL};
    struct request *r = request("/app/a b/c", hdrs);
    r->query = "q=1";
    cr_assert_str_eq(head_of(r), "GET /base/a%20b/c?q=1 HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nAccept: */*\r\n"
                                 "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\nX-Forwarded-Host: front:8080\r\n"
                                 "X-Forwarded-Server: front.example\r\n\r\n");
    pc.preserve_host = 1;
    pc.add_headers = 0;
    pc.via = PROXY_VIA_ON;
    cr_assert_str_eq(head_of(r), "GET /base/a%20b/c?q=1 HTTP/1.1\r\nHost: front:8080\r\nAccept: */*\r\n"
                                 "X-Forwarded-For: 10.0.0.1\r\nVia: 1.1 front.example\r\n\r\n");
}

/* The URL <Proxy URL> sections are matched against: the upstream's, or balancer://NAME/, then the rest. */
Test(proxy_http, target_url)
{
    struct request *r = request("/app/a b/c", NULL);
    r->query = "x=1";
    cr_assert_str_eq(proxy_target_url(r, &pass), "http://127.0.0.1:9000/base/a%20b/c?x=1");
    r = request("/app/", NULL);
    cr_assert_str_eq(proxy_target_url(r, &pass), "http://127.0.0.1:9000/base/");
    struct proxy_balancer b = {.name = "balancer://app"};
    struct proxy_pass bp = {.prefix = "/lb", .len = 3, .balancer = &b};
    r = request("/lb/x/y", NULL);
    cr_assert_str_eq(proxy_target_url(r, &bp), "balancer://app/x/y");
    r = request("/lb", NULL);
    cr_assert_str_eq(proxy_target_url(r, &bp), "balancer://app/");
}

Test(proxy_http, request_head_reframes_the_body)
{
    static const char *const hdrs[] = {"Host",    "h", "Content-Length", "5", "Transfer-Encoding",
                                       "chunked", NULL};
    struct request *r = request("/app/", hdrs);
    r->method_name = "POST";
    r->chunked = 1;
    pc.add_headers = 0;
    cr_assert_str_eq(head_of(r),
                     "POST /base/ HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nTransfer-Encoding: chunked\r\n\r\n");
    r->chunked = 0;
    r->content_length = 42;
    worker.disable_reuse = 1;
    cr_assert_str_eq(head_of(r), "POST /base/ HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nContent-Length: 42\r\n"
                                 "Connection: close\r\n\r\n");
}

Test(proxy_http, reverse_rewrites_redirects)
{
    static const char *const hdrs[] = {"Host", "front:8080", NULL};
    struct request *r = request("/app/", hdrs);
    struct proxy_reverse rv = {.path = "/app/", .url = "http://127.0.0.1:9000/base/", .url_len = 27};
    pc.reverses = &rv;
    cr_assert_str_eq(proxy_reverse(test_pool, &pc, r, "http://127.0.0.1:9000/base/x?y"),
                     "http://front:8080/app/x?y");
    cr_assert_str_eq(proxy_reverse(test_pool, &pc, r, "http://127.0.0.1:9000/base/"),
                     "http://front:8080/app/");
    cr_assert_str_eq(proxy_reverse(test_pool, &pc, r, "http://elsewhere/base/x"), "http://elsewhere/base/x");
    r->host = NULL;
    cr_assert_str_eq(proxy_reverse(test_pool, &pc, r, "http://127.0.0.1:9000/base/z"),
                     "http://front.example/app/z");
    /* to a balancer: the URL of any of its members */
    struct proxy_worker m0 = {.url = "http://10.0.0.1:81/"}, m1 = {.url = "http://10.0.0.2:82/"};
    struct proxy_worker *members[] = {&m0, &m1};
    struct proxy_balancer b = {.name = "balancer://app", .members = members, .n_members = 2};
    struct proxy_reverse rb = {.path = "/lb/", .url = "balancer://app/", .url_len = 15};
    pc.balancers = &b;
    pc.reverses = &rb;
    r->host = "front";
    cr_assert_str_eq(proxy_reverse(test_pool, &pc, r, "http://10.0.0.2:82/login"), "http://front/lb/login");
    cr_assert_str_eq(proxy_reverse(test_pool, &pc, r, "http://10.0.0.3:82/login"),
                     "http://10.0.0.3:82/login");
}

Test(proxy_http, reverse_rewrites_cookie_paths_and_domains)
{
    memset(&pc, 0, sizeof(pc));
    /* ProxyPassReverseCookiePath /base/ /app/, then / /front/; ProxyPassReverseCookieDomain backend.internal
     * www.example.org */
    struct proxy_reverse p2 = {.url = "/", .url_len = 1, .path = "/front/"},
                         p1 = {.url = "/base/", .url_len = 6, .path = "/app/", .next = &p2},
                         d1 = {.url = "backend.internal", .url_len = 16, .path = "www.example.org"};
    pc.cookie_paths = &p1;
    pc.cookie_domains = &d1;
    static const char *const cases[][2] = {
        /* the first line whose path starts the cookie's replaces it whole, as Apache's */
        {"sid=1; Path=/base/x; HttpOnly", "sid=1; Path=/app/; HttpOnly"},
        {"sid=1; path=/base/", "sid=1; path=/app/"},
        {"sid=1; Path=/other", "sid=1; Path=/front/"},
        {"sid=1; Path=/bas", "sid=1; Path=/front/"},
        /* the path is compared with case, the domain without */
        {"sid=1; Domain=BACKEND.internal; Path=/base/", "sid=1; Domain=www.example.org; Path=/app/"},
        {"sid=1;Path=/base/;Domain=backend.internal", "sid=1;Path=/app/;Domain=www.example.org"},
        {"sid=1; Domain=other.example; Secure", "sid=1; Domain=other.example; Secure"},
        /* the last of two Path attributes is the one a browser keeps */
        {"sid=1; Path=/x; Path=/base/y", "sid=1; Path=/x; Path=/app/"},
        /* no attributes, or a cookie named path: nothing to rewrite */
        {"path=/base/", "path=/base/"},
        {"path=/base/; Secure", "path=/base/; Secure"},
        {"sid=1", "sid=1"},
        {"sid=1; Path=", "sid=1; Path="},
        {"sid=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/base/",
         "sid=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/app/"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_str_eq(proxy_reverse_cookie(test_pool, &pc, cases[i][0]), cases[i][1], "%s", cases[i][0]);
    /* with no line for it, a value is left as it is (the same string) */
    pc.cookie_paths = NULL;
    const char *v = "sid=1; Path=/base/";
    cr_assert_eq(proxy_reverse_cookie(test_pool, &pc, v), v);
}

/* Feeds `in` in pieces of `step` bytes; returns the body gathered, NULL when the response was refused. */
static char *parse(const char *in, size_t step, int head, struct proxy_resp *pr, int eof)
{
    proxy_resp_init(pr, test_pool, head, 8190, 100);
    struct pbuf body = {.pool = test_pool};
    pbuf_append(&body, "", 0);
    size_t len = strlen(in);
    for (size_t pos = 0; pos < len; pos += step) {
        size_t n = len - pos < step ? len - pos : step;
        char *buf = pool_strndup(test_pool, in + pos, n);
        if (proxy_resp_feed(pr, buf, n) < 0)
            return NULL;
        pbuf_append(&body, pr->body_at, pr->body_len);
        memset(buf, '#', n); /* as the proxy reads the next bytes into it: the head must not point there */
    }
    if (eof && proxy_resp_eof(pr) < 0)
        return NULL;
    return body.p;
}

Test(proxy_http, response_split_at_every_byte)
{
    const char *in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                     "Transfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n"
                     "0\r\nX-T: trailer\r\n\r\n";
    for (size_t step = 1; step <= strlen(in); step++) {
        struct proxy_resp pr;
        char *body = parse(in, step, 0, &pr, 0);
        cr_assert_not_null(body, "step %zu: %s", step, pr.error);
        cr_assert_str_eq(body, "hello world", "step %zu", step);
        cr_assert_eq(pr.status, 200);
        cr_assert(pr.complete);
        cr_assert(pr.chunked);
        cr_assert_eq(pr.length, -1);
        cr_assert_eq(pr.n_headers, 3, "the 1xx's headers and the trailers are not the head's");
        cr_assert_str_eq(pr.reason, "OK", "step %zu: the final head's reason, not the 1xx's", step);
        cr_assert_str_eq(pr.headers[0].value, "text/plain");
        cr_assert(proxy_resp_reusable(&pr));
    }
}

/* A 1xx ends with its head (RFC 9110 15.2), whatever Content-Length it carries: what follows is the next
 * response, never a body of the final one (found by the proxy's fuzz target: "hello" after a 100 with
 * Content-Length: 5 was sent to the client after the final response's own 5 bytes). */
Test(proxy_http, interim_response_has_no_body)
{
    const char *bad =
        "HTTP/1.1 100 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    const char *good = "HTTP/1.1 103 Early Hints\r\nContent-Length: 5\r\nLink: </a.css>\r\n\r\n"
                       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    for (size_t step = 1; step <= strlen(bad); step++) {
        struct proxy_resp pr;
        cr_assert_null(parse(bad, step, 0, &pr, 0), "step %zu: bytes after a 1xx taken for a body", step);
        cr_assert_not_null(pr.error);
    }
    for (size_t step = 1; step <= strlen(good); step++) {
        struct proxy_resp pr;
        char *body = parse(good, step, 0, &pr, 0);
        cr_assert_not_null(body, "step %zu: %s", step, pr.error);
        cr_assert_str_eq(body, "hello", "step %zu", step);
        cr_assert(pr.complete && pr.status == 200 && pr.length == 5);
    }
}

/* The reason phrase is the upstream's, split anywhere; one that is empty or not printable is not kept (the
 * core's own is sent then). */
Test(proxy_http, response_reason_phrase)
{
    static const struct {
        const char *in, *reason;
    } cases[] = {
        {"HTTP/1.1 299 Custom  Words\tand more\r\nContent-Length: 0\r\n\r\n", "Custom  Words\tand more"},
        {"HTTP/1.1 200 D\xc3\xa9j\xc3\xa0 vu\r\nContent-Length: 0\r\n\r\n", "D\xc3\xa9j\xc3\xa0 vu"},
        {"HTTP/1.1 201 \x01"
         "bad\r\nContent-Length: 0\r\n\r\n",
         NULL},
        {"HTTP/1.1 201 bad\x7f\r\nContent-Length: 0\r\n\r\n", NULL},
        {"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", NULL},
        {"HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", NULL},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
        for (size_t step = 1; step <= strlen(cases[c].in); step++) {
            struct proxy_resp pr;
            cr_assert_not_null(parse(cases[c].in, step, 0, &pr, 0), "case %zu, step %zu: %s", c, step,
                               pr.error);
            if (cases[c].reason == NULL)
                cr_assert_null(pr.reason, "case %zu, step %zu: %s", c, step, pr.reason);
            else
                cr_assert_str_eq(pr.reason, cases[c].reason, "case %zu, step %zu", c, step);
            cr_assert_eq(pr.n_headers, 1, "case %zu, step %zu", c, step);
            cr_assert_str_eq(pr.headers[0].name, "Content-Length", "case %zu, step %zu", c, step);
        }
}

Test(proxy_http, response_head_kept_across_feeds)
{
    const char *in = "HTTP/1.1 200 OK\r\nDate: Mon, 07 Dec 2026 04:37:20 GMT\r\nX-Empty:\r\n"
                     "ETag:   \"400-6\"  \r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
                     "Connection: X-Other\r\nX-Other: 2\r\nContent-Length: 3\r\n\r\nabc";
    static const char *const want[][2] = {{"Date", "Mon, 07 Dec 2026 04:37:20 GMT"},
                                          {"X-Empty", ""},
                                          {"ETag", "\"400-6\""},
                                          {"Connection", "keep-alive, X-Hop"},
                                          {"X-Hop", "1"},
                                          {"Connection", "X-Other"},
                                          {"X-Other", "2"},
                                          {"Content-Length", "3"}};
    static const int hop[] = {0, 0, 0, 1, 1, 1, 1, 0};
    for (size_t step = 1; step <= strlen(in); step++) {
        struct proxy_resp pr;
        char *body = parse(in, step, 0, &pr, 0);
        cr_assert_not_null(body, "step %zu: %s", step, pr.error);
        cr_assert_str_eq(body, "abc", "step %zu", step);
        cr_assert_eq(pr.n_headers, 8, "step %zu", step);
        for (int i = 0; i < 8; i++) {
            cr_assert_str_eq(pr.headers[i].name, want[i][0], "step %zu, header %d", step, i);
            cr_assert_str_eq(pr.headers[i].value, want[i][1], "step %zu, header %d", step, i);
            cr_assert_eq(pr.headers[i].name_len, strlen(want[i][0]));
            cr_assert_eq(pr.headers[i].value_len, strlen(want[i][1]));
            cr_assert_eq(proxy_resp_hop_by_hop(&pr, &pr.headers[i]), hop[i], "step %zu, header %d", step, i);
        }
        cr_assert_eq(pr.headers[7].kind, PROXY_HDR_CONTENT_LENGTH);
    }
}

Test(proxy_http, response_lengths)
{
    struct proxy_resp pr;
    cr_assert_str_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", 2, 0, &pr, 0), "abc");
    cr_assert_eq(pr.length, 3);
    cr_assert(proxy_resp_reusable(&pr));
    /* no length: the body ends with the connection, which then cannot be reused */
    cr_assert_str_eq(parse("HTTP/1.1 200 OK\r\n\r\nto the end", 4, 0, &pr, 1), "to the end");
    cr_assert(pr.complete);
    cr_assert_not(proxy_resp_reusable(&pr));
    /* truncated */
    cr_assert_null(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100, 0, &pr, 1));
    cr_assert_null(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 100, 0, &pr, 1));
    /* HEAD, 204, 304: no body whatever the length says */
    cr_assert_str_eq(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 100, 1, &pr, 0), "");
    cr_assert(pr.complete);
    cr_assert_eq(pr.length, 10);
    cr_assert_str_eq(parse("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", 100, 0, &pr, 0), "");
    cr_assert(pr.complete);
    /* bytes after the response: not reusable */
    cr_assert_str_eq(parse("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 100, 0, &pr, 0), "");
    cr_assert(pr.extra);
    cr_assert_not(proxy_resp_reusable(&pr));
    cr_assert_str_eq(
        parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", 100, 0, &pr, 0), "x");
    cr_assert_not(proxy_resp_reusable(&pr));
}

Test(proxy_http, invalid_heads_are_refused)
{
    struct proxy_resp pr;
    cr_assert_null(parse("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", 100, 0, &pr, 0));
    cr_assert_null(parse("HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n", 100, 0, &pr, 0));
    char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    proxy_resp_init(&pr, test_pool, 0, 8190, 100);
    cr_assert_eq(proxy_resp_feed(&pr, nul, sizeof(nul) - 1), -1);
    /* CR, LF, NUL or another control byte inside a value, wherever the reads split the head */
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "HTTP/1.1 200 OK\r\nX: a\nb\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n", "HTTP/1.1 200 OK\r\nX: \rb\r\n\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        for (size_t step = 1; step <= strlen(bad[i]); step++)
            cr_assert_null(parse(bad[i], step, 0, &pr, 0), "case %zu, step %zu", i, step);
    for (size_t step = 1; step < sizeof(nul) - 1; step++) {
        proxy_resp_init(&pr, test_pool, 0, 8190, 100);
        int failed = 0;
        for (size_t pos = 0; pos < sizeof(nul) - 1 && !failed; pos += step) {
            size_t n = sizeof(nul) - 1 - pos < step ? sizeof(nul) - 1 - pos : step;
            failed = proxy_resp_feed(&pr, pool_strndup(test_pool, nul + pos, n), n) < 0;
        }
        cr_assert(failed, "NUL, step %zu", step);
    }
    cr_assert_null(
        parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 100, 0, &pr, 0));
    cr_assert_null(
        parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 100, 0, &pr, 0));
    cr_assert_null(parse("garbage\r\n\r\n", 100, 0, &pr, 0));
    cr_assert_null(parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", 100, 0, &pr, 0));
    /* a header line longer than the limit, and too many lines */
    struct pbuf big = {.pool = test_pool};
    pbuf_puts(&big, "HTTP/1.1 200 OK\r\nX-Big: ");
    for (int i = 0; i < 9000; i++)
        pbuf_append(&big, "a", 1);
    pbuf_puts(&big, "\r\n\r\n");
    cr_assert_null(parse(big.p, 1000, 0, &pr, 0));
    cr_assert_str_eq(pr.error, "response header line too long");
    struct pbuf many = {.pool = test_pool};
    pbuf_puts(&many, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i < 101; i++)
        pbuf_printf(&many, "X-%d: v\r\n", i);
    pbuf_puts(&many, "\r\n");
    cr_assert_null(parse(many.p, 1000, 0, &pr, 0));
    cr_assert_str_eq(pr.error, "too many response header lines");
    /* a head the upstream never finished */
    cr_assert_null(parse("HTTP/1.1 200 OK\r\nX: y\r\n", 100, 0, &pr, 1));
}
