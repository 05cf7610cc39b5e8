/*
 * ErrorLog and CustomLog. Every line is formatted in memory and written with one write() to a file opened
 * with O_APPEND, so lines from many children and threads never interleave; with BufferedLogs On, access log
 * lines are gathered per thread and written in blocks of whole lines.
 */
#ifndef HTTPD_LOG_H
#define HTTPD_LOG_H

#include <stddef.h>

#include "server.h"
#include "util.h"

struct request;
struct pool;

/*
 * Opens ErrorLog and every CustomLog of s, the main server's and each <VirtualHost>'s (numbering the
 * CustomLogs for their BufferedLogs buffers), then makes the main ErrorLog the process's error log (before
 * the first call, errors go to stderr), and s's BufferedLogs the process's. Called again with the new server
 * on a restart, it opens the files anew, which is how a log moved away by logrotate is replaced. On failure
 * (err says which file) nothing has changed.
 */
int log_open(struct server *s, struct errbuf *err);

/* After a restart: closes the CustomLog files of the old server and its vhosts' ErrorLogs (its main error log
 * was replaced already). */
void log_release(struct server *old);

/* Points stderr at the error log (a daemon's stderr is /dev/null), as Apache does: warnings printed while a
 * restart reads the configuration, and anything else written to stderr, land in the error log. */
void log_redirect_stderr(void);

/* Closes the files log_open() opened. */
void log_close(struct server *s);

/* Writes "[date] [module:level] [pid N:tid T] message" to the error log if `level` passes LogLevel. */
void log_error(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same for a request's server v (main or a <VirtualHost>): to its ErrorLog if it has one of its own, else
 * the process's, if `level` passes its LogLevel. v NULL: as log_error(). */
void log_verror(const struct vhost *v, enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

struct warnings;

/* Writes each warning of w (and a count of those it dropped) at LOG_WARN, as `module`. */
void log_warnings(const struct warnings *w, const char *module);

/* Writes the request's line to every CustomLog of its vhost (with BufferedLogs On, into the calling thread's
 * buffers). */
void log_access(const struct server *s, const struct request *r);

/*
 * BufferedLogs On (Apache's mod_log_config; nginx's `access_log ... buffer= flush=`): each thread keeps a
 * buffer of LOG_BUFFER_SIZE bytes per CustomLog and writes it with one write(), always ending at a line
 * boundary, when the next line does not fit, when its oldest line is about to be LOG_FLUSH_MS old, and when
 * the process ends (log_flush(), log_flush_on_signal()). A line longer than the buffer is written alone,
 * after the lines before it. The error log is never buffered. A process killed with SIGKILL loses what its
 * buffers hold: at most LOG_BUFFER_SIZE bytes per CustomLog and thread, none of it older than LOG_FLUSH_MS.
 */
#define LOG_BUFFER_SIZE 4096 /* Apache's LOG_BUFSIZE (PIPE_BUF) */
#define LOG_FLUSH_MS    1000 /* a buffered line reaches its file within this */

/*
 * Writes the buffered lines that are due: the calling thread's, or with `all` those of every thread of the
 * process whose buffers are not in use at that moment. Returns how many ms a wait may last until the next
 * lines are due (the poll/epoll timeout that bounds it), or -1 when nothing can fall due: an MPM calls it
 * before each wait (or at least every 200 ms), which costs nothing with BufferedLogs Off. With `all` and
 * BufferedLogs On it returns at most 200 ms, since other threads do not wake the caller when they buffer.
 */
int log_flush_due(int all);

/* Writes every buffered line of the process (when a child has finished serving, before it exits). */
void log_flush(void);

/*
 * For an event loop, whose one thread serves many connections in a turn: from log_turns(1) on, the calling
 * thread's access log lines wait in its buffers (as with BufferedLogs On) until log_turn_end(), which the
 * loop calls after each turn, before it waits again; the lines of one turn then go out in one write() per
 * CustomLog. No line waits for a client or a timer. With BufferedLogs On, lines keep its rules instead.
 */
void log_turns(int on);
void log_turn_end(void);

/*
 * For a stop signal's handler, before _exit() (async-signal-safe): writes every buffered line of the process
 * and returns 1. Returns 0 when a thread is in the middle of logging; that thread then writes the lines when
 * it is done and ends the process with _exit(0) itself, so the handler must return without exiting.
 */
int log_flush_on_signal(void);

/* Compiles a LogFormat string (%h %l %u %t %r %>s %s %b %B %D %T %m %U %q %H %v %p %P %a %{Header}i
 * %{Header}o
 * %%). NULL with err set on a bad format. */
struct log_format *log_format_compile(struct pool *p, const char *fmt, struct errbuf *err);

/* Registers a compiled format (in p) under a nickname of the server v (LogFormat "..." nickname). */
int log_format_define(struct pool *p, struct vhost *v, const char *nickname, const char *fmt,
                      struct errbuf *err);

/* The format v registered under `nickname`, or NULL. */
const struct log_format *log_format_find(const struct vhost *v, const char *nickname);

/* Renders the line for r (with the trailing newline) into buf; returns its length (truncated to size). */
size_t log_format_render(const struct log_format *f, const struct request *r, char *buf, size_t size);

/* Parses a LogLevel name; -1 if unknown. */
int log_level_parse(const char *name);

#endif
