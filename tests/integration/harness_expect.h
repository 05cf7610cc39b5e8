/*
 * Expectations (harness_expect.c): the exact bytes responses must have, built from tests/http_status.h
 * (reason phrases, which statuses close the connection), compared byte for byte after the Date value was
 * replaced by DATE_PLACEHOLDER. Included through harness.h.
 */
#ifndef HTTPD_TEST_HARNESS_EXPECT_H
#define HTTPD_TEST_HARNESS_EXPECT_H

#include <stddef.h>
#include <stdint.h>

#define HTML_ERROR_TYPE "text/html; charset=utf-8"
#define ALLOW_STATIC    "GET, HEAD, OPTIONS"

struct conn;
struct resp;
struct srv;

/* "HTTP/1.1 S R\r\nDate: <DATE>\r\nServer: ...\r\n" + handler_headers + Content-Length (if >= 0) +
 * Content-Type (if non-NULL) + Connection (if non-NULL) + "\r\n"; malloc'd. */
char *expect_head(int status, const char *handler_headers, long long content_length, const char *content_type,
                  const char *connection);

/* The standard reason phrase the server must use ("?" for a status it never sends). */
const char *reason_phrase(int status);

/* Whether the server must close the connection after a response with this status. */
int status_closes(int status);

/* The body of an error page (malloc'd). */
char *error_body(int status);

/* Asserts r is exactly the error page for status (handler_headers, Connection as given; HEAD: no body). */
void expect_error(const struct resp *r, int status, const char *handler_headers, const char *connection,
                  int head);

/* Asserts r is exactly the 200 response for htdocs/rel with the given body and type (Last-Modified from stat,
 * ETag as received but strong and quoted). */
void expect_static(const struct resp *r, const struct srv *s, const char *rel, const void *body, size_t len,
                   const char *content_type, const char *connection, int head);

/* expect_static() for one of the pages every server has: "index.html", "page.html" or "sub/index.html". */
void expect_file(const struct resp *r, const struct srv *s, const char *rel, const char *connection,
                 int head);

/* Reads the next response on c (head: one to a HEAD request) and asserts expect_file() of it. */
void expect_next_file(struct conn *c, const struct srv *s, const char *rel, const char *connection, int head);

/* Asserts expect_file() of r with Connection: close, then that the server closes c in an orderly way within
 * ms; frees r and c. */
void expect_last_file(struct resp *r, struct conn *c, const struct srv *s, const char *rel, int ms);

/* Asserts that r is the error page for status with Connection: close, then that the server closes c in an
 * orderly way; frees r and c. */
void expect_last_error(struct resp *r, struct conn *c, int status);

/* Reads the next response on c (one to a GET) and asserts expect_error() of it. */
void expect_next_error(struct conn *c, int status, const char *handler_headers, const char *connection);

/* Reads the static handler's 405 to a request with a body on c, then asserts that c carries a GET / as a
 * fresh connection would: the body was read exactly. */
void expect_body_consumed(struct conn *c, const struct srv *s);

/* A client with Nagle's algorithm on (conn_open_nagle()), nine times: on a new connection to port, step(c,
 * arg, 0), then on the same one step(c, arg, 1) (a used connection), each returning the ms from its first
 * write to its answer. Asserts that both medians are under 25 ms, well below the delayed-ACK timer (40 ms)
 * that a client holding a piece of its request for an ACK would wait out. */
void expect_nagle_not_held(int port, int64_t (*step)(struct conn *c, void *arg, int used), void *arg);

/* Sends raw on a new connection and asserts expect_file() of its answer; with Connection: close also the
 * orderly close that follows. */
void expect_served(const struct srv *s, const char *raw, const char *rel, const char *connection);

/* A new connection asks for /index.html with Connection: close and must get it whole within ms; returns how
 * long that took, connecting included. */
int64_t fresh_request(const struct srv *s, int ms);

/* Sends raw bytes on a new connection and asserts the error page for status with Connection: close, then an
 * orderly close. */
void expect_closing_error(const struct srv *s, const void *raw, size_t len, int status);

/* Asserts got equals want, showing both escaped on failure. */
void expect_bytes(const char *what, const void *got, size_t got_len, const void *want, size_t want_len);

/* Asserts that nothing comes on c for ms and that it stays open (the server holds the request); the message
 * is fmt, ... (who waits, and why) followed by what came: "closed", "an answer" or "an error". */
void expect_unanswered(struct conn *c, int ms, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Asserts the server closes the connection in an orderly way within timeout_ms, sending nothing more. */
void expect_closed(struct conn *c, int timeout_ms);

#endif
