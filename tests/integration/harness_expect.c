/*
 * Expectations (see harness_expect.h): the exact response bytes the server must send. Reason phrases and the
 * statuses after which it closes come from tests/http_status.h, the list that tests/unit/test_http.c checks
 * against the server's own.
 */
#define HARNESS_IMPL
#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../http_status.h"

const char *reason_phrase(int status)
{
    const struct http_status_expect *e = http_status_find(status);

    return e != NULL ? e->reason : "?";
}

int status_closes(int status)
{
    const struct http_status_expect *e = http_status_find(status);

    return e != NULL && e->closes;
}

char *expect_head(int status, const char *handler_headers, long long content_length, const char *content_type,
                  const char *connection)
{
    char cl[64] = "", ct[256] = "", co[64] = "";

    if (content_length >= 0)
        snprintf(cl, sizeof(cl), "Content-Length: %lld\r\n", content_length);
    if (content_type)
        snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", content_type);
    if (connection)
        snprintf(co, sizeof(co), "Connection: %s\r\n", connection);
    return xasprintf("HTTP/1.1 %d %s\r\nDate: " DATE_PLACEHOLDER "\r\nServer: " SERVER_STRING
                     "\r\n%s%s%s%s\r\n",
                     status, reason_phrase(status), handler_headers ? handler_headers : "", cl, ct, co);
}

char *error_body(int status)
{
    return xasprintf(
        "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%s</h1></body></html>\n", status,
        reason_phrase(status), reason_phrase(status));
}

void expect_bytes(const char *what, const void *got, size_t got_len, const void *want, size_t want_len)
{
    if (got_len == want_len && memcmp(got, want, got_len) == 0)
        return;
    size_t at = 0;
    while (at < got_len && at < want_len && ((const char *)got)[at] == ((const char *)want)[at])
        at++;
    char *g = escape(got, got_len), *w = escape(want, want_len);
    hfail("%s differs at byte %zu (got %zu bytes, want %zu)\n--- got:\n%s\n--- want:\n%s", what, at, got_len,
          want_len, g, w);
}

void expect_error(const struct resp *r, int status, const char *handler_headers, const char *connection,
                  int head)
{
    char *body = error_body(status);
    char *want = expect_head(status, handler_headers, (long long)strlen(body), HTML_ERROR_TYPE, connection);

    expect_bytes("error response head", r->norm, strlen(r->norm), want, strlen(want));
    if (head)
        hassert(r->body_len == 0, "HEAD response has a body");
    else
        expect_bytes("error page body", r->body, r->body_len, body, strlen(body));
    free(want);
    free(body);
}

void expect_static(const struct resp *r, const struct srv *s, const char *rel, const void *body, size_t len,
                   const char *content_type, const char *connection, int head)
{
    struct stat st;
    const char *etag = resp_get(r, "ETag");
    char lm[64], *hh, *want;
    char path[300];

    hassert(r->status == 200, "GET /%s: status %d, want 200", rel, r->status);
    hassert(etag != NULL, "GET /%s: no ETag", rel);
    size_t el = strlen(etag);
    hassert(el >= 2 && etag[0] == '"' && etag[el - 1] == '"' && !memchr(etag + 1, '"', el - 2),
            "GET /%s: ETag %s is not a strong quoted entity-tag", rel, etag);
    snprintf(path, sizeof(path), "%s/%s", s->htdocs, rel);
    hassert(stat(path, &st) == 0, "stat(%s) failed: %s", path, strerror(errno));
    snprintf(lm, sizeof(lm), "%s", http_date(st.st_mtime));
    hh = xasprintf("Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n", lm, etag);
    want = expect_head(200, hh, (long long)len, content_type, connection);
    expect_bytes("static response head", r->norm, strlen(r->norm), want, strlen(want));
    if (head)
        hassert(r->body_len == 0, "HEAD response has a body");
    else
        expect_bytes("static body", r->body, r->body_len, body, len);
    free(hh);
    free(want);
}

void expect_file(const struct resp *r, const struct srv *s, const char *rel, const char *connection, int head)
{
    static const struct {
        const char *rel;
        const char *body;
    } pages[] = {{"index.html", INDEX_HTML}, {"sub/index.html", SUB_INDEX_HTML}, {"page.html", NULL}};

    for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
        if (strcmp(rel, pages[i].rel) != 0)
            continue;
        const char *body = pages[i].body != NULL ? pages[i].body : harness_page();
        size_t len = pages[i].body != NULL ? strlen(body) : PAGE_LEN;
        expect_static(r, s, rel, body, len, "text/html", connection, head);
        return;
    }
    hfail("%s is not a page every server has", rel);
}

