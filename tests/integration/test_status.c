/*
 * /server-status through the real server, under every MPM. `?auto` is read line by line and checked key by
 * key: Apache 2.4's key set and order (Debian's apache2 2.4 under each MPM), each value's type and format
 * (APR floats without a leading zero), the figures against each other (rates against totals, DurationPerReq
 * against Total Duration, ServerUptime against ServerUptimeSeconds), Total Accesses growing by exactly the
 * requests made, Total Duration by at least the time /delay requests took, the Scoreboard's length and
 * characters. `?json` is parsed with a strict parser and its per-child rows checked against the totals and
 * the server's real child processes. The HTML page names the MPM, links ?auto, ?json and ?refresh=5, and
 * writes no number in exponent form; methods and ?refresh behave. ?view=live is the live page's constant,
 * self-contained bytes. Idle-server maintenance (prefork, worker)
 * is watched through the count of '_' and of live slots in the Scoreboard.
 *
 * The Scoreboard has MaxRequestWorkers characters under prefork and worker and one per StartServers child
 * under event (slots beyond those are printed only while in use), so each MPM gets limits of known size.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../status_expect.h"
#include "harness.h"

#define LOCATIONS                                                                                            \
    "<Location /server-status>\n  SetHandler server-status\n</Location>\n"                                   \
    "<Location /delay>\n  SetHandler delay\n</Location>\n"
#define AUTO_REQ    "GET /server-status?auto HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define JSON_REQ    "GET /server-status?json HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define PAGE_REQ    "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
#define AUTO_TYPE   "text/plain; charset=ISO-8859-1"
#define STATE_CHARS "_SRWKCGLDI."
#define BUSY_CHARS  "RWKCLD" /* busy slots; 'G' (finishing) is counted apart, as GracefulWorkers */

/* Limits of known size per MPM: the Scoreboard length, the worker slots per child, the children. */
struct sizing {
    const char *conf;
    int board_len;
    int threads;
    int children;
};

static struct sizing sizing_for(const char *mpm)
{
    if (strcmp(mpm, "worker") == 0)
        return (struct sizing){LOCATIONS "StartServers 2\nServerLimit 4\nThreadLimit 8\nThreadsPerChild 4\n"
                                         "MaxRequestWorkers 12\nMinSpareThreads 4\nMaxSpareThreads 8\n",
                               12, 4, 2};
    if (strcmp(mpm, "event") == 0)
        return (struct sizing){LOCATIONS "StartServers 2\n", 2, 1, 2};
    return (struct sizing){LOCATIONS "StartServers 3\nMinSpareServers 2\nMaxSpareServers 5\n"
                                     "MaxRequestWorkers 6\nServerLimit 8\n",
                           6, 1, 3};
}

/* The server of mpm sized by sizing_for(), once a second has passed (Uptime and the rates are then shown). */
static struct srv *start_sized(const char *mpm)
{
    struct srv *s = server_start(mpm, sizing_for(mpm).conf);
    sleep_ms(1100);
    return s;
}

/* The response to raw on c, whose status must be 200 and Content-Type `type`. */
static struct resp *get_typed(struct conn *c, const char *raw, const char *type)
{
    struct resp *r = exchange(c, raw);
    const char *got = resp_get(r, "Content-Type");
    hassert(r->status == 200, "%.*s: status %d", (int)strcspn(raw, "\r"), raw, r->status);
    hassert(got != NULL && strcmp(got, type) == 0, "%.*s: Content-Type %s", (int)strcspn(raw, "\r"), raw,
            got ? got : "(none)");
    return r;
}

/* ---- ?auto ---- */

#define MAX_KEYS 64

/* The ?auto body: the server name line, then "Key: value" lines in order (a key may come twice). */
struct auto_page {
    char *name;
    int n;
    char *keys[MAX_KEYS], *values[MAX_KEYS];
    char *text;
};

static void auto_free(struct auto_page *a)
{
    free(a->text);
    free(a);
}

static struct auto_page *auto_parse(const char *body, size_t len)
{
    struct auto_page *a = calloc(1, sizeof(*a));
    hassert(a != NULL, "calloc() failed");
    a->text = strndup(body, len);
    hassert(len > 0 && body[len - 1] == '\n', "?auto does not end with a newline:\n%s", a->text);
    char *save = NULL, *line = strtok_r(a->text, "\n", &save);
    hassert(line != NULL && strchr(line, ':') == NULL, "first line is not the server name:\n%s", body);
    a->name = line;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        char *colon = strstr(line, ":");
        hassert(colon != NULL, "line without a key: \"%s\"", line);
        hassert(a->n < MAX_KEYS, "too many lines");
        *colon = '\0';
        a->keys[a->n] = line;
        a->values[a->n] = colon[1] == ' ' ? colon + 2 : colon + 1;
        hassert(colon[1] == ' ' || colon[1] == '\0', "no space after \"%s:\"", line);
        a->n++;
    }
    return a;
}

/* The value of the nth (0-based) occurrence of key, or NULL. */
static const char *auto_get_nth(const struct auto_page *a, const char *key, int nth)
{
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->keys[i], key) == 0 && nth-- == 0)
            return a->values[i];
    return NULL;
}

