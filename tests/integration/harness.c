/*
 * Integration-test harness, the part every test uses (see harness.h): the MPM parameters of MPM_TEST, the
 * caller recorded for failure messages, and small utilities. Servers, the client, expectations, /proc and
 * logs are in the other harness_*.c files.
 */
#define HARNESS_IMPL
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const char *harness_mpm = "?";
static const char *caller_file;
static int caller_line;

void harness_at(const char *file, int line)
{
    const char *slash = strrchr(file, '/');

    caller_file = slash ? slash + 1 : file;
    caller_line = line;
}

const char *harness_where(void)
{
    static char buf[128];

    if (!caller_file)
        return "";
    snprintf(buf, sizeof(buf), " (at %s:%d)", caller_file, caller_line);
    return buf;
}

/* ---- utilities ---- */

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    cr_assert(s != NULL, "vasprintf() failed");
    return s;
}

char *repeat(const char *unit, size_t times)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * times + 1);

    cr_assert(s != NULL, "malloc() failed");
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * times] = '\0';
    return s;
}

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int cmp_ms(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t median_ms(int64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(v[0]), cmp_ms);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* Bytes rendered printable, at most max of them: \r \n \t \" \\ and \xNN; on one line, or with a line
 * break after each \n. */
static char *render(const void *data, size_t len, size_t max, int one_line)
{
    const unsigned char *p = data;
    size_t n = len < max ? len : max, o = 0;
    char *out = malloc(n * 4 + 64);

    cr_assert(out != NULL, "malloc() failed");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        if (ch == '\r' || ch == '\n' || ch == '\t' || ch == '\\' || (ch == '"' && one_line)) {
            out[o++] = '\\';
            out[o++] = ch == '\r' ? 'r' : ch == '\n' ? 'n' : ch == '\t' ? 't' : (char)ch;
            if (ch == '\n' && !one_line)
                out[o++] = '\n';
        } else if (ch < 0x20 || ch >= 0x7f) {
            o += (size_t)sprintf(out + o, "\\x%02x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    if (len > n)
        o += (size_t)sprintf(out + o, "...(%zu bytes in all)", len);
    out[o] = '\0';
    return out;
}

char *escape(const void *data, size_t len)
{
    return render(data, len, 3000, 0);
}

char *escape_line(const void *data, size_t len, size_t max)
{
    return render(data, len, max, 1);
}

char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (fd == -1)
        return NULL;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap + 1);
            cr_assert(nb != NULL, "realloc() failed");
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const char *p = data;

    cr_assert(fd != -1, "open(%s) failed: %s", path, strerror(errno));
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w == -1 && errno == EINTR)
            continue;
        cr_assert(w > 0, "write(%s) failed: %s", path, strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    cr_assert(close(fd) == 0, "close(%s) failed: %s", path, strerror(errno));
}

const char *http_date(time_t t)
{
    static __thread char buf[64]; /* per thread: the restart tests parse responses in several threads */
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

/* ---- MPM parameters ---- */

/* Fills names from "Compiled-in MPMs: a b c" in `$HTTPD_BIN -V`; returns the count or -1 with error. */
static int list_mpms(char names[][32], int max, char *error, size_t errlen)
{
    const char *bin = getenv("HTTPD_BIN");
    char *out = NULL, *err = NULL, *line;
    int n = 0, status;

    if (!bin || !*bin) {
        snprintf(error, errlen, "HTTPD_BIN is not set (run through `make check`)");
        return -1;
    }
    char *argv[] = {(char *)bin, "-V", NULL};
    status = run_cmd(argv, 10000, &out, &err);
    line = out ? strstr(out, "Compiled-in MPMs:") : NULL;
    if (!line && err)
        line = strstr(err, "Compiled-in MPMs:");
    if (!line) {
        snprintf(error, errlen,
                 "`%s -V` (status %d) has no \"Compiled-in MPMs:\" line; stdout: %.80s stderr: %.80s", bin,
                 status, out ? out : "", err ? err : "");
        free(out);
        free(err);
        return -1;
    }
    line += strlen("Compiled-in MPMs:");
    line[strcspn(line, "\r\n")] = '\0';
    for (char *save = NULL, *tok = strtok_r(line, " \t,", &save); tok && n < max;
         tok = strtok_r(NULL, " \t,", &save)) {
        snprintf(names[n++], 32, "%s", tok);
    }
    free(out);
    free(err);
    if (n == 0) {
        snprintf(error, errlen, "`%s -V` lists no MPM", bin);
        return -1;
    }
    return n;
}

struct criterion_test_params harness_mpm_params(void)
{
    static struct mpm_param *params;
    static size_t count;

    if (!params) {
        char names[8][32], error[256] = "";
        int n = list_mpms(names, 8, error, sizeof(error));

        count = n > 0 ? (size_t)n : 1;
        params = cr_calloc(count, sizeof(*params));
        if (n <= 0) {
            snprintf(params[0].name, sizeof(params[0].name), "unknown");
            snprintf(params[0].error, sizeof(params[0].error), "%s", error);
        }
        for (int i = 0; i < n; i++)
            snprintf(params[i].name, sizeof(params[i].name), "%.31s", names[i]);
    }
    return cr_make_param_array(struct mpm_param, params, count);
}

void harness_begin(const struct mpm_param *p)
{
    harness_mpm = p->name;
    cr_assert(p->error[0] == '\0', "cannot list the MPMs: %s", p->error);
    /* A peer closing early must fail an assertion, not kill the test. */
    signal(SIGPIPE, SIG_IGN);
}

void harness_begin_mpm(const char *name)
{
    static struct mpm_param me;
    char names[8][32], error[256] = "";
    int n = list_mpms(names, 8, error, sizeof(error)), found = 0;

    cr_assert(n > 0, "cannot list the MPMs: %s", error);
    for (int i = 0; i < n; i++)
        found |= strcmp(names[i], name) == 0;
    if (!found)
        cr_skip_test("the %s MPM is not compiled in", name);
    snprintf(me.name, sizeof(me.name), "%s", name);
    harness_begin(&me);
}

/* ---- limits and reporting ---- */

int harness_sanitized(void)
{
    const char *path = getenv("HTTPD_BIN");
    size_t len;
    char *bin = path ? read_file(path, &len) : NULL;
    int found = bin && (memmem(bin, len, "__asan_init", 11) || memmem(bin, len, "__tsan_init", 11));

    free(bin);
    return found;
}

void raise_nofile(unsigned long want)
{
    struct rlimit rl;

    hassert(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit() failed: %s", strerror(errno));
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        hassert(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit() failed: %s", strerror(errno));
    }
    hassert(rl.rlim_cur >= want, "RLIMIT_NOFILE's hard limit is below %lu descriptors", want);
}

void harness_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
