/*
 * /server-status: the scoreboard as Apache's mod_status renders it. The handler first copies the shared
 * scoreboard into a snapshot (children write it all the time, without locks), counts from the copy, then
 * prints one of three formats into a single buffer in the request pool:
 *
 *   HTML    the default page: version, MPM, times, totals, a table of child processes, the scoreboard
 *           characters and a table of the worker slots that have served something.
 *   ?auto   Apache's machine-readable text, key for key in Apache 2.4's order and value formats, so that
 *           apache_exporter, telegraf, collectd and the like read it unchanged. Floats are printed as APR's
 *           "%g" prints them: six significant digits and no zero before the point (".0277778").
 *   ?json   the same figures and, per child, its slot, pid, generation, state and worker slots.
 *
 * Counting follows mod_status. A worker slot of a live child that is not leaving is idle when READY ('_')
 * and the child belongs to the current generation, busy when in any other state but DEAD, STARTING and
 * IDLE_KILL. The Scoreboard line has a character per slot up to MaxRequestWorkers (ServerLimit rows
 * x ThreadLimit slots, leaving out the DEAD slots beyond the configured number of children or threads, as
 * Apache 2.4 does): prefork and worker print MaxRequestWorkers characters, event one per StartServers child,
 * plus any slot outside those bounds that is in use (a child of an older generation).
 *
 * Under event a child is one reactor with one slot, READY whenever it can take connections, so what it is
 * doing shows in the connection counts kept in its scoreboard row: ConnsTotal (open connections, lingering
 * closes included) and ConnsAsyncKeepAlive (idle keep-alive). The reactor serves every other connection
 * asynchronously, so those are reported as ConnsAsyncWriting; ConnsAsyncClosing is 0 because the row does
 * not count lingering closes apart.
 *
 * Beyond the scoreboard: the load average from /proc/loadavg and CPU times from /proc/PID/stat of the parent
 * (its cutime/cstime hold the children it has reaped) and of every live child. Total Duration and Server
 * Built are not printed: nothing records request durations, and a build date would make builds differ.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "handler.h"
#include "http.h"
#include "log.h"
#include "mpm.h"
#include "pool.h"
#include "process.h"
#include "scoreboard.h"
#include "server.h"
#include "status.h"
#include "util.h"

#define KBYTE         1024
#define MBYTE         1048576.0
#define GBYTE         1073741824.0
#define BOARD_LINE    64 /* scoreboard characters per line of the HTML page, as Apache */
#define TIME_FORMAT   "%A, %d-%b-%Y %H:%M:%S %Z"
#define REFRESH_DEF   10 /* ?refresh without a valid number, as Apache */
#define REFRESH_MAX   86400
#define CONTENT_HTML  "text/html; charset=ISO-8859-1"
#define CONTENT_AUTO  "text/plain; charset=ISO-8859-1"
#define CONTENT_JSON  "application/json"
#define INITIAL_SPACE 4096

/* ---- the snapshot ---- */

struct snap_slot {
    char state;
    uint64_t accesses, bytes;
    uint32_t conns;
    int64_t last_used;
};

struct snap_row {
    pid_t pid;
    int generation;
    int quitting;
    long conns, idle_conns; /* event */
    uint64_t accesses, bytes;
    int busy, idle; /* its slots: working ones, READY ones */
};

struct snap {
    const char *host;
    const char *mpm;
    int async;
    int server_limit, thread_limit;
    int threads_per_child, max_servers, max_workers;
    int generation;
    time_t start;
    long uptime;
    struct snap_row *rows;
    struct snap_slot *slots; /* server_limit x thread_limit */

    uint64_t accesses, bytes;
    int busy, idle;                 /* Apache's BusyWorkers and IdleWorkers */
    int procs, stopping;            /* live children, and those leaving */
    int busy_async, idle_async;     /* event's second BusyWorkers/IdleWorkers: any generation, G idle */
    long conns, keepalive, writing; /* event */
    char *board;                    /* the Scoreboard characters */
    size_t board_len;
};

static struct snap_slot *snap_slot(const struct snap *sn, int i, int t)
{
    return &sn->slots[(size_t)i * (size_t)sn->thread_limit + (size_t)t];
}

/* A state as printed: Apache's character, '?' for anything else (as mod_status). */
static char known_state(char st)
{
    return st != '\0' && strchr("._SRWKCGLDI", st) != NULL ? st : '?';
}

/* A worker that is doing something (Apache: not DEAD, STARTING or IDLE_KILL, and not READY). */
static int state_busy(char st)
{
    return st != SB_DEAD && st != SB_STARTING && st != SB_READY && st != 'I';
}

/* A slot is left out of the Scoreboard line when it is DEAD and beyond the configured children or threads. */
static int slot_shown(const struct snap *sn, int i, int t)
{
    return snap_slot(sn, i, t)->state != SB_DEAD || (i < sn->max_servers && t < sn->threads_per_child);
}

/*
 * The name on the page, as Apache's ap_get_server_name() with UseCanonicalName Off: the Host without its port
 * when it is a plain name or address (it is the client's text: anything else could pose as a key of ?auto),
 * else ServerName, else "localhost".
 */
