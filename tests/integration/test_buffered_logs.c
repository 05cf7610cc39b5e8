/*
 * BufferedLogs On, on every MPM: N requests leave exactly N access log lines after a stop (TERM), a graceful
 * stop (WINCH), a graceful restart (USR1), a restart (HUP) and children recycled by MaxConnectionsPerChild;
 * an idle server writes its lines within LOG_FLUSH_MS without spinning; a child killed with SIGKILL loses at
 * most the lines one buffer holds; the error log is written at once; BufferedLogs Off writes each line at
 * once.
 *
 * The one thing to know: the requests come from several connections at once, so that several children or
 * threads hold lines, and the check right after them that nothing is written yet makes sure that the count
 * after a signal tests what the signal does, not the timer (on a machine too slow to tell, that check is
 * skipped and says so).
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KIDS        64
#define LOG_BUFFER_SIZE 4096 /* server/log.h: bytes of lines one thread buffers per CustomLog */
#define LOG_FLUSH_MS    1000 /* server/log.h: a buffered line is written within this */
#define QUIET_MS        600  /* lines are due at 750 ms: until then none may have been written */
#define LOAD_ALLOWANCE  500  /* scheduling delays on a loaded machine, on top of LOG_FLUSH_MS */
#define SETTLE_MS       100  /* from the last response read to its line being logged, at most */

#define KEEPALIVE_CONNS 3
#define ROUNDS          4
#define CLOSE_REQUESTS  6

#define MPM_DIRECTIVES                                                                                       \
    "<IfModule mpm_prefork_module>\n"                                                                        \
    "StartServers 5\nMinSpareServers 2\nMaxSpareServers 10\n"                                                \
    "</IfModule>\n"                                                                                          \
    "<IfModule mpm_worker_module>\n"                                                                         \
    "StartServers 2\nThreadsPerChild 4\nMinSpareThreads 4\nMaxSpareThreads 16\nMaxRequestWorkers 16\n"       \
    "</IfModule>\n"                                                                                          \
    "<IfModule mpm_event_module>\n"                                                                          \
    "StartServers 2\n"                                                                                       \
    "</IfModule>\n"

static struct srv *start(const char *mpm, const char *more)
{
    return server_start2(mpm, "BufferedLogs On\n" MPM_DIRECTIVES, more);
}

/* Lines in the file (a last one without its newline counts too), -1 if it cannot be read. */
static int count_lines(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    int n = 0;
    for (size_t i = 0; text != NULL && i < len; i++)
        n += text[i] == '\n';
    if (text != NULL && len > 0 && text[len - 1] != '\n')
        n++;
    free(text);
    return text != NULL ? n : -1;
}

/* Waits up to ms until the file has n lines; returns the count then. */
static int wait_lines(const char *path, int n, int ms)
{
    int64_t deadline = now_ms() + ms;
    int got;
    while ((got = count_lines(path)) < n && now_ms() < deadline)
        sleep_ms(10);
    return got;
}

/* Waits up to ms until the server has children and none of `old` is among them; returns whether so. */
static int wait_replaced(const struct srv *s, const pid_t *old, int nold, int ms)
{
    pid_t kids[MAX_KIDS];
    int64_t deadline = now_ms() + ms;
    for (;;) {
        int n = proc_children(s->pid, kids, MAX_KIDS), stale = 0;
        for (int i = 0; i < n; i++)
            stale += pid_in(old, nold, kids[i]);
        if (n > 0 && stale == 0)
            return 1;
        if (now_ms() >= deadline)
            return 0;
        sleep_ms(20);
    }
}

static int children(const struct srv *s, pid_t *kids)
{
    int n = proc_wait_children(s->pid, kids, MAX_KIDS, 1, MAX_KIDS, 5000);
    hassert(n > 0, "the server has no child");
    return n;
}

/*
 * KEEPALIVE_CONNS connections take turns for ROUNDS requests each (so that as many children or threads hold
 * lines), then CLOSE_REQUESTS one-request connections. Returns the number of requests, every one a 200.
 */
static int serve_requests(const struct srv *s)
{
    struct conn *c[KEEPALIVE_CONNS];
    for (int i = 0; i < KEEPALIVE_CONNS; i++)
        c[i] = conn_open(s->port);
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < KEEPALIVE_CONNS; i++)
            expect_status(c[i], PAGE_KEEPALIVE, 200);
    for (int i = 0; i < KEEPALIVE_CONNS; i++)
        conn_close(c[i]);
    for (int i = 0; i < CLOSE_REQUESTS; i++) {
        struct conn *k = conn_open(s->port);
        expect_status(k, PAGE_CLOSE, 200);
        conn_close(k);
    }
    /* a request is logged once its response is sent: a signal sent at once could come first */
    sleep_ms(SETTLE_MS);
    return KEEPALIVE_CONNS * ROUNDS + CLOSE_REQUESTS;
}

