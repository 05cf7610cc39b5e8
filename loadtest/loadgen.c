/* loadgen: an open-loop HTTP/1.1 load generator for loadtest/compare.
 *
 * Requests arrive at a constant rate whatever the server does: request k is due at start + k / RATE. A due
 * request goes out on an idle keep-alive connection, else on a new connection while fewer than MAXCONNS are
 * open, else it waits in the client's queue for the first connection to come free. Its latency runs from the
 * moment it was due, not from when it was written, so time spent waiting — in this client's queue, in the
 * server's listen backlog, in a handshake the kernel dropped and retried — is in every percentile (a
 * closed-loop client such as wrk starts its clock only once connected, and sends nothing while its
 * connections wait: coordinated omission).
 *
 * Idle keep-alive connections are reused oldest first, so each is used in turn: a server that holds a process
 * or thread per connection (prefork, worker) is not left waiting out its KeepAliveTimeout on one this client
 * stopped using while new connections queue behind it.
 *
 * A request not answered TIMEOUT seconds after it was due is given up (a timeout error) and counts in the
 * percentiles with the time it had waited, a lower bound; connect, read and write errors count apart and are
 * not in the percentiles. Requests due during the first WARMUP seconds are sent but not counted. When the run
 * ends the requests still owed (queued here or sent and unanswered) are counted, then given TIMEOUT seconds
 * to finish.
 *
 * With -S every connection speaks TLS (OpenSSL, the certificate not verified, no session cache and no
 * session offered, so that every connection is a full handshake): a request's latency then includes the
 * handshakes of a new connection, and with -C each request is a new connection and a full handshake.
 *
 * With -L N instead of -r, the load is a closed loop (as wrk's): N requests are always outstanding, each sent
 * when an earlier one is answered or has failed, and its latency runs from when it was sent; duration_s then
 * runs until the last of them was answered, so rps counts what the server did in that time. -L 50 -C -S is
 * a full TLS handshake per request on 50 connections at once, as fast as the server completes them (wrk
 * resumes the session of a connection's previous life, so it cannot measure full handshakes).
 *
 * Usage: loadgen -p PORT -u PATH (-r RATE | -L N) -d SECONDS [-c MAXCONNS] [-t TIMEOUT] [-w WARMUP] [-C] [-S]
 *   -C sends Connection: close (a new connection per request); -S speaks https. 127.0.0.1 only.
 * Prints one JSON line (times in µs): offered_rps, scheduled, requests (answered), duration_s, rps, bytes,
 * latency_us {mean, p50, p90, p99, max}, samples (answered + timed out: what the percentiles are of), errors
 * {connect, read, write, timeout}, non2xx, owed_end (requests due but unanswered when the run ended),
 * queued_end (those of them still in this client's queue, waiting for a connection: every connection allowed
 * was busy), client_queue_peak, connections_peak, lag_us_max (how late this client sent a due request at
 * worst, queueing for a connection aside: its own overload). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define HEAD_MAX   4096

enum state { FREE, CONNECTING, HANDSHAKE, BUSY, IDLE };

struct conn {
    enum state state;
    SSL *ssl;       /* with -S */
    int served;     /* responses read on this connection */
    double due;     /* when its request was due */
    int head_len;   /* bytes of the response head so far */
    long long body; /* body bytes still to read; -1: until EOF */
    int head_done;
    int status;
    int close_after; /* the response said Connection: close */
    int in_ring;     /* on the idle ring (perhaps from an earlier life of the descriptor) */
    char head[HEAD_MAX];
};

static struct conn *conns;
static int nconns_max, open_conns, epfd, port, maxconns = 1000, hi_fd;
/* idle keep-alive connections, a ring taken oldest first (closed ones are skipped): each is used in turn, so
 * a server that holds a process or thread per connection is not left waiting on one this client has forgotten
 */
static int *idle_ring, idle_head, idle_len;
static char request[1024];
static size_t request_len;
static double t_measure, t_end, timeout_s;
static SSL_CTX *tls_ctx; /* -S */

/* the client's queue of due requests waiting for a connection: their due times, a ring */
static double *queue;
static size_t q_head, q_len, q_cap, q_peak;

