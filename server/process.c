/*
 * Process supervision, shared by every MPM. The parent never serves: it forks children, reaps them and keeps
 * the number of idle workers between the policy's min_spare and max_spare, as Apache's
 * perform_idle_server_maintenance() does, once a second and at once when a child exits.
 *
 * The parent keeps its signals blocked and takes them one at a time with sigtimedwait(), whose timeout is the
 * next one-second tick: no handler runs in the parent, nothing races, and it sleeps when nothing happens.
 * A forked child installs handlers (without SA_RESTART, so a blocking accept or poll returns EINTR) and then
 * unblocks: TERM/INT/HUP end it at once, as Apache's children; USR1/WINCH ask it to finish its connections
 * and leave. The child that the parent asks to leave is marked `quitting` in the scoreboard first, so it no
 * longer counts as idle, and is signalled again every second until it has gone (a signal that arrives just
 * before the child blocks is not lost for good).
 *
 * Signals in the parent: TERM/INT stop (children get TERM, then KILL after 3 s); WINCH stops gracefully
 * (listeners closed, children finish their connections). Every child row carries the generation it was
 * started in, and only the current generation's idle workers are counted, so a restart is a generation bump.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "listen.h"
#include "log.h"
#include "process.h"
#include "scoreboard.h"
#include "server.h"

#define TICK_MS         1000 /* idle-server maintenance interval */
#define MAX_SPAWN_RATE  32   /* children spawned per tick at most, as Apache's MAX_SPAWN_RATE */
#define STOP_TIMEOUT_MS 3000 /* TERM, then KILL */
#define BUSY_LOG_RATE   8    /* spawn rates from which "server seems busy" is logged */

static struct scoreboard *process_sb;

/* The running child's flags, set by its signal handlers. */
static volatile sig_atomic_t child_stop, child_graceful, child_leaving;
/* In a forked child a stop signal ends the process at once; with -X it only sets the flags. */
static volatile sig_atomic_t exit_on_stop;

/* The parent's state. */
struct parent {
    struct server *s;
    const struct process_policy *p;
    struct scoreboard *sb;
    int gen;            /* current generation */
    int workers;        /* worker slots used per child */
    int max_children;   /* live children at most */
    int fixed;          /* min_spare == max_spare == 0: keep `start` children */
    int start;          /* start_children, at most max_children */
    int live;           /* children not yet reaped */
    int spawn_rate;     /* Apache's idle_spawn_rate: 1, 2, 4 ... MAX_SPAWN_RATE */
    int limit_reported; /* "server reached ..." logged during the current shortage */
    int respawn_budget; /* immediate replacements left in this tick */
    sigset_t orig_mask; /* the mask before process_run(), restored in children */
    char module[32];    /* "mpm_prefork" for log lines */
};

/* The signals a child handles (and worker threads block). */
static void child_signal_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGUSR1);
    sigaddset(set, SIGWINCH);
}

/* The signals the parent takes with sigtimedwait(). */
static void parent_signal_set(sigset_t *set)
{
    child_signal_set(set);
    sigaddset(set, SIGCHLD);
}

static void on_stop(int sig)
{
    (void)sig;
    child_stop = 1;
    child_leaving = 1;
    if (exit_on_stop)
        _exit(0);
}

static void on_graceful(int sig)
{
    (void)sig;
    child_graceful = 1;
    child_leaving = 1;
}

/* Installs a handler without SA_RESTART, so that blocking calls return EINTR. */
static int set_handler(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    child_signal_set(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) < 0) {
        log_error(LOG_ERR, "core", "sigaction(%d) failed: %s", sig, strerror(errno));
        return -1;
    }
    return 0;
}

static int install_child_handlers(void)
{
    int rc = 0;
    rc |= set_handler(SIGTERM, on_stop);
    rc |= set_handler(SIGINT, on_stop);
    rc |= set_handler(SIGHUP, on_stop);
    rc |= set_handler(SIGUSR1, on_graceful);
    rc |= set_handler(SIGWINCH, on_graceful);
    rc |= set_handler(SIGCHLD, SIG_DFL);
    return rc;
}

int process_child_leaving(const struct child_ctx *ctx)
{
    return *ctx->stop || *ctx->graceful;
}

