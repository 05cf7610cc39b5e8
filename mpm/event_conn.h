/*
 * The event MPM's two halves share this (private to mpm/event.c and mpm/event_conn.c): the reactor of a child
 * (event.c: its life, accepting, signals) and its connections (event_conn.c: each connection's events as the
 * core's states ask, handshakes, handlers' waits, lingering closes).
 */
#ifndef HTTPD_EVENT_CONN_H
#define HTTPD_EVENT_CONN_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <sys/socket.h>

#include "../server/process.h"
#include "driver.h"
#include "event_watch.h"

#define MODULE       "mpm_event"
#define READ_ROUNDS  4  /* reads per wakeup while each fills the space the core gives */
#define WRITE_ROUNDS 16 /* writes per wakeup before yielding to other connections */

struct ewait; /* a handler's wait: its timer, its deadline, whether it goes on (event_conn.c) */

/* A connection: hc while the core drives it; before, the deadline of its handshake; once it closes
 * lingeringly, the deadline of that close. Every byte here is paid by each idle connection (10,000 idle ones
 * are held at about 0.4 KiB each): what only some connections need lives elsewhere (struct ewait), and what
 * only one phase needs shares its place with another's (x). The unit tests hold it to 208 bytes. */
struct econn {
    struct event ev; /* on the client's socket: EV_READ or EV_WRITE, as the state asks */
    union {
        struct http_conn *hc;
        int64_t handshake_until;
        int64_t linger_until;
    } u;
    struct econn *prev, *next; /* every connection of the child, for a graceful stop */
    struct transport t;        /* its socket, plain or TLS */
    union {
        const struct listener *l; /* before the core has it (a handshake): accepted on it, for its start */
        struct ewait *w;          /* once the core has it (`core`): a handler's wait, made at the first one */
    } x;
    struct uwatch *uw; /* the handler's socket it waits on (event_watch.c), or NULL */
    int64_t ev_at;     /* ev's timeout fires at the latest then (0: not known) ... */
    int32_t ev_ms;     /* ... having been added for this long: libevent adds it again for as long from each
                          wakeup (EV_PERSIST) */
    short what;        /* the events ev is assigned for (EV_ET, EV_CLOSED among them); -1 when not added */
    signed char want;  /* what the transport's last read or write waits for; 0 when it did not block */
    unsigned char idle : 1; /* counted in the scoreboard's idle_conns */
    unsigned char lingering : 1;
    unsigned char core : 1;   /* the core has the connection (u.hc, x.w) */
    unsigned char unread : 1; /* the last read filled its space: more may be there, which no edge tells */
    unsigned char rdhup : 1;  /* the client's FIN was reported (EV_CLOSED): level-triggered from then on */
};

/* The reactor of one child. */
struct reactor {
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
    int64_t now;    /* monotonic ms, read once per reactor callback (clock_now()): the time of that event */
    int leaving;    /* no more accepting: drain and exit */
    int leave_mode; /* CHILD_LEAVE, or CHILD_LEAVE_AFTER_NEXT (graceful restart: idle ones stay) */
    int edge_reads; /* the backend has EV_ET and EV_CLOSED (epoll): idle connections wait edge-triggered */
};

/* One reactor per process, so its state is the process's. */
extern struct reactor rx;

/* Adds or removes the listener events so that they are added exactly when accepting is allowed. */
void event_update_listening(void);

/* Reads the clock into rx.now, once per callback: what the connections' steps of that event go by (an event's
 * work takes microseconds; deadlines are in milliseconds). Returns it. */
int64_t econn_clock(void);

/* A new connection accepted on l: read at once (the request has usually arrived), or a TLS handshake begun.
 */
void econn_new(const struct listener *l, int fd, const struct sockaddr *peer, socklen_t peerlen);

/* CLOSE: ends the core's connection and closes the socket, lingeringly if the core asks for it. */
void econn_end(struct econn *e);

/* Forgets a closed connection; the last one of a leaving child ends the loop. */
void econn_free(struct econn *e);

/* Ends a handler's wait (before the core's connection is destroyed). */
void econn_unwait(struct econn *e);

/* Handlers' sockets are watched by this reactor from now on (event_watch.h), their waiters resumed here. */
void econn_watch_start(void);

#endif