static uint32_t *lat;
static size_t nlat, cap_lat;
static unsigned long long scheduled, answered, bytes, non2xx, e_connect, e_read, e_write, e_timeout, owed_end,
    queued_end;
static int conn_peak;
static double lag_max;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void q_push(double due, int front)
{
    if (q_len == q_cap) {
        size_t cap = q_cap ? q_cap * 2 : 1024;
        double *n = malloc(cap * sizeof *n);
        if (!n)
            die("malloc");
        for (size_t i = 0; i < q_len; i++)
            n[i] = queue[(q_head + i) % q_cap];
        free(queue);
        queue = n, q_cap = cap, q_head = 0;
    }
    if (front) {
        q_head = (q_head + q_cap - 1) % q_cap;
        queue[q_head] = due;
    } else {
        queue[(q_head + q_len) % q_cap] = due;
    }
    q_len++;
    if (q_len > q_peak)
        q_peak = q_len;
}

static double q_pop(void)
{
    double due = queue[q_head];
    q_head = (q_head + 1) % q_cap;
    q_len--;
    return due;
}

static int counted(double due)
{
    return due >= t_measure && due < t_end;
}

static void record(double due, double t)
{
    if (!counted(due))
        return;
    if (nlat == cap_lat) {
        cap_lat = cap_lat ? cap_lat * 2 : 65536;
        if (!(lat = realloc(lat, cap_lat * sizeof *lat)))
            die("realloc");
    }
    double us = (t - due) * 1e6;
    lat[nlat++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static void close_conn(int fd)
{
    if (conns[fd].ssl) {
        SSL_free(conns[fd].ssl); /* no close_notify: the connection is dropped as a plain one is */
        conns[fd].ssl = NULL;
    }
    conns[fd].state = FREE;
    open_conns--;
    close(fd);
}

static void fail(int fd, unsigned long long *kind)
{
    if (counted(conns[fd].due))
        (*kind)++;
    close_conn(fd);
}

static void next_from_queue(int fd);

/* The request on a used keep-alive connection met the server closing it (its KeepAliveTimeout, or
 * MaxKeepAliveRequests): the server never saw it, so it goes back to the head of the queue, for a new
 * connection. */
static void resend(int fd)
{
    double due = conns[fd].due;
    close_conn(fd);
    q_push(due, 1);
    next_from_queue(-1);
}

/* read() or SSL_read(): > 0 bytes, 0 at the end of the stream, -1 with errno (EAGAIN: nothing yet) */
static ssize_t conn_read(int fd, void *buf, size_t len)
{
    SSL *ssl = conns[fd].ssl;
    if (!ssl)
        return read(fd, buf, len);
    int n = SSL_read(ssl, buf, (int)len);
    if (n > 0)
        return n;
    int err = SSL_get_error(ssl, n);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && errno == 0))
        return 0; /* close_notify, or a FIN without one */
    if (err != SSL_ERROR_SYSCALL)
        errno = EIO;
    return -1;
}

static ssize_t conn_write(int fd, const void *buf, size_t len)
{
    SSL *ssl = conns[fd].ssl;
    if (!ssl)
        return write(fd, buf, len);
    int n = SSL_write(ssl, buf, (int)len);
    ERR_clear_error();
    return n > 0 ? n : -1;
}

static void send_request(int fd, double due)
{
    struct conn *c = &conns[fd];
    c->state = BUSY, c->due = due, c->head_len = 0, c->head_done = 0, c->body = 0, c->status = 0;
    c->close_after = 0;
    if (conn_write(fd, request, request_len) != (ssize_t)request_len) {
        if (c->served > 0) {
            resend(fd);
            return;
        }
        fail(fd, &e_write);
        next_from_queue(-1);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
}

/* A step of a new connection's TLS handshake; once done its request goes out. A failed handshake is a connect
 * error. */
static void handshake(int fd)
{
    struct conn *c = &conns[fd];
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        send_request(fd, c->due);
        return;
    }
    int err = SSL_get_error(c->ssl, r);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
        struct epoll_event ev = {.events = err == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT, .data.fd = fd};
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
        return;
    }
    fail(fd, &e_connect);
    next_from_queue(-1);
}

