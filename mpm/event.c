/*
 * event: every child process runs one libevent reactor that owns all of its connections, the idle keep-alive
 * ones included, so an idle client costs a small struct and a socket, never a process or a thread (the answer
 * to the keep-alive problem Apache's event MPM was written for). Supervision is server/process.c's, with a
 * fixed number of children; HTTP is the core's (server/http_conn.c): this file only maps the core's states to
 * events, with the state contract of the blocking driver in mpm/serve.c:
 *
 *     READ, KEEPALIVE -> EV_READ until http_conn_deadline(), then http_conn_timeout()
 *     WRITE           -> driver_write() (sendmsg/sendfile) until EAGAIN, then EV_WRITE until the deadline
 *     WAIT            -> the handler's own socket (an upstream: http_conn_wait_fd()) for EV_READ or EV_WRITE,
 *                        or a timer alone, until the deadline; then http_conn_ready() or http_conn_timeout()
 *     CLOSE           -> close(), or a lingering close (shutdown, read and drop for 2 s) inside the reactor
 *
 * Reads and writes go through the connection's transport (mpm/driver.c), and the event waited for is the
 * one the transport wants, whatever the core's state: a TLS write may wait for EV_READ, a read for EV_WRITE.
 * A TLS connection first shakes hands, event by event, until RequestReadTimeout handshake=; only then is the
 * core's connection made, so a stalled handshake costs a struct and a socket like an idle connection.
 *
 * One struct event per connection on the client's socket, persistent and re-assigned only when the direction
 * changes, so the usual keep-alive request (readable, answer written at once, idle again) costs no
 * epoll_ctl(). A handler's wait has a second event (wev, made at the connection's first wait) on the
 * handler's socket or as a timer, so the client's registration stays as it is: a wait on an upstream costs one
 * EPOLL_CTL_ADD and one EPOLL_CTL_DEL for the upstream socket, and a timer (delay) none. wev leaves the
 * upstream socket before the core is called, since the handler may close it (a pooled connection found dead)
 * and get the same number back for a new one, which epoll would then not know. The client's event firing
 * meanwhile (it sent more, or left) takes it out of the epoll set until the core wants the client again.
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
#include "mpm.h"
#include "../server/http_conn.h"
#include "../server/log.h"
#include "../server/process.h"
#include "../server/listen.h"
#include "../server/scoreboard.h"

#define MODULE                 "mpm_event"
#define EVENT_MAX_SERVER_LIMIT 20000
#define EVENT_DEFAULT_LIMIT    16
#define EVENT_DEFAULT_CONNS    10000
#define EVENT_MAX_CONNS        1000000
#define ACCEPT_BATCH           16  /* accepts per wakeup of a listener, so that reading is not starved */
#define READ_ROUNDS            4   /* reads per wakeup while each fills the space the core gives */
#define WRITE_ROUNDS           16  /* writes per wakeup before yielding to other connections */
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

/* ---- the reactor of one child ---- */

/* A connection: hc while the core drives it; before, the deadline of its handshake; once it closes
 * lingeringly, the deadline of that close. */
struct econn {
    struct event ev; /* on the client's socket: EV_READ or EV_WRITE, as the state asks */
    union {
        struct http_conn *hc;
        int64_t handshake_until;
        int64_t linger_until;
    } u;
    struct econn *prev, *next; /* every connection of the child, for a graceful stop */
    const struct listener *l;  /* accepted on it: its TLS context and vhosts, when a handshake ends */
    struct transport t;        /* its socket, plain or TLS */
    struct event *wev;         /* a handler's wait (WAIT): its socket or a timer; made at the first wait */
    short what;                /* the events ev is assigned for; -1 when it is not added */
    short wwhat;               /* the events wev is assigned for (0: a timer); -1 when it is not added */
    short want;        /* what the transport's last read or write waits for; 0 when it did not block */
    unsigned idle : 1; /* counted in the scoreboard's idle_conns */
    unsigned lingering : 1;
};

