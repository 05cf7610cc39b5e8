/*
 * Integration-test harness (see harness.h). Servers run in their own process group, with PR_SET_PDEATHSIG so
 * that a test killed by Criterion's timeout takes its server down too; harness_fini() (the .fini of every
 * MPM_TEST, which Criterion also runs after a failed assertion) kills any server still registered, prints the
 * end of its logs and removes its directory (kept when HARNESS_KEEP is set in the environment).
 */
#define HARNESS_IMPL
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct extra_file {
    char *rel;
    char *content;
    struct extra_file *next;
};

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

#define MAX_SERVERS 8
static struct srv *running[MAX_SERVERS];

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

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

char *escape(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t max = 3000, n = len < max ? len : max, o = 0;
    char *out = malloc(n * 4 + 64);

    cr_assert(out != NULL, "malloc() failed");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = p[i];
        if (ch == '\r') {
            out[o++] = '\\';
            out[o++] = 'r';
        } else if (ch == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
            out[o++] = '\n';
        } else if (ch == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
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

/* Replaces every "@PORT@" in s by port (malloc'd). */
static char *subst_port(const char *s, int port)
{
    char num[16];
    size_t nlen = (size_t)snprintf(num, sizeof(num), "%d", port), n = 0;
    const char *p;
    char *out;

    for (p = s; (p = strstr(p, "@PORT@")) != NULL; p += 6)
        n++;
    out = malloc(strlen(s) + n * nlen + 1);
    cr_assert(out != NULL, "malloc() failed");
    char *o = out;
    for (p = s; *p;) {
        if (strncmp(p, "@PORT@", 6) == 0) {
            memcpy(o, num, nlen);
            o += nlen;
            p += 6;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

const char *http_date(time_t t)
{
    static __thread char buf[64]; /* per thread: the restart tests parse responses in several threads */
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

/* ---- content ---- */

const char *harness_page(void)
{
    static char page[PAGE_LEN + 1];

    if (!page[0]) {
        for (size_t i = 0; i < PAGE_LEN; i++)
            page[i] = (i % 64 == 63) ? '\n' : (char)('a' + (i * 7 + i / 64) % 26);
    }
    return page;
}

const unsigned char *harness_big(void)
{
    static unsigned char big[BIG_LEN];
    static int done;

    if (!done) {
        for (size_t i = 0; i < BIG_LEN; i++)
            big[i] = (unsigned char)((i * 131 + (i >> 8) * 7 + (i >> 13)) & 0xff);
        done = 1;
    }
    return big;
}

/* ---- processes ---- */

/* Reads ppid and pgrp from /proc/PID/stat; -1 if the process is gone. */
static int proc_stat(pid_t pid, pid_t *ppid, pid_t *pgrp, char *state)
{
    char path[64], buf[1024];
    int fd, ppid_i, pgrp_i;
    ssize_t n;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c %d %d", state, &ppid_i, &pgrp_i) != 3)
        return -1;
    *ppid = ppid_i;
    *pgrp = pgrp_i;
    return 0;
}

/* Scans /proc for processes with the given parent (by_group 0) or process group (by_group 1). */
static int proc_scan(pid_t id, int by_group, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    cr_assert(d != NULL, "opendir(/proc) failed: %s", strerror(errno));
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        pid_t ppid, pgrp;
        char state;

        if (*end || pid <= 0)
            continue;
        if (proc_stat((pid_t)pid, &ppid, &pgrp, &state) == -1)
            continue;
        if ((by_group ? pgrp : ppid) == id)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

int proc_children(pid_t parent, pid_t *out, int max)
{
    return proc_scan(parent, 0, out, max);
}

int proc_group(pid_t pgid, pid_t *out, int max)
{
    return proc_scan(pgid, 1, out, max);
}

/* Appends what fd has to *buf; returns 0 at EOF, 1 otherwise. */
static int drain_pipe(int fd, char **buf, size_t *len, size_t *cap)
{
    char tmp[4096];
    ssize_t r = read(fd, tmp, sizeof(tmp));

    if (r == -1 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (r <= 0)
        return 0;
    if (*len + (size_t)r + 1 > *cap) {
        *cap = (*len + (size_t)r + 1) * 2;
        char *nb = realloc(*buf, *cap);
        if (!nb)
            return 0;
        *buf = nb;
    }
    memcpy(*buf + *len, tmp, (size_t)r);
    *len += (size_t)r;
    (*buf)[*len] = '\0';
    return 1;
}

int run_cmd(char *const argv[], int timeout_ms, char **out, char **err)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, status = 0, result = -1;
    char *bufs[2] = {NULL, NULL};
    size_t lens[2] = {0, 0}, caps[2] = {0, 0};
    int64_t deadline = now_ms() + timeout_ms;
    pid_t pid;

    if (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1)
        goto fail;
    pid = fork();
    if (pid == -1)
        goto fail;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        setpgid(0, 0);
        if (devnull == -1 || dup2(devnull, 0) == -1 || dup2(po[1], 1) == -1 || dup2(pe[1], 2) == -1)
            _exit(126);
        execvp(argv[0], argv);
        dprintf(2, "execvp(%s) failed: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;

    int open_fds = 2, exited = 0;
    while (!exited || open_fds > 0) {
        struct pollfd pfd[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        int64_t left = deadline - now_ms();

        if (left <= 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            goto fail;
        }
        if (!exited) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid)
                exited = 1;
        }
        if (open_fds == 0) {
            sleep_ms(5);
            continue;
        }
        if (poll(pfd, 2, exited ? (int)left : (int)(left < 20 ? left : 20)) > 0) {
            for (int i = 0; i < 2; i++) {
                if (pfd[i].fd != -1 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                    if (!drain_pipe(pfd[i].fd, &bufs[i], &lens[i], &caps[i])) {
                        close(pfd[i].fd);
                        if (i == 0)
                            po[0] = -1;
                        else
                            pe[0] = -1;
                        open_fds--;
                    }
                }
            }
        }
    }
    result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

fail:
    for (int i = 0; i < 2; i++) {
        if (!bufs[i])
            bufs[i] = strdup("");
    }
    if (out)
        *out = bufs[0];
    else
        free(bufs[0]);
    if (err)
        *err = bufs[1];
    else
        free(bufs[1]);
    for (int i = 0; i < 2; i++) {
        if (po[i] != -1)
            close(po[i]);
        if (pe[i] != -1)
            close(pe[i]);
    }
    return result;
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

/* ---- servers ---- */

static void register_server(struct srv *s)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (!running[i]) {
            running[i] = s;
            return;
        }
    }
    cr_assert_fail("more than %d servers in one test", MAX_SERVERS);
}

static void unregister_server(struct srv *s)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        if (running[i] == s)
            running[i] = NULL;
    }
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    if (remove(path) == -1)
        fprintf(stderr, "harness: remove(%s) failed: %s\n", path, strerror(errno));
    return 0;
}

static void remove_tree(const char *dir)
{
    if (getenv("HARNESS_KEEP")) {
        fprintf(stderr, "harness: keeping %s\n", dir);
        return;
    }
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The last `max` bytes of a file, for failure messages (malloc'd). */
static char *file_tail(const char *path, size_t max)
{
    size_t len;
    char *all = read_file(path, &len), *out;

    if (!all)
        return xasprintf("(%s: %s)", path, strerror(errno));
    out = escape(len > max ? all + len - max : all, len > max ? max : len);
    free(all);
    return out;
}

void harness_fini(void)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        struct srv *s = running[i];
        if (!s)
            continue;
        running[i] = NULL;
        if (s->pid > 0) {
            char *e = file_tail(s->error_log, 2000), *o = file_tail(s->stderr_log, 1000);
            fprintf(stderr,
                    "harness [mpm %s]: killing server %d left running; error_log tail:\n%s\nstderr:\n%s\n",
                    s->mpm, (int)s->pid, e, o);
            free(e);
            free(o);
            kill(-s->pid, SIGKILL);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            s->pid = 0;
        }
        remove_tree(s->dir);
    }
}

static void make_htdocs(struct srv *s)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/sub", s->htdocs);
    cr_assert(mkdir(s->htdocs, 0755) == 0, "mkdir(%s) failed: %s", s->htdocs, strerror(errno));
    cr_assert(mkdir(path, 0755) == 0, "mkdir(%s) failed: %s", path, strerror(errno));
    write_file(server_path(s, "htdocs/index.html"), INDEX_HTML, strlen(INDEX_HTML));
    write_file(server_path(s, "htdocs/sub/index.html"), SUB_INDEX_HTML, strlen(SUB_INDEX_HTML));
    write_file(server_path(s, "htdocs/page.html"), harness_page(), PAGE_LEN);
    write_file(server_path(s, "htdocs/big.bin"), harness_big(), BIG_LEN);
    write_file(server_path(s, "htdocs/secret.html"), "secret\n", 7);
    cr_assert(chmod(server_path(s, "htdocs/secret.html"), 0) == 0, "chmod() failed: %s", strerror(errno));
    cr_assert(symlink("/etc/passwd", server_path(s, "htdocs/passwd-link")) == 0, "symlink() failed: %s",
              strerror(errno));
}

struct srv *server_new(const char *mpm, const char *extra)
{
    struct srv *s = calloc(1, sizeof(*s));

    cr_assert(s != NULL, "calloc() failed");
    cr_assert(getenv("HTTPD_BIN") && getenv("HTTPD_SRCDIR"), "HTTPD_BIN and HTTPD_SRCDIR must be set");
    snprintf(s->mpm, sizeof(s->mpm), "%s", mpm);
    snprintf(s->dir, sizeof(s->dir), "/tmp/httpd-it-XXXXXX");
    cr_assert(mkdtemp(s->dir) != NULL, "mkdtemp() failed: %s", strerror(errno));
    cr_assert(chmod(s->dir, 0755) == 0, "chmod(%s) failed: %s", s->dir, strerror(errno));
    register_server(s);
    snprintf(s->conf, sizeof(s->conf), "%s/conf/httpd.conf", s->dir);
    snprintf(s->htdocs, sizeof(s->htdocs), "%s/htdocs", s->dir);
    snprintf(s->error_log, sizeof(s->error_log), "%s/error_log", s->dir);
    snprintf(s->access_log, sizeof(s->access_log), "%s/access_log", s->dir);
    snprintf(s->pid_file, sizeof(s->pid_file), "%s/httpd.pid", s->dir);
    snprintf(s->stderr_log, sizeof(s->stderr_log), "%s/stderr.log", s->dir);
    cr_assert(mkdir(server_path(s, "conf"), 0755) == 0, "mkdir(conf) failed: %s", strerror(errno));
    make_htdocs(s);
    s->listen_in_conf = 1;
    s->extra = extra ? strdup(extra) : NULL;
    return s;
}

void server_add_file(struct srv *s, const char *rel, const char *content)
{
    struct extra_file *f = calloc(1, sizeof(*f));

    cr_assert(f != NULL, "calloc() failed");
    f->rel = strdup(rel);
    f->content = strdup(content);
    f->next = s->files;
    s->files = f;
}

const char *server_path(const struct srv *s, const char *rel)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];

    snprintf(b, sizeof(bufs[0]), "%s/%s", s->dir, rel);
    return b;
}

char *server_conf_text(const struct srv *s, int port)
{
    const char *src = getenv("HTTPD_SRCDIR");
    char *listen = s->listen_in_conf ? xasprintf("Listen 127.0.0.1:%d\n", port) : strdup("");
    char *extra = s->extra ? subst_port(s->extra, port) : strdup("");
    char *text = xasprintf("%s"
                           "ServerName localhost\n"
                           "DocumentRoot \"%s\"\n"
                           "ErrorLog \"%s\"\n"
                           "LogLevel info\n"
                           "LogFormat \"%%h %%l %%u %%t \\\"%%r\\\" %%>s %%b\" common\n"
                           "CustomLog \"%s\" common\n"
                           "PidFile \"%s\"\n"
                           "TypesConfig \"%s/conf/mime.types\"\n"
                           "MPM %s\n"
                           "Timeout 3\n"
                           "KeepAliveTimeout 2\n"
                           "%s%s",
                           listen, s->htdocs, s->error_log, s->access_log, s->pid_file, src ? src : ".",
                           s->mpm, extra, (*extra && extra[strlen(extra) - 1] != '\n') ? "\n" : "");
    free(listen);
    free(extra);
    return text;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert(fd != -1, "socket() failed: %s", strerror(errno));
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind() failed: %s", strerror(errno));
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &alen) == 0, "getsockname() failed: %s",
              strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static int try_connect(int port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;

    cr_assert(fd != -1, "socket() failed: %s", strerror(errno));
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* The pid in the PidFile, or 0. */
static pid_t read_pid_file(const struct srv *s)
{
    char *text = read_file(s->pid_file, NULL);
    long pid = text ? strtol(text, NULL, 10) : 0;

    free(text);
    return (pid_t)pid;
}

/* Starts the server once; 1 when it accepts connections, 0 when the port was taken, fails otherwise. */
static int launch_once(struct srv *s, const char *const *args)
{
    const char *bin = getenv("HTTPD_BIN");
    char *argv[64];
    int argc = 0, status;
    pid_t parent = getpid(), pid;
    int64_t deadline, first_ok = 0;

    s->port = free_port();
    char *conf = server_conf_text(s, s->port);
    write_file(s->conf, conf, strlen(conf));
    free(conf);
    for (struct extra_file *f = s->files; f; f = f->next) {
        char *content = subst_port(f->content, s->port);
        write_file(server_path(s, f->rel), content, strlen(content));
        free(content);
    }
    unlink(s->pid_file);

    argv[argc++] = (char *)bin;
    argv[argc++] = "-f";
    argv[argc++] = s->conf;
    argv[argc++] = "-D";
    argv[argc++] = "FOREGROUND";
    for (int i = 0; args && args[i] && argc < 62; i++)
        argv[argc++] = subst_port(args[i], s->port);
    argv[argc] = NULL;

    pid = fork();
    cr_assert(pid != -1, "fork() failed: %s", strerror(errno));
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(s->stderr_log, O_WRONLY | O_CREAT | O_APPEND, 0644);

        setpgid(0, 0);
        /* A test killed by its timeout must not leave its server behind. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(125);
        if (in == -1 || out == -1 || dup2(in, 0) == -1 || dup2(out, 1) == -1 || dup2(out, 2) == -1)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        execv(bin, argv);
        dprintf(2, "execv(%s) failed: %s\n", bin, strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    s->pid = pid;
    for (int i = 5; i < argc; i++)
        free(argv[i]);

    deadline = now_ms() + 5000;
    while (now_ms() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            char *err = read_file(s->error_log, NULL), *out = read_file(s->stderr_log, NULL);
            int in_use = (err && strstr(err, "in use")) || (out && strstr(out, "in use"));
            char *e = file_tail(s->error_log, 1500), *o = file_tail(s->stderr_log, 1500);

            s->pid = 0;
            free(err);
            free(out);
            if (in_use) {
                free(e);
                free(o);
                return 0;
            }
            hfail("server exited during startup (status 0x%x, port %d); error_log: %s\nstderr: %s", status,
                  s->port, e, o);
        }
        if (try_connect(s->port)) {
            /* The PidFile tells our server from another test's that took the port first. */
            if (read_pid_file(s) == pid)
                return 1;
            if (!first_ok)
                first_ok = now_ms();
            else if (now_ms() - first_ok >= 1000)
                return 1;
        }
        sleep_ms(10);
    }
    char *e = file_tail(s->error_log, 1500), *o = file_tail(s->stderr_log, 1500);
    hfail("server did not accept connections on port %d within 5 s; error_log: %s\nstderr: %s", s->port, e,
          o);
    return -1;
}

