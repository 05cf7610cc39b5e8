/*
 * Configuration, in Apache's syntax. Reading and applying are two passes:
 *
 *  1. read: the file becomes a list of lines (file, line number, arguments). Quoting, `\` continuation and
 *     comments are handled here, and so are the directives Apache runs while reading: ServerRoot, Include and
 *     <IfDefine>. -C lines come first and -c lines last.
 *  2. apply: the MPM is chosen from the list (the last `MPM` line), then every line goes through the core's
 *     directive tables, a module's or the MPM's; <IfModule>, <Location> and <VirtualHost> sections are
 * tracked on a stack. Inside <VirtualHost> only the virtual-host tables apply, and their setters write into
 * that vhost (config_vhost()); server/vhost.c merges each vhost with the main server once every line is read.
 *
 * The lines are kept with the server, so that they can be applied again for another MPM (config_mpm_settings:
 * sizing the scoreboard for every MPM a restart may switch to) without reading the files a second time.
 *
 * The one thing to know: setters and checks never print. Setters return NULL or a message that apply()
 * prefixes with "file:line: Name", so every error names its place; checks write warnings into the caller's
 * struct warnings.
 */

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz.h"
#include "config.h"
#include "handler.h"
#include "static.h"
#include "listen.h"
#include "log.h"
#include "mime.h"
#include "path.h"
#include "pool.h"
#include "vhost.h"

#define MAX_ARGS          64
#define MAX_INCLUDE_DEPTH 16
#define MAX_SECTION_DEPTH 16

struct conf_line {
    const char *file;
    int line;
    int argc;
    char **argv;
    struct conf_line *next;
};

struct reader {
    struct server *s;
    const char **defines;
    struct conf_line *head, **tail;
    int ifdefine_skip;  /* depth of false <IfDefine> sections we are inside */
    int ifdefine_depth; /* open <IfDefine> sections */
    struct errbuf *err;
};

/* ---- generic setters ---- */

#define FIELD(s, d, type)  ((type *)((char *)(s) + (d)->offset))
#define VFIELD(s, d, type) ((type *)((char *)config_vhost(s) + (d)->offset))

struct vhost *config_vhost(struct server *s)
{
    return s->conf_vhost != NULL ? s->conf_vhost : &s->main;
}

const char *config_set_int(struct server *s, const struct directive *d, int argc, char **argv)
{
    long long v;
    if (argc != 1 || (v = parse_uint(argv[0])) < 0 || v > INT_MAX)
        return "takes one number";
    *FIELD(s, d, int) = (int)v;
    return NULL;
}

const char *config_parse_flag(int argc, char **argv, int *out)
{
    if (argc != 1)
        return "takes one argument, On or Off";
    if (strcasecmp(argv[0], "on") == 0)
        *out = 1;
    else if (strcasecmp(argv[0], "off") == 0)
        *out = 0;
    else
        return "must be On or Off";
    return NULL;
}

const char *config_set_flag(struct server *s, const struct directive *d, int argc, char **argv)
{
    return config_parse_flag(argc, argv, FIELD(s, d, int));
}

const char *config_set_string(struct server *s, const struct directive *d, int argc, char **argv)
{
    if (argc != 1)
        return "takes one argument";
    *FIELD(s, d, char *) = pool_strdup(s->pool, argv[0]);
    return NULL;
}

char *config_server_path(struct server *s, const char *path)
{
    if (path[0] == '/')
        return pool_strdup(s->pool, path);
    return pool_printf(s->pool, "%s/%s", s->server_root, path);
}

/* A path argument relative to ServerRoot, without trailing slashes; NULL with *msg on a bad argument. */
static char *path_arg(struct server *s, int argc, char **argv, const char **msg)
{
    if (argc != 1) {
        *msg = "takes one argument, a path";
        return NULL;
    }
    char *p = config_server_path(s, argv[0]);
    /* "/srv/www/" and "/srv/www" are the same directory */
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    return p;
}

const char *config_set_path(struct server *s, const struct directive *d, int argc, char **argv)
{
    const char *msg = NULL;
    char *p = path_arg(s, argc, argv, &msg);
    if (p != NULL)
        *FIELD(s, d, char *) = p;
    return msg;
}

const char *config_set_vhost_path(struct server *s, const struct directive *d, int argc, char **argv)
{
    const char *msg = NULL;
    char *p = path_arg(s, argc, argv, &msg);
    if (p != NULL)
        *VFIELD(s, d, char *) = p;
    return msg;
}

const char *config_set_vhost_string(struct server *s, const struct directive *d, int argc, char **argv)
{
    if (argc != 1)
        return "takes one argument";
    *VFIELD(s, d, char *) = pool_strdup(s->pool, argv[0]);
    return NULL;
}

/* ---- custom setters ---- */

static const char *set_listen(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct errbuf err;
    if (argc < 1 || argc > 2)
        return "takes one or two arguments, [address:]port [protocol]";
    struct listener *l = pool_calloc(s->pool, sizeof(*l));
    if (listen_parse(argv[0], l, &err) < 0)
        return pool_printf(s->pool, "%s", err.msg);
    l->spec = pool_strdup(s->pool, argv[0]);
    l->fd = -1;
    l->protocol = pool_strdup(s->pool, listen_protocol(l, argc == 2 ? argv[1] : NULL));
    struct listener **tail = &s->listeners;
    for (; *tail != NULL; tail = &(*tail)->next)
        if ((*tail)->addrlen == l->addrlen && memcmp(&(*tail)->addr, &l->addr, l->addrlen) == 0)
            return pool_printf(s->pool, "cannot define multiple listeners on the same address: %s", argv[0]);
    *tail = l;
    return NULL;
}

