/*
 * server/unixd.c: the User and Group directives as config_load() applies them, and unixd_drop_privileges()
 * run in a forked child, which reports the ids it ends with through a pipe. The drop itself needs root and
 * Debian's nobody/nogroup; those tests are skipped otherwise.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conftest.h"
#include "config.h"
#include "server.h"
#include "unixd.h"

TestSuite(unixd, .init = conftest_setup, .fini = conftest_teardown);

#define LISTEN "Listen 127.0.0.1:8080\n"

/* Loads text after a Listen line; it must be accepted. */
static struct server *load(const char *text)
{
    return conftest_load_ok(LISTEN, text, NULL);
}

/* Asserts that text after a Listen line is refused with a message containing want. */
static void refused(const char *text, const char *want)
{
    conftest_expect_refused(LISTEN, text, want);
}

static void need_root_and_nobody(struct passwd *pw, struct group *gr)
{
    if (geteuid() != 0)
        cr_skip_test("not root");
    struct passwd *p = getpwnam("nobody");
    struct group *g = getgrnam("nogroup");
    if (p == NULL || g == NULL)
        cr_skip_test("no nobody/nogroup here");
    *pw = *p;
    *gr = *g;
}

Test(unixd, names_and_ids_resolved)
{
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL)
        cr_skip_test("no user nobody");
    uid_t uid = pw->pw_uid;
    gid_t pgid = pw->pw_gid;
    struct server *s = load("User nobody\n");
    cr_assert_str_eq(s->user, "nobody");
    cr_assert_str_eq(s->user_name, "nobody");
    cr_assert_eq(s->user_id, uid);
    cr_assert_null(s->group);
    if (geteuid() == 0) /* the group is settled only when it will be used */
        cr_assert_eq(s->group_id, pgid, "without Group, the User's primary group");
    config_free(s);

    s = load("User \"#4242\"\nGroup \"#4343\"\n");
    cr_assert_eq(s->user_id, 4242);
    cr_assert_eq(s->group_id, 4343);
    if (geteuid() == 0 && getpwuid(4242) == NULL) {
        cr_assert_eq(s->user_ngroups, 1, "a #uid without passwd entry has only Group");
        cr_assert_eq(s->user_groups[0], 4343);
    }
    config_free(s);

    /* not set: nothing to do */
    s = load("");
    cr_assert_null(s->user);
    config_free(s);
}

Test(unixd, root_and_bad_names_refused)
{
    refused("\nUser root\n", "test.conf:3: User 'root' is uid 0");
    refused("User \"#0\"\n", "test.conf:2: User '#0' is uid 0");
    refused("User no-such-user-httpd\n", "test.conf:2: User 'no-such-user-httpd': bad user name");
    refused("Group no-such-group-httpd\n", "test.conf:2: Group 'no-such-group-httpd': bad group name");
    refused("Group \"#-1\"\n", "test.conf:2: Group '#-1'");
    refused("User \"#x\"\n", "test.conf:2: User '#x'");
    refused("User a b\n", "test.conf:2: User takes one argument");
    /* an unquoted # starts a comment: the message says to quote it */
    const char *m = conftest_load_fail(LISTEN, "User #65534\n");
    cr_assert(strstr(m, "test.conf:2: User takes one argument") != NULL && strstr(m, "quoted") != NULL, "%s",
              m);
}

Test(unixd, uid_without_passwd_entry_needs_group)
{
    if (geteuid() != 0)
        cr_skip_test("not root: User and Group are ignored");
    if (getpwuid(4242) != NULL)
        cr_skip_test("uid 4242 exists here");
    const char *m = conftest_load_fail(LISTEN, "User \"#4242\"\n");
    cr_assert(strstr(m, "User #4242 has no passwd entry") != NULL && strstr(m, "set Group") != NULL, "%s", m);
}

