/*
 * The pool of idle upstream connections of a child (see proxy_pool.h). One array of idle sockets per
 * upstream, made when the child first needs it (never in the parent, which serves nothing), behind one mutex:
 * worker's threads share the child's connections as Apache's do; prefork's and event's children, which start
 * no thread, skip it (mutex_enter() in util.h).
 *
 * The one thing to know: an idle connection can be closed by the upstream at any time (its keep-alive
 * timeout). proxy_pool_take() looks before it hands one out (poll, then a MSG_PEEK of one byte), which
 * catches every close that happened before the request; a close that races with the request is left to the
 * retry rule. Under event the reactor already knows (sockwatch.h: it keeps pooled connections registered and
 * notes what arrives on them while idle), so a connection it calls quiet costs no look.
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy_pool.h"
#include "scoreboard.h"
#include "sockwatch.h"
#include "util.h"

struct idle {
    int fd;
    int64_t since;
};

struct wpool {
    struct idle *idle;
    int n, cap;
    int64_t error_until;      /* retry=: the error state ends then (without a scoreboard) */
    struct sb_member *shared; /* its scoreboard slot, once looked up */
    int looked_up;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct wpool *pools;
static int n_pools;
static const struct proxy_conf *owner;

/* The pool of w, under the lock; the pools of another configuration are emptied first. NULL: no memory. */
static struct wpool *pool_of(const struct proxy_conf *pc, const struct proxy_worker *w)
{
    if (owner != pc) {
        for (int i = 0; i < n_pools; i++) {
            for (int k = 0; k < pools[i].n; k++)
                sockwatch_close(pools[i].idle[k].fd);
            free(pools[i].idle);
        }
        free(pools);
        pools = calloc((size_t)(pc->n_workers > 0 ? pc->n_workers : 1), sizeof(*pools));
        n_pools = pools != NULL ? pc->n_workers : 0;
        owner = pools != NULL ? pc : NULL;
    }
    return w->index < n_pools ? &pools[w->index] : NULL;
}

/* The scoreboard slot of w (under the lock), or NULL: no scoreboard (unit tests), or every slot taken. */
static struct sb_member *shared_of(struct wpool *p, const struct proxy_worker *w)
{
    if (p == NULL)
        return NULL;
    if (!p->looked_up) {
        struct scoreboard *sb = scoreboard_current();
        p->shared = sb != NULL && w->shared_name != NULL ? scoreboard_member(sb, w->shared_name) : NULL;
        p->looked_up = 1;
        if (sb != NULL && p->shared == NULL)
            log_error(LOG_WARN, "proxy",
                      "all %d upstream slots of the scoreboard are taken: the error state and counters of %s "
                      "are this child's own",
                      SB_MEMBERS_MAX, w->shared_name);
    }
    return p->shared;
}

/* Whether an idle connection is still open and silent. */
static int still_open(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 0) == 0)
        return 1;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

int proxy_pool_take(const struct proxy_conf *pc, const struct proxy_worker *w, int64_t now)
{
    int fd = -1;
    int held = mutex_enter(&lock);
    struct wpool *p = pool_of(pc, w);
    while (p != NULL && p->n > 0 && fd < 0) {
        struct idle c = p->idle[--p->n]; /* the most recently used first: the least likely to be closed */
        if ((w->ttl > 0 && now - c.since > (int64_t)w->ttl * 1000) ||
            (!sockwatch_quiet(c.fd) && !still_open(c.fd)))
            sockwatch_close(c.fd);
        else
            fd = c.fd;
    }
    mutex_leave(&lock, held);
    return fd;
}

void proxy_pool_give(const struct proxy_conf *pc, const struct proxy_worker *w, int fd, int64_t now)
{
    int held = mutex_enter(&lock);
    struct wpool *p = w->disable_reuse ? NULL : pool_of(pc, w);
    if (p != NULL && p->n < w->max) {
        if (p->n == p->cap) {
            int cap = p->cap ? p->cap * 2 : 8;
            struct idle *grown = realloc(p->idle, sizeof(*grown) * (size_t)cap);
            if (grown != NULL) {
                p->idle = grown;
                p->cap = cap;
            }
        }
        if (p->n < p->cap) {
            p->idle[p->n].fd = fd;
            p->idle[p->n].since = now;
            p->n++;
            fd = -1;
        }
    }
    mutex_leave(&lock, held);
    if (fd >= 0)
        sockwatch_close(fd);
}

int proxy_pool_idle(const struct proxy_conf *pc, const struct proxy_worker *w)
{
    int held = mutex_enter(&lock);
    struct wpool *p = pool_of(pc, w);
    int n = p != NULL ? p->n : 0;
    mutex_leave(&lock, held);
    return n;
}

