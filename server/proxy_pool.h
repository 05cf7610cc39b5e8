/*
 * The reverse proxy's connections (Apache's proxy_conn_rec and ap_proxy_acquire_connection's part): a pool of
 * idle upstream connections per upstream in each child, shared by the child's threads under a lock, each
 * checked before it is used again; the non-blocking connect; the error state an upstream enters when it
 * refuses (retry=); and the rule that decides whether a failed request may be sent again.
 */
#ifndef HTTPD_PROXY_POOL_H
#define HTTPD_PROXY_POOL_H

#include <stdint.h>

#include "http.h"
#include "proxy_conf.h"

/*
 * An idle connection to w that is still usable, or -1 when there is none. Connections the upstream has closed
 * meanwhile (readable with EOF, or with bytes nobody asked for) and those idle longer than ttl= are closed on
 * the way; one the MPM knows to be quiet (sockwatch.h) is not looked at. pc is the configuration the pool
 * belongs to (a new one empties the pools). Every socket of the pool is closed through sockwatch_close().
 */
int proxy_pool_take(const struct proxy_conf *pc, const struct proxy_worker *w, int64_t now);

/* Gives fd back after a complete response it may carry another after: kept if the pool has fewer than max=
 * connections of w (and reuse is not disabled), else closed. */
void proxy_pool_give(const struct proxy_conf *pc, const struct proxy_worker *w, int fd, int64_t now);

/* Idle connections the pool of w holds in this child (for tests). */
int proxy_pool_idle(const struct proxy_conf *pc, const struct proxy_worker *w);

/*
 * Starts a non-blocking connect() to w. Returns the socket, with *pending set when the connection completes
 * later (wait for writability, then proxy_connect_result()); -1 with errno and *call naming the failed call.
 */
int proxy_connect_start(const struct proxy_worker *w, int *pending, const char **call);

/* After writability: 0 when the connection is established, else its errno (SO_ERROR). */
int proxy_connect_result(int fd);

/*
 * Whether w is in its error state (a connect failed less than retry= seconds ago): requests get 503 at once.
 * The state is shared by every child through the scoreboard (its member slot), when there is one.
 */
int proxy_worker_in_error(const struct proxy_conf *pc, const struct proxy_worker *w, int64_t now);

/* A connect to w failed: its error state starts now (nothing when retry=0). */
void proxy_worker_failed(const struct proxy_conf *pc, const struct proxy_worker *w, int64_t now);

/*
 * The retry rule: a request that failed on a connection taken from the pool (`reused`) before any byte of the
 * response came back may be sent once more on a new connection when it was not retried yet, its method is
 * idempotent (RFC 9110 9.2.2) and no byte of its body has been taken from the client (a streamed body cannot
 * be sent twice).
 */
int proxy_may_retry(int reused, int retried, enum http_method method, long long body_taken,
                    long long response_bytes);

/* A request goes to w (its busy count and requests, in the scoreboard), and when it ends, its bytes. */
void proxy_worker_begin(const struct proxy_conf *pc, const struct proxy_worker *w);
void proxy_worker_end(const struct proxy_conf *pc, const struct proxy_worker *w, unsigned long long sent,
                      unsigned long long rcvd);

/*
 * The member of b a request goes to (mod_proxy_balancer's lbmethods), skipping those in their error state and
 * those whose bit is set in `tried` (members already tried for this request); NULL when none is left.
 */
const struct proxy_worker *proxy_balancer_pick(const struct proxy_conf *pc, const struct proxy_balancer *b,
                                               int64_t now, unsigned long long tried);

/*
 * The choice itself, over n candidates (usable[i] false: skipped): byrequests gives each usable member its
 * loadfactor and takes the one with the highest running score, which then pays the sum (Apache's weighted
 * round robin; lbstatus is updated); bybusyness takes the least busy per loadfactor, byrequests breaking
 * ties. Returns the index, or -1 when none is usable.
 */
int proxy_lb_choose(int n, enum proxy_lbmethod method, const int *usable, const int *factor, const int *busy,
                    int *lbstatus);

#endif
