/*
 * The core: an HTTP/1.x connection as a sans-I/O state machine around llhttp (strict mode).
 *
 * Bytes an MPM read go through llhttp, whose callbacks copy the request line and headers into the request
 * pool and count (and discard) the body. on_message_complete pauses the parser, so with pipelined input the
 * next request waits in the read buffer until this one's response has been written; then parsing resumes on
 * the remaining bytes. A response is a head (status line and headers, built here) followed by the handler's
 * body segments; http_conn_output() hands them out as iovecs, or as a file range for sendfile().
 *
 * The one thing to know: an idle keep-alive connection owns no buffer and no pool (see go_idle()), so the
 * event MPM can hold thousands of them for the size of this struct.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <llhttp.h>

#include "handler.h"
#include "http.h"
#include "http_conn.h"
#include "log.h"
#include "path.h"
#include "pool.h"
#include "scoreboard.h"
#include "server.h"
#include "util.h"

#define READ_BUF_SIZE 8192
#define REQ_POOL_SIZE 4096

/* Where the current request is. */
enum phase {
    PH_IDLE,       /* no byte of a request yet */
    PH_PARSING,    /* request line, headers or body being read */
    PH_RUNNING,    /* the handler waits (CONN_WAIT) */
    PH_RESPONDING, /* the response is being written */
    PH_INTERIM     /* "100 Continue" is being written, then back to PH_PARSING */
};

/* Which RequestReadTimeout stage the connection is in (mod_reqtimeout's header and body stages). */
enum stage {
    ST_NONE,   /* nothing is being received: idle keep-alive, or a request being answered */
    ST_HEADER, /* from accept (or the first byte of a keep-alive request) to the end of the headers */
    ST_BODY    /* from the end of the headers to the end of the body */
};

/* A growing byte string in the request pool. */
struct span {
    char *p;
    size_t len, cap;
};

/* Everything about the request in progress, allocated in the request pool: absent while idle. */
struct exchange {
    struct request req;
    llhttp_t parser; /* initialised per request: a paused parser is at a message boundary */
    struct span url, field, value;
    int in_value;          /* last callback was a header value */
    const char *exec_base; /* the bytes of the llhttp_execute() in progress start here */
    int after_lf;          /* the bytes parsed before exec_base end with LF and optional SP/HTAB */
    int cap_headers;       /* room in req.headers */
    size_t header_bytes;   /* size of the header line being read */
    int error_status;      /* set by a callback that fails the request */
    int path_status;       /* 404 etc. decided at headers, answered when the body has been read */
    int expect_continue;
    int headers_done;
    int send_body;      /* false for HEAD */
    size_t interim_off; /* of "100 Continue" */
    const struct handler *handler;

    /* output: head, then the body segments from seg at offset seg_off */
    char *head;
    size_t head_len, head_off;
    struct body_seg *seg;
    size_t seg_off;
};

struct http_conn {
    const struct server *s;
    struct sb_worker *slot;
    struct exchange *x; /* the current request; NULL (with pool and buf) while idle */
    struct pool *pool;
    char *buf; /* input: buf[start, end) is received but not yet parsed */
    int64_t deadline;
    uint32_t start, end;
    enum conn_state state : 8;
    enum phase phase : 8;
    enum stage stage : 8;     /* of RequestReadTimeout, with stage_start and stage_bytes */
    uint8_t peer_family;      /* AF_INET, AF_INET6 or 0 */
    unsigned close_after : 1; /* close once the response is written */
    unsigned linger : 1;      /* the peer may still be sending: lingering close */
    unsigned leaving : 1;     /* graceful stop: no further request */
    unsigned peer_local : 1;  /* the peer's address is the local address of the connection */
    uint32_t requests;        /* served on this connection */
    uint32_t stage_bytes;     /* received since the stage started (saturates) */
    int64_t stage_start;      /* monotonic ms */
    unsigned char peer_addr[16];
};

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static llhttp_settings_t parser_settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static enum conn_state process_input(struct http_conn *c, int64_t now);
static enum conn_state respond(struct http_conn *c, int64_t now);

/* ---- spans ---- */

static int span_append(struct pool *p, struct span *s, const char *at, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *np = pool_alloc(p, cap);
        if (np == NULL)
            return -1;
        if (s->len)
            memcpy(np, s->p, s->len);
        s->p = np;
        s->cap = cap;
    }
    memcpy(s->p + s->len, at, n);
    s->len += n;
    s->p[s->len] = '\0';
    return 0;
}

static void span_clear(struct span *s)
{
    s->p = NULL;
    s->len = s->cap = 0;
}

/* ---- read deadlines ---- */

static void stage_begin(struct http_conn *c, enum stage st, int64_t now)
{
    c->stage = st;
    c->stage_start = now;
    c->stage_bytes = 0;
}

