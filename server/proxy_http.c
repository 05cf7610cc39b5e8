/*
 * The proxy's HTTP (mod_proxy_http's part), free of I/O so that it is tested with strings: the request head
 * for the upstream and the parsing of its response with llhttp in response mode.
 *
 * The one thing to know: nothing of the client's framing reaches the upstream and nothing of the upstream's
 * reaches the client. Both heads lose their hop-by-hop headers; the request body goes with a Content-Length
 * of ours or chunked by us, and the response body is handed on de-chunked for the core to frame again. So
 * one client request is one upstream request, whatever a smuggling attempt puts in its headers.
 */

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "path.h"
#include "pool.h"
#include "proxy_conf.h"
#include "proxy_http.h"
#include "server.h"
#include "util.h"

/* ---- hop-by-hop headers (RFC 9110 7.6.1) ---- */

enum proxy_hdr proxy_header_kind_n(const char *name, size_t len)
{
    /* by length, then the one candidate of that length and first letter */
    const char *cand = NULL;
    enum proxy_hdr kind = PROXY_HDR_OTHER;
    /* ASCII's lower case by one bit: for the letters the candidates begin with it is tolower(), which is a
     * call; no other byte becomes one of them */
    int first = len > 0 ? (unsigned char)name[0] | 0x20 : 0;
    if (len >= 6 && first == 'p' && strncasecmp(name, "proxy-", 6) == 0)
        return PROXY_HDR_HOP;
    switch (len) {
    case 2:
        cand = "te", kind = PROXY_HDR_HOP;
        break;
    case 3:
        if (first == 'u')
            cand = "uri", kind = PROXY_HDR_LOCATION;
        else
            cand = "via", kind = PROXY_HDR_VIA;
        break;
    case 4:
        cand = "host", kind = PROXY_HDR_HOST;
        break;
    case 6:
        cand = "expect", kind = PROXY_HDR_EXPECT;
        break;
    case 7:
        if (first == 't')
            cand = "trailer", kind = PROXY_HDR_HOP;
        else
            cand = "upgrade", kind = PROXY_HDR_HOP;
        break;
    case 8:
        cand = "location", kind = PROXY_HDR_LOCATION;
        break;
    case 10:
        if (first == 'c')
            cand = "connection", kind = PROXY_HDR_CONNECTION;
        else if (first == 's')
            cand = "set-cookie", kind = PROXY_HDR_SET_COOKIE;
        else
            cand = "keep-alive", kind = PROXY_HDR_HOP;
        break;
    case 14:
        cand = "content-length", kind = PROXY_HDR_CONTENT_LENGTH;
        break;
    case 15:
        cand = "x-forwarded-for", kind = PROXY_HDR_X_FORWARDED_FOR;
        break;
    case 16:
        if (first == 'c')
            cand = "content-location", kind = PROXY_HDR_LOCATION;
        else
            cand = "x-forwarded-host", kind = PROXY_HDR_X_FORWARDED_HOST;
        break;
    case 17:
        cand = "transfer-encoding", kind = PROXY_HDR_HOP;
        break;
    case 18:
        cand = "x-forwarded-server", kind = PROXY_HDR_X_FORWARDED_SERVER;
        break;
    default:
        return PROXY_HDR_OTHER;
    }
    return cand[0] == first && strncasecmp(name, cand, len) == 0 ? kind : PROXY_HDR_OTHER;
}

enum proxy_hdr proxy_header_kind(const char *name)
{
    return proxy_header_kind_n(name, strlen(name));
}

int proxy_hop_by_hop(enum proxy_hdr kind, const char *name, const char *connection)
{
    return kind == PROXY_HDR_HOP || kind == PROXY_HDR_CONNECTION || util_list_has(connection, name, 1);
}

/* ---- the request head ---- */