static const char *auto_get(const struct auto_page *a, const char *key)
{
    const char *v = auto_get_nth(a, key, 0);
    hassert(v != NULL, "no \"%s\" key in ?auto", key);
    return v;
}

static long long auto_int(const struct auto_page *a, const char *key)
{
    const char *v = auto_get(a, key);
    hassert(*v != '\0' && strspn(v, "0123456789") == strlen(v), "%s: \"%s\" is not an unsigned integer", key,
            v);
    return strtoll(v, NULL, 10);
}

/* A float as APR's %g prints it: [-]digits[.digits][e(+|-)digits], no leading "0." ("0" alone is zero). */
static double auto_float(const struct auto_page *a, const char *key)
{
    const char *v = auto_get(a, key), *p = v;
    int digits = 0;
    if (*p == '-')
        p++;
    hassert(!(p[0] == '0' && p[1] != '\0'), "%s: \"%s\" has a leading zero (APR prints \".5\")", key, v);
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            digits++;
    if (digits > 0 && *p == 'e' && (p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2]))
        for (p += 2; isdigit((unsigned char)*p); p++)
            ;
    hassert(digits > 0 && *p == '\0', "%s: \"%s\" is not an APR float", key, v);
    return strtod(v, NULL);
}

/* Seconds written as " 1 hour 2 minutes 5 seconds". */
static long uptime_words(const char *text)
{
    long total = 0, n;
    char unit[16];
    int used;
    for (const char *p = text; *p != '\0'; p += used) {
        hassert(sscanf(p, " %ld %15s%n", &n, unit, &used) == 2, "ServerUptime \"%s\"", text);
        const char *units[] = {"day", "hour", "minute", "second"};
        long mult[] = {86400, 3600, 60, 1};
        int k;
        for (k = 0; k < 4; k++)
            if (strncmp(unit, units[k], strlen(units[k])) == 0)
                break;
        hassert(k < 4 && n > 0, "ServerUptime \"%s\": bad part", text);
        hassert(strcmp(unit + strlen(units[k]), n == 1 ? "" : "s") == 0, "ServerUptime \"%s\": plural", text);
        total += n * mult[k];
    }
    return total;
}

static void check_time(const struct auto_page *a, const char *key)
{
    const char *v = auto_get(a, key);
    char wday[16], mon[8], zone[16];
    int d, y, h, m, s, used = 0;
    hassert(sscanf(v, "%15[A-Za-z], %2d-%3[A-Za-z]-%4d %2d:%2d:%2d %15s%n", wday, &d, mon, &y, &h, &m, &s,
                   zone, &used) == 8 &&
                used == (int)strlen(v) && strstr("SundayMondayTuesdayWednesdayThursdayFridaySaturday", wday),
            "%s: \"%s\" is not like \"Tuesday, 14-Nov-2023 22:13:20 UTC\"", key, v);
}

static void check_load(const struct auto_page *a, const char *key)
{
    const char *v = auto_get(a, key), *dot = strchr(v, '.');
    hassert(dot != NULL && strlen(dot) == 3 && isdigit((unsigned char)dot[1]) &&
                isdigit((unsigned char)dot[2]) && strtod(v, NULL) >= 0,
            "%s: \"%s\" is not like 0.52", key, v);
}

static int count_chars(const char *s, const char *set)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += strchr(set, *s) != NULL;
    return n;
}

/* Every key of a fresh server's ?auto, in Apache's order (as Debian's apache2 2.4 prints it under each MPM),
 * with its type and its relations to the others. */
