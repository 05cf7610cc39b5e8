/*
 * The handler-facing half of the core: header lookup, reason phrases, and the calls that build a response.
 * A response is a status, a list of headers and a list of body segments; http_conn.c serialises it.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "http.h"
#include "pool.h"
#include "util.h"

_Static_assert(HTTP_PEER_TEXT >= INET6_ADDRSTRLEN, "HTTP_PEER_TEXT holds any address");

const char *http_peer_text(const struct request *r, char *buf)
{
    if (r->peer_family == AF_INET) {
        /* written directly: inet_ntop() costs more than the rest of an access log line; and the last
         * address kept per thread, as the same clients come again and again (X-Forwarded-For of each
         * proxied request) */
        static __thread unsigned char last[4];
        static __thread char text[16];
        static __thread size_t text_len;
        if (text_len == 0 || memcmp(last, r->peer_addr, 4) != 0) {
            char *p = text;
            for (int i = 0; i < 4; i++) {
                if (i > 0)
                    *p++ = '.';
                p += util_utoa(p, r->peer_addr[i]);
            }
            text_len = (size_t)(p - text);
            memcpy(last, r->peer_addr, 4);
        }
        memcpy(buf, text, text_len + 1);
        return buf;
    }
    if (r->peer_family == 0 || inet_ntop(r->peer_family, r->peer_addr, buf, HTTP_PEER_TEXT) == NULL)
        strcpy(buf, "-");
    return buf;
}

const char *http_header_get(const struct request *r, const char *name)
{
    /* the first letters compared inline: most lookups (the static handler's five) find no such header, and
     * a call of strcasecmp() per header each time cost more than the rest of the lookup */
    unsigned char first = (unsigned char)name[0] | 0x20; /* ASCII letters to lower case; a filter only */
    for (int i = 0; i < r->n_headers; i++)
        if (((unsigned char)r->headers[i].name[0] | 0x20) == first &&
            strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

const char *http_reason(int status)
{
    /* RFC 9110 section 15, and the other codes of the IANA registry in use */
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 102:
        return "Processing";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 208:
        return "Already Reported";
    case 226:
        return "IM Used";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 506:
        return "Variant Also Negotiates";
    case 507:
        return "Insufficient Storage";
    case 508:
        return "Loop Detected";
    case 510:
        return "Not Extended";
    case 511:
        return "Network Authentication Required";
    default:
        return "Unknown";
    }
}

void http_resp_status(struct request *r, int status)
{
    r->status = status;
    r->reason = NULL;
}

void http_resp_reason(struct request *r, const char *reason)
{
    r->reason = reason;
}

/* The next free response header, the array grown in the pool when full; NULL when out of memory. */
static struct http_header *resp_header_slot(struct request *r)
{
    if (r->n_resp_headers == r->cap_resp_headers) {
        int cap = r->cap_resp_headers ? r->cap_resp_headers * 2 : 8;
        struct http_header *h = pool_alloc(r->pool, sizeof(*h) * (size_t)cap);
        if (h == NULL)
            return NULL;
        if (r->n_resp_headers > 0)
            memcpy(h, r->resp_headers, sizeof(*h) * (size_t)r->n_resp_headers);
        r->resp_headers = h;
        r->cap_resp_headers = cap;
    }
    return &r->resp_headers[r->n_resp_headers];
}

int http_resp_header(struct request *r, const char *name, const char *value)
{
    struct http_header *h = resp_header_slot(r);
    if (h == NULL)
        return -1;
    h->name = pool_strdup(r->pool, name);
    h->value = pool_strdup(r->pool, value);
    if (h->name == NULL || h->value == NULL)
        return -1;
    r->n_resp_headers++;
    return 0;
}

int http_resp_header_ref(struct request *r, const char *name, const char *value)
{
    struct http_header *h = resp_header_slot(r);
    if (h == NULL)
        return -1;
    h->name = name;
    h->value = value;
    r->n_resp_headers++;
    return 0;
}

int http_resp_content_type(struct request *r, const char *type)
{
    r->content_type = type != NULL ? pool_strdup(r->pool, type) : NULL;
    return type != NULL && r->content_type == NULL ? -1 : 0;
}

static int append_seg(struct request *r, const char *data, int fd, off_t off, size_t len)
{
    struct body_seg *seg = pool_alloc(r->pool, sizeof(*seg));
    if (seg == NULL)
        return -1;
    seg->data = data;
    seg->fd = fd;
    seg->off = off;
    seg->len = len;
    seg->next = NULL;
    if (r->body_tail == NULL)
        r->body_tail = &r->body;
    *r->body_tail = seg;
    r->body_tail = &seg->next;
    r->body_len += len;
    return 0;
}

int http_resp_body_mem(struct request *r, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    return append_seg(r, data, -1, 0, len);
}

long long http_req_body(struct request *r, void *buf, size_t cap)
{
    if (r->body_in.buf == NULL)
        return -1;
    size_t n = r->body_in.len - r->body_in.off;
    if (n == 0)
        return r->body_in.complete ? -1 : 0;
    if (n > cap)
        n = cap;
    memcpy(buf, r->body_in.buf + r->body_in.off, n);
    r->body_in.off += n;
    return (long long)n;
}

int http_resp_stream(struct request *r, long long length)
{
    r->stream = 1;
    r->stream_length = length;
    r->stream_data = NULL;
    r->stream_len = 0;
    return 0;
}

void http_resp_stream_data(struct request *r, const void *data, size_t len)
{
    r->stream_data = data;
    r->stream_len = len;
}

/* The request closes each distinct fd once, at its end (http_conn.c walks the segments). */
int http_resp_body_file(struct request *r, int fd, off_t off, size_t len)
{
    return append_seg(r, NULL, fd, off, len);
}

/* Segments of a multipart/byteranges body share one fd: each distinct fd is closed once. */
void http_resp_close_files(struct request *r)
{
    int last = -1;
    for (struct body_seg *seg = r->body; seg != NULL; seg = seg->next) {
        if (seg->data != NULL || seg->fd < 0 || seg->fd == last)
            continue;
        int fd = seg->fd;
        /* forget later references to the same fd before closing it */
        for (struct body_seg *t = seg; t != NULL; t = t->next)
            if (t->data == NULL && t->fd == fd)
                t->fd = -1;
        close(fd);
        last = fd;
    }
}

int http_resp_error(struct request *r, int status)
{
    const char *reason = http_reason(status);

    http_resp_close_files(r);
    r->status = status;
    r->reason = NULL;
    r->error_page = 1;
    r->n_resp_headers = 0;
    r->body = NULL;
    r->body_tail = &r->body;
    r->body_len = 0;
    r->stream = 0;
    r->stream_len = 0;
    r->content_type = "text/html; charset=utf-8";
    char *page = pool_printf(r->pool,
                             "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>\n"
                             "<body><h1>%s</h1></body></html>\n",
                             status, reason, reason);
    if (page == NULL)
        return -1;
    return http_resp_body_mem(r, page, strlen(page));
}