/* Appends s percent-encoded where it must be: the runs between such characters in one piece each. */
static void put_encoded(struct pbuf *b, const char *s, int keep_2f)
{
    static const char hex[] = "0123456789ABCDEF";
    while (*s != '\0') {
        const char *run = s;
        while (*s != '\0' && uri_char((unsigned char)*s, URI_PATH))
            s++;
        pbuf_put(b, run, (size_t)(s - run));
        if (*s == '\0')
            break;
        if (keep_2f && s[0] == '%' && s[1] == '2' && (s[2] | 0x20) == 'f') {
            pbuf_put(b, s, 3); /* AllowEncodedSlashes NoDecode left it in the path as written */
            s += 3;
            continue;
        }
        unsigned char ch = (unsigned char)*s++;
        char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        pbuf_put(b, e, 3);
    }
}

static void put_str(struct pbuf *b, const char *s)
{
    pbuf_put(b, s, strlen(s));
}

#define PUT_LIT(b, lit) pbuf_put((b), (lit), sizeof(lit) - 1)

/* Appends "Name: [old, ]add" CRLF: the client's value of the header first, where it sent one. */
static void put_merged(struct pbuf *b, const char *name, const char *old, const char *add)
{
    put_str(b, name);
    PUT_LIT(b, ": ");
    if (old != NULL) {
        put_str(b, old);
        PUT_LIT(b, ", ");
    }
    put_str(b, add);
    PUT_LIT(b, "\r\n");
}

/* Whether a request header (named name, of kind kind) is hop-by-hop: by itself, or named by one of the
 * request's Connection headers. */
static int request_hop_by_hop(const struct request *r, enum proxy_hdr kind, const char *name, int connection)
{
    if (proxy_hop_by_hop(kind, name, NULL))
        return 1;
    for (int i = 0; connection && i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, "Connection") == 0 &&
            proxy_hop_by_hop(kind, name, r->headers[i].value))
            return 1;
    return 0;
}

/*
 * base (the upstream's path), then the rest of r's after pp's prefix, encoded again, then ?query: "/app/" +
 * "x" for /app/x under ProxyPass /app/ .../app/. With nocanon the rest is the client's own bytes, when what
 * it sent starts with the prefix as written (else, after "." segments or escapes in the prefix, ours).
 */
static void put_target(struct pbuf *b, const struct request *r, const struct proxy_pass *pp, const char *base)
{
    const char *rest = r->path + pp->len;
    size_t len = strlen(base), raw_len = r->raw_path_len;
    const char *raw = pp->nocanon ? r->raw_path : NULL;
    pbuf_put(b, base, len);
    if (raw != NULL && raw_len >= pp->len && memcmp(raw, pp->prefix, pp->len) == 0) {
        raw += pp->len, raw_len -= pp->len;
        if (len > 0 && base[len - 1] == '/' && raw_len > 0 && *raw == '/')
            raw++, raw_len--;
        pbuf_put(b, raw, raw_len);
    } else {
        if (len > 0 && base[len - 1] == '/' && *rest == '/')
            rest++;
        put_encoded(b, rest, r->vhost->allow_encoded_slashes == PATH_SLASHES_NODECODE);
    }
    if (r->query != NULL) {
        PUT_LIT(b, "?");
        put_str(b, r->query);
    }
}

char *proxy_target_url(const struct request *r, const struct proxy_pass *pp)
{
    struct pbuf b = {.pool = r->pool};
    if (pp->balancer != NULL) {
        put_str(&b, pp->balancer->name);
        put_target(&b, r, pp, "/");
    } else {
        PUT_LIT(&b, "http://");
        put_str(&b, pp->worker->hostport);
        put_target(&b, r, pp, pp->worker->path);
    }
    return b.failed ? NULL : b.p;
}

