/*
 * /server-status as a page: version, MPM, times, generations, uptime, load, totals and rates, a table of the
 * child processes, the scoreboard characters (64 to a line, as Apache) with their key, and a table of the
 * worker slots that have served something or are at work. Numbers are written out plainly for people
 * ("3260 requests/sec - 1.2 MB/second - 380 B/request"), never in exponent form; the page links its
 * machine-readable forms (?auto, ?json) and a refreshing copy of itself. Every text that comes from outside
 * (the name on the page) is escaped.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pool.h"
#include "server.h"
#include "status_snap.h"

#define BOARD_LINE 64 /* scoreboard characters per line, as Apache */

/* Text for an HTML page: & < > " ' escaped. */
static void put_html(struct pbuf *b, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            pbuf_puts(b, "&amp;");
            break;
        case '<':
            pbuf_puts(b, "&lt;");
            break;
        case '>':
            pbuf_puts(b, "&gt;");
            break;
        case '"':
            pbuf_puts(b, "&quot;");
            break;
        case '\'':
            pbuf_puts(b, "&#39;");
            break;
        default:
            pbuf_append(b, s, 1);
        }
    }
}

/*
 * A number for people: whole from 100 up, else three significant digits (at most six decimals), trailing
 * zeros dropped, never an exponent: "3260", "42.5", "0.0714", "0".
 */
static void put_plain(struct pbuf *b, double v)
{
    if (!(v > 0)) /* zero, negative (never produced) or NaN */
        v = 0;
    if (v >= 99.5) {
        pbuf_printf(b, "%.0f", v);
        return;
    }
    int decimals = v >= 10 ? 1 : 2;
    for (double x = v; x > 0 && x < 1 && decimals < 6; x *= 10)
        decimals++;
    char num[32];
    snprintf(num, sizeof(num), "%.*f", decimals, v);
    size_t n = strlen(num);
    while (n > 0 && num[n - 1] == '0')
        n--;
    if (n > 0 && num[n - 1] == '.')
        n--;
    pbuf_append(b, num, n);
}

/* A byte count for people: "512 B", "12.5 kB", "3.1 MB", "1.2 GB" (Apache's thresholds). */
static void put_bytes(struct pbuf *b, double bytes)
{
    if (bytes < 5 * STATUS_KBYTE)
        pbuf_printf(b, "%d B", (int)bytes);
    else if (bytes < STATUS_MBYTE / 2)
        pbuf_printf(b, "%.1f kB", bytes / STATUS_KBYTE);
    else if (bytes < STATUS_GBYTE / 2)
        pbuf_printf(b, "%.1f MB", bytes / STATUS_MBYTE);
    else
        pbuf_printf(b, "%.1f GB", bytes / STATUS_GBYTE);
}

/* The list at the top: server, times, totals, rates, workers. */
static void put_summary(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys)
{
    char now[96], start[96];
    status_format_time(sys->now, now, sizeof(now));
    status_format_time(sn->start, start, sizeof(start));

    pbuf_puts(b, "<dl><dt>Server Version: ");
    put_html(b, SERVER_SOFTWARE);
    pbuf_puts(b, "</dt>\n<dt>Server MPM: ");
    put_html(b, sn->mpm);
    pbuf_puts(b, "</dt>\n<dt>Server Built: ");
    put_html(b, status_server_built);
    pbuf_puts(b, "</dt>\n</dl><hr /><dl>\n");
    pbuf_printf(b, "<dt>Current Time: %s</dt>\n<dt>Restart Time: %s</dt>\n", now, start);
    pbuf_printf(b, "<dt>Parent Server Config. Generation: %d</dt>\n", sn->generation + 1);
    pbuf_printf(b, "<dt>Parent Server MPM Generation: %d</dt>\n", sn->generation);
    pbuf_puts(b, "<dt>Server uptime: ");
    status_put_uptime(b, sn->uptime);
    pbuf_puts(b, "</dt>\n");
    if (sys->load[0] >= 0)
        pbuf_printf(b, "<dt>Server load: %.2f %.2f %.2f</dt>\n", sys->load[0], sys->load[1], sys->load[2]);
    pbuf_printf(b, "<dt>Total accesses: %" PRIu64 " - Total Traffic: ", sn->accesses);
    put_bytes(b, (double)sn->bytes);
    pbuf_printf(b, " - Total Duration: %" PRIu64 "</dt>\n", sn->duration_ms);
    if (sys->have_cpu) {
        pbuf_printf(b, "<dt>CPU Usage: u%.2f s%.2f cu%.2f cs%.2f", sys->cpu_user, sys->cpu_system,
                    sys->cpu_children_user, sys->cpu_children_system);
        if (status_cpu_load(sn, sys) > 0) {
            pbuf_puts(b, " - ");
            put_plain(b, status_cpu_load(sn, sys));
            pbuf_puts(b, "% CPU load");
        }
        pbuf_puts(b, "</dt>\n");
    }
    pbuf_puts(b, "<dt>");
    if (sn->uptime > 0) {
        put_plain(b, status_req_per_sec(sn));
        pbuf_puts(b, " requests/sec - ");
        put_bytes(b, status_bytes_per_sec(sn));
        pbuf_puts(b, "/second");
    }
    if (sn->accesses > 0) {
        if (sn->uptime > 0)
            pbuf_puts(b, " - ");
        put_bytes(b, status_bytes_per_req(sn));
        pbuf_puts(b, "/request - ");
        put_plain(b, status_duration_per_req(sn));
        pbuf_puts(b, " ms/request");
    }
    pbuf_puts(b, "</dt>\n");
    pbuf_printf(b,
                "<dt>%d requests currently being processed, %d workers gracefully restarting, %d idle "
                "workers</dt>\n",
                sn->busy, sn->graceful, sn->idle);
    if (sn->async)
        pbuf_printf(b, "<dt>%ld connections: %ld being served, %ld idle in keep-alive</dt>\n", sn->conns,
                    sn->writing, sn->keepalive);
    pbuf_puts(b, "</dl>\n");
}

