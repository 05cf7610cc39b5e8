/*
 * Persistent connections: many requests on one connection (sequential and pipelined), MaxKeepAliveRequests,
 * KeepAliveTimeout on an idle connection, and KeepAlive Off; and the TCP acknowledgements of a connection's
 * requests: with the response, or at once when the client has more to send (mpm/driver.h).
 */
#include "harness.h"

#include <errno.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_segs_in, which glibc's lacks */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Request i of a mixed sequence and its expected file. */
static const char *const paths[] = {"/", "/page.html", "/sub/", "/big.bin"};
static const char *const files[] = {"index.html", "page.html", "sub/index.html", "big.bin"};

static void expect_nth(struct srv *s, const struct resp *r, int which, const char *connection, int head)
{
    if (which < 3) {
        expect_file(r, s, files[which], connection, head);
        return;
    }
    hassert(r->status == 200, "GET /big.bin: status %d", r->status);
    if (!head)
        expect_bytes("big.bin", r->body, r->body_len, harness_big(), BIG_LEN);
}

/* Sends n pipelined GETs of paths[i % 3] in one write; returns their bytes. */
static size_t send_pipelined(struct conn *c, int n)
{
    size_t cap = (size_t)n * 64, len = 0;
    char *all = malloc(cap);
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(all + len, cap - len, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n",
                                paths[i % 3]);
    hassert(len < cap, "%zu bytes of requests", len);
    conn_send(c, all, len);
    free(all);
    return len;
}

/* Reads the responses to send_pipelined()'s first n requests, in order, the last with Connection: last (or
 * none when NULL). */
static void expect_pipelined(struct srv *s, struct conn *c, int n, const char *last)
{
    for (int i = 0; i < n; i++) {
        struct resp *r = must_read(c, 0);
        expect_nth(s, r, i % 3, i == n - 1 ? last : NULL, 0);
        resp_free(r);
    }
}

MPM_TEST(keepalive, hundred_sequential_requests, .timeout = 30)
{
    struct srv *s = server_start(mpm, "MaxKeepAliveRequests 200\n");
    struct conn *c = conn_open(s->port);

    for (int i = 0; i < 100; i++) {
        int which = i % 4, head = (i % 7 == 3);
        char *req =
            xasprintf("%s %s HTTP/1.1\r\nHost: localhost\r\n\r\n", head ? "HEAD" : "GET", paths[which]);
        struct resp *r = exchange(c, req);

        hassert(resp_get(r, "Connection") == NULL, "request %d: Connection: %s", i + 1,
                resp_get(r, "Connection"));
        expect_nth(s, r, which, NULL, head);
        resp_free(r);
        free(req);
    }
    conn_close(c);
    server_stop(s);
}

MPM_TEST(keepalive, fifty_pipelined_requests, .timeout = 30)
{
    struct srv *s = server_start(mpm, "MaxKeepAliveRequests 200\n");
    struct conn *c = conn_open(s->port);
    send_pipelined(c, 50);
    expect_pipelined(s, c, 50, NULL);
    conn_close(c);
    server_stop(s);
}

/* More pipelined requests than one read takes (the read buffer is 8 KiB): all answered, in order. */
MPM_TEST(keepalive, pipelined_requests_beyond_one_read, .timeout = 30)
{
    struct srv *s = server_start(mpm, "MaxKeepAliveRequests 400\n");
    struct conn *c = conn_open(s->port);
    size_t len = send_pipelined(c, 300);
    hassert(len > 8192, "%zu bytes of requests", len);
    expect_pipelined(s, c, 300, NULL);
    conn_close(c);
    server_stop(s);
}

/* A request whose body is more than one wakeup's reads take (event: 4 reads of the 8 KiB the core gives),
 * sent whole before the client waits: what the reads left in the socket is read at the next turn, though the
 * client sends nothing more, the body is dropped and the file answered, and the connection serves the next
 * request. */
MPM_TEST(keepalive, body_beyond_one_wakeups_reads, .timeout = 30)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    size_t n = 200000;
    char *head = xasprintf("GET /page.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n", n);
    size_t hl = strlen(head);
    char *all = malloc(hl + n);
    memcpy(all, head, hl);
    memset(all + hl, 'b', n);
    conn_send(c, all, hl + n);
    struct resp *r = must_read(c, 0);
    expect_nth(s, r, 1, NULL, 0);
    resp_free(r);
    r = exchange(c, "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_nth(s, r, 1, NULL, 0);
    resp_free(r);
    free(all);
    free(head);
    conn_close(c);
    server_stop(s);
}

