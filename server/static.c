/*
 * The static-file handler: maps the request path under DocumentRoot and answers as Apache 2.4's default
 * handler with mod_dir and no mod_autoindex would.
 *
 * Every file is opened with path_open_beneath() relative to a directory fd of the DocumentRoot, so neither
 * ".." nor a symlink can lead outside it; symlinks that stay inside are followed (FollowSymLinks). One O_PATH
 * fd per DocumentRoot is opened on first use in each process and kept: a cache shared by the worker MPM's
 * threads, read without a lock and appended to under one. So a DocumentRoot directory that is renamed and
 * recreated while the server runs is only seen by processes started afterwards (restart).
 *
 * For a regular file the order is: validators (Last-Modified, and the ETag "<size hex>-<mtime µs hex>" of
 * FileETag MTime Size), then the preconditions of RFC 9110 13.2.2, then Range. The file is opened O_NONBLOCK
 * so that a FIFO in the tree cannot block a worker in open(); only regular files are ever read.
 *
 * Status choices where Apache leaves a choice:
 *  - a symlink leading out of the DocumentRoot, or too many symlinks: 403 (Apache: "Symbolic link not
 *    allowed or link target not accessible");
 *  - a name too long for the filesystem: 404, since no such file can exist (414 is for the request line);
 *  - a directory with none of its DirectoryIndex files: 403 (no autoindex);
 *  - FIFOs, sockets and devices: 403.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filecache.h"
#include "handler.h"
#include "static.h"
#include "http.h"
#include "log.h"
#include "mime.h"
#include "path.h"
#include "pool.h"
#include "server.h"
#include "util.h"

/* Apache's defaults for MaxRanges, MaxRangeOverlaps and MaxRangeReversals: beyond them the whole file is
 * sent. */
#define STATIC_MAX_RANGES    200
#define STATIC_MAX_OVERLAPS  20
#define STATIC_MAX_REVERSALS 20

#define OPEN_FLAGS (O_RDONLY | O_NONBLOCK | O_NOCTTY)

/* ---- DocumentRoot fds ---- */

struct root_entry {
    struct root_entry *next;
    int fd;
    char path[];
};

static _Atomic(struct root_entry *) roots;
static pthread_mutex_t roots_lock = PTHREAD_MUTEX_INITIALIZER;

static struct root_entry *root_find(struct root_entry *e, const char *path)
{
    for (; e != NULL; e = e->next)
        if (strcmp(e->path, path) == 0)
            return e;
    return NULL;
}

/* The O_PATH fd of `path`, opened once per process. Entries are never freed: one per DocumentRoot ever used.
 */
static int root_fd(const char *path)
{
    struct root_entry *e = root_find(atomic_load_explicit(&roots, memory_order_acquire), path);
    if (e != NULL)
        return e->fd;

    int fd = -1;
    pthread_mutex_lock(&roots_lock);
    e = root_find(atomic_load_explicit(&roots, memory_order_relaxed), path);
    if (e != NULL) {
        fd = e->fd;
        goto out;
    }
    fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        log_error(LOG_ERR, "static", "open() of DocumentRoot %s failed: %s", path, strerror(errno));
        goto out;
    }
    size_t len = strlen(path);
    e = malloc(sizeof(*e) + len + 1);
    if (e == NULL) {
        close(fd);
        fd = -1;
        errno = ENOMEM;
        goto out;
    }
    e->fd = fd;
    memcpy(e->path, path, len + 1);
    e->next = atomic_load_explicit(&roots, memory_order_relaxed);
    atomic_store_explicit(&roots, e, memory_order_release);
out:;
    int saved = errno;
    pthread_mutex_unlock(&roots_lock);
    errno = saved;
    return fd;
}

/* ---- helpers ---- */

/* The status for a failed open() or fstat(). */
static int errno_status(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
    case EXDEV: /* path_open_beneath(): the path leads out of the DocumentRoot */
    case ELOOP:
        return 403;
    default:
        return 500;
    }
}