/*
 * The deadline of a read: Timeout after the last progress, or sooner the end of the RequestReadTimeout stage
 * (its timeout, plus a second per MinRate bytes received in it, capped at its maximum), as mod_reqtimeout.
 */
static int64_t read_deadline(const struct http_conn *c, int64_t now)
{
    int64_t deadline = now + (int64_t)c->s->timeout * 1000;
    const struct read_timeout *rt = c->stage == ST_HEADER ? &c->s->header_timeout
                                    : c->stage == ST_BODY ? &c->s->body_timeout
                                                          : NULL;
    if (rt == NULL || rt->timeout <= 0)
        return deadline;
    int64_t end = c->stage_start + (int64_t)rt->timeout * 1000;
    if (rt->min_rate > 0)
        end += (int64_t)c->stage_bytes * 1000 / rt->min_rate;
    if (rt->max_timeout > 0 && end > c->stage_start + (int64_t)rt->max_timeout * 1000)
        end = c->stage_start + (int64_t)rt->max_timeout * 1000;
    return end < deadline ? end : deadline;
}

/* ---- request lifecycle ---- */

static struct http_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

/* Fails the request from inside a parser callback. */
static int fail(struct http_conn *c, int status)
{
    c->x->error_status = status;
    return HPE_USER;
}

static int begin_request(struct http_conn *c, int64_t now)
{
    if (c->pool == NULL) {
        c->pool = pool_create(REQ_POOL_SIZE);
        if (c->pool == NULL)
            return -1;
    }
    struct exchange *x = pool_calloc(c->pool, sizeof(*x));
    if (x == NULL)
        return -1;
    struct request *r = &x->req;
    r->pool = c->pool;
    r->server = c->s;
    r->conn = c;
    r->peer_family = c->peer_family;
    memcpy(r->peer_addr, c->peer_addr, sizeof(r->peer_addr));
    r->peer_local = c->peer_local;
    r->content_length = -1;
    r->status = 200;
    r->body_tail = &r->body;
    r->start_time = time(NULL);
    r->start_ms = now;
    r->method_name = "-";
    llhttp_init(&x->parser, HTTP_REQUEST, &parser_settings);
    x->parser.data = c;
    x->send_body = 1;
    c->x = x;
    c->phase = PH_PARSING;
    return 0;
}

/* Logs and accounts the finished request, then forgets it (its pool is reset, not freed). */
static void end_request(struct http_conn *c)
{
    struct request *r = &c->x->req;
    log_access(c->s, r);
    if (c->slot != NULL) /* the duration as the access log's %D measures it */
        scoreboard_request_done(c->slot, r->bytes_sent + c->x->head_len, now_ms() - r->start_ms);
    http_resp_close_files(r);
    c->x = NULL;
    pool_reset(c->pool);
    c->requests++;
}

/* Releases the buffer and the pool of a connection with nothing pending, so an idle one costs only itself. */
static void go_idle(struct http_conn *c)
{
    if (c->start == c->end) {
        free(c->buf);
        c->buf = NULL;
        c->start = c->end = 0;
        pool_destroy(c->pool);
        c->pool = NULL;
    }
    c->phase = PH_IDLE;
}

/* ---- llhttp callbacks ---- */

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    const char *m = llhttp_method_name(llhttp_get_method(p));
    /* the request line is method SP target SP HTTP/x.y */
    if (strlen(m) + 1 + c->x->url.len + n + 9 > (size_t)c->s->limit_request_line)
        return fail(c, 414);
    if (span_append(c->pool, &c->x->url, at, n) < 0)
        return fail(c, 500);
    return 0;
}

