/*
 * libFuzzer target over the reverse proxy (server/proxy.c, proxy_http.c, proxy_pool.c) behind the connection
 * state machine: the fuzzer's bytes are both what a client sends and what the upstream answers. The client
 * side is driven as fuzz_conn drives it (fuzz_drive()); the upstream is a real listening socket on 127.0.0.1
 * in this process, whose connections this target accepts and answers whenever the proxy waits on one, so the
 * proxy's own connect(), send() and recv() run for real, pooled connections included.
 *
 * Input layout: byte 0 is fuzz_drive()'s control byte for the client side, byte 1 seeds the choices, byte 2
 * controls the upstream, bytes 3-4 (little-endian) are how many of the rest the client sends; what follows
 * them is the upstream's byte stream, answered in order over whichever connection the proxy reads from:
 *   bit 0  the upstream writes in pieces of 1..64 bytes (else up to 16 KiB at a time)
 *   bit 1  once its bytes are all sent, the upstream falls silent (the proxy's timeout) instead of closing
 *   bit 2  time passes before each upstream write (0..3 s, so connect and response timeouts can expire)
 *   bit 3  the upstream closes a connection when a second request comes on it, unanswered (the retry rule)
 *   bit 4  the upstream's closes are resets (SO_LINGER 0), not FINs
 *   bit 5  the upstream talks first: its next piece goes out while the proxy waits to connect or to send
 *   bit 6  the upstream answers one response at a time: no write goes past the end of a response (where
 *          llhttp, reading the upstream's bytes as responses, finds one), so that a connection can be pooled
 * The client reaches the proxy through the configuration below: /p/ (pooled; ProxyPassReverse of its URL and
 * of http://backend.test/base/, a name an input can spell, unlike the port; its cookies' /base/ paths and
 * backend.test domains rewritten), /q/ (inside <Location>, no reuse), /dead/ (a port that refuses), /n/
 * (nocanon: the client's path as sent; a <Proxy> section refuses its /deny), /x/ excluded, /b/ and /c/
 * balancers of the upstream and the refusing port (byrequests with loadfactors and
 * retry=, so that a request fails over and the refusing member then sits in its error state; bybusyness);
 * Host "b" selects a <VirtualHost> that reads responses ahead (ProxyBuffering, with small limits so that the
 * temporary file and the spill are reached) and takes %2F as '/' (AllowEncodedSlashes On); Host "a" keeps it
 * as written (NoDecode). RequestHeader lines set, merge and (early) remove request headers, Header lines
 * set, append and remove response headers.
 * The members' shared scores and error states start from zero with each input, so that an input means the
 * same whatever ran before it.
 *
 * The oracle besides the sanitizers and fuzz_drive()'s: what the upstream receives on each connection parses
 * as HTTP/1.1 requests (llhttp, strict), at most two (a retry) for each request the core accounted, with no
 * hop-by-hop header (on_value_complete()); no file descriptor is left open after the input (the pool is
 * emptied once the upstream has closed its side); no upstream is counted busy once the input is over.
 *
 * Built by ./configure --enable-fuzzing (clang) as tests/fuzz/fuzz_proxy; tests/fuzz/test_fuzz_replay.c runs
 * its seeds and every kept crashing input through fuzz_proxy_one() in `make check`.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_drive.h"
#include "fuzz_proxy.h"
#include "http_conn.h"
#include "process.h"
#include "proxy_map.h"
#include "proxy_pool.h"
#include "scoreboard.h"
#include "server.h"
#include "sockwatch.h"
#include "vhost.h"

#define UP_CONNS 16 /* the upstream's connections open at once: more than the proxy ever holds */
#define UP_ENDS  64 /* the ends of responses bit 6 keeps writes within */

static struct server *srv;
static struct sb_worker *slot;
static const struct vhost_set *vhosts;
static int listener = -1;
static int dead = -1;

/* The upstream's side of one connection: what it received, parsed as requests. */
struct upstream;

struct up_conn {
    struct upstream *u;
    int fd;
    llhttp_t parser;
    int messages;             /* complete requests received on it */
    int closed_early;         /* bit 3: closed once a second request is on it */
    char name[64], value[64]; /* the header being received (its start: enough to judge it) */
    size_t name_len, value_len;
};