static enum handler_result fail_errno(struct request *r, const char *call, const char *what, int e)
{
    int status = errno_status(e);
    if (status == 500)
        log_verror(r->vhost, LOG_ERR, "static", "%s() of %s failed: %s", call, what, strerror(e));
    http_resp_error(r, status);
    return HANDLER_DONE;
}

static const char *skip_ows(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/*
 * Whether the entity-tag list `list` ("*" or a comma-separated list of "..." and W/"...") matches `etag`, our
 * strong tag with its quotes. Strong comparison refuses weak tags; weak comparison ignores the W/ prefix. A
 * malformed list matches nothing from the point where it stops making sense.
 */
static int etag_list_matches(const char *list, const char *etag, int weak)
{
    size_t elen = strlen(etag);
    const char *s = skip_ows(list);

    if (*s == '*' && *skip_ows(s + 1) == '\0')
        return 1;
    while (*s != '\0') {
        s = skip_ows(s);
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '\0')
            break;
        int is_weak = 0;
        if (s[0] == 'W' && s[1] == '/') {
            is_weak = 1;
            s += 2;
        }
        if (*s != '"')
            return 0;
        const char *close = strchr(s + 1, '"');
        if (close == NULL)
            return 0;
        size_t tlen = (size_t)(close - s) + 1;
        if ((weak || !is_weak) && tlen == elen && memcmp(s, etag, elen) == 0)
            return 1;
        s = skip_ows(close + 1);
        if (*s != ',' && *s != '\0')
            return 0;
    }
    return 0;
}

