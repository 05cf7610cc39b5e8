/*
 * /server-status?json: the figures of ?auto under snake_case names (ordinary JSON numbers, with a leading
 * zero), the limits the configuration uses of the scoreboard, event's connection counts, and a row per live
 * child: its slot, pid, generation, state, totals and each of its worker slots. Strings are escaped to ASCII
 * (bytes above 0x7f taken as ISO-8859-1, the page's charset), so the output is valid whatever the Host held.
 */
#include <inttypes.h>
#include <stdio.h>

#include "pool.h"
#include "server.h"
#include "status_snap.h"

/* A JSON string. */
static void put_str(struct pbuf *b, const char *s)
{
    pbuf_puts(b, "\"");
    for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
        if (*u == '"' || *u == '\\')
            pbuf_printf(b, "\\%c", *u);
        else if (*u == '\n')
            pbuf_puts(b, "\\n");
        else if (*u == '\t')
            pbuf_puts(b, "\\t");
        else if (*u < 0x20 || *u >= 0x7f)
            pbuf_printf(b, "\\u%04x", *u);
        else
            pbuf_append(b, u, 1);
    }
    pbuf_puts(b, "\"");
}

/* A JSON number: the shortest %g form with 6 significant digits (a leading zero, as JSON requires). */
static void put_num(struct pbuf *b, const char *key, double v)
{
    pbuf_printf(b, ",\"%s\":%.6g", key, v);
}

static void put_system(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys)
{
    pbuf_puts(b, ",\"load\":");
    if (sys->load[0] >= 0)
        pbuf_printf(b, "[%.2f,%.2f,%.2f]", sys->load[0], sys->load[1], sys->load[2]);
    else
        pbuf_puts(b, "null");
    pbuf_puts(b, ",\"cpu\":");
    if (sys->have_cpu) {
        pbuf_printf(b, "{\"user\":%.6g", sys->cpu_user);
        put_num(b, "system", sys->cpu_system);
        put_num(b, "children_user", sys->cpu_children_user);
        put_num(b, "children_system", sys->cpu_children_system);
        put_num(b, "load", status_cpu_load(sn, sys));
        pbuf_puts(b, "}");
    } else {
        pbuf_puts(b, "null");
    }
}

/* Child row i: its figures and its slots (those the child may use, and any other one in use). */
static void put_child(struct pbuf *b, const struct status_snap *sn, int i)
{
    const struct status_row *row = &sn->rows[i];
    pbuf_printf(b,
                "{\"slot\":%d,\"pid\":%d,\"generation\":%d,\"old_generation\":%s,\"quitting\":%s,"
                "\"accesses\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"duration_ms\":%" PRIu64
                ",\"busy\":%d,\"graceful\":%d,\"idle\":%d",
                i, (int)row->pid, row->generation, row->generation != sn->generation ? "true" : "false",
                row->quitting ? "true" : "false", row->accesses, row->bytes, row->duration_ms, row->busy,
                row->graceful, row->idle);
    if (sn->async)
        pbuf_printf(b, ",\"connections\":{\"total\":%ld,\"writing\":%ld,\"keepalive\":%ld}", row->conns,
                    row->writing, row->keepalive);
    int n = 0;
    for (int t = 0; t < sn->thread_limit; t++)
        if (t < sn->threads_per_child || status_slot_at(sn, i, t)->state != SB_DEAD)
            n = t + 1;
    pbuf_puts(b, ",\"workers\":\"");
    for (int t = 0; t < n; t++)
        pbuf_append(b, &status_slot_at(sn, i, t)->state, 1);
    pbuf_puts(b, "\",\"slots\":[");
    for (int t = 0; t < n; t++) {
        const struct status_slot *x = status_slot_at(sn, i, t);
        pbuf_printf(b,
                    "%s{\"state\":\"%c\",\"accesses\":%" PRIu64 ",\"bytes\":%" PRIu64
                    ",\"duration_ms\":%" PRIu64 ",\"connections\":%" PRIu32 ",\"last_used\":%lld}",
                    t == 0 ? "" : ",", x->state, x->accesses, x->bytes, x->duration_ms, x->conns,
                    (long long)x->last_used);
    }
    pbuf_puts(b, "]}");
}

