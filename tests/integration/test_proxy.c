/*
 * The reverse proxy through the real server, under every MPM, against real upstreams started here on
 * loopback: our own server (event) serving files and /delay, and tests/integration/proxy_upstream.py, which
 * misbehaves on purpose (slow head, close mid-body, CR in a header value, a huge head, no length, interim
 * responses, trailers, a pooled connection closed between requests). The smuggling and malformed requests are
 * sent through the proxy too, and the upstream's log says it saw exactly one request per client request.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ---- the Python upstream ---- */

struct pyup {
    pid_t pid;
    int port;
    char dir[64];
    char log[128];
};

static struct pyup *pyup_start(void)
{
    struct pyup *u = calloc(1, sizeof(*u));
    strcpy(u->dir, "/tmp/test_proxy.XXXXXX");
    hassert(mkdtemp(u->dir) != NULL, "mkdtemp: %s", strerror(errno));
    char *portfile = xasprintf("%s/port", u->dir);
    snprintf(u->log, sizeof(u->log), "%s/requests.log", u->dir);
    char *script = xasprintf("%s/tests/integration/proxy_upstream.py", getenv("HTTPD_SRCDIR"));
    u->pid = fork();
    hassert(u->pid >= 0, "fork: %s", strerror(errno));
    if (u->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives the test, even a failed one */
        execlp("python3", "python3", script, portfile, u->log, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 300 && u->port == 0; i++) {
        char *p = read_file(portfile, NULL);
        if (p != NULL)
            u->port = atoi(p);
        free(p);
        if (u->port == 0)
            sleep_ms(50);
    }
    hassert(u->port > 0, "the Python upstream did not start");
    free(portfile);
    free(script);
    return u;
}

static void pyup_stop(struct pyup *u)
{
    kill(u->pid, SIGKILL);
    waitpid(u->pid, NULL, 0);
    char *cmd = xasprintf("rm -rf %s", u->dir);
    hassert(system(cmd) == 0, "%s", cmd);
    free(cmd);
    free(u);
}

/* A server of `mpm` that passes /py/ to u: `before` (directives, "" for none), then the ProxyPass line with
 * `params` (" retry=0", "" for none) after the URL. */
static struct srv *py_server(const char *mpm, const struct pyup *u, const char *before, const char *params)
{
    char *conf = xasprintf("%sProxyPass /py/ http://127.0.0.1:%d/%s\n", before, u->port, params);
    struct srv *s = server_start(mpm, conf);
    free(conf);
    return s;
}

/* Lines of the upstream's request log that contain needle. */
static int pyup_count(const struct pyup *u, const char *needle)
{
    return log_count(u->log, needle);
}

/* ---- responses, whatever their framing ---- */

struct presp {
    int status;
    char *head;
    char *body;
    size_t body_len;
    int chunked, has_length, complete;
};

static void presp_free(struct presp *r)
{
    free(r->head);
    free(r->body);
    free(r);
}

/* The value of header `name` in the head, or NULL (static buffer). */
static const char *presp_get(const struct presp *r, const char *name)
{
    static char value[256];
    char *needle = xasprintf("\r\n%s: ", name);
    const char *p = strcasestr(r->head, needle);
    free(needle);
    if (p == NULL)
        return NULL;
    p += strlen(name) + 4;
    size_t n = strcspn(p, "\r");
    snprintf(value, sizeof(value), "%.*s", (int)n, p);
    return value;
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Waits until c holds n bytes or the connection ends; 1 if it does. */
static int want(struct conn *c, size_t n, int64_t deadline)
{
    while (c->len < n) {
        int64_t left = deadline - now_ms();
        if (left <= 0 || conn_fill(c, (int)left) <= 0)
            return 0;
    }
    return 1;
}

/* Reads one response (any 1xx first is skipped when skip_interim): Content-Length, chunked, or to the close.
 */
static struct presp *read_resp(struct conn *c, int head_request, int timeout_ms, int skip_interim)
{
    int64_t deadline = now_ms() + timeout_ms;
    struct presp *r = calloc(1, sizeof(*r));
    for (;;) {
        char *end;
        while (c->buf == NULL || (c->buf[c->len] = '\0', (end = strstr(c->buf, "\r\n\r\n")) == NULL))
            if (!want(c, c->len + 1, deadline))
                hfail("no response head within %d ms; got: %s", timeout_ms, escape(c->buf, c->len));
        size_t hl = (size_t)(end + 4 - c->buf);
        r->head = strndup(c->buf, hl);
        consume(c, hl);
        hassert(sscanf(r->head, "HTTP/1.1 %d", &r->status) == 1, "status line: %s",
                escape_line(r->head, hl, 200));
        if (r->status >= 200 || !skip_interim)
            break;
        free(r->head);
    }
    const char *cl = presp_get(r, "Content-Length"), *te = presp_get(r, "Transfer-Encoding");
    r->body = calloc(1, 1);
    r->body_len = 0;
    if (head_request || r->status == 204 || r->status == 304 || r->status < 200) {
        r->complete = 1;
        return r;
    }
    if (te != NULL) {
        hassert(strcmp(te, "chunked") == 0, "Transfer-Encoding: %s", te);
        r->chunked = 1;
        /* the body grows by doubling: a realloc() per chunk copies it whole each time under ASan (no mremap),
         * 18 GB for a 24 MB body in 16 KiB chunks, more than a minute */
        size_t cap = 1;
        for (;;) {
            char *lf;
            while (c->buf[c->len] = '\0', (lf = strstr(c->buf, "\r\n")) == NULL)
                if (!want(c, c->len + 1, deadline))
                    return r;
            size_t size = strtoul(c->buf, NULL, 16);
            consume(c, (size_t)(lf + 2 - c->buf));
            if (!want(c, size + 2, deadline))
                return r;
            if (size == 0) {
                hassert(memcmp(c->buf, "\r\n", 2) == 0, "trailers reached the client: %s",
                        escape(c->buf, c->len));
                consume(c, 2);
                r->complete = 1;
                return r;
            }
            if (r->body_len + size + 1 > cap) {
                cap = cap * 2 > r->body_len + size + 1 ? cap * 2 : r->body_len + size + 1;
                r->body = realloc(r->body, cap);
                hassert(r->body != NULL, "realloc() failed");
            }
            memcpy(r->body + r->body_len, c->buf, size);
            r->body_len += size;
            r->body[r->body_len] = '\0';
            consume(c, size + 2);
        }
    }
    size_t n = cl != NULL ? strtoul(cl, NULL, 10) : (size_t)-1;
    r->has_length = cl != NULL;
    while (c->len < n && want(c, c->len + 1, deadline))
        ;
    if (cl == NULL && !c->eof)
        hfail("a body without a length did not end with the connection");
    size_t take = c->len < n ? c->len : n;
    r->body = realloc(r->body, take + 1);
    memcpy(r->body, c->buf, take);
    r->body_len = take;
    r->body[take] = '\0';
    consume(c, take);
    r->complete = cl == NULL || take == n;
    return r;
}

/* One request on a new connection. */
static struct presp *once(int port, const char *raw, int timeout_ms)
{
    struct conn *c = conn_open(port);
    conn_send_str(c, raw);
    struct presp *r = read_resp(c, strncmp(raw, "HEAD ", 5) == 0, timeout_ms, 1);
    conn_close(c);
    return r;
}

static int status_of(int port, const char *raw)
{
    struct presp *r = once(port, raw, 10000);
    int st = r->status;
    presp_free(r);
    return st;
}

/* The server's processes (the parent and its children) and the sockets each has open (a child still starting
 * opens other descriptors, never sockets). */
struct fds {
    int n;
    pid_t pid[64];
    int fds[64];
};

static void group_fds(const struct srv *s, struct fds *f)
{
    f->n = proc_group(s->pid, f->pid, 64);
    for (int i = 0; i < f->n; i++)
        f->fds[i] = proc_sockets(f->pid[i]);
}

/* Sockets the processes of `before` still alive have gained since (children started meanwhile aside). */
static int fds_gained(const struct srv *s, const struct fds *before)
{
    struct fds now;
    int gained = 0;
    group_fds(s, &now);
    for (int i = 0; i < before->n; i++)
        for (int k = 0; k < now.n; k++)
            if (now.pid[k] == before->pid[i] && now.fds[k] > 0)
                gained += now.fds[k] - before->fds[i];
    return gained;
}

/* A GET of target, in one of a few buffers that take turns (nothing to free). */
static const char *get(const char *target)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "GET %s HTTP/1.1\r\nHost: front.test\r\n\r\n", target);
    return b;
}