/* A lower-cased copy of s in p, or NULL. */
static char *lower_dup(struct pool *p, const char *s)
{
    char *d = pool_strdup(p, s);
    for (char *c = d; c != NULL && *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    return d;
}

/* Sets the filter of a protocol's listeners, both names lower-cased (Apache's core set_accf_map()); a later
 * line for the same protocol replaces the earlier one. */
static int accept_filter_set(struct server *s, const char *protocol, const char *filter)
{
    char *proto = lower_dup(s->pool, protocol), *name = lower_dup(s->pool, filter);
    if (proto == NULL || name == NULL)
        return -1;
    struct accept_filter *f = s->accept_filters;
    while (f != NULL && strcmp(f->protocol, proto) != 0)
        f = f->next;
    if (f == NULL) {
        f = pool_calloc(s->pool, sizeof(*f));
        if (f == NULL)
            return -1;
        f->protocol = proto;
        f->next = s->accept_filters;
        s->accept_filters = f;
    }
    f->filter = name;
    return 0;
}

/* AcceptFilter protocol filter */
static const char *set_accept_filter(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    if (argc != 2)
        return "takes two arguments, a protocol and an accept filter (data, or none)";
    return accept_filter_set(s, argv[0], argv[1]) < 0 ? "out of memory" : NULL;
}

static const char *set_directory_index(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    if (argc < 1)
        return "takes one or more file names";
    if (argc == 1 && strcasecmp(argv[0], "disabled") == 0)
        argc = 0;
    char **list = pool_calloc(s->pool, sizeof(char *) * (size_t)(argc + 1));
    for (int i = 0; i < argc; i++)
        list[i] = pool_strdup(s->pool, argv[i]);
    config_vhost(s)->directory_index = list;
    return NULL;
}

/* KeepAlive, MaxKeepAliveRequests and LimitRequestBody: the main server's value is struct server's (the
 * connection's own), a <VirtualHost>'s its struct vhost's, for the requests it serves. */
static int in_vhost(struct server *s)
{
    return config_vhost(s) != &s->main;
}

static const char *set_limit_body(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    long long v;
    /* Apache's range: 0 (unlimited) to 2147483647 */
    if (argc != 1 || (v = parse_uint(argv[0])) < 0 || v > 2147483647LL)
        return "takes one number from 0 (unlimited) to 2147483647";
    *(in_vhost(s) ? &config_vhost(s)->limit_request_body : &s->limit_request_body) = v;
    return NULL;
}

static const char *set_encoded_slashes(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    static const char *const values[] = {
        [PATH_SLASHES_OFF] = "Off", [PATH_SLASHES_ON] = "On", [PATH_SLASHES_NODECODE] = "NoDecode"};
    for (int i = 0; argc == 1 && i < 3; i++)
        if (strcasecmp(argv[0], values[i]) == 0) {
            config_vhost(s)->allow_encoded_slashes = i;
            return NULL;
        }
    return "must be On, Off or NoDecode";
}

static const char *set_keepalive(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    return config_parse_flag(argc, argv, in_vhost(s) ? &config_vhost(s)->keepalive : &s->keepalive);
}

static const char *set_max_keepalive(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    long long v;
    if (argc != 1 || (v = parse_uint(argv[0])) < 0 || v > INT_MAX)
        return "takes one number";
    *(in_vhost(s) ? &config_vhost(s)->max_keepalive_requests : &s->max_keepalive_requests) = (int)v;
    return NULL;
}

/* One "type=timeout[-maxtimeout][,MinRate=rate]" argument of RequestReadTimeout into *rt. */
static const char *parse_read_timeout(struct pool *p, const char *arg, struct read_timeout *rt)
{
    static const char usage[] = "takes header=, body= or handshake= followed by timeout[-maxtimeout]"
                                "[,MinRate=rate], for example header=20-40,MinRate=500";
    const char *eq = strchr(arg, '=');
    char *value = pool_strdup(p, eq + 1);
    char *rate = strchr(value, ',');
    long long t, max = 0, r = 0;
    if (rate != NULL) {
        *rate++ = '\0';
        if (strncasecmp(rate, "MinRate=", 8) != 0)
            return pool_printf(p, "'%s': unknown option after ',' (only MinRate=rate): %s", arg, usage);
        if ((r = parse_uint(rate + 8)) <= 0 || r > 1000000000)
            return pool_printf(p, "'%s': MinRate must be a number of bytes per second above 0", arg);
    }
    char *dash = strchr(value, '-');
    if (dash != NULL) {
        *dash++ = '\0';
        if ((max = parse_uint(dash)) < 0 || max > 86400)
            return pool_printf(p, "'%s': the maximum timeout must be a number of seconds", arg);
    }
    if ((t = parse_uint(value)) < 0 || t > 86400)
        return pool_printf(p, "'%s': the timeout must be a number of seconds: %s", arg, usage);
    if (dash != NULL && r == 0)
        return pool_printf(p, "'%s': a timeout range needs MinRate (the timeout only grows as data arrives)",
                           arg);
    if (dash != NULL && max <= t)
        return pool_printf(p, "'%s': the maximum timeout must be larger than the initial timeout", arg);
    rt->timeout = (int)t;
    rt->max_timeout = (int)max;
    rt->min_rate = (int)r;
    return NULL;
}

static const char *set_request_read_timeout(struct server *s, const struct directive *d, int argc,
                                            char **argv)
{
    (void)d;
    if (argc < 1)
        return "takes one or more of header=, body= and handshake= settings";
    for (int i = 0; i < argc; i++) {
        struct read_timeout *rt;
        if (strncasecmp(argv[i], "header=", 7) == 0)
            rt = &s->header_timeout;
        else if (strncasecmp(argv[i], "body=", 5) == 0)
            rt = &s->body_timeout;
        else if (strncasecmp(argv[i], "handshake=", 10) == 0)
            rt = &s->handshake_timeout;
        else
            return pool_printf(s->pool, "'%s': unknown stage; takes header=, body= or handshake=", argv[i]);
        const char *msg = parse_read_timeout(s->pool, argv[i], rt);
        if (msg != NULL)
            return msg;
        /* a handshake is a few kilobytes: its stage is bounded by a time alone */
        if (rt == &s->handshake_timeout && (rt->min_rate > 0 || rt->max_timeout > 0))
            return pool_printf(s->pool,
                               "'%s': handshake= takes a timeout in seconds alone (0: Timeout bounds "
                               "the handshake)",
                               argv[i]);
    }
    return NULL;
}

static const char *set_log_level(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    int lvl;
    if (argc != 1 || (lvl = log_level_parse(argv[0])) < 0)
        return "takes one level: emerg, alert, crit, error, warn, notice, info or debug";
    config_vhost(s)->log_level = lvl;
    return NULL;
}

static const char *set_log_format(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct errbuf err;
    if (argc != 2)
        return "takes two arguments, a format string and a nickname";
    if (log_format_define(s->pool, config_vhost(s), argv[1], argv[0], &err) < 0)
        return pool_strdup(s->pool, err.msg);
    return NULL;
}

static const char *set_custom_log(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct errbuf err;
    if (argc != 2)
        return "takes two arguments, a file and a format string or nickname";
    struct custom_log *l = pool_calloc(s->pool, sizeof(*l));
    l->fd = -1;
    l->path = config_server_path(s, argv[0]);
    struct vhost *v = config_vhost(s);
    /* a nickname of the vhost's own LogFormat lines, else of the main server's above */
    if (strchr(argv[1], '%') == NULL && (l->format = log_format_find(v, argv[1])) == NULL)
        l->format = log_format_find(&s->main, argv[1]);
    if (l->format == NULL) {
        if (strchr(argv[1], '%') == NULL)
            return pool_printf(s->pool, "format nickname '%s' is not defined by a LogFormat above", argv[1]);
        l->format = log_format_compile(s->pool, argv[1], &err);
        if (l->format == NULL)
            return pool_strdup(s->pool, err.msg);
    }
    struct custom_log **tail = &v->custom_logs;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = l;
    return NULL;
}

static const char *set_server_alias(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct vhost *v = config_vhost(s);
    if (v == &s->main)
        return "is only allowed inside <VirtualHost>";
    if (argc < 1)
        return "takes one or more host names";
    /* several lines add up; names with '*' or '?' are matched as patterns, after the plain ones */
    for (int i = 0; i < argc; i++) {
        char ***list = strpbrk(argv[i], "*?") != NULL ? &v->wild_names : &v->names;
        int n = 0;
        while (*list != NULL && (*list)[n] != NULL)
            n++;
        char **grown = pool_calloc(s->pool, sizeof(char *) * (size_t)(n + 2));
        if (grown == NULL)
            return "out of memory";
        if (n > 0)
            memcpy(grown, *list, sizeof(char *) * (size_t)n);
        grown[n] = pool_strdup(s->pool, argv[i]);
        *list = grown;
    }
    return NULL;
}

static const char *set_mpm(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)s;
    (void)d;
    (void)argv;
    /* chosen before the apply pass (choose_mpm); here only the shape is checked */
    return argc == 1 ? NULL : "takes one argument: prefork, worker or event";
}

