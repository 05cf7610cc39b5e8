/*
 * The handlers compiled in, by the names SetHandler uses, and which one serves a path. This registry sits
 * above every handler (it names them all), so that the handlers themselves need only handler.h.
 */
#ifndef HTTPD_HANDLERS_H
#define HTTPD_HANDLERS_H

#include "handler.h"

struct server;

/* Every registered handler, NULL-terminated; the first, the static-file handler, serves what no SetHandler
 * claims. */
extern const struct handler *const handler_registry[];

/* The handler registered under `name` (case-insensitive), or NULL. */
const struct handler *handler_find(const char *name);

/* The handler that serves `path`: the proxy when a ProxyPass maps it, else that of the longest matching
 * <Location> with a SetHandler, else the static-file handler. */
const struct handler *handler_for(const struct server *s, const char *path);

#endif