static const char *page_host(const struct request *r)
{
    const char *h = r->host;
    if (h != NULL && *h != '\0') {
        const char *end = h[0] == '[' ? strchr(h, ']') : NULL;
        size_t n = h[0] == '[' ? (end != NULL ? (size_t)(end - h) + 1 : 0) : strcspn(h, ":");
        int ok = n > 0;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)h[i]) || strchr("-._~[]:", h[i]) != NULL;
        char *copy = ok ? pool_strndup(r->pool, h, n) : NULL;
        if (copy != NULL)
            return copy;
    }
    if (r->server != NULL && r->server->server_name != NULL)
        return r->server->server_name;
    return "localhost";
}

/* Copies the scoreboard and counts. Returns 0, or -1 when out of memory. */
static int snap_take(struct snap *sn, struct request *r, struct scoreboard *sb, const struct status_sys *sys)
{
    const struct server *s = r->server;
    struct pool *p = r->pool;

    memset(sn, 0, sizeof(*sn));
    sn->host = page_host(r);
    sn->mpm = s != NULL && s->mpm != NULL ? s->mpm->name : "unknown";
    sn->async = s != NULL && s->mpm != NULL && (s->mpm->caps & MPM_ASYNC) != 0;
    sn->server_limit = sb->server_limit;
    sn->thread_limit = sb->thread_limit;

    /* What the configuration uses of the scoreboard; without it, all of it. */
    int tpc = s != NULL ? s->mpm_conf.threads_per_child : -1;
    sn->threads_per_child = tpc > 0 && tpc <= sb->thread_limit ? tpc : sb->thread_limit;
    int maxw = s != NULL ? s->mpm_conf.max_workers : -1;
    sn->max_servers = maxw > 0 ? maxw / sn->threads_per_child : sb->server_limit;
    if (sn->max_servers < 1 || sn->max_servers > sb->server_limit)
        sn->max_servers = sb->server_limit;
    sn->max_workers = sn->max_servers * sn->threads_per_child;

    sn->generation = atomic_load(&sb->generation);
    sn->start = sb->start_time;
    sn->uptime = sys->now > sb->start_time ? (long)(sys->now - sb->start_time) : 0;

    size_t nslots = (size_t)sb->server_limit * (size_t)sb->thread_limit;
    sn->rows = pool_calloc(p, (size_t)sb->server_limit * sizeof(*sn->rows));
    sn->slots = pool_calloc(p, nslots * sizeof(*sn->slots));
    sn->board = pool_alloc(p, nslots + 1);
    if (sn->rows == NULL || sn->slots == NULL || sn->board == NULL)
        return -1;

    for (int i = 0; i < sb->server_limit; i++) {
        struct sb_child *c = scoreboard_child(sb, i);
        struct snap_row *row = &sn->rows[i];
        row->pid = atomic_load(&c->pid);
        row->generation = atomic_load(&c->generation);
        row->quitting = atomic_load(&c->quitting) != 0;
        row->conns = (long)atomic_load_explicit(&c->conns, memory_order_relaxed);
        row->idle_conns = (long)atomic_load_explicit(&c->idle_conns, memory_order_relaxed);
        for (int t = 0; t < sb->thread_limit; t++) {
            struct sb_worker *w = scoreboard_worker(sb, i, t);
            struct snap_slot *x = snap_slot(sn, i, t);
            x->state = known_state(atomic_load_explicit(&w->state, memory_order_acquire));
            x->accesses = atomic_load_explicit(&w->accesses, memory_order_relaxed);
            x->bytes = atomic_load_explicit(&w->bytes, memory_order_relaxed);
            x->conns = (uint32_t)atomic_load_explicit(&w->conns, memory_order_relaxed);
            x->last_used = atomic_load_explicit(&w->last_used, memory_order_relaxed);
        }
    }

    for (int i = 0; i < sn->server_limit; i++) {
        struct snap_row *row = &sn->rows[i];
        int counted = row->pid != 0 && !row->quitting;
        for (int t = 0; t < sn->thread_limit; t++) {
            struct snap_slot *x = snap_slot(sn, i, t);
            row->accesses += x->accesses;
            row->bytes += x->bytes;
            if (x->state == SB_READY)
                row->idle++;
            else if (state_busy(x->state))
                row->busy++;
            if (slot_shown(sn, i, t))
                sn->board[sn->board_len++] = x->state;
            if (!counted)
                continue;
            if (x->state == SB_READY) {
                if (row->generation == sn->generation)
                    sn->idle++;
                sn->idle_async++;
            } else if (state_busy(x->state)) {
                sn->busy++;
                if (x->state == SB_GRACEFUL)
                    sn->idle_async++;
                else
                    sn->busy_async++;
            }
        }
        sn->accesses += row->accesses;
        sn->bytes += row->bytes;
        if (row->pid != 0) {
            long idle = row->idle_conns < 0 ? 0 : row->idle_conns;
            long open = row->conns < idle ? idle : row->conns;
            sn->procs++;
            sn->stopping += row->quitting;
            sn->conns += open;
            sn->keepalive += idle;
            sn->writing += open - idle;
        }
    }
    sn->board[sn->board_len] = '\0';
    return 0;
}