#define CORE(name, fn, field, help)                                                                          \
    {                                                                                                        \
        name, fn, offsetof(struct server, field), help                                                       \
    }
#define CUSTOM(name, fn, help)                                                                               \
    {                                                                                                        \
        name, fn, 0, help                                                                                    \
    }
/* A row of config_vhost_directives: stored in struct vhost. */
#define VHOST(name, fn, field, help)                                                                         \
    {                                                                                                        \
        name, fn, offsetof(struct vhost, field), help                                                        \
    }

const struct directive config_core_directives[] = {
    CORE("FileCacheMaxFile", config_set_int, file_cache_max_file,
         "largest static file in bytes whose content each process keeps in memory (16384; 0 = no cache)"),
    CORE("FileCacheSize", config_set_int, file_cache_size,
         "bytes of static file content each process keeps in memory at most (1048576)"),
    CORE("TypesConfig", config_set_path, types_config, "mime.types file"),
    CORE("PidFile", config_set_path, pid_file, "file the parent writes its pid to"),
    CUSTOM("Listen", set_listen, "[address:]port to accept connections on (several allowed)"),
    CORE("ListenBacklog", config_set_int, listen_backlog, "backlog of pending connections per listener"),
    CUSTOM(
        "AcceptFilter", set_accept_filter,
        "protocol filter: 'data' defers accepting a connection of the protocol's listeners until its first "
        "bytes arrive (TCP_DEFER_ACCEPT), 'none' does not (http data, https data)"),
    CORE("Timeout", config_set_int, timeout, "seconds to wait for a read or write to make progress"),
    CORE("KeepAliveTimeout", config_set_int, keepalive_timeout, "seconds an idle connection is kept"),
    CORE("LimitRequestLine", config_set_int, limit_request_line, "longest request line (414 above)"),
    CORE("LimitRequestFieldSize", config_set_int, limit_request_field_size,
         "longest header line (431 above)"),
    CORE("LimitRequestFields", config_set_int, limit_request_fields,
         "most header lines (431 above; 0 = any)"),
    CUSTOM("RequestReadTimeout", set_request_read_timeout,
           "time (and minimum rate) to receive the request header and body, 408 after "
           "(header=20-40,MinRate=500)"),
    CORE("BufferedLogs", config_set_flag, buffered_logs,
         "On or Off: access log lines written in blocks, each within 1 s (Off)"),
    CUSTOM("MPM", set_mpm, "concurrency model: prefork, worker or event"),
    CORE("GracefulShutdownTimeout", config_set_int, graceful_shutdown_timeout,
         "seconds a graceful stop (WINCH) waits for connections to finish, then stops them (0 = no limit)"),
    {NULL, NULL, 0, NULL},
};

const struct directive config_vhost_directives[] = {
    VHOST("ServerName", config_set_vhost_string, server_name, "host name the server uses for itself"),
    CUSTOM("ServerAlias", set_server_alias,
           "other names of a virtual host, '*' and '?' as wildcards (<VirtualHost> only)"),
    VHOST("DocumentRoot", config_set_vhost_path, document_root, "directory the URL space maps to"),
    CUSTOM("DirectoryIndex", set_directory_index, "files tried for a directory URL, in order"),
    VHOST("ErrorLog", config_set_vhost_path, error_log, "error log file"),
    CUSTOM("LogLevel", set_log_level, "least severe level written to the error log"),
    CUSTOM("LogFormat", set_log_format, "defines an access log format nickname"),
    CUSTOM("CustomLog", set_custom_log, "access log file and format"),
    CUSTOM("KeepAlive", set_keepalive, "On or Off: persistent connections"),
    CUSTOM("MaxKeepAliveRequests", set_max_keepalive, "requests per connection (0 = unlimited)"),
    CUSTOM("LimitRequestBody", set_limit_body, "largest request body in bytes (413 above; 0 = unlimited)"),
    CUSTOM("AllowEncodedSlashes", set_encoded_slashes,
           "%2F in a path: Off (404), On (a '/') or NoDecode (kept)"),
    {NULL, NULL, 0, NULL},
};

static const struct directive *find_directive(const struct directive *table, const char *name)
{
    for (; table != NULL && table->name != NULL; table++)
        if (strcasecmp(table->name, name) == 0)
            return table;
    return NULL;
}

/* ---- pass 1: reading ---- */

/* Splits a logical line into arguments: whitespace-separated, "double" or 'single' quoted, \ escapes in
 * quotes. */
static int tokenize(struct pool *p, char *line, char **argv, struct errbuf *err)
{
    int argc = 0;
    char *s = line;
    while (*s) {
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0' || *s == '#')
            break;
        if (argc == MAX_ARGS)
            return errbuf_set(err, "too many arguments");
        char *out = s, *start = s;
        if (*s == '"' || *s == '\'') {
            char q = *s++;
            start = out = s;
            while (*s && *s != q) {
                if (*s == '\\' && (s[1] == q || s[1] == '\\'))
                    s++;
                *out++ = *s++;
            }
            if (*s != q)
                return errbuf_set(err, "unterminated quote");
            s++;
        } else {
            while (*s && !isspace((unsigned char)*s))
                out++, s++;
        }
        char saved = *s;
        *out = '\0';
        argv[argc++] = pool_strdup(p, start);
        if (saved == '\0')
            break;
        if (out == s)
            s++;
    }
    return argc;
}

static int read_file(struct reader *rd, const char *path, int depth);

static int define_set(const struct reader *rd, const char *name)
{
    for (const char **d = rd->defines; d != NULL && *d != NULL; d++)
        if (strcmp(*d, name) == 0)
            return 1;
    return 0;
}

