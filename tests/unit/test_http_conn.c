/*
 * The connection state machine, fed plain strings: whole, split at every byte, pipelined; every error status.
 * No sockets: the test plays the MPM, copying output iovecs and file ranges into a string.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handler.h"
#include "http_conn.h"
#include "mime.h"
#include "pool.h"
#include "server.h"
#include "vhost.h"

static struct server srv;
static struct pool *pool;
static char docroot[] = "/tmp/test_http_conn.XXXXXX";

static const char index_body[] = "<html>hello</html>\n";

static void write_file(const char *dir, const char *name, const char *data)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(data, f);
    fclose(f);
}

static void setup(void)
{
    static char *index_names[] = {"index.html", NULL};
    struct errbuf err;
    memset(&srv, 0, sizeof(srv));
    pool = pool_create(4096);
    strcpy(docroot, "/tmp/test_http_conn.XXXXXX");
    cr_assert_not_null(mkdtemp(docroot));
    write_file(docroot, "index.html", index_body);
    srv.pool = pool;
    srv.main.document_root = docroot;
    srv.main.directory_index = index_names;
    srv.main.server_name = "localhost";
    const char *src = getenv("HTTPD_SRCDIR");
    char *types = pool_printf(pool, "%s/conf/mime.types", src ? src : ".");
    srv.mime = mime_load(pool, types, &err);
    cr_assert_not_null(srv.mime, "%s", err.msg);
    srv.timeout = 60;
    srv.keepalive = 1;
    srv.keepalive_timeout = 5;
    srv.max_keepalive_requests = 100;
    srv.limit_request_line = 8190;
    srv.limit_request_field_size = 8190;
    srv.limit_request_fields = 100;
    srv.limit_request_body = 1 << 20;
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", docroot);
    cr_assert_eq(system(cmd), 0);
    pool_destroy(pool);
}

TestSuite(http_conn, .init = setup, .fini = teardown);

struct out {
    char *data;
    size_t len;
};

static void out_append(struct out *o, const void *p, size_t n)
{
    o->data = realloc(o->data, o->len + n + 1);
    memcpy(o->data + o->len, p, n);
    o->len += n;
    o->data[o->len] = '\0';
}

/* Plays the MPM: feeds `in` in pieces of `step` bytes, writes everything asked, returns the final state. */
static enum conn_state drive(struct http_conn *c, const char *in, size_t len, size_t step, struct out *o,
                             int64_t *now)
{
    enum conn_state st = http_conn_state(c);
    size_t pos = 0;
    for (int guard = 0; guard < 100000; guard++) {
        if (st == CONN_WRITE) {
            struct conn_out co;
            cr_assert_eq(http_conn_output(c, &co), 0);
            size_t n = 0;
            if (co.iovcnt > 0) {
                for (int i = 0; i < co.iovcnt; i++) {
                    out_append(o, co.iov[i].iov_base, co.iov[i].iov_len);
                    n += co.iov[i].iov_len;
                }
            } else {
                char *buf = malloc(co.file_len);
                cr_assert_eq(pread(co.file_fd, buf, co.file_len, co.file_off), (ssize_t)co.file_len);
                out_append(o, buf, co.file_len);
                free(buf);
                n = co.file_len;
            }
            st = http_conn_sent(c, n, *now);
            continue;
        }
        if (st == CONN_WAIT) {
            int events;
            if (http_conn_wait_fd(c, &events) >= 0) { /* the test handlers' sockets are always ready */
                st = http_conn_ready(c, *now);
                continue;
            }
            *now = http_conn_deadline(c);
            st = http_conn_timeout(c, *now);
            continue;
        }
        if (st == CONN_CLOSE || pos == len)
            break;
        char *buf;
        size_t space;
        cr_assert_eq(http_conn_read_space(c, &buf, &space), 0);
        size_t k = len - pos < step ? len - pos : step;
        if (k > space)
            k = space;
        memcpy(buf, in + pos, k);
        pos += k;
        st = http_conn_input(c, k, *now);
    }
    return st;
}

/* drive() with the whole of `in` in one piece. */
static enum conn_state drive_str(struct http_conn *c, const char *in, struct out *o, int64_t *now)
{
    return drive(c, in, strlen(in), 1 << 20, o, now);
}

/* Plays the MPM after a read deadline passed: the 408 page is written, then the connection closes. */
static void expect_408(struct http_conn *c, struct out *o, int64_t *now)
{
    cr_assert_eq(drive(c, "", 0, 1, o, now), CONN_CLOSE);
    cr_assert(strncmp(o->data, "HTTP/1.1 408 Request Timeout\r\n", 30) == 0, "%s", o->data);
}

#define KEEPALIVE_GET "GET / HTTP/1.1\r\nHost: x\r\n\r\n"

/* A new connection at *now that has served one GET and waits in keep-alive; its output went to o. */
static struct http_conn *kept_alive(struct out *o, int64_t *now)
{
    struct http_conn *c = http_conn_create(&srv, NULL, 0, *now);
    cr_assert_not_null(c);
    cr_assert_eq(drive_str(c, KEEPALIVE_GET, o, now), CONN_KEEPALIVE);
    return c;
}

/* Ends a connection the test played the MPM for; o is empty again. */
static void played_out(struct http_conn *c, struct out *o)
{
    http_conn_destroy(c);
    free(o->data);
    memset(o, 0, sizeof(*o));
}

/* Runs a whole exchange of `len` bytes on a fresh connection; returns the output with Date values replaced by
 * "X". */
static char *exchange_n(const char *in, size_t len, size_t step, enum conn_state *final)
{
    int64_t now = 1000000;
    struct out o = {0};
    struct http_conn *c = http_conn_create(&srv, NULL, 0, now);
    cr_assert_not_null(c);
    enum conn_state st = drive(c, in, len, step, &o, &now);
    if (final != NULL)
        *final = st;
    http_conn_destroy(c);
    if (o.data == NULL)
        out_append(&o, "", 0);
    /* mask dates */
    for (char *d = strstr(o.data, "\r\nDate: "); d != NULL; d = strstr(d + 1, "\r\nDate: ")) {
        char *end = strstr(d + 8, "\r\n");
        memmove(d + 9, end, strlen(end) + 1);
        d[8] = 'X';
    }
    return o.data;
}

static char *exchange(const char *in, size_t step, enum conn_state *final)
{
    return exchange_n(in, strlen(in), step, final);
}

static char *error_page(int code, const char *reason, int head, const char *extra, int close)
{
    static char buf[1024];
    char body[256];
    snprintf(body, sizeof(body),
             "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%s</h1></body></html>\n",
             code, reason, reason);
    snprintf(buf, sizeof(buf),
             "HTTP/1.1 %d %s\r\nDate: X\r\nServer: httpd/0.1.0\r\n%sContent-Length: %zu\r\n"
             "Content-Type: text/html; charset=utf-8\r\n%s\r\n%s",
             code, reason, extra, strlen(body), close ? "Connection: close\r\n" : "", head ? "" : body);
    return buf;
}

static void expect_error(const char *req, int code, const char *reason, int close)
{
    enum conn_state st;
    char *got = exchange(req, 1 << 20, &st);
    cr_assert_str_eq(got, error_page(code, reason, 0, "", close), "request %s got %s", req, got);
    cr_assert_eq(st, close ? CONN_CLOSE : CONN_KEEPALIVE, "request %s", req);
    free(got);
}

Test(http_conn, get_index_exact)
{
    enum conn_state st;
    char *got = exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1 << 20, &st);
    cr_assert(strncmp(got, "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nLast-Modified: ", 62) == 0,
              "%s", got);
    cr_assert_not_null(strstr(got, "\r\nContent-Length: 19\r\nContent-Type: text/html\r\n\r\n"), "%s", got);
    size_t n = strlen(got);
    cr_assert_str_eq(got + n - strlen(index_body), index_body);
    cr_assert_eq(st, CONN_KEEPALIVE);
    free(got);
}