/* ---- our own server as the upstream ---- */

#define UPSTREAM_CONF "StartServers 1\n<Location /delay>\n  SetHandler delay\n</Location>\n"

MPM_TEST(proxy, files_and_delay_from_httpd, .timeout = 60)
{
    struct srv *up = server_start("event", UPSTREAM_CONF);
    char *conf = xasprintf("ProxyPass /app/ http://127.0.0.1:%d/ retry=0\n"
                           "ProxyPass /app/sub/ !\n"
                           "ProxyPassReverse /app/ http://127.0.0.1:%d/\n"
                           "<Location /wait>\n  ProxyPass http://127.0.0.1:%d/delay\n</Location>\n",
                           up->port, up->port, up->port);
    struct srv *s = server_start(mpm, conf);

    /* a file, twice on one keep-alive client connection; the upstream connection is reused */
    struct conn *c = conn_open(s->port);
    for (int i = 0; i < 3; i++) {
        const char *req = get(i == 2 ? "/app/big.bin" : "/app/page.html");
        conn_send_str(c, req);
        struct presp *r = read_resp(c, 0, 10000, 0);
        hassert(r->status == 200, "status %d", r->status);
        if (i == 2) {
            expect_bytes("big.bin", r->body, r->body_len, harness_big(), BIG_LEN);
        } else {
            expect_bytes("page.html", r->body, r->body_len, harness_page(), PAGE_LEN);
            hassert(presp_get(r, "ETag") != NULL && presp_get(r, "Last-Modified") != NULL, "head: %s",
                    r->head);
        }
        hassert(r->has_length, "the upstream's length is kept: %s", r->head);
        presp_free(r);
    }
    conn_close(c);
    int lines = wait_log(up->access_log, "GET /page.html", 2, 2000);
    hassert(lines == 2, "the upstream logged %d requests for page.html", lines);

    /* HEAD has no body; a 404 and a 304 pass through; exclusions and <Location> */
    struct presp *r = once(s->port, "HEAD /app/page.html HTTP/1.1\r\nHost: x\r\n\r\n", 5000);
    hassert(r->status == 200 && r->body_len == 0, "HEAD: %d", r->status);
    hassert(strcmp(presp_get(r, "Content-Length"), "1024") == 0, "HEAD keeps the length: %s", r->head);
    presp_free(r);
    hassert(status_of(s->port, "GET /app/nothing-here HTTP/1.1\r\nHost: x\r\n\r\n") == 404, "404");
    r = once(s->port, "GET /app/sub/ HTTP/1.1\r\nHost: x\r\n\r\n", 5000);
    hassert(r->status == 404, "/app/sub/ is excluded: served from our own (empty) /app/: %d", r->status);
    presp_free(r);
    r = once(s->port, "GET /wait?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n", 5000);
    hassert(r->status == 200 && strcmp(r->body, "waited 200 ms\n") == 0, "delay: %d %s", r->status, r->body);
    presp_free(r);
    /* a redirect of the upstream's (a directory without its slash) points back at us */
    r = once(s->port, "GET /app/sub HTTP/1.1\r\nHost: front.test:81\r\n\r\n", 5000);
    hassert(r->status == 301, "status %d", r->status);
    hassert(strcmp(presp_get(r, "Location"), "http://front.test:81/app/sub/") == 0, "Location: %s",
            presp_get(r, "Location"));
    presp_free(r);
    free(conf);
    server_stop(s);
    server_stop(up);
}

/* A TCP socket bound to a free port of 127.0.0.1 (*port), not listening. */
static int bound_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    hassert(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
                getsockname(fd, (struct sockaddr *)&sin, &len) == 0,
            "bind: %s", strerror(errno));
    *port = ntohs(sin.sin_port);
    return fd;
}

MPM_TEST(proxy, errors_refused_and_timeouts, .timeout = 60)
{
    struct pyup *u = pyup_start();
    /* a port bound but not listening, held for the whole test so that no server is given it: refused */
    int dead_port, dead_fd = bound_socket(&dead_port);
    char *conf = xasprintf("ProxyPass /py/ http://127.0.0.1:%d/ timeout=1 retry=0\n"
                           "ProxyPass /dead/ http://127.0.0.1:%d/ retry=0\n"
                           "ProxyPass /dead2/ http://127.0.0.1:%d/ retry=30\n",
                           u->port, dead_port, dead_port);
    struct srv *s = server_start(mpm, conf);
    struct fds fds_before;
    group_fds(s, &fds_before);

    hassert(status_of(s->port, get("/dead/x")) == 503, "refused: 503");
    hassert(wait_log(s->error_log, "connect() to 127.0.0.1:", 1, 2000) >= 1, "logged: %s",
            log_tail(s->error_log, 2000));
    hassert(log_count(s->error_log, "Connection refused") == 1, "logged once: %s",
            log_tail(s->error_log, 2000));
    /* retry=30: the first refusal puts the upstream in its error state (in that child: one keep-alive
     * connection stays in one child), the next is refused at once */
    struct conn *k = conn_open(s->port);
    for (int i = 0; i < 2; i++) {
        conn_send_str(k, get("/dead2/x"));
        struct presp *r = read_resp(k, 0, 5000, 0);
        hassert(r->status == 503, "request %d: %d", i, r->status);
        presp_free(r);
    }
    conn_close(k);
    hassert(wait_log(s->error_log, "is in its error state", 1, 2000) >= 1, "%s",
            log_tail(s->error_log, 2000));

    int64_t t0 = now_ms();
    hassert(status_of(s->port, get("/py/slowhead?ms=3000")) == 504, "slow head: 504");
    hassert(now_ms() - t0 < 2800, "504 after timeout=1, not the upstream's 3 s");
    hassert(status_of(s->port, get("/py/slowhead?ms=100")) == 200, "a head within the timeout");
    /* on a keep-alive connection, after a request whose wait ended well before its deadline: the next
     * request's response timeout is its own, neither sooner nor later */
    struct conn *ka = conn_open(s->port);
    for (int i = 0; i < 3; i++) {
        conn_send_str(ka, get(i < 2 ? "/py/slowhead?ms=10" : "/py/slowhead?ms=3000"));
        t0 = now_ms();
        struct presp *kr = read_resp(ka, 0, 5000, 0);
        int64_t took = now_ms() - t0;
        hassert(kr->status == (i < 2 ? 200 : 504), "request %d: %d", i, kr->status);
        if (i == 2)
            hassert(took >= 900 && took < 2800, "504 after %lld ms, not timeout=1's 1 s", (long long)took);
        presp_free(kr);
    }
    conn_close(ka);
    struct presp *bad = once(s->port, get("/py/crlf"), 10000);
    hassert(bad->status == 502, "CR in a header value: 502");
    hassert(strncmp(bad->head, "HTTP/1.1 502 Bad Gateway\r\n", 26) == 0, "%s", bad->head);
    presp_free(bad);
    hassert(status_of(s->port, get("/py/hugehead")) == 502, "huge head: 502");
    hassert(wait_log(s->error_log, "invalid response", 2, 2000) >= 2, "%s", log_tail(s->error_log, 2000));

    /* closing mid-body: the client connection closes, the body is not completed */
    struct conn *c = conn_open(s->port);
    conn_send_str(c, get("/py/midclose"));
    struct presp *r = read_resp(c, 0, 5000, 0);
    hassert(r->status == 200 && !r->complete && r->body_len == 1000, "status %d, %zu bytes, complete %d",
            r->status, r->body_len, r->complete);
    hassert(c->eof, "the connection was closed");
    presp_free(r);
    conn_close(c);
    hassert(wait_log(s->error_log, "in the middle of the response body", 1, 2000) >= 1, "%s",
            log_tail(s->error_log, 2000));
    /* no descriptor left behind: only the connection the one good answer pooled, in the child that served it
     */
    int gained = fds_gained(s, &fds_before);
    for (int64_t until = now_ms() + 3000; gained > 1 && now_ms() < until; gained = fds_gained(s, &fds_before))
        sleep_ms(50); /* a close may lag its response on a loaded machine: a leak stays */
    hassert(gained <= 1, "the server's processes hold %d more sockets", gained);
    free(conf);
    server_stop(s);
    pyup_stop(u);
    close(dead_fd);
}