/* Include/IncludeOptional: a file, a directory (every file in it) or a glob, relative to ServerRoot. */
static int include(struct reader *rd, const char *file, int line, const char *pattern, int optional,
                   int depth)
{
    struct server *s = rd->s;
    char *full = config_server_path(s, pattern);
    struct stat st;
    glob_t g;
    int rc = 0;

    if (stat(full, &st) == 0 && S_ISDIR(st.st_mode))
        full = pool_printf(s->pool, "%s/*", full);
    int grc = glob(full, 0, NULL, &g);
    if (grc == GLOB_NOMATCH) {
        if (optional || strpbrk(pattern, "*?[") != NULL)
            return 0;
        return errbuf_set(rd->err, "%s:%d: Include file '%s' not found", file, line, full);
    }
    if (grc != 0)
        return errbuf_set(rd->err, "%s:%d: Include '%s': glob() failed", file, line, full);
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++) {
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
            continue;
        rc = read_file(rd, g.gl_pathv[i], depth + 1);
    }
    globfree(&g);
    return rc;
}

/* Handles one tokenized line during reading. */
static int read_line(struct reader *rd, const char *file, int line, int argc, char **argv, int depth)
{
    struct server *s = rd->s;
    const char *name = argv[0];

    /* <IfDefine> nests and is decided now, as Apache does */
    if (strcasecmp(name, "<IfDefine") == 0) {
        if (argc != 2 || argv[1][strlen(argv[1]) - 1] != '>')
            return errbuf_set(rd->err, "%s:%d: <IfDefine> takes one argument, [!]NAME", file, line);
        argv[1][strlen(argv[1]) - 1] = '\0';
        rd->ifdefine_depth++;
        if (rd->ifdefine_skip > 0) {
            rd->ifdefine_skip++;
            return 0;
        }
        const char *n = argv[1];
        int neg = *n == '!';
        if (neg)
            n++;
        if (define_set(rd, n) == neg)
            rd->ifdefine_skip = 1;
        return 0;
    }
    if (strcasecmp(name, "</IfDefine>") == 0) {
        if (rd->ifdefine_depth == 0)
            return errbuf_set(rd->err, "%s:%d: </IfDefine> without matching <IfDefine>", file, line);
        rd->ifdefine_depth--;
        if (rd->ifdefine_skip > 0)
            rd->ifdefine_skip--;
        return 0;
    }
    if (rd->ifdefine_skip > 0)
        return 0;
    if (strcasecmp(name, "ServerRoot") == 0) {
        if (argc != 2)
            return errbuf_set(rd->err, "%s:%d: ServerRoot takes one argument, a directory", file, line);
        struct stat st;
        if (stat(argv[1], &st) < 0 || !S_ISDIR(st.st_mode) || argv[1][0] != '/')
            return errbuf_set(rd->err, "%s:%d: ServerRoot must be an absolute path to a directory: '%s'",
                              file, line, argv[1]);
        s->server_root = pool_strdup(s->pool, argv[1]);
        return 0;
    }
    if (strcasecmp(name, "Include") == 0 || strcasecmp(name, "IncludeOptional") == 0) {
        if (argc != 2)
            return errbuf_set(rd->err, "%s:%d: %s takes one argument, a file, directory or pattern", file,
                              line, name);
        if (depth >= MAX_INCLUDE_DEPTH)
            return errbuf_set(rd->err, "%s:%d: Include nested too deeply", file, line);
        return include(rd, file, line, argv[1], strcasecmp(name, "IncludeOptional") == 0, depth);
    }
    struct conf_line *l = pool_calloc(s->pool, sizeof(*l));
    l->file = file;
    l->line = line;
    l->argc = argc;
    l->argv = pool_alloc(s->pool, sizeof(char *) * (size_t)argc);
    memcpy(l->argv, argv, sizeof(char *) * (size_t)argc);
    *rd->tail = l;
    rd->tail = &l->next;
    return 0;
}

/* Reads a text buffer: joins `\` continuations, strips comments, tokenizes, and passes each line on. */
static int read_text(struct reader *rd, const char *file, char *text, int depth)
{
    char *argv[MAX_ARGS];
    int lineno = 0;
    char *p = text;

    while (*p) {
        int first = lineno + 1;
        char *line = p, *out = p;
        /* one logical line, continuations joined in place */
        for (;;) {
            char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            lineno++;
            if (n > 0 && p[n - 1] == '\r')
                n--;
            memmove(out, p, n);
            out += n;
            p = nl ? nl + 1 : p + strlen(p);
            if (out > line && out[-1] == '\\' && *p) {
                out--;
                continue;
            }
            break;
        }
        *out = '\0';
        char *t = line;
        while (isspace((unsigned char)*t))
            t++;
        if (*t == '\0' || *t == '#')
            continue;
        int argc = tokenize(rd->s->pool, t, argv, rd->err);
        if (argc < 0) {
            struct errbuf e = *rd->err;
            return errbuf_set(rd->err, "%s:%d: %s", file, first, e.msg);
        }
        if (argc == 0)
            continue;
        /* "<Location /x>" and "<Location" "/x>" both arrive as a name starting with '<' */
        if (read_line(rd, pool_strdup(rd->s->pool, file), first, argc, argv, depth) < 0)
            return -1;
    }
    return 0;
}

static int read_file(struct reader *rd, const char *path, int depth)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return errbuf_set(rd->err, "could not open configuration file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * 1024 * 1024) {
        fclose(f);
        return errbuf_set(rd->err, "%s: not a regular configuration file", path);
    }
    char *text = pool_alloc(rd->s->pool, (size_t)st.st_size + 1);
    size_t n = fread(text, 1, (size_t)st.st_size, f);
    fclose(f);
    text[n] = '\0';
    int saved = rd->ifdefine_depth;
    if (read_text(rd, path, text, depth) < 0)
        return -1;
    if (rd->ifdefine_depth != saved)
        return errbuf_set(rd->err, "%s: <IfDefine> without matching </IfDefine>", path);
    return 0;
}

static int read_directives(struct reader *rd, const char **list, const char *what)
{
    for (int i = 0; list != NULL && list[i] != NULL; i++) {
        char *copy = pool_strdup(rd->s->pool, list[i]);
        if (read_text(rd, what, copy, 0) < 0)
            return -1;
    }
    return 0;
}

/* ---- pass 2: applying ---- */

enum section_kind { SEC_IFMODULE, SEC_LOCATION, SEC_VHOST, SEC_MODULE };

struct section {
    enum section_kind kind;
    int active;
    struct location *location;
    const struct config_module *module; /* SEC_MODULE: whose section */
    char *arg;
    struct authz **rule; /* SEC_MODULE: the slot its Require lines went to; NULL before the first */
};

