/*
 * What the unit and the integration tests of server-status both expect of its pages: the keys of ?auto in the
 * order Apache 2.4's mod_status prints them (Debian's apache2 with ExtendedStatus On, under mpm_prefork,
 * mpm_worker and mpm_event), each with the condition under which it is printed; and no number in exponent
 * form on the HTML page. Header-only.
 */
#ifndef HTTPD_TEST_STATUS_EXPECT_H
#define HTTPD_TEST_STATUS_EXPECT_H

#include <ctype.h>
#include <stddef.h>
#include <string.h>

enum apache_auto_when {
    AUTO_ALWAYS,
    AUTO_CPU,      /* some CPU time was used (CPULoad) */
    AUTO_UPTIME,   /* the server has been up a second or more (the rates) */
    AUTO_REQUESTS, /* a request was served (the per-request figures) */
    AUTO_ASYNC,    /* a model with asynchronous connections (event) */
};

static const struct apache_auto_key {
    const char *name;
    enum apache_auto_when when;
} apache_auto_keys[] = {
    {"ServerVersion", AUTO_ALWAYS},
    {"ServerMPM", AUTO_ALWAYS},
    {"Server Built", AUTO_ALWAYS},
    {"CurrentTime", AUTO_ALWAYS},
    {"RestartTime", AUTO_ALWAYS},
    {"ParentServerConfigGeneration", AUTO_ALWAYS},
    {"ParentServerMPMGeneration", AUTO_ALWAYS},
    {"ServerUptimeSeconds", AUTO_ALWAYS},
    {"ServerUptime", AUTO_ALWAYS},
    {"Load1", AUTO_ALWAYS},
    {"Load5", AUTO_ALWAYS},
    {"Load15", AUTO_ALWAYS},
    {"Total Accesses", AUTO_ALWAYS},
    {"Total kBytes", AUTO_ALWAYS},
    {"Total Duration", AUTO_ALWAYS},
    {"CPUUser", AUTO_ALWAYS},
    {"CPUSystem", AUTO_ALWAYS},
    {"CPUChildrenUser", AUTO_ALWAYS},
    {"CPUChildrenSystem", AUTO_ALWAYS},
    {"CPULoad", AUTO_CPU},
    {"Uptime", AUTO_ALWAYS},
    {"ReqPerSec", AUTO_UPTIME},
    {"BytesPerSec", AUTO_UPTIME},
    {"BytesPerReq", AUTO_REQUESTS},
    {"DurationPerReq", AUTO_REQUESTS},
    {"BusyWorkers", AUTO_ALWAYS},
    {"GracefulWorkers", AUTO_ALWAYS},
    {"IdleWorkers", AUTO_ALWAYS},
    {"Processes", AUTO_ASYNC},
    {"Stopping", AUTO_ASYNC},
    {"ConnsTotal", AUTO_ASYNC},
    {"ConnsAsyncWaitIO", AUTO_ASYNC},
    {"ConnsAsyncWriting", AUTO_ASYNC},
    {"ConnsAsyncKeepAlive", AUTO_ASYNC},
    {"ConnsAsyncClosing", AUTO_ASYNC},
    {"Scoreboard", AUTO_ALWAYS},
};

/* The keys a page must have, in order, given what it shows (each flag 0 or 1): into out (room for the whole
 * table); returns their number. */
static inline int apache_auto_expected(const char **out, int cpu, int uptime, int requests, int async)
{
    int n = 0;
    for (size_t i = 0; i < sizeof(apache_auto_keys) / sizeof(apache_auto_keys[0]); i++) {
        enum apache_auto_when w = apache_auto_keys[i].when;
        if (w == AUTO_ALWAYS || (w == AUTO_CPU && cpu) || (w == AUTO_UPTIME && uptime) ||
            (w == AUTO_REQUESTS && requests) || (w == AUTO_ASYNC && async))
            out[n++] = apache_auto_keys[i].name;
    }
    return n;
}

/* Whether the text holds a number in exponent form ("3.26e+03", "1e-05"). */
static inline int has_exponent(const char *s)
{
    for (const char *e = strpbrk(s, "eE"); e != NULL; e = strpbrk(e + 1, "eE"))
        if (e > s && isdigit((unsigned char)e[-1]) && (e[1] == '+' || e[1] == '-') &&
            isdigit((unsigned char)e[2]))
            return 1;
    return 0;
}

#endif