void server_launch(struct srv *s, const char *const *args)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        if (launch_once(s, args))
            return;
    }
    hfail("could not find a free port in 5 attempts");
}

struct srv *server_start(const char *mpm, const char *extra)
{
    struct srv *s = server_new(mpm, extra);

    server_launch(s, NULL);
    return s;
}

int server_terminate(struct srv *s)
{
    int status = 0;
    int64_t deadline = now_ms() + 5000;

    hassert(s->pid > 0, "server_terminate: not running");
    hassert(kill(s->pid, SIGTERM) == 0, "kill(%d, SIGTERM) failed: %s", (int)s->pid, strerror(errno));
    for (;;) {
        pid_t w = waitpid(s->pid, &status, WNOHANG);
        if (w == s->pid)
            break;
        if (now_ms() > deadline) {
            pid_t pid = s->pid;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            s->pid = 0;
            char *e = file_tail(s->error_log, 1500);
            hfail("server %d did not exit within 5 s of SIGTERM (killed); error_log: %s", (int)pid, e);
        }
        sleep_ms(10);
    }
    s->pid = 0;
    return status;
}

void server_destroy(struct srv *s)
{
    hassert(s->pid == 0, "server_destroy: server still running");
    unregister_server(s);
    remove_tree(s->dir);
    while (s->files) {
        struct extra_file *f = s->files;
        s->files = f->next;
        free(f->rel);
        free(f->content);
        free(f);
    }
    free(s->extra);
    free(s);
}

