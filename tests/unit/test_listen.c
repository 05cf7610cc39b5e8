/*
 * Tests of server/listen.c: parsing Listen arguments (IPv4, IPv6, bad input), opening sockets on free ports
 * of the loopback address (port 0, then the port the kernel chose is written back, as a configuration would
 * name it), what a failed accept4() means, and handing sockets from one generation to the next on a restart
 * (listen_open_from, listen_release, listen_abandon): a connection queued on a kept socket survives it.
 * AcceptFilter: TCP_DEFER_ACCEPT on the listeners of a protocol whose filter is not "none", set or cleared
 * again on a restart. Nothing here needs root.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "server.h"
#include "util.h"

/* ---- parsing ---- */

static struct listener parse_ok(const char *spec)
{
    struct listener l;
    struct errbuf err;
    memset(&l, 0xff, sizeof(l));
    cr_assert_eq(listen_parse(spec, &l, &err), 0, "Listen %s: %s", spec, err.msg);
    cr_assert_eq(l.fd, -1, "Listen %s: not opened yet", spec);
    return l;
}

/* Parses spec, which must give an address of `family` (AF_INET, AF_INET6) written addr, and port. */
static void expect_addr(const char *spec, int family, const char *addr, int port)
{
    struct listener l = parse_ok(spec);
    int v4 = family == AF_INET;
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&l.addr;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&l.addr;
    char text[INET6_ADDRSTRLEN];
    cr_assert_eq(l.addr.ss_family, family, "Listen %s", spec);
    cr_assert_eq(l.addrlen, v4 ? sizeof(*sin) : sizeof(*sin6), "Listen %s", spec);
    cr_assert_not_null(inet_ntop(family, v4 ? (const void *)&sin->sin_addr : (const void *)&sin6->sin6_addr,
                                 text, sizeof(text)));
    cr_assert_str_eq(text, addr, "Listen %s", spec);
    cr_assert_eq(ntohs(v4 ? sin->sin_port : sin6->sin6_port), port, "Listen %s", spec);
}

static void expect_v4(const char *spec, const char *addr, int port)
{
    expect_addr(spec, AF_INET, addr, port);
}

static void expect_v6(const char *spec, const char *addr, int port)
{
    expect_addr(spec, AF_INET6, addr, port);
}

/* Parses a spec that must be refused; the message must contain `says`. */
static void expect_bad(const char *spec, const char *says)
{
    struct listener l;
    struct errbuf err = {""};
    cr_assert_eq(listen_parse(spec, &l, &err), -1, "Listen %s accepted", spec);
    cr_assert(strstr(err.msg, says) != NULL, "Listen %s: \"%s\" does not say \"%s\"", spec, err.msg, says);
}

Test(listen, parse_ipv4)
{
    expect_v4("8080", "0.0.0.0", 8080);
    expect_v4("*:80", "0.0.0.0", 80);
    expect_v4(":81", "0.0.0.0", 81);
    expect_v4("127.0.0.1:8080", "127.0.0.1", 8080);
    expect_v4("0.0.0.0:1", "0.0.0.0", 1);
    expect_v4("192.0.2.254:65535", "192.0.2.254", 65535);
}

