/*
 * The scoreboard lives in one anonymous MAP_SHARED mapping made by the parent before it forks, so every child
 * sees the same memory: the header, then server_limit child rows, then server_limit x thread_limit worker
 * slots. Nothing here locks. Each slot has a single writer (the worker that owns it; the parent only while
 * the owning child is dead), and every field is an atomic, so readers such as the parent's idle count or
 * /server-status see each value whole, if not a consistent snapshot of all of them. The header's description
 * of the running model is the exception: its fields belong together, so they sit behind a sequence lock.
 */

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "scoreboard.h"
#include "util.h"

#define INFO_STUCK_MS 1000 /* one unfinished write for this long: its writer died half-way */

/* The board this process mapped last (a forked child inherits it). */
static struct scoreboard *current;

/* Rounds n up to a multiple of 64 so that each array starts on its own cache line. */
static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* Bytes of the mapping for these limits; 0 if they overflow. */
static size_t scoreboard_size(int server_limit, int thread_limit)
{
    size_t rows = (size_t)server_limit;
    size_t slots = rows * (size_t)thread_limit;
    if (slots / rows != (size_t)thread_limit || slots > SIZE_MAX / sizeof(struct sb_worker) / 2)
        return 0;
    return align64(sizeof(struct scoreboard)) + align64(rows * sizeof(struct sb_child)) +
           align64(slots * sizeof(struct sb_worker)) + SB_MEMBERS_MAX * sizeof(struct sb_member);
}

struct scoreboard *scoreboard_create(int server_limit, int thread_limit, struct errbuf *err)
{
    if (server_limit < 1 || thread_limit < 1) {
        errbuf_set(err, "invalid scoreboard size %d x %d", server_limit, thread_limit);
        return NULL;
    }
    size_t size = scoreboard_size(server_limit, thread_limit);
    if (size == 0) {
        errbuf_set(err, "scoreboard of %d x %d slots is too large", server_limit, thread_limit);
        return NULL;
    }
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        errbuf_set(err, "mmap() of a %zu-byte scoreboard failed: %s", size, strerror(errno));
        return NULL;
    }

    /* The mapping is zero-filled: pids, generations and counters start at 0. */
    char *base = mem;
    struct scoreboard *sb = mem;
    sb->server_limit = server_limit;
    sb->thread_limit = thread_limit;
    sb->start_time = time(NULL);
    atomic_init(&sb->generation, 0);
    sb->children = (struct sb_child *)(base + align64(sizeof(*sb)));
    sb->workers = (struct sb_worker *)(base + align64(sizeof(*sb)) +
                                       align64((size_t)server_limit * sizeof(struct sb_child)));
    sb->members =
        (struct sb_member *)((char *)sb->workers +
                             align64((size_t)server_limit * (size_t)thread_limit * sizeof(struct sb_worker)));
    for (size_t i = 0; i < (size_t)server_limit * (size_t)thread_limit; i++)
        atomic_init(&sb->workers[i].state, (char)SB_DEAD);
    current = sb;
    return sb;
}

void scoreboard_destroy(struct scoreboard *sb)
{
    if (sb == NULL)
        return;
    if (current == sb)
        current = NULL;
    munmap(sb, scoreboard_size(sb->server_limit, sb->thread_limit));
}

/* The named slot with this name, or NULL; *pending when a slot is being named meanwhile. */
static struct sb_member *member_find(struct scoreboard *sb, const char *name, int *pending)
{
    *pending = 0;
    for (int i = 0; i < SB_MEMBERS_MAX; i++) {
        int used = atomic_load_explicit(&sb->members[i].used, memory_order_acquire);
        *pending |= used == 1;
        if (used == 2 && strncmp(sb->members[i].name, name, SB_MEMBER_NAME_MAX - 1) == 0)
            return &sb->members[i];
    }
    return NULL;
}

struct sb_member *scoreboard_member(struct scoreboard *sb, const char *name)
{
    int pending;
    for (int tries = 0; tries < 1000; tries++) {
        struct sb_member *m = member_find(sb, name, &pending);
        if (m != NULL)
            return m;
        if (pending) { /* another process is naming a slot: perhaps with this name */
            sched_yield();
            continue;
        }
        for (int i = 0; i < SB_MEMBERS_MAX; i++) {
            int free_slot = 0;
            if (!atomic_compare_exchange_strong(&sb->members[i].used, &free_slot, 1))
                continue;
            strncpy(sb->members[i].name, name, SB_MEMBER_NAME_MAX - 1);
            sb->members[i].name[SB_MEMBER_NAME_MAX - 1] = '\0';
            atomic_store_explicit(&sb->members[i].used, 2, memory_order_release);
            /* two processes may have named a slot each: the first one wins, the other is given back */
            for (int k = 0; k < i; k++)
                if (atomic_load_explicit(&sb->members[k].used, memory_order_acquire) == 2 &&
                    strncmp(sb->members[k].name, name, SB_MEMBER_NAME_MAX - 1) == 0) {
                    atomic_store_explicit(&sb->members[i].used, 0, memory_order_release);
                    return &sb->members[k];
                }
            return &sb->members[i];
        }
        return NULL;
    }
    return NULL;
}

