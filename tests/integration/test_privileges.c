/*
 * User and Group, seen from outside: started as root with `User nobody` `Group nogroup`, every child (every
 * thread of it) has nobody's uid and nogroup's gid in all four fields of /proc/PID/status, and no
 * supplementary group but nogroup, while the parent stays root and requests are still answered. `User root`
 * is a configuration error naming file:line. The identity tests need root and Debian's nobody/nogroup; they
 * are skipped otherwise.
 */
#include "harness.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GET_INDEX "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n"

/* The ids the children must have, or a skip when the test cannot run here. */
static void nobody_ids(uid_t *uid, gid_t *gid)
{
    if (geteuid() != 0)
        cr_skip_test("not running as root: User/Group are ignored, there is nothing to drop");
    struct passwd *pw = getpwnam("nobody");
    struct group *gr = getgrnam("nogroup");
    if (pw == NULL || gr == NULL)
        cr_skip_test("no user nobody or no group nogroup on this system");
    *uid = pw->pw_uid;
    *gid = gr->gr_gid;
}

/*
 * Checks the Uid:, Gid: and Groups: lines of /proc/PID/status (or .../task/TID/status). Returns 1 when all
 * four uid fields are `uid`, all four gid fields are `gid` and Groups holds nothing but `gid` (groups < 0:
 * not checked); otherwise 0 with the lines in why.
 */
static int ids_are(const char *status_path, long uid, long gid, int check_groups, char *why, size_t whylen)
{
    char *text = read_file(status_path, NULL);
    long u[4], g[4];
    int ok = 1;

    if (text == NULL) {
        snprintf(why, whylen, "%s: gone", status_path);
        return -1; /* the process or thread exited meanwhile */
    }
    char *ul = strstr(text, "\nUid:"), *gl = strstr(text, "\nGid:"), *grl = strstr(text, "\nGroups:");
    if (ul == NULL || gl == NULL || grl == NULL ||
        sscanf(ul, "\nUid: %ld %ld %ld %ld", &u[0], &u[1], &u[2], &u[3]) != 4 ||
        sscanf(gl, "\nGid: %ld %ld %ld %ld", &g[0], &g[1], &g[2], &g[3]) != 4) {
        snprintf(why, whylen, "%s: no Uid/Gid/Groups lines", status_path);
        free(text);
        return 0;
    }
    for (int i = 0; i < 4; i++)
        ok = ok && u[i] == uid && g[i] == gid;
    if (check_groups) {
        char *p = grl + strlen("\nGroups:"), *end;
        for (;;) {
            long v = strtol(p, &end, 10);
            if (end == p)
                break;
            ok = ok && v == gid;
            p = end;
        }
    }
    if (!ok) {
        char *nl1 = strchr(ul + 1, '\n'), *nl2 = strchr(gl + 1, '\n'), *nl3 = strchr(grl + 1, '\n');
        snprintf(why, whylen, "%s: %.*s | %.*s | %.*s", status_path, nl1 ? (int)(nl1 - ul - 1) : 40, ul + 1,
                 nl2 ? (int)(nl2 - gl - 1) : 40, gl + 1, nl3 ? (int)(nl3 - grl - 1) : 40, grl + 1);
    }
    free(text);
    return ok;
}

/* Checks every thread of process pid; 1 when all are as wanted, 0 with why otherwise, -1 if it exited. */
static int process_ids_are(pid_t pid, long uid, long gid, char *why, size_t whylen)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    struct dirent *e;
    int result = 1, tasks = 0;

    if (d == NULL) {
        snprintf(why, whylen, "%s: gone", path);
        return -1;
    }
    while (result == 1 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char status[300];
        snprintf(status, sizeof(status), "/proc/%d/task/%s/status", (int)pid, e->d_name);
        int r = ids_are(status, uid, gid, 1, why, whylen);
        if (r == 0)
            result = 0;
        tasks += r == 1;
    }
    closedir(d);
    return result == 1 && tasks == 0 ? -1 : result;
}

