/*
 * Workload handlers for capacity experiments: the two kinds of work that decide the choice of a concurrency
 * model, enabled per URL with SetHandler.
 *
 *   delay   waits ?ms=N (0..10000) without using CPU, like a slow database or upstream (I/O-bound). It
 * returns HANDLER_WAIT with a deadline: prefork and worker sleep in their worker, the event MPM arms a timer
 *           and its reactor goes on serving everyone else.
 *   cpu     burns ?us=N (0..10000000) of this thread's CPU time (CPU-bound), the same under every model.
 *
 * Both answer 200 with a one-line text/plain body; a missing, malformed or out-of-range argument is a 400.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "handler.h"
#include "http.h"
#include "pool.h"
#include "util.h"
#include "workload.h"

long long workload_arg(const char *query, const char *name, long long max)
{
    size_t nlen = strlen(name);
    const char *p = query;
    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            char digits[24];
            size_t dlen = len - nlen - 1;
            if (dlen == 0 || dlen >= sizeof(digits))
                return -1;
            memcpy(digits, p + nlen + 1, dlen);
            digits[dlen] = '\0';
            long long v = parse_uint(digits);
            return v >= 0 && v <= max ? v : -1;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return -1;
}

/* Sets a 200 text/plain response with a formatted line. */
static enum handler_result answer(struct request *r, const char *fmt, long long v)
{
    char *body = pool_printf(r->pool, fmt, v);
    if (body == NULL || http_resp_content_type(r, "text/plain") < 0 ||
        http_resp_body_mem(r, body, strlen(body)) < 0) {
        http_resp_error(r, 500);
        return HANDLER_DONE;
    }
    http_resp_status(r, 200);
    return HANDLER_DONE;
}

static enum handler_result delay_handle(struct request *r)
{
    long long ms = r->query != NULL ? workload_arg(r->query, "ms", WORKLOAD_MAX_MS) : -1;
    if (ms < 0) {
        http_resp_error(r, 400);
        return HANDLER_DONE;
    }
    /* the handler keeps its argument for resume(): wait_until alone does not say how long was asked */
    long long *arg = pool_alloc(r->pool, sizeof(*arg));
    if (arg == NULL) {
        http_resp_error(r, 500);
        return HANDLER_DONE;
    }
    *arg = ms;
    r->handler_data = arg;
    r->wait_until = now_ms() + ms;
    return HANDLER_WAIT;
}

static enum handler_result delay_resume(struct request *r)
{
    return answer(r, "waited %lld ms\n", *(long long *)r->handler_data);
}

static long long thread_cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void workload_burn(long long us)
{
    long long until = thread_cpu_us() + us;
    volatile unsigned long x = 0;
    /* check the clock every few thousand iterations: the loop, not the clock calls, should use the CPU */
    while (thread_cpu_us() < until)
        for (int i = 0; i < 4096; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
}

static enum handler_result cpu_handle(struct request *r)
{
    long long us = r->query != NULL ? workload_arg(r->query, "us", WORKLOAD_MAX_US) : -1;
    if (us < 0) {
        http_resp_error(r, 400);
        return HANDLER_DONE;
    }
    workload_burn(us);
    return answer(r, "burned %lld us\n", us);
}

const struct handler delay_handler = {
    .name = "delay",
    .methods = HTTP_M(METHOD_GET) | HTTP_M(METHOD_HEAD),
    .handle = delay_handle,
    .resume = delay_resume,
};

const struct handler cpu_handler = {
    .name = "cpu",
    .methods = HTTP_M(METHOD_GET) | HTTP_M(METHOD_HEAD),
    .handle = cpu_handle,
    .resume = NULL,
};
