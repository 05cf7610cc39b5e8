/* The drivers' toolkit (see driver.h): the steps every MPM takes the same way around the core. */

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../server/listen.h"
#include "../server/log.h"
#include "../server/server.h"
#include "../server/tls.h"
#include "../server/util.h"
#include "../server/vhost.h"
#include "driver.h"

enum driver_accept driver_accept_failed(struct driver_acceptor *a, int err)
{
    switch (listen_accept_error(err)) {
    case ACCEPT_AGAIN:
        return err == EINTR ? DRIVER_ACCEPT_RETRY : DRIVER_ACCEPT_WAIT;
    case ACCEPT_NEXT:
        return DRIVER_ACCEPT_RETRY;
    case ACCEPT_RESOURCE:
        if (!a->resource_logged) {
            log_error(LOG_ERR, a->module, "accept4() failed: %s; pausing accepting, retrying every %d ms",
                      strerror(err), DRIVER_ACCEPT_BACKOFF_MS);
            a->resource_logged = 1;
        }
        return DRIVER_ACCEPT_BACKOFF;
    case ACCEPT_FATAL:
        break;
    }
    log_error(LOG_ERR, a->module, "accept4() failed: %s", strerror(err));
    return DRIVER_ACCEPT_LEAVE;
}

void driver_accepted(struct driver_acceptor *a)
{
    a->resource_logged = 0;
}

void driver_backoff(const struct driver_acceptor *a, const sigset_t *mask)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = DRIVER_ACCEPT_BACKOFF_MS * 1000000L};
    if (ppoll(NULL, 0, &ts, mask) < 0 && errno != EINTR)
        log_error(LOG_ERR, a->module, "ppoll() failed: %s", strerror(errno));
}

void driver_conn_setup(const struct server *s, const struct listener *l, struct http_conn *c, int fd,
                       const char *module)
{
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    int by_addr = s->vhosts != NULL && (l == NULL || l->vhosts_by_addr);
    if (l != NULL && !by_addr)
        http_conn_set_vhosts(c, l->vhosts);
    if (!s->need_local_addr && !by_addr)
        return;
    if (getsockname(fd, (struct sockaddr *)&local, &len) < 0) {
        log_error(LOG_ERR, module, "getsockname() failed: %s", strerror(errno));
        return;
    }
    if (s->need_local_addr)
        http_conn_set_local(c, (struct sockaddr *)&local, len);
    if (by_addr)
        http_conn_set_vhosts(c, vhost_by_addr(s, (struct sockaddr *)&local, len));
}

int driver_listen_set(const struct server *s, const char *module)
{
    if (driver_listeners(s, module) == 0)
        return -1;
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        log_error(LOG_ERR, module, "epoll_create1() failed: %s", strerror(errno));
        return -1;
    }
    for (const struct listener *l = s->listeners; l != NULL; l = l->next) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = (void *)l};
        if (l->fd >= 0 && epoll_ctl(epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0) {
            log_error(LOG_ERR, module, "epoll_ctl() of a listener failed: %s", strerror(errno));
            close(epfd);
            return -1;
        }
    }
    return epfd;
}

int driver_listeners(const struct server *s, const char *module)
{
    int n = 0;
    for (const struct listener *l = s->listeners; l != NULL; l = l->next)
        n += l->fd >= 0;
    if (n == 0)
        log_error(LOG_ERR, module, "no listening sockets available");
    return n;
}

int driver_transport_open(const struct server *s, const struct listener *l, struct transport *t, int fd,
                          const struct sockaddr *peer, socklen_t peerlen, const char *module)
{
    struct tls_ctx *ctx = l != NULL ? l->tls : NULL;
    const struct vhost_set *set = l != NULL ? l->vhosts : NULL;
    if (ctx != NULL && s->vhosts != NULL && l->vhosts_by_addr) {
        /* the default server of the connection's own address decides the handshake, as in Apache */
        struct sockaddr_storage local;
        socklen_t len = sizeof(local);
        if (getsockname(fd, (struct sockaddr *)&local, &len) < 0) {
            log_error(LOG_ERR, module, "getsockname() failed: %s", strerror(errno));
            return -1;
        }
        set = vhost_by_addr(s, (struct sockaddr *)&local, len);
        const struct vhost *d = vhost_default(s, set);
        ctx = d->tls != NULL && d->tls->engine ? d->tls->ctx : NULL;
    }
    if (ctx == NULL) {
        transport_plain_init(t, fd);
        return 0;
    }
    if (tls_transport_open(t, ctx, fd, peer, peerlen) < 0) {
        log_error(LOG_ERR, module, "out of memory for a TLS connection");
        return -1;
    }
    tls_transport_set_sni_arg(t, set);
    return 0;
}

enum driver_handshake driver_handshake(struct transport *t, int *want)
{
    int linger;
    if (t->ops->handshake == NULL || !t->handshaking) {
        t->handshaking = 0;
        return DRIVER_HANDSHAKE_DONE;
    }
    if (t->ops->handshake(t, &linger) == 0)
        return DRIVER_HANDSHAKE_DONE;
    if (errno == EAGAIN) {
        *want = t->want;
        return DRIVER_HANDSHAKE_WAIT;
    }
    return linger ? DRIVER_HANDSHAKE_LINGER : DRIVER_HANDSHAKE_CLOSE;
}

