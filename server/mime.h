/* MIME types from a mime.types file (TypesConfig): "type ext ext ..." lines, looked up by file extension. */
#ifndef HTTPD_MIME_H
#define HTTPD_MIME_H

#include "util.h"

struct pool;
struct mime_table;

/* Loads `path` into a table allocated in p. NULL with err set if the file cannot be read. */
struct mime_table *mime_load(struct pool *p, const char *path, struct errbuf *err);

/* The type for `filename`'s extension (case-insensitive), or NULL when unknown (no Content-Type is sent). */
const char *mime_type(const struct mime_table *t, const char *filename);

#endif