/* The module whose own section "<NAME" (or "</NAME>" when closing) is, or NULL. */
static const struct config_module *section_module(const struct config_module *const *modules,
                                                  const char *name, int closing)
{
    for (int i = 0; modules != NULL && modules[i] != NULL; i++) {
        const char *sec = modules[i]->section;
        size_t n = sec != NULL ? strlen(sec) : 0;
        if (n == 0 || name[0] != '<' || (closing && name[1] != '/'))
            continue;
        const char *p = name + 1 + (closing ? 1 : 0);
        if (strncasecmp(p, sec, n) == 0 && strcmp(p + n, closing ? ">" : "") == 0)
            return modules[i];
    }
    return NULL;
}

/* <IfModule> names: the MPMs by Apache's names, and the features built into this server. */
static int module_present(const struct server *s, const char *name)
{
    static const char *const builtin[] = {"core",
                                          "http_core",
                                          "log_config_module",
                                          "mod_log_config.c",
                                          "mime_module",
                                          "mod_mime.c",
                                          "dir_module",
                                          "mod_dir.c",
                                          "so_module",
                                          "unixd_module",
                                          "mod_unixd.c",
                                          "proxy_module",
                                          "mod_proxy.c",
                                          "proxy_http_module",
                                          "mod_proxy_http.c",
                                          "ssl_module",
                                          "mod_ssl.c",
                                          NULL};
    char buf[64];
    for (int i = 0; builtin[i] != NULL; i++)
        if (strcasecmp(name, builtin[i]) == 0)
            return 1;
    snprintf(buf, sizeof(buf), "mpm_%s_module", s->mpm->name);
    if (strcasecmp(name, buf) == 0)
        return 1;
    snprintf(buf, sizeof(buf), "%s.c", s->mpm->name);
    return strcasecmp(name, buf) == 0;
}

/* The argument of "<Section arg>", without the '>' (a copy: the lines may be applied again). */
static int section_arg(struct pool *p, const struct conf_line *l, char **out)
{
    /* <Location "/a b/"> and <Location /x/ > split into the argument and a lone '>': Apache's forms too */
    if (l->argc == 3 && strcmp(l->argv[2], ">") == 0 && l->argv[1][0] != '\0') {
        *out = pool_strdup(p, l->argv[1]);
        return *out != NULL ? 0 : -1;
    }
    if (l->argc != 2)
        return -1;
    size_t n = strlen(l->argv[1]);
    if (n < 2 || l->argv[1][n - 1] != '>')
        return -1;
    *out = pool_strndup(p, l->argv[1], n - 1);
    return *out != NULL ? 0 : -1;
}

static const char *other_mpm_of(const struct server *s, const char *name)
{
    for (int i = 0; s->mpms[i] != NULL; i++)
        if (s->mpms[i] != s->mpm && find_directive(s->mpms[i]->directives, name) != NULL)
            return s->mpms[i]->name;
    return NULL;
}

/* Whether d, a row of a module's <Location> table, is also one of that module's <VirtualHost> rows. */
static int module_in_vhost(const struct config_module *const *modules, const struct directive *d)
{
    for (int i = 0; modules != NULL && modules[i] != NULL; i++)
        if (find_directive(modules[i]->vhost_directives, d->name) != NULL)
            return 1;
    return 0;
}

/* The row for `name` in the core's tables, a module's or the MPM's; NULL if none. *in_vhost says whether it
 * is allowed in <VirtualHost>. */
static const struct directive *lookup(const struct server *s, const struct config_module *const *modules,
                                      const char *name, int *in_vhost)
{
    const struct directive *d;
    *in_vhost = 1;
    if ((d = find_directive(config_vhost_directives, name)) != NULL)
        return d;
    for (int i = 0; modules != NULL && modules[i] != NULL; i++)
        if ((d = find_directive(modules[i]->vhost_directives, name)) != NULL)
            return d;
    *in_vhost = 0;
    if ((d = find_directive(config_core_directives, name)) != NULL)
        return d;
    for (int i = 0; modules != NULL && modules[i] != NULL; i++)
        if ((d = find_directive(modules[i]->directives, name)) != NULL)
            return d;
    return find_directive(s->mpm->directives, name);
}

/* Opens <VirtualHost addr[:port] ...>: a new vhost, appended to s->vhosts, which the lines up to
 * </VirtualHost> configure. */
static int open_vhost(struct server *s, const struct conf_line *l, struct errbuf *err)
{
    struct errbuf e;
    struct vhost *v = pool_calloc(s->pool, sizeof(*v));
    if (v == NULL)
        return errbuf_set(err, "out of memory");
    vhost_init(v);
    v->file = l->file;
    v->line = l->line;
    /* as Apache: an address without a port takes the port of the main server's ServerName so far */
    int main_port = s->main.server_name != NULL ? vhost_name_port(s->main.server_name) : 0;
    struct vhost_addr **tail = &v->addrs;
    for (int i = 1; i < l->argc; i++) {
        char *arg = l->argv[i];
        size_t n = strlen(arg);
        if (i == l->argc - 1) {
            if (n == 0 || arg[n - 1] != '>')
                return errbuf_set(err, "%s:%d: <VirtualHost> directive missing closing '>'", l->file,
                                  l->line);
            if (n == 1)
                break; /* "<VirtualHost *:80 >" */
            arg = pool_strndup(s->pool, arg, n - 1);
        }
        struct vhost_addr *a = pool_calloc(s->pool, sizeof(*a));
        if (a == NULL || arg == NULL)
            return errbuf_set(err, "out of memory");
        if (vhost_parse_addr(s->pool, arg, main_port, a, &e) < 0)
            return errbuf_set(err, "%s:%d: <VirtualHost> %s", l->file, l->line, e.msg);
        *tail = a;
        tail = &a->next;
    }
    if (v->addrs == NULL)
        return errbuf_set(err, "%s:%d: <VirtualHost> requires at least one argument, an address:port",
                          l->file, l->line);
    struct vhost **vt = &s->vhosts;
    while (*vt != NULL)
        vt = &(*vt)->next;
    *vt = v;
    s->conf_vhost = v;
    return 0;
}

/*
 * Applies the lines to s. With `only` set, the lines are applied again for that MPM's settings alone: its own
 * directives are set, every other line is passed over and no <Location> is made.
 */
