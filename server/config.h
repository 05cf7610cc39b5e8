/*
 * Apache-syntax configuration. The file is first read into a list of lines (Include, <IfDefine>, continuation
 * and quoting handled there), the MPM is chosen, and then every line is applied through the directive tables:
 * the core's, those of the modules the caller names (unixd's User and Group) and the chosen MPM's. Directives
 * are data: a row per directive with its setter and storage.
 *
 * The one thing to know: this file knows no module and no MPM by name. The caller (main) hands it the MPM
 * registry and the modules, so that they depend on config and never the reverse; warnings are data written
 * into the caller's struct warnings, never printed here.
 */
#ifndef HTTPD_CONFIG_H
#define HTTPD_CONFIG_H

#include <stddef.h>

#include "server.h"
#include "util.h"

struct directive;

/*
 * Applies one directive. argv holds the arguments after the name. Returns NULL on success or a message that
 * completes "<file>:<line>: <Name> ..." (for example "takes one number").
 */
typedef const char *(*directive_set_fn)(struct server *s, const struct directive *d, int argc, char **argv);

struct directive {
    const char *name;     /* as documented; matched case-insensitively */
    directive_set_fn set; /* config_set_int, config_set_flag, ... or a custom setter */
    size_t offset;        /* where the generic setters store the value: in struct server, or for a row of a
                             table of directives allowed in <VirtualHost>, in struct vhost */
    const char *help;     /* one line for -h and the README */
};

/*
 * Directives are allowed in two contexts, as Apache's: "server config" only (the core's, a module's and the
 * MPM's `directives` tables) or also "virtual host" (the `vhost_directives` tables, whose rows store into
 * struct vhost: the server being configured, config_vhost(s), which is the main server outside
 * <VirtualHost>). A server-config directive inside <VirtualHost> is an error with file:line.
 */

/* The server a virtual-host directive's setter writes into: the <VirtualHost> being read, or the main server.
 */
struct vhost *config_vhost(struct server *s);

/* Generic setters of rows in struct server. */
const char *config_set_int(struct server *s, const struct directive *d, int argc,
                           char **argv); /* one number >= 0 */
/* On or Off (any case), the one argument, into *out: NULL, or the message of a setter's error. */
const char *config_parse_flag(int argc, char **argv, int *out);
const char *config_set_flag(struct server *s, const struct directive *d, int argc,
                            char **argv); /* On | Off */
const char *config_set_string(struct server *s, const struct directive *d, int argc,
                              char **argv); /* one string */
const char *config_set_path(struct server *s, const struct directive *d, int argc,
                            char **argv); /* relative to ServerRoot */

/* Generic setters of rows in struct vhost (config_vhost(s)). */
const char *config_set_vhost_string(struct server *s, const struct directive *d, int argc, char **argv);
const char *config_set_vhost_path(struct server *s, const struct directive *d, int argc, char **argv);

/* A module with directives of its own, applied beside the core's (unixd: User, Group). */
struct config_module {
    const char *name;                         /* for <IfModule> and messages: "unixd_module" */
    const struct directive *directives;       /* server config only; {NULL}-terminated; may be NULL */
    const struct directive *vhost_directives; /* also allowed in <VirtualHost>; offsets into struct vhost;
                                                 {NULL}-terminated; may be NULL */
    /* After every line is applied, before the MPM's check: settles what the directives left; warnings into
     * w (may be NULL); -1 with err refuses the configuration. NULL: nothing to check. */
    int (*check_config)(struct server *s, struct warnings *w, struct errbuf *err);
    /* Those of its directives also allowed inside <Location> (ProxyPass): while one is applied there,
     * s->conf_location is the section's path. NULL: none. */
    const struct directive *location_directives;
    /* A section of its own, "<NAME ARG> ... </NAME>" (mod_proxy's <Proxy balancer://x>), and the directives
     * allowed inside it: while one is applied there, s->conf_section is ARG. NULL: none. */
    const char *section;
    const struct directive *section_directives;
    /* Where Require lines (and <RequireAll> ...) inside its section go, as mod_proxy's <Proxy URL>: the slot
     * of that section's rule (s->conf_section is its argument), or NULL with *err saying why not. NULL: they
     * are not allowed there. */
    struct authz **(*section_authz)(struct server *s, const char **err);
};

/* Command-line input to config_load(). */
struct config_args {
    const struct mpm *const *mpms; /* the MPMs to choose from (the first is the default); */
    /* SetHandler's names: the handler registry's lookup (server/handlers.c), which stands above the
     * configuration; NULL: only "default-handler" and "none" */
    const struct handler *(*find_handler)(const char *name);
    const struct config_module *const *modules; /* NULL-terminated lists */
    const char *conf_file;                      /* -f; NULL for SERVER_CONFIG_FILE under -d or HTTPD_ROOT */
    const char *server_root;                    /* -d */
    const char **pre;                           /* -C directives, applied before the file; NULL-terminated */
    const char **post;                          /* -c directives, applied after the file; NULL-terminated */
    const char **defines;                       /* -D names; NULL-terminated */
};

/*
 * Reads the configuration, applies it, and runs the checks: the core's, each module's, the MPM's (which fill
 * defaults and clamp as Apache does). Warnings go to w (NULL: dropped). Returns a new server (its own pool)
 * or NULL with err holding "file:line: message".
 */
struct server *config_load(const struct config_args *args, struct warnings *w, struct errbuf *err);

/*
 * The MPM settings the configuration of s gives MPM m, which need not be s's own: the lines s was read from,
 * applied as if `MPM m` were chosen (m's directives only, <IfModule> decided for m), then the fields of
 * `force` that are >= 0 set as if written last, then m's check_config with its warnings to w (NULL: dropped).
 * Used to size the scoreboard for every MPM a graceful restart may switch to, and to keep ServerLimit and
 * ThreadLimit across restarts. Returns 0 with *out, or -1 with err.
 */
int config_mpm_settings(const struct server *s, const struct mpm *m, const struct mpm_conf *force,
                        struct mpm_conf *out, struct warnings *w, struct errbuf *err);

/* Sets every field of c to -1 ("not set"), as the configuration starts. */
void config_mpm_conf_unset(struct mpm_conf *c);

/* "file:line" of the last line of s's configuration that names directive `name` (the one in effect), or the
 * configuration file when there is none; allocated in s->pool. For checks that find a fault after the lines
 * are applied. */
const char *config_where(const struct server *s, const char *name);

/* config_where() of the nth (from 0) line naming `name`; -1: the last. */
const char *config_where_nth(const struct server *s, const char *name, int nth);

/* "file:line" of the line being applied, for a setter that keeps where a value was set (so that a later
 * check names the very line, inside or outside <VirtualHost>); allocated in s->pool. */
const char *config_here(struct server *s);

/* Frees a server returned by config_load(). */
void config_free(struct server *s);

/* Resolves `path` against ServerRoot unless it is absolute; allocated in s->pool. */
char *config_server_path(struct server *s, const char *path);

/* The core directive tables, for documentation: server config only, and also allowed in <VirtualHost>. */
extern const struct directive config_core_directives[];
extern const struct directive config_vhost_directives[];

#endif