/* The percent-escaped form of a decoded path, for a Location header (Apache's ap_os_escape_path()). */
static char *escape_path(struct pool *p, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *c = (const unsigned char *)path; *c; c++)
        n += uri_char(*c, URI_PATH) ? 1 : 3;
    char *out = pool_alloc(p, n + 1), *o = out;
    if (out == NULL)
        return NULL;
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if (uri_char(*c, URI_PATH)) {
            *o++ = (char)*c;
        } else {
            *o++ = '%';
            *o++ = hex[*c >> 4];
            *o++ = hex[*c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* ---- preconditions (RFC 9110 13.2.2) ---- */

/* 0 to go on, or the status to answer instead: 304 or 412. `lm` is the Last-Modified time. */
static int check_preconditions(const struct request *r, const char *etag, time_t lm, time_t now)
{
    int get_head = r->method == METHOD_GET || r->method == METHOD_HEAD;
    const char *h;

    /* one pass for the usual request, which has no If-* header, instead of four lookups */
    int any_if = 0;
    for (int i = 0; i < r->n_headers && !any_if; i++)
        any_if = (r->headers[i].name[0] | 0x20) == 'i';
    if (!any_if)
        return 0;
    if ((h = http_header_get(r, "If-Match")) != NULL) {
        if (!etag_list_matches(h, etag, 0))
            return 412;
    } else if ((h = http_header_get(r, "If-Unmodified-Since")) != NULL) {
        time_t t = http_date_parse(h);
        if (t != -1 && lm > t)
            return 412;
    }
    if ((h = http_header_get(r, "If-None-Match")) != NULL) {
        if (etag_list_matches(h, etag, 1))
            return get_head ? 304 : 412;
    } else if (get_head && (h = http_header_get(r, "If-Modified-Since")) != NULL) {
        /* as Apache, a date later than the request is ignored: the client's clock cannot be trusted */
        time_t t = http_date_parse(h);
        if (t != -1 && lm <= t && t <= now)
            return 304;
    }
    return 0;
}

/* Whether If-Range (if any) lets the Range header apply: a strong ETag equal to ours, or exactly our date. */
static int if_range_matches(const struct request *r, const char *etag, time_t lm)
{
    const char *h = http_header_get(r, "If-Range");
    if (h == NULL)
        return 1;
    if (h[0] == '"')
        return strcmp(h, etag) == 0;
    if (h[0] == 'W' && h[1] == '/')
        return 0; /* a weak tag never matches for a range */
    time_t t = http_date_parse(h);
    return t != -1 && t == lm;
}

/* ---- Range (RFC 9110 14) ---- */

struct range {
    int64_t first, last; /* inclusive byte positions */
};

enum range_kind {
    RANGES_NONE,          /* no usable Range: send the whole file */
    RANGES_SOME,          /* *ranges holds n merged, satisfiable ranges */
    RANGES_UNSATISFIABLE, /* 416 */
    RANGES_NOMEM
};

/* Digits at *sp as a number, saturated at INT64_MAX; -1 if there is no digit. */
static int64_t parse_pos(const char **sp)
{
    const char *s = *sp;
    int64_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v > (INT64_MAX - 9) / 10 ? INT64_MAX : v * 10 + (*s - '0');
    *sp = s;
    return v;
}

/*
 * Parses "bytes=range-spec, ..." against a file of `size` bytes. A header that is not valid as a whole is
 * ignored, as are more than MaxRanges ranges. Satisfiable ranges are kept in request order, each merged with
 * the one before it when they overlap or touch (as Apache does); too many merges or out-of-order ranges, or
 * ranges adding up to more than the file, fall back to the whole file, so a Range cannot multiply the work.
 */
static enum range_kind parse_ranges(struct pool *p, const char *h, int64_t size, struct range **out,
                                    int *nout)
{
    const char *s = skip_ows(h);
    if (strncasecmp(s, "bytes", 5) != 0)
        return RANGES_NONE;
    s = skip_ows(s + 5);
    if (*s != '=')
        return RANGES_NONE;
    s++;

    int cap = 1;
    for (const char *c = s; *c != '\0' && cap <= STATIC_MAX_RANGES; c++)
        cap += *c == ',';
    if (cap > STATIC_MAX_RANGES)
        cap = STATIC_MAX_RANGES;
    struct range *rs = pool_alloc(p, sizeof(*rs) * (size_t)cap);
    if (rs == NULL)
        return RANGES_NOMEM;

    int n = 0, specs = 0;
    for (;;) {
        s = skip_ows(s);
        if (*s == ',') { /* empty list elements are allowed */
            s++;
            continue;
        }
        if (*s == '\0')
            break;
        int64_t first, last;
        if (*s == '-') {
            s++;
            int64_t suffix = parse_pos(&s);
            if (suffix < 0)
                return RANGES_NONE;
            first = suffix >= size ? 0 : size - suffix;
            last = suffix == 0 ? -1 : size - 1; /* "-0" and any suffix of an empty file: unsatisfiable */
        } else {
            first = parse_pos(&s);
            if (first < 0 || *s != '-')
                return RANGES_NONE;
            s++;
            last = *s >= '0' && *s <= '9' ? parse_pos(&s) : INT64_MAX;
            if (last < first)
                return RANGES_NONE;
            if (last >= size)
                last = size - 1;
        }
        if (++specs > STATIC_MAX_RANGES)
            return RANGES_NONE;
        s = skip_ows(s);
        if (*s != ',' && *s != '\0')
            return RANGES_NONE;
        if (first < size && first <= last)
            rs[n++] = (struct range){first, last};
    }
    if (specs == 0)
        return RANGES_NONE;
    if (n == 0)
        return RANGES_UNSATISFIABLE;

    int m = 0, overlaps = 0, reversals = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0) {
            struct range *prev = &rs[m - 1];
            if (rs[i].first <= prev->last + 1 && rs[i].last + 1 >= prev->first) {
                if (rs[i].first < prev->first)
                    prev->first = rs[i].first;
                if (rs[i].last > prev->last)
                    prev->last = rs[i].last;
                overlaps++;
                continue;
            }
            if (rs[i].first < prev->first)
                reversals++;
        }
        rs[m++] = rs[i];
    }
    if (overlaps > STATIC_MAX_OVERLAPS || reversals > STATIC_MAX_REVERSALS)
        return RANGES_NONE;
    int64_t sum = 0;
    for (int i = 0; i < m; i++)
        sum += rs[i].last - rs[i].first + 1;
    if (sum > size)
        return RANGES_NONE;
    *out = rs;
    *nout = m;
    return RANGES_SOME;
}