Test(listen, parse_ipv6)
{
    expect_v6("[::1]:8080", "::1", 8080);
    expect_v6("[::]:443", "::", 443);
    expect_v6("[2001:db8::17]:80", "2001:db8::17", 80);
    expect_v6("[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80);
}

Test(listen, parse_bad_ports)
{
    expect_bad("0", "invalid port '0'");
    expect_bad("65536", "invalid port '65536'");
    expect_bad("99999999999999999999999", "invalid port");
    expect_bad("", "invalid port ''");
    expect_bad("http", "invalid port 'http'");
    expect_bad("80a", "invalid port '80a'");
    expect_bad("-80", "invalid port '-80'");
    expect_bad("+80", "invalid port '+80'");
    expect_bad(" 80", "invalid port ' 80'");
    expect_bad("127.0.0.1:", "invalid port ''");
    expect_bad("127.0.0.1", "invalid port '127.0.0.1'");
    expect_bad("[::1]:", "invalid port ''");
    expect_bad("[::1]:0", "invalid port '0'");
}

Test(listen, parse_bad_addresses)
{
    expect_bad("::1:80", "write IPv6 addresses in brackets, as [::1]:80");
    expect_bad("[::1]", "expected [IPv6 address]:port");
    expect_bad("[::1]80", "expected [IPv6 address]:port");
    expect_bad("[::1:80", "expected [IPv6 address]:port");
    expect_bad("[]:80", "invalid address");
    expect_bad("[127.0.0.1]:80", "invalid address '127.0.0.1'"); /* brackets are for IPv6 only */
    /* (names that are no address at all go to the resolver, which a unit test leaves alone) */
    char longhost[400];
    memset(longhost, 'a', 300);
    strcpy(longhost + 300, ":80");
    expect_bad(longhost, "invalid address");
}

/* ---- opening ---- */

/* A server with no listeners yet. */
static struct server *new_server(int backlog)
{
    struct server *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    s->listen_backlog = backlog;
    return s;
}

/* Appends a listener for 127.0.0.1:port; port 0 asks the kernel for a free one when it opens. */
static struct listener *add_loopback(struct server *s, int port)
{
    struct listener *l = calloc(1, sizeof(*l)), **tail = &s->listeners;
    struct errbuf err;
    cr_assert_not_null(l);
    cr_assert_eq(listen_parse("127.0.0.1:1", l, &err), 0, "%s", err.msg);
    ((struct sockaddr_in *)&l->addr)->sin_port = htons((uint16_t)port);
    l->spec = "127.0.0.1";
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = l;
    return l;
}

/* The port l's socket is bound to, written back into l->addr as a configuration would name it. */
static int bound_port(struct listener *l)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    cr_assert_geq(l->fd, 0);
    cr_assert_eq(getsockname(l->fd, (struct sockaddr *)&ss, &len), 0, "getsockname: %s", strerror(errno));
    cr_assert_eq(len, l->addrlen);
    memcpy(&l->addr, &ss, len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    cr_assert_gt(port, 0);
    return port;
}

static void free_server(struct server *s)
{
    listen_close(s);
    while (s->listeners != NULL) {
        struct listener *l = s->listeners;
        s->listeners = l->next;
        free(l);
    }
    free(s);
}

static int fd_open(int fd)
{
    return fd >= 0 && fcntl(fd, F_GETFD) != -1;
}

/* A client connection to 127.0.0.1:port (blocking connect: the backlog takes it). */
static int connect_to(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect to %d: %s", port,
                 strerror(errno));
    return fd;
}

/* Accepts one connection from the listening socket, waiting up to a second; returns it. */
static int accept_one(int lfd)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 1000), 1, "nothing to accept");
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(fd, 0, "accept4: %s", strerror(errno));
    return fd;
}

/* A queued connection carries bytes from the client to whoever accepts it. */
static void expect_carries(int lfd, int client, const char *msg)
{
    char buf[64] = "";
    int fd = accept_one(lfd);
    cr_assert_eq(write(client, msg, strlen(msg)), (ssize_t)strlen(msg));
    cr_assert_eq(read(fd, buf, sizeof(buf) - 1), (ssize_t)strlen(msg));
    cr_assert_str_eq(buf, msg);
    close(fd);
}

Test(listen, open_on_port_zero)
{
    struct server *s = new_server(0);
    struct listener *a = add_loopback(s, 0), *b = add_loopback(s, 0);
    struct errbuf err;

    cr_assert_eq(listen_open(s, &err), 0, "%s", err.msg);
    int pa = bound_port(a), pb = bound_port(b);
    cr_assert_neq(pa, pb);
    for (struct listener *l = s->listeners; l != NULL; l = l->next) {
        int flags = fcntl(l->fd, F_GETFL), fdflags = fcntl(l->fd, F_GETFD), one = 0, accepting = 0;
        socklen_t len = sizeof(one);
        cr_assert(flags & O_NONBLOCK, "an MPM polls, then accepts: the socket must not block");
        cr_assert(fdflags & FD_CLOEXEC, "not inherited by programs the server runs");
        cr_assert_eq(getsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, &len), 0);
        cr_assert(one, "SO_REUSEADDR");
        len = sizeof(accepting);
        cr_assert_eq(getsockopt(l->fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len), 0);
        cr_assert(accepting, "listening");
        len = sizeof(one);
        one = 0;
        cr_assert_eq(getsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, &len), 0);
        cr_assert(one, "TCP_NODELAY, which accepted sockets inherit");
    }
    /* nothing queued: a non-blocking accept says so at once */
    cr_assert_eq(accept4(a->fd, NULL, NULL, 0), -1);
    cr_assert_eq(listen_accept_error(errno), ACCEPT_AGAIN);

    int c = connect_to(pb);
    int accepted = accept4(b->fd, NULL, NULL, 0), nodelay = 0;
    socklen_t nlen = sizeof(nodelay);
    cr_assert_geq(accepted, 0);
    cr_assert_eq(getsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &nodelay, &nlen), 0);
    cr_assert(nodelay, "an accepted socket has TCP_NODELAY without a setsockopt() of its own");
    int quick = 1;
    nlen = sizeof(quick);
    cr_assert_eq(getsockopt(accepted, IPPROTO_TCP, TCP_QUICKACK, &quick, &nlen), 0);
    cr_assert_not(quick, "an accepted socket delays its ACKs from the start (the listener's TCP_QUICKACK 0)");
    close(accepted);
    close(c);
    c = connect_to(pb);
    expect_carries(b->fd, c, "hello");
    close(c);

    int fa = a->fd, fb = b->fd;
    listen_close(s);
    cr_assert_eq(a->fd, -1);
    cr_assert_eq(b->fd, -1);
    cr_assert_not(fd_open(fa));
    cr_assert_not(fd_open(fb));
    free_server(s);
}

