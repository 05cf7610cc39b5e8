/*
 * Tests of mpm/serve.c, the blocking driver of the core, over loopback TCP pairs (and a socketpair where only
 * bytes matter): serve_connection() runs in a thread of the test and a plain client talks to it. A request
 * in, the response out byte for byte (memory and file bodies, a handler that waits), keep-alive and
 * pipelining, Timeout → 408 and KeepAliveTimeout, the peer's EOF, leaving at a request boundary (stop and
 * graceful restart), scoreboard accounting, driver_send() on its own, and the lingering close that lets a
 * client that is still sending read the error page.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "handler.h"
#include "http.h"
#include "http_conn.h"
#include "pool.h"
#include "process.h"
#include "scoreboard.h"
#include "driver.h"
#include "serve.h"
#include "server.h"
#include "testserver.h"
#include "util.h"

#define FILE_TEXT "0123456789abcdefghij"
#define BIG_SIZE  (4 << 20) /* more than the socket buffers hold: sendfile() must wait for room */

static struct server srv;
static struct pool *pool;
static char dir[] = "/tmp/test_serve.XXXXXX";
static char small_path[600], big_path[600];

/* ---- a handler with known answers: /t?mem, /t?file (a range of a file), /t?big, /t?wait ---- */

static enum handler_result body_of_file(struct request *r, const char *path, off_t off, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || http_resp_body_file(r, fd, off, len) < 0)
        http_resp_error(r, 500);
    return HANDLER_DONE;
}

static enum handler_result test_handle(struct request *r)
{
    const char *q = r->query != NULL ? r->query : "";
    http_resp_status(r, 200);
    http_resp_content_type(r, "text/plain");
    if (strcmp(q, "mem") == 0) {
        http_resp_body_mem(r, "hello\n", 6);
    } else if (strcmp(q, "file") == 0) {
        return body_of_file(r, small_path, 3, 10);
    } else if (strcmp(q, "big") == 0) {
        return body_of_file(r, big_path, 0, BIG_SIZE);
    } else if (strcmp(q, "wait") == 0) {
        r->wait_until = now_ms() + 100;
        return HANDLER_WAIT;
    } else {
        http_resp_error(r, 404);
    }
    return HANDLER_DONE;
}

static enum handler_result test_resume(struct request *r)
{
    http_resp_body_mem(r, "waited\n", 7);
    return HANDLER_DONE;
}

static const struct handler test_handler = {.name = "test",
                                            .methods = HTTP_M(METHOD_GET) | HTTP_M(METHOD_POST),
                                            .handle = test_handle,
                                            .resume = test_resume};
static struct location test_location = {.path = "/t", .len = 2, .handler = &test_handler};

/* Byte i of the big file: no run repeats within a page. */
static char big_byte(size_t i)
{
    return (char)('a' + (i * 7 + i / 4096) % 26);
}

static void write_path(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
}

static void on_signal(int sig)
{
    (void)sig;
}

