/*
 * The blocking driver of the sans-I/O core, used by prefork and worker: one thread follows one connection
 * through the core's states until it says CLOSE. The socket is non-blocking and every wait is a poll()
 * bounded by http_conn_deadline(), so Timeout and KeepAliveTimeout hold however the peer behaves. Reads and
 * writes go through the connection's transport (plain or TLS), and a wait is for what the transport wants;
 * a TLS handshake comes first, bounded by RequestReadTimeout handshake=, before the core has the connection.
 *
 * A signal interrupts the poll (the process installs its handlers without SA_RESTART); the loop then looks at
 * `leaving`, and an idle keep-alive connection is ended at once while a request in progress is finished (on a
 * graceful restart the idle one is kept for its next request, which is answered with Connection: close).
 */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../server/util.h"
#include "../server/http_conn.h"
#include "../server/log.h"
#include "../server/scoreboard.h"
#include "../server/server.h"
#include "driver.h"
#include "serve.h"

enum wait_result { WAIT_READY, WAIT_DEADLINE, WAIT_INTERRUPTED, WAIT_ERROR, WAIT_CLIENT_GONE };

/* The signal mask of this thread's waits (serve_wait_mask()); NULL: its own mask throughout. */
static __thread const sigset_t *wait_mask;

void serve_wait_mask(const sigset_t *mask)
{
    wait_mask = mask;
}

/* poll(), or ppoll() with the waits' signal mask: a signal held blocked while the connection is served is
 * taken only here, where it interrupts the wait. */
static int serve_poll(struct pollfd *pfd, nfds_t n, int ms)
{
    if (wait_mask == NULL)
        return poll(pfd, n, ms);
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    return ppoll(pfd, n, ms < 0 ? NULL : &ts, wait_mask);
}

/* Waits until fd is ready for `events` (fd -1: for nothing) or the monotonic deadline passes; with client >=
 * 0, also for that socket's hang-up (POLLRDHUP: the client closed its side), which ends the wait with
 * WAIT_CLIENT_GONE. Meanwhile writes the buffered access log lines as they fall due (BufferedLogs). */
static enum wait_result wait_fd_or_gone(int fd, short events, int client, int64_t deadline)
{
    struct pollfd pfd[2] = {{.fd = fd, .events = events}, {.fd = client, .events = POLLRDHUP}};
    struct pollfd *p = fd >= 0 ? pfd : pfd + 1;
    nfds_t nfds = (nfds_t)(fd >= 0) + (nfds_t)(client >= 0);
    int n, due, ms;
    do {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return WAIT_DEADLINE;
        ms = left > INT_MAX ? INT_MAX : (int)left;
        due = log_flush_due(0);
        n = serve_poll(nfds > 0 ? p : NULL, nfds, due >= 0 && due < ms ? due : ms);
    } while (n == 0 && due >= 0 && due < ms);
    if (n < 0) {
        if (errno == EINTR)
            return WAIT_INTERRUPTED;
        log_error(LOG_ERR, "core", "poll() failed: %s", strerror(errno));
        return WAIT_ERROR;
    }
    if (n == 0)
        /* poll() rounds to milliseconds: only a deadline that has really passed counts */
        return now_ms() >= deadline ? WAIT_DEADLINE : WAIT_INTERRUPTED;
    if (client >= 0 && (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR)))
        return WAIT_CLIENT_GONE;
    return fd >= 0 && pfd[0].revents ? WAIT_READY : WAIT_INTERRUPTED;
}

static enum wait_result wait_fd(int fd, short events, int64_t deadline)
{
    return wait_fd_or_gone(fd, events, -1, deadline);
}

/* The poll() events for what a transport waits for. */
static short poll_events(int want, short otherwise)
{
    return want == TRANSPORT_WANT_READ ? POLLIN : want == TRANSPORT_WANT_WRITE ? POLLOUT : otherwise;
}