Test(listen, open_ipv6_loopback)
{
    struct server *s = new_server(16);
    struct listener *l = calloc(1, sizeof(*l));
    struct errbuf err;
    cr_assert_not_null(l);
    cr_assert_eq(listen_parse("[::1]:1", l, &err), 0, "%s", err.msg);
    ((struct sockaddr_in6 *)&l->addr)->sin6_port = 0;
    s->listeners = l;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 lo = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&lo, sizeof(lo)) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6) {
        free_server(s);
        cr_skip_test("no IPv6 loopback here");
    }

    cr_assert_eq(listen_open(s, &err), 0, "%s", err.msg);
    int v6only = 0;
    socklen_t len = sizeof(v6only);
    cr_assert_eq(getsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len), 0);
    cr_assert(v6only, "[::]:80 and 0.0.0.0:80 can both be listed");
    free_server(s);
}

Test(listen, open_without_listeners)
{
    struct server *s = new_server(0);
    struct errbuf err = {""};
    cr_assert_eq(listen_open(s, &err), -1);
    cr_assert_str_eq(err.msg, "no listening sockets available: add a Listen directive");
    free_server(s);
}

Test(listen, open_failure_closes_what_was_opened)
{
    struct server *holder = new_server(0), *s = new_server(0);
    struct errbuf err = {""};

    add_loopback(holder, 0);
    cr_assert_eq(listen_open(holder, &err), 0, "%s", err.msg);
    int taken = bound_port(holder->listeners);

    struct listener *first = add_loopback(s, 0);
    add_loopback(s, taken);
    cr_assert_eq(listen_open(s, &err), -1);
    char want[128];
    snprintf(want, sizeof(want), "could not bind to address 127.0.0.1:%d: %s", taken, strerror(EADDRINUSE));
    cr_assert_str_eq(err.msg, want);
    cr_assert_eq(first->fd, -1, "the socket bound before the failure is closed");
    for (struct listener *l = s->listeners; l != NULL; l = l->next)
        cr_assert_eq(l->fd, -1);
    free_server(s);
    free_server(holder);
}

/* ---- accept errors ---- */

