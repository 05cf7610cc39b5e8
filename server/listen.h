/* Listen directives: parsing "[addr:]port" and binding the sockets before the children are forked. */
#ifndef HTTPD_LISTEN_H
#define HTTPD_LISTEN_H

#include "server.h"
#include "util.h"

/* Parses a Listen argument ("8080", "127.0.0.1:8080", "[::1]:8080", "*:80") into l. */
int listen_parse(const char *spec, struct listener *l, struct errbuf *err);

/* Binds and listens on every listener (SO_REUSEADDR, ListenBacklog, non-blocking, close-on-exec). */
int listen_open(struct server *s, struct errbuf *err);

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
