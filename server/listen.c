/*
 * Listen: every listening socket is bound by the parent before it forks, so the children inherit them and a
 * graceful restart can keep them open. The sockets are non-blocking: an MPM waits for them to become readable
 * and then accepts, and a connection another child took first is just EAGAIN.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"
#include "listen.h"
#include "log.h"

#define LISTEN_DEFAULT_BACKLOG 511
/* What Apache asks of TCP_DEFER_ACCEPT: Linux turns it into SYN-ACK retransmissions, so a client that sends
 * nothing is handed over (or dropped) after about this many seconds */
#define LISTEN_DEFER_ACCEPT_SECS 30

/* Parses a port: decimal digits only, 1..65535. Returns it or -1. */
static int parse_port(const char *s)
{
    long long v = parse_uint(s);
    return v >= 1 && v <= 65535 ? (int)v : -1;
}

/* Resolves a host name or numeric address of the given family (AF_UNSPEC for either) into l->addr. */
static int parse_host(const char *host, int family, int port, struct listener *l, struct errbuf *err)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        return errbuf_set(err, "invalid address '%s': %s", host, gai_strerror(rc));
    memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
    l->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    if (l->addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&l->addr)->sin_port = htons((uint16_t)port);
    else if (l->addr.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&l->addr)->sin6_port = htons((uint16_t)port);
    else
        return errbuf_set(err, "invalid address '%s': not an IP address", host);
    return 0;
}

const char *listen_protocol(const struct listener *l, const char *given)
{
    static char buf[32];
    if (given == NULL) {
        const struct sockaddr *sa = (const struct sockaddr *)&l->addr;
        int port = sa->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)sa)->sin6_port)
                                             : ntohs(((const struct sockaddr_in *)sa)->sin_port);
        return port == 443 ? "https" : "http";
    }
    size_t i;
    for (i = 0; given[i] != '\0' && i < sizeof(buf) - 1; i++)
        buf[i] = (char)tolower((unsigned char)given[i]);
    buf[i] = '\0';
    return buf;
}

int listen_parse(const char *spec, struct listener *l, struct errbuf *err)
{
    char host[256];
    const char *port_str;
    int family = AF_UNSPEC;

    if (spec[0] == '[') {
        /* [v6addr]:port */
        const char *close = strchr(spec, ']');
        if (close == NULL || close[1] != ':')
            return errbuf_set(err, "invalid address '%s': expected [IPv6 address]:port", spec);
        size_t n = (size_t)(close - spec - 1);
        if (n == 0 || n >= sizeof(host))
            return errbuf_set(err, "invalid address '%s'", spec);
        memcpy(host, spec + 1, n);
        host[n] = '\0';
        port_str = close + 2;
        family = AF_INET6;
    } else {
        const char *colon = strrchr(spec, ':');
        if (colon == NULL) {
            host[0] = '\0';
            port_str = spec;
        } else {
            size_t n = (size_t)(colon - spec);
            if (n >= sizeof(host))
                return errbuf_set(err, "invalid address '%.*s'", (int)n, spec);
            memcpy(host, spec, n);
            host[n] = '\0';
            if (strchr(host, ':') != NULL)
                return errbuf_set(err, "invalid address '%s': write IPv6 addresses in brackets, as [%s]:%s",
                                  host, host, colon + 1);
            port_str = colon + 1;
        }
    }

    int port = parse_port(port_str);
    if (port < 0)
        return errbuf_set(err, "invalid port '%s'", port_str);

    memset(&l->addr, 0, sizeof(l->addr));
    l->fd = -1;
    if (host[0] == '\0' || strcmp(host, "*") == 0) {
        /* No address or "*": every IPv4 address, as Apache's "Listen 80" on a host without IPv6. */
        struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_port = htons((uint16_t)port);
        l->addrlen = sizeof(*sin);
        return 0;
    }
    return parse_host(host, family, port, l, err);
}

/* Formats an address as "1.2.3.4:80" or "[::1]:80" into buf. */
static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%u", ip, ntohs(sin6->sin6_port));
    } else {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, ntohs(sin->sin_port));
    }
}

int listen_deferred(const struct server *s, const struct listener *l)
{
    const char *protocol = l->protocol != NULL ? l->protocol : listen_protocol(l, NULL);
    for (const struct accept_filter *f = s->accept_filters; f != NULL; f = f->next)
        if (strcmp(f->protocol, protocol) == 0)
            return f->filter != NULL && strcmp(f->filter, "none") != 0;
    return 0;
}

/* Sets TCP_DEFER_ACCEPT on l's socket as AcceptFilter says (or clears it, for a socket kept over a restart).
 * A failure is only a warning, as in Apache: the listener works, it just wakes a process earlier. */
static void apply_accept_filter(const struct server *s, const struct listener *l, int kept)
{
    char name[INET6_ADDRSTRLEN + 16];
    int secs = listen_deferred(s, l) ? LISTEN_DEFER_ACCEPT_SECS : 0;
    if (secs == 0 && !kept)
        return; /* a new socket does not defer */
    if (setsockopt(l->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)) < 0) {
        format_addr(&l->addr, name, sizeof(name));
        log_error(LOG_WARN, "core", "setsockopt(TCP_DEFER_ACCEPT) for address %s failed: %s", name,
                  strerror(errno));
    }
}

