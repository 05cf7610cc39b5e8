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

struct authz;
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

/*
 * What a handler that returns HANDLER_WAIT waits for. The core stays sans-I/O for the client; a handler that
 * talks to another server does its own non-blocking I/O on its own socket and asks the MPM, through the core,
 * to wake it when that socket is ready or the deadline passes.
 */
enum http_wait {
    HTTP_WAIT_TIMER,    /* nothing but wait_until (the delay handler) */
    HTTP_WAIT_READABLE, /* wait_fd readable, or wait_until */
    HTTP_WAIT_WRITABLE, /* wait_fd writable, or wait_until */
    HTTP_WAIT_BODY, /* more of the request body (http_req_body()), or its end; the core reads the client */
    HTTP_WAIT_NONE  /* nothing: a streaming handler with more at hand, called again once its piece is out */
};

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
    const char *target;   /* as received */
    const char *raw_path; /* its path as received (after an absolute-form's authority), raw_path_len
                             bytes, not NUL-terminated; NULL for "*" */
    size_t raw_path_len;
    const char *path;                  /* decoded, dot-segments removed, always starts with '/' */
    const char *query;                 /* after '?', without it; NULL if none */
    int version_major, version_minor;  /* as received: 1.2 and up are served as 1.1 (RFC 9110 2.5) */
    const char *request_line;          /* as received, without CRLF: for the access log */
    const struct authz *location_rule; /* the <Location>'s Require rule authz_check() applied; NULL: none */

    /* headers */
    struct http_header *headers;
    int n_headers;
    const char *host;         /* Host, or the authority of an absolute-form target */
    long long content_length; /* -1 if none */
    int chunked;
    /* A body the handler takes as it arrives (handler.stream_body): the core parses it into buf
     * (READ_BUF_SIZE bytes), only as fast as the handler takes it with http_req_body(). buf is NULL when the
     * body does not stream. */
    struct {
        char *buf;
        size_t off, len; /* [off, len) parsed and not yet taken */
        int complete;    /* the whole body has been parsed */
    } body_in;
    long long body_received;

    /* response, set by the handler through the calls below */
    int status;
    const char *reason; /* the status line's reason phrase, when not the core's for status (a proxy's) */
    int error_page;     /* the response is the server's own error page (http_resp_error()) */
    struct http_header *resp_headers;
    int n_resp_headers, cap_resp_headers;
    const char *content_type;
    struct body_seg *body, **body_tail;
    size_t body_len;    /* sum of segment lengths: the Content-Length */
    void *handler_data; /* for a handler that waits */

    /* HANDLER_WAIT: what the handler waits for before resume() is called (see enum http_wait) */
    enum http_wait wait_for; /* HTTP_WAIT_TIMER (the zero value), _READABLE, _WRITABLE or _BODY */
    int wait_fd;             /* for _READABLE and _WRITABLE: the handler's own socket */
    int64_t wait_until;      /* monotonic ms: resume() is called at the latest then */
    int wait_timed_out;      /* set by the core before resume(): the deadline passed, the wait did not end */
    int64_t now;             /* monotonic ms when the core calls the handler: the clock for its deadlines
                                (read once per event by the MPM, not per call) */

    /* a streamed response (http_resp_stream()): the head first, then the body as the handler gives it */
    int stream;              /* the response is streamed */
    long long stream_length; /* its Content-Length, or -1: chunked (HTTP/1.1) or close-delimited (1.0) */
    const char *stream_data; /* the next piece, set by http_resp_stream_data(), taken by the core */
    size_t stream_len;

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

/* Reason phrase of a status code ("Not Found"); "Unknown" for codes not registered. */
const char *http_reason(int status);

/* Sets the response status (with the core's reason phrase for it). */
void http_resp_status(struct request *r, int status);

/* Sets the status line's reason phrase, after http_resp_status(): printable bytes, spaces and tabs only, in
 * r->pool or static (a proxy relays its upstream's). An error response (http_resp_error()) forgets it. */
void http_resp_reason(struct request *r, const char *reason);

/* Adds a response header; both strings are copied into r->pool. Returns 0, or -1 when out of memory. */
int http_resp_header(struct request *r, const char *name, const char *value);

/* The same without copying: name and value must live as long as the request (in r->pool, or static). */
int http_resp_header_ref(struct request *r, const char *name, const char *value);

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

/*
 * Starts a streamed response: the status and headers set so far are the head, written as soon as the handler
 * returns; the body follows piece by piece (http_resp_stream_data()). `length` is the body's length when it
 * is known (sent as Content-Length), or -1: the core frames the body chunked for an HTTP/1.1 client and ends
 * the connection after it for HTTP/1.0. Returns 0.
 */
int http_resp_stream(struct request *r, long long length);

/*
 * The next piece of a streamed body. Not copied: it must stay valid until the handler is called again, which
 * happens only once the client has taken all of it (the backpressure: a handler never has to hold more than
 * one piece). A handler then returns HANDLER_WAIT to be called for the next piece, HANDLER_DONE after the
 * last one, or HANDLER_ABORT when the body cannot be completed (the connection is closed after this piece,
 * without a chunked terminator).
 */
void http_resp_stream_data(struct request *r, const void *data, size_t len);

/*
 * For a handler with `stream_body` set: copies up to `cap` bytes of the request body received so far
 * (de-chunked) into buf; what does not fit stays for the next call. Returns the count, 0 when nothing is
 * buffered now (return HANDLER_WAIT with HTTP_WAIT_BODY to be called when more arrives), or -1 when the body
 * has ended (or there is none).
 */
long long http_req_body(struct request *r, void *buf, size_t cap);

/* For the core: closes every file the response body refers to, once each. */
void http_resp_close_files(struct request *r);

#endif
