/*
 * The snapshot of server-status (see status.c): the shared scoreboard copied (children write it all the
 * time, without locks) and counted from the copy, the figures the three renderers share, and what the page
 * shows from /proc. status_snap.h is what the renderers see of it; they and the handler sit above it.
 *
 * Everything shown comes from the scoreboard: the rows and slots, and its header, in which supervision
 * describes the running model (its name, whether a reactor owns the connections, the threads per child and
 * the children the configuration runs). Status knows nothing of supervision or of the MPMs, and finds the
 * board as the one this process mapped (scoreboard_current()).
 *
 * Counting follows mod_status (Apache 2.4.71, which counts graceful workers apart). Over the live children
 * that are not leaving, a worker slot is idle when READY ('_') and the child belongs to the current
 * generation, graceful when 'G' (finishing before its child exits), busy when in any other state but DEAD,
 * STARTING and IDLE_KILL. The Scoreboard line has a character per slot up to MaxRequestWorkers (ServerLimit
 * rows x ThreadLimit slots, leaving out the DEAD slots beyond the configured number of children or threads,
 * as Apache 2.4 does): prefork and worker print MaxRequestWorkers characters, event one per StartServers
 * child, plus any slot outside those bounds that is in use (a child of an older generation).
 *
 * Under event a child is one reactor with one slot, READY whenever it can take connections, so what it is
 * doing shows in the connection counts kept in its scoreboard row: ConnsTotal (open connections, lingering
 * closes included) and ConnsAsyncKeepAlive (idle keep-alive). The reactor serves every other connection
 * asynchronously, so those are reported as ConnsAsyncWriting; ConnsAsyncClosing and ConnsAsyncWaitIO are 0
 * because the row does not count lingering closes or connections waiting for I/O apart.
 *
 * Request durations are what each slot has accumulated (the milliseconds from the first byte of a request
 * to its end, as the access log's %D), summed as Apache's Total Duration. Beyond the scoreboard: the load
 * average from /proc/loadavg and CPU times from /proc/PID/stat of the parent (its cutime/cstime hold the
 * children it has reaped) and of every live child.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "pool.h"
#include "scoreboard.h"
#include "proxy_conf.h"
#include "server.h"
#include "status_snap.h"
#include "util.h"

#define TIME_FORMAT "%A, %d-%b-%Y %H:%M:%S %Z"

const char status_server_built[] = __DATE__ " " __TIME__;

/* ---- the snapshot ---- */

static struct status_slot *slot_at(const struct status_snap *sn, int i, int t)
{
    return &sn->slots[(size_t)i * (size_t)sn->thread_limit + (size_t)t];
}

const struct status_slot *status_slot_at(const struct status_snap *sn, int i, int t)
{
    return slot_at(sn, i, t);
}

/* A state as printed: Apache's character, '?' for anything else (as mod_status). */
static char known_state(char st)
{
    return st != '\0' && strchr("._SRWKCGLDI", st) != NULL ? st : '?';
}

/* A worker that is serving (Apache: not DEAD, STARTING, IDLE_KILL or READY, and not finishing: GRACEFUL). */
static int state_busy(char st)
{
    return st != SB_DEAD && st != SB_STARTING && st != SB_READY && st != 'I' && st != SB_GRACEFUL;
}

/* A slot is left out of the Scoreboard line when it is DEAD and beyond the configured children or threads. */
static int slot_shown(const struct status_snap *sn, int i, int t)
{
    return slot_at(sn, i, t)->state != SB_DEAD || (i < sn->max_servers && t < sn->threads_per_child);
}

/*
 * The name on the page, as Apache's ap_get_server_name() with UseCanonicalName Off: the Host without its port
 * when it is a plain name or address (it is the client's text: anything else could pose as a key of ?auto),
 * else ServerName, else "localhost".
 */
static const char *page_host(const struct request *r)
{
    const char *h = r->host;
    if (h != NULL && *h != '\0') {
        const char *end = h[0] == '[' ? strchr(h, ']') : NULL;
        size_t n = h[0] == '[' ? (end != NULL ? (size_t)(end - h) + 1 : 0) : strcspn(h, ":");
        int ok = n > 0;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)h[i]) || strchr("-._~[]:", h[i]) != NULL;
        char *copy = ok ? pool_strndup(r->pool, h, n) : NULL;
        if (copy != NULL)
            return copy;
    }
    if (r->server != NULL && r->server->server_name != NULL)
        return r->server->server_name;
    return "localhost";
}

