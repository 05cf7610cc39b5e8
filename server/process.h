/*
 * Supervision, written once for every MPM: the parent starts children, reaps them, replaces a crashed one,
 * keeps idle workers between min_spare and max_spare (Apache's idle-server maintenance: checked once a
 * second, spawning 1, 2, 4 ... 32 children a second while short), and stops everything on TERM. An MPM
 * describes its children with a process_policy and provides child_main.
 */
#ifndef HTTPD_PROCESS_H
#define HTTPD_PROCESS_H

#include <signal.h>

struct server;
struct scoreboard;

/* What a child knows about itself. */
struct child_ctx {
    int slot; /* its row in the scoreboard */
    int generation;
    struct scoreboard *sb;
    volatile sig_atomic_t *stop;     /* TERM/INT/HUP: a forked child _exit()s at once; seen with -X */
    volatile sig_atomic_t *graceful; /* USR1/WINCH (the parent asked it to leave): finish, then exit */
    volatile sig_atomic_t *leaving;  /* set with either of them: what serve_connection() watches */
};

struct process_policy {
    const char *mpm_name;        /* for log lines: "mpm_<name>" */
    int start_children;          /* StartServers */
    int min_spare, max_spare;    /* idle worker slots to keep; both 0: a fixed number of children */
    int max_children;            /* MaxRequestWorkers / workers_per_child, <= ServerLimit */
    int workers_per_child;       /* 1 for prefork, ThreadsPerChild for worker, 1 for event */
    const char *limit_directive; /* named in "server reached ... setting" */
    /*
     * Runs in each child after fork (and in the only process with -X); returning ends the child. It marks
     * its worker slots SB_READY when they can take a connection (the parent counts READY, and STARTING as
     * soon to be ready, as idle); the slots are marked SB_DEAD after it returns.
     */
    void (*child_main)(struct server *s, struct child_ctx *ctx);
};

/*
 * The parent's loop: starts children, maintains them, and returns 0 after TERM/INT once every child has
 * exited (TERM, then KILL after 3 s), or after WINCH once every child has finished its connections (the
 * listeners are closed first). HUP and USR1 (restarts) are logged and ignored for now. With s->one_process
 * it runs child_main in this process instead. Returns -1 if it could not start.
 */
int process_run(struct server *s, const struct process_policy *p);

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

/* The scoreboard of the running server (for /server-status), or NULL before process_run() created it. */
struct scoreboard *process_scoreboard(void);

#endif