/* ---- the output buffer ---- */

struct out {
    struct pool *pool;
    char *buf;
    size_t len, cap;
    int failed; /* out of memory: everything after is dropped */
};

/* Makes room for `need` more bytes and a NUL. */
static int out_reserve(struct out *o, size_t need)
{
    if (o->failed)
        return -1;
    if (o->len + need + 1 <= o->cap)
        return 0;
    size_t cap = o->cap > 0 ? o->cap : INITIAL_SPACE;
    while (cap < o->len + need + 1)
        cap *= 2;
    char *buf = pool_alloc(o->pool, cap);
    if (buf == NULL) {
        o->failed = 1;
        return -1;
    }
    if (o->len > 0)
        memcpy(buf, o->buf, o->len);
    o->buf = buf;
    o->cap = cap;
    return 0;
}

static void out_write(struct out *o, const char *s, size_t n)
{
    if (out_reserve(o, n) < 0)
        return;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_puts(struct out *o, const char *s)
{
    out_write(o, s, strlen(s));
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    if (out_reserve(o, 128) < 0)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->failed = 1;
        return;
    }
    if ((size_t)n >= o->cap - o->len) {
        if (out_reserve(o, (size_t)n) < 0)
            return;
        va_start(ap, fmt);
        vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
    }
    o->len += (size_t)n;
}

/* Text for an HTML page: & < > " ' escaped. */
static void out_html(struct out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            out_puts(o, "&amp;");
            break;
        case '<':
            out_puts(o, "&lt;");
            break;
        case '>':
            out_puts(o, "&gt;");
            break;
        case '"':
            out_puts(o, "&quot;");
            break;
        case '\'':
            out_puts(o, "&#39;");
            break;
        default:
            out_write(o, s, 1);
        }
    }
}

/* A JSON string. Bytes above 0x7f are taken as ISO-8859-1 (the page's charset) and escaped, so the output
 * is ASCII and valid whatever the Host header held. */
static void out_json_str(struct out *o, const char *s)
{
    out_puts(o, "\"");
    for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
        if (*u == '"' || *u == '\\')
            out_printf(o, "\\%c", *u);
        else if (*u == '\n')
            out_puts(o, "\\n");
        else if (*u == '\t')
            out_puts(o, "\\t");
        else if (*u < 0x20 || *u >= 0x7f)
            out_printf(o, "\\u%04x", *u);
        else
            out_write(o, (const char *)u, 1);
    }
    out_puts(o, "\"");
}

/* ---- value formats ---- */

/*
 * `v` as APR's "%g" prints it (what Apache's ?auto shows): six significant digits, trailing zeros dropped,
 * no zero before the point (".0277778"), exponent form when the number would need more than four trailing
 * zeros or starts more than three places after the point, with an unpadded exponent ("1.5e+7", "2.5e-5").
 */
static void format_apr_g(double v, char *buf, size_t size)
{
    char digits[16], tmp[40], res[48];
    char *p = res;

    if (v != v || v > 1e300 || v < -1e300) { /* NaN or infinite: never produced by the callers */
        snprintf(buf, size, "0");
        return;
    }
    if (v == 0) {
        snprintf(buf, size, "0");
        return;
    }
    if (v < 0) {
        *p++ = '-';
        v = -v;
    }
    /* d.ddddde[+-]X...: six correctly rounded significant digits and the decimal exponent */
    snprintf(tmp, sizeof(tmp), "%.5e", v);
    digits[0] = tmp[0];
    memcpy(digits + 1, tmp + 2, 5);
    int decpt = atoi(tmp + 8) + 1; /* digits before the point */
    int nd = 6;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;

    if ((decpt >= 0 && decpt - nd > 4) || decpt < -3) {
        int e = decpt - 1;
        *p++ = digits[0];
        *p++ = '.';
        for (int i = 1; i < nd; i++)
            *p++ = digits[i];
        *p++ = 'e';
        *p++ = e < 0 ? '-' : '+';
        if (e < 0)
            e = -e;
        if (e / 100 > 0)
            *p++ = (char)('0' + e / 100);
        if (e / 10 > 0)
            *p++ = (char)('0' + (e % 100) / 10);
        *p++ = (char)('0' + e % 10);
    } else {
        if (decpt <= 0) {
            *p++ = '.';
            for (; decpt < 0; decpt++)
                *p++ = '0';
        }
        for (int i = 1; i <= nd; i++) {
            *p++ = digits[i - 1];
            if (i == decpt)
                *p++ = '.';
        }
        for (int i = nd; i < decpt; i++)
            *p++ = '0';
        if (nd < decpt)
            *p++ = '.';
    }
    if (p[-1] == '.')
        p--;
    *p = '\0';
    snprintf(buf, size, "%s", res);
}

/* Apache's local-time format: "Thursday, 27-Aug-2020 09:05:11 UTC". */
static void format_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(buf, size, TIME_FORMAT, &tm) == 0)
        snprintf(buf, size, "-");
}

