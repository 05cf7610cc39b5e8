/*
 * ErrorLog and CustomLog. Each line is built in a stack buffer and written with a single write() to a file
 * opened O_APPEND, which the kernel appends atomically: lines from every child and thread stay whole.
 * The error log is process-global (stderr until log_open()), so any module can report through log_error().
 *
 * BufferedLogs On gathers access log lines in per-thread buffers instead, written as blocks of whole lines
 * (see log.h for when); an event loop's thread uses the same buffers for the lines of one turn (log_turns()).
 * The one thing to know there: a stop signal ends a child inside its handler, which may have interrupted the
 * very thread that is adding a line, and which can neither wait for it nor take a lock; so each thread's
 * buffers carry an atomic state, and the handler leaves buffers in use to their user, who writes them and
 * ends the process itself (bufs_give()).
 */

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "http.h"
#include "log.h"
#include "pool.h"
#include "util.h"

#define LINE_MAX_LEN 8192

enum fmt_kind { FMT_LITERAL, FMT_DIRECTIVE };

struct fmt_item {
    enum fmt_kind kind;
    char code;       /* 'h', 's', 'i', ... */
    int final;       /* %>s */
    const char *arg; /* literal text, or the {name} of %{name}i */
    size_t len;      /* of a literal text */
    struct fmt_item *next;
};

struct log_format {
    const char *nickname;
    struct fmt_item *items;
    struct log_format *next;
};

static int error_fd = STDERR_FILENO;
static int error_level = LOG_WARN;
static int buffering; /* BufferedLogs of the last log_open(): what the children forked after it do */

static const char *const level_names[] = {"emerg", "alert",  "crit", "error",
                                          "warn",  "notice", "info", "debug"};

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_DEBUG; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

static int open_append(const char *path, struct errbuf *err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return errbuf_set(err, "could not open log file %s: %s", path, strerror(errno));
    return fd;
}

/* Opens the CustomLogs of v that are its own (numbering them after *index) and, for a vhost with an ErrorLog
 * of its own, that file. Returns 0, or -1 with err (what was opened stays open for close_files()). */
static int open_files(struct vhost *v, const struct vhost *main, int *index, struct errbuf *err)
{
    for (struct custom_log *l = v->custom_logs; v->own_logs && l != NULL; l = l->next) {
        l->index = (*index)++;
        if (l->fd < 0 && (l->fd = open_append(l->path, err)) < 0)
            return -1;
    }
    if (v != main && v->error_log != NULL && main->error_log != NULL &&
        strcmp(v->error_log, main->error_log) != 0 && strcmp(v->error_log, "stderr") != 0 &&
        !v->own_error_log) {
        if ((v->error_fd = open_append(v->error_log, err)) < 0)
            return -1;
        v->own_error_log = 1;
    }
    return 0;
}

/* Closes what open_files() opened for v; with `warn`, a failed close() is logged. */
static void close_files(struct vhost *v, int warn)
{
    for (struct custom_log *l = v->custom_logs; v->own_logs && l != NULL; l = l->next) {
        if (l->fd >= 0 && close(l->fd) < 0 && warn)
            log_error(LOG_WARN, "core", "close() of log file %s failed: %s", l->path, strerror(errno));
        l->fd = -1;
    }
    if (v->own_error_log && close(v->error_fd) < 0 && warn)
        log_error(LOG_WARN, "core", "close() of log file %s failed: %s", v->error_log, strerror(errno));
    v->own_error_log = 0;
    v->error_fd = -1;
}