int proxy_connect_start(const struct proxy_worker *w, int *pending, const char **call)
{
    *pending = 0;
    int fd = socket(w->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *call = "socket";
        return -1;
    }
    /* a request body follows its head in a second send(): with Nagle's algorithm it would wait for the
     * upstream's delayed ACK of the head (40 ms on Linux), as a small POST did. Apache sets it too. */
    int one = 1, inet = w->addr.ss_family == AF_INET || w->addr.ss_family == AF_INET6;
    if (inet && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        log_error(LOG_DEBUG, "proxy", "setsockopt(TCP_NODELAY) failed: %s", strerror(errno));
    /* quick ACKs off: the handshake's last ACK then leaves with the request written right after it, not in a
     * segment of its own, as the listeners' ACK of a request leaves with the response (listen.c); px_recv()
     * in proxy.c turns them on when a response arrives in pieces */
    if (inet && util_quick_acks(fd, 0) < 0)
        log_error(LOG_DEBUG, "proxy", "setsockopt(TCP_QUICKACK) failed: %s", strerror(errno));
    /* keepalive=On: the kernel probes an idle connection (after net.ipv4.tcp_keepalive_time), so that one a
     * firewall has dropped is found dead instead of waited on */
    if (w->keepalive && setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0)
        log_error(LOG_DEBUG, "proxy", "setsockopt(SO_KEEPALIVE) failed: %s", strerror(errno));
    if (connect(fd, (const struct sockaddr *)&w->addr, w->addrlen) == 0)
        return fd;
    if (errno == EINPROGRESS) {
        *pending = 1;
        return fd;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    *call = "connect";
    return -1;
}

int proxy_connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        return errno;
    return err;
}

int proxy_worker_in_error(const struct proxy_conf *pc, const struct proxy_worker *w, int64_t now)
{
    int held = mutex_enter(&lock);
    struct wpool *p = pool_of(pc, w);
    struct sb_member *m = shared_of(p, w);
    int in_error = m != NULL ? now < atomic_load(&m->error_until) : p != NULL && now < p->error_until;
    mutex_leave(&lock, held);
    return in_error;
}

void proxy_worker_failed(const struct proxy_conf *pc, const struct proxy_worker *w, int64_t now)
{
    int held = mutex_enter(&lock);
    struct wpool *p = pool_of(pc, w);
    struct sb_member *m = shared_of(p, w);
    if (m != NULL)
        atomic_fetch_add(&m->failures, 1);
    if (p != NULL && w->retry > 0) {
        p->error_until = now + (int64_t)w->retry * 1000;
        if (m != NULL)
            atomic_store(&m->error_until, p->error_until);
    }
    mutex_leave(&lock, held);
}

int proxy_may_retry(int reused, int retried, enum http_method method, long long body_taken,
                    long long response_bytes)
{
    int idempotent = method == METHOD_GET || method == METHOD_HEAD || method == METHOD_OPTIONS ||
                     method == METHOD_TRACE || method == METHOD_PUT || method == METHOD_DELETE;
    return reused && !retried && idempotent && body_taken == 0 && response_bytes == 0;
}

/* The scoreboard slot of w, taken under the lock (the slot itself is atomics). */
static struct sb_member *member(const struct proxy_conf *pc, const struct proxy_worker *w)
{
    int held = mutex_enter(&lock);
    struct sb_member *m = shared_of(pool_of(pc, w), w);
    mutex_leave(&lock, held);
    return m;
}

void proxy_worker_begin(const struct proxy_conf *pc, const struct proxy_worker *w)
{
    struct sb_member *m = member(pc, w);
    if (m != NULL) {
        atomic_fetch_add(&m->elected, 1);
        atomic_fetch_add(&m->busy, 1);
    }
}

void proxy_worker_end(const struct proxy_conf *pc, const struct proxy_worker *w, unsigned long long sent,
                      unsigned long long rcvd)
{
    struct sb_member *m = member(pc, w);
    if (m != NULL) {
        atomic_fetch_sub(&m->busy, 1);
        atomic_fetch_add(&m->sent, sent);
        atomic_fetch_add(&m->rcvd, rcvd);
    }
}

int proxy_lb_choose(int n, enum proxy_lbmethod method, const int *usable, const int *factor, const int *busy,
                    int *lbstatus)
{
    int best = -1, total = 0;
    for (int i = 0; i < n; i++) {
        if (!usable[i])
            continue;
        lbstatus[i] += factor[i];
        total += factor[i];
        if (best < 0) {
            best = i;
            continue;
        }
        /* busy per loadfactor, compared without division: busy[i] / factor[i] < busy[best] / factor[best] */
        long long lhs = (long long)busy[i] * factor[best], rhs = (long long)busy[best] * factor[i];
        if (method == PROXY_LB_BYBUSYNESS && lhs != rhs) {
            if (lhs < rhs)
                best = i;
        } else if (lbstatus[i] > lbstatus[best]) {
            best = i;
        }
    }
    if (best >= 0)
        lbstatus[best] -= total;
    return best;
}

#define LB_MAX 64

const struct proxy_worker *proxy_balancer_pick(const struct proxy_conf *pc, const struct proxy_balancer *b,
                                               int64_t now, unsigned long long tried)
{
    int n = b->n_members < LB_MAX ? b->n_members : LB_MAX;
    int usable[LB_MAX] = {0}, factor[LB_MAX] = {0}, busy[LB_MAX] = {0}, lbstatus[LB_MAX] = {0},
        before[LB_MAX] = {0};
    struct sb_member *m[LB_MAX];
    static __thread int local_status[LB_MAX]; /* without a scoreboard (unit tests): this thread's scores */
    for (int i = 0; i < n; i++) {
        const struct proxy_worker *w = b->members[i];
        m[i] = member(pc, w);
        usable[i] = !((tried >> i) & 1) && !proxy_worker_in_error(pc, w, now);
        factor[i] = w->loadfactor > 0 ? w->loadfactor : 1;
        busy[i] = m[i] != NULL ? atomic_load(&m[i]->busy) : 0;
        lbstatus[i] = before[i] = m[i] != NULL ? atomic_load(&m[i]->lbstatus) : local_status[i];
    }
    int k = proxy_lb_choose(n, b->lbmethod, usable, factor, busy, lbstatus);
    /* the scores are shared by every child: each adds its change, so that concurrent choices add up */
    for (int i = 0; i < n; i++) {
        if (m[i] != NULL)
            atomic_fetch_add(&m[i]->lbstatus, lbstatus[i] - before[i]);
        else
            local_status[i] = lbstatus[i];
    }
    return k >= 0 ? b->members[k] : NULL;
}
