/*
 * A request as handlers see it, and the calls with which they build the response. The core (http_conn.c)
 * parses the request into this structure, picks the handler, and turns what the handler set into bytes:
 * status line, Date/Server/Content-Length/Connection headers, body segments (memory or file ranges for
 * sendfile()).
 */
#ifndef HTTPD_HTTP_H
#define HTTPD_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct pool;
struct server;
struct vhost;
struct http_conn;

/* Methods the server knows; any other (CONNECT, WebDAV, unknown tokens) is answered 501. Bits for
 * struct handler.methods. */
enum http_method {
    METHOD_GET = 0,
    METHOD_HEAD,
    METHOD_POST,
    METHOD_PUT,
    METHOD_DELETE,
    METHOD_OPTIONS,
    METHOD_TRACE,
    METHOD_PATCH,
    METHOD_COUNT
};
#define HTTP_M(m) (1u << (m))

struct http_header {
    const char *name;
    const char *value; /* leading and trailing whitespace removed */
};

/* One piece of the response body: bytes in memory, or a range of a file sent with sendfile(). */
struct body_seg {
    const char *data; /* NULL for a file range */
    int fd;           /* for a file range; owned by the request, closed at its end */
    off_t off;
    size_t len;
    struct body_seg *next;
};

struct request {
    struct pool *pool;           /* freed when the request ends */
    const struct server *server; /* what is server-wide: limits, timeouts, MPM */
    const struct vhost *vhost;   /* the server that serves it (main or a <VirtualHost>): DocumentRoot, logs,
                                    <Location>s; chosen by the connection's address, then by Host */
    struct http_conn *conn;

    /* the client, for the access log and access control (copied from the connection) */
    int peer_family;             /* AF_INET, AF_INET6, or 0 when unknown */
    unsigned char peer_addr[16]; /* 4 or 16 bytes in network order */
    int peer_local;              /* it connected from the address it connected to (the server's own) */

    /* request line */
    enum http_method method;
    const char *method_name;
    const char *target;               /* as received */
    const char *path;                 /* decoded, dot-segments removed, always starts with '/' */
    const char *query;                /* after '?', without it; NULL if none */
    int version_major, version_minor; /* as received: 1.2 and up are served as 1.1 (RFC 9110 2.5) */
    const char *request_line;         /* as received, without CRLF: for the access log */

    /* headers */
    struct http_header *headers;
    int n_headers;
    const char *host;         /* Host, or the authority of an absolute-form target */
    long long content_length; /* -1 if none */
    int chunked;
    long long body_received;

    /* response, set by the handler through the calls below */
    int status;
    struct http_header *resp_headers;
    int n_resp_headers, cap_resp_headers;
    const char *content_type;
    struct body_seg *body, **body_tail;
    size_t body_len;    /* sum of segment lengths: the Content-Length */
    int64_t wait_until; /* HANDLER_WAIT: monotonic ms at which resume() is called */
    void *handler_data; /* for a handler that waits */

    /* accounting, for the access log */
    time_t start_time;
    int64_t start_ms;
    size_t bytes_sent; /* body bytes actually written */
};

/* The client's address as text into buf (at least HTTP_PEER_TEXT bytes); "-" when unknown. Returns buf. */
#define HTTP_PEER_TEXT 46
const char *http_peer_text(const struct request *r, char *buf);

/* Returns the value of the first header named `name` (case-insensitive), or NULL. */
const char *http_header_get(const struct request *r, const char *name);

/* Reason phrase of a status code ("Not Found"); "Unknown" for codes the server does not use. */
const char *http_reason(int status);

/* Sets the response status. */
void http_resp_status(struct request *r, int status);

/* Adds a response header; both strings are copied into r->pool. Returns 0, or -1 when out of memory. */
int http_resp_header(struct request *r, const char *name, const char *value);

/* Sets the Content-Type (copied). */
int http_resp_content_type(struct request *r, const char *type);

/* Appends bytes to the body. They are not copied: they must live in r->pool or be static. */
int http_resp_body_mem(struct request *r, const void *data, size_t len);

/* Appends `len` bytes of fd from `off`. The request owns fd from the first call and closes it when it ends.
 */
int http_resp_body_file(struct request *r, int fd, off_t off, size_t len);

/* Makes the response an error page: status and short HTML body, resetting anything the handler had set. (The
 * core closes the connection after the statuses where the framing is in doubt: 400, 408, 413, 414, 417, 431,
 * 500, 501, 505.) */
int http_resp_error(struct request *r, int status);

/* For the core: closes every file the response body refers to, once each. */
void http_resp_close_files(struct request *r);

#endif
