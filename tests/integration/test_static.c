/*
 * The static file handler over the wire: byte ranges (single, suffix, multipart, unsatisfiable), conditional
 * requests (If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, If-Range) and a large file sent
 * with sendfile(), and the small-file cache never answering with a stale file.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>

#define REQ(path, hdrs) "GET " path " HTTP/1.1\r\nHost: localhost\r\n" hdrs "\r\n"

/* Asserts r is a 206 of page.html bytes [first, last] (inclusive). */
static void expect_page_range(struct srv *s, const struct resp *r, size_t first, size_t last)
{
    char want_cr[64];

    hassert(r->status == 206, "status %d, want 206", r->status);
    snprintf(want_cr, sizeof(want_cr), "bytes %zu-%zu/%d", first, last, PAGE_LEN);
    const char *cr = resp_get(r, "Content-Range");
    hassert(cr && strcmp(cr, want_cr) == 0, "Content-Range \"%s\", want \"%s\"", cr ? cr : "(none)", want_cr);
    /* Same validators as the full response, then the range, in the documented order. */
    const char *etag = resp_get(r, "ETag"), *lm = resp_get(r, "Last-Modified");
    hassert(etag && lm, "206 without ETag or Last-Modified");
    char *hh = xasprintf("Last-Modified: %s\r\nETag: %s\r\nAccept-Ranges: bytes\r\nContent-Range: %s\r\n", lm,
                         etag, want_cr);
    char *want = expect_head(206, hh, (long long)(last - first + 1), "text/html", NULL);
    expect_bytes("206 head", r->norm, strlen(r->norm), want, strlen(want));
    expect_bytes("206 body", r->body, r->body_len, harness_page() + first, last - first + 1);
    free(hh);
    free(want);
    (void)s;
}

MPM_TEST(static, single_ranges, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    struct resp *r;

    r = exchange(c, REQ("/page.html", "Range: bytes=0-9\r\n"));
    expect_page_range(s, r, 0, 9);
    resp_free(r);
    r = exchange(c, REQ("/page.html", "Range: bytes=-10\r\n"));
    expect_page_range(s, r, PAGE_LEN - 10, PAGE_LEN - 1);
    resp_free(r);
    r = exchange(c, REQ("/page.html", "Range: bytes=1000-\r\n"));
    expect_page_range(s, r, 1000, PAGE_LEN - 1);
    resp_free(r);
    /* A last byte past the end is clamped. */
    r = exchange(c, REQ("/page.html", "Range: bytes=1020-5000\r\n"));
    expect_page_range(s, r, 1020, PAGE_LEN - 1);
    resp_free(r);
    conn_close(c);
    server_stop(s);
}

/* Finds the next "\r\n" at or after p in [p, end); NULL if none. */
static const char *find_crlf(const char *p, const char *end)
{
    return memmem(p, (size_t)(end - p), "\r\n", 2);
}

MPM_TEST(static, multipart_ranges, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct resp *r = request_once(s, REQ("/page.html", "Range: bytes=0-0,5-9\r\n"), NULL);
    const char *ct = resp_get(r, "Content-Type"), *b;
    static const size_t firsts[] = {0, 5}, lasts[] = {0, 9};

    hassert(r->status == 206, "status %d, want 206", r->status);
    hassert(resp_get(r, "Content-Range") == NULL, "a multipart response has a top-level Content-Range");
    hassert(ct && strncmp(ct, "multipart/byteranges; boundary=", 31) == 0, "Content-Type \"%s\"",
            ct ? ct : "(none)");
    b = ct + 31;
    hassert(*b && strlen(b) <= 70, "bad boundary \"%s\"", b);
    char *delim = xasprintf("--%s\r\n", b), *close_delim = xasprintf("\r\n--%s--\r\n", b);
    const char *p = r->body, *end = r->body + r->body_len;

    /* Optional preamble (a CRLF) before the first delimiter. */
    if (end - p >= 2 && memcmp(p, "\r\n", 2) == 0)
        p += 2;
    for (int part = 0; part < 2; part++) {
        char want_cr[64];
        snprintf(want_cr, sizeof(want_cr), "bytes %zu-%zu/%d", firsts[part], lasts[part], PAGE_LEN);
        if (part > 0) {
            hassert(end - p >= 2 && memcmp(p, "\r\n", 2) == 0, "part %d: no CRLF before the delimiter", part);
            p += 2;
        }
        hassert((size_t)(end - p) >= strlen(delim) && memcmp(p, delim, strlen(delim)) == 0,
                "part %d: no delimiter \"--%s\" at offset %td", part, b, p - r->body);
        p += strlen(delim);
        int have_cr = 0, have_ct = 0;
        for (;;) {
            const char *eol = find_crlf(p, end);
            hassert(eol != NULL, "part %d: unterminated headers", part);
            if (eol == p) {
                p += 2;
                break;
            }
            if ((size_t)(eol - p) == 15 + strlen(want_cr) && strncasecmp(p, "Content-Range: ", 15) == 0 &&
                memcmp(p + 15, want_cr, strlen(want_cr)) == 0)
                have_cr = 1;
            else if (strncasecmp(p, "Content-Type: text/html", 23) == 0)
                have_ct = 1;
            else
                hfail("part %d: unexpected part header \"%.*s\"", part, (int)(eol - p), p);
            p = eol + 2;
        }
        hassert(have_cr && have_ct, "part %d: want Content-Type: text/html and Content-Range: %s", part,
                want_cr);
        size_t n = lasts[part] - firsts[part] + 1;
        hassert((size_t)(end - p) >= n, "part %d truncated", part);
        expect_bytes("part data", p, n, harness_page() + firsts[part], n);
        p += n;
    }
    expect_bytes("multipart end", p, (size_t)(end - p), close_delim, strlen(close_delim));
    free(delim);
    free(close_delim);
    resp_free(r);
    server_stop(s);
}

