/*
 * Listen directives: parsing "[addr:]port" and binding the sockets before the children are forked. A restart
 * hands the sockets of unchanged addresses from the old server to the new one instead of binding again.
 */
#ifndef HTTPD_LISTEN_H
#define HTTPD_LISTEN_H

#include "server.h"
#include "util.h"

/* Parses a Listen argument ("8080", "127.0.0.1:8080", "[::1]:8080", "*:80") into l. */
int listen_parse(const char *spec, struct listener *l, struct errbuf *err);

/* The protocol of l, lower-cased into a static buffer: `given` (Listen's second argument), else as Apache
 * "https" on port 443 and "http" on every other. */
const char *listen_protocol(const struct listener *l, const char *given);

/* Whether AcceptFilter defers accepting l's connections until their first bytes arrive: its protocol's filter
 * is set and is not "none" (Apache's default: "data" for http and https). */
int listen_deferred(const struct server *s, const struct listener *l);

/* Binds and listens on every listener (SO_REUSEADDR, ListenBacklog, AcceptFilter, non-blocking,
 * close-on-exec). */
int listen_open(struct server *s, struct errbuf *err);

/*
 * For a restart: opens s's listeners, taking over the socket of `old` where the address is the same (so the
 * connections queued on it are kept; its backlog is set to s's ListenBacklog) and binding the others. Until
 * listen_release() the taken sockets belong to both. On failure nothing has changed: the sockets bound here
 * are closed again and old keeps its own.
 */
int listen_open_from(struct server *s, const struct server *old, struct errbuf *err);

/* Undoes listen_open_from() (a later step of the restart failed): closes only what s bound itself. */
void listen_abandon(struct server *s, const struct server *old);

/* Completes a restart: closes old's sockets that s did not take (addresses gone) and forgets the others. */
void listen_release(struct server *old, const struct server *s);

/* What a failed accept4() means, from its errno. */
enum accept_error {
    ACCEPT_AGAIN,    /* nothing queued (another process took it), or interrupted: wait again */
    ACCEPT_NEXT,     /* that connection failed before it was accepted (Linux reports pending network errors
                        here): accept the next one */
    ACCEPT_RESOURCE, /* out of descriptors or memory: the connection stays queued, so back off, never spin */
    ACCEPT_FATAL     /* the listener itself failed: the child leaves and is replaced */
};

/* Classifies errno after a failed accept4(). */
enum accept_error listen_accept_error(int err);

/* Closes every listener. */
void listen_close(struct server *s);

#endif
