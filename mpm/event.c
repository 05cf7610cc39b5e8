/*
 * event: every child process runs one libevent reactor that owns all of its connections, the idle keep-alive
 * ones included, so an idle client costs a small struct and a socket, never a process or a thread (the answer
 * to the keep-alive problem Apache's event MPM was written for). Supervision is server/process.c's, with a
 * fixed number of children; HTTP is the core's (server/http_conn.c). This file is a child's reactor: its
 * life, accepting, signals and leaving; mpm/event_conn.c maps each connection's core states to events.
 *
 * Directives: event_directives below, and the README. At WorkerConnections (nginx's worker_connections: the
 * connections one child holds, idle ones included) a child logs a warning naming it, once, and stops
 * accepting until it is below, so that another child takes the connection. The children share the listeners
 * inherited from the parent rather than SO_REUSEPORT sockets of their own (the README's event section has the
 * figures), through an epoll set of their own registered EPOLLEXCLUSIVE (driver_listen_set()), which the
 * reactor watches: a new connection wakes one child, not all (libevent 2.1 has no EPOLLEXCLUSIVE).
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "driver.h"
#include "event_conn.h"
#include "mpm.h"
#include "../server/http_conn.h"
#include "../server/log.h"
#include "../server/process.h"
#include "../server/listen.h"
#include "../server/scoreboard.h"

#define EVENT_MAX_SERVER_LIMIT 20000
#define EVENT_DEFAULT_LIMIT    16
#define EVENT_DEFAULT_CONNS    10000
#define EVENT_MAX_CONNS        1000000
#define ACCEPT_BATCH           16  /* accepts per wakeup of a listener, so that reading is not starved */
#define TICK_MS                200 /* how often the signal flags and the buffered log lines are looked at */

#define CONF(field) offsetof(struct server, mpm_conf.field)

static const struct directive event_directives[] = {
    {"StartServers", config_set_int, CONF(start_servers), "child processes, each a reactor (online CPUs)"},
    {"ServerLimit", config_set_int, CONF(server_limit),
     "scoreboard rows: children including replacements of recycled ones (16, at least 2 x StartServers)"},
    {"WorkerConnections", config_set_int, CONF(max_conns),
     "connections one child holds at once, idle keep-alive ones included (10000, within RLIMIT_NOFILE)"},
    {"MaxConnectionsPerChild", config_set_int, CONF(max_conn_per_child),
     "connections a child accepts before it is replaced; 0 for no limit (0)"},
    {"MaxRequestsPerChild", config_set_int, CONF(max_conn_per_child), "old name of MaxConnectionsPerChild"},
    {NULL, NULL, 0, NULL},
};

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > EVENT_MAX_SERVER_LIMIT ? EVENT_MAX_SERVER_LIMIT : (int)n;
}

/* Fills the defaults and clamps, warning with the directives' names as Apache does. */
static int event_check_config(struct server *s, struct warnings *w, struct errbuf *err)
{
    struct mpm_conf *c = &s->mpm_conf;
    (void)err;

    /* left unset, ServerLimit follows StartServers (below) */
    driver_clamp(&c->server_limit, -1, EVENT_MAX_SERVER_LIMIT, "ServerLimit", "servers", ".", w);

    if (c->start_servers < 0) {
        c->start_servers = online_cpus();
        if (c->server_limit > 0 && c->start_servers > c->server_limit)
            c->start_servers = c->server_limit;
    } else if (c->start_servers == 0) {
        warnings_add(w, "StartServers of 0 not allowed, increasing to 1.");
        c->start_servers = 1;
    } else if (c->server_limit > 0 && c->start_servers > c->server_limit) {
        warnings_add(w, "StartServers of %d exceeds ServerLimit of %d, decreasing to match.",
                     c->start_servers, c->server_limit);
        c->start_servers = c->server_limit;
    }
    if (c->server_limit < 0) {
        c->server_limit = EVENT_DEFAULT_LIMIT;
        if (c->server_limit < 2 * c->start_servers)
            c->server_limit =
                2 * c->start_servers > EVENT_MAX_SERVER_LIMIT ? EVENT_MAX_SERVER_LIMIT : 2 * c->start_servers;
    }

    driver_clamp(&c->max_conns, EVENT_DEFAULT_CONNS, EVENT_MAX_CONNS, "WorkerConnections", NULL, ".", w);

    if (c->max_conn_per_child < 0)
        c->max_conn_per_child = 0;
    c->max_workers = c->start_servers;
    c->threads_per_child = 1;
    c->thread_limit = 1;
    return 0;
}

/* ---- the reactor of one child (its connections: event_conn.c) ---- */

/* Closes the listen set when the child leaves, once event_update_listening() has stopped watching it. */
static void close_listen_set(void)
{
    if (rx.listen_set >= 0 && close(rx.listen_set) < 0)
        log_error(LOG_ERR, MODULE, "close() of the listen set failed: %s", strerror(errno));
    rx.listen_set = -1;
}

