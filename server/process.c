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
 * (listeners closed, children finish their connections, GracefulShutdownTimeout bounds the wait); HUP and
 * USR1 return to main(), which reloads the configuration and calls run() again.
 *
 * The one thing to know: a restart is a generation bump, and the scoreboard is the table of children of
 * every generation. It is mapped once (process_init()) and outlives each process_run(): the next one, maybe
 * for another MPM, finds the older children in its rows, reaps them as they finish and counts them against
 * the free rows, but not as its own children and never as idle workers (every count below filters by
 * generation). The parent's signals stay blocked from the first process_run() to the last, so nothing that
 * arrives while main() reloads is lost. An old child is marked SB_QUIT_RESTART rather than SB_QUIT_STOP: it
 * keeps an idle keep-alive connection for the client's next request, answered with Connection: close, since
 * closing it could meet that request on its way.
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
#include "unixd.h"

#define TICK_MS         1000 /* idle-server maintenance interval */
#define MAX_SPAWN_RATE  32   /* children spawned per tick at most, as Apache's MAX_SPAWN_RATE */
#define STOP_TIMEOUT_MS 3000 /* TERM, then KILL */
#define BUSY_LOG_RATE   8    /* spawn rates from which "server seems busy" is logged */

/* What outlives one process_run(): the scoreboard and the generations. */
static struct scoreboard *process_sb;
static int process_gen;       /* the current generation, also in process_sb->generation */
static int next_gen_pending;  /* process_new_generation() was called: older children are to leave */
static int next_gen_graceful; /* ... by finishing (USR1) rather than at once (TERM) */
static int parent_holds;      /* the parent's signals are blocked (from the first process_run() on) */
static sigset_t child_mask;   /* the mask before that, which every child runs with */

/* The mask main() had before process_hold_signals(); what children and -X run with. */
static sigset_t startup_mask;
static int startup_held;

/* The running child's flags, set by its signal handlers. */
static volatile sig_atomic_t child_stop, child_graceful, child_leaving;
/* In a forked child a stop signal ends the process at once; with -X it only sets the flags. */
static volatile sig_atomic_t exit_on_stop;
/* The child's server, whose listeners on_graceful() closes if the policy says so, and its row. */
static struct server *child_server;
static struct sb_child *child_row;
static volatile sig_atomic_t child_closes_listeners;

/* The parent's state during one process_run(). */
struct parent {
    struct server *s;
    const struct process_policy *p;
    struct scoreboard *sb;
    int gen;            /* current generation */
    int workers;        /* worker slots used per child */
    int max_children;   /* live children of the current generation at most */
    int fixed;          /* min_spare == max_spare == 0: keep `start` children */
    int start;          /* start_children, at most max_children */
    int live;           /* children of every generation not yet reaped */
    int spawn_rate;     /* Apache's idle_spawn_rate: 1, 2, 4 ... MAX_SPAWN_RATE */
    int limit_reported; /* "server reached ..." logged during the current shortage */
    int rows_reported;  /* "no free scoreboard row" logged in this run */
    int respawn_budget; /* immediate replacements left in this tick */
    int deferred;       /* a signal taken while waiting for older children to stop, handled next */
    char module[32];    /* "mpm_prefork" for log lines */
};

/* Which children an operation applies to. */
enum which { ALL_GENS, CURRENT_GEN, OLDER_GENS };

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
    child_leaving = CHILD_LEAVE;
    /* BufferedLogs: a thread interrupted while logging writes the lines and ends the process itself */
    if (exit_on_stop && log_flush_on_signal())
        _exit(0);
}

