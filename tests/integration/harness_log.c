/*
 * Logs (see harness_log.h): the server's log files are read whole on every call; they are small, and a line
 * being written is at worst not counted yet, which the pollers wait out.
 */
#define HARNESS_IMPL
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *log_tail(const char *path, size_t max)
{
    size_t len;
    char *all = read_file(path, &len), *out;

    if (!all)
        return xasprintf("(%s: %s)", path, strerror(errno));
    out = escape(len > max ? all + len - max : all, len > max ? max : len);
    free(all);
    return out;
}

int log_count(const char *path, const char *needle)
{
    char *text = read_file(path, NULL);
    int n = 0;

    for (const char *p = text; p != NULL && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(text);
    return n;
}

int wait_log(const char *path, const char *needle, int n, int ms)
{
    int64_t deadline = now_ms() + ms;
    int got;

    while ((got = log_count(path, needle)) < n && now_ms() < deadline)
        sleep_ms(20);
    return got;
}
