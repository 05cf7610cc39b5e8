/*
 * worker: every child process runs ThreadsPerChild worker threads and one listener, the child's main thread.
 * The parent (server/process.c) keeps the idle threads of all children, counted from the scoreboard (a slot
 * per thread), between MinSpareThreads and MaxSpareThreads; this file holds the directives and the child.
 *
 * The one thing to know: the listener accepts only while a worker is idle. It counts the workers waiting for
 * a connection minus the connections already queued for them, polls the listening sockets only while that is
 * positive, and otherwise waits on an eventfd that the next worker to become idle writes. So a busy child
 * never takes a connection it cannot serve: the connection stays in the kernel's backlog for a child that
 * can.
 *
 * Signals: the child's signals (TERM, USR1, ...) are blocked in every thread and unblocked only inside the
 * listener's ppoll(), so the flags they set are read by the thread that set them and none is missed. When the
 * child leaves (graceful stop, too many spare threads, MaxConnectionsPerChild), the listener stops accepting
 * and sends each worker WORKER_WAKE_SIGNAL; its handler sets that thread's own `leaving` flag and interrupts
 * its poll, so serve_connection() ends an idle keep-alive connection at once and a request in progress at its
 * end. Connections already queued are still served. A wake-up that lands just before a poll is repeated.
 */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "mpm.h"
#include "../server/log.h"
#include "../server/process.h"
#include "../server/listen.h"
#include "../server/scoreboard.h"
#include "serve.h"

#define WORKER_MAX_SERVER_LIMIT 20000 /* Apache's MAX_SERVER_LIMIT for worker */
#define WORKER_MAX_THREAD_LIMIT 20000 /* Apache's MAX_THREAD_LIMIT */
#define DEFAULT_SERVER_LIMIT    16
#define DEFAULT_THREAD_LIMIT    64
#define DEFAULT_THREADS         25
#define DEFAULT_START_SERVERS   3
#define DEFAULT_MIN_SPARE       75     /* 3 children's worth of threads */
#define DEFAULT_MAX_SPARE       250    /* 10 children's worth */
#define DEFAULT_MAX_WORKERS     400    /* DEFAULT_SERVER_LIMIT x DEFAULT_THREADS */
#define WAKE_RETRY_MS           200    /* how often a leaving child repeats the wake-up of its busy workers */
#define WORKER_WAKE_SIGNAL      SIGURG /* ignored by default, so a stray one is harmless */
#define WORKER_THREAD_NAME      "httpd-worker"

#define CONF(field) offsetof(struct server, mpm_conf.field)

static const struct directive worker_directives[] = {
    {"StartServers", config_set_int, CONF(start_servers), "child processes created at startup (3)"},
    {"ServerLimit", config_set_int, CONF(server_limit), "child processes at most (16, at most 20000)"},
    {"ThreadsPerChild", config_set_int, CONF(threads_per_child), "worker threads in each child (25)"},
    {"ThreadLimit", config_set_int, CONF(thread_limit), "upper bound of ThreadsPerChild (64, at most 20000)"},
    {"MaxRequestWorkers", config_set_int, CONF(max_workers),
     "worker threads over all children, and so connections served at once, at most (400)"},
    {"MaxClients", config_set_int, CONF(max_workers), "old name of MaxRequestWorkers"},
    {"MinSpareThreads", config_set_int, CONF(min_spare),
     "idle worker threads kept at least, server-wide (75)"},
    {"MaxSpareThreads", config_set_int, CONF(max_spare),
     "idle worker threads kept at most, server-wide (250)"},
    {"MaxConnectionsPerChild", config_set_int, CONF(max_conn_per_child),
     "connections a child serves before it is replaced; 0 for no limit (0)"},
    {"MaxRequestsPerChild", config_set_int, CONF(max_conn_per_child), "old name of MaxConnectionsPerChild"},
    {NULL, NULL, 0, NULL},
};

/*
 * Fills the defaults and clamps as Apache's worker_check_config() and worker_run() do, with Apache's
 * messages. A value left unset follows the others without a warning (as in prefork.c): only what the config
 * says is reported. MinSpareThreads below ThreadsPerChild, MaxSpareThreads below MinSpareThreads +
 * ThreadsPerChild and StartServers above MaxRequestWorkers / ThreadsPerChild are adjusted silently, as Apache
 * does.
 */
