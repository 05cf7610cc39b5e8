/*
 * The raw client (see harness_client.h): blocking sockets with poll() for every wait, so that a server that
 * does not answer fails the test at its timeout instead of hanging it, and a parser that accepts only what
 * this server must send.
 */
#define HARNESS_IMPL
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- connections ---- */

static struct conn *open_with(int port, int nodelay)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct conn *c = calloc(1, sizeof(*c));

    cr_assert(c != NULL, "calloc() failed");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    hassert(c->fd != -1, "socket() failed: %s", strerror(errno));
    hassert(connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect(127.0.0.1:%d) failed: %s", port,
            strerror(errno));
    hassert(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, sizeof(nodelay)) == 0,
            "setsockopt() failed: %s", strerror(errno));
    return c;
}

struct conn *conn_open(int port)
{
    return open_with(port, 1);
}

struct conn *conn_open_nagle(int port)
{
    return open_with(port, 0);
}

void conn_send(struct conn *c, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        hassert(w > 0, "send() failed: %s", strerror(errno));
        p += w;
        len -= (size_t)w;
    }
}

void conn_send_str(struct conn *c, const char *s)
{
    conn_send(c, s, strlen(s));
}

int raw_connect(int port, int rcvbuf)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    hassert(fd != -1, "socket() failed: %s", strerror(errno));
    if (rcvbuf > 0)
        hassert(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) == 0, "SO_RCVBUF: %s",
                strerror(errno));
    hassert(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect(127.0.0.1:%d) failed: %s", port,
            strerror(errno));
    return fd;
}

void raw_send(int fd, const char *data)
{
    size_t len = strlen(data);
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

    hassert(n == (ssize_t)len, "send() of %zu bytes returned %zd: %s", len, n, strerror(errno));
}

int conn_fill(struct conn *c, int timeout_ms)
{
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int64_t deadline = now_ms() + timeout_ms;
    int r;

    if (c->eof)
        return 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        r = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == 0)
            return -1;
        break;
    }
    if (c->cap - c->len < 16384) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->buf = realloc(c->buf, c->cap + 1);
        cr_assert(c->buf != NULL, "realloc() failed");
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n == 0) {
        c->eof = 1;
        return 0;
    }
    if (n < 0) {
        c->err = errno;
        return -2;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    return (int)n;
}

void conn_close(struct conn *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c->buf);
    free(c);
}

/* ---- responses ---- */

static int is_tchar(int ch)
{
    return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* IMF-fixdate within a minute of now. */
static int valid_date(const char *v)
{
    struct tm tm = {0};
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);

    if (!end || *end || strlen(v) != 29)
        return 0;
    time_t t = timegm(&tm), now = time(NULL);
    return t > now - 60 && t < now + 60 && strcmp(http_date(t), v) == 0;
}

/* Position in the required order after Date and Server: handler headers, Content-Length, Content-Type,
 * Connection. */
static int header_rank(const char *name)
{
    if (strcasecmp(name, "Content-Length") == 0)
        return 1;
    if (strcasecmp(name, "Content-Type") == 0)
        return 2;
    if (strcasecmp(name, "Connection") == 0)
        return 3;
    return 0;
}

static int check_invariants(const struct resp *r, char *err, size_t errlen)
{
    int prev = 0;

    if (r->status < 200)
        return 0;
    if (r->n_headers < 2 || strcmp(r->names[0], "Date") != 0 || strcmp(r->names[1], "Server") != 0) {
        snprintf(err, errlen, "the first two headers must be Date and Server");
        return -1;
    }
    if (!valid_date(r->values[0])) {
        snprintf(err, errlen, "Date is not a current IMF-fixdate: \"%s\"", r->values[0]);
        return -1;
    }
    if (strcmp(r->values[1], SERVER_STRING) != 0) {
        snprintf(err, errlen, "Server is \"%s\", want \"%s\"", r->values[1], SERVER_STRING);
        return -1;
    }
    for (int i = 0; i < r->n_headers; i++) {
        for (int j = 0; j < i; j++) {
            if (strcasecmp(r->names[i], r->names[j]) == 0) {
                snprintf(err, errlen, "header %s appears twice", r->names[i]);
                return -1;
            }
        }
        if (i < 2)
            continue;
        int rank = header_rank(r->names[i]);
        if (rank < prev || (rank == 0 && prev != 0)) {
            snprintf(
                err, errlen,
                "header %s out of order (want Date, Server, handler headers, Content-Length, Content-Type, "
                "Connection)",
                r->names[i]);
            return -1;
        }
        prev = rank;
    }
    const char *conn = resp_get(r, "Connection");
    if (conn && strcmp(conn, "close") != 0 && strcmp(conn, "keep-alive") != 0) {
        snprintf(err, errlen, "Connection: %s", conn);
        return -1;
    }
    if (r->status != 304 && !resp_get(r, "Content-Length")) {
        snprintf(err, errlen, "no Content-Length");
        return -1;
    }
    if (resp_get(r, "Transfer-Encoding")) {
        snprintf(err, errlen, "unexpected Transfer-Encoding");
        return -1;
    }
    return 0;
}