/* What a child reports after unixd_drop_privileges(). */
struct report {
    int rc;
    char msg[ERRBUF_SIZE];
    uid_t r, e, s;
    gid_t rg, eg, sg;
    int ngroups;
    gid_t groups[16];
    int regained; /* setuid(0) succeeded afterwards */
};

/* Forks; the child optionally becomes `pre_uid` first (not root), then calls unixd_drop_privileges(). */
static struct report drop_in_child(const struct server *s, uid_t pre_uid)
{
    struct report rep;
    int fds[2];
    memset(&rep, 0, sizeof(rep));
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork() failed: %s", strerror(errno));
    if (pid == 0) {
        struct report c;
        struct errbuf err = {{0}};
        memset(&c, 0, sizeof(c));
        close(fds[0]);
        if (pre_uid != 0 && setuid(pre_uid) < 0)
            _exit(2);
        c.rc = unixd_drop_privileges(s, &err);
        snprintf(c.msg, sizeof(c.msg), "%s", err.msg);
        getresuid(&c.r, &c.e, &c.s);
        getresgid(&c.rg, &c.eg, &c.sg);
        c.ngroups = getgroups(16, c.groups);
        c.regained = setuid(0) == 0;
        _exit(write(fds[1], &c, sizeof(c)) == (ssize_t)sizeof(c) ? 0 : 3);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], &rep, sizeof(rep));
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
    cr_assert_eq(n, (ssize_t)sizeof(rep));
    return rep;
}

/* Loads text and runs unixd_drop_privileges() on it in a child that is pre_uid first (0: stays root); asserts
 * that it succeeded and returns what the child reported. */
static struct report dropped(const char *text, uid_t pre_uid)
{
    struct server *s = load(text);
    struct report r = drop_in_child(s, pre_uid);
    config_free(s);
    cr_assert_eq(r.rc, 0, "unixd_drop_privileges: %s", r.msg);
    return r;
}

Test(unixd, child_drops_to_user_and_group)
{
    struct passwd pw;
    struct group gr;
    need_root_and_nobody(&pw, &gr);
    struct report r = dropped("User nobody\nGroup nogroup\n", 0);
    cr_assert(r.r == pw.pw_uid && r.e == pw.pw_uid && r.s == pw.pw_uid, "uids %d %d %d", (int)r.r, (int)r.e,
              (int)r.s);
    cr_assert(r.rg == gr.gr_gid && r.eg == gr.gr_gid && r.sg == gr.gr_gid, "gids %d %d %d", (int)r.rg,
              (int)r.eg, (int)r.sg);
    cr_assert_geq(r.ngroups, 0);
    for (int i = 0; i < r.ngroups; i++)
        cr_assert_neq(r.groups[i], 0, "root's group 0 kept as a supplementary group");
    cr_assert_eq(r.regained, 0, "setuid(0) worked after the drop");
    /* the parent (this process) is untouched */
    cr_assert_eq(geteuid(), 0);
}

Test(unixd, group_defaults_to_users_primary_group)
{
    struct passwd pw;
    struct group gr;
    need_root_and_nobody(&pw, &gr);
    if (pw.pw_uid != 65534)
        cr_skip_test("nobody is not uid 65534 here");
    struct report r = dropped("User \"#65534\"\n", 0);
    cr_assert(r.e == 65534 && r.eg == pw.pw_gid, "uid %d gid %d", (int)r.e, (int)r.eg);
}

Test(unixd, nothing_done_without_user_or_without_root)
{
    struct passwd pw;
    struct group gr;
    need_root_and_nobody(&pw, &gr);

    /* root without User: the child keeps root (config_load warned) */
    struct report r = dropped("", 0);
    cr_assert_eq(r.e, 0);

    /* not root: User is ignored, as Apache */
    r = dropped("User nobody\nGroup nogroup\n", pw.pw_uid);
    cr_assert(r.e == pw.pw_uid && r.rg == 0, "uid %d gid %d: the ids changed", (int)r.e, (int)r.rg);
}
