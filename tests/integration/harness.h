/*
 * Integration-test harness: runs the real server binary ($HTTPD_BIN) in a fresh temporary directory holding a
 * configuration and a document root of known content, on a free 127.0.0.1 port, and talks to it over raw
 * sockets. Every test is a Criterion parameterized test fed with the MPMs the binary reports in `httpd -V`,
 * so a model that is compiled in is tested without touching the tests (MPM_TEST below).
 *
 * The one thing to know: every response read through resp_read()/exchange() is first checked for what all
 * responses share (status line "HTTP/1.1 NNN Reason", Date first, Server second, then handler headers, then
 * Content-Length, Content-Type and Connection, framing by Content-Length). Tests then compare the rest byte
 * for byte against strings built with expect_head(), after the Date value was replaced by DATE_PLACEHOLDER.
 */
#ifndef HTTPD_TEST_HARNESS_H
#define HTTPD_TEST_HARNESS_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#define SERVER_STRING    "httpd/0.1.0"
#define DATE_PLACEHOLDER "<DATE>"
#define HTML_ERROR_TYPE  "text/html; charset=utf-8"
#define ALLOW_STATIC     "GET, HEAD, OPTIONS"

/* The document root every server gets (paths relative to htdocs/). */
#define INDEX_HTML                                                                                           \
    "<!DOCTYPE html>\n<html><head><title>it works</title></head>\n<body>integration index</body></html>\n"
#define SUB_INDEX_HTML "<html><body>sub directory index</body></html>\n"
#define PAGE_LEN       1024   /* page.html: deterministic text, see harness_page() */
#define BIG_LEN        102400 /* big.bin: deterministic bytes, see harness_big() */

/* One parameter of every test: the MPM to run, or why the list of MPMs could not be read. */
struct mpm_param {
    char name[32];
    char error[256];
};

/* The MPM of the running test, for assertion messages. */
extern const char *harness_mpm;

/* The parameters of every test: one per MPM in `$HTTPD_BIN -V` ("Compiled-in MPMs: prefork worker event"). */
struct criterion_test_params harness_mpm_params(void);

/* Called first by every MPM_TEST: records the MPM, fails if the MPMs could not be listed. */
void harness_begin(const struct mpm_param *p);

/* Begins a test of one named MPM (a plain Test with .fini = harness_fini); skips it when `$HTTPD_BIN -V` does
 * not list that MPM. */
void harness_begin_mpm(const char *name);

/* Called after every MPM_TEST, also after a failed assertion: kills and removes servers left running. */
void harness_fini(void);

/*
 * Defines a test run once per compiled-in MPM; the body sees `const char *mpm`. Use as
 *     MPM_TEST(suite, name, .timeout = 20) { struct srv *s = server_start(mpm, NULL); ... }
 */
#define MPM_TEST(suite, test, ...)                                                                           \
    static void suite##_##test##_body(const char *mpm);                                                      \
    ParameterizedTestParameters(suite, test)                                                                 \
    {                                                                                                        \
        return harness_mpm_params();                                                                         \
    }                                                                                                        \
    ParameterizedTest(struct mpm_param *mpm_param_, suite, test, .fini = harness_fini, __VA_ARGS__)          \
    {                                                                                                        \
        harness_begin(mpm_param_);                                                                           \
        suite##_##test##_body(mpm_param_->name);                                                             \
    }                                                                                                        \
    static void suite##_##test##_body(const char *mpm)

/* Assertions that name the MPM under test; inside the harness they also name the test line that called the
 * failing helper (Criterion's own location is then a line of harness.c). */
