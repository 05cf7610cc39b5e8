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

static struct server *blank_server(void)
{
    struct server *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    s->mpm_conf = (struct mpm_conf){-1, -1, -1, -1, -1, -1, -1, -1, -1};
    return s;
}

/* Runs worker_check_config(); returns its warnings as main() prints them (malloc'd). */
static char *check(struct server *s)
{
    struct errbuf err;
    struct warnings w = {0};
    cr_assert_eq(worker_check_config(s, &w, &err), 0);
    return conftest_warnings_text(&w);
}

static void expect_output(struct server *s, const char *want)
{
    char *got = check(s);
    cr_assert_str_eq(got, want);
    free(got);
}

Test(worker_config, apache_defaults)
{
    struct server *s = blank_server();
    expect_output(s, "");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->start_servers, 3);
    cr_assert_eq(c->server_limit, 16);
    cr_assert_eq(c->threads_per_child, 25);
    cr_assert_eq(c->thread_limit, 64);
    cr_assert_eq(c->max_workers, 400);
    cr_assert_eq(c->min_spare, 75);
    cr_assert_eq(c->max_spare, 250);
    cr_assert_eq(c->max_conn_per_child, 0);
    free(s);
}

Test(worker_config, max_workers_rounded_down_to_a_multiple)
{
    struct server *s = blank_server();
    s->mpm_conf.max_workers = 410;
    expect_output(s,
                  "httpd: WARNING: MaxRequestWorkers of 410 is not an integer multiple of ThreadsPerChild of "
                  "25, decreasing to nearest multiple 400, for a maximum of 16 servers.\n");
    cr_assert_eq(s->mpm_conf.max_workers, 400);
    free(s);
}

Test(worker_config, max_workers_raised_to_threads_per_child)
{
    struct server *s = blank_server();
    s->mpm_conf.max_workers = 10;
    expect_output(s,
                  "httpd: WARNING: MaxRequestWorkers of 10 is less than ThreadsPerChild of 25, increasing to "
                  "25. MaxRequestWorkers must be at least as large as the number of threads in a single "
                  "server.\n");
    cr_assert_eq(s->mpm_conf.max_workers, 25);
    cr_assert_eq(s->mpm_conf.start_servers, 1, "StartServers follows MaxRequestWorkers / ThreadsPerChild");
    free(s);
}

Test(worker_config, max_workers_capped_by_server_limit)
{
    struct server *s = blank_server();
    s->mpm_conf.server_limit = 4;
    s->mpm_conf.threads_per_child = 10;
    s->mpm_conf.max_workers = 100;
    expect_output(s,
                  "httpd: WARNING: MaxRequestWorkers of 100 would require 10 servers and would exceed "
                  "ServerLimit of 4, decreasing to 40. To increase, please see the ServerLimit directive.\n");
    cr_assert_eq(s->mpm_conf.max_workers, 40);
    cr_assert_eq(s->mpm_conf.start_servers, 3);
    free(s);
}

Test(worker_config, both_roundings_warn_in_order)
{
    struct server *s = blank_server();
    s->mpm_conf.server_limit = 2;
    s->mpm_conf.threads_per_child = 10;
    s->mpm_conf.max_workers = 55;
    expect_output(s,
                  "httpd: WARNING: MaxRequestWorkers of 55 is not an integer multiple of ThreadsPerChild of "
                  "10, decreasing to nearest multiple 50, for a maximum of 5 servers.\n"
                  "httpd: WARNING: MaxRequestWorkers of 50 would require 5 servers and would exceed "
                  "ServerLimit of 2, decreasing to 20. To increase, please see the ServerLimit directive.\n");
    cr_assert_eq(s->mpm_conf.max_workers, 20);
    cr_assert_eq(s->mpm_conf.start_servers, 2, "StartServers is capped by the number of children");
    free(s);
}

Test(worker_config, threads_per_child_capped_by_thread_limit)
{
    struct server *s = blank_server();
    s->mpm_conf.threads_per_child = 100;
    expect_output(
        s, "httpd: WARNING: ThreadsPerChild of 100 exceeds ThreadLimit of 64 threads, decreasing to 64. "
           "To increase, please see the ThreadLimit directive.\n");
    cr_assert_eq(s->mpm_conf.threads_per_child, 64);
    /* the default MaxRequestWorkers (400) is adjusted without a warning: only configured values are reported
     */
    cr_assert_eq(s->mpm_conf.max_workers, 384);
    free(s);
}

Test(worker_config, unset_threads_per_child_follows_a_small_thread_limit)
{
    struct server *s = blank_server();
    s->mpm_conf.thread_limit = 8;
    expect_output(s, "");
    cr_assert_eq(s->mpm_conf.threads_per_child, 8);
    cr_assert_eq(s->mpm_conf.max_workers, 128, "16 servers of 8 threads");
    free(s);
}

Test(worker_config, compile_time_limits)
{
    struct server *s = blank_server();
    s->mpm_conf.server_limit = 30000;
    s->mpm_conf.thread_limit = 25000;
    s->mpm_conf.threads_per_child = 1;
    s->mpm_conf.max_workers = 1;
    expect_output(s, "httpd: WARNING: ServerLimit of 30000 exceeds compile-time limit of 20000 servers, "
                     "decreasing to 20000.\n"
                     "httpd: WARNING: ThreadLimit of 25000 exceeds compile-time limit of 20000 threads, "
                     "decreasing to 20000.\n");
    cr_assert_eq(s->mpm_conf.server_limit, 20000);
    cr_assert_eq(s->mpm_conf.thread_limit, 20000);
    free(s);
}

