/* The delay and cpu handlers of capacity experiments (server/workload.c), and their argument parsing. */
#ifndef HTTPD_WORKLOAD_H
#define HTTPD_WORKLOAD_H

struct handler;

#define WORKLOAD_MAX_MS 10000LL    /* delay: at most 10 s */
#define WORKLOAD_MAX_US 10000000LL /* cpu: at most 10 s */

/* The value of `name=N` in a query string, when N is a decimal number from 0 to max; -1 otherwise. */
long long workload_arg(const char *query, const char *name, long long max);

/* Uses `us` microseconds of the calling thread's CPU time. */
void workload_burn(long long us);

extern const struct handler delay_handler;
extern const struct handler cpu_handler;

#endif