struct upstream {
    unsigned ctl;
    uint32_t *rng;
    const uint8_t *data; /* what it answers, in order */
    size_t size, pos;
    struct up_conn conns[UP_CONNS];
    int n;
    int messages; /* complete requests received */
    int last_fd, last_events, stalls;
    size_t ends[UP_ENDS]; /* bit 6: where each response of data ends, in order */
    int n_ends;
};

static llhttp_settings_t request_settings;

/* Appends a piece of a header's name or value to what is kept of it. */
static void keep(char *to, size_t *len, size_t cap, const char *at, size_t n)
{
    size_t k = n < cap - 1 - *len ? n : cap - 1 - *len;
    memcpy(to + *len, at, k);
    *len += k;
    to[*len] = '\0';
}

static int on_field(llhttp_t *p, const char *at, size_t n)
{
    struct up_conn *uc = p->data;
    keep(uc->name, &uc->name_len, sizeof(uc->name), at, n);
    return 0;
}

static int on_value(llhttp_t *p, const char *at, size_t n)
{
    struct up_conn *uc = p->data;
    keep(uc->value, &uc->value_len, sizeof(uc->value), at, n);
    return 0;
}

/* A header the upstream received: never a hop-by-hop one (RFC 9110 7.6.1) but the proxy's own framing
 * (Transfer-Encoding: chunked) and Connection: close (disablereuse=On); nor Expect, which the proxy answers.
 */
static int on_value_complete(llhttp_t *p)
{
    struct up_conn *uc = p->data;
    static const char *const never[] = {
        "Keep-Alive",        "TE", "Trailer", "Upgrade", "Expect", "Proxy-Connection", "Proxy-Authorization",
        "Proxy-Authenticate"};
    int bad = 0;
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        bad |= strcasecmp(uc->name, never[i]) == 0;
    bad |= strcasecmp(uc->name, "Connection") == 0 && strcmp(uc->value, "close") != 0;
    bad |= strcasecmp(uc->name, "Transfer-Encoding") == 0 && strcmp(uc->value, "chunked") != 0;
    if (bad)
        fprintf(stderr, "fuzz: the upstream received \"%s: %s\"\n", uc->name, uc->value);
    fuzz_check(!bad, "a hop-by-hop header reached the upstream");
    uc->name_len = uc->value_len = 0;
    uc->name[0] = uc->value[0] = '\0';
    return 0;
}

static int on_request_complete(llhttp_t *p)
{
    struct up_conn *uc = p->data;
    uc->messages++;
    uc->u->messages++;
    return 0;
}

static int on_response_complete(llhttp_t *p)
{
    (void)p;
    return HPE_PAUSED; /* where it ends: llhttp_get_error_pos() */
}

/* Bit 6: the offsets at which the upstream's responses end, as llhttp reads them (a response to a HEAD
 * request is read as having its body: only the inputs' own framing is known here). */
static void find_ends(struct upstream *u)
{
    llhttp_settings_t settings;
    llhttp_settings_init(&settings);
    settings.on_message_complete = on_response_complete;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &settings);
    const char *start = (const char *)u->data, *at = start, *end = start + u->size;
    while (at < end && u->n_ends < UP_ENDS) {
        if (llhttp_execute(&parser, at, (size_t)(end - at)) != HPE_PAUSED)
            break;
        at = llhttp_get_error_pos(&parser);
        u->ends[u->n_ends++] = (size_t)(at - start);
        llhttp_resume(&parser);
    }
}

/* How many of the k bytes the upstream is about to write go out: with bit 6, none past the next end. */
static size_t within_response(const struct upstream *u, size_t k)
{
    for (int i = 0; i < u->n_ends; i++)
        if (u->ends[i] > u->pos)
            return u->pos + k > u->ends[i] ? u->ends[i] - u->pos : k;
    return k;
}

/* How many descriptors are open; with `show`, each is printed with what it is. */
static int open_fds(int show)
{
    DIR *d = opendir("/proc/self/fd");
    fuzz_check(d != NULL, "cannot list /proc/self/fd");
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        char path[300], what[300];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t k = show ? readlink(path, what, sizeof(what) - 1) : -1;
        if (k >= 0)
            fprintf(stderr, "fuzz: fd %s: %.*s\n", e->d_name, (int)k, what);
    }
    closedir(d);
    return n - 1; /* the directory's own */
}

