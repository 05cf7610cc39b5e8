/* The handler registry: SetHandler names, and the handler that serves a path. */

#include <strings.h>

#include "handlers.h"
#include "proxy.h"
#include "proxy_map.h"
#include "server.h"
#include "static.h"
#include "status.h"
#include "workload.h"

/* The proxy is not among them: ProxyPass, not SetHandler, chooses it (handler_for()). */
const struct handler *const handler_registry[] = {
    &static_handler, &delay_handler, &cpu_handler, &status_handler, NULL,
};

const struct handler *handler_find(const char *name)
{
    for (int i = 0; handler_registry[i] != NULL; i++)
        if (strcasecmp(handler_registry[i]->name, name) == 0)
            return handler_registry[i];
    return NULL;
}

static int has_handler(const struct location *l)
{
    return l->handler != NULL;
}

const struct handler *handler_for(const struct vhost *v, const char *path)
{
    /* ProxyPass decides before <Location>'s SetHandler, as Apache's translate_name does */
    if (v->proxy != NULL && proxy_match(v->proxy, path) != NULL)
        return &proxy_handler;
    const struct location *l = location_for(v, path, has_handler);
    return l != NULL ? l->handler : handler_registry[0];
}