static void check_auto(const struct auto_page *a, const char *mpm, const struct sizing *z)
{
    int event = strcmp(mpm, "event") == 0;
    long long acc = auto_int(a, "Total Accesses"), kb = auto_int(a, "Total kBytes");
    long long up = auto_int(a, "Uptime"), ms = auto_int(a, "Total Duration");

    /* the keys and their order; CPULoad only when some CPU time was used, BytesPerReq and DurationPerReq once
     * a request was */
    const char *order[MAX_KEYS];
    hassert(up >= 1, "the test waits a second: Uptime %lld", up);
    int n = apache_auto_expected(order, auto_get_nth(a, "CPULoad", 0) != NULL, 1, acc > 0, event);
    hassert(a->n == n, "%d keys, expected %d:\n%s", a->n, n, a->text);
    for (int i = 0; i < n; i++)
        hassert(strcmp(a->keys[i], order[i]) == 0, "key %d is \"%s\", expected \"%s\"", i, a->keys[i],
                order[i]);

    hassert(strcmp(a->name, "localhost") == 0, "server name line \"%s\"", a->name);
    hassert(strcmp(auto_get(a, "ServerVersion"), SERVER_STRING) == 0, "ServerVersion %s",
            auto_get(a, "ServerVersion"));
    hassert(strcmp(auto_get(a, "ServerMPM"), mpm) == 0, "ServerMPM %s", auto_get(a, "ServerMPM"));
    hassert(strlen(auto_get(a, "Server Built")) == strlen("Nov 12 2026 08:58:41"), "Server Built %s",
            auto_get(a, "Server Built"));
    check_time(a, "CurrentTime");
    check_time(a, "RestartTime");
    hassert(auto_int(a, "ParentServerConfigGeneration") == 1, "config generation of a fresh server");
    hassert(auto_int(a, "ParentServerMPMGeneration") == 0, "MPM generation of a fresh server");
    hassert(auto_int(a, "ServerUptimeSeconds") == up, "ServerUptimeSeconds differs from Uptime");
    hassert(uptime_words(auto_get(a, "ServerUptime")) == up, "ServerUptime \"%s\" is not %lld s",
            auto_get(a, "ServerUptime"), up);
    check_load(a, "Load1");
    check_load(a, "Load5");
    check_load(a, "Load15");
    double cpu = 0;
    const char *cpu_keys[] = {"CPUUser", "CPUSystem", "CPUChildrenUser", "CPUChildrenSystem"};
    for (int i = 0; i < 4; i++) {
        double v = auto_float(a, cpu_keys[i]);
        hassert(v >= 0 && v < 3600, "%s %f", cpu_keys[i], v);
        cpu += v;
    }
    if (auto_get_nth(a, "CPULoad", 0) != NULL) {
        double load = auto_float(a, "CPULoad");
        hassert(load > 0 && load <= cpu / (double)up * 100 * 1.0001 + 1e-6, "CPULoad %f for %f s in %lld s",
                load, cpu, up);
    }
    double rps = auto_float(a, "ReqPerSec"), bps = auto_float(a, "BytesPerSec");
    hassert(rps >= (double)acc / (double)up * 0.9999 && rps <= (double)acc / (double)up * 1.0001,
            "ReqPerSec %f for %lld requests in %lld s", rps, acc, up);
    hassert(bps >= 1024.0 * (double)kb / (double)up * 0.9999 &&
                bps <= 1024.0 * (double)kb / (double)up * 1.0001,
            "BytesPerSec %f for %lld kB in %lld s", bps, kb, up);
    if (acc > 0) {
        double bpr = auto_float(a, "BytesPerReq");
        hassert(bpr >= 1024.0 * (double)kb / (double)acc * 0.9999 &&
                    bpr <= 1024.0 * (double)kb / (double)acc * 1.0001,
                "BytesPerReq %f for %lld kB in %lld requests", bpr, kb, acc);
        double dpr = auto_float(a, "DurationPerReq");
        hassert(dpr >= (double)ms / (double)acc * 0.9999 && dpr <= (double)ms / (double)acc * 1.0001,
                "DurationPerReq %f for %lld ms in %lld requests", dpr, ms, acc);
    }

    const char *board = auto_get(a, "Scoreboard");
    hassert((int)strlen(board) == z->board_len, "Scoreboard \"%s\": %zu characters, expected %d", board,
            strlen(board), z->board_len);
    hassert(strspn(board, STATE_CHARS) == strlen(board), "Scoreboard \"%s\": unknown state", board);
    long long busy = auto_int(a, "BusyWorkers"), idle = auto_int(a, "IdleWorkers");
    hassert(idle <= count_chars(board, "_"), "IdleWorkers %lld, Scoreboard \"%s\"", idle, board);
    hassert(busy <= count_chars(board, BUSY_CHARS), "BusyWorkers %lld, Scoreboard \"%s\"", busy, board);
    hassert(auto_int(a, "GracefulWorkers") == 0, "GracefulWorkers %s in a fresh server",
            auto_get(a, "GracefulWorkers"));
    hassert(auto_get_nth(a, "BusyWorkers", 1) == NULL && auto_get_nth(a, "IdleWorkers", 1) == NULL,
            "BusyWorkers and IdleWorkers once, as Apache 2.4.71");
    if (!event) {
        /* the worker answering this request is busy */
        hassert(busy >= 1, "BusyWorkers %lld while serving the status request", busy);
    } else {
        hassert(auto_int(a, "Processes") == z->children, "Processes %s", auto_get(a, "Processes"));
        hassert(auto_int(a, "Stopping") == 0, "Stopping %s", auto_get(a, "Stopping"));
        long long total = auto_int(a, "ConnsTotal"), writing = auto_int(a, "ConnsAsyncWriting");
        long long keepalive = auto_int(a, "ConnsAsyncKeepAlive");
        /* this connection is open (counted as keep-alive or writing: the reactor updates the row after the
         * handler has run) */
        hassert(total >= 1, "ConnsTotal %lld while serving this connection", total);
        hassert(total == writing + keepalive, "ConnsTotal %lld != %lld writing + %lld keep-alive", total,
                writing, keepalive);
        hassert(auto_int(a, "ConnsAsyncClosing") == 0, "ConnsAsyncClosing");
        hassert(auto_int(a, "ConnsAsyncWaitIO") == 0, "ConnsAsyncWaitIO");
    }
}

static struct auto_page *get_auto(struct conn *c)
{
    struct resp *r = get_typed(c, AUTO_REQ, AUTO_TYPE);
    struct auto_page *a = auto_parse(r->body, r->body_len);
    resp_free(r);
    return a;
}

