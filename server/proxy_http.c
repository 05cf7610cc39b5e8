/*
 * The proxy's HTTP (mod_proxy_http's part), free of I/O so that it is tested with strings: the request head
 * for the upstream and the parsing of its response with llhttp in response mode.
 *
 * The one thing to know: nothing of the client's framing reaches the upstream and nothing of the upstream's
 * reaches the client. Both heads lose their hop-by-hop headers; the request body goes with a Content-Length
 * of ours or chunked by us, and the response body is handed on de-chunked for the core to frame again. So
 * one client request is one upstream request, whatever a smuggling attempt puts in its headers.
 */

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "pool.h"
#include "proxy_conf.h"
#include "proxy_http.h"
#include "server.h"

/* ---- hop-by-hop headers (RFC 9110 7.6.1) ---- */

/* Whether the comma-separated list `list` names `name` (case-insensitive). */
static int list_has(const char *list, const char *name)
{
    size_t nlen = strlen(name);
    while (list != NULL && *list != '\0') {
        while (*list == ' ' || *list == '\t' || *list == ',')
            list++;
        size_t len = strcspn(list, ",");
        size_t t = len;
        while (t > 0 && (list[t - 1] == ' ' || list[t - 1] == '\t'))
            t--;
        if (t == nlen && strncasecmp(list, name, nlen) == 0)
            return 1;
        list += len;
    }
    return 0;
}

enum proxy_hdr proxy_header_kind(const char *name)
{
    /* the candidates of each length, lower case; the first letter decides among those of one length */
    /* clang-format off */
#define K(lower, kind) {lower, sizeof(lower) - 1, kind}
    /* clang-format on */
    static const struct {
        const char *name;
        size_t len;
        enum proxy_hdr kind;
    } known[] = {
        K("te", PROXY_HDR_HOP),
        K("uri", PROXY_HDR_LOCATION),
        K("via", PROXY_HDR_VIA),
        K("host", PROXY_HDR_HOST),
        K("expect", PROXY_HDR_EXPECT),
        K("trailer", PROXY_HDR_HOP),
        K("upgrade", PROXY_HDR_HOP),
        K("location", PROXY_HDR_LOCATION),
        K("connection", PROXY_HDR_HOP),
        K("keep-alive", PROXY_HDR_HOP),
        K("content-length", PROXY_HDR_CONTENT_LENGTH),
        K("x-forwarded-for", PROXY_HDR_X_FORWARDED),
        K("content-location", PROXY_HDR_LOCATION),
        K("x-forwarded-host", PROXY_HDR_X_FORWARDED),
        K("transfer-encoding", PROXY_HDR_HOP),
        K("x-forwarded-server", PROXY_HDR_X_FORWARDED),
    };
    size_t len = strlen(name);
    if (len >= 6 && strncasecmp(name, "proxy-", 6) == 0)
        return PROXY_HDR_HOP;
    int first = tolower((unsigned char)name[0]);
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (known[i].len == len && known[i].name[0] == first && strcasecmp(name, known[i].name) == 0)
            return known[i].kind;
    return PROXY_HDR_OTHER;
#undef K
}

int proxy_hop_by_hop(enum proxy_hdr kind, const char *name, const char *connection)
{
    return kind == PROXY_HDR_HOP || (connection != NULL && list_has(connection, name));
}

/* ---- the request head ---- */

/* Characters a path segment may carry unencoded (RFC 3986 pchar and '/'). */
static int path_char(unsigned char ch)
{
    return isalnum(ch) || strchr("-._~!$&'()*+,;=:@/", ch) != NULL;
}

static void put_encoded(struct pbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (path_char(ch)) {
            pbuf_append(b, s, 1);
        } else {
            char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
            pbuf_append(b, e, 3);
        }
    }
}