static int apply(struct server *s, const struct config_module *const *modules, struct conf_line *lines,
                 const struct mpm *only, struct errbuf *err)
{
    struct section stack[MAX_SECTION_DEPTH];
    int depth = 0;
    int active = 1;
    struct conf_line *open_at[MAX_SECTION_DEPTH];

    for (struct conf_line *l = lines; l != NULL; l = l->next) {
        const char *name = l->argv[0];
        if (strcasecmp(name, "<VirtualHost") == 0 || strcasecmp(name, "<VirtualHost>") == 0) {
            if (depth == MAX_SECTION_DEPTH)
                return errbuf_set(err, "%s:%d: sections nested too deeply", l->file, l->line);
            for (int i = 0; i < depth; i++)
                if (stack[i].kind != SEC_IFMODULE)
                    return errbuf_set(err, "%s:%d: <VirtualHost> cannot occur within <%s> section", l->file,
                                      l->line,
                                      stack[i].kind == SEC_VHOST      ? "VirtualHost"
                                      : stack[i].kind == SEC_LOCATION ? "Location"
                                                                      : stack[i].module->section);
            struct section *sec = &stack[depth];
            sec->kind = SEC_VHOST;
            sec->active = 1;
            sec->location = NULL;
            if (active && only == NULL && open_vhost(s, l, err) < 0)
                return -1;
            open_at[depth] = l;
            depth++;
            continue;
        }
        if (strcasecmp(name, "</VirtualHost>") == 0) {
            if (depth == 0 || stack[depth - 1].kind != SEC_VHOST)
                return errbuf_set(err, "%s:%d: %s without matching opening section", l->file, l->line, name);
            s->conf_vhost = NULL;
            depth--;
            continue;
        }
        if (strcasecmp(name, "<IfModule") == 0 || strcasecmp(name, "<Location") == 0) {
            char *arg;
            if (depth == MAX_SECTION_DEPTH)
                return errbuf_set(err, "%s:%d: sections nested too deeply", l->file, l->line);
            if (section_arg(s->pool, l, &arg) < 0)
                return errbuf_set(err, "%s:%d: %s> takes one argument", l->file, l->line, name);
            struct section *sec = &stack[depth];
            sec->location = NULL;
            if (strcasecmp(name, "<IfModule") == 0) {
                int neg = arg[0] == '!';
                sec->kind = SEC_IFMODULE;
                sec->active = module_present(s, arg + neg) != neg;
            } else {
                for (int i = 0; i < depth; i++)
                    if (stack[i].kind == SEC_LOCATION || stack[i].kind == SEC_MODULE)
                        return errbuf_set(err, "%s:%d: <Location> cannot be nested", l->file, l->line);
                sec->kind = SEC_LOCATION;
                sec->active = 1;
                if (arg[0] != '/')
                    return errbuf_set(err, "%s:%d: <Location> takes a path starting with '/'", l->file,
                                      l->line);
                if (active && only == NULL) {
                    struct vhost *v = config_vhost(s);
                    struct location *loc = pool_calloc(s->pool, sizeof(*loc));
                    loc->path = pool_strdup(s->pool, arg);
                    loc->len = strlen(arg);
                    loc->handler = NULL; /* until a SetHandler: the static files, or a shorter section's */
                    loc->next = v->locations;
                    v->locations = loc;
                    sec->location = loc;
                }
            }
            open_at[depth] = l;
            depth++;
            active = active && sec->active;
            continue;
        }
        if (strcasecmp(name, "</IfModule>") == 0 || strcasecmp(name, "</Location>") == 0) {
            enum section_kind k = strcasecmp(name, "</IfModule>") == 0 ? SEC_IFMODULE : SEC_LOCATION;
            if (depth == 0 || stack[depth - 1].kind != k)
                return errbuf_set(err, "%s:%d: %s without matching opening section", l->file, l->line, name);
            if (stack[depth - 1].location != NULL &&
                authz_config_end(stack[depth - 1].location->authz, err) < 0)
                return -1;
            depth--;
            active = 1;
            for (int i = 0; i < depth; i++)
                active = active && stack[i].active;
            continue;
        }
        const struct config_module *secmod = section_module(modules, name, 0);
        if (secmod != NULL) {
            if (depth == MAX_SECTION_DEPTH)
                return errbuf_set(err, "%s:%d: sections nested too deeply", l->file, l->line);
            for (int i = 0; i < depth; i++)
                if (stack[i].kind != SEC_IFMODULE && stack[i].kind != SEC_VHOST)
                    return errbuf_set(err, "%s:%d: %s> cannot be inside another section", l->file, l->line,
                                      name);
            struct section *sec = &stack[depth];
            if (section_arg(s->pool, l, &sec->arg) < 0)
                return errbuf_set(err, "%s:%d: %s> takes one argument", l->file, l->line, name);
            sec->kind = SEC_MODULE;
            sec->active = 1;
            sec->location = NULL;
            sec->module = secmod;
            sec->rule = NULL;
            open_at[depth++] = l;
            continue;
        }
        if ((secmod = section_module(modules, name, 1)) != NULL) {
            if (depth == 0 || stack[depth - 1].kind != SEC_MODULE || stack[depth - 1].module != secmod)
                return errbuf_set(err, "%s:%d: %s without matching opening section", l->file, l->line, name);
            if (stack[depth - 1].rule != NULL && authz_config_end(*stack[depth - 1].rule, err) < 0)
                return -1;
            depth--;
            continue;
        }
        if (name[0] == '<' && !authz_directive(name))
            return errbuf_set(err, "%s:%d: unknown section '%s'", l->file, l->line, name);
        if (!active)
            continue;
        if (only != NULL) {
            const struct directive *d = find_directive(only->directives, name);
            const char *msg = d != NULL ? d->set(s, d, l->argc - 1, l->argv + 1) : NULL;
            if (msg != NULL)
                return errbuf_set(err, "%s:%d: %s %s", l->file, l->line, d->name, msg);
            continue;
        }
        struct location *loc = NULL;
        struct section *modsec = NULL;
        for (int i = 0; i < depth; i++) {
            if (stack[i].kind == SEC_LOCATION)
                loc = stack[i].location;
            if (stack[i].kind == SEC_MODULE)
                modsec = &stack[i];
        }
        if (modsec != NULL && authz_directive(name) && modsec->module->section_authz != NULL) {
            const char *msg = NULL;
            if (modsec->rule == NULL) { /* the section's first: the module makes its rule's slot */
                s->conf_section = modsec->arg;
                modsec->rule = modsec->module->section_authz(s, &msg);
                s->conf_section = NULL;
                if (modsec->rule == NULL)
                    return errbuf_set(err, "%s:%d: %s %s", l->file, l->line, name, msg);
            }
            if (authz_config_line(s->pool, modsec->rule, l->file, l->line, l->argc, l->argv, err) < 0)
                return -1;
            continue;
        }
        if (modsec != NULL) {
            const struct directive *d = find_directive(modsec->module->section_directives, name);
            if (d == NULL)
                return errbuf_set(err, "%s:%d: %s is not allowed inside <%s>", l->file, l->line, name,
                                  modsec->module->section);
            s->conf_section = modsec->arg;
            const char *msg = d->set(s, d, l->argc - 1, l->argv + 1);
            s->conf_section = NULL;
            if (msg != NULL)
                return errbuf_set(err, "%s:%d: %s %s", l->file, l->line, d->name, msg);
            continue;
        }
        if (authz_directive(name)) {
            if (authz_config_line(s->pool, loc != NULL ? &loc->authz : NULL, l->file, l->line, l->argc,
                                  l->argv, err) < 0)
                return -1;
            continue;
        }
        if (strcasecmp(name, "SetHandler") == 0) {
            if (loc == NULL)
                return errbuf_set(err, "%s:%d: SetHandler is only allowed inside <Location>", l->file,
                                  l->line);
            if (l->argc != 2)
                return errbuf_set(err, "%s:%d: SetHandler takes one argument, a handler name", l->file,
                                  l->line);
            const struct handler *h = s->find_handler != NULL ? s->find_handler(l->argv[1]) : NULL;
            if (h == NULL && strcasecmp(l->argv[1], "default-handler") != 0 &&
                strcasecmp(l->argv[1], "none") != 0)
                return errbuf_set(err, "%s:%d: SetHandler: unknown handler '%s'", l->file, l->line,
                                  l->argv[1]);
            loc->handler = h != NULL ? h : &static_handler;
            continue;
        }
        if (loc != NULL) {
            const struct directive *d = NULL;
            for (int i = 0; d == NULL && modules != NULL && modules[i] != NULL; i++)
                if (modules[i]->location_directives != NULL)
                    d = find_directive(modules[i]->location_directives, name);
            if (d == NULL)
                return errbuf_set(err, "%s:%d: %s is not allowed inside <Location>", l->file, l->line, name);
            if (s->conf_vhost != NULL && !module_in_vhost(modules, d))
                return errbuf_set(err, "%s:%d: %s cannot occur within <VirtualHost> section", l->file,
                                  l->line, d->name);
            s->conf_location = loc->path;
            const char *msg = d->set(s, d, l->argc - 1, l->argv + 1);
            s->conf_location = NULL;
            if (msg != NULL)
                return errbuf_set(err, "%s:%d: %s %s", l->file, l->line, d->name, msg);
            continue;
        }
        int in_vhost;
        s->conf_current = l;
        const struct directive *d = lookup(s, modules, name, &in_vhost);
        if (d != NULL && !in_vhost && s->conf_vhost != NULL)
            return errbuf_set(err, "%s:%d: %s cannot occur within <VirtualHost> section", l->file, l->line,
                              d->name);
        if (d == NULL) {
            const char *other = other_mpm_of(s, name);
            if (other != NULL)
                return errbuf_set(err,
                                  "%s:%d: %s is a directive of the %s MPM, not %s (wrap it in "
                                  "<IfModule mpm_%s_module>)",
                                  l->file, l->line, name, other, s->mpm->name, other);
            return errbuf_set(err, "%s:%d: unknown directive '%s'", l->file, l->line, name);
        }
        const char *msg = d->set(s, d, l->argc - 1, l->argv + 1);
        if (msg != NULL)
            return errbuf_set(err, "%s:%d: %s %s", l->file, l->line, d->name, msg);
    }
    s->conf_current = NULL;
    if (depth > 0)
        return errbuf_set(err, "%s:%d: %s> section is not closed", open_at[depth - 1]->file,
                          open_at[depth - 1]->line, open_at[depth - 1]->argv[0]);
    return 0;
}

