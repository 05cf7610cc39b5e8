/*
 * Handlers produce responses: the interface every handler fills in, and the <Location> lookup. A <Location
 * PATH> section with SetHandler NAME routes a path prefix to one; everything else goes to the static-file
 * handler (handlers.h holds the registry and that choice). A handler is called once the whole request (body
 * included) has been read; it fills the response through http.h and returns DONE, or WAIT to be resumed at a
 * deadline without holding a thread under the event MPM.
 */
#ifndef HTTPD_HANDLER_H
#define HTTPD_HANDLER_H

#include "http.h"

struct vhost;

enum handler_result { HANDLER_DONE, HANDLER_WAIT };

struct handler {
    const char *name;                                 /* the SetHandler name */
    unsigned methods;                                 /* HTTP_M() bits it serves; the core answers the rest
                                                         405 with Allow, and OPTIONS itself */
    enum handler_result (*handle)(struct request *r); /* when the request has been read */
    enum handler_result (*resume)(struct request *r); /* when r->wait_until has passed; NULL if never waits */
};

struct location;

/*
 * The longest <Location> of the server v (a vhost's own, then the main server's) that covers `path` (at a
 * segment boundary) among those for which has() is true; among sections of the same path, the vhost's, and
 * within one server the last one in the file. NULL if none. A section decides only what it sets: SetHandler
 * (handler_for) or Require (authz_for), as Apache merges its sections.
 */
const struct location *location_for(const struct vhost *v, const char *path,
                                    int (*has)(const struct location *l));

#endif
