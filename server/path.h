/*
 * Request paths: percent-decoding and dot-segment removal (RFC 3986 5.2.4), and opening a file strictly
 * beneath the DocumentRoot (openat2 RESOLVE_BENEATH, so neither ".." nor a symlink leads out).
 */
#ifndef HTTPD_PATH_H
#define HTTPD_PATH_H

#include <stddef.h>

struct pool;

/* AllowEncodedSlashes, Apache's: what an encoded slash (%2F) in a path is. */
enum path_slashes {
    PATH_SLASHES_OFF,     /* the request is refused with 404 (Apache's default) */
    PATH_SLASHES_ON,      /* a '/' like any other: it separates segments ("a%2F..%2Fb" is "b") */
    PATH_SLASHES_NODECODE /* kept as the three characters "%2F" in a segment, as written */
};

/*
 * Turns the path part of a request target into a clean absolute path in *out: %XX decoded, "." and ".."
 * segments resolved, repeated slashes merged, an encoded slash as `slashes` says. Returns 0, or the HTTP
 * status to answer: 400 for a malformed escape, a NUL byte, a path not starting with '/', or ".." above the
 * root; 404 for an encoded slash with PATH_SLASHES_OFF.
 */
int path_normalize(struct pool *p, const char *raw, size_t len, enum path_slashes slashes, char **out);

/* Opens `rel` (no leading '/') beneath the directory root_fd, refusing any escape. Returns fd or -1 (errno).
 */
int path_open_beneath(int root_fd, const char *rel, int flags);

#endif