/* A multipart boundary: 16 random hex digits (a fallback mixes clock and pid if getrandom() cannot answer).
 */
static char *make_boundary(struct pool *p)
{
    uint64_t v;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 44) ^ (uintptr_t)p;
    }
    return pool_printf(p, "%016" PRIx64, v);
}

/* ---- responses ---- */

/* Answers for the regular file fd (which this takes over). `name` chooses the Content-Type. */
/* Adds `len` bytes at `off` of the file to the body: from fd, or from mem when the content is in memory. */
static int body_range(struct request *r, int fd, const char *mem, int64_t off, size_t len)
{
    return mem != NULL ? http_resp_body_mem(r, mem + off, len) : http_resp_body_file(r, fd, (off_t)off, len);
}

/* Last-Modified and ETag as text: those of the last file served are kept per thread, since the same files are
 * asked for over and over (gmtime_r(), the formatting and the hex digits cost more than the rest of the
 * headers). date takes 32 bytes, etag 36: "\"" 16 hex "-" 16 hex "\"" NUL. */
static void validators_text(time_t lm, int64_t size, uint64_t usec, char *date, char *etag)
{
    static __thread int valid;
    static __thread time_t c_lm;
    static __thread int64_t c_size;
    static __thread uint64_t c_usec;
    static __thread char c_date[32], c_etag[36];
    if (!valid || lm != c_lm || size != c_size || usec != c_usec) {
        http_date_format(lm, c_date);
        size_t el = 0;
        c_etag[el++] = '"';
        el += util_hex(c_etag + el, (uint64_t)size);
        c_etag[el++] = '-';
        el += util_hex(c_etag + el, usec);
        memcpy(c_etag + el, "\"", 2);
        c_lm = lm, c_size = size, c_usec = usec;
        valid = 1;
    }
    memcpy(date, c_date, sizeof(c_date));
    memcpy(etag, c_etag, sizeof(c_etag));
}

/*
 * A regular file, open on fd, or (fd < 0) its content in mem (the small-file cache); st is its stat. The
 * fd is the response's from here on: attached to the body, or closed.
 */
