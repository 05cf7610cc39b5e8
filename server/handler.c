/* <Location> lookup: the longest section that covers a path and sets what is asked for. */

#include <string.h>

#include "handler.h"
#include "server.h"

/* A location matches at a segment boundary: /status matches /status and /status/x, not /statusx. */
static int location_matches(const struct location *l, const char *path)
{
    if (strncmp(path, l->path, l->len) != 0)
        return 0;
    return l->len == 0 || l->path[l->len - 1] == '/' || path[l->len] == '\0' || path[l->len] == '/';
}

const struct location *location_for(const struct vhost *v, const char *path,
                                    int (*has)(const struct location *l))
{
    const struct location *best = NULL;
    /* the list is the vhost's sections then the main server's, each in reverse file order, so among sections
     * of the same path the vhost's and then the last one written wins */
    for (const struct location *l = v->locations; l != NULL; l = l->next)
        if (has(l) && location_matches(l, path) && (best == NULL || l->len > best->len))
            best = l;
    return best;
}