Test(listen, accept_error_classification)
{
    static const struct {
        int err;
        enum accept_error want;
    } cases[] = {
        {EAGAIN, ACCEPT_AGAIN},      {EWOULDBLOCK, ACCEPT_AGAIN}, {EINTR, ACCEPT_AGAIN},
        {ECONNABORTED, ACCEPT_NEXT}, {EPROTO, ACCEPT_NEXT},       {ENETDOWN, ACCEPT_NEXT},
        {ENOPROTOOPT, ACCEPT_NEXT},  {EHOSTDOWN, ACCEPT_NEXT},    {ENONET, ACCEPT_NEXT},
        {EHOSTUNREACH, ACCEPT_NEXT}, {EOPNOTSUPP, ACCEPT_NEXT},   {ENETUNREACH, ACCEPT_NEXT},
        {EPERM, ACCEPT_NEXT},        {EMFILE, ACCEPT_RESOURCE},   {ENFILE, ACCEPT_RESOURCE},
        {ENOBUFS, ACCEPT_RESOURCE},  {ENOMEM, ACCEPT_RESOURCE},   {EBADF, ACCEPT_FATAL},
        {ENOTSOCK, ACCEPT_FATAL},    {EINVAL, ACCEPT_FATAL},      {EFAULT, ACCEPT_FATAL},
        {0, ACCEPT_FATAL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(listen_accept_error(cases[i].err), cases[i].want, "errno %d (%s)", cases[i].err,
                     strerror(cases[i].err));
}

Test(listen, accept_error_from_a_socket_that_does_not_listen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(accept4(fd, NULL, NULL, 0), -1);
    cr_assert_eq(listen_accept_error(errno), ACCEPT_FATAL, "accept4 on a socket that never listened: %s",
                 strerror(errno));
    close(fd);
}

/* ---- restarts ---- */

/* The old generation: two listeners on free ports, open, their ports written back. */
static struct server *old_generation(int *kept_port, int *gone_port)
{
    struct server *old = new_server(0);
    struct errbuf err;
    add_loopback(old, 0);
    add_loopback(old, 0);
    cr_assert_eq(listen_open(old, &err), 0, "%s", err.msg);
    *kept_port = bound_port(old->listeners);
    *gone_port = bound_port(old->listeners->next);
    return old;
}

Test(listen, restart_keeps_the_socket_of_an_unchanged_address)
{
    int kept, gone;
    struct server *old = old_generation(&kept, &gone);
    struct listener *old_kept = old->listeners, *old_gone = old->listeners->next;
    int kept_fd = old_kept->fd, gone_fd = old_gone->fd;
    struct errbuf err;

    /* a client waits in the backlog while the restart happens */
    int waiting = connect_to(kept);

    struct server *s = new_server(64);
    struct listener *same = add_loopback(s, kept), *fresh = add_loopback(s, 0);
    cr_assert_eq(listen_open_from(s, old, &err), 0, "%s", err.msg);
    cr_assert_eq(same->fd, kept_fd, "the very socket is taken over");
    cr_assert_geq(fresh->fd, 0);
    cr_assert_neq(fresh->fd, kept_fd);
    cr_assert_neq(fresh->fd, gone_fd);
    int fresh_port = bound_port(fresh);
    /* until released, the old generation still has all of its own */
    cr_assert_eq(old_kept->fd, kept_fd);
    cr_assert_eq(old_gone->fd, gone_fd);

    listen_release(old, s);
    cr_assert_eq(old_kept->fd, -1, "forgotten by the old generation");
    cr_assert_eq(old_gone->fd, -1);
    cr_assert(fd_open(kept_fd), "still open: the new generation has it");
    cr_assert_not(fd_open(gone_fd), "an address that went away is closed");

    expect_carries(same->fd, waiting, "queued before the restart");
    close(waiting);
    int c = connect_to(fresh_port);
    expect_carries(fresh->fd, c, "new address");
    close(c);

    free_server(old); /* nothing left to close there */
    cr_assert(fd_open(kept_fd));
    free_server(s);
    cr_assert_not(fd_open(kept_fd));
}

Test(listen, abandoned_restart_leaves_the_old_generation_as_it_was)
{
    int kept, gone;
    struct server *old = old_generation(&kept, &gone);
    int kept_fd = old->listeners->fd, gone_fd = old->listeners->next->fd;
    struct errbuf err;

    struct server *s = new_server(0);
    struct listener *same = add_loopback(s, kept), *fresh = add_loopback(s, 0);
    cr_assert_eq(listen_open_from(s, old, &err), 0, "%s", err.msg);
    int fresh_fd = fresh->fd;
    cr_assert_geq(fresh_fd, 0);

    /* a later step of the restart failed */
    listen_abandon(s, old);
    cr_assert_eq(same->fd, -1);
    cr_assert_eq(fresh->fd, -1);
    cr_assert_not(fd_open(fresh_fd), "what the new generation bound is closed");
    cr_assert_eq(old->listeners->fd, kept_fd);
    cr_assert_eq(old->listeners->next->fd, gone_fd);
    cr_assert(fd_open(kept_fd) && fd_open(gone_fd), "the old generation keeps serving on its own");

    int c = connect_to(kept);
    expect_carries(kept_fd, c, "still served");
    close(c);
    free_server(s);
    free_server(old);
}

Test(listen, failed_restart_closes_only_what_it_bound)
{
    int kept, gone;
    struct server *old = old_generation(&kept, &gone);
    struct server *holder = new_server(0);
    struct errbuf err = {""};
    int kept_fd = old->listeners->fd, gone_fd = old->listeners->next->fd;

    add_loopback(holder, 0);
    cr_assert_eq(listen_open(holder, &err), 0, "%s", err.msg);
    int taken = bound_port(holder->listeners);

    /* kept address, a new one that binds, then one that cannot be bound */
    struct server *s = new_server(0);
    struct listener *same = add_loopback(s, kept), *fresh = add_loopback(s, 0),
                    *busy = add_loopback(s, taken);
    cr_assert_eq(listen_open_from(s, old, &err), -1);
    cr_assert(strstr(err.msg, "could not bind to address 127.0.0.1:") != NULL, "%s", err.msg);
    cr_assert_eq(same->fd, -1);
    cr_assert_eq(fresh->fd, -1);
    cr_assert_eq(busy->fd, -1);
    cr_assert(fd_open(kept_fd) && fd_open(gone_fd), "the old generation's sockets are untouched");
    cr_assert_eq(old->listeners->fd, kept_fd);

    /* and it can try again once the address is free */
    free_server(holder);
    cr_assert_eq(listen_open_from(s, old, &err), 0, "%s", err.msg);
    cr_assert_eq(same->fd, kept_fd);
    cr_assert_geq(busy->fd, 0);
    listen_release(old, s);
    cr_assert_not(fd_open(gone_fd));
    free_server(old);
    free_server(s);
}

Test(listen, restart_without_listeners)
{
    int kept, gone;
    struct server *old = old_generation(&kept, &gone);
    struct server *s = new_server(0);
    struct errbuf err = {""};
    cr_assert_eq(listen_open_from(s, old, &err), -1);
    cr_assert_str_eq(err.msg, "no listening sockets available: add a Listen directive");
    cr_assert(fd_open(old->listeners->fd));
    free_server(s);
    free_server(old);
}

/* ---- AcceptFilter ---- */

/* TCP_DEFER_ACCEPT as the kernel reports it on fd (0: not deferred). */
static int defer_accept(int fd)
{
    int secs = -1;
    socklen_t len = sizeof(secs);
    cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, &len), 0, "%s", strerror(errno));
    return secs;
}

