/*
 * The worker MPM's pieces that need no server: check_config (Apache's defaults, clamps and warnings, through
 * the directive table too), the bounded connection queue, and the hand-over between the listener and the
 * workers (idle accounting, the listener's wake-up, connections queued before leaving still served).
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conftest.h"
#include "worker.c"

/* ---- check_config ---- */

static const struct conftest_check_case check_cases[] = {
    {"Apache's defaults", "", "",
     "StartServers 3 ServerLimit 16 ThreadsPerChild 25 ThreadLimit 64 MaxRequestWorkers 400 MinSpareThreads "
     "75 "
     "MaxSpareThreads 250 MaxConnectionsPerChild 0"},
    {"MaxRequestWorkers rounded down to a multiple of ThreadsPerChild", "MaxRequestWorkers 410",
     "httpd: WARNING: MaxRequestWorkers of 410 is not an integer multiple of ThreadsPerChild of 25, "
     "decreasing "
     "to nearest multiple 400, for a maximum of 16 servers.\n",
     "MaxRequestWorkers 400"},
    {"MaxRequestWorkers raised to ThreadsPerChild; StartServers follows MaxRequestWorkers / ThreadsPerChild",
     "MaxRequestWorkers 10",
     "httpd: WARNING: MaxRequestWorkers of 10 is less than ThreadsPerChild of 25, increasing to 25. "
     "MaxRequestWorkers must be at least as large as the number of threads in a single server.\n",
     "MaxRequestWorkers 25 StartServers 1"},
    {"MaxRequestWorkers capped by ServerLimit", "ServerLimit 4 ThreadsPerChild 10 MaxRequestWorkers 100",
     "httpd: WARNING: MaxRequestWorkers of 100 would require 10 servers and would exceed ServerLimit of 4, "
     "decreasing to 40. To increase, please see the ServerLimit directive.\n",
     "MaxRequestWorkers 40 StartServers 3"},
    {"both roundings warn in order; StartServers is capped by the number of children",
     "ServerLimit 2 ThreadsPerChild 10 MaxRequestWorkers 55",
     "httpd: WARNING: MaxRequestWorkers of 55 is not an integer multiple of ThreadsPerChild of 10, "
     "decreasing "
     "to nearest multiple 50, for a maximum of 5 servers.\n"
     "httpd: WARNING: MaxRequestWorkers of 50 would require 5 servers and would exceed ServerLimit of 2, "
     "decreasing to 20. To increase, please see the ServerLimit directive.\n",
     "MaxRequestWorkers 20 StartServers 2"},
    /* the default MaxRequestWorkers (400) is adjusted without a warning: only configured values are reported
     */
    {"ThreadsPerChild capped by ThreadLimit", "ThreadsPerChild 100",
     "httpd: WARNING: ThreadsPerChild of 100 exceeds ThreadLimit of 64 threads, decreasing to 64. To "
     "increase, "
     "please see the ThreadLimit directive.\n",
     "ThreadsPerChild 64 MaxRequestWorkers 384"},
    {"an unset ThreadsPerChild follows a small ThreadLimit: 16 servers of 8 threads", "ThreadLimit 8", "",
     "ThreadsPerChild 8 MaxRequestWorkers 128"},
    {"compile-time limits", "ServerLimit 30000 ThreadLimit 25000 ThreadsPerChild 1 MaxRequestWorkers 1",
     "httpd: WARNING: ServerLimit of 30000 exceeds compile-time limit of 20000 servers, decreasing to "
     "20000.\n"
     "httpd: WARNING: ThreadLimit of 25000 exceeds compile-time limit of 20000 threads, decreasing to "
     "20000.\n",
     "ServerLimit 20000 ThreadLimit 20000"},
    {"zeros raised to one",
     "ServerLimit 0 ThreadLimit 0 ThreadsPerChild 0 StartServers 0 MinSpareThreads 0 MaxRequestWorkers 1",
     "httpd: WARNING: ServerLimit of 0 not allowed, increasing to 1.\n"
     "httpd: WARNING: ThreadLimit of 0 not allowed, increasing to 1.\n"
     "httpd: WARNING: ThreadsPerChild of 0 not allowed, increasing to 1.\n"
     "httpd: WARNING: StartServers of 0 not allowed, increasing to 1.\n"
     "httpd: WARNING: MinSpareThreads of 0 not allowed, increasing to 1 to avoid almost certain server "
     "failure. "
     "Please read the documentation.\n",
     "ServerLimit 1 ThreadLimit 1 ThreadsPerChild 1 MaxRequestWorkers 1 StartServers 1 MinSpareThreads 1 "
     "MaxSpareThreads 250"},
    {"spare threads adjusted silently: MinSpareThreads is at least ThreadsPerChild, MaxSpareThreads at least "
     "MinSpareThreads + ThreadsPerChild",
     "ThreadsPerChild 10 MinSpareThreads 4 MaxSpareThreads 12", "", "MinSpareThreads 10 MaxSpareThreads 20"},
    {"MaxSpareThreads follows a large MinSpareThreads", "MinSpareThreads 300", "", "MaxSpareThreads 325"},
    {"StartServers capped", "StartServers 40", "", "StartServers 16"},
};