MPM_TEST(proxy, framing_interim_trailers_and_bodies, .timeout = 60)
{
    struct pyup *u = pyup_start();
    struct srv *s = py_server(mpm, u, "ProxyVia On\n", " retry=0");

    /* no length: chunked to an HTTP/1.1 client, to the close for HTTP/1.0 */
    struct presp *r = once(s->port, get("/py/nolength"), 5000);
    hassert(r->chunked && r->complete && strcmp(r->body, "part 0\npart 1\npart 2\npart 3\npart 4\n") == 0,
            "1.1: %s %s", r->head, r->body);
    hassert(strstr(strstr(r->head, "\r\nDate: ") + 1, "\r\nDate: ") == NULL &&
                strstr(r->head, "\r\nServer: proxy_upstream\r\n") &&
                strstr(strstr(r->head, "\r\nServer: ") + 1, "\r\nServer: ") == NULL,
            "the upstream's Date and Server, once: %s", r->head);
    presp_free(r);
    r = once(s->port, "GET /py/nolength HTTP/1.0\r\n\r\n", 5000);
    hassert(!r->chunked && !r->has_length && strcmp(r->body, "part 0\npart 1\npart 2\npart 3\npart 4\n") == 0,
            "1.0: %s %s", r->head, r->body);
    presp_free(r);
    /* interim responses are the proxy's business; trailers are dropped, the body is whole */
    r = once(s->port, get("/py/continue"), 5000);
    hassert(r->status == 200 && strcmp(r->body, "after interim\n") == 0, "%d %s", r->status, r->body);
    hassert(presp_get(r, "Via") != NULL, "ProxyVia On: %s", r->head);
    presp_free(r);
    /* our Via entry ends the upstream's last Via line, as Apache merges it */
    r = once(s->port, get("/py/via"), 5000);
    const char *via1 = strstr(r->head, "\r\nVia: 1.0 cache\r\n");
    const char *via2 = strstr(r->head, "\r\nVia: 1.1 app, 1.1 ");
    hassert(r->status == 200 && via1 != NULL && via2 != NULL && via1 < via2 &&
                strstr(via2 + 2, "\r\nVia:") == NULL,
            "ProxyVia On behind an upstream's Via: %s", r->head);
    presp_free(r);
    r = once(s->port, get("/py/trailers"), 5000);
    hassert(r->chunked && r->complete && strcmp(r->body, "chunk1chunk2") == 0, "%s", r->body);
    hassert(presp_get(r, "Trailer") == NULL, "Trailer is hop-by-hop: %s", r->head);
    presp_free(r);
    /* the status line's reason phrase is the upstream's, as Apache and nginx relay it */
    r = once(s->port, get("/py/status?s=299+Custom+Words"), 5000);
    hassert(strncmp(r->head, "HTTP/1.1 299 Custom Words\r\n", 27) == 0 && strcmp(r->body, "status\n") == 0,
            "%s", r->head);
    presp_free(r);
    r = once(s->port, get("/py/status?s=201+%01bad"), 5000); /* a control byte: the core's own phrase */
    hassert(strncmp(r->head, "HTTP/1.1 201 Created\r\n", 22) == 0, "%s", r->head);
    presp_free(r);

    /* request bodies re-framed: Content-Length as received, chunked by us; hop-by-hop headers removed */
    r = once(s->port,
             "POST /py/echo HTTP/1.1\r\nHost: h\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 1\r\n"
             "Content-Length: 11\r\n\r\nhello world",
             5000);
    hassert(r->status == 200, "%d", r->status);
    hassert(strstr(r->body, "Content-Length: 11\r\n") && strstr(r->body, "\r\n\r\n--\nhello world") &&
                !strstr(r->body, "X-Hop") && !strstr(r->body, "Keep-Alive") &&
                strstr(r->body, "X-Forwarded-For: 127.0.0.1\r\n") &&
                strstr(r->body, "X-Forwarded-Host: h\r\n") && strstr(r->body, "Via: 1.1 "),
            "upstream saw: %s", r->body);
    presp_free(r);
    r = once(s->port,
             "POST /py/echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n6;ext=x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
             5000);
    hassert(strstr(r->body, "Transfer-Encoding: chunked\r\n") && strstr(r->body, "--\nhello world") &&
                !strstr(r->body, "X-Trailer"),
            "upstream saw: %s", r->body);
    presp_free(r);
    /* a large body streams through */
    size_t n = 300000;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    struct conn *c = conn_open(s->port);
    char *head = xasprintf("PUT /py/echo HTTP/1.1\r\nHost: h\r\nContent-Length: %zu\r\n\r\n", n);
    conn_send_str(c, head);
    conn_send(c, big, n);
    r = read_resp(c, 0, 10000, 0);
    hassert(r->status == 200 && r->body_len > n && memcmp(r->body + r->body_len - n, big, n) == 0,
            "%zu bytes back", r->body_len);
    presp_free(r);
    /* Expect: 100-continue: the client is told to go on, and the upstream gets no Expect */
    conn_send_str(c,
                  "POST /py/echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    r = read_resp(c, 0, 5000, 0);
    hassert(r->status == 100, "interim first: %d", r->status);
    presp_free(r);
    conn_send_str(c, "ok");
    r = read_resp(c, 0, 5000, 0);
    hassert(r->status == 200 && strstr(r->body, "--\nok") && !strstr(r->body, "Expect"), "%s", r->body);
    presp_free(r);
    /* a large response to a client that reads late: whole */
    conn_send_str(c, get("/py/big?n=2000000"));
    sleep_ms(500);
    r = read_resp(c, 0, 20000, 0);
    hassert(r->status == 200 && r->complete && r->body_len == 2000000, "%zu bytes", r->body_len);
    for (size_t i = 0; i < r->body_len; i++)
        if ((unsigned char)r->body[i] != i % 251)
            hfail("byte %zu differs", i);
    presp_free(r);
    conn_close(c);
    free(big);
    free(head);
    server_stop(s);
    pyup_stop(u);
}

MPM_TEST(proxy, pooled_connection_closed_by_upstream, .timeout = 60)
{
    struct pyup *u = pyup_start();
    struct srv *s = py_server(mpm, u, "", " retry=0");
    /* the upstream closes an idle connection after 200 ms: detected before the next request */
    struct conn *c = conn_open(s->port);
    for (int i = 0; i < 3; i++) {
        conn_send_str(c, get("/py/x"));
        struct presp *r = read_resp(c, 0, 5000, 0);
        hassert(r->status == 200 && strcmp(r->body, "ok /x\n") == 0, "request %d: %d", i, r->status);
        presp_free(r);
        sleep_ms(i == 0 ? 50 : 400);
    }
    /* the upstream takes the next request on a pooled connection and closes without answering: a GET is sent
     * again on a new connection, a POST is not */
    conn_send_str(c, get("/py/dropnext"));
    struct presp *r = read_resp(c, 0, 5000, 0);
    hassert(r->status == 200, "%d", r->status);
    presp_free(r);
    conn_send_str(c, get("/py/again"));
    r = read_resp(c, 0, 5000, 0);
    hassert(r->status == 200 && strcmp(r->body, "ok /again\n") == 0, "retried GET: %d %s", r->status,
            r->body);
    presp_free(r);
    hassert(pyup_count(u, "GET /again") == 2, "dropped once, then answered: %s", read_file(u->log, NULL));
    conn_send_str(c, get("/py/dropnext"));
    r = read_resp(c, 0, 5000, 0);
    presp_free(r);
    conn_send_str(c, "POST /py/once HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\nx");
    r = read_resp(c, 0, 5000, 0);
    hassert(r->status == 502, "a POST is not sent twice: %d", r->status);
    presp_free(r);
    hassert(pyup_count(u, "POST /once") == 1, "%s", read_file(u->log, NULL));
    conn_close(c);
    server_stop(s);
    pyup_stop(u);
}

MPM_TEST(proxy, response_in_two_writes_not_held, .timeout = 60)
{
    /* The upstream writes a response's head and body apart with Nagle's algorithm on: its kernel holds the
     * body until the head is acknowledged, and the proxy's, on a pooled connection that carries one request
     * after another, delays that ACK (40 ms or more) unless told otherwise. The median of nine requests in a
     * row. */
    struct pyup *u = pyup_start();
    struct srv *s = py_server(mpm, u, "", "");
    struct conn *c = conn_open(s->port);
    int64_t took[9];
    for (int i = 0; i < 9; i++) {
        int64_t start = now_ms();
        conn_send_str(c, get("/py/twowrites"));
        struct presp *r = read_resp(c, 0, 5000, 0);
        took[i] = now_ms() - start;
        hassert(r->status == 200 && strcmp(r->body, "body\n") == 0, "request %d: %d", i, r->status);
        presp_free(r);
    }
    int64_t m = median_ms(took, 9);
    hassert(m < 25, "a response in two writes took %lld ms (median of 9)", (long long)m);
    hassert(pyup_count(u, "GET /twowrites") == 9, "%s", read_file(u->log, NULL));
    conn_close(c);
    server_stop(s);
    pyup_stop(u);
}

/* Sends a POST of "hello" to /py/echo on c in two writes (head, then body) and reads the echo; returns the ms
 * from the first write to the answer. */
static int64_t post_in_two_writes(struct conn *c, void *arg, int used)
{
    (void)arg, (void)used;
    int64_t start = now_ms();
    conn_send_str(c, "POST /py/echo HTTP/1.1\r\nHost: front.test\r\nContent-Length: 5\r\n\r\n");
    conn_send_str(c, "hello");
    struct presp *r = read_resp(c, 0, 5000, 0);
    int64_t took = now_ms() - start;
    hassert(r->status == 200 && r->body_len >= 5 && memcmp(r->body + r->body_len - 5, "hello", 5) == 0,
            "POST in two writes: %d", r->status);
    presp_free(r);
    return took;
}

MPM_TEST(proxy, request_body_in_two_writes_not_held, .timeout = 60)
{
    /* A client with Nagle's algorithm on holds the body until the head is acknowledged; the proxy, which has
     * started on the request (connecting: disablereuse=On, a new upstream connection each time) and then
     * waits for the body, must acknowledge the head at once, or each such request waits out the delayed-ACK
     * timer (40 ms or more). On new client connections and on used ones; the median of nine of each. */
    struct pyup *u = pyup_start();
    struct srv *s = py_server(mpm, u, "", " disablereuse=On");
    expect_nagle_not_held(s->port, post_in_two_writes, NULL);
    server_stop(s);
    pyup_stop(u);
}

MPM_TEST(proxy, new_upstream_connection_acknowledged_by_the_request, .timeout = 60)
{
    /* A new upstream connection's handshake ends with the proxy's ACK, which leaves with the request unless
     * the kernel sends it at once: the upstream has then received 2 segments when it reads the request (the
     * SYN and the request), not 3. disablereuse=On: a new connection each time; most of five, as a request
     * written later than the delayed-ACK timer would let a bare ACK through. */
    struct pyup *u = pyup_start();
    struct srv *s = py_server(mpm, u, "", " disablereuse=On");
    struct conn *c = conn_open(s->port);
    int with_request = 0;
    char seen[5][32];
    for (int i = 0; i < 5; i++) {
        conn_send_str(c, get("/py/segments"));
        struct presp *r = read_resp(c, 0, 5000, 0);
        hassert(r->status == 200 && strncmp(r->body, "segments ", 9) == 0, "request %d: %d", i, r->status);
        snprintf(seen[i], sizeof(seen[i]), "%s", r->body + 9);
        seen[i][strcspn(seen[i], "\n")] = '\0';
        with_request += strcmp(seen[i], "2") == 0;
        presp_free(r);
    }
    hassert(with_request >= 3,
            "%d of 5 new upstream connections had their last ACK with the request (segments "
            "the upstream received: %s %s %s %s %s; 2 when it did)",
            with_request, seen[0], seen[1], seen[2], seen[3], seen[4]);
    hassert(pyup_count(u, "GET /segments") == 5, "%s", read_file(u->log, NULL));
    conn_close(c);
    server_stop(s);
    pyup_stop(u);
}

/* Requests the core refuses never reach the upstream; those it answers reach it exactly once, re-framed. */
MPM_TEST(proxy, smuggling_one_request_each, .timeout = 60)
{
    struct pyup *u = pyup_start();
    char *conf = xasprintf("ProxyPass / http://127.0.0.1:%d/ retry=0\n", u->port);
    struct srv *s = server_start(mpm, conf);
    /* the hostile-input material of test_hostile.c, each request to /cN followed by a pipelined GET /fN:
     * whatever the proxy answers, the upstream saw exactly the requests the client got an upstream answer to,
     * and never one hidden in another's body or headers */
    static const char *const cases[] = {
        "POST /c%d HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nGET /smuggled "
        "HTTP/1.1\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\nhello",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nContent-Length: 5 5\r\n\r\nhello",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nContent-Length : 5\r\n\r\nhello",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
        "chunked\r\n\r\n0\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: "
        "chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n",
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\n\r\n",
        "GET /c%d HTTP/1.1\r\nHost: h\r\nX: y\r\n folded\r\n\r\n",
        "GET /c%d HTTP/1.1\nHost: h\n\n",
        "GET /c%d HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        "GET /c%d HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n",
        "GET  /c%d HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET /c%d HTTP/1.1 \r\nHost: h\r\n\r\n",
        /* accepted ones: each must reach the upstream once, with its body */
        "POST /c%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nX: "
        "y\r\n\r\n",
        "POST /c%d HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET /c%d HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
        "GET http://other.example/c%d HTTP/1.1\r\nHost: h\r\n\r\n",
    };
    enum { N = sizeof(cases) / sizeof(cases[0]) };
    for (int i = 0; i < N; i++) {
        char *req = xasprintf(cases[i], i);
        char *follow = xasprintf("GET /f%d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", i);
        struct conn *c = conn_open(s->port);
        conn_send_str(c, req);
        conn_send_str(c, follow);
        int answered_c = 0, answered_f = 0;
        char *want_c = xasprintf("ok /c%d\n", i), *want_f = xasprintf("ok /f%d\n", i);
        while (c->len > 0 || conn_fill(c, 1500) > 0) {
            struct presp *r = read_resp(c, 0, 3000, 1);
            answered_c += r->status == 200 && strcmp(r->body, want_c) == 0;
            answered_f += r->status == 200 && strcmp(r->body, want_f) == 0;
            presp_free(r);
        }
        conn_close(c);
        char *seen_c = xasprintf(" /c%d ", i), *seen_f = xasprintf(" /f%d ", i);
        sleep_ms(20);
        hassert(pyup_count(u, seen_c) == answered_c && pyup_count(u, seen_f) == answered_f,
                "case %d (%s): the client got %d+%d upstream answers, the upstream saw %d+%d requests", i,
                escape_line(req, strlen(req), 200), answered_c, answered_f, pyup_count(u, seen_c),
                pyup_count(u, seen_f));
        if (i >= N - 4)
            hassert(answered_c == 1, "case %d is valid and was not answered by the upstream", i);
        free(req), free(follow), free(want_c), free(want_f), free(seen_c), free(seen_f);
    }
    char *log = read_file(u->log, NULL);
    hassert(pyup_count(u, "smuggled") == 0, "a smuggled request reached the upstream: %s", log);
    hassert(pyup_count(u, "POST /c21 5") == 1 && pyup_count(u, "POST /c22 5") == 1 &&
                pyup_count(u, "GET /c23 5") == 1,
            "bodies re-framed whole: %s", log);
    free(log);
    /* pipelined requests with bodies: each reaches it once, with its own body */
    struct conn *c = conn_open(s->port);
    conn_send_str(
        c, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nonePOST /echo HTTP/1.1\r\nHost: h\r\n"
           "Transfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\nGET /three HTTP/1.1\r\nHost: h\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        struct presp *r = read_resp(c, 0, 5000, 0);
        hassert(r->status == 200, "pipelined %d: %d", i, r->status);
        if (i < 2)
            hassert(strstr(r->body, i == 0 ? "--\none" : "--\ntwo") != NULL, "%s", r->body);
        presp_free(r);
    }
    conn_close(c);
    hassert(pyup_count(u, "POST /echo 3") == 2 && pyup_count(u, "GET /three") == 1, "%s",
            read_file(u->log, NULL));
    free(conf);
    server_stop(s);
    pyup_stop(u);
}

/* Under event, waiting on an upstream holds no thread: 200 requests to a 300 ms upstream take about 300 ms.
 */
/* prefork and worker: a process or thread waits for the upstream for its request; when the client has closed
 * its connection meanwhile, the wait ends at once (as nginx's proxy_ignore_client_abort off) and the worker
 * is free for the next client, instead of waiting out the upstream's answer for nobody. One worker here: the
 * second client is answered long before the abandoned request's 4 s would have passed. */
MPM_TEST(proxy, abandoned_request_frees_its_worker, .timeout = 60)
{
    if (strcmp(mpm, "event") == 0)
        cr_skip_test("event holds a wait in its reactor, not in a worker");
    struct srv *up = server_start("event", UPSTREAM_CONF);
    char *conf = xasprintf("<IfModule mpm_prefork_module>\nStartServers 1\nMinSpareServers 1\n"
                           "MaxSpareServers 1\nMaxRequestWorkers 1\n</IfModule>\n"
                           "<IfModule mpm_worker_module>\nStartServers 1\nServerLimit 1\nThreadsPerChild 1\n"
                           "MinSpareThreads 1\nMaxSpareThreads 1\nMaxRequestWorkers 1\n</IfModule>\n"
                           "ProxyPass /up/ http://127.0.0.1:%d/ retry=0\n",
                           up->port);
    struct srv *s = server_start(mpm, conf);

    struct conn *gone = conn_open(s->port);
    conn_send_str(gone, get("/up/delay?ms=4000"));
    sleep_ms(300); /* the worker took it and waits for the upstream */
    conn_close(gone);

    int64_t t0 = now_ms();
    struct presp *r = once(s->port, "GET /up/page.html HTTP/1.1\r\nHost: x\r\n\r\n", 10000);
    int64_t took = now_ms() - t0;
    hassert(r->status == 200, "the next client: status %d", r->status);
    presp_free(r);
    harness_report("[%s] the next client after an abandoned 4 s request: answered in %lld ms", mpm,
                   (long long)took);
    hassert(took < 2000, "the next client waited %lld ms: the abandoned request held the only worker",
            (long long)took);
    free(conf);
    server_stop(s);
    server_stop(up);
}

Test(proxy, event_concurrent_upstream_waits, .fini = harness_fini, .timeout = 60)
{
    harness_begin_mpm("event");
    enum { N = 200 };
    raise_nofile(4 * N + 64);
    struct srv *up = server_start("event", UPSTREAM_CONF);
    char *conf = xasprintf("StartServers 1\nProxyPass /up/ http://127.0.0.1:%d/ retry=0\n", up->port);
    struct srv *s = server_start("event", conf);
    static struct conn *cs[N];
    const char *req = get("/up/delay?ms=300");
    for (int i = 0; i < N; i++)
        cs[i] = conn_open(s->port);
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++)
        conn_send_str(cs[i], req);
    for (int i = 0; i < N; i++) {
        struct presp *r = read_resp(cs[i], 0, 10000, 0);
        hassert(r->status == 200 && strcmp(r->body, "waited 300 ms\n") == 0, "request %d: %d", i, r->status);
        presp_free(r);
    }
    int64_t took = now_ms() - t0;
    harness_report("event: %d proxied requests to a 300 ms upstream in %lld ms", N, (long long)took);
    hassert(took < 1500, "%d requests took %lld ms: serialised", N, (long long)took);
    for (int i = 0; i < N; i++)
        conn_close(cs[i]);
    free(conf);
    server_stop(s);
    server_stop(up);
}

