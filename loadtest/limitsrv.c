/* limitsrv: the ceiling of this machine for keep-alive HTTP/1.1, the reference peer of loadtest/bench.
 *
 * NPROCS processes share one listening socket on 127.0.0.1:PORT; each runs its own epoll loop and watches the
 * listener with EPOLLEXCLUSIVE, so one process wakes per new connection. Every request head (whatever ends in
 * an empty line, "\r\n\r\n") is answered with one response built at start: the bytes of FILE under fixed
 * headers shaped like httpd's. No parsing, no file I/O, no clock and no log per request; pipelined heads get
 * one answer each. Nothing that does real HTTP can be faster, so a server's requests/s divided by limitsrv's
 * says how close it comes to what the machine allows. It fits the keep-alive workloads only.
 *
 * With MAXREQ, a connection ends as a server's with MaxKeepAliveRequests MAXREQ (nginx: keepalive_requests)
 * does: its MAXREQ-th response says "Connection: close" and limitsrv closes the connection once it is
 * written; heads after it are not answered. Without MAXREQ (or 0) it never closes a connection itself. The
 * other targets of a measurement end their connections so: a ceiling that does not would serve another
 * workload, with no reconnections, and its connections, all accepted in one burst, would stay where that
 * burst put them.
 *
 * Usage: limitsrv PORT NPROCS [FILE [MAXREQ]]   (without FILE the body is 1024 bytes of 'x')
 * The first process supervises NPROCS serving children: SIGTERM to its PID stops and reaps them all (and they
 * die with it if it is killed: PR_SET_PDEATHSIG). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define MAX_IOV    64

/* What one connection owes its client: a request head is counted once its empty line is seen. */
struct conn {
    unsigned char seen;     /* how much of "\r\n\r\n" the bytes read so far end with (0-3) */
    unsigned char want_out; /* EPOLLOUT is armed: the socket buffer was full */
    size_t owed;            /* responses not yet completely written */
    size_t sent;            /* bytes of the first owed response already written */
    size_t heads;           /* request heads answered or owed on this connection */
};

static char *resp, *resp_last; /* resp_last: the same with "Connection: close", the MAXREQ-th response */
static size_t resp_len, resp_last_len;
static size_t max_requests; /* MAXREQ; 0: unlimited */
static struct conn *conns;  /* indexed by descriptor */
static int max_fd;

/* One response: the fixed head, `extra` header lines, the body; NULL when out of memory. */
static char *canned(const char *body, size_t body_len, const char *extra, size_t *len)
{
    char head[512];
    int head_len =
        snprintf(head, sizeof head,
                 "HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\nServer: limitsrv\r\n"
                 "Last-Modified: Thu, 01 Jan 2026 00:00:00 GMT\r\nETag: \"%zx-0\"\r\n"
                 "Accept-Ranges: bytes\r\nContent-Length: %zu\r\nContent-Type: text/html\r\n%s\r\n",
                 body_len, body_len, extra);
    char *r = malloc((size_t)head_len + body_len);
    if (r) {
        memcpy(r, head, (size_t)head_len);
        memcpy(r + head_len, body, body_len);
        *len = (size_t)head_len + body_len;
    }
    return r;
}

static int build_response(const char *file, char *err, size_t errlen)
{
    char *body = NULL;
    size_t body_len = 1024;
    int fd = -1;
    struct stat st;

    if (file) {
        if ((fd = open(file, O_RDONLY)) < 0 || fstat(fd, &st) < 0) {
            snprintf(err, errlen, "%s: %s", file, strerror(errno));
            goto fail;
        }
        body_len = (size_t)st.st_size;
    }
    if (!(body = malloc(body_len + 1))) {
        snprintf(err, errlen, "malloc() failed");
        goto fail;
    }
    if (!file) {
        memset(body, 'x', body_len);
    } else {
        size_t got = 0;
        while (got < body_len) {
            ssize_t n = read(fd, body + got, body_len - got);
            if (n <= 0) {
                snprintf(err, errlen, "read(%s) failed: %s", file, n < 0 ? strerror(errno) : "short file");
                goto fail;
            }
            got += (size_t)n;
        }
        close(fd);
        fd = -1;
    }
    if (!(resp = canned(body, body_len, "", &resp_len)) ||
        !(resp_last = canned(body, body_len, "Connection: close\r\n", &resp_last_len))) {
        snprintf(err, errlen, "malloc() failed");
        goto fail;
    }
    free(body);
    return 0;
fail:
    free(body);
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Counts the request heads completed by buf[0..len), carrying the partial match of "\r\n\r\n" in c->seen. */
static size_t count_heads(struct conn *c, const char *buf, size_t len)
{
    size_t heads = 0;
    unsigned seen = c->seen;

    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\r')
            seen = seen == 2 ? 3 : 1;
        else if (buf[i] == '\n' && (seen == 1 || seen == 3))
            seen++;
        else
            seen = 0;
        if (seen == 4) {
            heads++;
            seen = 0;
        }
    }
    c->seen = (unsigned char)seen;
    return heads;
}

static void drop(int ep, int fd)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    memset(&conns[fd], 0, sizeof conns[fd]);
}

