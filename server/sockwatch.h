/*
 * Handlers' own sockets (the proxy's upstream connections) as the MPM watches them. An MPM may keep such a
 * socket registered in its reactor from the first wait on it until it is closed (event: once per connection,
 * edge-triggered, as nginx keeps its upstream connections) instead of once per wait; it installs its hooks
 * here, and handlers close those sockets through sockwatch_close(), so that the reactor forgets a socket
 * before its number can be given to another. Without hooks (prefork and worker, which poll() each wait, and
 * the unit tests) sockwatch_close() is close() and nothing is known to be quiet.
 */
#ifndef HTTPD_SOCKWATCH_H
#define HTTPD_SOCKWATCH_H

struct sockwatch_ops {
    void (*closing)(int fd); /* fd, perhaps watched, is about to be closed */
    int (*quiet)(int fd);    /* 1 when fd is watched and nothing readable (data, EOF, an error) was reported
                                on it since the last wait on it ended: an idle connection the peer has not
                                closed, known without a system call */
};

/* Installs the MPM's hooks for this process (NULL: none). */
void sockwatch_set(const struct sockwatch_ops *ops);

/* Closes a handler's socket, telling the MPM first. Returns close()'s result. */
int sockwatch_close(int fd);

/* The MPM's quiet(fd), or 0 when it has none. */
int sockwatch_quiet(int fd);

#endif
