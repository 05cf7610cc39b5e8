/*
 * server/restart.c: the scoreboard sized for every MPM a graceful restart could switch to, from the settings
 * the same configuration gives each (no second read of the files), and ServerLimit/ThreadLimit kept across
 * restarts with the MPM's clamps run again. Criterion runs each test in its own process, so the scoreboard a
 * test maps is its own.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conftest.h"
#include "restart.c"

TestSuite(restart, .init = conftest_setup, .fini = conftest_teardown);

static const struct config_args args = {CONFTEST_ARGS, .conf_file = conftest_conf};

/* A loopback port free now. */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Writes the configuration (logs under the test's root, a free port) and loads it. */
static struct server *load(const char *text, struct warnings *w)
{
    char *head = NULL;
    cr_assert_geq(asprintf(&head, "Listen 127.0.0.1:%d\nErrorLog %s/error_log\nPidFile %s/httpd.pid\n",
                           free_port(), conftest_dir, conftest_dir),
                  0);
    struct server *s = conftest_load_ok(head, text, w);
    free(head);
    return s;
}

#define SECTIONS                                                                                             \
    "<IfModule mpm_prefork_module>\nServerLimit 12\nMaxRequestWorkers 12\n</IfModule>\n"                     \
    "<IfModule mpm_worker_module>\nServerLimit 6\nThreadLimit 40\nThreadsPerChild 20\n"                      \
    "MaxRequestWorkers 120\n</IfModule>\n"                                                                   \
    "<IfModule mpm_event_module>\nStartServers 2\nServerLimit 9\n</IfModule>\n"

Test(restart, scoreboard_fits_every_mpm)
{
    struct restart rs = {.args = &args};
    struct errbuf err;
    struct server *s = load("MPM prefork\n" SECTIONS, NULL);

    cr_assert_eq(restart_prepare(&rs, s, &err), 0, "%s", err.msg);
    const struct scoreboard *sb = process_scoreboard();
    cr_assert_eq(sb->server_limit, 12, "the largest ServerLimit: prefork's 12 (worker 6, event 9)");
    cr_assert_eq(sb->thread_limit, 40, "the largest ThreadLimit: worker's");
    for (int i = 0; i < 3; i++)
        cr_assert(rs.limits[i].known, "MPM %d", i);
    cr_assert_eq(rs.limits[1].server_limit, 6);
    cr_assert_eq(rs.limits[1].thread_limit, 40);
    cr_assert_eq(rs.limits[2].server_limit, 9);
    cr_assert(s->listeners->fd >= 0, "the listeners are open");
    restart_release(s);
}

Test(restart, one_process_sizes_for_its_own_mpm)
{
    struct restart rs = {.args = &args};
    struct errbuf err;
    struct server *s = load("MPM event\n" SECTIONS, NULL);

    s->one_process = 1;
    cr_assert_eq(restart_prepare(&rs, s, &err), 0, "%s", err.msg);
    cr_assert_eq(process_scoreboard()->server_limit, 9);
    cr_assert_eq(process_scoreboard()->thread_limit, 1);
    cr_assert(!rs.limits[0].known && !rs.limits[1].known);
    restart_release(s);
}

/* A restart may not change ServerLimit or ThreadLimit: the start-up values are put back, the MPM's clamps
 * that depend on them follow, and only their warnings are reported, once. */
Test(restart, limits_keep_their_start_values)
{
    struct restart rs = {.args = &args};
    struct errbuf err;
    struct server *s = load("MPM worker\n" SECTIONS, NULL);
    cr_assert_eq(restart_prepare(&rs, s, &err), 0, "%s", err.msg);

    struct warnings w = {0};
    struct server *n = load("MPM worker\nServerLimit 3\nThreadLimit 64\nThreadsPerChild 20\n"
                            "MaxRequestWorkers 120\n",
                            &w);
    cr_assert_eq(w.count, 1, "MaxRequestWorkers 120 exceeds 3 x 20 in the new file");
    cr_assert_eq(keep_limits(&rs, n, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(n->mpm_conf.server_limit, 6);
    cr_assert_eq(n->mpm_conf.thread_limit, 40);
    cr_assert_eq(n->mpm_conf.max_workers, 120, "with ServerLimit 6 again, 120 = 6 x 20 fits");
    cr_assert_eq(w.count, 0, "the warning about ServerLimit 3 is gone: %s", w.count > 0 ? w.msg[0] : "");
    config_free(n);

    /* a warning the forced limits cause replaces none of the core's */
    w = (struct warnings){0};
    n = load("MPM worker\nDocumentRoot /nonexistent\nServerLimit 8\nThreadLimit 40\nThreadsPerChild 20\n"
             "MaxRequestWorkers 160\n",
             &w);
    cr_assert_eq(w.count, 1);
    cr_assert_eq(keep_limits(&rs, n, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(n->mpm_conf.max_workers, 120);
    cr_assert_eq(w.count, 2);
    cr_assert_str_eq(w.msg[0], "DocumentRoot [/nonexistent] does not exist");
    cr_assert(strstr(w.msg[1],
                     "MaxRequestWorkers of 160 would require 8 servers and would exceed ServerLimit "
                     "of 6") != NULL,
              "%s", w.msg[1]);
    config_free(n);

    /* unchanged limits: nothing to do */
    n = load("MPM worker\n" SECTIONS, NULL);
    struct mpm_conf before = n->mpm_conf;
    cr_assert_eq(keep_limits(&rs, n, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(&before, &n->mpm_conf, sizeof(before)), 0);
    config_free(n);
    restart_release(s);
}