/* " 1 day 2 hours 5 seconds": the parts that are not zero, each after a space (empty for 0). */
static void out_uptime(struct out *o, long secs)
{
    long days = secs / 86400, hours = secs / 3600 % 24, mins = secs / 60 % 60, s = secs % 60;
    if (days > 0)
        out_printf(o, " %ld day%s", days, days == 1 ? "" : "s");
    if (hours > 0)
        out_printf(o, " %ld hour%s", hours, hours == 1 ? "" : "s");
    if (mins > 0)
        out_printf(o, " %ld minute%s", mins, mins == 1 ? "" : "s");
    if (s > 0)
        out_printf(o, " %ld second%s", s, s == 1 ? "" : "s");
}

/* A byte count for people: "512 B", "12.5 kB", "3.1 MB", "1.2 GB" (Apache's thresholds). */
static void out_bytes(struct out *o, double bytes)
{
    if (bytes < 5 * KBYTE)
        out_printf(o, "%d B", (int)bytes);
    else if (bytes < MBYTE / 2)
        out_printf(o, "%.1f kB", bytes / KBYTE);
    else if (bytes < GBYTE / 2)
        out_printf(o, "%.1f MB", bytes / MBYTE);
    else
        out_printf(o, "%.1f GB", bytes / GBYTE);
}

/* The rates as Apache computes them: single precision, from whole kilobytes. */
static double req_per_sec(const struct snap *sn)
{
    return sn->uptime > 0 ? (double)((float)sn->accesses / (float)sn->uptime) : 0;
}

static double bytes_per_sec(const struct snap *sn)
{
    return sn->uptime > 0 ? (double)(KBYTE * (float)(sn->bytes / KBYTE) / (float)sn->uptime) : 0;
}

static double bytes_per_req(const struct snap *sn)
{
    return sn->accesses > 0 ? (double)(KBYTE * (float)(sn->bytes / KBYTE) / (float)sn->accesses) : 0;
}

static double cpu_total(const struct status_sys *sys)
{
    return sys->cpu_user + sys->cpu_system + sys->cpu_children_user + sys->cpu_children_system;
}

/* CPU load in percent of one CPU over the uptime; 0 if unknown. */
static double cpu_load(const struct snap *sn, const struct status_sys *sys)
{
    return sys->have_cpu && sn->uptime > 0 ? cpu_total(sys) / (double)sn->uptime * 100. : 0;
}

/* ---- ?auto ---- */

static void out_auto_g(struct out *o, const char *key, double v)
{
    char num[48];
    format_apr_g(v, num, sizeof(num));
    out_printf(o, "%s: %s\n", key, num);
}

static void render_auto(struct out *o, const struct snap *sn, const struct status_sys *sys)
{
    char now[96], start[96];
    format_time(sys->now, now, sizeof(now));
    format_time(sn->start, start, sizeof(start));

    out_printf(o, "%s\n", sn->host);
    out_printf(o, "ServerVersion: %s\n", SERVER_SOFTWARE);
    out_printf(o, "ServerMPM: %s\n", sn->mpm);
    out_printf(o, "CurrentTime: %s\n", now);
    out_printf(o, "RestartTime: %s\n", start);
    out_printf(o, "ParentServerConfigGeneration: %d\n", sn->generation + 1);
    out_printf(o, "ParentServerMPMGeneration: %d\n", sn->generation);
    out_printf(o, "ServerUptimeSeconds: %ld\n", sn->uptime);
    out_puts(o, "ServerUptime:");
    out_uptime(o, sn->uptime);
    out_puts(o, "\n");
    out_printf(o, "Load1: %.2f\nLoad5: %.2f\nLoad15: %.2f\n", sys->load[0], sys->load[1], sys->load[2]);
    out_printf(o, "Total Accesses: %" PRIu64 "\n", sn->accesses);
    out_printf(o, "Total kBytes: %" PRIu64 "\n", sn->bytes / KBYTE);
    if (sys->have_cpu) {
        out_auto_g(o, "CPUUser", sys->cpu_user);
        out_auto_g(o, "CPUSystem", sys->cpu_system);
        out_auto_g(o, "CPUChildrenUser", sys->cpu_children_user);
        out_auto_g(o, "CPUChildrenSystem", sys->cpu_children_system);
        if (cpu_total(sys) > 0 && sn->uptime > 0)
            out_auto_g(o, "CPULoad", cpu_load(sn, sys));
    }
    out_printf(o, "Uptime: %ld\n", sn->uptime);
    if (sn->uptime > 0) {
        out_auto_g(o, "ReqPerSec", req_per_sec(sn));
        out_auto_g(o, "BytesPerSec", bytes_per_sec(sn));
    }
    if (sn->accesses > 0)
        out_auto_g(o, "BytesPerReq", bytes_per_req(sn));
    out_printf(o, "BusyWorkers: %d\nIdleWorkers: %d\n", sn->busy, sn->idle);
    if (sn->async) {
        out_printf(o,
                   "Processes: %d\nStopping: %d\nBusyWorkers: %d\nIdleWorkers: %d\nConnsTotal: %ld\n"
                   "ConnsAsyncWriting: %ld\nConnsAsyncKeepAlive: %ld\nConnsAsyncClosing: %d\n",
                   sn->procs, sn->stopping, sn->busy_async, sn->idle_async, sn->conns, sn->writing,
                   sn->keepalive, 0);
    }
    out_printf(o, "Scoreboard: %s\n", sn->board);
}