/* A fresh server, a second after its start: every key, then Total Accesses grows by exactly what was asked,
 * then an idle keep-alive connection shows (a 'K' worker, or event's ConnsAsyncKeepAlive). */
MPM_TEST(status, auto_key_by_key, .timeout = 30)
{
    enum { N = 7 };
    struct sizing z = sizing_for(mpm);
    struct srv *s = start_sized(mpm);

    /* one connection for everything counted: its requests are served and accounted one after another */
    struct conn *c = conn_open(s->port);
    struct auto_page *a0 = get_auto(c);
    check_auto(a0, mpm, &z);
    hassert(auto_int(a0, "Total Accesses") == 0, "a fresh server has served nothing:\n%s", a0->text);
    for (int i = 0; i < N; i++)
        expect_status(c, PAGE_REQ, 200);
    struct auto_page *a1 = get_auto(c);
    check_auto(a1, mpm, &z);
    long long acc0 = auto_int(a0, "Total Accesses"), acc1 = auto_int(a1, "Total Accesses");
    hassert(acc1 == acc0 + 1 + N, "Total Accesses %lld -> %lld after the status request and %d pages", acc0,
            acc1, N);
    long long kb0 = auto_int(a0, "Total kBytes"), kb1 = auto_int(a1, "Total kBytes");
    hassert(kb1 - kb0 >= N - 1 && kb1 - kb0 <= 2 * N + 2,
            "Total kBytes %lld -> %lld after %d pages of %d bytes", kb0, kb1, N, PAGE_LEN);

    /* another connection left idle in keep-alive */
    struct conn *idle = conn_open(s->port);
    expect_status(idle, PAGE_REQ, 200);
    int seen = 0;
    for (int tries = 0; tries < 10 && !seen; tries++) {
        struct auto_page *a = get_auto(c);
        if (strcmp(mpm, "event") == 0)
            seen = auto_int(a, "ConnsAsyncKeepAlive") >= 1 && auto_int(a, "ConnsTotal") >= 2;
        else
            seen = strchr(auto_get(a, "Scoreboard"), 'K') != NULL && auto_int(a, "BusyWorkers") >= 2;
        auto_free(a);
        if (!seen)
            sleep_ms(100);
    }
    hassert(seen, "an idle keep-alive connection does not show in ?auto");

    auto_free(a0);
    auto_free(a1);
    conn_close(idle);
    conn_close(c);
    server_stop(s);
}

/*
 * Request durations: three /delay?ms=300 requests on one connection add at least 900 ms to Total Duration,
 * and no more than the time that passed between the two status requests around them (every request counted
 * in between ran inside that time, one after another).
 */
MPM_TEST(status, total_duration_grows, .timeout = 30)
{
    enum { N = 3, DELAY_MS = 300 };
    struct sizing z = sizing_for(mpm);
    struct srv *s = start_sized(mpm);
    struct conn *c = conn_open(s->port);
    int64_t t0 = now_ms();
    struct auto_page *a0 = get_auto(c);
    for (int i = 0; i < N; i++) {
        expect_status(c, "GET /delay?ms=300 HTTP/1.1\r\nHost: localhost\r\n\r\n", 200);
    }
    struct auto_page *a1 = get_auto(c);
    int64_t wall = now_ms() - t0;
    check_auto(a1, mpm, &z);
    long long d0 = auto_int(a0, "Total Duration"), d1 = auto_int(a1, "Total Duration");
    hassert(d1 - d0 >= N * DELAY_MS, "Total Duration %lld -> %lld after %d requests of %d ms", d0, d1, N,
            DELAY_MS);
    /* a request's milliseconds are whole ones: each may round up by one */
    hassert(d1 - d0 <= wall + N + 1, "Total Duration %lld -> %lld in %lld ms of wall time", d0, d1,
            (long long)wall);
    hassert(auto_int(a1, "Total Accesses") == auto_int(a0, "Total Accesses") + 1 + N, "Total Accesses");
    auto_free(a0);
    auto_free(a1);
    conn_close(c);
    server_stop(s);
}

/* ---- reading ?json back ---- */

#define JSON_ASSERT(cond, ...) hassert(cond, __VA_ARGS__)
#include "../json.h"

/* ---- ?json ---- */

static int is_child_of(pid_t pid, pid_t parent)
{
    pid_t kids[64];
    return pid_in(kids, proc_children(parent, kids, 64), pid);
}

