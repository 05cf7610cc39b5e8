/*
 * The event MPM's pieces that need no server: check_config (defaults, clamps and their warnings), the
 * directive table through config_load(), and the fit of WorkerConnections to RLIMIT_NOFILE. The reactor
 * itself is exercised by the integration tests (tests/integration/test_event.c and every core test under
 * event).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conftest.h"
#include "event.c"

/* ---- check_config ---- */

static struct server *blank_server(void)
{
    struct server *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    s->mpm_conf = (struct mpm_conf){-1, -1, -1, -1, -1, -1, -1, -1, -1};
    return s;
}

static void expect_output(struct server *s, const char *want)
{
    struct errbuf err;
    struct warnings w = {0};
    cr_assert_eq(event_check_config(s, &w, &err), 0);
    char *got = conftest_warnings_text(&w);
    cr_assert_str_eq(got, want);
    free(got);
}

static int cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

Test(event_config, defaults)
{
    struct server *s = blank_server();
    expect_output(s, "");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->start_servers, cpus(), "StartServers defaults to the online CPUs");
    cr_assert_eq(c->server_limit, cpus() * 2 > 16 ? cpus() * 2 : 16);
    cr_assert_eq(c->max_conns, 10000);
    cr_assert_eq(c->max_conn_per_child, 0);
    cr_assert_eq(c->threads_per_child, 1);
    cr_assert_eq(c->thread_limit, 1);
    cr_assert_eq(c->max_workers, c->start_servers, "one reactor per child");
    cr_assert_eq(c->min_spare, -1, "event keeps a fixed number of children: no spares");
    free(s);
}

Test(event_config, many_start_servers_widen_the_default_server_limit)
{
    struct server *s = blank_server();
    s->mpm_conf.start_servers = 40;
    expect_output(s, "");
    cr_assert_eq(s->mpm_conf.start_servers, 40);
    cr_assert_eq(s->mpm_conf.server_limit, 80, "room for a replacement of every child");
    free(s);
}

Test(event_config, start_servers_capped_by_server_limit)
{
    struct server *s = blank_server();
    s->mpm_conf.start_servers = 40;
    s->mpm_conf.server_limit = 8;
    expect_output(s, "httpd: WARNING: StartServers of 40 exceeds ServerLimit of 8, decreasing to match.\n");
    cr_assert_eq(s->mpm_conf.start_servers, 8);
    cr_assert_eq(s->mpm_conf.server_limit, 8);
    free(s);
}

Test(event_config, unset_start_servers_follows_a_small_server_limit)
{
    struct server *s = blank_server();
    s->mpm_conf.server_limit = 1;
    expect_output(s, "");
    cr_assert_eq(s->mpm_conf.start_servers, 1);
    free(s);
}

Test(event_config, compile_time_limits)
{
    struct server *s = blank_server();
    s->mpm_conf.server_limit = 30000;
    s->mpm_conf.start_servers = 2;
    s->mpm_conf.max_conns = 2000000;
    expect_output(s, "httpd: WARNING: ServerLimit of 30000 exceeds compile-time limit of 20000 servers, "
                     "decreasing to 20000.\n"
                     "httpd: WARNING: WorkerConnections of 2000000 exceeds compile-time limit of 1000000, "
                     "decreasing to match.\n");
    cr_assert_eq(s->mpm_conf.server_limit, 20000);
    cr_assert_eq(s->mpm_conf.max_conns, 1000000);
    free(s);
}

Test(event_config, zeros_raised_to_one)
{
    struct server *s = blank_server();
    s->mpm_conf.server_limit = 0;
    s->mpm_conf.start_servers = 0;
    s->mpm_conf.max_conns = 0;
    s->mpm_conf.max_conn_per_child = 0;
    expect_output(s, "httpd: WARNING: ServerLimit of 0 not allowed, increasing to 1.\n"
                     "httpd: WARNING: StartServers of 0 not allowed, increasing to 1.\n"
                     "httpd: WARNING: WorkerConnections of 0 not allowed, increasing to 1.\n");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->server_limit, 1);
    cr_assert_eq(c->start_servers, 1);
    cr_assert_eq(c->max_conns, 1);
    cr_assert_eq(c->max_conn_per_child, 0, "0 means never recycle: no warning");
    free(s);
}

/* ---- RLIMIT_NOFILE (Criterion runs each test in its own process, so the limits can be changed) ---- */

/* Runs the fit; returns its warnings, one a line as main() prints them (malloc'd). */
static char *run_fit(struct server *s)
{
    struct warnings w = {0};
    driver_fit_nofile(&s->mpm_conf.max_conns, "WorkerConnections", &w);
    return conftest_warnings_text(&w);
}