int log_open(struct server *s, struct errbuf *err)
{
    int fd = STDERR_FILENO, index = 0;

    /* Everything is opened before anything is switched, so that a failure leaves the logs as they were. The
     * main server's and every vhost's files are opened here, in the parent, before the children fork. */
    s->main.own_logs = 1;
    if (open_files(&s->main, &s->main, &index, err) < 0)
        goto fail;
    for (struct vhost *v = s->vhosts; v != NULL; v = v->next)
        if (open_files(v, &s->main, &index, err) < 0)
            goto fail;
    s->n_custom_logs = index;
    if (s->main.error_log != NULL && strcmp(s->main.error_log, "stderr") != 0) {
        fd = open_append(s->main.error_log, err);
        if (fd < 0)
            goto fail;
    }
    /* The old file may have been moved away (logrotate): what the parent logs from now on goes to the new
     * one; children already running keep theirs. */
    if (error_fd != STDERR_FILENO && error_fd != fd)
        close(error_fd);
    error_fd = fd;
    error_level = s->main.log_level;
    buffering = s->buffered_logs && s->n_custom_logs > 0;
    return 0;

fail:
    close_files(&s->main, 0);
    for (struct vhost *v = s->vhosts; v != NULL; v = v->next)
        close_files(v, 0);
    return -1;
}

void log_release(struct server *old)
{
    close_files(&old->main, 1);
    for (struct vhost *v = old->vhosts; v != NULL; v = v->next)
        close_files(v, 1);
}

void log_redirect_stderr(void)
{
    if (error_fd != STDERR_FILENO && dup2(error_fd, STDERR_FILENO) < 0)
        log_error(LOG_ERR, "core", "dup2() of the error log to stderr failed: %s", strerror(errno));
}

void log_close(struct server *s)
{
    close_files(&s->main, 0);
    for (struct vhost *v = s->vhosts; v != NULL; v = v->next)
        close_files(v, 0);
    if (error_fd != STDERR_FILENO) {
        close(error_fd);
        error_fd = STDERR_FILENO;
    }
}

/* write() the whole line, retrying on EINTR and short writes (regular files do not short-write in practice).
 */
static void write_line(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        buf += n;
        len -= (size_t)n;
    }
}

/* Writes one error log line to fd if `level` passes `threshold`. */
static void error_line(int fd, int threshold, enum log_level level, const char *module, const char *fmt,
                       va_list ap)
{
    /* as Apache: notice messages to a log file cannot be suppressed (start, stop, restarts always show) */
    if ((int)level > threshold && level != LOG_NOTICE)
        return;
    char line[LINE_MAX_LEN];
    struct timeval tv;
    struct tm tm;
    char when[64];

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(when, sizeof(when), "%a %b %d %H:%M:%S", &tm);
    int n = snprintf(line, sizeof(line), "[%s.%06ld %d] [%s:%s] [pid %d:tid %ld] ", when, (long)tv.tv_usec,
                     tm.tm_year + 1900, module, level_names[level], (int)getpid(), (long)syscall(SYS_gettid));
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    write_line(fd, line, (size_t)n);
}

void log_error(enum log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_line(error_fd, error_level, level, module, fmt, ap);
    va_end(ap);
}

void log_verror(const struct vhost *v, enum log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (v == NULL || v->file == NULL) /* the main server: the process's error log and LogLevel */
        error_line(error_fd, error_level, level, module, fmt, ap);
    else
        error_line(v->own_error_log ? v->error_fd : error_fd, v->log_level, level, module, fmt, ap);
    va_end(ap);
}

/* ---- access log formats ---- */

struct log_format *log_format_compile(struct pool *p, const char *fmt, struct errbuf *err)
{
    struct log_format *f = pool_calloc(p, sizeof(*f));
    struct fmt_item **tail;
    if (f == NULL)
        return NULL;
    tail = &f->items;
    while (*fmt != '\0') {
        struct fmt_item *it = pool_calloc(p, sizeof(*it));
        if (it == NULL)
            return NULL;
        if (*fmt != '%') {
            size_t n = strcspn(fmt, "%");
            it->kind = FMT_LITERAL;
            it->arg = pool_strndup(p, fmt, n);
            it->len = n;
            fmt += n;
        } else {
            fmt++;
            it->kind = FMT_DIRECTIVE;
            if (*fmt == '{') {
                const char *end = strchr(fmt, '}');
                if (end == NULL) {
                    errbuf_set(err, "unterminated %%{ in log format");
                    return NULL;
                }
                it->arg = pool_strndup(p, fmt + 1, (size_t)(end - fmt - 1));
                fmt = end + 1;
            }
            while (*fmt == '<' || *fmt == '>') {
                it->final = *fmt == '>';
                fmt++;
            }
            if (*fmt == '\0' || strchr("%ahlutrsbBDTmUqHvpPi", *fmt) == NULL ||
                (*fmt == 'i') != (it->arg != NULL)) {
                if (*fmt == 'o' && it->arg != NULL) {
                    /* %{Name}o */
                } else {
                    errbuf_set(err, "unrecognized log format directive %%%c", *fmt ? *fmt : ' ');
                    return NULL;
                }
            }
            it->code = *fmt++;
        }
        *tail = it;
        tail = &it->next;
    }
    return f;
}

