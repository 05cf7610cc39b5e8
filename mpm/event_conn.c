/*
 * The event MPM's connections: each connection of a child's reactor (mpm/event.c) follows the core's states
 * with libevent events, with the state contract of the blocking driver in mpm/serve.c:
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
 * epoll_ctl(). A plain connection idle between requests waits edge-triggered (EV_ET, as nginx registers its
 * connections), with EV_CLOSED (EPOLLRDHUP): a level-triggered event is reported again by the next
 * epoll_wait(), which polls the socket once more for each one it reported. Only when nothing can be pending
 * that no edge would announce: the last read did not fill its space (a read that did is followed by a
 * level-triggered wait, so that what is left is reported at the next turn), and no FIN came with the bytes
 * read (EV_CLOSED: from then on level-triggered, so that the end is read at once). The middle of a request
 * (a client that sent part and then a FIN or a reset with it: the read returns the bytes, the end comes at
 * the next read, and no edge says so when both arrived together), a TLS connection (its library reads ahead)
 * and a lingering close wait level-triggered.
 *
 * A handler's wait has a timer of its own (struct ewait, made at the connection's first wait, left added
 * between waits: LAZY_MS) for its deadline, so the client's registration stays as it is. The handler's socket
 * (an upstream connection) is registered once for its whole life, edge-triggered for reads and writes
 * (mpm/event_watch.c, as nginx keeps its upstream connections), whichever request uses it, also while it
 * idles in the proxy's pool: a proxied request costs no epoll_ctl() and the pool no poll() to know whether an
 * idle connection was closed by the upstream (sockwatch.h's quiet). Edge-triggered, what is reported while
 * nobody waits is kept (ready), and a wait for something ready resumes the handler at once. Handlers close
 * their sockets through sockwatch_close(), which takes them out first, since the number comes back for the
 * next socket. The client's event firing during a wait (it sent more, or left) takes it out of the epoll set
 * until the core wants the client again.
 *
 * The clock is read once per reactor callback (econn_clock(), into rx.now): the core's steps for that event,
 * the handler's deadlines (request.now) and the events' timeouts all go by it, as nginx's ngx_current_msec
 * goes per loop iteration. A proxied request then costs two clock reads (the client's event, the upstream's),
 * not one per step.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../server/http_conn.h"
#include "../server/log.h"
#include "../server/scoreboard.h"
#include "../server/util.h"
#include "event_conn.h"

struct reactor rx;

static void conn_cb(evutil_socket_t fd, short what, void *arg);

/* Adds or removes the listener events so that they are added exactly when accepting is allowed. */
void event_update_listening(void)
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

int64_t econn_clock(void)
{
    return rx.now = now_ms();
}

/* An event's timeout: what is left until the monotonic deadline, from the time of the event handled. */
static struct timeval time_left(int64_t deadline)
{
    int64_t left = deadline - rx.now;
    if (left < 0)
        left = 0;
    return (struct timeval){.tv_sec = (time_t)(left / 1000), .tv_usec = (suseconds_t)(left % 1000) * 1000};
}

/* A timer still added for a moment at most this much before a new deadline serves that one too (nginx's
 * lazy timers, NGX_TIMER_LAZY_DELAY): it fires a little early at worst, and its callback adds it again for
 * the rest. A keep-alive request then costs no timer operation of ours: a wait that ends before its deadline
 * leaves its timer added, and the client's event is already added (libevent added its timeout again when the
 * request arrived) for about the next keep-alive deadline. */
#define LAZY_MS 300

/* A timer added to fire at `at` (0: none is added) serves `deadline` too. */
static int lazy_covers(int64_t at, int64_t deadline)
{
    return at != 0 && at <= deadline && deadline - at < LAZY_MS;
}

/* Makes ev wait for `what` (EV_READ or EV_WRITE) on the client's socket until the monotonic deadline. */
static void conn_arm(struct econn *e, short what, int64_t deadline)
{
    if (what == EV_READ && rx.edge_reads && e->core && !e->lingering && !e->unread && !e->rdhup &&
        e->t.ops == &transport_plain && http_conn_state(e->u.hc) == CONN_KEEPALIVE)
        what |= EV_ET | EV_CLOSED; /* idle, the socket drained: only new bytes or the client's FIN are news */
    if (e->what != what) {
        if (e->what >= 0)
            event_del(&e->ev);
        /* persistent events keep their epoll registration across wakeups */
        event_assign(&e->ev, rx.base, e->t.fd, (short)(what | EV_PERSIST), conn_cb, e);
        e->what = what;
        e->ev_at = 0;
    } else if (lazy_covers(e->ev_at, deadline)) {
        return;
    }
    struct timeval tv = time_left(deadline);
    if (event_add(&e->ev, &tv) < 0) {
        log_error(LOG_ERR, MODULE, "event_add() of a connection failed");
        e->ev_at = 0;
        return;
    }
    /* a zero timeout is not added again by libevent: nothing is known to be added then (nor kept for one
     * beyond ev_ms's range: 24 days) */
    int64_t ms = deadline > rx.now ? deadline - rx.now : 0;
    e->ev_ms = ms <= INT32_MAX ? (int32_t)ms : 0;
    e->ev_at = e->ev_ms > 0 ? rx.now + e->ev_ms : 0;
}