/* The table of child processes, and their sum. */
static void put_processes(struct pbuf *b, const struct status_snap *sn)
{
    pbuf_printf(b,
                "\n<h2>Processes</h2>\n<table border=\"1\" cellpadding=\"3\">\n<tr><th>Slot</th><th>PID</th>"
                "<th>Generation</th><th>Stopping</th><th>Accesses</th><th>Traffic</th><th>Busy</th>"
                "<th>Graceful</th><th>Idle</th>%s</tr>\n",
                sn->async ? "<th>Connections</th><th>Writing</th><th>Keep-alive</th>" : "");
    for (int i = 0; i < sn->server_limit; i++) {
        const struct status_row *row = &sn->rows[i];
        if (row->pid == 0)
            continue;
        pbuf_printf(b, "<tr><td>%d</td><td>%d</td><td>%d%s</td><td>%s</td><td>%" PRIu64 "</td><td>", i,
                    (int)row->pid, row->generation, row->generation != sn->generation ? " (old gen)" : "",
                    row->quitting ? "yes" : "no", row->accesses);
        put_bytes(b, (double)row->bytes);
        pbuf_printf(b, "</td><td>%d</td><td>%d</td><td>%d</td>", row->busy, row->graceful, row->idle);
        if (sn->async)
            pbuf_printf(b, "<td>%ld</td><td>%ld</td><td>%ld</td>", row->conns, row->writing, row->keepalive);
        pbuf_puts(b, "</tr>\n");
    }
    pbuf_printf(b, "<tr><td>Sum</td><td>%d</td><td>&nbsp;</td><td>%d</td><td>%" PRIu64 "</td><td>", sn->procs,
                sn->stopping, sn->accesses);
    put_bytes(b, (double)sn->bytes);
    pbuf_printf(b, "</td><td>%d</td><td>%d</td><td>%d</td>", sn->busy, sn->graceful, sn->idle);
    if (sn->async)
        pbuf_printf(b, "<td>%ld</td><td>%ld</td><td>%ld</td>", sn->conns, sn->writing, sn->keepalive);
    pbuf_puts(b, "</tr>\n</table>\n");
}

static const char board_key[] = "<p>Scoreboard Key:<br />\n"
                                "\"<b><code>_</code></b>\" Waiting for Connection, \n"
                                "\"<b><code>S</code></b>\" Starting up, \n"
                                "\"<b><code>R</code></b>\" Reading Request,<br />\n"
                                "\"<b><code>W</code></b>\" Sending Reply, \n"
                                "\"<b><code>K</code></b>\" Keepalive (read), \n"
                                "\"<b><code>C</code></b>\" Closing connection, \n"
                                "\"<b><code>G</code></b>\" Gracefully finishing,<br />\n"
                                "\"<b><code>.</code></b>\" Open slot with no current process</p>\n";