/* One reactor per process, so its state is the process's. */
static struct reactor {
    struct event_base *base;
    const struct server *s;
    struct child_ctx *ctx;
    struct sb_child *row;
    struct sb_worker *slot;
    struct event listen_ev; /* on listen_set: readable when a listener has a connection for this child */
    int listen_set;         /* driver_listen_set(): the listeners, EPOLLEXCLUSIVE; -1 once closed */
    struct event *tick;     /* looks at the signal flags */
    struct event *backoff;  /* resumes accepting after EMFILE and the like */
    struct econn *conns;    /* list head */
    int nconns;             /* open connections, lingering ones included */
    int max_conns;          /* WorkerConnections */
    unsigned long accepted; /* for MaxConnectionsPerChild */
    int listening;          /* the listener events are added */
    int at_cap;             /* stopped accepting at WorkerConnections */
    int cap_logged;         /* the cap warning was logged in this episode */
    int in_backoff;         /* stopped accepting after a resource error */
    struct driver_acceptor acceptor;
    int leaving;    /* no more accepting: drain and exit */
    int leave_mode; /* CHILD_LEAVE, or CHILD_LEAVE_AFTER_NEXT (graceful restart: idle ones stay) */
} rx;

static void conn_cb(evutil_socket_t fd, short what, void *arg);

/* Closes the listen set when the child leaves, once update_listening() has stopped watching it. */
static void close_listen_set(void)
{
    if (rx.listen_set >= 0 && close(rx.listen_set) < 0)
        log_error(LOG_ERR, MODULE, "close() of the listen set failed: %s", strerror(errno));
    rx.listen_set = -1;
}

/* Adds or removes the listener events so that they are added exactly when accepting is allowed. */
static void update_listening(void)
{
    int want = !rx.leaving && !rx.at_cap && !rx.in_backoff;
    if (want == rx.listening)
        return;
    if (rx.listen_set >= 0 && (want ? event_add(&rx.listen_ev, NULL) : event_del(&rx.listen_ev)) < 0)
        log_error(LOG_ERR, MODULE, "event_%s() of the listeners failed", want ? "add" : "del");
    rx.listening = want;
}

static void set_idle(struct econn *e, int idle)
{
    if (e->idle == (unsigned)idle)
        return;
    e->idle = (unsigned)idle;
    atomic_fetch_add_explicit(&rx.row->idle_conns, idle ? 1 : -1, memory_order_relaxed);
}

/* An event's timeout: what is left until the monotonic deadline. */
static struct timeval time_left(int64_t deadline)
{
    int64_t left = deadline - now_ms();
    if (left < 0)
        left = 0;
    return (struct timeval){.tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000};
}

/* Makes ev wait for `what` (EV_READ or EV_WRITE) on the client's socket until the monotonic deadline. */
static void conn_arm(struct econn *e, short what, int64_t deadline)
{
    if (e->what != what) {
        if (e->what >= 0)
            event_del(&e->ev);
        /* persistent events keep their epoll registration across wakeups */
        event_assign(&e->ev, rx.base, e->t.fd, (short)(what | EV_PERSIST), conn_cb, e);
        e->what = what;
    }
    struct timeval tv = time_left(deadline);
    if (event_add(&e->ev, &tv) < 0)
        log_error(LOG_ERR, MODULE, "event_add() of a connection failed");
}

static void wait_cb(evutil_socket_t fd, short what, void *arg);

/* WAIT: wev waits for `what` on the handler's socket fd (0: a timer alone) until the deadline. The client's
 * event stays as it is, so a wait costs no epoll_ctl() for the client: one EPOLL_CTL_ADD and one DEL for the
 * handler's socket, none for a timer. */
static void wait_arm(struct econn *e, int fd, short what, int64_t deadline)
{
    if (e->wev == NULL && (e->wev = event_new(rx.base, -1, 0, wait_cb, e)) == NULL) {
        log_error(LOG_ERR, MODULE, "out of memory for a handler's wait");
        return;
    }
    if (e->wwhat != what || (what && event_get_fd(e->wev) != fd)) {
        if (e->wwhat >= 0)
            event_del(e->wev);
        event_assign(e->wev, rx.base, what ? fd : -1, what ? (short)(what | EV_PERSIST) : 0, wait_cb, e);
    }
    e->wwhat = what;
    struct timeval tv = time_left(deadline);
    if (event_add(e->wev, &tv) < 0)
        log_error(LOG_ERR, MODULE, "event_add() of a handler's wait failed");
}