void status_render_json(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys)
{
    pbuf_puts(b, "{\"server_name\":");
    put_str(b, sn->host);
    pbuf_puts(b, ",\"server_version\":");
    put_str(b, SERVER_SOFTWARE);
    pbuf_puts(b, ",\"server_mpm\":");
    put_str(b, sn->mpm);
    pbuf_puts(b, ",\"server_built\":");
    put_str(b, status_server_built);
    pbuf_printf(b, ",\"current_time\":%lld,\"restart_time\":%lld", (long long)sys->now, (long long)sn->start);
    pbuf_printf(b, ",\"config_generation\":%d,\"mpm_generation\":%d,\"uptime\":%ld", sn->generation + 1,
                sn->generation, sn->uptime);
    put_system(b, sn, sys);
    pbuf_printf(b,
                ",\"total_accesses\":%" PRIu64 ",\"total_kbytes\":%" PRIu64 ",\"total_bytes\":%" PRIu64
                ",\"total_duration_ms\":%" PRIu64,
                sn->accesses, sn->bytes / STATUS_KBYTE, sn->bytes, sn->duration_ms);
    put_num(b, "req_per_sec", status_req_per_sec(sn));
    put_num(b, "bytes_per_sec", status_bytes_per_sec(sn));
    put_num(b, "bytes_per_req", status_bytes_per_req(sn));
    put_num(b, "duration_per_req_ms", status_duration_per_req(sn));
    pbuf_printf(b,
                ",\"busy_workers\":%d,\"graceful_workers\":%d,\"idle_workers\":%d,\"processes\":%d,"
                "\"stopping\":%d",
                sn->busy, sn->graceful, sn->idle, sn->procs, sn->stopping);
    pbuf_printf(b,
                ",\"limits\":{\"server_limit\":%d,\"thread_limit\":%d,\"threads_per_child\":%d,"
                "\"max_request_workers\":%d}",
                sn->server_limit, sn->thread_limit, sn->threads_per_child, sn->max_workers);
    if (sn->async)
        pbuf_printf(b,
                    ",\"connections\":{\"total\":%ld,\"wait_io\":0,\"writing\":%ld,\"keepalive\":%ld,"
                    "\"closing\":0}",
                    sn->conns, sn->writing, sn->keepalive);
    pbuf_puts(b, ",\"scoreboard\":");
    put_str(b, sn->board);

    pbuf_puts(b, ",\"children\":[");
    int first = 1;
    for (int i = 0; i < sn->server_limit; i++) {
        if (sn->rows[i].pid == 0)
            continue;
        if (!first)
            pbuf_puts(b, ",");
        put_child(b, sn, i);
        first = 0;
    }
    pbuf_puts(b, "]");
    pbuf_puts(b, ",\"proxy_balancers\":[");
    for (int i = 0; i < sn->n_members; i++) {
        const struct status_member *m = &sn->members[i];
        if (m->member_index == 0) {
            pbuf_puts(b, i > 0 ? "]},{\"name\":" : "{\"name\":");
            put_str(b, m->balancer);
            pbuf_puts(b, ",\"members\":[");
        } else {
            pbuf_puts(b, ",");
        }
        pbuf_puts(b, "{\"url\":");
        put_str(b, m->url);
        pbuf_printf(b,
                    ",\"state\":\"%s\",\"elected\":%" PRIu64 ",\"busy\":%d,\"failures\":%" PRIu64
                    ",\"sent_bytes\":%" PRIu64 ",\"rcvd_bytes\":%" PRIu64 "}",
                    m->in_error ? "error" : "ok", m->elected, m->busy, m->failures, m->sent, m->rcvd);
    }
    pbuf_puts(b, sn->n_members > 0 ? "]}]}\n" : "]}\n");
}