#ifdef HARNESS_IMPL
#define hassert(cond, fmt, ...)                                                                              \
    cr_assert(cond, "[mpm %s]%s " fmt, harness_mpm, harness_where(), ##__VA_ARGS__)
#define hfail(fmt, ...) cr_assert_fail("[mpm %s]%s " fmt, harness_mpm, harness_where(), ##__VA_ARGS__)
#else
#define hassert(cond, fmt, ...) cr_assert(cond, "[mpm %s] " fmt, harness_mpm, ##__VA_ARGS__)
#define hfail(fmt, ...)         cr_assert_fail("[mpm %s] " fmt, harness_mpm, ##__VA_ARGS__)
#endif

/* Records the caller of a helper (done by the macros at the end of this file); harness_where() renders it as
 * " (at file.c:N)", or "" outside a helper. */
void harness_at(const char *file, int line);
const char *harness_where(void);

/* ---- servers ---- */

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

/*
 * Picks a free port, writes the conf and added files, runs `$HTTPD_BIN -f CONF -D FOREGROUND ARGS...` (args
 * may be NULL; "@PORT@" in them is replaced) and waits until it accepts connections. Retries on another port
 * when the port was taken meanwhile; fails the test with the server's output otherwise.
 */
void server_launch(struct srv *s, const char *const *args);

/* server_new() + server_launch(). */
struct srv *server_start(const char *mpm, const char *extra);

/* Sends SIGTERM and waits (5 s, then SIGKILL and fail); returns the wait status. The directory is kept. */
int server_terminate(struct srv *s);

/* Removes the directory and frees s (the server must not be running). */
void server_destroy(struct srv *s);

/* server_terminate(), asserts exit status 0 and that no process of its group is left, server_destroy(). */
void server_stop(struct srv *s);

/* A path under the server's directory (static buffer rotated over 4 calls). */
const char *server_path(const struct srv *s, const char *rel);

/* ---- connections and responses ---- */

struct conn {
    int fd;
    char *buf; /* received and not yet consumed */
    size_t len, cap;
    int eof; /* the server closed (read returned 0) */
    int err; /* errno of a failed read (ECONNRESET) */
};

struct resp {
    int status;
    char reason[64];
    int n_headers;
    char *names[64], *values[64];
    char *head; /* status line and headers, up to and including the empty line */
    size_t head_len;
    char *norm; /* head with the Date value replaced by DATE_PLACEHOLDER */
    char *body;
    size_t body_len;
};

/* Connects to 127.0.0.1:port with TCP_NODELAY (asserts). */
struct conn *conn_open(int port);
void conn_send(struct conn *c, const void *data, size_t len);
void conn_send_str(struct conn *c, const char *s);
/* Reads what is available within timeout_ms: >0 bytes added, 0 EOF, -1 timeout, -2 error (c->err). */
int conn_fill(struct conn *c, int timeout_ms);
void conn_close(struct conn *c);

/*
 * Parses one response from buf. no_body: the request was HEAD. Returns 1 with *used set, 0 if more bytes are
 * needed, -1 with err if the bytes are not a valid response or break the invariants described above.
 */
int resp_parse(const char *buf, size_t len, int no_body, struct resp *r, size_t *used, char *err,
               size_t errlen);

/* Reads one response from c within timeout_ms; 0, or -1 with err. */
int resp_read(struct conn *c, int no_body, int timeout_ms, struct resp *r, char *err, size_t errlen);

/* resp_read() that fails the test on error (5 s timeout). */
struct resp *must_read(struct conn *c, int no_body);

/* Sends raw request bytes and reads one response (HEAD inferred from the bytes). */
struct resp *exchange(struct conn *c, const char *raw);

/* Opens a connection, exchanges one request, returns the response; *out gets the connection or it is closed.
 */
struct resp *request_once(const struct srv *s, const char *raw, struct conn **out);

/* The value of header `name` (case-insensitive), or NULL. */
const char *resp_get(const struct resp *r, const char *name);
void resp_free(struct resp *r);

/* ---- expectations ---- */

/* "HTTP/1.1 S R\r\nDate: <DATE>\r\nServer: ...\r\n" + handler_headers + Content-Length (if >= 0) +
 * Content-Type (if non-NULL) + Connection (if non-NULL) + "\r\n"; malloc'd. */
char *expect_head(int status, const char *handler_headers, long long content_length, const char *content_type,
                  const char *connection);

/* The standard reason phrase the server must use. */
const char *reason_phrase(int status);

/* The body of an error page (malloc'd). */
char *error_body(int status);

/* Asserts r is exactly the error page for status (handler_headers, Connection as given; HEAD: no body). */
void expect_error(const struct resp *r, int status, const char *handler_headers, const char *connection,
                  int head);

/* Asserts r is exactly the 200 response for htdocs/rel with the given body and type (Last-Modified from stat,
 * ETag as received but strong and quoted). */
void expect_static(const struct resp *r, const struct srv *s, const char *rel, const void *body, size_t len,
                   const char *content_type, const char *connection, int head);

/* Asserts got equals want, showing both escaped on failure. */
void expect_bytes(const char *what, const void *got, size_t got_len, const void *want, size_t want_len);

/* Asserts the server closes the connection in an orderly way within timeout_ms, sending nothing more. */
void expect_closed(struct conn *c, int timeout_ms);

/* ---- content, processes, utilities ---- */

const char *harness_page(void);         /* PAGE_LEN bytes */
const unsigned char *harness_big(void); /* BIG_LEN bytes */

/* IMF-fixdate of t ("Sun, 06 Nov 1994 08:49:37 GMT"), in a buffer of the calling thread. */
const char *http_date(time_t t);

/* Pids of the processes whose parent is `parent`; returns the count (at most max). */
int proc_children(pid_t parent, pid_t *out, int max);

/* Pids of the processes in process group pgid; returns the count (at most max). */
int proc_group(pid_t pgid, pid_t *out, int max);

/*
 * Runs argv (PATH searched) with stdin from /dev/null, collecting stdout and stderr (malloc'd,
 * NUL-terminated, may be NULL pointers to discard). Returns the exit status, 128+signal if killed, -1 on
 * timeout (the process group is then killed) or if it could not run.
 */
int run_cmd(char *const argv[], int timeout_ms, char **out, char **err);

/* Whole file (NUL-terminated, malloc'd) or NULL; *len if non-NULL. */
char *read_file(const char *path, size_t *len);
void write_file(const char *path, const void *data, size_t len);

/* Printable rendering of bytes for messages (\r \n \xNN), truncated; malloc'd. */
char *escape(const void *data, size_t len);

/* Descriptors open in a process (from /proc/PID/fd), -1 if it is gone; *highest (if not NULL) gets the
 * highest of them. */
int proc_fds(pid_t pid, int *highest);

/* The number a field of /proc/PID/status starts with ("VmRSS" in kB, "Threads"); -1 if the process is gone
 * or has no such field. */
long proc_status(pid_t pid, const char *field);

/* utime + stime of a process (all its threads) from /proc/PID/stat, in clock ticks; -1 if it is gone. */
long proc_cpu_ticks(pid_t pid);

/* Occurrences of needle in the file at path (an error log); wait_log() polls up to ms for at least n of them
 * and returns the count. */
int log_count(const char *path, const char *needle);
int wait_log(const char *path, const char *needle, int n, int ms);

/* Raises this process's soft RLIMIT_NOFILE towards want (as far as the hard limit allows); true if reached.
 */
int raise_nofile(unsigned long want);

/* A measured figure, on a line of its own in the test's output (cr_log_warn would make Criterion 2.4 exit 1).
 */
void harness_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t now_ms(void);
void sleep_ms(int ms);

/* Helpers that may fail the test record the test line that called them, for the failure message. */
#ifndef HARNESS_IMPL
#define HARNESS_CALL(f, ...)  (harness_at(__FILE__, __LINE__), f(__VA_ARGS__))
#define server_new(...)       HARNESS_CALL(server_new, __VA_ARGS__)
#define server_launch(...)    HARNESS_CALL(server_launch, __VA_ARGS__)
#define server_start(...)     HARNESS_CALL(server_start, __VA_ARGS__)
#define server_terminate(...) HARNESS_CALL(server_terminate, __VA_ARGS__)
#define server_stop(...)      HARNESS_CALL(server_stop, __VA_ARGS__)
#define conn_open(...)        HARNESS_CALL(conn_open, __VA_ARGS__)
#define conn_send(...)        HARNESS_CALL(conn_send, __VA_ARGS__)
#define conn_send_str(...)    HARNESS_CALL(conn_send_str, __VA_ARGS__)
#define must_read(...)        HARNESS_CALL(must_read, __VA_ARGS__)
#define exchange(...)         HARNESS_CALL(exchange, __VA_ARGS__)
#define request_once(...)     HARNESS_CALL(request_once, __VA_ARGS__)
#define expect_error(...)     HARNESS_CALL(expect_error, __VA_ARGS__)
#define expect_static(...)    HARNESS_CALL(expect_static, __VA_ARGS__)
#define expect_bytes(...)     HARNESS_CALL(expect_bytes, __VA_ARGS__)
#define expect_closed(...)    HARNESS_CALL(expect_closed, __VA_ARGS__)
#endif

#endif
