/* The delay and cpu handlers: argument parsing and bounds, the WAIT deadline, the CPU actually used. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "handler.h"
#include "handlers.h"
#include "static.h"
#include "http.h"
#include "pool.h"
#include "testserver.h"
#include "util.h"
#include "workload.h"

Test(workload, argument_parsing)
{
    cr_assert_eq(workload_arg("ms=100", "ms", 10000), 100);
    cr_assert_eq(workload_arg("a=1&ms=0&b=2", "ms", 10000), 0);
    cr_assert_eq(workload_arg("ms=10000", "ms", 10000), 10000);
    cr_assert_eq(workload_arg("ms=10001", "ms", 10000), -1);
    cr_assert_eq(workload_arg("ms=", "ms", 10000), -1);
    cr_assert_eq(workload_arg("ms=-5", "ms", 10000), -1);
    cr_assert_eq(workload_arg("ms=1e3", "ms", 10000), -1);
    cr_assert_eq(workload_arg("ms=99999999999999999999999", "ms", 10000), -1);
    cr_assert_eq(workload_arg("xms=5", "ms", 10000), -1);
    cr_assert_eq(workload_arg("m=5", "ms", 10000), -1);
    cr_assert_eq(workload_arg("", "ms", 10000), -1);
    cr_assert_eq(workload_arg("us=2500", "us", 10000000), 2500);
}

Test(workload, registered_by_name)
{
    cr_assert_eq(handler_find("delay"), &delay_handler);
    cr_assert_eq(handler_find("CPU"), &cpu_handler);
    cr_assert(delay_handler.methods & HTTP_M(METHOD_GET));
    cr_assert_not(cpu_handler.methods & HTTP_M(METHOD_POST));
}

static struct request *new_request(struct pool *p, const char *query)
{
    struct request *r = testserver_request(p, NULL);
    r->query = query;
    return r;
}

Test(workload, delay_waits_then_answers)
{
    struct pool *p = pool_create(1024);
    struct request *r = new_request(p, "ms=250");
    int64_t before = now_ms();
    cr_assert_eq(delay_handler.handle(r), HANDLER_WAIT);
    cr_assert_geq(r->wait_until, before + 250);
    cr_assert_leq(r->wait_until, now_ms() + 250);
    cr_assert_eq(delay_handler.resume(r), HANDLER_DONE);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(r->content_type, "text/plain");
    cr_assert_str_eq(testserver_body(r), "waited 250 ms\n");
    pool_destroy(p);
}

Test(workload, bad_arguments_are_400)
{
    const char *bad[] = {NULL, "", "ms=abc", "ms=10001", "us=5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pool *p = pool_create(1024);
        struct request *r = new_request(p, bad[i]);
        cr_assert_eq(delay_handler.handle(r), HANDLER_DONE, "query %s", bad[i] ? bad[i] : "(none)");
        cr_assert_eq(r->status, 400, "query %s", bad[i] ? bad[i] : "(none)");
        pool_destroy(p);
    }
    struct pool *p = pool_create(1024);
    struct request *r = new_request(p, "us=10000001");
    cr_assert_eq(cpu_handler.handle(r), HANDLER_DONE);
    cr_assert_eq(r->status, 400);
    pool_destroy(p);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(workload, cpu_uses_the_cpu_asked)
{
    struct pool *p = pool_create(1024);
    struct request *r = new_request(p, "us=50000");
    double before = cpu_seconds();
    cr_assert_eq(cpu_handler.handle(r), HANDLER_DONE);
    double used = cpu_seconds() - before;
    cr_assert_geq(used, 0.050, "used %.3f s of CPU", used);
    cr_assert_lt(used, 0.5, "used %.3f s of CPU", used);
    cr_assert_eq(r->status, 200);
    cr_assert_str_eq(testserver_body(r), "burned 50000 us\n");
    pool_destroy(p);
}