char *proxy_request_head(const struct request *r, const struct proxy_conf *pc, const struct proxy_pass *pp,
                         const struct proxy_worker *w, size_t *len)
{
    /* the X-Forwarded-* the client sent (the first of each), merged with ours below */
    const char *xf_for = NULL, *xf_host = NULL, *xf_server = NULL, *via_in = NULL;
    int connection = 0;
    struct pbuf b = {.pool = r->pool};
    pbuf_reserve(&b, 512);

    put_str(&b, r->method_name);
    PUT_LIT(&b, " ");
    put_target(&b, r, pp, w->path);
    PUT_LIT(&b, " HTTP/1.1\r\nHost: ");
    put_str(&b, pc->preserve_host && r->host != NULL ? r->host : w->hostport);
    PUT_LIT(&b, "\r\n");

    for (int i = 0; i < r->n_headers; i++)
        if ((r->headers[i].name[0] | 0x20) == 'c' && strcasecmp(r->headers[i].name, "Connection") == 0)
            connection = 1;
    for (int i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        size_t nlen = strlen(h->name);
        enum proxy_hdr kind = proxy_header_kind_n(h->name, nlen);
        if (kind == PROXY_HDR_HOST || kind == PROXY_HDR_CONTENT_LENGTH || kind == PROXY_HDR_EXPECT ||
            request_hop_by_hop(r, kind, h->name, connection))
            continue;
        const char **merged = kind == PROXY_HDR_X_FORWARDED_FOR && pc->add_headers      ? &xf_for
                              : kind == PROXY_HDR_X_FORWARDED_HOST && pc->add_headers   ? &xf_host
                              : kind == PROXY_HDR_X_FORWARDED_SERVER && pc->add_headers ? &xf_server
                              : kind == PROXY_HDR_VIA && pc->via != PROXY_VIA_OFF       ? &via_in
                                                                                        : NULL;
        if (merged != NULL) {
            if (*merged == NULL)
                *merged = h->value;
            continue; /* merged below */
        }
        pbuf_put(&b, h->name, nlen);
        PUT_LIT(&b, ": ");
        put_str(&b, h->value);
        PUT_LIT(&b, "\r\n");
    }
    if (pc->add_headers) {
        char peer[HTTP_PEER_TEXT];
        put_merged(&b, "X-Forwarded-For", xf_for, http_peer_text(r, peer));
        if (r->host != NULL)
            put_merged(&b, "X-Forwarded-Host", xf_host, r->host);
        if (r->vhost != NULL && r->vhost->hostname != NULL)
            put_merged(&b, "X-Forwarded-Server", xf_server, r->vhost->hostname);
    }
    if (pc->via == PROXY_VIA_ON || pc->via == PROXY_VIA_FULL) {
        const char *name = r->vhost != NULL && r->vhost->hostname != NULL ? r->vhost->hostname : "-";
        char *via = pool_printf(r->pool, "%d.%d %s%s", r->version_major, r->version_minor, name,
                                pc->via == PROXY_VIA_FULL ? " (" SERVER_SOFTWARE ")" : "");
        put_merged(&b, "Via", via_in, via != NULL ? via : "-");
    }
    if (r->chunked)
        PUT_LIT(&b, "Transfer-Encoding: chunked\r\n");
    else if (r->content_length > 0)
        pbuf_printf(&b, "Content-Length: %lld\r\n", r->content_length);
    if (w->disable_reuse)
        PUT_LIT(&b, "Connection: close\r\n");
    PUT_LIT(&b, "\r\n");
    if (b.failed)
        return NULL;
    *len = b.len;
    return b.p;
}

/* ---- ProxyPassReverse ---- */

/* How much of value the URL of rv covers (0: none): the URL itself, or for "balancer://NAME/" the URL of any
 * member of that balancer (Apache's ProxyPassReverse to a balancer). */
static size_t reverse_match(const struct proxy_conf *pc, const struct proxy_reverse *rv, const char *value)
{
    if (strncasecmp(rv->url, "balancer://", 11) != 0)
        return strncasecmp(value, rv->url, rv->url_len) == 0 ? rv->url_len : 0;
    size_t n = 11 + strcspn(rv->url + 11, "/");
    for (const struct proxy_balancer *b = pc->balancers; b != NULL; b = b->next) {
        if (strlen(b->name) != n || strncasecmp(b->name, rv->url, n) != 0)
            continue;
        for (int i = 0; i < b->n_members; i++) {
            size_t len = strlen(b->members[i]->url);
            if (strncasecmp(value, b->members[i]->url, len) == 0)
                return len;
        }
    }
    return 0;
}

