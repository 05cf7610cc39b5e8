/*
 * The reverse proxy handler ("proxy-server", Apache's mod_proxy with mod_proxy_http): the request goes to the
 * upstream its ProxyPass names, the response streams back. Three things kept apart, as Apache keeps them:
 * the connections (proxy_pool.c), the protocol (proxy_http.c) and the waits, which are the core's: this
 * handler never blocks; whenever its upstream socket would, it returns HANDLER_WAIT with that socket, and the
 * MPM calls it again when the socket is ready (prefork/worker poll it, event's reactor watches it).
 *
 *   CONNECT   -> a pooled connection, or a non-blocking connect() (wait writable, connectiontimeout=)
 *   SEND      -> the request head; BODY -> the request body, pulled from the core as the client sends it and
 *                re-framed (Content-Length as received, or chunked by us)
 *   HEAD      -> the response head (wait readable, timeout=), 1xx skipped; then the client's head
 *   RESPONSE  -> each read of the body is one piece for the client; the next read only once the client took
 *                it (the core asks), so a slow client holds the upstream back instead of filling memory
 *
 * Errors as Apache's: connect refused or failed -> 503 (and the upstream's error state for retry= seconds),
 * connect or response timeout -> 504, an invalid response head -> 502; once the client's head has gone, an
 * upstream failure closes the client connection without completing the body. Each is logged once, with the
 * upstream's address, the failing call and errno.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authz.h"
#include "handler.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "proxy.h"
#include "proxy_conf.h"
#include "proxy_http.h"
#include "proxy_pool.h"
#include "server.h"
#include "sockwatch.h"
#include "util.h"

#define PROXY_BUF  16384 /* one read of the response, one piece of the request body */
#define CHUNK_ROOM 20    /* room before a body piece for its chunk size line */
#define MODULE     "proxy"

enum px_phase { PX_CONNECT, PX_SEND, PX_BODY, PX_HEAD, PX_RESPONSE, PX_SPILL };

struct px {
    const struct proxy_conf *pc;  /* the settings of the request's server (vhost) */
    const struct proxy_conf *reg; /* the main server's, which number every upstream (pools, scoreboard) */
    const struct proxy_pass *pp;
    const struct proxy_worker *w;   /* the upstream: pp's, or the balancer member chosen */
    const struct proxy_balancer *b; /* pp's balancer, or NULL */
    unsigned long long tried;       /* members of b whose connect failed for this request */
    int counted;                    /* proxy_worker_begin() was called for w */
    unsigned long long sent_bytes;
    enum px_phase phase;
    int fd; /* the upstream connection; -1 when none */
    int reused, retried, body_done;
    char *head; /* the request head, kept for a retry */
    size_t head_len;
    const char *out; /* being sent: the head, a body piece, the last chunk */
    size_t out_len, out_off;
    char *buf;      /* PROXY_BUF, taken when the first body piece or response byte needs it */
    int head_wait;  /* waited for the response before taking buf */
    int full;       /* the last read filled buf: more may be waiting in the socket */
    int quick_acks; /* the upstream socket's quick ACKs were turned on for this response (px_recv()) */
    long long body_taken, resp_bytes;
    struct proxy_resp resp;

    /* ProxyBuffering On: the body is read ahead, into mem and then a temporary file, and sent once whole */
    int buffering; /* reading ahead: the client has been sent nothing yet */
    char *mem;     /* ProxyBufferSize bytes */
    size_t mem_len;
    int tmp_fd; /* -1 when none (or once the response owns it) */
    long long tmp_len;
    int spill; /* past the limits: 1 mem, 2 the file, 3 the last read, then streaming */
    long long spill_off;
    char *pending; /* the last read's body bytes, in buf */
    size_t pending_len;
    char *fbuf; /* the file is read back through it */
};