int log_format_define(struct pool *p, struct vhost *v, const char *nickname, const char *fmt,
                      struct errbuf *err)
{
    struct log_format *f = log_format_compile(p, fmt, err);
    if (f == NULL)
        return -1;
    f->nickname = pool_strdup(p, nickname);
    f->next = v->formats;
    v->formats = f;
    return 0;
}

const struct log_format *log_format_find(const struct vhost *v, const char *nickname)
{
    for (const struct log_format *f = v->formats; f != NULL; f = f->next)
        if (f->nickname != NULL && strcmp(f->nickname, nickname) == 0)
            return f;
    return NULL;
}

/* The bytes a log line holds as they are: printable ASCII but the quote (0x22) and the backslash (0x5c); one
 * lookup per byte instead of four comparisons. */
static const unsigned char plain_byte[256] = {[0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7e] = 1};

/* Appends text escaped as Apache does for client-supplied strings: quotes, backslashes and controls as \xhh.
 */
static size_t put_escaped(char *buf, size_t n, size_t size, const char *s)
{
    while (*s != '\0' && n + 5 < size) {
        /* a run of characters written as they are, copied at once */
        size_t run = 0;
        while (plain_byte[(unsigned char)s[run]])
            run++;
        if (run > 0) {
            if (run > size - 5 - n)
                run = size - 5 - n;
            memcpy(buf + n, s, run);
            n += run;
            s += run;
            continue;
        }
        unsigned char ch = (unsigned char)*s++;
        if (ch == '"' || ch == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)ch;
        } else {
            n += (size_t)snprintf(buf + n, size - n, "\\x%02x", ch); /* a control or a byte beyond ASCII */
        }
    }
    return n;
}

static const char *resp_header(const struct request *r, const char *name)
{
    if (strcasecmp(name, "Content-Type") == 0)
        return r->content_type;
    for (int i = 0; i < r->n_resp_headers; i++)
        if (strcasecmp(r->resp_headers[i].name, name) == 0)
            return r->resp_headers[i].value;
    return NULL;
}

/* %t, "[06/Dec/2026:23:54:36 +0000]" in local time, formatted once per second and thread; *len its length. */
static const char *clf_time(time_t t, size_t *len)
{
    static __thread time_t cached = -1;
    static __thread char text[64];
    static __thread size_t text_len;
    if (t != cached) {
        struct tm tm;
        localtime_r(&t, &tm);
        text_len = strftime(text, sizeof(text), "[%d/%b/%Y:%H:%M:%S %z]", &tm);
        cached = t;
    }
    *len = text_len;
    return text;
}

