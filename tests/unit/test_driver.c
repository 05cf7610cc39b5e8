/*
 * mpm/driver.c, the drivers' toolkit: what a failed accept4() means, the clamps of check_config with Apache's
 * warnings, the RLIMIT-free pieces of a connection step (one read, one write through the core over a
 * socketpair), and the lingering close's drain.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conftest.h"
#include "driver.h"
#include "pool.h"
#include "tcptest.h"
#include "testserver.h"

Test(driver, accept_errors)
{
    struct driver_acceptor a = {.module = "mpm_test"};
    cr_assert_eq(driver_accept_failed(&a, EAGAIN), DRIVER_ACCEPT_WAIT);
    cr_assert_eq(driver_accept_failed(&a, EINTR), DRIVER_ACCEPT_RETRY);
    cr_assert_eq(driver_accept_failed(&a, ECONNABORTED), DRIVER_ACCEPT_RETRY);
    cr_assert_eq(a.resource_logged, 0);
    cr_assert_eq(driver_accept_failed(&a, EMFILE), DRIVER_ACCEPT_BACKOFF);
    cr_assert_eq(a.resource_logged, 1, "logged once until an accept succeeds");
    cr_assert_eq(driver_accept_failed(&a, ENFILE), DRIVER_ACCEPT_BACKOFF);
    driver_accepted(&a);
    cr_assert_eq(a.resource_logged, 0);
    cr_assert_eq(driver_accept_failed(&a, EBADF), DRIVER_ACCEPT_LEAVE);
}

/* Apache's shapes: prefork's without a final '.', worker's and event's with one; unset takes the default. */
Test(driver, clamp_messages)
{
    struct warnings w = {0};
    int v = -1;
    driver_clamp(&v, 256, 20000, "ServerLimit", "servers", "", &w);
    cr_assert_eq(v, 256);
    cr_assert_eq(w.count, 0);
    v = 30000;
    driver_clamp(&v, 256, 20000, "ServerLimit", "servers", "", &w);
    cr_assert_eq(v, 20000);
    v = 0;
    driver_clamp(&v, 16, 20000, "ThreadLimit", "threads", ".", &w);
    cr_assert_eq(v, 1);
    v = 2000000;
    driver_clamp(&v, 10000, 1000000, "WorkerConnections", NULL, ".", &w);
    cr_assert_eq(v, 1000000);
    v = -1;
    driver_clamp(&v, -1, 20000, "ServerLimit", "servers", ".", &w);
    cr_assert_eq(v, -1, "a default of -1 leaves it to be decided later");
    cr_assert_eq(w.count, 3);
    cr_assert_str_eq(w.msg[0],
                     "ServerLimit of 30000 exceeds compile-time limit of 20000 servers, decreasing to 20000");
    cr_assert_str_eq(w.msg[1], "ThreadLimit of 0 not allowed, increasing to 1.");
    cr_assert_str_eq(w.msg[2],
                     "WorkerConnections of 2000000 exceeds compile-time limit of 1000000, decreasing to "
                     "match.");
}

Test(driver, listeners_counted)
{
    struct server s = {0};
    struct listener a = {.fd = -1}, b = {.fd = 7, .next = &a};
    cr_assert_eq(driver_listeners(&s, "mpm_test"), 0);
    s.listeners = &b;
    cr_assert_eq(driver_listeners(&s, "mpm_test"), 1, "only open ones count");
}