static int watch(int ep, int op, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, op, fd, &ev) < 0) {
        fprintf(stderr, "limitsrv: epoll_ctl() failed: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* The k-th response of a connection (counted from 1) and its length. */
static const char *response(size_t k, size_t *len)
{
    int last = max_requests && k == max_requests;
    *len = last ? resp_last_len : resp_len;
    return last ? resp_last : resp;
}

/* Writes what fd owes, as many responses per writev() as fit; 0 when done or waiting for EPOLLOUT, -1 to
 * close (an error, or the MAXREQ-th response is written). */
static int flush(int ep, int fd)
{
    struct conn *c = &conns[fd];
    struct iovec iov[MAX_IOV];

    while (c->owed) {
        size_t first = c->heads - c->owed + 1, len;
        int n = 0;
        while ((size_t)n < c->owed && n < MAX_IOV) {
            const char *r = response(first + (size_t)n, &len);
            size_t skip = n == 0 ? c->sent : 0;
            iov[n++] = (struct iovec){.iov_base = (char *)r + skip, .iov_len = len - skip};
        }
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno != EAGAIN)
                return -1;
            if (!c->want_out && watch(ep, EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLOUT) < 0)
                return -1;
            c->want_out = 1;
            return 0;
        }
        size_t done = (size_t)w + c->sent;
        while (c->owed && (response(c->heads - c->owed + 1, &len), done >= len)) {
            done -= len;
            c->owed--;
        }
        c->sent = done;
    }
    if (max_requests && c->heads == max_requests)
        return -1;
    if (c->want_out && watch(ep, EPOLL_CTL_MOD, fd, EPOLLIN) < 0)
        return -1;
    c->want_out = 0;
    return 0;
}

static void accept_all(int ep, int ls)
{
    int one = 1;

    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != ECONNABORTED)
                fprintf(stderr, "limitsrv: accept4() failed: %s\n", strerror(errno));
            return;
        }
        if (fd >= max_fd || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
            watch(ep, EPOLL_CTL_ADD, fd, EPOLLIN) < 0) {
            close(fd);
            continue;
        }
    }
}

static int serve(int ls)
{
    static char buf[16384];
    struct epoll_event evs[MAX_EVENTS];
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0) {
        fprintf(stderr, "limitsrv: epoll_create1() failed: %s\n", strerror(errno));
        return 1;
    }
    if (watch(ep, EPOLL_CTL_ADD, ls, EPOLLIN | EPOLLEXCLUSIVE) < 0)
        return 1;
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "limitsrv: epoll_wait() failed: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                accept_all(ep, ls);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(fd, buf, sizeof buf);
                if (r == 0 || (r < 0 && errno != EAGAIN)) {
                    drop(ep, fd);
                    continue;
                }
                if (r > 0) {
                    struct conn *c = &conns[fd];
                    size_t heads = count_heads(c, buf, (size_t)r);
                    if (max_requests && heads > max_requests - c->heads)
                        heads = max_requests - c->heads; /* nothing after the last response */
                    c->heads += heads;
                    c->owed += heads;
                }
            }
            if (flush(ep, fd) < 0)
                drop(ep, fd);
        }
    }
}

/* The first process only starts the NPROCS serving children and waits for SIGTERM, SIGINT or a child's death:
 * then it stops and reaps them all, so nothing is left behind. */
static int supervise(int ls, int nprocs)
{
    pid_t first = getpid(), *kids = calloc((size_t)nprocs, sizeof *kids);
    sigset_t set;
    int status = 0, alive = 0;

    if (!kids) {
        fprintf(stderr, "limitsrv: calloc() failed\n");
        return 1;
    }
    /* blocked before the first fork, so that none of them is missed; sigwaitinfo() takes them below */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    for (int i = 0; i < nprocs; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "limitsrv: fork() failed: %s\n", strerror(errno));
            status = 1;
            break;
        }
        if (pid == 0) {
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            /* the parent may have died before prctl(): then no signal would ever come */
            if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != first)
                _exit(1);
            _exit(serve(ls));
        }
        kids[alive++] = pid;
    }
    while (status == 0) {
        int sig = sigwaitinfo(&set, NULL);
        if (sig == SIGCHLD) {
            fprintf(stderr, "limitsrv: a child exited: stopping\n");
            status = 1;
        } else if (sig == SIGTERM || sig == SIGINT) {
            break;
        }
    }
    for (int i = 0; i < alive; i++)
        kill(kids[i], SIGTERM);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    free(kids);
    return status;
}

int main(int argc, char **argv)
{
    char err[256];
    struct rlimit rl;
    int one = 1;

    if (argc < 3 || argc > 5 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535 || atoi(argv[2]) <= 0 ||
        (argc > 4 && atoi(argv[4]) < 0)) {
        fprintf(stderr, "usage: limitsrv PORT NPROCS [FILE [MAXREQ]]\n");
        return 2;
    }
    max_requests = argc > 4 ? (size_t)atoi(argv[4]) : 0;
    if (build_response(argc > 3 && argv[3][0] ? argv[3] : NULL, err, sizeof err) < 0) {
        fprintf(stderr, "limitsrv: %s\n", err);
        return 1;
    }
    max_fd = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (1 << 20) ? (int)rl.rlim_cur : 1 << 20;
    if (!(conns = calloc((size_t)max_fd, sizeof *conns))) {
        fprintf(stderr, "limitsrv: calloc() failed\n");
        return 1;
    }

    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 4096) < 0) {
        fprintf(stderr, "limitsrv: listening on 127.0.0.1:%s failed: %s\n", argv[1], strerror(errno));
        return 1;
    }

    return supervise(ls, atoi(argv[2]));
}