/* Ends the handler's wait before the core runs it: the handler may close its socket and get the same number
 * back for a new one. */
static void wait_stop(struct econn *e)
{
    if (e->wwhat >= 0)
        event_del(e->wev);
    e->wwhat = -1;
}

/* Forgets a closed connection; the last one of a leaving child ends the loop. */
static void conn_free(struct econn *e)
{
    if (e->what >= 0)
        event_del(&e->ev);
    if (e->wev != NULL)
        event_free(e->wev);
    set_idle(e, 0);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        rx.conns = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    transport_free(&e->t);
    if (close(e->t.fd) < 0)
        log_error(LOG_DEBUG, MODULE, "close() failed: %s", strerror(errno));
    free(e);
    rx.nconns--;
    atomic_fetch_sub_explicit(&rx.row->conns, 1, memory_order_relaxed);

    /* The warning is logged again only once the count has fallen clearly below the cap. */
    if (rx.cap_logged && rx.nconns <= rx.max_conns - rx.max_conns / 10 - 1)
        rx.cap_logged = 0;
    if (rx.at_cap && rx.nconns < rx.max_conns) {
        rx.at_cap = 0;
        update_listening();
    }
    if (rx.leaving && rx.nconns == 0)
        event_base_loopbreak(rx.base);
}

/* Closes the socket, lingeringly when asked. */
static void conn_close(struct econn *e, int linger)
{
    /* The FIN tells the client the response is complete; what it still sends is read and dropped, so that a
     * close with unread data does not turn into a reset that could destroy the response in flight. */
    if (linger && shutdown(e->t.fd, SHUT_WR) == 0) {
        e->lingering = 1;
        e->u.linger_until = now_ms() + DRIVER_LINGER_MS;
        conn_arm(e, EV_READ, e->u.linger_until);
        return;
    }
    conn_free(e);
}

/* CLOSE: ends the core's connection, says goodbye through the transport, then closes the socket, lingeringly
 * if the core asks for it. */
static void conn_end(struct econn *e)
{
    wait_stop(e); /* perhaps still on a handler's socket, which the core's cleanup is about to close */
    int linger = http_conn_linger(e->u.hc);
    http_conn_destroy(e->u.hc);
    e->u.hc = NULL;
    set_idle(e, 0);
    transport_close(&e->t);
    conn_close(e, linger);
}

/* Lingering close: drops what arrived; EOF, an error or the end of the 2 s closes. */
static void linger_cb(struct econn *e, short what)
{
    if (((what & EV_READ) && driver_linger_drain(e->t.fd)) || now_ms() >= e->u.linger_until) {
        conn_free(e);
        return;
    }
    conn_arm(e, EV_READ, e->u.linger_until);
}

/* READ or KEEPALIVE, readable: reads into the core's space while each read fills it, READ_ROUNDS at most. */
static enum conn_state conn_read(struct econn *e, enum conn_state st)
{
    int blocked = 0, full = 1;
    for (int i = 0; i < READ_ROUNDS && full && (i == 0 || st == CONN_READ); i++)
        st = driver_read(e->u.hc, &e->t, st, MODULE, &blocked, &full);
    e->want = (short)blocked;
    return st;
}

/* WRITE: writes what the core has pending until it is all written, the socket is full, or WRITE_ROUNDS. */
static enum conn_state conn_write(struct econn *e)
{
    enum conn_state st = CONN_WRITE;
    int blocked = 0;
    for (int i = 0; i < WRITE_ROUNDS && st == CONN_WRITE && !blocked; i++)
        st = driver_write(e->u.hc, &e->t, MODULE, &blocked);
    e->want = (short)blocked;
    return st;
}