static int add_header(struct http_conn *c)
{
    struct request *r = &c->x->req;
    const struct server *s = c->s;

    if (s->limit_request_fields > 0 && r->n_headers >= s->limit_request_fields)
        return fail(c, 431);
    /* headers are collected in an array that doubles in the pool */
    if (r->n_headers == c->x->cap_headers) {
        int cap = r->n_headers ? r->n_headers * 2 : 16;
        struct http_header *h = pool_alloc(c->pool, sizeof(*h) * (size_t)cap);
        if (h == NULL)
            return fail(c, 500);
        if (r->n_headers)
            memcpy(h, r->headers, sizeof(*h) * (size_t)r->n_headers);
        r->headers = h;
        c->x->cap_headers = cap;
    }
    /* trim the value's optional whitespace */
    char *v = c->x->value.p ? c->x->value.p : "";
    size_t vl = c->x->value.len;
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        v[--vl] = '\0';
    while (*v == ' ' || *v == '\t')
        v++;
    r->headers[r->n_headers].name = c->x->field.p;
    r->headers[r->n_headers].value = v;
    r->n_headers++;
    span_clear(&c->x->field);
    span_clear(&c->x->value);
    c->x->header_bytes = 0;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    if (c->x->in_value) {
        int rc = add_header(c);
        if (rc != 0)
            return rc;
        c->x->in_value = 0;
    }
    c->x->header_bytes += n;
    if (c->x->header_bytes > (size_t)c->s->limit_request_field_size)
        return fail(c, 431);
    return span_append(c->pool, &c->x->field, at, n) < 0 ? fail(c, 500) : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    /* llhttp 8.1 accepts obs-fold and passes the continuation as a value piece that follows a line break and
     * whitespace; RFC 9112 5.2 lets a server reject obs-fold, and we do, as a header hidden in a fold is a
     * smuggling vector. A value otherwise follows ':' (an empty one is a zero-length piece). The bytes before
     * `at` may belong to an earlier read: after_lf remembers how those ended. */
    if (n > 0) {
        const char *q = at;
        while (q > c->x->exec_base && (q[-1] == ' ' || q[-1] == '\t'))
            q--;
        if (q > c->x->exec_base ? q[-1] == '\n' : c->x->after_lf)
            return fail(c, 400);
    }
    c->x->in_value = 1;
    c->x->header_bytes += n;
    /* field ": " value, as Apache counts the line */
    if (c->x->header_bytes + 2 > (size_t)c->s->limit_request_field_size)
        return fail(c, 431);
    return span_append(c->pool, &c->x->value, at, n) < 0 ? fail(c, 500) : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    if (c->x->field.len == 0) /* ": value": a field name is a non-empty token (RFC 9110 5.1) */
        return fail(c, 400);
    if (c->x->value.p == NULL && span_append(c->pool, &c->x->value, "", 0) < 0)
        return fail(c, 500);
    c->x->in_value = 0;
    return add_header(c);
}

/* A Host value: uri-host [":" port] (RFC 9112 3.2, RFC 3986 3.2.2); empty is allowed. */
static int host_valid(const char *h)
{
    const char *p = h;
    if (*p == '[') {
        p++;
        while (*p != '\0' && *p != ']' && (isxdigit((unsigned char)*p) || strchr(":.vV", *p) != NULL))
            p++;
        if (*p++ != ']')
            return 0;
    } else {
        for (; *p != '\0' && *p != ':'; p++) {
            unsigned char ch = (unsigned char)*p;
            if (ch == '%') {
                if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
                    return 0;
                p += 2;
            } else if (!isalnum(ch) && strchr("-._~!$&'()*+,;=", ch) == NULL) {
                return 0;
            }
        }
    }
    if (*p == ':')
        for (p++; *p != '\0'; p++)
            if (!isdigit((unsigned char)*p))
                return 0;
    return *p == '\0';
}

/* llhttp's method numbers are its own; map the ones we serve, -1 for the rest. */
static int map_method(llhttp_t *p, enum http_method *out)
{
    static const struct {
        llhttp_method_t l;
        enum http_method m;
    } map[] = {
        {HTTP_GET, METHOD_GET},     {HTTP_HEAD, METHOD_HEAD},     {HTTP_POST, METHOD_POST},
        {HTTP_PUT, METHOD_PUT},     {HTTP_DELETE, METHOD_DELETE}, {HTTP_OPTIONS, METHOD_OPTIONS},
        {HTTP_TRACE, METHOD_TRACE}, {HTTP_PATCH, METHOD_PATCH},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (llhttp_get_method(p) == (uint8_t)map[i].l) {
            *out = map[i].m;
            return 0;
        }
    return -1;
}

/* Splits the target into host (absolute-form), path and query, and normalises the path. */
static int parse_target(struct http_conn *c, struct request *r)
{
    const char *t = c->x->url.p ? c->x->url.p : "";
    size_t len = c->x->url.len;

    r->target = t;
    if (len == 1 && t[0] == '*') {
        if (r->method != METHOD_OPTIONS)
            return 400;
        r->path = "*";
        return 0;
    }
    if (len > 7 && (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0)) {
        const char *auth = t + (t[4] == ':' ? 7 : 8);
        const char *end = auth + strcspn(auth, "/?#");
        if (end == auth)
            return 400;
        r->host = pool_strndup(c->pool, auth, (size_t)(end - auth));
        if (r->host == NULL)
            return 500;
        if (!host_valid(r->host)) /* userinfo ("user@host") included: RFC 9110 4.2.4 */
            return 400;
        len -= (size_t)(end - t);
        t = end;
        if (len == 0 || *t != '/') {
            /* "http://host" or "http://host?q": the path is "/" */
            char *fixed = pool_printf(c->pool, "/%.*s", (int)len, t);
            if (fixed == NULL)
                return 500;
            t = fixed;
            len++;
        }
    }
    if (len == 0 || t[0] != '/')
        return 400;
    size_t plen = strcspn(t, "?#");
    if (plen > len)
        plen = len;
    if (plen < len && t[plen] == '?') {
        size_t qlen = strcspn(t + plen + 1, "#");
        r->query = pool_strndup(c->pool, t + plen + 1, qlen);
        if (r->query == NULL)
            return 500;
    }
    char *path;
    int st = path_normalize(c->pool, t, plen, &path);
    if (st != 0)
        return st;
    r->path = path;
    return 0;
}

/*
 * A Transfer-Encoding value (RFC 9112 6.1, 6.3): chunked must be the final coding and appear once, else the
 * length of the body cannot be known (400); a coding before it we cannot undo (gzip, chunked) is 501.
 */
static int check_transfer_encoding(const char *v)
{
    int n = 0, chunked_last = 0, other = 0;
    while (*v != '\0') {
        size_t len = strcspn(v, ",");
        const char *end = v + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        const char *e = end;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > v) { /* empty list elements are ignored (RFC 9110 5.6.1) */
            if (chunked_last)
                return 400; /* something after chunked, or chunked twice */
            n++;
            if ((size_t)(e - v) == 7 && strncasecmp(v, "chunked", 7) == 0)
                chunked_last = 1;
            else
                other = 1;
        }
        v = *end == ',' ? end + 1 : end;
    }
    if (n == 0 || !chunked_last)
        return 400;
    return other ? 501 : 0;
}