void server_stop(struct srv *s)
{
    pid_t pgid = s->pid, left[64];
    int status = server_terminate(s), n = 0;

    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *e = file_tail(s->error_log, 1500), *o = file_tail(s->stderr_log, 1000);
        hfail("server did not exit with status 0 after SIGTERM (wait status 0x%x); error_log: %s\nstderr: %s",
              status, e, o);
    }
    /* The parent returns only once its children are gone; allow a moment for the last reaping. */
    for (int i = 0; i < 30; i++) {
        n = proc_group(pgid, left, 64);
        if (n == 0)
            break;
        sleep_ms(10);
    }
    if (n > 0) {
        for (int i = 0; i < n; i++)
            kill(left[i], SIGKILL);
        hfail("%d process(es) of the server's group (first %d) still alive after it exited", n, (int)left[0]);
    }
    /* A server built with --enable-sanitizers reports on stderr, sometimes from a child that just died. */
    char *out = read_file(s->stderr_log, NULL);
    if (out && (strstr(out, "AddressSanitizer") || strstr(out, "LeakSanitizer") ||
                strstr(out, "runtime error:") || strstr(out, "ThreadSanitizer"))) {
        char *e = escape(out, strlen(out));
        hfail("sanitizer report in the server's stderr:\n%s", e);
    }
    free(out);
    server_destroy(s);
}