static int worker_check_config(struct server *s, struct warnings *w, struct errbuf *err)
{
    struct mpm_conf *c = &s->mpm_conf;
    (void)err;

    driver_clamp(&c->server_limit, DEFAULT_SERVER_LIMIT, WORKER_MAX_SERVER_LIMIT, "ServerLimit", "servers",
                 ".", w);

    driver_clamp(&c->thread_limit, DEFAULT_THREAD_LIMIT, WORKER_MAX_THREAD_LIMIT, "ThreadLimit", "threads",
                 ".", w);

    if (c->threads_per_child < 0) {
        c->threads_per_child = DEFAULT_THREADS < c->thread_limit ? DEFAULT_THREADS : c->thread_limit;
    } else if (c->threads_per_child > c->thread_limit) {
        warnings_add(
            w,
            "ThreadsPerChild of %d exceeds ThreadLimit of %d threads, decreasing to %d. To increase, please "
            "see the ThreadLimit directive.",
            c->threads_per_child, c->thread_limit, c->thread_limit);
        c->threads_per_child = c->thread_limit;
    } else if (c->threads_per_child < 1) {
        warnings_add(w, "ThreadsPerChild of %d not allowed, increasing to 1.", c->threads_per_child);
        c->threads_per_child = 1;
    }
    int tpc = c->threads_per_child;

    int quiet = c->max_workers < 0;
    if (quiet)
        c->max_workers = DEFAULT_MAX_WORKERS;
    if (c->max_workers < tpc) {
        if (!quiet)
            warnings_add(
                w,
                "MaxRequestWorkers of %d is less than ThreadsPerChild of %d, increasing to %d. "
                "MaxRequestWorkers must be at least as large as the number of threads in a single server.",
                c->max_workers, tpc, tpc);
        c->max_workers = tpc;
    }
    int daemons = c->max_workers / tpc;
    if (c->max_workers % tpc != 0) {
        if (!quiet)
            warnings_add(
                w,
                "MaxRequestWorkers of %d is not an integer multiple of ThreadsPerChild of %d, decreasing to "
                "nearest multiple %d, for a maximum of %d servers.",
                c->max_workers, tpc, daemons * tpc, daemons);
        c->max_workers = daemons * tpc;
    }
    if (daemons > c->server_limit) {
        if (!quiet)
            warnings_add(
                w,
                "MaxRequestWorkers of %d would require %d servers and would exceed ServerLimit of %d, "
                "decreasing to %d. To increase, please see the ServerLimit directive.",
                c->max_workers, daemons, c->server_limit, c->server_limit * tpc);
        daemons = c->server_limit;
        c->max_workers = daemons * tpc;
    }

    if (c->start_servers < 0) {
        c->start_servers = DEFAULT_START_SERVERS;
    } else if (c->start_servers < 1) {
        warnings_add(w, "StartServers of %d not allowed, increasing to 1.", c->start_servers);
        c->start_servers = 1;
    }
    if (c->start_servers > daemons)
        c->start_servers = daemons;

    if (c->min_spare < 0) {
        c->min_spare = DEFAULT_MIN_SPARE;
    } else if (c->min_spare < 1) {
        warnings_add(
            w,
            "MinSpareThreads of %d not allowed, increasing to 1 to avoid almost certain server failure. "
            "Please read the documentation.",
            c->min_spare);
        c->min_spare = 1;
    }
    if (c->min_spare < tpc)
        c->min_spare = tpc;
    if (c->max_spare < 0)
        c->max_spare = DEFAULT_MAX_SPARE;
    if (c->max_spare < c->min_spare + tpc)
        c->max_spare = c->min_spare + tpc;

    if (c->max_conn_per_child < 0)
        c->max_conn_per_child = 0;
    c->max_conns = tpc;
    return 0;
}

/* ---- the queue from the listener to the workers ---- */

/* An accepted connection. */
struct conn_item {
    int fd;
    const struct listener *l; /* accepted on it: its TLS context, if any */
    socklen_t peerlen;
    struct sockaddr_storage peer;
};

/* A bounded FIFO ring; the caller holds the child's lock. */
struct conn_queue {
    struct conn_item *items;
    int cap, head, count;
};

static int queue_init(struct conn_queue *q, int cap)
{
    q->items = calloc((size_t)cap, sizeof(*q->items));
    q->cap = cap;
    q->head = 0;
    q->count = 0;
    return q->items != NULL ? 0 : -1;
}

static void queue_free(struct conn_queue *q)
{
    free(q->items);
    q->items = NULL;
}

/* Appends a copy of *it; -1 when full. */
static int queue_push(struct conn_queue *q, const struct conn_item *it)
{
    if (q->count >= q->cap)
        return -1;
    q->items[(q->head + q->count) % q->cap] = *it;
    q->count++;
    return 0;
}

