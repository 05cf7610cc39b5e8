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
 * The socket must be non-blocking (accept4(SOCK_NONBLOCK): no fcntl() per connection); it inherits
 * TCP_NODELAY from its listener. With a slot, its connection count is incremented, its state follows the
 * connection (R, W, K, C) and is READY at the end.
 */
void serve_connection(const struct server *s, const struct listener *l, int fd, const struct sockaddr *peer,
                      socklen_t peerlen, struct sb_worker *slot, volatile sig_atomic_t *leaving);

/*
 * The signal mask of this thread's waits from now on (NULL: none, the thread's own mask throughout). A
 * process that keeps its signals blocked while it serves (prefork) gives the mask with them unblocked: every
 * wait is then a ppoll() with it, so a signal interrupts exactly the waits, with no sigprocmask() around each
 * connection, and none is lost between the test of `leaving` and the wait.
 */
void serve_wait_mask(const sigset_t *mask);

/* Shuts the write side and reads until EOF or 2 s (Apache's lingering close), then closes fd. */
void serve_lingering_close(int fd);

#endif
