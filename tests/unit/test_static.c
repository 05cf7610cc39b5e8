/*
 * Tests for server/static.c through static_handler.handle(): a struct server and struct request are built by
 * hand over a temporary DocumentRoot, and the response the handler leaves in the request (status, headers in
 * order, Content-Type, body segments read back byte for byte) is checked against what Apache would send.
 *
 * Built twice: as test_static, and with STATIC_CACHED as test_static_cached, where the small-file cache
 * (server/filecache.c) is on and every request is dated past FILECACHE_SETTLE_S, so that each file's first
 * request fills the cache and later ones are answered from memory: every test must hold either way.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "filecache.h"
#include "handler.h"
#include "handlers.h"
#include "static.h"
#include "http.h"
#include "mime.h"
#include "pool.h"
#include "server.h"
#include "util.h"

/* Every regular file gets this mtime, so validators are known in advance. */
#define MTIME_SEC  1700000000
#define MTIME_NSEC 123456789
#define MTIME_DATE "Tue, 14 Nov 2023 22:13:20 GMT"

#ifdef STATIC_CACHED
#define CACHED       1
#define REQ_AHEAD_S  (FILECACHE_SETTLE_S + 1) /* every fixture file counts as settled */
#define FILE_SEGS(n) 0                        /* bodies come from memory */
#else
#define CACHED       0
#define REQ_AHEAD_S  0
#define FILE_SEGS(n) (n)
#endif

static const char hello[] = "Hello, world!\n";
static char digits[101]; /* "0123456789" ten times */

static struct pool *pool;
static struct server srv;
static char tmp[64], root[128];
static char *index_names[] = {"index.html", NULL};

/* ---- fixture ---- */

static void path_in(char *buf, size_t size, const char *rel)
{
    snprintf(buf, size, "%s/%s", root, rel);
}

static void write_file(const char *rel, const char *content, size_t len)
{
    char p[256];
    path_in(p, sizeof(p), rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_geq(fd, 0, "open(%s): %s", p, strerror(errno));
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    struct timespec ts[2] = {{MTIME_SEC, MTIME_NSEC}, {MTIME_SEC, MTIME_NSEC}};
    cr_assert_eq(futimens(fd, ts), 0);
    close(fd);
}

static void make_dir(const char *rel)
{
    char p[256];
    path_in(p, sizeof(p), rel);
    cr_assert_eq(mkdir(p, 0755), 0, "mkdir(%s): %s", p, strerror(errno));
}

static void make_link(const char *target, const char *rel)
{
    char p[256];
    path_in(p, sizeof(p), rel);
    cr_assert_eq(symlink(target, p), 0, "symlink(%s): %s", p, strerror(errno));
}

/* conf/mime.types of the source tree ($HTTPD_SRCDIR under make check, else relative to this file). */
static const char *types_path(void)
{
    static char path[PATH_MAX];
    const char *srcdir = getenv("HTTPD_SRCDIR");
    if (srcdir != NULL && srcdir[0] != '\0') {
        snprintf(path, sizeof(path), "%s/conf/mime.types", srcdir);
    } else {
        const char *slash = strrchr(__FILE__, '/');
        snprintf(path, sizeof(path), "%.*s/../../conf/mime.types", slash ? (int)(slash - __FILE__) : 1,
                 slash ? __FILE__ : ".");
    }
    return path;
}

/*
 * root/hello.txt "Hello, world!\n"     root/digits.txt  100 digits      root/blob.zzz    unknown type
 * root/empty.txt                        root/dir/index.html              root/noindex/    (empty)
 * root/sub dir/index.html               root/multi/{b.html,a.html,idx/}  root/link_in -> hello.txt
 * root/link_out -> ../outside.txt       root/link_dir -> dir             root/fifo
 * root/index.html                       tmp/outside.txt
 */
static void setup(void)
{
    char p[256];
    for (int i = 0; i < 100; i++)
        digits[i] = (char)('0' + i % 10);

    pool = pool_create(16384);
    cr_assert_not_null(pool);
    snprintf(tmp, sizeof(tmp), "/tmp/test_static.XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(root, sizeof(root), "%s/root", tmp);
    cr_assert_eq(mkdir(root, 0755), 0);
    snprintf(p, sizeof(p), "%s/outside.txt", tmp);
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "secret", 6), 6);
    close(fd);

    write_file("hello.txt", hello, strlen(hello));
    write_file("digits.txt", digits, 100);
    write_file("blob.zzz", "0123456789", 10);
    write_file("empty.txt", "", 0);
    write_file("index.html", "<p>root</p>", 11);
    make_dir("dir");
    write_file("dir/index.html", "<h1>index</h1>", 14);
    make_dir("noindex");
    make_dir("sub dir");
    write_file("sub dir/index.html", "sub", 3);
    make_dir("multi");
    write_file("multi/b.html", "b", 1);
    write_file("multi/a.html", "a", 1);
    make_dir("multi/idx");
    make_link("hello.txt", "link_in");
    make_link("../outside.txt", "link_out");
    make_link("dir", "link_dir");
    path_in(p, sizeof(p), "fifo");
    cr_assert_eq(mkfifo(p, 0644), 0);

    memset(&srv, 0, sizeof(srv));
    srv.pool = pool;
    srv.main.document_root = root;
    srv.main.server_name = "www.example.com";
    srv.main.directory_index = index_names;
    srv.file_cache_max_file = CACHED ? 16384 : 0;
    srv.file_cache_size = CACHED ? 1048576 : 0;
    struct errbuf err = {{0}};
    srv.mime = mime_load(pool, types_path(), &err);
    cr_assert_not_null(srv.mime, "%s", err.msg);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    pool_destroy(pool);
}