void fuzz_proxy_init(void)
{
    if (srv != NULL)
        return;
    listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    fuzz_check(listener >= 0 && bind(listener, (struct sockaddr *)&a, sizeof(a)) == 0 &&
                   listen(listener, 64) == 0 && getsockname(listener, (struct sockaddr *)&a, &len) == 0,
               "cannot listen on 127.0.0.1");
    int port = ntohs(a.sin_port);
    /* connections to a port bound but not listening are refused: /dead/'s upstream */
    dead = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in b = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    len = sizeof(b);
    fuzz_check(dead >= 0 && bind(dead, (struct sockaddr *)&b, sizeof(b)) == 0 &&
                   getsockname(dead, (struct sockaddr *)&b, &len) == 0,
               "cannot bind on 127.0.0.1");
    char conf[8192];
    snprintf(conf, sizeof(conf),
             "Listen 127.0.0.1:8080\n"
             "ServerName main\n"
             "ErrorLog /dev/null\n"
             "LogLevel debug\n"
             "CustomLog /dev/null \"%%h %%t \\\"%%r\\\" %%>s %%b %%D %%{Location}o %%{Content-Type}o\"\n"
             "LimitRequestBody 100000\n"
             "LimitRequestFields 30\n"
             "LimitRequestFieldSize 2000\n"
             "RequestReadTimeout header=2-6,MinRate=500 body=3,MinRate=1000\n"
             "Timeout 10\n"
             "RequestHeader set X-Forwarded-Proto https\n"
             "RequestHeader merge Accept text/x-fuzz\n"
             "RequestHeader unset X-Drop early\n"
             "Header always set X-Frame-Options DENY\n"
             "Header append Cache-Control no-store\n"
             "Header unset ETag\n"
             "ProxyPass /x/ !\n"
             "ProxyPass /p/ http://127.0.0.1:%d/base/ retry=0 max=2 timeout=5 connectiontimeout=2\n"
             "ProxyPassReverse /p/ http://127.0.0.1:%d/base/\n"
             "ProxyPassReverse /p/ http://backend.test/base/\n"
             "ProxyPassReverseCookiePath /base/ /p/\n"
             "ProxyPassReverseCookieDomain backend.test front.test\n"
             "ProxyPass /dead/ http://127.0.0.1:%d/ retry=0\n"
             "ProxyPass /n/ http://127.0.0.1:%d/base/ nocanon retry=0\n"
             "<Proxy http://127.0.0.1:%d/base/deny>\n"
             "  Require all denied\n"
             "</Proxy>\n"
             "<Location /q/>\n"
             "  ProxyPass http://127.0.0.1:%d/ retry=0 disablereuse=On\n"
             "</Location>\n"
             "<Proxy balancer://pair>\n"
             "  BalancerMember http://127.0.0.1:%d/ retry=5\n"
             "  BalancerMember http://127.0.0.1:%d/base/ loadfactor=3 max=1 timeout=3\n"
             "</Proxy>\n"
             "ProxyPass /b/ balancer://pair/\n"
             "<Proxy balancer://busy>\n"
             "  BalancerMember http://127.0.0.1:%d/ disablereuse=On\n"
             "  BalancerMember http://127.0.0.1:%d/ retry=2\n"
             "  ProxySet lbmethod=bybusyness\n"
             "</Proxy>\n"
             "ProxyPass /c/ balancer://busy/\n"
             "<VirtualHost *:8080>\n"
             "  ServerName a\n"
             "  AllowEncodedSlashes NoDecode\n"
             "</VirtualHost>\n"
             "<VirtualHost *:8080>\n"
             "  ServerName b\n"
             "  ProxyBuffering On\n"
             "  ProxyBufferSize 1024\n"
             "  ProxyMaxTempFileSize 3000\n"
             "  ProxyPreserveHost On\n"
             "  ProxyAddHeaders Off\n"
             "  ProxyVia Full\n"
             "  AllowEncodedSlashes On\n"
             "</VirtualHost>\n",
             port, port, ntohs(b.sin_port), port, port, port, ntohs(b.sin_port), port, port,
             ntohs(b.sin_port));
    fuzz_sub("htdocs");
    srv = fuzz_load(conf);
    slot = scoreboard_worker(process_scoreboard(), 0, 0);
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons(8080)};
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    vhosts = vhost_by_addr(srv, (struct sockaddr *)&local, sizeof(local));
    llhttp_settings_init(&request_settings);
    request_settings.on_message_complete = on_request_complete;
    request_settings.on_header_field = on_field;
    request_settings.on_header_value = on_value;
    request_settings.on_header_value_complete = on_value_complete;
    /* a request for a file first: the DocumentRoot's descriptor, which static.c opens once per process and
     * keeps, is then open before any input counts descriptors */
    static const char warm[] = "GET /x/ HTTP/1.1\r\nHost: a\r\n\r\n";
    uint32_t rng = 1;
    struct fuzz_conn_run run = {
        .rng = &rng, .data = (const uint8_t *)warm, .size = sizeof(warm) - 1, .vhosts = vhosts};
    fuzz_drive(srv, slot, &run);
}