static enum handler_result serve_file(struct request *r, int fd, const struct stat *st, const char *name,
                                      const char *mem)
{
    time_t now = r->start_time > 0 ? r->start_time : time(NULL);
    time_t lm = st->st_mtime < now ? st->st_mtime : now; /* as Apache: never later than the request */
    int64_t size = (int64_t)st->st_size;
    uint64_t usec = (uint64_t)st->st_mtim.tv_sec * 1000000u + (uint64_t)st->st_mtim.tv_nsec / 1000u;
    const char *type = mime_type(r->server->mime, name);
    struct range *ranges = NULL;
    int nranges = 0, attached = 0;

    /* Apache makes the tag weak for a file changed within the last second, because its mtime granularity
     * could hide a second change; with microseconds in the tag, ours stays strong (If-Range needs that).
     * Both texts live in the request's pool, so that the headers refer to them without another copy. */
    char *date = pool_alloc(r->pool, 32 + 36), *etag = date + 32;
    if (date == NULL)
        goto nomem;
    validators_text(lm, size, usec, date, etag);

    int pre = check_preconditions(r, etag, lm, now);
    if (pre == 412) {
        if (fd >= 0)
            close(fd);
        http_resp_error(r, 412);
        return HANDLER_DONE;
    }
    if (pre == 304) {
        if (fd >= 0)
            close(fd);
        fd = -1;
        http_resp_status(r, 304);
        if (http_resp_header_ref(r, "Last-Modified", date) < 0 || http_resp_header_ref(r, "ETag", etag) < 0)
            goto nomem;
        return HANDLER_DONE;
    }

    enum range_kind kind = RANGES_NONE;
    const char *range = r->method == METHOD_GET ? http_header_get(r, "Range") : NULL;
    if (range != NULL && if_range_matches(r, etag, lm))
        kind = parse_ranges(r->pool, range, size, &ranges, &nranges);
    if (kind == RANGES_NOMEM)
        goto nomem;
    if (kind == RANGES_UNSATISFIABLE) {
        if (fd >= 0)
            close(fd);
        fd = -1;
        http_resp_error(r, 416);
        char *cr = pool_printf(r->pool, "bytes */%" PRId64, size);
        if (cr == NULL || http_resp_header(r, "Content-Range", cr) < 0)
            goto nomem;
        return HANDLER_DONE;
    }

    http_resp_status(r, kind == RANGES_SOME ? 206 : 200);
    if (http_resp_header_ref(r, "Last-Modified", date) < 0 || http_resp_header_ref(r, "ETag", etag) < 0 ||
        http_resp_header_ref(r, "Accept-Ranges", "bytes") < 0)
        goto nomem;

    if (kind == RANGES_NONE || nranges == 1) {
        int64_t off = 0, len = size;
        if (kind == RANGES_SOME) {
            off = ranges[0].first;
            len = ranges[0].last - ranges[0].first + 1;
            char *cr = pool_printf(r->pool, "bytes %" PRId64 "-%" PRId64 "/%" PRId64, ranges[0].first,
                                   ranges[0].last, size);
            if (cr == NULL || http_resp_header(r, "Content-Range", cr) < 0)
                goto nomem;
        }
        if (type != NULL && http_resp_content_type(r, type) < 0)
            goto nomem;
        if (len == 0) {
            if (fd >= 0)
                close(fd); /* an empty file: no segment to send */
            return HANDLER_DONE;
        }
        if (body_range(r, fd, mem, off, (size_t)len) < 0)
            goto nomem;
        return HANDLER_DONE;
    }

    /* multipart/byteranges: each part's head in memory, its bytes from the one fd */
    char *boundary = make_boundary(r->pool);
    char *ct = boundary ? pool_printf(r->pool, "multipart/byteranges; boundary=%s", boundary) : NULL;
    if (ct == NULL || http_resp_content_type(r, ct) < 0)
        goto nomem;
    for (int i = 0; i < nranges; i++) {
        char *head = pool_printf(
            r->pool, "%s--%s\r\n%s%s%sContent-Range: bytes %" PRId64 "-%" PRId64 "/%" PRId64 "\r\n\r\n",
            i > 0 ? "\r\n" : "", boundary, type ? "Content-Type: " : "", type ? type : "", type ? "\r\n" : "",
            ranges[i].first, ranges[i].last, size);
        if (head == NULL || http_resp_body_mem(r, head, strlen(head)) < 0)
            goto nomem;
        if (body_range(r, fd, mem, ranges[i].first, (size_t)(ranges[i].last - ranges[i].first + 1)) < 0)
            goto nomem;
        attached = 1;
    }
    char *tail = pool_printf(r->pool, "\r\n--%s--\r\n", boundary);
    if (tail == NULL || http_resp_body_mem(r, tail, strlen(tail)) < 0)
        goto nomem;
    return HANDLER_DONE;

nomem:
    /* an fd already in the body is closed by http_resp_error() with the rest of the response */
    if (fd >= 0 && !attached)
        close(fd);
    log_verror(r->vhost, LOG_ERR, "static", "out of memory answering %s", r->path);
    http_resp_error(r, 500);
    return HANDLER_DONE;
}

/* A directory named without its trailing slash: 301 to the same URL with one, as mod_dir does. */
static enum handler_result redirect_slash(struct request *r)
{
    const struct vhost *s = r->vhost;
    const char *host = r->host != NULL && r->host[0] != '\0'                 ? r->host
                       : s->server_name != NULL && s->server_name[0] != '\0' ? s->server_name
                                                                             : "localhost";
    char *path = escape_path(r->pool, r->path);
    char *location = path ? pool_printf(r->pool, "http://%s%s/%s%s", host, path, r->query ? "?" : "",
                                        r->query ? r->query : "")
                          : NULL;
    /* http_resp_error() resets the headers, so Location goes after it */
    if (location == NULL || http_resp_error(r, 301) < 0 || http_resp_header(r, "Location", location) < 0) {
        log_verror(r->vhost, LOG_ERR, "static", "out of memory answering %s", r->path);
        http_resp_error(r, 500);
    }
    return HANDLER_DONE;
}

