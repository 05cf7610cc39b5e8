/*
 * Tests of server/http.c, the handler-facing half of the core: header lookup, reason phrases, the resp_*
 * calls that build a response, error pages (and, through the real connection, which of them close it), the
 * client's address as text, and closing the files a response refers to exactly once. The reason phrases and
 * closing statuses are checked against tests/http_status.h in both directions, the list the integration tests
 * build their expectations from.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../http_status.h"
#include "handler.h"
#include "http.h"
#include "http_conn.h"
#include "pool.h"
#include "server.h"
#include "testserver.h"

#define ERROR_TYPE "text/html; charset=utf-8"

TestSuite(http, .init = testserver_pool_setup, .fini = testserver_pool_teardown);

static struct request *new_request(void)
{
    return testserver_request(test_pool, NULL);
}

static int fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* A descriptor of its own (of /dev/null) to hand to a response. */
static int new_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0, "open(/dev/null): %s", strerror(errno));
    return fd;
}

/* ---- header lookup ---- */

Test(http, header_lookup_is_case_insensitive_and_takes_the_first)
{
    struct http_header h[] = {
        {"Host", "example.org"},
        {"Content-Type", "text/plain"},
        {"X-Twice", "first"},
        {"x-twice", "second"},
    };
    struct request *r = new_request();
    r->headers = h;
    r->n_headers = 4;

    cr_assert_str_eq(http_header_get(r, "Host"), "example.org");
    cr_assert_str_eq(http_header_get(r, "host"), "example.org");
    cr_assert_str_eq(http_header_get(r, "CONTENT-TYPE"), "text/plain");
    cr_assert_str_eq(http_header_get(r, "X-TWICE"), "first");
    cr_assert_null(http_header_get(r, "Content-Length"));
    cr_assert_null(http_header_get(r, "Hos"));
    cr_assert_null(http_header_get(r, "Host2"));

    r->n_headers = 0;
    cr_assert_null(http_header_get(r, "Host"));
}

/* ---- reason phrases ---- */

Test(http, reason_phrases_are_the_tests_list)
{
    for (size_t i = 0; i < HTTP_STATUS_COUNT; i++)
        cr_assert_str_eq(http_reason(http_status_table[i].status), http_status_table[i].reason, "status %d",
                         http_status_table[i].status);
}

Test(http, no_reason_phrase_beyond_the_tests_list)
{
    /* a status the server learns to send must be added to tests/http_status.h, or the harness expects "?" */
    for (int status = 0; status < 1000; status++)
        if (http_status_find(status) == NULL)
            cr_assert_str_eq(http_reason(status), "Unknown", "status %d", status);
    cr_assert_str_eq(http_reason(-1), "Unknown");
}

/* ---- building a response ---- */

Test(http, status_and_content_type)
{
    struct request *r = new_request();
    char type[] = "text/plain; charset=utf-8";

    http_resp_status(r, 404);
    cr_assert_eq(r->status, 404);
    cr_assert_eq(http_resp_content_type(r, type), 0);
    type[0] = 'X'; /* copied, not referenced */
    cr_assert_str_eq(r->content_type, "text/plain; charset=utf-8");
    cr_assert_eq(http_resp_content_type(r, NULL), 0);
    cr_assert_null(r->content_type);
}

Test(http, headers_are_copied_in_order_and_grow)
{
    struct request *r = new_request();
    char name[32], value[32];

    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "X-H%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        cr_assert_eq(http_resp_header(r, name, value), 0);
    }
    strcpy(name, "overwritten");
    strcpy(value, "overwritten");
    cr_assert_eq(r->n_resp_headers, 40);
    cr_assert_geq(r->cap_resp_headers, 40);
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof(name), "X-H%d", i);
        snprintf(value, sizeof(value), "v%d", i);
        cr_assert_str_eq(r->resp_headers[i].name, name);
        cr_assert_str_eq(r->resp_headers[i].value, value);
    }
}

Test(http, headers_by_reference_are_not_copied)
{
    struct request *r = new_request();
    static const char name[] = "ETag", value[] = "\"x\"";
    cr_assert_eq(http_resp_header(r, "Date", "then"), 0);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(http_resp_header_ref(r, name, value), 0);
    cr_assert_eq(r->n_resp_headers, 21);
    cr_assert_str_eq(r->resp_headers[0].name, "Date");
    for (int i = 1; i < 21; i++) {
        cr_assert_eq(r->resp_headers[i].name, name);
        cr_assert_eq(r->resp_headers[i].value, value);
    }
}

