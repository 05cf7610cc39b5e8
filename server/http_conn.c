/*
 * The core: an HTTP/1.x connection as a sans-I/O state machine around llhttp (strict mode).
 *
 * Bytes an MPM read go through llhttp, whose callbacks copy the request line and headers into the request
 * pool and count (and discard) the body. on_message_complete pauses the parser, so with pipelined input the
 * next request waits in the read buffer until this one's response has been written; then parsing resumes on
 * the remaining bytes. A response is a head (status line and headers, built here) followed by the handler's
 * body segments; http_conn_output() hands them out as iovecs, or as a file range for sendfile().
 *
 * Ahead of llhttp, scan_head() walks the lines of the head: every line must end with CRLF (a bare LF is a 400
 * wherever it is), and the request line is recorded, so that a request line llhttp stops in is judged whole
 * (judge_line(): 400, 414, 501 or 505, the same however the bytes were split across reads).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <llhttp.h>

#include "authz.h"
#include "handler.h"
#include "headers.h"
#include "handlers.h"
#include "static.h"
#include "http.h"
#include "http_conn.h"
#include "log.h"
#include "path.h"
#include "pool.h"
#include "scoreboard.h"
#include "server.h"
#include "util.h"
#include "vhost.h"

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

/* Where scan_head() is in the head of the request. */
enum scan {
    SCAN_LEADING, /* empty lines before the request line */
    SCAN_LINE,    /* the request line, recorded in exchange.line */
    SCAN_FIELDS,  /* header lines, up to the empty line */
    SCAN_DONE     /* past the head */
};

/* How the request line ended. */
enum term {
    TERM_NONE, /* not yet */
    TERM_CRLF,
    TERM_LF /* a bare LF: 400 */
};

/* Where judge_line() is in the request line. */
enum judge {
    J_METHOD,
    J_SP1,
    J_TARGET,
    J_SP2,
    J_VERSION, /* "HTTP/" DIGIT "." DIGIT */
    J_END      /* after the version: nothing more may come */
};

/* Everything about the request in progress, allocated in the request pool: absent while idle. */
struct exchange {
    struct request req;
    llhttp_t parser; /* initialised per request: a paused parser is at a message boundary */
    /* the target, and the name and value of the header field being read: each where it is in the read
     * buffer (span, len) while its pieces follow on from one another there, else gathered in its pbuf;
     * settle() copies what the buffer holds of them into the pool before the buffer is used again */
    struct pbuf url, field, value;
    const char *uspan, *fspan, *vspan;
    size_t ulen, flen, vlen;
    size_t *hlens;         /* the lengths of req.headers' names and values (two a header) */
    int hsettled;          /* req.headers[0 .. hsettled) are strings of the pool */
    int in_value;          /* last callback was a header value */
    const char *exec_base; /* the bytes of the llhttp_execute() in progress start here */
    int after_lf;          /* the bytes parsed before exec_base end with LF and optional SP/HTAB */
    int cap_headers;       /* room in req.headers */
    size_t header_bytes;   /* size of the header line being read */
    int error_status;      /* set by a callback that fails the request */
    int path_status;       /* 404 etc. decided at headers, answered when the body has been read */
    long long body_limit;  /* LimitRequestBody of the request's vhost, once its headers are read */
    int expect_continue;
    int headers_done;
    int send_body;      /* false for HEAD */
    size_t interim_off; /* of "100 Continue" */
    const struct handler *handler;

    /* the lines of the head, walked by scan_head() ahead of llhttp */
    struct pbuf line;          /* the request line as received, without its CRLF */
    const char *line_lf;       /* the LF ending the request line, when it is in the bytes parsed now */
    size_t col;                /* bytes of the header line being scanned */
    enum scan scan : 8;        /* where scan_head() is */
    enum term term : 8;        /* how the request line ended */
    enum judge jphase : 8;     /* where judge_line() is, at line.p[jpos] */
    unsigned lead_cr : 1;      /* an empty line before the request line has had its CR */
    unsigned last_cr : 1;      /* the last byte scanned in a header line is CR */
    unsigned version_seen : 1; /* llhttp has read the version */
    unsigned line_failed : 1;  /* llhttp failed inside the request line: the answer waits for its end */
    size_t jpos, method_len, version_at;
    char tail[3]; /* the last bytes parsed of a chunked request */

    /* output: head, then the body segments from seg at offset seg_off */
    char *head;
    size_t head_len, head_off;
    struct body_seg *seg;
    size_t seg_off;

    /* a handler with stream_body runs from the end of the head on (early); the body is parsed into
     * req.body_in only as fast as it takes it, so a slow upstream holds the client back instead of filling
     * memory */
    unsigned early : 1;          /* the handler was called after the head */
    unsigned msg_complete : 1;   /* llhttp has seen the end of the request */
    unsigned handler_called : 1; /* cleanup() is due */
    unsigned cleaned : 1;        /* cleanup() has run */
    unsigned wait_body : 1;      /* the handler waits for body bytes (HTTP_WAIT_BODY) */

    /* a streamed response: each piece the handler gives, framed, in sseg; the handler is asked for the next
     * only when they are written */
    unsigned stream_chunked : 1; /* chunked framing for an HTTP/1.1 client */
    unsigned stream_end : 1;     /* the handler gave the last piece (or aborted) */
    long long stream_given;      /* body bytes given so far */
    struct body_seg sseg[4];     /* chunk size line, data, CRLF, last chunk */
    char chunk_line[20];
};