TestSuite(static_files, .init = setup, .fini = teardown);

/* ---- requests and responses ---- */

/* A request for `path` with header name/value pairs, NULL-terminated. */
static struct request *make_req(enum http_method method, const char *path, ...)
{
    struct request *r = pool_calloc(pool, sizeof(*r));
    cr_assert_not_null(r);
    r->pool = pool;
    r->server = &srv;
    r->vhost = &srv.main;
    r->method = method;
    r->method_name = method == METHOD_HEAD ? "HEAD" : "GET";
    r->target = path;
    r->path = path;
    r->version_major = 1;
    r->version_minor = 1;
    r->content_length = -1;
    r->host = "example.com";
    r->body_tail = &r->body;
    r->start_time = time(NULL) + REQ_AHEAD_S;

    r->headers = pool_calloc(pool, sizeof(*r->headers) * 16);
    va_list ap;
    va_start(ap, path);
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(r->n_headers, 16);
        r->headers[r->n_headers].name = name;
        r->headers[r->n_headers].value = va_arg(ap, const char *);
        r->n_headers++;
    }
    va_end(ap);
    return r;
}

static struct request *run(struct request *r)
{
    cr_assert_eq(static_handler.handle(r), HANDLER_DONE);
    return r;
}

#define GET(...)  run(make_req(METHOD_GET, __VA_ARGS__, NULL))
#define HEAD(...) run(make_req(METHOD_HEAD, __VA_ARGS__, NULL))

static const char *resp_header(const struct request *r, const char *name)
{
    for (int i = 0; i < r->n_resp_headers; i++)
        if (strcasecmp(r->resp_headers[i].name, name) == 0)
            return r->resp_headers[i].value;
    return NULL;
}

/* The response headers' names in order, joined with ','. */
static const char *header_names(const struct request *r)
{
    static char buf[512];
    buf[0] = '\0';
    for (int i = 0; i < r->n_resp_headers; i++) {
        if (i > 0)
            strcat(buf, ",");
        strcat(buf, r->resp_headers[i].name);
    }
    return buf;
}

/* The body as bytes (file segments read back with pread()); *len receives its length. */
static char *body_of(const struct request *r, size_t *len)
{
    size_t total = 0;
    for (const struct body_seg *s = r->body; s != NULL; s = s->next)
        total += s->len;
    cr_assert_eq(total, r->body_len, "body_len %zu, segments add up to %zu", r->body_len, total);
    char *buf = pool_alloc(pool, total + 1), *p = buf;
    for (const struct body_seg *s = r->body; s != NULL; s = s->next) {
        if (s->data != NULL) {
            memcpy(p, s->data, s->len);
        } else {
            cr_assert_eq(pread(s->fd, p, s->len, s->off), (ssize_t)s->len, "short file segment");
        }
        p += s->len;
    }
    *p = '\0';
    if (len != NULL)
        *len = total;
    return buf;
}

