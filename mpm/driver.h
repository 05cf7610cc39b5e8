/*
 * The drivers' toolkit: what every MPM does the same way around the core, written once. Accepting (what a
 * failed accept4() means and when to say so), an accepted socket's set-up, one read and one write of a
 * connection through the core, the lingering close's drain, the listeners a child can wait on, and the clamps
 * with which check_config fits a limit between 1 and its compile-time maximum, with Apache's warnings.
 *
 * The one thing to know: nothing here waits. Each MPM waits its own way (epoll in prefork, ppoll in worker's
 * listener, poll in serve.c, libevent in event); the toolkit only does the step after the wait and says what
 * the wait should be next.
 */
#ifndef HTTPD_DRIVER_H
#define HTTPD_DRIVER_H

#include <signal.h>
#include <sys/types.h>

#include "../server/http_conn.h"
#include "../server/transport.h"

struct server;
struct listener;
struct warnings;

#define DRIVER_LINGER_MS         2000 /* Apache's lingering close: read and drop for at most 2 s */
#define DRIVER_ACCEPT_BACKOFF_MS 100  /* pause after accept4() failed for lack of descriptors or memory */

/* ---- accepting ---- */

/* What to do after accept4() failed. */
enum driver_accept {
    DRIVER_ACCEPT_RETRY,   /* accept again now (interrupted, or that connection failed before it was ours) */
    DRIVER_ACCEPT_WAIT,    /* nothing is queued: wait for the listener's next wakeup */
    DRIVER_ACCEPT_BACKOFF, /* out of descriptors or memory: the connection stays queued; pause accepting for
                              DRIVER_ACCEPT_BACKOFF_MS rather than spin */
    DRIVER_ACCEPT_LEAVE    /* the listener itself failed: the child leaves and supervision replaces it */
};

/* A child's accepting, for the log: a resource error is logged once until an accept succeeds again. */
struct driver_acceptor {
    const char *module; /* "mpm_prefork" ... */
    int resource_logged;
};

/* Classifies errno `err` of a failed accept4(), logging what deserves it. */
enum driver_accept driver_accept_failed(struct driver_acceptor *a, int err);

/* After a successful accept4(): the next resource error is logged again. */
void driver_accepted(struct driver_acceptor *a);

/* Blocks for DRIVER_ACCEPT_BACKOFF_MS with `mask` as the signal mask (NULL: the current one). */
void driver_backoff(const struct driver_acceptor *a, const sigset_t *mask);

/*
 * For a new connection of s on fd, accepted from listener l (NULL: unknown): tells the core the vhosts it
 * reaches and, when the configuration needs it, the local address. One getsockname() a connection, only when
 * `Require local` needs it or vhosts of their own address share l's port; otherwise the listener tells the
 * vhosts (see server/vhost.h).
 */
void driver_conn_setup(const struct server *s, const struct listener *l, struct http_conn *c, int fd,
                       const char *module);

/* The listeners of s that are open; 0 (logged) when there is none for a child to wait on. */
int driver_listeners(const struct server *s, const char *module);

/*
 * A child's epoll set of the open listeners of s, each registered EPOLLEXCLUSIVE with the listener as
 * data.ptr, so that a new connection wakes one waiting child instead of every one (the thundering herd Apache
 * avoids with an accept mutex and nginx with the same flag). A reactor can watch the set's descriptor itself:
 * the exclusivity holds through the nesting. Returns the descriptor, or -1 (logged).
 */
int driver_listen_set(const struct server *s, const char *module);

/* ---- a connection's transport ---- */

/*
 * Makes t the transport of fd, accepted on l: plain, or TLS when l is https and the default server of the
 * connection's address has SSLEngine on (its context starts the handshake, to come: t->handshaking; the
 * server name then selects among the vhosts of that address). Returns 0, or -1 (logged) when out of memory
 * or the local address is unknown: the caller closes fd.
 */
int driver_transport_open(const struct server *s, const struct listener *l, struct transport *t, int fd,
                          const struct sockaddr *peer, socklen_t peerlen, const char *module);

/* What a step of the handshake came to. */
enum driver_handshake {
    DRIVER_HANDSHAKE_DONE,  /* the core can have the connection (driver_conn_start) */
    DRIVER_HANDSHAKE_WAIT,  /* wait for *want (TRANSPORT_WANT_READ or _WRITE), until the handshake deadline */
    DRIVER_HANDSHAKE_CLOSE, /* failed (logged at info): close */
    DRIVER_HANDSHAKE_LINGER /* failed after an answer was written (plain HTTP: 400; an alert): linger */
};