const char *proxy_reverse(struct pool *p, const struct proxy_conf *pc, const struct request *r,
                          const char *value)
{
    for (const struct proxy_reverse *rv = pc->reverses; rv != NULL; rv = rv->next) {
        size_t matched = reverse_match(pc, rv, value);
        if (matched == 0)
            continue;
        const char *rest = value + matched;
        size_t plen = strlen(rv->path);
        /* "/app/" + "x", or "/app" + "/x": one slash between them */
        if (plen > 0 && rv->path[plen - 1] == '/' && *rest == '/')
            rest++;
        const char *host = r->host != NULL                                  ? r->host
                           : r->vhost != NULL && r->vhost->hostname != NULL ? r->vhost->hostname
                                                                            : "localhost";
        char *out = pool_printf(p, "http://%s%s%s", host, rv->path, rest);
        return out != NULL ? out : value;
    }
    return value;
}

/* A cookie attribute's value: where it is in the Set-Cookie value, and what replaces it (NULL: nothing). */
struct cookie_attr {
    size_t at, len;
    const char *to;
};

/* The first line of maps whose upstream side starts the value v (n bytes), or NULL. */
static const char *cookie_map(const struct proxy_reverse *maps, const char *v, size_t n, int nocase)
{
    for (const struct proxy_reverse *m = maps; m != NULL; m = m->next)
        if (n >= m->url_len &&
            (nocase ? strncasecmp(v, m->url, m->url_len) : strncmp(v, m->url, m->url_len)) == 0)
            return m->path;
    return NULL;
}

const char *proxy_reverse_cookie(struct pool *p, const struct proxy_conf *pc, const char *value)
{
    struct cookie_attr path = {0, 0, NULL}, domain = {0, 0, NULL};
    if (pc->cookie_paths == NULL && pc->cookie_domains == NULL)
        return value;
    /* the attributes follow the cookie's own name=value, which is never one of them (a cookie named "path")
     */
    const char *attrs = strchr(value, ';');
    if (attrs == NULL)
        return value;
    for (const char *tok = attrs + 1;;) {
        const char *end = tok + strcspn(tok, ";"), *a = tok;
        while (a < end && (*a == ' ' || *a == '\t'))
            a++;
        struct cookie_attr *attr = NULL;
        if (end - a >= 5 && strncasecmp(a, "path=", 5) == 0)
            attr = &path, a += 5;
        else if (end - a >= 7 && strncasecmp(a, "domain=", 7) == 0)
            attr = &domain, a += 7;
        if (attr != NULL) { /* the last one counts, as for a browser (RFC 6265 5.3) */
            attr->at = (size_t)(a - value);
            attr->len = (size_t)(end - a);
            attr->to = cookie_map(attr == &path ? pc->cookie_paths : pc->cookie_domains, a, attr->len,
                                  attr == &domain);
        }
        if (*end == '\0')
            break;
        tok = end + 1;
    }
    if (path.to == NULL && domain.to == NULL)
        return value;
    /* at most two replacements, copied in the order they stand */
    struct cookie_attr *order[2] = {&path, &domain};
    if (path.to == NULL || (domain.to != NULL && domain.at < path.at))
        order[0] = &domain, order[1] = &path;
    if (order[1]->to == NULL)
        order[1] = NULL;
    size_t len = strlen(value), out_len = len;
    for (int i = 0; i < 2 && order[i] != NULL; i++)
        out_len = out_len - order[i]->len + strlen(order[i]->to);
    char *out = pool_alloc(p, out_len + 1), *o = out;
    if (out == NULL)
        return value;
    size_t from = 0;
    for (int i = 0; i < 2 && order[i] != NULL; i++) {
        memcpy(o, value + from, order[i]->at - from);
        o = stpcpy(o + (order[i]->at - from), order[i]->to);
        from = order[i]->at + order[i]->len;
    }
    memcpy(o, value + from, len - from + 1);
    return out;
}

