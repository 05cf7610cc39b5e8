/*
 * Apache-syntax configuration. The file is first read into a list of lines (Include, <IfDefine>, continuation
 * and quoting handled there), the MPM is chosen, and then every line is applied through the directive tables:
 * the core's and the chosen MPM's. Directives are data: a row per directive with its setter and storage.
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
    size_t offset;        /* where the generic setters store the value in struct server */
    const char *help;     /* one line for -h and the README */
};

/* Generic setters. */
const char *config_set_int(struct server *s, const struct directive *d, int argc,
                           char **argv); /* one number >= 0 */
const char *config_set_flag(struct server *s, const struct directive *d, int argc,
                            char **argv); /* On | Off */
const char *config_set_string(struct server *s, const struct directive *d, int argc,
                              char **argv); /* one string */
const char *config_set_path(struct server *s, const struct directive *d, int argc,
                            char **argv); /* relative to ServerRoot */

/* Command-line input to config_load(). */
struct config_args {
    const char *conf_file;   /* -f; NULL for SERVER_CONFIG_FILE under -d or HTTPD_ROOT */
    const char *server_root; /* -d */
    const char **pre;        /* -C directives, applied before the file; NULL-terminated */
    const char **post;       /* -c directives, applied after the file; NULL-terminated */
    const char **defines;    /* -D names; NULL-terminated */
};

/*
 * Reads the configuration, applies it and runs the MPM's check_config. Returns a new server (its own pool) or
 * NULL with err holding "file:line: message".
 */
struct server *config_load(const struct config_args *args, struct errbuf *err);

/* Frees a server returned by config_load(). */
void config_free(struct server *s);

/* Resolves `path` against ServerRoot unless it is absolute; allocated in s->pool. */
char *config_server_path(struct server *s, const char *path);

/* A start-up warning on stderr, "httpd: WARNING: ..." (check_config clamps report through it, as Apache's).
 */
void config_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The core directive table, for documentation. */
extern const struct directive config_core_directives[];

#endif