/* Appends "Name: value" CRLF. */
static void put_header(struct pbuf *b, const char *name, const char *value)
{
    pbuf_puts(b, name);
    pbuf_append(b, ": ", 2);
    pbuf_puts(b, value);
    pbuf_append(b, "\r\n", 2);
}

/* Appends "Name: value[, add]" CRLF where the client sent Name, else "Name: add". */
static void put_merged(struct pbuf *b, const struct request *r, const char *name, const char *add)
{
    const char *old = http_header_get(r, name);
    if (old != NULL) {
        pbuf_puts(b, name);
        pbuf_append(b, ": ", 2);
        pbuf_puts(b, old);
        pbuf_append(b, ", ", 2);
        pbuf_puts(b, add);
        pbuf_append(b, "\r\n", 2);
    } else {
        put_header(b, name, add);
    }
}

char *proxy_request_head(const struct request *r, const struct proxy_conf *pc, const struct proxy_pass *pp,
                         const struct proxy_worker *w, size_t *len)
{
    const char *connection = http_header_get(r, "Connection");
    struct pbuf b = {.pool = r->pool};
    pbuf_reserve(&b, 512);

    pbuf_puts(&b, r->method_name);
    pbuf_append(&b, " ", 1);
    /* the worker's path, then the rest of ours: "/app/" + "x" for /app/x under ProxyPass /app/ .../app/ */
    const char *rest = r->path + pp->len;
    size_t wlen = strlen(w->path);
    pbuf_append(&b, w->path, wlen);
    if (wlen > 0 && w->path[wlen - 1] == '/' && *rest == '/')
        rest++;
    put_encoded(&b, rest);
    if (r->query != NULL) {
        pbuf_append(&b, "?", 1);
        pbuf_puts(&b, r->query);
    }
    pbuf_puts(&b, " HTTP/1.1\r\nHost: ");
    pbuf_puts(&b, pc->preserve_host && r->host != NULL ? r->host : w->hostport);
    pbuf_puts(&b, "\r\n");

    for (int i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        enum proxy_hdr kind = proxy_header_kind(h->name);
        if (proxy_hop_by_hop(kind, h->name, connection) || kind == PROXY_HDR_HOST ||
            kind == PROXY_HDR_CONTENT_LENGTH || kind == PROXY_HDR_EXPECT)
            continue;
        if (pc->add_headers && kind == PROXY_HDR_X_FORWARDED)
            continue; /* merged below */
        if (kind == PROXY_HDR_VIA && pc->via != PROXY_VIA_OFF)
            continue;
        put_header(&b, h->name, h->value);
    }
    if (pc->add_headers) {
        char peer[HTTP_PEER_TEXT];
        put_merged(&b, r, "X-Forwarded-For", http_peer_text(r, peer));
        if (r->host != NULL)
            put_merged(&b, r, "X-Forwarded-Host", r->host);
        if (r->vhost != NULL && r->vhost->hostname != NULL)
            put_merged(&b, r, "X-Forwarded-Server", r->vhost->hostname);
    }
    if (pc->via == PROXY_VIA_ON || pc->via == PROXY_VIA_FULL) {
        const char *name = r->vhost != NULL && r->vhost->hostname != NULL ? r->vhost->hostname : "-";
        char *via = pool_printf(r->pool, "%d.%d %s%s", r->version_major, r->version_minor, name,
                                pc->via == PROXY_VIA_FULL ? " (" SERVER_SOFTWARE ")" : "");
        put_merged(&b, r, "Via", via != NULL ? via : "-");
    }
    if (r->chunked)
        pbuf_puts(&b, "Transfer-Encoding: chunked\r\n");
    else if (r->content_length > 0)
        pbuf_printf(&b, "Content-Length: %lld\r\n", r->content_length);
    if (w->disable_reuse)
        pbuf_puts(&b, "Connection: close\r\n");
    pbuf_puts(&b, "\r\n");
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
    pr->n_headers = 0; /* after a 1xx: the next head starts afresh */
    pr->in_value = 0;
    pr->line_bytes = 0;
    pbuf_clear(&pr->field);
    pbuf_clear(&pr->value);
    return 0;
}