/* The model as supervision described it in the header; without a description, all of the board. */
static void snap_model(struct status_snap *sn, struct scoreboard *sb)
{
    struct sb_info info;
    scoreboard_get_info(sb, &info);
    snprintf(sn->mpm, sizeof(sn->mpm), "%s", info.mpm[0] != '\0' ? info.mpm : "unknown");
    sn->async = info.async != 0;
    sn->threads_per_child = info.threads_per_child > 0 && info.threads_per_child <= sb->thread_limit
                                ? info.threads_per_child
                                : sb->thread_limit;
    sn->max_servers =
        info.max_servers > 0 && info.max_servers <= sb->server_limit ? info.max_servers : sb->server_limit;
    sn->max_workers = sn->max_servers * sn->threads_per_child;
}

/* Copies row i and its slots. */
static void snap_copy_row(struct status_snap *sn, struct scoreboard *sb, int i)
{
    struct sb_child *c = scoreboard_child(sb, i);
    struct status_row *row = &sn->rows[i];
    row->pid = atomic_load(&c->pid);
    row->generation = atomic_load(&c->generation);
    row->quitting = atomic_load(&c->quitting) != 0;
    long conns = (long)atomic_load_explicit(&c->conns, memory_order_relaxed);
    long idle = (long)atomic_load_explicit(&c->idle_conns, memory_order_relaxed);
    /* two counters read one after the other: never less open than idle, never negative */
    row->keepalive = idle < 0 ? 0 : idle;
    row->conns = conns < row->keepalive ? row->keepalive : conns;
    row->writing = row->conns - row->keepalive;
    for (int t = 0; t < sb->thread_limit; t++) {
        struct sb_worker *w = scoreboard_worker(sb, i, t);
        struct status_slot *x = slot_at(sn, i, t);
        x->state = known_state(atomic_load_explicit(&w->state, memory_order_acquire));
        x->accesses = atomic_load_explicit(&w->accesses, memory_order_relaxed);
        x->bytes = atomic_load_explicit(&w->bytes, memory_order_relaxed);
        x->duration_ms = atomic_load_explicit(&w->duration_ms, memory_order_relaxed);
        x->conns = (uint32_t)atomic_load_explicit(&w->conns, memory_order_relaxed);
        x->last_used = atomic_load_explicit(&w->last_used, memory_order_relaxed);
    }
}

/* Counts row i of the copy into its own figures and the totals. */
static void snap_count_row(struct status_snap *sn, int i)
{
    struct status_row *row = &sn->rows[i];
    int counted = row->pid != 0 && !row->quitting;
    for (int t = 0; t < sn->thread_limit; t++) {
        const struct status_slot *x = slot_at(sn, i, t);
        int ready = x->state == SB_READY, graceful = x->state == SB_GRACEFUL, busy = state_busy(x->state);
        row->accesses += x->accesses;
        row->bytes += x->bytes;
        row->duration_ms += x->duration_ms;
        row->idle += ready;
        row->graceful += graceful;
        row->busy += busy;
        if (slot_shown(sn, i, t))
            sn->board[sn->board_len++] = x->state;
        if (counted) {
            sn->idle += ready && row->generation == sn->generation;
            sn->graceful += graceful;
            sn->busy += busy;
        }
    }
    sn->accesses += row->accesses;
    sn->bytes += row->bytes;
    sn->duration_ms += row->duration_ms;
    if (row->pid != 0) {
        sn->procs++;
        sn->stopping += row->quitting;
        sn->conns += row->conns;
        sn->keepalive += row->keepalive;
        sn->writing += row->writing;
    }
}

/* Copies the scoreboard and counts. Returns 0, or -1 when out of memory. */
/* Copies the balancer members' slots (the plain ProxyPass upstreams have slots too, not shown), grouped by
 * balancer in order of first appearance. */
/* Whether the configuration s serves with has a balancer member of this slot's name (a slot outlives the
 * configuration that named it). */
static int member_configured(const struct server *s, const char *name)
{
    for (const struct proxy_worker *w = s->proxy != NULL ? s->proxy->workers : NULL; w != NULL; w = w->next)
        if (w->shared_name != NULL && strncmp(w->shared_name, name, SB_MEMBER_NAME_MAX - 1) == 0)
            return 1;
    return 0;
}

