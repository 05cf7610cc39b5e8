/*
 * HTTP/1.x protocol handling over real sockets: versions and connection management, Host rules,
 * absolute-form, pipelining, split reads, request bodies (chunked, Expect: 100-continue), malformed requests
 * and the request Timeout.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define GET(path) "GET " path " HTTP/1.1\r\nHost: localhost\r\n\r\n"

MPM_TEST(protocol, http10_closes, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    static const char missing[] = "GET /missing HTTP/1.0\r\nHost: localhost\r\n\r\n";

    expect_served(s, "GET / HTTP/1.0\r\n\r\n", "index.html", "close");
    /* An error to a 1.0 client closes too. */
    expect_closing_error(s, missing, strlen(missing), 404);
    server_stop(s);
}

MPM_TEST(protocol, http10_keepalive, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c;
    struct resp *r = request_once(s, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &c);

    expect_file(r, s, "index.html", "keep-alive", 0);
    resp_free(r);
    conn_send_str(c, "GET /page.html HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    expect_next_file(c, s, "page.html", "keep-alive", 0);
    /* Without the token the 1.0 connection ends. */
    r = exchange(c, "GET / HTTP/1.0\r\n\r\n");
    expect_last_file(r, c, s, "index.html", 2000);
    server_stop(s);
}

MPM_TEST(protocol, host_rules, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    static const char no_host[] = "GET / HTTP/1.1\r\n\r\n";
    static const char two_hosts[] = "GET / HTTP/1.1\r\nHost: localhost\r\nHost: example.com\r\n\r\n";

    expect_closing_error(s, no_host, strlen(no_host), 400);
    expect_closing_error(s, two_hosts, strlen(two_hosts), 400);
    /* absolute-form carries the authority: no Host header needed */
    expect_served(s, "GET http://localhost/ HTTP/1.1\r\n\r\n", "index.html", NULL);
    server_stop(s);
}

MPM_TEST(protocol, connection_close, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);

    expect_served(s, "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", "index.html", "close");
    server_stop(s);
}