/* Content-Length, Transfer-Encoding, Host, Expect: what RFC 9112 requires before the body is read. */
static int check_headers(struct http_conn *c, struct request *r)
{
    const char *host = NULL;
    int n_host = 0, n_te = 0;

    for (int i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (strcasecmp(h->name, "Host") == 0) {
            host = h->value;
            n_host++;
        } else if (strcasecmp(h->name, "Transfer-Encoding") == 0) {
            if (++n_te > 1)
                return 400;
            int st = check_transfer_encoding(h->value);
            if (st != 0)
                return st;
            /* the body is framed by llhttp: it must read the value as we do */
            if (!(c->x->parser.flags & F_CHUNKED))
                return 400;
            /* RFC 9112 6.1: after an HTTP/1.0 request with Transfer-Encoding, the connection closes */
            if (r->version_minor == 0)
                c->close_after = 1;
        } else if (strcasecmp(h->name, "Expect") == 0) {
            if (strcasecmp(h->value, "100-continue") != 0)
                return 417;
            c->x->expect_continue = 1;
        }
    }
    if (n_host > 1 || (n_host == 1 && !host_valid(host)))
        return 400;
    if (r->host == NULL) {
        if (n_host == 0 && r->version_minor >= 1)
            return 400;
        r->host = host;
    }
    if (c->x->parser.flags & F_CHUNKED)
        r->chunked = 1;
    else if (c->x->parser.flags & F_CONTENT_LENGTH) {
        /* llhttp takes up to 2^64-1: a length that does not fit ours is as invalid as Apache finds it */
        if (c->x->parser.content_length > (uint64_t)LLONG_MAX)
            return 400;
        r->content_length = (long long)c->x->parser.content_length;
    }
    if (c->s->limit_request_body > 0 && r->content_length > c->s->limit_request_body)
        return 413;
    if (!r->chunked && r->content_length <= 0)
        c->x->expect_continue = 0;
    return 0;
}

/* The request line is complete: known from here on for the access log, also of a request that then fails
 * (a 408 in the headers is logged with its request line, as Apache's). */
static int on_version_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    struct request *r = &c->x->req;
    r->version_major = p->http_major;
    r->version_minor = p->http_minor;
    r->method_name = llhttp_method_name(llhttp_get_method(p));
    r->request_line = pool_printf(c->pool, "%s %s HTTP/%d.%d", r->method_name, c->x->url.p ? c->x->url.p : "",
                                  r->version_major, r->version_minor);
    if (r->request_line == NULL)
        return fail(c, 500);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    struct request *r = &c->x->req;
    int st;

    if (c->x->in_value) {
        if ((st = add_header(c)) != 0)
            return st;
        c->x->in_value = 0;
    }
    if (r->request_line == NULL && (st = on_version_complete(p)) != 0)
        return st;
    if (r->version_major != 1)
        return fail(c, 505);
    if (map_method(p, &r->method) < 0)
        return fail(c, 501);
    st = parse_target(c, r);
    if (st == 400 || st == 500)
        return fail(c, st);
    c->x->path_status = st;
    if ((st = check_headers(c, r)) != 0)
        return fail(c, st);
    if (r->method == METHOD_HEAD)
        c->x->send_body = 0;
    c->x->headers_done = 1;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    struct request *r = &c->x->req;
    (void)at;
    r->body_received += (long long)n;
    if (c->s->limit_request_body > 0 && r->body_received > c->s->limit_request_body)
        return fail(c, 413);
    return 0;
}