/* Frees what r holds and empties it. */
void resp_clear(struct resp *r)
{
    for (int i = 0; i < r->n_headers; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->head);
    free(r->norm);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

void resp_free(struct resp *r)
{
    if (!r)
        return;
    resp_clear(r);
    free(r);
}

const char *resp_get(const struct resp *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++) {
        if (strcasecmp(r->names[i], name) == 0)
            return r->values[i];
    }
    return NULL;
}

int resp_parse(const char *buf, size_t len, int no_body, struct resp *r, size_t *used, char *err,
               size_t errlen)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4), *p, *eol;
    size_t head_len;
    long long clen = 0;

    memset(r, 0, sizeof(*r));
    if (!end) {
        if (len > 65536) {
            snprintf(err, errlen, "no end of headers in %zu bytes", len);
            return -1;
        }
        if (len >= 9 && memcmp(buf, "HTTP/1.1 ", 9) != 0) {
            snprintf(err, errlen, "does not start with \"HTTP/1.1 \"");
            return -1;
        }
        return 0;
    }
    head_len = (size_t)(end - buf) + 4;

    /* status line */
    eol = memmem(buf, head_len, "\r\n", 2);
    if (eol - buf < 13 || memcmp(buf, "HTTP/1.1 ", 9) != 0 || !isdigit((unsigned char)buf[9]) ||
        !isdigit((unsigned char)buf[10]) || !isdigit((unsigned char)buf[11]) || buf[12] != ' ' ||
        eol - buf == 13 || (size_t)(eol - buf - 13) >= sizeof(r->reason)) {
        snprintf(err, errlen, "bad status line");
        return -1;
    }
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    memcpy(r->reason, buf + 13, (size_t)(eol - buf - 13));
    if (memchr(buf, '\n', (size_t)(eol - buf)) || memchr(buf, '\0', (size_t)(eol - buf))) {
        snprintf(err, errlen, "bad status line");
        goto fail;
    }

    /* header fields: "Name: value\r\n", exactly one space, no surrounding whitespace */
    for (p = eol + 2; p < end + 2; p = eol + 2) {
        eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
        const char *colon = memchr(p, ':', (size_t)(eol - p)), *q;
        if (!colon || colon == p || colon + 1 >= eol || colon[1] != ' ' || colon + 2 == eol ||
            isspace((unsigned char)colon[2]) || isspace((unsigned char)eol[-1])) {
            char *e = escape(p, (size_t)(eol - p));
            snprintf(err, errlen, "bad header line \"%s\"", e);
            free(e);
            goto fail;
        }
        for (q = p; q < colon; q++) {
            if (!is_tchar((unsigned char)*q)) {
                snprintf(err, errlen, "bad header name");
                goto fail;
            }
        }
        for (q = colon + 2; q < eol; q++) {
            if (*q == '\n' || *q == '\r' || *q == '\0') {
                snprintf(err, errlen, "bare CR, LF or NUL in a header value");
                goto fail;
            }
        }
        if (r->n_headers == 64) {
            snprintf(err, errlen, "more than 64 headers");
            goto fail;
        }
        r->names[r->n_headers] = strndup(p, (size_t)(colon - p));
        r->values[r->n_headers] = strndup(colon + 2, (size_t)(eol - colon - 2));
        r->n_headers++;
    }

    /* framing */
    const char *cl = resp_get(r, "Content-Length");
    if (cl) {
        char *cend;
        errno = 0;
        clen = strtoll(cl, &cend, 10);
        if (!isdigit((unsigned char)cl[0]) || *cend || errno || clen < 0) {
            snprintf(err, errlen, "bad Content-Length \"%s\"", cl);
            goto fail;
        }
    }
    if (check_invariants(r, err, errlen) == -1)
        goto fail;
    if (no_body || r->status < 200 || r->status == 204 || r->status == 304)
        clen = 0;
    if (len - head_len < (size_t)clen) {
        resp_clear(r);
        return 0;
    }

    r->head = strndup(buf, head_len);
    r->head_len = head_len;
    r->body = malloc((size_t)clen + 1);
    cr_assert(r->head && r->body, "malloc() failed");
    memcpy(r->body, buf + head_len, (size_t)clen);
    r->body[clen] = '\0';
    r->body_len = (size_t)clen;
    if (r->status >= 200) {
        r->norm = xasprintf("%.*s" DATE_PLACEHOLDER "%s", (int)(strstr(r->head, "\r\nDate: ") + 8 - r->head),
                            r->head, strstr(r->head, "\r\nDate: ") + 8 + strlen(r->values[0]));
    } else {
        r->norm = strdup(r->head);
    }
    *used = head_len + (size_t)clen;
    return 1;