void expect_next_file(struct conn *c, const struct srv *s, const char *rel, const char *connection, int head)
{
    struct resp *r = must_read(c, head);

    expect_file(r, s, rel, connection, head);
    resp_free(r);
}

void expect_last_file(struct resp *r, struct conn *c, const struct srv *s, const char *rel, int ms)
{
    expect_file(r, s, rel, "close", 0);
    resp_free(r);
    expect_closed(c, ms);
    conn_close(c);
}

void expect_last_error(struct resp *r, struct conn *c, int status)
{
    expect_error(r, status, NULL, "close", 0);
    resp_free(r);
    expect_closed(c, 2000);
    conn_close(c);
}

void expect_next_error(struct conn *c, int status, const char *handler_headers, const char *connection)
{
    struct resp *r = must_read(c, 0);

    expect_error(r, status, handler_headers, connection, 0);
    resp_free(r);
}

void expect_body_consumed(struct conn *c, const struct srv *s)
{
    expect_next_error(c, 405, "Allow: " ALLOW_STATIC "\r\n", NULL);
    conn_send_str(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_next_file(c, s, "index.html", NULL, 0);
}

void expect_served(const struct srv *s, const char *raw, const char *rel, const char *connection)
{
    struct conn *c;
    struct resp *r = request_once(s, raw, &c);

    expect_file(r, s, rel, connection, strncmp(raw, "HEAD ", 5) == 0);
    if (connection != NULL && strcmp(connection, "close") == 0)
        expect_closed(c, 2000);
    resp_free(r);
    conn_close(c);
}

int64_t fresh_request(const struct srv *s, int ms)
{
    int64_t t0 = now_ms();
    struct conn *c = conn_open(s->port);

    conn_send_str(c, "GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    struct resp *r = must_read_within(c, ms, "a fresh client");
    int64_t took = now_ms() - t0;
    expect_file(r, s, "index.html", "close", 0);
    resp_free(r);
    conn_close(c);
    return took;
}

void expect_closing_error(const struct srv *s, const void *raw, size_t len, int status)
{
    struct conn *c = conn_open(s->port);
    struct resp *r;

    conn_send(c, raw, len);
    r = must_read(c, 0);
    if (r->status != status) {
        char *e = escape(raw, len);
        hfail("request \"%s\": status %d, want %d", e, r->status, status);
    }
    expect_last_error(r, c, status);
}

void expect_unanswered(struct conn *c, int ms, const char *fmt, ...)
{
    int n = conn_fill(c, ms);

    if (n != -1) {
        char who[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(who, sizeof(who), fmt, ap);
        va_end(ap);
        hfail("%s: got %s", who, n == 0 ? "closed" : n > 0 ? "an answer" : "an error");
    }
}

void expect_closed(struct conn *c, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    if (c->len > 0) {
        char *e = escape(c->buf, c->len);
        hfail("unexpected bytes after the response: \"%s\"", e);
    }
    for (;;) {
        int64_t left = deadline - now_ms();
        int n = conn_fill(c, left > 0 ? (int)left : 0);

        if (n == 0)
            return;
        if (n == -1)
            hfail("the server did not close the connection within %d ms", timeout_ms);
        if (n == -2)
            hfail("connection ended with %s instead of an orderly close", strerror(c->err));
        char *e = escape(c->buf, c->len);
        hfail("unexpected bytes after the response: \"%s\"", e);
    }
}

void expect_nagle_not_held(int port, int64_t (*step)(struct conn *c, void *arg, int used), void *arg)
{
    int64_t fresh[9], used[9];
    for (int i = 0; i < 9; i++) {
        struct conn *c = conn_open_nagle(port);
        fresh[i] = step(c, arg, 0);
        used[i] = step(c, arg, 1);
        conn_close(c);
    }
    int64_t f = median_ms(fresh, 9), u = median_ms(used, 9);
    hassert(f < 25 && u < 25,
            "a request in pieces took %lld ms on a new connection, %lld on a used one (medians "
            "of 9)",
            (long long)f, (long long)u);
}
