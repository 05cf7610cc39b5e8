/*
 * Access control through the real server, under every MPM: clients connect from 127.0.0.1 and from
 * 127.0.0.2 (both loopback, so both "local" to Apache's `Require local`, but different addresses for
 * `Require ip`), and from ::1 where the machine has IPv6. A refused request gets the exact 403 page, keeps
 * the connection, and is logged with 403 in the access log and as AH01630 in the error log. A bad rule
 * stops the server from starting, with file:line.
 */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define RULES                                                                                                \
    "<Location /sub>\n  Require ip 127.0.0.1\n</Location>\n"                                                 \
    "<Location /page.html>\n  Require local\n</Location>\n"                                                  \
    "<Location /index.html>\n"                                                                               \
    "  <RequireAll>\n    Require all granted\n    Require not ip 127.0.0.2\n  </RequireAll>\n"               \
    "</Location>\n"                                                                                          \
    "<Location /server-status>\n  SetHandler server-status\n  Require local\n</Location>\n"

#define GET_SUB    "GET /sub/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define HEAD_SUB   "HEAD /sub/ HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define GET_PAGE   "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define GET_INDEX  "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define GET_STATUS "GET /server-status?auto HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define DENIED_LOG "[authz_core:error]"

/*
 * A connection to dst:port made from the address src (port chosen by the kernel), as the harness's
 * conn_open() makes one from 127.0.0.1, usable with exchange() and must_read(). NULL when src cannot be
 * bound (no IPv6) and may_fail is set.
 */
static struct conn *conn_from(const char *src, const char *dst, int port, int may_fail)
{
    struct sockaddr_storage from = {0}, to = {0};
    socklen_t len;
    int family = strchr(dst, ':') != NULL ? AF_INET6 : AF_INET, one = 1;

    if (family == AF_INET) {
        struct sockaddr_in *f = (struct sockaddr_in *)&from, *t = (struct sockaddr_in *)&to;
        f->sin_family = t->sin_family = AF_INET;
        t->sin_port = htons((uint16_t)port);
        hassert(inet_pton(AF_INET, src, &f->sin_addr) == 1 && inet_pton(AF_INET, dst, &t->sin_addr) == 1,
                "bad address %s or %s", src, dst);
        len = sizeof(struct sockaddr_in);
    } else {
        struct sockaddr_in6 *f = (struct sockaddr_in6 *)&from, *t = (struct sockaddr_in6 *)&to;
        f->sin6_family = t->sin6_family = AF_INET6;
        t->sin6_port = htons((uint16_t)port);
        hassert(inet_pton(AF_INET6, src, &f->sin6_addr) == 1 && inet_pton(AF_INET6, dst, &t->sin6_addr) == 1,
                "bad address %s or %s", src, dst);
        len = sizeof(struct sockaddr_in6);
    }
    struct conn *c = calloc(1, sizeof(*c));
    hassert(c != NULL, "calloc() failed");
    c->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd == -1 && may_fail) {
        free(c);
        return NULL;
    }
    hassert(c->fd != -1, "socket() failed: %s", strerror(errno));
    if (bind(c->fd, (struct sockaddr *)&from, len) != 0) {
        hassert(may_fail, "bind(%s) failed: %s", src, strerror(errno));
        conn_close(c);
        return NULL;
    }
    hassert(connect(c->fd, (struct sockaddr *)&to, len) == 0, "connect(%s:%d) from %s failed: %s", dst, port,
            src, strerror(errno));
    hassert(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0, "setsockopt() failed: %s",
            strerror(errno));
    return c;
}

/* One request on a new connection from src to 127.0.0.1; returns the response's status. */
static int status_from(const struct srv *s, const char *src, const char *raw)
{
    struct conn *c = conn_from(src, "127.0.0.1", s->port, 0);
    int status = exchange_status(c, raw);
    conn_close(c);
    return status;
}

/* Waits for the error log to have n lines of AH01630 (the refusal) for client and the file rel under htdocs.
 */
static void expect_denied_logged(const struct srv *s, const char *client, const char *rel, int n)
{
    char *line = xasprintf("[client %s] AH01630: client denied by server configuration: %s/%s", client,
                           s->htdocs, rel);
    hassert(wait_log(s->error_log, line, n, 3000) == n, "no \"%s\" %d times in the error log:\n%s", line, n,
            read_file(s->error_log, NULL));
    free(line);
}