/* A balancer of two of our servers: requests shared by loadfactor, then one member stops: after it no client
 * sees an error, and server-status shows the member's error state and every member's counters. */
MPM_TEST(proxy, balancer_shares_and_fails_over, .timeout = 60)
{
    struct srv *a = server_start("event", UPSTREAM_CONF);
    struct srv *b = server_start("event", UPSTREAM_CONF);
    char *conf = xasprintf("<Proxy balancer://pair>\n"
                           "  BalancerMember http://127.0.0.1:%d/ retry=30\n"
                           "  BalancerMember http://127.0.0.1:%d/ loadfactor=2 retry=30\n"
                           "</Proxy>\n"
                           "ProxyPass /lb/ balancer://pair/\n"
                           "<Location /server-status>\n  SetHandler server-status\n</Location>\n",
                           a->port, b->port);
    struct srv *s = server_start(mpm, conf);
    for (int i = 0; i < 30; i++)
        hassert(status_of(s->port, get("/lb/page.html")) == 200, "request %d", i);
    /* a line is written once its response has gone: wait for the last ones */
    int on_a = wait_log(a->access_log, "GET /page.html", 10, 2000);
    int on_b = wait_log(b->access_log, "GET /page.html", 20, 2000);
    hassert(on_a == 10 && on_b == 20, "loadfactor 1:2 gave %d:%d", on_a, on_b);

    server_stop(b);
    for (int i = 0; i < 20; i++) {
        struct presp *r = once(s->port, get("/lb/page.html"), 10000);
        hassert(r->status == 200, "after the member stopped, request %d: %d", i, r->status);
        presp_free(r);
    }
    on_a = wait_log(a->access_log, "GET /page.html", 30, 2000);
    sleep_ms(100);
    on_a = log_count(a->access_log, "GET /page.html");
    hassert(on_a == 30, "the other member took them all: %d", on_a);
    hassert(wait_log(s->error_log, "Connection refused", 1, 2000) >= 1, "%s", log_tail(s->error_log, 2000));

    /* a member stops counting a request busy at the request's cleanup, which may follow its response */
    struct presp *r = NULL;
    for (int64_t until = now_ms() + 2000;; sleep_ms(20)) {
        r = once(s->port, get("/server-status?auto"), 5000);
        if (strstr(r->body, "ProxyBalancer[0]Worker[0]Busy: 0\n") != NULL || now_ms() > until)
            break;
        presp_free(r);
    }
    char *w0 = xasprintf("ProxyBalancer[0]Worker[0]Name: http://127.0.0.1:%d/\n", a->port);
    hassert(strstr(r->body, "ProxyBalancer[0]Name: balancer://pair\n") && strstr(r->body, w0) &&
                strstr(r->body, "ProxyBalancer[0]Worker[0]Status: Init Ok\n") &&
                strstr(r->body, "ProxyBalancer[0]Worker[0]Elected: 30\n") &&
                strstr(r->body, "ProxyBalancer[0]Worker[1]Status: Init Err\n") &&
                strstr(r->body, "ProxyBalancer[0]Worker[1]Elected: 2") &&
                strstr(r->body, "ProxyBalancer[0]Worker[0]Busy: 0\n"),
            "?auto: %s", r->body);
    presp_free(r);
    r = once(s->port, get("/server-status?json"), 5000);
    hassert(strstr(r->body, "\"proxy_balancers\":[{\"name\":\"balancer://pair\",\"members\":[{\"url\":") &&
                strstr(r->body, "\"state\":\"error\"") && strstr(r->body, "\"elected\":30,"),
            "?json: %s", r->body);
    presp_free(r);
    r = once(s->port, get("/server-status"), 5000);
    hassert(strstr(r->body, "Proxy LoadBalancer Status for balancer://pair") &&
                strstr(r->body, "<td>Err</td>"),
            "HTML: %s", r->body);
    presp_free(r);
    free(w0);
    free(conf);
    server_stop(s);
    server_stop(a);
}