/* ---- connections ---- */

struct conn *conn_open(int port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct conn *c = calloc(1, sizeof(*c));
    int one = 1;

    cr_assert(c != NULL, "calloc() failed");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    hassert(c->fd != -1, "socket() failed: %s", strerror(errno));
    hassert(connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect(127.0.0.1:%d) failed: %s", port,
            strerror(errno));
    hassert(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0, "setsockopt() failed: %s",
            strerror(errno));
    return c;
}

void conn_send(struct conn *c, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        hassert(w > 0, "send() failed: %s", strerror(errno));
        p += w;
        len -= (size_t)w;
    }
}

void conn_send_str(struct conn *c, const char *s)
{
    conn_send(c, s, strlen(s));
}

int conn_fill(struct conn *c, int timeout_ms)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int64_t deadline = now_ms() + timeout_ms;
    int r;

    if (c->eof)
        return 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        r = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == 0)
            return -1;
        break;
    }
    if (c->cap - c->len < 16384) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->buf = realloc(c->buf, c->cap + 1);
        cr_assert(c->buf != NULL, "realloc() failed");
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n == 0) {
        c->eof = 1;
        return 0;
    }
    if (n < 0) {
        c->err = errno;
        return -2;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return (int)n;
}

void conn_close(struct conn *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c->buf);
    free(c);
}

