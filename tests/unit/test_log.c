/* Access log formats (common, combined, escapes), error log lines, whole lines under concurrent writers, and
 * BufferedLogs: what waits, when it is written (full, due, thread and process end, stop signal), in blocks of
 * whole lines. The .c is included to reach the buffers' state. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../server/log.c"
#include "http.h"
#include "pool.h"
#include "server.h"

static struct pool *pool;
static struct server srv;
static struct request req;
static struct http_header hdrs[2];

static void setup(void)
{
    pool = pool_create(4096);
    memset(&srv, 0, sizeof(srv));
    srv.pool = pool;
    srv.main.server_name = "localhost";
    srv.main.log_level = LOG_WARN;
    memset(&req, 0, sizeof(req));
    req.pool = pool;
    req.server = &srv;
    req.vhost = &srv.main;
    req.method_name = "GET";
    req.request_line = "GET /a?b=1 HTTP/1.1";
    req.path = "/a";
    req.query = "b=1";
    req.version_major = 1;
    req.version_minor = 1;
    req.status = 200;
    req.bytes_sent = 1234;
    req.start_time = 784111777;
    hdrs[0].name = "User-Agent";
    hdrs[0].value = "curl/7 \"quoted\"";
    hdrs[1].name = "Referer";
    hdrs[1].value = "http://x/";
    req.headers = hdrs;
    req.n_headers = 2;
}

static void teardown(void)
{
    pool_destroy(pool);
}

TestSuite(log, .init = setup, .fini = teardown);

static const char *render(const char *fmt)
{
    static char line[1024];
    struct errbuf err;
    struct log_format *f = log_format_compile(pool, fmt, &err);
    cr_assert_not_null(f, "%s", err.msg);
    size_t n = log_format_render(f, &req, line, sizeof(line));
    line[n] = '\0';
    return line;
}

Test(log, common_format)
{
    setenv("TZ", "UTC", 1);
    tzset();
    cr_assert_str_eq(render("%h %l %u %t \"%r\" %>s %b"),
                     "- - - [06/Nov/1994:08:49:37 +0000] \"GET /a?b=1 HTTP/1.1\" 200 1234\n");
}

Test(log, client_addresses_and_times)
{
    setenv("TZ", "UTC", 1);
    tzset();
    req.peer_family = AF_INET;
    memcpy(req.peer_addr, (unsigned char[]){192, 0, 2, 255}, 4);
    cr_assert_str_eq(render("%h %a"), "192.0.2.255 192.0.2.255\n");
    memcpy(req.peer_addr, (unsigned char[]){10, 0, 0, 1}, 4);
    cr_assert_str_eq(render("%h"), "10.0.0.1\n");
    req.peer_family = AF_INET6;
    memcpy(req.peer_addr, (unsigned char[]){0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 16);
    cr_assert_str_eq(render("%h"), "2001:db8::1\n");
    /* %t is kept per second: a later request, then the same second again */
    req.start_time = 784111778;
    cr_assert_str_eq(render("%t"), "[06/Nov/1994:08:49:38 +0000]\n");
    req.start_time = 784111777;
    cr_assert_str_eq(render("%t"), "[06/Nov/1994:08:49:37 +0000]\n");
    cr_assert_str_eq(render("%t"), "[06/Nov/1994:08:49:37 +0000]\n");
}

Test(log, combined_escapes_client_strings)
{
    cr_assert_str_eq(render("\"%{Referer}i\" \"%{User-Agent}i\" \"%{X-None}i\""),
                     "\"http://x/\" \"curl/7 \\\"quoted\\\"\" \"-\"\n");
}

/* The escaper as it was, one character at a time: the reference for the one that copies runs at once. */
static size_t ref_escaped(char *buf, size_t n, size_t size, const char *s)
{
    for (; *s != '\0' && n + 5 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch);
        } else {
            buf[n++] = (char)ch;
        }
    }
    return n;
}

/* Quotes, backslashes, controls and bytes beyond ASCII escaped between runs of plain text, and the line cut
 * at the same place as before at every size of the line's buffer. */
