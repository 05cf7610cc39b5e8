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

static int cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

Test(event_config, defaults)
{
    struct server *s = conftest_blank_server();
    conftest_expect_check(event_check_config, s, "", "defaults");
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

static const struct conftest_check_case check_cases[] = {
    {"many StartServers widen the default ServerLimit: room for a replacement of every child",
     "StartServers 40", "", "StartServers 40 ServerLimit 80"},
    {"StartServers capped by ServerLimit", "StartServers 40 ServerLimit 8",
     "httpd: WARNING: StartServers of 40 exceeds ServerLimit of 8, decreasing to match.\n",
     "StartServers 8 ServerLimit 8"},
    {"an unset StartServers follows a small ServerLimit", "ServerLimit 1", "", "StartServers 1"},
    {"compile-time limits", "ServerLimit 30000 StartServers 2 WorkerConnections 2000000",
     "httpd: WARNING: ServerLimit of 30000 exceeds compile-time limit of 20000 servers, decreasing to "
     "20000.\n"
     "httpd: WARNING: WorkerConnections of 2000000 exceeds compile-time limit of 1000000, decreasing to "
     "match.\n",
     "ServerLimit 20000 WorkerConnections 1000000"},
    {"zeros raised to one; MaxConnectionsPerChild 0 means never recycle: no warning",
     "ServerLimit 0 StartServers 0 WorkerConnections 0 MaxConnectionsPerChild 0",
     "httpd: WARNING: ServerLimit of 0 not allowed, increasing to 1.\n"
     "httpd: WARNING: StartServers of 0 not allowed, increasing to 1.\n"
     "httpd: WARNING: WorkerConnections of 0 not allowed, increasing to 1.\n",
     "ServerLimit 1 StartServers 1 WorkerConnections 1 MaxConnectionsPerChild 0"},
};

CONFTEST_CHECK_TEST(event_config, check_config, event_check_config, event_directives, check_cases)

/* ---- RLIMIT_NOFILE (Criterion runs each test in its own process, so the limits can be changed) ---- */

/* Sets RLIMIT_NOFILE to soft/hard and fits WorkerConnections `conns` to it: *fitted gets the value it leaves,
 * *after the limits; returns the warnings, one a line as main() prints them (malloc'd). */
static char *fit(rlim_t soft, rlim_t hard, int conns, int *fitted, struct rlimit *after)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    struct warnings w = {0};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0, "setrlimit: %s", strerror(errno));
    *fitted = conns;
    driver_fit_nofile(fitted, "WorkerConnections", &w);
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, after), 0);
    return conftest_warnings_text(&w);
}

Test(event_nofile, soft_limit_raised_to_what_the_cap_needs)
{
    struct rlimit rl;
    int conns;
    char *out = fit(256, 4096, 1000, &conns, &rl);
    cr_assert_str_eq(out, "", "no warning when the hard limit allows the cap");
    cr_assert_eq(rl.rlim_cur, 1000 + DRIVER_FD_RESERVE);
    cr_assert_eq(rl.rlim_max, 4096);
    cr_assert_eq(conns, 1000);
    free(out);
}

Test(event_nofile, cap_lowered_to_the_hard_limit_with_a_warning)
{
    struct rlimit rl;
    int conns;
    char *out = fit(256, 512, 10000, &conns, &rl);
    cr_assert_eq(rl.rlim_cur, 512, "soft limit raised to the hard one");
    cr_assert_eq(conns, 512 - DRIVER_FD_RESERVE);
    cr_assert_not_null(strstr(out, "WorkerConnections of 10000 exceeds what RLIMIT_NOFILE of 512 descriptors "
                                   "allows, decreasing to 448"),
                       "warnings: %s", out);
    free(out);
}

Test(event_nofile, tiny_limit_keeps_half_for_connections)
{
    struct rlimit rl;
    int conns;
    free(fit(40, 40, 100, &conns, &rl));
    cr_assert_eq(conns, 20);
}

/* ---- the directive table, through config_load() ---- */

Test(event_config, directives_and_aliases, .init = conftest_setup, .fini = conftest_teardown)
{
    struct server *s = conftest_load_ok("",
                                        "Listen 8080\nMPM event\n"
                                        "<IfModule mpm_event_module>\n"
                                        "StartServers 3\nServerLimit 5\nWorkerConnections 500\n"
                                        "MaxRequestsPerChild 9\n"
                                        "</IfModule>\n"
                                        "<IfModule mpm_prefork_module>\nMaxSpareServers 3\n</IfModule>\n",
                                        NULL);
    cr_assert_str_eq(s->mpm->name, "event");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->start_servers, 3);
    cr_assert_eq(c->server_limit, 5);
    cr_assert_eq(c->max_conns, 500);
    cr_assert_eq(c->max_conn_per_child, 9);
    config_free(s);

    s = conftest_load_ok("", "Listen 8080\nMPM event\nMaxConnectionsPerChild 7\n", NULL);
    cr_assert_eq(s->mpm_conf.max_conn_per_child, 7);
    cr_assert_eq(s->mpm_conf.max_conns, 10000);
    config_free(s);
}

Test(event_config, foreign_directives_refused, .init = conftest_setup, .fini = conftest_teardown)
{
    conftest_expect_refused("Listen 8080\nMPM event\n", "MinSpareServers 3\n",
                            "MinSpareServers is a directive of the prefork MPM");
    conftest_expect_refused("Listen 8080\nMPM prefork\n", "WorkerConnections 10\n",
                            "WorkerConnections is a directive of the event MPM");
    conftest_expect_refused("Listen 8080\nMPM event\n", "WorkerConnections many\n", "WorkerConnections");
}
