/*
 * The command line and the configuration reader as users meet them: -t, -v, -V, configuration errors with
 * file:line, -C/-c directives, -D with <IfDefine>, and Include with a glob relative to ServerRoot.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define GET_ROOT "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

/* Runs $HTTPD_BIN with args; returns the exit status, *all gets stdout followed by stderr. */
static int run_httpd(const char *const *args, char **all)
{
    char *argv[16], *out = NULL, *err = NULL;
    int argc = 0, status;

    argv[argc++] = getenv("HTTPD_BIN");
    for (int i = 0; args[i] && argc < 15; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    status = run_cmd(argv, 5000, &out, &err);
    *all = xasprintf("%s%s", out ? out : "", err ? err : "");
    free(out);
    free(err);
    return status;
}

/* Writes the harness conf (with `extra`) to conf/NAME and returns its path (malloc'd). */
static char *write_conf(struct srv *s, const char *name, const char *extra)
{
    char *saved = s->extra, *path = xasprintf("%s/conf/%s", s->dir, name);

    s->extra = (char *)extra;
    char *text = server_conf_text(s, 12345);
    s->extra = saved;
    write_file(path, text, strlen(text));
    free(text);
    return path;
}

static int count_lines(const char *text)
{
    int n = 0;

    for (; *text; text++)
        n += *text == '\n';
    return n;
}

MPM_TEST(cli, syntax_ok, .timeout = 20)
{
    struct srv *s = server_new(mpm, NULL);
    char *conf = write_conf(s, "good.conf", NULL), *out;
    int status = run_httpd((const char *[]){"-t", "-f", conf, NULL}, &out);

    hassert(status == 0, "httpd -t -f good.conf: exit %d, want 0; output:\n%s", status, out);
    hassert(strstr(out, "Syntax OK") != NULL, "httpd -t: no \"Syntax OK\" in:\n%s", out);
    free(out);
    free(conf);
    server_destroy(s);
}

MPM_TEST(cli, unknown_directive, .timeout = 20)
{
    struct srv *s = server_new(mpm, NULL);
    char *conf = xasprintf("%s/conf/bad.conf", s->dir), *out;
    char *text = xasprintf("ServerName localhost\nDocumentRoot \"%s\"\nFoo bar\nMPM %s\n", s->htdocs, mpm);

    write_file(conf, text, strlen(text));
    int status = run_httpd((const char *[]){"-t", "-f", conf, NULL}, &out);
    hassert(status == 1, "httpd -t with an unknown directive: exit %d, want 1; output:\n%s", status, out);
    hassert(strstr(out, "bad.conf:3:") && strstr(out, "Foo"), "no \"bad.conf:3:\" ... \"Foo\" in:\n%s", out);
    free(out);
    /* Starting with it fails the same way, without serving. */
    status = run_httpd((const char *[]){"-f", conf, "-D", "FOREGROUND", NULL}, &out);
    hassert(status == 1, "httpd -f bad.conf: exit %d, want 1; output:\n%s", status, out);
    hassert(strstr(out, "bad.conf:3:") != NULL, "starting with bad.conf: no \"bad.conf:3:\" in:\n%s", out);
    free(out);
    free(text);
    free(conf);
    server_destroy(s);
}

MPM_TEST(cli, bad_mpm_argument, .timeout = 20)
{
    struct srv *s = server_new(mpm, NULL);
    char *base = server_conf_text(s, 12345);
    int line = count_lines(base) + 1;
    char *conf = write_conf(s, "badnum.conf", "StartServers abc\n"), *out, *where = xasprintf(":%d:", line);

    int status = run_httpd((const char *[]){"-t", "-f", conf, NULL}, &out);
    hassert(status == 1, "StartServers abc: exit %d, want 1; output:\n%s", status, out);
    hassert(strstr(out, where) && strstr(out, "StartServers"), "no \"%s\" ... \"StartServers\" in:\n%s",
            where, out);
    free(out);
    status = run_httpd((const char *[]){"-f", conf, "-D", "FOREGROUND", NULL}, &out);
    hassert(status == 1, "starting with StartServers abc: exit %d, want 1; output:\n%s", status, out);
    free(out);
    free(where);
    free(conf);
    free(base);
    server_destroy(s);
}

MPM_TEST(cli, version, .timeout = 20)
{
    char *out;
    int status = run_httpd((const char *[]){"-v", NULL}, &out);

    hassert(status == 0, "httpd -v: exit %d", status);
    hassert(strstr(out, "Server version: httpd/0.1.0") != NULL, "httpd -v printed:\n%s", out);
    free(out);
    status = run_httpd((const char *[]){"-V", NULL}, &out);
    hassert(status == 0, "httpd -V: exit %d", status);
    hassert(strstr(out, "Server version: httpd/0.1.0") && strstr(out, "Server MPM:") &&
                strstr(out, "Compiled-in MPMs:"),
            "httpd -V printed:\n%s", out);
    hassert(strstr(strstr(out, "Compiled-in MPMs:"), mpm) != NULL, "-V does not list %s:\n%s", mpm, out);
    free(out);
}

MPM_TEST(cli, listen_from_command_line, .timeout = 20)
{
    struct srv *s = server_new(mpm, NULL);

    s->listen_in_conf = 0;
    server_launch(s, (const char *[]){"-c", "Listen 127.0.0.1:@PORT@", NULL});
    expect_served(s, GET_ROOT, "index.html", NULL);
    server_stop(s);
}

/* Makes DIR/htdocs2 with its own index.html. */
static void make_htdocs2(struct srv *s)
{
    char *dir = xasprintf("%s/htdocs2", s->dir), *index = xasprintf("%s/index.html", dir);

    hassert(mkdir(dir, 0755) == 0, "mkdir(%s) failed", dir);
    write_file(index, "second root\n", 12);
    free(dir);
    free(index);
}

MPM_TEST(cli, pre_and_post_directives, .timeout = 20)
{
    /* -C is applied before the file (the file's DocumentRoot wins), -c after it (-c wins). */
    struct srv *s = server_new(mpm, NULL);
    char *pre, *post;
    struct resp *r;

    make_htdocs2(s);
    pre = xasprintf("DocumentRoot %s/htdocs2", s->dir);
    server_launch(s, (const char *[]){"-C", pre, NULL});
    expect_served(s, GET_ROOT, "index.html", NULL);
    server_stop(s);

    s = server_new(mpm, NULL);
    make_htdocs2(s);
    post = xasprintf("DocumentRoot %s/htdocs2", s->dir);
    server_launch(s, (const char *[]){"-c", post, NULL});
    r = request_once(s, GET_ROOT, NULL);
    hassert(r->status == 200, "status %d", r->status);
    expect_bytes("index from -c DocumentRoot", r->body, r->body_len, "second root\n", 12);
    resp_free(r);
    free(pre);
    free(post);
    server_stop(s);
}

MPM_TEST(cli, ifdefine, .timeout = 20)
{
    struct srv *s = server_new(mpm, NULL);
    char *conf = write_conf(s, "ifdef.conf", "<IfDefine NOPE>\nFoo bar\n</IfDefine>\n"), *out;
    int status = run_httpd((const char *[]){"-t", "-f", conf, NULL}, &out);

    hassert(status == 0 && strstr(out, "Syntax OK"), "<IfDefine NOPE> content was not skipped: exit %d:\n%s",
            status, out);
    free(out);
    /* Defined by -D: the section applies. */
    status = run_httpd((const char *[]){"-t", "-f", conf, "-D", "NOPE", NULL}, &out);
    hassert(status == 1 && strstr(out, "Foo"),
            "with -D NOPE the section must apply (Foo is unknown): exit %d:\n%s", status, out);
    free(out);
    free(conf);
    server_destroy(s);

    /* <IfDefine !NOPE> applies: it holds the only Listen. */
    s = server_new(mpm, "<IfDefine !NOPE>\nListen 127.0.0.1:@PORT@\n</IfDefine>\n");
    s->listen_in_conf = 0;
    server_launch(s, NULL);
    expect_served(s, GET_ROOT, "index.html", NULL);
    server_stop(s);

    /* -D MYDEF enables <IfDefine MYDEF>. */
    s = server_new(mpm, "<IfDefine MYDEF>\nListen 127.0.0.1:@PORT@\n</IfDefine>\n");
    s->listen_in_conf = 0;
    server_launch(s, (const char *[]){"-D", "MYDEF", NULL});
    expect_served(s, GET_ROOT, "index.html", NULL);
    server_stop(s);
}

MPM_TEST(cli, include_glob, .timeout = 20)
{
    struct srv *s = server_new(mpm, "Include conf/extra/*.conf\n");

    hassert(mkdir(server_path(s, "conf/extra"), 0755) == 0, "mkdir(conf/extra) failed");
    server_add_file(s, "conf/extra/a-listen.conf", "Listen 127.0.0.1:@PORT@\n");
    server_add_file(s, "conf/extra/b-keepalive.conf", "KeepAlive Off\n");
    server_add_file(s, "conf/extra/ignored.txt", "Foo bar\n");
    s->listen_in_conf = 0;
    server_launch(s, NULL);
    /* Both files applied: the Listen, and KeepAlive Off closes the connection. */
    expect_served(s, GET_ROOT, "index.html", "close");
    server_stop(s);
}

/*
 * Run as root without a User directive, only the commands that start children say that they will serve as
 * root: starting does (on stderr), -t, -V, -k graceful and -k stop do not, and a graceful restart to a
 * configuration that still serves as root does not say it again.
 */
MPM_TEST(cli, root_warning_only_where_children_serve, .timeout = 30)
{
    const char *warning = "started as root without a User directive";
    struct srv *s = server_start(mpm, NULL);
    char *started = read_file(s->stderr_log, NULL), *out;

    if (geteuid() == 0)
        hassert(started && strstr(started, warning), "started as root: no warning on stderr:\n%s", started);
    else
        hassert(!started || !strstr(started, warning), "not root, yet warned:\n%s", started);
    free(started);
    const char *const *commands[] = {
        (const char *[]){"-t", "-f", s->conf, NULL},
        (const char *[]){"-V", "-f", s->conf, NULL},
        (const char *[]){"-k", "graceful", "-f", s->conf, NULL},
    };
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        int status = run_httpd(commands[i], &out);
        hassert(status == 0, "httpd %s: exit %d; output:\n%s", commands[i][0], status, out);
        hassert(!strstr(out, warning), "httpd %s %s warned:\n%s", commands[i][0], commands[i][1], out);
        free(out);
    }
    hassert(wait_log(s->error_log, "resuming normal operations", 2, 5000),
            "the graceful restart did not complete");
    hassert(log_count(s->error_log, warning) == 0, "the restart logged the root warning again");
    int status = run_httpd((const char *[]){"-k", "stop", "-f", s->conf, NULL}, &out);
    hassert(status == 0 && !strstr(out, warning), "httpd -k stop: exit %d; output:\n%s", status, out);
    free(out);
    hassert(server_wait_exit(s, 5000) != -1, "httpd -k stop: the server did not stop within 5 s");
    server_destroy(s);
}

/* -V without a configuration it can read says which file it looked for and why it could not read it. */
MPM_TEST(cli, version_names_a_missing_configuration, .timeout = 20)
{
    char *out;
    (void)mpm; /* no configuration, so no MPM of its choosing: the same answer under each */
    int status = run_httpd((const char *[]){"-V", "-f", "/nonexistent/conf/httpd.conf", NULL}, &out);

    hassert(status == 0, "httpd -V: exit %d", status);
    hassert(strstr(out, "/nonexistent/conf/httpd.conf") && strstr(out, "No such file or directory") &&
                strstr(out, "no configuration was read"),
            "httpd -V with a missing file printed:\n%s", out);
    free(out);
}