MPM_TEST(privileges, children_serve_as_user, .timeout = 30)
{
    uid_t uid;
    gid_t gid;
    nobody_ids(&uid, &gid);
    struct srv *s = server_start(mpm, "User nobody\nGroup nogroup\n");
    char why[512] = "";

    /* still serving, from files the User can read (the harness makes the tree world-readable) */
    for (int i = 0; i < 5; i++) {
        expect_served(s, GET_INDEX, "index.html", NULL);
    }

    /* every child, every thread: nobody/nogroup; a child seen right after fork() may still be root, so
     * the check is repeated until it holds or 3 s have passed */
    int64_t deadline = now_ms() + 3000;
    int ok = 0, n = 0;
    pid_t kids[256];
    while (!ok && now_ms() < deadline) {
        n = proc_children(s->pid, kids, 256);
        ok = n > 0;
        for (int i = 0; ok && i < n; i++)
            ok = process_ids_are(kids[i], (long)uid, (long)gid, why, sizeof(why)) != 0;
        if (!ok)
            sleep_ms(50);
    }
    hassert(n > 0, "the server has no child process");
    hassert(ok, "a child does not run as nobody/nogroup (uid %ld gid %ld) with no other group: %s", (long)uid,
            (long)gid, why);

    /* the parent keeps root: it must reopen logs, bind on restart and signal its children */
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
    hassert(ids_are(path, 0, 0, 0, why, sizeof(why)) == 1, "the parent is no longer root: %s", why);

    /* and once more after the check, in case a child was replaced meanwhile */
    expect_served(s, GET_INDEX, "index.html", NULL);
    /* (a line is written once its response has gone) */
    if (wait_log(s->access_log, "\"GET /index.html HTTP/1.1\" 200", 1, 3000) < 1) {
        char *log = read_file(s->access_log, NULL);
        hfail("the children could not write the access log (opened by the root parent):\n%s", log ? log : "");
    }
    server_stop(s);
}

/* -X serves in the only process, which drops privileges like a child, as Apache's -X does. */
MPM_TEST(privileges, one_process_serves_as_user, .timeout = 30)
{
    uid_t uid;
    gid_t gid;
    nobody_ids(&uid, &gid);
    struct srv *s = server_new(mpm, "User nobody\nGroup nogroup\n");
    char why[512] = "", path[64];

    server_launch(s, (const char *const[]){"-X", NULL});
    expect_served(s, GET_INDEX, "index.html", NULL);
    snprintf(path, sizeof(path), "/proc/%d/status", (int)s->pid);
    hassert(ids_are(path, (long)uid, (long)gid, 1, why, sizeof(why)) == 1,
            "httpd -X does not serve as nobody: %s", why);
    server_stop(s);
}

/* Writes the harness conf with `extra` appended to conf/NAME; returns its path and the line of the last line
 * of `extra` in *line. */
static char *conf_with(struct srv *s, const char *name, const char *extra, int *line)
{
    char *saved = s->extra, *path = xasprintf("%s/conf/%s", s->dir, name);
    s->extra = (char *)extra;
    char *text = server_conf_text(s, 12345);
    s->extra = saved;
    write_file(path, text, strlen(text));
    *line = 0;
    for (char *p = text; *p; p++)
        *line += *p == '\n';
    free(text);
    return path;
}

static int run_httpd(const char *const *args, char **all)
{
    char *argv[16], *out = NULL, *err = NULL;
    int argc = 0;
    argv[argc++] = getenv("HTTPD_BIN");
    for (int i = 0; args[i] && argc < 15; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    int status = run_cmd(argv, 5000, &out, &err);
    *all = xasprintf("%s%s", out ? out : "", err ? err : "");
    free(out);
    free(err);
    return status;
}

/* Refused whoever starts it, as Apache without BIG_SECURITY_HOLE: with -t and when starting. */
MPM_TEST(privileges, user_root_refused, .timeout = 20)
{
    struct srv *s = server_new(mpm, NULL);
    const char *variants[] = {"User root\n", "User \"#0\"\n"};

    for (int v = 0; v < 2; v++) {
        int line;
        char *conf = conf_with(s, "root.conf", variants[v], &line), *out;
        char *where = xasprintf("%s:%d: User", conf, line);
        for (int start = 0; start < 2; start++) {
            int status = run_httpd(start ? (const char *[]){"-f", conf, "-D", "FOREGROUND", NULL}
                                         : (const char *[]){"-t", "-f", conf, NULL},
                                   &out);
            hassert(status == 1, "%s%s: exit %d, want 1; output:\n%s", variants[v], start ? "" : " with -t",
                    status, out);
            hassert(strstr(out, where) != NULL && strstr(out, "root") != NULL,
                    "the error does not name %s and root:\n%s", where, out);
            free(out);
        }
        free(where);
        free(conf);
    }
    server_destroy(s);
}

/* Unknown names are configuration errors too, with their place. */
MPM_TEST(privileges, unknown_names_refused, .timeout = 20)
{
    struct srv *s = server_new(mpm, NULL);
    const char *variants[] = {"User no-such-user-httpd\n", "Group no-such-group-httpd\n"};
    const char *names[] = {"User", "Group"};

    for (int v = 0; v < 2; v++) {
        int line;
        char *conf = conf_with(s, "bad.conf", variants[v], &line), *out;
        char *where = xasprintf("%s:%d: %s", conf, line, names[v]);
        int status = run_httpd((const char *[]){"-t", "-f", conf, NULL}, &out);
        hassert(status == 1 && strstr(out, where) != NULL, "%s: exit %d, want 1 and \"%s\"; output:\n%s",
                variants[v], status, where, out);
        free(out);
        free(where);
        free(conf);
    }
    server_destroy(s);
}