/* On a used connection, a request of exactly the 8 KiB one read takes, and another behind it, sent together:
 * the read that took the first filled its space, so the second, left in the socket, is read after the first
 * is answered, though the client sends nothing more (event waits edge-triggered between requests only once a
 * read has drained the socket: no new edge would announce what is left). */
MPM_TEST(keepalive, request_behind_a_read_that_filled_the_buffer, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    struct resp *r = exchange(c, "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_nth(s, r, 1, NULL, 0);
    resp_free(r);
    sleep_ms(50); /* the server waits for the next request */
    const char *start = "GET /page.html HTTP/1.1\r\nHost: localhost\r\nX-Pad: ";
    const char *next = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    size_t first = 8192, pad = first - strlen(start) - 4;
    char *all = malloc(first + strlen(next));
    memcpy(all, start, strlen(start));
    memset(all + strlen(start), 'p', pad);
    memcpy(all + strlen(start) + pad, "\r\n\r\n", 4);
    memcpy(all + first, next, strlen(next));
    conn_send(c, all, first + strlen(next));
    r = must_read(c, 0);
    expect_nth(s, r, 1, NULL, 0);
    resp_free(r);
    r = must_read(c, 0);
    expect_nth(s, r, 0, NULL, 0);
    resp_free(r);
    free(all);
    conn_close(c);
    server_stop(s);
}

/* More pipelined requests than MaxKeepAliveRequests, and more than one read takes, sent before the client
 * reads anything: the server answers 100, the last with Connection: close, and ends the connection with a FIN
 * after them. A close with the rest unread would reset it, and the reset discards the responses the client
 * has not read yet: the close lingers (shutdown, then read and drop until the client closes) instead. */
MPM_TEST(keepalive, pipelined_past_max_keepalive_requests_all_delivered, .timeout = 30)
{
    struct srv *s = server_start(mpm, "MaxKeepAliveRequests 100\n");
    struct conn *c = conn_open(s->port);
    size_t len = send_pipelined(c, 300);
    hassert(len > 8192, "%zu bytes of requests", len);
    sleep_ms(300); /* the server has answered and ended the connection before the client reads */
    expect_pipelined(s, c, 100, "close");
    expect_closed(c, 5000);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(keepalive, max_keepalive_requests, .timeout = 20)
{
    struct srv *s = server_start(mpm, "MaxKeepAliveRequests 3\n");
    struct conn *c = conn_open(s->port);

    for (int i = 0; i < 3; i++) {
        struct resp *r = exchange(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        expect_file(r, s, "index.html", i == 2 ? "close" : NULL, 0);
        resp_free(r);
    }
    expect_closed(c, 2000);
    conn_close(c);
    server_stop(s);
}

/* After requests one after the other (the event MPM leaves the connection's timer as the previous request
 * set it when the new deadline is only a little later): closed KeepAliveTimeout after the last one, neither
 * sooner nor later. */
MPM_TEST(keepalive, idle_after_requests_closed_on_time, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    struct conn *c = conn_open(s->port);
    int64_t start = 0;
    for (int i = 0; i < 5; i++) {
        struct resp *r = exchange(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        start = now_ms();
        expect_file(r, s, "index.html", NULL, 0);
        resp_free(r);
        sleep_ms(i == 3 ? 250 : 20);
    }
    expect_closed(c, 4500);
    int64_t took = now_ms() - start;
    hassert(took >= 1500 && took < 3000, "closed %lld ms after the last response, not KeepAliveTimeout's 2 s",
            (long long)took);
    conn_close(c);
    server_stop(s);
}

/* A used keep-alive connection whose next request comes with the client's FIN in the same segment (the
 * request corked with MSG_MORE, then shutdown()): the request is answered and the connection closed at once,
 * not after KeepAliveTimeout (event waits edge-triggered between requests: the FIN that came with the bytes
 * read is known from EPOLLRDHUP, since no edge would announce it again). */
MPM_TEST(keepalive, request_with_the_fin_answered_then_closed, .timeout = 20)
{
    struct srv *s = server_start(mpm, "KeepAliveTimeout 10\n");
    struct conn *c = conn_open(s->port);
    struct resp *r = exchange(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    expect_file(r, s, "index.html", NULL, 0);
    resp_free(r);
    sleep_ms(50); /* the server waits for the next request */
    const char *req = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    hassert(send(c->fd, req, strlen(req), MSG_MORE) == (ssize_t)strlen(req), "send: %s", strerror(errno));
    hassert(shutdown(c->fd, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
    int64_t start = now_ms();
    r = must_read(c, 0);
    expect_file(r, s, "index.html", NULL, 0);
    resp_free(r);
    expect_closed(c, 5000);
    int64_t took = now_ms() - start;
    hassert(took < 1000, "closed %lld ms after the request and its FIN, not at once", (long long)took);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(keepalive, idle_connection_closed_after_timeout, .timeout = 20)
{
    /* AcceptFilter none, so that the server holds the silent connection below from its handshake */
    struct srv *s = server_start(mpm, "AcceptFilter http none\n");
    struct conn *c = conn_open(s->port);
    struct resp *r = exchange(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    int64_t start = now_ms();

    expect_file(r, s, "index.html", NULL, 0);
    /* KeepAliveTimeout 2: closed without a byte (no 408 on an idle connection). */
    expect_closed(c, 4500);
    int64_t took = now_ms() - start;
    hassert(took >= 1500, "idle connection closed after %lld ms, before KeepAliveTimeout (2 s)",
            (long long)took);
    resp_free(r);
    conn_close(c);

    /* A connection that never sent anything is also closed by the server, silently or with 408. */
    c = conn_open(s->port);
    start = now_ms();
    int n;
    while ((n = conn_fill(c, 6000)) > 0)
        ;
    hassert(n == 0, "a silent connection was not closed within 6 s (%d)", n);
    hassert(now_ms() - start >= 1500, "a silent connection was closed after %lld ms",
            (long long)(now_ms() - start));
    if (c->len > 0) {
        expect_next_error(c, 408, NULL, "close");
    }
    conn_close(c);
    server_stop(s);
}

MPM_TEST(keepalive, keepalive_off, .timeout = 20)
{
    struct srv *s = server_start(mpm, "KeepAlive Off\n");

    expect_served(s, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "index.html", "close");
    /* 1.0 keep-alive requests are refused too. */
    expect_served(s, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "index.html", "close");
    server_stop(s);
}

/* The segments c's socket has received (TCP_INFO). */
static unsigned segments_in(const struct conn *c)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    memset(&ti, 0, sizeof(ti));
    hassert(getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0, "getsockopt(TCP_INFO) failed: %s",
            strerror(errno));
    hassert(len >= offsetof(struct tcp_info, tcpi_segs_in) + sizeof(ti.tcpi_segs_in),
            "TCP_INFO has no tcpi_segs_in (%u bytes)", (unsigned)len);
    return ti.tcpi_segs_in;
}

MPM_TEST(keepalive, request_acknowledged_by_its_response, .timeout = 20)
{
    /* The client receives the SYN-ACK and the response, and no ACK of its own between them, which the kernel
     * would send the moment the request arrived (quick ACKs at a connection's start) unless the listener
     * turned them off. A response later than the delayed-ACK timer (40 ms) would let one through: most of
     * ten, not all. */
    struct srv *s = server_start(mpm, NULL);
    int with_response = 0;
    unsigned seen[10];
    for (int i = 0; i < 10; i++) {
        struct conn *c = conn_open(s->port);
        conn_send_str(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        expect_next_file(c, s, "index.html", NULL, 0);
        seen[i] = segments_in(c);
        with_response += seen[i] == 2;
        conn_close(c);
    }
    hassert(with_response >= 6,
            "%d of 10 requests acknowledged with their response (segments received: %u %u %u "
            "%u %u %u %u %u %u %u; 2 each when they are)",
            with_response, seen[0], seen[1], seen[2], seen[3], seen[4], seen[5], seen[6], seen[7], seen[8],
            seen[9]);
    server_stop(s);
}

/* Sends a POST's head and then its 5-byte body in two writes on c and reads the 405; on a used connection
 * (used), a GET / first, so that the connection has carried a request. Returns the ms from the POST's first
 * write to its answer. */
static int64_t post_in_two_writes(struct conn *c, void *arg, int used)
{
    if (used) {
        conn_send_str(c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        expect_next_file(c, arg, "index.html", NULL, 0);
    }
    int64_t start = now_ms();
    conn_send_str(c, "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\n");
    conn_send_str(c, "hello");
    expect_next_error(c, 405, "Allow: " ALLOW_STATIC "\r\n", NULL);
    return now_ms() - start;
}

MPM_TEST(keepalive, request_in_pieces_from_a_nagle_client, .timeout = 30)
{
    /* The body is held by the client's kernel until the head is acknowledged, and the server answers only
     * once it has the body: unless the server acknowledges the incomplete request at once, each such request
     * waits out the delayed-ACK timer (40 ms or more). On a new connection, and on one that has carried
     * requests (after which the kernel delays its ACKs of its own accord). The median of nine of each. */
    struct srv *s = server_start(mpm, NULL);
    expect_nagle_not_held(s->port, post_in_two_writes, s);
    server_stop(s);
}
