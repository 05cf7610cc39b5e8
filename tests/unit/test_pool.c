/* The arena allocator: alignment, large allocations, reset keeping the first block. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "pool.h"

Test(pool, alignment_and_contents)
{
    struct pool *p = pool_create(256);
    for (int i = 1; i < 200; i++) {
        char *a = pool_alloc(p, (size_t)i);
        cr_assert_not_null(a);
        cr_assert_eq((uintptr_t)a % 16, 0, "allocation of %d bytes misaligned", i);
        memset(a, i, (size_t)i);
    }
    char *s = pool_strndup(p, "hello world", 5);
    cr_assert_str_eq(s, "hello");
    cr_assert_str_eq(pool_printf(p, "%d-%s", 42, "x"), "42-x");
    cr_assert_str_eq(pool_strdup(p, ""), "");
    pool_destroy(p);
}

Test(pool, large_allocation_gets_own_block)
{
    struct pool *p = pool_create(1024);
    size_t before = pool_footprint(p);
    char *big = pool_alloc(p, 100000);
    cr_assert_not_null(big);
    memset(big, 1, 100000);
    cr_assert_geq(pool_footprint(p), before + 100000);
    /* the first block still has room for small allocations */
    char *small = pool_alloc(p, 16);
    cr_assert_not_null(small);
    pool_destroy(p);
}

Test(pool, reset_returns_to_first_block)
{
    struct pool *p = pool_create(1024);
    size_t base = pool_footprint(p);
    for (int i = 0; i < 100; i++)
        cr_assert_not_null(pool_alloc(p, 500));
    cr_assert_gt(pool_footprint(p), base);
    pool_reset(p);
    cr_assert_eq(pool_footprint(p), base);
    char *z = pool_calloc(p, 64);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(z[i], 0);
    pool_destroy(p);
}

Test(pool, overflowing_size_fails)
{
    struct pool *p = pool_create(256);
    cr_assert_null(pool_alloc(p, SIZE_MAX - 4));
    pool_destroy(p);
}

Test(pbuf, appends_grow_and_stay_terminated)
{
    struct pool *p = pool_create(1024);
    struct pbuf b = {.pool = p};
    cr_assert_eq(pbuf_puts(&b, ""), 0);
    cr_assert_str_eq(b.p, "");
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(pbuf_append(&b, "ab", 2), 0);
    cr_assert_eq(b.len, 2000);
    cr_assert_eq(b.p[b.len], '\0');
    cr_assert_eq(memcmp(b.p + 1996, "abab", 4), 0);
    cr_assert_geq(b.cap, b.len + 1);
    pool_destroy(p);
}

/* Pieces that follow on from one another stay where they are; the first that does not gathers them all. */
Test(pbuf, take_notes_adjacent_pieces_and_gathers_the_rest)
{
    struct pool *p = pool_create(1024);
    struct pbuf b = {.pool = p};
    const char buf[] = "Content-Type";
    const char *span = NULL;
    size_t len = 0;
    cr_assert_eq(pbuf_take(&b, &span, &len, buf, 7), 0);
    cr_assert_eq(pbuf_take(&b, &span, &len, buf + 7, 0), 0);
    cr_assert_eq(pbuf_take(&b, &span, &len, buf + 7, 5), 0);
    cr_assert_eq(span, buf);
    cr_assert_eq(len, 12);
    cr_assert_null(b.p, "nothing copied while the pieces are adjacent");
    const char other[] = "; charset=utf-8";
    cr_assert_eq(pbuf_take(&b, &span, &len, other, 15), 0);
    cr_assert_null(span);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(b.p, "Content-Type; charset=utf-8");
    /* once gathered, every further piece is appended, adjacent or not */
    cr_assert_eq(pbuf_take(&b, &span, &len, other, 2), 0);
    cr_assert_null(span);
    cr_assert_str_eq(b.p, "Content-Type; charset=utf-8; ");
    pool_destroy(p);
}