Test(listen, accept_filter_defers_until_data_and_a_restart_applies_the_new_one)
{
    struct accept_filter https_none = {.protocol = "https", .filter = "none"};
    struct accept_filter http_data = {.protocol = "http", .filter = "data", .next = &https_none};
    struct server *s = new_server(0);
    s->accept_filters = &http_data;
    struct listener *plain = add_loopback(s, 0), *tls = add_loopback(s, 0), *other = add_loopback(s, 0);
    plain->protocol = "http";
    tls->protocol = "https";
    other->protocol = "ftp";
    cr_assert(listen_deferred(s, plain));
    cr_assert_not(listen_deferred(s, tls), "none is no filter");
    cr_assert_not(listen_deferred(s, other), "a protocol without a filter has none");
    http_data.filter = "httpready"; /* Linux knows only one filter: every name but none is it, as in Apache */
    cr_assert(listen_deferred(s, plain));
    http_data.filter = "data";

    struct errbuf err;
    cr_assert_eq(listen_open(s, &err), 0, "%s", err.msg);
    cr_assert_gt(defer_accept(plain->fd), 0);
    cr_assert_eq(defer_accept(tls->fd), 0);
    cr_assert_eq(defer_accept(other->fd), 0);

    /* the kernel completes the handshake, but hands the connection over only with its first bytes */
    int port = bound_port(plain);
    int c = connect_to(port);
    struct pollfd p = {.fd = plain->fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 300), 0, "a connection that sent nothing is not ready to be accepted");
    cr_assert_eq(write(c, "GET", 3), 3);
    cr_assert_eq(poll(&p, 1, 1000), 1, "its first bytes make it acceptable");
    int fd = accept_one(plain->fd);
    char buf[8] = "";
    cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 3, "the bytes are there at once");
    cr_assert_str_eq(buf, "GET");
    close(fd);
    close(c);

    /* a restart to "AcceptFilter http none" clears it on the very socket it keeps, and the reverse sets it */
    struct accept_filter none = {.protocol = "http", .filter = "none"};
    struct server *next = new_server(0);
    next->accept_filters = &none;
    struct listener *same = add_loopback(next, port);
    same->protocol = "http";
    cr_assert_eq(listen_open_from(next, s, &err), 0, "%s", err.msg);
    cr_assert_eq(same->fd, plain->fd);
    cr_assert_eq(defer_accept(same->fd), 0);
    none.filter = "data";
    struct server *again = new_server(0);
    again->accept_filters = &none;
    struct listener *back = add_loopback(again, port);
    back->protocol = "http";
    cr_assert_eq(listen_open_from(again, next, &err), 0, "%s", err.msg);
    cr_assert_gt(defer_accept(back->fd), 0);
    listen_abandon(again, next);
    free_server(again);
    listen_release(s, next);
    free_server(next);
    free_server(s);
}
