/*
 * Tests of server/scoreboard.c: the mapping is shared with forked children, slots start dead, idle workers
 * are counted only over live, current-generation, non-quitting children, and the totals sum every slot. A
 * finished request is accounted with its duration; the header's description of the model is read whole,
 * even while it is rewritten; the board a process mapped last is the one it finds (and its children too).
 */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scoreboard.h"
#include "util.h"

static struct scoreboard *sb;

static void setup(void)
{
    struct errbuf err;
    sb = scoreboard_create(4, 3, &err);
    cr_assert_not_null(sb, "scoreboard_create: %s", err.msg);
}

static void teardown(void)
{
    scoreboard_destroy(sb);
}

TestSuite(scoreboard, .init = setup, .fini = teardown);

Test(scoreboard, starts_empty)
{
    cr_assert_eq(sb->server_limit, 4);
    cr_assert_eq(sb->thread_limit, 3);
    cr_assert_eq(atomic_load(&sb->generation), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(atomic_load(&scoreboard_child(sb, i)->pid), 0);
        for (int t = 0; t < 3; t++)
            cr_assert_eq(atomic_load(&scoreboard_worker(sb, i, t)->state), SB_DEAD, "slot %d/%d", i, t);
    }
    cr_assert_eq(scoreboard_idle_workers(sb, 0), 0);
    cr_assert_eq(scoreboard_total_accesses(sb), 0);
    cr_assert_eq(scoreboard_total_bytes(sb), 0);
    struct sb_info info;
    memset(&info, 'x', sizeof(info));
    scoreboard_get_info(sb, &info);
    cr_assert_str_eq(info.mpm, "", "no model described yet");
    cr_assert_eq(info.async, 0);
    cr_assert_eq(info.threads_per_child, 0);
    cr_assert_eq(info.max_servers, 0);
}

Test(scoreboard, slots_are_distinct)
{
    /* Every (child, thread) pair has its own slot, laid out without overlap with the child rows. */
    for (int i = 0; i < 4; i++)
        for (int t = 0; t < 3; t++)
            atomic_store(&scoreboard_worker(sb, i, t)->accesses, (uint64_t)(i * 3 + t + 1));
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(atomic_load(&scoreboard_child(sb, i)->pid), 0);
        for (int t = 0; t < 3; t++)
            cr_assert_eq(atomic_load(&scoreboard_worker(sb, i, t)->accesses), (uint64_t)(i * 3 + t + 1));
    }
    cr_assert_eq(scoreboard_total_accesses(sb), 78); /* 1 + 2 + ... + 12 */
}

Test(scoreboard, child_writes_are_seen_by_parent)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct sb_child *row = scoreboard_child(sb, 2);
        struct sb_worker *w = scoreboard_worker(sb, 2, 1);
        atomic_store(&row->pid, getpid());
        atomic_store(&row->generation, 0);
        scoreboard_set_state(w, SB_READY);
        atomic_fetch_add(&w->accesses, 5);
        atomic_fetch_add(&w->bytes, 1234);
        atomic_fetch_add(&w->conns, 2);
        scoreboard_set_state(scoreboard_worker(sb, 2, 2), SB_WRITE);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    cr_assert_eq(atomic_load(&scoreboard_child(sb, 2)->pid), pid);
    cr_assert_eq(atomic_load(&scoreboard_worker(sb, 2, 1)->state), SB_READY);
    cr_assert_eq(atomic_load(&scoreboard_worker(sb, 2, 2)->state), SB_WRITE);
    cr_assert_eq(atomic_load(&scoreboard_worker(sb, 2, 1)->conns), 2);
    cr_assert_eq(scoreboard_total_accesses(sb), 5);
    cr_assert_eq(scoreboard_total_bytes(sb), 1234);
    cr_assert_eq(scoreboard_idle_workers(sb, 0), 1);
}

Test(scoreboard, set_state_records_last_used_when_busy)
{
    struct sb_worker *w = scoreboard_worker(sb, 1, 0);
    atomic_store(&w->last_used, 0);
    scoreboard_set_state(w, SB_READY);
    cr_assert_eq(atomic_load(&w->last_used), 0, "an idle state is not a use");
    time_t before = time(NULL);
    scoreboard_set_state(w, SB_READ);
    cr_assert_geq(atomic_load(&w->last_used), (int64_t)before);
    cr_assert_leq(atomic_load(&w->last_used), (int64_t)time(NULL));
    cr_assert_eq(atomic_load(&w->state), SB_READ);
}