/*
 * Stops accepting and closes the idle keep-alive connections; the others finish their current request (a
 * fresh connection is served once: the client opened it to be answered) and close at their next idle moment,
 * in conn_drive(). Retired by a graceful restart (CHILD_LEAVE_AFTER_NEXT), every connection instead stays
 * until its next response, which says Connection: close, or until its KeepAliveTimeout, so that no request
 * already on its way meets a closed connection; a stop that follows still closes the idle ones. The last
 * connection to close ends the loop.
 */
static void start_leaving(int recycling)
{
    int mode =
        !recycling && *rx.ctx->leaving == CHILD_LEAVE_AFTER_NEXT ? CHILD_LEAVE_AFTER_NEXT : CHILD_LEAVE;
    if (rx.leaving && (rx.leave_mode == CHILD_LEAVE || mode == CHILD_LEAVE_AFTER_NEXT))
        return;
    if (!rx.leaving) {
        rx.leaving = 1;
        event_update_listening();
        /* A forked child's copies of the listeners go now that libevent no longer watches them, so that a
         * graceful stop refuses new connections instead of queueing them on a socket nobody accepts from. */
        close_listen_set();
        for (const struct listener *l = rx.s->listeners; l != NULL && !rx.s->one_process; l = l->next)
            if (l->fd >= 0 && close(l->fd) < 0)
                log_error(LOG_ERR, MODULE, "close() of a listener failed: %s", strerror(errno));
        if (rx.backoff != NULL)
            event_del(rx.backoff);
        /* A recycled child tells the parent it is going, so that its replacement starts now (Apache's
         * quiescing). */
        if (recycling)
            atomic_store(&rx.row->quitting, SB_QUIT_STOP);
        scoreboard_set_state(rx.slot, SB_GRACEFUL);
    }
    rx.leave_mode = mode;
    for (struct econn *e = rx.conns, *next; e != NULL; e = next) {
        next = e->next;
        if (e->lingering || e->t.handshaking) /* a handshake is a fresh connection: served once */
            continue;
        if (mode == CHILD_LEAVE_AFTER_NEXT) {
            http_conn_finish(e->u.hc);
            continue;
        }
        enum conn_state st = http_conn_state(e->u.hc);
        /* http_conn_shutdown() would also close a fresh connection (READ with no byte yet): spare those */
        if (st == CONN_KEEPALIVE || st == CONN_WRITE || st == CONN_WAIT)
            st = http_conn_shutdown(e->u.hc);
        if (st == CONN_CLOSE)
            econn_end(e);
    }
    if (rx.nconns == 0)
        event_base_loopbreak(rx.base);
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    rx.in_backoff = 0;
    event_update_listening();
}

/* Handles a failed accept4(). Returns 1 to accept again, 0 to wait for the next wakeup. */
static int accept_failed(void)
{
    switch (driver_accept_failed(&rx.acceptor, errno)) {
    case DRIVER_ACCEPT_RETRY:
        return 1;
    case DRIVER_ACCEPT_WAIT:
        return 0;
    case DRIVER_ACCEPT_LEAVE:
        /* as prefork: an error of the listener itself; the child leaves and process.c replaces it */
        start_leaving(0);
        return 0;
    case DRIVER_ACCEPT_BACKOFF:
        break;
    }
    /* The connection stays queued and the listener readable: stop watching it for a while, not spin. */
    struct timeval tv = {.tv_sec = 0, .tv_usec = DRIVER_ACCEPT_BACKOFF_MS * 1000};
    rx.in_backoff = 1;
    event_update_listening();
    if (event_add(rx.backoff, &tv) < 0)
        log_error(LOG_ERR, MODULE, "event_add() of the accept timer failed");
    return 0;
}

/* Accepts from one listener, ACCEPT_BATCH at most, while accepting is allowed. */
static void accept_from(const struct listener *l)
{
    for (int i = 0; i < ACCEPT_BATCH && rx.listening; i++) {
        if (rx.nconns >= rx.max_conns) {
            /* Full after accepting: whether anyone else waits shows as the listener's next wakeup. */
            if (i > 0)
                return;
            /* A connection waits while this child is full: stop watching, another child may take it. */
            if (!rx.cap_logged) {
                log_error(LOG_WARN, MODULE,
                          "server reached WorkerConnections setting (%d connections in this child), consider "
                          "raising the WorkerConnections setting",
                          rx.max_conns);
                rx.cap_logged = 1;
            }
            rx.at_cap = 1;
            event_update_listening();
            return;
        }
        struct sockaddr_storage peer;
        socklen_t peerlen = sizeof(peer);
        int fd = accept4(l->fd, (struct sockaddr *)&peer, &peerlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (accept_failed())
                continue;
            return;
        }
        driver_accepted(&rx.acceptor);
        econn_new(l, fd, (struct sockaddr *)&peer, peerlen);
        unsigned long max = (unsigned long)rx.s->mpm_conf.max_conn_per_child;
        if (max > 0 && ++rx.accepted >= max) {
            start_leaving(1);
            return;
        }
    }
}