void process_block_signals(int block)
{
    sigset_t set;
    child_signal_set(&set);
    int rc = pthread_sigmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
    if (rc != 0)
        log_error(LOG_ERR, "core", "pthread_sigmask() failed: %s", strerror(rc));
}

struct scoreboard *process_scoreboard(void)
{
    return process_sb;
}

/* Marks every worker slot of child row i dead. */
static void clear_workers(struct scoreboard *sb, int i)
{
    for (int t = 0; t < sb->thread_limit; t++)
        atomic_store(&scoreboard_worker(sb, i, t)->state, (char)SB_DEAD);
}

/* In the new child: never returns. */
static void run_child(struct parent *P, int slot)
{
    struct sb_child *row = scoreboard_child(P->sb, slot);
    exit_on_stop = 1;
    if (install_child_handlers() < 0)
        _exit(1);
    if (sigprocmask(SIG_SETMASK, &P->orig_mask, NULL) < 0) {
        log_error(LOG_ERR, P->module, "sigprocmask() failed: %s", strerror(errno));
        _exit(1);
    }
    atomic_store(&row->pid, getpid());

    struct child_ctx ctx = {
        .slot = slot,
        .generation = P->gen,
        .sb = P->sb,
        .stop = &child_stop,
        .graceful = &child_graceful,
        .leaving = &child_leaving,
    };
    P->p->child_main(P->s, &ctx);
    clear_workers(P->sb, slot);
    _exit(0);
}

/* Starts a child in a free row. Returns 0, or -1 when there is no free row or fork() failed. */
static int make_child(struct parent *P)
{
    int slot = -1;
    for (int i = 0; i < P->sb->server_limit; i++) {
        if (atomic_load(&scoreboard_child(P->sb, i)->pid) == 0) {
            slot = i;
            break;
        }
    }
    if (slot < 0)
        return -1;

    struct sb_child *row = scoreboard_child(P->sb, slot);
    atomic_store(&row->generation, P->gen);
    atomic_store(&row->quitting, 0);
    atomic_store(&row->conns, 0);
    atomic_store(&row->idle_conns, 0);
    for (int t = 0; t < P->workers; t++)
        atomic_store(&scoreboard_worker(P->sb, slot, t)->state, (char)SB_STARTING);

    pid_t pid = fork();
    if (pid < 0) {
        log_error(LOG_ALERT, P->module, "fork() failed: %s", strerror(errno));
        clear_workers(P->sb, slot);
        return -1;
    }
    if (pid == 0)
        run_child(P, slot);
    /* Children are reaped only by this loop, so the row holds the pid before the child can be reaped. */
    atomic_store(&row->pid, pid);
    P->live++;
    return 0;
}

/* The row of child `pid`, or -1. */
static int find_child(struct parent *P, pid_t pid)
{
    for (int i = 0; i < P->sb->server_limit; i++)
        if (atomic_load(&scoreboard_child(P->sb, i)->pid) == pid)
            return i;
    return -1;
}

/* Collects every child that has exited, logs abnormal ends and frees their rows. Returns how many. */
static int reap(struct parent *P, int stopping)
{
    int n = 0;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid == 0)
            break;
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            if (errno != ECHILD)
                log_error(LOG_ERR, P->module, "waitpid() failed: %s", strerror(errno));
            break;
        }
        int slot = find_child(P, pid);
        if (slot < 0)
            continue;
        if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            if (!(stopping && (sig == SIGTERM || sig == SIGKILL)))
                log_error(LOG_ERR, P->module, "child pid %d exit signal %s (%d)%s", (int)pid, strsignal(sig),
                          sig, WCOREDUMP(status) ? ", possible coredump" : "");
        } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            log_error(LOG_ERR, P->module, "child pid %d exit status %d", (int)pid, WEXITSTATUS(status));
        }
        struct sb_child *row = scoreboard_child(P->sb, slot);
        clear_workers(P->sb, slot);
        atomic_store(&row->quitting, 0);
        atomic_store(&row->pid, 0);
        P->live--;
        n++;
    }
    return n;
}

/* Live children of the current generation that are not leaving. */
static int active_children(struct parent *P)
{
    int n = 0;
    for (int i = 0; i < P->sb->server_limit; i++) {
        struct sb_child *row = scoreboard_child(P->sb, i);
        if (atomic_load(&row->pid) != 0 && atomic_load(&row->generation) == P->gen &&
            !atomic_load(&row->quitting))
            n++;
    }
    return n;
}

