/*
 * What the fuzz targets share: a temporary ServerRoot with the configuration loaded from it, a small
 * deterministic generator for the simulated MPM's choices, and the MPM itself: one client connection driven
 * through the core exactly as an MPM would, with a hook for the waits of a handler on its own socket.
 */
#ifndef HTTPD_FUZZ_DRIVE_H
#define HTTPD_FUZZ_DRIVE_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct sb_worker;
struct vhost_set;

/* Aborts with the invariant's description when cond is false: the fuzzer reports it as a crash. */
void fuzz_check(int cond, const char *what);

/* Whether FUZZ_VERBOSE is set (read once): the targets then print what an input reached and what the client
 * received, for writing seeds. */
int fuzz_verbose(void);

/* The next choice of a generator seeded by the input. */
uint32_t fuzz_next(uint32_t *rng);

/* Makes a temporary directory (once; removed at exit) and returns it: the ServerRoot. */
const char *fuzz_root(void);

/* Writes a file, or makes a directory, under fuzz_root(); aborts on failure. */
void fuzz_put(const char *rel, const void *data, size_t len);
void fuzz_sub(const char *rel);

/* Writes conf/httpd.conf (and conf/mime.types) with conf_text and loads it (the core's directives and the
 * proxy's), with its logs and a scoreboard of 2 x 2 slots; aborts on failure. */
struct server *fuzz_load(const char *conf_text);

/*
 * One connection's run. ctl, the input's control byte, says how the simulated MPM behaves towards the client:
 *   bit 0  read in pieces of 1..64 bytes (else as much as the buffer takes)
 *   bit 1  write responses in random partial amounts (else whole)
 *   bit 2  after the input, let the read deadline pass (408 / quiet close) instead of the peer closing
 *   bit 3  let time pass between pieces (0..4 s, so RequestReadTimeout and Timeout deadlines can expire)
 *   bit 4  ask for a graceful finish (http_conn_finish) at a random point
 *   bit 5  ask for a graceful stop (http_conn_shutdown) at a random point
 *   bit 6  the peer goes away during a response (http_conn_abort)
 */
struct fuzz_conn_run {
    unsigned ctl;
    uint32_t *rng;
    const uint8_t *data; /* what the client sends */
    size_t size;
    const struct vhost_set *vhosts; /* the listener's <VirtualHost>s, or NULL */
    /* A handler waits on its own socket fd for events (CONN_WAIT_IN/OUT): returns 1 when it is ready (the
     * core is resumed), 0 to let the wait's deadline pass. May advance *now. NULL: the deadline passes. */
    int (*socket_wait)(void *arg, int fd, int events, int64_t *now);
    void *arg;
};

/*
 * Runs the connection to its end, checking the oracle besides the sanitizers: the output stream starts with
 * "HTTP/1.1 " and parses as HTTP/1.1 responses (llhttp, strict; not checked when the input has a HEAD request
 * anywhere, whose response has a Content-Length and no body, which a parser of the output alone cannot tell),
 * every piece the core hands out is non-empty, file ranges are readable, the connection ends, and the core
 * never asks for something impossible (no read space while reading).
 */
void fuzz_drive(const struct server *s, struct sb_worker *slot, const struct fuzz_conn_run *run);

#endif