size_t log_format_render(const struct log_format *f, const struct request *r, char *buf, size_t size)
{
    size_t n = 0;
    char tmp[64];
    const char *v;

    size--; /* room for the newline */
    for (const struct fmt_item *it = f->items; it != NULL && n < size; it = it->next) {
        if (it->kind == FMT_LITERAL) {
            size_t l = it->len;
            if (l > size - n)
                l = size - n;
            memcpy(buf + n, it->arg, l);
            n += l;
            continue;
        }
        v = NULL;
        size_t l = SIZE_MAX; /* v's length where a case knows it */
        tmp[0] = '\0';
        switch (it->code) {
        case '%':
            v = "%";
            break;
        case 'a':
        case 'h':
            v = http_peer_text(r, tmp); /* which keeps the last IPv4 text per thread */
            break;
        case 'l':
        case 'u':
            v = "-";
            break;
        case 't':
            v = clf_time(r->start_time, &l);
            break;
        case 'r':
            n = put_escaped(buf, n, size, r->request_line ? r->request_line : "-");
            continue;
        case 's':
            l = util_utoa(tmp, (unsigned)r->status);
            v = tmp;
            break;
        case 'b':
            if (r->bytes_sent == 0)
                v = "-";
            else
                l = util_utoa(tmp, r->bytes_sent), v = tmp;
            break;
        case 'B':
            snprintf(tmp, sizeof(tmp), "%zu", r->bytes_sent);
            v = tmp;
            break;
        case 'D':
            snprintf(tmp, sizeof(tmp), "%lld", (long long)(now_ms() - r->start_ms) * 1000);
            v = tmp;
            break;
        case 'T':
            snprintf(tmp, sizeof(tmp), "%lld", (long long)(now_ms() - r->start_ms) / 1000);
            v = tmp;
            break;
        case 'm':
            v = r->method_name;
            break;
        case 'U':
            n = put_escaped(buf, n, size, r->path ? r->path : "-");
            continue;
        case 'q':
            if (r->query != NULL) {
                if (n < size)
                    buf[n++] = '?';
                n = put_escaped(buf, n, size, r->query);
            }
            continue;
        case 'H':
            snprintf(tmp, sizeof(tmp), "HTTP/%d.%d", r->version_major, r->version_minor);
            v = tmp;
            break;
        case 'v':
            v = r->vhost != NULL ? r->vhost->server_name : "-";
            break;
        case 'p': {
            const struct listener *ls = r->server->listeners;
            int port = 0;
            if (ls != NULL)
                port =
                    ntohs(ls->addr.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&ls->addr)->sin6_port
                                                         : ((const struct sockaddr_in *)&ls->addr)->sin_port);
            snprintf(tmp, sizeof(tmp), "%d", port);
            v = tmp;
            break;
        }
        case 'P':
            snprintf(tmp, sizeof(tmp), "%d", (int)getpid());
            v = tmp;
            break;
        case 'i':
            v = http_header_get(r, it->arg);
            n = put_escaped(buf, n, size, v ? v : "-");
            continue;
        case 'o':
            v = resp_header(r, it->arg);
            n = put_escaped(buf, n, size, v ? v : "-");
            continue;
        default:
            break;
        }
        if (v == NULL)
            v = "-", l = 1;
        else if (l == SIZE_MAX)
            l = strlen(v);
        if (l > size - n)
            l = size - n;
        memcpy(buf + n, v, l);
        n += l;
    }
    buf[n++] = '\n';
    return n;
}

void log_warnings(const struct warnings *w, const char *module)
{
    for (int i = 0; i < warnings_kept(w); i++)
        log_error(LOG_WARN, module, "%s", w->msg[i]);
    if (w->count > WARNINGS_MAX)
        log_error(LOG_WARN, module, "%d more warnings were dropped", w->count - WARNINGS_MAX);
}

/* ---- BufferedLogs ---- */

#define FLUSH_SLACK_MS 250 /* lines are written this much before LOG_FLUSH_MS: callers look every 200 ms */
#define BUSY_RETRY_MS  10  /* buffers another thread was using are looked at again after this */
#define WATCH_MS       200 /* how often log_flush_due(1) looks: new lines of other threads do not wake it */

/* Who is using a thread's buffers. */
enum bufs_state {
    BUFS_FREE,      /* nobody */
    BUFS_BUSY,      /* a thread: their own, adding a line, or another writing them out */
    BUFS_BUSY_EXIT, /* that thread, and a stop signal came meanwhile: it writes them and ends the process */
    BUFS_DONE /* written for good by a stop signal: the process is ending, later lines go out directly */
};

/* One CustomLog's buffer: whole lines only. */
struct log_buffer {
    int fd;
    size_t used;
    char data[LOG_BUFFER_SIZE];
};

