/*
 * RequestHeader, as Apache's mod_headers: request headers set, appended, added, merged or removed before the
 * handler sees them, so that an application behind the proxy learns what only the front knows
 * (`RequestHeader set X-Forwarded-Proto "https"` in an https <VirtualHost>) and headers it must not trust are
 * dropped (`RequestHeader unset Proxy early`).
 *
 * Lines of the main server apply to every request, a <VirtualHost>'s after them to its own (Apache's merge).
 * A line marked `early` applies as soon as the request's head is read (its vhost known), before access
 * control and the choice of handler; the others just before the handler runs. Values are literal text, with
 * `%%` for a `%`; Apache's format specifiers (%{VAR}e, %t, %D ...), `edit`, `env=` and `expr=` conditions
 * are configuration errors.
 */
#ifndef HTTPD_HEADERS_H
#define HTTPD_HEADERS_H

#include "config.h"
#include "http.h"

/* The directive, beside the core's; also in <VirtualHost>. */
extern const struct config_module headers_module;

enum header_action { HDR_SET, HDR_APPEND, HDR_ADD, HDR_UNSET, HDR_SETIFEMPTY, HDR_MERGE };

/* One RequestHeader line. */
struct header_op {
    enum header_action action;
    const char *name;
    const char *value; /* NULL for unset */
    int early;
    struct header_op *next;
};

/*
 * Applies the lines of `ops` whose `early` equals early, in order, to the n headers at *hs (names compared
 * without case). The array is replaced by one from p when it must grow or shrink; the strings it points at
 * are left as they are. Returns 0, or -1 when out of memory.
 */
int headers_apply(struct pool *p, const struct header_op *ops, int early, struct http_header **hs, int *n);

#endif
