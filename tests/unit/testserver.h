/*
 * A struct server for unit tests that drive connections without loading a configuration: the protocol
 * settings of a default configuration (Timeout 60, KeepAlive On, KeepAliveTimeout 5, MaxKeepAliveRequests
 * 100, LimitRequestLine/FieldSize 8190, LimitRequestFields 100), a smaller LimitRequestBody (1 MiB), no logs,
 * no listeners. Header-only.
 */
#ifndef HTTPD_TEST_TESTSERVER_H
#define HTTPD_TEST_TESTSERVER_H

#include <string.h>

#include "server.h"

/* Fills s (zeroed first) with those settings; its allocations go to pool. */
static inline void testserver_init(struct server *s, struct pool *pool)
{
    memset(s, 0, sizeof(*s));
    s->pool = pool;
    s->server_name = "localhost";
    s->timeout = 60;
    s->keepalive = 1;
    s->keepalive_timeout = 5;
    s->max_keepalive_requests = 100;
    s->limit_request_line = 8190;
    s->limit_request_field_size = 8190;
    s->limit_request_fields = 100;
    s->limit_request_body = 1 << 20;
}

#endif