Test(http_conn, head_has_length_but_no_body)
{
    char *got = exchange("HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 1 << 20, NULL);
    cr_assert_not_null(strstr(got, "Content-Length: 19\r\n"));
    cr_assert(strlen(got) > 4 && strcmp(got + strlen(got) - 4, "\r\n\r\n") == 0, "%s", got);
    free(got);
}

Test(http_conn, split_at_every_byte_equals_whole)
{
    const char *req = "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
                      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                      "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
    enum conn_state st1, st2;
    char *whole = exchange(req, 1 << 20, &st1);
    char *bytes = exchange(req, 1, &st2);
    cr_assert_str_eq(whole, bytes);
    cr_assert_eq(st1, st2);
    /* four responses, in order */
    const char *p = whole;
    const char *expect[] = {"HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 405 Method Not Allowed",
                            "HTTP/1.1 200 OK"};
    for (int i = 0; i < 4; i++) {
        p = strstr(p, "HTTP/1.1 ");
        cr_assert_not_null(p, "response %d missing in %s", i, whole);
        cr_assert(strncmp(p, expect[i], strlen(expect[i])) == 0, "response %d: %.40s", i, p);
        p++;
    }
    cr_assert_not_null(strstr(whole, "Allow: GET, HEAD, OPTIONS\r\n"));
    free(whole);
    free(bytes);
}

Test(http_conn, http10_closes_unless_keepalive)
{
    enum conn_state st;
    char *got = exchange("GET / HTTP/1.0\r\n\r\n", 1 << 20, &st);
    cr_assert_not_null(strstr(got, "\r\nConnection: close\r\n"));
    cr_assert_eq(st, CONN_CLOSE);
    free(got);
    got = exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 << 20, &st);
    cr_assert_not_null(strstr(got, "\r\nConnection: keep-alive\r\n"));
    cr_assert_eq(st, CONN_KEEPALIVE);
    free(got);
}

Test(http_conn, connection_close)
{
    enum conn_state st;
    char *got =
        exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
                 1 << 20, &st);
    cr_assert_not_null(strstr(got, "\r\nConnection: close\r\n"));
    cr_assert_null(strstr(strstr(got, "HTTP/1.1 200") + 1, "HTTP/1.1 "), "answered after close: %s", got);
    cr_assert_eq(st, CONN_CLOSE);
    free(got);
}

