/* The plain transport (see transport.h): the socket's own system calls. */

#include <errno.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "transport.h"
#include "util.h"

static ssize_t plain_recv(struct transport *t, void *buf, size_t len)
{
    ssize_t n = read(t->fd, buf, len);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        t->want = TRANSPORT_WANT_READ;
    return n;
}

static ssize_t plain_send(struct transport *t, const struct iovec *iov, int iovcnt, int more)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n = sendmsg(t->fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        t->want = TRANSPORT_WANT_WRITE;
    return n;
}

static ssize_t plain_send_file(struct transport *t, int file_fd, off_t off, size_t len)
{
    ssize_t n = sendfile(t->fd, file_fd, &off, len);
    if (n == 0) {
        errno = ENODATA;
        return -1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        t->want = TRANSPORT_WANT_WRITE;
    return n;
}

const struct transport_ops transport_plain = {
    .name = "plain",
    .recv = plain_recv,
    .send = plain_send,
    .send_file = plain_send_file,
};

void transport_quick_acks(struct transport *t)
{
    if (t->quick_acks)
        return;
    t->quick_acks = 1;
    if (util_quick_acks(t->fd, 1) < 0)
        log_error(LOG_DEBUG, "core", "setsockopt(TCP_QUICKACK) failed: %s", strerror(errno));
}

void transport_close(struct transport *t)
{
    if (t->ops->close_notify != NULL && !t->handshaking)
        t->ops->close_notify(t);
    transport_free(t);
}

void transport_free(struct transport *t)
{
    if (t->ops->free != NULL)
        t->ops->free(t);
    t->priv = NULL;
}