static void on_graceful(int sig)
{
    (void)sig;
    /* the row says why (a lock-free atomic load is async-signal-safe); a stop outranks a restart */
    int why = child_row != NULL ? atomic_load(&child_row->quitting) : SB_QUIT_STOP;
    child_graceful = 1;
    if (child_leaving != CHILD_LEAVE)
        child_leaving = why == SB_QUIT_RESTART ? CHILD_LEAVE_AFTER_NEXT : CHILD_LEAVE;
    /* close() is async-signal-safe; the parent and a new generation keep their own copies open */
    if (child_closes_listeners && child_server != NULL) {
        for (struct listener *l = child_server->listeners; l != NULL; l = l->next) {
            if (l->fd >= 0)
                close(l->fd);
            l->fd = -1;
        }
    }
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

int process_init(int server_limit, int thread_limit, struct errbuf *err)
{
    if (process_sb != NULL)
        return 0;
    process_sb = scoreboard_create(server_limit, thread_limit, err);
    if (process_sb == NULL)
        return -1;
    atomic_store(&process_sb->generation, process_gen);
    return 0;
}

void process_new_generation(int graceful)
{
    process_gen++;
    if (process_sb != NULL)
        atomic_store(&process_sb->generation, process_gen);
    /* a hard restart wins over a graceful one requested before it was carried out */
    next_gen_graceful = next_gen_pending ? next_gen_graceful && graceful : graceful;
    next_gen_pending = 1;
}

/* Marks every worker slot of child row i dead. */
static void clear_workers(struct scoreboard *sb, int i)
{
    for (int t = 0; t < sb->thread_limit; t++)
        atomic_store(&scoreboard_worker(sb, i, t)->state, (char)SB_DEAD);
}

/* Whether row i holds a live child that `which` selects. */
static int row_is(const struct parent *P, int i, enum which which)
{
    struct sb_child *row = scoreboard_child(P->sb, i);
    if (atomic_load(&row->pid) == 0)
        return 0;
    switch (which) {
    case CURRENT_GEN:
        return atomic_load(&row->generation) == P->gen;
    case OLDER_GENS:
        return atomic_load(&row->generation) != P->gen;
    case ALL_GENS:
        break;
    }
    return 1;
}

/* Live children that `which` selects. */
static int count_children(const struct parent *P, enum which which)
{
    int n = 0;
    for (int i = 0; i < P->sb->server_limit; i++)
        n += row_is(P, i, which);
    return n;
}

/* In the new child: never returns. */
static void run_child(struct parent *P, int slot)
{
    struct sb_child *row = scoreboard_child(P->sb, slot);
    exit_on_stop = 1;
    child_server = P->s;
    child_row = row;
    child_closes_listeners = P->p->close_listeners_on_leave;
    if (install_child_handlers() < 0)
        _exit(1);
    if (sigprocmask(SIG_SETMASK, &child_mask, NULL) < 0) {
        log_error(LOG_ERR, P->module, "sigprocmask() failed: %s", strerror(errno));
        _exit(1);
    }
    atomic_store(&row->pid, getpid());
    /* User/Group: root is given up before anything is served (the parent keeps it for restarts) */
    struct errbuf err;
    if (unixd_drop_privileges(P->s, &err) < 0) {
        log_error(LOG_EMERG, P->module, "child pid %d cannot serve: %s", (int)getpid(), err.msg);
        _exit(1);
    }

    struct child_ctx ctx = {
        .slot = slot,
        .generation = P->gen,
        .sb = P->sb,
        .stop = &child_stop,
        .graceful = &child_graceful,
        .leaving = &child_leaving,
    };
    P->p->child_main(P->s, &ctx);
    log_flush();
    clear_workers(P->sb, slot);
    _exit(0);
}

/* Starts a child in a free row. Returns 0, -1 when fork() failed, -2 when every row is taken. */
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
        return -2;

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
    for (int i = 0; i < P->sb->server_limit; i++)
        if (row_is(P, i, CURRENT_GEN) && !atomic_load(&scoreboard_child(P->sb, i)->quitting))
            n++;
    return n;
}