/* ---- the response ---- */

static struct proxy_resp *resp_of(llhttp_t *p)
{
    return p->data;
}

static int resp_fail(struct proxy_resp *pr, const char *why)
{
    pr->error = why;
    return HPE_USER;
}

static int on_message_begin(llhttp_t *p)
{
    struct proxy_resp *pr = resp_of(p);
    pr->n_headers = pr->settled = 0; /* after a 1xx: the next head starts afresh */
    pr->has_connection = 0;
    pr->reason = pr->rspan = NULL;
    pr->rlen = 0;
    pbuf_clear(&pr->reason_buf);
    pr->line_bytes = 0;
    pr->fspan = pr->vspan = NULL;
    pr->flen = pr->vlen = 0;
    pbuf_clear(&pr->field);
    pbuf_clear(&pr->value);
    return 0;
}

/* The bytes of a header's name or value arrived: taken where they are while they follow on from what came of
 * it in this feed, else gathered in b. */
static int take_piece(struct proxy_resp *pr, struct pbuf *b, const char **span, size_t *len, const char *at,
                      size_t n)
{
    pr->line_bytes += n;
    if (pr->line_bytes > pr->limit_field)
        return resp_fail(pr, "response header line too long");
    return pbuf_take(b, span, len, at, n) < 0 ? resp_fail(pr, "out of memory") : 0;
}

static int add_header(struct proxy_resp *pr)
{
    const char *name = pr->field.len > 0 ? pr->field.p : pr->fspan;
    size_t nlen = pr->field.len > 0 ? pr->field.len : pr->flen;
    char *gathered = pr->value.len > 0 ? pr->value.p : NULL; /* ours: written to below */
    const char *v = gathered != NULL ? gathered : pr->vspan;
    size_t vlen = gathered != NULL ? pr->value.len : pr->vlen;
    /* no CR, LF or NUL in v: llhttp's strict mode refuses them in a value ("Invalid header value char",
     * "Missing expected LF"), as the tests of invalid heads check */
    if (nlen == 0)
        return resp_fail(pr, "empty response header name");
    if (!pr->head_done) { /* trailers are dropped: the core ends the chunked body itself */
        if (pr->n_headers >= pr->limit_fields)
            return resp_fail(pr, "too many response header lines");
        if (pr->n_headers == pr->cap_headers) {
            int cap = pr->cap_headers ? pr->cap_headers * 2 : 16;
            struct proxy_resp_header *h = pool_alloc(pr->pool, sizeof(*h) * (size_t)cap);
            if (h == NULL)
                return resp_fail(pr, "out of memory");
            if (pr->n_headers > 0)
                memcpy(h, pr->headers, sizeof(*h) * (size_t)pr->n_headers);
            pr->headers = h;
            pr->cap_headers = cap;
        }
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (vlen == 0)
            v = "";
        else if (gathered != NULL)
            gathered[v - gathered + (ptrdiff_t)vlen] = '\0';
        struct proxy_resp_header *h = &pr->headers[pr->n_headers++];
        h->name = name;
        h->name_len = nlen;
        h->value = v;
        h->value_len = vlen;
        h->kind = proxy_header_kind_n(name, nlen);
        pr->has_connection |= h->kind == PROXY_HDR_CONNECTION;
    }
    pbuf_clear(&pr->field);
    pbuf_clear(&pr->value);
    pr->fspan = pr->vspan = NULL;
    pr->flen = pr->vlen = 0;
    pr->line_bytes = 0;
    return 0;
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
    struct proxy_resp *pr = resp_of(p);
    return take_piece(pr, &pr->reason_buf, &pr->rspan, &pr->rlen, at, n);
}

/* A reason phrase relayed as it is: HTAB, SP, VCHAR and obs-text (RFC 9112 4), which llhttp does not check
 * (it takes any byte up to the CR). */