/* ---- responses ---- */

const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 416:
        return "Range Not Satisfiable";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "?";
    }
}

static int is_tchar(int ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* IMF-fixdate within a minute of now. */
static int valid_date(const char *v)
{
    struct tm tm = {0};
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);

    if (!end || *end || strlen(v) != 29)
        return 0;
    time_t t = timegm(&tm), now = time(NULL);
    return t > now - 60 && t < now + 60 && strcmp(http_date(t), v) == 0;
}

/* Position in the required order after Date and Server: handler headers, Content-Length, Content-Type,
 * Connection. */
static int header_rank(const char *name)
{
    if (strcasecmp(name, "Content-Length") == 0)
        return 1;
    if (strcasecmp(name, "Content-Type") == 0)
        return 2;
    if (strcasecmp(name, "Connection") == 0)
        return 3;
    return 0;
}

static int check_invariants(const struct resp *r, char *err, size_t errlen)
{
    int prev = 0;

    if (r->status < 200)
        return 0;
    if (r->n_headers < 2 || strcmp(r->names[0], "Date") != 0 || strcmp(r->names[1], "Server") != 0) {
        snprintf(err, errlen, "the first two headers must be Date and Server");
        return -1;
    }
    if (!valid_date(r->values[0])) {
        snprintf(err, errlen, "Date is not a current IMF-fixdate: \"%s\"", r->values[0]);
        return -1;
    }
    if (strcmp(r->values[1], SERVER_STRING) != 0) {
        snprintf(err, errlen, "Server is \"%s\", want \"%s\"", r->values[1], SERVER_STRING);
        return -1;
    }
    for (int i = 0; i < r->n_headers; i++) {
        for (int j = 0; j < i; j++) {
            if (strcasecmp(r->names[i], r->names[j]) == 0) {
                snprintf(err, errlen, "header %s appears twice", r->names[i]);
                return -1;
            }
        }
        if (i < 2)
            continue;
        int rank = header_rank(r->names[i]);
        if (rank < prev || (rank == 0 && prev != 0)) {
            snprintf(
                err, errlen,
                "header %s out of order (want Date, Server, handler headers, Content-Length, Content-Type, "
                "Connection)",
                r->names[i]);
            return -1;
        }
        prev = rank;
    }
    const char *conn = resp_get(r, "Connection");
    if (conn && strcmp(conn, "close") != 0 && strcmp(conn, "keep-alive") != 0) {
        snprintf(err, errlen, "Connection: %s", conn);
        return -1;
    }
    if (r->status != 304 && !resp_get(r, "Content-Length")) {
        snprintf(err, errlen, "no Content-Length");
        return -1;
    }
    if (resp_get(r, "Transfer-Encoding")) {
        snprintf(err, errlen, "unexpected Transfer-Encoding");
        return -1;
    }
    return 0;
}