/* Opens, binds and listens one socket. */
static int open_one(struct listener *l, int backlog, struct errbuf *err)
{
    char name[INET6_ADDRSTRLEN + 16];
    int one = 1;

    format_addr(&l->addr, name, sizeof(name));
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        errbuf_set(err, "socket() for address %s failed: %s", name, strerror(errno));
        goto fail;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
        errbuf_set(err, "setsockopt(SO_REUSEADDR) for address %s failed: %s", name, strerror(errno));
        goto fail;
    }
    /* Responses are written whole, so Nagle would only delay the last segment of each; an accepted socket
     * inherits TCP_NODELAY from its listener, which saves a setsockopt() per connection. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        errbuf_set(err, "setsockopt(TCP_NODELAY) for address %s failed: %s", name, strerror(errno));
        goto fail;
    }
    /* An IPv6 socket takes only IPv6, so "[::]:80" and "0.0.0.0:80" can both be listed. */
    if (l->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) {
        errbuf_set(err, "setsockopt(IPV6_V6ONLY) for address %s failed: %s", name, strerror(errno));
        goto fail;
    }
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0) {
        errbuf_set(err, "could not bind to address %s: %s", name, strerror(errno));
        goto fail;
    }
    if (listen(fd, backlog) < 0) {
        errbuf_set(err, "listen() on address %s failed: %s", name, strerror(errno));
        goto fail;
    }
    /* Quick ACKs off, inherited by accepted sockets as TCP_NODELAY is: the kernel then acknowledges a request
     * with the response that follows it, not with a segment of its own the moment it arrives, as it does at
     * a connection's start (one segment fewer a connection, which on loopback the client's CPU pays for).
     * driver_await_rest() turns them back on where that would make a client wait: see mpm/driver.h. */
    if (util_quick_acks(fd, 0) < 0)
        log_error(LOG_WARN, "core", "setsockopt(TCP_QUICKACK) for address %s failed: %s", name,
                  strerror(errno));
    l->fd = fd;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Binds every listener of s that has no socket yet. Returns 0, or -1 with err (the caller cleans up). */
static int open_missing(struct server *s, int backlog, struct errbuf *err)
{
    for (struct listener *l = s->listeners; l != NULL; l = l->next) {
        if (l->fd >= 0)
            continue;
        if (open_one(l, backlog, err) < 0)
            return -1;
        apply_accept_filter(s, l, 0);
    }
    return 0;
}

int listen_open(struct server *s, struct errbuf *err)
{
    int backlog = s->listen_backlog > 0 ? s->listen_backlog : LISTEN_DEFAULT_BACKLOG;

    if (s->listeners == NULL)
        return errbuf_set(err, "no listening sockets available: add a Listen directive");
    if (open_missing(s, backlog, err) < 0) {
        listen_close(s);
        return -1;
    }
    return 0;
}

/* old's listener on the same address as l, with an open socket, or NULL. */
static const struct listener *same_address(const struct server *old, const struct listener *l)
{
    for (const struct listener *o = old->listeners; o != NULL; o = o->next)
        if (o->fd >= 0 && o->addrlen == l->addrlen && memcmp(&o->addr, &l->addr, l->addrlen) == 0)
            return o;
    return NULL;
}

/* Whether fd is one of old's sockets. */
static int owned_by(const struct server *old, int fd)
{
    for (const struct listener *o = old->listeners; o != NULL; o = o->next)
        if (o->fd == fd)
            return 1;
    return 0;
}

int listen_open_from(struct server *s, const struct server *old, struct errbuf *err)
{
    int backlog = s->listen_backlog > 0 ? s->listen_backlog : LISTEN_DEFAULT_BACKLOG;
    char name[INET6_ADDRSTRLEN + 16];

    if (s->listeners == NULL)
        return errbuf_set(err, "no listening sockets available: add a Listen directive");
    for (struct listener *l = s->listeners; l != NULL; l = l->next) {
        const struct listener *o = same_address(old, l);
        if (o == NULL)
            continue;
        l->fd = o->fd;
        /* Linux applies a new backlog to a socket that already listens; the queued connections stay */
        if (listen(l->fd, backlog) < 0) {
            format_addr(&l->addr, name, sizeof(name));
            log_error(LOG_WARN, "core", "listen() on address %s to set ListenBacklog %d failed: %s", name,
                      backlog, strerror(errno));
        }
        apply_accept_filter(s, l, 1); /* the new configuration's AcceptFilter, either way */
    }
    if (open_missing(s, backlog, err) < 0) {
        listen_abandon(s, old);
        return -1;
    }
    return 0;
}

void listen_abandon(struct server *s, const struct server *old)
{
    for (struct listener *l = s->listeners; l != NULL; l = l->next) {
        if (l->fd >= 0 && !owned_by(old, l->fd) && close(l->fd) < 0)
            log_error(LOG_WARN, "core", "close() of listener %s failed: %s", l->spec ? l->spec : "?",
                      strerror(errno));
        l->fd = -1;
    }
}

void listen_release(struct server *old, const struct server *s)
{
    for (struct listener *o = old->listeners; o != NULL; o = o->next) {
        if (o->fd < 0)
            continue;
        if (!owned_by(s, o->fd)) {
            log_error(LOG_INFO, "core", "no longer listening on %s", o->spec ? o->spec : "?");
            if (close(o->fd) < 0)
                log_error(LOG_WARN, "core", "close() of listener %s failed: %s", o->spec ? o->spec : "?",
                          strerror(errno));
        }
        o->fd = -1;
    }
}

void listen_close(struct server *s)
{
    for (struct listener *l = s->listeners; l != NULL; l = l->next) {
        if (l->fd >= 0 && close(l->fd) < 0)
            log_error(LOG_WARN, "core", "close() of listener %s failed: %s", l->spec ? l->spec : "?",
                      strerror(errno));
        l->fd = -1;
    }
}

enum accept_error listen_accept_error(int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINTR:
        return ACCEPT_AGAIN;
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
    case EPERM: /* a firewall rule refused this connection */
        return ACCEPT_NEXT;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        return ACCEPT_RESOURCE;
    default:
        return ACCEPT_FATAL;
    }
}
