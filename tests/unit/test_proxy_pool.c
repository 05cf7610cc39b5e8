/*
 * The proxy's connections: a connection given back is taken again, one the upstream closed meanwhile or one
 * older than ttl= is not, max= bounds the idle ones, disablereuse keeps none; the error state of retry=; the
 * retry rule.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
    /* no Nagle: a body's send() after the head's does not wait for the upstream's delayed ACK */
    int nodelay = 0;
    socklen_t optlen = sizeof(nodelay);
    cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &optlen), 0);
    cr_assert_eq(nodelay, 1);
    /* keepalive= Off (the default): no TCP keep-alive probes; On: SO_KEEPALIVE */
    int keepalive = -1;
    optlen = sizeof(keepalive);
    cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, &optlen), 0);
    cr_assert_eq(keepalive, 0);
    close(fd);
    w.keepalive = 1;
    fd = proxy_connect_start(&w, &pending, &call);
    cr_assert_geq(fd, 0);
    cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &keepalive, &optlen), 0);
    cr_assert_eq(keepalive, 1);
    close(fd);
    close(l);
}

Test(proxy_pool, byrequests_follows_loadfactors)
{
    int usable[3] = {1, 1, 1}, factor[3] = {1, 2, 3}, busy[3] = {0, 0, 0}, lbstatus[3] = {0, 0, 0};
    int count[3] = {0, 0, 0};
    for (int i = 0; i < 60; i++) {
        int k = proxy_lb_choose(3, PROXY_LB_BYREQUESTS, usable, factor, busy, lbstatus);
        cr_assert(k >= 0 && k < 3);
        count[k]++;
    }
    cr_assert_eq(count[0], 10);
    cr_assert_eq(count[1], 20);
    cr_assert_eq(count[2], 30);
    /* an unusable member is skipped, the others share its part */
    usable[2] = 0;
    memset(count, 0, sizeof(count));
    for (int i = 0; i < 30; i++)
        count[proxy_lb_choose(3, PROXY_LB_BYREQUESTS, usable, factor, busy, lbstatus)]++;
    cr_assert_eq(count[2], 0);
    cr_assert(count[0] >= 9 && count[0] <= 11 && count[0] + count[1] == 30, "%d %d", count[0], count[1]);
    usable[0] = usable[1] = 0;
    cr_assert_eq(proxy_lb_choose(3, PROXY_LB_BYREQUESTS, usable, factor, busy, lbstatus), -1);
}

Test(proxy_pool, bybusyness_takes_the_least_busy)
{
    int usable[3] = {1, 1, 1}, factor[3] = {1, 1, 2}, busy[3] = {3, 1, 3}, lbstatus[3] = {0, 0, 0};
    cr_assert_eq(proxy_lb_choose(3, PROXY_LB_BYBUSYNESS, usable, factor, busy, lbstatus), 1);
    busy[1] = 5; /* 3/1, 5/1, 3/2: the third per its loadfactor */
    cr_assert_eq(proxy_lb_choose(3, PROXY_LB_BYBUSYNESS, usable, factor, busy, lbstatus), 2);
    /* equally busy: byrequests decides, so they alternate */
    int b2[2] = {0, 0}, u2[2] = {1, 1}, f2[2] = {1, 1}, s2[2] = {0, 0};
    int a = proxy_lb_choose(2, PROXY_LB_BYBUSYNESS, u2, f2, b2, s2);
    int c = proxy_lb_choose(2, PROXY_LB_BYBUSYNESS, u2, f2, b2, s2);
    cr_assert_neq(a, c);
}

Test(proxy_pool, balancer_fails_over_and_skips_members_in_error)
{
    struct proxy_worker m0 = {.loadfactor = 1, .retry = 10, .index = 0},
                        m1 = {.loadfactor = 1, .retry = 10, .index = 1};
    struct proxy_worker *members[2] = {&m0, &m1};
    struct proxy_balancer b = {.name = "balancer://t", .members = members, .n_members = 2};
    pc.n_workers = 2;
    int seen0 = 0, seen1 = 0;
    for (int i = 0; i < 4; i++) {
        const struct proxy_worker *got = proxy_balancer_pick(&pc, &b, 1000, 0);
        seen0 += got == &m0, seen1 += got == &m1;
    }
    cr_assert(seen0 == 2 && seen1 == 2, "%d %d", seen0, seen1);
    /* m0 refused: in error for retry=10 s, every request goes to m1; then m0 again */
    proxy_worker_failed(&pc, &m0, 1000);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(proxy_balancer_pick(&pc, &b, 2000, 0), &m1);
    cr_assert_null(proxy_balancer_pick(&pc, &b, 2000, 1ull << 1), "m1 tried already and m0 in error");
    cr_assert_eq(proxy_balancer_pick(&pc, &b, 11000, 1ull << 1), &m0);
}
