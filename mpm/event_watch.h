/*
 * The event MPM's watch over handlers' sockets (mpm/event_watch.c): an upstream connection registered in the
 * child's epoll set once, edge-triggered, for its whole life; what it reports while nobody waits kept for the
 * next wait. Below the connections (event_conn.c), which it resumes through the function given at start.
 */
#ifndef HTTPD_EVENT_WATCH_H
#define HTTPD_EVENT_WATCH_H

#include <event2/event.h>

struct uwatch;

/* Handlers' sockets (server/sockwatch.h) are watched in base from now on; resume(waiter) is called when what
 * a waiter waits for is reported. event_watch_end() forgets them all (the reactor ends). */
void event_watch_start(struct event_base *base, void (*resume)(void *waiter));
void event_watch_end(void);

/* waiter waits for `what` (EV_READ or EV_WRITE) on fd: 1 when that was reported already (or fd cannot be
 * watched): resume it now; else 0 and *slot is the watch until the wait ends (cleared then). */
int event_watch_wait(void *waiter, struct uwatch **slot, int fd, short what);

/* The wait whose watch *slot holds ends (nothing when none). */
void event_watch_unwait(struct uwatch **slot);

/* A socket just accepted: a watch still registered under its number (a handler closed its socket without
 * sockwatch_close(), which is a bug) is dropped, logged, so that the new socket is not left unwatched. */
void event_watch_check_new(int fd);

#endif
