/*
 * prefork: every child process serves one connection at a time, so MaxRequestWorkers is both the number of
 * children and the number of connections served at once. The parent (server/process.c) keeps between
 * MinSpareServers and MaxSpareServers children idle; this file holds the directives and the child's loop.
 *
 * An idle child waits for its listeners in its own epoll set registered with EPOLLEXCLUSIVE, so a new
 * connection wakes one waiting child instead of all of them (the thundering herd Apache avoids with an accept
 * mutex), and accepts it non-blockingly: EAGAIN only means another child was faster. With AcceptFilter's
 * default (`http data`, TCP_DEFER_ACCEPT) the listener becomes readable only once a connection's first bytes
 * have arrived, so the child reads its request at once instead of sleeping a second time. The child's signals
 * stay blocked except inside epoll_pwait(), so a graceful stop that arrives just before the wait is not
 * missed.
 */

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "driver.h"
#include "mpm.h"
#include "../server/log.h"
#include "../server/process.h"
#include "../server/listen.h"
#include "../server/scoreboard.h"
#include "serve.h"

#define PREFORK_MAX_SERVER_LIMIT 20000
#define PREFORK_DEFAULT_LIMIT    256
#define MAX_EVENTS               16

#define CONF(field) offsetof(struct server, mpm_conf.field)

static const struct directive prefork_directives[] = {
    {"StartServers", config_set_int, CONF(start_servers), "child processes created at startup (5)"},
    {"MinSpareServers", config_set_int, CONF(min_spare), "idle children kept at least (5)"},
    {"MaxSpareServers", config_set_int, CONF(max_spare), "idle children kept at most (10)"},
    {"MaxRequestWorkers", config_set_int, CONF(max_workers),
     "children, and so connections served at once, at most (256)"},
    {"MaxClients", config_set_int, CONF(max_workers), "old name of MaxRequestWorkers"},
    {"ServerLimit", config_set_int, CONF(server_limit),
     "upper bound of MaxRequestWorkers (256, at most 20000)"},
    {"MaxConnectionsPerChild", config_set_int, CONF(max_conn_per_child),
     "connections a child serves before it is replaced; 0 for no limit (0)"},
    {"MaxRequestsPerChild", config_set_int, CONF(max_conn_per_child), "old name of MaxConnectionsPerChild"},
    {NULL, NULL, 0, NULL},
};

/* Fills the defaults and clamps as Apache's prefork_check_config() does. */
static int prefork_check_config(struct server *s, struct warnings *w, struct errbuf *err)
{
    struct mpm_conf *c = &s->mpm_conf;
    (void)err;

    driver_clamp(&c->server_limit, PREFORK_DEFAULT_LIMIT, PREFORK_MAX_SERVER_LIMIT, "ServerLimit", "servers",
                 "", w);

    /* Left unset, MaxRequestWorkers follows a smaller ServerLimit without a warning. */
    if (c->max_workers < 0) {
        c->max_workers = c->server_limit < PREFORK_DEFAULT_LIMIT ? c->server_limit : PREFORK_DEFAULT_LIMIT;
    } else if (c->max_workers > c->server_limit) {
        warnings_add(w, "MaxRequestWorkers of %d exceeds ServerLimit of %d, decreasing to match",
                     c->max_workers, c->server_limit);
        c->max_workers = c->server_limit;
    } else if (c->max_workers < 1) {
        warnings_add(w, "MaxRequestWorkers of %d not allowed, increasing to 1", c->max_workers);
        c->max_workers = 1;
    }

    if (c->min_spare < 0) {
        c->min_spare = 5;
    } else if (c->min_spare < 1) {
        warnings_add(
            w, "MinSpareServers of %d not allowed, increasing to 1 to avoid almost certain server failure",
            c->min_spare);
        c->min_spare = 1;
    }
    if (c->max_spare < 0)
        c->max_spare = 10;
    if (c->max_spare < c->min_spare + 1)
        c->max_spare = c->min_spare + 1;

    if (c->start_servers < 0)
        c->start_servers = 5;
    if (c->start_servers > c->max_workers)
        c->start_servers = c->max_workers;

    if (c->max_conn_per_child < 0)
        c->max_conn_per_child = 0;
    c->threads_per_child = 1;
    c->thread_limit = 1;
    c->max_conns = 1;
    return 0;
}

static void prefork_child_main(struct server *s, struct child_ctx *ctx)
{
    struct sb_worker *slot = scoreboard_worker(ctx->sb, ctx->slot, 0);
    struct epoll_event events[MAX_EVENTS];
    sigset_t wait_mask;
    struct driver_acceptor acceptor = {.module = "mpm_prefork"};
    int epfd, served = 0;
    int max_conns = s->mpm_conf.max_conn_per_child;

    epfd = driver_listen_set(s, "mpm_prefork");
    if (epfd < 0)
        goto done;

    /* wait_mask is the mask with the child's signals unblocked, used only while waiting in epoll_pwait(). */
    if (sigprocmask(SIG_SETMASK, NULL, &wait_mask) < 0) {
        log_error(LOG_ERR, "mpm_prefork", "sigprocmask() failed: %s", strerror(errno));
        goto done;
    }
    process_block_signals(1);
    /* while serving, a signal interrupts the waits (so that `leaving` ends an idle keep-alive), and only them
     */
    serve_wait_mask(&wait_mask);
    scoreboard_set_state(slot, SB_READY);

    while (!process_child_leaving(ctx)) {
        /* the wait ends when buffered access log lines are due (BufferedLogs), never otherwise */
        int n = epoll_pwait(epfd, events, MAX_EVENTS, log_flush_due(0), &wait_mask);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error(LOG_ERR, "mpm_prefork", "epoll_pwait() failed: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n && !process_child_leaving(ctx); i++) {
            const struct listener *l = events[i].data.ptr;
            struct sockaddr_storage peer;
            socklen_t peerlen = sizeof(peer);
            int fd = accept4(l->fd, (struct sockaddr *)&peer, &peerlen, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) {
                /* retry or wait alike: the listener stays readable while anything is queued */
                enum driver_accept next = driver_accept_failed(&acceptor, errno);
                if (next == DRIVER_ACCEPT_LEAVE)
                    goto done;
                if (next == DRIVER_ACCEPT_BACKOFF)
                    driver_backoff(&acceptor, NULL);
                continue;
            }
            driver_accepted(&acceptor);
            serve_connection(s, l, fd, (struct sockaddr *)&peer, peerlen, slot, ctx->leaving);
            if (max_conns > 0 && ++served >= max_conns)
                goto done;
        }
    }

done:
    if (epfd >= 0 && close(epfd) < 0)
        log_error(LOG_ERR, "mpm_prefork", "close() failed: %s", strerror(errno));
    /* with -X the process goes on after this: leave its signals as they were */
    serve_wait_mask(NULL);
    process_block_signals(0);
}

static int prefork_run(struct server *s)
{
    const struct mpm_conf *c = &s->mpm_conf;
    const struct process_policy policy = {
        .mpm_name = "prefork",
        .start_children = c->start_servers,
        .min_spare = c->min_spare,
        .max_spare = c->max_spare,
        .max_children = c->max_workers,
        .workers_per_child = 1,
        .limit_directive = "MaxRequestWorkers",
        .close_listeners_on_leave = 1,
        .child_main = prefork_child_main,
    };
    return process_run(s, &policy);
}

const struct mpm mpm_prefork = {
    .name = "prefork",
    .caps = MPM_FORKED,
    .directives = prefork_directives,
    .check_config = prefork_check_config,
    .run = prefork_run,
};
