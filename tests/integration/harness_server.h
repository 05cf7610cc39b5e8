/*
 * Server control (harness_server.c): a temporary ServerRoot with a configuration and a document root of known
 * content, the real binary started on a free 127.0.0.1 port and stopped again, and the cleanup after every
 * test. Included through harness.h.
 */
#ifndef HTTPD_TEST_HARNESS_SERVER_H
#define HTTPD_TEST_HARNESS_SERVER_H

#include <sys/types.h>

/* The document root every server gets (paths relative to htdocs/). */
#define INDEX_HTML                                                                                           \
    "<!DOCTYPE html>\n<html><head><title>it works</title></head>\n<body>integration index</body></html>\n"
#define SUB_INDEX_HTML "<html><body>sub directory index</body></html>\n"
#define PAGE_LEN       1024   /* page.html: deterministic text, see harness_page() */
#define BIG_LEN        102400 /* big.bin: deterministic bytes, see harness_big() */

const char *harness_page(void);         /* PAGE_LEN bytes */
const unsigned char *harness_big(void); /* BIG_LEN bytes */

struct srv {
    pid_t pid; /* 0 when not running */
    int port;
    char mpm[32];
    char dir[64];   /* mkdtemp directory: ServerRoot; conf/, htdocs/ and the logs live in it */
    char conf[128]; /* DIR/conf/httpd.conf */
    char htdocs[128];
    char error_log[128];
    char access_log[128];
    char pid_file[128];
    char stderr_log[128]; /* the server's stdout and stderr */
    int listen_in_conf;   /* write "Listen 127.0.0.1:PORT" into the conf (default 1) */
    char *extra;          /* directives appended to the conf; "@PORT@" is replaced by the port */
    struct extra_file *files;
};

/*
 * Makes the temporary directory with htdocs/ (index.html, page.html, big.bin, sub/index.html, secret.html
 * mode 000, passwd-link -> /etc/passwd) and conf/, without starting anything. `extra` may be NULL.
 */
struct srv *server_new(const char *mpm, const char *extra);

/* Adds a file written (with "@PORT@" replaced) under the server's directory at launch; rel like
 * "conf/x.conf". */
void server_add_file(struct srv *s, const char *rel, const char *content);

/* The configuration text launch would write for `port` (malloc'd). */
char *server_conf_text(const struct srv *s, int port);

/* The line of the configuration s runs (or would be started) with on which `text` first starts. */
int server_conf_line(const struct srv *s, const char *text);

/*
 * Picks a free port, writes the conf and added files, runs `$HTTPD_BIN -f CONF -D FOREGROUND ARGS...` (args
 * may be NULL; "@PORT@" in them is replaced) and waits until it accepts connections. Retries on another port
 * when the port was taken meanwhile; fails the test with the server's output otherwise.
 */
void server_launch(struct srv *s, const char *const *args);

/* server_new() + server_launch(). */
struct srv *server_start(const char *mpm, const char *extra);

/* server_start() with the directives of `base` followed by those of `more` (either may be NULL). */
struct srv *server_start2(const char *mpm, const char *base, const char *more);

/* Sends sig to the server's parent, failing the test if kill() does. */
void server_signal(const struct srv *s, int sig);

/* Waits up to ms for the server to exit by itself; returns its wait status (and forgets its pid), or -1. */
int server_wait_exit(struct srv *s, int ms);

/* Sends SIGTERM and waits (5 s, then SIGKILL and fail); returns the wait status. The directory is kept. */
int server_terminate(struct srv *s);

/* Removes the directory and frees s (the server must not be running). */
void server_destroy(struct srv *s);

/* server_terminate(), asserts exit status 0 and that no process of its group is left, server_destroy(). */
void server_stop(struct srv *s);

/* Asserts that the server's stderr holds no report of a sanitizer (a build with --enable-sanitizers);
 * server_stop() checks it too. */
void expect_no_sanitizer_report(const struct srv *s);

/* A path under the server's directory (static buffer rotated over 4 calls). */
const char *server_path(const struct srv *s, const char *rel);

/* Called after every MPM_TEST, also after a failed assertion: kills and removes servers left running. */
void harness_fini(void);

#endif