/* A handler's wait: a timer of its own for the deadline, made at the connection's first wait and left added
 * between waits (LAZY_MS). Only connections whose handlers wait (the proxy's) have one. */
struct ewait {
    struct event ev;
    int64_t at;  /* the deadline ev is added for; 0 while it is not added */
    int waiting; /* a handler waits (else the timer, left added, fires for nothing) */
};

static void wait_cb(evutil_socket_t fd, short what, void *arg);
static void conn_drive(struct econn *e, enum conn_state st);

/* What the handler of e waited for on its socket happened: the core resumes it (event_watch.c calls). */
static void resume_waiter(void *waiter)
{
    struct econn *e = waiter;
    econn_unwait(e);
    conn_drive(e, http_conn_ready(e->u.hc, econn_clock()));
}

void econn_watch_start(void)
{
    event_watch_start(rx.base, resume_waiter);
}

/*
 * WAIT: the handler waits for `what` on its socket fd (0: for its deadline alone) until the deadline. Returns
 * 1 when what it waits for was reported already (the caller resumes the handler now), else 0: its timer holds
 * the deadline and the socket's watch the waiter. A socket's first wait adds it to the epoll set, for good.
 */
static int wait_arm(struct econn *e, int fd, short what, int64_t deadline)
{
    if (what && event_watch_wait(e, &e->uw, fd, what))
        return 1;
    struct ewait *w = e->x.w;
    if (w == NULL) {
        if ((w = calloc(1, sizeof(*w))) == NULL || evtimer_assign(&w->ev, rx.base, wait_cb, e) < 0) {
            free(w);
            log_error(LOG_ERR, MODULE, "out of memory for a handler's wait");
            return 0;
        }
        e->x.w = w;
    }
    w->waiting = 1;
    if (lazy_covers(w->at, deadline))
        return 0;
    struct timeval tv = time_left(deadline);
    if (evtimer_add(&w->ev, &tv) < 0)
        log_error(LOG_ERR, MODULE, "event_add() of a handler's wait failed");
    else
        w->at = deadline;
    return 0;
}

/* Ends the handler's wait before the core runs it; its timer stays added for the next wait (LAZY_MS). */
void econn_unwait(struct econn *e)
{
    if (e->core && e->x.w != NULL)
        e->x.w->waiting = 0;
    event_watch_unwait(&e->uw);
}

/* Forgets a closed connection; the last one of a leaving child ends the loop. */
void econn_free(struct econn *e)
{
    if (e->what >= 0)
        event_del(&e->ev);
    if (e->core && e->x.w != NULL) {
        event_del(&e->x.w->ev);
        free(e->x.w);
    }
    event_watch_unwait(&e->uw);
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
        event_update_listening();
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
        e->u.linger_until = rx.now + DRIVER_LINGER_MS;
        conn_arm(e, EV_READ, e->u.linger_until);
        return;
    }
    econn_free(e);
}

/* CLOSE: ends the core's connection, says goodbye through the transport, then closes the socket, lingeringly
 * if the core asks for it. */
void econn_end(struct econn *e)
{
    econn_unwait(e); /* perhaps still on a handler's socket, which the core's cleanup is about to close */
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
    if (((what & EV_READ) && driver_linger_drain(e->t.fd)) || rx.now >= e->u.linger_until) {
        econn_free(e);
        return;
    }
    conn_arm(e, EV_READ, e->u.linger_until);
}

/* READ or KEEPALIVE, readable: reads into the core's space while each read fills it, READ_ROUNDS at most. */
static enum conn_state conn_read(struct econn *e, enum conn_state st)
{
    int blocked = 0, full = 1;
    for (int i = 0; i < READ_ROUNDS && full && (i == 0 || st == CONN_READ); i++)
        st = driver_read(e->u.hc, &e->t, st, MODULE, &blocked, &full, rx.now);
    e->want = (signed char)blocked;
    e->unread = full;
    return st;
}

/* WRITE: writes what the core has pending until it is all written, the socket is full, or WRITE_ROUNDS. */
static enum conn_state conn_write(struct econn *e)
{
    enum conn_state st = CONN_WRITE;
    int blocked = 0;
    for (int i = 0; i < WRITE_ROUNDS && st == CONN_WRITE && !blocked; i++)
        st = driver_write(e->u.hc, &e->t, MODULE, &blocked, rx.now);
    e->want = (signed char)blocked;
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
            driver_await_rest(e->u.hc, &e->t);
            conn_arm(e, e->want == TRANSPORT_WANT_WRITE ? EV_WRITE : EV_READ, http_conn_deadline(e->u.hc));
            return;
        case CONN_WAIT: {
            int events, ufd = http_conn_wait_fd(e->u.hc, &events);
            set_idle(e, 0);
            if (wait_arm(e, ufd,
                         ufd < 0                  ? 0
                         : events == CONN_WAIT_IN ? EV_READ
                                                  : EV_WRITE,
                         http_conn_deadline(e->u.hc))) {
                st = http_conn_ready(e->u.hc, rx.now);
                break;
            }
            return;
        }
        case CONN_CLOSE:
            econn_end(e);
            return;
        }
    }
}