CONFTEST_CHECK_TEST(worker_config, check_config, worker_check_config, worker_directives, check_cases)

/* ---- the directive table, through config_load() ---- */

Test(worker_config, directives_and_aliases, .init = conftest_setup, .fini = conftest_teardown)
{
    struct server *s = conftest_load_ok("",
                                        "Listen 8080\nMPM worker\n"
                                        "<IfModule mpm_worker_module>\n"
                                        "StartServers 2\nServerLimit 5\nThreadLimit 20\nThreadsPerChild 10\n"
                                        "MaxClients 30\nMinSpareThreads 15\nMaxSpareThreads 40\n"
                                        "MaxRequestsPerChild 99\n"
                                        "</IfModule>\n"
                                        "<IfModule mpm_prefork_module>\nMaxSpareServers 3\n</IfModule>\n",
                                        NULL);
    cr_assert_str_eq(s->mpm->name, "worker");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->start_servers, 2);
    cr_assert_eq(c->server_limit, 5);
    cr_assert_eq(c->thread_limit, 20);
    cr_assert_eq(c->threads_per_child, 10);
    cr_assert_eq(c->max_workers, 30);
    cr_assert_eq(c->min_spare, 15);
    cr_assert_eq(c->max_spare, 40);
    cr_assert_eq(c->max_conn_per_child, 99);
    config_free(s);

    s = conftest_load_ok(
        "", "Listen 8080\nMPM worker\nMaxRequestWorkers 50\nThreadsPerChild 5\nMaxConnectionsPerChild 7\n",
        NULL);
    cr_assert_eq(s->mpm_conf.max_workers, 50);
    cr_assert_eq(s->mpm_conf.max_conn_per_child, 7);
    cr_assert_eq(s->mpm_conf.server_limit, 16);
    config_free(s);
}

/* ---- the queue ---- */

static struct conn_item item(int fd)
{
    struct conn_item it;
    memset(&it, 0, sizeof(it));
    it.fd = fd;
    it.peerlen = (socklen_t)fd;
    return it;
}

Test(worker_queue, fifo_bounded_and_wrapping)
{
    struct conn_queue q;
    struct conn_item out;
    cr_assert_eq(queue_init(&q, 3), 0);
    cr_assert_eq(queue_pop(&q, &out), -1, "empty at first");
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 3; i++) {
            struct conn_item it = item(round * 10 + i);
            cr_assert_eq(queue_push(&q, &it), 0);
        }
        struct conn_item extra = item(99);
        cr_assert_eq(queue_push(&q, &extra), -1, "a full queue refuses");
        cr_assert_eq(queue_pop(&q, &out), 0);
        cr_assert_eq(out.fd, round * 10);
        /* one in, so the ring wraps at a different place each round */
        struct conn_item more = item(round * 10 + 3);
        cr_assert_eq(queue_push(&q, &more), 0);
        for (int i = 1; i <= 3; i++) {
            cr_assert_eq(queue_pop(&q, &out), 0);
            cr_assert_eq(out.fd, round * 10 + i);
            cr_assert_eq(out.peerlen, (socklen_t)(round * 10 + i));
        }
        cr_assert_eq(queue_pop(&q, &out), -1);
    }
    queue_free(&q);
}

/* ---- hand-over between the listener and the workers, without sockets ---- */

#define T_THREADS 3
#define T_ITEMS   200

struct taker {
    struct worker_child *ch;
    pthread_t tid;
    int got[T_ITEMS];
    int n;
    int overflow; /* more items than T_ITEMS: asserted by the main thread */
};

/* A worker that records what it is given instead of serving it. */
static void *take(void *arg)
{
    struct taker *t = arg;
    struct conn_item it;
    while (next_connection(t->ch, &it) == 0) {
        if (t->n < T_ITEMS)
            t->got[t->n++] = it.fd;
        else
            t->overflow = 1;
        usleep(100); /* a little work, so that the listener sometimes finds nobody idle */
    }
    pthread_mutex_lock(&t->ch->lock);
    t->ch->running--;
    pthread_mutex_unlock(&t->ch->lock);
    return NULL;
}

static int room(struct worker_child *ch)
{
    pthread_mutex_lock(&ch->lock);
    int r = ch->idle - ch->queue.count;
    ch->listener_waiting = r <= 0;
    pthread_mutex_unlock(&ch->lock);
    return r;
}

