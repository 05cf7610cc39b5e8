/*
 * The raw client (harness_client.c): connections to 127.0.0.1 over plain sockets, and a strict reader of
 * responses. Every response read through resp_read()/exchange() is first checked for what all responses share
 * (status line "HTTP/1.1 NNN Reason", Date first, Server second, then handler headers, then Content-Length,
 * Content-Type and Connection, framing by Content-Length). Included through harness.h.
 */
#ifndef HTTPD_TEST_HARNESS_CLIENT_H
#define HTTPD_TEST_HARNESS_CLIENT_H

#include <stddef.h>

#define SERVER_STRING    "httpd/0.1.0"
#define DATE_PLACEHOLDER "<DATE>"

struct srv;

struct conn {
    int fd;
    char *buf; /* received and not yet consumed */
    size_t len, cap;
    int eof; /* the server closed (read returned 0) */
    int err; /* errno of a failed read (ECONNRESET) */
};

struct resp {
    int status;
    char reason[64];
    int n_headers;
    char *names[64], *values[64];
    char *head; /* status line and headers, up to and including the empty line */
    size_t head_len;
    char *norm; /* head with the Date value replaced by DATE_PLACEHOLDER */
    char *body;
    size_t body_len;
};

/* Connects to 127.0.0.1:port with TCP_NODELAY (asserts). */
struct conn *conn_open(int port);
/* The same without TCP_NODELAY: a client with Nagle's algorithm on, which holds a small write until its last
 * one is acknowledged. */
struct conn *conn_open_nagle(int port);
void conn_send(struct conn *c, const void *data, size_t len);
void conn_send_str(struct conn *c, const char *s);
/* A blocking socket connected to 127.0.0.1:port without the per-connection buffer, light enough for
 * thousands; rcvbuf > 0 sets SO_RCVBUF before connecting (asserts). */
int raw_connect(int port, int rcvbuf);
/* Sends all of data on a raw socket in one send() (asserts). */
void raw_send(int fd, const char *data);

/* Reads what is available within timeout_ms: >0 bytes added, 0 EOF, -1 timeout, -2 error (c->err). */
int conn_fill(struct conn *c, int timeout_ms);
void conn_close(struct conn *c);

/*
 * Parses one response from buf. no_body: the request was HEAD. Returns 1 with *used set, 0 if more bytes are
 * needed, -1 with err if the bytes are not a valid response or break the invariants described above.
 */
int resp_parse(const char *buf, size_t len, int no_body, struct resp *r, size_t *used, char *err,
               size_t errlen);

/* Reads one response from c within timeout_ms; 0, or -1 with err. */
int resp_read(struct conn *c, int no_body, int timeout_ms, struct resp *r, char *err, size_t errlen);

/* resp_read() that fails the test on error (5 s timeout). */
struct resp *must_read(struct conn *c, int no_body);

/* must_read() of a response to a GET within timeout_ms; a failure message starts with the printf-style
 * fmt, ... (the situation: "the waiting client"). */
struct resp *must_read_within(struct conn *c, int timeout_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends raw request bytes and reads one response (HEAD inferred from the bytes). */
struct resp *exchange(struct conn *c, const char *raw);

/* exchange() that returns only the status (the response is freed). */
int exchange_status(struct conn *c, const char *raw);

/* exchange() that asserts the status of the response (the message names the request line). */
void expect_status(struct conn *c, const char *raw, int status);

/* Opens a connection, exchanges one request, returns the response; *out gets the connection or it is closed.
 */
struct resp *request_once(const struct srv *s, const char *raw, struct conn **out);

/* The value of header `name` (case-insensitive), or NULL. */
const char *resp_get(const struct resp *r, const char *name);
void resp_free(struct resp *r);
/* Frees what a parsed response holds (a struct resp on the stack, say) and empties it. */
void resp_clear(struct resp *r);

/* The 1 KiB page of the test docroot, on a kept-alive connection or asking the server to close it. */
#define PAGE_KEEPALIVE "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define PAGE_CLOSE     "GET /page.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

#endif