/* The TCP connection is up: the request goes out, or with -S the handshake begins. */
static void connected(int fd)
{
    struct conn *c = &conns[fd];
    if (!tls_ctx) {
        send_request(fd, c->due);
        return;
    }
    if (!(c->ssl = SSL_new(tls_ctx)) || !SSL_set_fd(c->ssl, fd)) {
        fail(fd, &e_connect);
        next_from_queue(-1);
        return;
    }
    SSL_set_connect_state(c->ssl);
    c->state = HANDSHAKE;
    handshake(fd);
}

static void open_conn(double due)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || fd >= nconns_max) {
        if (fd >= 0)
            close(fd);
        if (counted(due))
            e_connect++;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    open_conns++;
    if (open_conns > conn_peak)
        conn_peak = open_conns;
    struct conn *c = &conns[fd];
    c->state = CONNECTING, c->due = due, c->served = 0;
    if (fd > hi_fd)
        hi_fd = fd;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        fail(fd, &e_connect);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.fd = fd};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl");
}

/* A connection came free, or a slot for one: the oldest queued request takes it. */
static void next_from_queue(int fd)
{
    if (fd >= 0) {
        if (q_len) {
            send_request(fd, q_pop());
        } else {
            conns[fd].state = IDLE;
            if (!conns[fd].in_ring) {
                conns[fd].in_ring = 1;
                idle_ring[(idle_head + idle_len++) % nconns_max] = fd;
            }
        }
        return;
    }
    if (q_len && open_conns < maxconns)
        open_conn(q_pop());
}

static int idle_fd(void)
{
    while (idle_len) {
        int fd = idle_ring[idle_head];
        idle_head = (idle_head + 1) % nconns_max;
        idle_len--;
        conns[fd].in_ring = 0;
        if (conns[fd].state == IDLE)
            return fd;
    }
    return -1;
}

static void arrive(double due)
{
    scheduled += counted(due);
    int fd = idle_fd();
    if (fd >= 0) {
        send_request(fd, due);
    } else if (open_conns < maxconns) {
        open_conn(due);
    } else {
        q_push(due, 0);
    }
}

static void finished(int fd, double t, int close_mode)
{
    struct conn *c = &conns[fd];
    record(c->due, t);
    if (counted(c->due)) {
        answered++;
        if (c->status < 200 || c->status > 399)
            non2xx++;
    }
    c->served++;
    if (close_mode || c->close_after || c->body < 0) {
        close_conn(fd);
        next_from_queue(-1);
    } else {
        next_from_queue(fd);
    }
}

static void parse_head(struct conn *c)
{
    c->head[c->head_len] = 0;
    c->status = atoi(c->head + 9);
    c->body = -1;
    for (char *line = strstr(c->head, "\r\n"); line && line[2] != '\r'; line = strstr(line + 2, "\r\n")) {
        char *h = line + 2, *eol = strstr(h, "\r\n"), *cl;
        if (!strncasecmp(h, "Content-Length:", 15))
            c->body = atoll(h + 15);
        else if (!strncasecmp(h, "Connection:", 11) && (cl = strcasestr(h, "close")) && cl < eol)
            c->close_after = 1;
    }
    if (c->status == 204 || c->status == 304)
        c->body = 0;
}