MPM_TEST(status, json_parsed, .timeout = 30)
{
    enum { N = 3 };
    struct sizing z = sizing_for(mpm);
    struct srv *s = start_sized(mpm);
    struct conn *c = conn_open(s->port);
    for (int i = 0; i < N; i++)
        expect_status(c, PAGE_REQ, 200);
    struct resp *r = get_typed(c, JSON_REQ, "application/json");
    struct jval *v = jparse(r->body);
    hassert(v != NULL && v->type == J_OBJ, "?json is not a JSON object:\n%s", r->body);

    hassert(strcmp(jstr(v, "server_name"), "localhost") == 0, "server_name");
    hassert(strcmp(jstr(v, "server_version"), SERVER_STRING) == 0, "server_version");
    hassert(strcmp(jstr(v, "server_mpm"), mpm) == 0, "server_mpm %s", jstr(v, "server_mpm"));
    hassert(jnum(v, "mpm_generation") == 0 && jnum(v, "config_generation") == 1, "generations");
    double now = (double)time(NULL), up = jnum(v, "uptime");
    hassert(jnum(v, "current_time") >= now - 5 && jnum(v, "current_time") <= now, "current_time");
    hassert(jnum(v, "current_time") - jnum(v, "restart_time") == up && up >= 1, "uptime %f", up);
    struct jval *load = jget(v, "load");
    hassert(load != NULL && load->type == J_ARR && load->n == 3, "load is not an array of 3");
    hassert(jnum(v, "cpu.user") >= 0 && jnum(v, "cpu.system") >= 0 && jnum(v, "cpu.children_user") >= 0 &&
                jnum(v, "cpu.children_system") >= 0 && jnum(v, "cpu.load") >= 0,
            "cpu figures");
    double acc = jnum(v, "total_accesses"), bytes = jnum(v, "total_bytes");
    hassert(acc == N, "total_accesses %f after %d requests on one connection", acc, N);
    hassert(bytes > N * PAGE_LEN && jnum(v, "total_kbytes") == (double)((long long)bytes / 1024), "bytes %f",
            bytes);
    /* the rates as Apache computes them, from whole kilobytes */
    double kb = jnum(v, "total_kbytes");
    hassert(jnum(v, "req_per_sec") >= acc / up * 0.9999 && jnum(v, "req_per_sec") <= acc / up * 1.0001,
            "req_per_sec %f", jnum(v, "req_per_sec"));
    hassert(jnum(v, "bytes_per_sec") >= 1024 * kb / up * 0.9999 &&
                jnum(v, "bytes_per_sec") <= 1024 * kb / up * 1.0001,
            "bytes_per_sec %f", jnum(v, "bytes_per_sec"));
    hassert(jnum(v, "bytes_per_req") >= 1024 * kb / acc * 0.9999 &&
                jnum(v, "bytes_per_req") <= 1024 * kb / acc * 1.0001,
            "bytes_per_req %f", jnum(v, "bytes_per_req"));
    hassert(jnum(v, "limits.threads_per_child") == z.threads, "threads_per_child");
    hassert(jnum(v, "limits.max_request_workers") == z.board_len, "max_request_workers");
    hassert(jnum(v, "stopping") == 0, "stopping");
    const char *board = jstr(v, "scoreboard");
    hassert((int)strlen(board) == z.board_len && strspn(board, STATE_CHARS) == strlen(board),
            "scoreboard \"%s\"", board);

    /* the children: real processes of the server, whose rows add up to the totals */
    struct jval *children = jget(v, "children");
    hassert(children != NULL && children->type == J_ARR, "children is not an array");
    hassert(children->n == z.children && jnum(v, "processes") == z.children, "%d children, %f processes",
            children->n, jnum(v, "processes"));
    double sum_acc = 0, sum_conns = 0, sum_ms = 0;
    int idle = 0, busy = 0;
    for (int i = 0; i < children->n; i++) {
        char path[64];
#define CHILD(key) (snprintf(path, sizeof(path), "children.%d.%s", i, key), path)
        pid_t pid = (pid_t)jnum(v, CHILD("pid"));
        hassert(pid > 0 && is_child_of(pid, s->pid), "child pid %d is not a child of the server %d", (int)pid,
                (int)s->pid);
        double slot = jnum(v, CHILD("slot"));
        hassert(slot >= 0 && slot < jnum(v, "limits.server_limit"), "slot %f", slot);
        hassert(jnum(v, CHILD("generation")) == 0 && !jbool(v, CHILD("old_generation")), "generation");
        hassert(!jbool(v, CHILD("quitting")), "child %d quitting", (int)pid);
        const char *workers = jstr(v, CHILD("workers"));
        hassert((int)strlen(workers) == z.threads, "workers \"%s\" of child %d", workers, (int)pid);
        struct jval *slots = jget(v, CHILD("slots"));
        hassert(slots != NULL && slots->type == J_ARR && slots->n == z.threads, "slots of child %d",
                (int)pid);
        double acc_slots = 0;
        for (int t = 0; t < slots->n; t++) {
            char sp[96];
            snprintf(sp, sizeof(sp), "children.%d.slots.%d.state", i, t);
            hassert(strlen(jstr(v, sp)) == 1 && jstr(v, sp)[0] == workers[t], "%s", sp);
            snprintf(sp, sizeof(sp), "children.%d.slots.%d.accesses", i, t);
            acc_slots += jnum(v, sp);
        }
        hassert(acc_slots == jnum(v, CHILD("accesses")), "child %d: slots add up to %f, row says %f",
                (int)pid, acc_slots, jnum(v, CHILD("accesses")));
        hassert(jnum(v, CHILD("idle")) == count_chars(workers, "_"), "idle of child %d", (int)pid);
        hassert(jnum(v, CHILD("busy")) == count_chars(workers, BUSY_CHARS), "busy of child %d", (int)pid);
        hassert(jnum(v, CHILD("graceful")) == count_chars(workers, "G"), "graceful of child %d", (int)pid);
        idle += count_chars(workers, "_");
        busy += count_chars(workers, BUSY_CHARS);
        sum_ms += jnum(v, CHILD("duration_ms"));
        sum_acc += jnum(v, CHILD("accesses"));
        if (strcmp(mpm, "event") == 0) {
            double total = jnum(v, CHILD("connections.total"));
            hassert(total == jnum(v, CHILD("connections.writing")) + jnum(v, CHILD("connections.keepalive")),
                    "connections of child %d", (int)pid);
            sum_conns += total;
        }
#undef CHILD
    }
    /* one snapshot: the totals are the children's (none has exited) */
    hassert(sum_acc == acc, "children's accesses %f, total %f", sum_acc, acc);
    hassert(sum_ms == jnum(v, "total_duration_ms"), "children's durations %f, total %f", sum_ms,
            jnum(v, "total_duration_ms"));
    hassert(jnum(v, "duration_per_req_ms") >= jnum(v, "total_duration_ms") / acc * 0.9999 &&
                jnum(v, "duration_per_req_ms") <= jnum(v, "total_duration_ms") / acc * 1.0001,
            "duration_per_req_ms %f", jnum(v, "duration_per_req_ms"));
    hassert(jnum(v, "graceful_workers") == 0, "graceful_workers");
    hassert(strlen(jstr(v, "server_built")) > 0, "server_built");
    hassert(idle == jnum(v, "idle_workers") && busy == jnum(v, "busy_workers"),
            "workers: %d idle, %d busy vs %f, %f", idle, busy, jnum(v, "idle_workers"),
            jnum(v, "busy_workers"));
    if (strcmp(mpm, "event") == 0) {
        hassert(jnum(v, "connections.total") == sum_conns && sum_conns >= 1, "connections.total %f",
                jnum(v, "connections.total"));
        hassert(jnum(v, "connections.total") ==
                    jnum(v, "connections.writing") + jnum(v, "connections.keepalive"),
                "connections");
        hassert(jnum(v, "connections.closing") == 0 && jnum(v, "connections.wait_io") == 0,
                "connections.closing, connections.wait_io");
    } else {
        hassert(jget(v, "connections") == NULL, "connections is event's");
        hassert(busy >= 1, "the worker serving this request is busy");
    }
    jfree(v);
    resp_free(r);
    conn_close(c);
    server_stop(s);
}