/* Logs one failure: the client, the call, the upstream and errno (0: `why` alone). */
static void px_log(const struct request *r, const struct px *px, const char *call, int err, const char *why)
{
    char peer[HTTP_PEER_TEXT];
    if (err != 0)
        log_error(LOG_ERR, MODULE, "[client %s] %s() to %s failed: %s, for %s %s", http_peer_text(r, peer),
                  call, px->w->addr_text, strerror(err), r->method_name, r->path);
    else
        log_error(LOG_ERR, MODULE, "[client %s] %s from %s, for %s %s", http_peer_text(r, peer), why,
                  px->w->addr_text, r->method_name, r->path);
}

static void px_close(struct px *px)
{
    if (px->fd >= 0)
        sockwatch_close(px->fd);
    px->fd = -1;
}

/* Ends the request with an error page (nothing has gone to the client yet). */
static enum handler_result px_error(struct request *r, struct px *px, int status)
{
    px_close(px);
    http_resp_error(r, status);
    return HANDLER_DONE;
}

static enum handler_result px_wait(struct request *r, struct px *px, enum http_wait what, int ms)
{
    r->wait_for = what;
    r->wait_fd = px->fd;
    r->wait_until = r->now + ms;
    return HANDLER_WAIT;
}

/* Once the client has taken the piece given, the next read: at once when the last one filled the buffer
 * (more may be there, which a socket watched edge-triggered, as the event MPM does, would not announce
 * again), else when the upstream socket is readable. */
static enum handler_result px_read_on(struct request *r, struct px *px)
{
    if (px->full) {
        r->wait_for = HTTP_WAIT_NONE;
        return HANDLER_WAIT;
    }
    return px_wait(r, px, HTTP_WAIT_READABLE, px->w->timeout);
}

static enum handler_result px_send(struct request *r, struct px *px);

static enum handler_result px_connect(struct request *r, struct px *px, int fresh);

/* Chooses the upstream: pp's, or a member of its balancer not tried yet and not in its error state. -1 if
 * none. */
static int px_choose(struct request *r, struct px *px)
{
    if (px->b == NULL) {
        px->w = px->pp->worker;
    } else {
        px->w = proxy_balancer_pick(px->reg, px->b, r->now, px->tried);
        if (px->w == NULL) {
            char peer[HTTP_PEER_TEXT];
            log_error(LOG_ERR, MODULE,
                      "[client %s] no member of %s is usable (all in their error state%s), for %s %s",
                      http_peer_text(r, peer), px->b->name, px->tried ? " or failed for this request" : "",
                      r->method_name, r->path);
            return -1;
        }
    }
    px->head = proxy_request_head(r, px->pc, px->pp, px->w, &px->head_len);
    return px->head != NULL ? 0 : -1;
}

/* A connect to px->w failed: its error state starts; a balancer's request goes to another member. */
static enum handler_result px_connect_failed(struct request *r, struct px *px, int status)
{
    proxy_worker_failed(px->reg, px->w, r->now);
    px_close(px);
    if (px->counted)
        proxy_worker_end(px->reg, px->w, 0, 0);
    px->counted = 0;
    if (px->b != NULL) {
        for (int i = 0; i < px->b->n_members && i < 64; i++)
            if (px->b->members[i] == px->w)
                px->tried |= 1ull << i;
        if (px_choose(r, px) == 0)
            return px_connect(r, px, 0);
    }
    return px_error(r, px, status);
}