static int snap_members(struct status_snap *sn, struct pool *p, struct scoreboard *sb, const struct server *s)
{
    sn->members = pool_calloc(p, SB_MEMBERS_MAX * sizeof(*sn->members));
    if (sn->members == NULL)
        return -1;
    int64_t now = now_ms();
    struct status_member got[SB_MEMBERS_MAX];
    int n = 0, balancers = 0;
    for (int i = 0; i < SB_MEMBERS_MAX; i++) {
        struct sb_member *m = scoreboard_member_at(sb, i);
        if (m == NULL || strncmp(m->name, "balancer://", 11) != 0 || strchr(m->name, ' ') == NULL ||
            !member_configured(s, m->name))
            continue;
        struct status_member *x = &got[n++];
        memset(x, 0, sizeof(*x));
        memcpy(x->balancer, m->name, SB_MEMBER_NAME_MAX);
        x->balancer[SB_MEMBER_NAME_MAX - 1] = '\0';
        char *space = strchr(x->balancer, ' ');
        *space = '\0';
        x->url = space + 1;
        x->in_error = now < atomic_load(&m->error_until);
        x->busy = atomic_load(&m->busy);
        x->elected = atomic_load(&m->elected);
        x->sent = atomic_load(&m->sent);
        x->rcvd = atomic_load(&m->rcvd);
        x->failures = atomic_load(&m->failures);
        x->balancer_index = -1;
    }
    /* stable grouping: every member of the first balancer seen, then the next one's */
    for (int i = 0; i < n; i++) {
        if (got[i].balancer_index >= 0)
            continue;
        int members = 0;
        for (int k = i; k < n; k++) {
            if (got[k].balancer_index >= 0 || strcmp(got[k].balancer, got[i].balancer) != 0)
                continue;
            got[k].balancer_index = balancers;
            got[k].member_index = members++;
            struct status_member *to = &sn->members[sn->n_members++];
            *to = got[k];
            to->url = to->balancer + (got[k].url - got[k].balancer);
        }
        balancers++;
    }
    return 0;
}

int status_snap_take(struct status_snap *sn, struct request *r, struct scoreboard *sb,
                     const struct status_sys *sys)
{
    struct pool *p = r->pool;

    memset(sn, 0, sizeof(*sn));
    sn->host = page_host(r);
    sn->server_limit = sb->server_limit;
    sn->thread_limit = sb->thread_limit;
    snap_model(sn, sb);
    sn->generation = atomic_load(&sb->generation);
    sn->start = sb->start_time;
    sn->uptime = sys->now > sb->start_time ? (long)(sys->now - sb->start_time) : 0;

    size_t nslots = (size_t)sb->server_limit * (size_t)sb->thread_limit;
    sn->rows = pool_calloc(p, (size_t)sb->server_limit * sizeof(*sn->rows));
    sn->slots = pool_calloc(p, nslots * sizeof(*sn->slots));
    sn->board = pool_alloc(p, nslots + 1);
    if (sn->rows == NULL || sn->slots == NULL || sn->board == NULL)
        return -1;
    for (int i = 0; i < sb->server_limit; i++)
        snap_copy_row(sn, sb, i);
    for (int i = 0; i < sn->server_limit; i++)
        snap_count_row(sn, i);
    sn->board[sn->board_len] = '\0';
    return snap_members(sn, p, sb, r->server);
}

/* ---- figures the renderers share ---- */

double status_req_per_sec(const struct status_snap *sn)
{
    return sn->uptime > 0 ? (double)((float)sn->accesses / (float)sn->uptime) : 0;
}

double status_bytes_per_sec(const struct status_snap *sn)
{
    return sn->uptime > 0 ? (double)(STATUS_KBYTE * (float)(sn->bytes / STATUS_KBYTE) / (float)sn->uptime)
                          : 0;
}

double status_bytes_per_req(const struct status_snap *sn)
{
    return sn->accesses > 0 ? (double)(STATUS_KBYTE * (float)(sn->bytes / STATUS_KBYTE) / (float)sn->accesses)
                            : 0;
}

double status_duration_per_req(const struct status_snap *sn)
{
    return sn->accesses > 0 ? (double)((float)sn->duration_ms / (float)sn->accesses) : 0;
}

double status_cpu_load(const struct status_snap *sn, const struct status_sys *sys)
{
    double total = sys->cpu_user + sys->cpu_system + sys->cpu_children_user + sys->cpu_children_system;
    return sys->have_cpu && sn->uptime > 0 ? total / (double)sn->uptime * 100. : 0;
}

