/* Access log formats (common, combined, escapes), error log lines, and whole lines under concurrent writers.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
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
    srv.server_name = "localhost";
    srv.log_level = LOG_WARN;
    memset(&req, 0, sizeof(req));
    req.pool = pool;
    req.server = &srv;
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

Test(log, combined_escapes_client_strings)
{
    cr_assert_str_eq(render("\"%{Referer}i\" \"%{User-Agent}i\" \"%{X-None}i\""),
                     "\"http://x/\" \"curl/7 \\\"quoted\\\"\" \"-\"\n");
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
    cr_assert_eq(log_format_define(&srv, "common", "%h %>s", &err), 0);
    cr_assert_not_null(log_format_find(&srv, "common"));
    cr_assert_null(log_format_find(&srv, "combined"));
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
    srv.custom_logs = &cl;
    srv.error_log = pool_printf(pool, "%s/error_log", dir);
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
    f = fopen(srv.error_log, "r");
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