MPM_TEST(authz, require_ip_local_and_not, .timeout = 30)
{
    struct srv *s = server_start(mpm, RULES);

    /* Require ip 127.0.0.1 */
    struct conn *c = conn_from("127.0.0.1", "127.0.0.1", s->port, 0);
    struct resp *r = exchange(c, GET_SUB);
    hassert(r->status == 200, "GET /sub/ from 127.0.0.1: %d, want 200", r->status);
    expect_bytes("/sub/ body", r->body, r->body_len, SUB_INDEX_HTML, strlen(SUB_INDEX_HTML));
    resp_free(r);
    conn_close(c);

    c = conn_from("127.0.0.2", "127.0.0.1", s->port, 0);
    conn_send_str(c, GET_SUB);
    expect_next_error(c, 403, NULL, NULL);
    /* the connection stays usable: HEAD gets the head alone, then a page the rule allows */
    r = exchange(c, HEAD_SUB);
    expect_error(r, 403, NULL, NULL, 1);
    resp_free(r);
    expect_status(c, GET_PAGE, 200);
    conn_close(c);

    /* Require local: 127.0.0.2 is local too, as in Apache */
    hassert(status_from(s, "127.0.0.1", GET_PAGE) == 200, "Require local refused 127.0.0.1");
    hassert(status_from(s, "127.0.0.2", GET_PAGE) == 200, "Require local refused 127.0.0.2");
    hassert(status_from(s, "127.0.0.1", GET_STATUS) == 200, "server-status refused 127.0.0.1");
    hassert(status_from(s, "127.0.0.2", GET_STATUS) == 200, "server-status refused 127.0.0.2");

    /* <RequireAll> Require all granted + Require not ip 127.0.0.2 */
    hassert(status_from(s, "127.0.0.1", GET_INDEX) == 200, "RequireAll refused 127.0.0.1");
    hassert(status_from(s, "127.0.0.2", GET_INDEX) == 403, "Require not ip 127.0.0.2 let 127.0.0.2 in");

    /* paths no rule covers are served to anyone */
    hassert(status_from(s, "127.0.0.2", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") == 200, "GET / refused");

    /* the error log names the client and the file, once per refusal (GET and HEAD /sub/, /index.html) */
    expect_denied_logged(s, "127.0.0.2", "sub/", 2);
    expect_denied_logged(s, "127.0.0.2", "index.html", 1);
    hassert(log_count(s->error_log, DENIED_LOG) == 3, "%d refusals logged, want 3:\n%s",
            log_count(s->error_log, DENIED_LOG), read_file(s->error_log, NULL));
    hassert(log_count(s->error_log, "[client 127.0.0.1]") == 0, "127.0.0.1 was refused somewhere:\n%s",
            read_file(s->error_log, NULL));

    /* and the access log has the 403s with the client's address */
    hassert(wait_log(s->access_log, "\"GET /sub/ HTTP/1.1\" 403 ", 1, 3000) == 1, "access log:\n%s",
            read_file(s->access_log, NULL));
    hassert(wait_log(s->access_log, "127.0.0.2 - - [", 4, 3000) >= 4, "access log:\n%s",
            read_file(s->access_log, NULL));
    char *log = read_file(s->access_log, NULL);
    char *denied = strstr(log, "\"GET /sub/ HTTP/1.1\" 403 ");
    hassert(denied != NULL, "access log:\n%s", log);
    char *start = denied;
    while (start > log && start[-1] != '\n')
        start--;
    hassert(strncmp(start, "127.0.0.2 ", 10) == 0, "the 403 is logged for another client: %.*s",
            (int)(strchr(denied, '\n') - start), start);
    free(log);
    server_stop(s);
}

/* The most specific <Location> with Require lines decides, even when a general one comes later in the file.
 */
MPM_TEST(authz, longest_location_decides, .timeout = 30)
{
    struct srv *s = server_start(mpm, "<Location /sub/index.html>\n  Require all granted\n</Location>\n"
                                      "<Location /sub>\n  Require all denied\n</Location>\n"
                                      "<Location />\n  Require ip 127.0.0.1\n</Location>\n");
    hassert(status_from(s, "127.0.0.2", "GET /sub/index.html HTTP/1.1\r\nHost: x\r\n\r\n") == 200,
            "/sub/index.html: its own Require all granted did not decide");
    hassert(status_from(s, "127.0.0.1", GET_SUB) == 403, "/sub/: Require all denied did not decide");
    hassert(status_from(s, "127.0.0.1", GET_PAGE) == 200, "/page.html: / refused 127.0.0.1");
    hassert(status_from(s, "127.0.0.2", GET_PAGE) == 403, "/page.html: / let 127.0.0.2 in");
    server_stop(s);
}

MPM_TEST(authz, ipv6_loopback, .timeout = 30)
{
    struct srv *s = server_new(mpm, "Listen [::1]:@PORT@\n"
                                    "<Location /sub>\n  Require ip ::1\n</Location>\n"
                                    "<Location /page.html>\n  Require ip 127.0.0.1\n</Location>\n"
                                    "<Location /index.html>\n  Require local\n</Location>\n");
    /* probe: can this machine bind ::1 at all? */
    int probe = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in6 lo = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int have_v6 = probe != -1 && bind(probe, (struct sockaddr *)&lo, sizeof(lo)) == 0;
    if (probe != -1)
        close(probe);
    if (!have_v6) {
        server_destroy(s);
        cr_skip_test("no IPv6 loopback (::1) on this machine");
    }
    server_launch(s, NULL);

    struct conn *c = conn_from("::1", "::1", s->port, 0);
    expect_status(c, GET_SUB, 200);
    conn_send_str(c, GET_PAGE);
    expect_next_error(c, 403, NULL, NULL);
    expect_status(c, GET_INDEX, 200);
    conn_close(c);
    hassert(status_from(s, "127.0.0.1", GET_SUB) == 403, "Require ip ::1 let 127.0.0.1 in");
    hassert(status_from(s, "127.0.0.1", GET_PAGE) == 200, "Require ip 127.0.0.1 refused 127.0.0.1");

    expect_denied_logged(s, "::1", "page.html", 1);
    server_stop(s);
}

/* A bad rule keeps the server from starting: exit status 1 and file:line, with -t and without. */
MPM_TEST(authz, bad_configuration, .timeout = 30)
{
    static const struct {
        const char *rules;
        const char *want; /* after "CONF:" */
    } cases[] = {
        {"<Location /x>\n  Require not ip 127.0.0.2\n</Location>\n", ":%d: Require not has no effect in"},
        {"<Location /x>\n  Require ip 127.0.0.300\n</Location>\n",
         ":%d: Require ip '127.0.0.300' is not a valid IP address"},
        {"<Location /x>\n  Require nobody\n</Location>\n", ":%d: Require: unknown provider 'nobody'"},
        {"<Location /x>\n  <RequireAll>\n    Require all granted\n</Location>\n",
         ":%d: <RequireAll> section is not closed"},
        {"Require local\n", ":%d: Require is only allowed inside <Location> or <Proxy>"},
    };
    struct srv *s = server_new(mpm, NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* the rules go last: their first line is the configuration's line count + 1 */
        s->extra = (char *)cases[i].rules;
        char *text = server_conf_text(s, 12345);
        s->extra = NULL;
        const char *at = strstr(text, cases[i].rules);
        hassert(at != NULL, "the rules are not in the configuration");
        int line = 1;
        for (const char *p = text; p < at; p++)
            line += *p == '\n';
        line +=
            strchr(cases[i].rules, '\n') != strrchr(cases[i].rules, '\n'); /* the line inside <Location> */
        write_file(s->conf, text, strlen(text));
        free(text);
        char *want_fmt = xasprintf("%s%s", s->conf, cases[i].want);
        char *want = xasprintf(want_fmt, line);
        for (int t = 0; t < 2; t++) {
            char *argv[] = {getenv("HTTPD_BIN"), "-f", s->conf, t ? "-t" : "-DFOREGROUND", NULL};
            char *out = NULL, *err = NULL;
            int status = run_cmd(argv, 5000, &out, &err);
            hassert(status == 1, "%s %s: exit %d, want 1; stderr:\n%s", cases[i].rules, argv[3], status, err);
            hassert(err != NULL && strstr(err, want) != NULL, "stderr lacks \"%s\":\n%s", want, err);
            free(out);
            free(err);
        }
        free(want);
        free(want_fmt);
    }
    server_destroy(s);
}

/* The first IPv4 address of an interface that is up and not loopback, into buf; 0 if there is none. */
static int own_address(char *buf, size_t size)
{
    struct ifaddrs *list, *i;
    int found = 0;

    if (getifaddrs(&list) != 0)
        return 0;
    for (i = list; i != NULL && !found; i = i->ifa_next)
        if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET && (i->ifa_flags & IFF_UP) &&
            !(i->ifa_flags & IFF_LOOPBACK))
            found = inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, buf,
                              (socklen_t)size) != NULL;
    freeifaddrs(list);
    return found;
}

/*
 * `Require local` also grants a client that connects from the server's own address (not only loopback): the
 * MPM reports the connection's local address when a rule needs it. The server listens on every address, and
 * the client connects from this host's first non-loopback address to that same address.
 */
MPM_TEST(authz, local_means_the_servers_own_address_too, .timeout = 30)
{
    char own[INET_ADDRSTRLEN];
    if (!own_address(own, sizeof(own))) {
        cr_skip_test("no non-loopback IPv4 address on this host");
        return;
    }
    struct srv *s = server_new(mpm, "Listen @PORT@\n" RULES);
    s->listen_in_conf = 0;
    server_launch(s, NULL);

    const char *const raws[] = {GET_PAGE, GET_SUB};
    const int want[] = {200, 403}; /* Require local grants it; Require ip 127.0.0.1 does not */
    for (int i = 0; i < 2; i++) {
        struct conn *c = conn_from(own, own, s->port, 0);
        struct resp *r = exchange(c, raws[i]);
        hassert(r->status == want[i], "from %s to itself: %.*s answered %d, want %d", own,
                (int)(strchr(raws[i], '\r') - raws[i]), raws[i], r->status, want[i]);
        resp_free(r);
        conn_close(c);
    }
    server_stop(s);
}
