/*
 * Handlers produce responses: the interface every handler fills in, and the <Location> lookup. A <Location
 * PATH> section with SetHandler NAME routes a path prefix to one; everything else goes to the static-file
 * handler (handlers.h holds the registry and that choice). A handler is called once the whole request (body
 * included) has been read, or after the head for a handler with stream_body; it fills the response through
 * http.h and returns DONE, or WAIT to be resumed at a deadline or when its own socket is ready, without
 * holding a thread under the event MPM. A streamed response (http_resp_stream()) goes piece by piece, each
 * asked for only once the client has taken the one before.
 */
#ifndef HTTPD_HANDLER_H
#define HTTPD_HANDLER_H

#include "http.h"

struct server;

enum handler_result {
    HANDLER_DONE, /* the response is complete (a streamed one: its last piece is given) */
    HANDLER_WAIT, /* call resume() when r->wait_for happens or r->wait_until passes (a streamed response:
                     once the client has taken the piece given) */
    HANDLER_ABORT /* a streamed body cannot be completed: close the connection after the piece given */
};

struct handler {
    const char *name;                                 /* the SetHandler name */
    unsigned methods;                                 /* HTTP_M() bits it serves; the core answers the rest
                                                         405 with Allow, and OPTIONS itself */
    enum handler_result (*handle)(struct request *r); /* when the request has been read (with stream_body:
                                                         its head) */
    enum handler_result (*resume)(struct request *r); /* when what it waits for happened, or r->wait_until
                                                         passed (r->wait_timed_out); NULL if never waits */
    void (*cleanup)(struct request *r);               /* once, when a request it handled ends, however it
                                                         ends (closed, timed out); NULL: nothing to release */
    unsigned stream_body; /* handle() is called after the head; the body is read with http_req_body() */
    unsigned options;     /* OPTIONS goes to handle() (the proxy forwards it); else the core answers it */
};

struct location;

/*
 * The longest <Location> of s that covers `path` (at a segment boundary) among those for which has() is
 * true; among sections of the same path, the last one in the file. NULL if none. A section decides only what
 * it sets: SetHandler (handler_for) or Require (authz_for), as Apache merges its sections.
 */
const struct location *location_for(const struct server *s, const char *path,
                                    int (*has)(const struct location *l));

#endif
