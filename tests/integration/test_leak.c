/*
 * Leaks: after 100,000 requests mixing good, bad and aborted ones, every process of the server is back to the
 * open descriptors and the resident memory it had before, under every MPM.
 *
 * The server runs a fixed set of processes, so that nothing is spawned or retired during the run and any
 * growth belongs to a process that served: prefork with StartServers = MinSpareServers = MaxSpareServers =
 * MaxRequestWorkers, worker with as many children as MaxRequestWorkers allows and spare-thread limits that
 * the idle count can never cross, event with its fixed StartServers; MaxConnectionsPerChild 0 everywhere. A
 * warm-up of the same mix first brings malloc arenas, thread stacks and caches to their steady size. Then,
 * once the server is idle, the baseline is read for every process of its group: the entries of
 * /proc/PID/fd, VmRSS and Threads from /proc/PID/status. After the run, once idle again, the same processes
 * must be there with exactly the same descriptors and threads, and at most a small tolerance more memory
 * (RSS_TOLERANCE_KB below, where it is justified). A server built with a sanitizer is held to the same
 * descriptors and threads, but not to its RSS, which the sanitizer's allocator governs.
 *
 * The load comes from one poll() loop over N_SLOTS non-blocking connections. Each connection follows a random
 * session: keep-alive requests one at a time or pipelined in batches, ended by the client closing (at once or
 * after a short idle time), by a request that makes the server close (Connection: close, a bad request), or
 * by an abort (half a request line, half a body, a large response left unread, a reset). Every complete
 * response is parsed by the harness (status line and shared invariants), its status and Connection header
 * checked, and counted by kind; the kinds must add up to exactly the requests issued.
 *
 * The one thing to know: "idle" is read from /proc, not guessed with a sleep. The server holds no connection
 * when its port has no connection in the kernel's TCP tables that is open, waiting in the accept queue, or
 * still owned by a file (an orphan the server has closed has inode 0 and costs no descriptor), and none of
 * its processes has a socket descriptor other than a listening or unix socket (a connection reset by the peer
 * leaves the tables while the server may still hold its descriptor).
 *
 * HTTPD_LEAK_KINDS=name,name,... restricts the mix to some kinds (names in `kinds` below), to bisect a
 * failure.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define TOTAL_REQUESTS  100000
#define WARMUP_REQUESTS 5000
#define N_SLOTS         12    /* concurrent client connections */
#define MAX_BATCH       8     /* requests pipelined in one write, at most */
#define MAX_SESSION     32    /* requests on one connection, at most */
#define PHASE_LIMIT_MS  45000 /* a phase that takes longer fails (a sanitizer build takes ~10 s) */
#define STALL_MS        5000  /* a connection that makes no progress for this long fails */
#define IDLE_LIMIT_MS   20000 /* how long the server may take to close its last connections */
#define MAX_PROCS       64
#define MAX_FAILURES    100  /* no new connection after this many failures: the first one says enough */
#define LONG_LEN        9000 /* beyond the default LimitRequestLine and LimitRequestFieldSize (8190) */

/*
 * RSS may exceed the baseline by max(RSS_TOLERANCE_KB, RSS_TOLERANCE_PCT %) per process, and the sum over the
 * group by max(RSS_TOTAL_KB, RSS_TOLERANCE_PCT %). After the warm-up the measured noise is a few pages (0 to
 * 16 kB per process, under 32 kB for the group, on every MPM): what malloc keeps of freed memory depends on
 * the order of frees, and a thread may first touch another page of its stack or arena. The bounds leave 10
 * times that and still catch a lost allocation of 32 bytes per request (3.2 MB over 100,000 requests, at
 * least 800 kB in each of prefork's 4 children) or per connection (over 500 kB for the ~17,000 connections).
 */
#define RSS_TOLERANCE_KB  256
#define RSS_TOTAL_KB      512
#define RSS_TOLERANCE_PCT 5

/* What a request does to its connection. */
enum kind_class {
    C_KEEP,  /* a complete response, the connection stays open */
    C_CLOSE, /* a complete response with Connection: close, then the server closes */
    C_ABORT  /* no response is read: the client gives up */
};

enum kind {
    K_GET_SMALL,
    K_GET_BIG,
    K_HEAD,
    K_NOT_FOUND,
    K_NOT_MODIFIED,
    K_RANGE,
    K_POST,
    K_CONN_CLOSE,
    K_BAD_GARBAGE,
    K_BAD_VERSION,
    K_BAD_HEADER,
    K_BAD_LINE,
    K_ABORT_LINE,
    K_ABORT_BODY,
    K_ABORT_BIG,
    K_ABORT_RST,
    K_IDLE,
    K_COUNT
};

static const struct kind_info {
    const char *name;
    enum kind_class cls;
    int weight; /* per mille of the requests drawn */
    int variants;
} kinds[K_COUNT] = {
    [K_GET_SMALL] = {"get_small", C_KEEP, 430, 4},      /* /, /page.html, /sub/, 1.0 keep-alive: 200 */
    [K_GET_BIG] = {"get_big", C_KEEP, 40, 1},           /* /big.bin (100 KB): 200 */
    [K_HEAD] = {"head", C_KEEP, 80, 2},                 /* HEAD /page.html, /big.bin: 200 without body */
    [K_NOT_FOUND] = {"not_found", C_KEEP, 80, 2},       /* 404 */
    [K_NOT_MODIFIED] = {"not_modified", C_KEEP, 80, 2}, /* If-Modified-Since, If-None-Match: 304 */
    [K_RANGE] = {"range", C_KEEP, 80, 3},               /* one range, two ranges (multipart), big.bin: 206 */
    [K_POST] = {"post", C_KEEP, 50, 2},                 /* POST with a body (length, chunked): 405 */
    [K_CONN_CLOSE] = {"conn_close", C_CLOSE, 20, 2},    /* Connection: close, HTTP/1.0: 200, closed */
    [K_BAD_GARBAGE] = {"bad_garbage", C_CLOSE, 15, 2},  /* garbage, no Host: 400, closed */
    [K_BAD_VERSION] = {"bad_version", C_CLOSE, 10, 1},  /* HTTP/2.0: 505, closed */
    [K_BAD_HEADER] = {"bad_header", C_CLOSE, 10, 1},    /* a 9000-byte header: 431, closed */
    [K_BAD_LINE] = {"bad_line", C_CLOSE, 10, 1},        /* a 9000-byte request line: 414, closed */
    [K_ABORT_LINE] = {"abort_line", C_ABORT, 20, 1},    /* half a request line, then close */
    [K_ABORT_BODY] = {"abort_body", C_ABORT, 20, 1},    /* half a body, then close */
    [K_ABORT_BIG] = {"abort_big", C_ABORT, 15, 1},      /* close once /big.bin starts arriving */
    [K_ABORT_RST] = {"abort_rst", C_ABORT, 25, 2},      /* a request, then a reset (SO_LINGER 0) */
    [K_IDLE] = {"idle", C_ABORT, 15, 1}, /* nothing more sent; the client closes a moment later */
};

