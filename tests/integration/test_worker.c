/*
 * The worker MPM seen from outside, beyond the core suite every MPM runs: at MaxRequestWorkers further
 * connections wait in the listen backlog and are all served as workers free up; idle threads are kept between
 * MinSpareThreads and MaxSpareThreads by starting and retiring children (each with ThreadsPerChild threads
 * named "httpd-worker" besides its listener); a child killed with SIGKILL is replaced while another keeps
 * serving; MaxConnectionsPerChild makes a child leave, ending its idle keep-alive connections; out of
 * descriptors, a child logs it once and waits without spinning; -X runs one process with the threads and
 * stops on TERM. These tests run only when the binary has the worker MPM compiled in.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#define MAX_KIDS 64
#define PAGE_REQ "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n"

/* Worker threads of process pid (tasks named "httpd-worker"; sanitizers add threads of their own), -1 if it
 * is gone. */
static int worker_threads(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char comm[400];
        snprintf(comm, sizeof(comm), "%s/%s/comm", path, e->d_name);
        char *name = read_file(comm, NULL);
        if (name != NULL && strcmp(name, "httpd-worker\n") == 0)
            n++;
        free(name);
    }
    closedir(d);
    return n;
}

/* Children of the server that have all their worker threads (the listener is the child's main thread). */
static int ready_children(const struct srv *s, int threads, pid_t *kids)
{
    pid_t all[MAX_KIDS];
    int n = proc_children(s->pid, all, MAX_KIDS), ready = 0;
    for (int i = 0; i < n; i++)
        if (worker_threads(all[i]) == threads)
            kids[ready++] = all[i];
    return ready;
}

/* Waits up to ms until pred(count of ready children) holds; returns the last count. */
static int wait_ready_children(const struct srv *s, int threads, int want_min, int want_max, int ms)
{
    pid_t kids[MAX_KIDS];
    int64_t deadline = now_ms() + ms;
    int n, total;
    for (;;) {
        n = ready_children(s, threads, kids);
        total = proc_children(s->pid, kids, MAX_KIDS);
        if ((n >= want_min && total <= want_max) || now_ms() >= deadline)
            return n;
        sleep_ms(50);
    }
}

static void get_page(struct conn *c, const struct srv *s, const char *connection)
{
    struct resp *r = exchange(c, connection ? PAGE_CLOSE : PAGE_REQ);
    expect_file(r, s, "page.html", connection, 0);
    resp_free(r);
}

/* The pid of the server child holding the server side of client connection c (via /proc/net/tcp). */
static pid_t owner_of(const struct srv *s, const struct conn *c)
{
    struct sockaddr_in me;
    socklen_t len = sizeof(me);
    hassert(getsockname(c->fd, (struct sockaddr *)&me, &len) == 0, "getsockname() failed: %s",
            strerror(errno));
    char *tcp = read_file("/proc/net/tcp", NULL);
    hassert(tcp != NULL, "cannot read /proc/net/tcp");
    unsigned long inode = 0;
    char *line = strchr(tcp, '\n');
    while (line != NULL && inode == 0) {
        unsigned lport, rport;
        unsigned long ino;
        line++;
        /* sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode */
        static const char fmt[] = "%*d: %*x:%x %*x:%x %*x %*x:%*x %*x:%*x %*x %*u %*u %lu";
        int fields = sscanf(line, fmt, &lport, &rport, &ino);
        if (fields == 3 && (int)lport == s->port && rport == ntohs(me.sin_port))
            inode = ino;
        line = strchr(line, '\n');
    }
    free(tcp);
    hassert(inode != 0, "no server socket for local port %u in /proc/net/tcp", ntohs(me.sin_port));

    char want[64];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    pid_t kids[MAX_KIDS];
    int n = proc_children(s->pid, kids, MAX_KIDS);
    for (int i = 0; i < n; i++) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)kids[i]);
        DIR *d = opendir(dir);
        if (d == NULL)
            continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char link[320], target[64];
            snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
            ssize_t tl = readlink(link, target, sizeof(target) - 1);
            if (tl <= 0)
                continue;
            target[tl] = '\0';
            if (strcmp(target, want) == 0) {
                closedir(d);
                return kids[i];
            }
        }
        closedir(d);
    }
    hfail("no child of %d holds %s", (int)s->pid, want);
    return 0;
}

