/* The handler registry and <Location> routing: the longest matching prefix wins, else static files. */

#include <string.h>
#include <strings.h>

#include "handler.h"
#include "server.h"
#include "status.h"
#include "workload.h"

const struct handler *const handler_registry[] = {
    &static_handler,
    &delay_handler,
    &cpu_handler,
    &status_handler,
    NULL,
};

const struct handler *handler_find(const char *name)
{
    for (int i = 0; handler_registry[i] != NULL; i++)
        if (strcasecmp(handler_registry[i]->name, name) == 0)
            return handler_registry[i];
    return NULL;
}

/* A location matches at a segment boundary: /status matches /status and /status/x, not /statusx. */
static int location_matches(const struct location *l, const char *path)
{
    if (strncmp(path, l->path, l->len) != 0)
        return 0;
    return l->len == 0 || l->path[l->len - 1] == '/' || path[l->len] == '\0' || path[l->len] == '/';
}

const struct location *location_for(const struct server *s, const char *path,
                                    int (*has)(const struct location *l))
{
    const struct location *best = NULL;
    /* the list is in reverse file order, so among sections of the same path the last one written wins */
    for (const struct location *l = s->locations; l != NULL; l = l->next)
        if (has(l) && location_matches(l, path) && (best == NULL || l->len > best->len))
            best = l;
    return best;
}

static int has_handler(const struct location *l)
{
    return l->handler != NULL;
}

const struct handler *handler_for(const struct server *s, const char *path)
{
    const struct location *l = location_for(s, path, has_handler);
    return l != NULL ? l->handler : &static_handler;
}