Test(log, escapes_at_every_buffer_size)
{
    const char *value = "a\"b\\c\x01\x7f\xc3\xa9 plain text\ttab";
    hdrs[0].value = value;
    cr_assert_str_eq(render("%{User-Agent}i"), "a\\\"b\\\\c\\x01\\x7f\\xc3\\xa9 plain text\\x09tab\n");
    struct errbuf err;
    struct log_format *f = log_format_compile(pool, "%{User-Agent}i", &err);
    cr_assert_not_null(f);
    for (size_t size = 1; size < 64; size++) {
        char got[64], want[64];
        size_t n = log_format_render(f, &req, got, size);
        size_t m = ref_escaped(want, 0, size - 1, value);
        want[m++] = '\n';
        cr_assert_eq(n, m, "size %zu", size);
        cr_assert(memcmp(got, want, n) == 0, "size %zu", size);
    }
}

Test(log, other_directives)
{
    req.bytes_sent = 0;
    cr_assert_str_eq(render("%b %B %m %U%q %H %v %s %%"), "- 0 GET /a?b=1 HTTP/1.1 localhost 200 %\n");
}

Test(log, bad_formats_are_refused)
{
    struct errbuf err;
    cr_assert_null(log_format_compile(pool, "%Z", &err));
    cr_assert_null(log_format_compile(pool, "%{Referer", &err));
    cr_assert_null(log_format_compile(pool, "%i", &err));
    cr_assert_null(log_format_compile(pool, "trailing %", &err));
}

Test(log, nicknames)
{
    struct errbuf err;
    cr_assert_eq(log_format_define(srv.pool, &srv.main, "common", "%h %>s", &err), 0);
    cr_assert_not_null(log_format_find(&srv.main, "common"));
    cr_assert_null(log_format_find(&srv.main, "combined"));
}

Test(log, levels)
{
    cr_assert_eq(log_level_parse("warn"), LOG_WARN);
    cr_assert_eq(log_level_parse("DEBUG"), LOG_DEBUG);
    cr_assert_eq(log_level_parse("verbose"), -1);
}

/* Several processes log at once: every line must arrive whole. */
Test(log, concurrent_lines_stay_whole)
{
    char dir[] = "/tmp/test_log.XXXXXX";
    struct errbuf err;
    cr_assert_not_null(mkdtemp(dir));
    struct custom_log cl = {.path = pool_printf(pool, "%s/access_log", dir), .fd = -1};
    cl.format = log_format_compile(pool, "%h %l %u %t \"%r\" %>s %b \"%{User-Agent}i\"", &err);
    srv.main.custom_logs = &cl;
    srv.main.error_log = pool_printf(pool, "%s/error_log", dir);
    cr_assert_eq(log_open(&srv, &err), 0, "%s", err.msg);
    enum { PROCS = 4, LINES = 2000 };
    for (int p = 0; p < PROCS; p++) {
        if (fork() == 0) {
            for (int i = 0; i < LINES; i++)
                log_access(&srv, &req);
            log_error(LOG_ERR, "test", "child %d done", p);
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++)
        wait(NULL);
    log_close(&srv);
    FILE *f = fopen(cl.path, "r");
    char line[1024];
    char expect[1024];
    size_t n = log_format_render(cl.format, &req, expect, sizeof(expect));
    expect[n] = '\0';
    int count = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        cr_assert_str_eq(line, expect);
        count++;
    }
    fclose(f);
    cr_assert_eq(count, PROCS * LINES);
    f = fopen(srv.main.error_log, "r");
    count = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        cr_assert_not_null(strstr(line, "] [test:error] [pid "), "%s", line);
        count++;
    }
    fclose(f);
    cr_assert_eq(count, PROCS);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* The whole text of a file (static buffer, one of two). */
static const char *file_text(const char *path)
{
    static char bufs[2][8192];
    static int next;
    char *text = bufs[next++ % 2];
    int fd = open(path, O_RDONLY);
    cr_assert_geq(fd, 0, "%s", path);
    ssize_t n = read(fd, text, sizeof(bufs[0]) - 1);
    cr_assert_geq(n, 0);
    close(fd);
    text[n] = '\0';
    return text;
}

/* Virtual hosts: each vhost's own CustomLogs and ErrorLog are opened by log_open() and numbered after the
 * main server's; a request is logged where its vhost logs (a vhost without CustomLog where the main server
 * does); log_verror() writes to the vhost's error log at its LogLevel; log_release() closes them. */
