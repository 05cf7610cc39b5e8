/*
 * Starting and restarting (see restart.h): the scoreboard sized for every MPM, the restart loop, and the
 * all-or-nothing switch to a new configuration. Supervision itself (children, generations, signals) is
 * process.c's; this file decides what a generation runs with.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../mpm/mpm.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "process.h"
#include "restart.h"
#include "scoreboard.h"
#include "tls.h"
#include "unixd.h"

#define RESTART_MAX_SLOTS (1 << 20) /* worker slots of a scoreboard sized for every MPM, at most (40 MiB) */

static int mpm_index(const struct server *s, const struct mpm *m)
{
    for (int i = 0; i < RESTART_MAX_MPMS && s->mpms[i] != NULL; i++)
        if (s->mpms[i] == m)
            return i;
    return -1;
}

int restart_write_pid_file(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error(LOG_ERR, "core", "could not create PidFile %s: %s", path, strerror(errno));
        return -1;
    }
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        log_error(LOG_ERR, "core", "write() to PidFile %s failed: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (close(fd) < 0) {
        log_error(LOG_ERR, "core", "close() of PidFile %s failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

void restart_warnings(const struct warnings *w, const char *extra, int to_log)
{
    struct warnings all = *w;
    if (extra != NULL)
        warnings_add(&all, "%s", extra);
    if (to_log) {
        log_warnings(&all, "core");
        return;
    }
    for (int i = 0; i < warnings_kept(&all); i++)
        fprintf(stderr, "httpd: WARNING: %s\n", all.msg[i]);
    if (all.count > WARNINGS_MAX)
        fprintf(stderr, "httpd: WARNING: %d more warnings were dropped\n", all.count - WARNINGS_MAX);
}

int restart_prepare(struct restart *rs, struct server *s, struct errbuf *err)
{
    int self = mpm_index(s, s->mpm);
    int own_rows = s->mpm_conf.server_limit > 0 ? s->mpm_conf.server_limit : 1;
    int own_slots = s->mpm_conf.thread_limit > 0 ? s->mpm_conf.thread_limit : 1;
    int rows = own_rows, slots = own_slots;

    memset(rs->limits, 0, sizeof(rs->limits));
    if (self >= 0) {
        rs->limits[self].known = 1;
        rs->limits[self].server_limit = s->mpm_conf.server_limit;
        rs->limits[self].thread_limit = s->mpm_conf.thread_limit;
    }
    /* every other MPM, as the same lines configure it; their clamp warnings are not the running server's */
    for (int i = 0; self >= 0 && !s->one_process && i < RESTART_MAX_MPMS && s->mpms[i] != NULL; i++) {
        struct mpm_conf c;
        struct errbuf ignored;
        if (i == self || config_mpm_settings(s, s->mpms[i], NULL, &c, NULL, &ignored) < 0)
            continue;
        rs->limits[i].known = 1;
        rs->limits[i].server_limit = c.server_limit;
        rs->limits[i].thread_limit = c.thread_limit;
    }
    for (int i = 0; i < RESTART_MAX_MPMS; i++) {
        if (!rs->limits[i].known)
            continue;
        if (rs->limits[i].server_limit > rows)
            rows = rs->limits[i].server_limit;
        if (rs->limits[i].thread_limit > slots)
            slots = rs->limits[i].thread_limit;
    }
    if ((long long)rows * slots > RESTART_MAX_SLOTS) {
        log_error(
            LOG_NOTICE, "core",
            "a scoreboard for every MPM would need %d x %d slots: sized for %s alone (%d x %d); a graceful "
            "restart to another MPM is fitted into it",
            rows, slots, s->mpm->name, own_rows, own_slots);
        rows = own_rows;
        slots = own_slots;
        for (int i = 0; i < RESTART_MAX_MPMS; i++)
            if (i != self)
                rs->limits[i].known = 0;
    }
    if (process_init(rows, slots, err) < 0) {
        struct errbuf e = *err;
        return errbuf_set(err, "could not create the scoreboard: %s", e.msg);
    }
    return log_open(s, err) < 0 || listen_open(s, err) < 0 ? -1 : 0;
}

void restart_release(struct server *s)
{
    listen_close(s);
    log_close(s);
    config_free(s);
}

/*
 * ServerLimit and ThreadLimit keep their start-up values: a change is logged, and the MPM's settings are
 * checked again with the start-up values, so that the clamps of the directives that depend on them follow.
 * Returns 0, or -1 with err.
 */
static int keep_limits(const struct restart *rs, struct server *n, struct warnings *w, struct errbuf *err)
{
    const struct scoreboard *sb = process_scoreboard();
    int i = mpm_index(n, n->mpm), sl, tl;

    if (i >= 0 && rs->limits[i].known) {
        sl = rs->limits[i].server_limit;
        tl = rs->limits[i].thread_limit;
    } else {
        sl = n->mpm_conf.server_limit < sb->server_limit ? n->mpm_conf.server_limit : sb->server_limit;
        tl = n->mpm_conf.thread_limit < sb->thread_limit ? n->mpm_conf.thread_limit : sb->thread_limit;
    }
    if (n->mpm_conf.server_limit == sl && n->mpm_conf.thread_limit == tl)
        return 0;
    if (n->mpm_conf.server_limit != sl)
        log_error(LOG_WARN, "core",
                  "changing ServerLimit to %d from original value of %d not allowed during restart",
                  n->mpm_conf.server_limit, sl);
    if (n->mpm_conf.thread_limit != tl)
        log_error(LOG_WARN, "core",
                  "changing ThreadLimit to %d from original value of %d not allowed during restart",
                  n->mpm_conf.thread_limit, tl);
    struct mpm_conf force;
    config_mpm_conf_unset(&force);
    force.server_limit = sl;
    force.thread_limit = tl;
    /* the MPM's warnings of the first check were about limits it will not have: the forced check's replace
     * them (the first check, run again, tells which they were) */
    struct warnings first = {0}, forced = {0}, kept = {0};
    struct mpm_conf unforced;
    if (config_mpm_settings(n, n->mpm, NULL, &unforced, &first, err) < 0 ||
        config_mpm_settings(n, n->mpm, &force, &n->mpm_conf, &forced, err) < 0)
        return -1;
    for (int k = 0; w != NULL && k < warnings_kept(w); k++) {
        int mpm_said = 0;
        for (int j = 0; j < warnings_kept(&first) && !mpm_said; j++)
            mpm_said = strcmp(w->msg[k], first.msg[j]) == 0;
        if (!mpm_said)
            warnings_add(&kept, "%s", w->msg[k]);
    }
    for (int k = 0; k < warnings_kept(&forced); k++)
        warnings_add(&kept, "%s", forced.msg[k]);
    if (w != NULL)
        *w = kept;
    return 0;
}

/*
 * A restart: reads the configuration again and puts it in place, all or nothing. Returns the new server, or
 * NULL with err once everything done is undone (old still serves, with its listeners and logs).
 */
static struct server *reload(const struct restart *rs, struct server *old, struct errbuf *err)
{
    struct warnings w = {0};
    struct server *n = config_load(rs->args, &w, err);
    if (n == NULL)
        return NULL;
    if (keep_limits(rs, n, &w, err) < 0)
        goto fail;
    n->one_process = old->one_process;
    n->foreground = old->foreground;
    if (listen_open_from(n, old, err) < 0)
        goto fail;
    if (log_open(n, err) < 0) {
        listen_abandon(n, old);
        goto fail;
    }

    /* Nothing can fail from here on: the old server gives up its sockets and files. */
    listen_release(old, n);
    log_release(old);
    if (!n->foreground)
        log_redirect_stderr();
    /* the root warning only when this restart makes the children serve as root */
    restart_warnings(&w, unixd_root_warning(old) == NULL ? unixd_root_warning(n) : NULL, 1);
    if (strcmp(old->pid_file, n->pid_file) != 0 && restart_write_pid_file(n->pid_file) == 0 &&
        unlink(old->pid_file) < 0)
        log_error(LOG_WARN, "core", "unlink() of the old PidFile %s failed: %s", old->pid_file,
                  strerror(errno));
    return n;

fail:
    config_free(n);
    return NULL;
}

int restart_serve(struct restart *rs, struct server **sp)
{
    struct server *s = *sp;
    struct errbuf err;
    int rc, fresh = 1;

    for (;;) {
        if (fresh) {
            log_error(LOG_NOTICE, "core", "%s (%s MPM) configured -- resuming normal operations",
                      SERVER_SOFTWARE, s->mpm->name);
            tls_log_start(s);
        }
        rc = s->mpm->run(s);
        if (rc != PROCESS_RESTART && rc != PROCESS_GRACEFUL)
            break;
        struct server *n = reload(rs, s, &err);
        fresh = n != NULL;
        if (n == NULL) {
            log_error(LOG_ERR, "core", "restart failed, still serving with the previous configuration: %s",
                      err.msg);
            continue;
        }
        config_free(s);
        s = n;
        process_new_generation(rc == PROCESS_GRACEFUL);
    }
    *sp = s;
    return rc;
}