/* Stops the server with SIGTERM (exit status 0, no sanitizer report) and returns its access log's lines. */
static int stop_and_count(struct srv *s)
{
    int status = server_terminate(s);
    hassert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x after SIGTERM", status);
    expect_no_sanitizer_report(s);
    int n = count_lines(s->access_log);
    server_destroy(s);
    return n;
}

/* Right after requests that began at t0: nothing is written yet (unless too much time has passed to tell). */
static void expect_still_buffered(const struct srv *s, int64_t t0, const char *before)
{
    int64_t took = now_ms() - t0;
    int n = count_lines(s->access_log);
    if (took < QUIET_MS)
        hassert(n == 0, "%d access log lines written %lld ms after the first request (BufferedLogs On)", n,
                (long long)took);
    else
        harness_report("[%s] the requests took %lld ms: not checked that the lines waited before %s",
                       harness_mpm, (long long)took, before);
}

MPM_TEST(buffered_logs, stop_writes_every_line, .timeout = 20)
{
    struct srv *s = start(mpm, NULL);
    int64_t t0 = now_ms();
    int n = serve_requests(s);
    expect_still_buffered(s, t0, "SIGTERM");
    int got = stop_and_count(s);
    hassert(got == n, "%d access log lines after SIGTERM, want %d", got, n);
}

MPM_TEST(buffered_logs, graceful_stop_writes_every_line, .timeout = 20)
{
    struct srv *s = start(mpm, NULL);
    int64_t t0 = now_ms();
    int n = serve_requests(s);
    expect_still_buffered(s, t0, "SIGWINCH");
    server_signal(s, SIGWINCH);
    int status = server_wait_exit(s, 5000);
    hassert(status != -1, "the server did not exit within 5 s of SIGWINCH");
    hassert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x after SIGWINCH", status);
    int got = count_lines(s->access_log);
    hassert(got == n, "%d access log lines after SIGWINCH, want %d", got, n);
    expect_no_sanitizer_report(s);
    server_destroy(s);
}

/* USR1 or HUP: the old children's lines are all there once they have gone, and the new ones' after a stop. */
static void restart_writes_every_line(const char *mpm, int sig)
{
    struct srv *s = start(mpm, NULL);
    pid_t old[MAX_KIDS];
    int nold = children(s, old);
    int64_t t0 = now_ms();
    int n = serve_requests(s);
    expect_still_buffered(s, t0, strsignal(sig));
    server_signal(s, sig);
    hassert(wait_replaced(s, old, nold, 5000), "the children were not replaced within 5 s of %s",
            strsignal(sig));
    int got = count_lines(s->access_log);
    hassert(got == n, "%d access log lines once the old children have gone after %s, want %d", got,
            strsignal(sig), n);

    int m = serve_requests(s);
    got = stop_and_count(s);
    hassert(got == n + m, "%d access log lines after %s and a stop, want %d", got, strsignal(sig), n + m);
}

MPM_TEST(buffered_logs, graceful_restart_writes_every_line, .timeout = 20)
{
    restart_writes_every_line(mpm, SIGUSR1);
}

MPM_TEST(buffered_logs, restart_writes_every_line, .timeout = 20)
{
    restart_writes_every_line(mpm, SIGHUP);
}

MPM_TEST(buffered_logs, recycled_children_write_every_line, .timeout = 20)
{
    struct srv *s = start(mpm, "MaxConnectionsPerChild 2\n");
    pid_t old[MAX_KIDS];
    int nold = children(s, old);
    enum { CONNS = 12 };
    for (int i = 0; i < CONNS; i++) {
        struct conn *k = conn_open(s->port);
        expect_status(k, PAGE_CLOSE, 200);
        conn_close(k);
    }
    /* no child serves more than 2 connections: most of them have gone, their lines with them unless written
     */
    int got = wait_lines(s->access_log, CONNS, LOG_FLUSH_MS + LOAD_ALLOWANCE + 1000);
    hassert(got == CONNS, "%d access log lines after %d connections with MaxConnectionsPerChild 2, want %d",
            got, CONNS, CONNS);
    pid_t kids[MAX_KIDS];
    int nk = proc_children(s->pid, kids, MAX_KIDS), gone = 0;
    for (int i = 0; i < nold; i++)
        gone += !pid_in(kids, nk, old[i]);
    hassert(gone > 0, "no child was recycled after %d connections with MaxConnectionsPerChild 2", CONNS);
    got = stop_and_count(s);
    hassert(got == CONNS, "%d access log lines after the stop, want %d", got, CONNS);
}

/* CPU time of the parent and the given children, in clock ticks. */
static long server_ticks(const struct srv *s, const pid_t *kids, int n)
{
    long t = proc_cpu_ticks(s->pid);
    for (int i = 0; i < n; i++) {
        long k = proc_cpu_ticks(kids[i]);
        t += k > 0 ? k : 0;
    }
    return t;
}