/* Resident memory of the server's process group, in kB. */
static long group_rss_kb(const struct srv *s)
{
    pid_t pids[64];
    int n = proc_group(s->pid, pids, 64);
    long sum = 0;
    for (int i = 0; i < n; i++) {
        long kb = proc_status(pids[i], "VmRSS");
        sum += kb > 0 ? kb : 0;
    }
    return sum;
}

/* Backpressure: a client that does not read holds the upstream back; the server does not take in the body. */
MPM_TEST(proxy, slow_client_holds_the_upstream_back, .timeout = 90)
{
    enum { N = 24 * 1000 * 1000 };
    struct pyup *u = pyup_start();
    /* Timeout 30: the harness's 3 s would close on a test reader starved of CPU on a loaded machine */
    struct srv *s = py_server(mpm, u, "Timeout 30\n", " retry=0 timeout=30");
    hassert(status_of(s->port, get("/py/warm")) == 200, "warm-up");
    long before = group_rss_kb(s);
    /* a small receive buffer, and nothing read for 1.5 s */
    int fd = raw_connect(s->port, 16384);
    char req[128];
    snprintf(req, sizeof(req), "GET /py/big?n=%d HTTP/1.1\r\nHost: h\r\n\r\n", N);
    raw_send(fd, req);
    sleep_ms(1500);
    long during = group_rss_kb(s);
    harness_report("%s: server RSS %ld kB before, %ld kB with a 24 MB response waiting for its client", mpm,
                   before, during);
    hassert(during - before < 8 * 1024 || harness_sanitized(), "RSS grew by %ld kB: the body was buffered",
            during - before);
    hassert(pyup_count(u, "sent /big") == 0, "the upstream could send it all: nothing held it back");
    /* then the client reads it all, intact */
    struct conn *c = calloc(1, sizeof(*c));
    c->fd = fd;
    struct presp *r = read_resp(c, 0, 60000, 0);
    hassert(r->status == 200 && r->complete && r->body_len == N, "%zu bytes, complete %d", r->body_len,
            r->complete);
    for (size_t i = 0; i < r->body_len; i += 4099)
        if ((unsigned char)r->body[i] != i % 251)
            hfail("byte %zu differs", i);
    presp_free(r);
    conn_close(c);
    server_stop(s);
    pyup_stop(u);
}

