/*
 * RequestReadTimeout (mod_reqtimeout's semantics) against the real server under every MPM: the header stage
 * from accept (or from the first byte of a keep-alive request), the minimum rate that extends it up to its
 * maximum, the body stage, 408 with Connection: close and the info line in the error log, and capacity held
 * by slow clients given back. `Timeout 30` in every configuration here, so that only RequestReadTimeout can
 * explain a 408 within a few seconds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* Waits for the 408 on c and returns after how many ms since `since` it came; asserts the exact page and the
 * close, and closes c. */
static int64_t expect_408(struct conn *c, int64_t since, int within_ms)
{
    struct resp *r = must_read_within(c, within_ms, "no 408 within %d ms", within_ms);
    int64_t took = now_ms() - since;
    expect_last_error(r, c, 408);
    return took;
}

/* Sends the incomplete request raw on c and asserts the 408 that ends it after lo to hi ms (why names the
 * deadline); closes c. */
static void expect_408_after(struct conn *c, const char *raw, int lo, int hi, const char *why)
{
    conn_send_str(c, raw);
    int64_t took = expect_408(c, now_ms(), 5000);
    hassert(took >= lo && took < hi, "408 after %lld ms, want %d to %d ms (%s)", (long long)took, lo, hi,
            why);
}

MPM_TEST(reqtimeout, header_stage_from_accept, .timeout = 20)
{
    /* AcceptFilter none: the server takes the connection at the handshake, so the silent one below is its */
    struct srv *s =
        server_start(mpm, "Timeout 30\nRequestReadTimeout header=1-2,MinRate=500\nAcceptFilter http none\n");
    int64_t start = now_ms();
    struct conn *c = conn_open(s->port);
    conn_send_str(c, "GET /index.html HTTP/1.1\r\nHost: local");
    int64_t took = expect_408(c, start, 5000);
    hassert(took >= 900 && took < 2500, "408 after %lld ms; header=1 means about 1 s", (long long)took);
    /* logged with the request line that had arrived, as Apache's (the line may follow the response) */
    hassert(wait_log(s->access_log, "\"GET /index.html HTTP/1.1\" 408 ", 1, 3000) == 1, "access log: %s",
            read_file(s->access_log, NULL));
    /* a silent connection is closed at the header timeout without a response, as Apache's */
    start = now_ms();
    c = conn_open(s->port);
    expect_closed(c, 4000);
    took = now_ms() - start;
    hassert(took >= 900 && took < 2500, "silent connection closed after %lld ms", (long long)took);
    conn_close(c);
    hassert(wait_log(s->error_log, "Request header read timeout", 1, 3000) >= 1,
            "no info line in the error log");
    server_stop(s);
}