/* ---- the page and the methods ---- */

MPM_TEST(status, html_and_methods, .timeout = 30)
{
    struct sizing z = sizing_for(mpm);
    struct srv *s = server_start(mpm, z.conf);

    struct resp *r = request_once(s, "GET /server-status HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
    hassert(r->status == 200, "status %d", r->status);
    const char *type = resp_get(r, "Content-Type");
    hassert(type != NULL && strcmp(type, "text/html; charset=ISO-8859-1") == 0, "Content-Type %s", type);
    char *mpm_line = xasprintf("<dt>Server MPM: %s</dt>", mpm);
    const char *want[] = {"<!DOCTYPE html>", "Server Status for localhost",
                          mpm_line,          "<dt>Server Version: " SERVER_STRING "</dt>",
                          "<pre>",           "</body></html>\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        hassert(strstr(r->body, want[i]) != NULL, "no \"%s\" in the page:\n%s", want[i], r->body);
    free(mpm_line);
    resp_free(r);

    r = request_once(s, "HEAD /server-status?auto HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
    hassert(r->status == 200 && r->body_len == 0, "HEAD: status %d, %zu body bytes", r->status, r->body_len);
    hassert(resp_get(r, "Content-Length") != NULL && atoi(resp_get(r, "Content-Length")) > 100,
            "HEAD length");
    resp_free(r);

    r = request_once(s, "OPTIONS /server-status HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
    hassert(r->status == 200 && resp_get(r, "Allow") &&
                strcmp(resp_get(r, "Allow"), "GET, HEAD, OPTIONS") == 0,
            "OPTIONS: status %d", r->status);
    resp_free(r);

    r = request_once(s, "POST /server-status HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n", NULL);
    hassert(r->status == 405, "POST: status %d", r->status);
    resp_free(r);

    r = request_once(s, "GET /server-status?auto&refresh=3 HTTP/1.1\r\nHost: localhost\r\n\r\n", NULL);
    hassert(r->status == 200 && resp_get(r, "Refresh") && strcmp(resp_get(r, "Refresh"), "3") == 0,
            "?refresh=3: Refresh %s", resp_get(r, "Refresh") ? resp_get(r, "Refresh") : "(none)");
    hassert(strstr(r->body, "\nScoreboard: ") != NULL, "?auto&refresh=3 is the ?auto text");
    resp_free(r);
    server_stop(s);
}

/*
 * ?view=live: the live page, self-contained (nothing loaded from elsewhere: no src, no link, no url() or
 * @import) and the same bytes for every request (it reads everything it shows from ?json, whose path it
 * derives from its own); it charts requests/s, workers and connections and shows the scoreboard. The HTML
 * page links it. The page's script is run by tests/browser/test_status_live.py in headless Chromium.
 */
MPM_TEST(status, live_page, .timeout = 30)
{
    struct sizing z = sizing_for(mpm);
    struct srv *s = server_start(mpm, z.conf);
    struct conn *c = conn_open(s->port);
    struct resp *r = get_typed(c, "GET /server-status?view=live HTTP/1.1\r\nHost: localhost\r\n\r\n",
                               "text/html; charset=utf-8");
    const char *want[] = {"<!DOCTYPE html>",
                          "<svg id=\"rps\"",
                          "<svg id=\"workers\"",
                          "<svg id=\"conns\"",
                          "<div id=\"board\">",
                          "var url = location.pathname + '?json'",
                          "fetch(url, {cache: 'no-store'})",
                          "setTimeout(poll, INTERVAL)",
                          "</script>\n</body></html>\n"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        hassert(strstr(r->body, want[i]) != NULL, "no \"%s\" in the live page", want[i]);
    const char *never[] = {" src=", "<link", "url(", "@import", "<iframe"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        hassert(strstr(r->body, never[i]) == NULL, "\"%s\" in the live page: it must be self-contained",
                never[i]);
    char *first = strndup(r->body, r->body_len);
    size_t first_len = r->body_len;
    resp_free(r);

    /* after other requests, and with ?refresh beside it: the same bytes */
    r = get_typed(c, JSON_REQ, "application/json");
    resp_free(r);
    r = get_typed(c, "GET /server-status?refresh=5&view=live HTTP/1.1\r\nHost: localhost\r\n\r\n",
                  "text/html; charset=utf-8");
    hassert(r->body_len == first_len && memcmp(r->body, first, first_len) == 0, "the live page changed");
    resp_free(r);
    free(first);

    r = get_typed(c, "GET /server-status HTTP/1.1\r\nHost: localhost\r\n\r\n",
                  "text/html; charset=ISO-8859-1");
    hassert(strstr(r->body, "<a href=\"?view=live\">") != NULL, "the status page does not link ?view=live");
    resp_free(r);
    conn_close(c);
    server_stop(s);
}

/* The page's rate: the number before " requests/sec", which must be written plainly; -1 if there is none. */
static double page_rate(const char *page)
{
    const char *end = strstr(page, " requests/sec");
    if (end == NULL)
        return -1;
    const char *start = end;
    while (start > page && (isdigit((unsigned char)start[-1]) || start[-1] == '.'))
        start--;
    hassert(start < end && start[-1] == '>', "the rate is not a plain number: \"%.*s\"",
            (int)(end - start + 20), start - 1);
    return strtod(start, NULL);
}

/*
 * Over a thousand requests a second (HEAD requests pipelined, 99 and the page on each connection as
 * MaxKeepAliveRequests allows 100, until the page says so): the page writes the rate as a plain number, and
 * nothing in exponent form; it links ?auto, ?json and ?refresh=5, and each link answers as it should.
 */
MPM_TEST(status, html_links_and_plain_numbers, .timeout = 60)
{
    enum { BATCH = 99, MAX_MS = 20000 };
    struct sizing z = sizing_for(mpm);
    struct srv *s = server_start(mpm, z.conf);
    char *batch = NULL;
    for (int i = 0; i <= BATCH; i++) {
        const char *req = i < BATCH ? "HEAD /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                    : "GET /server-status HTTP/1.1\r\nHost: localhost\r\n\r\n";
        char *next = xasprintf("%s%s", batch ? batch : "", req);
        free(batch);
        batch = next;
    }
    int64_t until = now_ms() + MAX_MS;
    double rate = -1;
    char *page = NULL;
    int requests = 0;
    do {
        struct conn *c = conn_open(s->port);
        conn_send_str(c, batch);
        for (int i = 0; i < BATCH; i++) {
            struct resp *r = must_read(c, 1);
            hassert(r->status == 200, "HEAD: status %d", r->status);
            resp_free(r);
        }
        struct resp *r = must_read(c, 0);
        hassert(r->status == 200, "page: status %d", r->status);
        free(page);
        page = strndup(r->body, r->body_len);
        resp_free(r);
        conn_close(c);
        requests += BATCH + 1;
        rate = page_rate(page);
    } while (rate < 1000 && now_ms() < until);
    hassert(rate >= 1000, "%d requests in %d ms did not reach 1000 requests/sec (%f)", requests, MAX_MS,
            rate);
    hassert(!has_exponent(page), "a number in exponent form:\n%s", page);
    const char *links[] = {"<a href=\"?auto\">", "<a href=\"?json\">", "<a href=\"?refresh=5\">"};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
        hassert(strstr(page, links[i]) != NULL, "no %s in the page:\n%s", links[i], page);
    free(page);
    free(batch);

    /* the links, resolved against /server-status */
    struct conn *c = conn_open(s->port);
    struct resp *r = exchange(c, "GET /server-status?auto HTTP/1.1\r\nHost: localhost\r\n\r\n");
    hassert(r->status == 200 && strcmp(resp_get(r, "Content-Type"), AUTO_TYPE) == 0, "?auto");
    resp_free(r);
    r = exchange(c, JSON_REQ);
    hassert(r->status == 200 && strcmp(resp_get(r, "Content-Type"), "application/json") == 0, "?json");
    resp_free(r);
    r = exchange(c, "GET /server-status?refresh=5 HTTP/1.1\r\nHost: localhost\r\n\r\n");
    hassert(r->status == 200 && resp_get(r, "Refresh") != NULL && strcmp(resp_get(r, "Refresh"), "5") == 0,
            "?refresh=5: Refresh %s", resp_get(r, "Refresh") ? resp_get(r, "Refresh") : "(none)");
    hassert(strstr(r->body, "<!DOCTYPE html>") != NULL, "?refresh=5 is the page");
    resp_free(r);
    conn_close(c);
    server_stop(s);
}

/* ---- idle-server maintenance seen in the Scoreboard ---- */

/* The Scoreboard of a fresh ?auto on its own connection. */
static char *board_now(const struct srv *s)
{
    struct resp *r = request_once(
        s, "GET /server-status?auto HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", NULL);
    hassert(r->status == 200, "?auto: status %d", r->status);
    struct auto_page *a = auto_parse(r->body, r->body_len);
    char *board = strdup(auto_get(a, "Scoreboard"));
    auto_free(a);
    resp_free(r);
    return board;
}

/* Polls the Scoreboard until it has `live` slots in use (at least, with at_least) and `idle` '_' at least. */
static char *wait_board(const struct srv *s, int live, int at_least, int idle, int timeout_ms,
                        const char *what)
{
    int64_t until = now_ms() + timeout_ms;
    for (;;) {
        char *board = board_now(s);
        int used = (int)strlen(board) - count_chars(board, ".");
        if ((at_least ? used >= live : used == live) && count_chars(board, "_") >= idle)
            return board;
        hassert(now_ms() < until, "%s: Scoreboard \"%s\" after %d ms, wanted %s%d slots in use, %d idle",
                what, board, timeout_ms, at_least ? ">= " : "", live, idle);
        free(board);
        sleep_ms(150);
    }
}

/*
 * prefork and worker keep the idle workers between their Min and Max spare settings: too many idle at start
 * and a child is retired, a load takes the idle ones and a child is started, the load over and one goes
 * again. Each step shows in the Scoreboard's count of live slots and of '_'. (event: a fixed number of
 * children.)
 */
MPM_TEST(status, spare_maintenance_in_scoreboard, .timeout = 60)
{
    struct {
        const char *conf;
        int settled, load, grown, grown_idle;
    } c;
    if (strcmp(mpm, "worker") == 0) {
        /* 3 children x 4 threads at start, 12 idle > 8: one retires; 7 delays leave 1 of 8 idle < 4: a child
         * starts (4 more idle); the delays over, 12 idle > 8: one retires */
        c.conf = LOCATIONS "StartServers 3\nServerLimit 4\nThreadLimit 4\nThreadsPerChild 4\n"
                           "MaxRequestWorkers 16\nMinSpareThreads 4\nMaxSpareThreads 8\n";
        c.settled = 8, c.load = 7, c.grown = 12, c.grown_idle = 4;
    } else if (strcmp(mpm, "prefork") == 0) {
        /* 5 idle children > 3: down to 3; 2 delays leave 1 idle < 2: a child starts (2 idle, one of them
         * answering the status request); the delays over, 4 idle > 3: back to 3 */
        c.conf = LOCATIONS "StartServers 5\nMinSpareServers 2\nMaxSpareServers 3\nMaxRequestWorkers 6\n"
                           "ServerLimit 6\n";
        c.settled = 3, c.load = 2, c.grown = 4, c.grown_idle = 1;
    } else {
        cr_skip_test("%s keeps a fixed number of children", mpm);
    }
    struct srv *s = server_start(mpm, c.conf);

    /* the status request itself holds one worker: one '_' less than the idle ones */
    free(wait_board(s, c.settled, 0, c.settled - 1, 8000, "after the start"));

    struct conn *load[8];
    for (int i = 0; i < c.load; i++) {
        load[i] = conn_open(s->port);
        conn_send_str(load[i], "GET /delay?ms=8000 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    }
    /* the parent looks once a second and the new child must start: on a loaded machine that took more than
     * the 3.5 s of a 4 s load, so the load holds 8 s and the check waits up to 7.5 s */
    free(wait_board(s, c.grown, 1, c.grown_idle, 7500, "under load"));
    for (int i = 0; i < c.load; i++) {
        struct resp *r = must_read_within(load[i], 12000, "delay %d", i);
        hassert(r->status == 200, "delay %d: status %d", i, r->status);
        resp_free(r);
        conn_close(load[i]);
    }
    free(wait_board(s, c.settled, 0, c.settled - 1, 8000, "after the load"));
    server_stop(s);
}
