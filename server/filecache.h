/*
 * A per-process cache of small files' contents, so that a small static file is answered with one stat() and
 * one write instead of open(), fstat(), a write of the head, sendfile() and close().
 *
 * The one thing to know: an entry is only ever served to a request whose stat() of the same path under the
 * same DocumentRoot descriptor shows the same file (device, inode) unchanged (size, mtime and ctime to the
 * nanosecond). Content is cached only from a descriptor the static handler opened beneath the DocumentRoot,
 * and only for files whose last change is at least FILECACHE_SETTLE_S old, so that two changes within one
 * tick of the filesystem's clock cannot leave a stale entry behind (Apache makes its ETag weak for the same
 * reason). Any change to the file, its mode or its owner changes its ctime and so misses.
 *
 * One table per process, under a mutex (worker's threads share it); a lookup copies the content into the
 * request's pool, so nothing refers to an entry after the lock is released.
 */
#ifndef HTTPD_FILECACHE_H
#define HTTPD_FILECACHE_H

#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

struct pool;

#define FILECACHE_SETTLE_S 2 /* a file changed within the last 2 s is served but not cached */

/*
 * The cached content of `rel` under the directory root_fd, if the file there is the one cached and
 * unchanged: a copy in pool p in *data, the file's stat in *st, and 1. 0 when not cached (or out of memory),
 * -1 when stat() itself failed (errno set: the caller's open() would fail the same way).
 */
int filecache_get(int root_fd, const char *rel, struct pool *p, const void **data, struct stat *st);

/*
 * Offers the file open on fd (regular, beneath root_fd at `rel`, `st` its fstat) to the cache. When it is at
 * most max_file bytes (FileCacheMaxFile; 0 disables the cache), the cache can hold it within `total` bytes
 * (FileCacheSize, evicting the least recently used) and it has settled, reads it (one pread) and keeps it,
 * and returns a copy in pool p in *data and 1; the caller then serves from memory. 0 otherwise (serve from fd
 * as usual).
 */
int filecache_put(int root_fd, const char *rel, int fd, const struct stat *st, time_t now, size_t max_file,
                  size_t total, struct pool *p, const void **data);

/* The bytes of content held (tests, server-status). */
size_t filecache_bytes(void);

/* Drops every entry (tests). */
void filecache_clear(void);

#endif