static void setup(void)
{
    pool = pool_create(4096);
    strcpy(dir, "/tmp/test_serve.XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(small_path, sizeof(small_path), "%s/small", dir);
    snprintf(big_path, sizeof(big_path), "%s/big", dir);
    write_path(small_path, FILE_TEXT, strlen(FILE_TEXT));
    char *big = malloc(BIG_SIZE);
    cr_assert_not_null(big);
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = big_byte(i);
    write_path(big_path, big, BIG_SIZE);
    free(big);

    testserver_init(&srv, pool);
    srv.timeout = 5;
    srv.main.locations = &test_location;

    /* what the MPMs do: a closed peer is EPIPE, and a signal interrupts a wait (no SA_RESTART) */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    cr_assert_eq(sigaction(SIGPIPE, &sa, NULL), 0);
    sa.sa_handler = on_signal;
    cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
}

static void teardown(void)
{
    unlink(small_path);
    unlink(big_path);
    rmdir(dir);
    pool_destroy(pool);
}

TestSuite(serve, .init = setup, .fini = teardown);

/* ---- the two ends ---- */

struct served {
    pthread_t thread;
    int fd; /* the server's end, closed by serve_connection() */
    struct sockaddr_in peer;
    struct sb_worker *slot;
    volatile sig_atomic_t leaving;
    volatile int done;
    int64_t ended;
};

static void *serve_thread(void *arg)
{
    struct served *sv = arg;
    serve_connection(&srv, NULL, sv->fd, (struct sockaddr *)&sv->peer, sizeof(sv->peer), sv->slot,
                     &sv->leaving);
    sv->ended = now_ms();
    sv->done = 1;
    return NULL;
}

/* A loopback TCP connection; *server gets the accepted end, non-blocking as the MPMs accept it. */
static int tcp_pair(int *server, struct sockaddr_in *peer)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof(a);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), client;
    cr_assert_geq(lfd, 0);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(lfd, 1), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(client, 0);
    cr_assert_eq(connect(client, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
    len = sizeof(*peer);
    *server = accept4(lfd, (struct sockaddr *)peer, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    cr_assert_geq(*server, 0, "accept4: %s", strerror(errno));
    close(lfd);
    return client;
}

/* Starts serving a new connection, accounted in slot (may be NULL); returns the client's end. */
static int serve_start(struct served *sv, struct sb_worker *slot)
{
    memset(sv, 0, sizeof(*sv));
    sv->slot = slot;
    int client = tcp_pair(&sv->fd, &sv->peer);
    cr_assert_eq(pthread_create(&sv->thread, NULL, serve_thread, sv), 0);
    return client;
}

/* Waits up to ms for serve_connection() to return; asserts that it did and that it closed its socket. */
static void serve_join(struct served *sv, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    cr_assert_eq(pthread_timedjoin_np(sv->thread, NULL, &ts), 0, "serve_connection() still runs after %d ms",
                 ms);
    cr_assert_eq(fcntl(sv->fd, F_GETFD), -1, "the connection's socket is closed");
}

static void send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send: %s", strerror(errno));
        s += n;
        len -= (size_t)n;
    }
}

/* Reads what arrives within ms into b (appending); returns 1 at EOF, 0 at the time limit; asserts no reset.
 */
static int read_for(int fd, struct pbuf *b, int ms)
{
    int64_t end = now_ms() + ms;
    char buf[65536];
    for (;;) {
        int64_t left = end - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) == 0)
            return 0;
        ssize_t n = read(fd, buf, sizeof(buf));
        cr_assert_geq(n, 0, "read: %s (after %zu bytes)", strerror(errno), b->len);
        if (n == 0)
            return 1;
        pbuf_append(b, buf, (size_t)n);
    }
}

/* Replaces the value of every Date header by "X". */
static char *mask_dates(char *s)
{
    for (char *d = strstr(s, "\r\nDate: "); d != NULL; d = strstr(d + 1, "\r\nDate: ")) {
        char *end = strstr(d + 8, "\r\n");
        cr_assert_not_null(end);
        memmove(d + 9, end, strlen(end) + 1);
        d[8] = 'X';
    }
    return s;
}

/* Reads one response (head, then Content-Length bytes of body) within 5 s; returns it, dates masked. */
static char *read_response(int fd)
{
    struct pbuf b = {.pool = pool};
    int64_t end = now_ms() + 5000;
    pbuf_puts(&b, "");
    for (;;) {
        char *head_end = strstr(b.p, "\r\n\r\n");
        if (head_end != NULL) {
            const char *cl = strstr(b.p, "\r\nContent-Length: ");
            size_t body = cl != NULL && cl < head_end ? (size_t)atol(cl + 18) : 0;
            size_t want = (size_t)(head_end + 4 - b.p) + body;
            if (b.len >= want) {
                cr_assert_eq(b.len, want, "bytes after the response: %s", b.p + want);
                return mask_dates(b.p);
            }
        }
        char c;
        cr_assert_lt(now_ms(), end, "no whole response within 5 s: %s", b.p);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, (int)(end - now_ms())), 1, "no whole response within 5 s: %s", b.p);
        cr_assert_eq(read(fd, &c, 1), 1, "the connection ended within a response: %s", b.p);
        pbuf_append(&b, &c, 1);
    }
}

/* The response of /t?mem, /t?file or /t?wait, as the core must write it. */
static char *expected(const char *body, int close)
{
    return pool_printf(pool,
                       "HTTP/1.1 200 OK\r\nDate: X\r\nServer: " SERVER_SOFTWARE "\r\nContent-Length: %zu\r\n"
                       "Content-Type: text/plain\r\n%s\r\n%s",
                       strlen(body), close ? "Connection: close\r\n" : "", body);
}

