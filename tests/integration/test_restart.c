/*
 * Restarts, seen from outside, on every MPM: a graceful restart (USR1) in the middle of a 20-second load of
 * keep-alive and one-request connections loses no request, and so does one that switches the MPM (to each of
 * the other two in turn); HUP replaces every child at once and applies the new configuration, but not a new
 * ServerLimit (Apache's warning); listeners follow the configuration, the unchanged ones never close; WINCH
 * lets a slow download finish and GracefulShutdownTimeout cuts one that does not; a log moved away plus USR1
 * leaves every line before the move in the old file and every later one in the new; a bad configuration, or
 * an address that cannot be bound, keeps the running generation serving and the error log says why; -k sends
 * the signals through the PidFile.
 *
 * The one thing to know: the load clients never retry. A child retired by a graceful restart keeps an idle
 * keep-alive connection for its next request and answers it with Connection: close, so no request can meet a
 * connection closed under it; any connect error, reset, EOF, short read, timeout, non-2xx or wrong body fails
 * the test, and so does a response missing from the access log. (The spare settings are wide enough that the
 * idle-server maintenance never retires a child during the load: that, as Apache's, does close idle
 * keep-alive connections at once, which a client must be ready to retry.)
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KIDS 300

/* Every model's knobs, each in its <IfModule>, so that the same file serves whichever MPM it names. */
#define MPM_DIRECTIVES                                                                                       \
    "<IfModule mpm_prefork_module>\n"                                                                        \
    "StartServers 4\nMinSpareServers 4\nMaxSpareServers 32\nMaxRequestWorkers 32\n"                          \
    "</IfModule>\n"                                                                                          \
    "<IfModule mpm_worker_module>\n"                                                                         \
    "StartServers 2\nThreadsPerChild 8\nMinSpareThreads 8\nMaxSpareThreads 64\nMaxRequestWorkers 64\n"       \
    "</IfModule>\n"                                                                                          \
    "<IfModule mpm_event_module>\n"                                                                          \
    "StartServers 2\n"                                                                                       \
    "</IfModule>\n"

/* For the load tests: a keep-alive client the machine does not run for KeepAliveTimeout (the harness's 2 s)
 * would find its connection closed by the timeout, rightly, as its next request goes out: a race of the
 * client's with the timeout, not a request lost to a restart. */
#define LOAD_DIRECTIVES "KeepAliveTimeout 30\n"

/* ---- the server ---- */

static struct srv *start(const char *mpm, const char *more)
{
    return server_start2(mpm, MPM_DIRECTIVES, more);
}

/* Writes the server's configuration again with another MPM and/or other extra directives (NULL: keep). */
static void rewrite_conf(struct srv *s, const char *mpm, const char *extra)
{
    if (mpm != NULL)
        snprintf(s->mpm, sizeof(s->mpm), "%s", mpm);
    if (extra != NULL) {
        char *copy = strdup(extra);
        free(s->extra);
        s->extra = copy;
    }
    char *text = server_conf_text(s, s->port);
    write_file(s->conf, text, strlen(text));
    free(text);
}

static int count_lines(const char *path)
{
    char *text = read_file(path, NULL);
    int n = 0;
    for (const char *p = text; p != NULL && *p; p++)
        n += *p == '\n';
    free(text);
    return text != NULL ? n : -1;
}

/* The children of the current generation once StartServers of them (MPM_DIRECTIVES) are there. */
static int start_children(const struct srv *s, pid_t *kids)
{
    int want = strcmp(s->mpm, "prefork") == 0 ? 4 : 2;
    int n = proc_wait_children(s->pid, kids, MAX_KIDS, want, MAX_KIDS, 5000);
    hassert(n >= want, "the server has %d of its %d children", n, want);
    return n;
}

/* Waits up to ms until the server has children and none of `old` is among them; returns how many. */
static int wait_replaced(const struct srv *s, const pid_t *old, int nold, pid_t *kids, int ms)
{
    int64_t deadline = now_ms() + ms;
    for (;;) {
        int n = proc_children(s->pid, kids, MAX_KIDS), stale = 0;
        for (int i = 0; i < n; i++)
            stale += pid_in(old, nold, kids[i]);
        if ((n > 0 && stale == 0) || now_ms() >= deadline)
            return stale == 0 ? n : -stale;
        sleep_ms(20);
    }
}

