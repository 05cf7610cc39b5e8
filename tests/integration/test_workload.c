/* The delay and cpu workload handlers through the real server, under every MPM. */
#include <string.h>

#include "harness.h"

#define WORKLOADS                                                                                            \
    "<Location /delay>\n  SetHandler delay\n</Location>\n<Location /cpu>\n  SetHandler cpu\n</Location>\n"

static char *get(const char *target)
{
    return xasprintf("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", target);
}

static void expect_text(const struct resp *r, const char *body)
{
    char *head = expect_head(200, "", (long long)strlen(body), "text/plain", NULL);
    expect_bytes("head", r->norm, strlen(r->norm), head, strlen(head));
    expect_bytes("body", r->body, r->body_len, body, strlen(body));
    free(head);
}

MPM_TEST(workload, delay_and_cpu_answer, .timeout = 30)
{
    struct srv *s = server_start(mpm, WORKLOADS);
    struct conn *c = conn_open(s->port);

    char *req = get("/delay?ms=300");
    int64_t t0 = now_ms();
    struct resp *r = exchange(c, req);
    int64_t took = now_ms() - t0;
    expect_text(r, "waited 300 ms\n");
    hassert(took >= 300 && took < 2000, "/delay?ms=300 answered after %lld ms", (long long)took);
    resp_free(r);
    free(req);

    /* the same keep-alive connection goes on after a wait */
    req = get("/cpu?us=2000");
    r = exchange(c, req);
    expect_text(r, "burned 2000 us\n");
    resp_free(r);
    free(req);

    const char *bad[] = {"/delay", "/delay?ms=x", "/delay?ms=10001", "/cpu?us=-1", "/cpu?us=10000001"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req = get(bad[i]);
        r = request_once(s, req, NULL);
        hassert(r->status == 400, "%s: status %d", bad[i], r->status);
        resp_free(r);
        free(req);
    }
    req = xasprintf("POST /delay?ms=1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
    r = request_once(s, req, NULL);
    hassert(r->status == 405 && strcmp(resp_get(r, "Allow"), "GET, HEAD, OPTIONS") == 0, "POST: status %d",
            r->status);
    resp_free(r);
    free(req);
    conn_close(c);
    server_stop(s);
}

/* Delays wait side by side, not one after another: under event only a timer is held for each. */
MPM_TEST(workload, delays_overlap, .timeout = 30)
{
    enum { N = 40, MS = 500 };
    const char *extra = strcmp(mpm, "event") == 0    ? WORKLOADS "StartServers 1\n"
                        : strcmp(mpm, "worker") == 0 ? WORKLOADS "StartServers 2\nThreadsPerChild 25\n"
                                                                 "MinSpareThreads 50\nMaxRequestWorkers 50\n"
                                                     : WORKLOADS "StartServers 45\nMinSpareServers 45\n"
                                                                 "MaxSpareServers 50\nMaxRequestWorkers 50\n";
    struct srv *s = server_start(mpm, extra);
    struct conn *cs[N];
    char *req = get("/delay?ms=500");
    sleep_ms(300); /* children and threads started */
    for (int i = 0; i < N; i++)
        cs[i] = conn_open(s->port);
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++)
        conn_send_str(cs[i], req);
    for (int i = 0; i < N; i++) {
        struct resp *r = must_read(cs[i], 0);
        hassert(r->status == 200, "request %d: status %d", i, r->status);
        resp_free(r);
        conn_close(cs[i]);
    }
    int64_t took = now_ms() - t0;
    /* one after another they would take N x 500 ms = 20 s */
    hassert(took >= MS && took < 3 * MS, "%d delays of %d ms took %lld ms", N, MS, (long long)took);
    free(req);
    server_stop(s);
}