void status_format_time(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL || strftime(buf, size, TIME_FORMAT, &tm) == 0)
        snprintf(buf, size, "-");
}

void status_put_uptime(struct pbuf *b, long secs)
{
    long days = secs / 86400, hours = secs / 3600 % 24, mins = secs / 60 % 60, s = secs % 60;
    if (days > 0)
        pbuf_printf(b, " %ld day%s", days, days == 1 ? "" : "s");
    if (hours > 0)
        pbuf_printf(b, " %ld hour%s", hours, hours == 1 ? "" : "s");
    if (mins > 0)
        pbuf_printf(b, " %ld minute%s", mins, mins == 1 ? "" : "s");
    if (s > 0)
        pbuf_printf(b, " %ld second%s", s, s == 1 ? "" : "s");
}

/* ---- system figures ---- */

/* The command name and utime, stime, cutime, cstime (clock ticks) of a process from /proc/PID/stat; -1 if it
 * cannot be read (it may have exited). */
static int read_proc_stat(pid_t pid, char *comm, size_t comm_size, unsigned long long t[4])
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ESRCH)
            log_error(LOG_DEBUG, "status", "open(%s) failed: %s", path, strerror(errno));
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int saved = errno;
    close(fd);
    if (n <= 0) {
        if (n < 0 && saved != ESRCH)
            log_error(LOG_DEBUG, "status", "read(%s) failed: %s", path, strerror(saved));
        return -1;
    }
    buf[n] = '\0';
    /* "pid (comm) state ...": the name may hold spaces and parentheses, the fields start after the last ')'
     */
    const char *open_paren = strchr(buf, '('), *p = strrchr(buf, ')');
    long long cu, cs;
    if (open_paren == NULL || p == NULL || p < open_paren ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", &t[0], &t[1], &cu,
               &cs) != 4)
        return -1;
    snprintf(comm, comm_size, "%.*s", (int)(p - open_paren - 1), open_paren + 1);
    t[2] = cu > 0 ? (unsigned long long)cu : 0;
    t[3] = cs > 0 ? (unsigned long long)cs : 0;
    return 0;
}

static void read_loadavg(double load[3])
{
    load[0] = load[1] = load[2] = -1;
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_error(LOG_DEBUG, "status", "open(/proc/loadavg) failed: %s", strerror(errno));
        return;
    }
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0)
        log_error(LOG_DEBUG, "status", "read(/proc/loadavg) failed: %s", strerror(errno));
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    double l[3];
    if (sscanf(buf, "%lf %lf %lf", &l[0], &l[1], &l[2]) == 3)
        memcpy(load, l, sizeof(l));
}

void status_sys_read(struct status_sys *sys, struct scoreboard *sb, pid_t parent)
{
    unsigned long long sum[4] = {0, 0, 0, 0}, t[4], self_t[4];
    char comm[64], self_comm[64];
    int found = 0;

    memset(sys, 0, sizeof(*sys));
    sys->now = time(NULL);
    read_loadavg(sys->load);

    long tick = sysconf(_SC_CLK_TCK);
    if (tick <= 0)
        return;
    /* an orphaned child's parent is init or a subreaper: only a parent running this program is ours */
    if (parent > 0 && read_proc_stat(parent, comm, sizeof(comm), t) == 0 &&
        read_proc_stat(getpid(), self_comm, sizeof(self_comm), self_t) == 0 && strcmp(comm, self_comm) == 0) {
        for (int k = 0; k < 4; k++)
            sum[k] += t[k];
        found = 1;
    }
    for (int i = 0; sb != NULL && i < sb->server_limit; i++) {
        pid_t pid = atomic_load(&scoreboard_child(sb, i)->pid);
        if (pid <= 0 || pid == parent || read_proc_stat(pid, comm, sizeof(comm), t) < 0)
            continue;
        for (int k = 0; k < 4; k++)
            sum[k] += t[k];
        found = 1;
    }
    if (!found)
        return;
    sys->have_cpu = 1;
    sys->cpu_user = (double)sum[0] / (double)tick;
    sys->cpu_system = (double)sum[1] / (double)tick;
    sys->cpu_children_user = (double)sum[2] / (double)tick;
    sys->cpu_children_system = (double)sum[3] / (double)tick;
}
