/*
 * Tests of server-status (server/status.c, status_snap.c and the renderers status_auto.c, status_json.c,
 * status_html.c) without a server: scoreboards filled by hand, header included (the model's name and sizes,
 * as supervision writes them), are rendered into requests made by hand. ?auto is compared byte for byte with
 * what Apache's mod_status prints for the same figures (key names, order, APR's float format, which keys are
 * left out), and its key list under each kind of model with Apache 2.4's own; ?json is read back with the
 * strict JSON parser below and checked value by value; the HTML page for its escaping, scoreboard layout,
 * links and plain numbers. Also: APR's "%g", request durations, graceful workers, the query options, the
 * handler finding the board of its process, and the /proc readings on this process.
 */
#include <criterion/criterion.h>

#include "handlers.h"
#include "static.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "status.c"
#include "status_snap.c"
#include "status_auto.c"
#include "status_html.c"
#include "status_json.c"
#include "proxy_conf.h"
#include "testserver.h"

#define T0 1700000000 /* Tuesday, 14-Nov-2023 22:13:20 UTC */

/* ---- reading ?json back ---- */

#define JSON_ASSERT(cond, ...) cr_assert(cond, __VA_ARGS__)
#include "../json.h"

#include "../status_expect.h"

Test(status, json_parser_is_strict)
{
    const char *good[] = {"{}", "[]", " {\"a\":[1,-2.5e+3,0.25,\"x\\u00e9\\n\",true,false,null]} "};
    const char *bad[] = {"",           "{",         "{\"a\":1,}",        "[1 2]", "{\"a\":01}", "{\"a\":.5}",
                         "{\"a\":1.}", "\"a\x01\"", "{\"a\":1,\"a\":2}", "[1] x", "{a:1}",      "[\"\\x\"]",
                         "[nul]",      "[-]"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct jval *v = jparse(good[i]);
        cr_assert_not_null(v, "rejected %s", good[i]);
        jfree(v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jval *v = jparse(bad[i]);
        cr_assert_null(v, "accepted %s", bad[i]);
    }
    struct jval *v = jparse(good[2]);
    cr_assert_eq(jnum(v, "a.1"), -2500);
    cr_assert_str_eq(jstr(v, "a.3"), "x\xe9\n");
    cr_assert(jbool(v, "a.4"));
    jfree(v);
}

/* ---- fixtures ---- */

/* Every test has the pool of testserver.h, a server with nothing set, and the scoreboard it made last. */
static struct server srv;
static struct scoreboard *board;

static void setup(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    testserver_pool_setup();
}

static void teardown(void)
{
    if (board != NULL)
        scoreboard_destroy(board);
    testserver_pool_teardown();
}

TestSuite(status, .init = setup, .fini = teardown);

/* The header as supervision writes it. */
static void describe(struct scoreboard *sb, const char *mpm, int async, int threads_per_child,
                     int max_servers)
{
    struct sb_info info = {
        .async = async, .threads_per_child = threads_per_child, .max_servers = max_servers};
    snprintf(info.mpm, sizeof(info.mpm), "%s", mpm);
    scoreboard_set_info(sb, &info);
}

/* The test's scoreboard of rows x threads (replacing the one before), started at T0, described for mpm as
 * supervision does (NULL: no description). */
static struct scoreboard *new_board(int rows, int threads, const char *mpm, int async, int threads_per_child,
                                    int max_servers)
{
    struct errbuf err;
    if (board != NULL)
        scoreboard_destroy(board);
    board = scoreboard_create(rows, threads, &err);
    cr_assert_not_null(board, "%s", err.msg);
    if (mpm != NULL)
        describe(board, mpm, async, threads_per_child, max_servers);
    board->start_time = T0;
    return board;
}

static struct request *new_request(const char *host, const char *query)
{
    struct request *r = testserver_request(test_pool, &srv);
    r->host = host;
    r->query = query;
    return r;
}

/* The response body as a string (status_render writes one segment). */
static char *body_of(struct request *r)
{
    cr_assert_not_null(r->body);
    cr_assert_null(r->body->next);
    return testserver_body(r);
}

static void set_slot(struct scoreboard *sb, int i, int t, char st, uint64_t accesses, uint64_t bytes)
{
    struct sb_worker *w = scoreboard_worker(sb, i, t);
    atomic_store(&w->state, st);
    atomic_store(&w->accesses, accesses);
    atomic_store(&w->bytes, bytes);
}

static void set_duration(struct scoreboard *sb, int i, int t, uint64_t ms)
{
    atomic_store(&scoreboard_worker(sb, i, t)->duration_ms, ms);
}

static void set_child(struct scoreboard *sb, int i, pid_t pid, int gen, int quitting, int conns,
                      int idle_conns)
{
    struct sb_child *c = scoreboard_child(sb, i);
    atomic_store(&c->pid, pid);
    atomic_store(&c->generation, gen);
    atomic_store(&c->quitting, quitting);
    atomic_store(&c->conns, conns);
    atomic_store(&c->idle_conns, idle_conns);
}

/*
 * A worker scoreboard of 4 rows x 5 slots, ThreadsPerChild 4, MaxRequestWorkers 8 (2 children), generation 1:
 *   row 0  pid 100, gen 1:            _ W K _ .   (one more DEAD slot beyond ThreadsPerChild)
 *   row 1  pid 101, gen 0, quitting:  G _ . . .
 *   row 2  no process:                . . . . .   (its first slot served 15 requests before)
 *   row 3  pid 103, gen 1:            _ _ S R .   (a row beyond MaxRequestWorkers / ThreadsPerChild)
 * 100 requests, 200 kB and 12345 ms in all.
 */
static struct scoreboard *worker_board(void)
{
    struct scoreboard *sb = new_board(4, 5, "worker", 0, 4, 2);
    atomic_store(&sb->generation, 1);
    set_child(sb, 0, 100, 1, 0, 0, 0);
    set_slot(sb, 0, 0, SB_READY, 40, 81920);
    set_slot(sb, 0, 1, SB_WRITE, 10, 20480);
    set_slot(sb, 0, 2, SB_KEEPALIVE, 5, 10240);
    set_slot(sb, 0, 3, SB_READY, 0, 0);
    set_child(sb, 1, 101, 0, 1, 0, 0);
    set_slot(sb, 1, 0, SB_GRACEFUL, 20, 40960);
    set_slot(sb, 1, 1, SB_READY, 5, 10240);
    set_slot(sb, 2, 0, SB_DEAD, 15, 30720);
    set_child(sb, 3, 103, 1, 0, 0, 0);
    set_slot(sb, 3, 0, SB_READY, 5, 10240);
    set_slot(sb, 3, 1, SB_READY, 0, 0);
    set_slot(sb, 3, 2, SB_STARTING, 0, 0);
    set_slot(sb, 3, 3, SB_READ, 0, 0);
    set_duration(sb, 0, 0, 10000);
    set_duration(sb, 0, 1, 2000);
    set_duration(sb, 1, 0, 300);
    set_duration(sb, 2, 0, 45); /* a dead slot's past counts, as its requests do */
    return sb;
}

/* An hour, two minutes and five seconds up; CPU 3 s in all. */
static struct status_sys worker_sys(void)
{
    struct status_sys sys = {
        .now = T0 + 3725,
        .load = {0.5, 0.25, 1.0},
        .have_cpu = 1,
        .cpu_user = 1.5,
        .cpu_system = 0.25,
        .cpu_children_user = 0.75,
        .cpu_children_system = 0.5,
    };
    return sys;
}

/*
 * An event scoreboard of 4 rows x 1 slot, StartServers 3, generation 0, just started, nothing served:
 *   row 0  pid 200:            _   5 connections, 3 idle in keep-alive
 *   row 1  pid 201:            G   2 connections (leaving on its own)
 *   row 2  pid 202, quitting:  _   1 connection, idle
 *   row 3  no process:         .
 */
static struct scoreboard *event_board(void)
{
    struct scoreboard *sb = new_board(4, 1, "event", 1, 1, 3);
    set_child(sb, 0, 200, 0, 0, 5, 3);
    set_slot(sb, 0, 0, SB_READY, 0, 0);
    set_child(sb, 1, 201, 0, 0, 2, 0);
    set_slot(sb, 1, 0, SB_GRACEFUL, 0, 0);
    set_child(sb, 2, 202, 0, 1, 1, 1);
    set_slot(sb, 2, 0, SB_READY, 0, 0);
    return sb;
}

/* The build date as the renderers print it. */
#define BUILT "Server Built: " __DATE__ " " __TIME__ "\n"

static char *render(const char *host, struct scoreboard *sb, enum status_format fmt,
                    const struct status_sys *sys, struct request **out)
{
    struct request *r = new_request(host, NULL);
    cr_assert_eq(status_render(r, sb, fmt, sys), 0);
    cr_assert_eq(r->status, 200);
    if (out != NULL)
        *out = r;
    return body_of(r);
}

/* ---- ?auto ---- */

Test(status, auto_matches_apache_for_worker)
{
    struct scoreboard *sb = worker_board();
    struct status_sys sys = worker_sys();
    struct request *r;
    char *body = render("www.example.com:8080", sb, STATUS_AUTO, &sys, &r);

    cr_assert_str_eq(r->content_type, "text/plain; charset=ISO-8859-1");
    cr_assert_str_eq(body, "www.example.com\n"
                           "ServerVersion: httpd/0.1.0\n"
                           "ServerMPM: worker\n" BUILT "CurrentTime: Tuesday, 14-Nov-2023 23:15:25 UTC\n"
                           "RestartTime: Tuesday, 14-Nov-2023 22:13:20 UTC\n"
                           "ParentServerConfigGeneration: 2\n"
                           "ParentServerMPMGeneration: 1\n"
                           "ServerUptimeSeconds: 3725\n"
                           "ServerUptime: 1 hour 2 minutes 5 seconds\n"
                           "Load1: 0.50\n"
                           "Load5: 0.25\n"
                           "Load15: 1.00\n"
                           "Total Accesses: 100\n"
                           "Total kBytes: 200\n"
                           "Total Duration: 12345\n"
                           "CPUUser: 1.5\n"
                           "CPUSystem: .25\n"
                           "CPUChildrenUser: .75\n"
                           "CPUChildrenSystem: .5\n"
                           "CPULoad: .0805369\n"
                           "Uptime: 3725\n"
                           "ReqPerSec: .0268456\n"
                           "BytesPerSec: 54.9799\n"
                           "BytesPerReq: 2048\n"
                           "DurationPerReq: 123.45\n"
                           "BusyWorkers: 3\n"
                           "GracefulWorkers: 0\n"
                           "IdleWorkers: 4\n"
                           "Scoreboard: _WK_G_..__SR\n");
}

Test(status, auto_matches_apache_for_event)
{
    struct scoreboard *sb = event_board();
    struct status_sys sys = {.now = T0, .load = {-1, -1, -1}};

    /* no Host and no ServerName; no CPU figures; no uptime yet (no rates) and no request (no BytesPerReq nor
     * DurationPerReq); the slot finishing on its own is graceful, not busy; Busy/Idle once, as Apache 2.4.71
     */
    char *body = render(NULL, sb, STATUS_AUTO, &sys, NULL);
    cr_assert_str_eq(body, "localhost\n"
                           "ServerVersion: httpd/0.1.0\n"
                           "ServerMPM: event\n" BUILT "CurrentTime: Tuesday, 14-Nov-2023 22:13:20 UTC\n"
                           "RestartTime: Tuesday, 14-Nov-2023 22:13:20 UTC\n"
                           "ParentServerConfigGeneration: 1\n"
                           "ParentServerMPMGeneration: 0\n"
                           "ServerUptimeSeconds: 0\n"
                           "ServerUptime:\n"
                           "Load1: -1.00\n"
                           "Load5: -1.00\n"
                           "Load15: -1.00\n"
                           "Total Accesses: 0\n"
                           "Total kBytes: 0\n"
                           "Total Duration: 0\n"
                           "Uptime: 0\n"
                           "BusyWorkers: 0\n"
                           "GracefulWorkers: 1\n"
                           "IdleWorkers: 1\n"
                           "Processes: 3\n"
                           "Stopping: 1\n"
                           "ConnsTotal: 8\n"
                           "ConnsAsyncWaitIO: 0\n"
                           "ConnsAsyncWriting: 4\n"
                           "ConnsAsyncKeepAlive: 4\n"
                           "ConnsAsyncClosing: 0\n"
                           "Scoreboard: _G_\n");
}

Test(status, idle_counts_only_the_current_generation)
{
    struct scoreboard *sb = new_board(3, 1, "prefork", 0, 1, 3);
    struct status_sys sys = {.now = T0 + 10, .load = {0, 0, 0}};
    atomic_store(&sb->generation, 2);
    set_child(sb, 0, 300, 2, 0, 0, 0); /* current generation, idle */
    set_slot(sb, 0, 0, SB_READY, 0, 0);
    set_child(sb, 1, 301, 1, 0, 0, 0); /* an older generation: its idle worker is not offered */
    set_slot(sb, 1, 0, SB_READY, 0, 0);
    set_child(sb, 2, 302, 1, 0, 0, 0); /* an older generation still busy: busy all the same */
    set_slot(sb, 2, 0, SB_WRITE, 0, 0);
    char *body = render("h", sb, STATUS_AUTO, &sys, NULL);
    cr_assert(strstr(body, "\nBusyWorkers: 1\nGracefulWorkers: 0\nIdleWorkers: 1\nScoreboard: __W\n") != NULL,
              "%s", body);
    cr_assert(strstr(body, "\nParentServerMPMGeneration: 2\n") != NULL);
    cr_assert_null(strstr(body, "Processes:"), "Processes is event's (is_async) only, as Apache");
}

/* The keys of ?auto under each kind of model, every optional one present (uptime, requests, CPU time), as
 * Apache 2.4's mod_status prints them (tests/status_expect.h). */
Test(status, auto_keys_in_apache_order_per_model)
{
    struct {
        const char *mpm;
        int async, rows, threads;
    } models[] = {{"prefork", 0, 4, 1}, {"worker", 0, 2, 4}, {"event", 1, 3, 1}};
    for (size_t m = 0; m < sizeof(models) / sizeof(models[0]); m++) {
        struct scoreboard *sb = new_board(models[m].rows, models[m].threads, models[m].mpm, models[m].async,
                                          models[m].threads, models[m].rows);
        set_child(sb, 0, 400, 0, 0, 2, 1);
        set_slot(sb, 0, 0, SB_WRITE, 7, 9000);
        set_duration(sb, 0, 0, 21);
        struct status_sys sys = worker_sys();
        char *body = render("h", sb, STATUS_AUTO, &sys, NULL);

        const char *want[64];
        int n = apache_auto_expected(want, 1, 1, 1, models[m].async);

        char *save = NULL, *line = strtok_r(body, "\n", &save);
        cr_assert_str_eq(line, "h", "%s: the name first", models[m].mpm);
        int k = 0;
        for (line = strtok_r(NULL, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), k++) {
            char *colon = strstr(line, ": ");
            cr_assert(colon != NULL && k < n, "%s: line %d \"%s\"", models[m].mpm, k, line);
            *colon = '\0';
            cr_assert_str_eq(line, want[k], "%s: key %d is \"%s\", Apache's is \"%s\"", models[m].mpm, k,
                             line, want[k]);
        }
        cr_assert_eq(k, n, "%s: %d keys, Apache prints %d", models[m].mpm, k, n);
    }
}

/* A prefork child of the previous generation finishing its request after a graceful restart, as Apache's
 * own ?auto showed it: "BusyWorkers: 1 / GracefulWorkers: 1 / IdleWorkers: 4 / Scoreboard: __W_G_". */
Test(status, graceful_workers_apart_from_busy)
{
    struct scoreboard *sb = new_board(6, 1, "prefork", 0, 1, 6);
    struct status_sys sys = {.now = T0 + 10, .load = {0, 0, 0}};
    atomic_store(&sb->generation, 1);
    const char states[] = "__W_G_";
    for (int i = 0; i < 6; i++) {
        set_child(sb, i, 500 + i, i == 4 ? 0 : 1, 0, 0, 0);
        set_slot(sb, i, 0, states[i], 1, 100);
    }
    char *body = render("h", sb, STATUS_AUTO, &sys, NULL);
    cr_assert(strstr(body, "\nBusyWorkers: 1\nGracefulWorkers: 1\nIdleWorkers: 4\nScoreboard: __W_G_\n") !=
                  NULL,
              "%s", body);
    body = render("h", sb, STATUS_HTML, &sys, NULL);
    cr_assert(strstr(body,
                     "<dt>1 requests currently being processed, 1 workers gracefully restarting, 4 idle "
                     "workers</dt>") != NULL,
              "%s", body);
    /* a leaving child's slots are not counted at all, as Apache */
    atomic_store(&scoreboard_child(sb, 4)->quitting, SB_QUIT_RESTART);
    body = render("h", sb, STATUS_AUTO, &sys, NULL);
    cr_assert(strstr(body, "\nBusyWorkers: 1\nGracefulWorkers: 0\nIdleWorkers: 4\n") != NULL, "%s", body);
}

/* Total Duration sums the milliseconds of every slot, DurationPerReq divides it in single precision. */
Test(status, durations)
{
    struct scoreboard *sb = new_board(2, 2, "worker", 0, 2, 2);
    struct status_sys sys = {.now = T0 + 3, .load = {0, 0, 0}};
    set_child(sb, 0, 600, 0, 0, 0, 0);
    set_slot(sb, 0, 0, SB_READY, 2, 0);
    set_slot(sb, 0, 1, SB_READY, 1, 0);
    set_slot(sb, 1, 1, SB_DEAD, 4, 0);
    /* as end_request() accounts them */
    scoreboard_request_done(scoreboard_worker(sb, 0, 0), 0, 0);
    set_duration(sb, 0, 0, 1000);
    scoreboard_request_done(scoreboard_worker(sb, 0, 1), 0, 250);
    set_duration(sb, 1, 1, 4);
    /* 9 requests, 1254 ms */
    char *body = render("h", sb, STATUS_AUTO, &sys, NULL);
    cr_assert(strstr(body, "\nTotal Accesses: 9\nTotal kBytes: 0\nTotal Duration: 1254\n") != NULL, "%s",
              body);
    cr_assert(strstr(body, "\nBytesPerReq: 0\nDurationPerReq: 139.333\n") != NULL, "%s", body);

    body = render("h", sb, STATUS_JSON, &sys, NULL);
    struct jval *v = jparse(body);
    cr_assert_not_null(v, "%s", body);
    cr_assert_eq(jnum(v, "total_duration_ms"), 1254);
    cr_assert_float_eq(jnum(v, "duration_per_req_ms"), 1254.0 / 9, 1e-3);
    cr_assert_eq(jnum(v, "children.0.duration_ms"), 1250);
    cr_assert_eq(jnum(v, "children.0.slots.1.duration_ms"), 250);
    jfree(v);

    body = render("h", sb, STATUS_HTML, &sys, NULL);
    cr_assert(strstr(body, " - Total Duration: 1254</dt>") != NULL, "%s", body);
    cr_assert(strstr(body, "0 B/request - 139 ms/request</dt>") != NULL, "%s", body);
}

/* Without a description in the header (no supervision wrote one): the whole board, and the model unknown. */
Test(status, board_without_description)
{
    struct scoreboard *sb = new_board(3, 2, NULL, 0, 0, 0);
    struct status_sys sys = {.now = T0, .load = {0, 0, 0}};
    char *body = render("h", sb, STATUS_AUTO, &sys, NULL);
    cr_assert(strstr(body, "\nServerMPM: unknown\n") != NULL, "%s", body);
    cr_assert(strstr(body, "\nScoreboard: ......\n") != NULL, "%s", body);
    cr_assert_null(strstr(body, "ConnsTotal"), "%s", body);
}

Test(status, apr_float_format)
{
    struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {1.0 / 36, ".0277778"},
        {0.5, ".5"},
        {-0.5, "-.5"},
        {7.937984, "7.93798"},
        {1536, "1536"},
        {341.3333333, "341.333"},
        {2.5, "2.5"},
        {10000, "10000"},
        {100000, "1.e+5"},
        {1234567, "1234570"},
        {15000000, "1.5e+7"},
        {0.0001, ".0001"},
        {0.00002468, "2.468e-5"},
        {1e-300, "1.e-300"},
        {999999.7, "1.e+6"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[48];
        format_apr_g(cases[i].v, buf, sizeof(buf));
        cr_assert_str_eq(buf, cases[i].want, "%.10g printed as %s, want %s", cases[i].v, buf, cases[i].want);
    }
}

/* ---- ?json ---- */

Test(status, json_worker)
{
    struct scoreboard *sb = worker_board();
    struct status_sys sys = worker_sys();
    struct request *r;
    char *body = render("www.example.com", sb, STATUS_JSON, &sys, &r);

    cr_assert_str_eq(r->content_type, "application/json");
    struct jval *v = jparse(body);
    cr_assert_not_null(v, "invalid JSON: %s", body);
    cr_assert_str_eq(jstr(v, "server_name"), "www.example.com");
    cr_assert_str_eq(jstr(v, "server_version"), "httpd/0.1.0");
    cr_assert_str_eq(jstr(v, "server_mpm"), "worker");
    cr_assert_eq(jnum(v, "current_time"), T0 + 3725);
    cr_assert_eq(jnum(v, "restart_time"), T0);
    cr_assert_eq(jnum(v, "config_generation"), 2);
    cr_assert_eq(jnum(v, "mpm_generation"), 1);
    cr_assert_eq(jnum(v, "uptime"), 3725);
    cr_assert_eq(jnum(v, "load.0"), 0.5);
    cr_assert_eq(jnum(v, "load.2"), 1);
    cr_assert_eq(jnum(v, "cpu.user"), 1.5);
    cr_assert_eq(jnum(v, "cpu.children_system"), 0.5);
    cr_assert_float_eq(jnum(v, "cpu.load"), 300.0 / 3725, 1e-6);
    cr_assert_eq(jnum(v, "total_accesses"), 100);
    cr_assert_eq(jnum(v, "total_kbytes"), 200);
    cr_assert_eq(jnum(v, "total_bytes"), 204800);
    cr_assert_float_eq(jnum(v, "req_per_sec"), 100.0 / 3725, 1e-6);
    cr_assert_float_eq(jnum(v, "bytes_per_sec"), 204800.0 / 3725, 1e-3);
    cr_assert_eq(jnum(v, "bytes_per_req"), 2048);
    cr_assert_eq(jnum(v, "total_duration_ms"), 12345);
    cr_assert_float_eq(jnum(v, "duration_per_req_ms"), 123.45, 1e-4);
    cr_assert_str_eq(jstr(v, "server_built"), __DATE__ " " __TIME__);
    cr_assert_eq(jnum(v, "busy_workers"), 3);
    cr_assert_eq(jnum(v, "graceful_workers"), 0);
    cr_assert_eq(jnum(v, "idle_workers"), 4);
    cr_assert_eq(jnum(v, "processes"), 3);
    cr_assert_eq(jnum(v, "stopping"), 1);
    cr_assert_eq(jnum(v, "limits.server_limit"), 4);
    cr_assert_eq(jnum(v, "limits.thread_limit"), 5);
    cr_assert_eq(jnum(v, "limits.threads_per_child"), 4);
    cr_assert_eq(jnum(v, "limits.max_request_workers"), 8);
    cr_assert_null(jget(v, "connections"), "connection counts are the event MPM's");
    cr_assert_str_eq(jstr(v, "scoreboard"), "_WK_G_..__SR");

    struct jval *children = jget(v, "children");
    cr_assert(children != NULL && children->type == J_ARR && children->n == 3);
    int slots[] = {0, 1, 3}, pids[] = {100, 101, 103}, gens[] = {1, 0, 1}, quitting[] = {0, 1, 0};
    int accesses[] = {55, 25, 5}, busy[] = {2, 0, 1}, graceful[] = {0, 1, 0}, idle[] = {2, 1, 2};
    int durations[] = {12000, 300, 0};
    const char *workers[] = {"_WK_", "G_..", "__SR"};
    for (int i = 0; i < 3; i++) {
        char path[64];
#define CHILD(key) (snprintf(path, sizeof(path), "children.%d.%s", i, key), path)
        cr_assert_eq(jnum(v, CHILD("slot")), slots[i]);
        cr_assert_eq(jnum(v, CHILD("pid")), pids[i]);
        cr_assert_eq(jnum(v, CHILD("generation")), gens[i]);
        cr_assert_eq(jbool(v, CHILD("old_generation")), gens[i] != 1);
        cr_assert_eq(jbool(v, CHILD("quitting")), quitting[i]);
        cr_assert_eq(jnum(v, CHILD("accesses")), accesses[i]);
        cr_assert_eq(jnum(v, CHILD("bytes")), accesses[i] * 2048);
        cr_assert_eq(jnum(v, CHILD("duration_ms")), durations[i]);
        cr_assert_eq(jnum(v, CHILD("busy")), busy[i]);
        cr_assert_eq(jnum(v, CHILD("graceful")), graceful[i]);
        cr_assert_eq(jnum(v, CHILD("idle")), idle[i]);
        cr_assert_str_eq(jstr(v, CHILD("workers")), workers[i]);
        struct jval *sl = jget(v, CHILD("slots"));
        cr_assert(sl != NULL && sl->type == J_ARR && sl->n == 4, "child %d: 4 slots", i);
#undef CHILD
    }
    cr_assert_str_eq(jstr(v, "children.0.slots.1.state"), "W");
    cr_assert_eq(jnum(v, "children.0.slots.1.accesses"), 10);
    cr_assert_eq(jnum(v, "children.0.slots.1.bytes"), 20480);
    cr_assert_eq(jnum(v, "children.0.slots.1.duration_ms"), 2000);
    cr_assert_eq(jnum(v, "children.0.slots.1.connections"), 0);
    cr_assert_eq(jnum(v, "children.0.slots.1.last_used"), 0);
    jfree(v);
}

Test(status, json_event_connections)
{
    struct scoreboard *sb = event_board();
    struct status_sys sys = {.now = T0, .load = {-1, -1, -1}};
    char *body = render(NULL, sb, STATUS_JSON, &sys, NULL);

    struct jval *v = jparse(body);
    cr_assert_not_null(v, "invalid JSON: %s", body);
    cr_assert_eq(jget(v, "load")->type, J_NULL);
    cr_assert_eq(jget(v, "cpu")->type, J_NULL);
    cr_assert_eq(jnum(v, "req_per_sec"), 0);
    cr_assert_eq(jnum(v, "connections.total"), 8);
    cr_assert_eq(jnum(v, "connections.wait_io"), 0);
    cr_assert_eq(jnum(v, "connections.writing"), 4);
    cr_assert_eq(jnum(v, "connections.keepalive"), 4);
    cr_assert_eq(jnum(v, "connections.closing"), 0);
    cr_assert_eq(jnum(v, "children.0.connections.total"), 5);
    cr_assert_eq(jnum(v, "children.0.connections.writing"), 2);
    cr_assert_eq(jnum(v, "children.0.connections.keepalive"), 3);
    cr_assert_eq(jnum(v, "children.1.connections.writing"), 2);
    cr_assert(jbool(v, "children.2.quitting"));
    cr_assert_str_eq(jstr(v, "children.1.workers"), "G");
    cr_assert_eq(jnum(v, "graceful_workers"), 1);
    cr_assert_eq(jnum(v, "duration_per_req_ms"), 0);
    cr_assert_str_eq(jstr(v, "scoreboard"), "_G_");
    jfree(v);
}

Test(status, json_escapes_strings)
{
    struct scoreboard *sb = event_board();
    struct status_sys sys = {.now = T0, .load = {-1, -1, -1}};
    const char *name = "a\"b\\c\x01\x7f\xe9</d";
    srv.server_name = (char *)name;
    char *body = render(NULL, sb, STATUS_JSON, &sys, NULL);

    for (const unsigned char *u = (const unsigned char *)body; *u; u++)
        cr_assert((*u >= 0x20 && *u < 0x7f) || *u == '\n', "byte 0x%02x in the JSON", *u);
    struct jval *v = jparse(body);
    cr_assert_not_null(v, "invalid JSON: %s", body);
    cr_assert_str_eq(jstr(v, "server_name"), name);
    jfree(v);
}

/* A large scoreboard, every slot busy with big counters: the buffer grows many times and stays valid. */
Test(status, json_large_scoreboard)
{
    enum { ROWS = 20, THREADS = 64 };
    struct scoreboard *sb = new_board(ROWS, THREADS, "worker", 0, THREADS, ROWS);
    struct status_sys sys = {.now = T0 + 1, .load = {0, 0, 0}};
    for (int i = 0; i < ROWS; i++) {
        set_child(sb, i, 1000 + i, 0, 0, 0, 0);
        for (int t = 0; t < THREADS; t++)
            set_slot(sb, i, t, "RWK_"[t % 4], UINT64_C(1) << 40, UINT64_C(1) << 50);
    }
    char *body = render("h", sb, STATUS_JSON, &sys, NULL);
    struct jval *v = jparse(body);
    cr_assert_not_null(v, "invalid JSON of %zu bytes", strlen(body));
    cr_assert_eq(jget(v, "children")->n, ROWS);
    cr_assert_eq(strlen(jstr(v, "scoreboard")), ROWS * THREADS);
    cr_assert_eq(jnum(v, "busy_workers"), ROWS * THREADS * 3 / 4);
    cr_assert_eq(jnum(v, "idle_workers"), ROWS * THREADS / 4);
    cr_assert_eq(jnum(v, "total_accesses"), (double)ROWS * THREADS * (double)(UINT64_C(1) << 40));
    cr_assert_eq(jnum(v, "children.19.slots.63.bytes"), (double)(UINT64_C(1) << 50));
    jfree(v);
}

/* The Host names the page only when it is a plain name or address: it could pose as a key of ?auto. */
Test(status, name_from_host_or_server_name)
{
    struct {
        const char *host;
        const char *want;
    } cases[] = {
        {"www.example.com:8080", "www.example.com"},
        {"Example-1.org", "Example-1.org"},
        {"[::1]:8080", "[::1]"},
        {"127.0.0.1", "127.0.0.1"},
        {"Total Accesses: 5", "srv.example"},
        {"a b", "srv.example"},
        {"[::1", "srv.example"},
        {":80", "srv.example"},
        {"x\xe9", "srv.example"},
        {"", "srv.example"},
        {NULL, "srv.example"},
    };
    srv.server_name = "srv.example";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct request *r = new_request(cases[i].host, NULL);
        cr_assert_str_eq(page_host(r), cases[i].want, "Host %s", cases[i].host ? cases[i].host : "(none)");
    }
}