void resp_free(struct resp *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_headers; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->head);
    free(r->norm);
    free(r->body);
    free(r);
}

static void resp_clear(struct resp *r)
{
    for (int i = 0; i < r->n_headers; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->head);
    free(r->norm);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

const char *resp_get(const struct resp *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    }
    return NULL;
}

int resp_parse(const char *buf, size_t len, int no_body, struct resp *r, size_t *used, char *err,
               size_t errlen)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4), *p, *eol;
    size_t head_len;
    long long clen = 0;

    memset(r, 0, sizeof(*r));
    if (!end) {
        if (len > 65536) {
            snprintf(err, errlen, "no end of headers in %zu bytes", len);
            return -1;
        }
        if (len >= 9 && memcmp(buf, "HTTP/1.1 ", 9) != 0) {
            snprintf(err, errlen, "does not start with \"HTTP/1.1 \"");
            return -1;
        }
        return 0;
    }
    head_len = (size_t)(end - buf) + 4;

    /* status line */
    eol = memmem(buf, head_len, "\r\n", 2);
    if (eol - buf < 13 || memcmp(buf, "HTTP/1.1 ", 9) != 0 || !isdigit((unsigned char)buf[9]) ||
        !isdigit((unsigned char)buf[10]) || !isdigit((unsigned char)buf[11]) || buf[12] != ' ' ||
        eol - buf == 13 || (size_t)(eol - buf - 13) >= sizeof(r->reason)) {
        snprintf(err, errlen, "bad status line");
        return -1;
    }
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    memcpy(r->reason, buf + 13, (size_t)(eol - buf - 13));
    if (memchr(buf, '\n', (size_t)(eol - buf)) || memchr(buf, '\0', (size_t)(eol - buf))) {
        snprintf(err, errlen, "bad status line");
        goto fail;
    }

    /* header fields: "Name: value\r\n", exactly one space, no surrounding whitespace */
    for (p = eol + 2; p < end + 2; p = eol + 2) {
        eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        const char *colon = memchr(p, ':', (size_t)(eol - p)), *q;
        if (!colon || colon == p || colon + 1 >= eol || colon[1] != ' ' || colon + 2 == eol ||
            isspace((unsigned char)colon[2]) || isspace((unsigned char)eol[-1])) {
            char *e = escape(p, (size_t)(eol - p));
            snprintf(err, errlen, "bad header line \"%s\"", e);
            free(e);
            goto fail;
        }
        for (q = p; q < colon; q++) {
            if (!is_tchar((unsigned char)*q)) {
                snprintf(err, errlen, "bad header name");
                goto fail;
            }
        }
        for (q = colon + 2; q < eol; q++) {
            if (*q == '\n' || *q == '\r' || *q == '\0') {
                snprintf(err, errlen, "bare CR, LF or NUL in a header value");
                goto fail;
            }
        }
        if (r->n_headers == 64) {
            snprintf(err, errlen, "more than 64 headers");
            goto fail;
        }
        r->names[r->n_headers] = strndup(p, (size_t)(colon - p));
        r->values[r->n_headers] = strndup(colon + 2, (size_t)(eol - colon - 2));
        r->n_headers++;
    }

    /* framing */
    const char *cl = resp_get(r, "Content-Length");
    if (cl) {
        char *cend;
        errno = 0;
        clen = strtoll(cl, &cend, 10);
        if (!isdigit((unsigned char)cl[0]) || *cend || errno || clen < 0) {
            snprintf(err, errlen, "bad Content-Length \"%s\"", cl);
            goto fail;
        }
    }
    if (check_invariants(r, err, errlen) == -1)
        goto fail;
    if (no_body || r->status < 200 || r->status == 204 || r->status == 304)
        clen = 0;
    if (len - head_len < (size_t)clen) {
        resp_clear(r);
        return 0;
    }

    r->head = strndup(buf, head_len);
    r->head_len = head_len;
    r->body = malloc((size_t)clen + 1);
    cr_assert(r->head && r->body, "malloc() failed");
    memcpy(r->body, buf + head_len, (size_t)clen);
    r->body[clen] = '\0';
    r->body_len = (size_t)clen;
    if (r->status >= 200) {
        r->norm = xasprintf("%.*s" DATE_PLACEHOLDER "%s", (int)(strstr(r->head, "\r\nDate: ") + 8 - r->head),
                            r->head, strstr(r->head, "\r\nDate: ") + 8 + strlen(r->values[0]));
    } else {
        r->norm = strdup(r->head);
    }
    *used = head_len + (size_t)clen;
    return 1;