Test(log, vhost_logs)
{
    char vdir[] = "/tmp/test_log.XXXXXX";
    struct errbuf err;
    cr_assert_not_null(mkdtemp(vdir));
    const struct log_format *f = log_format_compile(pool, "%v %U", &err);
    struct custom_log main_log = {.path = pool_printf(pool, "%s/main_access", vdir), .fd = -1, .format = f};
    struct custom_log a1 = {.path = pool_printf(pool, "%s/a1", vdir), .fd = -1, .format = f};
    struct custom_log a2 = {.path = pool_printf(pool, "%s/a2", vdir), .fd = -1, .format = f, .next = NULL};
    a1.next = &a2;
    struct vhost a, b;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    srv.main.custom_logs = &main_log;
    srv.main.error_log = pool_printf(pool, "%s/main_error", vdir);
    a = (struct vhost){.file = "x.conf",
                       .line = 1,
                       .server_name = "a",
                       .custom_logs = &a1,
                       .own_logs = 1,
                       .error_log = pool_printf(pool, "%s/a_error", vdir),
                       .log_level = LOG_DEBUG,
                       .next = &b};
    b = (struct vhost){.file = "x.conf",
                       .line = 5,
                       .server_name = "b",
                       .custom_logs = &main_log,
                       .error_log = srv.main.error_log,
                       .log_level = LOG_ERR};
    srv.vhosts = &a;
    cr_assert_eq(log_open(&srv, &err), 0, "%s", err.msg);
    cr_assert_eq(srv.n_custom_logs, 3);
    cr_assert_eq(main_log.index, 0);
    cr_assert_eq(a1.index, 1);
    cr_assert_eq(a2.index, 2);
    cr_assert(a.own_error_log && a.error_fd >= 0);
    cr_assert_not(b.own_error_log, "b's ErrorLog is the main server's: no file of its own");

    req.vhost = &a;
    log_access(&srv, &req);
    req.vhost = &b;
    log_access(&srv, &req);
    req.vhost = &srv.main;
    log_access(&srv, &req);
    log_verror(&a, LOG_DEBUG, "test", "for a");
    log_verror(&b, LOG_WARN, "test", "below b's LogLevel");
    log_verror(&b, LOG_ERR, "test", "for b");
    log_verror(&srv.main, LOG_ERR, "test", "for main");
    cr_assert_str_eq(file_text(a1.path), "a /a\n");
    cr_assert_str_eq(file_text(a2.path), "a /a\n");
    cr_assert_str_eq(file_text(main_log.path), "b /a\nlocalhost /a\n");
    const char *ae = file_text(a.error_log);
    cr_assert(strstr(ae, "[test:debug]") != NULL && strstr(ae, "for a\n") != NULL, "%s", ae);
    cr_assert_null(strstr(ae, "for b"), "%s", ae);
    const char *me = file_text(srv.main.error_log);
    cr_assert(strstr(me, "for b\n") != NULL && strstr(me, "for main\n") != NULL, "%s", me);
    cr_assert_null(strstr(me, "below"), "%s", me);
    cr_assert_null(strstr(me, "for a"), "%s", me);

    log_release(&srv);
    cr_assert_eq(a1.fd, -1);
    cr_assert_eq(a2.fd, -1);
    cr_assert_eq(main_log.fd, -1);
    cr_assert_not(a.own_error_log);
    log_close(&srv);
    srv.vhosts = NULL;
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", vdir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- BufferedLogs ---- */

static char dir[32];
static struct custom_log access_log;

/* One CustomLog in the common format in a fresh directory, buffered or not. */
static void open_access_log(int buffered)
{
    struct errbuf err;
    snprintf(dir, sizeof(dir), "/tmp/test_log.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    access_log = (struct custom_log){.path = pool_printf(pool, "%s/access_log", dir), .fd = -1};
    access_log.format = log_format_compile(pool, "%h %l %u %t \"%r\" %>s %b", &err);
    cr_assert_not_null(access_log.format);
    srv.main.custom_logs = &access_log;
    srv.main.error_log = pool_printf(pool, "%s/error_log", dir);
    srv.buffered_logs = buffered;
    cr_assert_eq(log_open(&srv, &err), 0, "%s", err.msg);
}

static void remove_access_log(void)
{
    log_close(&srv);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* The access log's text (static buffer) and its length. */
static const char *access_text(size_t *len)
{
    static char text[1 << 20];
    int fd = open(access_log.path, O_RDONLY);
    cr_assert_geq(fd, 0);
    ssize_t n = read(fd, text, sizeof(text) - 1);
    cr_assert_geq(n, 0);
    close(fd);
    text[n] = '\0';
    if (len != NULL)
        *len = (size_t)n;
    return text;
}

static int access_lines(void)
{
    int n = 0;
    for (const char *p = access_text(NULL); *p; p++)
        n += *p == '\n';
    return n;
}

/* The line req renders to. */
static size_t line_of(const struct request *r, char *buf, size_t size)
{
    size_t n = log_format_render(access_log.format, r, buf, size);
    buf[n] = '\0';
    return n;
}

/* The access log holds `count` copies of line (n bytes), in one piece each. */
static void expect_lines(const char *line, size_t n, int count)
{
    size_t len;
    const char *text = access_text(&len);
    cr_assert_eq(len, (size_t)count * n);
    for (int i = 0; i < count; i++)
        cr_assert_eq(memcmp(text + i * n, line, n), 0, "line %d: %.*s", i, (int)n, text + i * n);
}

Test(log, off_writes_each_line_at_once)
{
    open_access_log(0);
    for (int i = 1; i <= 3; i++) {
        log_access(&srv, &req);
        cr_assert_eq(access_lines(), i);
    }
    cr_assert_null(thread_buffers);
    cr_assert_eq(log_flush_due(0), -1);
    cr_assert_eq(log_flush_due(1), -1, "BufferedLogs Off: no wait is bounded");
    remove_access_log();
}

Test(log, buffered_lines_wait_until_flushed)
{
    open_access_log(1);
    char line[512];
    size_t n = line_of(&req, line, sizeof(line));
    for (int i = 0; i < 3; i++)
        log_access(&srv, &req);
    cr_assert_eq(access_lines(), 0);
    log_flush();
    expect_lines(line, n, 3);
    /* flushed, the buffers go on buffering */
    log_access(&srv, &req);
    cr_assert_eq(access_lines(), 3);
    log_flush();
    cr_assert_eq(access_lines(), 4);
    remove_access_log();
}

Test(log, full_buffer_is_written_at_a_line_boundary)
{
    open_access_log(1);
    char line[512];
    size_t n = line_of(&req, line, sizeof(line));
    size_t fit = LOG_BUFFER_SIZE / n;
    for (size_t i = 0; i < fit; i++)
        log_access(&srv, &req);
    cr_assert_eq(access_lines(), 0, "%zu lines of %zu bytes fill %d bytes", fit, n, LOG_BUFFER_SIZE);
    log_access(&srv, &req);
    size_t len;
    const char *text = access_text(&len);
    cr_assert_eq(len, fit * n, "one write of the %zu whole lines that fit: %zu bytes, got %zu", fit, fit * n,
                 len);
    cr_assert_eq(text[len - 1], '\n');
    cr_assert_eq(thread_buffers->buf[0].used, n, "the line that did not fit waits alone");
    log_flush();
    cr_assert_eq(access_lines(), (int)fit + 1);
    remove_access_log();
}

Test(log, longer_line_than_the_buffer_is_written_alone_in_order)
{
    open_access_log(1);
    char *path = pool_alloc(pool, LOG_BUFFER_SIZE + 100);
    memset(path, 'x', LOG_BUFFER_SIZE + 99);
    path[0] = '/';
    path[LOG_BUFFER_SIZE + 99] = '\0';
    struct request big = req;
    big.request_line = pool_printf(pool, "GET %s HTTP/1.1", path);
    char small_line[512], *big_line = pool_alloc(pool, 2 * LOG_BUFFER_SIZE);
    size_t ns = line_of(&req, small_line, sizeof(small_line));
    size_t nb = line_of(&big, big_line, 2 * LOG_BUFFER_SIZE);
    cr_assert_gt(nb, LOG_BUFFER_SIZE);

    log_access(&srv, &req);
    log_access(&srv, &big);
    size_t len;
    const char *text = access_text(&len);
    cr_assert_eq(len, ns + nb, "the short line, then the long one: %zu bytes, got %zu", ns + nb, len);
    cr_assert_eq(memcmp(text, small_line, ns), 0);
    cr_assert_eq(memcmp(text + ns, big_line, nb), 0);
    log_access(&srv, &req);
    cr_assert_eq(access_lines(), 2, "the next short line is buffered again");
    remove_access_log();
}

Test(log, due_lines_are_written_on_time)
{
    open_access_log(1);
    cr_assert_eq(log_flush_due(0), -1, "nothing buffered: no timeout");
    cr_assert_eq(log_flush_due(1), WATCH_MS, "other threads may buffer any time: looked at again");
    log_access(&srv, &req);
    int ms = log_flush_due(0);
    cr_assert(ms > WATCH_MS && ms <= LOG_FLUSH_MS - FLUSH_SLACK_MS, "due in %d ms", ms);
    cr_assert_eq(log_flush_due(1), WATCH_MS);
    atomic_store(&thread_buffers->since, now_ms() - (LOG_FLUSH_MS - FLUSH_SLACK_MS - 50));
    ms = log_flush_due(1);
    cr_assert(ms > 0 && ms <= 50, "every thread's: due in %d ms", ms);
    cr_assert_eq(access_lines(), 0);
    /* as if the line had waited LOG_FLUSH_MS */
    atomic_store(&thread_buffers->since, now_ms() - LOG_FLUSH_MS);
    cr_assert_eq(log_flush_due(0), -1);
    cr_assert_eq(access_lines(), 1);
    remove_access_log();
}

/* An event loop's turn: BufferedLogs Off, the lines of a turn go out together when it ends, in order. */
Test(log, turn_lines_wait_for_the_turns_end)
{
    open_access_log(0);
    char line[512];
    size_t n = line_of(&req, line, sizeof(line));
    log_turns(1);
    for (int i = 0; i < 3; i++)
        log_access(&srv, &req);
    cr_assert_eq(access_lines(), 0);
    cr_assert_eq(log_flush_due(0), -1, "no timer: the turn's end writes them");
    log_turn_end();
    expect_lines(line, n, 3);
    log_turn_end(); /* nothing waits: nothing written again */
    cr_assert_eq(access_lines(), 3);
    log_access(&srv, &req);
    log_turns(0); /* the loop is over: what waits goes out, later lines at once */
    cr_assert_eq(access_lines(), 4);
    log_access(&srv, &req);
    cr_assert_eq(access_lines(), 5);
    remove_access_log();
}

/* BufferedLogs On keeps its own rules under an event loop: a turn's end does not write the buffers. */
Test(log, turns_leave_buffered_logs_to_their_timer)
{
    open_access_log(1);
    log_turns(1);
    log_access(&srv, &req);
    log_turn_end();
    cr_assert_eq(access_lines(), 0);
    cr_assert_gt(log_flush_due(0), 0, "its timer runs");
    log_flush();
    cr_assert_eq(access_lines(), 1);
    log_turns(0);
    remove_access_log();
}

/* A stop signal in the middle of a turn writes the turn's lines. */
Test(log, stop_signal_writes_the_turns_lines)
{
    open_access_log(0);
    log_turns(1);
    for (int i = 0; i < 2; i++)
        log_access(&srv, &req);
    cr_assert_eq(access_lines(), 0);
    cr_assert_eq(log_flush_on_signal(), 1);
    cr_assert_eq(access_lines(), 2);
    remove_access_log();
}

Test(log, every_line_is_written_before_the_process_ends)
{
    open_access_log(1);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < 5; i++)
            log_access(&srv, &req);
        /* what process.c does when child_main returns */
        log_flush();
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(access_lines(), 5);
    remove_access_log();
}

Test(log, stop_signal_writes_every_line)
{
    open_access_log(1);
    for (int i = 0; i < 5; i++)
        log_access(&srv, &req);
    cr_assert_eq(log_flush_on_signal(), 1, "nobody is logging: the handler may end the process");
    cr_assert_eq(access_lines(), 5);
    cr_assert_eq(atomic_load(&thread_buffers->state), BUFS_DONE);
    /* the process is ending: a later line goes out at once */
    log_access(&srv, &req);
    cr_assert_eq(access_lines(), 6);
    remove_access_log();
}

/* The signal interrupts a thread in the middle of adding a line: it finishes, writes, and ends the process.
 */
Test(log, stop_signal_while_logging_leaves_the_exit_to_the_logger)
{
    open_access_log(1);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        log_access(&srv, &req);
        struct log_buffers *b = thread_buffers;
        if (!bufs_take(b, 1))
            _exit(10);
        buffer_add(&b->buf[0], access_log.fd, "interrupted\n", 12);
        if (log_flush_on_signal() != 0) /* the handler must not end the process now */
            _exit(11);
        if (access_lines() != 0)
            _exit(12);
        bufs_give(b); /* writes both lines and ends the process */
        _exit(13);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    char line[512];
    size_t n = line_of(&req, line, sizeof(line));
    size_t len;
    const char *text = access_text(&len);
    cr_assert_eq(len, n + 12);
    cr_assert_eq(memcmp(text, line, n), 0);
    cr_assert_str_eq(text + n, "interrupted\n");
    remove_access_log();
}

enum { THREADS = 4, THREAD_LINES = 3000 };

struct logger {
    int id;
    struct request r;
    char request_line[64];
};

static void *logger_main(void *arg)
{
    struct logger *lg = arg;
    lg->r.request_line = lg->request_line;
    for (int i = 0; i < THREAD_LINES; i++) {
        snprintf(lg->request_line, sizeof(lg->request_line), "GET /t%d?i=%d HTTP/1.1", lg->id, i);
        log_access(&srv, &lg->r);
    }
    return NULL;
}

static atomic_int loggers_done;

/* worker's listener: writes every thread's due lines meanwhile. */
static void *flusher_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&loggers_done)) {
        for (struct log_buffers *b = atomic_load(&all_buffers); b != NULL; b = b->next)
            atomic_store(&b->since, 1);
        log_flush_due(1);
    }
    return NULL;
}