Test(http, body_segments_in_order)
{
    static const char a[] = "hello, ", b[] = "world\n";
    struct request *r = new_request();

    cr_assert_eq(http_resp_body_mem(r, a, strlen(a)), 0);
    cr_assert_eq(http_resp_body_mem(r, "ignored", 0), 0); /* an empty piece adds no segment */
    cr_assert_eq(http_resp_body_file(r, 7, 100, 50), 0);
    cr_assert_eq(http_resp_body_mem(r, b, strlen(b)), 0);
    cr_assert_eq(r->body_len, strlen(a) + 50 + strlen(b));

    const struct body_seg *s = r->body;
    cr_assert_not_null(s);
    cr_assert_eq(s->data, a, "memory is referenced, not copied");
    cr_assert_eq(s->len, strlen(a));
    s = s->next;
    cr_assert_not_null(s);
    cr_assert_null(s->data);
    cr_assert_eq(s->fd, 7);
    cr_assert_eq(s->off, 100);
    cr_assert_eq(s->len, 50);
    s = s->next;
    cr_assert_not_null(s);
    cr_assert_eq(s->data, b);
    cr_assert_null(s->next);
    cr_assert_eq(r->body_tail, &s->next);
}

Test(http, body_on_a_request_without_a_tail)
{
    /* the core zeroes a request: the first segment sets the tail */
    struct request *r = new_request();
    r->body_tail = NULL;
    cr_assert_eq(http_resp_body_mem(r, "x", 1), 0);
    cr_assert_not_null(r->body);
    cr_assert_eq(r->body_tail, &r->body->next);
}

/* ---- error pages ---- */

static char *error_page(int status, const char *reason)
{
    return pool_printf(
        test_pool,
        "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%s</h1></body></html>\n", status,
        reason, reason);
}

Test(http, error_page_for_every_status)
{
    for (size_t i = 0; i < HTTP_STATUS_COUNT; i++) {
        int status = http_status_table[i].status;
        struct request *r = new_request();
        cr_assert_eq(http_resp_error(r, status), 0);
        cr_assert_eq(r->status, status);
        cr_assert_str_eq(r->content_type, ERROR_TYPE);
        cr_assert_eq(r->n_resp_headers, 0);
        char *want = error_page(status, http_status_table[i].reason);
        cr_assert_str_eq(testserver_body(r), want, "status %d", status);
        cr_assert_eq(r->body_len, strlen(want));
    }
}

Test(http, error_replaces_what_the_handler_set)
{
    struct request *r = new_request();
    int fd = new_fd();

    http_resp_status(r, 200);
    cr_assert_eq(http_resp_header(r, "ETag", "\"x\""), 0);
    cr_assert_eq(http_resp_content_type(r, "image/png"), 0);
    cr_assert_eq(http_resp_body_mem(r, "partial", 7), 0);
    cr_assert_eq(http_resp_body_file(r, fd, 0, 10), 0);

    cr_assert_eq(http_resp_error(r, 500), 0);
    cr_assert_eq(r->status, 500);
    cr_assert_eq(r->n_resp_headers, 0);
    cr_assert_str_eq(r->content_type, ERROR_TYPE);
    cr_assert_str_eq(testserver_body(r), error_page(500, "Internal Server Error"));
    cr_assert_not(fd_open(fd), "the file the handler had attached is closed");

    /* headers added after the error page (Allow on a 405) are kept */
    cr_assert_eq(http_resp_header(r, "Allow", "GET"), 0);
    cr_assert_eq(r->n_resp_headers, 1);
}

/* The connection a handler's error page leaves on: a location whose handler answers the status in the query.
 */
static enum handler_result error_handle(struct request *r)
{
    http_resp_error(r, atoi(r->query));
    return HANDLER_DONE;
}

static const struct handler error_handler = {
    .name = "test-error", .methods = HTTP_M(METHOD_GET), .handle = error_handle};

/* Sends one request through a fresh connection and returns everything it wrote, the Date value as "X";
 * *closed tells whether the connection ended after it. */
static char *round_trip(const struct server *s, const char *req, int *closed)
{
    struct http_conn *c = http_conn_create(s, NULL, 0, 1000);
    struct pbuf out = {.pool = test_pool};
    char *buf;
    size_t space;

    cr_assert_not_null(c);
    cr_assert_eq(http_conn_read_space(c, &buf, &space), 0);
    cr_assert_geq(space, strlen(req));
    memcpy(buf, req, strlen(req));
    enum conn_state st = http_conn_input(c, strlen(req), 1000);
    while (st == CONN_WRITE) {
        struct conn_out co;
        size_t n = 0;
        cr_assert_eq(http_conn_output(c, &co), 0);
        cr_assert_gt(co.iovcnt, 0, "an error page is written from memory");
        for (int i = 0; i < co.iovcnt; i++) {
            pbuf_append(&out, co.iov[i].iov_base, co.iov[i].iov_len);
            n += co.iov[i].iov_len;
        }
        st = http_conn_sent(c, n, 1000);
    }
    *closed = st == CONN_CLOSE;
    cr_assert(st == CONN_CLOSE || st == CONN_KEEPALIVE, "state %d after the response", (int)st);
    http_conn_destroy(c);
    pbuf_puts(&out, "");
    cr_assert_not(out.failed);
    char *d = strstr(out.p, "\r\nDate: "), *end = d != NULL ? strstr(d + 8, "\r\n") : NULL;
    cr_assert_not_null(end);
    memmove(d + 9, end, strlen(end) + 1);
    d[8] = 'X';
    return out.p;
}