/* ProxyBuffering On: the upstream is done as fast as it sends, whatever the client does; past ProxyBufferSize
 * and ProxyMaxTempFileSize the rest streams. */
MPM_TEST(proxy, buffering_frees_the_upstream, .timeout = 90)
{
    enum { N = 20 * 1000 * 1000, SPILL = 3 * 1000 * 1000 };
    struct pyup *u = pyup_start();
    char *conf = xasprintf("Timeout 30\nProxyBuffering On\nProxyBufferSize 65536\n"
                           "ProxyPass /py/ http://127.0.0.1:%d/ retry=0 timeout=30\n"
                           "<Location /small/>\n  ProxyPass http://127.0.0.1:%d/\n</Location>\n",
                           u->port, u->port);
    struct srv *s = server_start(mpm, conf);
    int fd = raw_connect(s->port, 16384);
    char req[128];
    snprintf(req, sizeof(req), "GET /py/big?n=%d HTTP/1.1\r\nHost: h\r\n\r\n", N);
    raw_send(fd, req);
    hassert(wait_log(u->log, "sent /big", 1, 20000) == 1,
            "the upstream was held back by a client that does not read");
    struct conn *c = calloc(1, sizeof(*c));
    c->fd = fd;
    struct presp *r = read_resp(c, 0, 60000, 0);
    hassert(r->status == 200 && r->has_length && r->complete && r->body_len == N,
            "%zu bytes, complete %d: %s", r->body_len, r->complete, r->head);
    for (size_t i = 0; i < r->body_len; i += 4099)
        if ((unsigned char)r->body[i] != i % 251)
            hfail("byte %zu differs", i);
    presp_free(r);
    /* bodies without a length get one; a close mid-body is a 502, as nothing was sent yet */
    conn_send_str(c, get("/py/nolength"));
    r = read_resp(c, 0, 5000, 0);
    hassert(r->has_length && strcmp(r->body, "part 0\npart 1\npart 2\npart 3\npart 4\n") == 0, "%s", r->head);
    hassert(strstr(r->head, "\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n") &&
                strstr(strstr(r->head, "\r\nDate: ") + 1, "\r\nDate: ") == NULL &&
                strstr(r->head, "\r\nServer: proxy_upstream\r\n") &&
                strstr(strstr(r->head, "\r\nServer: ") + 1, "\r\nServer: ") == NULL,
            "the upstream's Date and Server, once: %s", r->head);
    presp_free(r);
    conn_close(c);
    hassert(status_of(s->port, get("/py/midclose")) == 502, "a truncated body read ahead");
    free(conf);
    server_stop(s);

    /* past the limits: 64 KiB in memory, 1 MB in the file, then streaming: whole, in order */
    conf = xasprintf("ProxyBuffering On\nProxyBufferSize 65536\nProxyMaxTempFileSize 1000000\n"
                     "ProxyPass /py/ http://127.0.0.1:%d/ retry=0\n",
                     u->port);
    s = server_start(mpm, conf);
    snprintf(req, sizeof(req), "/py/big?n=%d", SPILL);
    r = once(s->port, get(req), 30000);
    hassert(r->status == 200 && r->chunked && r->complete && r->body_len == SPILL, "%zu bytes", r->body_len);
    for (size_t i = 0; i < r->body_len; i++)
        if ((unsigned char)r->body[i] != i % 251)
            hfail("byte %zu differs", i);
    presp_free(r);
    free(conf);
    server_stop(s);
    pyup_stop(u);
}

/* Pooling: in steady state the upstream sees far fewer connections than requests (at most 1 per 100). */
MPM_TEST(proxy, pooled_connections_are_reused, .timeout = 60)
{
    enum { N = 500 };
    struct pyup *u = pyup_start();
    struct srv *s = py_server(mpm, u, "MaxKeepAliveRequests 0\n", " retry=0");
    struct conn *c = conn_open(s->port);
    for (int i = 0; i < N; i++) {
        conn_send_str(c, get("/py/pooled"));
        struct presp *r = read_resp(c, 0, 5000, 0);
        hassert(r->status == 200, "request %d: %d", i, r->status);
        presp_free(r);
    }
    conn_close(c);
    /* the upstream's log: "CONNECTION GET /pooled 0" per request */
    char *log = read_file(u->log, NULL);
    int conns[N], n_conns = 0, requests = 0;
    for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        if (strstr(line, " GET /pooled ") == NULL)
            continue;
        requests++;
        int id = atoi(line), seen = 0;
        for (int k = 0; k < n_conns; k++)
            seen |= conns[k] == id;
        if (!seen && n_conns < N)
            conns[n_conns++] = id;
    }
    free(log);
    harness_report("%s: %d proxied requests used %d upstream connections", mpm, requests, n_conns);
    hassert(requests == N && n_conns <= N / 100, "%d requests on %d upstream connections", requests, n_conns);
    server_stop(s);
    pyup_stop(u);
}

/* The timer of the established TCP socket whose peer port is `port` (/proc/net/tcp's "tr": 0 none, 1
 * retransmission, 2 keep-alive, ...), or -1 when there is none. The file is read again a few times before
 * -1: it is made in pieces, and sockets that other programs open and close meanwhile can hide a line. */
static int tcp_timer_to(int port)
{
    int timer = -1;
    for (int attempt = 0; timer < 0 && attempt < 20; attempt++) {
        if (attempt > 0)
            sleep_ms(50);
        FILE *f = fopen("/proc/net/tcp", "r");
        hassert(f != NULL, "/proc/net/tcp: %s", strerror(errno));
        char line[512];
        while (timer < 0 && fgets(line, sizeof(line), f) != NULL) {
            unsigned rem_port, st, tr;
            if (sscanf(line, " %*d: %*x:%*x %*x:%x %x %*x:%*x %x", &rem_port, &st, &tr) == 3 &&
                (int)rem_port == port && st == 1)
                timer = (int)tr;
        }
        fclose(f);
    }
    return timer;
}

/* Apache's spellings: connectiontimeout= in ms, keepalive=, enablereuse=, ProxyRequests Off, BalancerMember
 * and ProxySet outside <Proxy>. */
