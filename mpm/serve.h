/*
 * The blocking driver of the core, shared by prefork and worker: one thread serves one connection with
 * poll()/read()/sendmsg()/sendfile() until the core says CLOSE, then closes it (lingering when asked).
 */
#ifndef HTTPD_SERVE_H
#define HTTPD_SERVE_H

#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "../server/process.h"

struct server;
struct listener;
struct sb_worker;

/*
 * Serves `fd`, accepted on listener l (its TLS context, if any, decides the transport; NULL: plain), until
 * it closes, then closes it. `leaving` ends the connection at the next request boundary.
 * The socket is made non-blocking if it is not (accept4(SOCK_NONBLOCK) saves the fcntl); it inherits
 * TCP_NODELAY from its listener. With a slot, its connection count is incremented, its state follows the
 * connection (R, W, K, C) and is READY at the end.
 */
void serve_connection(const struct server *s, const struct listener *l, int fd, const struct sockaddr *peer,
                      socklen_t peerlen, struct sb_worker *slot, volatile sig_atomic_t *leaving);

/* Shuts the write side and reads until EOF or 2 s (Apache's lingering close), then closes fd. */
void serve_lingering_close(int fd);

#endif