/* Idle workers as the maintenance sees them: ready ones, and starting ones that soon will be (as Apache). */
static int idle_workers(struct parent *P)
{
    int idle = scoreboard_idle_workers(P->sb, P->gen);
    for (int i = 0; i < P->sb->server_limit; i++) {
        if (!row_is(P, i, CURRENT_GEN) || atomic_load(&scoreboard_child(P->sb, i)->quitting))
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
        if (!row_is(P, i, CURRENT_GEN) || atomic_load(&scoreboard_child(P->sb, i)->quitting))
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
    atomic_store(&row->quitting, SB_QUIT_STOP);
    pid_t pid = atomic_load(&row->pid);
    if (kill(pid, SIGUSR1) < 0 && errno != ESRCH)
        log_error(LOG_ERR, P->module, "kill(%d, SIGUSR1) failed: %s", (int)pid, strerror(errno));
}

/* Signals `sig` to the live children `which` selects; with `quitting_only`, only to those asked to leave. */
static void signal_children(struct parent *P, int sig, enum which which, int quitting_only)
{
    for (int i = 0; i < P->sb->server_limit; i++) {
        struct sb_child *row = scoreboard_child(P->sb, i);
        if (!row_is(P, i, which) || (quitting_only && !atomic_load(&row->quitting)))
            continue;
        pid_t pid = atomic_load(&row->pid);
        if (kill(pid, sig) < 0 && errno != ESRCH)
            log_error(LOG_ERR, P->module, "kill(%d, %s) failed: %s", (int)pid, strsignal(sig),
                      strerror(errno));
    }
}

/*
 * Marks the children `which` selects as leaving, for `why` (enum sb_quitting, read by the child's handler),
 * and asks them to finish (USR1, repeated every tick). A stop is never turned back into a restart.
 */
static void retire_children(struct parent *P, enum which which, int why)
{
    for (int i = 0; i < P->sb->server_limit; i++) {
        struct sb_child *row = scoreboard_child(P->sb, i);
        if (row_is(P, i, which) && atomic_load(&row->quitting) != SB_QUIT_STOP)
            atomic_store(&row->quitting, why);
    }
    signal_children(P, SIGUSR1, which, 1);
}

/* Starts up to n children; returns how many started. */
static int spawn(struct parent *P, int n)
{
    int started = 0;
    while (started < n) {
        int rc = make_child(P);
        if (rc == -2 && !P->rows_reported) {
            /* only children of older generations can fill the rows: the current one stays in its limit */
            log_error(LOG_WARN, P->module,
                      "cannot start a child: all %d scoreboard rows (ServerLimit) are taken, %d of them by "
                      "children of older generations that are still finishing",
                      P->sb->server_limit, count_children(P, OLDER_GENS));
            P->rows_reported = 1;
        }
        if (rc < 0)
            break;
        started++;
    }
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
    int current = count_children(P, CURRENT_GEN);
    if (idle > p->max_spare) {
        retire_one(P);
        P->spawn_rate = 1;
        P->limit_reported = 0;
    } else if (idle < p->min_spare) {
        if (current >= P->max_children) {
            if (!P->limit_reported) {
                log_error(LOG_ERR, P->module, "server reached %s setting, consider raising the %s setting",
                          p->limit_directive, p->limit_directive);
                P->limit_reported = 1;
            }
            P->spawn_rate = 1;
            return;
        }
        int n = P->spawn_rate;
        if (n > P->max_children - current)
            n = P->max_children - current;
        if (P->spawn_rate >= BUSY_LOG_RATE)
            log_error(LOG_INFO, P->module,
                      "server seems busy, (you may need to increase StartServers, or Min/MaxSpare settings), "
                      "spawning %d children, there are %d idle, and %d total children",
                      n, idle, current);
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
    if (P->respawn_budget > 0 && count_children(P, CURRENT_GEN) < P->max_children &&
        idle_workers(P) < p->min_spare && spawn(P, 1) == 1)
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

/* Keeps a signal taken while older children are being stopped; a stop outranks the rest. */
static void defer_signal(struct parent *P, int sig)
{
    if (sig == 0 || sig == SIGCHLD)
        return;
    if (P->deferred == 0 || sig == SIGTERM || sig == SIGINT)
        P->deferred = sig;
}

/*
 * TERM to the children `which` selects, KILL to those still there after STOP_TIMEOUT_MS; returns once all
 * of them are reaped. Signals that arrive meanwhile are deferred (they matter only while others still run).
 */
static void stop_children(struct parent *P, enum which which)
{
    signal_children(P, SIGTERM, which, 0);
    int64_t deadline = now_ms() + STOP_TIMEOUT_MS;
    for (;;) {
        reap(P, 1);
        if (count_children(P, which) == 0)
            return;
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        defer_signal(P, wait_signal(P, left));
    }
    for (int i = 0; i < P->sb->server_limit; i++) {
        if (!row_is(P, i, which))
            continue;
        pid_t pid = atomic_load(&scoreboard_child(P->sb, i)->pid);
        log_error(LOG_WARN, P->module, "child process %d still did not exit, sending a SIGKILL", (int)pid);
        if (kill(pid, SIGKILL) < 0 && errno != ESRCH)
            log_error(LOG_ERR, P->module, "kill(%d, SIGKILL) failed: %s", (int)pid, strerror(errno));
    }
    while (count_children(P, which) > 0) {
        reap(P, 1);
        if (count_children(P, which) > 0)
            defer_signal(P, wait_signal(P, 100));
    }
}

/*
 * WINCH: stop listening, let every child finish its connections, wait for them; after GracefulShutdownTimeout
 * seconds (0: no limit, as Apache's default) the rest are stopped. TERM/INT cut it short.
 */
static void graceful_stop(struct parent *P)
{
    int timeout = P->s->graceful_shutdown_timeout;
    int64_t give_up = timeout > 0 ? now_ms() + (int64_t)timeout * 1000 : 0;

    log_error(LOG_NOTICE, P->module, "caught SIGWINCH, shutting down gracefully");
    listen_close(P->s);
    retire_children(P, ALL_GENS, SB_QUIT_STOP);
    int64_t next_tick = now_ms() + TICK_MS;
    for (;;) {
        reap(P, 0);
        if (P->live <= 0)
            break;
        int64_t wake = give_up > 0 && give_up < next_tick ? give_up : next_tick;
        int sig = wait_signal(P, wake - now_ms());
        if (sig == SIGTERM || sig == SIGINT) {
            log_error(LOG_NOTICE, P->module, "caught %s, shutting down",
                      sig == SIGTERM ? "SIGTERM" : "SIGINT");
            stop_children(P, ALL_GENS);
            return;
        }
        if (give_up > 0 && now_ms() >= give_up) {
            log_error(LOG_WARN, P->module,
                      "GracefulShutdownTimeout of %d s exceeded, stopping the %d children still serving",
                      timeout, P->live);
            stop_children(P, ALL_GENS);
            return;
        }
        if (now_ms() >= next_tick) {
            signal_children(P, SIGUSR1, ALL_GENS, 1);
            next_tick = now_ms() + TICK_MS;
        }
    }
}

void process_hold_signals(void)
{
    sigset_t set;
    parent_signal_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, &startup_mask) < 0)
        log_error(LOG_ERR, "core", "sigprocmask() failed: %s", strerror(errno));
    else
        startup_held = 1;
}

/* Tells the scoreboard (and so /server-status) which model runs and how many children and slots it uses. */
static void describe_model(const struct parent *P)
{
    struct sb_info info = {
        .async = P->p->async != 0,
        .threads_per_child = P->workers,
        .max_servers = P->fixed ? P->start : P->max_children,
    };
    snprintf(info.mpm, sizeof(info.mpm), "%s", P->p->mpm_name);
    scoreboard_set_info(P->sb, &info);
}

/* -X: child_main in this process, slot 0; TERM/INT set the stop flag, which the MPM's loop notices. */
static int run_one_process(struct server *s, const struct process_policy *p, struct scoreboard *sb, int gen)
{
    struct errbuf err;
    exit_on_stop = 0;
    if (install_child_handlers() < 0)
        return -1;
    /* as Apache's -X: the only process serves, so it gives up root like a child */
    if (unixd_drop_privileges(s, &err) < 0) {
        log_error(LOG_EMERG, "core", "cannot serve: %s", err.msg);
        return -1;
    }
    /* a TERM that arrived during start-up is delivered now, to the handler, and stops the loop at once */
    if (startup_held && sigprocmask(SIG_SETMASK, &startup_mask, NULL) < 0)
        log_error(LOG_ERR, "core", "sigprocmask() failed: %s", strerror(errno));
    struct sb_child *row = scoreboard_child(sb, 0);
    atomic_store(&row->pid, getpid());
    atomic_store(&row->generation, gen);
    struct child_ctx ctx = {
        .slot = 0,
        .generation = gen,
        .sb = sb,
        .stop = &child_stop,
        .graceful = &child_graceful,
        .leaving = &child_leaving,
    };
    p->child_main(s, &ctx);
    log_flush();
    clear_workers(sb, 0);
    atomic_store(&row->pid, 0);
    return 0;
}

/* Takes the parent's signals for good (until the last process_run() returns) and remembers the children's
 * mask. */
static int hold_parent_signals(struct parent *P)
{
    sigset_t set, before;
    if (parent_holds)
        return 0;
    parent_signal_set(&set);
    if (sigprocmask(SIG_BLOCK, &set, &before) < 0) {
        log_error(LOG_ERR, P->module, "sigprocmask() failed: %s", strerror(errno));
        return -1;
    }
    child_mask = startup_held ? startup_mask : before;
    parent_holds = 1;
    return 0;
}

/* After the last generation: a HUP or TERM that arrived during the stop would kill the process once
 * unblocked, so they are taken now; then the mask is restored and the scoreboard unmapped. */
static void release_all(struct parent *P)
{
    if (parent_holds) {
        while (wait_signal(P, 0) > 0)
            ;
        if (sigprocmask(SIG_SETMASK, &child_mask, NULL) < 0)
            log_error(LOG_ERR, P->module, "sigprocmask() failed: %s", strerror(errno));
        parent_holds = 0;
    }
    scoreboard_destroy(process_sb);
    process_sb = NULL;
}

int process_run(struct server *s, const struct process_policy *p)
{
    struct errbuf err;
    struct parent P;
    int rc = PROCESS_FAILED;

    memset(&P, 0, sizeof(P));
    P.s = s;
    P.p = p;
    P.gen = process_gen;
    P.workers = p->workers_per_child > 0 ? p->workers_per_child : 1;
    snprintf(P.module, sizeof(P.module), "mpm_%s", p->mpm_name);

    if (process_sb == NULL) {
        /* process_init() was not called: a scoreboard for this configuration alone */
        int rows = s->mpm_conf.server_limit > 0 ? s->mpm_conf.server_limit : 1;
        int slots = s->mpm_conf.thread_limit > P.workers ? s->mpm_conf.thread_limit : P.workers;
        if (process_init(rows, slots, &err) < 0) {
            log_error(LOG_EMERG, P.module, "could not create the scoreboard: %s", err.msg);
            return PROCESS_FAILED;
        }
    }
    P.sb = process_sb;

    int server_limit = P.sb->server_limit;
    P.max_children = p->max_children > 0 && p->max_children < server_limit ? p->max_children : server_limit;
    P.fixed = p->min_spare <= 0 && p->max_spare <= 0;
    P.start = p->start_children < P.max_children ? p->start_children : P.max_children;
    P.spawn_rate = 1;
    P.respawn_budget = MAX_SPAWN_RATE;
    describe_model(&P);

    /* A write to a closed connection returns EPIPE instead of killing the process. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        log_error(LOG_ERR, P.module, "sigaction(SIGPIPE) failed: %s", strerror(errno));
        goto done;
    }

    if (s->one_process) {
        rc = run_one_process(s, p, P.sb, P.gen) == 0 ? PROCESS_STOPPED : PROCESS_FAILED;
        goto done;
    }

    /* SIGCHLD must not be ignored, or the children would be reaped by the kernel. */
    sa.sa_handler = SIG_DFL;
    if (sigaction(SIGCHLD, &sa, NULL) < 0) {
        log_error(LOG_ERR, P.module, "sigaction(SIGCHLD) failed: %s", strerror(errno));
        goto done;
    }
    if (hold_parent_signals(&P) < 0)
        goto done;

    /* Adopt whatever runs: children of this generation (run again after a failed reload) or older ones. */
    P.live = count_children(&P, ALL_GENS);
    if (P.workers > P.sb->thread_limit) {
        log_error(LOG_EMERG, P.module,
                  "%d workers per child do not fit the scoreboard's %d slots per child: ThreadLimit can only "
                  "grow with a full stop and start",
                  P.workers, P.sb->thread_limit);
        goto done;
    }
    if (next_gen_pending) {
        int older = count_children(&P, OLDER_GENS);
        log_error(LOG_INFO, P.module, "generation %d starts; %s the %d children of older generations", P.gen,
                  next_gen_graceful ? "asking to finish" : "stopping", older);
        /* a hard restart replaces the children after they have gone; a graceful one at once */
        if (!next_gen_graceful)
            stop_children(&P, OLDER_GENS);
    }
    int missing = P.start - count_children(&P, CURRENT_GEN);
    if (missing > 0)
        spawn(&P, missing);
    /* Told to leave only once their successors are forked: the listeners always have someone accepting. */
    if (next_gen_pending && next_gen_graceful)
        retire_children(&P, OLDER_GENS, SB_QUIT_RESTART);
    next_gen_pending = 0;

    int64_t next_tick = now_ms() + TICK_MS;
    for (;;) {
        int sig = P.deferred;
        P.deferred = 0;
        if (sig == 0)
            sig = wait_signal(&P, next_tick - now_ms());
        if (sig == SIGTERM || sig == SIGINT) {
            log_error(LOG_NOTICE, P.module, "caught %s, shutting down",
                      sig == SIGTERM ? "SIGTERM" : "SIGINT");
            stop_children(&P, ALL_GENS);
            break;
        }
        if (sig == SIGWINCH) {
            graceful_stop(&P);
            break;
        }
        if (sig == SIGHUP || sig == SIGUSR1) {
            /* Apache's wording; the children go on serving while main() reloads */
            log_error(LOG_NOTICE, P.module, "%s",
                      sig == SIGHUP ? "SIGHUP received.  Attempting to restart"
                                    : "SIGUSR1 received.  Doing graceful restart");
            return sig == SIGHUP ? PROCESS_RESTART : PROCESS_GRACEFUL;
        }
        if (sig == SIGCHLD && reap(&P, 0) > 0)
            replace_exited(&P);
        if (now_ms() >= next_tick) {
            reap(&P, 0);
            maintain(&P);
            signal_children(&P, SIGUSR1, ALL_GENS, 1);
            P.respawn_budget = MAX_SPAWN_RATE;
            next_tick = now_ms() + TICK_MS;
        }
    }
    rc = PROCESS_STOPPED;

done:
    /* on a failure after adoption nothing may be left behind */
    if (!s->one_process && P.sb != NULL && count_children(&P, ALL_GENS) > 0)
        stop_children(&P, ALL_GENS);
    release_all(&P);
    return rc;
}