static int count_segments(const struct request *r, int files)
{
    int n = 0;
    for (const struct body_seg *s = r->body; s != NULL; s = s->next)
        n += files ? s->data == NULL : s->data != NULL;
    return n;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static const char *etag_for(size_t size)
{
    static char buf[64];
    uint64_t usec = (uint64_t)MTIME_SEC * 1000000 + MTIME_NSEC / 1000;
    snprintf(buf, sizeof(buf), "\"%zx-%" PRIx64 "\"", size, usec);
    return buf;
}

/* ---- plain files ---- */

Test(static_files, regular_file)
{
    struct request *r = GET("/hello.txt");
    cr_assert_eq(r->status, 200);
    cr_expect_str_eq(header_names(r), "Last-Modified,ETag,Accept-Ranges");
    cr_expect_str_eq(resp_header(r, "Last-Modified"), MTIME_DATE);
    cr_expect_str_eq(resp_header(r, "ETag"), "\"e-60a2418202240\"");
    cr_expect_str_eq(resp_header(r, "ETag"), etag_for(14));
    cr_expect_str_eq(resp_header(r, "Accept-Ranges"), "bytes");
    cr_expect_str_eq(r->content_type, "text/plain");
    cr_expect_eq(count_segments(r, 1), FILE_SEGS(1));
    size_t len;
    char *body = body_of(r, &len);
    cr_expect_eq(len, strlen(hello));
    cr_expect_str_eq(body, hello);
    http_resp_close_files(r);
}

Test(static_files, head_has_same_headers)
{
    struct request *g = GET("/hello.txt");
    struct request *h = HEAD("/hello.txt");
    cr_assert_eq(h->status, 200);
    cr_expect_str_eq(header_names(h), header_names(g));
    cr_expect_str_eq(resp_header(h, "ETag"), resp_header(g, "ETag"));
    cr_expect_str_eq(h->content_type, "text/plain");
    cr_expect_eq(h->body_len, strlen(hello), "the core strips the body; its length is the Content-Length");
    http_resp_close_files(g);
    http_resp_close_files(h);
}

Test(static_files, unknown_type_has_no_content_type)
{
    struct request *r = GET("/blob.zzz");
    cr_assert_eq(r->status, 200);
    cr_expect_null(r->content_type);
    cr_expect_str_eq(body_of(r, NULL), "0123456789");
    http_resp_close_files(r);
}

Test(static_files, empty_file)
{
    struct request *r = GET("/empty.txt");
    cr_assert_eq(r->status, 200);
    cr_expect_eq(r->body_len, 0);
    cr_expect_null(r->body);
    cr_expect_str_eq(resp_header(r, "ETag"), etag_for(0));
}

Test(static_files, symlink_inside_is_followed)
{
    struct request *r = GET("/link_in");
    cr_assert_eq(r->status, 200);
    cr_expect_str_eq(body_of(r, NULL), hello);
    cr_expect_null(r->content_type, "the type follows the requested name, which has no extension");
    http_resp_close_files(r);

    r = GET("/link_dir/index.html");
    cr_assert_eq(r->status, 200);
    cr_expect_str_eq(body_of(r, NULL), "<h1>index</h1>");
    cr_expect_str_eq(r->content_type, "text/html");
    http_resp_close_files(r);
}

Test(static_files, symlink_out_is_forbidden)
{
    struct request *r = GET("/link_out");
    cr_expect_eq(r->status, 403);
    cr_expect_null(strstr(body_of(r, NULL), "secret"));
}

Test(static_files, missing_is_404)
{
    cr_expect_eq(GET("/nope.txt")->status, 404);
    cr_expect_eq(GET("/dir/nope/deeper")->status, 404);
    cr_expect_eq(GET("/hello.txt/")->status, 404, "a file is not a directory");
    cr_expect_eq(GET("/hello.txt/x")->status, 404);
}

Test(static_files, fifo_is_forbidden)
{
    /* must not block in open() either: the test would hang */
    cr_expect_eq(GET("/fifo")->status, 403);
}

Test(static_files, unreadable_is_forbidden)
{
    if (geteuid() == 0)
        cr_skip_test("root reads files whatever their mode");
    char p[256];
    write_file("secret.txt", "x", 1);
    path_in(p, sizeof(p), "secret.txt");
    cr_assert_eq(chmod(p, 0), 0);
    cr_expect_eq(GET("/secret.txt")->status, 403);
}

Test(static_files, missing_document_root)
{
    srv.main.document_root = "/nonexistent/docroot";
    cr_expect_eq(GET("/hello.txt")->status, 404);
}

Test(static_files, error_page_is_html)
{
    struct request *r = GET("/nope.txt");
    cr_assert_eq(r->status, 404);
    cr_expect_not_null(r->content_type);
    cr_expect_not_null(strstr(r->content_type, "text/html"));
    cr_expect_gt(r->body_len, 0);
}

/* ---- directories ---- */

Test(static_files, directory_without_slash_redirects)
{
    struct request *r = GET("/dir");
    cr_assert_eq(r->status, 301);
    cr_expect_str_eq(resp_header(r, "Location"), "http://example.com/dir/");
    cr_expect_gt(r->body_len, 0, "an HTML page goes with the redirect");

    struct request *q = make_req(METHOD_GET, "/dir", NULL);
    q->query = "a=1&b=%20";
    run(q);
    cr_assert_eq(q->status, 301);
    cr_expect_str_eq(resp_header(q, "Location"), "http://example.com/dir/?a=1&b=%20");

    struct request *n = make_req(METHOD_GET, "/sub dir", NULL);
    n->host = NULL;
    run(n);
    cr_assert_eq(n->status, 301);
    cr_expect_str_eq(resp_header(n, "Location"), "http://www.example.com/sub%20dir/");

    struct request *h = make_req(METHOD_GET, "/link_dir", "Host", "example.com:8080", NULL);
    h->host = "example.com:8080";
    run(h);
    cr_expect_str_eq(resp_header(h, "Location"), "http://example.com:8080/link_dir/");
}

Test(static_files, directory_index)
{
    struct request *r = GET("/dir/");
    cr_assert_eq(r->status, 200);
    cr_expect_str_eq(r->content_type, "text/html");
    cr_expect_str_eq(body_of(r, NULL), "<h1>index</h1>");
    cr_expect_str_eq(resp_header(r, "ETag"), etag_for(14));
    http_resp_close_files(r);

    r = GET("/");
    cr_assert_eq(r->status, 200);
    cr_expect_str_eq(body_of(r, NULL), "<p>root</p>");
    http_resp_close_files(r);

    r = GET("/sub dir/");
    cr_assert_eq(r->status, 200);
    cr_expect_str_eq(body_of(r, NULL), "sub");
    http_resp_close_files(r);
}

Test(static_files, directory_without_index_is_forbidden)
{
    cr_expect_eq(GET("/noindex/")->status, 403);
    srv.main.directory_index = NULL;
    cr_expect_eq(GET("/dir/")->status, 403);
}

Test(static_files, directory_index_order)
{
    static char *names[] = {"missing.html", "idx", "b.html", "a.html", NULL};
    srv.main.directory_index = names;
    struct request *r = GET("/multi/");
    cr_assert_eq(r->status, 200);
    cr_expect_str_eq(body_of(r, NULL), "b",
                     "a directory named like an index is skipped; then the first wins");
    http_resp_close_files(r);
}

Test(static_files, index_symlink_out_is_forbidden)
{
    make_link("../../outside.txt", "noindex/index.html");
    struct request *r = GET("/noindex/");
    cr_expect_eq(r->status, 403);
    cr_expect_null(strstr(body_of(r, NULL), "secret"));
}

/* ---- conditional requests ---- */

Test(static_files, if_none_match)
{
    const char *etag = etag_for(14);
    char weak[80], list[120];
    snprintf(weak, sizeof(weak), "W/%s", etag);
    snprintf(list, sizeof(list), "\"nope\", W/\"x\" ,%s", etag);
    const char *matching[] = {etag, weak, list, "*"};
    for (size_t i = 0; i < 4; i++) {
        struct request *r = GET("/hello.txt", "If-None-Match", matching[i]);
        cr_expect_eq(r->status, 304, "If-None-Match: %s", matching[i]);
        cr_expect_str_eq(header_names(r), "Last-Modified,ETag");
        cr_expect_str_eq(resp_header(r, "ETag"), etag);
        cr_expect_null(r->body);
        cr_expect_eq(r->body_len, 0);
    }
    struct request *r = HEAD("/hello.txt", "If-None-Match", etag);
    cr_expect_eq(r->status, 304);

    /* no match: 200, and If-Modified-Since is not looked at when If-None-Match is there */
    r = GET("/hello.txt", "If-None-Match", "\"other\"", "If-Modified-Since", MTIME_DATE);
    cr_expect_eq(r->status, 200);
    http_resp_close_files(r);
}

Test(static_files, if_modified_since)
{
    struct request *r = GET("/hello.txt", "If-Modified-Since", MTIME_DATE);
    cr_expect_eq(r->status, 304);
    cr_expect_str_eq(resp_header(r, "Last-Modified"), MTIME_DATE);
    r = GET("/hello.txt", "If-Modified-Since", "Wed, 15 Nov 2023 00:00:00 GMT");
    cr_expect_eq(r->status, 304);
    r = GET("/hello.txt", "If-Modified-Since", "Wednesday, 15-Nov-23 00:00:00 GMT");
    cr_expect_eq(r->status, 304, "RFC 850 dates are accepted");

    const char *modified[] = {"Tue, 14 Nov 2023 22:13:19 GMT", "not a date", "",
                              "Fri, 01 Jan 2999 00:00:00 GMT"};
    for (size_t i = 0; i < 4; i++) {
        r = GET("/hello.txt", "If-Modified-Since", modified[i]);
        cr_expect_eq(r->status, 200, "If-Modified-Since: %s", modified[i]);
        http_resp_close_files(r);
    }
}

Test(static_files, if_match)
{
    const char *etag = etag_for(14);
    char list[120], weak[80];
    snprintf(list, sizeof(list), "\"a\", %s", etag);
    snprintf(weak, sizeof(weak), "W/%s", etag);

    struct request *r = GET("/hello.txt", "If-Match", etag);
    cr_expect_eq(r->status, 200);
    http_resp_close_files(r);
    r = GET("/hello.txt", "If-Match", list);
    cr_expect_eq(r->status, 200);
    http_resp_close_files(r);
    r = GET("/hello.txt", "If-Match", "*");
    cr_expect_eq(r->status, 200);
    http_resp_close_files(r);

    cr_expect_eq(GET("/hello.txt", "If-Match", "\"other\"")->status, 412);
    cr_expect_eq(GET("/hello.txt", "If-Match", weak)->status, 412, "If-Match compares strongly");
    cr_expect_eq(GET("/hello.txt", "If-Match", "garbage")->status, 412);
    cr_expect_eq(GET("/nope.txt", "If-Match", "*")->status, 404);
}

Test(static_files, if_unmodified_since)
{
    cr_expect_eq(GET("/hello.txt", "If-Unmodified-Since", "Tue, 14 Nov 2023 22:13:19 GMT")->status, 412);
    struct request *r = GET("/hello.txt", "If-Unmodified-Since", MTIME_DATE);
    cr_expect_eq(r->status, 200);
    http_resp_close_files(r);
    r = GET("/hello.txt", "If-Unmodified-Since", "bogus");
    cr_expect_eq(r->status, 200, "an invalid date is ignored");
    http_resp_close_files(r);
    /* with If-Match, If-Unmodified-Since is not evaluated */
    r = GET("/hello.txt", "If-Match", etag_for(14), "If-Unmodified-Since", "Mon, 01 Jan 2001 00:00:00 GMT");
    cr_expect_eq(r->status, 200);
    http_resp_close_files(r);
}

Test(static_files, precondition_order)
{
    /* If-Match fails first: 412 even though If-None-Match would give 304 */
    struct request *r = GET("/hello.txt", "If-Match", "\"other\"", "If-None-Match", "*");
    cr_expect_eq(r->status, 412);
    r = GET("/hello.txt", "If-Match", etag_for(14), "If-None-Match", etag_for(14));
    cr_expect_eq(r->status, 304);
}

Test(static_files, last_modified_not_in_future)
{
    char p[256];
    path_in(p, sizeof(p), "hello.txt");
    time_t future = time(NULL) + 86400;
    struct timespec ts[2] = {{future, 0}, {future, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
    struct request *r = make_req(METHOD_GET, "/hello.txt", NULL);
    run(r);
    char want[32];
    http_date_format(r->start_time, want);
    cr_expect_str_eq(resp_header(r, "Last-Modified"), want);
    http_resp_close_files(r);
}

/* ---- ranges ---- */

struct single_case {
    const char *range;
    int first, last;
};

Test(static_files, single_ranges)
{
    static const struct single_case cases[] = {
        {"bytes=0-4", 0, 4},      {"bytes=-5", 95, 99},      {"bytes=95-", 95, 99},
        {"bytes=90-200", 90, 99}, {"bytes=0-0", 0, 0},       {"bytes=99-99", 99, 99},
        {"bytes=-500", 0, 99},    {"BYTES = 10-19", 10, 19}, {"bytes=0-4,3-9", 0, 9},
        {"bytes=0-4,5-9", 0, 9},  {"bytes=5-9,0-4", 0, 9},   {"bytes=0-1,200-300", 0, 1},
        {"bytes= 7-8 ,", 7, 8},   {"bytes=,,3-3", 3, 3},     {"bytes=0-99999999999999999999999", 0, 99},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct single_case *c = &cases[i];
        struct request *r = GET("/digits.txt", "Range", c->range);
        cr_expect_eq(r->status, 206, "%s: status %d", c->range, r->status);
        if (r->status != 206)
            continue;
        char cr[64];
        snprintf(cr, sizeof(cr), "bytes %d-%d/100", c->first, c->last);
        cr_expect_str_eq(header_names(r), "Last-Modified,ETag,Accept-Ranges,Content-Range", "%s", c->range);
        cr_expect_str_eq(resp_header(r, "Content-Range"), cr, "%s", c->range);
        cr_expect_str_eq(r->content_type, "text/plain");
        size_t len;
        char *body = body_of(r, &len);
        cr_expect_eq(len, (size_t)(c->last - c->first + 1), "%s", c->range);
        cr_expect_eq(memcmp(body, digits + c->first, len), 0, "%s", c->range);
        http_resp_close_files(r);
    }
}

Test(static_files, multipart_byteranges)
{
    struct request *r = GET("/digits.txt", "Range", "bytes=0-1,10-12,-3");
    cr_assert_eq(r->status, 206);
    cr_expect_null(resp_header(r, "Content-Range"));
    cr_expect_str_eq(header_names(r), "Last-Modified,ETag,Accept-Ranges");
    const char *prefix = "multipart/byteranges; boundary=";
    cr_assert_not_null(r->content_type);
    cr_assert_eq(strncmp(r->content_type, prefix, strlen(prefix)), 0, "Content-Type: %s", r->content_type);
    const char *b = r->content_type + strlen(prefix);
    cr_expect_geq(strlen(b), 8);

    char want[1024];
    snprintf(want, sizeof(want),
             "--%s\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/100\r\n\r\n01\r\n"
             "--%s\r\nContent-Type: text/plain\r\nContent-Range: bytes 10-12/100\r\n\r\n012\r\n"
             "--%s\r\nContent-Type: text/plain\r\nContent-Range: bytes 97-99/100\r\n\r\n789\r\n"
             "--%s--\r\n",
             b, b, b, b);
    size_t len;
    char *body = body_of(r, &len);
    cr_expect_eq(len, strlen(want));
    cr_expect_str_eq(body, want);
    cr_expect_eq(count_segments(r, 1), FILE_SEGS(3), "each part's bytes come from the file");

    /* one fd for all parts */
    int fd = -1;
    for (const struct body_seg *s = r->body; s != NULL; s = s->next)
        if (s->data == NULL) {
            if (fd < 0)
                fd = s->fd;
            cr_expect_eq(s->fd, fd);
        }
    http_resp_close_files(r);
}

Test(static_files, multipart_unknown_type_has_no_part_type)
{
    struct request *r = GET("/blob.zzz", "Range", "bytes=0-0,2-2");
    cr_assert_eq(r->status, 206);
    const char *b = strstr(r->content_type, "boundary=");
    cr_assert_not_null(b);
    b += 9;
    char want[512];
    snprintf(want, sizeof(want),
             "--%s\r\nContent-Range: bytes 0-0/10\r\n\r\n0\r\n--%s\r\nContent-Range: bytes "
             "2-2/10\r\n\r\n2\r\n--%s--\r\n",
             b, b, b);
    cr_expect_str_eq(body_of(r, NULL), want);
    http_resp_close_files(r);
}

Test(static_files, boundaries_differ)
{
    struct request *a = GET("/digits.txt", "Range", "bytes=0-0,5-5");
    struct request *b = GET("/digits.txt", "Range", "bytes=0-0,5-5");
    cr_assert_eq(a->status, 206);
    cr_assert_eq(b->status, 206);
    cr_expect_str_neq(a->content_type, b->content_type);
    http_resp_close_files(a);
    http_resp_close_files(b);
}

Test(static_files, unsatisfiable_range)
{
    const char *cases[] = {"bytes=100-200", "bytes=100-", "bytes=-0", "bytes=500-600,200-"};
    for (size_t i = 0; i < 4; i++) {
        struct request *r = GET("/digits.txt", "Range", cases[i]);
        cr_expect_eq(r->status, 416, "%s: status %d", cases[i], r->status);
        cr_expect_str_eq(resp_header(r, "Content-Range"), "bytes */100", "%s", cases[i]);
        cr_expect_eq(count_segments(r, 1), 0);
    }
    struct request *r = GET("/empty.txt", "Range", "bytes=0-");
    cr_expect_eq(r->status, 416);
    cr_expect_str_eq(resp_header(r, "Content-Range"), "bytes */0");
    r = GET("/empty.txt", "Range", "bytes=-1");
    cr_expect_eq(r->status, 416);
}

Test(static_files, ignored_ranges_send_everything)
{
    char many[4096] = "bytes=";
    for (int i = 0; i < 201; i++)
        snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s%d-%d", i ? "," : "", i % 50 * 2,
                 i % 50 * 2);
    char reversed[1024] = "bytes=";
    for (int i = 0; i < 22; i++)
        snprintf(reversed + strlen(reversed), sizeof(reversed) - strlen(reversed), "%s%d-%d", i ? "," : "",
                 90 - i * 4, 90 - i * 4);
    char overlapping[1024] = "bytes=0-0";
    for (int i = 0; i < 21; i++)
        strcat(overlapping, ",0-0");

    const char *cases[] = {
        "bytes=5-1",              /* last before first */
        "bytes=abc",              /* not a range */
        "items=0-1",              /* unknown unit */
        "bytes=",                 /* no range at all */
        "bytes 0-1",              /* no '=' */
        "bytes=0-1;x",            /* junk after a range */
        "bytes=1-2-3",            /* junk after a range */
        "bytes=--1",              /* no number */
        "bytes=-",                /* no number */
        "bytes=0-60,70-80,10-70", /* adds up to more than the file */
        many,                     /* more than MaxRanges */
        reversed,                 /* more than MaxRangeReversals */
        overlapping,              /* more than MaxRangeOverlaps */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct request *r = GET("/digits.txt", "Range", cases[i]);
        cr_expect_eq(r->status, 200, "%.40s: status %d", cases[i], r->status);
        cr_expect_null(resp_header(r, "Content-Range"));
        cr_expect_eq(r->body_len, 100);
        http_resp_close_files(r);
    }

    /* 20 reversals are still allowed */
    char ok[1024] = "bytes=";
    for (int i = 0; i < 21; i++)
        snprintf(ok + strlen(ok), sizeof(ok) - strlen(ok), "%s%d-%d", i ? "," : "", 90 - i * 4, 90 - i * 4);
    struct request *r = GET("/digits.txt", "Range", ok);
    cr_expect_eq(r->status, 206);
    http_resp_close_files(r);
}

Test(static_files, range_only_for_get)
{
    struct request *r = HEAD("/digits.txt", "Range", "bytes=0-4");
    cr_expect_eq(r->status, 200);
    cr_expect_null(resp_header(r, "Content-Range"));
    cr_expect_eq(r->body_len, 100);
    http_resp_close_files(r);
}

Test(static_files, if_range)
{
    const char *etag = etag_for(100);
    char weak[80];
    snprintf(weak, sizeof(weak), "W/%s", etag);

    struct request *r = GET("/digits.txt", "Range", "bytes=0-4", "If-Range", etag);
    cr_expect_eq(r->status, 206);
    http_resp_close_files(r);
    r = GET("/digits.txt", "Range", "bytes=0-4", "If-Range", MTIME_DATE);
    cr_expect_eq(r->status, 206);
    http_resp_close_files(r);

    const char *stale[] = {"\"other\"", weak, "Tue, 14 Nov 2023 22:13:19 GMT",
                           "Wed, 15 Nov 2023 00:00:00 GMT", "nonsense"};
    for (size_t i = 0; i < 5; i++) {
        r = GET("/digits.txt", "Range", "bytes=0-4", "If-Range", stale[i]);
        cr_expect_eq(r->status, 200, "If-Range: %s", stale[i]);
        cr_expect_eq(r->body_len, 100);
        cr_expect_null(resp_header(r, "Content-Range"));
        http_resp_close_files(r);
    }
    /* If-Range that does not match also turns an unsatisfiable range into the whole file */
    r = GET("/digits.txt", "Range", "bytes=500-", "If-Range", "\"other\"");
    cr_expect_eq(r->status, 200);
    http_resp_close_files(r);
}

Test(static_files, conditionals_before_range)
{
    struct request *r = GET("/digits.txt", "Range", "bytes=500-", "If-None-Match", etag_for(100));
    cr_expect_eq(r->status, 304);
    r = GET("/digits.txt", "Range", "bytes=0-1", "If-Match", "\"other\"");
    cr_expect_eq(r->status, 412);
}

/* ---- resources ---- */

Test(static_files, no_descriptor_leaks)
{
    /* warm the DocumentRoot cache: its one fd stays open by design */
    http_resp_close_files(GET("/hello.txt"));
    int before = open_fds();
    for (int i = 0; i < 20; i++) {
        struct request *r[] = {
            GET("/hello.txt"),
            GET("/hello.txt", "If-None-Match", "*"),
            GET("/hello.txt", "If-Match", "\"x\""),
            GET("/digits.txt", "Range", "bytes=500-"),
            GET("/digits.txt", "Range", "bytes=0-1,5-6,9-9"),
            GET("/dir"),
            GET("/dir/"),
            GET("/noindex/"),
            GET("/link_out"),
            GET("/fifo"),
            GET("/empty.txt"),
            GET("/nope"),
        };
        for (size_t k = 0; k < sizeof(r) / sizeof(r[0]); k++)
            http_resp_close_files(r[k]);
    }
    cr_expect_eq(open_fds(), before);
}

Test(static_files, handler_description)
{
    cr_expect_str_eq(static_handler.name, "static");
    cr_expect_eq(static_handler.methods, HTTP_M(METHOD_GET) | HTTP_M(METHOD_HEAD) | HTTP_M(METHOD_OPTIONS));
    cr_expect_null(static_handler.resume);
    cr_expect_eq(handler_find("static"), &static_handler);
}

#ifdef STATIC_CACHED
/* ---- the small-file cache ---- */

/* Writes `content` over root/rel in place (same inode), keeping the fixture's mtime: only ctime changes. */
static void rewrite_in_place(const char *rel, const char *content)
{
    char p[256];
    path_in(p, sizeof(p), rel);
    int fd = open(p, O_WRONLY);
    cr_assert_geq(fd, 0, "open(%s): %s", p, strerror(errno));
    cr_assert_eq(pwrite(fd, content, strlen(content), 0), (ssize_t)strlen(content));
    struct timespec ts[2] = {{MTIME_SEC, MTIME_NSEC}, {MTIME_SEC, MTIME_NSEC}};
    cr_assert_eq(futimens(fd, ts), 0);
    close(fd);
}

Test(static_files, cache_answers_from_memory)
{
    http_resp_close_files(GET("/hello.txt"));
    cr_assert_eq(filecache_bytes(), strlen(hello), "the first request fills the cache");
    int before = open_fds();
    struct request *r = GET("/hello.txt");
    cr_expect_eq(open_fds(), before, "a cached file is not opened");
    cr_expect_eq(count_segments(r, 1), 0);
    cr_expect_eq(count_segments(r, 0), 1);
    cr_expect_str_eq(body_of(r, NULL), hello);
    cr_expect_str_eq(resp_header(r, "ETag"), etag_for(14));
    cr_expect_str_eq(resp_header(r, "Last-Modified"), MTIME_DATE);
}

Test(static_files, cache_sees_a_file_rewritten_in_place)
{
    http_resp_close_files(GET("/hello.txt"));
    rewrite_in_place("hello.txt", "Hello, WORLD!\n"); /* same size, same mtime */
    struct request *r = GET("/hello.txt");
    cr_expect_str_eq(body_of(r, NULL), "Hello, WORLD!\n");
    http_resp_close_files(r);
}

Test(static_files, cache_sees_a_replaced_and_a_removed_file)
{
    char p[256], q[256];
    http_resp_close_files(GET("/hello.txt"));
    write_file("new.txt", "Howdy, world!\n", 14); /* same size and mtime, another inode */
    path_in(p, sizeof(p), "new.txt");
    path_in(q, sizeof(q), "hello.txt");
    cr_assert_eq(rename(p, q), 0);
    struct request *r = GET("/hello.txt");
    cr_expect_str_eq(body_of(r, NULL), "Howdy, world!\n");
    http_resp_close_files(r);
    cr_assert_eq(unlink(q), 0);
    cr_expect_eq(GET("/hello.txt")->status, 404);
}

Test(static_files, cache_does_not_follow_a_symlink_moved_out)
{
    http_resp_close_files(GET("/link_in")); /* cached under "link_in" from hello.txt inside */
    char p[256];
    path_in(p, sizeof(p), "link_in");
    cr_assert_eq(unlink(p), 0);
    make_link("../outside.txt", "link_in");
    struct request *r = GET("/link_in");
    cr_expect_eq(r->status, 403, "status %d: the entry must not be served for another file", r->status);
}

Test(static_files, cache_keeps_no_unsettled_file)
{
    struct request *r = make_req(METHOD_GET, "/hello.txt", NULL);
    r->start_time = time(NULL); /* the fixture's ctime is now: the file could still change unseen */
    run(r);
    cr_expect_str_eq(body_of(r, NULL), hello);
    cr_expect_eq(count_segments(r, 1), 1);
    cr_expect_eq(filecache_bytes(), 0);
    http_resp_close_files(r);
}

Test(static_files, cache_limits)
{
    srv.file_cache_max_file = 50;
    srv.file_cache_size = 20;
    http_resp_close_files(GET("/digits.txt")); /* 100 bytes: above FileCacheMaxFile */
    cr_expect_eq(filecache_bytes(), 0);
    http_resp_close_files(GET("/hello.txt")); /* 14 */
    cr_expect_eq(filecache_bytes(), 14);
    http_resp_close_files(GET("/blob.zzz")); /* 10: hello.txt goes, FileCacheSize is 20 */
    cr_expect_eq(filecache_bytes(), 10);
    int before = open_fds();
    struct request *r = GET("/blob.zzz");
    cr_expect_eq(open_fds(), before, "the newer entry stayed");
    cr_expect_str_eq(body_of(r, NULL), "0123456789");
    srv.file_cache_max_file = 0; /* off: served from the file again */
    r = GET("/blob.zzz");
    cr_expect_eq(count_segments(r, 1), 1);
    http_resp_close_files(r);
}
#endif