/* One step of t's handshake. */
enum driver_handshake driver_handshake(struct transport *t, int *want);

/* The handshake's deadline for a connection accepted at `now` (RequestReadTimeout handshake=, or Timeout). */
int64_t driver_handshake_deadline(const struct server *s, int64_t now);

/*
 * Gives the core a connection whose transport is ready, accepted on listener l (NULL: unknown):
 * http_conn_create() with the peer (NULL: the one the TLS transport kept), driver_conn_setup(), and the vhost
 * the TLS server name selected (http_conn_set_sni()). NULL when out of memory (logged).
 */
struct http_conn *driver_conn_start(const struct server *s, const struct listener *l, struct transport *t,
                                    const struct sockaddr *peer, socklen_t peerlen, const char *module);

/* ---- one step of a connection through the core ---- */

/*
 * Reads once through t into the core's space. Returns the core's new state; *blocked is set when nothing
 * could be read (EAGAIN) to what the transport waits for (TRANSPORT_WANT_READ, or _WRITE for TLS), *full
 * when the read filled the whole space (more may be waiting). Errors and EOF end in the core (logged at
 * debug). `now` is the monotonic ms the core is given (the reactor's time of the event under event).

 */
enum conn_state driver_read(struct http_conn *c, struct transport *t, enum conn_state st, const char *module,
                            int *blocked, int *full, int64_t now);

/*
 * Called by an MPM before it waits for the client's socket in CONN_READ. Accepted sockets start with the
 * kernel's quick ACKs off (listen.c), and the kernel itself goes back to delaying its ACKs once the server
 * answers promptly, so that a request is acknowledged by its response. But a client that sends a request in
 * pieces with Nagle's algorithm on holds each small piece until the one before is acknowledged, and would
 * wait out the delayed-ACK timer (40 ms) for each. So a wait for the rest of a request (its head, or its body
 * for the core or for a handler such as the proxy) turns quick ACKs back on (transport_quick_acks(): the ACK
 * due goes at once), at most once between two writes of the connection (driver_write() clears
 * t->quick_acks): a request that arrives whole costs nothing, one in pieces one setsockopt(). A wait for a
 * request's first byte does not. The TLS transport does the same at the end of a handshake whose last
 * flight was the client's (tls.c).
 */
void driver_await_rest(struct http_conn *c, struct transport *t);

/*
 * Writes once through t what the core has pending (buffers, corked when a small file range follows, or the
 * file range: sendfile(), SSL_sendfile() or read + SSL_write). Returns the core's new state; *blocked is set
 * when nothing could be written (EAGAIN) to what the transport waits for (TRANSPORT_WANT_WRITE, or _READ for
 * TLS). Errors end in the core (logged at debug). `now` as for driver_read().
 */
enum conn_state driver_write(struct http_conn *c, struct transport *t, const char *module, int *blocked,
                             int64_t now);

/*
 * Writes once through t what `out` describes; for blocking and non-blocking sockets alike. Returns the bytes
 * written, or -1 with errno set (EAGAIN/EINTR to retry; ENODATA when the file became shorter than the range).
 */
ssize_t driver_send(struct transport *t, const struct conn_out *out);

/*
 * Lingering close, after transport_close() (TLS: close_notify sent) and shutdown(SHUT_WR): reads from the
 * socket and drops what the peer still sends, undecrypted. Returns 1 when the socket can be closed (EOF or an
 * error), 0 when it would block (wait for readability, until the linger deadline).
 */
int driver_linger_drain(int fd);

/* ---- limits ---- */

#define DRIVER_FD_RESERVE 64 /* descriptors besides connections: listeners, logs, files being sent */

/*
 * Raises the soft RLIMIT_NOFILE toward *conns + DRIVER_FD_RESERVE (up to the hard limit), and lowers *conns,
 * with a warning into w naming `directive`, to what the limit allows. A failed getrlimit() or setrlimit() is
 * a warning too.
 */
void driver_fit_nofile(int *conns, const char *directive, struct warnings *w);

/* ---- check_config ---- */

/*
 * Fits *v between 1 and max with Apache's warnings: unset (-1) becomes `def` (which may stay -1 to be decided
 * later); above max, "NAME of V exceeds compile-time limit of MAX UNIT, decreasing to MAX" (without a unit:
 * "..., decreasing to match"); below 1, "NAME of V not allowed, increasing to 1". `end` closes the messages
 * ("" as prefork's, "." as worker's and event's).
 */
void driver_clamp(int *v, int def, int max, const char *name, const char *unit, const char *end,
                  struct warnings *w);

#endif