/* ---- ?json ---- */

/* A JSON number: the shortest %g form with 6 significant digits (a leading zero, as JSON requires). */
static void out_json_num(struct out *o, double v)
{
    out_printf(o, "%.6g", v);
}

static void render_json(struct out *o, const struct snap *sn, const struct status_sys *sys)
{
    out_puts(o, "{\"server_name\":");
    out_json_str(o, sn->host);
    out_puts(o, ",\"server_version\":");
    out_json_str(o, SERVER_SOFTWARE);
    out_puts(o, ",\"server_mpm\":");
    out_json_str(o, sn->mpm);
    out_printf(o, ",\"current_time\":%lld,\"restart_time\":%lld", (long long)sys->now, (long long)sn->start);
    out_printf(o, ",\"config_generation\":%d,\"mpm_generation\":%d,\"uptime\":%ld", sn->generation + 1,
               sn->generation, sn->uptime);
    out_puts(o, ",\"load\":");
    if (sys->load[0] >= 0)
        out_printf(o, "[%.2f,%.2f,%.2f]", sys->load[0], sys->load[1], sys->load[2]);
    else
        out_puts(o, "null");
    out_puts(o, ",\"cpu\":");
    if (sys->have_cpu) {
        out_puts(o, "{\"user\":");
        out_json_num(o, sys->cpu_user);
        out_puts(o, ",\"system\":");
        out_json_num(o, sys->cpu_system);
        out_puts(o, ",\"children_user\":");
        out_json_num(o, sys->cpu_children_user);
        out_puts(o, ",\"children_system\":");
        out_json_num(o, sys->cpu_children_system);
        out_puts(o, ",\"load\":");
        out_json_num(o, cpu_load(sn, sys));
        out_puts(o, "}");
    } else {
        out_puts(o, "null");
    }
    out_printf(o, ",\"total_accesses\":%" PRIu64 ",\"total_kbytes\":%" PRIu64 ",\"total_bytes\":%" PRIu64,
               sn->accesses, sn->bytes / KBYTE, sn->bytes);
    out_puts(o, ",\"req_per_sec\":");
    out_json_num(o, req_per_sec(sn));
    out_puts(o, ",\"bytes_per_sec\":");
    out_json_num(o, bytes_per_sec(sn));
    out_puts(o, ",\"bytes_per_req\":");
    out_json_num(o, bytes_per_req(sn));
    out_printf(o, ",\"busy_workers\":%d,\"idle_workers\":%d,\"processes\":%d,\"stopping\":%d", sn->busy,
               sn->idle, sn->procs, sn->stopping);
    out_printf(o,
               ",\"limits\":{\"server_limit\":%d,\"thread_limit\":%d,\"threads_per_child\":%d,"
               "\"max_request_workers\":%d}",
               sn->server_limit, sn->thread_limit, sn->threads_per_child, sn->max_workers);
    if (sn->async)
        out_printf(o, ",\"connections\":{\"total\":%ld,\"writing\":%ld,\"keepalive\":%ld,\"closing\":0}",
                   sn->conns, sn->writing, sn->keepalive);
    out_puts(o, ",\"scoreboard\":");
    out_json_str(o, sn->board);

    out_puts(o, ",\"children\":[");
    int first = 1;
    for (int i = 0; i < sn->server_limit; i++) {
        const struct snap_row *row = &sn->rows[i];
        if (row->pid == 0)
            continue;
        out_printf(o,
                   "%s{\"slot\":%d,\"pid\":%d,\"generation\":%d,\"old_generation\":%s,\"quitting\":%s,"
                   "\"accesses\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"busy\":%d,\"idle\":%d",
                   first ? "" : ",", i, (int)row->pid, row->generation,
                   row->generation != sn->generation ? "true" : "false", row->quitting ? "true" : "false",
                   row->accesses, row->bytes, row->busy, row->idle);
        first = 0;
        if (sn->async) {
            long idle = row->idle_conns < 0 ? 0 : row->idle_conns;
            long open = row->conns < idle ? idle : row->conns;
            out_printf(o, ",\"connections\":{\"total\":%ld,\"writing\":%ld,\"keepalive\":%ld}", open,
                       open - idle, idle);
        }
        /* the slots the child may use, and any other one in use */
        int n = 0;
        for (int t = 0; t < sn->thread_limit; t++)
            if (t < sn->threads_per_child || snap_slot(sn, i, t)->state != SB_DEAD)
                n = t + 1;
        out_puts(o, ",\"workers\":\"");
        for (int t = 0; t < n; t++)
            out_write(o, &snap_slot(sn, i, t)->state, 1);
        out_puts(o, "\",\"slots\":[");
        for (int t = 0; t < n; t++) {
            const struct snap_slot *x = snap_slot(sn, i, t);
            out_printf(o,
                       "%s{\"state\":\"%c\",\"accesses\":%" PRIu64 ",\"bytes\":%" PRIu64
                       ",\"connections\":%" PRIu32 ",\"last_used\":%lld}",
                       t == 0 ? "" : ",", x->state, x->accesses, x->bytes, x->conns, (long long)x->last_used);
        }
        out_puts(o, "]}");
    }
    out_puts(o, "]}\n");
}