/* After the server exited by itself: asserts status 0 and that none of its processes is left. */
static void expect_clean_exit(pid_t pgid, int status, const char *how)
{
    hassert(status != -1, "the server did not exit after %s", how);
    hassert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the server's wait status after %s is 0x%x", how,
            status);
    pid_t left[8];
    int n = 0;
    for (int i = 0; i < 50 && (n = proc_group(pgid, left, 8)) > 0; i++)
        sleep_ms(10);
    hassert(n == 0, "%d process(es) of the server's group left after %s", n, how);
}

/* One GET /page.html on a new connection with Connection: close, checked whole. */
static void get_page(int port, const char *why)
{
    struct conn *c = conn_open(port);
    struct resp *r = exchange(c, PAGE_CLOSE);
    hassert(r->status == 200 && r->body_len == PAGE_LEN && memcmp(r->body, harness_page(), PAGE_LEN) == 0,
            "%s: GET /page.html on port %d: status %d, %zu bytes", why, port, r->status, r->body_len);
    resp_free(r);
    conn_close(c);
}

/* n get_page() and their n lines in the access log. */
static void get_pages_logged(const struct srv *s, int n, const char *why)
{
    for (int i = 0; i < n; i++)
        get_page(s->port, why);
    hassert(wait_log(s->access_log, "GET /page.html", n, 2000) == n, "%s: the %d requests are not all logged",
            why, n);
}

/* Whether a connection to the port is refused. */
static int refused(int port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    hassert(fd != -1, "socket() failed: %s", strerror(errno));
    int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
    int e = errno;
    close(fd);
    return rc == -1 && e == ECONNREFUSED;
}

