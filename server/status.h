/*
 * /server-status, enabled with `<Location /server-status> SetHandler server-status </Location>`: the shared
 * scoreboard rendered as Apache's mod_status does. Three formats: an HTML page (the default), `?auto` with
 * Apache's machine-readable keys and value formats (so existing exporters and monitoring agents read it), and
 * `?json` with the same figures plus a row per child process; and `?view=live`, a page that polls ?json every
 * second and charts it over the last minutes. `?refresh=N` adds a Refresh header. The
 * handler renders the scoreboard of its process (scoreboard_current()), which supervision describes.
 */
#ifndef HTTPD_STATUS_H
#define HTTPD_STATUS_H

#include <sys/types.h>
#include <time.h>

#include "handler.h"
#include "status_snap.h"

struct request;
struct scoreboard;

enum status_format { STATUS_HTML, STATUS_AUTO, STATUS_JSON, STATUS_LIVE };

/* The format a query string asks for: a `json` or `auto` parameter (json wins), else `view=live` (the live
 * page, which polls ?json), else HTML. */
enum status_format status_format_of(const char *query);

/*
 * Renders sb as `fmt` into r's response: status 200, Content-Type and body (allocated in r->pool). The MPM
 * and the limits it uses come from sb's header (scoreboard_get_info()), the name on the page from r->host or
 * ServerName. Returns 0, or -1 when out of memory (nothing useful was set; the caller answers 500).
 */
int status_render(struct request *r, struct scoreboard *sb, enum status_format fmt,
                  const struct status_sys *sys);

/* The handler registered as "server-status" (GET and HEAD). */
extern const struct handler status_handler;

#endif