/* Follows the core's state until it asks to wait, then arms the connection's event for that wait. */
static void conn_drive(struct econn *e, enum conn_state st)
{
    for (;;) {
        switch (st) {
        case CONN_WRITE:
            set_idle(e, 0);
            st = conn_write(e);
            if (st == CONN_WRITE) {
                conn_arm(e, e->want == TRANSPORT_WANT_READ ? EV_READ : EV_WRITE, http_conn_deadline(e->u.hc));
                return;
            }
            break;
        case CONN_KEEPALIVE:
            if (rx.leaving && rx.leave_mode != CHILD_LEAVE_AFTER_NEXT) {
                st = http_conn_shutdown(e->u.hc);
                break;
            }
            if (rx.leaving)
                http_conn_finish(e->u.hc);
            if (e->want == 0 && transport_pending(&e->t) > 0) {
                /* TLS: a request already decrypted, which no readiness of the socket would announce */
                st = conn_read(e, st);
                break;
            }
            set_idle(e, 1);
            conn_arm(e, e->want == TRANSPORT_WANT_WRITE ? EV_WRITE : EV_READ, http_conn_deadline(e->u.hc));
            return;
        case CONN_READ:
            set_idle(e, 0);
            if (e->want == 0 && transport_pending(&e->t) > 0) {
                st = conn_read(e, st);
                break;
            }
            conn_arm(e, e->want == TRANSPORT_WANT_WRITE ? EV_WRITE : EV_READ, http_conn_deadline(e->u.hc));
            return;
        case CONN_WAIT: {
            int events, ufd = http_conn_wait_fd(e->u.hc, &events);
            set_idle(e, 0);
            wait_arm(e, ufd,
                     ufd < 0                  ? 0
                     : events == CONN_WAIT_IN ? EV_READ
                                              : EV_WRITE,
                     http_conn_deadline(e->u.hc));
            return;
        }
        case CONN_CLOSE:
            conn_end(e);
            return;
        }
    }
}

/* The core's connection, once the transport is ready (its handshake done). */
static void conn_start(struct econn *e)
{
    struct http_conn *c = driver_conn_start(rx.s, e->l, &e->t, NULL, 0, MODULE);
    if (c == NULL) {
        conn_free(e);
        return;
    }
    http_conn_set_slot(c, rx.slot);
    e->u.hc = c;
    e->want = 0;
    if (rx.leaving)
        http_conn_finish(c); /* leaving meanwhile: this fresh connection is served once */
    conn_drive(e, http_conn_state(c));
}

/* A step of the handshake, then a wait for what it wants until its deadline. */
static void handshake_step(struct econn *e)
{
    int want = 0;
    switch (driver_handshake(&e->t, &want)) {
    case DRIVER_HANDSHAKE_DONE:
        conn_start(e);
        return;
    case DRIVER_HANDSHAKE_WAIT:
        conn_arm(e, want == TRANSPORT_WANT_WRITE ? EV_WRITE : EV_READ, e->u.handshake_until);
        return;
    case DRIVER_HANDSHAKE_LINGER:
        conn_close(e, 1);
        return;
    case DRIVER_HANDSHAKE_CLOSE:
        conn_free(e);
        return;
    }
}

static void handshake_cb(struct econn *e, short what)
{
    if (!(what & (EV_READ | EV_WRITE)) && now_ms() >= e->u.handshake_until) {
        log_error(LOG_INFO, "ssl", "handshake timed out (RequestReadTimeout handshake=%d)",
                  rx.s->handshake_timeout.timeout > 0 ? rx.s->handshake_timeout.timeout : rx.s->timeout);
        conn_free(e);
        return;
    }
    handshake_step(e);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct econn *e = arg;
    (void)fd;

    if (e->lingering) {
        linger_cb(e, what);
        return;
    }
    if (e->t.handshaking) {
        handshake_cb(e, what);
        return;
    }
    struct http_conn *c = e->u.hc;
    enum conn_state st = http_conn_state(c);
    if (st == CONN_WAIT) {
        /* the client's event while a handler waits (wev has the deadline): the client sent more, left, or
         * its socket took a write: it is not watched until the core wants it again (level-triggered, it
         * would fire on and on); its own timeout passing means nothing now */
        if (what & (EV_READ | EV_WRITE)) {
            event_del(&e->ev);
            e->what = -1;
        }
        return;
    }
    if (what & (EV_READ | EV_WRITE)) {
        if (st == CONN_READ || st == CONN_KEEPALIVE)
            st = conn_read(e, st);
        /* CONN_WRITE: conn_drive() writes */
    } else if (now_ms() >= http_conn_deadline(c)) {
        st = http_conn_timeout(c, now_ms());
    } else {
        /* the timer fired early by the clocks' granularity: wait again for the same thing. No I/O here: a
         * write tried now could move a few bytes into a socket that never reported room (a client that does
         * not read), and the progress would push the deadline back for ever */
        conn_arm(e, e->what, http_conn_deadline(c));
        return;
    }
    conn_drive(e, st);
}

