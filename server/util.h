/*
 * Small utilities shared by every module: the caller-supplied error buffer through which functions explain a
 * -1, clocks, and HTTP date formatting.
 */
#ifndef HTTPD_UTIL_H
#define HTTPD_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/single_threaded.h>
#include <time.h>

#define ERRBUF_SIZE 512

/* Where a failing function writes one line saying why. */
struct errbuf {
    char msg[ERRBUF_SIZE];
};

/* Formats into err (if not NULL) and returns -1, so callers can write `return errbuf_set(err, ...)`. */
int errbuf_set(struct errbuf *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Warnings gathered while a configuration is checked (Apache's start-up "WARNING: MaxRequestWorkers of ..."):
 * data that the caller prints, logs or asserts on. Whoever checks a configuration writes into the caller's
 * sink; a NULL sink drops them (a configuration read only to size something).
 */
#define WARNINGS_MAX 16
#define WARNING_SIZE 320
struct warnings {
    int count; /* warnings added; those beyond WARNINGS_MAX are counted but not kept */
    char msg[WARNINGS_MAX][WARNING_SIZE];
};

/* Adds one warning to w (NULL: dropped). */
void warnings_add(struct warnings *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The warnings kept in w, in order: msg[0 .. warnings_kept(w) - 1]. */
int warnings_kept(const struct warnings *w);

/*
 * A module's process-wide mutex, taken only in a process that has started a thread: glibc's
 * __libc_single_threaded says whether it ever did (worker's children; prefork's and event's never do, and
 * skip two atomic operations per section). mutex_enter() returns whether it locked, for mutex_leave().
 */
static inline int mutex_enter(pthread_mutex_t *m)
{
    if (__libc_single_threaded)
        return 0;
    pthread_mutex_lock(m);
    return 1;
}

static inline void mutex_leave(pthread_mutex_t *m, int held)
{
    if (held)
        pthread_mutex_unlock(m);
}

/* Milliseconds on the monotonic clock: all deadlines are expressed in it. */
int64_t now_ms(void);

/* Formats t as an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into buf (at least 32 bytes). */
void http_date_format(time_t t, char *buf);

/* Writes v in decimal (util_utoa) or lower-case hex (util_hex) into buf, NUL-terminated (at least 21 or 17
 * bytes); returns the digits' count. */
size_t util_utoa(char *buf, unsigned long long v);
size_t util_hex(char *buf, unsigned long long v);

/*
 * Character classes of URIs (RFC 3986), one table lookup per byte: URI_REG_NAME, a host name's bytes
 * (unreserved and sub-delims, 3.2.2; '%' is the caller's to check); URI_PATH, a path's unencoded bytes (pchar
 * and '/', 3.3). NUL is in neither.
 */
enum { URI_REG_NAME = 1, URI_PATH = 2 };
extern const unsigned char uri_chars[256];
static inline int uri_char(unsigned char ch, int cls)
{
    return (uri_chars[ch] & cls) != 0;
}

/* The current IMF-fixdate, cached per second and per thread. */
const char *http_date_now(void);

/* Parses an IMF-fixdate (also RFC 850 and asctime forms); returns -1 if it is none of them. */
time_t http_date_parse(const char *s);

/* Case-insensitive ASCII comparison of a NUL-terminated string with a span. */
int str_ieq(const char *a, const char *b, size_t blen);

/* Whether the comma-separated list `list` (may be NULL) has `elem` as one of its elements, the whitespace
 * around each ignored; compared without case when nocase. */
int util_list_has(const char *list, const char *elem, int nocase);

/* Parses a non-negative decimal integer that must fill the whole string; -1 on error or overflow. */
long long parse_uint(const char *s);

/* The kernel's quick ACKs on the TCP socket fd (TCP_QUICKACK). Off: data received is acknowledged by what
 * this side sends next, or by the delayed-ACK timer (a listener's setting is inherited by the sockets it
 * accepts). On: an ACK the kernel was delaying leaves now, and the data that comes next is acknowledged at
 * once, for when this side waits for more from a peer that may hold it until its last write is acknowledged
 * (Nagle's algorithm). 0, or -1 with errno. */
int util_quick_acks(int fd, int on);

#endif
