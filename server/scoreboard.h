/*
 * The scoreboard: shared memory (an anonymous MAP_SHARED mapping made by the parent before it forks) holding
 * a row per child process and a slot per worker (ServerLimit x ThreadLimit). Children write their own slots
 * with atomic stores; the parent reads them to count idle workers and /server-status renders them.
 */
#ifndef HTTPD_SCOREBOARD_H
#define HTTPD_SCOREBOARD_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct errbuf;

/* Worker states, with Apache's status characters. */
enum sb_state {
    SB_DEAD = '.', /* open slot, no worker */
    SB_STARTING = 'S',
    SB_READY = '_', /* waiting for a connection */
    SB_READ = 'R',
    SB_WRITE = 'W',
    SB_KEEPALIVE = 'K',
    SB_CLOSING = 'C',
    SB_GRACEFUL = 'G' /* finishing before it exits */
};

/* Why a child is leaving: the values of sb_child.quitting (0: it is not). */
enum sb_quitting {
    SB_QUIT_STOP = 1,   /* asked to finish (WINCH, spare, recycled): idle keep-alive connections end now */
    SB_QUIT_RESTART = 2 /* retired by a graceful restart: idle keep-alive connections wait for their next
                           request, answered with Connection: close, so that none in flight is lost */
};

struct sb_worker {
    _Atomic char state;
    atomic_uint_fast64_t accesses; /* requests served */
    atomic_uint_fast64_t bytes;    /* bytes sent */
    atomic_uint_fast32_t conns;    /* connections served */
    _Atomic int64_t last_used;     /* wall-clock seconds */
};

struct sb_child {
    _Atomic pid_t pid; /* 0 if the slot is free */
    _Atomic int generation;
    _Atomic int quitting;           /* leaving gracefully: asked by the parent, or by itself (recycling);
                                       enum sb_quitting */
    atomic_int_fast32_t conns;      /* connections open now (event) */
    atomic_int_fast32_t idle_conns; /* idle keep-alive connections (event) */
};

struct scoreboard {
    int server_limit;
    int thread_limit;
    time_t start_time;
    _Atomic int generation;
    struct sb_child *children; /* server_limit rows */
    struct sb_worker *workers; /* server_limit * thread_limit slots */
};

/* Maps a scoreboard shared with future children. NULL on failure (err says why). */
struct scoreboard *scoreboard_create(int server_limit, int thread_limit, struct errbuf *err);

/* Unmaps it. */
void scoreboard_destroy(struct scoreboard *sb);

/* Child row `i`. */
struct sb_child *scoreboard_child(struct scoreboard *sb, int i);

/* Worker slot `t` of child `i`. */
struct sb_worker *scoreboard_worker(struct scoreboard *sb, int i, int t);

/* Sets a slot's state (and its last-used time when it becomes busy). */
void scoreboard_set_state(struct sb_worker *w, enum sb_state st);

/* Workers in SB_READY over the live children whose generation is `gen` and which are not quitting. */
int scoreboard_idle_workers(struct scoreboard *sb, int gen);

/* Totals over every slot. */
uint64_t scoreboard_total_accesses(struct scoreboard *sb);
uint64_t scoreboard_total_bytes(struct scoreboard *sb);

#endif