static int reason_printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return 0;
    }
    return 1;
}

static int on_status_complete(llhttp_t *p)
{
    struct proxy_resp *pr = resp_of(p);
    const char *s = pr->reason_buf.len > 0 ? pr->reason_buf.p : pr->rspan;
    size_t n = pr->reason_buf.len > 0 ? pr->reason_buf.len : pr->rlen;
    pr->reason = NULL;
    if (n > 0 && reason_printable(s, n) && (pr->reason = pool_strndup(pr->pool, s, n)) == NULL)
        return resp_fail(pr, "out of memory");
    pr->rspan = NULL;
    pr->rlen = 0;
    pbuf_clear(&pr->reason_buf);
    pr->line_bytes = 0; /* the status line's bytes: the first header line counts from here */
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct proxy_resp *pr = resp_of(p);
    return take_piece(pr, &pr->field, &pr->fspan, &pr->flen, at, n);
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct proxy_resp *pr = resp_of(p);
    return take_piece(pr, &pr->value, &pr->vspan, &pr->vlen, at, n);
}

static int on_header_value_complete(llhttp_t *p)
{
    return add_header(resp_of(p));
}

static int on_headers_complete(llhttp_t *p)
{
    struct proxy_resp *pr = resp_of(p);
    int status = llhttp_get_status_code(p);
    if (p->http_major != 1)
        return resp_fail(pr, "response version is not HTTP/1.x");
    if (status == 101)
        return resp_fail(pr, "101 Switching Protocols without an Upgrade request");
    if (status < 100 || status > 999)
        return resp_fail(pr, "invalid response status");
    /* an interim response: skipped, the final one follows. It ends with its head whatever Content-Length it
     * has (llhttp would read a body for one): 1 = no body */
    if (status < 200)
        return 1;
    pr->status = status;
    pr->head_done = 1;
    pr->chunked = (p->flags & F_CHUNKED) != 0;
    pr->length = !pr->chunked && (p->flags & F_CONTENT_LENGTH) ? (long long)p->content_length : -1;
    if (pr->length < -1)
        return resp_fail(pr, "invalid Content-Length");
    return pr->head_request ? 1 : 0; /* llhttp: 1 = no body follows */
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    struct proxy_resp *pr = resp_of(p);
    /* gathered where the feed's first body byte is: llhttp never looks back at bytes it has passed, and the
     * head's bytes before them stay as they are until the feed has settled them */
    if (pr->body_at == NULL)
        pr->body_at = (char *)at;
    else if (pr->body_at + pr->body_len != at)
        memmove(pr->body_at + pr->body_len, at, n);
    pr->body_len += n;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct proxy_resp *pr = resp_of(p);
    if (!pr->head_done)
        return 0; /* the end of a 1xx */
    pr->complete = 1;
    return HPE_PAUSED; /* whatever follows is not ours to parse */
}

static llhttp_settings_t resp_settings;
static pthread_once_t resp_once = PTHREAD_ONCE_INIT;

static void init_settings(void)
{
    llhttp_settings_init(&resp_settings);
    resp_settings.on_message_begin = on_message_begin;
    resp_settings.on_status = on_status;
    resp_settings.on_status_complete = on_status_complete;
    resp_settings.on_header_field = on_header_field;
    resp_settings.on_header_value = on_header_value;
    resp_settings.on_header_value_complete = on_header_value_complete;
    resp_settings.on_headers_complete = on_headers_complete;
    resp_settings.on_body = on_body;
    resp_settings.on_message_complete = on_message_complete;
}

void proxy_resp_init(struct proxy_resp *pr, struct pool *p, int head, size_t limit_field, int limit_fields)
{
    pthread_once(&resp_once, init_settings);
    memset(pr, 0, sizeof(*pr));
    pr->pool = p;
    pr->field.pool = pr->value.pool = pr->reason_buf.pool = p;
    pr->limit_field = limit_field > 0 ? limit_field : 8190;
    pr->limit_fields = limit_fields > 0 ? limit_fields : 100;
    pr->length = -1;
    llhttp_init(&pr->parser, HTTP_RESPONSE, &resp_settings);
    pr->parser.data = pr;
    pr->head_request = head;
}

