/*
 * The LimitRequest* directives: body size (Content-Length and chunked), request line, header field size and
 * header count. Each limit is tested just past the edge (closing error) and under it (served normally).
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

MPM_TEST(limits, request_body, .timeout = 20)
{
    struct srv *s = server_start(mpm, "LimitRequestBody 100\n");
    char *body = repeat("b", 1000), *chunk = repeat("c", 60);
    char *big = xasprintf("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n%s", body);
    char *chunked = xasprintf("POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3c\r\n%s\r\n3c\r\n%s\r\n0\r\n\r\n",
                              chunk, chunk);
    char *small = xasprintf("POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n%.100s", body);

    expect_closing_error(s, big, strlen(big), 413);
    expect_closing_error(s, chunked, strlen(chunked), 413);
    /* At the limit the body is accepted: 405 from the static handler, connection kept. */
    struct conn *c = conn_open(s->port);
    conn_send_str(c, small);
    expect_body_consumed(c, s);
    conn_close(c);
    free(body);
    free(chunk);
    free(big);
    free(chunked);
    free(small);
    server_stop(s);
}

MPM_TEST(limits, request_line, .timeout = 20)
{
    struct srv *s = server_start(mpm, "LimitRequestLine 100\n");
    char *path = repeat("a", 200);
    char *req = xasprintf("GET /%s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    struct resp *r;

    expect_closing_error(s, req, strlen(req), 414);
    /* A short line still works: 404 for a name that does not exist. */
    r = request_once(s, "GET /aaaaaaaaaa HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
    expect_error(r, 404, NULL, NULL, 0);
    resp_free(r);
    free(path);
    free(req);
    server_stop(s);
}

MPM_TEST(limits, request_field_size, .timeout = 20)
{
    struct srv *s = server_start(mpm, "LimitRequestFieldSize 100\n");
    char *value = repeat("v", 192),
         *req = xasprintf("GET / HTTP/1.1\r\nHost: localhost\r\nX-Long: %s\r\n\r\n", value);
    struct resp *r;

    expect_closing_error(s, req, strlen(req), 431);
    r = request_once(
        s, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Short: 0123456789012345678901234567890123456789\r\n\r\n",
        NULL);
    expect_file(r, s, "index.html", NULL, 0);
    resp_free(r);
    free(value);
    free(req);
    server_stop(s);
}

MPM_TEST(limits, request_fields, .timeout = 20)
{
    struct srv *s = server_start(mpm, "LimitRequestFields 5\n");
    char many[512] = "GET / HTTP/1.1\r\nHost: localhost\r\n";
    struct resp *r;

    for (int i = 1; i < 10; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "X-H%d: %d\r\n", i, i);
    strcat(many, "\r\n");
    expect_closing_error(s, many, strlen(many), 431);
    r = request_once(s, "GET / HTTP/1.1\r\nHost: localhost\r\nX-1: 1\r\nX-2: 2\r\nX-3: 3\r\nX-4: 4\r\n\r\n",
                     NULL);
    expect_file(r, s, "index.html", NULL, 0);
    resp_free(r);
    server_stop(s);
}