/* A connection: from the pool unless `fresh`, else a new one. */
static enum handler_result px_connect(struct request *r, struct px *px, int fresh)
{
    px->fd = fresh ? -1 : proxy_pool_take(px->reg, px->w, r->now);
    px->reused = px->fd >= 0;
    if (!px->counted) {
        proxy_worker_begin(px->reg, px->w);
        px->counted = 1;
    }
    px->out = px->head;
    px->out_len = px->head_len;
    px->out_off = 0;
    px->resp_bytes = 0;
    px->quick_acks = 0;
    if (px->fd >= 0) {
        px->phase = PX_SEND;
        return px_send(r, px);
    }
    int pending;
    const char *call;
    px->fd = proxy_connect_start(px->w, &pending, &call);
    if (px->fd < 0) {
        px_log(r, px, call, errno, NULL);
        return px_connect_failed(r, px, 503);
    }
    if (pending) {
        px->phase = PX_CONNECT;
        return px_wait(r, px, HTTP_WAIT_WRITABLE, px->w->connect_timeout);
    }
    px->phase = PX_SEND;
    return px_send(r, px);
}

/* The request failed on a pooled connection the upstream had closed: once more on a new one, or the error. */
static enum handler_result px_retry_or(struct request *r, struct px *px, int status, const char *call,
                                       int err, const char *why)
{
    if (proxy_may_retry(px->reused, px->retried, r->method, px->body_taken, px->resp_bytes)) {
        log_error(LOG_DEBUG, MODULE, "pooled connection to %s closed by the upstream, retrying on a new one",
                  px->w->addr_text);
        px_close(px);
        px->retried = 1;
        return px_connect(r, px, 1);
    }
    px_log(r, px, call, err, why);
    return px_error(r, px, status);
}

static enum handler_result px_recv(struct request *r, struct px *px);

