/*
 * Basics of the static site: the index, HEAD, 404, the directory redirect, methods the static handler does
 * not take, OPTIONS, and requests that try to leave the document root.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GET(path) "GET " path " HTTP/1.1\r\nHost: localhost\r\n\r\n"

MPM_TEST(basic, get_index, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    expect_served(s, GET("/"), "index.html", NULL);
    expect_served(s, GET("/index.html"), "index.html", NULL);
    expect_served(s, GET("/page.html"), "page.html", NULL);
    server_stop(s);
}

MPM_TEST(basic, head_has_get_headers_and_no_body, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c;
    struct resp *get = request_once(s, GET("/"), NULL);
    struct resp *head = request_once(s, "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n", &c);

    expect_file(head, s, "index.html", NULL, 1);
    expect_bytes("HEAD vs GET headers", head->norm, strlen(head->norm), get->norm, strlen(get->norm));
    /* Had HEAD sent a body, it would be read as the start of this response. */
    resp_free(get);
    conn_send_str(c, GET("/sub/"));
    expect_next_file(c, s, "sub/index.html", NULL, 0);
    resp_free(head);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(basic, missing_is_404, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    struct resp *r;

    conn_send_str(c, GET("/missing"));
    expect_next_error(c, 404, NULL, NULL);
    /* 404 keeps the connection; HEAD of it has the length of the page but no body. */
    r = exchange(c, "HEAD /missing.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_error(r, 404, NULL, NULL, 1);
    resp_free(r);
    conn_send_str(c, GET("/sub/missing/deeper"));
    expect_next_error(c, 404, NULL, NULL);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(basic, directory_without_slash_redirects, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    char *req = xasprintf("GET /sub HTTP/1.1\r\nHost: localhost:%d\r\n\r\n", s->port);
    char *loc = xasprintf("Location: http://localhost:%d/sub/\r\n", s->port);
    struct conn *c = conn_open(s->port);

    conn_send_str(c, req);
    expect_next_error(c, 301, loc, NULL);
    conn_send_str(c, GET("/sub/"));
    expect_next_file(c, s, "sub/index.html", NULL, 0);
    conn_close(c);
    free(req);
    free(loc);
    server_stop(s);
}

MPM_TEST(basic, post_is_405, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);

    conn_send_str(c, "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
    /* The body was consumed: the connection carries the next request. */
    expect_body_consumed(c, s);
    conn_send_str(c, "DELETE /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_next_error(c, 405, "Allow: " ALLOW_STATIC "\r\n", NULL);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(basic, options, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct resp *r = request_once(s, "OPTIONS / HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
    char *want = expect_head(200, "Allow: " ALLOW_STATIC "\r\n", 0, NULL, NULL);

    expect_bytes("OPTIONS response", r->norm, strlen(r->norm), want, strlen(want));
    hassert(r->body_len == 0, "OPTIONS has a body");
    free(want);
    resp_free(r);
    server_stop(s);
}

/* Each request must be refused with `status` and must never return the password file. */
static void expect_refused(struct srv *s, const char *target, int status)
{
    char *req = xasprintf("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", target);
    struct conn *c;
    struct resp *r = request_once(s, req, &c);

    hassert(!strstr(r->body, "root:"), "GET %s returned the password file", target);
    hassert(r->status == status, "GET %s: status %d, want %d", target, r->status, status);
    free(req);
    if (status == 400) {
        expect_last_error(r, c, 400);
        return;
    }
    expect_error(r, status, NULL, NULL, 0);
    resp_free(r);
    conn_close(c);
}

MPM_TEST(basic, path_traversal, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);

    expect_refused(s, "/../../etc/passwd", 400);
    expect_refused(s, "/%2e%2e/%2e%2e/etc/passwd", 400);
    expect_refused(s, "/%2E%2E/%2E%2E/etc/passwd", 400);
    expect_refused(s, "/sub/../../", 400);
    expect_refused(s, "/sub/../../etc/passwd", 400);
    expect_refused(s, "/..%2f..%2fetc/passwd", 404);
    expect_refused(s, "/sub%2findex.html", 404);
    expect_refused(s, "/%00", 400);
    expect_refused(s, "/index.html%00.txt", 400);
    /* Dot-segments that stay inside the root are fine. */
    expect_served(s, GET("/sub/../index.html"), "index.html", NULL);
    server_stop(s);
}

MPM_TEST(basic, symlink_out_of_root_refused, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct resp *r = request_once(s, GET("/passwd-link"), NULL);

    hassert(!strstr(r->body, "root:"), "the symlink to /etc/passwd was followed");
    hassert(r->status == 403 || r->status == 404, "GET /passwd-link: status %d, want 403 or 404", r->status);
    expect_error(r, r->status, NULL, NULL, 0);
    resp_free(r);
    server_stop(s);
}

MPM_TEST(basic, unreadable_file_forbidden, .timeout = 20)
{
    if (geteuid() == 0)
        cr_skip_test("running as root: a mode 000 file is readable");
    struct srv *s = server_start(mpm, NULL);
    struct resp *r = request_once(s, GET("/secret.html"), NULL);

    expect_error(r, 403, NULL, NULL, 0);
    resp_free(r);
    server_stop(s);
}

MPM_TEST(basic, query_and_encoded_path, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    struct resp *r;

    /* The query is not part of the file name; percent-encoded octets are decoded. */
    conn_send_str(c, GET("/index.html?x=1&y=%2F"));
    expect_next_file(c, s, "index.html", NULL, 0);
    conn_send_str(c, GET("/%70age%2Ehtml"));
    expect_next_file(c, s, "page.html", NULL, 0);
    conn_send_str(c, GET("/sub/?q"));
    expect_next_file(c, s, "sub/index.html", NULL, 0);
    r = exchange(c, GET("//sub//index.html"));
    hassert(r->status == 200 || r->status == 404, "GET //sub//index.html: status %d", r->status);
    resp_free(r);
    conn_close(c);
    server_stop(s);
}