/* Idle workers as the maintenance sees them: ready ones, and starting ones that soon will be (as Apache). */
static int idle_workers(struct parent *P)
{
    int idle = scoreboard_idle_workers(P->sb, P->gen);
    for (int i = 0; i < P->sb->server_limit; i++) {
        struct sb_child *row = scoreboard_child(P->sb, i);
        if (atomic_load(&row->pid) == 0 || atomic_load(&row->generation) != P->gen ||
            atomic_load(&row->quitting))
            continue;
        for (int t = 0; t < P->sb->thread_limit; t++)
            if (atomic_load(&scoreboard_worker(P->sb, i, t)->state) == SB_STARTING)
                idle++;
    }
    return idle;
}

/* Asks the child with the most idle workers (the last one on a tie) to finish and leave. */
static void retire_one(struct parent *P)
{
    int victim = -1, best = 0;
    for (int i = 0; i < P->sb->server_limit; i++) {
        struct sb_child *row = scoreboard_child(P->sb, i);
        if (atomic_load(&row->pid) == 0 || atomic_load(&row->generation) != P->gen ||
            atomic_load(&row->quitting))
            continue;
        int ready = 0;
        for (int t = 0; t < P->sb->thread_limit; t++)
            if (atomic_load(&scoreboard_worker(P->sb, i, t)->state) == SB_READY)
                ready++;
        if (ready > 0 && ready >= best) {
            best = ready;
            victim = i;
        }
    }
    if (victim < 0)
        return;
    struct sb_child *row = scoreboard_child(P->sb, victim);
    atomic_store(&row->quitting, 1);
    pid_t pid = atomic_load(&row->pid);
    if (kill(pid, SIGUSR1) < 0 && errno != ESRCH)
        log_error(LOG_ERR, P->module, "kill(%d, SIGUSR1) failed: %s", (int)pid, strerror(errno));
}

/* Signals `sig` to every live child; with `quitting_only`, only to those asked to leave. */
static void signal_children(struct parent *P, int sig, int quitting_only)
{
    for (int i = 0; i < P->sb->server_limit; i++) {
        struct sb_child *row = scoreboard_child(P->sb, i);
        pid_t pid = atomic_load(&row->pid);
        if (pid == 0 || (quitting_only && !atomic_load(&row->quitting)))
            continue;
        if (kill(pid, sig) < 0 && errno != ESRCH)
            log_error(LOG_ERR, P->module, "kill(%d, %d) failed: %s", (int)pid, sig, strerror(errno));
    }
}

/* Starts up to n children; returns how many started. */
static int spawn(struct parent *P, int n)
{
    int started = 0;
    while (started < n && make_child(P) == 0)
        started++;
    return started;
}

/* Once a second: keep the idle workers between min_spare and max_spare (or the fixed count of children). */
static void maintain(struct parent *P)
{
    const struct process_policy *p = P->p;

    if (P->fixed) {
        int missing = P->start - active_children(P);
        if (missing > 0)
            spawn(P, missing);
        return;
    }

    int idle = idle_workers(P);
    if (idle > p->max_spare) {
        retire_one(P);
        P->spawn_rate = 1;
        P->limit_reported = 0;
    } else if (idle < p->min_spare) {
        if (P->live >= P->max_children) {
            if (!P->limit_reported) {
                log_error(LOG_ERR, P->module, "server reached %s setting, consider raising the %s setting",
                          p->limit_directive, p->limit_directive);
                P->limit_reported = 1;
            }
            P->spawn_rate = 1;
            return;
        }
        int n = P->spawn_rate;
        if (n > P->max_children - P->live)
            n = P->max_children - P->live;
        if (P->spawn_rate >= BUSY_LOG_RATE)
            log_error(LOG_INFO, P->module,
                      "server seems busy, (you may need to increase StartServers, or Min/MaxSpare settings), "
                      "spawning %d children, there are %d idle, and %d total children",
                      n, idle, P->live);
        spawn(P, n);
        if (P->spawn_rate < MAX_SPAWN_RATE)
            P->spawn_rate *= 2;
    } else {
        P->spawn_rate = 1;
        P->limit_reported = 0;
    }
}