/* Starts the worker MPM with conf and waits until it has `children` children of `threads` worker threads. */
static struct srv *start_ready(const char *conf, int children, int threads)
{
    struct srv *s = server_start("worker", conf);
    hassert(wait_ready_children(s, threads, children, children, 5000) == children,
            "the server did not start %d %s of %d worker threads", children,
            children == 1 ? "child" : "children", threads);
    return s;
}

#define HELD    4
#define WAITING 20

Test(worker, full_server_keeps_new_connections_in_the_backlog, .fini = harness_fini, .timeout = 40)
{
    harness_begin_mpm("worker");
    /* Two children of two threads, all four held by idle keep-alive connections for longer than the test. */
    struct srv *s = start_ready("StartServers 2\nServerLimit 2\nThreadsPerChild 2\nMaxRequestWorkers 4\n"
                                "MinSpareThreads 2\nMaxSpareThreads 4\nKeepAlive On\n"
                                "KeepAliveTimeout 30\n",
                                2, 2);

    struct conn *held[HELD], *waiting[WAITING];
    for (int i = 0; i < HELD; i++) {
        held[i] = conn_open(s->port);
        get_page(held[i], s, NULL);
    }

    /* Every worker is busy: the server must say so, and nobody may answer the next connections. */
    char *log = NULL;
    int64_t deadline = now_ms() + 4000;
    do {
        free(log);
        sleep_ms(100);
        log = read_file(s->error_log, NULL);
    } while (now_ms() < deadline &&
             !(log && strstr(log, "server reached MaxRequestWorkers setting, consider raising the "
                                  "MaxRequestWorkers setting")));
    hassert(log && strstr(log, "server reached MaxRequestWorkers setting"),
            "no \"server reached MaxRequestWorkers setting\" with every worker busy; error log:\n%s", log);
    free(log);

    for (int i = 0; i < WAITING; i++) {
        waiting[i] = conn_open(s->port);
        conn_send_str(waiting[i], PAGE_CLOSE);
    }
    for (int i = 0; i < WAITING; i++) {
        expect_unanswered(waiting[i], i == 0 ? 500 : 10, "connection %d while every worker was held", i);
    }

    /* As the held connections go, the waiting ones are all served, none refused or reset. */
    for (int i = 0; i < HELD; i++)
        conn_close(held[i]);
    for (int i = 0; i < WAITING; i++) {
        struct resp *r = must_read_within(waiting[i], 10000, "waiting connection %d", i);
        expect_last_file(r, waiting[i], s, "page.html", 3000);
    }
    server_stop(s);
}

Test(worker, spare_threads_start_children, .fini = harness_fini, .timeout = 30)
{
    harness_begin_mpm("worker");
    /* 1 child of 2 threads; at least 6 idle threads wanted, so 3 children, and at most 8 (4 children). */
    struct srv *s =
        server_start("worker", "StartServers 1\nServerLimit 8\nThreadsPerChild 2\nMaxRequestWorkers 16\n"
                               "MinSpareThreads 6\nMaxSpareThreads 8\n");
    int n = wait_ready_children(s, 2, 3, 4, 8000);
    pid_t kids[MAX_KIDS];
    int total = proc_children(s->pid, kids, MAX_KIDS);
    hassert(n >= 3 && total <= 4,
            "%d children of 2 worker threads (%d children in all) after 8 s, want 3 or 4", n, total);

    /* and the number is stable: nothing more is started once MinSpareThreads are idle */
    sleep_ms(2500);
    total = proc_children(s->pid, kids, MAX_KIDS);
    hassert(total >= 3 && total <= 4, "%d children 2.5 s later, want 3 or 4", total);
    expect_served(s, PAGE_REQ, "page.html", NULL);
    server_stop(s);
}

