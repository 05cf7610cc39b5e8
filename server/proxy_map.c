/*
 * Which ProxyPass covers a path, which <Proxy> section an upstream URL (proxy_map.h).
 */
#include <fnmatch.h>
#include <string.h>

#include "proxy_map.h"

const struct proxy_pass *proxy_match(const struct proxy_conf *pc, const char *path)
{
    const struct proxy_pass *best = NULL;
    if (pc == NULL)
        return NULL;
    /* among equal prefixes the first line wins, as in Apache, where the first matching ProxyPass applies */
    for (const struct proxy_pass *pp = pc->passes; pp != NULL; pp = pp->next)
        if (strncmp(path, pp->prefix, pp->len) == 0 && (best == NULL || pp->len > best->len))
            best = pp;
    return best != NULL && (best->worker != NULL || best->balancer != NULL) ? best : NULL;
}

const struct authz *proxy_section_rule(const struct proxy_conf *pc, const char *url)
{
    const struct authz *rule = NULL;
    for (const struct proxy_section *ps = pc->sections; ps != NULL; ps = ps->next)
        if (ps->wildcard ? fnmatch(ps->pattern, url, 0) == 0
                         : strncmp(url, ps->pattern, strlen(ps->pattern)) == 0)
            rule = ps->authz;
    return rule;
}
