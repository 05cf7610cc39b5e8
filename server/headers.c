/*
 * RequestHeader and Header (headers.h): the directives and the edits of a request's or a response's headers.
 */
#include <string.h>
#include <strings.h>

#include "headers.h"
#include "pool.h"
#include "server.h"
#include "util.h"

/* ---- applying ---- */

/* The index of the first header named name among the n at hs, or -1. */
static int find(const struct http_header *hs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcasecmp(hs[i].name, name) == 0)
            return i;
    return -1;
}

/* Removes every header named name from the n at hs (in place). */
static void remove_all(struct http_header *hs, int *n, const char *name)
{
    int k = 0;
    for (int i = 0; i < *n; i++)
        if (strcasecmp(hs[i].name, name) != 0)
            hs[k++] = hs[i];
    *n = k;
}

int headers_apply(struct pool *p, const struct header_op *ops, unsigned when, struct http_header **hs, int *n)
{
    struct http_header *own = NULL; /* *hs once it is a copy of ours */
    int room = 0;                   /* its size: a line adds one header at most */
    for (const struct header_op *op = ops; op != NULL; op = op->next) {
        if (!(op->when & when))
            continue;
        if (own == NULL || *n == room) {
            room = *n + 8;
            struct http_header *copy = pool_alloc(p, sizeof(*copy) * (size_t)room);
            if (copy == NULL)
                return -1;
            if (*n > 0)
                memcpy(copy, *hs, sizeof(*copy) * (size_t)*n);
            *hs = own = copy;
        }
        int at = find(own, *n, op->name);
        switch (op->action) {
        case HDR_UNSET:
            remove_all(own, n, op->name);
            continue;
        case HDR_SETIFEMPTY:
            if (at >= 0)
                continue;
            break;
        case HDR_SET:
            remove_all(own, n, op->name);
            break;
        case HDR_APPEND:
        case HDR_MERGE:
            if (at < 0)
                break;
            if (op->action == HDR_MERGE && util_list_has(own[at].value, op->value, 0))
                continue;
            if (own[at].value[0] == '\0') {
                own[at].value = op->value;
            } else if ((own[at].value = pool_printf(p, "%s, %s", own[at].value, op->value)) == NULL) {
                return -1;
            }
            continue;
        case HDR_ADD:
            break;
        }
        own[*n].name = op->name;
        own[*n].value = op->value;
        (*n)++;
    }
    return 0;
}

/* ---- configuration ---- */

static int token_char(unsigned char c)
{
    return c > 32 && c < 127 && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL;
}

/* The value of a line as the header gets it: `%%` is a '%'; any other '%' would be one of Apache's format
 * specifiers, which are not supported. NULL with *err set when refused. */
static const char *literal(struct pool *p, const char *v, const char **err)
{
    char *out = pool_alloc(p, strlen(v) + 1), *o = out;
    if (out == NULL) {
        *err = "out of memory";
        return NULL;
    }
    for (; *v != '\0'; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '%' && v[1] == '%') {
            v++;
        } else if (c == '%') {
            *err =
                pool_printf(p,
                            "'%s': format specifiers (%%{VAR}e, %%t, %%D ...) are not supported; write %%%% "
                            "for a %%",
                            v);
            return NULL;
        } else if ((c < 32 && c != '\t') || c == 127) {
            *err = "the value has a control character";
            return NULL;
        }
        *o++ = (char)c;
    }
    *o = '\0';
    return out;
}

/* The headers a Header line may not name: the core frames the response with them or keeps them apart. */
static const char *const core_owned[] = {"Content-Length", "Transfer-Encoding", "Connection", "Content-Type"};