static int add_header(struct proxy_resp *pr)
{
    const char *v = pr->value.p != NULL ? pr->value.p : "";
    if (memchr(v, '\r', pr->value.len) || memchr(v, '\n', pr->value.len) || strlen(v) != pr->value.len)
        return resp_fail(pr, "CR, LF or NUL in a response header value");
    if (pr->field.len == 0)
        return resp_fail(pr, "empty response header name");
    if (!pr->head_done) { /* trailers are dropped: the core ends the chunked body itself */
        if (pr->n_headers >= pr->limit_fields)
            return resp_fail(pr, "too many response header lines");
        if (pr->n_headers == pr->cap_headers) {
            int cap = pr->cap_headers ? pr->cap_headers * 2 : 16;
            struct http_header *h = pool_alloc(pr->pool, sizeof(*h) * (size_t)cap);
            if (h == NULL)
                return resp_fail(pr, "out of memory");
            if (pr->n_headers > 0)
                memcpy(h, pr->headers, sizeof(*h) * (size_t)pr->n_headers);
            pr->headers = h;
            pr->cap_headers = cap;
        }
        while (*v == ' ' || *v == '\t')
            v++;
        char *val = pool_strdup(pr->pool, v);
        char *name = pool_strdup(pr->pool, pr->field.p);
        if (val == NULL || name == NULL)
            return resp_fail(pr, "out of memory");
        size_t n = strlen(val);
        while (n > 0 && (val[n - 1] == ' ' || val[n - 1] == '\t'))
            val[--n] = '\0';
        pr->headers[pr->n_headers].name = name;
        pr->headers[pr->n_headers].value = val;
        pr->n_headers++;
    }
    pbuf_clear(&pr->field);
    pbuf_clear(&pr->value);
    pr->line_bytes = 0;
    pr->in_value = 0;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    struct proxy_resp *pr = resp_of(p);
    pr->line_bytes += n;
    if (pr->line_bytes > pr->limit_field)
        return resp_fail(pr, "response header line too long");
    return pbuf_append(&pr->field, at, n) < 0 ? resp_fail(pr, "out of memory") : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    struct proxy_resp *pr = resp_of(p);
    pr->line_bytes += n;
    if (pr->line_bytes > pr->limit_field)
        return resp_fail(pr, "response header line too long");
    pr->in_value = 1;
    return pbuf_append(&pr->value, at, n) < 0 ? resp_fail(pr, "out of memory") : 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    struct proxy_resp *pr = resp_of(p);
    if (pr->value.p == NULL && pbuf_append(&pr->value, "", 0) < 0)
        return resp_fail(pr, "out of memory");
    return add_header(pr);
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
    if (status < 200)
        return 0; /* an interim response: skipped, the final one follows */
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
    /* gathered at the start of the feed's buffer: llhttp never looks back at bytes it has passed */
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
    pr->field.pool = pr->value.pool = p;
    pr->limit_field = limit_field > 0 ? limit_field : 8190;
    pr->limit_fields = limit_fields > 0 ? limit_fields : 100;
    pr->length = -1;
    llhttp_init(&pr->parser, HTTP_RESPONSE, &resp_settings);
    pr->parser.data = pr;
    pr->head_request = head;
}

int proxy_resp_feed(struct proxy_resp *pr, char *buf, size_t n)
{
    pr->body_at = buf;
    pr->body_len = 0;
    if (pr->error != NULL)
        return -1;
    if (pr->complete) {
        pr->extra = 1;
        return 0;
    }
    llhttp_errno_t err = llhttp_execute(&pr->parser, buf, n);
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

int proxy_resp_reusable(const struct proxy_resp *pr)
{
    return pr->complete && !pr->extra && pr->error == NULL && llhttp_should_keep_alive(&pr->parser);
}