fail:
    resp_clear(r);
    return -1;
}

int resp_read(struct conn *c, int no_body, int timeout_ms, struct resp *r, char *err, size_t errlen)
{
    int64_t deadline = now_ms() + timeout_ms;
    char perr[512];

    for (;;) {
        size_t used = 0;
        int rc = resp_parse(c->buf ? c->buf : "", c->len, no_body, r, &used, perr, sizeof(perr));

        if (rc == 1) {
            memmove(c->buf, c->buf + used, c->len - used);
            c->len -= used;
            return 0;
        }
        if (rc == -1) {
            char *e = escape(c->buf, c->len);
            snprintf(err, errlen, "invalid response (%s): %s", perr, e);
            free(e);
            return -1;
        }
        int64_t left = deadline - now_ms();
        int n = c->eof ? 0 : conn_fill(c, left > 0 ? (int)left : 0);
        if (n > 0)
            continue;
        char *e = escape(c->buf ? c->buf : "", c->len);
        if (n == 0)
            snprintf(err, errlen, "connection closed by the server after %zu bytes of a response: \"%s\"",
                     c->len, e);
        else if (n == -1)
            snprintf(err, errlen, "no complete response within %d ms; got %zu bytes: \"%s\"", timeout_ms,
                     c->len, e);
        else
            snprintf(err, errlen, "recv() failed: %s after %zu bytes: \"%s\"", strerror(c->err), c->len, e);
        free(e);
        return -1;
    }
}

/* resp_read() that fails the test, its message led by `what` unless it is empty. */
static struct resp *read_or_fail(struct conn *c, int no_body, int timeout_ms, const char *what)
{
    struct resp *r = calloc(1, sizeof(*r));
    char err[8192];

    cr_assert(r != NULL, "calloc() failed");
    if (resp_read(c, no_body, timeout_ms, r, err, sizeof(err)) == -1)
        hfail("%s%s%s", what, what[0] ? ": " : "", err);
    return r;
}

struct resp *must_read(struct conn *c, int no_body)
{
    return read_or_fail(c, no_body, 5000, "");
}

struct resp *must_read_within(struct conn *c, int timeout_ms, const char *fmt, ...)
{
    char what[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return read_or_fail(c, 0, timeout_ms, what);
}

struct resp *exchange(struct conn *c, const char *raw)
{
    conn_send_str(c, raw);
    return must_read(c, strncmp(raw, "HEAD ", 5) == 0);
}

int exchange_status(struct conn *c, const char *raw)
{
    struct resp *r = exchange(c, raw);
    int status = r->status;

    resp_free(r);
    return status;
}

void expect_status(struct conn *c, const char *raw, int status)
{
    int got = exchange_status(c, raw);

    hassert(got == status, "%.*s: status %d, want %d", (int)strcspn(raw, "\r\n"), raw, got, status);
}

struct resp *request_once(const struct srv *s, const char *raw, struct conn **out)
{
    struct conn *c = conn_open(s->port);
    struct resp *r = exchange(c, raw);

    if (out)
        *out = c;
    else
        conn_close(c);
    return r;
}