/* One line of either directive: [always|onsuccess] (Header) action name [value] [early] (RequestHeader). */
static const char *set_header(struct server *s, const struct directive *d, int argc, char **argv)
{
    static const char *const actions[] = {
        [HDR_SET] = "set",     [HDR_APPEND] = "append",         [HDR_ADD] = "add",
        [HDR_UNSET] = "unset", [HDR_SETIFEMPTY] = "setifempty", [HDR_MERGE] = "merge"};
    int response = d->offset != 0;
    struct header_op *op = pool_calloc(s->pool, sizeof(*op));
    if (op == NULL)
        return "out of memory";
    op->when = response ? HDR_ONSUCCESS : HDR_LATE;
    if (response && argc > 0 && strcasecmp(argv[0], "always") == 0)
        op->when = HDR_ALWAYS, argc--, argv++;
    else if (response && argc > 0 && strcasecmp(argv[0], "onsuccess") == 0)
        argc--, argv++;
    if (argc < 2)
        return "takes an action (set, append, add, unset, setifempty, merge), a header name and, but for "
               "unset, a value";
    int action = -1;
    for (int i = 0; i < (int)(sizeof(actions) / sizeof(actions[0])); i++)
        if (strcasecmp(argv[0], actions[i]) == 0)
            action = i;
    if (action < 0)
        return pool_printf(
            s->pool, "'%s': %s", argv[0],
            strncasecmp(argv[0], "edit", 4) == 0 || strcasecmp(argv[0], "note") == 0 ||
                    strcasecmp(argv[0], "echo") == 0
                ? "not supported (edit, edit*, echo and note need regular expressions or notes)"
                : "the action must be set, append, add, unset, setifempty or merge");
    op->action = (enum header_action)action;
    for (const char *c = argv[1]; *c != '\0'; c++)
        if (!token_char((unsigned char)*c))
            return pool_printf(s->pool, "'%s': not a header name", argv[1]);
    for (size_t i = 0; response && i < sizeof(core_owned) / sizeof(core_owned[0]); i++)
        if (strcasecmp(argv[1], core_owned[i]) == 0)
            return pool_printf(s->pool, "'%s': the server's own header, not to be edited", argv[1]);
    op->name = pool_strdup(s->pool, argv[1]);
    int i = 2;
    if (op->action != HDR_UNSET) {
        if (argc < 3)
            return pool_printf(s->pool, "%s takes a value", actions[action]);
        const char *msg = NULL;
        if ((op->value = literal(s->pool, argv[2], &msg)) == NULL)
            return msg;
        i = 3;
    }
    for (; i < argc; i++) {
        if (!response && strcasecmp(argv[i], "early") == 0)
            op->when = HDR_EARLY;
        else if (strncasecmp(argv[i], "env=", 4) == 0 || strncasecmp(argv[i], "expr=", 5) == 0)
            return pool_printf(s->pool, "'%s': conditions are not supported", argv[i]);
        else
            return pool_printf(s->pool,
                               response ? "'%s': nothing is understood after the value"
                                        : "'%s': after the value only 'early' is understood",
                               argv[i]);
    }
    struct header_op **t = response ? &config_vhost(s)->response_headers : &config_vhost(s)->request_headers;
    while (*t != NULL)
        t = &(*t)->next;
    *t = op;
    return NULL;
}

/* Copies of base, then own: a vhost's list after the main server's. -1 when out of memory. */
static int merge(struct pool *p, struct header_op **list, const struct header_op *base)
{
    struct header_op *own = *list, **t = list;
    for (; base != NULL; base = base->next, t = &(*t)->next) {
        if ((*t = pool_alloc(p, sizeof(**t))) == NULL)
            return -1;
        **t = *base;
    }
    *t = own;
    return 0;
}

/* A <VirtualHost>'s lines follow copies of the main server's, as Apache merges them. */
static int check_config(struct server *s, struct warnings *w, struct errbuf *err)
{
    (void)w;
    for (struct vhost *v = s->vhosts; v != NULL; v = v->next)
        if (merge(s->pool, &v->request_headers, s->main.request_headers) < 0 ||
            merge(s->pool, &v->response_headers, s->main.response_headers) < 0)
            return errbuf_set(err, "out of memory");
    return 0;
}

static const struct directive headers_directives[] = {
    {"RequestHeader", set_header, 0, "sets, appends, adds, merges or removes a request header"},
    {"Header", set_header, 1, "the same for a response header ([always] action name [value])"},
    {NULL, NULL, 0, NULL},
};

const struct config_module headers_module = {
    .name = "headers_module",
    .vhost_directives = headers_directives,
    .check_config = check_config,
};