Test(http_conn, errors)
{
    expect_error("GET / HTTP/1.1\r\n\r\n", 400, "Bad Request", 1);
    expect_error("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "Bad Request", 1);
    expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
                 "Bad Request", 1);
    expect_error("FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "Not Implemented", 1);
    expect_error("\x01\x02 hello\r\n\r\n", 400, "Bad Request", 1);
    expect_error("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP Version Not Supported", 1);
    expect_error("GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400, "Bad Request", 1);
    expect_error("GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", 404, "Not Found", 0);
    expect_error("GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad Request", 1);
    expect_error("GET /a%2fb HTTP/1.1\r\nHost: x\r\n\r\n", 404, "Not Found", 0);
    expect_error("GET nothing HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad Request", 1);
    expect_error("PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "Not Implemented", 1);
    expect_error("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
                 "Bad Request", 1);
    expect_error("GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n", 417, "Expectation Failed", 1);
    expect_error("GET / HTTP/1.1\r\nHost: x\r\nA: \x01\r\n\r\n", 400, "Bad Request", 1);
    expect_error("GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n", 400, "Bad Request", 1);
    expect_error("GET / HTTP/1.1\nHost: x\n\n", 400, "Bad Request", 1);
    expect_error("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
                 "Not Implemented", 1);
}

Test(http_conn, http09_is_refused)
{
    /* llhttp reads a request line without a version as HTTP/0.9 */
    static const char *const reqs[] = {"GET / HTTP/0.9\r\n\r\n", "GET /\r\n\r\n"};
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        enum conn_state st;
        char *got = exchange(reqs[i], 1 << 20, &st);
        cr_assert(strncmp(got, "HTTP/1.1 505 ", 13) == 0 || strncmp(got, "HTTP/1.1 400 ", 13) == 0, "%s",
                  got);
        cr_assert_eq(st, CONN_CLOSE);
        free(got);
    }
}

Test(http_conn, limits)
{
    char req[1024];
    srv.limit_request_line = 100;
    snprintf(req, sizeof(req), "GET /%0200d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    expect_error(req, 414, "URI Too Long", 1);
    srv.limit_request_line = 8190;

    srv.limit_request_field_size = 100;
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: x\r\nX-Long: %0200d\r\n\r\n", 0);
    expect_error(req, 431, "Request Header Fields Too Large", 1);
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: x\r\nX-%0200d: a\r\n\r\n", 0);
    expect_error(req, 431, "Request Header Fields Too Large", 1);
    srv.limit_request_field_size = 8190;

    srv.limit_request_fields = 5;
    expect_error("GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\n\r\n", 431,
                 "Request Header Fields Too Large", 1);
    srv.limit_request_fields = 100;

    srv.limit_request_body = 100;
    expect_error("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", 413, "Content Too Large", 1);
    snprintf(
        req, sizeof(req),
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n%0100d\r\n1\r\nx\r\n0\r\n\r\n",
        0);
    expect_error(req, 413, "Content Too Large", 1);
}

Test(http_conn, expect_continue)
{
    enum conn_state st;
    char *got = exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n",
                         1 << 20, &st);
    cr_assert_str_eq(got, "HTTP/1.1 100 Continue\r\n\r\n");
    cr_assert_eq(st, CONN_READ);
    free(got);
    got = exchange(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n0123456789", 1, &st);
    cr_assert(strncmp(got, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 405 Method Not Allowed\r\n", 58) == 0, "%s",
              got);
    free(got);
}

Test(http_conn, options_and_absolute_form)
{
    char *got = exchange("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 1 << 20, NULL);
    cr_assert_str_eq(got, "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nAllow: GET, HEAD, OPTIONS\r\n"
                          "Content-Length: 0\r\n\r\n");
    free(got);
    got = exchange("GET http://example.com/ HTTP/1.1\r\n\r\n", 1 << 20, NULL);
    cr_assert(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", got);
    free(got);
}

Test(http_conn, max_keepalive_requests)
{
    srv.max_keepalive_requests = 2;
    enum conn_state st;
    char *got = exchange(
        "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        1 << 20, &st);
    const char *second = strstr(strstr(got, "HTTP/1.1 200") + 1, "HTTP/1.1 200");
    cr_assert_not_null(second);
    const char *first_close = strstr(got, "Connection: close");
    cr_assert(first_close == NULL || first_close > second, "the first response closes: %s", got);
    cr_assert_not_null(strstr(second, "Connection: close\r\n"));
    cr_assert_null(strstr(second + 1, "HTTP/1.1 "), "a third response: %s", got);
    cr_assert_eq(st, CONN_CLOSE);
    free(got);
}

Test(http_conn, timeouts)
{
    int64_t now = 5000;
    struct out o = {0};
    struct http_conn *c = http_conn_create(&srv, NULL, 0, now);
    /* nothing received: a quiet close */
    cr_assert_eq(http_conn_timeout(c, http_conn_deadline(c)), CONN_CLOSE);
    http_conn_destroy(c);

    c = http_conn_create(&srv, NULL, 0, now);
    cr_assert_eq(drive_str(c, "GET / HTTP/1.1\r\nHo", &o, &now), CONN_READ);
    cr_assert_eq(http_conn_deadline(c), now + 60000);
    cr_assert_eq(http_conn_timeout(c, http_conn_deadline(c)), CONN_WRITE);
    expect_408(c, &o, &now);
    played_out(c, &o);

    /* idle keep-alive: KeepAliveTimeout, then close without a response */
    c = kept_alive(&o, &now);
    cr_assert_eq(http_conn_deadline(c), now + 5000);
    cr_assert_eq(http_conn_timeout(c, now + 5000), CONN_CLOSE);
    played_out(c, &o);
}

Test(http_conn, idle_connection_holds_no_buffers)
{
    int64_t now = 1;
    struct out o = {0};
    struct http_conn *c = http_conn_create(&srv, NULL, 0, now);
    size_t fresh = http_conn_footprint(c);
    cr_assert_eq(drive_str(c, KEEPALIVE_GET, &o, &now), CONN_KEEPALIVE);
    cr_assert_eq(http_conn_footprint(c), fresh);
    cr_assert_lt(fresh, 128, "an idle connection costs %zu bytes", fresh);
    played_out(c, &o);
}

Test(http_conn, read_that_found_nothing_lets_the_buffer_go)
{
    int64_t now = 1;
    struct out o = {0};
    char *buf;
    size_t len;
    struct http_conn *c = http_conn_create(&srv, NULL, 0, now);
    size_t fresh = http_conn_footprint(c);
    cr_assert_eq(http_conn_read_space(c, &buf, &len), 0);
    cr_assert_gt(http_conn_footprint(c), fresh);
    http_conn_read_blocked(c); /* a fresh connection whose client sent nothing yet */
    cr_expect_eq(http_conn_footprint(c), fresh);

    /* mid-request the buffer (and what it holds) stays */
    cr_assert_eq(drive_str(c, "GET / HTTP/1.1\r\nHo", &o, &now), CONN_READ);
    size_t partial = http_conn_footprint(c);
    http_conn_read_blocked(c);
    cr_expect_eq(http_conn_footprint(c), partial);
    cr_assert_eq(drive_str(c, "st: x\r\n\r\n", &o, &now), CONN_KEEPALIVE);
    played_out(c, &o);
}

Test(http_conn, graceful_shutdown)
{
    int64_t now = 1;
    struct out o = {0};
    struct http_conn *c = kept_alive(&o, &now);
    cr_assert_eq(http_conn_shutdown(c), CONN_CLOSE);
    played_out(c, &o);

    /* mid-request: the response is sent, with Connection: close */
    const char *req = KEEPALIVE_GET;
    c = http_conn_create(&srv, NULL, 0, now);
    cr_assert_eq(drive(c, req, 10, 1 << 20, &o, &now), CONN_READ);
    cr_assert_eq(http_conn_shutdown(c), CONN_READ);
    cr_assert_eq(drive(c, req + 10, strlen(req) - 10, 1 << 20, &o, &now), CONN_CLOSE);
    cr_assert_not_null(strstr(o.data, "Connection: close\r\n"));
    played_out(c, &o);
}

/* Feeds `in` at time `now` (one piece). */
static enum conn_state feed(struct http_conn *c, const char *in, int64_t now)
{
    char *buf;
    size_t space;
    cr_assert_eq(http_conn_read_space(c, &buf, &space), 0);
    cr_assert_geq(space, strlen(in));
    memcpy(buf, in, strlen(in));
    return http_conn_input(c, strlen(in), now);
}

Test(http_conn, request_read_timeout_header_stage)
{
    /* header=2-4,MinRate=500: 2 s from accept, +1 s per 500 bytes, never beyond 4 s */
    srv.header_timeout = (struct read_timeout){.timeout = 2, .max_timeout = 4, .min_rate = 500};
    int64_t t0 = 100000;
    struct http_conn *c = http_conn_create(&srv, NULL, 0, t0);
    cr_assert_eq(http_conn_deadline(c), t0 + 2000, "the stage starts at accept");

    char line[600];
    snprintf(line, sizeof(line), "GET /%0499d HTTP/1.1\r\n", 0);
    int64_t len = (int64_t)strlen(line);
    cr_assert_eq(feed(c, line, t0 + 1500), CONN_READ);
    cr_assert_eq(http_conn_deadline(c), t0 + 2000 + len * 1000 / 500, "extended by the bytes received");

    for (int i = 0; i < 4; i++) {
        snprintf(line, sizeof(line), "X-%d: %0490d\r\n", i, 0);
        cr_assert_eq(feed(c, line, t0 + 2000 + i * 400), CONN_READ);
    }
    cr_assert_eq(http_conn_deadline(c), t0 + 4000, "capped at the maximum");
    cr_assert_eq(http_conn_timeout(c, t0 + 4000), CONN_WRITE);
    struct out o = {0};
    int64_t now = t0 + 4000;
    expect_408(c, &o, &now);
    cr_assert_not_null(strstr(o.data, "Connection: close\r\n"));
    http_conn_destroy(c);
    free(o.data);

    /* a silent new connection ends at the header timeout, quietly */
    c = http_conn_create(&srv, NULL, 0, t0);
    cr_assert_eq(http_conn_timeout(c, http_conn_deadline(c)), CONN_CLOSE);
    http_conn_destroy(c);
}

Test(http_conn, request_read_timeout_keepalive_starts_at_first_byte)
{
    srv.header_timeout = (struct read_timeout){.timeout = 2, .max_timeout = 3, .min_rate = 500};
    int64_t now = 100000;
    struct out o = {0};
    struct http_conn *c = kept_alive(&o, &now);
    cr_assert_eq(http_conn_deadline(c), now + 5000, "idle: KeepAliveTimeout");
    int64_t first = now + 4000; /* the next request starts late in the keep-alive wait */
    cr_assert_eq(feed(c, "GET / HT", first), CONN_READ);
    cr_assert_eq(http_conn_deadline(c), first + 2000 + 8 * 1000 / 500, "header stage from the first byte");
    http_conn_destroy(c);
    free(o.data);
}

Test(http_conn, request_read_timeout_body_stage)
{
    /* body=3,MinRate=1000: 3 s from the end of the headers, +1 s per 1000 bytes, no cap */
    srv.header_timeout = (struct read_timeout){.timeout = 2, .max_timeout = 0, .min_rate = 0};
    srv.body_timeout = (struct read_timeout){.timeout = 3, .max_timeout = 0, .min_rate = 1000};
    int64_t t0 = 100000;
    struct http_conn *c = http_conn_create(&srv, NULL, 0, t0);
    cr_assert_eq(feed(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", t0 + 1000),
                 CONN_READ);
    int64_t t1 = t0 + 1000;
    cr_assert_eq(http_conn_deadline(c), t1 + 3000, "body stage from the end of the headers");
    char chunk[2001];
    memset(chunk, 'b', 2000);
    chunk[2000] = '\0';
    for (int i = 1; i <= 10; i++)
        cr_assert_eq(feed(c, chunk, t1 + i * 1000), CONN_READ);
    cr_assert_eq(http_conn_deadline(c), t1 + 3000 + 20000, "+1 s per 1000 bytes, no cap");
    cr_assert_eq(http_conn_timeout(c, http_conn_deadline(c)), CONN_WRITE);
    struct out o = {0};
    int64_t now = http_conn_deadline(c);
    expect_408(c, &o, &now);
    http_conn_destroy(c);
    free(o.data);
}

Test(http_conn, request_read_timeout_bounded_by_timeout_and_disabled_by_zero)
{
    srv.timeout = 1;
    srv.header_timeout = (struct read_timeout){.timeout = 20, .max_timeout = 40, .min_rate = 500};
    struct http_conn *c = http_conn_create(&srv, NULL, 0, 1000);
    cr_assert_eq(feed(c, "GET / HTTP/1.1\r\n", 1500), CONN_READ);
    cr_assert_eq(http_conn_deadline(c), 2500, "Timeout after the last progress comes first");
    http_conn_destroy(c);

    srv.timeout = 60;
    srv.header_timeout = (struct read_timeout){0};
    c = http_conn_create(&srv, NULL, 0, 1000);
    cr_assert_eq(feed(c, "GET / HTTP/1.1\r\n", 1500), CONN_READ);
    cr_assert_eq(http_conn_deadline(c), 61500, "header=0: only Timeout");
    http_conn_destroy(c);
}

/* The status line of the only response to `req` fed in pieces of `step` bytes. */
static int status_of(const char *req, size_t step)
{
    enum conn_state st;
    char *got = exchange(req, step, &st);
    int code = 0;
    cr_assert_eq(sscanf(got, "HTTP/1.1 %d ", &code), 1, "no response to %s", req);
    free(got);
    return code;
}

Test(http_conn, hostile_headers_whole_and_byte_by_byte)
{
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},     /* obs-fold */
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n b\r\n\r\n", 400},       /* obs-fold after an empty value */
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n\tb\r\n\r\n", 400},      /* ... with HTAB */
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A:\r\n\r\n", 200},             /* empty value */
        {"GET / HTTP/1.1\r\nHost: x\r\nX-A:   \r\nX-B: \r\n\r\n", 200}, /* whitespace-only values */
        {"GET / HTTP/1.1\r\nHost: x\r\n: c\r\n\r\n", 400},              /* empty field name */
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400}, /* llhttp */
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked\r\n\r\n0\r\n\r\n", 405},
        {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9223372036854775808\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n8000000000000000\r\n", 400},
        {"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n",
         413}, /* > 1 MiB limit */
        {"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a?b\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: a\x80\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200},
        {"GET / HTTP/1.1\r\nHost: ex-ample.org:80\r\n\r\n", 200},
        {"GET / HTTP/1.1\r\nHost: \r\n\r\n", 200},
        {"GET http://user@x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
        {"GET http://other/ HTTP/1.1\r\nHost: x\r\n\r\n", 200},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(status_of(cases[i].req, 1 << 20), cases[i].status, "whole: %s", cases[i].req);
        cr_assert_eq(status_of(cases[i].req, 1), cases[i].status, "byte by byte: %s", cases[i].req);
        cr_assert_eq(status_of(cases[i].req, 7), cases[i].status, "7 bytes at a time: %s", cases[i].req);
    }
}

Test(http_conn, http10_transfer_encoding_closes)
{
    enum conn_state st;
    char *got = exchange("POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
                         1 << 20, &st);
    cr_assert(strncmp(got, "HTTP/1.1 405 ", 13) == 0, "%s", got);
    cr_assert_not_null(strstr(got, "Connection: close\r\n"), "%s", got);
    cr_assert_null(strstr(got + 13, "HTTP/1.1 "), "the request after it was answered: %s", got);
    cr_assert_eq(st, CONN_CLOSE);
    free(got);
}

/* The status of the first response to `len` bytes fed `step` at a time (0 if none), and the final state. */
static int status_n(const char *req, size_t len, size_t step, enum conn_state *st)
{
    char *got = exchange_n(req, len, step, st);
    int code = 0;
    if (sscanf(got, "HTTP/1.1 %d ", &code) != 1)
        code = 0;
    free(got);
    return code;
}

/* Expects `status` for the whole input, and for it split at every byte and in pieces of 2, 3 and 7 bytes;
 * a 400, 414, 501 or 505 must close the connection. */
static void expect_status_any_split(const char *req, size_t len, int status)
{
    static const size_t steps[] = {1 << 20, 1, 2, 3, 7};
    char *shown = malloc(4 * len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++)
        o += (size_t)(req[i] >= 0x20 && req[i] < 0x7f ? sprintf(shown + o, "%c", req[i])
                                                      : sprintf(shown + o, "\\x%02x", (unsigned char)req[i]));
    shown[o] = '\0';
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        enum conn_state st;
        int got = status_n(req, len, steps[i], &st);
        cr_assert_eq(got, status, "\"%s\" in pieces of %zu: status %d, want %d", shown, steps[i], got,
                     status);
        if (status == 400 || status == 414 || status == 501 || status == 505)
            cr_assert_eq(st, CONN_CLOSE, "\"%s\" in pieces of %zu: the connection stays open", shown,
                         steps[i]);
    }
    free(shown);
}

#define EXPECT_STATUS(lit, status) expect_status_any_split((lit), sizeof(lit) - 1, (status))

Test(http_conn, higher_minor_version_is_served_as_http11)
{
    /* RFC 9110 2.5: a 1.x request with x > 1 is answered as the highest version we speak */
    enum conn_state st;
    char *got = exchange("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 1 << 20, &st);
    cr_assert(strncmp(got, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", got);
    cr_assert_null(strstr(got, "\r\nConnection:"), "1.1 keeps the connection without saying so: %s", got);
    cr_assert_eq(st, CONN_KEEPALIVE);
    free(got);
    EXPECT_STATUS("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 200);
    EXPECT_STATUS("HEAD / HTTP/1.9\r\nHost: x\r\n\r\n", 200);
    /* 1.1's rules hold: Host is required, Connection: close closes, pipelined requests are answered in turn
     */
    EXPECT_STATUS("GET / HTTP/1.2\r\n\r\n", 400);
    got = exchange("GET / HTTP/1.9\r\nHost: x\r\nConnection: close\r\n\r\n", 1 << 20, &st);
    cr_assert_not_null(strstr(got, "\r\nConnection: close\r\n"), "%s", got);
    cr_assert_eq(st, CONN_CLOSE);
    free(got);
    got = exchange("GET / HTTP/1.2\r\nHost: x\r\n\r\nGET /nope HTTP/1.3\r\nHost: x\r\n\r\n", 1, &st);
    const char *second = strstr(got + 1, "HTTP/1.1 ");
    cr_assert(second != NULL && strncmp(second, "HTTP/1.1 404 ", 13) == 0, "%s", got);
    cr_assert_eq(st, CONN_KEEPALIVE);
    free(got);
}

Test(http_conn, request_line_is_judged_whole)
{
    /* a malformed request line is a 400, whatever llhttp stumbled on first */
    EXPECT_STATUS("G ET / HTTP/1.0\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.0\0\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.0 x\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.0  \r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.0 \r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.0\r\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/2.0 x\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.10\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/10.0\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.\r\n\r\n", 400);
    EXPECT_STATUS("GET / http/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("FOO\0 / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("FOO /\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("FOO / HTTP/1.1 x\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("FOO / HTTP/1.1\nHost: x\n\n", 400);
    EXPECT_STATUS("\x01\x02 hello\r\n\r\n", 400);
    /* 501 for a well-formed line with a method the server does not implement */
    EXPECT_STATUS("FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501);
    EXPECT_STATUS("get / HTTP/1.1\r\nHost: x\r\n\r\n", 501);
    EXPECT_STATUS("GE / HTTP/1.1\r\nHost: x\r\n\r\n", 501);
    EXPECT_STATUS("PROPFIND / HTTP/1.1\r\nHost: x\r\n\r\n", 501);
    EXPECT_STATUS("FOO  /  HTTP/1.0\r\n\r\n", 501);
    /* 505 for a well-formed line with a version other than 1.x, also with an unknown method */
    EXPECT_STATUS("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    EXPECT_STATUS("GET / HTTP/3.1\r\n\r\n", 505);
    EXPECT_STATUS("GET / HTTP/0.9\r\n\r\n", 505);
    EXPECT_STATUS("FOO / HTTP/2.0\r\n\r\n", 505);
    EXPECT_STATUS("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    /* llhttp's own leniency is kept: several spaces between the parts */
    EXPECT_STATUS("GET  /  HTTP/1.1\r\nHost: x\r\n\r\n", 200);
}

Test(http_conn, request_line_waits_for_its_end_only_while_it_may_be_well_formed)
{
    enum conn_state st;
    /* "FOO / HTTP/1.1" could still be a 501 or, with a bare LF, a 400: nothing is answered yet */
    cr_assert_eq(status_n("FOO / HTTP/1.1", 14, 1 << 20, &st), 0);
    cr_assert_eq(st, CONN_READ);
    cr_assert_eq(status_n("FOO / HTTP/1.1\r", 15, 1, &st), 0);
    cr_assert_eq(st, CONN_READ);
    /* bytes no well-formed line begins with are refused at once */
    EXPECT_STATUS("\x01", 400);
    EXPECT_STATUS("G ET / ", 400);
    EXPECT_STATUS("FOO / HTTP/1.1 ", 400);
    EXPECT_STATUS("GET / HTTP/2.0 ", 400);
}

Test(http_conn, request_line_limit)
{
    /* LimitRequestLine counts the line without its CRLF, whatever the method */
    char req[512], path[200];
    srv.limit_request_line = 100;
    memset(path, 'a', sizeof(path));
    /* "GET /" + 86 + " HTTP/1.1" = 100 bytes */
    snprintf(req, sizeof(req), "GET /%.*s HTTP/1.1\r\nHost: x\r\n\r\n", 86, path);
    expect_status_any_split(req, strlen(req), 404);
    snprintf(req, sizeof(req), "GET /%.*s HTTP/1.1\r\nHost: x\r\n\r\n", 87, path);
    expect_status_any_split(req, strlen(req), 414);
    snprintf(req, sizeof(req), "FOO /%.*s HTTP/1.1\r\nHost: x\r\n\r\n", 87, path);
    expect_status_any_split(req, strlen(req), 414);
    /* without an end, as soon as it is too long */
    snprintf(req, sizeof(req), "FOO /%.*s", 190, path);
    expect_status_any_split(req, strlen(req), 414);
    snprintf(req, sizeof(req), "GET /%.*s", 190, path);
    expect_status_any_split(req, strlen(req), 414);
    /* a fault before the limit comes first */
    snprintf(req, sizeof(req), "G ET /%.*s HTTP/1.1\r\n\r\n", 190, path);
    expect_status_any_split(req, strlen(req), 400);
    srv.limit_request_line = 8190;
}

Test(http_conn, bare_lf_is_refused_everywhere)
{
#define CHUNKED "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    /* one rule for every line of the head and of the chunked framing: it ends with CRLF */
    EXPECT_STATUS("\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.0\n\n", 400);
    EXPECT_STATUS("GET / HTTP/1.0\nHost: x\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.0\r\n\n", 400);
    EXPECT_STATUS("GET / HTTP/1.1\r\nHost: x\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400);
    EXPECT_STATUS("GET / HTTP/1.1\r\nHost: x\r\n\n", 400);
    EXPECT_STATUS("GET / HTTP/1.1\r\nHost: x\r\nX-A:\n\r\n", 400);
    EXPECT_STATUS(CHUNKED "5\nhello\r\n0\r\n\r\n", 400);
    EXPECT_STATUS(CHUNKED "5\r\nhello\n0\r\n\r\n", 400);
    EXPECT_STATUS(CHUNKED "5\r\nhello\r\n0\n\r\n", 400);
    EXPECT_STATUS(CHUNKED "5\r\nhello\r\n0\r\n\n", 400);
    EXPECT_STATUS(CHUNKED "0\r\nX-T: a\n\r\n", 400);
    EXPECT_STATUS(CHUNKED "0\r\nX-T: a\r\n\n", 400);
    /* the same requests with CRLF */
    EXPECT_STATUS("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 200);
    EXPECT_STATUS("GET / HTTP/1.0\r\n\r\n", 200);
    EXPECT_STATUS(CHUNKED "5\r\nhello\r\n0\r\n\r\n", 405);
    EXPECT_STATUS(CHUNKED "0\r\nX-T: a\r\n\r\n", 405);
    /* a LF in a body is data */
    EXPECT_STATUS("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\na\nb", 405);
    EXPECT_STATUS(CHUNKED "3\r\na\nb\r\n0\r\n\r\n", 405);
#undef CHUNKED
}

Test(http_conn, bare_lf_between_pipelined_requests)
{
    /* the empty line a client may send before a request is held to the same rule */
    enum conn_state st;
    static const char crlf[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char lf[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const size_t steps[] = {1 << 20, 1, 7};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        size_t step = steps[i];
        char *got = exchange(crlf, step, &st);
        const char *second = strstr(got + 1, "HTTP/1.1 ");
        cr_assert(second != NULL && strncmp(second, "HTTP/1.1 200 ", 13) == 0, "%s", got);
        cr_assert_eq(st, CONN_KEEPALIVE);
        free(got);
        got = exchange(lf, step, &st);
        second = strstr(got + 1, "HTTP/1.1 ");
        cr_assert(strncmp(got, "HTTP/1.1 200 ", 13) == 0, "%s", got);
        cr_assert(second != NULL && strncmp(second, "HTTP/1.1 400 ", 13) == 0, "%s", got);
        cr_assert_eq(st, CONN_CLOSE);
        free(got);
    }
}

/* The head goes out with MSG_MORE before a small file, so that head and body leave in one segment, but not
 * before a large one, where corking the head only delays the response. The file range is given with the
 * head either way, and a write may take the head and part of the file at once. */
Test(http_conn, head_corked_only_before_a_small_file)
{
    static const struct {
        const char *name;
        size_t size;
        int more;
    } cases[] = {{"small.bin", 1024, 1}, {"edge.bin", CONN_MORE_MAX, 1}, {"large.bin", CONN_MORE_MAX + 1, 0}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *data = calloc(1, cases[i].size + 1);
        cr_assert_not_null(data);
        memset(data, 'x', cases[i].size);
        write_file(docroot, cases[i].name, data);
        free(data);
        char req[128];
        snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: x\r\n\r\n", cases[i].name);
        struct http_conn *c = http_conn_create(&srv, NULL, 0, 1000);
        cr_assert_eq(feed(c, req, 1000), CONN_WRITE);
        struct conn_out out;
        cr_assert_eq(http_conn_output(c, &out), 0);
        cr_assert_eq(out.iovcnt, 1, "the head first");
        cr_assert_eq(out.more, cases[i].more, "%s (%zu bytes)", cases[i].name, cases[i].size);
        /* whatever its size, the range that follows the head comes with it (TLS starts it in the head's
         * record) */
        cr_assert(out.file_fd >= 0, "%s: the file range after the head", cases[i].name);
        cr_assert_eq(out.file_off, 0);
        cr_assert_eq(out.file_len, cases[i].size);
        size_t head = out.iov[0].iov_len;
        cr_assert_eq(http_conn_sent(c, head + 100, 1000), CONN_WRITE,
                     "head and 100 bytes of the file in one go");
        cr_assert_eq(http_conn_output(c, &out), 0);
        cr_assert(out.iovcnt == 0 && out.file_off == 100 && out.file_len == cases[i].size - 100,
                  "%s: the rest of the file", cases[i].name);
        http_conn_destroy(c);
    }
}

/* The last bytes of the last response to a client that asked to close go out with MSG_MORE, so that the FIN
 * of the close that follows leaves in the same segment; never when the connection stays open, when input is
 * left unread (the close would reset the connection and discard them), or when the client made no promise
 * to send nothing more. */
Test(http_conn, last_response_held_for_the_fin)
{
    static const struct {
        const char *req;
        int more;
    } cases[] = {
        {"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1},
        {"GET /missing HTTP/1.0\r\nConnection: close\r\n\r\n", 1},
        {"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", 0},
        {"GET /missing HTTP/1.0\r\n\r\n", 0},
        {"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_conn *c = http_conn_create(&srv, NULL, 0, 1000);
        cr_assert_eq(feed(c, cases[i].req, 1000), CONN_WRITE);
        struct conn_out out;
        cr_assert_eq(http_conn_output(c, &out), 0);
        cr_assert_gt(out.iovcnt, 1, "head and body at once: %s", cases[i].req);
        cr_assert_eq(out.more, cases[i].more, "%s", cases[i].req);
        /* written but for its last byte: the rest still ends the response */
        size_t len = 0;
        for (int k = 0; k < out.iovcnt; k++)
            len += out.iov[k].iov_len;
        cr_assert_eq(http_conn_sent(c, len - 1, 1000), CONN_WRITE);
        cr_assert_eq(http_conn_output(c, &out), 0);
        cr_assert_eq(out.more, cases[i].more, "the rest of %s", cases[i].req);
        http_conn_destroy(c);
    }
}

/* ---- handlers that stream: the request body pulled after the head, the response given piece by piece ----
 */

/* Collects the request body a few bytes a call, then streams it back three bytes a call, each piece after a
 * wait on a socket (any descriptor: the test's MPM calls it ready). ?len streams with a Content-Length,
 * ?short announces one byte more than it gives, ?abort gives up after the first piece. */
struct echo_state {
    struct pbuf body;
    size_t pos;
    int cleanups;
};
static int echo_cleanups;

static enum handler_result echo_next(struct request *r)
{
    struct echo_state *e = r->handler_data;
    if (!r->stream) {
        char buf[5];
        long long n = http_req_body(r, buf, sizeof(buf));
        if (n > 0) {
            pbuf_append(&e->body, buf, (size_t)n);
            r->wait_for = HTTP_WAIT_BODY;
            return HANDLER_WAIT;
        }
        if (n == 0) {
            r->wait_for = HTTP_WAIT_BODY;
            return HANDLER_WAIT;
        }
        long long len = -1;
        if (r->query != NULL && strcmp(r->query, "len") == 0)
            len = (long long)e->body.len;
        if (r->query != NULL && strcmp(r->query, "short") == 0)
            len = (long long)e->body.len + 1;
        http_resp_status(r, 200);
        http_resp_header(r, "X-Echo", "1");
        http_resp_stream(r, len);
    }
    size_t left = e->body.len - e->pos, n = left < 3 ? left : 3;
    http_resp_stream_data(r, e->body.p + e->pos, n);
    e->pos += n;
    if (r->query != NULL && strcmp(r->query, "abort") == 0)
        return HANDLER_ABORT;
    if (e->pos == e->body.len)
        return HANDLER_DONE;
    r->wait_for = HTTP_WAIT_WRITABLE;
    r->wait_fd = 0;
    r->wait_until = now_ms() + 1000;
    return HANDLER_WAIT;
}

static enum handler_result echo_handle(struct request *r)
{
    struct echo_state *e = pool_calloc(r->pool, sizeof(*e));
    e->body.pool = r->pool;
    pbuf_append(&e->body, "", 0);
    r->handler_data = e;
    return echo_next(r);
}

static void echo_cleanup(struct request *r)
{
    (void)r;
    echo_cleanups++;
}

static const struct handler echo_handler = {
    .name = "echo",
    .methods = HTTP_M(METHOD_GET) | HTTP_M(METHOD_POST) | HTTP_M(METHOD_HEAD),
    .handle = echo_handle,
    .resume = echo_next,
    .cleanup = echo_cleanup,
    .stream_body = 1,
};
static struct location echo_location = {.path = "/echo", .len = 5, .handler = &echo_handler};

static void with_echo(void)
{
    srv.main.locations = &echo_location;
    echo_cleanups = 0;
}

/* A head as long as the core's own part of it gets: the longest reason phrase, Content-Length of 19 digits,
 * Content-Type, Connection: keep-alive for HTTP/1.0, and many headers of the handler's: written whole into
 * the one allocation counted for it. */
static enum handler_result longhead_handle(struct request *r)
{
    http_resp_status(r, 431);
    for (int i = 0; i < 40; i++)
        http_resp_header(r, i % 2 ? "X-Long-Header-Name-Of-Some-Length" : "X",
                         i % 3 ? "v" : "a longer value, 0123456789");
    http_resp_content_type(r, "text/plain; charset=utf-8");
    http_resp_stream(r, 9223372036854775807LL);
    return HANDLER_ABORT;
}

static const struct handler longhead_handler = {
    .name = "longhead", .methods = HTTP_M(METHOD_GET), .handle = longhead_handle};
static struct location longhead_location = {.path = "/longhead", .len = 9, .handler = &longhead_handler};

Test(http_conn, longest_head_is_written_whole)
{
    srv.main.locations = &longhead_location;
    char *out = exchange("GET /longhead HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1 << 20, NULL);
    cr_assert(strncmp(out, "HTTP/1.1 431 Request Header Fields Too Large\r\nDate: X\r\nServer: ", 63) == 0,
              "%s", out);
    cr_assert_not_null(
        strstr(out, "\r\nX-Long-Header-Name-Of-Some-Length: v\r\nX: a longer value, 0123456789\r\n"));
    cr_assert_not_null(strstr(out, "\r\nContent-Length: 9223372036854775807\r\nContent-Type: text/plain; "
                                   "charset=utf-8\r\nConnection: close\r\n\r\n"),
                       "%s", out);
    int n = 0;
    for (const char *p = out; (p = strstr(p, "\r\nX")) != NULL; p++)
        n++;
    cr_assert_eq(n, 40);
    free(out);
}

/* A handler that answers with what the core parsed: the target, then each header as name=[value]. */
static enum handler_result parsed_handle(struct request *r)
{
    struct pbuf b = {.pool = r->pool};
    pbuf_printf(&b, "target=[%s] path=[%s] query=[%s]\n", r->target, r->path, r->query ? r->query : "-");
    for (int i = 0; i < r->n_headers; i++)
        pbuf_printf(&b, "%s=[%s]\n", r->headers[i].name, r->headers[i].value);
    cr_assert(!b.failed);
    http_resp_content_type(r, "text/plain");
    http_resp_body_mem(r, b.p, b.len);
    return HANDLER_DONE;
}

static const struct handler parsed_handler = {
    .name = "parsed", .methods = HTTP_M(METHOD_GET), .handle = parsed_handle};
static struct location parsed_location = {.path = "/parsed", .len = 7, .handler = &parsed_handler};

/* The names and values reach handlers as the request sent them (whitespace around a value trimmed), however
 * the bytes were split between reads: taken where they lie in the read buffer, gathered across reads, and
 * the head's strings copied out before the buffer is read into again (the second request of the pipeline). */
Test(http_conn, parsed_headers_whatever_the_reads)
{
    srv.main.locations = &parsed_location;
    char req[4096], want[4096];
    int n = snprintf(req, sizeof(req),
                     "GET /parsed/a%%20b?x=1&y HTTP/1.1\r\nHost: example.org:8080\r\n"
                     "Empty:\r\nSpaces:   \t  \r\nPadded: \t inner  value \t\r\n"
                     "X-Forwarded-For: 192.0.2.1, 198.51.100.2\r\n");
    int w = snprintf(want, sizeof(want),
                     "target=[/parsed/a%%20b?x=1&y] path=[/parsed/a b] query=[x=1&y]\n"
                     "Host=[example.org:8080]\nEmpty=[]\nSpaces=[]\nPadded=[inner  value]\n"
                     "X-Forwarded-For=[192.0.2.1, 198.51.100.2]\n");
    for (int i = 0; i < 20; i++) { /* more than the first array of headers holds */
        n += snprintf(req + n, sizeof(req) - (size_t)n, "H%d-%s: value %d%s\r\n", i,
                      i % 2 ? "Long-Name" : "n", i, i % 3 ? "" : " with more words in it");
        w += snprintf(want + w, sizeof(want) - (size_t)w, "H%d-%s=[value %d%s]\n", i,
                      i % 2 ? "Long-Name" : "n", i, i % 3 ? "" : " with more words in it");
    }
    /* and a head longer than settle() copies in one piece, when a read brings it whole */
    char longv[701];
    memset(longv, 'v', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    n += snprintf(req + n, sizeof(req) - (size_t)n, "X-Long:  %s \r\n\r\n", longv);
    w += snprintf(want + w, sizeof(want) - (size_t)w, "X-Long=[%s]\n", longv);
    char pipeline[8192];
    snprintf(pipeline, sizeof(pipeline), "%s%s", req, req);
    const size_t steps[] = {1 << 20, 1, 2, 3, 7, 13, 64, 500};
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
        enum conn_state st;
        char *got = exchange(pipeline, steps[k], &st);
        cr_assert_eq(st, CONN_KEEPALIVE, "step %zu", steps[k]);
        const char *p = got;
        for (int r = 0; r < 2; r++) {
            const char *body = strstr(p, "\r\n\r\n");
            cr_assert_not_null(body, "step %zu, response %d: %s", steps[k], r, got);
            body += 4;
            cr_assert(strncmp(body, want, (size_t)w) == 0, "step %zu, response %d:\n%.*s\nwanted:\n%s",
                      steps[k], r, w, body, want);
            p = body + w;
        }
        cr_assert_eq(*p, '\0', "step %zu: %s", steps[k], p);
        free(got);
    }
}

/* A handler that notes the time the core gives it, at handle() and at resume() after a wait on its socket. */
static int64_t clock_seen[2];

static enum handler_result clock_resume(struct request *r)
{
    clock_seen[1] = r->now;
    http_resp_status(r, 204);
    return HANDLER_DONE;
}

static enum handler_result clock_handle(struct request *r)
{
    clock_seen[0] = r->now;
    r->wait_for = HTTP_WAIT_READABLE;
    r->wait_fd = 0;
    r->wait_until = r->now + 1000;
    return HANDLER_WAIT;
}

static const struct handler clock_handler = {
    .name = "clock", .methods = HTTP_M(METHOD_GET), .handle = clock_handle, .resume = clock_resume};
static struct location clock_location = {.path = "/clock", .len = 6, .handler = &clock_handler};

Test(http_conn, handlers_get_the_time_the_core_was_given)
{
    srv.main.locations = &clock_location;
    int64_t now = 5000000; /* not the clock's: the handler sees what the MPM passed */
    struct http_conn *c = http_conn_create(&srv, NULL, 0, now);
    const char *req = "GET /clock HTTP/1.1\r\nHost: x\r\n\r\n";
    char *buf;
    size_t space;
    cr_assert_eq(http_conn_read_space(c, &buf, &space), 0);
    memcpy(buf, req, strlen(req));
    cr_assert_eq(http_conn_input(c, strlen(req), now), CONN_WAIT);
    cr_assert_eq(clock_seen[0], 5000000);
    cr_assert_eq(http_conn_deadline(c), 5001000, "the handler's deadline is the core's wait deadline");
    cr_assert_eq(http_conn_ready(c, 5000250), CONN_WRITE);
    cr_assert_eq(clock_seen[1], 5000250);
    http_conn_destroy(c);
}

Test(http_conn, stream_chunked_echo)
{
    with_echo();
    const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world";
    for (size_t step = 1; step <= strlen(req); step += step < 8 ? 1 : 29) {
        enum conn_state st;
        char *out = exchange(req, step, &st);
        cr_assert_str_eq(
            out,
            "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nX-Echo: 1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n3\r\nlo \r\n3\r\nwor\r\n2\r\nld\r\n0\r\n\r\n",
            "step %zu: %s", step, out);
        cr_assert_eq(st, CONN_KEEPALIVE);
        free(out);
    }
    cr_assert_gt(echo_cleanups, 0);
}

Test(http_conn, stream_chunked_request_body)
{
    with_echo();
    const char *req = "POST /echo?len HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\nTrailer: t\r\n\r\n"
                      "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t step = 1; step <= strlen(req); step += 7) {
        enum conn_state st;
        char *out = exchange(req, step, &st);
        cr_assert_str_eq(
            out,
            "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nX-Echo: 1\r\nContent-Length: 7\r\n"
            "\r\nabcdefg"
            "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nX-Echo: 1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "step %zu: %s", step, out);
        cr_assert_eq(st, CONN_KEEPALIVE);
        free(out);
    }
}

Test(http_conn, stream_http10_close_delimited)
{
    with_echo();
    enum conn_state st;
    char *out = exchange("POST /echo HTTP/1.0\r\nContent-Length: 4\r\n\r\nabcd", 3, &st);
    cr_assert_str_eq(out,
                     "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nX-Echo: 1\r\nConnection: close\r\n"
                     "\r\nabcd");
    cr_assert_eq(st, CONN_CLOSE);
    free(out);
}

Test(http_conn, stream_head_has_no_body)
{
    with_echo();
    enum conn_state st;
    char *out = exchange("HEAD /echo HTTP/1.1\r\nHost: x\r\n\r\n", 100, &st);
    cr_assert_str_eq(out, "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nX-Echo: 1\r\n\r\n");
    cr_assert_eq(st, CONN_KEEPALIVE);
    free(out);
}

/* A body shorter than announced, or given up, is never completed: the connection closes after what came. */
Test(http_conn, stream_truncated_closes)
{
    with_echo();
    enum conn_state st;
    char *out = exchange("POST /echo?short HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd"
                         "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                         100, &st);
    cr_assert_str_eq(out,
                     "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nX-Echo: 1\r\nContent-Length: 5\r\n"
                     "\r\nabcd");
    cr_assert_eq(st, CONN_CLOSE);
    free(out);
    out = exchange("POST /echo?abort HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd", 100, &st);
    cr_assert_str_eq(out, "HTTP/1.1 200 OK\r\nDate: X\r\nServer: httpd/0.1.0\r\nX-Echo: 1\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    cr_assert_eq(st, CONN_CLOSE);
    free(out);
}

/* Expect: 100-continue is answered when the handler first asks for the body, not before. */
Test(http_conn, stream_expect_continue)
{
    with_echo();
    int64_t now = 1000000;
    struct out o = {0};
    struct http_conn *c = http_conn_create(&srv, NULL, 0, now);
    const char *head =
        "POST /echo?len HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    cr_assert_eq(drive_str(c, head, &o, &now), CONN_READ);
    cr_assert_str_eq(o.data, "HTTP/1.1 100 Continue\r\n\r\n");
    cr_assert_eq(drive_str(c, "ok", &o, &now), CONN_KEEPALIVE);
    cr_assert(strstr(o.data, "Content-Length: 2\r\n\r\nok") != NULL, "%s", o.data);
    played_out(c, &o);
}

/* A body larger than the core's buffer goes through it in pieces; a bad chunk ends the request with a 400 and
 * the handler's cleanup. */
Test(http_conn, stream_large_body_and_bad_chunk)
{
    with_echo();
    size_t n = 50000;
    char *req = malloc(n + 200);
    int k = sprintf(req, "POST /echo?len HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    for (size_t i = 0; i < n; i++)
        req[k + (int)i] = (char)('a' + i % 26);
    enum conn_state st;
    char *out = exchange_n(req, (size_t)k + n, 4096, &st);
    cr_assert_eq(st, CONN_KEEPALIVE);
    char *body = strstr(out, "\r\n\r\n") + 4;
    cr_assert_eq(strlen(body), n);
    cr_assert_eq(memcmp(body, req + k, n), 0);
    free(out);
    free(req);
    echo_cleanups = 0;
    out = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab", 100, &st);
    cr_assert_eq(st, CONN_READ);
    free(out);
    cr_assert_eq(echo_cleanups, 1);
    out = exchange("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY\r\n", 100,
                   &st);
    cr_assert(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
    cr_assert_eq(st, CONN_CLOSE);
    free(out);
    cr_assert_eq(echo_cleanups, 2);
}

/* ---- virtual hosts ---- */

/* A directory next to the docroot with an index.html of `body`; returns its path (in pool). */
static char *site(const char *name, const char *body)
{
    char *dir = pool_printf(pool, "%s/%s", docroot, name);
    cr_assert_eq(mkdir(dir, 0755), 0);
    write_file(dir, "index.html", body);
    return dir;
}

/* Each request is served by the vhost its Host names, else by the set's first, on one connection and in one
 * pipelined read; a vhost's LimitRequestBody and KeepAlive hold for the requests it serves. */
Test(http_conn, vhost_chosen_per_request_by_host)
{
    static char *index_names[] = {"index.html", NULL};
    static char *a_names[] = {"www.a.test", NULL}, *b_wild[] = {"*.b.test", NULL};
    struct vhost a = {.file = "t.conf",
                      .line = 1,
                      .server_name = "a.test",
                      .hostname = "a.test",
                      .names = a_names,
                      .document_root = site("a", "site a\n"),
                      .directory_index = index_names,
                      .keepalive = 1,
                      .max_keepalive_requests = 100,
                      .limit_request_body = 1 << 20};
    struct vhost b = {.file = "t.conf",
                      .line = 5,
                      .server_name = "b.test",
                      .hostname = "b.test",
                      .wild_names = b_wild,
                      .document_root = site("b", "site b\n"),
                      .directory_index = index_names,
                      .keepalive = 0,
                      .max_keepalive_requests = 100,
                      .limit_request_body = 5};
    const struct vhost *hosts[] = {&a, &b};
    struct vhost_addr any = {.spec = "*:80", .host = "*", .port = 80};
    const struct vhost_addr *via[] = {&any, &any};
    struct vhost_set set = {.port = 80, .hosts = hosts, .via = via, .n = 2};
    cr_assert_eq(vhost_set_index(pool, &set), 0);
    srv.vhosts = &a;
    a.next = &b;

    int64_t now = 1000000;
    struct out o = {0};
    struct http_conn *c = http_conn_create(&srv, NULL, 0, now);
    http_conn_set_vhosts(c, &set);
    const char *in = "GET / HTTP/1.1\r\nHost: B.TEST.:80\r\n\r\n" /* keep-alive asked for, refused by b */
                     "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    cr_assert_eq(drive_str(c, in, &o, &now), CONN_CLOSE);
    cr_assert(strstr(o.data, "\r\n\r\nsite b\n") != NULL, "%s", o.data);
    cr_assert(strstr(o.data, "Connection: close\r\n") != NULL, "%s", o.data);
    cr_assert_null(strstr(o.data, "site a"), "b closed the connection: %s", o.data);
    played_out(c, &o);

    c = http_conn_create(&srv, NULL, 0, now);
    http_conn_set_vhosts(c, &set);
    in = "GET / HTTP/1.1\r\nHost: www.a.test\r\n\r\n"
         "GET / HTTP/1.1\r\nHost: nobody.test\r\n\r\n"
         "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
         "POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: 6\r\n\r\n123456"
         "POST / HTTP/1.1\r\nHost: x.b.test\r\nContent-Length: 6\r\n\r\n123456";
    cr_assert_eq(drive_str(c, in, &o, &now), CONN_CLOSE);
    const char *p = o.data;
    for (int i = 0; i < 3; i++) {
        p = strstr(p, "\r\n\r\nsite a\n");
        cr_assert_not_null(p, "response %d is not a's: %s", i + 1, o.data);
        p += 4;
    }
    p = strstr(p, "HTTP/1.1 405 ");
    cr_assert_not_null(p, "a takes 6 bytes of body: %s", o.data);
    cr_assert_not_null(strstr(p, "HTTP/1.1 413 "), "b's LimitRequestBody 5: %s", o.data);
    played_out(c, &o);

    /* without a set (no vhost for the connection's address): the main server, whatever Host says */
    c = http_conn_create(&srv, NULL, 0, now);
    cr_assert_eq(drive_str(c, "GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n", &o, &now),
                 CONN_CLOSE);
    cr_assert(strstr(o.data, "\r\n\r\n<html>hello</html>\n") != NULL, "%s", o.data);
    played_out(c, &o);
    srv.vhosts = NULL;
}

/* mod_ssl's rule, with the vhost a (fake) TLS server name selected: a Host that selects another vhost whose
 * SSL setup differs gets 421 and the connection goes on; an alias, the default (a Host naming no vhost) and
 * a vhost of the same setup are served; no Host at all is a 400; without SNI nothing is refused. */
Test(http_conn, misdirected_request_when_host_and_sni_disagree)
{
    static char *index_names[] = {"index.html", NULL};
    static char *a_names[] = {"www.a.test", NULL};
    struct vhost a = {.file = "t.conf",
                      .line = 1,
                      .server_name = "a.test",
                      .hostname = "a.test",
                      .names = a_names,
                      .document_root = site("a", "site a\n"),
                      .directory_index = index_names,
                      .keepalive = 1,
                      .max_keepalive_requests = 100,
                      .limit_request_body = 1 << 20,
                      .tls_setup = 1};
    struct vhost b = a, c = a;
    b.line = 5, b.server_name = b.hostname = "b.test", b.names = NULL, b.tls_setup = 2;
    b.document_root = site("b", "site b\n");
    c.line = 9, c.server_name = c.hostname = "c.test", c.names = NULL, c.tls_setup = 1; /* a's certificate */
    c.document_root = site("c", "site c\n");
    const struct vhost *hosts[] = {&a, &b, &c};
    struct vhost_addr any = {.spec = "*:443", .host = "*", .port = 443};
    const struct vhost_addr *via[] = {&any, &any, &any};
    struct vhost_set set = {.port = 443, .hosts = hosts, .via = via, .n = 3};
    cr_assert_eq(vhost_set_index(pool, &set), 0);
    srv.vhosts = &a;
    a.next = &b;
    b.next = &c;

    int64_t now = 1000000;
    struct out o = {0};
    struct http_conn *conn = http_conn_create(&srv, NULL, 0, now);
    http_conn_set_vhosts(conn, &set);
    http_conn_set_sni(conn, &a);
    const char *in = "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n"
                     "POST / HTTP/1.1\r\nHost: B.test:443\r\nContent-Length: 6\r\n\r\n123456"
                     "GET / HTTP/1.1\r\nHost: www.a.test\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: c.test\r\n\r\n"
                     "GET / HTTP/1.1\r\nHost: nobody.test\r\n\r\n"
                     "GET / HTTP/1.0\r\n\r\n";
    cr_assert_eq(drive_str(conn, in, &o, &now), CONN_CLOSE);
    const char *p = o.data;
    for (int i = 0; i < 2; i++) {
        cr_assert(strncmp(p, "HTTP/1.1 421 Misdirected Request\r\n", 34) == 0, "response %d: %s", i + 1, p);
        p = strstr(p + 1, "HTTP/1.1 ");
        cr_assert_not_null(p, "the connection goes on after a 421: %s", o.data);
    }
    cr_assert_null(strstr(o.data, "site b"), "%s", o.data);
    const char *want[] = {"site a", "site c", "site a"};
    for (int i = 0; i < 3; i++) {
        cr_assert(strncmp(p, "HTTP/1.1 200 OK\r\n", 17) == 0, "response %d: %s", i + 3, p);
        cr_assert_not_null(strstr(p, want[i]), "response %d: %s", i + 3, p);
        p = strstr(p + 1, "HTTP/1.1 ");
        cr_assert_not_null(p, "%s", o.data);
    }
    cr_assert(strncmp(p, "HTTP/1.1 400 ", 13) == 0, "SNI but no Host: %s", p);
    played_out(conn, &o);

    /* the SNI named nobody: its vhost is the default a, and b is still another setup */
    conn = http_conn_create(&srv, NULL, 0, now);
    http_conn_set_vhosts(conn, &set);
    http_conn_set_sni(conn, &b);
    cr_assert_eq(
        drive_str(conn, "GET / HTTP/1.1\r\nHost: nobody.test\r\nConnection: close\r\n\r\n", &o, &now),
        CONN_CLOSE);
    cr_assert(strncmp(o.data, "HTTP/1.1 421 ", 13) == 0, "%s", o.data);
    played_out(conn, &o);

    /* no server name sent: Host alone decides, nothing is refused */
    conn = http_conn_create(&srv, NULL, 0, now);
    http_conn_set_vhosts(conn, &set);
    cr_assert_eq(drive_str(conn,
                           "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n"
                           "GET / HTTP/1.0\r\n\r\n",
                           &o, &now),
                 CONN_CLOSE);
    cr_assert(strstr(o.data, "site b") != NULL && strstr(o.data, "site a") != NULL, "%s", o.data);
    cr_assert_null(strstr(o.data, " 421 "), "%s", o.data);
    played_out(conn, &o);
    srv.vhosts = NULL;
}
