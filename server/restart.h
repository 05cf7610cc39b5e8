/*
 * Starting and restarting: what turns a configuration into a serving server, and a new configuration into
 * the next generation. main() reads the command line and the first configuration, then hands over here:
 *
 *   restart_prepare()  sizes the scoreboard for every MPM a graceful restart could switch to and maps it,
 *                      then opens the logs and the listeners;
 *   restart_serve()    runs the MPM; when it returns for a restart (HUP, USR1), reads the configuration
 *                      again and switches to it only if every part can be put in place (configuration,
 *                      limits, listeners, logs, PidFile), then runs the new configuration's MPM, maybe
 *                      another one, which adopts the old children while they finish. If anything fails,
 *                      the old configuration goes on serving and the error log says why.
 *
 * The one thing to know: ServerLimit and ThreadLimit keep their start-up values across restarts (the
 * scoreboard was sized with them), as Apache's; a restart that changes one is told so in the error log, and
 * the MPM's clamps of the directives that depend on them are run again with the start-up values.
 */
#ifndef HTTPD_RESTART_H
#define HTTPD_RESTART_H

#include "config.h"
#include "server.h"
#include "util.h"

#define RESTART_MAX_MPMS 16

/* What restarts remember from the start. */
struct restart {
    const struct config_args *args; /* how to read the configuration again (-f, -d, -C, -c, -D) */
    /* ServerLimit and ThreadLimit of each MPM (s->mpms order) as the configuration gave them at start-up */
    struct {
        int known;
        int server_limit, thread_limit;
    } limits[RESTART_MAX_MPMS];
};

/*
 * Sizes the scoreboard from s and from the settings the same configuration gives every other MPM
 * (config_mpm_settings), the largest ServerLimit by the largest ThreadLimit, and maps it (process_init()).
 * An MPM the configuration does not load with is left out (a restart to it is fitted into the scoreboard);
 * if all of them would need more than RESTART_MAX_SLOTS slots, the scoreboard fits s's MPM alone. With -X,
 * only s's. Then opens s's logs and listeners. Returns 0, or -1 with err.
 */
int restart_prepare(struct restart *rs, struct server *s, struct errbuf *err);

/* After the last generation: closes the listeners and logs of s and frees it. */
void restart_release(struct server *s);

/*
 * Serves with *sp until it stops: logs that the configuration is in place and runs the MPM, and on HUP or
 * USR1 reads the configuration again and puts it in place all or nothing (its warnings go to the error log).
 * Returns the MPM's last enum process_result (PROCESS_STOPPED or PROCESS_FAILED) with *sp the server in place
 * at the end, for main() to release.
 */
int restart_serve(struct restart *rs, struct server **sp);

/* Writes this process's pid to `path`. Returns 0, or -1 after logging why. */
int restart_write_pid_file(const char *path);

/*
 * Reports the warnings of a configuration, and `extra` (NULL: none) after them: on stderr as "httpd: WARNING:
 * ..." when the server starts, as Apache prints them, or (to_log) in the error log at LOG_WARN when a restart
 * reads them (the server runs detached by then).
 */
void restart_warnings(const struct warnings *w, const char *extra, int to_log);

#endif