/* ---- HTML ---- */

Test(status, html_page)
{
    struct scoreboard *sb = worker_board();
    struct status_sys sys = worker_sys();
    struct request *r;
    srv.server_name = "<x&y>";
    char *body = render(NULL, sb, STATUS_HTML, &sys, &r);

    cr_assert_str_eq(r->content_type, "text/html; charset=ISO-8859-1");
    const char *want[] = {
        "<!DOCTYPE html>",
        "<h1>Server Status for &lt;x&amp;y&gt;</h1>",
        "<dt>Server Version: httpd/0.1.0</dt>",
        "<dt>Server MPM: worker</dt>",
        "<dt>Current Time: Tuesday, 14-Nov-2023 23:15:25 UTC</dt>",
        "<dt>Parent Server MPM Generation: 1</dt>",
        "<dt>Server uptime:  1 hour 2 minutes 5 seconds</dt>",
        "<dt>Server load: 0.50 0.25 1.00</dt>",
        "<dt>Server Built: " __DATE__ " " __TIME__ "</dt>",
        "<dt>Total accesses: 100 - Total Traffic: 200.0 kB - Total Duration: 12345</dt>",
        "<dt>CPU Usage: u1.50 s0.25 cu0.75 cs0.50 - 0.0805% CPU load</dt>",
        "<dt>0.0268 requests/sec - 54 B/second - 2048 B/request - 123 ms/request</dt>",
        "<dt>3 requests currently being processed, 0 workers gracefully restarting, 4 idle workers</dt>",
        "<a href=\"?auto\">",
        "<a href=\"?json\">",
        "<a href=\"?refresh=5\">",
        "<td>1</td><td>101</td><td>0 (old gen)</td><td>yes</td><td>25</td>",
        "<pre>_WK_G_..__SR</pre>",
        "<tr><td><b>2-0</b></td><td>-</td><td>0</td><td>15</td><td>.</td><td>-</td><td>45</td><td>0.03</td></"
        "tr>",
        "<td>1</td><td>101</td><td>0 (old gen)</td><td>yes</td><td>25</td><td>50.0 "
        "kB</td><td>0</td><td>1</td><td>1</td>",
        "</body></html>\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert(strstr(body, want[i]) != NULL, "no %s in\n%s", want[i], body);
    cr_assert_null(strstr(body, "<x&y>"), "the name is not escaped");
}

Test(status, plain_numbers)
{
    struct {
        double v;
        const char *want;
    } cases[] = {
        {0, "0"},
        {3260, "3260"},
        {3264.7, "3265"},
        {123.45, "123"},
        {99.4, "99.4"},
        {99.96, "100"},
        {42.5, "42.5"},
        {9.996, "10"},
        {1.5, "1.5"},
        {0.5, "0.5"},
        {0.0714286, "0.0714"},
        {1.0 / 36, "0.0278"},
        {0.00001, "0.00001"},
        {1e-9, "0"},
        {-3, "0"},
        {1e15, "1000000000000000"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pbuf b = {.pool = test_pool};
        put_plain(&b, cases[i].v);
        cr_assert(!b.failed);
        cr_assert_str_eq(b.p, cases[i].want, "%g printed as %s, want %s", cases[i].v, b.p, cases[i].want);
    }
    cr_assert(has_exponent("3.26e+03 requests") && has_exponent("x 1e-05") && !has_exponent("Keep-alive e+"));
}

/* A busy server: the rates as people read them, never in exponent form, and the page's other forms linked. */
Test(status, html_plain_numbers_and_links)
{
    struct scoreboard *sb = new_board(2, 1, "event", 1, 1, 2);
    struct status_sys sys = {.now = T0 + 100, .load = {12.5, 3, 0.01}, .have_cpu = 1, .cpu_user = 1500};
    set_child(sb, 0, 700, 0, 0, 3, 1);
    /* 3260 requests a second for 100 s, 1.2 MB a second, 1.5 ms each */
    set_slot(sb, 0, 0, SB_READY, 326000, 125829120);
    set_duration(sb, 0, 0, 489000);
    char *body = render("h", sb, STATUS_HTML, &sys, NULL);
    const char *want[] = {
        "<dt>3260 requests/sec - 1.2 MB/second - 385 B/request - 1.5 ms/request</dt>",
        "<dt>CPU Usage: u1500.00 s0.00 cu0.00 cs0.00 - 1500% CPU load</dt>",
        "<a href=\"?auto\">?auto</a>",
        "<a href=\"?json\">?json</a>",
        "<a href=\"?refresh=5\">",
        "<dt>Total accesses: 326000 - Total Traffic: 120.0 MB - Total Duration: 489000</dt>",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_assert(strstr(body, want[i]) != NULL, "no %s in\n%s", want[i], body);
    cr_assert_not(has_exponent(body), "a number in exponent form:\n%s", body);
    /* ?auto keeps APR's %g, as Apache */
    body = render("h", sb, STATUS_AUTO, &sys, NULL);
    cr_assert(strstr(body, "\nReqPerSec: 3260\nBytesPerSec: 1258290\nBytesPerReq: 385.979\n"
                           "DurationPerReq: 1.5\n") != NULL,
              "%s", body);
}

Test(status, html_scoreboard_lines_of_64)
{
    struct scoreboard *sb = new_board(2, 40, "worker", 0, 40, 2);
    struct status_sys sys = {.now = T0, .load = {-1, -1, -1}};
    char *body = render("h", sb, STATUS_HTML, &sys, NULL);
    /* 80 open slots: a line of 64, then 16 */
    char want[128] = "<pre>";
    memset(want + 5, '.', 64);
    strcpy(want + 69, "\n................</pre>");
    cr_assert(strstr(body, want) != NULL, "%s", body);
    cr_assert_null(strstr(body, "Server load"), "no load line when /proc/loadavg was not read");
}

/* ---- options, the handler, /proc ---- */

Test(status, query_options)
{
    cr_assert_eq(status_format_of(NULL), STATUS_HTML);
    cr_assert_eq(status_format_of(""), STATUS_HTML);
    cr_assert_eq(status_format_of("auto"), STATUS_AUTO);
    cr_assert_eq(status_format_of("refresh=5&auto"), STATUS_AUTO);
    cr_assert_eq(status_format_of("auto=1"), STATUS_AUTO);
    cr_assert_eq(status_format_of("json"), STATUS_JSON);
    cr_assert_eq(status_format_of("auto&json"), STATUS_JSON);
    cr_assert_eq(status_format_of("autox"), STATUS_HTML);
    cr_assert_eq(status_format_of("xjson"), STATUS_HTML);

    struct {
        const char *query;
        const char *refresh; /* NULL: no header */
    } cases[] = {{"refresh=7", "7"},     {"auto&refresh", "10"},        {"refresh=0", "10"},
                 {"refresh=abc", "10"},  {"refresh=99999999", "86400"}, {"auto", NULL},
                 {"refreshment=3", NULL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct request *r = new_request(NULL, cases[i].query);
        cr_assert_eq(add_refresh(r), 0);
        if (cases[i].refresh == NULL) {
            cr_assert_eq(r->n_resp_headers, 0, "%s", cases[i].query);
        } else {
            cr_assert_eq(r->n_resp_headers, 1, "%s", cases[i].query);
            cr_assert_str_eq(r->resp_headers[0].name, "Refresh");
            cr_assert_str_eq(r->resp_headers[0].value, cases[i].refresh, "%s", cases[i].query);
        }
    }
}

Test(status, registered_for_get_and_head)
{
    cr_assert_eq(handler_find("server-status"), &status_handler);
    cr_assert_eq(handler_find("Server-Status"), &status_handler);
    cr_assert(status_handler.methods & HTTP_M(METHOD_GET));
    cr_assert(status_handler.methods & HTTP_M(METHOD_HEAD));
    cr_assert_not(status_handler.methods & HTTP_M(METHOD_POST));
    cr_assert_null(status_handler.resume);
}

/* The handler renders the board this process mapped, described by whoever supervises it. */
Test(status, handler_uses_the_board_of_its_process)
{
    struct errbuf err;
    struct scoreboard *sb = scoreboard_create(2, 3, &err);
    cr_assert_eq(scoreboard_current(), sb);
    describe(sb, "worker", 0, 3, 2);
    set_child(sb, 1, getpid(), 0, 0, 0, 0);
    set_slot(sb, 1, 0, SB_WRITE, 0, 0);
    srv.one_process = 1; /* no parent to read */
    struct request *r = new_request("here", "auto&refresh=2");
    cr_assert_eq(status_handler.handle(r), HANDLER_DONE);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(r->content_type, "text/plain; charset=ISO-8859-1");
    char *body = body_of(r);
    cr_assert(strncmp(body, "here\nServerVersion: httpd/0.1.0\nServerMPM: worker\n", 50) == 0, "%s", body);
    cr_assert(strstr(body, "\nBusyWorkers: 1\nGracefulWorkers: 0\nIdleWorkers: 0\nScoreboard: ...W..\n") !=
                  NULL,
              "%s", body);
    cr_assert(strstr(body, "\nCPUUser: ") != NULL, "this process's CPU times: %s", body);
    cr_assert_str_eq(r->resp_headers[0].name, "Refresh");
    scoreboard_destroy(sb);
}

Test(status, no_scoreboard_is_500)
{
    struct request *r = new_request(NULL, "auto");
    cr_assert_null(scoreboard_current());
    cr_assert_eq(status_handler.handle(r), HANDLER_DONE);
    cr_assert_eq(r->status, 500);
}

static double cpu_seconds(const struct status_sys *sys)
{
    return sys->cpu_user + sys->cpu_system;
}

Test(status, reads_proc)
{
    struct errbuf err;
    struct scoreboard *sb = scoreboard_create(2, 1, &err);
    struct status_sys none, parent_only, both;

    /* burn 150 ms of CPU so the tick counters have moved */
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    double until = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + 0.15;
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++)
            x += (unsigned long)i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    } while ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9 < until);

    status_sys_read(&none, sb, 0);
    cr_assert_not(none.have_cpu, "no process to read");
    status_sys_read(&none, sb, 1);
    cr_assert_not(none.have_cpu, "process 1 does not run this program: not our parent");
    cr_assert_leq(labs((long)(none.now - time(NULL))), 1);
    cr_assert(none.load[0] >= 0 && none.load[1] >= 0 && none.load[2] >= 0, "/proc/loadavg read");

    status_sys_read(&parent_only, sb, getpid());
    atomic_store(&scoreboard_child(sb, 0)->pid, getpid());  /* the parent in a row too: counted once */
    atomic_store(&scoreboard_child(sb, 1)->pid, 999999999); /* no such process: skipped */
    status_sys_read(&both, sb, getpid());
    cr_assert(parent_only.have_cpu && both.have_cpu);
    cr_assert_geq(cpu_seconds(&parent_only), 0.1, "%f s of CPU", cpu_seconds(&parent_only));
    cr_assert_geq(cpu_seconds(&both), cpu_seconds(&parent_only));
    cr_assert_lt(cpu_seconds(&both), cpu_seconds(&parent_only) + 0.05, "counted twice");

    /* a child in a row, no parent */
    status_sys_read(&both, sb, 0);
    cr_assert(both.have_cpu);
    cr_assert_geq(cpu_seconds(&both), 0.1);
    scoreboard_destroy(sb);
}

/* ---- balancer members ---- */

Test(status, balancer_members_in_every_format)
{
    struct scoreboard *sb = worker_board();
    struct status_sys sys = worker_sys();
    static struct proxy_worker m0 = {.shared_name = "balancer://app http://10.0.0.1:80/"},
                               m1 = {.shared_name = "balancer://app http://10.0.0.2:80/"},
                               plain = {.shared_name = "http://10.0.0.3/"};
    static struct proxy_conf pc;
    m0.next = &m1;
    m1.next = &plain;
    pc.workers = &m0;
    srv.proxy = &pc;
    struct sb_member *a = scoreboard_member(sb, m0.shared_name), *b = scoreboard_member(sb, m1.shared_name);
    scoreboard_member(sb, plain.shared_name);
    scoreboard_member(sb, "balancer://gone http://10.0.0.9/"); /* of an earlier configuration */
    atomic_store(&a->elected, 7);
    atomic_store(&a->sent, 4096);
    atomic_store(&a->rcvd, 10240);
    atomic_store(&b->busy, 2);
    atomic_store(&b->failures, 1);
    atomic_store(&b->error_until, now_ms() + 60000);

    char *body = render("h", sb, STATUS_AUTO, &sys, NULL);
    const char *want = "ProxyBalancer[0]Name: balancer://app\n"
                       "ProxyBalancer[0]Worker[0]Name: http://10.0.0.1:80/\n"
                       "ProxyBalancer[0]Worker[0]Status: Init Ok\n"
                       "ProxyBalancer[0]Worker[0]Elected: 7\n"
                       "ProxyBalancer[0]Worker[0]Busy: 0\n"
                       "ProxyBalancer[0]Worker[0]Failures: 0\n"
                       "ProxyBalancer[0]Worker[0]Sent: 4K\n"
                       "ProxyBalancer[0]Worker[0]Rcvd: 10K\n"
                       "ProxyBalancer[0]Worker[1]Name: http://10.0.0.2:80/\n"
                       "ProxyBalancer[0]Worker[1]Status: Init Err\n"
                       "ProxyBalancer[0]Worker[1]Elected: 0\n"
                       "ProxyBalancer[0]Worker[1]Busy: 2\n"
                       "ProxyBalancer[0]Worker[1]Failures: 1\n"
                       "ProxyBalancer[0]Worker[1]Sent: 0K\n"
                       "ProxyBalancer[0]Worker[1]Rcvd: 0K\n";
    const char *at = strstr(body, "ProxyBalancer");
    cr_assert_not_null(at, "%s", body);
    cr_assert_str_eq(at, want, "after the Scoreboard line, nothing of other upstreams: %s", body);
    cr_assert(strstr(body, "\nScoreboard: ") < at);

    body = render("h", sb, STATUS_JSON, &sys, NULL);
    struct jval *v = jparse(body);
    cr_assert_not_null(v, "%s", body);
    cr_assert_str_eq(jstr(v, "proxy_balancers.0.name"), "balancer://app");
    cr_assert_str_eq(jstr(v, "proxy_balancers.0.members.1.url"), "http://10.0.0.2:80/");
    cr_assert_str_eq(jstr(v, "proxy_balancers.0.members.0.state"), "ok");
    cr_assert_str_eq(jstr(v, "proxy_balancers.0.members.1.state"), "error");
    cr_assert_eq(jnum(v, "proxy_balancers.0.members.0.elected"), 7);
    cr_assert_eq(jnum(v, "proxy_balancers.0.members.0.rcvd_bytes"), 10240);
    cr_assert_eq(jnum(v, "proxy_balancers.0.members.1.busy"), 2);
    cr_assert_null(jget(v, "proxy_balancers.1"));
    jfree(v);

    body = render("h", sb, STATUS_HTML, &sys, NULL);
    cr_assert(strstr(body, "<h2>Proxy LoadBalancer Status for balancer://app</h2>") != NULL, "%s", body);
    cr_assert(strstr(body, "<tr><td>http://10.0.0.2:80/</td><td>Err</td><td>0</td><td>2</td><td>1</td>") !=
                  NULL,
              "%s", body);
    cr_assert(strstr(body, "10.0.0.9") == NULL && strstr(body, "10.0.0.3") == NULL);
    srv.proxy = NULL;
}