MPM_TEST(buffered_logs, idle_server_writes_within_the_interval, .timeout = 20)
{
    struct srv *s = start(mpm, NULL);
    int64_t t0 = now_ms();
    /* this connection stays open and idle: its child or thread waits on it, not for a new connection */
    struct conn *idle = conn_open(s->port);
    expect_status(idle, PAGE_KEEPALIVE, 200);
    expect_status(idle, PAGE_KEEPALIVE, 200);
    int n = 2 + serve_requests(s);
    int64_t last = now_ms();
    expect_still_buffered(s, t0, "the timer");

    int got = wait_lines(s->access_log, n, LOG_FLUSH_MS + LOAD_ALLOWANCE + 2000);
    int64_t after = now_ms() - last;
    hassert(got == n, "%d access log lines %lld ms after the last request, want %d", got, (long long)after,
            n);
    harness_report("[%s] idle: the %d lines were written %lld ms after the last request", harness_mpm, n,
                   (long long)after);
    hassert(after <= LOG_FLUSH_MS + LOAD_ALLOWANCE, "the lines were written %lld ms after the last request",
            (long long)after);

    /* idle again: nothing buffered, so nothing wakes */
    pid_t kids[MAX_KIDS];
    int nk = children(s, kids);
    long before = server_ticks(s, kids, nk);
    sleep_ms(1000);
    long used = server_ticks(s, kids, nk) - before;
    hassert(used < 20, "the idle server used %ld clock ticks of CPU in 1 s", used);
    conn_close(idle);
    server_stop(s);
}

MPM_TEST(buffered_logs, sigkill_loses_at_most_one_buffer, .timeout = 20)
{
    /* one connection, so one child (and thread) holds every line */
    struct srv *s = start(mpm, "MaxKeepAliveRequests 0\n");
    enum { BURST = 200 }; /* about 15 KiB of lines: the buffer fills three times */
    struct conn *c = conn_open(s->port);
    for (int i = 0; i < BURST; i++)
        expect_status(c, PAGE_KEEPALIVE, 200);
    pid_t kids[MAX_KIDS];
    int nk = children(s, kids);
    for (int i = 0; i < nk; i++)
        hassert(kill(kids[i], SIGKILL) == 0 || errno == ESRCH, "kill(%d, SIGKILL) failed: %s", (int)kids[i],
                strerror(errno));
    conn_close(c);
    hassert(wait_replaced(s, kids, nk, 5000), "the killed children were not replaced within 5 s");

    size_t len;
    char *text = read_file(s->access_log, &len);
    hassert(text != NULL && len > 0, "nothing in the access log after %d requests and SIGKILL", BURST);
    hassert(text[len - 1] == '\n', "the access log ends in the middle of a line");
    size_t line_len = (size_t)(strchr(text, '\n') - text) + 1;
    int kept = count_lines(s->access_log), fit = (int)(LOG_BUFFER_SIZE / line_len);
    harness_report("[%s] SIGKILL after %d requests: %d lines kept, %d lost (a buffer holds %d)", harness_mpm,
                   BURST, kept, BURST - kept, fit);
    hassert(kept <= BURST, "%d access log lines for %d requests", kept, BURST);
    hassert(BURST - kept <= fit, "%d lines lost by SIGKILL, more than the %d of %zu bytes a buffer holds",
            BURST - kept, fit, line_len);
    free(text);
    server_stop(s);
}

MPM_TEST(buffered_logs, error_log_is_not_buffered, .timeout = 20)
{
    struct srv *s = start(mpm, "<Location /denied>\nRequire all denied\n</Location>\n");
    int64_t t0 = now_ms();
    struct resp *r = request_once(s, "GET /denied HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
    hassert(r->status == 403, "GET /denied: %d", r->status);
    resp_free(r);
    hassert(wait_log(s->error_log, "client denied by server configuration", 1, 500) == 1,
            "the error log line was not written within 500 ms");
    expect_still_buffered(s, t0, "the error log line");
    hassert(wait_lines(s->access_log, 1, LOG_FLUSH_MS + LOAD_ALLOWANCE) == 1,
            "the access log line is missing");
    server_stop(s);
}

MPM_TEST(buffered_logs, off_writes_each_line_at_once, .timeout = 20)
{
    struct srv *s = server_start(mpm, "BufferedLogs Off\n" MPM_DIRECTIVES);
    struct conn *c = conn_open(s->port);
    for (int i = 1; i <= 5; i++) {
        expect_status(c, PAGE_KEEPALIVE, 200);
        int got = wait_lines(s->access_log, i, 300);
        hassert(got == i, "%d access log lines after %d requests (BufferedLogs Off)", got, i);
    }
    conn_close(c);
    server_stop(s);
}
