/*
 * The event MPM's pieces that need no server: check_config (defaults, clamps and their warnings), the
 * directive table through config_load(), the fit of WorkerConnections to RLIMIT_NOFILE, and the event a
 * connection waits for given what its transport wants (a fake transport). The reactor
 * itself is exercised by the integration tests (tests/integration/test_event.c and every core test under
 * event).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conftest.h"
#include "event_conn.c"
#include "event_watch.c"
#include "event.c"

/* ---- check_config ---- */

static int cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

Test(event_config, defaults)
{
    struct server *s = conftest_blank_server();
    conftest_expect_check(event_check_config, s, "", "defaults");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->start_servers, cpus(), "StartServers defaults to the online CPUs");
    cr_assert_eq(c->server_limit, cpus() * 2 > 16 ? cpus() * 2 : 16);
    cr_assert_eq(c->max_conns, 10000);
    cr_assert_eq(c->max_conn_per_child, 0);
    cr_assert_eq(c->threads_per_child, 1);
    cr_assert_eq(c->thread_limit, 1);
    cr_assert_eq(c->max_workers, c->start_servers, "one reactor per child");
    cr_assert_eq(c->min_spare, -1, "event keeps a fixed number of children: no spares");
    free(s);
}

static const struct conftest_check_case check_cases[] = {
    {"many StartServers widen the default ServerLimit: room for a replacement of every child",
     "StartServers 40", "", "StartServers 40 ServerLimit 80"},
    {"StartServers capped by ServerLimit", "StartServers 40 ServerLimit 8",
     "httpd: WARNING: StartServers of 40 exceeds ServerLimit of 8, decreasing to match.\n",
     "StartServers 8 ServerLimit 8"},
    {"an unset StartServers follows a small ServerLimit", "ServerLimit 1", "", "StartServers 1"},
    {"compile-time limits", "ServerLimit 30000 StartServers 2 WorkerConnections 2000000",
     "httpd: WARNING: ServerLimit of 30000 exceeds compile-time limit of 20000 servers, decreasing to "
     "20000.\n"
     "httpd: WARNING: WorkerConnections of 2000000 exceeds compile-time limit of 1000000, decreasing to "
     "match.\n",
     "ServerLimit 20000 WorkerConnections 1000000"},
    {"zeros raised to one; MaxConnectionsPerChild 0 means never recycle: no warning",
     "ServerLimit 0 StartServers 0 WorkerConnections 0 MaxConnectionsPerChild 0",
     "httpd: WARNING: ServerLimit of 0 not allowed, increasing to 1.\n"
     "httpd: WARNING: StartServers of 0 not allowed, increasing to 1.\n"
     "httpd: WARNING: WorkerConnections of 0 not allowed, increasing to 1.\n",
     "ServerLimit 1 StartServers 1 WorkerConnections 1 MaxConnectionsPerChild 0"},
};

CONFTEST_CHECK_TEST(event_config, check_config, event_check_config, event_directives, check_cases)

/* ---- RLIMIT_NOFILE (Criterion runs each test in its own process, so the limits can be changed) ---- */

/* Sets RLIMIT_NOFILE to soft/hard and fits WorkerConnections `conns` to it: *fitted gets the value it leaves,
 * *after the limits; returns the warnings, one a line as main() prints them (malloc'd). */
static char *fit(rlim_t soft, rlim_t hard, int conns, int *fitted, struct rlimit *after)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    struct warnings w = {0};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
    *fitted = conns;
    driver_fit_nofile(fitted, "WorkerConnections", &w);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, after), 0);
    return conftest_warnings_text(&w);
}

Test(event_nofile, soft_limit_raised_to_what_the_cap_needs)
{
    struct rlimit rl;
    int conns;
    char *out = fit(256, 4096, 1000, &conns, &rl);
    cr_assert_str_eq(out, "", "no warning when the hard limit allows the cap");
    cr_assert_eq(rl.rlim_cur, 1000 + DRIVER_FD_RESERVE);
    cr_assert_eq(rl.rlim_max, 4096);
    cr_assert_eq(conns, 1000);
    free(out);
}

Test(event_nofile, cap_lowered_to_the_hard_limit_with_a_warning)
{
    struct rlimit rl;
    int conns;
    char *out = fit(256, 512, 10000, &conns, &rl);
    cr_assert_eq(rl.rlim_cur, 512, "soft limit raised to the hard one");
    cr_assert_eq(conns, 512 - DRIVER_FD_RESERVE);
    cr_assert_not_null(strstr(out, "WorkerConnections of 10000 exceeds what RLIMIT_NOFILE of 512 descriptors "
                                   "allows, decreasing to 448"),
                       "warnings: %s", out);
    free(out);
}