MPM_TEST(protocol, pipelining, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);

    conn_send_str(c, GET("/") "HEAD /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n" GET("/missing")
                         GET("/page.html"));
    expect_next_file(c, s, "index.html", NULL, 0);
    expect_next_file(c, s, "page.html", NULL, 1);
    expect_next_error(c, 404, NULL, NULL);
    expect_next_file(c, s, "page.html", NULL, 0);
    hassert(c->len == 0, "%zu extra bytes after the pipelined responses", c->len);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(protocol, byte_by_byte, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    static const char req[] = "GET /page.html HTTP/1.1\r\nHost: localhost\r\nX-Split: yes\r\n\r\n";

    for (size_t i = 0; i < strlen(req); i++) {
        conn_send(c, req + i, 1);
        sleep_ms(2);
    }
    expect_next_file(c, s, "page.html", NULL, 0);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(protocol, chunked_body, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);

    conn_send_str(c,
                  "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    /* The answer comes once the whole body is read. */
    int n = conn_fill(c, 300);
    hassert(n == -1, "the server answered (or closed) before the chunked body ended: %d, \"%s\"", n,
            c->buf ? c->buf : "");
    conn_send_str(c, "6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    expect_body_consumed(c, s);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(protocol, content_length_with_chunked, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    static const char req[] = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n0\r\n\r\n";

    expect_closing_error(s, req, strlen(req), 400);
    server_stop(s);
}

MPM_TEST(protocol, expect_100_continue, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    int64_t deadline = now_ms() + 3000;

    conn_send_str(c,
                  "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    while (c->len < strlen(cont) && now_ms() < deadline && conn_fill(c, 100) != 0)
        ;
    expect_bytes("interim response", c->buf, c->len, cont, strlen(cont));
    c->len = 0;
    conn_send_str(c, "0123456789");
    expect_body_consumed(c, s);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(protocol, unknown_method_501, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    static const char req[] = "FOO / HTTP/1.1\r\nHost: localhost\r\n\r\n";

    expect_closing_error(s, req, strlen(req), 501);
    server_stop(s);
}

MPM_TEST(protocol, bad_versions, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    static const char v2[] = "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n";
    static const char v09[] = "GET / HTTP/0.9\r\n\r\n";
    struct conn *c = conn_open(s->port);
    struct resp *r;

    expect_closing_error(s, v2, strlen(v2), 505);
    /* 0.9 may be refused by the parser already: 400 or 505, closing. */
    conn_send_str(c, v09);
    r = must_read(c, 0);
    hassert(r->status == 400 || r->status == 505, "GET / HTTP/0.9: status %d, want 400 or 505", r->status);
    expect_last_error(r, c, r->status);
    server_stop(s);
}

MPM_TEST(protocol, higher_minor_version_served_as_http11, .timeout = 20)
{
    /* RFC 9110 2.5: HTTP/1.2 and up are answered as HTTP/1.1, with 1.1's persistent connection and Host rule
     */
    struct srv *s = server_start(mpm, NULL);
    static const char no_host[] = "GET / HTTP/1.2\r\n\r\n";
    struct conn *c;
    struct resp *r = request_once(s, "GET / HTTP/1.2\r\nHost: localhost\r\n\r\n", &c);

    expect_file(r, s, "index.html", NULL, 0);
    resp_free(r);
    conn_send_str(c, "GET /page.html HTTP/1.9\r\nHost: localhost\r\n\r\n");
    expect_next_file(c, s, "page.html", NULL, 0);
    r = exchange(c, "GET / HTTP/1.2\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    expect_last_file(r, c, s, "index.html", 2000);
    expect_closing_error(s, no_host, strlen(no_host), 400);
    server_stop(s);
}

/*
 * Sends raw in two writes, `at` bytes first, and expects the server to answer nothing before the second (the
 * first part could still begin a well-formed request line) and then `status`, closing if status says so.
 */
static void expect_split(struct srv *s, const char *raw, size_t at, int status)
{
    struct conn *c = conn_open(s->port);
    struct resp *r;
    char *e = escape(raw, strlen(raw));

    conn_send(c, raw, at);
    int n = conn_fill(c, 300);
    hassert(n == -1, "request \"%s\": the server answered or closed after its first %zu bytes (%d)", e, at,
            n);
    conn_send(c, raw + at, strlen(raw) - at);
    r = must_read(c, 0);
    hassert(r->status == status, "request \"%s\" sent in two parts: status %d, want %d", e, r->status,
            status);
    free(e);
    if (status >= 400) {
        expect_last_error(r, c, status);
        return;
    }
    resp_free(r);
    conn_close(c);
}

MPM_TEST(protocol, request_line_judged_whole, .timeout = 20)
{
    /* The answer to a request line does not depend on how its bytes arrive: the server waits for the line's
     * end before telling a malformed line (400) from an unknown method (501) or version (505). */
    struct srv *s = server_start(mpm, NULL);

    expect_split(s, "FOO / HTTP/1.1\r\nHost: localhost\r\n\r\n", 1, 501);
    expect_split(s, "FOO / HTTP/1.1\r\nHost: localhost\r\n\r\n", 15, 501);
    expect_split(s, "G ET / HTTP/1.0\r\n\r\n", 1, 400);
    expect_split(s, "GET / HTTP/1.0 x\r\n\r\n", 14, 400);
    expect_split(s, "FOO / HTTP/1.1 x\r\n\r\n", 14, 400);
    expect_split(s, "FOO / HTTP/1.1\nHost: localhost\r\n\r\n", 14, 400);
    expect_split(s, "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n", 15, 505);
    expect_split(s, "GET / HTTP/2.0 x\r\n\r\n", 14, 400);
    expect_split(s, "GET / HTTP/1.2\r\nHost: localhost\r\n\r\n", 15, 200);
    server_stop(s);
}

MPM_TEST(protocol, bare_lf_between_pipelined_requests, .timeout = 20)
{
    /* An empty line before a request must be CRLF like every other line of a head (see the README): after a
     * bare LF the request is refused and the connection closed, once the response before it has gone. */
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);

    conn_send_str(c, GET("/") "\r\n" GET("/page.html") "\n" GET("/"));
    expect_next_file(c, s, "index.html", NULL, 0);
    expect_next_file(c, s, "page.html", NULL, 0);
    expect_last_error(must_read(c, 0), c, 400);
    server_stop(s);
}

MPM_TEST(protocol, malformed_requests_400, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    static const char garbage[] = "\x01\x02 hello\r\n\r\n";
    static const char fold[] = "GET / HTTP/1.1\r\nHost: localhost\r\nX-A: b\r\n c\r\n\r\n";
    static const char space_before_colon[] = "GET / HTTP/1.1\r\nHost : localhost\r\n\r\n";
    static const char bad_cl[] = "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1x\r\n\r\n";

    expect_closing_error(s, garbage, strlen(garbage), 400);
    expect_closing_error(s, fold, strlen(fold), 400);
    expect_closing_error(s, space_before_colon, strlen(space_before_colon), 400);
    expect_closing_error(s, bad_cl, strlen(bad_cl), 400);
    server_stop(s);
}

MPM_TEST(protocol, request_timeout_408, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    struct resp *r;

    conn_send_str(c, "GET / HTTP/1.1\r\nHost: localhost\r\n");
    int64_t start = now_ms();
    r = must_read_within(c, 5000, "no 408 within Timeout (3 s) + 2 s of an incomplete request");
    int64_t took = now_ms() - start;
    hassert(took >= 2500, "408 after %lld ms, before Timeout (3 s)", (long long)took);
    expect_last_error(r, c, 408);
    server_stop(s);
}

MPM_TEST(protocol, pipelined_body_and_error, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);

    /* A body between pipelined requests is consumed exactly; a bad request ends the connection after the
     * responses before it. */
    conn_send_str(
        c, "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\n\r\nGET / HTTP/"
           "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
           "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
           "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
           "\x01garbage\r\n\r\n"
           "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_next_error(c, 405, "Allow: " ALLOW_STATIC "\r\n", NULL);
    expect_next_file(c, s, "page.html", NULL, 0);
    expect_next_error(c, 405, "Allow: " ALLOW_STATIC "\r\n", NULL);
    expect_next_file(c, s, "index.html", NULL, 0);
    expect_last_error(must_read(c, 0), c, 400);
    server_stop(s);
}

MPM_TEST(protocol, chunked_body_split, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    static const char req[] =
        "POST /index.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
        "a\r\n0123456789\r\n1\r\nx\r\n0\r\n\r\n";

    for (size_t i = 0; i < strlen(req); i++) {
        conn_send(c, req + i, 1);
        sleep_ms(1);
    }
    expect_body_consumed(c, s);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(protocol, header_names_case_insensitive, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    expect_served(s, "GET / HTTP/1.1\r\nhOST: localhost\r\nCONNECTION: Close\r\n\r\n", "index.html", "close");
    /* Optional whitespace around the value is not part of it. */
    expect_served(s, "GET / HTTP/1.1\r\nHost:localhost  \r\nIf-None-Match:\t\"nope\" \r\n\r\n", "index.html",
                  NULL);
    server_stop(s);
}

MPM_TEST(protocol, expect_100_ignored_for_http10, .timeout = 20)
{
    /* RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored. */
    struct srv *s = server_start(mpm, NULL);
    struct conn *c;
    struct resp *r =
        request_once(s, "POST / HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\nbody", &c);

    expect_error(r, 405, "Allow: " ALLOW_STATIC "\r\n", "close", 0);
    expect_closed(c, 2000);
    resp_free(r);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(protocol, client_aborts, .timeout = 20)
{
    /* Clients that vanish mid-request or mid-response (RST) must not cost the server a process or thread. */
    struct srv *s = server_start(mpm, NULL);
    struct linger lg = {1, 0};

    for (int i = 0; i < 10; i++) {
        struct conn *c = conn_open(s->port);
        if (i % 2 == 0) {
            conn_send_str(c, "GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
            conn_fill(c, 500);
        } else {
            conn_send_str(c, "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\npartial");
        }
        hassert(setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0,
                "setsockopt(SO_LINGER) failed");
        conn_close(c);
    }
    sleep_ms(200);
    struct resp *r = request_once(s, GET("/big.bin"), NULL);
    hassert(r->status == 200 && r->body_len == BIG_LEN, "after aborted clients: status %d, %zu bytes",
            r->status, r->body_len);
    resp_free(r);
    char *log = read_file(s->error_log, NULL);
    hassert(log && !strstr(log, "exit signal"), "a child died while clients aborted:\n%s",
            log ? log : "(no log)");
    free(log);
    server_stop(s);
}