/* READ or KEEPALIVE: read what has arrived, or wait for it until the deadline. */
static enum conn_state do_read(struct http_conn *c, struct transport *t, enum conn_state st,
                               volatile sig_atomic_t *leaving)
{
    if (st == CONN_KEEPALIVE && leaving != NULL && *leaving) {
        if (*leaving != CHILD_LEAVE_AFTER_NEXT)
            return http_conn_shutdown(c);
        http_conn_finish(c);
    }

    int64_t deadline = http_conn_deadline(c);
    if (st == CONN_KEEPALIVE && transport_pending(t) == 0) {
        /* Nothing is expected yet: wait first, so that an idle connection takes no read buffer. */
        switch (wait_fd(t->fd, POLLIN, deadline)) {
        case WAIT_READY:
            break;
        case WAIT_DEADLINE:
            return http_conn_timeout(c, now_ms());
        case WAIT_INTERRUPTED:
            return st;
        case WAIT_ERROR:
        case WAIT_CLIENT_GONE: /* not asked for here */
            return http_conn_abort(c);
        }
    } else if (now_ms() >= deadline) {
        return http_conn_timeout(c, now_ms());
    }

    int blocked, full;
    st = driver_read(c, t, st, "core", &blocked, &full, now_ms());
    if (!blocked)
        return st;
    driver_await_rest(c, t);
    switch (wait_fd(t->fd, poll_events(blocked, POLLIN), deadline)) {
    case WAIT_DEADLINE:
        return http_conn_timeout(c, now_ms());
    case WAIT_ERROR:
        return http_conn_abort(c);
    default:
        return st;
    }
}

/* WRITE: write what the core has pending, waiting for the socket until the deadline. */
static enum conn_state do_write(struct http_conn *c, struct transport *t)
{
    int blocked;
    enum conn_state st = driver_write(c, t, "core", &blocked, now_ms());
    if (!blocked)
        return st;
    switch (wait_fd(t->fd, poll_events(blocked, POLLOUT), http_conn_deadline(c))) {
    case WAIT_DEADLINE:
        return http_conn_timeout(c, now_ms());
    case WAIT_ERROR:
        return http_conn_abort(c);
    default:
        return CONN_WRITE;
    }
}

/*
 * WAIT: until the handler's socket is ready (an upstream) or its deadline, then let the core resume it. The
 * client's socket is watched meanwhile for its hang-up: a client that has closed its connection ends the
 * request at once (as nginx's default, proxy_ignore_client_abort off), instead of holding this process or
 * thread for an answer nobody will read. Clients that gave up in a queue (accepted later, their requests
 * there, then their FIN) would otherwise each take a worker for the whole wait.
 */
static enum conn_state do_wait(struct http_conn *c, int client)
{
    int events;
    int64_t deadline = http_conn_deadline(c);
    int ufd = http_conn_wait_fd(c, &events);
    switch (wait_fd_or_gone(ufd, ufd < 0 ? 0 : events == CONN_WAIT_IN ? POLLIN : POLLOUT, client, deadline)) {
    case WAIT_READY:
        return http_conn_ready(c, now_ms());
    case WAIT_DEADLINE:
        return http_conn_timeout(c, now_ms());
    case WAIT_INTERRUPTED:
        return CONN_WAIT;
    case WAIT_CLIENT_GONE:
        log_error(LOG_DEBUG, "core", "the client closed its connection while the handler waited");
        return http_conn_abort(c);
    case WAIT_ERROR:
        break;
    }
    return http_conn_abort(c);
}

/* What the scoreboard shows for a connection state. */
static enum sb_state slot_state(enum conn_state st)
{
    switch (st) {
    case CONN_READ:
        return SB_READ;
    case CONN_KEEPALIVE:
        return SB_KEEPALIVE;
    case CONN_CLOSE:
        return SB_CLOSING;
    case CONN_WRITE:
    case CONN_WAIT:
        break;
    }
    return SB_WRITE; /* a handler at work shows as "sending reply", as in Apache */
}

/*
 * The handshake of a TLS transport, before the core has the connection: each step waits for what the
 * transport wants, until RequestReadTimeout handshake=. Returns 0 when done, -1 when the connection is to be
 * closed (*linger: lingeringly).
 */
