/*
 * User and Group (Apache's mod_unixd). The parent of a server started as root stays root: it binds the
 * listeners, opens the logs, writes and removes the PidFile. A child drops root right after fork(), before it
 * serves: setgroups(), setgid(), setuid(), in that order, since each needs the privilege the next one takes
 * away. The log files stay writable because the child inherits their descriptors; the document root must be
 * readable by the User.
 *
 * The one thing to know: names are resolved while the configuration is read (getpwnam, getgrnam,
 * getgrouplist), so a child makes no passwd or group lookup, only system calls, and a bad name is a
 * configuration error with its file:line. Not started as root, User and Group are ignored, as Apache does.
 */

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pool.h"
#include "unixd.h"

#define MAX_GROUPS 1024

/* "#123" -> 123; -1 when the text after '#' is not a number an id can hold (uid_t/gid_t -1 is "none"). */
static long long parse_id(const char *arg)
{
    long long v = parse_uint(arg + 1);
    if (v < 0 || v >= (long long)UINT_MAX)
        return -1;
    return v;
}

static const char *set_user(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    if (argc != 1)
        return "takes one argument, a user name or a quoted \"#uid\" (an unquoted # starts a comment)";
    const char *arg = argv[0];
    struct passwd *pw;
    errno = 0;
    if (arg[0] == '#') {
        long long id = parse_id(arg);
        if (id < 0)
            return pool_printf(s->pool, "'%s': a #uid must be a number below %u", arg, UINT_MAX);
        s->user_id = (uid_t)id;
        pw = getpwuid(s->user_id);
    } else {
        pw = getpwnam(arg);
        if (pw == NULL)
            return pool_printf(s->pool, "'%s': bad user name (no such user%s%s)", arg, errno ? ": " : "",
                               errno ? strerror(errno) : "");
        s->user_id = pw->pw_uid;
    }
    /* as Apache without BIG_SECURITY_HOLE: children never serve as root, whatever started them */
    if (s->user_id == 0)
        return pool_printf(s->pool,
                           "'%s' is uid 0: httpd does not serve requests as root; name an unprivileged "
                           "user (User nobody, or a dedicated one)",
                           arg);
    s->user = pool_strdup(s->pool, arg);
    s->user_name = pw != NULL ? pool_strdup(s->pool, pw->pw_name) : NULL;
    s->user_gid = pw != NULL ? pw->pw_gid : (gid_t)-1;
    return NULL;
}

static const char *set_group(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    if (argc != 1)
        return "takes one argument, a group name or a quoted \"#gid\" (an unquoted # starts a comment)";
    const char *arg = argv[0];
    if (arg[0] == '#') {
        long long id = parse_id(arg);
        if (id < 0)
            return pool_printf(s->pool, "'%s': a #gid must be a number below %u", arg, UINT_MAX);
        s->group_id = (gid_t)id;
    } else {
        errno = 0;
        struct group *gr = getgrnam(arg);
        if (gr == NULL)
            return pool_printf(s->pool, "'%s': bad group name (no such group%s%s)", arg, errno ? ": " : "",
                               errno ? strerror(errno) : "");
        s->group_id = gr->gr_gid;
    }
    s->group = pool_strdup(s->pool, arg);
    return NULL;
}

const char *unixd_root_warning(const struct server *s)
{
    if (geteuid() != 0 || s->user != NULL)
        return NULL;
    return s->group != NULL ? "started as root without a User directive: the children will serve requests as "
                              "root (Group alone changes nothing)"
                            : "started as root without a User directive: the children will serve requests as "
                              "root";
}

static int check_config(struct server *s, struct warnings *w, struct errbuf *err)
{
    (void)w;
    if (geteuid() != 0 || s->user == NULL)
        return 0; /* not root: User and Group are ignored; root without User: unixd_root_warning() */
    if (s->group == NULL) {
        if (s->user_gid == (gid_t)-1)
            return errbuf_set(err,
                              "%s: User %s has no passwd entry, so it has no primary group: set Group too",
                              s->conf_file, s->user);
        s->group_id = s->user_gid;
    }
    /* the User's supplementary groups (as initgroups() would set them), with Group first */
    if (s->user_name == NULL) {
        s->user_groups = pool_alloc(s->pool, sizeof(gid_t));
        s->user_groups[0] = s->group_id;
        s->user_ngroups = 1;
        return 0;
    }
    int n = MAX_GROUPS;
    gid_t *list = pool_alloc(s->pool, sizeof(gid_t) * MAX_GROUPS);
    if (getgrouplist(s->user_name, s->group_id, list, &n) < 0)
        return errbuf_set(err, "%s: User %s is in more than %d groups", s->conf_file, s->user, MAX_GROUPS);
    s->user_groups = list;
    s->user_ngroups = n;
    return 0;
}

static const struct directive unixd_directives[] = {
    {"User", set_user, 0, "user name or #uid the children serve as when started as root"},
    {"Group", set_group, 0, "group name or #gid of the children (default: the User's group)"},
    {NULL, NULL, 0, NULL},
};

const struct config_module unixd_module = {
    .name = "unixd_module",
    .directives = unixd_directives,
    .check_config = check_config,
};

int unixd_drop_privileges(const struct server *s, struct errbuf *err)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;

    if (geteuid() != 0 || s->user == NULL)
        return 0;
    uid_t uid = s->user_id;
    gid_t gid = s->group_id;
    if (setgroups((size_t)s->user_ngroups, s->user_groups) < 0)
        return errbuf_set(err, "setgroups() for User %s failed: %s", s->user, strerror(errno));
    if (setgid(gid) < 0)
        return errbuf_set(err, "setgid(%ld) for Group %s failed: %s", (long)gid,
                          s->group ? s->group : s->user, strerror(errno));
    if (setuid(uid) < 0)
        return errbuf_set(err, "setuid(%ld) for User %s failed: %s", (long)uid, s->user, strerror(errno));
    /* trust, but verify: every id changed, and root is gone for good */
    if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0)
        return errbuf_set(err, "getresuid() failed: %s", strerror(errno));
    if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid)
        return errbuf_set(err, "after setuid(%ld)/setgid(%ld) the ids are uid %ld/%ld/%ld gid %ld/%ld/%ld",
                          (long)uid, (long)gid, (long)ruid, (long)euid, (long)suid, (long)rgid, (long)egid,
                          (long)sgid);
    if (setuid(0) == 0)
        return errbuf_set(err, "setuid(0) succeeded after dropping privileges: root was not given up");
    log_error(LOG_DEBUG, "unixd", "serving as uid %ld, gid %ld (User %s)", (long)uid, (long)gid, s->user);
    return 0;
}
