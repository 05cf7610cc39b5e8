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
 *
 * Tests include this header only. The harness is one file per job, each with its header:
 *   harness.c         the MPM parameters, MPM_TEST, assertions that name the caller, small utilities
 *   harness_server.c  server control: ServerRoot, configuration, start/stop of the real binary, cleanup
 *   harness_client.c  the raw client: sockets, sending, receiving, parsing responses
 *   harness_expect.c  expectations: exact response bytes, from tests/http_status.h
 *   harness_proc.c    processes: /proc readers (children, descriptors, threads, RSS, CPU), run_cmd()
 *   harness_log.c     logs: counting and waiting for log lines
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

#include "harness_client.h"
#include "harness_expect.h"
#include "harness_log.h"
#include "harness_proc.h"
#include "harness_server.h"

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
 * failing helper (Criterion's own location is then a line of the harness). */
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

/* ---- utilities ---- */

/* IMF-fixdate of t ("Sun, 06 Nov 1994 08:49:37 GMT"), in a buffer of the calling thread. */
const char *http_date(time_t t);

/* Whole file (NUL-terminated, malloc'd) or NULL; *len if non-NULL. */
char *read_file(const char *path, size_t *len);
void write_file(const char *path, const void *data, size_t len);

/* Printable rendering of bytes for messages (\r \n \t \\ \xNN, a line break after each \n), truncated;
 * malloc'd. */
char *escape(const void *data, size_t len);

/* The same on one line (\" too), at most max bytes; malloc'd. */
char *escape_line(const void *data, size_t len, size_t max);

/* Whether the server binary carries a sanitizer runtime (whose allocator keeps freed memory quarantined, so
 * its RSS says little). */
int harness_sanitized(void);
/* Raises this process's soft RLIMIT_NOFILE to want; fails the test if the hard limit is lower. */
void raise_nofile(unsigned long want);

/* A measured figure, on a line of its own in the test's output (cr_log_warn would make Criterion 2.4 exit 1).
 */
void harness_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* unit written `times` times over (malloc'd). */
char *repeat(const char *unit, size_t times);
int64_t now_ms(void);
void sleep_ms(int ms);
/* The median of n durations (sorts v). */
int64_t median_ms(int64_t *v, int n);

/* Helpers that may fail the test record the test line that called them, for the failure message. */
#ifndef HARNESS_IMPL
#define HARNESS_CALL(f, ...)            (harness_at(__FILE__, __LINE__), f(__VA_ARGS__))
#define server_new(...)                 HARNESS_CALL(server_new, __VA_ARGS__)
#define server_launch(...)              HARNESS_CALL(server_launch, __VA_ARGS__)
#define server_start(...)               HARNESS_CALL(server_start, __VA_ARGS__)
#define server_terminate(...)           HARNESS_CALL(server_terminate, __VA_ARGS__)
#define server_stop(...)                HARNESS_CALL(server_stop, __VA_ARGS__)
#define conn_open(...)                  HARNESS_CALL(conn_open, __VA_ARGS__)
#define conn_open_nagle(...)            HARNESS_CALL(conn_open_nagle, __VA_ARGS__)
#define conn_send(...)                  HARNESS_CALL(conn_send, __VA_ARGS__)
#define conn_send_str(...)              HARNESS_CALL(conn_send_str, __VA_ARGS__)
#define must_read(...)                  HARNESS_CALL(must_read, __VA_ARGS__)
#define exchange(...)                   HARNESS_CALL(exchange, __VA_ARGS__)
#define request_once(...)               HARNESS_CALL(request_once, __VA_ARGS__)
#define expect_error(...)               HARNESS_CALL(expect_error, __VA_ARGS__)
#define expect_static(...)              HARNESS_CALL(expect_static, __VA_ARGS__)
#define expect_bytes(...)               HARNESS_CALL(expect_bytes, __VA_ARGS__)
#define expect_closed(...)              HARNESS_CALL(expect_closed, __VA_ARGS__)
#define fresh_request(...)              HARNESS_CALL(fresh_request, __VA_ARGS__)
#define expect_unanswered(...)          HARNESS_CALL(expect_unanswered, __VA_ARGS__)
#define expect_file(...)                HARNESS_CALL(expect_file, __VA_ARGS__)
#define expect_served(...)              HARNESS_CALL(expect_served, __VA_ARGS__)
#define expect_last_file(...)           HARNESS_CALL(expect_last_file, __VA_ARGS__)
#define expect_last_error(...)          HARNESS_CALL(expect_last_error, __VA_ARGS__)
#define expect_body_consumed(...)       HARNESS_CALL(expect_body_consumed, __VA_ARGS__)
#define expect_nagle_not_held(...)      HARNESS_CALL(expect_nagle_not_held, __VA_ARGS__)
#define expect_next_file(...)           HARNESS_CALL(expect_next_file, __VA_ARGS__)
#define expect_next_error(...)          HARNESS_CALL(expect_next_error, __VA_ARGS__)
#define expect_closing_error(...)       HARNESS_CALL(expect_closing_error, __VA_ARGS__)
#define must_read_within(...)           HARNESS_CALL(must_read_within, __VA_ARGS__)
#define exchange_status(...)            HARNESS_CALL(exchange_status, __VA_ARGS__)
#define expect_status(...)              HARNESS_CALL(expect_status, __VA_ARGS__)
#define raw_connect(...)                HARNESS_CALL(raw_connect, __VA_ARGS__)
#define raw_send(...)                   HARNESS_CALL(raw_send, __VA_ARGS__)
#define raise_nofile(...)               HARNESS_CALL(raise_nofile, __VA_ARGS__)
#define proc_set_nofile(...)            HARNESS_CALL(proc_set_nofile, __VA_ARGS__)
#define expect_no_sanitizer_report(...) HARNESS_CALL(expect_no_sanitizer_report, __VA_ARGS__)
#endif

#endif