/* The last MPM line decides (IfModule cannot test the MPM before it is chosen); none: the first MPM. */
static int choose_mpm(struct server *s, struct conf_line *lines, struct errbuf *err)
{
    if (s->mpms == NULL || s->mpms[0] == NULL)
        return errbuf_set(err, "no MPM to choose from");
    s->mpm = s->mpms[0];
    for (struct conf_line *l = lines; l != NULL; l = l->next) {
        if (strcasecmp(l->argv[0], "MPM") != 0)
            continue;
        if (l->argc != 2)
            return errbuf_set(err, "%s:%d: MPM takes one argument: prefork, worker or event", l->file,
                              l->line);
        const struct mpm *m = NULL;
        for (int i = 0; s->mpms[i] != NULL && m == NULL; i++)
            if (strcasecmp(s->mpms[i]->name, l->argv[1]) == 0)
                m = s->mpms[i];
        if (m == NULL)
            return errbuf_set(err, "%s:%d: MPM '%s' is not compiled in", l->file, l->line, l->argv[1]);
        s->mpm = m;
    }
    return 0;
}

static void set_defaults(struct server *s)
{
    char host[256];
    s->listen_backlog = 511;
    /* Apache's default on Linux (core.c): a connection is handed over when its first bytes have arrived */
    accept_filter_set(s, "http", "data");
    accept_filter_set(s, "https", "data");
    s->timeout = 60;
    s->keepalive = 1;
    s->keepalive_timeout = 5;
    s->max_keepalive_requests = 100;
    s->limit_request_line = 8190;
    s->limit_request_field_size = 8190;
    s->limit_request_fields = 100;
    s->limit_request_body = 1073741824;
    /* mod_reqtimeout's defaults: header=20-40,MinRate=500 body=20,MinRate=500 */
    s->header_timeout = (struct read_timeout){.timeout = 20, .max_timeout = 40, .min_rate = 500};
    s->body_timeout = (struct read_timeout){.timeout = 20, .max_timeout = 0, .min_rate = 500};
    /* Apache's default is 0 (Timeout alone, 60 s); a handshake that stalls holds a process under prefork and
     * a thread under worker, so it gets 10 s here */
    s->handshake_timeout = (struct read_timeout){.timeout = 10, .max_timeout = 0, .min_rate = 0};
    vhost_init(&s->main);
    s->main.log_level = LOG_WARN;
    s->main.allow_encoded_slashes = PATH_SLASHES_OFF;
    if (gethostname(host, sizeof(host)) < 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    s->main.server_name = pool_strdup(s->pool, host);
    static const char *const index_default[] = {"index.html", NULL};
    s->main.directory_index = (char **)index_default;
    s->file_cache_max_file = 16384;
    s->file_cache_size = 1048576;
    config_mpm_conf_unset(&s->mpm_conf);
}

/* The fields of struct mpm_conf, for the loops over all of them. */
#define MPM_CONF_FIELDS(c)                                                                                   \
    {                                                                                                        \
        &(c)->start_servers, &(c)->min_spare, &(c)->max_spare, &(c)->max_workers, &(c)->server_limit,        \
            &(c)->threads_per_child, &(c)->thread_limit, &(c)->max_conn_per_child, &(c)->max_conns           \
    }

void config_mpm_conf_unset(struct mpm_conf *c)
{
    int *knobs[] = MPM_CONF_FIELDS(c);
    for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
        *knobs[i] = -1;
}

int config_mpm_settings(const struct server *s, const struct mpm *m, const struct mpm_conf *force,
                        struct mpm_conf *out, struct warnings *w, struct errbuf *err)
{
    struct server t = *s; /* a copy: only its MPM settings are written (and allocations go to s's pool) */
    t.mpm = m;
    config_mpm_conf_unset(&t.mpm_conf);
    if (apply(&t, NULL, s->conf_lines, m, err) < 0)
        return -1;
    if (force != NULL) {
        int *to[] = MPM_CONF_FIELDS(&t.mpm_conf);
        const int *from[] = MPM_CONF_FIELDS(force);
        for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++)
            if (*from[i] >= 0)
                *to[i] = *from[i];
    }
    if (m->check_config(&t, w, err) < 0)
        return -1;
    *out = t.mpm_conf;
    return 0;
}