Test(worker, spare_threads_retire_children, .fini = harness_fini, .timeout = 30)
{
    harness_begin_mpm("worker");
    /* 5 children of 2 idle threads, at most 4 idle threads wanted: children leave until 2 are left. */
    struct srv *s =
        server_start("worker", "StartServers 5\nServerLimit 8\nThreadsPerChild 2\nMaxRequestWorkers 16\n"
                               "MinSpareThreads 2\nMaxSpareThreads 4\n");
    pid_t kids[MAX_KIDS];
    /* more than 2 first: while the 5 are being started, 2 children can be all there are for a moment */
    int total = proc_wait_children(s->pid, kids, MAX_KIDS, 3, 8, 5000);
    hassert(total >= 3, "%d children at the start, want the 5 of StartServers (or some already retired)",
            total);
    total = proc_wait_children(s->pid, kids, MAX_KIDS, 2, 2, 10000);
    hassert(total == 2, "%d children after 10 s, want 2 (MaxSpareThreads 4, ThreadsPerChild 2)", total);
    hassert(wait_ready_children(s, 2, 2, 2, 2000) == 2,
            "the 2 children left do not have 2 worker threads each");

    char *log = read_file(s->error_log, NULL);
    hassert(log && !strstr(log, "exit signal") && !strstr(log, "exit status"),
            "a retired child did not end cleanly; error log:\n%s", log);
    free(log);
    expect_served(s, PAGE_REQ, "page.html", NULL);
    server_stop(s);
}

Test(worker, killed_child_replaced_while_another_serves, .fini = harness_fini, .timeout = 60)
{
    harness_begin_mpm("worker");
    struct srv *s = start_ready("StartServers 2\nServerLimit 4\nThreadsPerChild 2\nMaxRequestWorkers 8\n"
                                "MinSpareThreads 2\nMaxSpareThreads 6\nKeepAlive On\n"
                                "KeepAliveTimeout 30\nMaxKeepAliveRequests 0\n",
                                2, 2);
    pid_t before[MAX_KIDS], after[MAX_KIDS];
    int nb = proc_children(s->pid, before, MAX_KIDS), na = 0;

    /* A keep-alive connection to one child, and the other child as the victim. */
    struct conn *c = conn_open(s->port);
    get_page(c, s, NULL);
    pid_t serving = owner_of(s, c), victim = 0;
    for (int i = 0; i < nb && victim == 0; i++)
        if (before[i] != serving)
            victim = before[i];
    hassert(victim != 0, "no second child to kill");

    int served = 0, replaced = 0;
    int64_t deadline = now_ms() + 6000, killed_at = 0;
    while (now_ms() < deadline && served < 2000) {
        get_page(c, s, NULL);
        served++;
        if (served == 20) {
            hassert(kill(victim, SIGKILL) == 0, "kill(%d) failed: %s", (int)victim, strerror(errno));
            killed_at = now_ms();
        }
        if (killed_at != 0 && !replaced) {
            na = proc_children(s->pid, after, MAX_KIDS);
            for (int i = 0; i < na; i++)
                if (!pid_in(before, nb, after[i]))
                    replaced = 1;
        }
        /* keep going a little after the replacement appeared */
        if (replaced && now_ms() - killed_at > 1500)
            break;
        sleep_ms(5);
    }
    hassert(killed_at != 0, "only %d requests served before the deadline", served);
    hassert(replaced, "no new child within %lld ms of killing child %d", (long long)(now_ms() - killed_at),
            (int)victim);
    hassert(owner_of(s, c) == serving, "the connection moved?");
    conn_close(c);

    /* the killed child is gone, and new connections are served */
    na = proc_children(s->pid, after, MAX_KIDS);
    hassert(!pid_in(after, na, victim), "killed child %d is still a child", (int)victim);
    for (int i = 0; i < 10; i++) {
        expect_served(s, PAGE_REQ, "page.html", NULL);
    }
    char *log = read_file(s->error_log, NULL);
    hassert(log && strstr(log, "exit signal Killed (9)"), "the child's death was not logged:\n%s", log);
    free(log);
    server_stop(s);
}