MPM_TEST(reqtimeout, accept_filter_data_starts_the_header_stage_at_the_first_byte, .timeout = 20)
{
    /* AcceptFilter http data, the default: the kernel hands the connection over with its first bytes, so a
     * client silent for longer than header=1-2 still has its whole header stage once it speaks */
    struct srv *s = server_start(mpm, "Timeout 30\nRequestReadTimeout header=1-2,MinRate=500\n");
    struct conn *c = conn_open(s->port);
    usleep(2600 * 1000);
    hassert(conn_fill(c, 0) == -1 && c->len == 0, "the server answered or closed a connection it never took");
    conn_send_str(c, "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    struct resp *r = must_read_within(c, 3000, "no response to the first request after 2.6 s of silence");
    expect_file(r, s, "index.html", NULL, 0);
    resp_free(r);
    conn_close(c);
    hassert(log_count(s->error_log, "Request header read timeout") == 0, "a header timeout was logged");
    server_stop(s);
}

MPM_TEST(reqtimeout, min_rate_extends_up_to_the_maximum, .timeout = 20)
{
    /* 1 s, plus 1 s per 10 bytes, at most 3 s: a client sending 20 bytes every 200 ms (100 B/s) keeps
     * extending its deadline, but the maximum ends it at 3 s */
    struct srv *s = server_start(mpm, "Timeout 30\nRequestReadTimeout header=1-3,MinRate=10\n");
    int64_t start = now_ms();
    struct conn *c = conn_open(s->port);
    conn_send_str(c, "GET /index.html HTTP/1.1\r\n");
    char line[32];
    int i = 0;
    for (; now_ms() - start < 6000; i++) {
        snprintf(line, sizeof(line), "X-%03d: aaaaaaaaaaaaa\r\n", i); /* 20 bytes */
        if (send(c->fd, line, strlen(line), MSG_NOSIGNAL) < 0)
            break; /* the server has closed */
        if (conn_fill(c, 200) != -1)
            break; /* the 408 (or the close) arrived */
    }
    int64_t took = expect_408(c, start, 3000);
    hassert(took >= 2700 && took < 4500, "408 after %lld ms (%d header lines sent); the cap is 3 s",
            (long long)took, i);
    server_stop(s);
}

MPM_TEST(reqtimeout, body_stage, .timeout = 20)
{
    struct srv *s = server_start(mpm, "Timeout 30\nRequestReadTimeout header=10 body=1\n");
    struct conn *c = conn_open(s->port);
    sleep_ms(1500); /* longer than the body timeout: the body stage starts with the end of the headers */
    expect_408_after(c,
                     "POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n0123456789",
                     900, 2500, "of body; body=1 means about 1 s");
    hassert(wait_log(s->error_log, "Request body read timeout", 1, 3000) >= 1,
            "no info line in the error log");
    server_stop(s);
}

MPM_TEST(reqtimeout, keepalive_request_starts_at_its_first_byte, .timeout = 20)
{
    struct srv *s =
        server_start(mpm, "Timeout 30\nKeepAliveTimeout 10\nRequestReadTimeout header=1-2,MinRate=500\n");
    struct conn *c = conn_open(s->port);
    expect_status(c, "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n", 200);
    sleep_ms(1500); /* idle: KeepAliveTimeout applies, not the header timeout */
    expect_408_after(c, "GET /index.html HTTP/1.1\r\n", 900, 2500, "after the first byte");
    server_stop(s);
}

MPM_TEST(reqtimeout, disabled_by_zero, .timeout = 20)
{
    struct srv *s = server_start(mpm, "Timeout 2\nRequestReadTimeout header=0 body=0\n");
    struct conn *c = conn_open(s->port);
    /* header=0: only Timeout (2 s after the last byte) applies */
    expect_408_after(c, "GET /index.html HTTP/1.1\r\n", 1800, 3500, "Timeout 2");
    server_stop(s);
}

MPM_TEST(reqtimeout, slow_clients_give_capacity_back, .timeout = 30)
{
    /* Two slow clients take all there is (2 processes, 2 threads, or 2 connections); RequestReadTimeout
     * frees it after about 1 s, and a waiting client is then served. */
    struct srv *s = server_start(mpm, "Timeout 30\nRequestReadTimeout header=1-2,MinRate=500\n"
                                      "<IfModule mpm_prefork_module>\n"
                                      "  StartServers 2\n  MinSpareServers 1\n  MaxSpareServers 2\n"
                                      "  ServerLimit 2\n  MaxRequestWorkers 2\n"
                                      "</IfModule>\n"
                                      "<IfModule mpm_worker_module>\n"
                                      "  StartServers 1\n  ServerLimit 1\n  ThreadsPerChild 2\n"
                                      "  MaxRequestWorkers 2\n  MinSpareThreads 1\n  MaxSpareThreads 2\n"
                                      "</IfModule>\n"
                                      "<IfModule mpm_event_module>\n"
                                      "  StartServers 1\n  ServerLimit 1\n  WorkerConnections 2\n"
                                      "</IfModule>\n");
    struct conn *slow[2];
    int64_t start = now_ms();
    for (int i = 0; i < 2; i++) {
        slow[i] = conn_open(s->port);
        conn_send_str(slow[i], "GET /index.html HTTP/1.1\r\nHost: loc");
    }
    sleep_ms(300);
    struct conn *c = conn_open(s->port);
    conn_send_str(c, "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    struct resp *r = must_read_within(c, 6000, "the waiting client was not served");
    int64_t took = now_ms() - start;
    expect_file(r, s, "page.html", NULL, 0);
    hassert(took >= 800, "served after %lld ms: the slow clients did not hold the capacity", (long long)took);
    hassert(took < 4000, "served after %lld ms", (long long)took);
    resp_free(r);
    for (int i = 0; i < 2; i++)
        expect_408(slow[i], start, 3000);
    conn_close(c);
    server_stop(s);
}

MPM_TEST(reqtimeout, timeout_cuts_a_reader_that_stops_reading, .timeout = 30)
{
    /* Timeout (3 s in the harness) bounds a write that makes no progress: a client that asks for 32 MiB and
     * reads nothing is disconnected, and the worker, thread or connection slot is free again. */
    enum { BIG = 32 << 20 };
    struct srv *s = server_new(mpm, NULL);
    char *data = malloc(BIG);
    memset(data, 'z', BIG);
    char *path = xasprintf("%s/huge.bin", s->htdocs);
    write_file(path, data, BIG);
    free(path);
    free(data);
    server_launch(s, NULL);
    /* a small receive buffer set before connect() (which turns off its autotuning, up to 32 MiB here): the
     * kernel can then hold only the server's send buffer (4 MiB at most) of the response */
    struct conn *c = calloc(1, sizeof(*c));
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rcvbuf = 16384;
    hassert(c->fd >= 0 && setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) == 0,
            "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    hassert(connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect: %s", strerror(errno));
    conn_send_str(c, "GET /huge.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
    int64_t start = now_ms();
    sleep_ms(5000); /* read nothing for longer than Timeout */
    size_t got = 0;
    int rc;
    while ((rc = conn_fill(c, 2000)) > 0) {
        got += c->len;
        c->len = 0;
    }
    hassert(rc == 0 || rc == -2, "the connection was not ended (read: %d) after %lld ms", rc,
            (long long)(now_ms() - start));
    hassert(got > 0 && got < (size_t)BIG, "received %zu of %d bytes", got, BIG);
    conn_close(c);
    /* the server is fine and serves the next client */
    expect_served(s, "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n", "page.html", NULL);
    server_stop(s);
}