/* A chunk size: one larger than what LimitRequestBody leaves is refused now, not after reading it. */
static int on_chunk_header(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    long long limit = c->s->limit_request_body;
    if (p->content_length > (uint64_t)LLONG_MAX)
        return fail(c, 400);
    if (limit > 0 && (long long)p->content_length > limit - c->x->req.body_received)
        return fail(c, 413);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED;
}

static void init_settings(void)
{
    llhttp_settings_init(&parser_settings);
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_header_value_complete = on_header_value_complete;
    parser_settings.on_version_complete = on_version_complete;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_chunk_header = on_chunk_header;
    parser_settings.on_message_complete = on_message_complete;
}

/* ---- public entries ---- */

struct http_conn *http_conn_create(const struct server *s, const struct sockaddr *peer, socklen_t peerlen,
                                   int64_t now)
{
    pthread_once(&settings_once, init_settings);
    struct http_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->s = s;
    c->state = CONN_READ;
    c->phase = PH_IDLE;
    stage_begin(c, ST_HEADER, now); /* the header stage of a new connection starts at accept, as Apache's */
    c->deadline = read_deadline(c, now);
    if (peer != NULL && peer->sa_family == AF_INET && peerlen >= sizeof(struct sockaddr_in)) {
        c->peer_family = AF_INET;
        memcpy(c->peer_addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (peer != NULL && peer->sa_family == AF_INET6 && peerlen >= sizeof(struct sockaddr_in6)) {
        c->peer_family = AF_INET6;
        memcpy(c->peer_addr, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    }
    return c;
}

void http_conn_destroy(struct http_conn *c)
{
    if (c == NULL)
        return;
    if (c->x != NULL && c->phase != PH_IDLE)
        end_request(c);
    free(c->buf);
    pool_destroy(c->pool);
    free(c);
}

void http_conn_set_slot(struct http_conn *c, struct sb_worker *slot)
{
    c->slot = slot;
}

void http_conn_set_local(struct http_conn *c, const struct sockaddr *local, socklen_t len)
{
    const void *a = NULL;
    size_t n = 0;
    if (local != NULL && local->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        a = &((const struct sockaddr_in *)local)->sin_addr;
        n = 4;
    } else if (local != NULL && local->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        a = &((const struct sockaddr_in6 *)local)->sin6_addr;
        n = 16;
    }
    c->peer_local = a != NULL && local->sa_family == c->peer_family && memcmp(a, c->peer_addr, n) == 0;
}

int http_conn_read_space(struct http_conn *c, char **buf, size_t *len)
{
    if (c->buf == NULL) {
        c->buf = malloc(READ_BUF_SIZE);
        if (c->buf == NULL)
            return -1;
        c->start = c->end = 0;
    }
    if (c->end == READ_BUF_SIZE && c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->end - c->start);
        c->end -= c->start;
        c->start = 0;
    }
    if (c->start == c->end)
        c->start = c->end = 0;
    if (c->end == READ_BUF_SIZE)
        return -1; /* cannot happen: unparsed bytes are only kept while a response is pending */
    *buf = c->buf + c->end;
    *len = READ_BUF_SIZE - c->end;
    return 0;
}

enum conn_state http_conn_input(struct http_conn *c, size_t n, int64_t now)
{
    c->end += n;
    /* the header stage of a keep-alive (or pipelined) request starts with its first byte */
    if (c->stage == ST_NONE)
        stage_begin(c, ST_HEADER, now);
    c->stage_bytes = c->stage_bytes > UINT32_MAX - n ? UINT32_MAX : c->stage_bytes + (uint32_t)n;
    if (c->state == CONN_WRITE || c->state == CONN_WAIT)
        return c->state; /* kept for after the response */
    return process_input(c, now);
}

enum conn_state http_conn_eof(struct http_conn *c, int64_t now)
{
    (void)now;
    /* a half-received request is dropped: there is nobody left to answer */
    c->close_after = 1;
    c->linger = 0;
    c->state = CONN_CLOSE;
    return c->state;
}

/* ---- answering ---- */

/* Statuses after which the framing of the rest of the stream is in doubt: the connection is closed. */
static int status_closes(int status)
{
    switch (status) {
    case 400:
    case 408:
    case 413:
    case 414:
    case 417:
    case 431:
    case 500:
    case 501:
    case 505:
        return 1;
    default:
        return 0;
    }
}

/* "GET, HEAD, OPTIONS" for a handler's method bits (OPTIONS is always answered by the core). */
static const char *allow_header(struct pool *p, unsigned methods)
{
    static const char *const names[METHOD_COUNT] = {"GET",    "HEAD",    "POST",  "PUT",
                                                    "DELETE", "OPTIONS", "TRACE", "PATCH"};
    char buf[128] = "";
    methods |= HTTP_M(METHOD_OPTIONS);
    for (int m = 0; m < METHOD_COUNT; m++) {
        if (!(methods & HTTP_M(m)))
            continue;
        if (buf[0] != '\0')
            strcat(buf, ", ");
        strcat(buf, names[m]);
    }
    return pool_strdup(p, buf);
}

/* Serialises status line and headers into c->x->head and starts writing. */
static enum conn_state respond(struct http_conn *c, int64_t now)
{
    struct request *r = &c->x->req;
    const struct server *s = c->s;
    int status = r->status;

    if (status_closes(status))
        c->close_after = 1;
    if (!s->keepalive || c->leaving || !llhttp_should_keep_alive(&c->x->parser) ||
        (s->max_keepalive_requests > 0 && c->requests + 1 >= (unsigned)s->max_keepalive_requests))
        c->close_after = 1;
    int bodiless = status == 304 || status == 204 || status < 200;
    if (bodiless || !c->x->send_body)
        c->x->seg = NULL;
    else
        c->x->seg = r->body;
    c->x->seg_off = 0;

    size_t size = 256 + (r->content_type ? strlen(r->content_type) : 0);
    for (int i = 0; i < r->n_resp_headers; i++)
        size += strlen(r->resp_headers[i].name) + strlen(r->resp_headers[i].value) + 4;
    char *h = pool_alloc(r->pool, size);
    if (h == NULL) {
        c->close_after = 1;
        c->state = CONN_CLOSE;
        return c->state;
    }
    size_t n = (size_t)snprintf(h, size, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: %s\r\n", status,
                                http_reason(status), http_date_now(), SERVER_SOFTWARE);
    for (int i = 0; i < r->n_resp_headers; i++)
        n += (size_t)snprintf(h + n, size - n, "%s: %s\r\n", r->resp_headers[i].name,
                              r->resp_headers[i].value);
    if (!bodiless)
        n += (size_t)snprintf(h + n, size - n, "Content-Length: %zu\r\n", r->body_len);
    if (r->content_type != NULL && status != 304)
        n += (size_t)snprintf(h + n, size - n, "Content-Type: %s\r\n", r->content_type);
    if (c->close_after)
        n += (size_t)snprintf(h + n, size - n, "Connection: close\r\n");
    else if (r->version_minor == 0)
        n += (size_t)snprintf(h + n, size - n, "Connection: keep-alive\r\n");
    n += (size_t)snprintf(h + n, size - n, "\r\n");
    c->x->head = h;
    c->x->head_len = n;
    c->x->head_off = 0;
    c->phase = PH_RESPONDING;
    c->state = CONN_WRITE;
    c->deadline = now + (int64_t)s->timeout * 1000;
    return c->state;
}

/* Makes the current request (creating one if the failure came first) an error page; -1 if out of memory. */
static int prepare_error(struct http_conn *c, int status, int64_t now)
{
    if (c->x == NULL && begin_request(c, now) < 0)
        return -1;
    if (c->x->req.method == METHOD_HEAD && c->x->req.request_line != NULL)
        c->x->send_body = 0;
    if (status_closes(status))
        c->linger = 1;
    return http_resp_error(&c->x->req, status);
}

static enum conn_state respond_error(struct http_conn *c, int status, int64_t now)
{
    if (prepare_error(c, status, now) < 0) {
        c->state = CONN_CLOSE;
        return c->state;
    }
    return respond(c, now);
}

/* Runs the handler of a completely read request. */
static enum conn_state dispatch(struct http_conn *c, int64_t now)
{
    struct request *r = &c->x->req;
    const struct handler *h;

    if (c->x->path_status != 0)
        return respond_error(c, c->x->path_status, now);
    h = strcmp(r->path, "*") == 0 ? &static_handler : handler_for(c->s, r->path);
    c->x->handler = h;
    if (r->method == METHOD_OPTIONS) {
        const char *allow = allow_header(r->pool, h->methods);
        if (allow == NULL || http_resp_header(r, "Allow", allow) < 0)
            return respond_error(c, 500, now);
        r->status = 200;
        return respond(c, now);
    }
    if (!(h->methods & HTTP_M(r->method))) {
        const char *allow = allow_header(r->pool, h->methods);
        if (prepare_error(c, 405, now) < 0 || allow == NULL || http_resp_header(r, "Allow", allow) < 0)
            return respond_error(c, 500, now);
        return respond(c, now);
    }
    if (h->handle(r) == HANDLER_WAIT) {
        c->phase = PH_RUNNING;
        c->state = CONN_WAIT;
        c->deadline = r->wait_until;
        return c->state;
    }
    return respond(c, now);
}

/* Whether the bytes at p look like "TOKEN SP": an unknown method (501) rather than garbage (400). */
static int looks_like_method(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)p[i]) || strchr("!#$%&'*+-.^_`|~", p[i]) != NULL) && p[i] != '\0')
        i++;
    return i > 0 && i < n && p[i] == ' ';
}