fail:
    resp_clear(r);
    return -1;
}

int resp_read(struct conn *c, int no_body, int timeout_ms, struct resp *r, char *err, size_t errlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    char perr[512];

    for (;;) {
        size_t used = 0;
        int rc = resp_parse(c->buf ? c->buf : "", c->len, no_body, r, &used, perr, sizeof(perr));

        if (rc == 1) {
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return 0;
        }
        if (rc == -1) {
            char *e = escape(c->buf, c->len);
            snprintf(err, errlen, "invalid response (%s): %s", perr, e);
            free(e);
            return -1;
        }
        int64_t left = deadline - now_ms();
        int n = c->eof ? 0 : conn_fill(c, left > 0 ? (int)left : 0);
        if (n > 0)
            continue;
        char *e = escape(c->buf ? c->buf : "", c->len);
        if (n == 0)
            snprintf(err, errlen, "connection closed by the server after %zu bytes of a response: \"%s\"",
                     c->len, e);
        else if (n == -1)
            snprintf(err, errlen, "no complete response within %d ms; got %zu bytes: \"%s\"", timeout_ms,
                     c->len, e);
        else
            snprintf(err, errlen, "recv() failed: %s after %zu bytes: \"%s\"", strerror(c->err), c->len, e);
        free(e);
        return -1;
    }
}

struct resp *must_read(struct conn *c, int no_body)
{
    struct resp *r = calloc(1, sizeof(*r));
    char err[8192];

    cr_assert(r != NULL, "calloc() failed");
    if (resp_read(c, no_body, 5000, r, err, sizeof(err)) == -1)
        hfail("%s", err);
    return r;
}

struct resp *exchange(struct conn *c, const char *raw)
{
    conn_send_str(c, raw);
    return must_read(c, strncmp(raw, "HEAD ", 5) == 0);
}

struct resp *request_once(const struct srv *s, const char *raw, struct conn **out)
{
    struct conn *c = conn_open(s->port);
    struct resp *r = exchange(c, raw);

    if (out)
        *out = c;
    else
        conn_close(c);
    return r;
}

/* ---- expectations ---- */

char *expect_head(int status, const char *handler_headers, long long content_length, const char *content_type,
                  const char *connection)
{
    char cl[64] = "", ct[256] = "", co[64] = "";

    if (content_length >= 0)
        snprintf(cl, sizeof(cl), "Content-Length: %lld\r\n", content_length);
    if (content_type)
        snprintf(ct, sizeof(ct), "Content-Type: %s\r\n", content_type);
    if (connection)
        snprintf(co, sizeof(co), "Connection: %s\r\n", connection);
    return xasprintf("HTTP/1.1 %d %s\r\nDate: " DATE_PLACEHOLDER "\r\nServer: " SERVER_STRING
                     "\r\n%s%s%s%s\r\n",
                     status, reason_phrase(status), handler_headers ? handler_headers : "", cl, ct, co);
}

char *error_body(int status)
{
    return xasprintf(
        "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n<body><h1>%s</h1></body></html>\n", status,
        reason_phrase(status), reason_phrase(status));
}

void expect_bytes(const char *what, const void *got, size_t got_len, const void *want, size_t want_len)
{
    if (got_len == want_len && memcmp(got, want, got_len) == 0)
        return;
    size_t at = 0;
    while (at < got_len && at < want_len && ((const char *)got)[at] == ((const char *)want)[at])
        at++;
    char *g = escape(got, got_len), *w = escape(want, want_len);
    hfail("%s differs at byte %zu (got %zu bytes, want %zu)\n--- got:\n%s\n--- want:\n%s", what, at, got_len,
          want_len, g, w);
}

void expect_error(const struct resp *r, int status, const char *handler_headers, const char *connection,
                  int head)
{
    char *body = error_body(status);
    char *want = expect_head(status, handler_headers, (long long)strlen(body), HTML_ERROR_TYPE, connection);

    expect_bytes("error response head", r->norm, strlen(r->norm), want, strlen(want));
    if (head)
        hassert(r->body_len == 0, "HEAD response has a body");
    else
        expect_bytes("error page body", r->body, r->body_len, body, strlen(body));
    free(want);
    free(body);
}