/* ---- HTML ---- */

static const char html_key[] = "<p>Scoreboard Key:<br />\n"
                               "\"<b><code>_</code></b>\" Waiting for Connection, \n"
                               "\"<b><code>S</code></b>\" Starting up, \n"
                               "\"<b><code>R</code></b>\" Reading Request,<br />\n"
                               "\"<b><code>W</code></b>\" Sending Reply, \n"
                               "\"<b><code>K</code></b>\" Keepalive (read), \n"
                               "\"<b><code>C</code></b>\" Closing connection, \n"
                               "\"<b><code>G</code></b>\" Gracefully finishing,<br />\n"
                               "\"<b><code>.</code></b>\" Open slot with no current process</p>\n";

static void render_html(struct out *o, const struct snap *sn, const struct status_sys *sys)
{
    char now[96], start[96];
    format_time(sys->now, now, sizeof(now));
    format_time(sn->start, start, sizeof(start));

    out_puts(o, "<!DOCTYPE html>\n<html><head>\n<title>Server Status</title>\n</head><body>\n"
                "<h1>Server Status for ");
    out_html(o, sn->host);
    out_puts(o, "</h1>\n\n<dl><dt>Server Version: ");
    out_html(o, SERVER_SOFTWARE);
    out_puts(o, "</dt>\n<dt>Server MPM: ");
    out_html(o, sn->mpm);
    out_puts(o, "</dt>\n</dl><hr /><dl>\n");
    out_printf(o, "<dt>Current Time: %s</dt>\n<dt>Restart Time: %s</dt>\n", now, start);
    out_printf(o, "<dt>Parent Server Config. Generation: %d</dt>\n", sn->generation + 1);
    out_printf(o, "<dt>Parent Server MPM Generation: %d</dt>\n", sn->generation);
    out_puts(o, "<dt>Server uptime: ");
    out_uptime(o, sn->uptime);
    out_puts(o, "</dt>\n");
    if (sys->load[0] >= 0)
        out_printf(o, "<dt>Server load: %.2f %.2f %.2f</dt>\n", sys->load[0], sys->load[1], sys->load[2]);
    out_printf(o, "<dt>Total accesses: %" PRIu64 " - Total Traffic: ", sn->accesses);
    out_bytes(o, (double)sn->bytes);
    out_puts(o, "</dt>\n");
    if (sys->have_cpu) {
        out_printf(o, "<dt>CPU Usage: u%.2f s%.2f cu%.2f cs%.2f", sys->cpu_user, sys->cpu_system,
                   sys->cpu_children_user, sys->cpu_children_system);
        if (cpu_total(sys) > 0 && sn->uptime > 0)
            out_printf(o, " - %.3g%% CPU load", cpu_load(sn, sys));
        out_puts(o, "</dt>\n");
    }
    out_puts(o, "<dt>");
    if (sn->uptime > 0) {
        out_printf(o, "%.3g requests/sec - ", req_per_sec(sn));
        out_bytes(o, bytes_per_sec(sn));
        out_puts(o, "/second");
    }
    if (sn->accesses > 0) {
        if (sn->uptime > 0)
            out_puts(o, " - ");
        out_bytes(o, bytes_per_req(sn));
        out_puts(o, "/request");
    }
    out_puts(o, "</dt>\n");
    out_printf(o, "<dt>%d requests currently being processed, %d idle workers</dt>\n", sn->busy, sn->idle);
    if (sn->async)
        out_printf(o, "<dt>%ld connections: %ld being served, %ld idle in keep-alive</dt>\n", sn->conns,
                   sn->writing, sn->keepalive);
    out_puts(o, "</dl>\n");

    /* child processes */
    out_printf(o,
               "\n<h2>Processes</h2>\n<table border=\"1\" cellpadding=\"3\">\n<tr><th>Slot</th><th>PID</th>"
               "<th>Generation</th><th>Stopping</th><th>Accesses</th><th>Traffic</th><th>Busy</th>"
               "<th>Idle</th>%s</tr>\n",
               sn->async ? "<th>Connections</th><th>Writing</th><th>Keep-alive</th>" : "");
    for (int i = 0; i < sn->server_limit; i++) {
        const struct snap_row *row = &sn->rows[i];
        if (row->pid == 0)
            continue;
        out_printf(o, "<tr><td>%d</td><td>%d</td><td>%d%s</td><td>%s</td><td>%" PRIu64 "</td><td>", i,
                   (int)row->pid, row->generation, row->generation != sn->generation ? " (old gen)" : "",
                   row->quitting ? "yes" : "no", row->accesses);
        out_bytes(o, (double)row->bytes);
        out_printf(o, "</td><td>%d</td><td>%d</td>", row->busy, row->idle);
        if (sn->async) {
            long idle = row->idle_conns < 0 ? 0 : row->idle_conns;
            long open = row->conns < idle ? idle : row->conns;
            out_printf(o, "<td>%ld</td><td>%ld</td><td>%ld</td>", open, open - idle, idle);
        }
        out_puts(o, "</tr>\n");
    }
    out_printf(o, "<tr><td>Sum</td><td>%d</td><td>&nbsp;</td><td>%d</td><td>%" PRIu64 "</td><td>", sn->procs,
               sn->stopping, sn->accesses);
    out_bytes(o, (double)sn->bytes);
    out_printf(o, "</td><td>%d</td><td>%d</td>", sn->busy, sn->idle);
    if (sn->async)
        out_printf(o, "<td>%ld</td><td>%ld</td><td>%ld</td>", sn->conns, sn->writing, sn->keepalive);
    out_puts(o, "</tr>\n</table>\n");

    /* the scoreboard characters */
    out_puts(o, "<pre>");
    for (size_t k = 0; k < sn->board_len; k++) {
        out_write(o, &sn->board[k], 1);
        if (k % BOARD_LINE == BOARD_LINE - 1)
            out_puts(o, "\n");
    }
    out_puts(o, "</pre>\n");
    out_puts(o, html_key);

    /* the worker slots that have served something or are at work */
    out_puts(o, "\n<table border=\"0\"><tr><th>Srv</th><th>PID</th><th>Conn</th><th>Acc</th><th>M</th>"
                "<th>SS</th><th>Slot</th></tr>\n");
    for (int i = 0; i < sn->server_limit; i++) {
        const struct snap_row *row = &sn->rows[i];
        for (int t = 0; t < sn->thread_limit; t++) {
            const struct snap_slot *x = snap_slot(sn, i, t);
            if (x->accesses == 0 && (x->state == SB_READY || x->state == SB_DEAD))
                continue;
            out_printf(o, "<tr><td><b>%d-%d</b></td>", i, row->generation);
            if (row->pid != 0 && x->state != SB_DEAD)
                out_printf(o, "<td>%d</td>", (int)row->pid);
            else
                out_puts(o, "<td>-</td>");
            out_printf(o, "<td>%" PRIu32 "</td><td>%" PRIu64 "</td><td>%c</td>", x->conns, x->accesses,
                       x->state);
            if (x->last_used > 0)
                out_printf(o, "<td>%lld</td>",
                           (long long)(sys->now > x->last_used ? sys->now - x->last_used : 0));
            else
                out_puts(o, "<td>-</td>");
            out_printf(o, "<td>%.2f</td></tr>\n", (double)x->bytes / MBYTE);
        }
    }
    out_puts(o, "</table>\n<hr />\n<table>\n"
                "<tr><th>Srv</th><td>Child Server number - generation</td></tr>\n"
                "<tr><th>PID</th><td>OS process ID</td></tr>\n"
                "<tr><th>Conn</th><td>Connections served by this slot</td></tr>\n"
                "<tr><th>Acc</th><td>Requests served by this slot</td></tr>\n"
                "<tr><th>M</th><td>Mode of operation</td></tr>\n"
                "<tr><th>SS</th><td>Seconds since beginning of most recent request</td></tr>\n"
                "<tr><th>Slot</th><td>Total megabytes transferred this slot</td></tr>\n"
                "</table>\n</body></html>\n");
}

