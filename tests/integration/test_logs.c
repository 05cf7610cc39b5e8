/*
 * The logs a request leaves: one CustomLog line per request in the common format (%b is "-" for no body
 * bytes), nothing for a connection that sent no request, and an ErrorLog file.
 */
#include "harness.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Asserts line matches the common format for request_line, status and bytes. */
static void expect_common(const char *line, const char *request_line, int status, const char *bytes)
{
    regex_t re;
    char *pat =
        xasprintf("^127\\.0\\.0\\.1 - - \\[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} "
                  "[+-][0-9]{4}\\] \"%s\" %d %s$",
                  request_line, status, bytes);

    hassert(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) == 0, "regcomp(%s) failed", pat);
    hassert(regexec(&re, line, 0, NULL, 0) == 0, "access_log line \"%s\" does not match %s", line, pat);
    regfree(&re);
    free(pat);
}

static int count_newlines(const char *text)
{
    int n = 0;

    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* Splits text into lines in place; returns the count (at most max). */
static int split_lines(char *text, char **lines, int max)
{
    int n = 0;

    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    return n;
}

MPM_TEST(logs, access_and_error_log, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    char *page404 = error_body(404), *n200 = xasprintf("%zu", strlen(INDEX_HTML));
    char *n404 = xasprintf("%zu", strlen(page404));

    expect_status(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 200);
    expect_status(c, "GET /missing HTTP/1.1\r\nHost: localhost\r\n\r\n", 404);
    expect_status(c, "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n", 200);
    conn_close(c);

    /* Lines are written when each request ends; give the last one a moment. */
    char *text = NULL;
    int64_t deadline = now_ms() + 3000;
    for (;;) {
        free(text);
        text = read_file(s->access_log, NULL);
        if ((text && count_newlines(text) >= 3) || now_ms() > deadline)
            break;
        sleep_ms(20);
    }
    free(text);
    hassert(access(s->error_log, F_OK) == 0, "no ErrorLog %s", s->error_log);
    char *access_path = strdup(s->access_log);
    /* Read again after the stop: nothing more was logged (the readiness probe is not a request). */
    int status = server_terminate(s);
    hassert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x after SIGTERM", status);
    text = read_file(access_path, NULL);
    hassert(text != NULL, "no access_log %s", access_path);
    char *lines[8], *copy = strdup(text);
    int n = split_lines(copy, lines, 8);
    hassert(n == 3, "access_log has %d lines, want 3:\n%s", n, text);
    expect_common(lines[0], "GET / HTTP/1\\.1", 200, n200);
    expect_common(lines[1], "GET /missing HTTP/1\\.1", 404, n404);
    expect_common(lines[2], "HEAD / HTTP/1\\.1", 200, "-");
    free(copy);
    free(text);
    free(access_path);
    free(page404);
    free(n200);
    free(n404);
    server_destroy(s);
}
