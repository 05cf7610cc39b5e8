/*
 * /server-status: the scoreboard as Apache's mod_status renders it. The handler takes a snapshot of the
 * shared scoreboard (status_snap.c: copied, then counted from the copy), and one of three renderers prints it
 * into a single buffer in the request pool: status_html.c (the default page), status_auto.c (Apache's
 * machine-readable ?auto) and status_json.c (?json).
 *
 * status_live.c serves ?view=live, a page that polls ?json and charts it.
 *
 * Everything shown comes from the scoreboard: the rows and slots, and its header, in which supervision
 * describes the running model. Status knows nothing of supervision or of the MPMs, and finds the board as
 * the one this process mapped (scoreboard_current()).
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "handler.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "scoreboard.h"
#include "server.h"
#include "status.h"
#include "status_snap.h"
#include "util.h"

#define REFRESH_DEF   10 /* ?refresh without a valid number, as Apache */
#define REFRESH_MAX   86400
#define CONTENT_HTML  "text/html; charset=ISO-8859-1"
#define CONTENT_AUTO  "text/plain; charset=ISO-8859-1"
#define CONTENT_JSON  "application/json"
#define CONTENT_LIVE  "text/html; charset=utf-8"
#define INITIAL_SPACE 4096

/* ---- the handler ---- */

/* Whether the &-separated query holds parameter `name` (bare or with a value); *value gets what follows '='.
 */
static int query_has(const char *query, const char *name, const char **value, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (const char *p = query; p != NULL && *p != '\0';) {
        size_t len = strcspn(p, "&;");
        if (len >= nlen && strncmp(p, name, nlen) == 0 && (len == nlen || p[nlen] == '=')) {
            if (value != NULL) {
                *value = len > nlen ? p + nlen + 1 : NULL;
                *vlen = len > nlen ? len - nlen - 1 : 0;
            }
            return 1;
        }
        p = p[len] != '\0' ? p + len + 1 : NULL;
    }
    return 0;
}

enum status_format status_format_of(const char *query)
{
    if (query_has(query, "json", NULL, NULL))
        return STATUS_JSON;
    if (query_has(query, "auto", NULL, NULL))
        return STATUS_AUTO;
    const char *v;
    size_t vlen;
    if (query_has(query, "view", &v, &vlen) && vlen == 4 && strncmp(v, "live", 4) == 0)
        return STATUS_LIVE;
    return STATUS_HTML;
}

int status_render(struct request *r, struct scoreboard *sb, enum status_format fmt,
                  const struct status_sys *sys)
{
    struct status_snap sn;
    struct pbuf b = {.pool = r->pool};

    if (fmt == STATUS_LIVE) {
        /* constant bytes: the page reads everything it shows from ?json */
        status_render_live(&b);
        if (b.failed || http_resp_content_type(r, CONTENT_LIVE) < 0 || http_resp_body_mem(r, b.p, b.len) < 0)
            return -1;
        http_resp_status(r, 200);
        return 0;
    }
    if (status_snap_take(&sn, r, sb, sys) < 0 || pbuf_reserve(&b, INITIAL_SPACE) < 0)
        return -1;
    switch (fmt) {
    case STATUS_LIVE:
        break;
    case STATUS_AUTO:
        status_render_auto(&b, &sn, sys);
        break;
    case STATUS_JSON:
        status_render_json(&b, &sn, sys);
        break;
    case STATUS_HTML:
        status_render_html(&b, &sn, sys);
        break;
    }
    if (b.failed || b.len == 0)
        return -1;

    const char *type = fmt == STATUS_AUTO ? CONTENT_AUTO : fmt == STATUS_JSON ? CONTENT_JSON : CONTENT_HTML;
    if (http_resp_content_type(r, type) < 0 || http_resp_body_mem(r, b.p, b.len) < 0)
        return -1;
    http_resp_status(r, 200);
    return 0;
}

/* ?refresh[=N]: a Refresh header of N seconds (10 when N is missing or not a positive number). */
static int add_refresh(struct request *r)
{
    const char *v;
    size_t vlen;
    if (!query_has(r->query, "refresh", &v, &vlen))
        return 0;
    long long secs = REFRESH_DEF;
    if (v != NULL && vlen > 0 && vlen < 12) {
        char digits[12];
        memcpy(digits, v, vlen);
        digits[vlen] = '\0';
        long long n = parse_uint(digits);
        if (n >= 1)
            secs = n < REFRESH_MAX ? n : REFRESH_MAX;
    }
    char buf[24];
    snprintf(buf, sizeof(buf), "%lld", secs);
    return http_resp_header(r, "Refresh", buf);
}

static enum handler_result status_handle(struct request *r)
{
    struct scoreboard *sb = scoreboard_current();
    if (sb == NULL) {
        log_error(LOG_ERR, "status", "server-status: no scoreboard in this process");
        http_resp_error(r, 500);
        return HANDLER_DONE;
    }
    /* a forked child's parent is the supervising process; with -X this process is row 0 itself */
    pid_t parent = r->server != NULL && r->server->one_process ? 0 : getppid();

    struct status_sys sys;
    status_sys_read(&sys, sb, parent);
    if (add_refresh(r) < 0 || status_render(r, sb, status_format_of(r->query), &sys) < 0) {
        log_error(LOG_ERR, "status", "out of memory rendering server-status");
        http_resp_error(r, 500);
    }
    return HANDLER_DONE;
}

const struct handler status_handler = {
    .name = "server-status",
    .methods = HTTP_M(METHOD_GET) | HTTP_M(METHOD_HEAD),
    .handle = status_handle,
    .resume = NULL,
};
