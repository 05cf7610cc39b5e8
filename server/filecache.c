/*
 * The small-file cache (filecache.h): a chained hash table of entries keyed by (DocumentRoot descriptor,
 * relative path), with a least-recently-used list for eviction, all under one mutex (taken only in a process
 * that has threads: mutex_enter() in util.h). The stat() that validates an entry is made outside the lock;
 * the entry is looked up again under it before its bytes are copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filecache.h"
#include "pool.h"
#include "util.h"

#define FILECACHE_BUCKETS 256

struct fc_entry {
    struct fc_entry *chain;         /* same bucket */
    struct fc_entry *newer, *older; /* the LRU list */
    uint32_t hash;
    int root_fd;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
    char *data; /* size bytes */
    char rel[];
};

static struct {
    pthread_mutex_t lock;
    struct fc_entry *bucket[FILECACHE_BUCKETS];
    struct fc_entry *newest, *oldest;
    size_t bytes; /* content held */
} fc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint32_t fc_hash(int root_fd, const char *rel)
{
    uint32_t h = 2166136261u ^ (uint32_t)root_fd; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)rel; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return h;
}

static struct fc_entry *fc_find(uint32_t h, int root_fd, const char *rel)
{
    for (struct fc_entry *e = fc.bucket[h % FILECACHE_BUCKETS]; e != NULL; e = e->chain)
        if (e->hash == h && e->root_fd == root_fd && strcmp(e->rel, rel) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct fc_entry *e)
{
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        fc.newest = e->older;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        fc.oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(struct fc_entry *e)
{
    e->older = fc.newest;
    e->newer = NULL;
    if (fc.newest != NULL)
        fc.newest->newer = e;
    fc.newest = e;
    if (fc.oldest == NULL)
        fc.oldest = e;
}

static void fc_remove(struct fc_entry *e)
{
    struct fc_entry **pp = &fc.bucket[e->hash % FILECACHE_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(e);
    fc.bytes -= (size_t)e->size;
    free(e->data);
    free(e);
}

static int same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Whether st shows the very file e was read from, unchanged. */
static int fc_matches(const struct fc_entry *e, const struct stat *st)
{
    return S_ISREG(st->st_mode) && st->st_dev == e->dev && st->st_ino == e->ino && st->st_size == e->size &&
           same_time(&st->st_mtim, &e->mtim) && same_time(&st->st_ctim, &e->ctim);
}

/* A copy of e's bytes in p, under the lock. */
static const void *fc_copy(const struct fc_entry *e, struct pool *p)
{
    char *copy = pool_alloc(p, (size_t)e->size);
    if (copy != NULL)
        memcpy(copy, e->data, (size_t)e->size);
    return copy;
}

int filecache_get(int root_fd, const char *rel, struct pool *p, const void **data, struct stat *st)
{
    uint32_t h = fc_hash(root_fd, rel);

    /* nothing cached under that name: no stat(), the caller opens the file as it would without a cache */
    int held = mutex_enter(&fc.lock);
    int cached = fc_find(h, root_fd, rel) != NULL;
    mutex_leave(&fc.lock, held);
    if (!cached)
        return 0;

    if (fstatat(root_fd, rel, st, 0) < 0)
        return -1;

    int hit = 0;
    held = mutex_enter(&fc.lock);
    struct fc_entry *e = fc_find(h, root_fd, rel);
    if (e != NULL && !fc_matches(e, st)) {
        fc_remove(e); /* changed, replaced or gone: the caller opens it again */
    } else if (e != NULL) {
        *data = fc_copy(e, p);
        hit = *data != NULL;
        lru_unlink(e);
        lru_push(e);
    }
    mutex_leave(&fc.lock, held);
    return hit;
}

int filecache_put(int root_fd, const char *rel, int fd, const struct stat *st, time_t now, size_t max_file,
                  size_t total, struct pool *p, const void **data)
{
    if (max_file == 0 || !S_ISREG(st->st_mode) || st->st_size <= 0 || (uint64_t)st->st_size > max_file ||
        (size_t)st->st_size > total)
        return 0;
    /* a file changed within the clock's granularity of now could change again unseen: serve it, keep it not
     */
    if (st->st_mtim.tv_sec > now - FILECACHE_SETTLE_S || st->st_ctim.tv_sec > now - FILECACHE_SETTLE_S)
        return 0;

    size_t len = strlen(rel);
    struct fc_entry *e = calloc(1, sizeof(*e) + len + 1);
    char *bytes = malloc((size_t)st->st_size);
    if (e == NULL || bytes == NULL)
        goto fail;
    size_t got = 0;
    while (got < (size_t)st->st_size) {
        ssize_t n = pread(fd, bytes + got, (size_t)st->st_size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto fail; /* an error, or the file became shorter: serve it from fd */
        got += (size_t)n;
    }
    e->hash = fc_hash(root_fd, rel);
    e->root_fd = root_fd;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtim = st->st_mtim;
    e->ctim = st->st_ctim;
    e->data = bytes;
    memcpy(e->rel, rel, len + 1);

    int held = mutex_enter(&fc.lock);
    struct fc_entry *old = fc_find(e->hash, root_fd, rel);
    if (old != NULL)
        fc_remove(old);
    while (fc.oldest != NULL && fc.bytes + (size_t)e->size > total)
        fc_remove(fc.oldest);
    struct fc_entry **head = &fc.bucket[e->hash % FILECACHE_BUCKETS];
    e->chain = *head;
    *head = e;
    lru_push(e);
    fc.bytes += (size_t)e->size;
    *data = fc_copy(e, p);
    mutex_leave(&fc.lock, held);
    return *data != NULL;

fail:
    free(bytes);
    free(e);
    return 0;
}

void filecache_clear(void)
{
    int held = mutex_enter(&fc.lock);
    while (fc.oldest != NULL)
        fc_remove(fc.oldest);
    mutex_leave(&fc.lock, held);
}

size_t filecache_bytes(void)
{
    int held = mutex_enter(&fc.lock);
    size_t n = fc.bytes;
    mutex_leave(&fc.lock, held);
    return n;
}