static void readable(int fd, int close_mode)
{
    struct conn *c = &conns[fd];
    char buf[65536];
    for (;;) {
        ssize_t n;
        if (c->state == BUSY && !c->head_done)
            n = conn_read(fd, c->head + c->head_len, HEAD_MAX - 1 - c->head_len);
        else
            n = conn_read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EAGAIN)
                return;
            if (c->state == IDLE) {
                close_conn(fd);
                return;
            }
            if (c->served > 0 && c->head_len == 0 && !c->head_done) {
                resend(fd); /* reset as the request crossed the server's close */
                return;
            }
            fail(fd, &e_read);
            next_from_queue(-1);
            return;
        }
        if (n == 0) {
            if (c->state == IDLE) { /* the server ended an idle keep-alive connection */
                close_conn(fd);
                return;
            }
            if (c->head_done && c->body < 0) {
                finished(fd, now(), 1);
                return;
            }
            if (c->served > 0 && c->head_len == 0) {
                resend(fd); /* closed as the request crossed it on a used connection */
                return;
            }
            fail(fd, &e_read);
            next_from_queue(-1);
            return;
        }
        if (c->state == IDLE)
            continue; /* bytes nobody asked for: ignore */
        if (counted(c->due))
            bytes += n;
        if (!c->head_done) {
            c->head_len += n;
            c->head[c->head_len] = 0;
            char *end = strstr(c->head, "\r\n\r\n");
            if (!end) {
                if (c->head_len >= HEAD_MAX - 1) {
                    fail(fd, &e_read);
                    next_from_queue(-1);
                    return;
                }
                continue;
            }
            int hl = (int)(end + 4 - c->head);
            long long extra = c->head_len - hl;
            c->head_len = hl;
            c->head_done = 1;
            parse_head(c);
            if (c->body >= 0) {
                c->body -= extra;
                if (c->body <= 0) {
                    finished(fd, now(), close_mode);
                    return;
                }
            }
        } else if (c->body >= 0) {
            c->body -= n;
            if (c->body <= 0) {
                finished(fd, now(), close_mode);
                return;
            }
        }
    }
}

static void expire(double t, double give_up)
{
    while (q_len && t - queue[q_head] > give_up) {
        double due = q_pop();
        record(due, t);
        e_timeout += counted(due);
    }
    for (int fd = 0; fd <= hi_fd; fd++) {
        struct conn *c = &conns[fd];
        if ((c->state == BUSY || c->state == CONNECTING || c->state == HANDSHAKE) && t - c->due > give_up) {
            record(c->due, t);
            fail(fd, &e_timeout);
            next_from_queue(-1);
        }
    }
}

static int owed(void)
{
    int n = (int)q_len;
    for (int fd = 0; fd <= hi_fd; fd++)
        n += conns[fd].state == BUSY || conns[fd].state == CONNECTING || conns[fd].state == HANDSHAKE;
    return n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
    if (!nlat)
        return 0;
    size_t i = (size_t)ceil(p / 100.0 * nlat);
    return lat[i ? i - 1 : 0];
}