/* Right after children exited: replace them at once if that leaves the server short. */
static void replace_exited(struct parent *P)
{
    const struct process_policy *p = P->p;
    if (P->fixed) {
        int missing = P->start - active_children(P);
        if (missing > P->respawn_budget)
            missing = P->respawn_budget;
        if (missing > 0)
            P->respawn_budget -= spawn(P, missing);
        return;
    }
    if (P->respawn_budget > 0 && P->live < P->max_children && idle_workers(P) < p->min_spare &&
        make_child(P) == 0)
        P->respawn_budget--;
}

/* Waits up to `ms` for one of the parent's signals; returns it, or 0 on timeout. */
static int wait_signal(struct parent *P, int64_t ms)
{
    sigset_t set;
    siginfo_t info;
    parent_signal_set(&set);
    if (ms < 0)
        ms = 0;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    int sig = sigtimedwait(&set, &info, &ts);
    if (sig < 0) {
        if (errno != EAGAIN && errno != EINTR)
            log_error(LOG_ERR, P->module, "sigtimedwait() failed: %s", strerror(errno));
        return 0;
    }
    return sig;
}

/* TERM to every child, KILL to those still there after STOP_TIMEOUT_MS; returns once all are reaped. */
static void stop_children(struct parent *P)
{
    signal_children(P, SIGTERM, 0);
    int64_t deadline = now_ms() + STOP_TIMEOUT_MS;
    for (;;) {
        reap(P, 1);
        if (P->live <= 0)
            return;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        wait_signal(P, left);
    }
    for (int i = 0; i < P->sb->server_limit; i++) {
        pid_t pid = atomic_load(&scoreboard_child(P->sb, i)->pid);
        if (pid == 0)
            continue;
        log_error(LOG_WARN, P->module, "child process %d still did not exit, sending a SIGKILL", (int)pid);
        if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
            log_error(LOG_ERR, P->module, "kill(%d, SIGKILL) failed: %s", (int)pid, strerror(errno));
    }
    while (P->live > 0) {
        reap(P, 1);
        if (P->live > 0)
            wait_signal(P, 100);
    }
}

/* WINCH: stop listening, let every child finish its connections, wait for them. TERM/INT cut it short. */
static void graceful_stop(struct parent *P)
{
    log_error(LOG_NOTICE, P->module, "caught SIGWINCH, shutting down gracefully");
    listen_close(P->s);
    for (int i = 0; i < P->sb->server_limit; i++)
        if (atomic_load(&scoreboard_child(P->sb, i)->pid) != 0)
            atomic_store(&scoreboard_child(P->sb, i)->quitting, 1);
    signal_children(P, SIGUSR1, 1);
    int64_t next_tick = now_ms() + TICK_MS;
    for (;;) {
        reap(P, 0);
        if (P->live <= 0)
            break;
        int sig = wait_signal(P, next_tick - now_ms());
        if (sig == SIGTERM || sig == SIGINT) {
            log_error(LOG_NOTICE, P->module, "caught %s, shutting down",
                      sig == SIGTERM ? "SIGTERM" : "SIGINT");
            stop_children(P);
            return;
        }
        if (now_ms() >= next_tick) {
            signal_children(P, SIGUSR1, 1);
            next_tick = now_ms() + TICK_MS;
        }
    }
}

/* -X: child_main in this process, slot 0; TERM/INT set the stop flag, which the MPM's loop notices. */
/* The mask main() had before process_hold_signals(); what children and -X run with. */
static sigset_t startup_mask;
static int startup_held;

void process_hold_signals(void)
{
    sigset_t set;
    parent_signal_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, &startup_mask) < 0)
        log_error(LOG_ERR, "core", "sigprocmask() failed: %s", strerror(errno));
    else
        startup_held = 1;
}

static int run_one_process(struct server *s, const struct process_policy *p, struct scoreboard *sb)
{
    exit_on_stop = 0;
    if (install_child_handlers() < 0)
        return -1;
    /* a TERM that arrived during start-up is delivered now, to the handler, and stops the loop at once */
    if (startup_held && sigprocmask(SIG_SETMASK, &startup_mask, NULL) < 0)
        log_error(LOG_ERR, "core", "sigprocmask() failed: %s", strerror(errno));
    struct sb_child *row = scoreboard_child(sb, 0);
    atomic_store(&row->pid, getpid());
    atomic_store(&row->generation, 0);
    struct child_ctx ctx = {
        .slot = 0,
        .generation = 0,
        .sb = sb,
        .stop = &child_stop,
        .graceful = &child_graceful,
        .leaving = &child_leaving,
    };
    p->child_main(s, &ctx);
    clear_workers(sb, 0);
    atomic_store(&row->pid, 0);
    return 0;
}

