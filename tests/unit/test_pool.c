/* The arena allocator: alignment, large allocations, reset keeping the first block. */
#include <criterion/criterion.h>
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
