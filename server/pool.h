/*
 * Arena allocator: a chain of blocks from which allocations are carved; everything is released at once by
 * pool_reset() (between keep-alive requests) or pool_destroy(). Nothing is freed one by one.
 */
#ifndef HTTPD_POOL_H
#define HTTPD_POOL_H

#include <stddef.h>

struct pool;

/* Creates a pool whose first block holds about `size` bytes; NULL when out of memory. */
struct pool *pool_create(size_t size);

/* Frees every block of the pool and the pool itself. NULL is allowed. */
void pool_destroy(struct pool *p);

/* Forgets every allocation, keeping the first block for reuse. */
void pool_reset(struct pool *p);

/* Returns `n` bytes aligned for any type, or NULL when out of memory. */
void *pool_alloc(struct pool *p, size_t n);

/* Zeroed pool_alloc(). */
void *pool_calloc(struct pool *p, size_t n);

/* Copies `n` bytes of `s` and a terminating NUL. */
char *pool_strndup(struct pool *p, const char *s, size_t n);

/* Copies a NUL-terminated string. */
char *pool_strdup(struct pool *p, const char *s);

/* printf into the pool. */
char *pool_printf(struct pool *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes currently allocated from the system by this pool (for tests and memory accounting). */
size_t pool_footprint(const struct pool *p);

#endif