/* Reads until the server closes, within ms; returns what came (NUL-terminated, in the pool). why names the
 * close the test waits for. */
static struct pbuf read_to_eof(int fd, int ms, const char *why)
{
    struct pbuf b = {.pool = pool};
    pbuf_puts(&b, "");
    cr_assert(read_for(fd, &b, ms), "%s: the server did not close within %d ms", why, ms);
    return b;
}

static void expect_eof(int fd, int ms)
{
    struct pbuf b = read_to_eof(fd, ms, "EOF");
    cr_assert_eq(b.len, 0, "bytes before the close: %s", b.p);
}

/* Sends a request and asserts the response to it, byte for byte (see expected()). */
static void expect_exchange(int fd, const char *req, const char *body, int close)
{
    send_str(fd, req);
    cr_assert_str_eq(read_response(fd), expected(body, close), "%s", req);
}

/* The end of a test of one connection: the server closes, serve_connection() returns, the client closes. */
static void expect_served_to_the_end(struct served *sv, int fd)
{
    expect_eof(fd, 1000);
    serve_join(sv, 1000);
    close(fd);
}

/* ---- one connection ---- */

Test(serve, request_in_response_out_byte_for_byte)
{
    struct served sv;
    int c = serve_start(&sv, NULL);

    send_str(c, "GET /t?mem HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    struct pbuf b = read_to_eof(c, 5000, "Connection: close");
    cr_assert_str_eq(mask_dates(b.p), expected("hello\n", 1));
    serve_join(&sv, 1000);
    close(c);
}

Test(serve, file_range_with_sendfile)
{
    struct served sv;
    int c = serve_start(&sv, NULL);
    expect_exchange(c, "GET /t?file HTTP/1.1\r\nHost: x\r\n\r\n", "3456789abc", 0);
    close(c);
    serve_join(&sv, 1000);
}

Test(serve, large_file_to_a_slow_reader, .timeout = 20)
{
    struct served sv;
    int c = serve_start(&sv, NULL);

    send_str(c, "GET /t?big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    usleep(300 * 1000); /* the socket buffers fill: the driver waits for room */
    struct pbuf b = read_to_eof(c, 10000, "Connection: close");
    char *head_end = strstr(b.p, "\r\n\r\n");
    cr_assert_not_null(head_end);
    size_t head_len = (size_t)(head_end + 4 - b.p);
    cr_assert_eq(b.len - head_len, BIG_SIZE);
    for (size_t i = 0; i < BIG_SIZE; i++)
        if (b.p[head_len + i] != big_byte(i))
            cr_assert_fail("byte %zu of the file differs", i);
    serve_join(&sv, 1000);
    close(c);
}

Test(serve, handler_that_waits)
{
    struct served sv;
    int c = serve_start(&sv, NULL);
    int64_t start = now_ms();
    expect_exchange(c, "GET /t?wait HTTP/1.1\r\nHost: x\r\n\r\n", "waited\n", 0);
    cr_assert_geq(now_ms() - start, 100);
    close(c);
    serve_join(&sv, 1000);
}

Test(serve, keep_alive_and_pipelining)
{
    struct served sv;
    int c = serve_start(&sv, NULL);

    expect_exchange(c, "GET /t?mem HTTP/1.1\r\nHost: x\r\n\r\n", "hello\n", 0);
    expect_exchange(c, "GET /t?file HTTP/1.1\r\nHost: x\r\n\r\n", "3456789abc", 0);
    /* two at once, the second split from the first in the middle of a line */
    send_str(c, "GET /t?file HTTP/1.1\r\nHost: x\r\n\r\nGET /t?mem HTTP/1.1\r\nHo");
    usleep(50 * 1000);
    send_str(c, "st: x\r\nConnection: close\r\n\r\n");
    cr_assert_str_eq(read_response(c), expected("3456789abc", 0));
    cr_assert_str_eq(read_response(c), expected("hello\n", 1));
    expect_served_to_the_end(&sv, c);
}

/* Whether the slot reaches `st` within a second. */
static int wait_state(struct sb_worker *w, enum sb_state st)
{
    for (int64_t end = now_ms() + 1000; now_ms() < end; usleep(1000))
        if (atomic_load(&w->state) == (char)st)
            return 1;
    return 0;
}

Test(serve, scoreboard_slot_follows_the_connection)
{
    struct errbuf err;
    struct scoreboard *sb = scoreboard_create(1, 1, &err);
    cr_assert_not_null(sb, "%s", err.msg);
    struct sb_worker *w = scoreboard_worker(sb, 0, 0);
    scoreboard_set_state(w, SB_READY);

    struct served sv;
    int c = serve_start(&sv, w);

    send_str(c, "GET /t?wait HTTP/1.1\r\nHost: x\r\n\r\n");
    cr_assert(wait_state(w, SB_WRITE), "a handler at work shows as sending a reply");
    read_response(c);
    cr_assert(wait_state(w, SB_KEEPALIVE));
    send_str(c, "GET /t?mem HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    read_response(c);
    expect_served_to_the_end(&sv, c);
    cr_assert_eq(atomic_load(&w->state), SB_READY, "ready for the next connection");
    cr_assert_eq(atomic_load(&w->conns), 1);
    cr_assert_eq(atomic_load(&w->accesses), 2);
    cr_assert_gt(atomic_load(&w->bytes), 13);
    scoreboard_destroy(sb);
}

/* ---- time limits and the peer ---- */

Test(serve, timeout_mid_request_is_408, .timeout = 10)
{
    srv.timeout = 1;
    struct served sv;
    int c = serve_start(&sv, NULL);
    int64_t start = now_ms();

    send_str(c, "GET /t?mem HTTP/1.1\r\nHost: x\r\n");
    struct pbuf b = read_to_eof(c, 5000, "the 408");
    int64_t took = now_ms() - start;
    cr_assert_geq(took, 900, "408 after %lld ms, before Timeout", (long long)took);
    cr_assert_leq(took, 3000, "408 after %lld ms", (long long)took);
    static const char page[] = "<!DOCTYPE html>\n<html><head><title>408 Request Timeout</title></head>\n"
                               "<body><h1>Request Timeout</h1></body></html>\n";
    char *want = pool_printf(pool,
                             "HTTP/1.1 408 Request Timeout\r\nDate: X\r\nServer: " SERVER_SOFTWARE "\r\n"
                             "Content-Length: %zu\r\nContent-Type: text/html; charset=utf-8\r\n"
                             "Connection: close\r\n\r\n%s",
                             strlen(page), page);
    cr_assert_str_eq(mask_dates(b.p), want);
    close(c);
    serve_join(&sv, 1000);
}

Test(serve, silent_connection_closes_quietly_at_timeout, .timeout = 10)
{
    srv.timeout = 1;
    struct served sv;
    int c = serve_start(&sv, NULL);
    expect_eof(c, 3000);
    serve_join(&sv, 1000);
    close(c);
}

Test(serve, idle_keep_alive_closes_at_keep_alive_timeout, .timeout = 10)
{
    srv.keepalive_timeout = 1;
    struct served sv;
    int c = serve_start(&sv, NULL);
    send_str(c, "GET /t?mem HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(c);
    int64_t idle = now_ms();
    expect_eof(c, 3000);
    cr_assert_geq(now_ms() - idle, 800);
    serve_join(&sv, 1000);
    close(c);
}

Test(serve, peer_eof_mid_request)
{
    struct served sv;
    int c = serve_start(&sv, NULL);
    send_str(c, "GET /t?mem HTTP/1.1\r\nHo");
    cr_assert_eq(shutdown(c, SHUT_WR), 0);
    expect_served_to_the_end(&sv, c); /* nobody is left to answer */
}

Test(serve, peer_eof_between_requests)
{
    struct served sv;
    int c = serve_start(&sv, NULL);
    send_str(c, "GET /t?mem HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(c);
    int64_t start = now_ms();
    close(c);
    serve_join(&sv, 1000);
    cr_assert_lt(sv.ended - start, 1000, "ended at the peer's close, not at KeepAliveTimeout");
}

/* ---- leaving ---- */

/* Sets *leaving and signals the serving thread until it has had time to notice (a signal that arrives just
 * before its poll() would be missed once). */
static void ask_to_leave(struct served *sv, int how)
{
    sv->leaving = how;
    for (int i = 0; i < 10 && !sv->done; i++) {
        pthread_kill(sv->thread, SIGUSR2);
        usleep(10 * 1000);
    }
}

Test(serve, stop_ends_an_idle_keep_alive_connection)
{
    struct served sv;
    int c = serve_start(&sv, NULL);
    expect_exchange(c, "GET /t?mem HTTP/1.1\r\nHost: x\r\n\r\n", "hello\n", 0);
    ask_to_leave(&sv, CHILD_LEAVE);
    expect_served_to_the_end(&sv, c);
}

Test(serve, graceful_restart_answers_the_next_request_then_closes)
{
    struct served sv;
    int c = serve_start(&sv, NULL);
    expect_exchange(c, "GET /t?mem HTTP/1.1\r\nHost: x\r\n\r\n", "hello\n", 0);
    ask_to_leave(&sv, CHILD_LEAVE_AFTER_NEXT);
    cr_assert_not(sv.done, "an idle connection waits for its next request");
    expect_exchange(c, "GET /t?file HTTP/1.1\r\nHost: x\r\n\r\n", "3456789abc", 1);
    expect_served_to_the_end(&sv, c);
}

Test(serve, stop_lets_a_request_in_progress_finish)
{
    struct served sv;
    int c = serve_start(&sv, NULL);
    send_str(c, "GET /t?wait HTTP/1.1\r\nHost: x\r\n\r\n");
    usleep(20 * 1000);
    ask_to_leave(&sv, CHILD_LEAVE);
    char *got = read_response(c);
    cr_assert(strcmp(got, expected("waited\n", 0)) == 0 || strcmp(got, expected("waited\n", 1)) == 0, "%s",
              got);
    expect_served_to_the_end(&sv, c);
}

/* ---- driver_send (mpm/driver.c), the write both drivers use ---- */

/* driver_send() through the plain transport of fd. */
static ssize_t send_plain(int fd, const struct conn_out *out)
{
    struct transport t;
    transport_plain_init(&t, fd);
    return driver_send(&t, out);
}

Test(serve, write_buffers_and_file_ranges)
{
    int sp[2];
    char buf[64] = "";
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    int fd = open(small_path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);

    struct conn_out out;
    memset(&out, 0, sizeof(out));
    out.iov[0] = (struct iovec){"head ", 5};
    out.iov[1] = (struct iovec){"and ", 4};
    out.iovcnt = 2;
    cr_assert_eq(send_plain(sp[0], &out), 9);
    out.iovcnt = 0;
    out.file_fd = fd;
    out.file_off = 2;
    out.file_len = 5;
    cr_assert_eq(send_plain(sp[0], &out), 5);
    cr_assert_eq(out.file_off, 2, "the caller's offset is left alone");
    cr_assert_eq(read(sp[1], buf, sizeof(buf) - 1), 14);
    cr_assert_str_eq(buf, "head and 23456");

    /* a range past the end of a file that shrank: a short write, then ENODATA instead of 0 for ever */
    out.file_off = 18;
    cr_assert_eq(send_plain(sp[0], &out), 2);
    out.file_off = 20;
    cr_assert_eq(send_plain(sp[0], &out), -1);
    cr_assert_eq(errno, ENODATA);
    close(fd);
    close(sp[0]);
    close(sp[1]);
}

Test(serve, write_with_more_to_follow_still_arrives)
{
    struct sockaddr_in peer;
    int server, c = tcp_pair(&server, &peer), fd = open(small_path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);

    struct conn_out out;
    memset(&out, 0, sizeof(out));
    out.iov[0] = (struct iovec){"head\r\n", 6};
    out.iovcnt = 1;
    out.more = 1;
    cr_assert_eq(send_plain(server, &out), 6);
    out.iovcnt = 0;
    out.file_fd = fd;
    out.file_off = 0;
    out.file_len = 4;
    cr_assert_eq(send_plain(server, &out), 4);
    close(server);
    struct pbuf b = read_to_eof(c, 1000, "the sender's close");
    cr_assert_str_eq(b.p, "head\r\n0123");
    close(fd);
    close(c);
}

Test(serve, write_to_a_full_or_closed_peer)
{
    int sp[2];
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);

    struct conn_out out;
    memset(&out, 0, sizeof(out));
    out.iov[0] = (struct iovec){chunk, sizeof(chunk)};
    out.iovcnt = 1;
    ssize_t n;
    int rounds = 0;
    while ((n = send_plain(sp[0], &out)) > 0)
        cr_assert_lt(++rounds, 100000);
    cr_assert_eq(n, -1);
    cr_assert(errno == EAGAIN || errno == EWOULDBLOCK, "errno %d", errno);

    /* the peer is gone: EPIPE, not a SIGPIPE (the buffers are sent with MSG_NOSIGNAL) */
    struct sigaction dfl, old;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    cr_assert_eq(sigaction(SIGPIPE, &dfl, &old), 0);
    close(sp[1]);
    cr_assert_eq(send_plain(sp[0], &out), -1);
    cr_assert_eq(errno, EPIPE);
    cr_assert_eq(sigaction(SIGPIPE, &old, NULL), 0);
    close(sp[0]);
}

/* ---- lingering close ---- */

struct lingering {
    int fd;
    int64_t started, ended;
    pthread_t thread;
};

static void *linger_thread(void *arg)
{
    struct lingering *l = arg;
    serve_lingering_close(l->fd);
    l->ended = now_ms();
    return NULL;
}

/* A new connection whose client has sent `unread` (may be NULL), which the server has not read; then
 * serve_lingering_close() on the server's end. Returns the client's end. */
static int linger_start(struct lingering *l, const char *unread)
{
    struct sockaddr_in peer;
    int c = tcp_pair(&l->fd, &peer);
    if (unread != NULL)
        send_str(c, unread);
    l->started = now_ms();
    cr_assert_eq(pthread_create(&l->thread, NULL, linger_thread, l), 0);
    return c;
}

Test(serve, lingering_close_reads_until_the_client_closes)
{
    struct lingering l;
    int c = linger_start(&l, "unread request bytes");
    struct pbuf b = read_to_eof(c, 1000, "the server's FIN comes at once");
    cr_assert_eq(b.len, 0);
    /* still sending after the FIN: read and dropped, no reset */
    send_str(c, "more of a body nobody reads");
    usleep(50 * 1000);
    char byte;
    cr_assert_eq(read(c, &byte, 1), 0, "EOF again, not ECONNRESET: %s", strerror(errno));
    close(c);
    cr_assert_eq(pthread_join(l.thread, NULL), 0);
    cr_assert_lt(l.ended - l.started, 1000, "returned at the client's close");
    cr_assert_eq(fcntl(l.fd, F_GETFD), -1, "closed");
}

Test(serve, lingering_close_gives_up_after_two_seconds, .timeout = 10)
{
    struct lingering l;
    int c = linger_start(&l, NULL);

    cr_assert_eq(pthread_join(l.thread, NULL), 0);
    cr_assert_geq(l.ended - l.started, 1900);
    cr_assert_leq(l.ended - l.started, 3500);
    close(c);
}

Test(serve, error_page_reaches_a_client_that_is_still_sending, .timeout = 15)
{
    srv.limit_request_body = 1000;
    struct served sv;
    int c = serve_start(&sv, NULL);
    char *body = malloc(1 << 20);
    cr_assert_not_null(body);
    memset(body, 'b', 1 << 20);

    /* the 413 comes as soon as the head is read; the client goes on sending a megabyte of body */
    send_str(c, "POST /t?mem HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n");
    size_t sent = 0;
    while (sent < (1u << 20)) {
        ssize_t n = send(c, body + sent, (1u << 20) - sent, MSG_NOSIGNAL);
        cr_assert_gt(n, 0, "send after %zu bytes: %s", sent, strerror(errno));
        sent += (size_t)n;
    }
    free(body);
    struct pbuf b = read_to_eof(c, 5000, "the 413");
    cr_assert(strncmp(b.p, "HTTP/1.1 413 Content Too Large\r\n", 32) == 0, "%s", b.p);
    cr_assert(strstr(b.p, "\r\nConnection: close\r\n") != NULL, "%s", b.p);
    cr_assert(strstr(b.p, "<h1>Content Too Large</h1>") != NULL, "the whole page arrived: %s", b.p);
    close(c);
    serve_join(&sv, 3000);
}
