/*
 * The HTTP side of the reverse proxy (Apache's mod_proxy_http), free of I/O: the request head sent upstream
 * (hop-by-hop headers removed, X-Forwarded-*, Via, the body re-framed), the upstream's response parsed by
 * llhttp in response mode (1xx skipped, trailers dropped, the head held to limits and refused when a value
 * carries CR, LF or NUL), its headers filtered for the client and its redirects rewritten (ProxyPassReverse).
 */
#ifndef HTTPD_PROXY_HTTP_H
#define HTTPD_PROXY_HTTP_H

#include <stddef.h>

#include <llhttp.h>

#include "http.h"
#include "pool.h"
#include "proxy_conf.h"

/* The header names the proxy treats apart, found by one comparison at most (by length first): a proxied
 * message's every header is looked up, so this replaces a dozen strcasecmp() per header. */
enum proxy_hdr {
    PROXY_HDR_OTHER,
    PROXY_HDR_HOP, /* hop-by-hop by itself: Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-* */
    PROXY_HDR_CONNECTION, /* hop-by-hop too, and names more of them */
    PROXY_HDR_HOST,
    PROXY_HDR_CONTENT_LENGTH,
    PROXY_HDR_EXPECT,
    PROXY_HDR_X_FORWARDED_FOR,
    PROXY_HDR_X_FORWARDED_HOST,
    PROXY_HDR_X_FORWARDED_SERVER,
    PROXY_HDR_VIA,
    PROXY_HDR_LOCATION,   /* Location, Content-Location, URI: rewritten by ProxyPassReverse */
    PROXY_HDR_SET_COOKIE, /* rewritten by ProxyPassReverseCookiePath and -Domain */
};

enum proxy_hdr proxy_header_kind(const char *name);

/* The same for the `len` bytes at name (which need not end with NUL). */
enum proxy_hdr proxy_header_kind_n(const char *name, size_t len);

/* Whether a header named `name`, of kind `kind` (proxy_header_kind()), is hop-by-hop on a message whose
 * Connection header is `connection` (may be NULL): the fixed ones and every name it lists. */
int proxy_hop_by_hop(enum proxy_hdr kind, const char *name, const char *connection);

/*
 * The request head for the upstream: request line with the upstream path (the path of w, pp's upstream or the
 * balancer member chosen, then the rest of r->path after `prefix`, percent-encoded again, then ?query), the
 * client's end-to-end headers, Host (the upstream's, or the client's with ProxyPreserveHost),
 * X-Forwarded-For/-Host/-Server (ProxyAddHeaders), Via (ProxyVia), and Content-Length or Transfer-Encoding:
 * chunked for the body r has. NULL when out of memory.
 */
char *proxy_request_head(const struct request *r, const struct proxy_conf *pc, const struct proxy_pass *pp,
                         const struct proxy_worker *w, size_t *len);

/* The URL pp maps r to, as <Proxy URL> sections match it: "http://" Host, the upstream path as in the
 * request head, ?query; "balancer://NAME/" and the rest of the path for a balancer. NULL when out of memory.
 */
char *proxy_target_url(const struct request *r, const struct proxy_pass *pp);

/*
 * ProxyPassReverse: when `value` (a Location, Content-Location or URI) starts with one of pc's upstream URLs,
 * the same with that part replaced by the client-facing URL (http://Host + path); else value itself.
 */
const char *proxy_reverse(struct pool *p, const struct proxy_conf *pc, const struct request *r,
                          const char *value);

/*
 * A Set-Cookie value with its Path and Domain rewritten as Apache's ProxyPassReverseCookiePath and
 * ProxyPassReverseCookieDomain do: the last `path=` (`domain=`) attribute, when it starts with a line's
 * upstream path (case-sensitive; a domain case-insensitive), is replaced whole by that line's public one; the
 * first such line wins. Unlike Apache, the cookie's own name=value is not taken for an attribute. value
 * itself when nothing changes or out of memory.
 */
const char *proxy_reverse_cookie(struct pool *p, const struct proxy_conf *pc, const char *value);

/* A header of the upstream's response head. */
struct proxy_resp_header {
    const char *name, *value; /* the value without leading and trailing whitespace */
    size_t name_len, value_len;
    enum proxy_hdr kind;
};

/* The upstream's response, parsed as it arrives. The usual head arrives in one read: its header names and
 * values are then taken where they are in the feed's buffer, and copied into the pool with one memcpy() when
 * the feed returns, instead of each piece on its own. */
struct proxy_resp {
    llhttp_t parser;
    struct pool *pool;
    size_t limit_field; /* longest header line */
    int limit_fields;   /* most header lines */
    int status;
    const char *reason; /* the final head's reason phrase (in the pool), or NULL: empty, or not printable */
    const char *rspan;  /* the reason phrase being read, where it is in the feed's buffer, or gathered: */
    size_t rlen;
    struct pbuf reason_buf;
    struct proxy_resp_header *headers; /* of the final (non-1xx) head; in the pool, NUL-terminated */
    int n_headers, cap_headers;
    int settled;        /* headers[0, settled) are in the pool; the others still in the feed's buffer */
    int has_connection; /* one of the headers is a Connection header */
    const char *fspan;  /* the field (name) being read, where it is in the feed's buffer ... */
    size_t flen;
    const char *vspan; /* ... and its value */
    size_t vlen;
    struct pbuf field, value; /* ... or, begun in an earlier feed, gathered here */
    size_t line_bytes;
    int head_request; /* the response to a HEAD: no body */
    int head_done;    /* the final head has been parsed */
    int complete;     /* the whole response has been parsed */
    int extra;        /* bytes followed the response: the connection is not reusable */
    long long length; /* Content-Length, or -1 */
    int chunked;
    const char *error; /* why the response is invalid (502) */
    char *body_at;     /* the body bytes of the last feed, gathered at the start of its buffer */
    size_t body_len;
};

/* Ready to parse the response to a request (`head`: to a HEAD request, so it has no body). */
void proxy_resp_init(struct proxy_resp *pr, struct pool *p, int head, size_t limit_field, int limit_fields);

/*
 * Parses n bytes at buf. Body bytes are gathered where the first of them is in buf (the chunk framing
 * removed; the head's bytes before them are left alone) and given as pr->body_at/body_len. Returns 0, or -1
 * when the response is invalid (pr->error says why).
 */
int proxy_resp_feed(struct proxy_resp *pr, char *buf, size_t n);

/* The upstream closed: returns 0 when that ends the response (a body read to the close), -1 if truncated. */
int proxy_resp_eof(struct proxy_resp *pr);

/* Whether the response header h (of pr's head) is hop-by-hop: by itself, or named by a Connection header. */
int proxy_resp_hop_by_hop(const struct proxy_resp *pr, const struct proxy_resp_header *h);

/* Whether the upstream connection may carry another request after this complete response. */
int proxy_resp_reusable(const struct proxy_resp *pr);

#endif