/* Accepts the connections the proxy has made. */
static void accept_all(struct upstream *u)
{
    for (;;) {
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        fuzz_check(u->n < UP_CONNS, "the proxy holds too many upstream connections");
        struct up_conn *uc = &u->conns[u->n++];
        memset(uc, 0, sizeof(*uc));
        uc->u = u;
        uc->fd = fd;
        llhttp_init(&uc->parser, HTTP_REQUEST, &request_settings);
        uc->parser.data = uc;
    }
}

/* Closes connection i (the last takes its place). */
static void drop(struct upstream *u, int i)
{
    if (u->ctl & 0x10) { /* a reset rather than a FIN */
        struct linger now = {.l_onoff = 1, .l_linger = 0};
        setsockopt(u->conns[i].fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
    }
    close(u->conns[i].fd);
    u->conns[i] = u->conns[--u->n];
    u->conns[i].parser.data = &u->conns[i];
}

/* Reads what the proxy sent on every connection, checking that it parses as requests. Returns whether
 * anything moved (bytes, or a close). */
static int drain(struct upstream *u)
{
    static char buf[65536];
    int moved = 0;
    for (int i = 0; i < u->n;) {
        struct up_conn *uc = &u->conns[i];
        ssize_t n;
        while ((n = recv(uc->fd, buf, sizeof(buf), 0)) > 0) {
            moved = 1;
            llhttp_errno_t err = llhttp_execute(&uc->parser, buf, (size_t)n);
            if (err != HPE_OK)
                fprintf(stderr, "fuzz: upstream request stream: %s\n", llhttp_get_error_reason(&uc->parser));
            fuzz_check(err == HPE_OK, "the upstream received an invalid request stream");
            if ((u->ctl & 0x08) && uc->messages >= 2)
                uc->closed_early = 1;
        }
        if (n == 0 || uc->closed_early) {
            moved = 1;
            drop(u, i); /* the proxy closed it, or it is closed on purpose */
            continue;
        }
        fuzz_check(errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNRESET, "upstream recv failed");
        if (errno == ECONNRESET) {
            drop(u, i);
            continue;
        }
        i++;
    }
    return moved;
}

/* The upstream's connection to the proxy's socket fd, or -1. */
static int peer_of(const struct upstream *u, int fd)
{
    struct sockaddr_in mine, theirs;
    socklen_t len = sizeof(mine);
    if (getsockname(fd, (struct sockaddr *)&mine, &len) != 0)
        return -1;
    for (int i = 0; i < u->n; i++) {
        len = sizeof(theirs);
        if (getpeername(u->conns[i].fd, (struct sockaddr *)&theirs, &len) == 0 &&
            theirs.sin_port == mine.sin_port)
            return i;
    }
    return -1;
}

static int upstream_wait(void *arg, int fd, int events, int64_t *now)
{
    struct upstream *u = arg;
    accept_all(u);
    int moved = drain(u);
    if (u->ctl & 0x04)
        *now += fuzz_next(u->rng) % 3000;
    int i = peer_of(u, fd);
    /* bit 5: the upstream talks first, while the proxy still connects */
    int talks = (events & CONN_WAIT_IN) || ((u->ctl & 0x20) && u->pos < u->size);
    if (talks && i >= 0) {
        if (u->pos < u->size) {
            size_t k = u->size - u->pos;
            if (u->ctl & 0x01)
                k = 1 + fuzz_next(u->rng) % (k < 64 ? k : 64);
            else if (k > 16384)
                k = 16384;
            k = within_response(u, k);
            ssize_t n = send(u->conns[i].fd, u->data + u->pos, k, MSG_NOSIGNAL);
            if (n > 0) {
                u->pos += (size_t)n;
                moved = 1;
            }
        } else if (!(u->ctl & 0x02)) {
            drop(u, i); /* nothing left to say: the upstream closes */
            moved = 1;
        } else {
            return 0; /* silent: the proxy's timeout */
        }
    }
    /* otherwise connected (or refused), room made by drain(), or the proxy reads the end of a connection
     * closed above; but the same wait again with nothing moved can only end by its deadline */
    if (fd == u->last_fd && events == u->last_events && !moved)
        u->stalls++;
    else
        u->stalls = 0;
    u->last_fd = fd;
    u->last_events = events;
    return u->stalls <= 3;
}

/* The upstreams' shared state: each input starts with no scores, counts or error states (reset); once it is
 * over, none is busy. */
static void members(int reset)
{
    for (int i = 0; i < SB_MEMBERS_MAX; i++) {
        struct sb_member *m = scoreboard_member_at(process_scoreboard(), i);
        if (m == NULL)
            continue;
        if (reset) {
            atomic_store(&m->lbstatus, 0);
            atomic_store(&m->error_until, 0);
            atomic_store(&m->elected, 0);
            atomic_store(&m->failures, 0);
        }
        if (!reset && fuzz_verbose())
            fprintf(stderr, "fuzz: %s: elected %llu times, failed %llu\n", m->name,
                    (unsigned long long)atomic_load(&m->elected),
                    (unsigned long long)atomic_load(&m->failures));
        if (atomic_load(&m->busy) != 0)
            fprintf(stderr, "fuzz: %s: %d busy\n", m->name, atomic_load(&m->busy));
        fuzz_check(atomic_load(&m->busy) == 0, "an upstream is counted busy with no request in progress");
    }
}

int fuzz_proxy_one(const uint8_t *data, size_t size)
{
    if (size < 5)
        return 0;
    fuzz_proxy_init();
    uint32_t rng = data[1] * 2654435761u + 1;
    size_t client = (size_t)data[3] | (size_t)data[4] << 8;
    if (client > size - 5)
        client = size - 5;
    struct upstream u = {
        .ctl = data[2], .rng = &rng, .data = data + 5 + client, .size = size - 5 - client, .last_fd = -1};
    if (u.ctl & 0x40)
        find_ends(&u);
    members(1);
    uint64_t before = atomic_load(&slot->accesses);
    int fds_before = open_fds(0);
    struct fuzz_conn_run run = {.ctl = data[0],
                                .rng = &rng,
                                .data = data + 5,
                                .size = client,
                                .vhosts = vhosts,
                                .socket_wait = upstream_wait,
                                .arg = &u};
    fuzz_drive(srv, slot, &run);

    /* the upstream closes its side; the pool finds its connections closed and lets them go */
    accept_all(&u);
    drain(&u);
    uint64_t requests = atomic_load(&slot->accesses) - before;
    if (fuzz_verbose()) /* for writing seeds: what an input reached */
        fprintf(stderr, "fuzz: %llu requests answered; the upstream received %d, answered %zu of %zu bytes\n",
                (unsigned long long)requests, u.messages, u.pos, u.size);
    if ((uint64_t)u.messages > 2 * requests)
        fprintf(stderr, "fuzz: %d requests reached the upstream for %llu answered\n", u.messages,
                (unsigned long long)requests);
    fuzz_check((uint64_t)u.messages <= 2 * requests,
               "more upstream requests than the client's, retries counted");
    members(0);
    while (u.n > 0)
        drop(&u, 0);
    for (const struct proxy_worker *w = srv->proxy->workers; w != NULL; w = w->next)
        for (int fd; (fd = proxy_pool_take(srv->proxy, w, 2000000)) >= 0;)
            sockwatch_close(fd);
    if (open_fds(0) != fds_before)
        fprintf(stderr, "fuzz: %d descriptors open, %d before\n", open_fds(1), fds_before);
    fuzz_check(open_fds(0) == fds_before, "a descriptor was left open");
    return 0;
}