/* Sends what is pending, then the next piece of the body, until the upstream or the client makes it wait. */
static enum handler_result px_send(struct request *r, struct px *px)
{
    for (;;) {
        if (px->out_off < px->out_len) {
            ssize_t n = send(px->fd, px->out + px->out_off, px->out_len - px->out_off, MSG_NOSIGNAL);
            if (n > 0) {
                px->out_off += (size_t)n;
                px->sent_bytes += (unsigned long long)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return px_wait(r, px, HTTP_WAIT_WRITABLE, px->w->timeout);
            return px_retry_or(r, px, 502, "send", errno, NULL);
        }
        if (px->phase == PX_SEND) {
            px->phase = r->chunked || r->content_length > 0 ? PX_BODY : PX_HEAD;
            continue;
        }
        if (px->phase == PX_BODY && !px->body_done) {
            if (px->buf == NULL && (px->buf = pool_alloc_reused(r->pool, PROXY_BUF)) == NULL)
                return px_error(r, px, 500);
            char *data = px->buf + CHUNK_ROOM;
            long long n = http_req_body(r, data, PROXY_BUF - CHUNK_ROOM - 2);
            if (n == 0) {
                r->wait_for = HTTP_WAIT_BODY;
                return HANDLER_WAIT;
            }
            if (n < 0) {
                px->body_done = 1;
                if (r->chunked) {
                    px->out = "0\r\n\r\n";
                    px->out_len = 5;
                    px->out_off = 0;
                }
                continue;
            }
            px->body_taken += n;
            if (r->chunked) {
                /* the chunk size line just before the data, its CRLF just after: one send */
                char line[CHUNK_ROOM];
                int k = snprintf(line, sizeof(line), "%llx\r\n", n);
                memcpy(data - k, line, (size_t)k);
                memcpy(data + n, "\r\n", 2);
                px->out = data - k;
                px->out_len = (size_t)k + (size_t)n + 2;
            } else {
                px->out = data;
                px->out_len = (size_t)n;
            }
            px->out_off = 0;
            continue;
        }
        px->phase = PX_HEAD;
        proxy_resp_init(&px->resp, r->pool, r->method == METHOD_HEAD,
                        (size_t)r->server->limit_request_field_size, r->server->limit_request_fields);
        return px_recv(r, px);
    }
}

/* The client's head from the upstream's: its status, its end-to-end headers, redirects rewritten. The names
 * and values are the parser's, in the request's pool: given to the core as they are. With ProxyVia On or Full
 * our Via entry ends the upstream's last Via line ("1.1 app, 1.1 us"), as Apache merges it, else is a line of
 * its own. */
static int px_client_head(struct request *r, struct px *px)
{
    const struct proxy_resp *pr = &px->resp;
    const char *via = NULL;
    int via_at = -1; /* the upstream's last Via line that is passed on */
    if (px->pc->via == PROXY_VIA_ON || px->pc->via == PROXY_VIA_FULL) {
        via = pool_printf(r->pool, "1.1 %s%s", r->vhost->hostname != NULL ? r->vhost->hostname : "-",
                          px->pc->via == PROXY_VIA_FULL ? " (" SERVER_SOFTWARE ")" : "");
        if (via == NULL)
            return -1;
        for (int i = 0; i < pr->n_headers; i++)
            if (pr->headers[i].kind == PROXY_HDR_VIA && !proxy_resp_hop_by_hop(pr, &pr->headers[i]))
                via_at = i;
    }
    http_resp_status(r, pr->status);
    if (pr->reason != NULL) /* the upstream's own words, as Apache and nginx relay them */
        http_resp_reason(r, pr->reason);
    for (int i = 0; i < pr->n_headers; i++) {
        const struct proxy_resp_header *h = &pr->headers[i];
        const char *value = h->value;
        if (h->kind == PROXY_HDR_CONTENT_LENGTH || proxy_resp_hop_by_hop(pr, h))
            continue;
        if (h->kind == PROXY_HDR_VIA && px->pc->via == PROXY_VIA_BLOCK)
            continue;
        if (h->kind == PROXY_HDR_LOCATION)
            value = proxy_reverse(r->pool, px->pc, r, value);
        else if (h->kind == PROXY_HDR_SET_COOKIE)
            value = proxy_reverse_cookie(r->pool, px->pc, value);
        if (i == via_at && (value = pool_printf(r->pool, "%s, %s", value, via)) == NULL)
            return -1;
        if (http_resp_header_ref(r, h->name, value) < 0)
            return -1;
    }
    if (via != NULL && via_at < 0 && http_resp_header_ref(r, "Via", via) < 0)
        return -1;
    return 0;
}

/* The length the client's head announces for a streamed body: the upstream's, or -1 (chunked by the core). */
static long long px_length(const struct request *r, const struct px *px)
{
    return r->method == METHOD_HEAD ? px->resp.length : px->resp.chunked ? -1 : px->resp.length;
}

/* The response is complete: the connection goes back to the pool if it can carry another request. */
static enum handler_result px_done(struct request *r, struct px *px)
{
    if (proxy_resp_reusable(&px->resp) && !px->w->disable_reuse)
        proxy_pool_give(px->reg, px->w, px->fd, r->now);
    else
        sockwatch_close(px->fd);
    px->fd = -1;
    return HANDLER_DONE;
}

/* The body failed after its head: before the client got anything (read ahead) a 502, else the connection
 * closes. */
static enum handler_result px_body_failed(struct request *r, struct px *px)
{
    if (px->buffering)
        return px_error(r, px, 502);
    px_close(px);
    return HANDLER_ABORT;
}

/* Past the read-ahead limits: what was read ahead goes out piece by piece (memory, the file, the last read),
 * then the rest streams as without ProxyBuffering. */
static enum handler_result px_spill(struct request *r, struct px *px)
{
    px->phase = PX_SPILL;
    r->wait_for = HTTP_WAIT_NONE;
    if (px->spill == 1) {
        px->spill = 2;
        if (px->mem_len > 0) {
            http_resp_stream_data(r, px->mem, px->mem_len);
            return HANDLER_WAIT;
        }
    }
    if (px->spill == 2 && px->spill_off < px->tmp_len) {
        long long left = px->tmp_len - px->spill_off;
        ssize_t n = pread(px->tmp_fd, px->fbuf, left < PROXY_BUF ? (size_t)left : PROXY_BUF, px->spill_off);
        if (n <= 0) {
            log_error(LOG_ERR, MODULE, "pread() of a proxied response's temporary file failed: %s",
                      n < 0 ? strerror(errno) : "end of file");
            px_close(px);
            return HANDLER_ABORT;
        }
        px->spill_off += n;
        http_resp_stream_data(r, px->fbuf, (size_t)n);
        return HANDLER_WAIT;
    }
    px->spill = 0;
    px->phase = PX_RESPONSE;
    http_resp_stream_data(r, px->pending, px->pending_len);
    if (px->resp.complete)
        return px_done(r, px);
    return px_read_on(r, px);
}

/* Appends n bytes to the temporary file, made on first use. 0, or -1 (logged). */
static int px_tmp_write(struct px *px, const char *data, size_t n)
{
    if (px->tmp_fd < 0) {
        const char *dir = getenv("TMPDIR");
        px->tmp_fd = open(dir != NULL && *dir != '\0' ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (px->tmp_fd < 0) {
            log_error(LOG_ERR, MODULE, "open(O_TMPFILE) for a proxied response failed: %s", strerror(errno));
            return -1;
        }
    }
    while (n > 0) {
        ssize_t k = pwrite(px->tmp_fd, data, n, px->tmp_len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            log_error(LOG_ERR, MODULE, "write() to a proxied response's temporary file failed: %s",
                      k < 0 ? strerror(errno) : "nothing written");
            return -1;
        }
        data += k, n -= (size_t)k, px->tmp_len += k;
    }
    return 0;
}

/*
 * ProxyBuffering: keeps the body bytes of the last read. Returns 1 with *res when the handler returns: the
 * whole response was read (the upstream connection goes back to the pool and the client gets the body with a
 * Content-Length, memory and the file by sendfile()), or the limits were passed (the body streams from here,
 * what was read ahead first); 0 to read on.
 */
static int px_buffer(struct request *r, struct px *px, enum handler_result *res)
{
    const struct proxy_conf *pc = px->pc;
    const char *data = px->resp.body_at;
    size_t n = px->resp.body_len;
    if (px->mem == NULL && (px->mem = pool_alloc(r->pool, (size_t)pc->buffer_size)) == NULL) {
        *res = px_error(r, px, 500);
        return 1;
    }
    int fits = (long long)(px->mem_len + n) + px->tmp_len <= pc->buffer_size + pc->max_temp_file;
    if (fits) {
        size_t to_mem = (size_t)pc->buffer_size - px->mem_len;
        if (to_mem > n)
            to_mem = n;
        memcpy(px->mem + px->mem_len, data, to_mem);
        px->mem_len += to_mem;
        fits = to_mem == n || px_tmp_write(px, data + to_mem, n - to_mem) == 0;
    }
    if (!fits) {
        px->buffering = 0;
        px->fbuf = pool_alloc_reused(r->pool, PROXY_BUF);
        if (px->fbuf == NULL) {
            *res = px_error(r, px, 500);
            return 1;
        }
        http_resp_stream(r, px_length(r, px));
        px->pending = px->resp.body_at;
        px->pending_len = n;
        px->spill = 1;
        *res = px_spill(r, px);
        return 1;
    }
    if (!px->resp.complete)
        return 0;
    px->buffering = 0;
    if (px->fd >= 0)
        px_done(r, px); /* the upstream is free before the client has read a byte */
    if (http_resp_body_mem(r, px->mem, px->mem_len) < 0 ||
        (px->tmp_len > 0 && http_resp_body_file(r, px->tmp_fd, 0, (size_t)px->tmp_len) < 0)) {
        *res = px_error(r, px, 500);
        return 1;
    }
    if (px->tmp_len > 0)
        px->tmp_fd = -1; /* the response owns it now, and closes it */
    *res = HANDLER_DONE;
    return 1;
}

/* Reads the response: the head (then the client's head), then one piece of the body per call. */
static enum handler_result px_recv(struct request *r, struct px *px)
{
    if (px->buf == NULL) {
        /* a request waiting for its response holds no buffer yet: what waits under event costs bytes */
        if (!px->head_wait) {
            px->head_wait = 1;
            return px_wait(r, px, HTTP_WAIT_READABLE, px->w->timeout);
        }
        if ((px->buf = pool_alloc_reused(r->pool, PROXY_BUF)) == NULL)
            return px_error(r, px, 500);
    }
    for (;;) {
        ssize_t n = recv(px->fd, px->buf, PROXY_BUF, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* a part of the response came and the rest is late: an upstream with Nagle's algorithm on holds
             * its next small write until this one is acknowledged, which the kernel delays on a connection
             * that carries requests (40 ms): the ACK goes now, once a response */
            if (px->resp_bytes > 0 && !px->quick_acks) {
                px->quick_acks = 1;
                if (util_quick_acks(px->fd, 1) < 0)
                    log_error(LOG_DEBUG, MODULE, "setsockopt(TCP_QUICKACK) failed: %s", strerror(errno));
            }
            return px_wait(r, px, HTTP_WAIT_READABLE, px->w->timeout);
        }
        if (n < 0 || (n == 0 && px->phase == PX_HEAD)) {
            int err = n < 0 ? errno : 0;
            if (px->phase == PX_HEAD)
                return px_retry_or(r, px, 502, "recv", err, "connection closed before the response head");
            px_log(r, px, "recv", err, NULL);
            return px_body_failed(r, px);
        }
        if (n == 0) {
            if (proxy_resp_eof(&px->resp) == 0) { /* a body that ends with the connection */
                enum handler_result res = HANDLER_DONE;
                if (px->buffering)
                    px_buffer(r, px, &res);
                px_close(px);
                return res;
            }
            px_log(r, px, "recv", 0, "connection closed in the middle of the response body");
            return px_body_failed(r, px);
        }
        px->resp_bytes += n;
        px->full = n == PROXY_BUF;
        if (proxy_resp_feed(&px->resp, px->buf, (size_t)n) < 0) {
            char why[160];
            snprintf(why, sizeof(why), "invalid response (%s)", px->resp.error);
            px_log(r, px, "recv", 0, why);
            if (px->phase == PX_HEAD)
                return px_error(r, px, 502);
            return px_body_failed(r, px);
        }
        if (px->phase == PX_HEAD) {
            if (!px->resp.head_done)
                continue;
            if (px_client_head(r, px) < 0)
                return px_error(r, px, 500);
            px->phase = PX_RESPONSE;
            int st = px->resp.status;
            px->buffering = px->pc->buffering && r->method != METHOD_HEAD && st != 204 && st != 304;
            if (!px->buffering)
                http_resp_stream(r, px_length(r, px));
        }
        if (px->buffering) {
            enum handler_result res;
            if (px_buffer(r, px, &res))
                return res;
            continue;
        }
        http_resp_stream_data(r, px->resp.body_at, px->resp.body_len);
        if (px->resp.complete)
            return px_done(r, px);
        if (px->resp.body_len > 0)
            return px_read_on(r, px);
    }
}

static enum handler_result proxy_resume(struct request *r)
{
    struct px *px = r->handler_data;
    if (px->phase == PX_SPILL)
        return px_spill(r, px);
    if (r->wait_timed_out) {
        static const char *const calls[] = {"connect", "send", "send", "recv", "recv", "recv"};
        px_log(r, px, calls[px->phase], ETIMEDOUT, NULL);
        if (px->phase == PX_CONNECT)
            return px_connect_failed(r, px, 504);
        if (px->phase == PX_RESPONSE && !px->buffering) {
            px_close(px);
            return HANDLER_ABORT;
        }
        return px_error(r, px, 504);
    }
    switch (px->phase) {
    case PX_CONNECT: {
        int err = proxy_connect_result(px->fd);
        if (err != 0) {
            px_log(r, px, "connect", err, NULL);
            return px_connect_failed(r, px, 503);
        }
        px->phase = PX_SEND;
        return px_send(r, px);
    }
    case PX_SEND:
    case PX_BODY:
        return px_send(r, px);
    case PX_HEAD:
    case PX_RESPONSE:
    case PX_SPILL:
        break;
    }
    return px_recv(r, px);
}

/*
 * Whether a <Proxy URL> section lets r through to the URL pp maps it to: 0, or the status that answers it
 * (403; 500 when out of memory). As Apache merges them, the rule of the last section that matches the URL
 * decides, unless a <Location> with Require lines covers r's path (its rule, which the core has checked,
 * replaces the section's). A refusal is logged as authz_check()'s, with the URL.
 */
static int px_refused(struct request *r, const struct proxy_conf *pc, const struct proxy_pass *pp)
{
    if (pc->sections == NULL || r->location_rule != NULL)
        return 0;
    const char *url = proxy_target_url(r, pp);
    if (url == NULL)
        return 500;
    const struct authz *rule = proxy_section_rule(pc, url);
    if (rule == NULL || authz_eval(rule, r) == AUTHZ_GRANTED)
        return 0;
    char peer[HTTP_PEER_TEXT];
    log_verror(r->vhost, LOG_ERR, "authz_core",
               "[client %s] AH01630: client denied by server configuration: proxy:%s",
               http_peer_text(r, peer), url);
    return 403;
}

static enum handler_result proxy_handle(struct request *r)
{
    const struct proxy_conf *pc = r->vhost->proxy;
    const struct proxy_pass *pp = proxy_match(pc, r->path);
    struct px *px = pool_calloc(r->pool, sizeof(*px));
    if (px == NULL || pp == NULL)
        return http_resp_error(r, 500), HANDLER_DONE;
    int refused = px_refused(r, pc, pp);
    if (refused != 0)
        return http_resp_error(r, refused), HANDLER_DONE;
    px->pc = pc;
    px->reg = r->server->proxy;
    px->pp = pp;
    px->b = pp->balancer;
    px->w = pp->worker;
    px->fd = -1;
    px->tmp_fd = -1;
    r->handler_data = px;
    if (px->b == NULL && proxy_worker_in_error(px->reg, px->w, r->now)) {
        char peer[HTTP_PEER_TEXT];
        log_error(LOG_ERR, MODULE, "[client %s] %s is in its error state (retry=%d), for %s %s",
                  http_peer_text(r, peer), px->w->addr_text, px->w->retry, r->method_name, r->path);
        return px_error(r, px, 503);
    }
    if (px_choose(r, px) < 0)
        return px_error(r, px, px->b != NULL && px->w == NULL ? 503 : 500);
    return px_connect(r, px, 0);
}

/* However the request ends: a connection still held is in an unknown state, so it is closed, not pooled. */
static void proxy_cleanup(struct request *r)
{
    struct px *px = r->handler_data;
    if (px == NULL)
        return;
    px_close(px);
    if (px->tmp_fd >= 0)
        close(px->tmp_fd);
    px->tmp_fd = -1;
    if (px->counted)
        proxy_worker_end(px->reg, px->w, px->sent_bytes, (unsigned long long)px->resp_bytes);
    px->counted = 0;
}

const struct handler proxy_handler = {
    .name = "proxy-server",
    .methods = HTTP_M(METHOD_GET) | HTTP_M(METHOD_HEAD) | HTTP_M(METHOD_POST) | HTTP_M(METHOD_PUT) |
               HTTP_M(METHOD_DELETE) | HTTP_M(METHOD_OPTIONS) | HTTP_M(METHOD_PATCH),
    .handle = proxy_handle,
    .resume = proxy_resume,
    .cleanup = proxy_cleanup,
    .stream_body = 1,
    .options = 1,
};