/* The core's connection, once the transport is ready (its handshake done). */
static void conn_start(struct econn *e)
{
    const struct listener *l = e->x.l;
    e->x.w = NULL;
    e->core = 1;
    struct http_conn *c = driver_conn_start(rx.s, l, &e->t, NULL, 0, MODULE);
    if (c == NULL) {
        econn_free(e);
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
        econn_free(e);
        return;
    }
}

static void handshake_cb(struct econn *e, short what)
{
    if (!(what & (EV_READ | EV_WRITE)) && rx.now >= e->u.handshake_until) {
        log_error(LOG_INFO, "ssl", "handshake timed out (RequestReadTimeout handshake=%d)",
                  rx.s->handshake_timeout.timeout > 0 ? rx.s->handshake_timeout.timeout : rx.s->timeout);
        econn_free(e);
        return;
    }
    handshake_step(e);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct econn *e = arg;
    (void)fd;

    /* libevent has added ev's timeout again, for as long as the last add asked, from its own time of this
     * wakeup, which is not later than ours */
    econn_clock();
    if (e->ev_at != 0)
        e->ev_at = rx.now + e->ev_ms;
    if (what & EV_CLOSED) {
        e->rdhup = 1; /* the FIN is there to be read */
        what |= EV_READ;
    }
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
        /* the client's event while a handler waits (its timer has the deadline): the client sent more, left,
         * or its socket took a write: it is not watched until the core wants it again (level-triggered, it
         * would fire on and on); its own timeout passing means nothing now */
        if (what & (EV_READ | EV_WRITE)) {
            event_del(&e->ev);
            e->what = -1;
            e->ev_at = 0;
        }
        return;
    }
    if (what & (EV_READ | EV_WRITE)) {
        if (st == CONN_READ || st == CONN_KEEPALIVE)
            st = conn_read(e, st);
        /* CONN_WRITE: conn_drive() writes */
    } else if (rx.now >= http_conn_deadline(c)) {
        st = http_conn_timeout(c, rx.now);
    } else {
        /* the timer fired early by the clocks' granularity: wait again for the same thing. No I/O here: a
         * write tried now could move a few bytes into a socket that never reported room (a client that does
         * not read), and the progress would push the deadline back for ever */
        conn_arm(e, (short)(e->what & (EV_READ | EV_WRITE)), http_conn_deadline(c));
        return;
    }
    conn_drive(e, st);
}

/* The deadline of a handler's wait passed (its socket's readiness comes through watch_cb()). */
static void wait_cb(evutil_socket_t fd, short what, void *arg)
{
    struct econn *e = arg;
    struct ewait *w = e->x.w;
    (void)fd, (void)what;
    w->at = 0; /* a timer that fired is no longer added */
    if (!w->waiting)
        return; /* left added by a wait that has ended (perhaps the connection's, which lingers now) */
    struct http_conn *c = e->u.hc;
    if (econn_clock() < http_conn_deadline(c)) {
        /* early: by the clocks' granularity, as in conn_cb(), or lazily added for an earlier deadline */
        struct timeval tv = time_left(http_conn_deadline(c));
        if (evtimer_add(&w->ev, &tv) < 0)
            log_error(LOG_ERR, MODULE, "event_add() of a handler's wait failed");
        else
            w->at = http_conn_deadline(c);
        return;
    }
    econn_unwait(e);
    conn_drive(e, http_conn_timeout(c, rx.now));
}

/* A new connection: a TLS one shakes hands first; the core starts in READ, waiting for its first bytes
 * without a buffer. */
void econn_new(const struct listener *l, int fd, const struct sockaddr *peer, socklen_t peerlen)
{
    struct econn *e = calloc(1, sizeof(*e));
    struct http_conn *c = NULL;
    econn_clock();
    event_watch_check_new(fd);
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
        e->core = 1;
    } else {
        e->u.handshake_until = driver_handshake_deadline(rx.s, rx.now);
        e->x.l = l;
    }
    e->what = -1;
    e->next = rx.conns;
    if (rx.conns != NULL)
        rx.conns->prev = e;
    rx.conns = e;
    rx.nconns++;
    atomic_fetch_add_explicit(&rx.row->conns, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&rx.slot->conns, 1, memory_order_relaxed);
    /* The request has usually arrived with the handshake's last ACK: read it now, and register the socket
     * with epoll only if it must wait; a Connection: close exchange then costs no epoll_ctl() at all. A TLS
     * connection must wait anyway (for the client's Finished), so its first step waits for the hello to be
     * reported, among the other ready connections, as nginx: done here, the first steps of a batch of
     * accepts (an ECDSA signature and a key exchange each) would keep the requests that have arrived waiting
     * (wrk's resumed handshakes, 50 connections: half the median latency of a request, no fewer of them). */
    if (c == NULL)
        conn_arm(e, EV_READ, e->u.handshake_until);
    else
        conn_drive(e, conn_read(e, http_conn_state(c)));
}