Test(worker, max_connections_per_child_ends_idle_keepalive, .fini = harness_fini, .timeout = 30)
{
    harness_begin_mpm("worker");
    /* One child of 6 threads (ServerLimit 1; a thread for each keep-alive connection held open), which leaves
     * after its 6th connection. The harness's probes for
     * the port (one every 10 ms until the PidFile names the server: several on a slow start) may have been
     * some of them, so connections are opened until the child begins to leave. */
    struct srv *s = start_ready("StartServers 1\nServerLimit 1\nThreadsPerChild 6\n"
                                "MaxRequestWorkers 6\nMaxConnectionsPerChild 6\n"
                                "KeepAlive On\nKeepAliveTimeout 30\n",
                                1, 6);
    pid_t first[MAX_KIDS];
    hassert(proc_children(s->pid, first, MAX_KIDS) == 1, "more than one child");

    struct conn *c[6];
    int opened = 0, left = 0;
    while (!left && opened < 6) {
        c[opened] = conn_open(s->port);
        get_page(c[opened], s, NULL);
        opened++;
        /* the child leaves once it accepted its 6th: then the first connection, idle, is ended */
        left = conn_fill(c[0], 300) == 0;
    }
    hassert(left, "the child did not leave after %d connections and the probes (MaxConnectionsPerChild 6)",
            opened);
    hassert(opened >= 2, "the child left after 1 connection and the probes (MaxConnectionsPerChild 6)");
    /* every idle keep-alive connection ends at once, not after KeepAliveTimeout */
    for (int i = 1; i < opened; i++)
        expect_closed(c[i], 1500);
    for (int i = 0; i < opened; i++)
        conn_close(c[i]);

    /* A replacement serves the next connection; the first child is gone. */
    struct conn *n = conn_open(s->port);
    get_page(n, s, "close");
    conn_close(n);
    int64_t deadline = now_ms() + 3000;
    pid_t kids[MAX_KIDS];
    int nk;
    while ((nk = proc_children(s->pid, kids, MAX_KIDS)) > 0 && pid_in(kids, nk, first[0]) &&
           now_ms() < deadline)
        sleep_ms(50);
    hassert(!pid_in(kids, nk, first[0]), "the child that reached MaxConnectionsPerChild did not exit");
    char *log = read_file(s->error_log, NULL);
    hassert(log && !strstr(log, "exit signal") && !strstr(log, "exit status"),
            "a child did not end cleanly; error log:\n%s", log);
    free(log);
    server_stop(s);
}

#define OPTIONS_REQ "OPTIONS * HTTP/1.1\r\nHost: localhost\r\n\r\n"

static void expect_options(struct conn *c)
{
    struct resp *r = exchange(c, OPTIONS_REQ);
    hassert(r->status == 200 && strcmp(resp_get(r, "Allow") ? resp_get(r, "Allow") : "", ALLOW_STATIC) == 0,
            "OPTIONS *: status %d", r->status);
    resp_free(r);
}

