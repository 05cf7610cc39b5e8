/*
 * Tests of server/handlers.c and handler.c: the registry (handler_find by SetHandler name) and <Location>
 * routing (handler_for: the longest prefix that ends at a segment boundary, else static files), over location
 * lists built by hand in both orders, since config keeps them in reverse file order.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "handler.h"
#include "handlers.h"
#include "static.h"
#include "server.h"
#include "status.h"
#include "workload.h"

Test(handler, find_by_name)
{
    cr_assert_eq(handler_find("static"), &static_handler);
    cr_assert_eq(handler_find("delay"), &delay_handler);
    cr_assert_eq(handler_find("cpu"), &cpu_handler);
    cr_assert_eq(handler_find("server-status"), &status_handler);
    cr_assert_eq(handler_find("Server-Status"), &status_handler, "names are case-insensitive");
    cr_assert_eq(handler_find("DELAY"), &delay_handler);
    cr_assert_null(handler_find("server"));
    cr_assert_null(handler_find("server-status2"));
    cr_assert_null(handler_find(""));
    /* Apache's names for "no handler" are config's business: not registered */
    cr_assert_null(handler_find("default-handler"));
    cr_assert_null(handler_find("none"));
}

Test(handler, registry_is_complete_and_terminated)
{
    int n = 0;
    for (; handler_registry[n] != NULL; n++) {
        const struct handler *h = handler_registry[n];
        cr_assert_not_null(h->name);
        cr_assert_not_null(h->handle, "%s has no handle()", h->name);
        cr_assert(h->methods & HTTP_M(METHOD_GET), "%s does not serve GET", h->name);
        cr_assert_eq(handler_find(h->name), h, "%s is found under its own name", h->name);
    }
    cr_assert_eq(n, 4);
    cr_assert_eq(handler_registry[0], &static_handler);
}

/* ---- routing ---- */

#define MAX_LOCS 8

struct routes {
    struct server s;
    struct location locs[MAX_LOCS];
};

/* Builds s->locations from (path, handler) pairs, in the order given or reversed. */
static void routes_init(struct routes *rt, int reversed, int n, const char *const *paths,
                        const struct handler *const *handlers)
{
    memset(rt, 0, sizeof(*rt));
    cr_assert_leq(n, MAX_LOCS);
    for (int i = 0; i < n; i++) {
        int k = reversed ? n - 1 - i : i;
        struct location *l = &rt->locs[i];
        l->path = (char *)paths[k];
        l->len = strlen(paths[k]);
        l->handler = handlers[k];
        l->next = i + 1 < n ? &rt->locs[i + 1] : NULL;
    }
    rt->s.main.locations = n > 0 ? &rt->locs[0] : NULL;
}

Test(handler, no_location_is_static)
{
    struct routes rt;
    routes_init(&rt, 0, 0, NULL, NULL);
    cr_assert_eq(handler_for(&rt.s.main, "/"), &static_handler);
    cr_assert_eq(handler_for(&rt.s.main, "/server-status"), &static_handler);
}

Test(handler, prefix_ends_at_a_segment_boundary)
{
    static const char *const paths[] = {"/server-status"};
    static const struct handler *const handlers[] = {&status_handler};
    struct routes rt;
    routes_init(&rt, 0, 1, paths, handlers);

    cr_assert_eq(handler_for(&rt.s.main, "/server-status"), &status_handler);
    cr_assert_eq(handler_for(&rt.s.main, "/server-status/"), &status_handler);
    cr_assert_eq(handler_for(&rt.s.main, "/server-status/x/y"), &status_handler);
    cr_assert_eq(handler_for(&rt.s.main, "/server-statusx"), &static_handler);
    cr_assert_eq(handler_for(&rt.s.main, "/server-statu"), &static_handler);
    cr_assert_eq(handler_for(&rt.s.main, "/Server-Status"), &static_handler, "paths are case-sensitive");
    cr_assert_eq(handler_for(&rt.s.main, "/x/server-status"), &static_handler, "a prefix, not a substring");
    cr_assert_eq(handler_for(&rt.s.main, "/"), &static_handler);
}

Test(handler, location_with_a_trailing_slash)
{
    static const char *const paths[] = {"/delay/"};
    static const struct handler *const handlers[] = {&delay_handler};
    struct routes rt;
    routes_init(&rt, 0, 1, paths, handlers);

    cr_assert_eq(handler_for(&rt.s.main, "/delay/"), &delay_handler);
    cr_assert_eq(handler_for(&rt.s.main, "/delay/x"), &delay_handler);
    cr_assert_eq(handler_for(&rt.s.main, "/delay"), &static_handler, "the slash is part of the prefix");
    cr_assert_eq(handler_for(&rt.s.main, "/delayx"), &static_handler);
}

Test(handler, root_location_takes_everything_else)
{
    static const char *const paths[] = {"/", "/cpu"};
    static const struct handler *const handlers[] = {&delay_handler, &cpu_handler};
    for (int reversed = 0; reversed < 2; reversed++) {
        struct routes rt;
        routes_init(&rt, reversed, 2, paths, handlers);
        cr_assert_eq(handler_for(&rt.s.main, "/"), &delay_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/index.html"), &delay_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/cpux"), &delay_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/cpu"), &cpu_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/cpu/1"), &cpu_handler);
    }
}

Test(handler, longest_prefix_wins_in_any_order)
{
    static const char *const paths[] = {"/a", "/a/b/c", "/a/b", "/ab"};
    static const struct handler *const handlers[] = {&delay_handler, &status_handler, &cpu_handler,
                                                     &status_handler};
    for (int reversed = 0; reversed < 2; reversed++) {
        struct routes rt;
        routes_init(&rt, reversed, 4, paths, handlers);
        cr_assert_eq(handler_for(&rt.s.main, "/a"), &delay_handler, "reversed %d", reversed);
        cr_assert_eq(handler_for(&rt.s.main, "/a/x"), &delay_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/a/b"), &cpu_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/a/b/"), &cpu_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/a/bc"), &delay_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/a/b/c/d"), &status_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/a/b/cd"), &cpu_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/ab"), &status_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/abc"), &static_handler);
        cr_assert_eq(handler_for(&rt.s.main, "/b"), &static_handler);
    }
}