static int handshake(const struct server *s, struct transport *t, int *linger)
{
    int64_t deadline = driver_handshake_deadline(s, now_ms());
    int want = 0;
    *linger = 0;
    for (;;) {
        switch (driver_handshake(t, &want)) {
        case DRIVER_HANDSHAKE_DONE:
            return 0;
        case DRIVER_HANDSHAKE_LINGER:
            *linger = 1;
            return -1;
        case DRIVER_HANDSHAKE_CLOSE:
            return -1;
        case DRIVER_HANDSHAKE_WAIT:
            break;
        }
        /* a signal to leave does not end a handshake: the fresh connection is served once, as in event */
        switch (wait_fd(t->fd, poll_events(want, POLLIN), deadline)) {
        case WAIT_DEADLINE:
            log_error(LOG_INFO, "ssl", "handshake timed out (RequestReadTimeout handshake=%d)",
                      s->handshake_timeout.timeout > 0 ? s->handshake_timeout.timeout : s->timeout);
            return -1;
        case WAIT_ERROR:
            return -1;
        default:
            break;
        }
    }
}

void serve_connection(const struct server *s, const struct listener *l, int fd, const struct sockaddr *peer,
                      socklen_t peerlen, struct sb_worker *slot, volatile sig_atomic_t *leaving)
{
    struct transport t;
    struct http_conn *c = NULL;
    int linger = 0;
    if (driver_transport_open(s, l, &t, fd, peer, peerlen, "core") < 0)
        goto fail;
    if (slot != NULL)
        atomic_fetch_add_explicit(&slot->conns, 1, memory_order_relaxed);
    if (t.handshaking) {
        if (slot != NULL)
            scoreboard_set_state(slot, SB_READ); /* Apache shows a handshake as reading */
        if (handshake(s, &t, &linger) < 0)
            goto end;
    }
    c = driver_conn_start(s, l, &t, peer, peerlen, "core");
    if (c == NULL)
        goto end;
    http_conn_set_slot(c, slot);

    enum conn_state st = http_conn_state(c);
    enum sb_state shown = SB_DEAD;
    while (st != CONN_CLOSE) {
        enum sb_state want = slot_state(st);
        if (slot != NULL && want != shown) {
            scoreboard_set_state(slot, want);
            shown = want;
        }
        switch (st) {
        case CONN_READ:
        case CONN_KEEPALIVE:
            st = do_read(c, &t, st, leaving);
            break;
        case CONN_WRITE:
            st = do_write(c, &t);
            break;
        case CONN_WAIT:
            st = do_wait(c, t.fd);
            break;
        case CONN_CLOSE:
            break;
        }
    }
    linger = http_conn_linger(c);
    http_conn_destroy(c);

end:
    if (slot != NULL)
        scoreboard_set_state(slot, SB_CLOSING);
    if (c != NULL)
        transport_close(&t); /* TLS: close_notify */
    else
        transport_free(&t);
    if (linger) {
        serve_lingering_close(fd);
    } else if (close(fd) < 0) {
        log_error(LOG_DEBUG, "core", "close() failed: %s", strerror(errno));
    }
    if (slot != NULL)
        scoreboard_set_state(slot, SB_READY);
    return;

fail:
    if (close(fd) < 0)
        log_error(LOG_DEBUG, "core", "close() failed: %s", strerror(errno));
}

void serve_lingering_close(int fd)
{
    /* The FIN tells the client the response is complete; what it still sends is read and dropped, so that a
     * close with unread data does not turn into a reset that could destroy the response in flight. */
    if (shutdown(fd, SHUT_WR) < 0)
        goto done;
    int64_t deadline = now_ms() + DRIVER_LINGER_MS;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int n = serve_poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || driver_linger_drain(fd))
            break;
    }

done:
    if (close(fd) < 0)
        log_error(LOG_DEBUG, "core", "close() failed: %s", strerror(errno));
}