MPM_TEST(static, unsatisfiable_range_416, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c;
    struct resp *r = request_once(s, REQ("/page.html", "Range: bytes=999999-\r\n"), &c);
    char want_cr[64];

    snprintf(want_cr, sizeof(want_cr), "bytes */%d", PAGE_LEN);
    hassert(r->status == 416, "status %d, want 416", r->status);
    const char *cr = resp_get(r, "Content-Range");
    hassert(cr && strcmp(cr, want_cr) == 0, "Content-Range \"%s\", want \"%s\"", cr ? cr : "(none)", want_cr);
    /* The handler headers may include the validators; everything else is the standard page. */
    char *body = error_body(416);
    const char *ct = resp_get(r, "Content-Type");
    hassert(ct && strcmp(ct, HTML_ERROR_TYPE) == 0, "416 Content-Type \"%s\"", ct ? ct : "(none)");
    expect_bytes("416 body", r->body, r->body_len, body, strlen(body));
    free(body);
    resp_free(r);
    /* The connection stays usable. */
    conn_send_str(c, REQ("/page.html", ""));
    expect_next_file(c, s, "page.html", NULL, 0);
    conn_close(c);
    server_stop(s);
}

/* A conditional GET of index.html with header line `hdr` must give 304 with the ETag and no body. */
static void expect_304(struct srv *s, struct conn *c, const char *etag, const char *hdr)
{
    char *req = xasprintf("GET / HTTP/1.1\r\nHost: localhost\r\n%s\r\n\r\n", hdr);
    struct resp *r = exchange(c, req);

    hassert(r->status == 304, "%s: status %d, want 304", hdr, r->status);
    const char *e = resp_get(r, "ETag");
    hassert(e && strcmp(e, etag) == 0, "%s: 304 ETag \"%s\", want %s", hdr, e ? e : "(none)", etag);
    hassert(r->body_len == 0, "304 with a body");
    resp_free(r);
    free(req);
    /* Nothing followed the 304 on the wire. */
    conn_send_str(c, "GET /sub/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_next_file(c, s, "sub/index.html", NULL, 0);
}

MPM_TEST(static, conditionals, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c;
    struct resp *full = request_once(s, REQ("/", ""), &c);

    expect_file(full, s, "index.html", NULL, 0);
    char *etag = strdup(resp_get(full, "ETag")), *lm = strdup(resp_get(full, "Last-Modified"));
    char *h;

    h = xasprintf("If-None-Match: %s", etag);
    expect_304(s, c, etag, h);
    free(h);
    h = xasprintf("If-None-Match: \"other\", %s", etag);
    expect_304(s, c, etag, h);
    free(h);
    expect_304(s, c, etag, "If-None-Match: *");
    h = xasprintf("If-Modified-Since: %s", lm);
    expect_304(s, c, etag, h);
    free(h);

    /* Validators that do not match: full response. */
    conn_send_str(c, REQ("/", "If-None-Match: \"nope\"\r\n"));
    expect_next_file(c, s, "index.html", NULL, 0);
    conn_send_str(c, REQ("/", "If-Modified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n"));
    expect_next_file(c, s, "index.html", NULL, 0);

    /* Preconditions that fail: 412. */
    conn_send_str(c, REQ("/", "If-Match: \"nope\"\r\n"));
    expect_next_error(c, 412, NULL, NULL);
    conn_send_str(c, REQ("/", "If-Unmodified-Since: Mon, 01 Jan 1990 00:00:00 GMT\r\n"));
    expect_next_error(c, 412, NULL, NULL);
    /* Preconditions that hold. */
    h = xasprintf("GET / HTTP/1.1\r\nHost: localhost\r\nIf-Match: %s\r\n\r\n", etag);
    conn_send_str(c, h);
    expect_next_file(c, s, "index.html", NULL, 0);
    free(h);
    conn_close(c);
    resp_free(full);
    free(etag);
    free(lm);
    server_stop(s);
}

MPM_TEST(static, if_range, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c;
    struct resp *r = request_once(s, REQ("/page.html", "Range: bytes=0-9\r\nIf-Range: \"wrong\"\r\n"), &c);

    expect_file(r, s, "page.html", NULL, 0);
    char *etag = strdup(resp_get(r, "ETag"));
    resp_free(r);
    char *req = xasprintf(
        "GET /page.html HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-9\r\nIf-Range: %s\r\n\r\n", etag);
    r = exchange(c, req);
    expect_page_range(s, r, 0, 9);
    resp_free(r);
    free(req);
    free(etag);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(static, large_file, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c;
    struct resp *r = request_once(s, REQ("/big.bin", ""), &c);

    hassert(r->status == 200, "status %d", r->status);
    hassert(resp_get(r, "ETag") && resp_get(r, "Last-Modified"), "no validators on big.bin");
    expect_bytes("big.bin", r->body, r->body_len, harness_big(), BIG_LEN);
    resp_free(r);
    /* A range from the middle, on the same connection. */
    r = exchange(c, REQ("/big.bin", "Range: bytes=50000-50099\r\n"));
    hassert(r->status == 206, "status %d, want 206", r->status);
    const char *cr = resp_get(r, "Content-Range");
    hassert(cr && strcmp(cr, "bytes 50000-50099/102400") == 0, "Content-Range \"%s\"", cr ? cr : "(none)");
    expect_bytes("big.bin range", r->body, r->body_len, harness_big() + 50000, 100);
    resp_free(r);
    /* Read slowly: the server must finish a large send to a client that is not reading yet. */
    conn_send_str(c, REQ("/big.bin", ""));
    sleep_ms(300);
    r = must_read(c, 0);
    expect_bytes("big.bin (slow reader)", r->body, r->body_len, harness_big(), BIG_LEN);
    resp_free(r);
    conn_close(c);
    server_stop(s);
}

/* Requests path on a new connection n times; every answer must be 200 with `want` as its body. */
static void expect_body_n(struct srv *s, const char *path, const char *want, int n)
{
    for (int i = 0; i < n; i++) {
        struct conn *c;
        char *req = xasprintf("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
        struct resp *r = request_once(s, req, &c);
        hassert(r->status == 200, "%s: status %d", path, r->status);
        expect_bytes(path, r->body, r->body_len, want, strlen(want));
        resp_free(r);
        conn_close(c);
        free(req);
    }
}

/*
 * The small-file cache (FileCacheMaxFile, on by default) never serves a stale file: a file old enough to be
 * cached is asked for on many connections (so every child of prefork and worker caches it), then rewritten in
 * place with the same size and mtime (only its ctime changes), then removed.
 */
MPM_TEST(static, small_file_cache_is_never_stale, .timeout = 30)
{
    struct srv *s = server_start(mpm, NULL);
    char *path = xasprintf("%s/cached.txt", s->htdocs);
    char *a = repeat("a", 1000), *b = repeat("b", 1000);
    write_file(path, a, 1000);
    struct timespec old[2] = {{1700000000, 0}, {1700000000, 0}};
    hassert(utimensat(AT_FDCWD, path, old, 0) == 0, "utimensat: %s", strerror(errno));
    sleep_ms(3200); /* FILECACHE_SETTLE_S (2 s) after its ctime, whole seconds */
    expect_body_n(s, "/cached.txt", a, 12);

    int fd = open(path, O_WRONLY);
    hassert(fd >= 0 && pwrite(fd, b, 1000, 0) == 1000 && futimens(fd, old) == 0, "rewrite: %s",
            strerror(errno));
    close(fd);
    expect_body_n(s, "/cached.txt", b, 12);

    hassert(unlink(path) == 0, "unlink: %s", strerror(errno));
    for (int i = 0; i < 6; i++) {
        struct conn *c = conn_open(s->port);
        expect_status(c, "GET /cached.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 404);
        conn_close(c);
    }
    free(a);
    free(b);
    free(path);
    server_stop(s);
}