/* Whether the bytes at p look like "HTTP/d.d": a version we do not speak (505) rather than garbage (400). */
static int looks_like_version(const char *p, size_t n)
{
    return n >= 8 && memcmp(p, "HTTP/", 5) == 0 && isdigit((unsigned char)p[5]) && p[6] == '.' &&
           isdigit((unsigned char)p[7]);
}

static int error_status(struct http_conn *c, llhttp_errno_t err, const char *data, size_t n)
{
    /* a callback that failed the request decided the status, whatever code llhttp reports for it */
    if (c->x->error_status != 0)
        return c->x->error_status;
    switch (err) {
    case HPE_INVALID_METHOD:
        return looks_like_method(data, n) ? 501 : 400;
    case HPE_INVALID_VERSION: {
        /* llhttp stops inside the version: find "HTTP/" before the error position */
        const char *pos = llhttp_get_error_pos(&c->x->parser);
        for (const char *q = pos; q >= data && pos - q <= 16; q--)
            if (looks_like_version(q, (size_t)(data + n - q)))
                return 505;
        return 400;
    }
    default:
        return 400;
    }
}

/* Remembers whether the bytes parsed so far end with LF and optional SP/HTAB (see on_header_value). */
static void note_tail(struct exchange *x, const char *data, size_t n)
{
    size_t i = n;
    while (i > 0 && (data[i - 1] == ' ' || data[i - 1] == '\t'))
        i--;
    if (i > 0)
        x->after_lf = data[i - 1] == '\n';
}

