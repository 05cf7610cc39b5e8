/*
 * Inside server-status: the snapshot that status.c takes of the scoreboard, which its three renderers
 * (status_auto.c, status_json.c, status_html.c) print, and the figures they all compute the same way.
 * Nothing here is for other modules.
 */
#ifndef HTTPD_STATUS_SNAP_H
#define HTTPD_STATUS_SNAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "scoreboard.h"

struct pbuf;
struct status_sys;

#define STATUS_KBYTE 1024
#define STATUS_MBYTE 1048576.0
#define STATUS_GBYTE 1073741824.0

/* A worker slot as copied; state is Apache's character, '?' for anything unknown. */
struct status_slot {
    char state;
    uint64_t accesses, bytes, duration_ms;
    uint32_t conns;
    int64_t last_used;
};

/* A child row as copied, with its slots counted. */
struct status_row {
    pid_t pid;
    int generation;
    int quitting;
    long conns, writing, keepalive; /* event: open connections, those being served, those idle */
    uint64_t accesses, bytes, duration_ms;
    int busy, graceful, idle; /* its slots: working ones, finishing ones ('G'), READY ones */
};

struct status_snap {
    const char *host;
    char mpm[SB_MPM_NAME_MAX]; /* "unknown" when supervision has not described the model */
    int async;
    int server_limit, thread_limit;
    int threads_per_child, max_servers, max_workers; /* what the configuration uses of the board */
    int generation;
    time_t start;
    long uptime;
    struct status_row *rows;   /* server_limit */
    struct status_slot *slots; /* server_limit x thread_limit */

    uint64_t accesses, bytes, duration_ms;
    int busy, graceful, idle;       /* Apache's BusyWorkers, GracefulWorkers and IdleWorkers */
    int procs, stopping;            /* live children, and those leaving */
    long conns, keepalive, writing; /* event */
    char *board;                    /* the Scoreboard characters */
    size_t board_len;
};

/* The build's date and time, as Apache's "Server Built" (__DATE__ __TIME__: fixed by SOURCE_DATE_EPOCH). */
extern const char status_server_built[];

/* Slot t of row i. */
const struct status_slot *status_slot_at(const struct status_snap *sn, int i, int t);

/* The rates as Apache computes them: single precision, bytes from whole kilobytes; 0 when undefined. */
double status_req_per_sec(const struct status_snap *sn);
double status_bytes_per_sec(const struct status_snap *sn);
double status_bytes_per_req(const struct status_snap *sn);
double status_duration_per_req(const struct status_snap *sn); /* milliseconds */

/* CPU time over the uptime, in percent of one CPU; 0 when unknown or none. */
double status_cpu_load(const struct status_snap *sn, const struct status_sys *sys);

/* Apache's local-time format: "Thursday, 27-Aug-2020 09:05:11 UTC". */
void status_format_time(time_t t, char *buf, size_t size);

/* " 1 day 2 hours 5 seconds": the parts that are not zero, each after a space (nothing for 0). */
void status_put_uptime(struct pbuf *b, long secs);

/* The three formats, appended to b (which records running out of memory). */
void status_render_auto(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys);
void status_render_json(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys);
void status_render_html(struct pbuf *b, const struct status_snap *sn, const struct status_sys *sys);

#endif
