/*
 * Inside server-status: the snapshot that status_snap.c takes of the scoreboard, which the three renderers
 * (status_auto.c, status_json.c, status_html.c) print, the figures they all compute the same way, and what
 * the page shows from /proc. The handler (status.c) and the renderers sit above it.
 */
#ifndef HTTPD_STATUS_SNAP_H
#define HTTPD_STATUS_SNAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "scoreboard.h"

struct pbuf;
struct request;
struct scoreboard;

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

/* A balancer member's shared slot as copied (scoreboard_member()), split into its balancer and URL. */
struct status_member {
    char balancer[SB_MEMBER_NAME_MAX]; /* "balancer://app" */
    const char *url;                   /* into balancer[], after its NUL */
    int balancer_index;                /* of the balancer on the page, in order of first appearance */
    int member_index;                  /* within its balancer */
    int in_error;                      /* in its error state now (retry=) */
    int busy;
    uint64_t elected, sent, rcvd, failures;
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
    struct status_member *members; /* the balancer members the scoreboard knows, grouped by balancer */
    int n_members;
};

/* What the page shows besides the scoreboard: the clock, the load average and CPU times. */
struct status_sys {
    time_t now;
    double load[3];              /* 1, 5 and 15 minutes; -1 when /proc/loadavg could not be read */
    int have_cpu;                /* the CPU times below were read */
    double cpu_user, cpu_system; /* seconds: the parent and its live children */
    double cpu_children_user, cpu_children_system; /* seconds: the children that have exited */
};

/*
 * Fills sys with the time, /proc/loadavg, and the CPU times from /proc/PID/stat of `parent` (0: none; used
 * only if it runs a program of this process's name) and of every live child in sb. Values that cannot be
 * read are left out (load -1, have_cpu 0); never fails.
 */
void status_sys_read(struct status_sys *sys, struct scoreboard *sb, pid_t parent);

/*
 * Copies sb and counts from the copy, into sn (allocated in r's pool): the name on the page from r->host or
 * ServerName, the model and its limits from sb's header, the uptime from sys->now. Returns 0, or -1 when out
 * of memory.
 */
int status_snap_take(struct status_snap *sn, struct request *r, struct scoreboard *sb,
                     const struct status_sys *sys);

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