/* Threads keep their own buffers; another thread writes them out meanwhile; a thread's end writes its own. */
Test(log, threads_buffer_apart_and_lines_stay_whole_and_ordered)
{
    open_access_log(1);
    struct logger lg[THREADS];
    pthread_t t[THREADS], flusher;
    cr_assert_eq(pthread_create(&flusher, NULL, flusher_main, NULL), 0);
    for (int i = 0; i < THREADS; i++) {
        lg[i].id = i;
        lg[i].r = req;
        cr_assert_eq(pthread_create(&t[i], NULL, logger_main, &lg[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&loggers_done, 1);
    pthread_join(flusher, NULL);

    /* no log_flush(): the threads' ends wrote what they held */
    char *text = strdup(access_text(NULL));
    int next[THREADS] = {0}, count = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        int id, i;
        cr_assert_eq(sscanf(l, "- - - [%*[^]]] \"GET /t%d?i=%d HTTP/1.1\" 200 1234", &id, &i), 2,
                     "a line not whole: %s", l);
        cr_assert(id >= 0 && id < THREADS);
        cr_assert_eq(i, next[id], "thread %d: line %d after %d", id, i, next[id] - 1);
        next[id]++;
        count++;
    }
    cr_assert_eq(count, THREADS * THREAD_LINES);
    free(text);
    remove_access_log();
}

/* Processes write their blocks to the same O_APPEND file: every line arrives whole. */
Test(log, buffered_processes_lines_stay_whole)
{
    open_access_log(1);
    enum { PROCS = 4, LINES = 2000 };
    for (int p = 0; p < PROCS; p++) {
        if (fork() == 0) {
            for (int i = 0; i < LINES; i++)
                log_access(&srv, &req);
            log_flush();
            _exit(0);
        }
    }
    for (int p = 0; p < PROCS; p++)
        wait(NULL);
    char expect[512];
    size_t n = line_of(&req, expect, sizeof(expect));
    size_t len;
    const char *text = access_text(&len);
    cr_assert_eq(len, PROCS * LINES * n);
    for (size_t off = 0; off < len; off += n)
        cr_assert_eq(memcmp(text + off, expect, n), 0, "at byte %zu: %.*s", off, (int)n, text + off);
    remove_access_log();
}
