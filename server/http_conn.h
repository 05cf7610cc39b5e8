/*
 * The core: one HTTP/1.x connection as a state machine around llhttp. It never reads, writes, sleeps or
 * polls. An MPM reads into the space http_conn_read_space() gives, reports the count with http_conn_input(),
 * asks http_conn_output() what to write, reports what it wrote with http_conn_sent(), and calls
 * http_conn_timeout() when http_conn_deadline() passes. Every entry returns the state that says what the MPM
 * must do next.
 *
 * An idle keep-alive connection holds no buffers: the read buffer and the request pool are released when a
 * connection goes idle and taken again when bytes arrive, so the event MPM can hold thousands cheaply.
 */
#ifndef HTTPD_HTTP_CONN_H
#define HTTPD_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

struct server;
struct sb_worker;
struct vhost_set;
struct vhost;

enum conn_state {
    CONN_READ,      /* wants bytes; deadline: Timeout (408 when it passes mid-request) */
    CONN_WRITE,     /* output pending: call http_conn_output() */
    CONN_KEEPALIVE, /* idle between requests; deadline: KeepAliveTimeout (then close quietly) */
    CONN_WAIT,      /* a handler waits: for its own socket (http_conn_wait_fd(): then http_conn_ready()) or a
                       timer; call http_conn_timeout() at the deadline */
    CONN_CLOSE      /* done: close the socket (lingering if http_conn_linger() says so) */
};

#define CONN_IOV_MAX 16

/* The head is written with MSG_MORE when a file range of at most this many bytes follows, so that a small
 * response leaves in one segment. Not before a larger range: measured with loadtest/bench on a 100 KiB file,
 * the corked head made event serve 0.69x what nginx does, 1.01x without it; by hand later, one segment fewer
 * and less of the client's CPU, but twice the server's (27-29 against 15 us a request), spent in
 * tcp_write_xmit() with interrupts off (perf). */
#define CONN_MORE_MAX 16384

/* What to write now: either iovcnt > 0 memory buffers, or (iovcnt == 0) file_len bytes of file_fd at
 * file_off. No piece is empty. With iovcnt > 0, file_fd >= 0 is the file range that follows the buffers,
 * which a transport may start in the same write (TLS: one record for the head and the first bytes of the
 * file); -1 when none follows. */
struct conn_out {
    struct iovec iov[CONN_IOV_MAX];
    int iovcnt;
    int more; /* write the buffers with MSG_MORE: a small file range follows them, so that a small response
                 leaves in one segment rather than head and body apart (not before a large range); or they
                 end the connection's last response, so that the FIN of the close leaves with them */
    int file_fd;
    off_t file_off;
    size_t file_len;
};

struct http_conn;

/* A new connection from `peer`. NULL when out of memory. */
struct http_conn *http_conn_create(const struct server *s, const struct sockaddr *peer, socklen_t peerlen,
                                   int64_t now);

/* Ends the connection: closes files, logs an unfinished request, frees everything. */
void http_conn_destroy(struct http_conn *c);

/*
 * The local address the peer connected to, when the MPM knows it (optional): only whether it equals the
 * peer's address is kept, as request->peer_local (Apache's `Require local` counts such a client as local).
 */
void http_conn_set_local(struct http_conn *c, const struct sockaddr *local, socklen_t len);

/*
 * The <VirtualHost>s the connection's local address reaches (server/vhost.h: vhost_by_addr(), or the
 * listener's set); NULL, the default, for the main server. Each request is then served by the one its Host
 * names, else by the set's first.
 */
void http_conn_set_vhosts(struct http_conn *c, const struct vhost_set *set);

/*
 * The vhost the TLS server name (SNI) selected at the handshake (the transport's choice; the core knows no
 * TLS), only when the client sent one. Then, as mod_ssl: a request without Host gets 400, and one whose Host
 * selects another vhost with SSL settings not compatible with it (struct vhost's tls_setup) gets 421
 * Misdirected Request.
 */
void http_conn_set_sni(struct http_conn *c, const struct vhost *v);

/* Scoreboard slot to account requests and bytes to (NULL for none). */
void http_conn_set_slot(struct http_conn *c, struct sb_worker *slot);

/* Space to read into: *buf and *len (at least 1 byte). -1 when out of memory (close the connection). */
int http_conn_read_space(struct http_conn *c, char **buf, size_t *len);

/* A read into the space found nothing (EAGAIN): a connection with no byte of a request yet lets the buffer
 * go, so that a client silent after connecting costs no buffer while the MPM waits for it. */
void http_conn_read_blocked(struct http_conn *c);

/* `n` bytes were read into the space. */
enum conn_state http_conn_input(struct http_conn *c, size_t n, int64_t now);

/* The peer closed its side (read returned 0). */
enum conn_state http_conn_eof(struct http_conn *c, int64_t now);

/* Fills `out` with what to write now. Returns 0, or -1 if nothing is pending. */
int http_conn_output(struct http_conn *c, struct conn_out *out);

/* `n` bytes of what http_conn_output() gave were written. */
enum conn_state http_conn_sent(struct http_conn *c, size_t n, int64_t now);

/* The deadline passed: 408 mid-request, quiet close when idle, resume a waiting handler, close a stuck write.
 */
enum conn_state http_conn_timeout(struct http_conn *c, int64_t now);

/* What a handler in CONN_WAIT waits for on its socket. */
#define CONN_WAIT_IN  1 /* readable */
#define CONN_WAIT_OUT 2 /* writable */

/*
 * CONN_WAIT: the socket the handler waits on, with *events CONN_WAIT_IN or CONN_WAIT_OUT; -1 when it waits
 * for its deadline alone (a timer). The MPM waits for that socket and the deadline together, then calls
 * http_conn_ready() or http_conn_timeout(). The socket is the handler's: the MPM never reads or writes it,
 * and must stop watching it before calling the core (the handler may close it and open another).
 */
int http_conn_wait_fd(const struct http_conn *c, int *events);

/* CONN_WAIT: the handler's socket is ready; resumes the handler. */
enum conn_state http_conn_ready(struct http_conn *c, int64_t now);

/* A write failed (peer gone): log what was sent and close. */
enum conn_state http_conn_abort(struct http_conn *c);

/* The current state. */
enum conn_state http_conn_state(const struct http_conn *c);

/* CONN_READ in the middle of a request (some of it came, the rest is awaited: its head, or its body for the
 * core or a handler), not before its first byte. */
int http_conn_awaits_rest(const struct http_conn *c);

/* Monotonic ms at which http_conn_timeout() must be called. */
int64_t http_conn_deadline(const struct http_conn *c);

/* Whether to close lingeringly (the client may still be sending a body we did not read). */
int http_conn_linger(const struct http_conn *c);

/* Asks the connection to end at the next request boundary (graceful stop); returns the new state. */
enum conn_state http_conn_shutdown(struct http_conn *c);

/*
 * Asks the connection to end after the next response that starts, without ending it now even when it is
 * idle (a graceful restart): the client's next request, which may already be on its way, is answered with
 * Connection: close; an idle connection otherwise closes at KeepAliveTimeout as usual. The state is
 * unchanged.
 */
void http_conn_finish(struct http_conn *c);

/* Bytes this connection holds now (for tests of the idle footprint). */
size_t http_conn_footprint(const struct http_conn *c);

#endif