/* Marks child row i live with the given pid, generation and quitting flag, and its first `ready` slots ready.
 */
static void fill_child(int i, pid_t pid, int gen, int quitting, int ready)
{
    struct sb_child *row = scoreboard_child(sb, i);
    atomic_store(&row->pid, pid);
    atomic_store(&row->generation, gen);
    atomic_store(&row->quitting, quitting);
    for (int t = 0; t < 3; t++)
        scoreboard_set_state(scoreboard_worker(sb, i, t), t < ready ? SB_READY : SB_WRITE);
}

Test(scoreboard, idle_counts_live_current_generation_only)
{
    fill_child(0, 100, 1, 0, 2); /* counted: 2 */
    fill_child(1, 101, 1, 0, 3); /* counted: 3 */
    fill_child(2, 102, 0, 0, 3); /* old generation */
    fill_child(3, 0, 1, 0, 3);   /* no process: its stale slots do not count */
    cr_assert_eq(scoreboard_idle_workers(sb, 1), 5);
    cr_assert_eq(scoreboard_idle_workers(sb, 0), 3);
    cr_assert_eq(scoreboard_idle_workers(sb, 2), 0);

    /* A child asked to leave no longer offers idle workers. */
    atomic_store(&scoreboard_child(sb, 1)->quitting, 1);
    cr_assert_eq(scoreboard_idle_workers(sb, 1), 2);

    /* Only SB_READY is idle: starting, keep-alive and graceful slots are not. */
    scoreboard_set_state(scoreboard_worker(sb, 0, 0), SB_STARTING);
    scoreboard_set_state(scoreboard_worker(sb, 0, 1), SB_KEEPALIVE);
    cr_assert_eq(scoreboard_idle_workers(sb, 1), 0);
    scoreboard_set_state(scoreboard_worker(sb, 0, 2), SB_READY);
    cr_assert_eq(scoreboard_idle_workers(sb, 1), 1);
}

Test(scoreboard, totals_sum_every_slot_of_every_child)
{
    uint64_t acc = 0, bytes = 0;
    for (int i = 0; i < 4; i++) {
        for (int t = 0; t < 3; t++) {
            struct sb_worker *w = scoreboard_worker(sb, i, t);
            atomic_fetch_add(&w->accesses, (uint64_t)(10 * i + t));
            atomic_fetch_add(&w->bytes, (uint64_t)(1000 * i + 7 * t));
            acc += (uint64_t)(10 * i + t);
            bytes += (uint64_t)(1000 * i + 7 * t);
        }
    }
    /* Counters outlive the process that used the slot: dead rows still count. */
    cr_assert_eq(scoreboard_total_accesses(sb), acc);
    cr_assert_eq(scoreboard_total_bytes(sb), bytes);
}