int process_run(struct server *s, const struct process_policy *p)
{
    struct errbuf err;
    struct parent P;
    sigset_t set;
    int rc = -1, masked = 0;

    memset(&P, 0, sizeof(P));
    P.s = s;
    P.p = p;
    P.workers = p->workers_per_child > 0 ? p->workers_per_child : 1;
    snprintf(P.module, sizeof(P.module), "mpm_%s", p->mpm_name);

    int server_limit = s->mpm_conf.server_limit > 0 ? s->mpm_conf.server_limit : 1;
    int thread_limit = s->mpm_conf.thread_limit > P.workers ? s->mpm_conf.thread_limit : P.workers;
    P.max_children = p->max_children > 0 && p->max_children < server_limit ? p->max_children : server_limit;
    P.fixed = p->min_spare <= 0 && p->max_spare <= 0;
    P.start = p->start_children < P.max_children ? p->start_children : P.max_children;
    P.spawn_rate = 1;
    P.respawn_budget = MAX_SPAWN_RATE;

    /* A write to a closed connection returns EPIPE instead of killing the process. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        log_error(LOG_ERR, P.module, "sigaction(SIGPIPE) failed: %s", strerror(errno));
        return -1;
    }

    P.sb = scoreboard_create(server_limit, thread_limit, &err);
    if (P.sb == NULL) {
        log_error(LOG_EMERG, P.module, "could not create the scoreboard: %s", err.msg);
        return -1;
    }
    process_sb = P.sb;

    if (s->one_process) {
        rc = run_one_process(s, p, P.sb);
        goto done;
    }

    /* SIGCHLD must not be ignored, or the children would be reaped by the kernel. */
    sa.sa_handler = SIG_DFL;
    if (sigaction(SIGCHLD, &sa, NULL) < 0) {
        log_error(LOG_ERR, P.module, "sigaction(SIGCHLD) failed: %s", strerror(errno));
        goto done;
    }
    parent_signal_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, &P.orig_mask) < 0) {
        log_error(LOG_ERR, P.module, "sigprocmask() failed: %s", strerror(errno));
        goto done;
    }
    if (startup_held)
        P.orig_mask = startup_mask;
    masked = 1;

    spawn(&P, P.start);

    int64_t next_tick = now_ms() + TICK_MS;
    for (;;) {
        int sig = wait_signal(&P, next_tick - now_ms());
        if (sig == SIGTERM || sig == SIGINT) {
            log_error(LOG_NOTICE, P.module, "caught %s, shutting down",
                      sig == SIGTERM ? "SIGTERM" : "SIGINT");
            stop_children(&P);
            break;
        }
        if (sig == SIGWINCH) {
            graceful_stop(&P);
            break;
        }
        if (sig == SIGHUP || sig == SIGUSR1)
            log_error(LOG_WARN, P.module, "caught %s: restarting is not supported, signal ignored",
                      sig == SIGHUP ? "SIGHUP" : "SIGUSR1");
        if (sig == SIGCHLD && reap(&P, 0) > 0)
            replace_exited(&P);
        if (now_ms() >= next_tick) {
            reap(&P, 0);
            maintain(&P);
            signal_children(&P, SIGUSR1, 1);
            P.respawn_budget = MAX_SPAWN_RATE;
            next_tick = now_ms() + TICK_MS;
        }
    }
    rc = 0;

done:
    /* A HUP or TERM that arrived during the stop would kill the process once unblocked: take them now. */
    while (masked && wait_signal(&P, 0) > 0)
        ;
    if (masked && sigprocmask(SIG_SETMASK, &P.orig_mask, NULL) < 0)
        log_error(LOG_ERR, P.module, "sigprocmask() failed: %s", strerror(errno));
    process_sb = NULL;
    scoreboard_destroy(P.sb);
    return rc;
}