/* A request whose response is awaited. */
struct expect {
    uint8_t kind, variant, head;
};

enum slot_state {
    S_FREE,
    S_CONNECTING, /* connect() in progress */
    S_BUSY,       /* a batch is being sent and its responses read */
    S_AWAIT_EOF,  /* the last response said Connection: close: the server must close, sending nothing more */
    S_ABORT_BIG,  /* waiting for the first bytes of /big.bin, then closing */
    S_IDLE        /* idle until `timer`, then closing */
};

struct slot {
    int fd;
    enum slot_state state;
    char *out;
    size_t out_len, out_off, out_cap;
    char *in;
    size_t in_len, in_cap;
    struct expect q[MAX_BATCH];
    int q_first, q_n;
    int left;      /* requests this connection may still carry */
    int64_t timer; /* S_IDLE: when to close */
    int64_t stall; /* no progress by then: failure */
};

/* Resources of one process, from /proc. */
struct pstat {
    pid_t pid;
    int fds;
    int threads;
    long rss_kb;
};

struct run {
    const struct srv *s;
    struct slot slots[N_SLOTS];
    int weight[K_COUNT]; /* kinds[].weight, or 0 for a kind left out by HTTPD_LEAK_KINDS */
    int total_weight, pipe_weight;
    uint64_t rng;
    long target, issued;
    long sent[K_COUNT], done[K_COUNT];
    long connections, batches, pipelined;
    long failures;
    char first_failure[1024];
    char etag[128], last_modified[64]; /* of page.html */
    char *long_header, *long_line;
};

/* ---- randomness: xorshift64*, seeded, so a run can be repeated ---- */

static uint32_t rnd(struct run *R, uint32_t n)
{
    R->rng ^= R->rng >> 12;
    R->rng ^= R->rng << 25;
    R->rng ^= R->rng >> 27;
    return (uint32_t)((R->rng * 2685821657736338717ULL) >> 32) % n;
}

/* A kind drawn by weight; pipelined: only kinds that get a response (a batch is not aborted halfway). */
static enum kind draw_kind(struct run *R, int pipelined)
{
    int total = pipelined ? R->pipe_weight : R->total_weight;
    int x = (int)rnd(R, (uint32_t)total);

    for (int k = 0; k < K_COUNT; k++) {
        if (pipelined && kinds[k].cls == C_ABORT)
            continue;
        if (x < R->weight[k])
            return (enum kind)k;
        x -= R->weight[k];
    }
    return K_GET_SMALL; /* not reached: the weights add up to total */
}

/* ---- failures: counted, the first one kept for the assertion ---- */

static void failure(struct run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failure(struct run *R, const char *fmt, ...)
{
    va_list ap;

    if (R->failures++ == 0) {
        va_start(ap, fmt);
        vsnprintf(R->first_failure, sizeof(R->first_failure), fmt, ap);
        va_end(ap);
    }
}

/* ---- requests ---- */

static void out_append(struct slot *sl, const void *data, size_t len)
{
    if (sl->out_len + len > sl->out_cap) {
        size_t cap = sl->out_cap ? sl->out_cap : 16384;
        while (cap < sl->out_len + len)
            cap *= 2;
        sl->out = realloc(sl->out, cap);
        cr_assert(sl->out != NULL, "realloc() failed");
        sl->out_cap = cap;
    }
    memcpy(sl->out + sl->out_len, data, len);
    sl->out_len += len;
}

static void out_printf(struct slot *sl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct slot *sl, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0, "vasprintf() failed");
    out_append(sl, s, (size_t)n);
    free(s);
}