struct sb_member *scoreboard_member_at(struct scoreboard *sb, int i)
{
    if (i < 0 || i >= SB_MEMBERS_MAX || atomic_load_explicit(&sb->members[i].used, memory_order_acquire) != 2)
        return NULL;
    return &sb->members[i];
}

struct scoreboard *scoreboard_current(void)
{
    return current;
}

void scoreboard_set_info(struct scoreboard *sb, const struct sb_info *info)
{
    unsigned seq = atomic_load_explicit(&sb->info_seq, memory_order_relaxed);
    atomic_store_explicit(&sb->info_seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    int end = 0;
    for (size_t i = 0; i < SB_MPM_NAME_MAX; i++) {
        end = end || i == SB_MPM_NAME_MAX - 1 || info->mpm[i] == '\0';
        atomic_store_explicit(&sb->info_mpm[i], end ? '\0' : info->mpm[i], memory_order_relaxed);
    }
    atomic_store_explicit(&sb->info_async, info->async, memory_order_relaxed);
    atomic_store_explicit(&sb->info_threads_per_child, info->threads_per_child, memory_order_relaxed);
    atomic_store_explicit(&sb->info_max_servers, info->max_servers, memory_order_relaxed);
    atomic_store_explicit(&sb->info_seq, seq + 2, memory_order_release);
}

void scoreboard_get_info(struct scoreboard *sb, struct sb_info *info)
{
    unsigned last = 0;
    int64_t since = 0;
    for (;;) {
        unsigned before = atomic_load_explicit(&sb->info_seq, memory_order_acquire);
        for (size_t i = 0; i < SB_MPM_NAME_MAX; i++)
            info->mpm[i] = atomic_load_explicit(&sb->info_mpm[i], memory_order_relaxed);
        info->async = atomic_load_explicit(&sb->info_async, memory_order_relaxed);
        info->threads_per_child = atomic_load_explicit(&sb->info_threads_per_child, memory_order_relaxed);
        info->max_servers = atomic_load_explicit(&sb->info_max_servers, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if ((before & 1) == 0 && atomic_load_explicit(&sb->info_seq, memory_order_relaxed) == before)
            break;
        /* the parent is writing: let it finish, unless it died half-way (the same odd count for a second). By
         * time, not by tries: a writer preempted half-way on a busy machine outlasts any number of yields */
        int64_t waited = 0;
        if ((before & 1) != 0 && before == last) {
            waited = now_ms() - since;
            if (waited >= INFO_STUCK_MS)
                break;
        } else {
            last = before;
            since = now_ms();
        }
        if (waited < 2) {
            sched_yield();
        } else {
            struct timespec ms = {0, 1000000}; /* no spinning through a writer's long pause */
            nanosleep(&ms, NULL);
        }
    }
    info->mpm[SB_MPM_NAME_MAX - 1] = '\0';
}

struct sb_child *scoreboard_child(struct scoreboard *sb, int i)
{
    return &sb->children[i];
}

struct sb_worker *scoreboard_worker(struct scoreboard *sb, int i, int t)
{
    return &sb->workers[(size_t)i * (size_t)sb->thread_limit + (size_t)t];
}

void scoreboard_set_state(struct sb_worker *w, enum sb_state st)
{
    /* The time is taken when a request starts being read or answered, for the status page's "seconds since
     * last used" column; idle and dead states keep the time of the last work. */
    if (st == SB_READ || st == SB_WRITE || st == SB_KEEPALIVE || st == SB_CLOSING)
        atomic_store_explicit(&w->last_used, (int64_t)time(NULL), memory_order_relaxed);
    atomic_store_explicit(&w->state, (char)st, memory_order_release);
}

void scoreboard_request_done(struct sb_worker *w, uint64_t bytes, int64_t duration_ms)
{
    atomic_fetch_add_explicit(&w->accesses, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->bytes, bytes, memory_order_relaxed);
    if (duration_ms > 0)
        atomic_fetch_add_explicit(&w->duration_ms, (uint64_t)duration_ms, memory_order_relaxed);
}

int scoreboard_idle_workers(struct scoreboard *sb, int gen)
{
    int idle = 0;
    for (int i = 0; i < sb->server_limit; i++) {
        struct sb_child *c = &sb->children[i];
        if (atomic_load(&c->pid) == 0 || atomic_load(&c->generation) != gen || atomic_load(&c->quitting))
            continue;
        for (int t = 0; t < sb->thread_limit; t++)
            if (atomic_load_explicit(&scoreboard_worker(sb, i, t)->state, memory_order_acquire) == SB_READY)
                idle++;
    }
    return idle;
}

uint64_t scoreboard_total_accesses(struct scoreboard *sb)
{
    uint64_t n = 0;
    for (size_t i = 0; i < (size_t)sb->server_limit * (size_t)sb->thread_limit; i++)
        n += atomic_load_explicit(&sb->workers[i].accesses, memory_order_relaxed);
    return n;
}

uint64_t scoreboard_total_bytes(struct scoreboard *sb)
{
    uint64_t n = 0;
    for (size_t i = 0; i < (size_t)sb->server_limit * (size_t)sb->thread_limit; i++)
        n += atomic_load_explicit(&sb->workers[i].bytes, memory_order_relaxed);
    return n;
}
