/*
 * The proxy's connections: a connection given back is taken again, one the upstream closed meanwhile or one
 * older than ttl= is not, max= bounds the idle ones, disablereuse keeps none; the error state of retry=; the
 * retry rule.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy_conf.h"
#include "proxy_pool.h"

static struct proxy_conf pc;
static struct proxy_worker w;

static void setup(void)
{
    memset(&pc, 0, sizeof(pc));
    memset(&w, 0, sizeof(w));
    pc.n_workers = 1;
    w.max = 2;
    w.retry = 60;
}

TestSuite(proxy_pool, .init = setup);

/* A connected pair: [0] goes to the pool, [1] plays the upstream. */
static void pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

Test(proxy_pool, reuse_and_detection_of_a_closed_connection)
{
    int a[2], b[2];
    pair(a);
    pair(b);
    cr_assert_eq(proxy_pool_take(&pc, &w, 0), -1);
    proxy_pool_give(&pc, &w, a[0], 0);
    cr_assert_eq(proxy_pool_idle(&pc, &w), 1);
    cr_assert_eq(proxy_pool_take(&pc, &w, 10), a[0]);
    cr_assert_eq(proxy_pool_idle(&pc, &w), 0);
    proxy_pool_give(&pc, &w, a[0], 10);
    proxy_pool_give(&pc, &w, b[0], 10);
    /* the upstream closes b, the most recent: it is detected and closed, a comes out instead */
    close(b[1]);
    cr_assert_eq(proxy_pool_take(&pc, &w, 20), a[0]);
    cr_assert_not(is_open(b[0]));
    /* bytes nobody asked for: not usable either */
    proxy_pool_give(&pc, &w, a[0], 20);
    cr_assert_eq(write(a[1], "x", 1), 1);
    cr_assert_eq(proxy_pool_take(&pc, &w, 30), -1);
    cr_assert_not(is_open(a[0]));
    close(a[1]);
}

Test(proxy_pool, max_ttl_and_disablereuse)
{
    int a[2], b[2], c[2];
    pair(a);
    pair(b);
    pair(c);
    proxy_pool_give(&pc, &w, a[0], 0);
    proxy_pool_give(&pc, &w, b[0], 0);
    proxy_pool_give(&pc, &w, c[0], 0); /* above max=2: closed */
    cr_assert_eq(proxy_pool_idle(&pc, &w), 2);
    cr_assert_not(is_open(c[0]));
    w.ttl = 5;
    cr_assert_eq(proxy_pool_take(&pc, &w, 4000), b[0]);
    cr_assert_eq(proxy_pool_take(&pc, &w, 6000), -1, "older than ttl=5");
    cr_assert_not(is_open(a[0]));
    w.disable_reuse = 1;
    proxy_pool_give(&pc, &w, b[0], 6000);
    cr_assert_eq(proxy_pool_idle(&pc, &w), 0);
    cr_assert_not(is_open(b[0]));
}

Test(proxy_pool, error_state_lasts_retry_seconds)
{
    cr_assert_not(proxy_worker_in_error(&pc, &w, 1000));
    proxy_worker_failed(&pc, &w, 1000);
    cr_assert(proxy_worker_in_error(&pc, &w, 1000));
    cr_assert(proxy_worker_in_error(&pc, &w, 60999));
    cr_assert_not(proxy_worker_in_error(&pc, &w, 61000));
    w.retry = 0;
    proxy_worker_failed(&pc, &w, 70000);
    cr_assert_not(proxy_worker_in_error(&pc, &w, 70000));
}

Test(proxy_pool, retry_rule)
{
    cr_assert(proxy_may_retry(1, 0, METHOD_GET, 0, 0));
    cr_assert(proxy_may_retry(1, 0, METHOD_PUT, 0, 0));
    cr_assert(proxy_may_retry(1, 0, METHOD_DELETE, 0, 0));
    cr_assert_not(proxy_may_retry(0, 0, METHOD_GET, 0, 0), "a new connection failed: no retry");
    cr_assert_not(proxy_may_retry(1, 1, METHOD_GET, 0, 0), "once only");
    cr_assert_not(proxy_may_retry(1, 0, METHOD_POST, 0, 0), "not idempotent");
    cr_assert_not(proxy_may_retry(1, 0, METHOD_PATCH, 0, 0));
    cr_assert_not(proxy_may_retry(1, 0, METHOD_PUT, 10, 0), "body bytes taken from the client");
    cr_assert_not(proxy_may_retry(1, 0, METHOD_GET, 0, 5), "a response had begun");
}

Test(proxy_pool, connect_refused_and_established)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    cr_assert_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&sin, &len), 0);
    memcpy(&w.addr, &sin, sizeof(sin));
    w.addrlen = sizeof(sin);
    /* bound but not listening: refused */
    int pending;
    const char *call = NULL;
    int fd = proxy_connect_start(&w, &pending, &call);
    if (fd >= 0) {
        cr_assert(pending);
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        cr_assert_eq(poll(&p, 1, 1000), 1);
        cr_assert_eq(proxy_connect_result(fd), ECONNREFUSED);
        close(fd);
    } else {
        cr_assert_str_eq(call, "connect");
        cr_assert_eq(errno, ECONNREFUSED);
    }
    cr_assert_eq(listen(l, 1), 0);
    fd = proxy_connect_start(&w, &pending, &call);
    cr_assert_geq(fd, 0);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    cr_assert_eq(poll(&p, 1, 1000), 1);
    cr_assert_eq(proxy_connect_result(fd), 0);
    close(fd);
    close(l);
}