MPM_TEST(proxy, apache_worker_parameters, .timeout = 60)
{
    struct pyup *u = pyup_start();
    /* an upstream that keeps an idle connection open long enough to look at it (the Python one closes it
     * after 200 ms) */
    struct srv *up = server_start("event", UPSTREAM_CONF "KeepAliveTimeout 30\n");
    /* an upstream whose accept queue is full (backlog 0, one connection waiting) drops new SYNs: a connect to
     * it hangs until connectiontimeout= */
    int port, l = bound_socket(&port), filler = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    sin.sin_port = htons((uint16_t)port);
    hassert(filler >= 0 && listen(l, 0) == 0 && connect(filler, (struct sockaddr *)&sin, sizeof(sin)) == 0,
            "a listener with a full accept queue: %s", strerror(errno));
    char *conf =
        xasprintf("ProxyRequests Off\n"
                  "ProxyPass /hang/ http://127.0.0.1:%d/ connectiontimeout=300ms timeout=10 retry=0\n"
                  "ProxyPass /ka/ http://127.0.0.1:%d/ keepalive=On enablereuse=On\n"
                  "BalancerMember balancer://pair http://127.0.0.1:%d/lb/\n"
                  "ProxySet balancer://pair lbmethod=bybusyness\n"
                  "ProxyPass /pair/ balancer://pair/\n",
                  port, up->port, u->port);
    struct srv *s = server_start(mpm, conf);
    free(conf);
    long long t0 = now_ms();
    hassert(status_of(s->port, get("/hang/x")) == 504, "a connect that hangs: 504");
    long long took = now_ms() - t0;
    hassert(took >= 250 && took < 2000, "504 after %lld ms, not connectiontimeout=300ms", took);
    hassert(wait_log(s->error_log, "connect() to 127.0.0.1:", 1, 2000) >= 1, "logged: %s",
            read_file(s->error_log, NULL));
    /* keepalive=On: the pooled connection (enablereuse=On) has TCP's keep-alive timer running */
    hassert(status_of(s->port, get("/ka/page.html")) == 200, "through the pool");
    int timer = tcp_timer_to(up->port);
    hassert(timer == 2, "the upstream connection's timer: %d, not keep-alive (2)", timer);
    /* a balancer spelt outside its section */
    hassert(status_of(s->port, get("/pair/x")) == 200 && pyup_count(u, " GET /lb/x ") == 1,
            "through balancer://pair: %s", read_file(u->log, NULL));
    server_stop(s);
    /* keepalive= Off, the default: no timer on an idle connection */
    conf = xasprintf("ProxyPass /ka/ http://127.0.0.1:%d/\n", up->port);
    s = server_start(mpm, conf);
    free(conf);
    hassert(status_of(s->port, get("/ka/page.html")) == 200, "through the pool");
    timer = tcp_timer_to(up->port);
    hassert(timer == 0, "the upstream connection's timer: %d, none expected", timer);
    server_stop(s);
    server_stop(up);
    close(filler);
    close(l);
    pyup_stop(u);
}

/* ProxyPassReverseCookiePath and ProxyPassReverseCookieDomain on the upstream's Set-Cookie lines. */
MPM_TEST(proxy, cookie_paths_and_domains_rewritten, .timeout = 60)
{
    struct pyup *u = pyup_start();
    struct srv *s = py_server(mpm, u,
                              "ProxyPassReverseCookiePath /base/ /py/\n"
                              "ProxyPassReverseCookieDomain backend.internal front.example\n",
                              "");
    struct presp *r = once(s->port, get("/py/cookies"), 5000);
    hassert(r->status == 200 &&
                strstr(r->head, "\r\nSet-Cookie: a=1; Path=/py/; Domain=front.example; HttpOnly\r\n") !=
                    NULL &&
                strstr(r->head, "\r\nSet-Cookie: b=2; path=/other\r\n") != NULL &&
                strstr(r->head, "\r\nSet-Cookie: c=3\r\n") != NULL,
            "rewritten: %s", r->head);
    presp_free(r);
    server_stop(s);
    /* without the lines, as the upstream sent them */
    s = py_server(mpm, u, "", "");
    r = once(s->port, get("/py/cookies"), 5000);
    hassert(r->status == 200 &&
                strstr(r->head, "\r\nSet-Cookie: a=1; Path=/base/x; Domain=backend.internal; HttpOnly\r\n") !=
                    NULL,
            "as sent: %s", r->head);
    presp_free(r);
    server_stop(s);
    pyup_stop(u);
}

/* A GET of target for Host host, as get() does. */
static const char *get_host(const char *target, const char *host)
{
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof(bufs[0]), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, host);
    return b;
}

/* <Proxy URL> sections with Require lines, as Apache's: the last section matching the URL a request is
 * proxied to decides, a <Location> with Require lines overrides them, a refusal never reaches the upstream.
 */
MPM_TEST(proxy, proxy_sections_control_access, .timeout = 60)
{
    struct srv *up = server_start("event", UPSTREAM_CONF);
    char *conf = xasprintf("<Proxy *>\n  Require all granted\n</Proxy>\n"
                           "<Proxy \"http://127.0.0.1:%d/admin/\">\n  Require ip 10.0.0.0/8\n</Proxy>\n"
                           "<Proxy balancer://in>\n  BalancerMember http://127.0.0.1:%d/\n"
                           "  Require local\n</Proxy>\n"
                           "<Proxy balancer://out>\n  BalancerMember http://127.0.0.1:%d/\n"
                           "  <RequireAll>\n    Require all granted\n    Require not local\n  </RequireAll>\n"
                           "</Proxy>\n"
                           "<Location /app/admin/open/>\n  Require all granted\n</Location>\n"
                           "ProxyPass /app/ http://127.0.0.1:%d/\n"
                           "ProxyPass /in/ balancer://in/\n"
                           "ProxyPass /out/ balancer://out/\n"
                           "<VirtualHost *:@PORT@>\n  ServerName localhost\n</VirtualHost>\n"
                           "<VirtualHost *:@PORT@>\n  ServerName v.test\n"
                           "  <Proxy http://127.0.0.1:%d/page>\n    Require all denied\n  </Proxy>\n"
                           "</VirtualHost>\n",
                           up->port, up->port, up->port, up->port, up->port);
    struct srv *s = server_start(mpm, conf);
    free(conf);
    static const struct {
        const char *target, *host;
        int status;
    } cases[] = {
        {"/app/page.html", "localhost", 200},    /* <Proxy *> */
        {"/app/admin/x", "localhost", 403},      /* the /admin/ section, after it */
        {"/app/admin/open/x", "localhost", 404}, /* a <Location>'s Require wins: the upstream's 404 */
        {"/app/admin", "localhost", 404},        /* a prefix of the URL, not of its path segments */
        {"/in/page.html", "localhost", 200},     /* Require local, from 127.0.0.1 */
        {"/out/page.html", "localhost", 403},    /* Require not local */
        {"/app/page.html", "v.test", 403},       /* the vhost's own section, after the main server's */
        {"/app/page.html?q=1", "v.test", 403},   /* a prefix: the query does not hide it */
        {"/app/admin/open/x", "v.test", 404},    /* the main server's <Location> */
    };
    int reached = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct presp *r = once(s->port, get_host(cases[i].target, cases[i].host), 10000);
        hassert(r->status == cases[i].status, "%s for %s: %d, want %d", cases[i].target, cases[i].host,
                r->status, cases[i].status);
        if (cases[i].status == 403)
            hassert(strstr(r->head, "\r\nConnection: close\r\n") == NULL && r->body_len > 0,
                    "a 403 page on an open connection: %s", r->head);
        reached += cases[i].status != 403;
        presp_free(r);
    }
    /* the refused never reached the upstream (its lines follow its responses) */
    hassert(wait_log(up->access_log, "\"GET /", reached, 2000) == reached, "the upstream saw: %s",
            read_file(up->access_log, NULL));
    sleep_ms(100);
    hassert(log_count(up->access_log, "\"GET /") == reached, "the upstream saw: %s",
            read_file(up->access_log, NULL));
    char *line = xasprintf(
        "AH01630: client denied by server configuration: proxy:http://127.0.0.1:%d/admin/x", up->port);
    hassert(wait_log(s->error_log, line, 1, 2000) == 1 &&
                wait_log(s->error_log,
                         "client denied by server configuration: proxy:balancer://out/page.html", 1,
                         2000) == 1,
            "the error log: %s", read_file(s->error_log, NULL));
    free(line);
    server_stop(s);
    server_stop(up);
}

/* AllowEncodedSlashes and ProxyPass nocanon, as Apache's (Jenkins behind /ci/ needs both): Off refuses %2F
 * with 404, NoDecode keeps it (re-encoding nothing of it), On makes it a '/', nocanon sends the client's path
 * as it was written. The upstream logs the request line it received. */