/* The listen set is readable: the listeners that have a connection for this child (one child is woken). */
static void accept_cb(evutil_socket_t set, short what, void *arg)
{
    struct epoll_event ready[ACCEPT_BATCH];
    (void)what, (void)arg;
    int n =
        epoll_wait(set, ready, ACCEPT_BATCH, 0); /* its own set, never waiting: nothing to fail but EINTR */
    for (int k = 0; k < n; k++)
        accept_from((const struct listener *)ready[k].data.ptr);
}

/* Signals only set flags (process.c's handlers), looked at here, and the access log lines buffered since
 * (BufferedLogs) are written when due; TERM ends a forked child at once. */
static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    econn_clock(); /* for the connections a leaving child closes now */
    log_flush_due(0);
    if (*rx.ctx->stop)
        event_base_loopbreak(rx.base);
    else if (*rx.ctx->graceful)
        start_leaving(0);
}

/* Closes whatever is still open (after a stop) and frees the reactor. */
static void reactor_free(void)
{
    rx.leaving = 1;
    event_update_listening();
    while (rx.conns != NULL) {
        struct econn *e = rx.conns;
        if (!e->lingering && !e->t.handshaking) {
            econn_unwait(e);
            http_conn_destroy(e->u.hc);
        }
        econn_free(e);
    }
    event_watch_end();
    close_listen_set();
    if (rx.tick != NULL)
        event_free(rx.tick);
    if (rx.backoff != NULL)
        event_free(rx.backoff);
    if (rx.base != NULL)
        event_base_free(rx.base); /* the next event_child_main() (-X) starts from a zeroed rx */
}

static void event_child_main(struct server *s, struct child_ctx *ctx)
{
    struct event_config *cfg = NULL;
    const struct timeval tick = {.tv_sec = 0, .tv_usec = TICK_MS * 1000};

    memset(&rx, 0, sizeof(rx));
    rx.s = s;
    rx.ctx = ctx;
    rx.row = scoreboard_child(ctx->sb, ctx->slot);
    rx.slot = scoreboard_worker(ctx->sb, ctx->slot, 0);
    rx.max_conns = s->mpm_conf.max_conns > 0 ? s->mpm_conf.max_conns : 1;
    rx.acceptor.module = MODULE;
    rx.listen_set = -1;

    /* One thread per reactor: no locking. The base is made after fork, as libevent requires. */
    cfg = event_config_new();
    if (cfg == NULL || event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK) < 0 ||
        (rx.base = event_base_new_with_config(cfg)) == NULL) {
        log_error(LOG_ERR, MODULE, "event_base_new_with_config() failed");
        goto done;
    }
    rx.edge_reads = (event_base_get_features(rx.base) & (EV_FEATURE_ET | EV_FEATURE_EARLY_CLOSE)) ==
                    (EV_FEATURE_ET | EV_FEATURE_EARLY_CLOSE);
    econn_watch_start();

    rx.listen_set = driver_listen_set(s, MODULE);
    if (rx.listen_set < 0)
        goto done;
    event_assign(&rx.listen_ev, rx.base, rx.listen_set, EV_READ | EV_PERSIST, accept_cb, NULL);
    rx.tick = event_new(rx.base, -1, EV_PERSIST, tick_cb, NULL);
    rx.backoff = event_new(rx.base, -1, 0, backoff_cb, NULL);
    if (rx.tick == NULL || rx.backoff == NULL || event_add(rx.tick, &tick) < 0) {
        log_error(LOG_ERR, MODULE, "event_new() failed");
        goto done;
    }

    scoreboard_set_state(rx.slot, SB_READY);
    event_update_listening();
    /* a signal that came before the loop: event_base_loopbreak() only ends a loop that runs */
    tick_cb(-1, 0, NULL);
    if (*ctx->stop || (rx.leaving && rx.nconns == 0))
        goto done;
    /* one turn at a time: the access log lines of a turn go out together when it ends */
    log_turns(1);
    for (;;) {
        int rc = event_base_loop(rx.base, EVLOOP_ONCE);
        log_turn_end();
        if (rc < 0)
            log_error(LOG_ERR, MODULE, "event_base_loop() failed");
        if (rc != 0 || event_base_got_break(rx.base))
            break;
    }
    log_turns(0);

done:
    if (cfg != NULL)
        event_config_free(cfg);
    reactor_free();
}

static int event_run(struct server *s)
{
    const struct mpm_conf *c = &s->mpm_conf;
    struct warnings w = {0};
    driver_fit_nofile(&s->mpm_conf.max_conns, "WorkerConnections", &w);
    log_warnings(&w, MODULE);
    const struct process_policy policy = {
        .mpm_name = "event",
        .start_children = c->start_servers,
        .max_children = c->server_limit, /* min_spare = max_spare = 0: a fixed number of children */
        .workers_per_child = 1,
        .async = 1,
        .limit_directive = "ServerLimit",
        .child_main = event_child_main,
    };
    return process_run(s, &policy);
}

const struct mpm mpm_event = {
    .name = "event",
    .caps = MPM_FORKED | MPM_ASYNC,
    .directives = event_directives,
    .check_config = event_check_config,
    .run = event_run,
};