/* Parses buffered bytes: returns READ for more, or the state of the answer to a complete (or bad) request. */
static enum conn_state process_input(struct http_conn *c, int64_t now)
{
    c->deadline = now + (int64_t)c->s->timeout * 1000;
    while (c->start < c->end) {
        const char *data = c->buf + c->start;
        size_t avail = c->end - c->start;
        if (c->x == NULL && begin_request(c, now) < 0) {
            c->state = CONN_CLOSE;
            return c->state;
        }
        c->x->exec_base = data;
        llhttp_errno_t err = llhttp_execute(&c->x->parser, data, avail);
        if (err == HPE_OK) {
            note_tail(c->x, data, avail);
            c->start = c->end;
            break;
        }
        note_tail(c->x, data, (size_t)(llhttp_get_error_pos(&c->x->parser) - data));
        c->start += (size_t)(llhttp_get_error_pos(&c->x->parser) - data);
        c->stage = ST_NONE;
        if (err == HPE_PAUSED)
            return dispatch(c, now);
        c->start = c->end; /* the rest of the stream cannot be trusted */
        return respond_error(c, error_status(c, err, data, avail), now);
    }
    if (c->x != NULL && c->x->headers_done && c->stage == ST_HEADER)
        stage_begin(c, ST_BODY, now);
    if (c->x != NULL && c->x->expect_continue && c->x->headers_done && c->x->req.body_received == 0) {
        c->x->expect_continue = 0;
        c->phase = PH_INTERIM;
        c->x->interim_off = 0;
        c->state = CONN_WRITE;
        return c->state;
    }
    c->state = CONN_READ;
    c->deadline = read_deadline(c, now);
    return c->state;
}

int http_conn_output(struct http_conn *c, struct conn_out *out)
{
    out->iovcnt = 0;
    out->more = 0;
    out->file_fd = -1;
    out->file_len = 0;
    if (c->state != CONN_WRITE)
        return -1;
    if (c->phase == PH_INTERIM) {
        out->iov[0].iov_base = (char *)continue_line + c->x->interim_off;
        out->iov[0].iov_len = sizeof(continue_line) - 1 - c->x->interim_off;
        out->iovcnt = 1;
        return 0;
    }
    if (c->x->head_off < c->x->head_len) {
        out->iov[0].iov_base = c->x->head + c->x->head_off;
        out->iov[0].iov_len = c->x->head_len - c->x->head_off;
        out->iovcnt = 1;
    }
    size_t off = c->x->seg_off;
    for (struct body_seg *seg = c->x->seg; seg != NULL && out->iovcnt < CONN_IOV_MAX;
         seg = seg->next, off = 0) {
        if (seg->len == off)
            continue;
        if (seg->data == NULL) {
            if (out->iovcnt == 0) {
                out->file_fd = seg->fd;
                out->file_off = seg->off + (off_t)off;
                out->file_len = seg->len - off;
            } else {
                out->more = 1;
            }
            break;
        }
        out->iov[out->iovcnt].iov_base = (char *)seg->data + off;
        out->iov[out->iovcnt].iov_len = seg->len - off;
        out->iovcnt++;
    }
    return out->iovcnt > 0 || out->file_len > 0 ? 0 : -1;
}

