/*
 * Arena allocator. Blocks are chained; allocation bumps a pointer in the current block and a request larger
 * than a block gets a block of its own. pool_reset() keeps only the first block, so a keep-alive connection
 * that serves many requests reuses the same memory without a malloc per request.
 *
 * Pools, blocks and buffers that every request takes and gives back (a request's pool, the connection's read
 * buffer, the proxy's buffer: 4-16 KiB, past glibc's per-thread cache) come from pool_mem_get(), which keeps
 * freed ones of each size per thread: a malloc() and free() of that size cost ~400 instructions. A large
 * request's own block, of its exact size, is malloc()'s: it would take one of those few sizes for good; a
 * buffer of a size every request takes is asked for by name (pool_alloc_reused()).
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define POOL_ALIGN 16

struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    int reused; /* from pool_mem_get(), so given back to it */
    max_align_t data[];
};

struct cleanup {
    void (*fn)(void *arg);
    void *arg;
    struct cleanup *next;
};

struct pool {
    struct block *first;      /* kept across pool_reset() */
    struct cleanup *cleanups; /* run by pool_destroy(), the last registered first */
    struct block *current;
    size_t block_size;
    size_t footprint;
};

/* ---- freed memory kept per thread for the next allocation of its size ---- */

#define SPARE_SIZES 6     /* sizes kept */
#define SPARE_EACH  16    /* allocations kept of each: an event loop has many requests under way at once */
#define SPARE_LIMIT 32768 /* larger ones are freed */

struct spares {
    struct {
        size_t size; /* 0: unused */
        int n;
        void *p[SPARE_EACH];
    } of[SPARE_SIZES];
    int keyed; /* the thread's destructor frees them */
};

static __thread struct spares spares;
static pthread_key_t spares_key;
static pthread_once_t spares_once = PTHREAD_ONCE_INIT;
static int spares_key_ok;

static void spares_free(void *arg)
{
    struct spares *s = arg;
    for (int i = 0; i < SPARE_SIZES; i++) {
        while (s->of[i].n > 0)
            free(s->of[i].p[--s->of[i].n]);
        s->of[i].size = 0;
    }
}

static void spares_key_init(void)
{
    spares_key_ok = pthread_key_create(&spares_key, spares_free) == 0;
}

void *pool_mem_get(size_t size)
{
    for (int i = 0; i < SPARE_SIZES; i++)
        if (spares.of[i].size == size && spares.of[i].n > 0)
            return spares.of[i].p[--spares.of[i].n];
    return malloc(size);
}

void pool_mem_put(void *p, size_t size)
{
    if (p == NULL)
        return;
    int slot = -1;
    for (int i = 0; i < SPARE_SIZES && size <= SPARE_LIMIT; i++) {
        if (spares.of[i].size == size) {
            slot = i;
            break;
        }
        if (spares.of[i].size == 0 && slot < 0)
            slot = i;
    }
    if (slot < 0 || spares.of[slot].n == SPARE_EACH) {
        free(p);
        return;
    }
    if (!spares.keyed) {
        pthread_once(&spares_once, spares_key_init);
        if (spares_key_ok)
            pthread_setspecific(spares_key, &spares);
        spares.keyed = 1;
    }
    spares.of[slot].size = size;
    spares.of[slot].p[spares.of[slot].n++] = p;
}

void pool_mem_release(void)
{
    spares_free(&spares);
}

/* A block of `size` usable bytes: `reused` (the pool's own block size, or pool_alloc_reused()'s) from (and
 * back to) the per-thread spares, else (a large request's own block of its exact size) from malloc(): the
 * spares keep the first sizes each thread gives back, which should be the few that every request uses. */
static struct block *block_new(size_t size, int reused)
{
    struct block *b = reused ? pool_mem_get(sizeof(*b) + size) : malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    b->reused = reused;
    return b;
}

/* Where the first block starts in the pool's own allocation. */
#define POOL_FIRST_OFF                                                                                       \
    ((sizeof(struct pool) + _Alignof(struct block) - 1) & ~(size_t)(_Alignof(struct block) - 1))

struct pool *pool_create(size_t size)
{
    if (size < 256)
        size = 256;
    /* the pool and its first block in one allocation: one malloc() and one free() a request, not two */
    struct pool *p = pool_mem_get(POOL_FIRST_OFF + sizeof(struct block) + size);
    if (p == NULL)
        return NULL;
    p->first = (struct block *)((char *)p + POOL_FIRST_OFF);
    p->first->next = NULL;
    p->first->size = size;
    p->first->used = 0;
    p->first->reused = 0; /* part of the pool's own allocation */
    p->current = p->first;
    p->cleanups = NULL;
    p->block_size = size;
    p->footprint = sizeof(*p) + sizeof(struct block) + size;
    return p;
}

static void free_chain(struct block *b)
{
    while (b != NULL) {
        struct block *next = b->next;
        if (b->reused)
            pool_mem_put(b, sizeof(*b) + b->size);
        else
            free(b);
        b = next;
    }
}