Test(http, error_pages_close_exactly_the_listed_statuses)
{
    struct location loc = {.path = "/e", .len = 2, .handler = &error_handler};
    struct server s;
    testserver_init(&s, test_pool);
    s.main.locations = &loc;
    int checked = 0;

    /* every error status the server can send, so that one it closes after and the list does not is caught */
    for (int status = 400; status < 600; status++) {
        if (strcmp(http_reason(status), "Unknown") == 0)
            continue;
        const struct http_status_expect *e = http_status_find(status);
        cr_assert_not_null(e, "status %d is not in tests/http_status.h", status);
        char *req = pool_printf(test_pool, "GET /e?%d HTTP/1.1\r\nHost: x\r\n\r\n", status);
        char *page = error_page(status, e->reason);
        char *want =
            pool_printf(test_pool,
                        "HTTP/1.1 %d %s\r\nDate: X\r\nServer: " SERVER_SOFTWARE "\r\n"
                        "Content-Length: %zu\r\nContent-Type: " ERROR_TYPE "\r\n%s\r\n%s",
                        status, e->reason, strlen(page), e->closes ? "Connection: close\r\n" : "", page);
        int closed;
        cr_assert_str_eq(round_trip(&s, req, &closed), want, "status %d", status);
        cr_assert_eq(closed, e->closes, "status %d: the connection %s", status,
                     closed ? "closed" : "stayed open");
        checked++;
    }
    cr_assert_geq(checked, 10);
}

/* ---- the client's address ---- */

Test(http, peer_text)
{
    struct request *r = new_request();
    char buf[HTTP_PEER_TEXT];

    cr_assert_str_eq(http_peer_text(r, buf), "-", "unknown peer");
    r->peer_family = AF_INET;
    cr_assert_eq(inet_pton(AF_INET, "192.0.2.17", r->peer_addr), 1);
    cr_assert_eq(http_peer_text(r, buf), buf);
    cr_assert_str_eq(buf, "192.0.2.17");
    cr_assert_eq(inet_pton(AF_INET, "0.0.0.0", r->peer_addr), 1);
    cr_assert_str_eq(http_peer_text(r, buf), "0.0.0.0");
    cr_assert_eq(inet_pton(AF_INET, "255.255.255.255", r->peer_addr), 1);
    cr_assert_str_eq(http_peer_text(r, buf), "255.255.255.255", "the longest fits");
    cr_assert_str_eq(http_peer_text(r, buf), "255.255.255.255", "again (the thread's last)");
    cr_assert_eq(inet_pton(AF_INET, "192.0.2.17", r->peer_addr), 1);
    char other[HTTP_PEER_TEXT];
    cr_assert_str_eq(http_peer_text(r, other), "192.0.2.17", "another after it");
    r->peer_family = AF_INET6;
    cr_assert_eq(inet_pton(AF_INET6, "2001:db8::1", r->peer_addr), 1);
    cr_assert_str_eq(http_peer_text(r, buf), "2001:db8::1");
    cr_assert_eq(inet_pton(AF_INET6, "::ffff:192.0.2.1", r->peer_addr), 1);
    cr_assert_str_eq(http_peer_text(r, buf), "::ffff:192.0.2.1");
    /* eight full groups fit */
    cr_assert_eq(inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", r->peer_addr), 1);
    cr_assert_str_eq(http_peer_text(r, buf), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
    r->peer_family = AF_UNIX;
    cr_assert_str_eq(http_peer_text(r, buf), "-", "not an IP address");
}

/* ---- closing the response's files ---- */

Test(http, each_file_is_closed_once)
{
    struct request *r = new_request();
    int a = new_fd(), b = new_fd();

    /* a multipart/byteranges body: several ranges of one file, another file, memory between them */
    cr_assert_eq(http_resp_body_file(r, a, 0, 1), 0);
    cr_assert_eq(http_resp_body_file(r, a, 5, 1), 0);
    cr_assert_eq(http_resp_body_mem(r, "--sep\r\n", 7), 0);
    cr_assert_eq(http_resp_body_file(r, b, 0, 1), 0);
    cr_assert_eq(http_resp_body_file(r, a, 9, 1), 0);

    http_resp_close_files(r);
    cr_assert_not(fd_open(a));
    cr_assert_not(fd_open(b));
    for (const struct body_seg *s = r->body; s != NULL; s = s->next)
        if (s->data == NULL)
            cr_assert_eq(s->fd, -1, "a closed file is forgotten");

    /* new descriptors take the freed numbers: a second close must not touch them */
    int a2 = new_fd(), b2 = new_fd();
    cr_assert(a2 == a || a2 == b);
    cr_assert(b2 == a || b2 == b);
    http_resp_close_files(r);
    cr_assert(fd_open(a2) && fd_open(b2), "a file was closed twice");
    close(a2);
    close(b2);
}

Test(http, memory_only_body_closes_nothing)
{
    struct request *r = new_request();
    int fd = new_fd();

    cr_assert_eq(http_resp_body_mem(r, "abc", 3), 0);
    http_resp_close_files(r);
    http_resp_close_files(new_request()); /* no body at all */
    cr_assert(fd_open(fd));
    close(fd);
}