/* ---- system figures ---- */

/* The command name and utime, stime, cutime, cstime (clock ticks) of a process from /proc/PID/stat; -1 if it
 * cannot be read (it may have exited). */
static int read_proc_stat(pid_t pid, char *comm, size_t comm_size, unsigned long long t[4])
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ESRCH)
            log_error(LOG_DEBUG, "status", "open(%s) failed: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        if (n < 0 && saved != ESRCH)
            log_error(LOG_DEBUG, "status", "read(%s) failed: %s", path, strerror(saved));
        return -1;
    }
    buf[n] = '\0';
    /* "pid (comm) state ...": the name may hold spaces and parentheses, the fields start after the last ')'
     */
    const char *open_paren = strchr(buf, '('), *p = strrchr(buf, ')');
    long long cu, cs;
    if (open_paren == NULL || p == NULL || p < open_paren ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &t[0], &t[1], &cu,
               &cs) != 4)
        return -1;
    snprintf(comm, comm_size, "%.*s", (int)(p - open_paren - 1), open_paren + 1);
    t[2] = cu > 0 ? (unsigned long long)cu : 0;
    t[3] = cs > 0 ? (unsigned long long)cs : 0;
    return 0;
}

static void read_loadavg(double load[3])
{
    load[0] = load[1] = load[2] = -1;
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error(LOG_DEBUG, "status", "open(/proc/loadavg) failed: %s", strerror(errno));
        return;
    }
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        log_error(LOG_DEBUG, "status", "read(/proc/loadavg) failed: %s", strerror(errno));
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    double l[3];
    if (sscanf(buf, "%lf %lf %lf", &l[0], &l[1], &l[2]) == 3)
        memcpy(load, l, sizeof(l));
}