void pool_destroy(struct pool *p)
{
    if (p == NULL)
        return;
    for (struct cleanup *c = p->cleanups; c != NULL; c = c->next)
        c->fn(c->arg);
    free_chain(p->first->next); /* the first block is part of p */
    pool_mem_put(p, POOL_FIRST_OFF + sizeof(struct block) + p->first->size);
}

int pool_cleanup_add(struct pool *p, void (*fn)(void *arg), void *arg)
{
    struct cleanup *c = pool_alloc(p, sizeof(*c));
    if (c == NULL)
        return -1;
    c->fn = fn;
    c->arg = arg;
    c->next = p->cleanups;
    p->cleanups = c;
    return 0;
}

void pool_reset(struct pool *p)
{
    for (struct cleanup *c = p->cleanups; c != NULL; c = c->next)
        c->fn(c->arg);
    p->cleanups = NULL;
    free_chain(p->first->next);
    p->first->next = NULL;
    p->first->used = 0;
    p->current = p->first;
    p->footprint = sizeof(*p) + sizeof(struct block) + p->first->size;
}

void *pool_alloc(struct pool *p, size_t n)
{
    size_t need = (n + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
    struct block *b = p->current;

    if (need < n)
        return NULL;
    if (b->size - b->used < need) {
        /* a large request gets its own block, so the current one keeps its free space */
        size_t size = need > p->block_size / 2 ? need : p->block_size;
        struct block *nb = block_new(size, size == p->block_size);
        if (nb == NULL)
            return NULL;
        p->footprint += sizeof(*nb) + size;
        if (size == need && need != p->block_size) {
            nb->next = b->next;
            b->next = nb;
            nb->used = need;
            return nb->data;
        }
        nb->next = b->next;
        b->next = nb;
        p->current = nb;
        b = nb;
    }
    void *ptr = (char *)b->data + b->used;
    b->used += need;
    return ptr;
}

void *pool_alloc_reused(struct pool *p, size_t n)
{
    size_t need = (n + POOL_ALIGN - 1) & ~(size_t)(POOL_ALIGN - 1);
    if (need < n)
        return NULL;
    struct block *b = block_new(need, 1);
    if (b == NULL)
        return NULL;
    p->footprint += sizeof(*b) + need;
    b->used = need; /* full: pool_alloc() goes on carving from the current block */
    b->next = p->current->next;
    p->current->next = b;
    return b->data;
}

void *pool_calloc(struct pool *p, size_t n)
{
    void *ptr = pool_alloc(p, n);
    if (ptr != NULL)
        memset(ptr, 0, n);
    return ptr;
}

char *pool_strndup(struct pool *p, const char *s, size_t n)
{
    char *d = pool_alloc(p, n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *pool_strdup(struct pool *p, const char *s)
{
    return pool_strndup(p, s, strlen(s));
}

char *pool_printf(struct pool *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *d = pool_alloc(p, (size_t)n + 1);
    if (d == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

size_t pool_footprint(const struct pool *p)
{
    return p->footprint;
}

/* ---- growable strings ---- */

#define PBUF_MIN 64

int pbuf_reserve(struct pbuf *b, size_t n)
{
    if (b->failed)
        return -1;
    if (b->len + n + 1 <= b->cap && b->p != NULL)
        return 0;
    size_t cap = b->cap > 0 ? b->cap : PBUF_MIN;
    while (cap < b->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *np = pool_alloc(b->pool, cap);
    if (np == NULL) {
        b->failed = 1;
        return -1;
    }
    if (b->len > 0)
        memcpy(np, b->p, b->len);
    np[b->len] = '\0';
    b->p = np;
    b->cap = cap;
    return 0;
}

int pbuf_append(struct pbuf *b, const void *s, size_t n)
{
    if (pbuf_reserve(b, n) < 0)
        return -1;
    if (n > 0)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int pbuf_take(struct pbuf *b, const char **span, size_t *len, const char *at, size_t n)
{
    if (b->len == 0 && (*span == NULL || *span + *len == at)) {
        if (*span == NULL)
            *span = at;
        *len += n;
        return 0;
    }
    if (pbuf_take_span(b, span, len) < 0)
        return -1;
    return pbuf_append(b, at, n);
}

char *span_gather(struct pool *pool, const char *p, size_t len)
{
    struct pbuf b = {.pool = pool};
    return pbuf_append(&b, p, len) < 0 ? NULL : b.p;
}

int pbuf_puts(struct pbuf *b, const char *s)
{
    return pbuf_append(b, s, strlen(s));
}

int pbuf_printf(struct pbuf *b, const char *fmt, ...)
{
    va_list ap;
    /* most lines fit: format straight into the free space, and again only when it was too small */
    if (pbuf_reserve(b, 128) < 0)
        return -1;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return -1;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (pbuf_reserve(b, (size_t)n) < 0)
            return -1;
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return 0;
}
