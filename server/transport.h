/*
 * A connection's transport: the layer its bytes go through below the core, as nginx swaps c->recv/c->send
 * for ngx_ssl_recv/ngx_ssl_write. The plain transport is the socket itself; TLS (server/tls.c) is the other.
 * The drivers (mpm/driver.c) read and write only through here, and the MPMs wait for what the transport says
 * it wants, so neither they nor the core know which transport a connection has.
 *
 * The one thing to know: a call that cannot go on returns -1 with errno EAGAIN and t->want saying which
 * readiness to wait for, which need not be the direction of the call (TLS writes can need a read, and reads a
 * write). The plain transport's calls are the system calls themselves: no copy, no extra syscall.
 */
#ifndef HTTPD_TRANSPORT_H
#define HTTPD_TRANSPORT_H

#include <sys/types.h>
#include <sys/uio.h>

enum transport_want {
    TRANSPORT_WANT_READ = 1, /* wait until the socket is readable */
    TRANSPORT_WANT_WRITE = 2 /* wait until it is writable */
};

struct transport;

struct transport_ops {
    const char *name; /* "plain", "tls": for the logs */
    /* Reads at most len bytes: > 0 bytes, 0 at the peer's end, or -1 with errno (EAGAIN: see want). */
    ssize_t (*recv)(struct transport *t, void *buf, size_t len);
    /* Writes the buffers (`more`: more follows soon, cork them): bytes written, or -1 with errno. */
    ssize_t (*send)(struct transport *t, const struct iovec *iov, int iovcnt, int more);
    /* Writes len bytes of file_fd at off: bytes written, or -1 with errno (ENODATA: the file is shorter). */
    ssize_t (*send_file)(struct transport *t, int file_fd, off_t off, size_t len);
    /* Writes the buffers and after them a first part of the len bytes of file_fd at off, in one go: bytes
     * written (the buffers' first, then the file's), or -1 with errno. Asked again after EAGAIN with the same
     * buffers and range. NULL: buffers and file are written apart (send, then send_file). */
    ssize_t (*send_with_file)(struct transport *t, const struct iovec *iov, int iovcnt, int file_fd,
                              off_t off, size_t len);
    /* Before the first recv: advances the handshake. 0 when done, -1 with errno (EAGAIN: see want; any other:
     * the connection is to be closed, `linger` set when something was written that the peer must read, as the
     * plain-HTTP 400 page or an alert). NULL: nothing to shake hands about. */
    int (*handshake)(struct transport *t, int *linger);
    /* Bytes the transport holds already decrypted, which a wait on the socket would not announce. NULL: none.
     */
    size_t (*pending)(const struct transport *t);
    /* Before the write side is shut (lingering close) or the socket closed: says goodbye (TLS close_notify),
     * as far as it can without blocking. NULL: nothing to say. */
    void (*close_notify)(struct transport *t);
    /* Frees what the transport holds (not the socket). NULL: nothing. */
    void (*free)(struct transport *t);
};

struct transport {
    const struct transport_ops *ops;
    int fd;
    short want;       /* enum transport_want of the last call that returned EAGAIN */
    char handshaking; /* the handshake is not done: call transport_handshake() before anything else */
    char quick_acks;  /* quick ACKs turned back on since the last write (mpm/driver.h) */
    void *priv;       /* the TLS state */
};

/* The plain socket. */
extern const struct transport_ops transport_plain;

/* Makes t the plain transport of fd. */
static inline void transport_plain_init(struct transport *t, int fd)
{
    t->ops = &transport_plain;
    t->fd = fd;
    t->want = 0;
    t->handshaking = 0;
    t->quick_acks = 0;
    t->priv = 0;
}

/* Decrypted bytes waiting in the transport: read them before waiting on the socket. */
static inline size_t transport_pending(const struct transport *t)
{
    return t->ops->pending != 0 ? t->ops->pending(t) : 0;
}

/* Turns the kernel's quick ACKs on t's socket back on, unless t->quick_acks says they are: an ACK the
 * kernel was delaying leaves now (mpm/driver.h says when this is wanted). A failure is logged at debug. */
void transport_quick_acks(struct transport *t);

/* Sends the goodbye of the transport, if it has one, then frees its state. The socket stays open. */
void transport_close(struct transport *t);

/* Frees the transport's state without a goodbye (the connection failed). The socket stays open. */
void transport_free(struct transport *t);

#endif
