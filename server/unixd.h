/*
 * User and Group, as Apache's mod_unixd: a server started as root keeps root in the parent (it binds the
 * listeners, opens the logs and writes the PidFile) and every child gives root up for good before it serves
 * anything. Names are resolved while the configuration is read, so a child only makes system calls.
 */
#ifndef HTTPD_UNIXD_H
#define HTTPD_UNIXD_H

#include "config.h"
#include "server.h"
#include "util.h"

/*
 * The module the configuration applies beside the core: its directives,
 *   `User name|#uid`: the user the children serve as. The name must exist (passwd); uid 0 is refused, as
 *                     Apache built without BIG_SECURITY_HOLE refuses it;
 *   `Group name|#gid`: the children's group; without it, the User's primary group;
 * and its check, run once the whole configuration is applied: it fixes the group and the supplementary groups
 * of the User, and refuses the configuration when, as root, the children's identity cannot be settled.
 */
extern const struct config_module unixd_module;

/*
 * When children started now would serve as root (root, and no User), the warning to give; else NULL. The
 * server warns when it starts serving so, and only then (-t, -k and -V start no children).
 */
const char *unixd_root_warning(const struct server *s);

/*
 * In a child right after fork() (and in the only process with -X), before it serves: when the process is
 * root and User is set, sets the supplementary groups, then the group, then the user (real, effective and
 * saved ids), and checks the result (getresuid/getresgid, and that root cannot be regained). Not root, or no
 * User: does nothing and returns 0. Returns -1 with err naming the failed call; the child must then exit.
 */
int unixd_drop_privileges(const struct server *s, struct errbuf *err);

#endif
