/* Listen directives: parsing "[addr:]port" and binding the sockets before the children are forked. */
#ifndef HTTPD_LISTEN_H
#define HTTPD_LISTEN_H

#include "server.h"
#include "util.h"

/* Parses a Listen argument ("8080", "127.0.0.1:8080", "[::1]:8080", "*:80") into l. */
int listen_parse(const char *spec, struct listener *l, struct errbuf *err);

/* Binds and listens on every listener (SO_REUSEADDR, ListenBacklog, non-blocking, close-on-exec). */
int listen_open(struct server *s, struct errbuf *err);

/* Closes every listener. */
void listen_close(struct server *s);

#endif