Test(worker_config, zeros_raised_to_one)
{
    struct server *s = blank_server();
    s->mpm_conf.server_limit = 0;
    s->mpm_conf.thread_limit = 0;
    s->mpm_conf.threads_per_child = 0;
    s->mpm_conf.start_servers = 0;
    s->mpm_conf.min_spare = 0;
    s->mpm_conf.max_workers = 1;
    expect_output(s,
                  "httpd: WARNING: ServerLimit of 0 not allowed, increasing to 1.\n"
                  "httpd: WARNING: ThreadLimit of 0 not allowed, increasing to 1.\n"
                  "httpd: WARNING: ThreadsPerChild of 0 not allowed, increasing to 1.\n"
                  "httpd: WARNING: StartServers of 0 not allowed, increasing to 1.\n"
                  "httpd: WARNING: MinSpareThreads of 0 not allowed, increasing to 1 to avoid almost certain "
                  "server failure. Please read the documentation.\n");
    const struct mpm_conf *c = &s->mpm_conf;
    cr_assert_eq(c->server_limit, 1);
    cr_assert_eq(c->thread_limit, 1);
    cr_assert_eq(c->threads_per_child, 1);
    cr_assert_eq(c->max_workers, 1);
    cr_assert_eq(c->start_servers, 1);
    cr_assert_eq(c->min_spare, 1);
    cr_assert_eq(c->max_spare, 250);
    free(s);
}

Test(worker_config, spare_threads_adjusted_silently)
{
    struct server *s = blank_server();
    s->mpm_conf.threads_per_child = 10;
    s->mpm_conf.min_spare = 4;
    s->mpm_conf.max_spare = 12;
    expect_output(s, "");
    cr_assert_eq(s->mpm_conf.min_spare, 10, "MinSpareThreads is at least ThreadsPerChild");
    cr_assert_eq(s->mpm_conf.max_spare, 20, "MaxSpareThreads is at least MinSpareThreads + ThreadsPerChild");

    s->mpm_conf = (struct mpm_conf){-1, -1, -1, -1, -1, -1, -1, -1, -1};
    s->mpm_conf.min_spare = 300;
    expect_output(s, "");
    cr_assert_eq(s->mpm_conf.max_spare, 325);
    free(s);
}

Test(worker_config, start_servers_capped)
{
    struct server *s = blank_server();
    s->mpm_conf.start_servers = 40;
    expect_output(s, "");
    cr_assert_eq(s->mpm_conf.start_servers, 16);
    free(s);
}

/* ---- the directive table, through config_load() ---- */

static char dir[] = "/tmp/test_worker_conf.XXXXXX";

static void conf_setup(void)
{
    conftest_make_root(dir, "/tmp/test_worker_conf.XXXXXX");
}

static void conf_teardown(void)
{
    conftest_remove_root(dir);
}

static struct server *load(const char *text)
{
    char p[700];
    struct errbuf err;
    snprintf(p, sizeof(p), "%s/conf/test.conf", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    struct config_args args = {CONFTEST_ARGS, .conf_file = p};
    struct server *s = config_load(&args, NULL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    return s;
}

Test(worker_config, directives_and_aliases, .init = conf_setup, .fini = conf_teardown)
{
    struct server *s = load("Listen 8080\nMPM worker\n"
                            "<IfModule mpm_worker_module>\n"
                            "StartServers 2\nServerLimit 5\nThreadLimit 20\nThreadsPerChild 10\n"
                            "MaxClients 30\nMinSpareThreads 15\nMaxSpareThreads 40\nMaxRequestsPerChild 99\n"
                            "</IfModule>\n"
                            "<IfModule mpm_prefork_module>\nMaxSpareServers 3\n</IfModule>\n");
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

    s = load("Listen 8080\nMPM worker\nMaxRequestWorkers 50\nThreadsPerChild 5\nMaxConnectionsPerChild 7\n");
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

Test(worker_handover, every_item_taken_once, .timeout = 20)
{
    struct worker_child ch = {.wake_fd = -1};
    struct taker takers[T_THREADS];
    int seen[T_ITEMS] = {0};

    cr_assert_eq(pthread_mutex_init(&ch.lock, NULL), 0);
    cr_assert_eq(pthread_cond_init(&ch.work, NULL), 0);
    cr_assert_eq(queue_init(&ch.queue, T_THREADS), 0);
    ch.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_geq(ch.wake_fd, 0);
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

    close(ch.wake_fd);
    queue_free(&ch.queue);
    pthread_cond_destroy(&ch.work);
    pthread_mutex_destroy(&ch.lock);
}

Test(worker_handover, queued_connections_are_served_after_leaving)
{
    struct worker_child ch = {.wake_fd = -1};
    struct conn_item out;

    cr_assert_eq(pthread_mutex_init(&ch.lock, NULL), 0);
    cr_assert_eq(pthread_cond_init(&ch.work, NULL), 0);
    cr_assert_eq(queue_init(&ch.queue, 2), 0);
    ch.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_geq(ch.wake_fd, 0);

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

    close(ch.wake_fd);
    queue_free(&ch.queue);
    pthread_cond_destroy(&ch.work);
    pthread_mutex_destroy(&ch.lock);
}