static const char slots_key[] =
    "</table>\n<hr />\n<table>\n"
    "<tr><th>Srv</th><td>Child Server number - generation</td></tr>\n"
    "<tr><th>PID</th><td>OS process ID</td></tr>\n"
    "<tr><th>Conn</th><td>Connections served by this slot</td></tr>\n"
    "<tr><th>Acc</th><td>Requests served by this slot</td></tr>\n"
    "<tr><th>M</th><td>Mode of operation</td></tr>\n"
    "<tr><th>SS</th><td>Seconds since beginning of most recent request</td></tr>\n"
    "<tr><th>Dur</th><td>Sum of milliseconds required to process all "
    "requests</td></tr>\n"
    "<tr><th>Slot</th><td>Total megabytes transferred this slot</td></tr>\n"
    "</table>\n";

/* The worker slots that have served something or are at work. */
static void put_slots(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys)
{
    pbuf_puts(b, "\n<table border=\"0\"><tr><th>Srv</th><th>PID</th><th>Conn</th><th>Acc</th><th>M</th>"
                 "<th>SS</th><th>Dur</th><th>Slot</th></tr>\n");
    for (int i = 0; i < sn->server_limit; i++) {
        const struct status_row *row = &sn->rows[i];
        for (int t = 0; t < sn->thread_limit; t++) {
            const struct status_slot *x = status_slot_at(sn, i, t);
            if (x->accesses == 0 && (x->state == SB_READY || x->state == SB_DEAD))
                continue;
            pbuf_printf(b, "<tr><td><b>%d-%d</b></td>", i, row->generation);
            if (row->pid != 0 && x->state != SB_DEAD)
                pbuf_printf(b, "<td>%d</td>", (int)row->pid);
            else
                pbuf_puts(b, "<td>-</td>");
            pbuf_printf(b, "<td>%" PRIu32 "</td><td>%" PRIu64 "</td><td>%c</td>", x->conns, x->accesses,
                        x->state);
            if (x->last_used > 0)
                pbuf_printf(b, "<td>%lld</td>",
                            (long long)(sys->now > x->last_used ? sys->now - x->last_used : 0));
            else
                pbuf_puts(b, "<td>-</td>");
            pbuf_printf(b, "<td>%" PRIu64 "</td><td>%.2f</td></tr>\n", x->duration_ms,
                        (double)x->bytes / STATUS_MBYTE);
        }
    }
    pbuf_puts(b, slots_key);
}

/* mod_proxy_balancer's tables: one per balancer, a row per member. */
static void put_balancers(struct pbuf *b, const struct status_snap *sn)
{
    for (int i = 0; i < sn->n_members; i++) {
        const struct status_member *m = &sn->members[i];
        if (m->member_index == 0) {
            if (i > 0)
                pbuf_puts(b, "</table>\n");
            pbuf_puts(b, "<h2>Proxy LoadBalancer Status for ");
            put_html(b, m->balancer);
            pbuf_puts(b, "</h2>\n<table border=\"0\"><tr><th>Worker URL</th><th>Status</th><th>Elected</th>"
                         "<th>Busy</th><th>Failures</th><th>To</th><th>From</th></tr>\n");
        }
        pbuf_puts(b, "<tr><td>");
        put_html(b, m->url);
        pbuf_printf(b,
                    "</td><td>%s</td><td>%" PRIu64 "</td><td>%d</td><td>%" PRIu64 "</td><td>%.1f K</td>"
                    "<td>%.1f K</td></tr>\n",
                    m->in_error ? "Err" : "Ok", m->elected, m->busy, m->failures,
                    (double)m->sent / STATUS_KBYTE, (double)m->rcvd / STATUS_KBYTE);
    }
    if (sn->n_members > 0)
        pbuf_puts(b, "</table>\n");
}

void status_render_html(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys)
{
    pbuf_puts(b, "<!DOCTYPE html>\n<html><head>\n<title>Server Status</title>\n</head><body>\n"
                 "<h1>Server Status for ");
    put_html(b, sn->host);
    pbuf_puts(b, "</h1>\n<p>Also as <a href=\"?auto\">?auto</a> (Apache's machine-readable text) and "
                 "<a href=\"?json\">?json</a>; <a href=\"?refresh=5\">refresh every 5 seconds</a></p>\n\n");
    put_summary(b, sn, sys);
    put_processes(b, sn);

    pbuf_puts(b, "<pre>");
    for (size_t k = 0; k < sn->board_len; k++) {
        pbuf_append(b, &sn->board[k], 1);
        if (k % BOARD_LINE == BOARD_LINE - 1)
            pbuf_puts(b, "\n");
    }
    pbuf_puts(b, "</pre>\n");
    pbuf_puts(b, board_key);
    put_slots(b, sn, sys);
    put_balancers(b, sn);
    pbuf_puts(b, "</body></html>\n");
}
