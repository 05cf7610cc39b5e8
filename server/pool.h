/*
 * Arena allocator: a chain of blocks from which allocations are carved; everything is released at once by
 * pool_reset() (between keep-alive requests) or pool_destroy(). Nothing is freed one by one.
 */
#ifndef HTTPD_POOL_H
#define HTTPD_POOL_H

#include <stddef.h>
#include <string.h>

struct pool;

/* malloc(size), taken from the memory of that size this thread gave back (pool_mem_put()) if any. */
void *pool_mem_get(size_t size);

/* Gives back what pool_mem_get(size) returned: kept for the thread's next pool_mem_get() of that size (up to
 * 16 of each of a few sizes up to 32 KiB; freed when the thread ends), else freed. NULL is allowed. */
void pool_mem_put(void *p, size_t size);

/* Frees what the calling thread keeps (for leak checks, and a process that ends). */
void pool_mem_release(void);

/* Creates a pool whose first block holds about `size` bytes; NULL when out of memory. */
struct pool *pool_create(size_t size);

/* Frees every block of the pool and the pool itself. NULL is allowed. */
void pool_destroy(struct pool *p);

/* Makes pool_destroy() (or the next pool_reset()) call fn(arg), for what the pool holds outside itself (a
 * library's objects), the last registered first. Returns 0, or -1 when out of memory. */
int pool_cleanup_add(struct pool *p, void (*fn)(void *arg), void *arg);

/* Forgets every allocation, keeping the first block for reuse. */
void pool_reset(struct pool *p);

/* Returns `n` bytes aligned for any type, or NULL when out of memory. */
void *pool_alloc(struct pool *p, size_t n);

/* pool_alloc() for a buffer of a size that every request takes (the proxy's): the memory of that size this
 * thread gave back (pool_mem_get()), and given back to it by pool_reset() and pool_destroy(). */
void *pool_alloc_reused(struct pool *p, size_t n);

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

/*
 * A growable byte string in a pool: appends double its space (the old space stays in the pool until it is
 * reset), and the text is always NUL-terminated. Out of memory sets `failed`; every later append is dropped,
 * so a caller builds the whole text and checks once. Zero-initialised with its pool it is an empty string:
 * `struct pbuf b = {.pool = p};`.
 */
struct pbuf {
    struct pool *pool;
    char *p; /* NULL until the first append */
    size_t len, cap;
    int failed;
};

/* Makes room for `n` more bytes (and the NUL). Returns 0, or -1 (and sets failed) when out of memory. */
int pbuf_reserve(struct pbuf *b, size_t n);

/* Appends `n` bytes of `s`. Returns 0 or -1. */
int pbuf_append(struct pbuf *b, const void *s, size_t n);

/* pbuf_append() inline while the space reserved holds: for texts built of many short pieces (a response
 * head), where a call for each cost more than the copying. */
static inline void pbuf_put(struct pbuf *b, const void *s, size_t n)
{
    if (b->p != NULL && b->len + n < b->cap) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
    } else {
        pbuf_append(b, s, n);
    }
}

/*
 * A piece of a text a parser hands over in pieces (llhttp's spans): while the text is not gathered in b and
 * each piece follows on from the one before in the caller's buffer, the text is only noted where it lies
 * (*span, *len); else it is gathered in b. Whoever reuses the buffer copies what it still holds of *span
 * first. Returns 0 or -1 (out of memory).
 */
int pbuf_take(struct pbuf *b, const char **span, size_t *len, const char *at, size_t n);

/* Gathers the text noted at *span (pbuf_take()), if any, in b and forgets where it lay: 0, or -1. */
static inline int pbuf_take_span(struct pbuf *b, const char **span, size_t *len)
{
    if (*span != NULL && pbuf_append(b, *span, *len) < 0)
        return -1;
    *span = NULL;
    *len = 0;
    return 0;
}

/*
 * The complete strings a parser found in a buffer that the caller is about to read into again, moved into
 * the pool: each noted (span_move_note()), then copied (span_move_copy()), then found at its new place, where
 * it ends with a NUL (span_moved(), for one that span_in() the buffer). A short set is copied in one piece
 * from the first to the end of the last: the byte after each in the buffer, a delimiter of the syntax, takes
 * its NUL. A long one is copied string by string into pbufs, whose sizes are powers of two: one copy of it
 * all would be an allocation of its own length at every such request, and a long-lived threaded child's heap
 * grows by the sizes it sees. A text still in progress (pbuf_take()) is gathered in its pbuf instead
 * (span_move_pbuf()).
 */
struct span_move {
    struct pool *pool;
    const char *buf, *end; /* the buffer */
    const char *lo, *hi;   /* the strings noted in it cover [lo, hi) */
    char *copy;            /* [lo, hi) in the pool; NULL: string by string */
};

static inline void span_move_begin(struct span_move *m, struct pool *pool, const char *buf, size_t n)
{
    m->pool = pool;
    m->buf = buf;
    m->end = buf + n;
    m->lo = m->end;
    m->hi = buf;
    m->copy = NULL;
}

/* Whether p points into the buffer. */
static inline int span_in(const struct span_move *m, const char *p)
{
    return p != NULL && p >= m->buf && p < m->end;
}

static inline void span_move_note(struct span_move *m, const char *p, size_t len)
{
    if (span_in(m, p)) {
        m->lo = p < m->lo ? p : m->lo;
        m->hi = p + len > m->hi ? p + len : m->hi;
    }
}

/* Strings that cover less than this are copied in one piece. */
#define SPAN_ONE_COPY 1024

/* Copies what the noted strings cover, when it is short. Returns 0 or -1. */
static inline int span_move_copy(struct span_move *m)
{
    m->copy = NULL;
    if (m->lo >= m->hi || (size_t)(m->hi - m->lo) >= SPAN_ONE_COPY)
        return 0;
    m->copy = pool_alloc(m->pool, (size_t)(m->hi - m->lo) + 1);
    if (m->copy == NULL)
        return -1;
    memcpy(m->copy, m->lo, (size_t)(m->hi - m->lo));
    return 0;
}

/* A string of the pool in a pbuf's allocation: a copy of the len bytes at p. NULL when out of memory. */
char *span_gather(struct pool *pool, const char *p, size_t len);

/* The len bytes at p (in the buffer) where they are now, as a string; NULL when out of memory. */
static inline char *span_moved(const struct span_move *m, const char *p, size_t len)
{
    if (m->copy == NULL)
        return span_gather(m->pool, p, len);
    char *s = m->copy + (p - m->lo);
    s[len] = '\0';
    return s;
}

/* A text in progress at *span (pbuf_take()), when it is in the buffer, gathered in b (in sizes its appends
 * double): 0, or -1. */
static inline int span_move_pbuf(const struct span_move *m, struct pbuf *b, const char **span, size_t *len)
{
    return span_in(m, *span) ? pbuf_take_span(b, span, len) : 0;
}

/* Appends a NUL-terminated string. Returns 0 or -1. */
int pbuf_puts(struct pbuf *b, const char *s);

/* Appends printf output. Returns 0 or -1. */
int pbuf_printf(struct pbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Forgets the text (its space stays in the pool); the next append starts a new one. */
static inline void pbuf_clear(struct pbuf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

#endif