void status_sys_read(struct status_sys *sys, struct scoreboard *sb, pid_t parent)
{
    unsigned long long sum[4] = {0, 0, 0, 0}, t[4], self_t[4];
    char comm[64], self_comm[64];
    int found = 0;

    memset(sys, 0, sizeof(*sys));
    sys->now = time(NULL);
    read_loadavg(sys->load);

    long tick = sysconf(_SC_CLK_TCK);
    if (tick <= 0)
        return;
    /* an orphaned child's parent is init or a subreaper: only a parent running this program is ours */
    if (parent > 0 && read_proc_stat(parent, comm, sizeof(comm), t) == 0 &&
        read_proc_stat(getpid(), self_comm, sizeof(self_comm), self_t) == 0 && strcmp(comm, self_comm) == 0) {
        for (int k = 0; k < 4; k++)
            sum[k] += t[k];
        found = 1;
    }
    for (int i = 0; sb != NULL && i < sb->server_limit; i++) {
        pid_t pid = atomic_load(&scoreboard_child(sb, i)->pid);
        if (pid <= 0 || pid == parent || read_proc_stat(pid, comm, sizeof(comm), t) < 0)
            continue;
        for (int k = 0; k < 4; k++)
            sum[k] += t[k];
        found = 1;
    }
    if (!found)
        return;
    sys->have_cpu = 1;
    sys->cpu_user = (double)sum[0] / (double)tick;
    sys->cpu_system = (double)sum[1] / (double)tick;
    sys->cpu_children_user = (double)sum[2] / (double)tick;
    sys->cpu_children_system = (double)sum[3] / (double)tick;
}

/* ---- the handler ---- */

/* Whether the &-separated query holds parameter `name` (bare or with a value); *value gets what follows '='.
 */
static int query_has(const char *query, const char *name, const char **value, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (const char *p = query; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, "&;");
        if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '=')) {
            if (value != NULL) {
                *value = len > nlen ? p + nlen + 1 : NULL;
                *vlen = len > nlen ? len - nlen - 1 : 0;
            }
            return 1;
        }
        p = p[len] != '\0' ? p + len + 1 : NULL;
    }
    return 0;
}

enum status_format status_format_of(const char *query)
{
    if (query_has(query, "json", NULL, NULL))
        return STATUS_JSON;
    if (query_has(query, "auto", NULL, NULL))
        return STATUS_AUTO;
    return STATUS_HTML;
}

int status_render(struct request *r, struct scoreboard *sb, enum status_format fmt,
                  const struct status_sys *sys)
{
    struct snap sn;
    struct out o = {.pool = r->pool};

    if (snap_take(&sn, r, sb, sys) < 0)
        return -1;
    switch (fmt) {
    case STATUS_AUTO:
        render_auto(&o, &sn, sys);
        break;
    case STATUS_JSON:
        render_json(&o, &sn, sys);
        break;
    case STATUS_HTML:
        render_html(&o, &sn, sys);
        break;
    }
    if (o.failed || o.len == 0)
        return -1;

    const char *type = fmt == STATUS_AUTO ? CONTENT_AUTO : fmt == STATUS_JSON ? CONTENT_JSON : CONTENT_HTML;
    if (http_resp_content_type(r, type) < 0 || http_resp_body_mem(r, o.buf, o.len) < 0)
        return -1;
    http_resp_status(r, 200);
    return 0;
}

/* ?refresh[=N]: a Refresh header of N seconds (10 when N is missing or not a positive number). */
static int add_refresh(struct request *r)
{
    const char *v;
    size_t vlen;
    if (!query_has(r->query, "refresh", &v, &vlen))
        return 0;
    long long secs = REFRESH_DEF;
    if (v != NULL && vlen > 0 && vlen < 12) {
        char digits[12];
        memcpy(digits, v, vlen);
        digits[vlen] = '\0';
        long long n = parse_uint(digits);
        if (n >= 1)
            secs = n < REFRESH_MAX ? n : REFRESH_MAX;
    }
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", secs);
    return http_resp_header(r, "Refresh", buf);
}

static enum handler_result status_handle(struct request *r)
{
    struct scoreboard *sb = process_scoreboard();
    if (sb == NULL) {
        log_error(LOG_ERR, "status", "server-status: no scoreboard in this process");
        http_resp_error(r, 500);
        return HANDLER_DONE;
    }
    /* a forked child's parent is the supervising process; with -X this process is row 0 itself */
    pid_t parent = r->server != NULL && r->server->one_process ? 0 : getppid();

    struct status_sys sys;
    status_sys_read(&sys, sb, parent);
    if (add_refresh(r) < 0 || status_render(r, sb, status_format_of(r->query), &sys) < 0) {
        log_error(LOG_ERR, "status", "out of memory rendering server-status");
        http_resp_error(r, 500);
    }
    return HANDLER_DONE;
}

const struct handler status_handler = {
    .name = "server-status",
    .methods = HTTP_M(METHOD_GET) | HTTP_M(METHOD_HEAD),
    .handle = status_handle,
    .resume = NULL,
};