Test(event_nofile, tiny_limit_keeps_half_for_connections)
{
    struct rlimit rl;
    int conns;
    free(fit(40, 40, 100, &conns, &rl));
    cr_assert_eq(conns, 20);
}

/* ---- the directive table, through config_load() ---- */

Test(event_config, directives_and_aliases, .init = conftest_setup, .fini = conftest_teardown)
{
    struct server *s = conftest_load_ok("",
                                        "Listen 8080\nMPM event\n"
                                        "<IfModule mpm_event_module>\n"
                                        "StartServers 3\nServerLimit 5\nWorkerConnections 500\n"
                                        "MaxRequestsPerChild 9\n"
                                        "</IfModule>\n"
                                        "<IfModule mpm_prefork_module>\nMaxSpareServers 3\n</IfModule>\n",
                                        NULL);
    cr_assert_str_eq(s->mpm->name, "event");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->start_servers, 3);
    cr_assert_eq(c->server_limit, 5);
    cr_assert_eq(c->max_conns, 500);
    cr_assert_eq(c->max_conn_per_child, 9);
    config_free(s);

    s = conftest_load_ok("", "Listen 8080\nMPM event\nMaxConnectionsPerChild 7\n", NULL);
    cr_assert_eq(s->mpm_conf.max_conn_per_child, 7);
    cr_assert_eq(s->mpm_conf.max_conns, 10000);
    config_free(s);
}

Test(event_config, foreign_directives_refused, .init = conftest_setup, .fini = conftest_teardown)
{
    conftest_expect_refused("Listen 8080\nMPM event\n", "MinSpareServers 3\n",
                            "MinSpareServers is a directive of the prefork MPM");
    conftest_expect_refused("Listen 8080\nMPM prefork\n", "WorkerConnections 10\n",
                            "WorkerConnections is a directive of the event MPM");
    conftest_expect_refused("Listen 8080\nMPM event\n", "WorkerConnections many\n", "WorkerConnections");
}

/* ---- the reactor waits for what the transport wants ---- */

#include "testserver.h"

/* A transport that cannot go on, wanting the direction opposite to its call's (as TLS may), with decrypted
 * bytes pending when asked to. */
static int fake_pending;
static const char fake_request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

static ssize_t fake_recv(struct transport *t, void *buf, size_t len)
{
    if (fake_pending > 0) {
        size_t n = sizeof(fake_request) - 1 < len ? sizeof(fake_request) - 1 : len;
        memcpy(buf, fake_request, n);
        fake_pending = 0;
        return (ssize_t)n;
    }
    t->want = TRANSPORT_WANT_WRITE;
    errno = EAGAIN;
    return -1;
}

static ssize_t fake_send(struct transport *t, const struct iovec *iov, int iovcnt, int more)
{
    (void)iov, (void)iovcnt, (void)more;
    t->want = TRANSPORT_WANT_READ;
    errno = EAGAIN;
    return -1;
}

static size_t fake_pending_bytes(const struct transport *t)
{
    (void)t;
    return (size_t)fake_pending;
}

static const struct transport_ops fake_ops = {
    .name = "fake", .recv = fake_recv, .send = fake_send, .pending = fake_pending_bytes};

/* Each idle keep-alive connection costs its struct econn and little more (issue: 10,000 idle connections at
 * 0.4 KiB each; bench measured 403 bytes a connection with 208 here, 436 when it had grown to 240). A field
 * that only some connections need belongs in a struct of its own. */
Test(event_reactor, connection_struct_stays_small)
{
    cr_assert_leq(sizeof(struct econn), 208, "struct econn is %zu bytes", sizeof(struct econn));
}

