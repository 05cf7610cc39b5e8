/*
 * The proxy handler (proxy.c) driven directly, the way the core drives it, against a loopback listener that
 * plays the upstream: what a request holds while it waits for its upstream's answer, and the answer passed on
 * once it comes.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conftest.h"
#include "http.h"
#include "pool.h"
#include "proxy.h"

TestSuite(proxy, .init = conftest_setup, .fini = conftest_teardown);

#define HEAD "Listen 127.0.0.1:8080\n"

/* A listener on a free loopback port; its port into *port. */
static int upstream_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    cr_assert_eq(poll(&p, 1, 5000), 1, "the upstream socket did not become ready");
}

/* The 16 KiB buffer the response is read into is taken when the upstream has answered, not before: a request
 * waiting for its upstream (1,000 of them behind a 100 ms upstream) holds its pool's few hundred bytes. */
Test(proxy, waiting_request_holds_no_response_buffer)
{
    int port;
    int lfd = upstream_listen(&port);
    char conf[128];
    snprintf(conf, sizeof(conf), "ProxyPass /up/ http://127.0.0.1:%d/ retry=0\n", port);
    struct server *s = conftest_load_ok(HEAD, conf, NULL);
    struct pool *p = pool_create(4096);
    struct request *r = pool_calloc(p, sizeof(*r));
    r->pool = p;
    r->server = s;
    r->vhost = &s->main;
    r->status = 200;
    r->body_tail = &r->body;
    r->method = METHOD_GET;
    r->method_name = "GET";
    r->path = "/up/x";
    r->version_major = r->version_minor = 1;
    size_t before = pool_footprint(p);

    enum handler_result res = proxy_handler.handle(r);
    while (res == HANDLER_WAIT && r->wait_for == HTTP_WAIT_WRITABLE) {
        wait_fd(r->wait_fd, POLLOUT);
        res = proxy_handler.resume(r);
    }
    cr_assert_eq(res, HANDLER_WAIT);
    cr_assert_eq(r->wait_for, HTTP_WAIT_READABLE, "sent, waiting for the answer");
    size_t waiting = pool_footprint(p) - before;
    cr_expect_lt(waiting, 4096, "a request waiting for its upstream holds %zu bytes of its pool", waiting);

    int up = accept(lfd, NULL, NULL);
    cr_assert_geq(up, 0);
    char head[1024];
    ssize_t n = recv(up, head, sizeof(head) - 1, 0);
    cr_assert_gt(n, 0);
    head[n] = '\0';
    cr_expect(strncmp(head, "GET /x HTTP/1.1\r\n", 17) == 0, "%s", head);
    const char *answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    cr_assert_eq(send(up, answer, strlen(answer), 0), (ssize_t)strlen(answer));
    wait_fd(r->wait_fd, POLLIN);
    res = proxy_handler.resume(r);
    cr_expect_eq(res, HANDLER_DONE);
    cr_expect_eq(r->status, 200);
    cr_expect(r->stream_len == 2 && memcmp(r->stream_data, "ok", 2) == 0, "the body passed on");
    cr_expect_geq(pool_footprint(p) - before, 16384, "the buffer is taken once the answer has come");

    proxy_handler.cleanup(r);
    close(up);
    close(lfd);
    pool_destroy(p);
    config_free(s);
}