/* The buffers of one thread, one per CustomLog of s (the main server's and the vhosts'), by their index. */
struct log_buffers {
    atomic_int state;      /* enum bufs_state */
    _Atomic int64_t since; /* now_ms() when the oldest line waiting was added; 0 when none waits */
    const struct server *s;
    int n;
    struct log_buffers *next; /* the process's list (never freed: the process ends with them) */
    struct log_buffer buf[];
};

static _Atomic(struct log_buffers *) all_buffers;
static __thread struct log_buffers *thread_buffers;
static atomic_int exit_holders;   /* a stop signal is being handled: those who still write buffers out */
static pthread_key_t buffers_key; /* its destructor writes out the buffers of a thread that ends */
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;
static int buffers_key_ok;
static __thread int turns;        /* log_turns(1): this thread's lines wait for log_turn_end() */
static __thread int turn_waiting; /* lines of the current turn wait in thread_buffers */

/* Writes out every buffer of b; the caller has taken b. */
static void bufs_write(struct log_buffers *b)
{
    for (int i = 0; i < b->n; i++) {
        struct log_buffer *lb = &b->buf[i];
        if (lb->used > 0)
            write_line(lb->fd, lb->data, lb->used);
        lb->used = 0;
    }
    atomic_store(&b->since, 0);
}

/* Takes b for the caller; with `wait`, while another thread writes it out (one write()). 0 if b is done, or
 * without `wait` in use. */
static int bufs_take(struct log_buffers *b, int wait)
{
    for (;;) {
        int st = BUFS_FREE;
        if (atomic_compare_exchange_weak(&b->state, &st, BUFS_BUSY))
            return 1;
        if (st == BUFS_DONE || (!wait && st != BUFS_FREE))
            return 0;
        if (st != BUFS_FREE)
            sched_yield();
    }
}

/* Gives b back; if a stop signal left b to us meanwhile, writes it and, last of those, ends the process. */
static void bufs_give(struct log_buffers *b)
{
    int st = BUFS_BUSY;
    if (atomic_compare_exchange_strong(&b->state, &st, BUFS_FREE))
        return;
    bufs_write(b);
    atomic_store(&b->state, BUFS_DONE);
    if (atomic_fetch_sub(&exit_holders, 1) == 1)
        _exit(0);
}

static void bufs_thread_exit(void *arg)
{
    struct log_buffers *b = arg;
    if (bufs_take(b, 1)) {
        bufs_write(b);
        bufs_give(b);
    }
}

static void bufs_key_init(void)
{
    buffers_key_ok = pthread_key_create(&buffers_key, bufs_thread_exit) == 0;
}

/* The calling thread's buffers for s, made at its first line; NULL without memory (lines then go out
 * directly). */
static struct log_buffers *bufs_get(const struct server *s)
{
    struct log_buffers *b = thread_buffers;
    int n = 0;

    if (b != NULL && b->s == s)
        return b;
    /* another configuration's (-X serves one; unit tests more): its lines go out first */
    if (b != NULL && bufs_take(b, 1)) {
        bufs_write(b);
        bufs_give(b);
    }
    n = s->n_custom_logs;
    b = calloc(1, sizeof(*b) + (size_t)n * sizeof(b->buf[0]));
    if (b == NULL)
        return NULL;
    b->s = s;
    b->n = n;
    pthread_once(&buffers_once, bufs_key_init);
    if (buffers_key_ok)
        pthread_setspecific(buffers_key, b);
    b->next = atomic_load(&all_buffers);
    while (!atomic_compare_exchange_weak(&all_buffers, &b->next, b))
        ;
    thread_buffers = b;
    return b;
}

/* Adds a line; the lines before it are written first when it does not fit, and it is written alone when it
 * is longer than the buffer: every write() ends at a line boundary. Returns whether lines wait in lb. */
static int buffer_add(struct log_buffer *lb, int fd, const char *line, size_t n)
{
    if (lb->used > 0 && (lb->fd != fd || n > LOG_BUFFER_SIZE - lb->used)) {
        write_line(lb->fd, lb->data, lb->used);
        lb->used = 0;
    }
    lb->fd = fd;
    if (n > LOG_BUFFER_SIZE) {
        write_line(fd, line, n);
    } else {
        memcpy(lb->data + lb->used, line, n);
        lb->used += n;
    }
    return lb->used > 0;
}