/* Moves what this feed's head holds of buf (the caller's, which it reuses) into the pool (struct span_move):
 * the headers' names and values, and the reason phrase, name or value not complete yet, which go on in their
 * pbufs. */
static int settle(struct proxy_resp *pr, const char *buf, size_t n)
{
    struct span_move m;
    span_move_begin(&m, pr->pool, buf, n);
    for (int i = pr->settled; i < pr->n_headers; i++) {
        span_move_note(&m, pr->headers[i].name, pr->headers[i].name_len);
        span_move_note(&m, pr->headers[i].value, pr->headers[i].value_len);
    }
    if (span_move_copy(&m) < 0)
        return resp_fail(pr, "out of memory");
    for (int i = pr->settled; i < pr->n_headers; i++) {
        struct proxy_resp_header *h = &pr->headers[i];
        if ((span_in(&m, h->name) && (h->name = span_moved(&m, h->name, h->name_len)) == NULL) ||
            (span_in(&m, h->value) && (h->value = span_moved(&m, h->value, h->value_len)) == NULL))
            return resp_fail(pr, "out of memory");
    }
    if (span_move_pbuf(&m, &pr->reason_buf, &pr->rspan, &pr->rlen) < 0 ||
        span_move_pbuf(&m, &pr->field, &pr->fspan, &pr->flen) < 0 ||
        span_move_pbuf(&m, &pr->value, &pr->vspan, &pr->vlen) < 0)
        return resp_fail(pr, "out of memory");
    pr->settled = pr->n_headers;
    return 0;
}

int proxy_resp_feed(struct proxy_resp *pr, char *buf, size_t n)
{
    pr->body_at = NULL;
    pr->body_len = 0;
    if (pr->error != NULL) {
        pr->body_at = buf;
        return -1;
    }
    if (pr->complete) {
        pr->body_at = buf;
        pr->extra = 1;
        return 0;
    }
    llhttp_errno_t err = llhttp_execute(&pr->parser, buf, n);
    if (pr->body_at == NULL)
        pr->body_at = buf;
    if (!pr->head_done || pr->settled < pr->n_headers || pr->fspan != NULL || pr->vspan != NULL ||
        pr->rspan != NULL) {
        if (settle(pr, buf, n) < 0)
            return -1;
    }
    if (err == HPE_PAUSED) {
        if (llhttp_get_error_pos(&pr->parser) < buf + n)
            pr->extra = 1;
        return 0;
    }
    if (err != HPE_OK) {
        if (pr->error == NULL)
            pr->error = llhttp_get_error_reason(&pr->parser);
        if (pr->error == NULL)
            pr->error = "invalid response";
        return -1;
    }
    return 0;
}

int proxy_resp_eof(struct proxy_resp *pr)
{
    if (pr->complete)
        return 0;
    if (!pr->head_done || pr->error != NULL)
        return -1;
    pr->body_len = 0;
    if (llhttp_finish(&pr->parser) != HPE_OK && !pr->complete)
        return -1;
    return pr->complete ? 0 : -1;
}

int proxy_resp_hop_by_hop(const struct proxy_resp *pr, const struct proxy_resp_header *h)
{
    if (proxy_hop_by_hop(h->kind, h->name, NULL))
        return 1;
    for (int i = 0; pr->has_connection && i < pr->n_headers; i++)
        if (pr->headers[i].kind == PROXY_HDR_CONNECTION &&
            proxy_hop_by_hop(h->kind, h->name, pr->headers[i].value))
            return 1;
    return 0;
}

int proxy_resp_reusable(const struct proxy_resp *pr)
{
    return pr->complete && !pr->extra && pr->error == NULL && llhttp_should_keep_alive(&pr->parser);
}
