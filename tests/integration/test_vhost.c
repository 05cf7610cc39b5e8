/*
 * Name-based virtual hosts through the real server, under every MPM: two vhosts on one port with their own
 * DocumentRoot chosen by Host (aliases, wildcards, case, port and trailing dot), the first one for an unknown
 * Host and for HTTP/1.0 without Host, Host changing from request to request on one connection, a vhost of an
 * address of its own (127.0.0.2) before a "*:port" one, both with a listener per address and with one
 * listener on "*" (where the server asks the socket for its local address), per-vhost access and error logs,
 * per-vhost <Location> handlers beside the main server's, and -S / -t -D DUMP_VHOSTS byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* A connection to ip:port (ip on the loopback network), usable with exchange() and must_read(). */
static struct conn *conn_to(const char *ip, int port)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    hassert(inet_pton(AF_INET, ip, &to.sin_addr) == 1, "bad address %s", ip);
    struct conn *c = calloc(1, sizeof(*c));
    hassert(c != NULL, "calloc() failed");
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    hassert(c->fd != -1, "socket() failed: %s", strerror(errno));
    hassert(connect(c->fd, (struct sockaddr *)&to, sizeof(to)) == 0, "connect(%s:%d) failed: %s", ip, port,
            strerror(errno));
    hassert(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0, "setsockopt() failed: %s",
            strerror(errno));
    return c;
}

/* A site: a directory under the server's root with an index.html saying "site NAME". */
static void add_site(struct srv *s, const char *name)
{
    char *rel = xasprintf("%s/index.html", name), *body = xasprintf("site %s\n", name);
    hassert(mkdir(server_path(s, name), 0755) == 0, "mkdir(%s) failed: %s", name, strerror(errno));
    write_file(server_path(s, rel), body, strlen(body));
    free(rel);
    free(body);
}

/* Sends raw on c and asserts the 200 answer's body is "site NAME". */
static void expect_site(struct conn *c, const char *raw, const char *name)
{
    struct resp *r = exchange(c, raw);
    char *want = xasprintf("site %s\n", name);
    char *line = escape_line(raw, strcspn(raw, "\r"), 80);
    hassert(r->status == 200, "%s: status %d, want 200 from site %s", line, r->status, name);
    hassert(r->body_len == strlen(want) && memcmp(r->body, want, r->body_len) == 0, "%s: body %s, want %s",
            line, escape_line(r->body, r->body_len, 80), want);
    free(line);
    free(want);
    resp_free(r);
}