/*
 * A directory named with its trailing slash: the first DirectoryIndex file that is a regular file. An index
 * that exists but cannot be served (403, 500) is remembered and answered if no later one works, as mod_dir
 * does; with none at all, 403.
 */
static enum handler_result serve_directory(struct request *r, int root, const char *rel)
{
    char *const *names = r->vhost->directory_index;
    int status = 403;

    for (int i = 0; names != NULL && names[i] != NULL; i++) {
        const char *name = names[i];
        char *irel = pool_printf(r->pool, "%s%s", rel, name[0] == '/' ? name + 1 : name);
        if (irel == NULL) {
            status = 500;
            break;
        }
        int fd = path_open_beneath(root, irel, OPEN_FLAGS);
        if (fd < 0) {
            int st = errno_status(errno);
            if (st == 500)
                log_verror(r->vhost, LOG_ERR, "static", "open() of %s failed: %s", irel, strerror(errno));
            if (st != 404 && status == 403)
                status = st;
            continue;
        }
        struct stat st;
        if (fstat(fd, &st) < 0) {
            log_verror(r->vhost, LOG_ERR, "static", "fstat() of %s failed: %s", irel, strerror(errno));
            close(fd);
            status = 500;
            continue;
        }
        if (S_ISREG(st.st_mode))
            return serve_file(r, fd, &st, irel, NULL);
        close(fd); /* a directory or a special file is not an index */
    }
    http_resp_error(r, status);
    return HANDLER_DONE;
}

static enum handler_result static_handle(struct request *r)
{
    const struct vhost *s = r->vhost;
    struct stat st;

    if (r->path == NULL || r->path[0] != '/') {
        http_resp_error(r, 400);
        return HANDLER_DONE;
    }
    if (s->document_root == NULL) {
        log_verror(r->vhost, LOG_ERR, "static", "no DocumentRoot to serve %s from", r->path);
        http_resp_error(r, 404);
        return HANDLER_DONE;
    }
    int root = root_fd(s->document_root);
    if (root < 0)
        return fail_errno(r, "open", s->document_root, errno);

    const char *rel = r->path + 1;
    const void *mem = NULL;
    if (r->server->file_cache_max_file > 0 && filecache_get(root, rel, r->pool, &mem, &st) > 0)
        return serve_file(r, -1, &st, rel, mem);
    int fd = path_open_beneath(root, rel, OPEN_FLAGS);
    if (fd < 0 && errno == EACCES) {
        /* a directory may be searchable without being readable: its index can still be served */
        fd = path_open_beneath(root, rel, O_PATH);
        if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))) {
            close(fd);
            fd = -1;
            errno = EACCES;
        }
    }
    if (fd < 0)
        return fail_errno(r, "open", r->path, errno);
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return fail_errno(r, "fstat", r->path, e);
    }
    if (S_ISREG(st.st_mode)) {
        time_t now = r->start_time > 0 ? r->start_time : time(NULL);
        if (filecache_put(root, rel, fd, &st, now, (size_t)r->server->file_cache_max_file,
                          (size_t)r->server->file_cache_size, r->pool, &mem) > 0) {
            close(fd);
            return serve_file(r, -1, &st, rel, mem);
        }
        return serve_file(r, fd, &st, rel, NULL);
    }
    close(fd);
    if (!S_ISDIR(st.st_mode)) {
        http_resp_error(r, 403);
        return HANDLER_DONE;
    }
    if (r->path[strlen(r->path) - 1] != '/')
        return redirect_slash(r);
    return serve_directory(r, root, rel);
}

const struct handler static_handler = {
    .name = "static",
    .methods = HTTP_M(METHOD_GET) | HTTP_M(METHOD_HEAD) | HTTP_M(METHOD_OPTIONS),
    .handle = static_handle,
    .resume = NULL,
};