/* Strings in a buffer about to be reused, moved out: a short set in one copy, a long one string by string;
 * each ends with a NUL where it ended in the buffer, whatever followed it there. */
Test(pbuf, span_move_short_and_long)
{
    struct pool *p = pool_create(4096);
    for (int lng = 0; lng < 2; lng++) {
        char buf[2048];
        memset(buf, 'v', sizeof(buf));
        memcpy(buf, "Name: value\r\n", 13);
        size_t vlen = lng ? 1500 : 5; /* a value of 1500 bytes: the strings cover more than one copy takes */
        const char *name = buf, *value = buf + 6, *outside = "static";
        struct span_move m;
        span_move_begin(&m, p, buf, sizeof(buf));
        span_move_note(&m, name, 4);
        span_move_note(&m, value, vlen);
        span_move_note(&m, outside, 6);
        cr_assert(!span_in(&m, outside));
        cr_assert_eq(span_move_copy(&m), 0);
        cr_assert_eq(m.copy == NULL, lng, "one copy for the short set only");
        char *n2 = span_moved(&m, name, 4), *v2 = span_moved(&m, value, vlen);
        memset(buf, '#', sizeof(buf)); /* the buffer read into again */
        cr_assert_str_eq(n2, "Name");
        cr_assert_eq(strlen(v2), vlen);
        cr_assert_eq(strncmp(v2, "value", 5), 0);
        /* a text in progress goes on in its pbuf */
        struct pbuf b = {.pool = p};
        const char *span = NULL;
        size_t len = 0;
        memcpy(buf, "Conte", 5);
        cr_assert_eq(pbuf_take(&b, &span, &len, buf, 5), 0);
        cr_assert_eq(span_move_pbuf(&m, &b, &span, &len), 0);
        cr_assert_null(span);
        memcpy(buf, "nt-Type", 7);
        cr_assert_eq(pbuf_take(&b, &span, &len, buf, 7), 0);
        cr_assert_str_eq(b.p, "Content-Type");
    }
    pool_destroy(p);
}

Test(pbuf, printf_longer_than_the_free_space)
{
    struct pool *p = pool_create(1024);
    struct pbuf b = {.pool = p};
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_assert_eq(pbuf_printf(&b, "%d:", 42), 0);
    cr_assert_eq(pbuf_printf(&b, "[%s]", big), 0);
    cr_assert_eq(b.len, 3 + 2 + 599);
    cr_assert_eq(strncmp(b.p, "42:[xxx", 7), 0);
    cr_assert_eq(b.p[b.len - 1], ']');
    cr_assert_eq(b.p[b.len], '\0');
    pbuf_clear(&b);
    cr_assert_null(b.p);
    cr_assert_eq(pbuf_puts(&b, "again"), 0);
    cr_assert_str_eq(b.p, "again");
    pool_destroy(p);
}

Test(pbuf, out_of_memory_is_sticky)
{
    struct pool *p = pool_create(256);
    struct pbuf b = {.pool = p};
    cr_assert_eq(pbuf_puts(&b, "ok"), 0);
    cr_assert_eq(pbuf_reserve(&b, SIZE_MAX - 8), -1);
    cr_assert(b.failed);
    cr_assert_eq(pbuf_puts(&b, "dropped"), -1);
    cr_assert_str_eq(b.p, "ok");
    pool_destroy(p);
}

/* A large request's own block, of its exact size, does not take one of the few sizes a thread keeps: after
 * many of them, of as many sizes, the read buffer's size is still kept. */
Test(pool, own_blocks_leave_the_spare_sizes_alone)
{
    pool_mem_release();
    struct pool *p = pool_create(4096);
    for (size_t n = 2100; n < 2100 + 8 * 700; n += 700) {
        char *big = pool_alloc(p, n);
        cr_assert_not_null(big);
        memset(big, 'x', n);
        cr_assert_not_null(pool_alloc(p, 5000 + n)); /* larger than a block */
        pool_reset(p);
    }
    void *buf = pool_mem_get(8192);
    pool_mem_put(buf, 8192);
    void *other = malloc(8192); /* would take buf's memory, had it been freed */
    cr_assert_eq(pool_mem_get(8192), buf, "8 KiB kept after sixteen own blocks of other sizes");
    free(other);
    pool_mem_put(buf, 8192);
    pool_destroy(p);
}