int64_t driver_handshake_deadline(const struct server *s, int64_t now)
{
    int secs = s->handshake_timeout.timeout > 0 ? s->handshake_timeout.timeout : s->timeout;
    return now + (int64_t)secs * 1000;
}

struct http_conn *driver_conn_start(const struct server *s, const struct listener *l, struct transport *t,
                                    const struct sockaddr *peer, socklen_t peerlen, const char *module)
{
    if (peer == NULL)
        peer = tls_transport_peer(t, &peerlen);
    struct http_conn *c = http_conn_create(s, peer, peerlen, now_ms());
    if (c == NULL) {
        log_error(LOG_ERR, module, "out of memory for a new connection");
        return NULL;
    }
    driver_conn_setup(s, l, c, t->fd, module);
    const struct vhost *sni = tls_transport_sni(t);
    if (sni != NULL)
        http_conn_set_sni(c, sni);
    return c;
}

enum conn_state driver_read(struct http_conn *c, struct transport *t, enum conn_state st, const char *module,
                            int *blocked, int *full, int64_t now)
{
    char *buf;
    size_t len;

    *blocked = *full = 0;
    if (http_conn_read_space(c, &buf, &len) < 0) {
        log_error(LOG_ERR, module, "out of memory for a read buffer");
        return http_conn_abort(c);
    }
    ssize_t n = t->ops->recv(t, buf, len);
    if (n > 0) {
        *full = (size_t)n == len;
        return http_conn_input(c, (size_t)n, now);
    }
    if (n == 0)
        return http_conn_eof(c, now);
    if (errno == EINTR)
        return st;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        *blocked = t->want;
        http_conn_read_blocked(c);
        return st;
    }
    log_error(LOG_DEBUG, module, "%s read failed: %s", t->ops->name, strerror(errno));
    return http_conn_abort(c);
}

void driver_await_rest(struct http_conn *c, struct transport *t)
{
    if (http_conn_awaits_rest(c))
        transport_quick_acks(t); /* once until the next write: t->quick_acks */
}

ssize_t driver_send(struct transport *t, const struct conn_out *out)
{
    if (out->iovcnt > 0 && out->file_fd >= 0 && t->ops->send_with_file != NULL)
        return t->ops->send_with_file(t, out->iov, out->iovcnt, out->file_fd, out->file_off, out->file_len);
    if (out->iovcnt > 0)
        return t->ops->send(t, out->iov, out->iovcnt, out->more);
    return t->ops->send_file(t, out->file_fd, out->file_off, out->file_len);
}

enum conn_state driver_write(struct http_conn *c, struct transport *t, const char *module, int *blocked,
                             int64_t now)
{
    struct conn_out out;

    *blocked = 0;
    if (http_conn_output(c, &out) < 0) {
        /* The state said WRITE but nothing is pending: end the connection rather than spin. */
        log_error(LOG_ERR, module, "connection in write state with no output pending");
        return http_conn_abort(c);
    }
    ssize_t n = driver_send(t, &out);
    if (n > 0) {
        t->quick_acks = 0; /* the kernel may delay its ACKs again after data leaves: driver.h */
        return http_conn_sent(c, (size_t)n, now);
    }
    if (errno == EINTR)
        return CONN_WRITE;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        *blocked = t->want;
        return CONN_WRITE;
    }
    log_error(LOG_DEBUG, module, "%s %s failed: %s", t->ops->name, out.iovcnt > 0 ? "write" : "file write",
              strerror(errno));
    return http_conn_abort(c);
}

int driver_linger_drain(int fd)
{
    char buf[2048];
    /* bounded, so that a peer that keeps sending cannot hold the caller */
    for (int i = 0; i < 4; i++) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        return 1;
    }
    return 0;
}

void driver_clamp(int *v, int def, int max, const char *name, const char *unit, const char *end,
                  struct warnings *w)
{
    if (*v < 0) {
        *v = def;
    } else if (*v > max) {
        if (unit != NULL)
            warnings_add(w, "%s of %d exceeds compile-time limit of %d %s, decreasing to %d%s", name, *v, max,
                         unit, max, end);
        else
            warnings_add(w, "%s of %d exceeds compile-time limit of %d, decreasing to match%s", name, *v, max,
                         end);
        *v = max;
    } else if (*v < 1) {
        warnings_add(w, "%s of %d not allowed, increasing to 1%s", name, *v, end);
        *v = 1;
    }
}

void driver_fit_nofile(int *conns, const char *directive, struct warnings *w)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)*conns + DRIVER_FD_RESERVE;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        warnings_add(w, "getrlimit(RLIMIT_NOFILE) failed: %s", strerror(errno));
        return;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        struct rlimit raised = rl;
        raised.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &raised) < 0)
            warnings_add(w, "setrlimit(RLIMIT_NOFILE) failed: %s", strerror(errno));
        else
            rl = raised;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        int fit = rl.rlim_cur > 2 * DRIVER_FD_RESERVE ? (int)(rl.rlim_cur - DRIVER_FD_RESERVE)
                                                      : (int)(rl.rlim_cur / 2);
        if (fit < 1)
            fit = 1;
        warnings_add(w, "%s of %d exceeds what RLIMIT_NOFILE of %llu descriptors allows, decreasing to %d",
                     directive, *conns, (unsigned long long)rl.rlim_cur, fit);
        *conns = fit;
    }
}
