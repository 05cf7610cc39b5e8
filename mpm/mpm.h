/*
 * The MPM interface: a concurrency model is a const struct of function pointers, registered in mpm_registry.
 * An MPM only decides who waits for which socket and how; HTTP lives in the core (server/http_conn.c) and
 * supervision in server/process.c.
 */
#ifndef HTTPD_MPM_H
#define HTTPD_MPM_H

#include "../server/config.h"
#include "../server/server.h"
#include "../server/util.h"

enum mpm_caps {
    MPM_FORKED = 1u << 0,   /* serves from child processes */
    MPM_THREADED = 1u << 1, /* several worker threads per child */
    MPM_ASYNC = 1u << 2     /* connections not tied to a thread (idle keep-alive costs no worker) */
};

struct mpm {
    const char *name;                   /* "prefork", "worker", "event" */
    unsigned caps;                      /* enum mpm_caps */
    const struct directive *directives; /* its directives; {NULL} ends the table */
    /* After the config is read: fill defaults left at -1, clamp as Apache does with its warnings into w (may
     * be NULL); -1 with err to refuse. Also run on a copy of the settings to size the scoreboard for a
     * restart to this MPM (config_mpm_settings), so it must have no effect beyond s->mpm_conf. */
    int (*check_config)(struct server *s, struct warnings *w, struct errbuf *err);
    /* Serves until stopped or asked to restart; returns an enum process_result (server/process.h). */
    int (*run)(struct server *s);
};

/* The registered MPMs, NULL-terminated. */
extern const struct mpm *const mpm_registry[];

/* The MPM called `name` (case-insensitive), or NULL. */
const struct mpm *mpm_find(const char *name);

/* The MPM used when the config names none. */
const struct mpm *mpm_default(void);

extern const struct mpm mpm_prefork;
extern const struct mpm mpm_worker;
extern const struct mpm mpm_event;

#endif
