/*
 * Tests of the decisions in server/process.c, without forking: the .c is included with fork(), kill() and
 * waitpid() replaced by fakes that hand out made-up pids, record the signals and report the exits the test
 * queues, while the scoreboard is a real one filled by hand. Covered: counting children and idle workers by
 * generation, the idle-server maintenance (spawn rate 1, 2, 4 ... 32 a tick, MinSpare/MaxSpare, the
 * MaxRequestWorkers ceiling and its log line, a fixed number of children), which child retires, immediate
 * replacement after exits, choosing a row, reaping, generations (a hard restart wins over a graceful one),
 * and what a child's signal handlers decide.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

/* ---- the fakes process.c calls instead of the system ---- */

#define FAKE_PID_BASE (1 << 30) /* above Linux's PID_MAX_LIMIT: a fake pid never names a real process */

static pid_t next_pid = FAKE_PID_BASE;
static int forks, fork_fails;

static pid_t fake_fork(void)
{
    if (fork_fails) {
        errno = EAGAIN;
        return -1;
    }
    forks++;
    return next_pid++;
}

#define MAX_SENT 512
static struct {
    pid_t pid;
    int sig;
} sent[MAX_SENT];
static int n_sent;

static int fake_kill(pid_t pid, int sig)
{
    cr_assert_geq(pid, FAKE_PID_BASE, "a signal to a real process: kill(%d, %d)", (int)pid, sig);
    cr_assert_lt(n_sent, MAX_SENT);
    sent[n_sent].pid = pid;
    sent[n_sent].sig = sig;
    n_sent++;
    return 0;
}

#define MAX_EXITS 64
static struct {
    pid_t pid;
    int status;
} exits[MAX_EXITS];
static int n_exits;

static pid_t fake_waitpid(pid_t pid, int *status, int options)
{
    cr_assert_eq(pid, -1);
    cr_assert(options & WNOHANG, "the parent never blocks in waitpid()");
    if (n_exits == 0)
        return 0;
    pid_t p = exits[0].pid;
    *status = exits[0].status;
    memmove(&exits[0], &exits[1], sizeof(exits[0]) * (size_t)--n_exits);
    return p;
}

#define fork    fake_fork
#define kill    fake_kill
#define waitpid fake_waitpid
#include "process.c"
#undef fork
#undef kill
#undef waitpid

/* ---- a parent over a hand-filled scoreboard ---- */

static struct parent P;
static struct process_policy pol;
static struct server srv, logsrv;
static char log_path[] = "/tmp/test_process.XXXXXX";

static void test_child_main(struct server *s, struct child_ctx *ctx)
{
    (void)s;
    (void)ctx;
    cr_assert_fail("no child runs in these tests");
}