MPM_TEST(proxy, encoded_slashes_and_nocanon, .timeout = 60)
{
    struct pyup *u = pyup_start();
    char *conf = xasprintf("ProxyPass /py/ http://127.0.0.1:%d/base/\n"
                           "ProxyPass /raw/ http://127.0.0.1:%d/job/ nocanon\n"
                           "<VirtualHost *:@PORT@>\n  ServerName localhost\n</VirtualHost>\n"
                           "<VirtualHost *:@PORT@>\n  ServerName keep.test\n  AllowEncodedSlashes NoDecode\n"
                           "</VirtualHost>\n"
                           "<VirtualHost *:@PORT@>\n  ServerName on.test\n  AllowEncodedSlashes On\n"
                           "</VirtualHost>\n",
                           u->port, u->port);
    struct srv *s = server_start(mpm, conf);
    free(conf);
    static const struct {
        const char *target, *host;
        int status;
        const char *upstream; /* the request line's target the upstream logged; NULL: it saw nothing */
    } cases[] = {
        {"/py/a%2Fb", "localhost", 404, NULL},
        {"/raw/a%2Fb", "localhost", 404, NULL}, /* nocanon does not let %2F past Off */
        {"/py/a%2Fb/c%20d%41?q=%2F", "keep.test", 200, "/base/a%2Fb/c%20dA?q=%2F"},
        {"/py/x%2f..%2fy", "keep.test", 200, "/base/x%2f..%2fy"},
        {"/raw/a%2Fb/c%20d%41?q=1", "keep.test", 200, "/job/a%2Fb/c%20d%41?q=1"},
        {"/raw/./x/../y%7e", "keep.test", 200, "/job/./x/../y%7e"},
        {"/py/a%2Fb", "on.test", 200, "/base/a/b"},
        {"/py/p%2F..%2Fq", "on.test", 200, "/base/q"},
        {"/py/..%2F..%2Fetc", "on.test", 400, NULL},
    };
    int seen = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[512];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", cases[i].target, cases[i].host);
        int st = status_of(s->port, req);
        hassert(st == cases[i].status, "%s for %s: %d, want %d", cases[i].target, cases[i].host, st,
                cases[i].status);
        if (cases[i].upstream != NULL) {
            char *line = xasprintf(" GET %s ", cases[i].upstream);
            hassert(pyup_count(u, line) == 1, "%s for %s: the upstream saw %s", cases[i].target,
                    cases[i].host, read_file(u->log, NULL));
            free(line);
            seen++;
        }
    }
    hassert(pyup_count(u, " GET ") == seen, "the refused reached the upstream: %s", read_file(u->log, NULL));
    server_stop(s);
    pyup_stop(u);
}

/* RequestHeader (Apache's mod_headers) on what the upstream receives: X-Forwarded-Proto for an application
 * behind an https front, a header dropped early, the main server's lines before a vhost's. */
MPM_TEST(proxy, request_headers_edited, .timeout = 60)
{
    struct pyup *u = pyup_start();
    struct srv *s = py_server(mpm, u,
                              "RequestHeader set X-Forwarded-Proto \"https\"\n"
                              "RequestHeader unset Proxy early\n"
                              "RequestHeader append Accept text/x-extra\n"
                              "RequestHeader merge Cache-Control no-cache\n"
                              "RequestHeader add X-Twice one\n"
                              "RequestHeader add X-Twice two\n"
                              "RequestHeader setifempty X-Kept default\n"
                              "RequestHeader set X-Pct \"100%% sure\"\n"
                              "<VirtualHost *:@PORT@>\n  ServerName localhost\n</VirtualHost>\n"
                              "<VirtualHost *:@PORT@>\n  ServerName v.test\n"
                              "  RequestHeader set X-Forwarded-Proto http\n"
                              "  RequestHeader unset X-Twice\n</VirtualHost>\n",
                              "");
    static const char req[] = "GET /py/echo HTTP/1.1\r\nHost: %s\r\nProxy: http://evil.example/\r\n"
                              "X-Forwarded-Proto: gopher\r\nAccept: text/html\r\nCache-Control: max-age=0, "
                              "no-cache\r\nX-Kept: mine\r\n\r\n";
    char raw[512];
    snprintf(raw, sizeof(raw), req, "localhost");
    struct presp *r = once(s->port, raw, 10000);
    hassert(r->status == 200, "%d", r->status);
    const char *want[] = {"\r\nX-Forwarded-Proto: https\r\n",
                          "\r\nAccept: text/html, text/x-extra\r\n",
                          "\r\nCache-Control: max-age=0, no-cache\r\n",
                          "\r\nX-Twice: one\r\nX-Twice: two\r\n",
                          "\r\nX-Kept: mine\r\n",
                          "\r\nX-Pct: 100% sure\r\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        hassert(strstr(r->body, want[i]) != NULL, "the upstream received no %s: %s", want[i], r->body);
    hassert(strstr(r->body, "gopher") == NULL && strstr(r->body, "evil") == NULL &&
                strstr(r->body, "X-Forwarded-Proto: https\r\nX-Forwarded-Proto") == NULL,
            "%s", r->body);
    presp_free(r);
    snprintf(raw, sizeof(raw), req, "v.test");
    r = once(s->port, raw, 10000);
    hassert(r->status == 200 && strstr(r->body, "\r\nX-Forwarded-Proto: http\r\n") != NULL &&
                strstr(r->body, "X-Twice") == NULL && strstr(r->body, "evil") == NULL,
            "the vhost's lines after the main server's: %s", r->body);
    presp_free(r);
    server_stop(s);
    pyup_stop(u);
}

/* Header (Apache's mod_headers) on what the client receives: a proxied response, a static one, the server's
 * own error page (`always` lines only), an upstream's 404 (its response, not ours: every line). */
MPM_TEST(proxy, response_headers_edited, .timeout = 60)
{
    struct srv *up = server_start("event", UPSTREAM_CONF);
    char *conf = xasprintf("ProxyPass /app/ http://127.0.0.1:%d/\n"
                           "Header set X-Frame-Options DENY\n"
                           "Header always set Strict-Transport-Security \"max-age=60\"\n"
                           "Header unset ETag\n"
                           "Header append Cache-Control no-store\n"
                           "Header set Server front\n",
                           up->port);
    struct srv *s = server_start(mpm, conf);
    free(conf);
    static const struct {
        const char *target;
        int status, all; /* all: every line applies, not only the always one */
    } cases[] = {
        {"/app/page.html", 200, 1},
        {"/page.html", 200, 1},
        {"/nope.html", 404, 0},
        {"/app/nope.html", 404, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct presp *r = once(s->port, get(cases[i].target), 10000);
        hassert(r->status == cases[i].status, "%s: %d", cases[i].target, r->status);
        hassert(strstr(r->head, "\r\nStrict-Transport-Security: max-age=60\r\n") != NULL, "%s: %s",
                cases[i].target, r->head);
        int framed = strstr(r->head, "\r\nX-Frame-Options: DENY\r\n") != NULL;
        int etag = strstr(r->head, "\r\nETag: ") != NULL;
        int server = strstr(r->head, "\r\nServer: front\r\n") != NULL;
        int cache = strstr(r->head, "\r\nCache-Control: no-store\r\n") != NULL;
        hassert(framed == cases[i].all && server == cases[i].all && cache == cases[i].all && !etag, "%s: %s",
                cases[i].target, r->head);
        const char *first = strstr(r->head, "\r\nServer: ");
        hassert(first != NULL && strstr(first + 2, "\r\nServer: ") == NULL, "one Server line: %s", r->head);
        if (cases[i].status == 200)
            expect_bytes(cases[i].target, r->body, r->body_len, harness_page(), PAGE_LEN);
        presp_free(r);
    }
    server_stop(s);
    server_stop(up);
}

/* ProxyPass inside <VirtualHost>: a vhost's own mappings for its requests only, the main server's for all. */
MPM_TEST(proxy, virtual_hosts, .timeout = 60)
{
    struct srv *up = server_start("event", UPSTREAM_CONF);
    char *conf = xasprintf("ProxyPass /both/ http://127.0.0.1:%d/\n"
                           "<VirtualHost *:@PORT@>\n  ServerName a.test\n"
                           "  ProxyPass /api/ http://127.0.0.1:%d/\n</VirtualHost>\n"
                           "<VirtualHost *:@PORT@>\n  ServerName b.test\n</VirtualHost>\n",
                           up->port, up->port);
    struct srv *s = server_start(mpm, conf);
    struct presp *r = once(s->port, get_host("/api/page.html", "a.test"), 10000);
    hassert(r->status == 200, "a.test /api/: %d", r->status);
    expect_bytes("a.test /api/page.html", r->body, r->body_len, harness_page(), PAGE_LEN);
    presp_free(r);
    hassert(status_of(s->port, get_host("/api/page.html", "b.test")) == 404, "b.test has no /api/ mapping");
    hassert(status_of(s->port, get_host("/both/page.html", "a.test")) == 200, "a.test inherits /both/");
    hassert(status_of(s->port, get_host("/both/page.html", "b.test")) == 200, "b.test inherits /both/");
    int lines = wait_log(up->access_log, "GET /page.html", 3, 2000);
    hassert(lines == 3, "the upstream saw %d requests", lines);
    free(conf);
    server_stop(s);
    server_stop(up);
}