/* The handler's socket is ready, or its deadline passed: the core resumes the handler. */
static void wait_cb(evutil_socket_t fd, short what, void *arg)
{
    struct econn *e = arg;
    struct http_conn *c = e->u.hc;
    enum conn_state st;
    (void)fd;
    if (what & (EV_READ | EV_WRITE)) {
        wait_stop(e);
        st = http_conn_ready(c, now_ms());
    } else if (now_ms() >= http_conn_deadline(c)) {
        wait_stop(e);
        st = http_conn_timeout(c, now_ms());
    } else {
        wait_arm(e, event_get_fd(e->wev), e->wwhat, http_conn_deadline(c)); /* early, as in conn_cb() */
        return;
    }
    conn_drive(e, st);
}

/* A new connection: a TLS one shakes hands first; the core starts in READ, waiting for its first bytes
 * without a buffer. */
static void conn_new(const struct listener *l, int fd, const struct sockaddr *peer, socklen_t peerlen)
{
    struct econn *e = calloc(1, sizeof(*e));
    struct http_conn *c = NULL;
    if (e == NULL || driver_transport_open(rx.s, l, &e->t, fd, peer, peerlen, MODULE) < 0 ||
        (!e->t.handshaking && (c = driver_conn_start(rx.s, l, &e->t, peer, peerlen, MODULE)) == NULL)) {
        if (e != NULL && e->t.ops != NULL)
            transport_free(&e->t);
        if (e == NULL)
            log_error(LOG_ERR, MODULE, "out of memory for a new connection");
        free(e);
        if (close(fd) < 0)
            log_error(LOG_DEBUG, MODULE, "close() failed: %s", strerror(errno));
        return;
    }
    if (c != NULL) {
        http_conn_set_slot(c, rx.slot);
        e->u.hc = c;
    } else {
        e->u.handshake_until = driver_handshake_deadline(rx.s, now_ms());
    }
    e->l = l;
    e->what = e->wwhat = -1;
    e->next = rx.conns;
    if (rx.conns != NULL)
        rx.conns->prev = e;
    rx.conns = e;
    rx.nconns++;
    atomic_fetch_add_explicit(&rx.row->conns, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rx.slot->conns, 1, memory_order_relaxed);
    /* The request (or a TLS hello) has usually arrived with the handshake's last ACK: read it now, and
     * register the socket with epoll only if it must wait; a Connection: close exchange then costs no
     * epoll_ctl() at all. */
    if (c == NULL)
        handshake_step(e);
    else
        conn_drive(e, conn_read(e, http_conn_state(c)));
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
        update_listening();
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
            conn_end(e);
    }
    if (rx.nconns == 0)
        event_base_loopbreak(rx.base);
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    rx.in_backoff = 0;
    update_listening();
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
    update_listening();
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
            update_listening();
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
        conn_new(l, fd, (struct sockaddr *)&peer, peerlen);
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
    update_listening();
    while (rx.conns != NULL) {
        struct econn *e = rx.conns;
        if (!e->lingering && !e->t.handshaking) {
            wait_stop(e);
            http_conn_destroy(e->u.hc);
        }
        conn_free(e);
    }
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
    update_listening();
    /* a signal that came before the loop: event_base_loopbreak() only ends a loop that runs */
    tick_cb(-1, 0, NULL);
    if (*ctx->stop || (rx.leaving && rx.nconns == 0))
        goto done;
    if (event_base_dispatch(rx.base) < 0)
        log_error(LOG_ERR, MODULE, "event_base_dispatch() failed");

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