/* A port nobody listens on right now. */
static int unused_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    hassert(fd != -1 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                getsockname(fd, (struct sockaddr *)&a, &alen) == 0,
            "could not find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- the load: plain threads, no Criterion assertion in them ---- */

#define IO_TIMEOUT_MS 5000
#define KA_PER_CONN   40 /* requests a keep-alive client sends on one connection before it opens another */

struct load {
    int port;
    int64_t until;
    pthread_mutex_t lock;
    long ok_keepalive, ok_close; /* complete 200 responses with the right body */
    long closed_by_server;       /* keep-alive connections the server ended with Connection: close */
    long connections, failures;
    char first_failure[1024];
};

struct client {
    struct load *L;
    int keepalive;
    pthread_t tid;
};

struct lconn {
    int fd;
    int reused; /* a response was read on it already */
    char *buf;
    size_t len, cap;
};

static void load_failure(struct load *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void load_failure(struct load *L, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&L->lock);
    L->failures++;
    if (L->first_failure[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(L->first_failure, sizeof(L->first_failure), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&L->lock);
}

static void load_count(struct load *L, long *counter)
{
    pthread_mutex_lock(&L->lock);
    (*counter)++;
    pthread_mutex_unlock(&L->lock);
}

/* Connects; -1 with why. */
static int lconn_open(struct lconn *c, int port, char *why, size_t n)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c->reused = 0;
    c->len = 0;
    if (c->fd == -1 || setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1 ||
        connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == -1) {
        snprintf(why, n, "connect(): %s", strerror(errno));
        if (c->fd != -1)
            close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void lconn_close(struct lconn *c)
{
    if (c->fd != -1)
        close(c->fd);
    c->fd = -1;
}

/* Sends req and reads one response into *out; 0, or -1 with why. */
static int lconn_exchange(struct lconn *c, const char *req, struct resp **out, char *why, size_t n)
{
    size_t len = strlen(req), off = 0;
    while (off < len) {
        ssize_t w = send(c->fd, req + off, len - off, MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1) {
            snprintf(why, n, "send() on a %s connection: %s", c->reused ? "reused" : "new", strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    c->len = 0;
    int64_t deadline = now_ms() + IO_TIMEOUT_MS;
    for (;;) {
        if (c->len > 0) {
            struct resp *r = calloc(1, sizeof(*r));
            char perr[512];
            size_t used = 0;
            if (r == NULL) {
                snprintf(why, n, "calloc() failed");
                return -1;
            }
            int rc = resp_parse(c->buf, c->len, 0, r, &used, perr, sizeof(perr));
            if (rc == 1 && used == c->len) {
                *out = r;
                c->reused = 1;
                return 0;
            }
            resp_free(r);
            if (rc != 0) {
                snprintf(why, n, "%s", rc == 1 ? "bytes after the response" : perr);
                return -1;
            }
        }
        /* polled even past the deadline: a client thread the machine did not run for that long still
         * finds the response that arrived meanwhile; only one that never came is a failure */
        int64_t left = deadline - now_ms();
        struct pollfd pfd = {c->fd, POLLIN, 0};
        int pr = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (pr == -1 && errno == EINTR)
            continue;
        if (pr <= 0) {
            snprintf(why, n, "no complete response within %d ms (%zu bytes received)", IO_TIMEOUT_MS, c->len);
            return -1;
        }
        if (c->cap - c->len < 4096) {
            size_t cap = c->cap ? c->cap * 2 : 16384;
            char *nb = realloc(c->buf, cap);
            if (nb == NULL) {
                snprintf(why, n, "realloc() failed");
                return -1;
            }
            c->buf = nb;
            c->cap = cap;
        }
        ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (got > 0) {
            c->len += (size_t)got;
            continue;
        }
        if (got == -1 && errno == EINTR)
            continue;
        int e = got == 0 ? 0 : errno;
        snprintf(why, n, "%s on a %s connection after %zu bytes of the response", e ? strerror(e) : "EOF",
                 c->reused ? "reused" : "new", c->len);
        return -1;
    }
}

/* Checks a response to GET /page.html; 0 or -1 with why. */
static int check_page(const struct resp *r, char *why, size_t n)
{
    if (r->status < 200 || r->status > 299) {
        snprintf(why, n, "status %d", r->status);
        return -1;
    }
    if (r->body_len != PAGE_LEN || memcmp(r->body, harness_page(), PAGE_LEN) != 0) {
        snprintf(why, n, "wrong body (%zu bytes)", r->body_len);
        return -1;
    }
    return 0;
}

/* A keep-alive client: up to KA_PER_CONN requests per connection, a new one when the server closes. */
static void *keepalive_client(void *arg)
{
    struct client *cl = arg;
    struct load *L = cl->L;
    struct lconn c = {.fd = -1};
    int on_conn = 0;
    char why[512];

    while (now_ms() < L->until) {
        if (c.fd == -1) {
            if (lconn_open(&c, L->port, why, sizeof(why)) == -1) {
                load_failure(L, "keep-alive client: %s", why);
                sleep_ms(50);
                continue;
            }
            load_count(L, &L->connections);
            on_conn = 0;
        }
        struct resp *r = NULL;
        if (lconn_exchange(&c, PAGE_KEEPALIVE, &r, why, sizeof(why)) == -1) {
            load_failure(L, "keep-alive client, request %d on its connection: %s", on_conn + 1, why);
            lconn_close(&c);
            continue;
        }
        if (check_page(r, why, sizeof(why)) == -1)
            load_failure(L, "keep-alive client: %s", why);
        else
            load_count(L, &L->ok_keepalive);
        const char *conn_hdr = resp_get(r, "Connection");
        if (conn_hdr != NULL && strcasecmp(conn_hdr, "close") == 0) {
            load_count(L, &L->closed_by_server);
            lconn_close(&c);
        } else if (++on_conn >= KA_PER_CONN) {
            lconn_close(&c);
        }
        resp_free(r);
    }
    lconn_close(&c);
    free(c.buf);
    return NULL;
}

/* A client that opens a connection for every request (Connection: close) and expects the close after it. */
static void *close_client(void *arg)
{
    struct client *cl = arg;
    struct load *L = cl->L;
    struct lconn c = {.fd = -1};
    char why[512], tail;

    while (now_ms() < L->until) {
        if (lconn_open(&c, L->port, why, sizeof(why)) == -1) {
            load_failure(L, "one-request client: %s", why);
            sleep_ms(50);
            continue;
        }
        load_count(L, &L->connections);
        struct resp *r = NULL;
        if (lconn_exchange(&c, PAGE_CLOSE, &r, why, sizeof(why)) == -1) {
            load_failure(L, "one-request client: %s", why);
            lconn_close(&c);
            continue;
        }
        struct pollfd pfd = {c.fd, POLLIN, 0};
        if (check_page(r, why, sizeof(why)) == -1)
            load_failure(L, "one-request client: %s", why);
        else if (poll(&pfd, 1, IO_TIMEOUT_MS) != 1 || recv(c.fd, &tail, 1, 0) != 0)
            load_failure(L, "one-request client: the server did not close the connection after the response");
        else
            load_count(L, &L->ok_close);
        resp_free(r);
        lconn_close(&c);
    }
    free(c.buf);
    return NULL;
}

#define KEEPALIVE_CLIENTS 3
#define CLOSE_CLIENTS     3

/* A signal (and maybe a new configuration) at a point of the load. */
struct step {
    int at_ms;
    int sig;
    const char *mpm; /* rewrite the configuration for this MPM first; NULL: leave it */
};

/*
 * Runs the clients for duration_ms against s, carrying out the steps on the way, and asserts that nothing
 * failed. Returns the successful responses.
 */
static long run_load(struct srv *s, int duration_ms, const struct step *steps, int nsteps, const char *what)
{
    struct load L = {.port = s->port};
    struct client clients[KEEPALIVE_CLIENTS + CLOSE_CLIENTS];
    int64_t t0 = now_ms();
    int restarts = 0;

    harness_page(); /* built once here, read by the threads */
    pthread_mutex_init(&L.lock, NULL);
    L.until = t0 + duration_ms;
    for (int i = 0; i < KEEPALIVE_CLIENTS + CLOSE_CLIENTS; i++) {
        clients[i].L = &L;
        clients[i].keepalive = i < KEEPALIVE_CLIENTS;
        int rc = pthread_create(&clients[i].tid, NULL, clients[i].keepalive ? keepalive_client : close_client,
                                &clients[i]);
        hassert(rc == 0, "pthread_create() failed: %s", strerror(rc));
    }
    for (int i = 0; i < nsteps; i++) {
        int64_t wait = t0 + steps[i].at_ms - now_ms();
        if (wait > 0)
            sleep_ms((int)wait);
        if (steps[i].mpm != NULL)
            rewrite_conf(s, steps[i].mpm, NULL);
        /* the previous restart taken first: two USR1 pending at once would be one (signals do not queue) */
        if (steps[i].sig == SIGUSR1)
            hassert(wait_log(s->error_log, "SIGUSR1 received.  Doing graceful restart", restarts, 10000) >=
                        restarts,
                    "%s: restart %d was not taken within 10 s", what, restarts);
        server_signal(s, steps[i].sig);
        restarts += steps[i].sig == SIGUSR1;
    }
    for (int i = 0; i < KEEPALIVE_CLIENTS + CLOSE_CLIENTS; i++)
        pthread_join(clients[i].tid, NULL);
    pthread_mutex_destroy(&L.lock);

    long ok = L.ok_keepalive + L.ok_close;
    harness_report("[%s] %s: %ld requests in %.1f s (%ld keep-alive, %ld one-request) over %ld connections, "
                   "%d signal(s); %ld keep-alive connection(s) ended by the server with Connection: close; "
                   "%ld failure(s)",
                   harness_mpm, what, ok, (double)(now_ms() - t0) / 1000.0, L.ok_keepalive, L.ok_close,
                   L.connections, nsteps, L.closed_by_server, L.failures);
    hassert(L.failures == 0, "%s: %ld request(s) failed; the first: %s", what, L.failures, L.first_failure);
    hassert(L.ok_keepalive > 0 && L.ok_close > 0, "%s: a kind of client got nothing through", what);
    return ok;
}

/* Stops the server with WINCH (every log line written) and asserts a clean exit. */
static void stop_gracefully(struct srv *s)
{
    pid_t pgid = s->pid;
    server_signal(s, SIGWINCH);
    expect_clean_exit(pgid, server_wait_exit(s, 10000), "SIGWINCH");
}

/* ---- tests ---- */

MPM_TEST(restart, graceful_under_load_loses_nothing, .timeout = 60)
{
    struct srv *s = start(mpm, LOAD_DIRECTIVES);
    pid_t first[MAX_KIDS], kids[MAX_KIDS];
    int nfirst = start_children(s, first);
    int lines0 = count_lines(s->access_log);
    const struct step steps[] = {{5000, SIGUSR1, NULL}, {10000, SIGUSR1, NULL}, {15000, SIGUSR1, NULL}};

    long ok = run_load(s, 20000, steps, 3, "graceful restarts (USR1) at 5, 10 and 15 s of a 20 s load");

    hassert(log_count(s->error_log, "SIGUSR1 received.  Doing graceful restart") == 3,
            "the error log does not show 3 graceful restarts");
    hassert(wait_log(s->error_log, "configured -- resuming normal operations", 4, 1000) == 4,
            "the error log does not show 4 configurations (start and 3 restarts)");
    hassert(wait_replaced(s, first, nfirst, kids, 5000) > 0,
            "a child of the first generation is still there");
    stop_gracefully(s);
    /* every response the clients got is in the access log, once */
    int lines = count_lines(s->access_log) - lines0;
    hassert(lines == ok, "the access log has %d new lines for %ld responses", lines, ok);
    expect_no_sanitizer_report(s);
    server_destroy(s);
}

/* worker -> event -> prefork, and the same rotation from each MPM. */
static const char *next_mpm(const char *mpm, int k)
{
    static const char *const order[] = {"worker", "event", "prefork"};
    int i = 0;
    while (i < 3 && strcmp(order[i], mpm) != 0)
        i++;
    return order[(i + k) % 3];
}

MPM_TEST(restart, mpm_switch_under_load_loses_nothing, .timeout = 40)
{
    struct srv *s = start(mpm, LOAD_DIRECTIVES);
    const char *second = next_mpm(mpm, 1), *third = next_mpm(mpm, 2);
    const struct step steps[] = {{2500, SIGUSR1, second}, {5500, SIGUSR1, third}};
    pid_t first[MAX_KIDS], kids[MAX_KIDS];
    int nfirst = start_children(s, first);
    int lines0 = count_lines(s->access_log);
    char *what =
        xasprintf("MPM switch %s -> %s -> %s by USR1 at 2.5 and 5.5 s of an 8 s load", mpm, second, third);

    long ok = run_load(s, 8000, steps, 2, what);
    char *want2 = xasprintf("(%s MPM) configured -- resuming normal operations", second);
    char *want3 = xasprintf("(%s MPM) configured -- resuming normal operations", third);
    /* the parent may still be starting the third generation when the load ends, on a loaded machine */
    int n2 = wait_log(s->error_log, want2, 1, 5000), n3 = wait_log(s->error_log, want3, 1, 5000);
    hassert(n2 == 1 && n3 == 1,
            "the error log does not show the switch to %s and then %s (%d and %d times): %s", second, third,
            n2, n3, log_tail(s->error_log, 1500));
    hassert(wait_replaced(s, first, nfirst, kids, 5000) > 0, "a %s child is still there", mpm);
    get_page(s->port, third);
    stop_gracefully(s);
    int lines = count_lines(s->access_log) - lines0;
    hassert(lines == ok + 1, "the access log has %d new lines for %ld responses", lines, ok + 1);
    free(what);
    free(want2);
    free(want3);
    expect_no_sanitizer_report(s);
    server_destroy(s);
}

MPM_TEST(restart, hup_replaces_children_and_applies_config, .timeout = 20)
{
    struct srv *s = start(mpm, "<Location /delay>\nSetHandler delay\n</Location>\n");
    pid_t first[MAX_KIDS], kids[MAX_KIDS];
    int nfirst = start_children(s, first);
    pid_t parent = s->pid;

    struct conn *c = conn_open(s->port);
    struct resp *r = exchange(c, PAGE_KEEPALIVE);
    hassert(r->status == 200 && resp_get(r, "Connection") == NULL, "before: status %d, Connection %s",
            r->status, resp_get(r, "Connection") ? resp_get(r, "Connection") : "-");
    resp_free(r);
    conn_close(c);

    /* a slow request in flight: HUP stops the children at once (Apache's), so it is cut, not answered */
    struct conn *slow = conn_open(s->port);
    conn_send_str(slow, "GET /delay?ms=5000 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    sleep_ms(300);

    /* KeepAlive Off shows that the new configuration applies; a new ServerLimit must not */
    char *extra = xasprintf("%s%sKeepAlive Off\nServerLimit 20\n", MPM_DIRECTIVES,
                            "<Location /delay>\nSetHandler delay\n</Location>\n");
    rewrite_conf(s, NULL, extra);
    free(extra);
    int64_t t0 = now_ms();
    server_signal(s, SIGHUP);
    int n = wait_replaced(s, first, nfirst, kids, 5000);
    hassert(n > 0, "the children were not all replaced within 5 s of SIGHUP (%d left)", -n);
    int got;
    while ((got = conn_fill(slow, 100)) > 0)
        ;
    hassert(got == 0 || got == -2, "the request in flight was not cut by SIGHUP");
    hassert(slow->len == 0, "the request in flight got an answer after SIGHUP");
    conn_close(slow);
    harness_report("[%s] HUP: %d children replaced by %d new ones in %lld ms", harness_mpm, nfirst, n,
                   (long long)(now_ms() - t0));

    c = conn_open(s->port);
    r = exchange(c, PAGE_KEEPALIVE);
    hassert(r->status == 200 && resp_get(r, "Connection") && strcmp(resp_get(r, "Connection"), "close") == 0,
            "after SIGHUP the response does not say Connection: close (KeepAlive Off)");
    resp_free(r);
    conn_close(c);
    hassert(s->pid == parent && kill(parent, 0) == 0, "the parent did not survive SIGHUP");
    hassert(log_count(s->error_log, "SIGHUP received.  Attempting to restart") == 1, "no SIGHUP line logged");
    hassert(log_count(s->error_log, "changing ServerLimit to 20 from original value of") == 1,
            "the ServerLimit change was not refused with a warning");
    server_stop(s);
}

MPM_TEST(restart, listeners_follow_the_configuration, .timeout = 20)
{
    struct srv *s = start(mpm, NULL);
    int p1 = s->port, p2 = unused_port();
    pid_t first[MAX_KIDS], kids[MAX_KIDS];
    int nfirst = start_children(s, first);

    /* a second address: bound at the restart, the first one kept */
    char *extra = xasprintf("%sListen 127.0.0.1:%d\n", MPM_DIRECTIVES, p2);
    rewrite_conf(s, NULL, extra);
    free(extra);
    server_signal(s, SIGUSR1);
    hassert(wait_replaced(s, first, nfirst, kids, 5000) > 0, "no new generation after SIGUSR1");
    get_page(p1, "first address after the restart");
    get_page(p2, "new address after the restart");

    /* only the second: the first is closed once its last old child has gone */
    nfirst = start_children(s, first);
    s->listen_in_conf = 0;
    extra = xasprintf("%sListen 127.0.0.1:%d\n", MPM_DIRECTIVES, p2);
    rewrite_conf(s, NULL, extra);
    free(extra);
    server_signal(s, SIGUSR1);
    hassert(wait_replaced(s, first, nfirst, kids, 5000) > 0, "no new generation after the second SIGUSR1");
    get_page(p2, "second address after the first was removed");
    hassert(refused(p1), "the removed address %d still accepts connections", p1);

    server_stop(s);
}

/* 12 MiB of deterministic bytes (more than the socket buffers hold), read by a client paced at 6 MB/s. */
#define LARGE_LEN   (12 << 20)
#define CLIENT_PACE 6000 /* bytes per millisecond */

static char *large_content(void)
{
    char *data = malloc(LARGE_LEN);
    cr_assert(data != NULL, "malloc() failed");
    for (size_t i = 0; i < LARGE_LEN; i++)
        data[i] = (char)('a' + (i * 7 + i / 4096) % 26);
    return data;
}

/* Opens a connection with a small receive buffer and asks for /large.bin. */
static struct conn *start_download(const struct srv *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct conn *c = calloc(1, sizeof(*c));
    int small = 16384;
    cr_assert(c != NULL, "calloc() failed");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    hassert(c->fd != -1 && setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0,
            "socket()/setsockopt() failed: %s", strerror(errno));
    hassert(connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect() failed: %s", strerror(errno));
    conn_send_str(c, "GET /large.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    while (c->len < 65536) {
        int got = conn_fill(c, 3000);
        hassert(got > 0, "the download did not start");
    }
    return c;
}

MPM_TEST(restart, winch_lets_a_slow_download_finish, .timeout = 30)
{
    struct srv *s = server_new(mpm, MPM_DIRECTIVES);
    char *data = large_content();
    server_launch(s, NULL);
    write_file(server_path(s, "htdocs/large.bin"), data, LARGE_LEN);
    pid_t pgid = s->pid;

    struct conn *c = start_download(s);
    int64_t t0 = now_ms();
    server_signal(s, SIGWINCH);
    /* the listeners close at once; the download goes on at the client's pace, about 10 MB/s */
    int64_t deadline = now_ms() + 2000;
    while (!refused(s->port) && now_ms() < deadline)
        sleep_ms(20);
    hassert(refused(s->port), "new connections are still accepted 2 s after SIGWINCH");
    pid_t kids[MAX_KIDS];
    hassert(proc_children(s->pid, kids, MAX_KIDS) >= 1, "no child is left to serve the download");
    int got;
    do {
        if ((int64_t)c->len > (now_ms() - t0) * CLIENT_PACE) {
            sleep_ms(5);
            got = 1;
            continue;
        }
        got = conn_fill(c, 3000);
    } while (got > 0);
    hassert(got == 0, "the download ended with %s after %zu bytes", got == -1 ? "a timeout" : "an error",
            c->len);
    char *body = memmem(c->buf, c->len, "\r\n\r\n", 4);
    hassert(body != NULL && strncmp(c->buf, "HTTP/1.1 200 ", 13) == 0, "no 200 response to the download");
    body += 4;
    size_t body_len = c->len - (size_t)(body - c->buf);
    hassert(body_len == LARGE_LEN && memcmp(body, data, LARGE_LEN) == 0,
            "the download was cut or damaged by SIGWINCH: %zu of %d bytes", body_len, LARGE_LEN);
    int64_t took = now_ms() - t0;
    int status = server_wait_exit(s, 5000);
    harness_report(
        "[%s] WINCH: a %d MiB download in flight finished %lld ms after the signal; the server then exited",
        harness_mpm, LARGE_LEN >> 20, (long long)took);
    hassert(took > 500, "the download finished too fast (%lld ms) to have been paced", (long long)took);
    expect_clean_exit(pgid, status, "SIGWINCH and the end of the download");
    hassert(log_count(s->error_log, "caught SIGWINCH, shutting down gracefully") == 1, "no SIGWINCH line");
    conn_close(c);
    free(data);
    expect_no_sanitizer_report(s);
    server_destroy(s);
}

MPM_TEST(restart, graceful_shutdown_timeout_cuts_a_stalled_download, .timeout = 30)
{
    struct srv *s = server_new(mpm, MPM_DIRECTIVES "GracefulShutdownTimeout 1\n");
    char *data = large_content();
    server_launch(s, NULL);
    write_file(server_path(s, "htdocs/large.bin"), data, LARGE_LEN);
    free(data);
    pid_t pgid = s->pid;

    /* the client stops reading: without GracefulShutdownTimeout the child would end the download only at
     * Timeout (3 s here), with it the parent stops the child after 1 s */
    struct conn *c = start_download(s);
    int64_t t0 = now_ms();
    server_signal(s, SIGWINCH);
    int status = server_wait_exit(s, 8000);
    int64_t took = now_ms() - t0;
    harness_report(
        "[%s] GracefulShutdownTimeout 1: the server exited %lld ms after SIGWINCH with a stalled download",
        harness_mpm, (long long)took);
    expect_clean_exit(pgid, status, "SIGWINCH with GracefulShutdownTimeout 1");
    hassert(took >= 900 && took < 2500, "the server exited %lld ms after SIGWINCH, want about 1 s",
            (long long)took);
    hassert(log_count(s->error_log, "GracefulShutdownTimeout of 1 s exceeded") == 1,
            "the timeout was not logged");
    conn_close(c);
    expect_no_sanitizer_report(s);
    server_destroy(s);
}

MPM_TEST(restart, logrotate_moves_logs_and_usr1_reopens, .timeout = 20)
{
    struct srv *s = start(mpm, NULL);
    pid_t first[MAX_KIDS], kids[MAX_KIDS];
    int nfirst = start_children(s, first);
    char *old_access = xasprintf("%s.1", s->access_log), *old_error = xasprintf("%s.1", s->error_log);

    get_pages_logged(s, 20, "before the rotation");
    int before = count_lines(s->access_log);

    /* what logrotate does: rename, then the postrotate command */
    hassert(rename(s->access_log, old_access) == 0 && rename(s->error_log, old_error) == 0,
            "rename() failed: %s", strerror(errno));
    server_signal(s, SIGUSR1);
    hassert(wait_log(s->error_log, "configured -- resuming normal operations", 1, 3000) == 1,
            "no new error log with the restart in it");
    hassert(wait_replaced(s, first, nfirst, kids, 5000) > 0, "the old children are still there");
    get_pages_logged(s, 15, "after the rotation");
    sleep_ms(200);

    int moved = count_lines(old_access), fresh = count_lines(s->access_log);
    harness_report("[%s] logrotate: %d lines stayed in the moved access log, %d went to the new one",
                   harness_mpm, moved, fresh);
    hassert(moved == before && log_count(old_access, "GET /page.html") == 20,
            "the moved access log has %d lines, had %d at the move", moved, before);
    hassert(fresh == 15, "the new access log has %d lines, want 15", fresh);
    hassert(log_count(old_error, "SIGUSR1 received.  Doing graceful restart") == 1,
            "the moved error log does not end with the signal");
    hassert(log_count(old_error, "configured -- resuming normal operations") == 1,
            "the restart was logged to the moved error log");
    free(old_access);
    free(old_error);
    server_stop(s);
}

MPM_TEST(restart, bad_config_keeps_the_old_generation, .timeout = 25)
{
    struct srv *s = start(mpm, NULL);
    pid_t first[MAX_KIDS], now[MAX_KIDS], kids[MAX_KIDS];
    int nfirst = start_children(s, first);
    char *good = strdup(s->extra);

    /* a syntax error: named with its file and line */
    char *extra = xasprintf("%sNoSuchDirective on\n", good);
    rewrite_conf(s, NULL, extra);
    free(extra);
    char *text = read_file(s->conf, NULL);
    int line = 1;
    for (const char *p = text; p < strstr(text, "NoSuchDirective"); p++)
        line += *p == '\n';
    free(text);
    char *want = xasprintf("restart failed, still serving with the previous configuration: %s:%d: unknown "
                           "directive 'NoSuchDirective'",
                           s->conf, line);
    server_signal(s, SIGUSR1);
    hassert(wait_log(s->error_log, want, 1, 3000) == 1, "the error log does not say \"%s\"", want);
    get_page(s->port, "after the bad configuration");
    sleep_ms(300);
    /* the running generation was not told to leave (the maintenance may have added children to it) */
    int n = proc_children(s->pid, now, MAX_KIDS);
    for (int i = 0; i < nfirst; i++)
        hassert(pid_in(now, n, first[i]), "child %d left after a bad configuration", (int)first[i]);

    /* an address that cannot be bound: the restart is undone, the old listener goes on */
    int taken_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    hassert(taken_fd != -1 && bind(taken_fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                listen(taken_fd, 1) == 0 && getsockname(taken_fd, (struct sockaddr *)&a, &alen) == 0,
            "could not hold a port: %s", strerror(errno));
    extra = xasprintf("%sListen 127.0.0.1:%d\n", good, ntohs(a.sin_port));
    rewrite_conf(s, NULL, extra);
    free(extra);
    free(want);
    want =
        xasprintf("restart failed, still serving with the previous configuration: could not bind to address "
                  "127.0.0.1:%d",
                  ntohs(a.sin_port));
    server_signal(s, SIGUSR1);
    hassert(wait_log(s->error_log, want, 1, 3000) == 1, "the error log does not say \"%s\"", want);
    get_page(s->port, "after the failed bind");
    close(taken_fd);
    n = proc_children(s->pid, now, MAX_KIDS);
    for (int i = 0; i < nfirst; i++)
        hassert(pid_in(now, n, first[i]), "child %d left after a failed bind", (int)first[i]);

    /* fixed: the next USR1 restarts */
    rewrite_conf(s, NULL, good);
    server_signal(s, SIGUSR1);
    hassert(wait_replaced(s, first, nfirst, kids, 5000) > 0, "no new generation once the config was fixed");
    get_page(s->port, "after the fix");
    hassert(log_count(s->error_log, "configured -- resuming normal operations") == 2,
            "want 2 configurations: the start and the fixed restart");
    free(want);
    free(good);
    server_stop(s);
}

/* Runs `httpd -f CONF -k command`; returns its status, stderr in *err (malloc'd). */
static int run_k(const struct srv *s, const char *command, char **err)
{
    char *argv[] = {getenv("HTTPD_BIN"), "-f", (char *)s->conf, "-k", (char *)command, NULL};
    return run_cmd(argv, 5000, NULL, err);
}

MPM_TEST(restart, k_commands_signal_through_the_pid_file, .timeout = 30)
{
    struct srv *s = start(mpm, NULL);
    pid_t first[MAX_KIDS], kids[MAX_KIDS];
    int nfirst = start_children(s, first), n;
    char *err = NULL;

    hassert(run_k(s, "graceful", &err) == 0, "-k graceful failed: %s", err);
    free(err);
    hassert(wait_replaced(s, first, nfirst, kids, 5000) > 0, "-k graceful did not replace the children");
    n = start_children(s, first);
    hassert(wait_log(s->error_log, "SIGUSR1 received", 1, 1000) == 1, "-k graceful did not send SIGUSR1");
    get_page(s->port, "after -k graceful");

    hassert(run_k(s, "restart", &err) == 0, "-k restart failed: %s", err);
    free(err);
    hassert(wait_replaced(s, first, n, kids, 5000) > 0, "-k restart did not replace the children");
    hassert(wait_log(s->error_log, "SIGHUP received", 1, 1000) == 1, "-k restart did not send SIGHUP");
    get_page(s->port, "after -k restart");

    pid_t pgid = s->pid;
    hassert(run_k(s, "graceful-stop", &err) == 0, "-k graceful-stop failed: %s", err);
    free(err);
    expect_clean_exit(pgid, server_wait_exit(s, 5000), "-k graceful-stop");
    hassert(log_count(s->error_log, "caught SIGWINCH") == 1, "-k graceful-stop did not send SIGWINCH");

    hassert(run_k(s, "stop", &err) == 1 && strstr(err, "not running"), "-k stop with no server: %s", err);
    free(err);
    hassert(run_k(s, "bogus", &err) == 1 && strstr(err, "graceful-stop"), "-k bogus: %s", err);
    free(err);

    server_launch(s, NULL);
    pgid = s->pid;
    hassert(run_k(s, "stop", &err) == 0, "-k stop failed: %s", err);
    free(err);
    expect_clean_exit(pgid, server_wait_exit(s, 5000), "-k stop");
    hassert(log_count(s->error_log, "caught SIGTERM") == 1, "-k stop did not send SIGTERM");
    expect_no_sanitizer_report(s);
    server_destroy(s);
}