/* The listen set holds the open listeners, exclusively, and tells which one has a connection. */
Test(driver, listen_set)
{
    struct server s = {0};
    struct listener a = {.fd = -1}, b = {.fd = -1, .next = &a};
    cr_assert_eq(driver_listen_set(&s, "mpm_test"), -1, "no listener: nothing to wait on");
    s.listeners = &b;
    b.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(addr);
    cr_assert(b.fd >= 0 && bind(b.fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(b.fd, 4) == 0 &&
              getsockname(b.fd, (struct sockaddr *)&addr, &len) == 0);
    int set = driver_listen_set(&s, "mpm_test");
    cr_assert_geq(set, 0);
    struct epoll_event ev;
    cr_assert_eq(epoll_wait(set, &ev, 1, 0), 0, "nothing queued");
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(epoll_wait(set, &ev, 1, 1000), 1);
    cr_assert_eq(ev.data.ptr, &b, "the listener comes back as data.ptr");
    /* the same listener a second time is refused by epoll: the set is all or nothing */
    a.fd = b.fd;
    cr_assert_eq(driver_listen_set(&s, "mpm_test"), -1);
    close(c);
    close(set);
    close(b.fd);
}

/* A request read in one step, its answer written in the next, over a socketpair. */
Test(driver, read_then_write_through_the_core)
{
    struct pool *pool = pool_create(4096);
    struct server srv, *s = &srv;
    int sp[2], blocked, full;
    testserver_init(s, pool);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    struct http_conn *c = http_conn_create(s, NULL, 0, now_ms());
    cr_assert_not_null(c);
    struct transport t;
    transport_plain_init(&t, sp[0]);

    enum conn_state st = driver_read(c, &t, CONN_READ, "core", &blocked, &full, now_ms());
    cr_assert(blocked == TRANSPORT_WANT_READ && st == CONN_READ, "nothing to read yet: wait for readability");
    const char req[] = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(write(sp[1], req, strlen(req)), (ssize_t)strlen(req));
    st = driver_read(c, &t, CONN_READ, "core", &blocked, &full, now_ms());
    cr_assert(!blocked && !full);
    cr_assert_eq(st, CONN_WRITE);
    while (st == CONN_WRITE)
        st = driver_write(c, &t, "core", &blocked, now_ms());
    cr_assert_eq(st, CONN_KEEPALIVE);
    char buf[512];
    ssize_t n = read(sp[1], buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    cr_assert(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", buf);

    /* the peer goes away: EOF ends the connection */
    close(sp[1]);
    st = driver_read(c, &t, CONN_KEEPALIVE, "core", &blocked, &full, now_ms());
    cr_assert_eq(st, CONN_CLOSE);
    http_conn_destroy(c);
    close(sp[0]);
    pool_destroy(pool);
}

/* A wait for the rest of a request turns quick ACKs back on, once until the server writes; a wait for a
 * request's first byte, or a request that arrives whole, leaves them off. */
Test(driver, quick_acks_while_a_request_is_incomplete)
{
    struct pool *pool = pool_create(4096);
    struct server srv, *s = &srv;
    int fds[2], blocked, full;
    testserver_init(s, pool);
    tcptest_pair(fds);
    tcptest_delay_acks(fds[0]);
    struct http_conn *c = http_conn_create(s, NULL, 0, now_ms());
    cr_assert_not_null(c);
    struct transport t;
    transport_plain_init(&t, fds[0]);

    cr_assert_eq(http_conn_state(c), CONN_READ);
    driver_await_rest(c, &t);
    cr_assert(t.quick_acks == 0 && tcptest_quick_acks(fds[0]) == 0, "before the first byte: left off");

    const char whole[] = "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[512];
    enum conn_state st = CONN_READ;
    for (int round = 0; round < 2; round++) {
        /* the head in two pieces: quick ACKs for the wait after the first */
        cr_assert_eq(write(fds[1], whole, 10), 10);
        do
            st = driver_read(c, &t, st, "core", &blocked, &full, now_ms());
        while (blocked);
        cr_assert_eq(st, CONN_READ);
        cr_assert_eq(t.quick_acks, 0, "reading alone changes nothing");
        driver_await_rest(c, &t);
        cr_assert(t.quick_acks == 1 && tcptest_quick_acks(fds[0]) == 1, "round %d", round);
        cr_assert_eq(write(fds[1], whole + 10, strlen(whole) - 10), (ssize_t)strlen(whole) - 10);
        do
            st = driver_read(c, &t, st, "core", &blocked, &full, now_ms());
        while (blocked);
        cr_assert_eq(st, CONN_WRITE);
        while (st == CONN_WRITE)
            st = driver_write(c, &t, "core", &blocked, now_ms());
        cr_assert(st == CONN_KEEPALIVE && t.quick_acks == 0, "written: the flag is cleared");
        cr_assert_gt(read(fds[1], buf, sizeof(buf)), 0);
        tcptest_delay_acks(fds[0]); /* as the kernel may after the answer */
    }

    /* a request that arrives whole: nothing to wait for, the ACKs stay delayed */
    cr_assert_eq(write(fds[1], whole, strlen(whole)), (ssize_t)strlen(whole));
    do
        st = driver_read(c, &t, st, "core", &blocked, &full, now_ms());
    while (blocked);
    cr_assert_eq(st, CONN_WRITE);
    driver_await_rest(c, &t);
    cr_assert(t.quick_acks == 0 && tcptest_quick_acks(fds[0]) == 0);
    http_conn_destroy(c);
    close(fds[0]);
    close(fds[1]);
    pool_destroy(pool);
}

Test(driver, linger_drain)
{
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    cr_assert_eq(driver_linger_drain(sp[0]), 0, "nothing yet: wait");
    cr_assert_eq(write(sp[1], "late body bytes", 15), 15);
    cr_assert_eq(driver_linger_drain(sp[0]), 0, "dropped, then would block");
    close(sp[1]);
    cr_assert_eq(driver_linger_drain(sp[0]), 1, "EOF: close now");
    close(sp[0]);
}
