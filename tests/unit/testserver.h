/*
 * Fixtures for unit tests of the core that need no configuration file: a pool for the running test, a struct
 * server with the protocol settings of a default configuration (Timeout 60, KeepAlive On, KeepAliveTimeout 5,
 * MaxKeepAliveRequests 100, LimitRequestLine/FieldSize 8190, LimitRequestFields 100), a smaller
 * LimitRequestBody (1 MiB), no logs, no listeners; and a request as the core hands it to a handler, with its
 * body read back. Header-only.
 */
#ifndef HTTPD_TEST_TESTSERVER_H
#define HTTPD_TEST_TESTSERVER_H

#include <criterion/criterion.h>
#include <string.h>

#include "http.h"
#include "pool.h"
#include "server.h"

/* The pool of the running test, for suites with .init = testserver_pool_setup, .fini =
 * testserver_pool_teardown (Criterion runs every test in a process of its own). */
static struct pool *test_pool;

static inline void testserver_pool_setup(void)
{
    test_pool = pool_create(4096);
    cr_assert_not_null(test_pool);
}

static inline void testserver_pool_teardown(void)
{
    pool_destroy(test_pool);
}

/* Fills s (zeroed first) with those settings; its allocations go to pool. */
static inline void testserver_init(struct server *s, struct pool *pool)
{
    memset(s, 0, sizeof(*s));
    s->pool = pool;
    s->main.server_name = "localhost";
    s->timeout = 60;
    s->keepalive = 1;
    s->keepalive_timeout = 5;
    s->max_keepalive_requests = 100;
    s->limit_request_line = 8190;
    s->limit_request_field_size = 8190;
    s->limit_request_fields = 100;
    s->limit_request_body = 1 << 20;
}

/* A request as the core hands it to a handler: allocated in pool, for s (may be NULL), status 200, no body.
 */
static inline struct request *testserver_request(struct pool *pool, const struct server *s)
{
    struct request *r = pool_calloc(pool, sizeof(*r));
    cr_assert_not_null(r);
    r->pool = pool;
    r->server = s;
    r->vhost = s != NULL ? &s->main : NULL;
    r->status = 200;
    r->body_tail = &r->body;
    return r;
}

/* The body of r as a string (in r->pool): its memory segments concatenated; their lengths add up to
 * body_len. */
static inline char *testserver_body(const struct request *r)
{
    struct pbuf b = {.pool = r->pool};
    pbuf_puts(&b, "");
    for (const struct body_seg *s = r->body; s != NULL; s = s->next) {
        cr_assert_not_null(s->data, "a file segment where only memory was expected");
        pbuf_append(&b, s->data, s->len);
    }
    cr_assert_not(b.failed);
    cr_assert_eq(b.len, r->body_len, "body_len %zu, the segments add up to %zu", r->body_len, b.len);
    return b.p;
}

#endif