/* Paths that are relative to ServerRoot by default, as Apache's. */
static void default_paths(struct server *s)
{
    if (s->main.document_root == NULL)
        s->main.document_root = config_server_path(s, "htdocs");
    if (s->types_config == NULL)
        s->types_config = config_server_path(s, "conf/mime.types");
    if (s->main.error_log == NULL)
        s->main.error_log = config_server_path(s, "logs/error_log");
    if (s->pid_file == NULL)
        s->pid_file = config_server_path(s, "logs/httpd.pid");
}

static int check_core(struct server *s, struct warnings *w, struct errbuf *err)
{
    struct stat st;
    if (s->listeners == NULL)
        return errbuf_set(err, "%s: no Listen directive: the server would not accept any connection",
                          s->conf_file);
    if (s->timeout < 1)
        return errbuf_set(err, "%s: Timeout must be at least 1 second", s->conf_file);
    if (s->limit_request_line < 16 || s->limit_request_field_size < 16)
        return errbuf_set(err, "%s: LimitRequestLine and LimitRequestFieldSize must be at least 16",
                          s->conf_file);
    if (stat(s->main.document_root, &st) < 0 || !S_ISDIR(st.st_mode))
        warnings_add(w, "DocumentRoot [%s] does not exist", s->main.document_root);
    for (const struct vhost *v = s->vhosts; v != NULL; v = v->next)
        if (v->document_root != s->main.document_root &&
            (stat(v->document_root, &st) < 0 || !S_ISDIR(st.st_mode)))
            warnings_add(w, "DocumentRoot [%s] does not exist (VirtualHost at %s:%d)", v->document_root,
                         v->file, v->line);
    s->mime = mime_load(s->pool, s->types_config, err);
    return s->mime != NULL ? 0 : -1;
}

/* ServerRoot when neither -d nor the file says: the parent of the directory holding the config file. */
static char *default_root(struct pool *p, const char *conf)
{
    char *abs = realpath(conf, NULL);
    char *root;
    if (abs == NULL)
        return pool_strdup(p, ".");
    char *slash = strrchr(abs, '/');
    if (slash != NULL)
        *slash = '\0';
    slash = strrchr(abs, '/');
    if (slash != NULL && slash != abs)
        *slash = '\0';
    else if (slash == abs)
        abs[1] = '\0';
    root = pool_strdup(p, abs);
    free(abs);
    return root;
}

struct server *config_load(const struct config_args *args, struct warnings *w, struct errbuf *err)
{
    struct pool *p = pool_create(16384);
    if (p == NULL) {
        errbuf_set(err, "out of memory");
        return NULL;
    }
    struct server *s = pool_calloc(p, sizeof(*s));
    s->pool = p;
    s->mpms = args->mpms;
    s->find_handler = args->find_handler;
    set_defaults(s);
    if (args->server_root != NULL) {
        char *abs = realpath(args->server_root, NULL);
        if (abs == NULL) {
            errbuf_set(err, "-d %s: %s", args->server_root, strerror(errno));
            goto fail;
        }
        s->server_root = pool_strdup(p, abs);
        free(abs);
    }
    /* without -f, as Apache: SERVER_CONFIG_FILE under -d, or under the compiled-in HTTPD_ROOT (the prefix) */
    if (args->conf_file != NULL)
        s->conf_file = pool_strdup(p, args->conf_file);
    else if (SERVER_CONFIG_FILE[0] == '/')
        s->conf_file = pool_strdup(p, SERVER_CONFIG_FILE);
    else
        s->conf_file =
            pool_printf(p, "%s/%s", s->server_root ? s->server_root : HTTPD_ROOT, SERVER_CONFIG_FILE);
    if (s->server_root == NULL)
        s->server_root = default_root(p, s->conf_file);
    int ndef = 0;
    while (args->defines != NULL && args->defines[ndef] != NULL)
        ndef++;
    s->defines = pool_calloc(p, sizeof(char *) * (size_t)(ndef + 1));
    for (int i = 0; i < ndef; i++)
        s->defines[i] = pool_strdup(p, args->defines[i]);

    struct reader rd = {.s = s, .defines = args->defines, .err = err};
    rd.tail = &rd.head;
    if (read_directives(&rd, args->pre, "-C") < 0 || read_file(&rd, s->conf_file, 0) < 0 ||
        read_directives(&rd, args->post, "-c") < 0)
        goto fail;
    if (rd.ifdefine_depth != 0) {
        errbuf_set(err, "%s: <IfDefine> section is not closed", s->conf_file);
        goto fail;
    }
    s->conf_lines = rd.head;
    if (choose_mpm(s, rd.head, err) < 0 || apply(s, args->modules, rd.head, NULL, err) < 0)
        goto fail;
    default_paths(s);
    if (vhost_finish(s, w, err) < 0 || check_core(s, w, err) < 0)
        goto fail;
    s->need_local_addr = authz_needs_local_addr(s);
    for (int i = 0; args->modules != NULL && args->modules[i] != NULL; i++)
        if (args->modules[i]->check_config != NULL && args->modules[i]->check_config(s, w, err) < 0)
            goto fail;
    if (s->mpm->check_config(s, w, err) < 0)
        goto fail;
    return s;
fail:
    pool_destroy(p);
    return NULL;
}

const char *config_where(const struct server *s, const char *name)
{
    return config_where_nth(s, name, -1);
}

const char *config_where_nth(const struct server *s, const char *name, int nth)
{
    const struct conf_line *found = NULL;
    int n = 0;
    for (const struct conf_line *l = s->conf_lines; l != NULL && (nth < 0 || n <= nth); l = l->next)
        if (strcasecmp(l->argv[0], name) == 0 && (nth < 0 || n++ == nth))
            found = l;
    if (found == NULL)
        return s->conf_file;
    return pool_printf(s->pool, "%s:%d", found->file, found->line);
}

const char *config_here(struct server *s)
{
    const struct conf_line *l = s->conf_current;
    if (l == NULL)
        return s->conf_file;
    return pool_printf(s->pool, "%s:%d", l->file, l->line);
}

void config_free(struct server *s)
{
    if (s != NULL)
        pool_destroy(s->pool);
}
