/*
 * The scoreboard: shared memory (an anonymous MAP_SHARED mapping made by the parent before it forks) holding
 * a header, a row per child process and a slot per worker (ServerLimit x ThreadLimit). Children write their
 * own slots with atomic stores; the parent reads them to count idle workers and /server-status renders them.
 * The header also says which model runs and how it uses the board (struct sb_info): supervision writes it,
 * so that status reads everything it shows from the scoreboard alone.
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
    atomic_uint_fast64_t accesses;    /* requests served */
    atomic_uint_fast64_t bytes;       /* bytes sent */
    atomic_uint_fast32_t conns;       /* connections served */
    _Atomic int64_t last_used;        /* wall-clock seconds */
    atomic_uint_fast64_t duration_ms; /* milliseconds spent on the requests served (Total Duration) */
};

struct sb_child {
    _Atomic pid_t pid; /* 0 if the slot is free */
    _Atomic int generation;
    _Atomic int quitting;           /* leaving gracefully: asked by the parent, or by itself (recycling);
                                       enum sb_quitting */
    atomic_int_fast32_t conns;      /* connections open now (event) */
    atomic_int_fast32_t idle_conns; /* idle keep-alive connections (event) */
};

/*
 * What every child must agree on about a proxy upstream (a ProxyPass URL, or a balancer member): its error
 * state and its counters. A slot is claimed by name on first use and keeps its counters across restarts.
 */
#define SB_MEMBERS_MAX     64
#define SB_MEMBER_NAME_MAX 160
struct sb_member {
    atomic_int used;               /* 0 free, 1 being named, 2 named (name is final) */
    char name[SB_MEMBER_NAME_MAX]; /* "balancer://app http://127.0.0.1:9000/", or the URL of a ProxyPass */
    atomic_uint_fast64_t elected;  /* requests sent to it */
    atomic_int busy;               /* requests in progress */
    atomic_uint_fast64_t sent;     /* bytes of requests sent */
    atomic_uint_fast64_t rcvd;     /* bytes of responses received */
    atomic_uint_fast64_t failures; /* connects that failed */
    _Atomic int64_t error_until;   /* monotonic ms: in the error state until then (retry=) */
    atomic_int lbstatus;           /* byrequests' running score */
};

#define SB_MPM_NAME_MAX 16

/* What the running model makes of the board, as /server-status shows it. */
struct sb_info {
    char mpm[SB_MPM_NAME_MAX]; /* "prefork", "worker", "event"; "" until supervision has written it */
    int async;                 /* a reactor per child owns its connections (event): the rows' connection
                                  counts are what the children are doing */
    int threads_per_child;     /* worker slots each child uses */
    int max_servers; /* children the configuration runs at most: MaxRequestWorkers / ThreadsPerChild,
                        or the fixed number of children (Apache's AP_MPMQ_MAX_DAEMONS) */
};

struct scoreboard {
    int server_limit;
    int thread_limit;
    time_t start_time;
    _Atomic int generation;
    /* struct sb_info, field by field: rewritten by the parent at each generation while children may read it,
     * so it is a sequence lock (odd while scoreboard_set_info() writes) over atomic fields */
    atomic_uint info_seq;
    _Atomic char info_mpm[SB_MPM_NAME_MAX];
    atomic_int info_async, info_threads_per_child, info_max_servers;
    struct sb_child *children; /* server_limit rows */
    struct sb_worker *workers; /* server_limit * thread_limit slots */
    struct sb_member *members; /* SB_MEMBERS_MAX slots */
};

/* Maps a scoreboard shared with future children. NULL on failure (err says why). */
struct scoreboard *scoreboard_create(int server_limit, int thread_limit, struct errbuf *err);

/* Unmaps it. */
void scoreboard_destroy(struct scoreboard *sb);

/*
 * The scoreboard this process mapped last (its forked children inherit it), or NULL before the first one
 * and once that one is unmapped: how a handler finds the board without knowing who made it.
 */
struct scoreboard *scoreboard_current(void);

/* Writes the header's description of the running model (by the process that supervises the children). */
void scoreboard_set_info(struct scoreboard *sb, const struct sb_info *info);

/* Reads it whole: never half of one write and half of another (mpm is "" if it was never written). */
void scoreboard_get_info(struct scoreboard *sb, struct sb_info *info);

/* Child row `i`. */
struct sb_child *scoreboard_child(struct scoreboard *sb, int i);

/* Worker slot `t` of child `i`. */
struct sb_worker *scoreboard_worker(struct scoreboard *sb, int i, int t);

/* Sets a slot's state (and its last-used time when it becomes busy). */
void scoreboard_set_state(struct sb_worker *w, enum sb_state st);

/* Accounts a finished request to a slot: one access, `bytes` sent, `duration_ms` spent (negative: 0). */
void scoreboard_request_done(struct sb_worker *w, uint64_t bytes, int64_t duration_ms);

/* Workers in SB_READY over the live children whose generation is `gen` and which are not quitting. */
int scoreboard_idle_workers(struct scoreboard *sb, int gen);

/* The member slot named `name` (truncated to SB_MEMBER_NAME_MAX - 1), claimed when no slot has it yet; NULL
 * when every slot is taken. Safe against other processes claiming at the same time. */
struct sb_member *scoreboard_member(struct scoreboard *sb, const char *name);

/* Member slot i (0 .. SB_MEMBERS_MAX - 1) when it is named, else NULL. */
struct sb_member *scoreboard_member_at(struct scoreboard *sb, int i);

/* Totals over every slot. */
uint64_t scoreboard_total_accesses(struct scoreboard *sb);
uint64_t scoreboard_total_bytes(struct scoreboard *sb);

#endif
