/*
 * Supervision, written once for every MPM: the parent starts children, reaps them, replaces a crashed one,
 * keeps idle workers between min_spare and max_spare (Apache's idle-server maintenance: checked once a
 * second, spawning 1, 2, 4 ... 32 children a second while short), and stops everything on TERM. An MPM
 * describes its children with a process_policy and provides child_main.
 *
 * Restarts are generations. On HUP or USR1 process_run() returns to main() with the children still serving;
 * main() reads the configuration again and, if it is good, calls process_new_generation() and the (possibly
 * different) MPM's run(), whose process_run() adopts the children of older generations: it reaps and counts
 * them while they finish, and never counts them as idle workers of the new one. If the configuration is bad,
 * main() calls run() again with the old one and the same generation goes on serving.
 */
#ifndef HTTPD_PROCESS_H
#define HTTPD_PROCESS_H

#include <signal.h>

struct server;
struct scoreboard;
struct errbuf;

/* What *leaving says (0: go on serving). */
enum child_leave {
    /* stopping: an idle keep-alive connection ends now */
    CHILD_LEAVE = 1,
    /* restarting: an idle one waits for its next request, answered with Connection: close (or for
     * KeepAliveTimeout), so that no request in flight is lost */
    CHILD_LEAVE_AFTER_NEXT = 2
};

/* What a child knows about itself. */
struct child_ctx {
    int slot; /* its row in the scoreboard */
    int generation;
    struct scoreboard *sb;
    volatile sig_atomic_t *stop;     /* TERM/INT/HUP: a forked child _exit()s at once; seen with -X */
    volatile sig_atomic_t *graceful; /* USR1/WINCH (the parent asked it to leave): finish, then exit */
    volatile sig_atomic_t *leaving;  /* set with either of them: what serve_connection() watches; CHILD_LEAVE,
                                        or CHILD_LEAVE_AFTER_NEXT when a graceful restart retires the child */
};

struct process_policy {
    const char *mpm_name;        /* for log lines: "mpm_<name>" */
    int start_children;          /* StartServers */
    int min_spare, max_spare;    /* idle worker slots to keep; both 0: a fixed number of children */
    int max_children;            /* MaxRequestWorkers / workers_per_child, <= ServerLimit */
    int workers_per_child;       /* 1 for prefork, ThreadsPerChild for worker, 1 for event */
    int async;                   /* a child's reactor owns its connections (event): told to the scoreboard */
    const char *limit_directive; /* named in "server reached ... setting" */
    /*
     * When the child is asked to leave, its signal handler closes the child's copies of the listening sockets
     * (as Apache's prefork does), so that after a graceful stop new connections are refused at once instead
     * of waiting, unanswered, on a socket that a finishing child keeps open. Only for an MPM that touches the
     * listeners with its signals blocked, or from a wait that the signal ends for good (prefork, worker); an
     * MPM whose event library holds them registered closes them itself when it leaves (event).
     */
    int close_listeners_on_leave;
    /*
     * Runs in each child after fork (and in the only process with -X); returning ends the child. It marks
     * its worker slots SB_READY when they can take a connection (the parent counts READY, and STARTING as
     * soon to be ready, as idle); the slots are marked SB_DEAD after it returns.
     */
    void (*child_main)(struct server *s, struct child_ctx *ctx);
};

/* Why process_run() returned; the first two are also main()'s exit status. */
enum process_result {
    PROCESS_STOPPED = 0,  /* TERM/INT, or WINCH once every child finished: every child has exited */
    PROCESS_FAILED = 1,   /* could not start */
    PROCESS_RESTART = 2,  /* HUP: reload, then run again; the children still serve until then */
    PROCESS_GRACEFUL = 3, /* USR1: likewise, and the children will be asked to finish rather than stop */
};

/*
 * Called by main() once, before the first process_run(): maps the scoreboard, server_limit rows of
 * thread_limit worker slots, for the whole life of the server (every generation and every MPM shares it, so
 * it must be large enough for any MPM a graceful restart may switch to). Returns 0, or -1 with err.
 */
int process_init(int server_limit, int thread_limit, struct errbuf *err);

/*
 * The parent's loop: starts children (the missing ones only, when it adopts a generation that is already
 * running), maintains them, and returns
 *   PROCESS_STOPPED after TERM/INT once every child has exited (TERM, then KILL after 3 s), or after WINCH
 *     once every child has finished its connections (the listeners are closed first; after
 *     GracefulShutdownTimeout seconds, if set, the rest are stopped as by TERM); the scoreboard is then
 *     unmapped;
 *   PROCESS_RESTART after HUP and PROCESS_GRACEFUL after USR1, at once: children untouched, signals still
 *     held, so that main() can reload and call run() again;
 *   PROCESS_FAILED if it could not start.
 * With s->one_process it runs child_main in this process instead (-X; HUP and USR1 then stop it).
 */
int process_run(struct server *s, const struct process_policy *p);

/*
 * After a restart, once the new configuration is in place (listeners, logs): starts the next generation.
 * At the next process_run() the children of older generations are told to leave: with `graceful`, they
 * finish what they serve (USR1; no longer counted as idle) while the new generation starts at once;
 * otherwise they get TERM and the new generation starts once they have gone (KILL after 3 s).
 */
void process_new_generation(int graceful);

/*
 * Called by main() before the listeners open: holds TERM, INT, HUP, USR1, WINCH and CHLD blocked until
 * process_run() takes them, so a TERM sent as soon as the port answers still stops the server cleanly.
 */
void process_hold_signals(void);

/* In a child: true when it should stop taking new connections (graceful or immediate stop requested). */
int process_child_leaving(const struct child_ctx *ctx);

/*
 * In a child: blocks or unblocks the signals the child handles (worker threads block them, so the signals
 * reach the thread that waits for them; an MPM may also keep them blocked outside a ppoll/epoll_pwait).
 */
void process_block_signals(int block);

/* The scoreboard of the running server (for /server-status), or NULL before process_init(). */
struct scoreboard *process_scoreboard(void);

#endif
