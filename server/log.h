/*
 * ErrorLog and CustomLog. Every line is formatted in memory and written with one write() to a file opened
 * with O_APPEND, so lines from many children and threads never interleave.
 */
#ifndef HTTPD_LOG_H
#define HTTPD_LOG_H

#include <stddef.h>

#include "server.h"
#include "util.h"

struct request;
struct pool;

/*
 * Opens ErrorLog and every CustomLog of s, then makes ErrorLog the process's error log (before the first
 * call, errors go to stderr). Called again with the new server on a restart, it opens the files anew, which
 * is how a log moved away by logrotate is replaced. On failure (err says which file) nothing has changed.
 */
int log_open(struct server *s, struct errbuf *err);

/* After a restart: closes the CustomLog files of the old server (its error log was replaced already). */
void log_release(struct server *old);

/* Points stderr at the error log (a daemon's stderr is /dev/null), as Apache does: warnings printed while a
 * restart reads the configuration, and anything else written to stderr, land in the error log. */
void log_redirect_stderr(void);

/* Closes the files log_open() opened. */
void log_close(struct server *s);

/* Writes "[date] [module:level] [pid N:tid T] message" to the error log if `level` passes LogLevel. */
void log_error(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct warnings;

/* Writes each warning of w (and a count of those it dropped) at LOG_WARN, as `module`. */
void log_warnings(const struct warnings *w, const char *module);

/* Writes the request's line to every CustomLog. */
void log_access(const struct server *s, const struct request *r);

/* Compiles a LogFormat string (%h %l %u %t %r %>s %s %b %B %D %T %m %U %q %H %v %p %P %a %{Header}i
 * %{Header}o
 * %%). NULL with err set on a bad format. */
struct log_format *log_format_compile(struct pool *p, const char *fmt, struct errbuf *err);

/* Registers a compiled format under a nickname (LogFormat "..." nickname). */
int log_format_define(struct server *s, const char *nickname, const char *fmt, struct errbuf *err);

/* The format registered under `nickname`, or NULL. */
const struct log_format *log_format_find(const struct server *s, const char *nickname);

/* Renders the line for r (with the trailing newline) into buf; returns its length (truncated to size). */
size_t log_format_render(const struct log_format *f, const struct request *r, char *buf, size_t size);

/* Parses a LogLevel name; -1 if unknown. */
int log_level_parse(const char *name);

#endif
