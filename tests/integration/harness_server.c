/*
 * Server control (see harness_server.h). Servers run in their own process group, with PR_SET_PDEATHSIG so
 * that a test killed by Criterion's timeout takes its server down too; harness_fini() (the .fini of every
 * MPM_TEST, which Criterion also runs after a failed assertion) kills any server still registered, prints the
 * end of its logs and removes its directory (kept when HARNESS_KEEP is set in the environment).
 */
#define HARNESS_IMPL
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct extra_file {
    char *rel;
    char *content;
    struct extra_file *next;
};

#define MAX_SERVERS 8
static struct srv *running[MAX_SERVERS];

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

void harness_fini(void)
{
    for (int i = 0; i < MAX_SERVERS; i++) {
        struct srv *s = running[i];
        if (!s)
            continue;
        running[i] = NULL;
        if (s->pid > 0) {
            char *e = log_tail(s->error_log, 2000), *o = log_tail(s->stderr_log, 1000);
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
            char *e = log_tail(s->error_log, 1500), *o = log_tail(s->stderr_log, 1500);

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
    char *e = log_tail(s->error_log, 1500), *o = log_tail(s->stderr_log, 1500);
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

struct srv *server_start2(const char *mpm, const char *base, const char *more)
{
    char *extra = xasprintf("%s%s", base ? base : "", more ? more : "");
    struct srv *s = server_start(mpm, extra);
    free(extra);
    return s;
}

void server_signal(const struct srv *s, int sig)
{
    hassert(kill(s->pid, sig) == 0, "kill(%d, %s) failed: %s", (int)s->pid, strsignal(sig), strerror(errno));
}

int server_wait_exit(struct srv *s, int ms)
{
    int64_t deadline = now_ms() + ms;
    int status = 0;
    for (;;) {
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return status;
        }
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(10);
    }
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
            char *e = log_tail(s->error_log, 1500);
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
        char *e = log_tail(s->error_log, 1500), *o = log_tail(s->stderr_log, 1000);
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
    expect_no_sanitizer_report(s);
    server_destroy(s);
}

void expect_no_sanitizer_report(const struct srv *s)
{
    /* A server built with --enable-sanitizers reports on stderr, sometimes from a child that just died. */
    char *out = read_file(s->stderr_log, NULL);
    if (out && (strstr(out, "AddressSanitizer") || strstr(out, "LeakSanitizer") ||
                strstr(out, "runtime error:") || strstr(out, "ThreadSanitizer"))) {
        char *e = escape(out, strlen(out));
        hfail("sanitizer report in the server's stderr:\n%s", e);
    }
    free(out);
}

int server_conf_line(const struct srv *s, const char *text)
{
    char *conf = server_conf_text(s, s->port);
    char *at = strstr(conf, text);
    hassert(at != NULL, "no %s in the configuration", text);
    int line = 1;
    for (char *p = conf; p < at; p++)
        line += *p == '\n';
    free(conf);
    return line;
}