/* Appends the bytes of a request of `kind` (variant v) to the slot's output. */
static void build_request(struct run *R, struct slot *sl, enum kind kind, unsigned v)
{
    switch (kind) {
    case K_GET_SMALL: {
        static const char *const paths[] = {"/", "/page.html", "/sub/"};
        if (v < 3)
            out_printf(sl, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", paths[v]);
        else
            out_printf(sl, "GET /page.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        break;
    }
    case K_GET_BIG:
        out_printf(sl, "GET /big.bin HTTP/1.1\r\nHost: localhost\r\nUser-Agent: leak-test\r\n\r\n");
        break;
    case K_HEAD:
        out_printf(sl, "HEAD %s HTTP/1.1\r\nHost: localhost\r\n\r\n", v ? "/big.bin" : "/page.html");
        break;
    case K_NOT_FOUND:
        if (v)
            out_printf(sl, "GET /sub/missing-%u.html?q=%u HTTP/1.1\r\nHost: localhost\r\n\r\n",
                       rnd(R, 100000), rnd(R, 1000));
        else
            out_printf(sl, "GET /no-such-file HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n");
        break;
    case K_NOT_MODIFIED:
        if (v)
            out_printf(sl, "GET /page.html HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: %s\r\n\r\n",
                       R->etag);
        else
            out_printf(sl, "GET /page.html HTTP/1.1\r\nHost: localhost\r\nIf-Modified-Since: %s\r\n\r\n",
                       R->last_modified);
        break;
    case K_RANGE: {
        static const char *const paths[] = {"/page.html", "/page.html", "/big.bin"};
        static const char *const ranges[] = {"0-99", "0-9,20-29", "50000-50999"};
        out_printf(sl, "GET %s HTTP/1.1\r\nHost: localhost\r\nRange: bytes=%s\r\n\r\n", paths[v], ranges[v]);
        break;
    }
    case K_POST:
        if (v)
            out_printf(sl, "POST /page.html HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "a\r\n0123456789\r\n5\r\nabcde\r\n0\r\n\r\n");
        else {
            char body[300];
            memset(body, 'p', sizeof(body));
            out_printf(sl, "POST /page.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n",
                       sizeof(body));
            out_append(sl, body, sizeof(body));
        }
        break;
    case K_CONN_CLOSE:
        if (v)
            out_printf(sl, "GET /page.html HTTP/1.0\r\nHost: localhost\r\n\r\n");
        else
            out_printf(sl, "GET /page.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        break;
    case K_BAD_GARBAGE:
        if (v)
            out_printf(sl, "GET /page.html HTTP/1.1\r\nAccept: */*\r\n\r\n");
        else
            out_printf(sl, "\x01\x02 hello\r\n\r\n");
        break;
    case K_BAD_VERSION:
        out_printf(sl, "GET / HTTP/2.0\r\nHost: localhost\r\n\r\n");
        break;
    case K_BAD_HEADER:
        out_printf(sl, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Long: %s\r\n\r\n", R->long_header);
        break;
    case K_BAD_LINE:
        out_printf(sl, "GET /%s HTTP/1.1\r\nHost: localhost\r\n\r\n", R->long_line);
        break;
    case K_ABORT_LINE: {
        static const char line[] = "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
        out_append(sl, line, 1 + rnd(R, 22)); /* within the request line */
        break;
    }
    case K_ABORT_BODY: {
        char body[1000];
        memset(body, 'b', sizeof(body));
        out_printf(sl, "POST /page.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n\r\n");
        out_append(sl, body, sizeof(body));
        break;
    }
    case K_ABORT_BIG:
        out_printf(sl, "GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n");
        break;
    case K_ABORT_RST: {
        static const char req[] = "GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n";
        /* a whole request (the reset cuts its response) or a part of one (it cuts the read) */
        out_append(sl, req, v ? sizeof(req) - 1 : 5 + rnd(R, 30));
        break;
    }
    case K_IDLE:
    case K_COUNT:
        break;
    }
}

/* The status and Connection header a complete response of (kind, variant) must have. */
static void expected(enum kind kind, unsigned v, int *status, const char **connection)
{
    static const int statuses[K_COUNT] = {
        [K_GET_SMALL] = 200,    [K_GET_BIG] = 200,     [K_HEAD] = 200,       [K_NOT_FOUND] = 404,
        [K_NOT_MODIFIED] = 304, [K_RANGE] = 206,       [K_POST] = 405,       [K_CONN_CLOSE] = 200,
        [K_BAD_GARBAGE] = 400,  [K_BAD_VERSION] = 505, [K_BAD_HEADER] = 431, [K_BAD_LINE] = 414,
    };

    *status = statuses[kind];
    if (kinds[kind].cls == C_CLOSE)
        *connection = "close";
    else if (kind == K_GET_SMALL && v == 3)
        *connection = "keep-alive";
    else
        *connection = NULL;
}

/* Checks one complete response; returns 0, or -1 with err. */
static int verify(const struct expect *e, const struct resp *r, char *err, size_t errlen)
{
    int status;
    const char *want_conn, *conn = resp_get(r, "Connection");
    const void *body = NULL;
    size_t body_len = 0;

    expected(e->kind, e->variant, &status, &want_conn);
    if (r->status != status) {
        snprintf(err, errlen, "status %d, want %d", r->status, status);
        return -1;
    }
    if ((conn == NULL) != (want_conn == NULL) || (conn && strcmp(conn, want_conn) != 0)) {
        snprintf(err, errlen, "Connection: %s, want %s", conn ? conn : "(none)",
                 want_conn ? want_conn : "(none)");
        return -1;
    }
    switch (e->kind) {
    case K_GET_SMALL:
        body = e->variant == 0 ? INDEX_HTML : e->variant == 2 ? SUB_INDEX_HTML : harness_page();
        body_len = e->variant == 0 ? strlen(INDEX_HTML) : e->variant == 2 ? strlen(SUB_INDEX_HTML) : PAGE_LEN;
        break;
    case K_GET_BIG:
        body = harness_big();
        body_len = BIG_LEN;
        break;
    case K_CONN_CLOSE:
        body = harness_page();
        body_len = PAGE_LEN;
        break;
    case K_HEAD: {
        const char *cl = resp_get(r, "Content-Length");
        long long want = e->variant ? BIG_LEN : PAGE_LEN;
        if (!cl || atoll(cl) != want || r->body_len != 0) {
            snprintf(err, errlen, "HEAD: Content-Length %s (want %lld), %zu body bytes", cl ? cl : "(none)",
                     want, r->body_len);
            return -1;
        }
        return 0;
    }
    case K_RANGE:
        if (e->variant == 1) {
            const char *ct = resp_get(r, "Content-Type");
            if (!ct || strncmp(ct, "multipart/byteranges; boundary=", 31) != 0) {
                snprintf(err, errlen, "two ranges: Content-Type %s", ct ? ct : "(none)");
                return -1;
            }
            return 0;
        }
        body = e->variant == 0 ? (const void *)harness_page() : (const void *)(harness_big() + 50000);
        body_len = e->variant == 0 ? 100 : 1000;
        break;
    default:
        return 0;
    }
    if (r->body_len != body_len || memcmp(r->body, body, body_len) != 0) {
        snprintf(err, errlen, "wrong body (%zu bytes, want %zu)", r->body_len, body_len);
        return -1;
    }
    return 0;
}

/* ---- connections ---- */

static void slot_close(struct slot *sl, int reset)
{
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        cr_assert(setsockopt(sl->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == 0,
                  "setsockopt(SO_LINGER) failed: %s", strerror(errno));
    }
    close(sl->fd);
    sl->fd = -1;
    sl->state = S_FREE;
    sl->out_len = sl->out_off = 0;
    sl->in_len = 0;
    sl->q_n = 0;
}

static void slot_fail(struct run *R, struct slot *sl, const char *what)
{
    const char *k = sl->q_n ? kinds[sl->q[sl->q_first].kind].name : "-";
    char *e = escape(sl->in, sl->in_len < 300 ? sl->in_len : 300);

    failure(R, "%s (state %d, awaiting %s, %d response(s) pending; received: \"%s\")", what, (int)sl->state,
            k, sl->q_n, e);
    free(e);
    slot_close(sl, 0);
}

static void slot_connect(struct run *R, struct slot *sl)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)R->s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;

    sl->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    hassert(sl->fd != -1, "socket() failed: %s", strerror(errno));
    hassert(setsockopt(sl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0, "setsockopt() failed: %s",
            strerror(errno));
    R->connections++;
    sl->state = S_CONNECTING;
    sl->left = 1 + (int)rnd(R, MAX_SESSION);
    sl->stall = now_ms() + STALL_MS;
    if (connect(sl->fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno != EINPROGRESS) {
        char what[128];
        snprintf(what, sizeof(what), "connect() failed: %s", strerror(errno));
        slot_fail(R, sl, what);
    }
}

/* Writes what the slot has to send; 0, or -1 after a failure. */
static int slot_write(struct run *R, struct slot *sl)
{
    while (sl->out_off < sl->out_len) {
        ssize_t w = send(sl->fd, sl->out + sl->out_off, sl->out_len - sl->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            sl->out_off += (size_t)w;
            sl->stall = now_ms() + STALL_MS;
            continue;
        }
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1 && errno == EAGAIN)
            return 0;
        char what[128];
        snprintf(what, sizeof(what), "send() failed: %s", w == -1 ? strerror(errno) : "0 bytes");
        slot_fail(R, sl, what);
        return -1;
    }
    sl->out_off = sl->out_len = 0;
    return 0;
}

/* An abort: sends the partial request (small: the socket buffer takes it whole) and closes as the kind says.
 */
static void slot_abort(struct run *R, struct slot *sl, enum kind kind)
{
    if (kind == K_IDLE) {
        sl->state = S_IDLE;
        sl->timer = now_ms() + 1 + rnd(R, 10);
        return;
    }
    build_request(R, sl, kind, rnd(R, (uint32_t)kinds[kind].variants));
    if (slot_write(R, sl) == -1)
        return;
    if (kind == K_ABORT_BIG) {
        sl->state = S_ABORT_BIG;
        return;
    }
    /* what could not be sent at once is dropped: the request is abandoned either way */
    slot_close(sl, kind == K_ABORT_RST);
    R->done[kind]++;
}

/* The connection is ready for its next request: a batch, an abort, or the client's close. */
static void slot_next(struct run *R, struct slot *sl)
{
    if (sl->left <= 0 || R->issued >= R->target) {
        slot_close(sl, 0);
        return;
    }
    enum kind k = draw_kind(R, 0);
    R->issued++;
    R->sent[k]++;
    sl->left--;
    if (kinds[k].cls == C_ABORT) {
        slot_abort(R, sl, k);
        return;
    }
    int batch = 1;
    if (kinds[k].cls == C_KEEP && sl->left > 0 && R->pipe_weight > 0 && rnd(R, 100) < 15)
        batch = 2 + (int)rnd(R, MAX_BATCH - 1);
    sl->q_first = sl->q_n = 0;
    for (int i = 0; i < batch; i++) {
        if (i > 0) {
            if (sl->left <= 0 || R->issued >= R->target)
                break;
            k = draw_kind(R, 1);
            R->issued++;
            R->sent[k]++;
            sl->left--;
        }
        unsigned v = rnd(R, (uint32_t)kinds[k].variants);
        build_request(R, sl, k, v);
        sl->q[sl->q_n++] = (struct expect){.kind = (uint8_t)k, .variant = (uint8_t)v, .head = k == K_HEAD};
        if (kinds[k].cls == C_CLOSE)
            break; /* nothing may follow a request the server answers by closing */
    }
    R->batches++;
    if (sl->q_n > 1)
        R->pipelined++;
    sl->state = S_BUSY;
    slot_write(R, sl);
}

/* Reads what has arrived; returns bytes read, 0 at EOF, -1 if nothing now, -2 on error (errno). */
static ssize_t slot_read(struct slot *sl)
{
    ssize_t n;

    if (sl->in_cap - sl->in_len < 65536) {
        sl->in_cap = sl->in_cap ? sl->in_cap * 2 : 262144;
        sl->in = realloc(sl->in, sl->in_cap + 1);
        cr_assert(sl->in != NULL, "realloc() failed");
    }
    n = recv(sl->fd, sl->in + sl->in_len, sl->in_cap - sl->in_len, 0);
    if (n > 0) {
        sl->in_len += (size_t)n;
        sl->stall = now_ms() + STALL_MS;
        return n;
    }
    if (n == 0)
        return 0;
    return errno == EAGAIN || errno == EINTR ? -1 : -2;
}

/* Parses and checks the responses received so far. */
static void slot_responses(struct run *R, struct slot *sl)
{
    while (sl->q_n > 0) {
        struct expect *e = &sl->q[sl->q_first];
        struct resp *r = calloc(1, sizeof(*r));
        char err[512];
        size_t used = 0;

        cr_assert(r != NULL, "calloc() failed");
        int rc = resp_parse(sl->in, sl->in_len, e->head, r, &used, err, sizeof(err));
        if (rc == 0) {
            free(r);
            return;
        }
        if (rc == -1) {
            char what[700];
            free(r);
            snprintf(what, sizeof(what), "invalid response to %s: %s", kinds[e->kind].name, err);
            slot_fail(R, sl, what);
            return;
        }
        rc = verify(e, r, err, sizeof(err));
        resp_free(r);
        if (rc == -1) {
            char what[700];
            snprintf(what, sizeof(what), "response to %s (variant %d): %s", kinds[e->kind].name, e->variant,
                     err);
            slot_fail(R, sl, what);
            return;
        }
        memmove(sl->in, sl->in + used, sl->in_len - used);
        sl->in_len -= used;
        R->done[e->kind]++;
        sl->q_first++;
        sl->q_n--;
        sl->stall = now_ms() + STALL_MS;
        if (kinds[e->kind].cls == C_CLOSE) {
            sl->state = S_AWAIT_EOF;
            if (sl->in_len > 0)
                slot_fail(R, sl, "bytes after a response with Connection: close");
            return;
        }
    }
    if (sl->in_len > 0) {
        slot_fail(R, sl, "bytes after the last response");
        return;
    }
    if (sl->out_len == 0)
        slot_next(R, sl);
}

/* Handles poll()'s report for a slot. */
static void slot_event(struct run *R, struct slot *sl, short revents)
{
    char what[128];

    switch (sl->state) {
    case S_CONNECTING: {
        int e = 0;
        socklen_t elen = sizeof(e);
        if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
            e = errno;
        if (e) {
            snprintf(what, sizeof(what), "connect() failed: %s", strerror(e));
            slot_fail(R, sl, what);
            return;
        }
        sl->stall = now_ms() + STALL_MS;
        slot_next(R, sl);
        return;
    }
    case S_BUSY:
        if ((revents & POLLOUT) && sl->out_len > 0 && slot_write(R, sl) == -1)
            return;
        if (revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = slot_read(sl);
            if (n == 0 || n == -2) {
                snprintf(what, sizeof(what), "connection %s by the server",
                         n == 0 ? "closed" : strerror(errno));
                slot_fail(R, sl, what);
                return;
            }
            if (n > 0)
                slot_responses(R, sl);
        }
        return;
    case S_AWAIT_EOF: {
        ssize_t n = slot_read(sl);
        if (n == 0) {
            slot_close(sl, 0);
        } else if (n > 0) {
            slot_fail(R, sl, "bytes after a response with Connection: close");
        } else if (n == -2) {
            snprintf(what, sizeof(what), "%s instead of an orderly close", strerror(errno));
            slot_fail(R, sl, what);
        }
        return;
    }
    case S_ABORT_BIG: {
        ssize_t n = slot_read(sl);
        if (n > 0) {
            /* unread data in the receive buffer: close() sends a reset while the server is writing */
            slot_close(sl, 0);
            R->done[K_ABORT_BIG]++;
        } else if (n == 0 || n == -2) {
            slot_fail(R, sl, n == 0 ? "closed by the server before /big.bin" : "reset before /big.bin");
        }
        return;
    }
    case S_IDLE:
        if (revents & (POLLIN | POLLHUP | POLLERR))
            slot_fail(R, sl, "the server sent something or closed while the connection was idle");
        return;
    case S_FREE:
        return;
    }
}

/* Runs `target` requests of the mix; failures are counted in R. */
static void run_load(struct run *R, long target)
{
    struct pollfd pfd[N_SLOTS];
    int map[N_SLOTS];
    int64_t deadline = now_ms() + PHASE_LIMIT_MS;

    R->target = target;
    R->issued = R->connections = R->batches = R->pipelined = 0;
    memset(R->sent, 0, sizeof(R->sent));
    memset(R->done, 0, sizeof(R->done));
    for (;;) {
        int64_t now = now_ms(), wake = now + 50;
        int n = 0;

        for (int i = 0; i < N_SLOTS; i++) {
            struct slot *sl = &R->slots[i];
            if (sl->state == S_FREE && R->issued < R->target && R->failures < MAX_FAILURES)
                slot_connect(R, sl);
            if (sl->state == S_FREE)
                continue;
            if (now >= sl->stall) {
                slot_fail(R, sl, "no progress within 5 s");
                continue;
            }
            if (sl->state == S_IDLE && now >= sl->timer) {
                slot_close(sl, 0);
                R->done[K_IDLE]++;
                continue;
            }
            pfd[n].fd = sl->fd;
            pfd[n].revents = 0;
            switch (sl->state) {
            case S_CONNECTING:
                pfd[n].events = POLLOUT;
                break;
            case S_BUSY:
                pfd[n].events = (short)(POLLIN | (sl->out_len > 0 ? POLLOUT : 0));
                break;
            case S_IDLE:
                pfd[n].events = POLLIN; /* nothing may arrive */
                if (sl->timer < wake)
                    wake = sl->timer;
                break;
            default:
                pfd[n].events = POLLIN;
                break;
            }
            if (sl->stall < wake)
                wake = sl->stall;
            map[n++] = i;
        }
        if (n == 0 && (R->issued >= R->target || R->failures >= MAX_FAILURES))
            break;
        if (now >= deadline) {
            for (int i = 0; i < N_SLOTS; i++) {
                if (R->slots[i].state != S_FREE)
                    slot_fail(R, &R->slots[i], "the phase did not finish in time");
            }
            failure(R, "%ld of %ld requests issued when the phase ran out of time (%d s)", R->issued,
                    R->target, PHASE_LIMIT_MS / 1000);
            break;
        }
        if (n == 0)
            continue;
        int rc = poll(pfd, (nfds_t)n, wake > now ? (int)(wake - now) : 0);
        if (rc == -1 && errno == EINTR)
            continue;
        hassert(rc >= 0, "poll() failed: %s", strerror(errno));
        for (int k = 0; k < n && rc > 0; k++) {
            if (pfd[k].revents)
                slot_event(R, &R->slots[map[k]], pfd[k].revents);
        }
    }
}

/* ---- /proc ---- */

/* Inodes of the sockets that are not connections: listening TCP sockets and unix sockets. */
struct inode_set {
    unsigned long *v;
    int n, cap;
};

static void inode_add(struct inode_set *set, unsigned long inode)
{
    if (set->n == set->cap) {
        set->cap = set->cap ? set->cap * 2 : 64;
        set->v = realloc(set->v, sizeof(set->v[0]) * (size_t)set->cap);
        cr_assert(set->v != NULL, "realloc() failed");
    }
    set->v[set->n++] = inode;
}

static int inode_has(const struct inode_set *set, unsigned long inode)
{
    for (int i = 0; i < set->n; i++) {
        if (set->v[i] == inode)
            return 1;
    }
    return 0;
}

/*
 * Connections of the server on `port` seen in a /proc/net/tcp table: established, half-closed by the peer or
 * half-open sockets (owned by a process, or waiting in the accept queue without a file: inode 0), sockets in
 * another state still owned by a file (a lingering close), and connections counted in a listening socket's
 * accept queue (rx_queue), reset ones included. An orphan the server has closed (FIN_WAIT, LAST_ACK,
 * TIME_WAIT with inode 0) holds no descriptor and is not counted. Listening sockets' inodes go to
 * `listeners`. -1 if the table cannot be read.
 */
static int tcp_connections(const char *table, int port, struct inode_set *listeners)
{
    char *text = read_file(table, NULL);
    int n = 0;

    if (!text)
        return -1;
    /* line by line, each NUL-terminated: sscanf() measures the whole string it is given */
    char *save = NULL, *line = strtok_r(text, "\n", &save); /* the header */
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        unsigned lport, state;
        unsigned long rxq, inode;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x %*x:%lx %*x:%*x %*x %*u %*u %lu", &lport, &state, &rxq,
                   &inode) != 4)
            continue;
        if (state == 0x0A) {
            inode_add(listeners, inode);
            if ((int)lport == port)
                n += (int)rxq;
        } else if ((int)lport == port && (state == 0x01 || state == 0x03 || state == 0x08 || inode != 0)) {
            n++;
        }
    }
    free(text);
    return n;
}

/* Sockets held by process pid that are neither in `known` (listening or unix sockets): connections, including
 * a reset one that has left the kernel's tables but whose descriptor the server has not closed yet. */
static int held_connections(pid_t pid, const struct inode_set *known)
{
    char path[64], link[128];
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return 0; /* gone: the snapshot reports it */
    while ((e = readdir(d)) != NULL) {
        unsigned long inode;
        char fd_path[384];
        if (e->d_name[0] == '.')
            continue;
        snprintf(fd_path, sizeof(fd_path), "%s/%s", path, e->d_name);
        ssize_t len = readlink(fd_path, link, sizeof(link) - 1);
        if (len <= 0)
            continue;
        link[len] = '\0';
        if (sscanf(link, "socket:[%lu]", &inode) == 1 && !inode_has(known, inode))
            n++;
    }
    closedir(d);
    return n;
}

/* The connections the server still has, counted every way /proc shows them (see above). */
static int open_connections(const struct srv *s)
{
    struct inode_set known = {0};
    pid_t pids[MAX_PROCS];
    int n = tcp_connections("/proc/net/tcp", s->port, &known);
    hassert(n >= 0, "cannot read /proc/net/tcp: %s", strerror(errno));
    int n6 = tcp_connections("/proc/net/tcp6", s->port, &known);
    n += n6 > 0 ? n6 : 0; /* a kernel without IPv6 has no tcp6 table */
    char *unix_text = read_file("/proc/net/unix", NULL);

    /* "Num RefCount Protocol Flags Type St Inode Path" */
    char *save = NULL, *line = unix_text ? strtok_r(unix_text, "\n", &save) : NULL;
    while (line && (line = strtok_r(NULL, "\n", &save)) != NULL) {
        unsigned long inode;
        if (sscanf(line, "%*s %*x %*x %*x %*x %*x %lu", &inode) == 1)
            inode_add(&known, inode);
    }
    free(unix_text);
    int np = proc_group(s->pid, pids, MAX_PROCS);
    for (int i = 0; i < np; i++)
        n += held_connections(pids[i], &known);
    free(known.v);
    return n;
}

/*
 * Open descriptors of pid, not counting the handle on DocumentRoot (`root`, a real path) that a process opens
 * on its first static request and keeps (server/static.c root_fd()): whether a process has it depends on
 * whether it happened to serve during the warm-up. More than one such handle is reported as a leak (-2).
 */
static int count_fds(pid_t pid, const char *root)
{
    char path[64], link[PATH_MAX];
    struct dirent *e;
    int n = 0, roots = 0;

    snprintf(path, sizeof(path), "%s/%d/fd", "/proc", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char fd_path[384];
        snprintf(fd_path, sizeof(fd_path), "%s/%s", path, e->d_name);
        ssize_t len = readlink(fd_path, link, sizeof(link) - 1);
        if (len > 0) {
            link[len] = '\0';
            if (strcmp(link, root) == 0 && roots++ == 0)
                continue;
        }
        n++;
    }
    closedir(d);
    return roots > 1 ? -2 : n;
}

/* Whether every child holds the DocumentRoot handle, i.e. has served a static request (see count_fds()). */
static int all_children_served(const struct srv *s)
{
    char root[PATH_MAX];
    pid_t pids[MAX_PROCS];
    int n = proc_group(s->pid, pids, MAX_PROCS), all = 1;

    hassert(realpath(s->htdocs, root) != NULL, "realpath(%s): %s", s->htdocs, strerror(errno));
    for (int i = 0; i < n && all; i++) {
        if (pids[i] == s->pid)
            continue;
        int with = count_fds(pids[i], root), without = count_fds(pids[i], "");
        all = with >= 0 && without > with;
    }
    return all;
}

/* Every process of the server's group, sorted by pid; returns the count. */
static int snapshot(const struct srv *s, struct pstat *out)
{
    char root[PATH_MAX];
    hassert(realpath(s->htdocs, root) != NULL, "realpath(%s): %s", s->htdocs, strerror(errno));
    pid_t pids[MAX_PROCS];
    int n = proc_group_sorted(s->pid, pids, MAX_PROCS);

    for (int i = 0; i < n; i++) {
        out[i].pid = pids[i];
        out[i].fds = count_fds(pids[i], root);
        hassert(out[i].fds != -2, "process %d holds more than one descriptor of DocumentRoot %s",
                (int)pids[i], root);
        out[i].rss_kb = proc_status(pids[i], "VmRSS");
        out[i].threads = (int)proc_status(pids[i], "Threads");
        hassert(out[i].fds >= 0 && out[i].rss_kb >= 0 && out[i].threads >= 0,
                "cannot read /proc/%d (fd, status): %s", (int)pids[i], strerror(errno));
    }
    return n;
}

/* "pid:fds/threads ..." of a snapshot, for messages (malloc'd). */
static char *describe(const struct pstat *ps, int n)
{
    char *text = strdup("");

    for (int i = 0; i < n; i++) {
        char *next = xasprintf("%s %d:%d/%d", text, (int)ps[i].pid, ps[i].fds, ps[i].threads);
        free(text);
        text = next;
    }
    return text;
}

/* Waits until the server holds no connection and its processes' descriptors are steady; fills `out`. */
static int wait_idle(const struct srv *s, struct pstat *out, const char *when)
{
    int64_t deadline = now_ms() + IDLE_LIMIT_MS;
    struct pstat prev[MAX_PROCS];
    int n = 0, conns = -1, prev_n = -1;

    while (now_ms() < deadline) {
        conns = open_connections(s);
        if (conns == 0) {
            n = snapshot(s, out);
            int same = n == prev_n;
            for (int i = 0; same && i < n; i++)
                same = out[i].pid == prev[i].pid && out[i].fds == prev[i].fds &&
                       out[i].threads == prev[i].threads;
            if (same) {
                fprintf(stderr, "leak [mpm %s] %s: idle after %lld ms\n", harness_mpm, when,
                        (long long)(now_ms() - deadline + IDLE_LIMIT_MS));
                return n;
            }
            memcpy(prev, out, sizeof(prev[0]) * (size_t)n);
            prev_n = n;
        } else {
            prev_n = -1;
        }
        sleep_ms(50);
    }
    char *a = describe(prev, prev_n > 0 ? prev_n : 0), *b = describe(out, n);
    hfail(
        "%s: the server did not become idle within %d s (%d connection(s) still open; pid:fds/threads of the "
        "last two readings:%s;%s)",
        when, IDLE_LIMIT_MS / 1000, conns, a, b);
    return n;
}

/* The most RSS a process (or, with floor_kb RSS_TOTAL_KB, the whole group) may have after the run. */
static long rss_limit(long base_kb, long floor_kb)
{
    long pct = base_kb * RSS_TOLERANCE_PCT / 100;
    return base_kb + (pct > floor_kb ? pct : floor_kb);
}

/* ---- setup ---- */

/* The directives that fix the process set, for the MPM under test only. */
static const char *fixed_processes(const char *mpm)
{
    if (strcmp(mpm, "prefork") == 0)
        return "StartServers 4\nMinSpareServers 4\nMaxSpareServers 4\nMaxRequestWorkers 4\n"
               "MaxConnectionsPerChild 0\n";
    if (strcmp(mpm, "worker") == 0)
        /* 2 children at most (16 / 8); idle threads never exceed 16 = MaxSpareThreads, and below
         * MinSpareThreads (raised to ThreadsPerChild at least) no child can be added */
        return "StartServers 2\nThreadsPerChild 8\nMaxRequestWorkers 16\nMinSpareThreads 8\nMaxSpareThreads "
               "16\n"
               "MaxConnectionsPerChild 0\n";
    return "StartServers 2\nMaxConnectionsPerChild 0\n";
}

/*
 * Starts the server. Under AddressSanitizer every child would keep up to 256 MB of freed memory in quarantine
 * (1.2 GB for prefork's four) for no benefit to this test, so the server gets a 16 MB one, unless
 * ASAN_OPTIONS already sets it (a later setting wins, so the caller's comes after ours).
 */
static struct srv *start_server(const char *mpm, int sanitized)
{
    const char *old = getenv("ASAN_OPTIONS");
    char *saved = old ? strdup(old) : NULL;

    if (sanitized) {
        char *opts = xasprintf("quarantine_size_mb=16%s%s", old && *old ? ":" : "", old ? old : "");
        cr_assert(setenv("ASAN_OPTIONS", opts, 1) == 0, "setenv() failed: %s", strerror(errno));
        free(opts);
    }
    struct srv *s = server_start(mpm, fixed_processes(mpm));
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    return s;
}

static void kinds_from_env(struct run *R)
{
    const char *only = getenv("HTTPD_LEAK_KINDS");

    R->total_weight = R->pipe_weight = 0;
    for (int k = 0; k < K_COUNT; k++) {
        R->weight[k] = kinds[k].weight;
        if (only && *only) {
            size_t nl = strlen(kinds[k].name);
            const char *p = only;
            int listed = 0;
            while (!listed && (p = strstr(p, kinds[k].name)) != NULL) {
                listed = (p == only || p[-1] == ',') && (p[nl] == '\0' || p[nl] == ',');
                p += nl;
            }
            if (!listed)
                R->weight[k] = 0;
        }
        R->total_weight += R->weight[k];
        if (kinds[k].cls != C_ABORT)
            R->pipe_weight += R->weight[k];
    }
    cr_assert(R->total_weight > 0, "HTTPD_LEAK_KINDS=%s names no kind", only);
}

/* The ETag and Last-Modified of page.html, for the conditional requests. */
static void learn_validators(struct run *R)
{
    struct resp *r = request_once(R->s, "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
    const char *etag = resp_get(r, "ETag"), *lm = resp_get(r, "Last-Modified");

    hassert(r->status == 200 && etag && lm, "GET /page.html: status %d, ETag %s, Last-Modified %s", r->status,
            etag ? etag : "(none)", lm ? lm : "(none)");
    snprintf(R->etag, sizeof(R->etag), "%s", etag);
    snprintf(R->last_modified, sizeof(R->last_modified), "%s", lm);
    resp_free(r);
}

static void report_phase(struct run *R, const char *phase, int64_t ms)
{
    char line[2048];
    int off =
        snprintf(line, sizeof(line),
                 "leak [mpm %s] %s: %ld requests in %lld ms over %ld connections "
                 "(%ld batches, %ld pipelined):",
                 harness_mpm, phase, R->issued, (long long)ms, R->connections, R->batches, R->pipelined);
    for (int k = 0; k < K_COUNT && off < (int)sizeof(line); k++)
        off += snprintf(line + off, sizeof(line) - (size_t)off, " %s %ld", kinds[k].name, R->done[k]);
    fprintf(stderr, "%s\n", line);
}

/* Asserts the phase issued `target` requests and every one was answered as expected or aborted as planned. */
static void check_counts(struct run *R, const char *phase)
{
    long sent = 0, done = 0;

    hassert(R->failures == 0, "%s: %ld failure(s); first: %s", phase, R->failures, R->first_failure);
    for (int k = 0; k < K_COUNT; k++) {
        hassert(R->done[k] == R->sent[k], "%s: %s: %ld issued, %ld completed", phase, kinds[k].name,
                R->sent[k], R->done[k]);
        if (R->weight[k] > 0)
            hassert(R->done[k] > 0, "%s: no %s request in the mix", phase, kinds[k].name);
        sent += R->sent[k];
        done += R->done[k];
    }
    hassert(sent == R->target && done == R->target, "%s: %ld issued, %ld completed, want %ld", phase, sent,
            done, R->target);
}

MPM_TEST(leak, hundred_thousand_mixed_requests, .timeout = 120)
{
    int sanitized = harness_sanitized();
    struct srv *s = start_server(mpm, sanitized);
    struct run *R = calloc(1, sizeof(*R));
    struct pstat base[MAX_PROCS], fin[MAX_PROCS];

    cr_assert(R != NULL, "calloc() failed");
    R->s = s;
    R->rng = 0x9e3779b97f4a7c15ULL;
    R->long_header = calloc(1, LONG_LEN + 1);
    R->long_line = calloc(1, LONG_LEN + 1);
    cr_assert(R->long_header && R->long_line, "calloc() failed");
    memset(R->long_header, 'v', LONG_LEN);
    memset(R->long_line, 'a', LONG_LEN);
    for (int i = 0; i < N_SLOTS; i++)
        R->slots[i].fd = -1;
    kinds_from_env(R);
    learn_validators(R);

    int64_t t0 = now_ms();
    run_load(R, WARMUP_REQUESTS);
    report_phase(R, "warm-up", now_ms() - t0);
    check_counts(R, "warm-up");
    /* a process warms up by serving: while one has not served yet (the kernel or the listeners may have given
     * every connection to the others), more of the same, a bounded number of times */
    for (int extra = 0; extra < 10 && !all_children_served(s); extra++) {
        run_load(R, WARMUP_REQUESTS / 5);
        check_counts(R, "extra warm-up");
    }
    int nb = wait_idle(s, base, "after the warm-up");

    t0 = now_ms();
    run_load(R, TOTAL_REQUESTS);
    int64_t took = now_ms() - t0;
    report_phase(R, "run", took);
    check_counts(R, "run");
    int nf = wait_idle(s, fin, "after the run");

    long base_sum = 0, fin_sum = 0;
    for (int i = 0; i < nf; i++) {
        const struct pstat *b = NULL;
        for (int j = 0; j < nb; j++) {
            if (base[j].pid == fin[i].pid)
                b = &base[j];
        }
        if (!b) {
            fprintf(stderr, "leak [mpm %s] pid %d: new process (fds %d, threads %d, VmRSS %ld kB)\n", mpm,
                    (int)fin[i].pid, fin[i].fds, fin[i].threads, fin[i].rss_kb);
            continue;
        }
        fprintf(stderr,
                "leak [mpm %s] pid %d (%s): fds %d -> %d, threads %d -> %d, VmRSS %ld kB -> %ld kB (%+ld kB, "
                "limit %ld kB)\n",
                mpm, (int)fin[i].pid, fin[i].pid == s->pid ? "parent" : "child", b->fds, fin[i].fds,
                b->threads, fin[i].threads, b->rss_kb, fin[i].rss_kb, fin[i].rss_kb - b->rss_kb,
                rss_limit(b->rss_kb, RSS_TOLERANCE_KB));
        base_sum += b->rss_kb;
        fin_sum += fin[i].rss_kb;
    }
    fprintf(stderr, "leak [mpm %s] all processes: VmRSS %ld kB -> %ld kB (%+ld kB, limit %ld kB)%s\n", mpm,
            base_sum, fin_sum, fin_sum - base_sum, rss_limit(base_sum, RSS_TOTAL_KB),
            sanitized ? "; sanitizer build: RSS not compared" : "");

    /* the same processes: nothing was spawned, retired or crashed */
    hassert(nf == nb, "%d processes before the run, %d after", nb, nf);
    for (int i = 0; i < nb; i++)
        hassert(base[i].pid == fin[i].pid, "process %d gone, %d new", (int)base[i].pid, (int)fin[i].pid);
    for (int i = 0; i < nb; i++) {
        const char *who = base[i].pid == s->pid ? "parent" : "child";
        long limit = rss_limit(base[i].rss_kb, RSS_TOLERANCE_KB);
        hassert(fin[i].fds == base[i].fds, "%s %d: %d open descriptors after %d requests, %d before", who,
                (int)base[i].pid, fin[i].fds, TOTAL_REQUESTS, base[i].fds);
        hassert(fin[i].threads == base[i].threads, "%s %d: %d threads after the run, %d before", who,
                (int)base[i].pid, fin[i].threads, base[i].threads);
        /* a sanitizer's allocator keeps freed memory in quarantine, so RSS grows by design there */
        if (!sanitized)
            hassert(fin[i].rss_kb <= limit,
                    "%s %d: VmRSS %ld kB after %d requests, %ld kB before (+%ld kB, tolerance %ld kB)", who,
                    (int)base[i].pid, fin[i].rss_kb, TOTAL_REQUESTS, base[i].rss_kb,
                    fin[i].rss_kb - base[i].rss_kb, limit - base[i].rss_kb);
    }
    if (!sanitized)
        hassert(fin_sum <= rss_limit(base_sum, RSS_TOTAL_KB),
                "all processes: VmRSS %ld kB after %d requests, %ld kB before (+%ld kB, tolerance %ld kB)",
                fin_sum, TOTAL_REQUESTS, base_sum, fin_sum - base_sum,
                rss_limit(base_sum, RSS_TOTAL_KB) - base_sum);
    for (int i = 0; i < N_SLOTS; i++) {
        free(R->slots[i].out);
        free(R->slots[i].in);
    }
    free(R->long_header);
    free(R->long_line);
    free(R);
    server_stop(s);
}