/* Takes the oldest item; -1 when empty. */
static int queue_pop(struct conn_queue *q, struct conn_item *it)
{
    if (q->count == 0)
        return -1;
    *it = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return 0;
}

/* ---- the child ---- */

struct worker_child;

struct worker_thread {
    pthread_t tid;
    int index; /* its scoreboard slot in the child's row */
    int done;  /* under lock: it has left its loop (and may not be signalled any more) */
    struct worker_child *ch;
};

struct worker_child {
    const struct server *s;
    struct child_ctx *ctx;
    pthread_mutex_t lock;
    pthread_cond_t work; /* workers wait on it for a connection or for leaving */
    /* under lock: */
    struct conn_queue queue;
    int idle;             /* workers waiting for a connection, those with one queued included */
    int running;          /* worker threads that have not left their loop */
    int leaving;          /* no more connections will be queued */
    int listener_waiting; /* the listener sleeps until a worker becomes idle */
    /* fixed after start: */
    int wake_fd; /* eventfd: a worker became idle or left */
    struct worker_thread *threads;
    int nthreads; /* threads started */
};

/* Set in a worker thread by WORKER_WAKE_SIGNAL, read only by that thread (serve_connection's `leaving`). */
static __thread volatile sig_atomic_t thread_leaving;
/* What the wake-up sets it to: CHILD_LEAVE, or CHILD_LEAVE_AFTER_NEXT when a graceful restart retires us.
 * Written by the listener thread and read by the workers' handler: a lock-free atomic, which a handler may
 * read (a volatile sig_atomic_t is only for a handler of the thread that writes it). */
static atomic_int wake_mode = CHILD_LEAVE;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the wake-up handler reads wake_mode without a lock");

static void on_wake(int sig)
{
    (void)sig;
    thread_leaving = atomic_load(&wake_mode);
}