/* Writes b if its lines are due; returns the ms until they are, or -1 when none waits. */
static int64_t bufs_due(struct log_buffers *b, int64_t *now)
{
    int64_t since = atomic_load_explicit(&b->since, memory_order_relaxed);
    if (since == 0)
        return -1;
    if (*now == 0)
        *now = now_ms();
    int64_t left = since + LOG_FLUSH_MS - FLUSH_SLACK_MS - *now;
    if (left > 0)
        return left;
    if (!bufs_take(b, 0))
        return atomic_load(&b->state) == BUFS_DONE ? -1 : BUSY_RETRY_MS;
    bufs_write(b);
    bufs_give(b);
    return -1;
}

int log_flush_due(int all)
{
    int64_t now = 0, next = -1;

    if (!all)
        return thread_buffers != NULL ? (int)bufs_due(thread_buffers, &now) : -1;
    if (!buffering)
        return -1;
    next = WATCH_MS;
    for (struct log_buffers *b = atomic_load(&all_buffers); b != NULL; b = b->next) {
        int64_t ms = bufs_due(b, &now);
        if (ms >= 0 && ms < next)
            next = ms;
    }
    return (int)next;
}

void log_flush(void)
{
    for (struct log_buffers *b = atomic_load(&all_buffers); b != NULL; b = b->next) {
        if (bufs_take(b, 1)) {
            bufs_write(b);
            bufs_give(b);
        }
    }
}

void log_turns(int on)
{
    turns = on;
    if (!on)
        log_turn_end();
}

void log_turn_end(void)
{
    struct log_buffers *b = thread_buffers;
    if (!turn_waiting)
        return;
    turn_waiting = 0;
    if (b != NULL && bufs_take(b, 1)) {
        bufs_write(b);
        bufs_give(b);
    }
}

int log_flush_on_signal(void)
{
    int saved = errno;
    /* our own hold: no thread may end the process before every buffer was looked at */
    atomic_fetch_add(&exit_holders, 1);
    for (struct log_buffers *b = atomic_load(&all_buffers); b != NULL; b = b->next) {
        int st = atomic_load(&b->state);
        for (;;) {
            if (st == BUFS_FREE) {
                if (atomic_compare_exchange_strong(&b->state, &st, BUFS_DONE)) {
                    bufs_write(b);
                    break;
                }
            } else if (st == BUFS_BUSY) {
                atomic_fetch_add(&exit_holders, 1);
                if (atomic_compare_exchange_strong(&b->state, &st, BUFS_BUSY_EXIT))
                    break;
                atomic_fetch_sub(&exit_holders, 1);
            } else {
                break;
            }
        }
    }
    int last = atomic_fetch_sub(&exit_holders, 1) == 1;
    errno = saved;
    return last;
}

void log_access(const struct server *s, const struct request *r)
{
    char line[LINE_MAX_LEN];
    const struct vhost *v = r->vhost != NULL ? r->vhost : &s->main;
    int by_turn = turns && !s->buffered_logs;
    struct log_buffers *b = (s->buffered_logs || by_turn) && v->custom_logs != NULL ? bufs_get(s) : NULL;
    int waiting = 0;

    if (b != NULL && !bufs_take(b, 1))
        b = NULL;
    for (const struct custom_log *l = v->custom_logs; l != NULL; l = l->next) {
        if (l->fd < 0)
            continue;
        size_t n = log_format_render(l->format, r, line, sizeof(line));
        if (b != NULL && l->index < b->n)
            waiting |= buffer_add(&b->buf[l->index], l->fd, line, n);
        else
            write_line(l->fd, line, n);
    }
    if (b == NULL)
        return;
    if (waiting && by_turn)
        turn_waiting = 1;
    else if (waiting && atomic_load_explicit(&b->since, memory_order_relaxed) == 0)
        atomic_store(&b->since, now_ms());
    bufs_give(b);
}