/* The hand-over state of a child as worker.c sets it up: the lock, the condition, a queue of `slots` and the
 * eventfd that wakes the listener. */
static void child_init(struct worker_child *ch, int slots)
{
    cr_assert_eq(pthread_mutex_init(&ch->lock, NULL), 0);
    cr_assert_eq(pthread_cond_init(&ch->work, NULL), 0);
    cr_assert_eq(queue_init(&ch->queue, slots), 0);
    ch->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_geq(ch->wake_fd, 0);
}

static void child_free(struct worker_child *ch)
{
    close(ch->wake_fd);
    queue_free(&ch->queue);
    pthread_cond_destroy(&ch->work);
    pthread_mutex_destroy(&ch->lock);
}

Test(worker_handover, every_item_taken_once, .timeout = 20)
{
    struct worker_child ch = {.wake_fd = -1};
    struct taker takers[T_THREADS];
    int seen[T_ITEMS] = {0};

    child_init(&ch, T_THREADS);
    ch.running = T_THREADS;
    for (int i = 0; i < T_THREADS; i++) {
        takers[i] = (struct taker){.ch = &ch};
        cr_assert_eq(pthread_create(&takers[i].tid, NULL, take, &takers[i]), 0);
    }

    /* The listener's rule: hand over only while room > 0, otherwise sleep on the eventfd. */
    int next = 0, waits = 0;
    while (next < T_ITEMS) {
        int r = room(&ch);
        if (r <= 0) {
            struct pollfd pfd = {.fd = ch.wake_fd, .events = POLLIN};
            cr_assert_eq(poll(&pfd, 1, 5000), 1, "no wake-up from a worker becoming idle");
            drain_wakeups(&ch);
            waits++;
            continue;
        }
        cr_assert_leq(r, T_THREADS);
        for (; r > 0 && next < T_ITEMS; r--) {
            struct conn_item it = item(next++);
            pthread_mutex_lock(&ch.lock);
            cr_assert_eq(queue_push(&ch.queue, &it), 0, "room promised a place in the queue");
            pthread_cond_signal(&ch.work);
            pthread_mutex_unlock(&ch.lock);
        }
    }
    pthread_mutex_lock(&ch.lock);
    ch.leaving = 1;
    pthread_cond_broadcast(&ch.work);
    pthread_mutex_unlock(&ch.lock);

    int total = 0;
    for (int i = 0; i < T_THREADS; i++) {
        cr_assert_eq(pthread_join(takers[i].tid, NULL), 0);
        cr_assert_eq(takers[i].overflow, 0);
        for (int j = 0; j < takers[i].n; j++) {
            int fd = takers[i].got[j];
            cr_assert(fd >= 0 && fd < T_ITEMS);
            seen[fd]++;
        }
        total += takers[i].n;
    }
    cr_assert_eq(total, T_ITEMS);
    for (int i = 0; i < T_ITEMS; i++)
        cr_assert_eq(seen[i], 1, "item %d taken %d times", i, seen[i]);
    cr_assert_eq(ch.running, 0);
    cr_assert_eq(ch.idle, 0);
    cr_assert_gt(waits, 0, "the listener never had to wait for an idle worker");

    child_free(&ch);
}

Test(worker_handover, queued_connections_are_served_after_leaving)
{
    struct worker_child ch = {.wake_fd = -1};
    struct conn_item out;

    child_init(&ch, 2);

    struct conn_item a = item(7), b = item(8);
    cr_assert_eq(queue_push(&ch.queue, &a), 0);
    cr_assert_eq(queue_push(&ch.queue, &b), 0);
    ch.leaving = 1;
    cr_assert_eq(next_connection(&ch, &out), 0);
    cr_assert_eq(out.fd, 7);
    cr_assert_eq(next_connection(&ch, &out), 0);
    cr_assert_eq(out.fd, 8);
    cr_assert_eq(next_connection(&ch, &out), -1, "an empty queue when leaving ends the worker");
    cr_assert_eq(ch.idle, 0);

    /* a worker becoming idle wakes a waiting listener, and only then */
    ch.leaving = 1;
    ch.listener_waiting = 1;
    cr_assert_eq(next_connection(&ch, &out), -1);
    cr_assert_eq(ch.listener_waiting, 0);
    uint64_t n = 0;
    cr_assert_eq(read(ch.wake_fd, &n, sizeof(n)), (ssize_t)sizeof(n));
    cr_assert_eq(n, 1);
    cr_assert_eq(next_connection(&ch, &out), -1);
    cr_assert_eq(read(ch.wake_fd, &n, sizeof(n)), -1, "woken although the listener was not waiting");

    child_free(&ch);
}