Test(worker, out_of_descriptors_waits_without_spinning, .fini = harness_fini, .timeout = 30)
{
    harness_begin_mpm("worker");
    struct srv *s = start_ready("StartServers 1\nServerLimit 1\nThreadsPerChild 4\n"
                                "MaxRequestWorkers 4\nKeepAlive On\nKeepAliveTimeout 30\n",
                                1, 4);
    pid_t kid;
    hassert(ready_children(s, 4, &kid) == 1, "the server did not start 1 child of 4 worker threads");

    /* Leave the child exactly two free descriptor numbers below its RLIMIT_NOFILE, once the connections the
     * start-up probes made are gone from it (only its listener is a socket then). */
    for (int64_t until = now_ms() + 3000; proc_sockets(kid) != 1 && now_ms() < until;)
        sleep_ms(20);
    hassert(proc_sockets(kid) == 1, "child %d still holds %d sockets", (int)kid, proc_sockets(kid));
    int limit = proc_free_fd(kid, 3);
    hassert(limit >= 0, "cannot find free descriptor numbers in child %d", (int)kid);
    struct rlimit old;
    proc_set_nofile(kid, (rlim_t)limit, 0, &old);

    struct conn *held[2];
    for (int i = 0; i < 2; i++) {
        held[i] = conn_open(s->port);
        expect_options(held[i]);
    }
    /* The third connection cannot be accepted: it must wait in the backlog while the child idles. */
    struct conn *third = conn_open(s->port);
    conn_send_str(third, OPTIONS_REQ);
    sleep_ms(300);
    long t0 = proc_cpu_ticks(kid);
    int64_t w0 = now_ms();
    expect_unanswered(third, 1500, "the third connection although the child had no descriptor left");
    long used = proc_cpu_ticks(kid) - t0;
    long ms = (long)(now_ms() - w0);
    hassert(t0 >= 0 && used * 1000 / sysconf(_SC_CLK_TCK) < ms / 4,
            "the child used %ld ticks of CPU in %ld ms without a descriptor (spinning?)", used, ms);

    /* Freed descriptor: the waiting connection is accepted and served. */
    conn_close(held[0]);
    struct resp *r = must_read_within(third, 3000, "the waiting connection");
    hassert(r->status == 200, "OPTIONS *: status %d", r->status);
    resp_free(r);
    conn_close(third);
    conn_close(held[1]);

    char *log = read_file(s->error_log, NULL);
    const char *msg = "accept4() failed: Too many open files";
    char *first = log ? strstr(log, msg) : NULL;
    hassert(first != NULL, "EMFILE not logged; error log:\n%s", log);
    hassert(strstr(first + 1, msg) == NULL, "EMFILE logged more than once; error log:\n%s", log);
    free(log);
    proc_set_nofile(kid, old.rlim_cur, old.rlim_max, NULL);
    server_stop(s);
}

Test(worker, one_process_mode, .fini = harness_fini, .timeout = 30)
{
    harness_begin_mpm("worker");
    struct srv *s = server_new("worker", "ThreadsPerChild 3\nKeepAlive On\nKeepAliveTimeout 30\n");
    const char *const args[] = {"-X", NULL};
    server_launch(s, args);
    pid_t kids[MAX_KIDS];
    hassert(proc_children(s->pid, kids, MAX_KIDS) == 0, "-X started child processes");
    int64_t deadline = now_ms() + 3000;
    while (worker_threads(s->pid) != 3 && now_ms() < deadline)
        sleep_ms(20);
    hassert(worker_threads(s->pid) == 3, "-X with ThreadsPerChild 3: %d worker threads",
            worker_threads(s->pid));

    /* 3 connections at once, one idle keep-alive connection left open across the stop */
    struct conn *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = conn_open(s->port);
        conn_send_str(c[i], PAGE_REQ);
    }
    for (int i = 0; i < 3; i++) {
        expect_next_file(c[i], s, "page.html", NULL, 0);
    }
    conn_close(c[1]);
    conn_close(c[2]);
    int64_t t0 = now_ms();
    int status = server_terminate(s);
    hassert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "-X server ended with status 0x%x", status);
    hassert(now_ms() - t0 < 2000, "-X server took %lld ms to stop with an idle connection",
            (long long)(now_ms() - t0));
    expect_closed(c[0], 1000);
    conn_close(c[0]);
    server_destroy(s);
}
