/*
 * RequestHeader and Header, as Apache's mod_headers: request headers set, appended, added, merged or removed
 * before the handler sees them, so that an application behind the proxy learns what only the front knows
 * (`RequestHeader set X-Forwarded-Proto "https"` in an https <VirtualHost>) and headers it must not trust are
 * dropped (`RequestHeader unset Proxy early`); response headers the same way as the response leaves
 * (`Header always set Strict-Transport-Security "max-age=31536000"`).
 *
 * Lines of the main server apply to every request, a <VirtualHost>'s after them to its own (Apache's merge).
 * A RequestHeader marked `early` applies as soon as the request's head is read (its vhost known), before
 * access control and the choice of handler; the others just before the handler runs. A Header line applies to
 * every response but the server's own error pages, or with `always` to those too. Values are literal text,
 * with `%%` for a `%`; Apache's format specifiers (%{VAR}e, %t, %D ...), `edit`, `echo`, `note`, `env=` and
 * `expr=` conditions are configuration errors, and so is a Header line for a header the server frames the
 * response with (Content-Length, Transfer-Encoding, Connection) or keeps apart (Content-Type).
 */
#ifndef HTTPD_HEADERS_H
#define HTTPD_HEADERS_H

#include "config.h"
#include "http.h"

/* The directives, beside the core's; also in <VirtualHost>. */
extern const struct config_module headers_module;

enum header_action { HDR_SET, HDR_APPEND, HDR_ADD, HDR_UNSET, HDR_SETIFEMPTY, HDR_MERGE };

/* When a line applies (a bit each): a RequestHeader early or not, a Header on success or always. */
enum header_when { HDR_EARLY = 1, HDR_LATE = 2, HDR_ONSUCCESS = 4, HDR_ALWAYS = 8 };

/* One RequestHeader or Header line. */
struct header_op {
    enum header_action action;
    const char *name;
    const char *value; /* NULL for unset */
    enum header_when when;
    struct header_op *next;
};

/*
 * Applies the lines of `ops` whose `when` is in the mask `when`, in order, to the n headers at *hs (names
 * compared without case). The array is replaced by one from p when a line applies; the strings it points at
 * are left as they are. Returns 0, or -1 when out of memory.
 */
int headers_apply(struct pool *p, const struct header_op *ops, unsigned when, struct http_header **hs,
                  int *n);

#endif
