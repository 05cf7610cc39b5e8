/*
 * The MPM registry: every concurrency model compiled in. The interface they implement, struct mpm, is
 * defined with struct server (server/server.h), below the configuration that chooses one. An MPM only decides
 * who waits for which socket and how; HTTP lives in the core (server/http_conn.c) and supervision in
 * server/process.c.
 */
#ifndef HTTPD_MPM_H
#define HTTPD_MPM_H

#include "../server/config.h"
#include "../server/server.h"
#include "../server/util.h"

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
