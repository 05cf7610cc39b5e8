/*
 * The event MPM's watch over handlers' sockets (an upstream connection of the proxy): each is registered in
 * the child's epoll set once, edge-triggered for reads and writes, at the first wait on it, and stays there
 * across the requests that take it from the proxy's pool until a handler closes it through sockwatch_close()
 * (server/sockwatch.h), as nginx keeps its upstream connections. A proxied request then costs no epoll_ctl(),
 * and the pool learns that the upstream closed an idle connection from the event itself, without a poll().
 *
 * The one thing to know: edge-triggered, an event comes once. What is reported while no handler waits is kept
 * (ready) and handed to the next wait for it, which then resumes at once; handlers read again rather than
 * wait after a read that filled their buffer (server/proxy.c), since what is left would not be announced
 * again.
 */
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>

#include "../server/log.h"
#include "../server/sockwatch.h"
#include "event_watch.h"

#define MODULE "mpm_event"

/* A handler's socket, registered edge-triggered from the first wait on it until it is closed. */
struct uwatch {
    struct event ev;
    void *waiter;         /* whose handler waits on it (a connection), or NULL */
    struct uwatch **slot; /* the waiter's pointer to this watch, cleared when the wait ends */
    short want;           /* what the waiter waits for: EV_READ or EV_WRITE */
    short ready;          /* EV_READ, EV_WRITE reported and not yet handed to a waiter */
    unsigned added : 1;   /* ev is in the epoll set */
};

static struct uwatch **watches; /* by socket number, made at a socket's first wait and kept for the next */
static int n_watches;
static struct event_base *base;
static void (*resume)(void *waiter);

/* The wait on w ends: neither knows the other any more. */
static void unwait(struct uwatch *w)
{
    if (w->slot != NULL)
        *w->slot = NULL;
    w->waiter = NULL;
    w->slot = NULL;
}

/* The watch of fd, made (not added) when there is none; NULL without memory. */
static struct uwatch *watch_of(int fd)
{
    if (fd >= n_watches) {
        int n = n_watches ? n_watches : 64;
        while (n <= fd)
            n *= 2;
        struct uwatch **grown = realloc(watches, sizeof(*grown) * (size_t)n);
        if (grown == NULL)
            return NULL;
        memset(grown + n_watches, 0, sizeof(*grown) * (size_t)(n - n_watches));
        watches = grown;
        n_watches = n;
    }
    if (watches[fd] == NULL)
        watches[fd] = calloc(1, sizeof(**watches));
    return watches[fd];
}

/* The watched socket is readable or writable (or failed: both): a waiter waiting for that resumes. */
static void watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct uwatch *w = arg;
    (void)fd;
    w->ready |= (short)(what & (EV_READ | EV_WRITE));
    void *waiter = w->waiter;
    if (waiter == NULL || !(w->ready & w->want))
        return;
    w->ready &= (short)~w->want;
    unwait(w);
    resume(waiter);
}

/* sockwatch's closing(): the socket leaves the epoll set before its number can be reused. */
static void watch_closing(int fd)
{
    struct uwatch *w = fd >= 0 && fd < n_watches ? watches[fd] : NULL;
    if (w == NULL || !w->added)
        return;
    unwait(w); /* none while handlers close what they no longer wait on; its deadline would end one */
    if (event_del(&w->ev) < 0)
        log_error(LOG_ERR, MODULE, "event_del() of a handler's socket failed");
    w->added = 0;
    w->ready = 0;
}

/* sockwatch's quiet(): watched, and nothing readable since the last wait on it ended. */
static int watch_quiet(int fd)
{
    struct uwatch *w = fd >= 0 && fd < n_watches ? watches[fd] : NULL;
    return w != NULL && w->added && !(w->ready & EV_READ);
}

static const struct sockwatch_ops watch_ops = {.closing = watch_closing, .quiet = watch_quiet};

void event_watch_start(struct event_base *b, void (*resume_waiter)(void *waiter))
{
    base = b;
    resume = resume_waiter;
    sockwatch_set(&watch_ops);
}

void event_watch_end(void)
{
    for (int fd = 0; fd < n_watches; fd++) {
        if (watches[fd] != NULL && watches[fd]->added)
            event_del(&watches[fd]->ev);
        free(watches[fd]);
    }
    free(watches);
    watches = NULL;
    n_watches = 0;
    base = NULL;
    sockwatch_set(NULL);
}

int event_watch_wait(void *waiter, struct uwatch **slot, int fd, short what)
{
    struct uwatch *w = watch_of(fd);
    if (w == NULL) {
        log_error(LOG_ERR, MODULE, "out of memory for a handler's socket");
        return 1; /* the handler tries again at once: its socket may well be ready */
    }
    if (!w->added) {
        event_assign(&w->ev, base, fd, EV_READ | EV_WRITE | EV_ET | EV_PERSIST, watch_cb, w);
        if (event_add(&w->ev, NULL) < 0) {
            log_error(LOG_ERR, MODULE, "event_add() of a handler's socket failed");
            return 1;
        }
        w->added = 1;
        w->ready = 0;
    }
    if (w->ready & what) {
        w->ready &= (short)~what;
        return 1;
    }
    w->waiter = waiter;
    w->slot = slot;
    w->want = what;
    *slot = w;
    return 0;
}

void event_watch_unwait(struct uwatch **slot)
{
    if (*slot != NULL)
        unwait(*slot);
}

void event_watch_check_new(int fd)
{
    if (fd < n_watches && watches[fd] != NULL && watches[fd]->added) {
        log_error(LOG_ERR, MODULE, "socket %d was closed while still watched", fd);
        watch_closing(fd);
    }
}
