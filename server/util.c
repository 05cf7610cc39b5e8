/* Small utilities: error buffers, clocks, HTTP dates, number parsing. */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "util.h"

int errbuf_set(struct errbuf *err, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

void warnings_add(struct warnings *w, const char *fmt, ...)
{
    if (w == NULL)
        return;
    if (w->count < WARNINGS_MAX) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->msg[w->count], sizeof(w->msg[w->count]), fmt, ap);
        va_end(ap);
    }
    w->count++;
}

int warnings_kept(const struct warnings *w)
{
    return w->count < WARNINGS_MAX ? w->count : WARNINGS_MAX;
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char wday[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char month[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Two decimal digits of v (0..99). */
static char *put2(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

void http_date_format(time_t t, char *buf)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    /* "Sun, 06 Nov 1994 08:49:37 GMT", written digit by digit: snprintf cost more than the rest of a
     * request's header building */
    char *p = buf;
    memcpy(p, wday[tm.tm_wday], 3);
    p += 3;
    *p++ = ',';
    *p++ = ' ';
    p = put2(p, tm.tm_mday % 100);
    *p++ = ' ';
    memcpy(p, month[tm.tm_mon], 3);
    p += 3;
    *p++ = ' ';
    int year = (tm.tm_year + 1900) % 10000;
    p = put2(p, year / 100);
    p = put2(p, year % 100);
    *p++ = ' ';
    p = put2(p, tm.tm_hour % 100);
    *p++ = ':';
    p = put2(p, tm.tm_min % 100);
    *p++ = ':';
    p = put2(p, tm.tm_sec % 100);
    memcpy(p, " GMT", 5);
}

size_t util_utoa(char *buf, unsigned long long v)
{
    /* the digits counted first, then written from the last ones in place, two at a time: no copy, half the
     * divisions */
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    size_t n = 1;
    for (unsigned long long t = v; t >= 10; t /= 10)
        n++;
    buf[n] = '\0';
    char *w = buf + n;
    for (; v >= 100; v /= 100) {
        const char *d = pairs + 2 * (v % 100);
        *--w = d[1];
        *--w = d[0];
    }
    if (v >= 10) {
        *--w = pairs[2 * v + 1];
        *--w = pairs[2 * v];
    } else {
        *--w = (char)('0' + v);
    }
    return n;
}

#define URI_BOTH (URI_REG_NAME | URI_PATH)
const unsigned char uri_chars[256] = {
    ['0' ... '9'] = URI_BOTH, ['A' ... 'Z'] = URI_BOTH, ['a' ... 'z'] = URI_BOTH, ['-'] = URI_BOTH,
    ['.'] = URI_BOTH,         ['_'] = URI_BOTH,         ['~'] = URI_BOTH,         ['!'] = URI_BOTH,
    ['$'] = URI_BOTH,         ['&'] = URI_BOTH,         ['\''] = URI_BOTH,        ['('] = URI_BOTH,
    [')'] = URI_BOTH,         ['*'] = URI_BOTH,         ['+'] = URI_BOTH,         [','] = URI_BOTH,
    [';'] = URI_BOTH,         ['='] = URI_BOTH,         [':'] = URI_PATH,         ['@'] = URI_PATH,
    ['/'] = URI_PATH,
};

size_t util_hex(char *buf, unsigned long long v)
{
    static const char hex[] = "0123456789abcdef";
    char digits[16];
    size_t i = sizeof(digits);
    do
        digits[--i] = hex[v & 15];
    while ((v >>= 4) > 0);
    size_t n = sizeof(digits) - i;
    memcpy(buf, digits + i, n);
    buf[n] = '\0';
    return n;
}

const char *http_date_now(void)
{
    static __thread time_t cached;
    static __thread char buf[32];
    time_t t = time(NULL);
    if (t != cached) {
        http_date_format(t, buf);
        cached = t;
    }
    return buf;
}

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(m, month[i], 3) == 0)
            return i;
    return -1;
}

time_t http_date_parse(const char *s)
{
    struct tm tm;
    char mon[4], wd[16], tz[4];
    int n = 0;

    memset(&tm, 0, sizeof(tm));
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(s, "%3s, %2d %3s %4d %2d:%2d:%2d %3s%n", wd, &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, tz, &n) == 8 &&
        strcmp(tz, "GMT") == 0) {
        /* parsed */
    } else if (sscanf(s, "%15[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d %3s%n", wd, &tm.tm_mday, mon, &tm.tm_year,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, tz, &n) == 8 &&
               strcmp(tz, "GMT") == 0) {
        /* RFC 850: two-digit year */
        tm.tm_year += tm.tm_year < 70 ? 2000 : 1900;
    } else if (sscanf(s, "%3s %3s %2d %2d:%2d:%2d %4d%n", wd, mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                      &tm.tm_sec, &tm.tm_year, &n) == 7) {
        /* asctime */
    } else {
        return -1;
    }
    while (s[n] == ' ' || s[n] == '\t')
        n++;
    if (s[n] != '\0')
        return -1;
    tm.tm_mon = month_index(mon);
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        return -1;
    tm.tm_year -= 1900;
    return timegm(&tm);
}

int str_ieq(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && strncasecmp(a, b, blen) == 0;
}

int util_list_has(const char *list, const char *elem, int nocase)
{
    size_t n = strlen(elem);
    while (list != NULL && *list != '\0') {
        while (*list == ' ' || *list == '\t' || *list == ',')
            list++;
        size_t len = strcspn(list, ",");
        size_t t = len;
        while (t > 0 && (list[t - 1] == ' ' || list[t - 1] == '\t'))
            t--;
        if (t == n && (nocase ? strncasecmp(list, elem, n) : strncmp(list, elem, n)) == 0)
            return 1;
        list += len;
    }
    return 0;
}

long long parse_uint(const char *s)
{
    long long v = 0;
    if (*s == '\0')
        return -1;
    for (; *s; s++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        if (v > (LLONG_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

int util_quick_acks(int fd, int on)
{
    return setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof(on));
}