void expect_static(const struct resp *r, const struct srv *s, const char *rel, const void *body, size_t len,
                   const char *content_type, const char *connection, int head)
{
    struct stat st;
    const char *etag = resp_get(r, "ETag");
    char lm[64], *hh, *want;
    char path[300];

    hassert(r->status == 200, "GET /%s: status %d, want 200", rel, r->status);
    hassert(etag != NULL, "GET /%s: no ETag", rel);
    size_t el = strlen(etag);
    hassert(el >= 2 && etag[0] == '"' && etag[el - 1] == '"' && !memchr(etag + 1, '"', el - 2),
            "GET /%s: ETag %s is not a strong quoted entity-tag", rel, etag);
    snprintf(path, sizeof(path), "%s/%s", s->htdocs, rel);
    hassert(stat(path, &st) == 0, "stat(%s) failed: %s", path, strerror(errno));
    snprintf(lm, sizeof(lm), "%s", http_date(st.st_mtime));
    hh = xasprintf("Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\n", lm, etag);
    want = expect_head(200, hh, (long long)len, content_type, connection);
    expect_bytes("static response head", r->norm, strlen(r->norm), want, strlen(want));
    if (head)
        hassert(r->body_len == 0, "HEAD response has a body");
    else
        expect_bytes("static body", r->body, r->body_len, body, len);
    free(hh);
    free(want);
}

void expect_closed(struct conn *c, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    if (c->len > 0) {
        char *e = escape(c->buf, c->len);
        hfail("unexpected bytes after the response: \"%s\"", e);
    }
    for (;;) {
        int64_t left = deadline - now_ms();
        int n = conn_fill(c, left > 0 ? (int)left : 0);

        if (n == 0)
            return;
        if (n == -1)
            hfail("the server did not close the connection within %d ms", timeout_ms);
        if (n == -2)
            hfail("connection ended with %s instead of an orderly close", strerror(c->err));
        char *e = escape(c->buf, c->len);
        hfail("unexpected bytes after the response: \"%s\"", e);
    }
}

void harness_begin_mpm(const char *name)
{
    static struct mpm_param me;
    const char *bin = getenv("HTTPD_BIN");
    char *out = NULL;

    cr_assert(bin != NULL && *bin != '\0', "HTTPD_BIN is not set (run through `make check`)");
    char *argv[] = {(char *)bin, "-V", NULL};
    int status = run_cmd(argv, 10000, &out, NULL);
    char *line = out ? strstr(out, "Compiled-in MPMs:") : NULL;
    cr_assert(line != NULL, "`%s -V` (status %d) has no \"Compiled-in MPMs:\" line", bin, status);
    line[strcspn(line, "\n")] = '\0';
    int found = 0;
    for (char *save = NULL, *tok = strtok_r(line + strlen("Compiled-in MPMs:"), " \t", &save); tok != NULL;
         tok = strtok_r(NULL, " \t", &save))
        found |= strcmp(tok, name) == 0;
    free(out);
    if (!found)
        cr_skip_test("the %s MPM is not compiled in", name);
    snprintf(me.name, sizeof(me.name), "%s", name);
    harness_begin(&me);
}

int proc_fds(pid_t pid, int *highest)
{
    char path[64];
    struct dirent *e;
    int n = 0, top = -1;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (pid == getpid() && fd == dirfd(d))
            continue;
        n++;
        if (fd > top)
            top = fd;
    }
    closedir(d);
    if (highest != NULL)
        *highest = top;
    return n;
}

long proc_status(pid_t pid, const char *field)
{
    char path[64], key[64];
    long v = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    snprintf(key, sizeof(key), "\n%s:", field);
    char *text = read_file(path, NULL);
    const char *p = text ? strstr(text, key) : NULL;
    if (p != NULL)
        v = strtol(p + strlen(key), NULL, 10);
    free(text);
    return v;
}

long proc_cpu_ticks(pid_t pid)
{
    char path[64], *text, *p;
    unsigned long ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    text = read_file(path, NULL);
    p = text ? strrchr(text, ')') : NULL;
    /* after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    int ok = p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2;
    free(text);
    return ok ? (long)(ut + st) : -1;
}

int log_count(const char *path, const char *needle)
{
    char *text = read_file(path, NULL);
    int n = 0;

    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

int wait_log(const char *path, const char *needle, int n, int ms)
{
    int64_t deadline = now_ms() + ms;
    int got;

    while ((got = log_count(path, needle)) < n && now_ms() < deadline)
        sleep_ms(20);
    return got;
}

int raise_nofile(unsigned long want)
{
    struct rlimit rl;

    hassert(getrlimit(RLIMIT_NOFILE, &rl) == 0, "getrlimit() failed: %s", strerror(errno));
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        hassert(setrlimit(RLIMIT_NOFILE, &rl) == 0, "setrlimit() failed: %s", strerror(errno));
    }
    return rl.rlim_cur >= want;
}

void harness_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}