/* The response has been written: next request, keep-alive, or close. */
static enum conn_state finish_response(struct http_conn *c, int64_t now)
{
    end_request(c);
    if (c->close_after) {
        c->state = CONN_CLOSE;
        return c->state;
    }
    c->stage = ST_NONE;
    if (c->start < c->end) {
        /* a pipelined request is already here: its header stage starts now */
        stage_begin(c, ST_HEADER, now);
        c->phase = PH_IDLE;
        return process_input(c, now);
    }
    go_idle(c);
    c->state = CONN_KEEPALIVE;
    c->deadline = now + (int64_t)c->s->keepalive_timeout * 1000;
    return c->state;
}

enum conn_state http_conn_sent(struct http_conn *c, size_t n, int64_t now)
{
    c->deadline = now + (int64_t)c->s->timeout * 1000;
    if (c->phase == PH_INTERIM) {
        c->x->interim_off += n;
        if (c->x->interim_off < sizeof(continue_line) - 1)
            return c->state;
        c->phase = PH_PARSING;
        stage_begin(c, ST_BODY, now); /* the client starts the body only now */
        return process_input(c, now);
    }
    size_t head_left = c->x->head_len - c->x->head_off;
    if (n <= head_left) {
        c->x->head_off += n;
        n = 0;
    } else {
        c->x->head_off = c->x->head_len;
        n -= head_left;
    }
    c->x->req.bytes_sent += n;
    while (c->x->seg != NULL && n > 0) {
        size_t left = c->x->seg->len - c->x->seg_off;
        if (n < left) {
            c->x->seg_off += n;
            n = 0;
        } else {
            n -= left;
            c->x->seg = c->x->seg->next;
            c->x->seg_off = 0;
        }
    }
    /* skip empty segments */
    while (c->x->seg != NULL && c->x->seg->len == c->x->seg_off) {
        c->x->seg = c->x->seg->next;
        c->x->seg_off = 0;
    }
    if (c->x->head_off < c->x->head_len || c->x->seg != NULL)
        return c->state;
    return finish_response(c, now);
}

enum conn_state http_conn_timeout(struct http_conn *c, int64_t now)
{
    switch (c->state) {
    case CONN_READ:
        /* mid-request: 408; nothing received on this request: close quietly as for an idle connection */
        if (c->x != NULL && c->phase != PH_IDLE) {
            char peer[HTTP_PEER_TEXT];
            log_error(LOG_INFO, "reqtimeout", "[client %s] Request %s read timeout",
                      http_peer_text(&c->x->req, peer), c->stage == ST_BODY ? "body" : "header");
            return respond_error(c, 408, now);
        }
        c->state = CONN_CLOSE;
        break;
    case CONN_WAIT:
        if (c->x->handler->resume(&c->x->req) == HANDLER_WAIT) {
            c->deadline = c->x->req.wait_until;
            return c->state;
        }
        return respond(c, now);
    case CONN_KEEPALIVE:
    case CONN_WRITE:
    case CONN_CLOSE:
        c->state = CONN_CLOSE;
        break;
    }
    return c->state;
}

enum conn_state http_conn_abort(struct http_conn *c)
{
    if (c->x != NULL && c->phase != PH_IDLE)
        end_request(c);
    c->linger = 0;
    c->state = CONN_CLOSE;
    return c->state;
}

enum conn_state http_conn_state(const struct http_conn *c)
{
    return c->state;
}

int64_t http_conn_deadline(const struct http_conn *c)
{
    return c->deadline;
}

int http_conn_linger(const struct http_conn *c)
{
    return c->linger;
}

enum conn_state http_conn_shutdown(struct http_conn *c)
{
    c->leaving = 1;
    /* an idle keep-alive connection closes now; a connection accepted but silent so far still gets its one
     * request answered (its client may have sent it already), then closes */
    if (c->state == CONN_KEEPALIVE)
        c->state = CONN_CLOSE;
    else if (c->x == NULL || c->x->head == NULL)
        c->close_after = 1;
    return c->state;
}

void http_conn_finish(struct http_conn *c)
{
    /* respond() adds Connection: close once this is set; nothing closes before */
    c->leaving = 1;
}

size_t http_conn_footprint(const struct http_conn *c)
{
    return sizeof(*c) + (c->buf ? READ_BUF_SIZE : 0) + (c->pool ? pool_footprint(c->pool) : 0);
}