Test(pool, freed_memory_is_reused_by_size)
{
    pool_mem_release();
    void *a = pool_mem_get(8192), *b = pool_mem_get(8192), *c = pool_mem_get(4096);
    cr_assert(a != NULL && b != NULL && c != NULL);
    memset(a, 1, 8192);
    pool_mem_put(a, 8192);
    pool_mem_put(c, 4096);
    cr_assert_eq(pool_mem_get(8192), a, "the last 8 KiB given back is the next 8 KiB taken");
    cr_assert_eq(pool_mem_get(4096), c);
    pool_mem_put(a, 8192);
    pool_mem_put(b, 8192);
    void *x = pool_mem_get(8192), *y = pool_mem_get(8192), *z = pool_mem_get(8192);
    cr_assert(x == b && y == a, "last given back, first taken");
    cr_assert(z != a && z != b);
    pool_mem_put(x, 8192);
    pool_mem_put(y, 8192);
    pool_mem_put(z, 8192);
    /* beyond the limit: freed, not kept */
    void *big = pool_mem_get(1 << 20);
    pool_mem_put(big, 1 << 20);
    pool_mem_put(NULL, 8192);
    /* a pool's memory goes the same way */
    struct pool *p = pool_create(4096);
    pool_destroy(p);
    struct pool *q = pool_create(4096);
    cr_assert_eq(q, p, "a pool destroyed is the next one's memory");
    cr_assert_eq(pool_alloc(q, 16) != NULL, 1);
    pool_destroy(q);
    pool_mem_release();
}

/* A buffer every request takes (the proxy's 16 KiB) is the memory the last request gave back, by pool_reset()
 * and by pool_destroy(), as many of them as an event loop has requests under way (16 kept), while the pool
 * goes on carving its small allocations from its current block. */
Test(pool, reused_buffers_come_back_to_the_next_request)
{
    pool_mem_release();
    struct pool *p = pool_create(4096);
    char *small = pool_alloc(p, 100);
    char *buf = pool_alloc_reused(p, 16384);
    cr_assert(small != NULL && buf != NULL);
    memset(buf, 'x', 16384);
    char *after = pool_alloc(p, 100);
    cr_assert_eq(after, small + 112, "small allocations stay in the first block");
    cr_assert_geq(pool_footprint(p), 4096 + 16384);
    pool_reset(p);
    void *other = malloc(16000); /* would take buf's memory, had it been freed */
    cr_assert_eq(pool_alloc_reused(p, 16384), buf,
                 "the next request's buffer is the one given back by the reset");
    free(other);
    pool_destroy(p);

    struct pool *many[16];
    void *bufs[16];
    for (int i = 0; i < 16; i++) {
        many[i] = pool_create(4096);
        bufs[i] = pool_alloc_reused(many[i], 16384);
        cr_assert_not_null(bufs[i]);
    }
    for (int i = 0; i < 16; i++)
        pool_destroy(many[i]);
    void *others[16];
    for (int i = 0; i < 16; i++)
        others[i] = malloc(16000); /* would take the buffers' memory, had they been freed */
    for (int i = 0; i < 16; i++) {
        many[i] = pool_create(4096);
        void *again = pool_alloc_reused(many[i], 16384);
        int found = 0;
        for (int j = 0; j < 16; j++)
            found |= again == bufs[j];
        cr_assert(found, "buffer %d of 16 in flight at once is one given back", i);
    }
    for (int i = 0; i < 16; i++) {
        pool_destroy(many[i]);
        free(others[i]);
    }
    pool_mem_release();
}