/* GET / with Host value host (NULL: none) on a new connection to ip:port, then expect_site(). */
static void expect_host(const struct srv *s, const char *ip, const char *host, const char *name)
{
    struct conn *c = conn_to(ip, s->port);
    char *raw = host != NULL ? xasprintf("GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host)
                             : strdup("GET / HTTP/1.0\r\n\r\n");
    expect_site(c, raw, name);
    free(raw);
    conn_close(c);
}

/* Two name-based vhosts on the harness's port, each with its own DocumentRoot, access log, error log and a
 * <Location>; the main server has a <Location> of its own. */
static struct srv *start_name_based(const char *mpm)
{
    struct srv *s = server_new(mpm, NULL);
    add_site(s, "a");
    add_site(s, "b");
    s->extra = xasprintf("<Location /cpu>\n  SetHandler cpu\n</Location>\n"
                         "<VirtualHost *:@PORT@>\n"
                         "  ServerName a.test\n"
                         "  DocumentRoot \"%s/a\"\n"
                         "  CustomLog \"%s/a_access\" \"%%v %%>s %%U\"\n"
                         "</VirtualHost>\n"
                         "<VirtualHost *:@PORT@>\n"
                         "  ServerName b.test\n"
                         "  ServerAlias www.b.test\n"
                         "  ServerAlias *.b.wild\n"
                         "  DocumentRoot \"%s/b\"\n"
                         "  CustomLog \"%s/b_access\" \"%%v %%>s %%U\"\n"
                         "  ErrorLog \"%s/b_error\"\n"
                         "  <Location /b-status>\n    SetHandler server-status\n  </Location>\n"
                         "  <Location /private>\n    Require all denied\n  </Location>\n"
                         "</VirtualHost>\n",
                         s->dir, s->dir, s->dir, s->dir, s->dir);
    server_launch(s, NULL);
    return s;
}

MPM_TEST(vhost, chosen_by_host, .timeout = 30)
{
    struct srv *s = start_name_based(mpm);
    expect_host(s, "127.0.0.1", "a.test", "a");
    expect_host(s, "127.0.0.1", "b.test", "b");
    expect_host(s, "127.0.0.1", "B.Test", "b");
    expect_host(s, "127.0.0.1", "b.test.", "b");
    expect_host(s, "127.0.0.1", "b.test:1234", "b");
    expect_host(s, "127.0.0.1", "www.b.test", "b");
    expect_host(s, "127.0.0.1", "x.y.b.wild", "b");
    /* no name matches: the first vhost of the address, not the main server */
    expect_host(s, "127.0.0.1", "unknown.test", "a");
    expect_host(s, "127.0.0.1", "localhost", "a");
    expect_host(s, "127.0.0.1", "b.wild", "a");
    expect_host(s, "127.0.0.1", NULL, "a");

    /* each request on a keep-alive connection is served by its own Host's vhost */
    struct conn *c = conn_open(s->port);
    expect_site(c, "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n", "b");
    expect_site(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "a");
    expect_site(c, "GET / HTTP/1.1\r\nHost: www.b.test\r\n\r\n", "b");
    expect_site(c, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "a");
    /* an absolute-form target names the host, whatever Host says (RFC 9112 3.2.2) */
    expect_site(c, "GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", "b");
    expect_site(c, "GET http://a.test:1234/ HTTP/1.1\r\nHost: b.test\r\n\r\n", "a");
    conn_close(c);
    server_stop(s);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The lines of text (each ending in '\n') in byte order, in a new string; text is freed. */
static char *sorted_lines(char *text)
{
    char *lines[64];
    int n = 0;
    for (char *p = text; *p != '\0' && n < 64;) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (nl == NULL)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    qsort(lines, (size_t)n, sizeof(lines[0]), cmp_str);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += strlen(lines[i]) + 1;
    char *out = calloc(1, len + 1), *o = out;
    for (int i = 0; i < n; i++)
        o += sprintf(o, "%s\n", lines[i]);
    free(text);
    return out;
}

MPM_TEST(vhost, own_access_and_error_logs, .timeout = 30)
{
    struct srv *s = start_name_based(mpm);
    expect_host(s, "127.0.0.1", "a.test", "a");
    expect_host(s, "127.0.0.1", "b.test", "b");
    expect_host(s, "127.0.0.1", "www.b.test", "b");
    expect_host(s, "127.0.0.1", "nothing.test", "a");
    struct conn *c = conn_open(s->port);
    expect_status(c, "GET /private/x HTTP/1.1\r\nHost: b.test\r\n\r\n", 403);
    expect_status(c, "GET /private/x HTTP/1.1\r\nHost: a.test\r\n\r\n", 404);
    conn_close(c);

    const char *a_log = server_path(s, "a_access"), *b_log = server_path(s, "b_access");
    hassert(wait_log(a_log, "a.test ", 3, 3000) == 3, "a_access:\n%s", log_tail(a_log, 2000));
    hassert(wait_log(b_log, "b.test ", 3, 3000) == 3, "b_access:\n%s", log_tail(b_log, 2000));
    /* requests on different connections may be logged in either order (worker's threads): lines sorted */
    char *a = sorted_lines(read_file(a_log, NULL)), *b = sorted_lines(read_file(b_log, NULL));
    hassert(strcmp(a, "a.test 200 /\na.test 200 /\na.test 404 /private/x\n") == 0, "a_access:\n%s",
            escape(a, strlen(a)));
    hassert(strcmp(b, "b.test 200 /\nb.test 200 /\nb.test 403 /private/x\n") == 0, "b_access:\n%s",
            escape(b, strlen(b)));
    free(a);
    free(b);
    /* vhosts with CustomLogs of their own log nothing in the main server's */
    hassert(log_count(s->access_log, "GET") == 0, "the main access log:\n%s", log_tail(s->access_log, 2000));
    /* the refusal is in b's error log, with b's DocumentRoot */
    const char *b_err = server_path(s, "b_error");
    char *denied = xasprintf("AH01630: client denied by server configuration: %s/b/private/x", s->dir);
    hassert(wait_log(b_err, denied, 1, 3000) == 1, "b_error:\n%s", log_tail(b_err, 2000));
    hassert(log_count(s->error_log, "AH01630") == 0, "the main error log:\n%s", log_tail(s->error_log, 2000));
    free(denied);
    server_stop(s);
}

MPM_TEST(vhost, locations_per_vhost, .timeout = 30)
{
    struct srv *s = start_name_based(mpm);
    struct conn *c = conn_open(s->port);
    struct resp *r = exchange(c, "GET /b-status?auto HTTP/1.1\r\nHost: b.test\r\n\r\n");
    hassert(r->status == 200 && r->body_len > 0 && strstr(r->body, "ServerMPM: ") != NULL,
            "b's /b-status: %d %s", r->status, escape_line(r->body, r->body_len, 200));
    resp_free(r);
    /* not a's */
    expect_status(c, "GET /b-status?auto HTTP/1.1\r\nHost: a.test\r\n\r\n", 404);
    /* the main server's <Location> holds in every vhost */
    r = exchange(c, "GET /cpu?us=0 HTTP/1.1\r\nHost: a.test\r\n\r\n");
    hassert(r->status == 200, "a's /cpu: %d", r->status);
    resp_free(r);
    r = exchange(c, "GET /cpu?us=0 HTTP/1.1\r\nHost: b.test\r\n\r\n");
    hassert(r->status == 200, "b's /cpu: %d", r->status);
    resp_free(r);
    conn_close(c);
    server_stop(s);
}

/* Sends raw on c, asserts the status and whether the answer says Connection: close; frees the answer. */
static void expect_answer(struct conn *c, const char *raw, int status, int closes)
{
    struct resp *r = exchange(c, raw);
    const char *conn = resp_get(r, "Connection");
    char *line = escape_line(raw, strcspn(raw, "\r"), 80);
    hassert(r->status == status, "%s: status %d, want %d", line, r->status, status);
    hassert((conn != NULL && strcmp(conn, "close") == 0) == closes, "%s: Connection: %s", line,
            conn != NULL ? conn : "(none)");
    free(line);
    resp_free(r);
}

MPM_TEST(vhost, keepalive_and_body_limit_per_vhost, .timeout = 30)
{
    struct srv *s = server_new(mpm, NULL);
    add_site(s, "a");
    add_site(s, "b");
    add_site(s, "c");
    s->extra =
        xasprintf("<VirtualHost *:@PORT@>\n  ServerName a.test\n  DocumentRoot \"%s/a\"\n</VirtualHost>\n"
                  "<VirtualHost *:@PORT@>\n  ServerName b.test\n  DocumentRoot \"%s/b\"\n"
                  "  KeepAlive Off\n  LimitRequestBody 10\n</VirtualHost>\n"
                  "<VirtualHost *:@PORT@>\n  ServerName c.test\n  DocumentRoot \"%s/c\"\n"
                  "  MaxKeepAliveRequests 2\n</VirtualHost>\n",
                  s->dir, s->dir, s->dir);
    server_launch(s, NULL);
    const char *body20 = "Content-Length: 20\r\n\r\n01234567890123456789";

    /* KeepAlive Off in b: a's answer keeps the connection, b's closes it */
    struct conn *c = conn_open(s->port);
    expect_answer(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 200, 0);
    expect_answer(c, "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n", 200, 1);
    expect_closed(c, 2000);
    conn_close(c);

    /* LimitRequestBody 10 in b: 413 (and close) for 20 bytes; a takes them and refuses the method */
    c = conn_open(s->port);
    char *raw = xasprintf("POST / HTTP/1.1\r\nHost: a.test\r\n%s", body20);
    expect_answer(c, raw, 405, 0);
    free(raw);
    raw = xasprintf("POST / HTTP/1.1\r\nHost: b.test\r\n%s", body20);
    expect_answer(c, raw, 413, 1);
    free(raw);
    conn_close(c);

    /* MaxKeepAliveRequests 2 in c: its second request on a connection is the last */
    c = conn_open(s->port);
    expect_answer(c, "GET / HTTP/1.1\r\nHost: c.test\r\n\r\n", 200, 0);
    expect_answer(c, "GET / HTTP/1.1\r\nHost: c.test\r\n\r\n", 200, 1);
    expect_closed(c, 2000);
    conn_close(c);
    c = conn_open(s->port);
    expect_answer(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 200, 0);
    expect_answer(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 200, 0);
    expect_answer(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", 200, 0);
    conn_close(c);
    server_stop(s);
}

/* A vhost of 127.0.0.2 and a "*:port" one; `listeners` are the Listen lines. */
static struct srv *start_by_address(const char *mpm, const char *listeners)
{
    struct srv *s = server_new(mpm, NULL);
    s->listen_in_conf = 0;
    add_site(s, "two");
    add_site(s, "star");
    add_site(s, "star2");
    s->extra = xasprintf("%s"
                         "<VirtualHost *:@PORT@>\n"
                         "  ServerName star.test\n"
                         "  DocumentRoot \"%s/star\"\n"
                         "</VirtualHost>\n"
                         "<VirtualHost 127.0.0.2:@PORT@>\n"
                         "  ServerName two.test\n"
                         "  DocumentRoot \"%s/two\"\n"
                         "</VirtualHost>\n"
                         "<VirtualHost *:@PORT@>\n"
                         "  ServerName star2.test\n"
                         "  DocumentRoot \"%s/star2\"\n"
                         "</VirtualHost>\n",
                         listeners, s->dir, s->dir, s->dir);
    server_launch(s, NULL);
    return s;
}

/* What both listener layouts must do. */
static void expect_by_address(const struct srv *s)
{
    /* 127.0.0.2 reaches its own vhost, whatever the Host names */
    expect_host(s, "127.0.0.2", "two.test", "two");
    expect_host(s, "127.0.0.2", "star2.test", "two");
    expect_host(s, "127.0.0.2", NULL, "two");
    /* other addresses reach the "*:port" ones, by name, the first by default */
    expect_host(s, "127.0.0.1", "star2.test", "star2");
    expect_host(s, "127.0.0.1", "two.test", "star");
    expect_host(s, "127.0.0.1", NULL, "star");
}

MPM_TEST(vhost, address_before_star_with_a_listener_per_address, .timeout = 30)
{
    struct srv *s = start_by_address(mpm, "Listen 127.0.0.1:@PORT@\nListen 127.0.0.2:@PORT@\n");
    expect_by_address(s);
    server_stop(s);
}

MPM_TEST(vhost, address_before_star_with_one_listener_on_star, .timeout = 30)
{
    struct srv *s = start_by_address(mpm, "Listen @PORT@\n");
    expect_by_address(s);
    server_stop(s);
}

/* Asks for GET / with Host on new connections until it is served by site `name` (a new generation may take a
 * moment), up to ms; fails with the last answer otherwise. */
static void wait_site(const struct srv *s, const char *host, const char *name, int ms)
{
    char *want = xasprintf("site %s\n", name);
    char *raw = xasprintf("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host);
    char *last = NULL;
    int ok = 0;
    for (int64_t end = now_ms() + ms; !ok && now_ms() < end;) {
        struct resp *r = request_once(s, raw, NULL);
        ok = r->status == 200 && r->body_len == strlen(want) && memcmp(r->body, want, r->body_len) == 0;
        free(last);
        last = xasprintf("%d %s", r->status, escape_line(r->body, r->body_len, 80));
        resp_free(r);
        if (!ok)
            sleep_ms(50);
    }
    hassert(ok, "Host %s: still %s after %d ms, want site %s", host, last, ms, name);
    free(last);
    free(raw);
    free(want);
}

MPM_TEST(vhost, graceful_restart_takes_new_vhosts, .timeout = 30)
{
    struct srv *s = start_name_based(mpm);
    add_site(s, "c");
    expect_host(s, "127.0.0.1", "c.test", "a");
    /* a new first vhost c.test, and b.test's DocumentRoot moved to c's */
    char *old = s->extra;
    s->extra =
        xasprintf("<VirtualHost *:@PORT@>\n  ServerName c.test\n  DocumentRoot \"%s/c\"\n</VirtualHost>\n"
                  "<VirtualHost *:@PORT@>\n  ServerName b.test\n  DocumentRoot \"%s/c\"\n"
                  "  CustomLog \"%s/b_access\" \"%%v %%>s %%U\"\n</VirtualHost>\n",
                  s->dir, s->dir, s->dir);
    free(old);
    char *conf = server_conf_text(s, s->port);
    write_file(s->conf, conf, strlen(conf));
    free(conf);
    server_signal(s, SIGUSR1);
    /* (until the old children have seen that they are to leave, they may still take a connection) */
    wait_site(s, "c.test", "c", 5000);
    wait_site(s, "b.test", "c", 5000);
    wait_site(s, "a.test", "c", 5000); /* gone: the new first vhost */
    /* the vhost's log was opened anew by the restart, and is written by the new generation */
    const char *b_log = server_path(s, "b_access");
    hassert(wait_log(b_log, "b.test 200 /", 1, 3000) >= 1, "b_access:\n%s", log_tail(b_log, 2000));
    server_stop(s);
}

MPM_TEST(vhost, buffered_logs_keep_every_vhost_line, .timeout = 30)
{
    struct srv *s = server_new(mpm, NULL);
    add_site(s, "a");
    add_site(s, "b");
    s->extra = xasprintf("BufferedLogs On\n"
                         "<VirtualHost *:@PORT@>\n  ServerName a.test\n  DocumentRoot \"%s/a\"\n"
                         "  CustomLog \"%s/a_access\" \"%%v %%U\"\n</VirtualHost>\n"
                         "<VirtualHost *:@PORT@>\n  ServerName b.test\n  DocumentRoot \"%s/b\"\n"
                         "  CustomLog \"%s/b_access\" \"%%v %%U\"\n  CustomLog \"%s/b_second\" \"%%v %%U\"\n"
                         "</VirtualHost>\n",
                         s->dir, s->dir, s->dir, s->dir, s->dir);
    server_launch(s, NULL);
    struct conn *c = conn_open(s->port);
    for (int i = 0; i < 20; i++) {
        expect_site(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n", "a");
        expect_site(c, "GET / HTTP/1.1\r\nHost: b.test\r\n\r\n", "b");
    }
    conn_close(c);
    /* every line reaches its own vhost's files by the end of a graceful stop at the latest (the buffers are
     * written when a child finishes) */
    server_signal(s, SIGWINCH);
    int status = server_wait_exit(s, 5000);
    hassert(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "wait status 0x%x after SIGWINCH",
            status);
    const char *files[] = {"a_access", "b_access", "b_second"};
    const char *names[] = {"a.test /\n", "b.test /\n", "b.test /\n"};
    for (int i = 0; i < 3; i++) {
        const char *path = server_path(s, files[i]);
        char *text = read_file(path, NULL);
        hassert(text != NULL && strlen(text) == 20 * strlen(names[i]), "%s:\n%s", files[i],
                log_tail(path, 2000));
        for (char *p = text; *p != '\0'; p += strlen(names[i]))
            hassert(strncmp(p, names[i], strlen(names[i])) == 0, "%s: %s", files[i],
                    escape(text, strlen(text)));
        free(text);
    }
    hassert(log_count(s->access_log, "GET") == 0, "the main access log:\n%s", log_tail(s->access_log, 2000));
    server_destroy(s);
}

/* ---- -S ---- */

/* Runs $HTTPD_BIN with args (NULL-terminated, after the binary); returns the exit status, stdout, stderr. */
static int run_httpd(const char *const *args, char **out, char **err)
{
    const char *bin = getenv("HTTPD_BIN") ? getenv("HTTPD_BIN") : "server/httpd";
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)bin;
    for (; *args != NULL && n < 15; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    return run_cmd(argv, 10000, out, err);
}

MPM_TEST(vhost, dump_vhosts_as_apache, .timeout = 30)
{
    struct srv *s = start_name_based(mpm);
    int la = server_conf_line(s, "<VirtualHost *:"), lb = la + 5;
    char *out, *err;
    char *root = realpath(s->dir, NULL);
    hassert(root != NULL, "realpath(%s) failed", s->dir);

    char *vhosts = xasprintf("VirtualHost configuration:\n"
                             "*:%-20d is a NameVirtualHost\n"
                             "         default server a.test (%s:%d)\n"
                             "         port %d namevhost a.test (%s:%d)\n"
                             "         port %d namevhost b.test (%s:%d)\n"
                             "                 alias www.b.test\n"
                             "                 wild alias *.b.wild\n",
                             s->port, s->conf, la, s->port, s->conf, la, s->port, s->conf, lb);
    char *want = xasprintf("%s"
                           "ServerRoot: \"%s\"\n"
                           "Main DocumentRoot: \"%s\"\n"
                           "Main ErrorLog: \"%s\"\n"
                           "PidFile: \"%s\"\n"
                           "Define: DUMP_VHOSTS\n"
                           "Define: DUMP_RUN_CFG\n",
                           vhosts, root, s->htdocs, s->error_log, s->pid_file);
    int rc = run_httpd((const char *[]){"-S", "-f", s->conf, NULL}, &out, &err);
    hassert(rc == 0, "httpd -S: exit %d, stderr %s", rc, err);
    hassert(strcmp(out, want) == 0, "httpd -S printed\n%s\nwant\n%s", escape(out, strlen(out)),
            escape(want, strlen(want)));
    hassert(strcmp(err, "") == 0, "httpd -S wrote on stderr: %s", err);
    free(out);
    free(err);

    rc = run_httpd((const char *[]){"-t", "-D", "DUMP_VHOSTS", "-f", s->conf, NULL}, &out, &err);
    hassert(rc == 0, "httpd -t -D DUMP_VHOSTS: exit %d, stderr %s", rc, err);
    hassert(strcmp(out, vhosts) == 0, "httpd -t -D DUMP_VHOSTS printed\n%s\nwant\n%s",
            escape(out, strlen(out)), escape(vhosts, strlen(vhosts)));
    hassert(strcmp(err, "Syntax OK\n") == 0, "httpd -t -D DUMP_VHOSTS: stderr %s", err);
    free(out);
    free(err);
    free(vhosts);
    free(want);
    free(root);
    server_stop(s);
}

MPM_TEST(vhost, configuration_errors_name_file_and_line, .timeout = 30)
{
    struct srv *s =
        server_new(mpm, "<VirtualHost *:@PORT@>\n  ServerName a\n  Listen 1234\n</VirtualHost>\n");
    char *conf = server_conf_text(s, 8080);
    write_file(s->conf, conf, strlen(conf));
    int line = server_conf_line(s, "  Listen 1234");
    char *out, *err;
    int rc = run_httpd((const char *[]){"-t", "-f", s->conf, NULL}, &out, &err);
    char *want = xasprintf("httpd: %s:%d: Listen cannot occur within <VirtualHost> section\n", s->conf, line);
    hassert(rc == 1 && strcmp(err, want) == 0, "httpd -t: exit %d, stderr %s, want %s", rc, err, want);
    free(out);
    free(err);
    free(want);
    free(conf);
    server_destroy(s);
}