struct http_conn {
    const struct server *s;
    const struct vhost_set *vhosts; /* the vhosts its local address reaches; NULL: the main server's */
    const struct vhost *sni;        /* the vhost its TLS server name selected; NULL: none sent */
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

static const char *const method_names[METHOD_COUNT] = {"GET",    "HEAD",    "POST",  "PUT",
                                                       "DELETE", "OPTIONS", "TRACE", "PATCH"};

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static llhttp_settings_t parser_settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static enum conn_state process_input(struct http_conn *c, int64_t now);
static enum conn_state respond(struct http_conn *c, int64_t now);
static enum conn_state run_handler(struct http_conn *c, int first, int64_t now);
static enum conn_state stream_drained(struct http_conn *c, int64_t now);
static enum conn_state finish_response(struct http_conn *c, int64_t now);

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

/* The request line as received becomes the access log's once llhttp has read its version and scan_head() its
 * end; `partial` takes what has arrived of it (a request that ends before its line does). */
static void settle_line(struct exchange *x, int partial)
{
    if (x->req.request_line != NULL || !x->version_seen || x->line.p == NULL)
        return;
    if (x->term == TERM_NONE) {
        if (!partial)
            return;
        if (x->line.len > 0 && x->line.p[x->line.len - 1] == '\r')
            x->line.p[--x->line.len] = '\0';
    }
    x->req.request_line = x->line.p;
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
    r->vhost = vhost_default(c->s, c->vhosts); /* until Host names another one */
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
    x->url.pool = x->field.pool = x->value.pool = x->line.pool = c->pool;
    llhttp_init(&x->parser, HTTP_REQUEST, &parser_settings);
    /* any HTTP/d.d gets through the parser, so that on_version_complete() serves 1.x as 1.1 (RFC 9110 2.5)
     * and judge_line() refuses other versions; llhttp 8.1 has the flag but no setter */
    x->parser.lenient_flags |= LENIENT_VERSION;
    x->parser.data = c;
    x->send_body = 1;
    x->body_limit = c->s->limit_request_body; /* until the headers name the vhost */
    c->x = x;
    c->phase = PH_PARSING;
    return 0;
}

/* Lets the handler release what it holds (an upstream connection), once, however the request ends. */
static void handler_cleanup(struct http_conn *c)
{
    struct exchange *x = c->x;
    if (x->handler_called && !x->cleaned && x->handler->cleanup != NULL)
        x->handler->cleanup(&x->req);
    x->cleaned = 1;
}

/* Logs and accounts the finished request, then forgets it (its pool is reset, not freed). */
static void end_request(struct http_conn *c, int64_t now)
{
    struct request *r = &c->x->req;
    handler_cleanup(c);
    settle_line(c->x, 1);
    log_access(c->s, r);
    if (c->slot != NULL) /* the duration as the access log's %D measures it */
        scoreboard_request_done(c->slot, r->bytes_sent + c->x->head_len, now - r->start_ms);
    http_resp_close_files(r);
    c->x = NULL;
    pool_reset(c->pool);
    c->requests++;
}

/* Releases the buffer and the pool of a connection with nothing pending, so an idle one costs only itself. */
static void go_idle(struct http_conn *c)
{
    if (c->start == c->end) {
        pool_mem_put(c->buf, READ_BUF_SIZE);
        c->buf = NULL;
        c->start = c->end = 0;
        pool_destroy(c->pool);
        c->pool = NULL;
    }
    c->phase = PH_IDLE;
}

/* ---- llhttp callbacks ---- */

/* A piece of the target, or of a header's name or value, arrived: noted where it is in the read buffer, or
 * gathered (pbuf_take()). */
static int take_piece(struct http_conn *c, struct pbuf *b, const char **span, size_t *len, const char *at,
                      size_t n)
{
    return pbuf_take(b, span, len, at, n) < 0 ? fail(c, 500) : 0;
}

/* Out of memory in settle(): what is not a string yet is forgotten, and the request fails with a 500. */
static int settle_failed(struct exchange *x, int settled)
{
    x->req.n_headers = settled;
    x->uspan = x->fspan = x->vspan = NULL;
    x->ulen = x->flen = x->vlen = 0;
    return -1;
}

/*
 * Moves what the read buffer holds of the head's strings (the target, the headers added since the last time,
 * the name and value in progress) into the pool (struct span_move). Called before they are read as strings
 * (the headers' end) and after each llhttp_execute(), since the buffer is read into again. 0, or -1 out of
 * memory.
 */
static int settle(struct http_conn *c)
{
    struct exchange *x = c->x;
    if (x == NULL || c->buf == NULL)
        return 0;
    struct request *r = &x->req;
    int from = x->hsettled, n = r->n_headers;
    if (from == n && x->uspan == NULL && x->fspan == NULL && x->vspan == NULL)
        return 0;
    struct http_header *hs = r->headers;
    const size_t *lens = x->hlens;
    struct span_move m;
    span_move_begin(&m, c->pool, c->buf, READ_BUF_SIZE);
    for (int i = from; i < n; i++) {
        span_move_note(&m, hs[i].name, lens[2 * i]);
        span_move_note(&m, hs[i].value, lens[2 * i + 1]);
    }
    if (span_move_copy(&m) < 0)
        return settle_failed(x, from);
    for (int i = from; i < n; i++) {
        if (span_in(&m, hs[i].name) && (hs[i].name = span_moved(&m, hs[i].name, lens[2 * i])) == NULL)
            return settle_failed(x, from);
        if (span_in(&m, hs[i].value) && (hs[i].value = span_moved(&m, hs[i].value, lens[2 * i + 1])) == NULL)
            return settle_failed(x, from);
    }
    if (span_move_pbuf(&m, &x->url, &x->uspan, &x->ulen) < 0 ||
        span_move_pbuf(&m, &x->field, &x->fspan, &x->flen) < 0 ||
        span_move_pbuf(&m, &x->value, &x->vspan, &x->vlen) < 0)
        return settle_failed(x, from);
    x->hsettled = n;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    /* LimitRequestLine holds for the whole line: scan_head() stops the parser at it */
    return take_piece(c, &c->x->url, &c->x->uspan, &c->x->ulen, at, n);
}

static int add_header(struct http_conn *c)
{
    struct request *r = &c->x->req;
    const struct server *s = c->s;

    if (s->limit_request_fields > 0 && r->n_headers >= s->limit_request_fields)
        return fail(c, 431);
    /* headers are collected in an array that doubles in the pool */
    struct exchange *x = c->x;
    if (r->n_headers == x->cap_headers) {
        int cap = r->n_headers ? r->n_headers * 2 : 16;
        struct http_header *h = pool_alloc(c->pool, sizeof(*h) * (size_t)cap);
        size_t *lens = pool_alloc(c->pool, sizeof(*lens) * 2 * (size_t)cap);
        if (h == NULL || lens == NULL)
            return fail(c, 500);
        if (r->n_headers) {
            memcpy(h, r->headers, sizeof(*h) * (size_t)r->n_headers);
            memcpy(lens, x->hlens, sizeof(*lens) * 2 * (size_t)r->n_headers);
        }
        r->headers = h;
        x->hlens = lens;
        x->cap_headers = cap;
    }
    const char *name = x->field.len > 0 ? x->field.p : x->fspan;
    size_t nl = x->field.len > 0 ? x->field.len : x->flen;
    char *gathered = x->value.len > 0 ? x->value.p : NULL; /* ours: written to below */
    const char *v = gathered != NULL ? gathered : x->vspan;
    size_t vl = gathered != NULL ? x->value.len : x->vlen;
    /* trim the value's optional whitespace */
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    if (vl == 0)
        v = "";
    else if (gathered != NULL)
        gathered[v - gathered + (ptrdiff_t)vl] = '\0';
    /* a name or value still in the read buffer becomes a string when settle() copies it */
    r->headers[r->n_headers].name = name;
    r->headers[r->n_headers].value = v;
    x->hlens[2 * r->n_headers] = nl;
    x->hlens[2 * r->n_headers + 1] = vl;
    r->n_headers++;
    pbuf_clear(&x->field);
    pbuf_clear(&x->value);
    x->fspan = x->vspan = NULL;
    x->flen = x->vlen = 0;
    x->header_bytes = 0;
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
    return take_piece(c, &c->x->field, &c->x->fspan, &c->x->flen, at, n);
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
    return take_piece(c, &c->x->value, &c->x->vspan, &c->x->vlen, at, n);
}

static int on_header_value_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    /* ": value": a field name is a non-empty token (RFC 9110 5.1) */
    if (c->x->field.len == 0 && c->x->flen == 0)
        return fail(c, 400);
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
            } else if (!uri_char(ch, URI_REG_NAME)) {
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

/*
 * The request's RequestHeader lines marked early (or the others): r->headers edited. A new array is settled
 * and full, its lengths known, so that a trailer line after it is added as to any other. 0, or -1 out of
 * memory.
 */
static int edit_headers(struct http_conn *c, int early)
{
    struct exchange *x = c->x;
    struct request *r = &x->req;
    const struct http_header *before = r->headers;
    if (r->vhost->request_headers == NULL)
        return 0;
    if (headers_apply(c->pool, r->vhost->request_headers, early ? HDR_EARLY : HDR_LATE, &r->headers,
                      &r->n_headers) < 0)
        return -1;
    if (r->headers != before) {
        size_t *lens = pool_alloc(c->pool, sizeof(*lens) * 2 * (size_t)(r->n_headers + 1));
        if (lens == NULL)
            return -1;
        for (int i = 0; i < r->n_headers; i++) {
            lens[2 * i] = strlen(r->headers[i].name);
            lens[2 * i + 1] = strlen(r->headers[i].value);
        }
        x->hlens = lens;
        x->cap_headers = r->n_headers;
    }
    x->hsettled = r->n_headers;
    return 0;
}

/* Splits the target into host (absolute-form), path (r->raw_path, normalised by normalise_path() once the
 * vhost, and its AllowEncodedSlashes, is known) and query. */
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
    if (len > 7 && (t[0] | 0x20) == 'h' && /* the usual origin-form ("/...") goes no further */
        (strncasecmp(t, "http://", 7) == 0 || strncasecmp(t, "https://", 8) == 0)) {
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
    r->raw_path = t;
    r->raw_path_len = plen;
    return 0;
}

/* The request's path, normalised as its vhost's AllowEncodedSlashes says: 0, or the status to answer. */
static int normalise_path(struct http_conn *c, struct request *r)
{
    if (r->raw_path == NULL)
        return 0; /* "*" */
    char *path;
    int st = path_normalize(c->pool, r->raw_path, r->raw_path_len,
                            (enum path_slashes)r->vhost->allow_encoded_slashes, &path);
    if (st == 0)
        r->path = path;
    return st;
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

/*
 * mod_ssl's checks of a request on a connection whose TLS server name selected c->sni (ssl_hook_ReadReq):
 * without Host, 400; when Host selects another vhost, whose SSL settings are not compatible with the SNI's
 * (other certificates, protocols or ciphers), 421 Misdirected Request. The vhosts are compared, not the
 * names: a Host that is an alias of the SNI's vhost, or names a vhost sharing its certificate, is served.
 */
static int check_sni(struct http_conn *c, struct request *r)
{
    if (r->host == NULL) {
        log_verror(c->sni, LOG_ERR, "ssl",
                   "A server name was provided via SNI (%s), but no hostname in the HTTP request",
                   c->sni->server_name != NULL ? c->sni->server_name : "-");
        return 400;
    }
    if (r->vhost == c->sni || (r->vhost->tls_setup != 0 && r->vhost->tls_setup == c->sni->tls_setup))
        return 0;
    log_verror(
        r->vhost, LOG_ERR, "ssl",
        "Hostname %s provided via HTTP selects a server whose SSL setup is not compatible with the one "
        "the SNI selected (%s): 421",
        r->host, c->sni->server_name != NULL ? c->sni->server_name : "-");
    c->x->path_status = 421;
    return 0;
}

/* Content-Length, Transfer-Encoding, Host, Expect: what RFC 9112 requires before the body is read. */
static int check_headers(struct http_conn *c, struct request *r)
{
    const char *host = NULL;
    int n_host = 0, n_te = 0;

    for (int i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        int first = h->name[0] | 0x20; /* a filter before the comparisons: most headers are none of these */
        if (first != 'h' && first != 't' && first != 'e')
            continue;
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
    if (c->vhosts != NULL && c->vhosts->n > 1)
        r->vhost = vhost_by_name(c->s, c->vhosts, r->host);
    if (c->sni != NULL && check_sni(c, r) != 0)
        return 400;
    if (c->x->parser.flags & F_CHUNKED)
        r->chunked = 1;
    else if (c->x->parser.flags & F_CONTENT_LENGTH) {
        /* llhttp takes up to 2^64-1: a length that does not fit ours is as invalid as Apache finds it */
        if (c->x->parser.content_length > (uint64_t)LLONG_MAX)
            return 400;
        r->content_length = (long long)c->x->parser.content_length;
    }
    c->x->body_limit = vhost_limit_request_body(c->s, r->vhost);
    if (c->x->body_limit > 0 && r->content_length > c->x->body_limit)
        return 413;
    if (!r->chunked && r->content_length <= 0)
        c->x->expect_continue = 0;
    return 0;
}

/* The version has been read: from here on the request line is known for the access log, also of a request
 * that then fails (a 408 in the headers is logged with its request line, as Apache's). */
static int on_version_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    struct request *r = &c->x->req;
    r->version_major = p->http_major;
    r->version_minor = p->http_minor; /* 1.2 and up are answered as 1.1: every test is ">= 1" */
    r->method_name = llhttp_method_name(llhttp_get_method(p));
    c->x->version_seen = 1;
    settle_line(c->x, 0);
    if (r->version_major != 1)
        return fail(c, 505); /* before its headers; judge_line() has the last word on the line */
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
    if (settle(c) < 0) /* the target and the headers are read as strings from here on */
        return fail(c, 500);
    /* "GET /" CRLF (HTTP/0.9) has no version for llhttp to report */
    if (!c->x->version_seen && (st = on_version_complete(p)) != 0)
        return st;
    if (map_method(p, &r->method) < 0)
        return fail(c, 501);
    if ((st = parse_target(c, r)) != 0)
        return fail(c, st);
    if ((st = check_headers(c, r)) != 0)
        return fail(c, st);
    st = normalise_path(c, r);
    if (st == 400 || st == 500)
        return fail(c, st);
    if (c->x->path_status == 0) /* check_headers() may have decided a 421 */
        c->x->path_status = st;
    if (edit_headers(c, 1) < 0)
        return fail(c, 500);
    if (r->method == METHOD_HEAD)
        c->x->send_body = 0;
    c->x->headers_done = 1;
    if (c->x->path_status == 0) {
        const struct handler *h =
            strcmp(r->path, "*") == 0 ? &static_handler : handler_for(r->vhost, r->path);
        c->x->handler = h;
        /* a handler that streams the body runs now, when there is one: the parser pauses at the head */
        if (h->stream_body && (r->chunked || r->content_length > 0)) {
            c->x->req.body_in.buf = pool_alloc(c->pool, READ_BUF_SIZE);
            if (c->x->req.body_in.buf == NULL)
                return fail(c, 500);
            c->x->early = 1;
            return HPE_PAUSED;
        }
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct http_conn *c = conn_of(p);
    struct request *r = &c->x->req;
    r->body_received += (long long)n;
    if (c->x->body_limit > 0 && r->body_received > c->x->body_limit)
        return fail(c, 413);
    if (c->x->early) {
        /* process_input() parses no more than body_in.buf has room for: the body is never longer than its
         * bytes
         */
        memcpy(c->x->req.body_in.buf + c->x->req.body_in.len, at, n);
        c->x->req.body_in.len += n;
    }
    return 0;
}

/* A chunk size: one larger than what LimitRequestBody leaves is refused now, not after reading it. */
static int on_chunk_header(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    long long limit = c->x->body_limit;
    if (p->content_length > (uint64_t)LLONG_MAX)
        return fail(c, 400);
    if (limit > 0 && (long long)p->content_length > limit - c->x->req.body_received)
        return fail(c, 413);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    conn_of(p)->x->msg_complete = 1;
    conn_of(p)->x->req.body_in.complete = 1;
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
        end_request(c, now_ms());
    pool_mem_put(c->buf, READ_BUF_SIZE);
    pool_destroy(c->pool);
    free(c);
}

void http_conn_set_slot(struct http_conn *c, struct sb_worker *slot)
{
    c->slot = slot;
}

void http_conn_set_sni(struct http_conn *c, const struct vhost *v)
{
    c->sni = v;
}

void http_conn_set_vhosts(struct http_conn *c, const struct vhost_set *set)
{
    c->vhosts = set;
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
        c->buf = pool_mem_get(READ_BUF_SIZE);
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

void http_conn_read_blocked(struct http_conn *c)
{
    if (c->buf != NULL && c->phase == PH_IDLE && c->start == c->end) {
        pool_mem_put(c->buf, READ_BUF_SIZE);
        c->buf = NULL;
        c->start = c->end = 0;
    }
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
    struct pbuf b = {.pool = p};
    methods |= HTTP_M(METHOD_OPTIONS);
    for (int m = 0; m < METHOD_COUNT; m++) {
        if (!(methods & HTTP_M(m)))
            continue;
        if (b.len > 0)
            pbuf_append(&b, ", ", 2);
        pbuf_puts(&b, method_names[m]);
    }
    return b.failed ? NULL : b.p;
}

/* The head is written into one allocation of a size counted beforehand: the handler's headers as measured,
 * and at most this for the status line and the core's own headers (a reason phrase is shorter than 64 bytes,
 * an HTTP date 29). */
#define HEAD_CORE_MAX                                                                                        \
    (sizeof("HTTP/1.1 ") + 20 + sizeof(" ") + 64 + sizeof("Date: ") + 32 +                                   \
     sizeof("Server: " SERVER_SOFTWARE "\r\n") + sizeof("Content-Length: ") + 20 +                           \
     sizeof("Content-Type: ") + sizeof("Connection: keep-alive\r\n") + 4 * sizeof("\r\n"))

/* Copies n bytes to w, which has room (HEAD_CORE_MAX); returns the end. */
static inline char *put_at(char *w, const char *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

#define PUT_AT_LIT(w, lit) put_at((w), (lit), sizeof(lit) - 1)

/* Serialises status line and headers into c->x->head and starts writing. */
static enum conn_state respond(struct http_conn *c, int64_t now)
{
    struct request *r = &c->x->req;
    const struct server *s = c->s;
    int status = r->status;

    if (status_closes(status))
        c->close_after = 1;
    int max_requests = vhost_max_keepalive_requests(s, r->vhost);
    if (!vhost_keepalive(s, r->vhost) || c->leaving || !llhttp_should_keep_alive(&c->x->parser) ||
        (max_requests > 0 && c->requests + 1 >= (unsigned)max_requests))
        c->close_after = 1;
    /* a handler that stopped before the end of a body it streams: the rest of it cannot be skipped safely */
    if (c->x->early && !c->x->msg_complete)
        c->close_after = c->linger = 1;
    /* Header lines: every response, but the server's own error pages only for `always` ones */
    if (r->vhost->response_headers != NULL) {
        const struct http_header *before = r->resp_headers;
        if (headers_apply(r->pool, r->vhost->response_headers,
                          r->error_page ? HDR_ALWAYS : HDR_ALWAYS | HDR_ONSUCCESS, &r->resp_headers,
                          &r->n_resp_headers) < 0) {
            c->state = CONN_CLOSE;
            return c->state;
        }
        if (r->resp_headers != before)
            r->cap_resp_headers = r->n_resp_headers;
    }
    int bodiless = status == 304 || status == 204 || status < 200;
    if (bodiless || !c->x->send_body || r->stream)
        c->x->seg = NULL;
    else
        c->x->seg = r->body;
    c->x->seg_off = 0;
    /* one allocation for the whole head, written without a check per piece: HEAD_CORE_MAX bytes cover the
     * status line and the core's own headers; the lengths of the handler's headers are measured once (those
     * of the first HEAD_LENS ones kept) */
    enum { HEAD_LENS = 32 };
    size_t lens[2 * HEAD_LENS];
    size_t ctype_len = r->content_type ? strlen(r->content_type) : 0;
    const char *reason = r->reason != NULL ? r->reason : http_reason(status);
    size_t reason_len = strlen(reason); /* HEAD_CORE_MAX counts 64 for the core's */
    size_t size = HEAD_CORE_MAX + ctype_len + reason_len;
    int own_date = 0, own_server = 0; /* a proxied response carries its origin's */
    for (int i = 0; i < r->n_resp_headers; i++) {
        const char *name = r->resp_headers[i].name;
        size_t nl = strlen(name), vl = strlen(r->resp_headers[i].value);
        if (i < HEAD_LENS)
            lens[2 * i] = nl, lens[2 * i + 1] = vl;
        size += nl + vl + 4;
        own_date |= nl == 4 && (name[0] | 0x20) == 'd' && strcasecmp(name, "Date") == 0;
        own_server |= nl == 6 && (name[0] | 0x20) == 's' && strcasecmp(name, "Server") == 0;
    }
    if (r->stream) {
        if (!bodiless && r->stream_length < 0 && c->x->send_body) {
            if (r->version_minor >= 1)
                c->x->stream_chunked = 1;
            else
                c->close_after = 1; /* HTTP/1.0: the body ends with the connection */
        }
    }

    char *head = pool_alloc(r->pool, size);
    if (head == NULL) {
        c->close_after = 1;
        c->state = CONN_CLOSE;
        return c->state;
    }
    char *w = PUT_AT_LIT(head, "HTTP/1.1 ");
    if (status >= 100 && status <= 999) { /* always, but for a handler's mistake */
        *w++ = (char)('0' + status / 100);
        *w++ = (char)('0' + status / 10 % 10);
        *w++ = (char)('0' + status % 10);
    } else {
        w += util_utoa(w, (unsigned)status);
    }
    w = PUT_AT_LIT(w, " ");
    w = put_at(w, reason, reason_len);
    w = PUT_AT_LIT(w, "\r\n");
    if (!own_date) {
        w = PUT_AT_LIT(w, "Date: ");
        const char *date = http_date_now();
        w = put_at(w, date, strlen(date));
        w = PUT_AT_LIT(w, "\r\n");
    }
    if (!own_server)
        w = PUT_AT_LIT(w, "Server: " SERVER_SOFTWARE "\r\n");
    for (int i = 0; i < r->n_resp_headers; i++) {
        const struct http_header *hd = &r->resp_headers[i];
        w = put_at(w, hd->name, i < HEAD_LENS ? lens[2 * i] : strlen(hd->name));
        w = PUT_AT_LIT(w, ": ");
        w = put_at(w, hd->value, i < HEAD_LENS ? lens[2 * i + 1] : strlen(hd->value));
        w = PUT_AT_LIT(w, "\r\n");
    }
    if (!bodiless && (!r->stream || r->stream_length >= 0)) {
        w = PUT_AT_LIT(w, "Content-Length: ");
        w += util_utoa(w, r->stream ? (unsigned long long)r->stream_length : r->body_len);
        w = PUT_AT_LIT(w, "\r\n");
    } else if (c->x->stream_chunked) {
        w = PUT_AT_LIT(w, "Transfer-Encoding: chunked\r\n");
    }
    if (r->content_type != NULL && status != 304) {
        w = PUT_AT_LIT(w, "Content-Type: ");
        w = put_at(w, r->content_type, ctype_len);
        w = PUT_AT_LIT(w, "\r\n");
    }
    if (c->close_after)
        w = PUT_AT_LIT(w, "Connection: close\r\n");
    else if (r->version_minor == 0)
        w = PUT_AT_LIT(w, "Connection: keep-alive\r\n");
    w = PUT_AT_LIT(w, "\r\n");
    *w = '\0';
    c->x->head = head;
    c->x->head_len = (size_t)(w - head);
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
    if (c->x->head != NULL)
        return -1; /* the head is out: only closing is left */
    handler_cleanup(c);
    settle_line(c->x, 1);
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
    if (!authz_check(r))
        return respond_error(c, 403, now);
    if (edit_headers(c, 0) < 0)
        return respond_error(c, 500, now);
    h = c->x->handler; /* chosen at the end of the head */
    if (r->method == METHOD_OPTIONS && !h->options) {
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
    return run_handler(c, 1, now);
}

/* ---- running a handler ---- */

/* Frames the piece the handler gave (if the client gets a body) and what its result says follows. */
static enum conn_state stream_queue(struct http_conn *c, enum handler_result res, int64_t now)
{
    struct exchange *x = c->x;
    struct request *r = &x->req;
    int body = x->send_body && !(r->status == 304 || r->status == 204 || r->status < 200);
    size_t n = body ? r->stream_len : 0;
    struct body_seg **tail = &x->seg;

    r->stream_len = 0;
    x->seg = NULL;
    x->seg_off = 0;
    x->stream_given += (long long)n;
    if (r->stream_length >= 0 && x->stream_given > r->stream_length && body)
        res = HANDLER_ABORT; /* more than the length the head announced */
    if (n > 0) {
        struct body_seg *seg = x->sseg;
        memset(x->sseg, 0, sizeof(x->sseg));
        if (x->stream_chunked) {
            int k = snprintf(x->chunk_line, sizeof(x->chunk_line), "%zx\r\n", n);
            seg[0].data = x->chunk_line, seg[0].len = (size_t)k, seg[0].fd = -1;
            *tail = &seg[0], tail = &seg[0].next;
        }
        seg[1].data = r->stream_data, seg[1].len = n, seg[1].fd = -1;
        *tail = &seg[1], tail = &seg[1].next;
        if (x->stream_chunked) {
            seg[2].data = "\r\n", seg[2].len = 2, seg[2].fd = -1;
            *tail = &seg[2], tail = &seg[2].next;
        }
    }
    if (res == HANDLER_DONE && body && r->stream_length >= 0 && x->stream_given != r->stream_length)
        res = HANDLER_ABORT; /* fewer bytes than announced: never complete the framing */
    if (res != HANDLER_WAIT) {
        x->stream_end = 1;
        if (res == HANDLER_ABORT) {
            c->close_after = 1;
            c->linger = 0;
        } else if (x->stream_chunked) {
            memset(&x->sseg[3], 0, sizeof(x->sseg[3]));
            x->sseg[3].data = "0\r\n\r\n", x->sseg[3].len = 5, x->sseg[3].fd = -1;
            *tail = &x->sseg[3];
        }
    }
    if (x->head_off < x->head_len || x->seg != NULL) {
        c->state = CONN_WRITE;
        c->deadline = now + (int64_t)c->s->timeout * 1000;
        return c->state;
    }
    return stream_drained(c, now);
}

/* The handler's wait: for its socket or a timer (CONN_WAIT), or for the request body (CONN_READ). */
static enum conn_state enter_wait(struct http_conn *c, int64_t now)
{
    struct exchange *x = c->x;
    struct request *r = &x->req;
    c->phase = PH_RUNNING;
    if (r->wait_for == HTTP_WAIT_NONE)
        return run_handler(c, 0, now);
    if (r->wait_for != HTTP_WAIT_BODY) {
        if (c->buf != NULL && c->start == c->end) {
            /* nothing unread: a request waiting on its upstream holds no read buffer (event holds thousands)
             */
            pool_mem_put(c->buf, READ_BUF_SIZE);
            c->buf = NULL;
            c->start = c->end = 0;
        }
        c->state = CONN_WAIT;
        c->deadline = r->wait_until;
        return c->state;
    }
    x->wait_body = 1;
    if (!x->early || x->req.body_in.len > x->req.body_in.off || x->msg_complete)
        return run_handler(c, 0, now);
    if (x->expect_continue && r->body_received == 0) {
        /* the client waits for a word before it sends the body: now that it is wanted */
        x->expect_continue = 0;
        c->phase = PH_INTERIM;
        x->interim_off = 0;
        c->state = CONN_WRITE;
        c->deadline = now + (int64_t)c->s->timeout * 1000;
        return c->state;
    }
    return process_input(c, now);
}

/* All of the streamed output so far is written: the next piece, or the end. */
static enum conn_state stream_drained(struct http_conn *c, int64_t now)
{
    if (!c->x->stream_end)
        return enter_wait(c, now);
    return finish_response(c, now);
}

/* Calls the handler (handle() first, then resume()) and follows what it returns. */
static enum conn_state run_handler(struct http_conn *c, int first, int64_t now)
{
    struct exchange *x = c->x;
    struct request *r = &x->req;
    r->wait_for = HTTP_WAIT_TIMER;
    r->wait_fd = -1;
    x->wait_body = 0;
    x->handler_called = 1;
    r->now = now;
    enum handler_result res = first ? x->handler->handle(r) : x->handler->resume(r);
    r->wait_timed_out = 0;
    if (r->stream) {
        if (x->head == NULL) {
            if (respond(c, now) == CONN_CLOSE)
                return c->state;
        }
        return stream_queue(c, res, now);
    }
    if (res == HANDLER_WAIT)
        return enter_wait(c, now);
    if (res == HANDLER_ABORT)
        c->close_after = 1;
    return respond(c, now);
}

/* ---- the request line and the head's lines ---- */

/* tchar (RFC 9110 5.6.2) */
static int is_tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
           (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/*
 * Judges the request line as received, whole, so that the answer never depends on where llhttp happened to
 * stop or on how the line was split across reads: method 1*SP target 1*SP "HTTP/" DIGIT "." DIGIT CRLF (RFC
 * 9112 3, with llhttp's 1*SP), the method a token, the target visible ASCII. Returns, for the first fault in
 * the line's bytes, 400 (malformed) or 414 (longer than LimitRequestLine); for a whole well-formed line 505
 * if the version is not 1.x ("method target" alone is HTTP/0.9), 501 if the method is none the server
 * implements, else 0; -1 while the bytes so far may still begin a well-formed line. Resumes where the last
 * call stopped.
 */
static int judge_line(struct exchange *x, size_t limit)
{
    if (x->line.failed)
        return 500;
    const unsigned char *s = (const unsigned char *)x->line.p;
    size_t n = x->line.len;
    if (x->term == TERM_NONE && n > 0 && s[n - 1] == '\r')
        n--; /* perhaps the CR of the CRLF */
    for (; x->jpos < n; x->jpos++) {
        unsigned char ch = s[x->jpos];
        if (x->jpos >= limit)
            return 414;
        switch (x->jphase) {
        case J_METHOD:
            if (ch == ' ' && x->jpos > 0) {
                x->method_len = x->jpos;
                x->jphase = J_SP1;
            } else if (!is_tchar(ch)) {
                return 400;
            }
            break;
        case J_SP1:
            if (ch == ' ')
                break;
            if (ch < 0x21 || ch > 0x7e)
                return 400;
            x->jphase = J_TARGET;
            break;
        case J_TARGET:
            if (ch == ' ')
                x->jphase = J_SP2;
            else if (ch < 0x21 || ch > 0x7e)
                return 400;
            break;
        case J_SP2:
            if (ch == ' ')
                break;
            x->version_at = x->jpos;
            x->jphase = J_VERSION;
            /* fall through */
        case J_VERSION: {
            size_t k = x->jpos - x->version_at;
            if (k < 5 ? ch != (unsigned char)"HTTP/"[k] : k == 6 ? ch != '.' : !(ch >= '0' && ch <= '9'))
                return 400;
            if (k == 7)
                x->jphase = J_END;
            break;
        }
        case J_END:
            return 400;
        }
    }
    if (x->term == TERM_NONE)
        return -1;
    if (x->term == TERM_LF)
        return 400;
    if (x->jphase == J_TARGET)
        return 505; /* HTTP/0.9 */
    if (x->jphase != J_END)
        return 400;
    if (s[x->version_at + 5] != '1')
        return 505;
    for (int m = 0; m < METHOD_COUNT; m++)
        if (strlen(method_names[m]) == x->method_len && memcmp(s, method_names[m], x->method_len) == 0)
            return 0;
    return 501;
}

/*
 * Walks the lines of the head ahead of llhttp and returns how many of the n bytes at p it may parse; when
 * that is fewer, *status is the answer to the byte there. The rule for every line of the head (the request
 * line, each header field, the empty line that ends the head and empty lines before the request line) is the
 * same: it ends with CRLF, and a bare LF is a 400 wherever it is. (llhttp 8.1 alone refuses one after a field
 * but takes one after the request line and as the empty line.) The request line is recorded on the way, for
 * judge_line() and the access log, and held to LimitRequestLine.
 */
static size_t scan_head(struct http_conn *c, const char *p, size_t n, int *status)
{
    struct exchange *x = c->x;
    size_t limit = (size_t)c->s->limit_request_line;
    size_t i = 0;

    *status = 0;
    /* RFC 9112 2.2: empty lines before the request line are ignored */
    while (x->scan == SCAN_LEADING && i < n) {
        if (x->lead_cr ? p[i] != '\n' : p[i] == '\n') {
            *status = 400;
            return i;
        }
        if (p[i] == '\r' || p[i] == '\n')
            x->lead_cr = p[i++] == '\r';
        else
            x->scan = SCAN_LINE;
    }
    if (x->scan == SCAN_LINE && i < n) {
        size_t room = limit + 2 - x->line.len; /* enough to tell a line of limit + 1 bytes */
        size_t take = n - i < room ? n - i : room;
        const char *lf = memchr(p + i, '\n', take);
        if (lf != NULL)
            take = (size_t)(lf - (p + i));
        if (pbuf_append(&x->line, p + i, take) < 0) {
            *status = 500;
            return i;
        }
        i += take;
        if (lf == NULL) {
            if (x->line.len - (x->line.p[x->line.len - 1] == '\r') <= limit)
                return n;
            *status = judge_line(x, limit); /* 400 or 414 */
            return i;
        }
        x->line_lf = lf;
        if (x->line.len > 0 && x->line.p[x->line.len - 1] == '\r') {
            x->line.p[--x->line.len] = '\0';
            x->term = TERM_CRLF;
        } else {
            x->term = TERM_LF;
        }
        x->scan = SCAN_FIELDS;
        settle_line(x, 0);
        if (x->term == TERM_LF || x->line.len > limit) {
            *status = judge_line(x, limit); /* 400 or 414 */
            return i;
        }
        i++;
    }
    while (x->scan == SCAN_FIELDS && i < n) {
        const char *lf = memchr(p + i, '\n', n - i);
        if (lf == NULL) {
            x->col += n - i;
            x->last_cr = p[n - 1] == '\r';
            return n;
        }
        size_t k = (size_t)(lf - p);
        if (!(k > i ? p[k - 1] == '\r' : x->last_cr)) {
            *status = 400;
            return k;
        }
        if (x->col + (k - i) == 1)
            x->scan = SCAN_DONE; /* the empty line */
        x->col = 0;
        x->last_cr = 0;
        i = k + 1;
    }
    return n;
}

/*
 * The status for a parse that failed at `pos`: a failure inside the request line is judged on the whole line
 * (-1: not all of it is here yet); elsewhere a callback that failed the request decided it, whatever code
 * llhttp reports for it, and anything else is a 400.
 */
static int error_status(struct http_conn *c, const char *pos)
{
    struct exchange *x = c->x;
    if (x->scan <= SCAN_LINE || (x->line_lf != NULL && pos <= x->line_lf)) {
        int st = judge_line(x, (size_t)c->s->limit_request_line);
        if (st != 0)
            return st;
    }
    return x->error_status != 0 ? x->error_status : 400;
}

/* Keeps the last three bytes parsed: a chunked request must end with the CRLF of an empty line. */
static void keep_tail(struct exchange *x, const char *data, size_t n)
{
    if (n >= sizeof(x->tail)) {
        memcpy(x->tail, data + n - sizeof(x->tail), sizeof(x->tail));
    } else {
        memmove(x->tail, x->tail + n, sizeof(x->tail) - n);
        memcpy(x->tail + sizeof(x->tail) - n, data, n);
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
        size_t avail = c->end - c->start, len = avail;
        int stop = 0;
        if (c->x == NULL && begin_request(c, now) < 0) {
            c->state = CONN_CLOSE;
            return c->state;
        }
        struct exchange *x = c->x;
        if (x->early) {
            /* the handler runs: parse only body bytes it has room for, and nothing past the request */
            if (x->req.body_in.off == x->req.body_in.len)
                x->req.body_in.off = x->req.body_in.len = 0;
            size_t room = READ_BUF_SIZE - x->req.body_in.len;
            if (x->msg_complete || room == 0 || x->line_failed)
                break;
            if (len > room)
                len = room;
        }
        x->line_lf = NULL;
        if (x->scan != SCAN_DONE)
            len = scan_head(c, data, len, &stop);
        if (x->line_failed) {
            /* llhttp failed inside the request line: only the line's end was awaited */
            c->start = c->end;
            int st = error_status(c, data);
            if (st < 0)
                break;
            c->stage = ST_NONE;
            return respond_error(c, st, now);
        }
        x->exec_base = data;
        llhttp_errno_t err = llhttp_execute(&x->parser, data, len);
        if (settle(c) < 0 && err == HPE_OK) {
            c->start = c->end;
            c->stage = ST_NONE;
            return respond_error(c, 500, now);
        }
        const char *pos = err == HPE_OK ? data + len : llhttp_get_error_pos(&x->parser);
        note_tail(x, data, (size_t)(pos - data));
        if (x->req.chunked)
            keep_tail(x, data, (size_t)(pos - data));
        c->start += (size_t)(pos - data);
        if (err == HPE_OK && stop == 0)
            break;
        if (err == HPE_PAUSED && !x->msg_complete) {
            /* paused at the end of the head for a handler that streams the body */
            llhttp_resume(&x->parser);
            stage_begin(c, ST_BODY, now);
            return dispatch(c, now);
        }
        if (err == HPE_PAUSED) {
            c->stage = ST_NONE;
            if (!x->req.chunked || memcmp(x->tail, "\n\r\n", 3) == 0) {
                if (x->early)
                    break; /* the handler, waiting for the body, is told below */
                return dispatch(c, now);
            }
            c->start = c->end;
            return respond_error(c, 400, now); /* the trailer section ended with a bare LF */
        }
        int st = err == HPE_OK ? stop : error_status(c, pos);
        c->start = c->end; /* the rest of the stream cannot be trusted */
        if (st < 0) {
            x->line_failed = 1; /* wait for the rest of the line */
            break;
        }
        c->stage = ST_NONE;
        return respond_error(c, st, now);
    }
    if (c->x != NULL && c->x->headers_done && c->stage == ST_HEADER)
        stage_begin(c, ST_BODY, now);
    if (c->x != NULL && c->x->early) {
        if (c->x->wait_body && (c->x->req.body_in.len > c->x->req.body_in.off || c->x->msg_complete))
            return run_handler(c, 0, now);
        if (c->phase == PH_RUNNING && !c->x->wait_body) {
            c->state = CONN_WAIT; /* cannot happen: input is not parsed while the handler waits otherwise */
            return c->state;
        }
    }
    if (c->x != NULL && !c->x->early && c->x->expect_continue && c->x->headers_done &&
        c->x->req.body_received == 0) {
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
    struct body_seg *seg = c->x->seg;
    for (; seg != NULL && out->iovcnt < CONN_IOV_MAX; seg = seg->next, off = 0) {
        if (seg->len == off)
            continue;
        if (seg->data == NULL) {
            if (out->iovcnt == 0) {
                out->file_fd = seg->fd;
                out->file_off = seg->off + (off_t)off;
                out->file_len = seg->len - off;
            } else {
                out->more = seg->len - off <= CONN_MORE_MAX;
            }
            out->file_fd = seg->fd; /* with buffers: the range that follows them */
            out->file_off = seg->off + (off_t)off;
            out->file_len = seg->len - off;
            break;
        }
        out->iov[out->iovcnt].iov_base = (char *)seg->data + off;
        out->iov[out->iovcnt].iov_len = seg->len - off;
        out->iovcnt++;
    }
    /* The last bytes of the last response to a client that asked to close: held back (MSG_MORE) for the close
     * that follows at once, whose FIN then leaves in the same segment, and the client acknowledges both
     * together. Only when nothing of the client's is left unread, and the client promised to send no more
     * (RFC 9112 9.6): a close with unread input resets the connection, which would discard bytes still held;
     * a pipelining client, closed on by the server (MaxKeepAliveRequests, an error), gets them at once. */
    if (out->iovcnt > 0 && seg == NULL && c->close_after && (c->x->parser.flags & F_CONNECTION_CLOSE) &&
        c->x->msg_complete && c->start == c->end && (!c->x->req.stream || c->x->stream_end))
        out->more = 1;
    return out->iovcnt > 0 || out->file_len > 0 ? 0 : -1;
}

/* The response has been written: next request, keep-alive, or close. */
static enum conn_state finish_response(struct http_conn *c, int64_t now)
{
    end_request(c, now);
    if (c->close_after) {
        /* pipelined requests that will not be answered (MaxKeepAliveRequests, KeepAlive Off, a stop, a client
         * that asked to close and sent more): a close with them unread resets the connection, and the reset
         * discards the responses the client has not read yet; a lingering close lets it read them (RFC 9112
         * 9.6), as nginx does when input is left */
        if (c->start < c->end)
            c->linger = 1;
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
        c->phase = c->x->early ? PH_RUNNING : PH_PARSING;
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
    if (c->x->req.stream)
        return stream_drained(c, now);
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
        c->x->req.wait_timed_out = 1;
        return run_handler(c, 0, now);
    case CONN_KEEPALIVE:
    case CONN_WRITE:
    case CONN_CLOSE:
        c->state = CONN_CLOSE;
        break;
    }
    return c->state;
}

enum conn_state http_conn_ready(struct http_conn *c, int64_t now)
{
    if (c->state != CONN_WAIT)
        return c->state;
    return run_handler(c, 0, now);
}

int http_conn_wait_fd(const struct http_conn *c, int *events)
{
    if (c->state != CONN_WAIT || c->x == NULL)
        return -1;
    const struct request *r = &c->x->req;
    if (r->wait_for == HTTP_WAIT_READABLE)
        *events = CONN_WAIT_IN;
    else if (r->wait_for == HTTP_WAIT_WRITABLE)
        *events = CONN_WAIT_OUT;
    else
        return -1;
    return r->wait_fd;
}

enum conn_state http_conn_abort(struct http_conn *c)
{
    if (c->x != NULL && c->phase != PH_IDLE)
        end_request(c, now_ms());
    c->linger = 0;
    c->state = CONN_CLOSE;
    return c->state;
}

enum conn_state http_conn_state(const struct http_conn *c)
{
    return c->state;
}

int http_conn_awaits_rest(const struct http_conn *c)
{
    return c->state == CONN_READ && c->phase != PH_IDLE;
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