Test(scoreboard, many_children_update_concurrently)
{
    enum { CHILDREN = 4, ROUNDS = 10000 };
    pid_t pids[CHILDREN];
    for (int c = 0; c < CHILDREN; c++) {
        pids[c] = fork();
        cr_assert_geq(pids[c], 0);
        if (pids[c] == 0) {
            for (int r = 0; r < ROUNDS; r++) {
                atomic_fetch_add(&scoreboard_worker(sb, c, r % 3)->accesses, 1);
                atomic_fetch_add(&scoreboard_worker(sb, c, r % 3)->bytes, 3);
            }
            _exit(0);
        }
    }
    for (int c = 0; c < CHILDREN; c++) {
        int status;
        cr_assert_eq(waitpid(pids[c], &status, 0), pids[c]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    cr_assert_eq(scoreboard_total_accesses(sb), (uint64_t)CHILDREN * ROUNDS);
    cr_assert_eq(scoreboard_total_bytes(sb), (uint64_t)CHILDREN * ROUNDS * 3);
}

Test(scoreboard, rejects_bad_sizes)
{
    struct errbuf err;
    err.msg[0] = '\0';
    cr_assert_null(scoreboard_create(0, 1, &err));
    cr_assert_neq(err.msg[0], '\0');
    cr_assert_null(scoreboard_create(1, -1, NULL));
}

Test(scoreboard, request_done_accounts_access_bytes_and_duration)
{
    struct sb_worker *w = scoreboard_worker(sb, 3, 2);
    scoreboard_request_done(w, 512, 40);
    scoreboard_request_done(w, 100, 0);
    scoreboard_request_done(w, 1, -5); /* a clock that went back: no negative duration */
    cr_assert_eq(atomic_load(&w->accesses), 3);
    cr_assert_eq(atomic_load(&w->bytes), 613);
    cr_assert_eq(atomic_load(&w->duration_ms), 40);
    cr_assert_eq(atomic_load(&scoreboard_worker(sb, 3, 1)->duration_ms), 0, "only its own slot");
    cr_assert_eq(scoreboard_total_accesses(sb), 3);
}

Test(scoreboard, info_round_trip)
{
    struct sb_info in = {.async = 1, .threads_per_child = 25, .max_servers = 6}, out;
    strcpy(in.mpm, "event");
    scoreboard_set_info(sb, &in);
    scoreboard_get_info(sb, &out);
    cr_assert_str_eq(out.mpm, "event");
    cr_assert_eq(out.async, 1);
    cr_assert_eq(out.threads_per_child, 25);
    cr_assert_eq(out.max_servers, 6);
    cr_assert_eq(atomic_load(&sb->info_seq) % 2, 0, "not left locked");

    /* a name that fills the field is cut to fit with its NUL; a shorter one replaces it whole */
    memset(in.mpm, 'n', sizeof(in.mpm));
    scoreboard_set_info(sb, &in);
    scoreboard_get_info(sb, &out);
    cr_assert_eq(strlen(out.mpm), SB_MPM_NAME_MAX - 1);
    strcpy(in.mpm, "worker");
    in.async = 0;
    scoreboard_set_info(sb, &in);
    scoreboard_get_info(sb, &out);
    cr_assert_str_eq(out.mpm, "worker");
    cr_assert_eq(out.async, 0);
}

/* A writer that stops half-way (the count left odd) for longer than any preemption: a reader waits for it,
 * sleeping rather than spinning, then gives up after about a second with what is there, rather than hanging;
 * a write that finishes within that second is waited for and read whole. */
Test(scoreboard, info_read_waits_for_a_slow_writer_not_for_a_dead_one, .timeout = 30)
{
    struct sb_info a = {.async = 0, .threads_per_child = 25, .max_servers = 16}, got;
    strcpy(a.mpm, "worker");
    scoreboard_set_info(sb, &a);
    unsigned seq = atomic_load(&sb->info_seq);
    atomic_store(&sb->info_seq, seq + 1); /* a write begun, never finished */
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    int64_t t0 = now_ms();
    scoreboard_get_info(sb, &got);
    int64_t took = now_ms() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    cr_assert(took >= 900 && took < 5000, "gave up after %lld ms", (long long)took);
    long cpu_ms =
        (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1000 +
        (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1000;
    cr_assert_lt(cpu_ms, 300, "%ld ms of CPU spent waiting %lld ms: the reader spun", cpu_ms,
                 (long long)took);
    cr_assert_str_eq(got.mpm, "worker");

    /* a write held half-way for 300 ms by another process, then finished: read whole, after it */
    struct sb_info b = {.async = 1, .threads_per_child = 1, .max_servers = 4};
    strcpy(b.mpm, "event");
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct timespec ts = {0, 300 * 1000000L};
        nanosleep(&ts, NULL);
        for (size_t i = 0; i < SB_MPM_NAME_MAX; i++)
            atomic_store(&sb->info_mpm[i], i < strlen(b.mpm) ? b.mpm[i] : '\0');
        atomic_store(&sb->info_async, b.async);
        atomic_store(&sb->info_threads_per_child, b.threads_per_child);
        atomic_store(&sb->info_max_servers, b.max_servers);
        atomic_store(&sb->info_seq, seq + 2);
        _exit(0);
    }
    t0 = now_ms();
    scoreboard_get_info(sb, &got);
    took = now_ms() - t0;
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(took >= 250 && took < 900, "read after %lld ms", (long long)took);
    cr_assert(strcmp(got.mpm, "event") == 0 && got.async == 1 && got.threads_per_child == 1 &&
                  got.max_servers == 4,
              "read %s %d %d %d", got.mpm, got.async, got.threads_per_child, got.max_servers);
}

/* Another process rewrites the description between two models, over and over: every read is one of them
 * whole, never the name of one with the figures of the other. */
Test(scoreboard, info_is_read_whole_while_rewritten, .timeout = 30)
{
    struct sb_info a = {.async = 0, .threads_per_child = 25, .max_servers = 16};
    struct sb_info b = {.async = 1, .threads_per_child = 1, .max_servers = 4};
    strcpy(a.mpm, "worker");
    strcpy(b.mpm, "event");
    scoreboard_set_info(sb, &a);
    _Atomic int *stop = &scoreboard_child(sb, 0)->quitting; /* a flag both processes see */
    atomic_store(stop, 0);
    pid_t parent = getpid(), pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* until told, or until the test has gone (it may fail half-way), or 20 s at most */
        time_t until = time(NULL) + 20;
        for (int i = 0; !atomic_load(stop) && getppid() == parent && time(NULL) < until; i++) {
            scoreboard_set_info(sb, i % 2 == 0 ? &b : &a);
            sched_yield();
        }
        _exit(0);
    }
    int seen_a = 0, seen_b = 0, mixed = 0, reads = 0;
    time_t until = time(NULL) + 10;
    for (; (reads < 200000 || !seen_a || !seen_b) && time(NULL) < until; reads++) {
        struct sb_info got;
        scoreboard_get_info(sb, &got);
        int is_a = strcmp(got.mpm, "worker") == 0 && got.async == 0 && got.threads_per_child == 25 &&
                   got.max_servers == 16;
        int is_b = strcmp(got.mpm, "event") == 0 && got.async == 1 && got.threads_per_child == 1 &&
                   got.max_servers == 4;
        mixed += !is_a && !is_b;
        seen_a |= is_a;
        seen_b |= is_b;
    }
    atomic_store(stop, 1);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(mixed, 0, "%d of %d reads mixed two descriptions", mixed, reads);
    cr_assert(seen_a && seen_b, "the rewrites were not seen (%d reads)", reads);
}

Test(scoreboard, current_is_the_last_mapped)
{
    struct errbuf err;
    cr_assert_eq(scoreboard_current(), sb, "the fixture's board");
    struct scoreboard *other = scoreboard_create(1, 1, &err);
    cr_assert_not_null(other);
    cr_assert_eq(scoreboard_current(), other);

    /* a forked child finds the same board, and its writes are the parent's */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct scoreboard *mine = scoreboard_current();
        if (mine != other)
            _exit(1);
        scoreboard_request_done(scoreboard_worker(mine, 0, 0), 10, 7);
        _exit(0);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child did not find the board");
    cr_assert_eq(atomic_load(&scoreboard_worker(other, 0, 0)->duration_ms), 7);

    scoreboard_destroy(other);
    cr_assert_null(scoreboard_current(), "an unmapped board is not found");
    scoreboard_destroy(NULL);
}

Test(scoreboard, member_slots_by_name)
{
    struct errbuf err;
    struct scoreboard *board = scoreboard_create(2, 2, &err);
    cr_assert_not_null(board, "%s", err.msg);
    struct sb_member *a = scoreboard_member(board, "balancer://x http://a/");
    struct sb_member *b = scoreboard_member(board, "balancer://x http://b/");
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_neq(a, b);
    cr_assert_eq(scoreboard_member(board, "balancer://x http://a/"), a, "found again by its name");
    cr_assert_eq(scoreboard_member_at(board, 0), a);
    cr_assert_eq(scoreboard_member_at(board, 1), b);
    cr_assert_null(scoreboard_member_at(board, 2));
    atomic_fetch_add(&a->elected, 3);
    /* a forked child sees the same slot and its counters */
    pid_t pid = fork();
    if (pid == 0) {
        struct sb_member *m = scoreboard_member(board, "balancer://x http://a/");
        _exit(m == a && atomic_load(&m->elected) == 3 ? (atomic_fetch_add(&m->elected, 1), 0) : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(atomic_load(&a->elected), 4);
    for (int i = 2; i < SB_MEMBERS_MAX; i++) {
        char name[32];
        snprintf(name, sizeof(name), "n%d", i);
        cr_assert_not_null(scoreboard_member(board, name));
    }
    cr_assert_null(scoreboard_member(board, "one too many"));
    scoreboard_destroy(board);
}