int main(int argc, char **argv)
{
    const char *path = "/";
    double rate = 0, duration = 0, warmup = 0;
    int close_mode = 0, tls = 0, closed_loop = 0, opt;
    timeout_s = 5;
    while ((opt = getopt(argc, argv, "p:u:r:d:c:t:w:L:CS")) != -1) {
        switch (opt) {
        case 'p':
            port = atoi(optarg);
            break;
        case 'u':
            path = optarg;
            break;
        case 'r':
            rate = atof(optarg);
            break;
        case 'd':
            duration = atof(optarg);
            break;
        case 'c':
            maxconns = atoi(optarg);
            break;
        case 't':
            timeout_s = atof(optarg);
            break;
        case 'w':
            warmup = atof(optarg);
            break;
        case 'L':
            closed_loop = atoi(optarg);
            break;
        case 'C':
            close_mode = 1;
            break;
        case 'S':
            tls = 1;
            break;
        default:
            fprintf(stderr, "usage: loadgen -p PORT -u PATH (-r RATE | -L N) -d SECONDS [-c MAXCONNS] "
                            "[-t TIMEOUT] [-w WARMUP] [-C] [-S]\n");
            return 2;
        }
    }
    if (closed_loop > 0 && rate == 0) {
        maxconns = closed_loop; /* never more connections than requests outstanding: nothing queues here */
        rate = 1;               /* unused: arrivals come from answers */
    } else if (closed_loop) {
        fprintf(stderr, "loadgen: -L N (N > 0) replaces -r\n");
        return 2;
    }
    if (port <= 0 || port > 65535 || rate <= 0 || duration <= 0 || maxconns < 1 || timeout_s <= 0 ||
        warmup < 0) {
        fprintf(stderr, "loadgen: -p, -d and -r (or -L) are required and positive\n");
        return 2;
    }
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: loadgen\r\n%s\r\n",
                                   path, port, close_mode ? "Connection: close\r\n" : "");
    if (request_len >= sizeof request) {
        fprintf(stderr, "loadgen: path too long\n");
        return 2;
    }

    if (tls) {
        if (!(tls_ctx = SSL_CTX_new(TLS_client_method()))) {
            fprintf(stderr, "loadgen: SSL_CTX_new failed\n");
            return 2;
        }
        SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET);
    }
    signal(SIGPIPE, SIG_IGN); /* a write to a connection the server closed fails with EPIPE instead */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    nconns_max = rl.rlim_cur > 1048576 ? 1048576 : (int)rl.rlim_cur;
    if (maxconns > nconns_max - 64)
        maxconns = nconns_max - 64;
    if (!(conns = calloc((size_t)nconns_max, sizeof *conns)) ||
        !(idle_ring = calloc((size_t)nconns_max, sizeof(int))))
        die("calloc");
    if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1");

    double t0 = now() + (closed_loop ? 0 : 0.01);
    t_measure = t0 + warmup;
    t_end = t_measure + duration;
    unsigned long long k = 0;
    double next = t0, last_expire = t0;
    int ended = 0;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        double t = now();
        /* closed loop: a request for every one answered or failed, while the run lasts */
        for (int n = closed_loop && t < t_end ? closed_loop - owed() : 0; n > 0; n--)
            arrive(t);
        while (!closed_loop && next <= t && next < t_end) {
            if (t - next > lag_max && !q_len)
                lag_max = t - next;
            arrive(next);
            k++;
            next = t0 + k / rate;
        }
        if (!ended && t >= t_end) {
            ended = 1;
            owed_end = (unsigned long long)owed();
            queued_end = q_len;
        }
        if (t - last_expire >= 0.05) {
            expire(t, timeout_s);
            last_expire = t;
        }
        if (ended && owed() == 0)
            break;
        if (ended && t > t_end + timeout_s + 1)
            break;
        double wait = ended || closed_loop ? 0.05 : next - t;
        int ms = wait <= 0 ? 0 : wait > 0.05 ? 50 : (int)ceil(wait * 1000);
        int n = epoll_wait(epfd, evs, MAX_EVENTS, ms);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            struct conn *c = &conns[fd];
            if (c->state == FREE)
                continue;
            if (c->state == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
                    fail(fd, &e_connect);
                    next_from_queue(-1);
                    continue;
                }
                if (evs[i].events & EPOLLOUT)
                    connected(fd);
                continue;
            }
            if (c->state == HANDSHAKE) {
                handshake(fd);
                continue;
            }
            readable(fd, close_mode);
        }
    }

    if (closed_loop && now() - t_measure > duration)
        duration = now() - t_measure; /* the requests sent before the end were answered after it */
    qsort(lat, nlat, sizeof *lat, cmp_u32);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++)
        sum += lat[i];
    printf("{\"offered_rps\":%.1f,\"scheduled\":%llu,\"requests\":%llu,\"duration_s\":%.3f,\"rps\":%.1f,"
           "\"bytes\":%llu,\"latency_us\":{\"mean\":%.1f,\"p50\":%u,\"p90\":%u,\"p99\":%u,\"max\":%u},"
           "\"samples\":%zu,\"errors\":{\"connect\":%llu,\"read\":%llu,\"write\":%llu,\"timeout\":%llu},"
           "\"non2xx\":%llu,\"owed_end\":%llu,\"queued_end\":%llu,\"client_queue_peak\":%zu,\"connections_"
           "peak\":%d,"
           "\"lag_us_max\":%.0f}\n",
           closed_loop ? 0.0 : rate, scheduled, answered, duration, answered / duration, bytes,
           nlat ? sum / nlat : 0.0, pct(50), pct(90), pct(99), nlat ? lat[nlat - 1] : 0, nlat, e_connect,
           e_read, e_write, e_timeout, non2xx, owed_end, queued_end, q_peak, conn_peak, lag_max * 1e6);
    return 0;
}