/* The error log goes to a file the test reads. */
static void setup(void)
{
    struct errbuf err;
    strcpy(log_path, "/tmp/test_process.XXXXXX");
    int fd = mkstemp(log_path);
    cr_assert_geq(fd, 0);
    close(fd);
    memset(&logsrv, 0, sizeof(logsrv));
    logsrv.main.error_log = log_path;
    logsrv.main.log_level = LOG_INFO;
    cr_assert_eq(log_open(&logsrv, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
    log_close(&logsrv);
    unlink(log_path);
    if (P.sb != NULL)
        scoreboard_destroy(P.sb);
}

TestSuite(process, .init = setup, .fini = teardown);

/* Lines of the error log that contain needle. */
static int logged(const char *needle)
{
    FILE *f = fopen(log_path, "r");
    char line[1024];
    int n = 0;
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/*
 * A parent as process_run() sets it up: rows x slots scoreboard, `workers` slots per child, idle workers kept
 * between min_spare and max_spare (both 0: `start` children, fixed), at most max_children.
 */
static void parent_init(int rows, int slots, int workers, int min_spare, int max_spare, int max_children,
                        int start)
{
    struct errbuf err;
    if (P.sb != NULL)
        scoreboard_destroy(P.sb);
    memset(&P, 0, sizeof(P));
    memset(&pol, 0, sizeof(pol));
    memset(&srv, 0, sizeof(srv));
    pol.mpm_name = "test";
    pol.start_children = start;
    pol.min_spare = min_spare;
    pol.max_spare = max_spare;
    pol.max_children = max_children;
    pol.workers_per_child = workers;
    pol.limit_directive = "MaxRequestWorkers";
    pol.child_main = test_child_main;
    P.s = &srv;
    P.p = &pol;
    P.sb = scoreboard_create(rows, slots, &err);
    cr_assert_not_null(P.sb, "%s", err.msg);
    P.gen = 0;
    P.workers = workers;
    P.max_children = max_children < rows ? max_children : rows;
    P.fixed = min_spare <= 0 && max_spare <= 0;
    P.start = start < P.max_children ? start : P.max_children;
    P.spawn_rate = 1;
    P.respawn_budget = MAX_SPAWN_RATE;
    snprintf(P.module, sizeof(P.module), "mpm_test");
}

/* Puts a child in row i: its pid (FAKE_PID_BASE + 1000 + i), generation, quitting, and one state character
 * per worker slot ("_" ready, "W" busy, "S" starting, "." none; the rest of the row is dead). */
static pid_t put_child(int i, int gen, int quitting, const char *states)
{
    struct sb_child *row = scoreboard_child(P.sb, i);
    pid_t pid = FAKE_PID_BASE + 1000 + i;
    atomic_store(&row->pid, pid);
    atomic_store(&row->generation, gen);
    atomic_store(&row->quitting, quitting);
    for (int t = 0; t < P.sb->thread_limit; t++)
        atomic_store(&scoreboard_worker(P.sb, i, t)->state,
                     (char)(t < (int)strlen(states) ? states[t] : SB_DEAD));
    P.live++;
    return pid;
}

/* The starting workers become ready, as when the children started have come up. */
static void children_ready(void)
{
    for (int i = 0; i < P.sb->server_limit; i++)
        for (int t = 0; t < P.sb->thread_limit; t++)
            if (atomic_load(&scoreboard_worker(P.sb, i, t)->state) == SB_STARTING)
                atomic_store(&scoreboard_worker(P.sb, i, t)->state, (char)SB_READY);
}

/* Runs one maintenance tick; returns how many children it started. */
static int tick(void)
{
    int before = forks;
    maintain(&P);
    return forks - before;
}

/* Signals sent to pid. */
static int signals_to(pid_t pid, int sig)
{
    int n = 0;
    for (int i = 0; i < n_sent; i++)
        n += sent[i].pid == pid && sent[i].sig == sig;
    return n;
}

/* ---- counting ---- */

Test(process, counts_by_generation)
{
    parent_init(8, 4, 4, 0, 0, 8, 0);
    P.gen = 2;
    put_child(0, 2, 0, "__WW");
    put_child(1, 2, 0, "S___");
    put_child(3, 2, SB_QUIT_STOP, "____"); /* leaving: neither active nor idle */
    put_child(4, 1, SB_QUIT_RESTART, "____");
    put_child(6, 1, 0, "__._"); /* an older generation not yet asked to leave */

    cr_assert_eq(count_children(&P, ALL_GENS), 5);
    cr_assert_eq(count_children(&P, CURRENT_GEN), 3);
    cr_assert_eq(count_children(&P, OLDER_GENS), 2);
    cr_assert_eq(active_children(&P), 2);
    cr_assert_eq(idle_workers(&P), 2 + 4,
                 "ready workers, and starting ones, of current non-quitting children");
    cr_assert_eq(find_child(&P, FAKE_PID_BASE + 1004), 4);
    cr_assert_eq(find_child(&P, 12345), -1);
    cr_assert_not(row_is(&P, 2, ALL_GENS), "an empty row");
}

/* ---- idle-server maintenance ---- */

Test(process, spawn_rate_doubles_up_to_32)
{
    parent_init(256, 1, 1, 100, 200, 256, 0);
    static const int want[] = {1, 2, 4, 8, 16, 32, 32, 32, 0};
    int total = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int n = tick();
        cr_assert_eq(n, want[i], "tick %zu started %d children, want %d", i, n, want[i]);
        total += n;
        cr_assert_eq(count_children(&P, CURRENT_GEN), total);
    }
    /* the starting children counted as idle: 127 >= MinSpare, so the rate is back to 1 */
    cr_assert_eq(P.spawn_rate, 1);
    cr_assert_eq(logged("server seems busy"), 5, "logged from a rate of 8 on");
    cr_assert_eq(logged("spawning 32 children, there are 63 idle, and 63 total children"), 1);
    cr_assert_eq(n_sent, 0);
}

Test(process, new_child_takes_the_first_free_row_and_starts)
{
    parent_init(4, 3, 2, 0, 0, 4, 0);
    put_child(0, 0, 0, "__");
    put_child(2, 0, 0, "__");
    struct sb_child *row = scoreboard_child(P.sb, 1);
    atomic_store(&row->quitting, SB_QUIT_STOP); /* left over from its previous child */
    atomic_store(&row->conns, 7);

    cr_assert_eq(make_child(&P), 0);
    cr_assert_eq(atomic_load(&row->pid), next_pid - 1);
    cr_assert_eq(atomic_load(&row->generation), P.gen);
    cr_assert_eq(atomic_load(&row->quitting), 0);
    cr_assert_eq(atomic_load(&row->conns), 0);
    cr_assert_eq(atomic_load(&scoreboard_worker(P.sb, 1, 0)->state), SB_STARTING);
    cr_assert_eq(atomic_load(&scoreboard_worker(P.sb, 1, 1)->state), SB_STARTING);
    cr_assert_eq(atomic_load(&scoreboard_worker(P.sb, 1, 2)->state), SB_DEAD, "beyond the child's workers");
    cr_assert_eq(P.live, 3);

    cr_assert_eq(make_child(&P), 0);
    cr_assert_eq(find_child(&P, next_pid - 1), 3);
    cr_assert_eq(make_child(&P), -2, "every row is taken");
}

Test(process, failed_fork_frees_the_row)
{
    parent_init(4, 2, 2, 1, 4, 4, 0);
    fork_fails = 1;
    cr_assert_eq(make_child(&P), -1);
    cr_assert_eq(atomic_load(&scoreboard_child(P.sb, 0)->pid), 0);
    cr_assert_eq(atomic_load(&scoreboard_worker(P.sb, 0, 0)->state), SB_DEAD);
    cr_assert_eq(P.live, 0);
    cr_assert_eq(tick(), 0);
    cr_assert_eq(logged("fork() failed"), 2);
}

Test(process, enough_idle_workers_spawn_nothing)
{
    parent_init(16, 4, 4, 5, 10, 16, 0);
    put_child(0, 0, 0, "__WW");
    put_child(1, 0, 0, "___W");
    P.spawn_rate = 8;
    cr_assert_eq(tick(), 0);
    cr_assert_eq(P.spawn_rate, 1, "the rate starts again from 1");
    cr_assert_eq(n_sent, 0);
}

Test(process, short_of_idle_workers_spawns)
{
    /* worker-like: 4 threads a child, MinSpareThreads 6 */
    parent_init(16, 4, 4, 6, 16, 16, 0);
    put_child(0, 0, 0, "_WWW");
    put_child(1, 0, 0, "WWWW");
    cr_assert_eq(tick(), 1);
    cr_assert_eq(idle_workers(&P), 1 + 4);
    cr_assert_eq(tick(), 2, "still short: twice as many");
    children_ready();
    cr_assert_eq(idle_workers(&P), 1 + 12);
    cr_assert_eq(tick(), 0);
}

Test(process, too_many_idle_workers_retire_one_a_tick)
{
    parent_init(16, 4, 4, 2, 5, 16, 0);
    pid_t a = put_child(0, 0, 0, "__WW");
    pid_t b = put_child(1, 0, 0, "____");
    pid_t c = put_child(2, 0, 0, "_WWW");

    cr_assert_eq(tick(), 0);
    cr_assert_eq(signals_to(b, SIGUSR1), 1, "the child with the most idle workers is asked to finish");
    cr_assert_eq(atomic_load(&scoreboard_child(P.sb, 1)->quitting), SB_QUIT_STOP);
    cr_assert_eq(n_sent, 1);
    /* b no longer counts: 2 + 1 idle is within the spares */
    cr_assert_eq(idle_workers(&P), 3);
    cr_assert_eq(tick(), 0);
    cr_assert_eq(n_sent, 1);
    cr_assert_eq(signals_to(a, SIGUSR1) + signals_to(c, SIGUSR1), 0);
}

Test(process, retire_choice)
{
    parent_init(8, 4, 4, 0, 2, 8, 0);
    P.gen = 1;
    put_child(0, 1, 0, "__WW");
    put_child(1, 1, 0, "WW__");
    put_child(2, 0, 0, "____");            /* older generation: never chosen here */
    put_child(3, 1, SB_QUIT_STOP, "____"); /* already leaving */
    put_child(4, 1, 0, "SSSS");            /* starting: not idle yet */
    retire_one(&P);
    cr_assert_eq(n_sent, 1);
    cr_assert_eq(sent[0].pid, FAKE_PID_BASE + 1001, "on a tie, the last one");
    cr_assert_eq(sent[0].sig, SIGUSR1);
    cr_assert_eq(atomic_load(&scoreboard_child(P.sb, 0)->quitting), 0);

    /* nothing idle: nobody */
    parent_init(8, 4, 4, 0, 2, 8, 0);
    n_sent = 0;
    put_child(0, 0, 0, "WWWW");
    retire_one(&P);
    cr_assert_eq(n_sent, 0);
}

Test(process, ceiling_of_children_is_logged_once_per_shortage)
{
    static const char *const msg =
        "server reached MaxRequestWorkers setting, consider raising the MaxRequestWorkers setting";
    parent_init(16, 1, 1, 2, 8, 3, 0);
    cr_assert_eq(tick(), 1);
    cr_assert_eq(tick(), 2);
    /* all three busy: short of idle workers, but MaxRequestWorkers children run */
    for (int i = 0; i < 3; i++)
        atomic_store(&scoreboard_worker(P.sb, i, 0)->state, (char)SB_WRITE);
    cr_assert_eq(tick(), 0);
    cr_assert_eq(tick(), 0);
    cr_assert_eq(logged(msg), 1);
    cr_assert_eq(P.spawn_rate, 1);
    /* the shortage ends, then comes again: logged again */
    atomic_store(&scoreboard_worker(P.sb, 0, 0)->state, (char)SB_READY);
    atomic_store(&scoreboard_worker(P.sb, 1, 0)->state, (char)SB_READY);
    cr_assert_eq(tick(), 0);
    cr_assert_eq(logged(msg), 1);
    atomic_store(&scoreboard_worker(P.sb, 0, 0)->state, (char)SB_WRITE);
    cr_assert_eq(tick(), 0);
    cr_assert_eq(logged(msg), 2);
    cr_assert_eq(count_children(&P, CURRENT_GEN), 3);
}

Test(process, spawn_stops_at_the_ceiling)
{
    parent_init(16, 1, 1, 10, 20, 5, 0);
    cr_assert_eq(tick(), 1);
    cr_assert_eq(tick(), 2);
    cr_assert_eq(tick(), 2, "4 would pass MaxRequestWorkers");
    cr_assert_eq(count_children(&P, CURRENT_GEN), 5);
}

Test(process, older_children_take_rows_but_not_the_ceiling)
{
    parent_init(4, 1, 1, 2, 4, 4, 0);
    P.gen = 1;
    put_child(0, 0, SB_QUIT_RESTART, "W");
    put_child(1, 0, SB_QUIT_RESTART, "W");
    put_child(2, 0, SB_QUIT_RESTART, "W");
    cr_assert_eq(tick(), 1, "one free row");
    cr_assert_eq(tick(), 0, "no row left");
    cr_assert_eq(
        logged(
            "cannot start a child: all 4 scoreboard rows (ServerLimit) are taken, 3 of them by children of "
            "older generations"),
        1);
    cr_assert_eq(tick(), 0);
    cr_assert_eq(logged("cannot start a child"), 1, "logged once");
}

Test(process, fixed_number_of_children)
{
    /* event-like: no spare settings, StartServers 3 */
    parent_init(8, 1, 1, 0, 0, 8, 3);
    cr_assert(P.fixed);
    cr_assert_eq(tick(), 3);
    cr_assert_eq(tick(), 0);
    /* one is recycling itself: it no longer counts, a replacement starts */
    atomic_store(&scoreboard_child(P.sb, 1)->quitting, SB_QUIT_STOP);
    cr_assert_eq(tick(), 1);
    cr_assert_eq(count_children(&P, CURRENT_GEN), 4);
    cr_assert_eq(active_children(&P), 3);
    cr_assert_eq(n_sent, 0, "a fixed set is never trimmed");
}

/* ---- exits ---- */

static void queue_exit(pid_t pid, int status)
{
    cr_assert_lt(n_exits, MAX_EXITS);
    exits[n_exits].pid = pid;
    exits[n_exits].status = status;
    n_exits++;
}

Test(process, reap_frees_rows_and_logs_abnormal_ends)
{
    parent_init(8, 2, 2, 0, 0, 8, 0);
    pid_t a = put_child(0, 0, 0, "_W");
    pid_t b = put_child(1, 0, SB_QUIT_STOP, "__");
    pid_t c = put_child(2, 0, 0, "W_");
    put_child(3, 0, 0, "__");
    queue_exit(a, SIGSEGV | 0x80); /* killed by SIGSEGV, core dumped */
    queue_exit(b, 0);              /* exit 0 */
    queue_exit(c, 3 << 8);         /* exit 3 */
    queue_exit(777, 0);            /* not one of ours */

    cr_assert_eq(reap(&P, 0), 3);
    cr_assert_eq(P.live, 1);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(atomic_load(&scoreboard_child(P.sb, i)->pid), 0);
        cr_assert_eq(atomic_load(&scoreboard_child(P.sb, i)->quitting), 0);
        cr_assert_eq(atomic_load(&scoreboard_worker(P.sb, i, 0)->state), SB_DEAD);
        cr_assert_eq(atomic_load(&scoreboard_worker(P.sb, i, 1)->state), SB_DEAD);
    }
    cr_assert_eq(atomic_load(&scoreboard_child(P.sb, 3)->pid), FAKE_PID_BASE + 1003);
    char want[128];
    snprintf(want, sizeof(want), "child pid %d exit signal %s (%d), possible coredump", (int)a,
             strsignal(SIGSEGV), SIGSEGV);
    cr_assert_eq(logged(want), 1);
    snprintf(want, sizeof(want), "child pid %d exit status 3", (int)c);
    cr_assert_eq(logged(want), 1);
    cr_assert_eq(logged("exit"), 2, "a clean exit is not logged");
}

Test(process, stopping_children_by_signal_is_not_an_error)
{
    parent_init(4, 1, 1, 0, 0, 4, 0);
    pid_t a = put_child(0, 0, 0, "_");
    pid_t b = put_child(1, 0, 0, "_");
    queue_exit(a, SIGTERM);
    queue_exit(b, SIGKILL);
    cr_assert_eq(reap(&P, 1), 2);
    cr_assert_eq(logged("exit signal"), 0);
    /* outside a stop, TERM is a child killed from outside */
    pid_t c = put_child(2, 0, 0, "_");
    queue_exit(c, SIGTERM);
    cr_assert_eq(reap(&P, 0), 1);
    cr_assert_eq(logged("exit signal"), 1);
}

Test(process, exits_are_replaced_at_once_within_a_budget)
{
    parent_init(64, 1, 1, 3, 10, 64, 0);
    put_child(0, 0, 0, "W");
    put_child(1, 0, 0, "W");
    put_child(2, 0, 0, "_");
    P.respawn_budget = 2;
    replace_exited(&P);
    cr_assert_eq(forks, 1, "one at a time, while short of idle workers");
    replace_exited(&P);
    cr_assert_eq(forks, 2);
    replace_exited(&P);
    cr_assert_eq(forks, 2, "the budget of the tick is spent");
    cr_assert_eq(P.respawn_budget, 0);

    /* enough idle workers: nothing */
    parent_init(64, 1, 1, 1, 10, 64, 0);
    put_child(0, 0, 0, "_");
    replace_exited(&P);
    cr_assert_eq(forks, 2);
}

Test(process, fixed_set_is_refilled_within_the_budget)
{
    parent_init(64, 1, 1, 0, 0, 64, 40);
    P.respawn_budget = MAX_SPAWN_RATE;
    replace_exited(&P);
    cr_assert_eq(forks, MAX_SPAWN_RATE);
    cr_assert_eq(P.respawn_budget, 0);
    cr_assert_eq(tick(), 40 - MAX_SPAWN_RATE, "the maintenance tick starts the rest");
}

/* ---- generations ---- */

Test(process, retiring_an_older_generation)
{
    parent_init(8, 1, 1, 0, 0, 8, 0);
    P.gen = 3;
    pid_t old1 = put_child(0, 2, 0, "_");
    pid_t old2 = put_child(1, 1, SB_QUIT_STOP, "_"); /* already stopping: stays a stop */
    pid_t cur = put_child(2, 3, 0, "_");
    retire_children(&P, OLDER_GENS, SB_QUIT_RESTART);
    cr_assert_eq(atomic_load(&scoreboard_child(P.sb, 0)->quitting), SB_QUIT_RESTART);
    cr_assert_eq(atomic_load(&scoreboard_child(P.sb, 1)->quitting), SB_QUIT_STOP);
    cr_assert_eq(atomic_load(&scoreboard_child(P.sb, 2)->quitting), 0);
    cr_assert_eq(signals_to(old1, SIGUSR1), 1);
    cr_assert_eq(signals_to(old2, SIGUSR1), 1);
    cr_assert_eq(signals_to(cur, SIGUSR1), 0);

    /* every tick the leaving ones are asked again, the others never */
    n_sent = 0;
    signal_children(&P, SIGUSR1, ALL_GENS, 1);
    cr_assert_eq(n_sent, 2);
    cr_assert_eq(signals_to(cur, SIGUSR1), 0);
    /* a stop of everything turns the restart into a stop */
    retire_children(&P, ALL_GENS, SB_QUIT_STOP);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(atomic_load(&scoreboard_child(P.sb, i)->quitting), SB_QUIT_STOP);
}

Test(process, generations_and_the_hard_restart_winning)
{
    struct errbuf err;
    cr_assert_eq(process_gen, 0);
    cr_assert_null(process_scoreboard());
    process_new_generation(1);
    cr_assert_eq(process_gen, 1);
    cr_assert(next_gen_pending && next_gen_graceful);

    cr_assert_eq(process_init(2, 2, &err), 0, "%s", err.msg);
    struct scoreboard *sb = process_scoreboard();
    cr_assert_not_null(sb);
    cr_assert_eq(atomic_load(&sb->generation), 1, "the scoreboard shows the generation");
    cr_assert_eq(process_init(8, 8, &err), 0);
    cr_assert_eq(process_scoreboard(), sb, "mapped once for the server's life");
    cr_assert_eq(sb->server_limit, 2);

    /* a hard restart requested before the graceful one was carried out wins, and stays */
    process_new_generation(0);
    cr_assert_eq(atomic_load(&sb->generation), 2);
    cr_assert(next_gen_pending && !next_gen_graceful);
    process_new_generation(1);
    cr_assert_eq(atomic_load(&sb->generation), 3);
    cr_assert_not(next_gen_graceful);

    /* once carried out (process_run clears it), a graceful one is graceful again */
    next_gen_pending = 0;
    process_new_generation(1);
    cr_assert(next_gen_graceful);
    scoreboard_destroy(sb);
    process_sb = NULL;
}

/* ---- what a child's signal handlers decide ---- */

Test(process, child_leaving_modes)
{
    parent_init(2, 1, 1, 0, 0, 2, 0);
    struct sb_child *row = scoreboard_child(P.sb, 0);
    struct child_ctx ctx = {.stop = &child_stop, .graceful = &child_graceful, .leaving = &child_leaving};
    exit_on_stop = 0; /* as with -X: the handlers only set flags */
    child_row = row;

    cr_assert_not(process_child_leaving(&ctx));
    atomic_store(&row->quitting, SB_QUIT_RESTART);
    on_graceful(SIGUSR1);
    cr_assert(process_child_leaving(&ctx));
    cr_assert_eq(child_leaving, CHILD_LEAVE_AFTER_NEXT, "retired by a graceful restart");
    cr_assert_not(child_stop);
    /* a stop outranks it, and a later restart signal does not undo the stop */
    on_stop(SIGTERM);
    cr_assert(child_stop);
    cr_assert_eq(child_leaving, CHILD_LEAVE);
    on_graceful(SIGUSR1);
    cr_assert_eq(child_leaving, CHILD_LEAVE);

    child_stop = child_graceful = child_leaving = 0;
    atomic_store(&row->quitting, SB_QUIT_STOP);
    on_graceful(SIGWINCH);
    cr_assert_eq(child_leaving, CHILD_LEAVE, "asked to finish: idle connections end now");
    child_row = NULL;
    child_stop = child_graceful = child_leaving = 0;
    on_graceful(SIGUSR1);
    cr_assert_eq(child_leaving, CHILD_LEAVE, "without a row, a stop");
}

Test(process, child_closes_its_listeners_when_asked_to_leave)
{
    struct listener a = {.fd = socket(AF_INET, SOCK_STREAM, 0)}, b = {.fd = -1, .next = NULL};
    a.next = &b;
    cr_assert_geq(a.fd, 0);
    int fd = a.fd;
    srv.listeners = &a;
    child_server = &srv;
    child_row = NULL;

    child_closes_listeners = 0; /* event: its library holds them, it closes them itself */
    on_graceful(SIGUSR1);
    cr_assert_eq(a.fd, fd);
    child_closes_listeners = 1; /* prefork, worker */
    on_graceful(SIGUSR1);
    cr_assert_eq(a.fd, -1);
    cr_assert_eq(b.fd, -1);
    errno = 0;
    cr_assert_eq(close(fd), -1, "closed by the handler");
    cr_assert_eq(errno, EBADF);
    child_server = NULL;
}