static void wake_listener(struct worker_child *ch)
{
    uint64_t one = 1;
    if (write(ch->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_error(LOG_ERR, "mpm_worker", "write() to eventfd failed: %s", strerror(errno));
}

static void drain_wakeups(struct worker_child *ch)
{
    uint64_t n;
    if (read(ch->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN && errno != EINTR)
        log_error(LOG_ERR, "mpm_worker", "read() from eventfd failed: %s", strerror(errno));
}

/* In a worker: waits for the next connection. Returns 0 with *it, or -1 when the child is leaving. */
static int next_connection(struct worker_child *ch, struct conn_item *it)
{
    int rc;

    pthread_mutex_lock(&ch->lock);
    ch->idle++;
    if (ch->listener_waiting && ch->idle > ch->queue.count) {
        ch->listener_waiting = 0;
        wake_listener(ch);
    }
    while (ch->queue.count == 0 && !ch->leaving)
        pthread_cond_wait(&ch->work, &ch->lock);
    ch->idle--;
    /* A connection accepted before the child began to leave is still served. */
    rc = queue_pop(&ch->queue, it);
    pthread_mutex_unlock(&ch->lock);
    return rc;
}

static void *worker_thread_main(void *arg)
{
    struct worker_thread *w = arg;
    struct worker_child *ch = w->ch;
    struct sb_worker *slot = scoreboard_worker(ch->ctx->sb, ch->ctx->slot, w->index);
    struct conn_item it;

    process_block_signals(1);
    /* a name that `top -H` and ps show; the listener keeps the process's */
    int rc = pthread_setname_np(pthread_self(), WORKER_THREAD_NAME);
    if (rc != 0)
        log_error(LOG_DEBUG, "mpm_worker", "pthread_setname_np() failed: %s", strerror(rc));
    scoreboard_set_state(slot, SB_READY);
    while (next_connection(ch, &it) == 0)
        serve_connection(ch->s, it.l, it.fd, (const struct sockaddr *)&it.peer, it.peerlen, slot,
                         &thread_leaving);
    /* Gone from the idle count at once, so that the parent replaces a child leaving on its own. */
    scoreboard_set_state(slot, SB_DEAD);

    pthread_mutex_lock(&ch->lock);
    w->done = 1;
    ch->running--;
    wake_listener(ch);
    pthread_mutex_unlock(&ch->lock);
    return NULL;
}

/* Queues an accepted connection for a worker; there is room, since only idle workers' share is accepted. */
static void hand_over(struct worker_child *ch, const struct conn_item *it)
{
    pthread_mutex_lock(&ch->lock);
    int rc = queue_push(&ch->queue, it);
    if (rc == 0)
        pthread_cond_signal(&ch->work);
    pthread_mutex_unlock(&ch->lock);
    if (rc < 0) {
        log_error(LOG_ERR, "mpm_worker", "connection queue full, closing a connection");
        if (close(it->fd) < 0)
            log_error(LOG_ERR, "mpm_worker", "close() failed: %s", strerror(errno));
    }
}

/*
 * The listener's loop: accepts while a worker is idle, until the child is asked to leave or has accepted
 * MaxConnectionsPerChild connections. fds[0] is the eventfd, fds[1] the listen set (driver_listen_set(): the
 * listeners registered EPOLLEXCLUSIVE, so that a new connection wakes one child's listener, not every one).
 */
static void listen_loop(struct worker_child *ch, struct pollfd fds[2], const sigset_t *wait_mask)
{
    struct epoll_event ready[16];
    int max_conns = ch->s->mpm_conf.max_conn_per_child, accepted = 0;
    struct driver_acceptor acceptor = {.module = "mpm_worker"};

    while (!process_child_leaving(ch->ctx)) {
        pthread_mutex_lock(&ch->lock);
        int room = ch->idle - ch->queue.count;
        ch->listener_waiting = room <= 0;
        pthread_mutex_unlock(&ch->lock);

        /* Without an idle worker only the eventfd is watched: the listening sockets are left to others. The
         * wait ends when the workers' buffered access log lines are due (BufferedLogs), never otherwise. */
        int due = log_flush_due(1);
        struct timespec ts = {.tv_sec = due / 1000, .tv_nsec = (long)(due % 1000) * 1000000L};
        int n = ppoll(fds, room > 0 ? 2 : 1, due >= 0 ? &ts : NULL, wait_mask);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error(LOG_ERR, "mpm_worker", "ppoll() failed: %s", strerror(errno));
            return;
        }
        if (fds[0].revents != 0)
            drain_wakeups(ch);
        n = room > 0 && fds[1].revents != 0 ? epoll_wait(fds[1].fd, ready, 16, 0) : 0;
        for (int i = 0; room > 0 && i < n && !process_child_leaving(ch->ctx); i++) {
            const struct listener *l = ready[i].data.ptr;
            struct conn_item it;
            it.peerlen = sizeof(it.peer);
            it.l = l;
            it.fd = accept4(l->fd, (struct sockaddr *)&it.peer, &it.peerlen, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (it.fd < 0) {
                /* retry or wait alike: the listener stays readable while anything is queued */
                enum driver_accept next = driver_accept_failed(&acceptor, errno);
                if (next == DRIVER_ACCEPT_LEAVE)
                    return;
                if (next == DRIVER_ACCEPT_BACKOFF)
                    driver_backoff(&acceptor, wait_mask);
                continue;
            }
            driver_accepted(&acceptor);
            hand_over(ch, &it);
            room--;
            if (max_conns > 0 && ++accepted >= max_conns)
                return;
        }
    }
}

/* No more connections; idle keep-alive connections end, the others finish; then joins every worker. */
static void stop_workers(struct worker_child *ch, const sigset_t *wait_mask)
{
    pthread_mutex_lock(&ch->lock);
    ch->leaving = 1;
    ch->listener_waiting = 0;
    pthread_cond_broadcast(&ch->work);
    pthread_mutex_unlock(&ch->lock);

    for (;;) {
        /* read again at each round: a stop that follows a restart ends the idle connections after all */
        atomic_store(&wake_mode,
                     *ch->ctx->leaving == CHILD_LEAVE_AFTER_NEXT ? CHILD_LEAVE_AFTER_NEXT : CHILD_LEAVE);
        pthread_mutex_lock(&ch->lock);
        int running = ch->running;
        /* Under the lock a thread not yet done cannot have exited, so pthread_kill() is safe. */
        for (int i = 0; i < ch->nthreads; i++) {
            if (ch->threads[i].done)
                continue;
            int rc = pthread_kill(ch->threads[i].tid, WORKER_WAKE_SIGNAL);
            if (rc != 0)
                log_error(LOG_ERR, "mpm_worker", "pthread_kill() failed: %s", strerror(rc));
        }
        pthread_mutex_unlock(&ch->lock);
        if (running == 0)
            break;
        struct pollfd pfd = {.fd = ch->wake_fd, .events = POLLIN};
        struct timespec ts = {.tv_sec = 0, .tv_nsec = WAKE_RETRY_MS * 1000000L};
        int n = ppoll(&pfd, 1, &ts, wait_mask);
        if (n < 0 && errno != EINTR)
            log_error(LOG_ERR, "mpm_worker", "ppoll() failed: %s", strerror(errno));
        if (n > 0)
            drain_wakeups(ch);
    }
    for (int i = 0; i < ch->nthreads; i++) {
        int rc = pthread_join(ch->threads[i].tid, NULL);
        if (rc != 0)
            log_error(LOG_ERR, "mpm_worker", "pthread_join() failed: %s", strerror(rc));
    }
}

static void worker_child_main(struct server *s, struct child_ctx *ctx)
{
    int tpc = s->mpm_conf.threads_per_child, sync_ready = 0;
    struct worker_child ch = {.s = s, .ctx = ctx, .wake_fd = -1};
    struct pollfd fds[2] = {{.fd = -1, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
    sigset_t wait_mask;
    struct sigaction sa;

    /* wait_mask: this thread's mask with the child's signals unblocked, used only inside ppoll(). */
    process_block_signals(0);
    int rc = pthread_sigmask(SIG_SETMASK, NULL, &wait_mask);
    if (rc != 0) {
        log_error(LOG_ERR, "mpm_worker", "pthread_sigmask() failed: %s", strerror(rc));
        goto fail;
    }
    /* Blocked before the workers start, so that they inherit it and never take the child's signals. */
    process_block_signals(1);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_wake;
    if (sigaction(WORKER_WAKE_SIGNAL, &sa, NULL) < 0) {
        log_error(LOG_ERR, "mpm_worker", "sigaction(SIGURG) failed: %s", strerror(errno));
        goto fail;
    }

    fds[1].fd = driver_listen_set(s, "mpm_worker");
    if (fds[1].fd < 0)
        goto fail;
    ch.threads = calloc((size_t)tpc, sizeof(*ch.threads));
    if (ch.threads == NULL || queue_init(&ch.queue, tpc) < 0) {
        log_error(LOG_ERR, "mpm_worker", "out of memory for %d threads", tpc);
        goto fail;
    }
    ch.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ch.wake_fd < 0) {
        log_error(LOG_ERR, "mpm_worker", "eventfd() failed: %s", strerror(errno));
        goto fail;
    }
    fds[0].fd = ch.wake_fd;

    rc = pthread_mutex_init(&ch.lock, NULL);
    if (rc == 0) {
        rc = pthread_cond_init(&ch.work, NULL);
        if (rc != 0)
            pthread_mutex_destroy(&ch.lock);
    }
    if (rc != 0) {
        log_error(LOG_ERR, "mpm_worker", "pthread_mutex_init() failed: %s", strerror(rc));
        goto fail;
    }
    sync_ready = 1;

    pthread_mutex_lock(&ch.lock);
    for (int t = 0; t < tpc; t++) {
        struct worker_thread *w = &ch.threads[t];
        w->index = t;
        w->ch = &ch;
        rc = pthread_create(&w->tid, NULL, worker_thread_main, w);
        if (rc != 0) {
            log_error(LOG_ALERT, "mpm_worker", "pthread_create() failed: %s, serving with %d of %d threads",
                      strerror(rc), t, tpc);
            for (int u = t; u < tpc; u++)
                scoreboard_set_state(scoreboard_worker(ctx->sb, ctx->slot, u), SB_DEAD);
            break;
        }
        ch.nthreads++;
        ch.running++;
    }
    pthread_mutex_unlock(&ch.lock);

    if (ch.nthreads > 0)
        listen_loop(&ch, fds, &wait_mask);
    stop_workers(&ch, &wait_mask);

fail:
    if (sync_ready) {
        pthread_cond_destroy(&ch.work);
        pthread_mutex_destroy(&ch.lock);
    }
    if ((ch.wake_fd >= 0 && close(ch.wake_fd) < 0) || (fds[1].fd >= 0 && close(fds[1].fd) < 0))
        log_error(LOG_ERR, "mpm_worker", "close() failed: %s", strerror(errno));
    queue_free(&ch.queue);
    free(ch.threads);
    /* with -X the process goes on after this: leave its signals as they were */
    process_block_signals(0);
}

static int worker_run(struct server *s)
{
    const struct mpm_conf *c = &s->mpm_conf;
    const struct process_policy policy = {
        .mpm_name = "worker",
        .start_children = c->start_servers,
        .min_spare = c->min_spare,
        .max_spare = c->max_spare,
        .max_children = c->max_workers / c->threads_per_child,
        .workers_per_child = c->threads_per_child,
        .limit_directive = "MaxRequestWorkers",
        .close_listeners_on_leave = 1,
        .child_main = worker_child_main,
    };
    return process_run(s, &policy);
}

const struct mpm mpm_worker = {
    .name = "worker",
    .caps = MPM_FORKED | MPM_THREADED,
    .directives = worker_directives,
    .check_config = worker_check_config,
    .run = worker_run,
};
