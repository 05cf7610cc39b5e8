/*
 * The reverse proxy's configuration (Apache's mod_proxy directives): which URL prefixes go to which upstream
 * (ProxyPass, at the top level or inside <Location>, `!` exclusions, the longest prefix winning), the worker
 * parameters of each upstream, ProxyPassReverse, and the server-wide switches, read into the structs of
 * server/proxy_map.h: the main server's (s->proxy) and each <VirtualHost>'s own.
 */
#ifndef HTTPD_PROXY_CONF_H
#define HTTPD_PROXY_CONF_H

#include <stddef.h>
#include <sys/socket.h>

#include "config.h"
#include "proxy_map.h"
#include "server.h"

/* The directives, applied beside the core's; ProxyPass and ProxyPassReverse also inside <Location>. */
extern const struct config_module proxy_module;

/*
 * Parses "http://host[:port][/path]" into w (host, port, path, hostport; the address resolved). Returns NULL,
 * or a message for the configuration error.
 */
const char *proxy_parse_url(struct pool *p, const char *url, struct proxy_worker *w);

#endif