Test(event_reactor, waits_for_what_the_transport_wants, .init = testserver_pool_setup,
     .fini = testserver_pool_teardown)
{
    struct server s;
    struct sb_child row = {0};
    struct sb_worker slot = {0};
    int sp[2];
    testserver_init(&s, test_pool);
    memset(&rx, 0, sizeof(rx));
    rx.s = &s;
    rx.row = &row;
    rx.slot = &slot;
    rx.max_conns = 10;
    rx.base = event_base_new();
    cr_assert_not_null(rx.base);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);

    struct econn *e = calloc(1, sizeof(*e));
    e->t = (struct transport){.ops = &fake_ops, .fd = sp[0]};
    e->what = -1;
    e->u.hc = http_conn_create(&s, NULL, 0, now_ms());
    rx.conns = e;
    rx.nconns = 1;

    /* reading, the transport wants the socket writable: EV_WRITE while the core reads */
    conn_cb(sp[0], EV_READ, e);
    cr_assert_eq(http_conn_state(e->u.hc), CONN_READ);
    cr_assert_eq(e->what, EV_WRITE);

    /* a request already decrypted: read without waiting; the answer's write wants a read: EV_READ while
     * the core writes */
    fake_pending = 1;
    conn_cb(sp[0], EV_WRITE, e);
    cr_assert_eq(fake_pending, 0, "the pending request was read");
    cr_assert_eq(http_conn_state(e->u.hc), CONN_WRITE);
    cr_assert_eq(e->what, EV_READ);

    /* the plain transport in the same states waits the usual way */
    e->t = (struct transport){.ops = &transport_plain, .fd = sp[0]};
    conn_cb(sp[0], EV_READ, e); /* the socket is writable: the answer goes out, then idle */
    cr_assert_eq(http_conn_state(e->u.hc), CONN_KEEPALIVE);
    cr_assert_eq(e->what, EV_READ);

    http_conn_destroy(e->u.hc);
    event_del(&e->ev);
    free(e);
    close(sp[0]);
    close(sp[1]);
    event_base_free(rx.base);
}

/* ---- handlers' sockets, watched edge-triggered for their whole life ---- */

static void loop_once(void)
{
    event_base_loop(rx.base, EVLOOP_NONBLOCK);
}

Test(event_watch, upstream_socket_registered_once_and_forgotten_on_close)
{
    struct sb_child row = {0};
    struct sb_worker slot = {0};
    int sp[2];
    memset(&rx, 0, sizeof(rx));
    rx.row = &row;
    rx.slot = &slot;
    rx.base = event_base_new();
    cr_assert_not_null(rx.base);
    econn_watch_start();
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    int fd = sp[0];
    struct econn e = {.what = -1, .core = 1};

    /* unknown sockets are never quiet: the pool looks at them itself */
    cr_assert_eq(sockwatch_quiet(fd), 0);

    /* a first wait for a reply: registered, parked (writable is reported, but nobody waits for that) */
    cr_assert_eq(wait_arm(&e, fd, EV_READ, now_ms() + 10000), 0);
    cr_assert(watches[fd]->added);
    cr_assert_eq(watches[fd]->waiter, &e);
    loop_once();
    cr_assert_eq(watches[fd]->waiter, &e, "writability does not resume a reader");
    cr_assert(watches[fd]->ready & EV_WRITE);
    econn_unwait(&e);
    cr_assert_null(watches[fd]->waiter);
    cr_assert_not_null(e.x.w, "the first wait made the connection's wait timer");
    cr_assert_eq(e.x.w->waiting, 0);

    /* idle and silent: quiet, however often the loop runs (edge-triggered: no event repeats) */
    loop_once();
    loop_once();
    cr_assert_eq(sockwatch_quiet(fd), 1);

    /* bytes arrive while nobody waits: kept as ready, and a wait for them returns at once */
    cr_assert_eq(write(sp[1], "x", 1), 1);
    loop_once();
    cr_assert_eq(sockwatch_quiet(fd), 0, "something readable came while idle");
    cr_assert_eq(wait_arm(&e, fd, EV_READ, now_ms() + 10000), 1);
    cr_assert_null(watches[fd]->waiter);
    cr_assert_eq(watches[fd]->ready & EV_READ, 0, "the readiness was handed over");
    char b;
    cr_assert_eq(read(fd, &b, 1), 1);
    cr_assert_eq(sockwatch_quiet(fd), 1);

    /* the peer closes the idle connection: no longer quiet */
    close(sp[1]);
    loop_once();
    cr_assert_eq(sockwatch_quiet(fd), 0, "EOF on an idle connection is seen without a poll()");

    /* closed through sockwatch: out of the epoll set, and the same number, reused, is registered anew */
    cr_assert_eq(sockwatch_close(fd), 0);
    cr_assert_eq(watches[fd]->added, 0);
    cr_assert_eq(sockwatch_quiet(fd), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    cr_assert_eq(sp[0], fd, "the lowest free number comes back");
    cr_assert_eq(wait_arm(&e, fd, EV_READ, now_ms() + 10000), 0);
    econn_unwait(&e);
    cr_assert_eq(write(sp[1], "y", 1), 1);
    loop_once();
    cr_assert(watches[fd]->ready & EV_READ, "the new socket's events arrive");

    event_watch_end();
    cr_assert_eq(sockwatch_quiet(fd), 0, "no hooks once the reactor is gone");
    if (e.x.w != NULL) {
        event_del(&e.x.w->ev);
        free(e.x.w);
    }
    close(sp[0]);
    close(sp[1]);
    event_base_free(rx.base);
}