Test(event_nofile, soft_limit_raised_to_what_the_cap_needs)
{
    struct rlimit rl = {.rlim_cur = 256, .rlim_max = 4096};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
    struct server *s = blank_server();
    s->mpm_conf.max_conns = 1000;
    char *out = run_fit(s);
    cr_assert_str_eq(out, "", "no warning when the hard limit allows the cap");
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert_eq(rl.rlim_cur, 1000 + DRIVER_FD_RESERVE);
    cr_assert_eq(rl.rlim_max, 4096);
    cr_assert_eq(s->mpm_conf.max_conns, 1000);
    free(out);
    free(s);
}

Test(event_nofile, cap_lowered_to_the_hard_limit_with_a_warning)
{
    struct rlimit rl = {.rlim_cur = 256, .rlim_max = 512};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
    struct server *s = blank_server();
    s->mpm_conf.max_conns = 10000;
    char *out = run_fit(s);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert_eq(rl.rlim_cur, 512, "soft limit raised to the hard one");
    cr_assert_eq(s->mpm_conf.max_conns, 512 - DRIVER_FD_RESERVE);
    cr_assert_not_null(strstr(out, "WorkerConnections of 10000 exceeds what RLIMIT_NOFILE of 512 descriptors "
                                   "allows, decreasing to 448"),
                       "warnings: %s", out);
    free(out);
    free(s);
}

Test(event_nofile, tiny_limit_keeps_half_for_connections)
{
    struct rlimit rl = {.rlim_cur = 40, .rlim_max = 40};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
    struct server *s = blank_server();
    s->mpm_conf.max_conns = 100;
    free(run_fit(s));
    cr_assert_eq(s->mpm_conf.max_conns, 20);
    free(s);
}

/* ---- the directive table, through config_load() ---- */

static char dir[] = "/tmp/test_event_conf.XXXXXX";

static void conf_setup(void)
{
    conftest_make_root(dir, "/tmp/test_event_conf.XXXXXX");
}

static void conf_teardown(void)
{
    conftest_remove_root(dir);
}

/* Loads text; returns the server, or NULL with *msg set. */
static struct server *load(const char *text, char *msg, size_t size)
{
    char p[700];
    struct errbuf err;
    snprintf(p, sizeof(p), "%s/conf/test.conf", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    struct config_args args = {CONFTEST_ARGS, .conf_file = p};
    struct server *s = config_load(&args, NULL, &err);
    if (s == NULL)
        snprintf(msg, size, "%s", err.msg);
    return s;
}

Test(event_config, directives_and_aliases, .init = conf_setup, .fini = conf_teardown)
{
    char msg[ERRBUF_SIZE] = "";
    struct server *s = load("Listen 8080\nMPM event\n"
                            "<IfModule mpm_event_module>\n"
                            "StartServers 3\nServerLimit 5\nWorkerConnections 500\nMaxRequestsPerChild 9\n"
                            "</IfModule>\n"
                            "<IfModule mpm_prefork_module>\nMaxSpareServers 3\n</IfModule>\n",
                            msg, sizeof(msg));
    cr_assert_not_null(s, "%s", msg);
    cr_assert_str_eq(s->mpm->name, "event");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->start_servers, 3);
    cr_assert_eq(c->server_limit, 5);
    cr_assert_eq(c->max_conns, 500);
    cr_assert_eq(c->max_conn_per_child, 9);
    config_free(s);

    s = load("Listen 8080\nMPM event\nMaxConnectionsPerChild 7\n", msg, sizeof(msg));
    cr_assert_not_null(s, "%s", msg);
    cr_assert_eq(s->mpm_conf.max_conn_per_child, 7);
    cr_assert_eq(s->mpm_conf.max_conns, 10000);
    config_free(s);
}

Test(event_config, foreign_directives_refused, .init = conf_setup, .fini = conf_teardown)
{
    char msg[ERRBUF_SIZE] = "";
    struct server *s = load("Listen 8080\nMPM event\nMinSpareServers 3\n", msg, sizeof(msg));
    cr_assert_null(s, "MinSpareServers accepted under event");
    cr_assert_not_null(strstr(msg, "MinSpareServers is a directive of the prefork MPM"), "%s", msg);

    s = load("Listen 8080\nMPM prefork\nWorkerConnections 10\n", msg, sizeof(msg));
    cr_assert_null(s, "WorkerConnections accepted under prefork");
    cr_assert_not_null(strstr(msg, "WorkerConnections is a directive of the event MPM"), "%s", msg);

    s = load("Listen 8080\nMPM event\nWorkerConnections many\n", msg, sizeof(msg));
    cr_assert_null(s, "a word accepted as WorkerConnections");
    cr_assert_not_null(strstr(msg, "WorkerConnections"), "%s", msg);
}
