/*
 * Configuration fixtures for unit tests. A throwaway ServerRoot for the tests that load configurations with
 * config_load(): DIR/conf holding a minimal mime.types (where TypesConfig defaults to) and DIR/htdocs (where
 * DocumentRoot defaults to), the configuration written there and read as main() reads it (with the lists
 * config_load() takes from main: MPMs, modules), and the warnings of a check as main prints them. For the
 * MPMs' check_config: a server no directive has touched, settings applied through the MPM's own directive
 * rows, and the settings a check leaves compared in the same terms. Header-only.
 *
 * The one thing to know: the root is a per-process global. Criterion runs every test in a process of its
 * own, so a suite that takes conftest_setup/conftest_teardown as .init/.fini has a fresh root in each test.
 */
#ifndef HTTPD_TEST_CONFTEST_H
#define HTTPD_TEST_CONFTEST_H

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../../mpm/mpm.h"
#include "config.h"
#include "handlers.h"
#include "headers.h"
#include "proxy_conf.h"
#include "unixd.h"

/* What main() hands config_load(): every MPM, the handler registry, and the modules' directives. */
#define CONFTEST_ARGS                                                                                        \
    .mpms = mpm_registry, .find_handler = handler_find, .modules = (const struct config_module *const[])     \
    {                                                                                                        \
        &unixd_module, &proxy_module, &headers_module, NULL                                                  \
    }

/* The warnings as main() prints them: "httpd: WARNING: ...\n" each (malloc'd). */
static inline char *conftest_warnings_text(const struct warnings *w)
{
    size_t size = 1;
    for (int i = 0; i < warnings_kept(w); i++)
        size += strlen("httpd: WARNING: \n") + strlen(w->msg[i]);
    char *out = calloc(1, size);
    cr_assert_not_null(out);
    for (int i = 0; i < warnings_kept(w); i++) {
        strcat(out, "httpd: WARNING: ");
        strcat(out, w->msg[i]);
        strcat(out, "\n");
    }
    return out;
}

/* A file of the source tree ("conf/mime.types"): under $HTTPD_SRCDIR, set by make check, else relative to
 * this header (a static buffer). */
static inline const char *conftest_source_file(const char *rel)
{
    static char path[700];
    const char *srcdir = getenv("HTTPD_SRCDIR");
    if (srcdir != NULL && srcdir[0] != '\0') {
        snprintf(path, sizeof(path), "%s/%s", srcdir, rel);
    } else {
        /* __FILE__ is .../tests/unit/conftest.h */
        const char *slash = strrchr(__FILE__, '/');
        int dirlen = slash ? (int)(slash - __FILE__) : 1;
        snprintf(path, sizeof(path), "%.*s/../../%s", dirlen, slash ? __FILE__ : ".", rel);
    }
    return path;
}

/* ---- the ServerRoot ---- */

/* The root of the running test ("/tmp/PROGRAM.XXXXXX" made real) and its configuration file. */
static char conftest_dir[128];
static char conftest_conf[160]; /* conftest_dir/conf/test.conf */

/* Creates the tree in dir, a mkdtemp() template ("/tmp/name.XXXXXX") that is overwritten with the real name.
 */
static inline void conftest_make_root(char *dir, const char *template)
{
    char p[700];
    strcpy(dir, template);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/conf", dir);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/htdocs", dir);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/conf/mime.types", dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs("text/html html htm\n", f);
    fclose(f);
}

/* Removes the tree. */
static inline void conftest_remove_root(const char *dir)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* A suite's .init: the root of this test, named after the test program. */
static inline void conftest_setup(void)
{
    char template[sizeof(conftest_dir)];
    snprintf(template, sizeof(template), "/tmp/%.80s.XXXXXX", program_invocation_short_name);
    conftest_make_root(conftest_dir, template);
    snprintf(conftest_conf, sizeof(conftest_conf), "%s/conf/test.conf", conftest_dir);
}

/* A suite's .fini: the root removed. */
static inline void conftest_teardown(void)
{
    conftest_remove_root(conftest_dir);
}

/* Writes text to the file rel ("conf/extra/a.conf") under the root. */
static inline void conftest_write(const char *rel, const char *text)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/%s", conftest_dir, rel);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f, "%s", p);
    fputs(text, f);
    fclose(f);
}

/* ---- loading ---- */

/* Writes head then text as conf/test.conf and reads it as main() does, warnings to w (may be NULL): the
 * server, or NULL with err. */
static inline struct server *conftest_load(const char *head, const char *text, struct warnings *w,
                                           struct errbuf *err)
{
    FILE *f = fopen(conftest_conf, "w");
    cr_assert_not_null(f, "%s", conftest_conf);
    fputs(head, f);
    fputs(text, f);
    fclose(f);
    struct config_args args = {CONFTEST_ARGS, .conf_file = conftest_conf};
    return config_load(&args, w, err);
}

/* conftest_load() of a configuration that must be accepted. */
static inline struct server *conftest_load_ok(const char *head, const char *text, struct warnings *w)
{
    struct errbuf err;
    struct server *s = conftest_load(head, text, w, &err);
    cr_assert_not_null(s, "configuration refused: %s\n%s%s", err.msg, head, text);
    return s;
}

/* conftest_load() of a configuration that must be refused; returns the message (a static buffer). */
static inline const char *conftest_load_fail(const char *head, const char *text)
{
    static struct errbuf err;
    struct server *s = conftest_load(head, text, NULL, &err);
    cr_assert_null(s, "config accepted:\n%s%s", head, text);
    return err.msg;
}

/* Asserts that the configuration is refused with a message containing want. */
static inline void conftest_expect_refused(const char *head, const char *text, const char *want)
{
    const char *msg = conftest_load_fail(head, text);
    cr_assert(strstr(msg, want) != NULL, "%s", msg);
}

/* ---- an MPM's check_config ---- */

/* A server as an empty configuration leaves it for check_config: no MPM setting made (calloc'd). */
static inline struct server *conftest_blank_server(void)
{
    struct server *s = calloc(1, sizeof(*s));
    cr_assert_not_null(s);
    config_mpm_conf_unset(&s->mpm_conf);
    return s;
}

/* Runs an MPM's check_config on s, which must accept it; asserts its warnings, as main() prints them. what
 * names the case. */
static inline void conftest_expect_check(int (*check)(struct server *, struct warnings *, struct errbuf *),
                                         struct server *s, const char *want, const char *what)
{
    struct errbuf err;
    struct warnings w = {0};
    cr_assert_eq(check(s, &w, &err), 0, "%s: %s", what, err.msg);
    char *got = conftest_warnings_text(&w);
    cr_assert_str_eq(got, want, "%s", what);
    free(got);
}

/* The row of table for a directive (its name matched case-insensitively); fails the test if none. */
static inline const struct directive *conftest_row(const struct directive *table, const char *name)
{
    for (const struct directive *d = table; d->name != NULL; d++)
        if (strcasecmp(d->name, name) == 0)
            return d;
    cr_assert_fail("no directive %s in the table", name);
    return NULL;
}

/* Applies "Name value" pairs ("ServerLimit 4 ThreadsPerChild 10") through the rows of table, as the
 * configuration reader would; "" applies nothing. */
static inline void conftest_apply(struct server *s, const struct directive *table, const char *pairs)
{
    char name[64], value[32];
    int used;
    for (const char *p = pairs; sscanf(p, " %63s %31s%n", name, value, &used) == 2; p += used) {
        const struct directive *d = conftest_row(table, name);
        char *argv[] = {value, NULL};
        const char *msg = d->set(s, d, 1, argv);
        cr_assert_null(msg, "%s %s: %s", name, value, msg);
    }
}

/* Asserts the values of "Name value" pairs in s, read through the rows of table; what names the case. */
static inline void conftest_expect_settings(struct server *s, const struct directive *table,
                                            const char *pairs, const char *what)
{
    char name[64];
    int want, used;
    for (const char *p = pairs; sscanf(p, " %63s %d%n", name, &want, &used) == 2; p += used) {
        int got = *(int *)(void *)((char *)s + conftest_row(table, name)->offset);
        cr_assert_eq(got, want, "%s: %s is %d, want %d", what, name, got, want);
    }
}

/* One case of an MPM's check_config: the settings made, in the MPM's directive names, and what follows. */
struct conftest_check_case {
    const char *what;     /* names the case in messages */
    const char *set;      /* "Name value" pairs applied to a blank server ("" for none) */
    const char *warnings; /* what main() prints, "" for none */
    const char *want;     /* "Name value" pairs the check leaves */
};

/* Runs one case: a blank server, the settings applied through table, check_config, its warnings and settings
 * asserted. */
static inline void conftest_run_check(int (*check)(struct server *, struct warnings *, struct errbuf *),
                                      const struct directive *table, const struct conftest_check_case *c)
{
    struct server *s = conftest_blank_server();
    conftest_apply(s, table, c->set);
    conftest_expect_check(check, s, c->warnings, c->what);
    conftest_expect_settings(s, table, c->want, c->what);
    free(s);
}

/* Parameters 0 .. n-1, indexes into a table of cases (a parameter may not hold pointers of this process). */
static inline struct criterion_test_params conftest_indexes(size_t n)
{
    static size_t *idx;
    if (idx == NULL) {
        idx = cr_calloc(n, sizeof(*idx));
        for (size_t i = 0; i < n; i++)
            idx[i] = i;
    }
    return cr_make_param_array(size_t, idx, n);
}

/* Defines the test `suite`/`name`, run once per row of the array `cases` (struct conftest_check_case). */
#define CONFTEST_CHECK_TEST(suite, name, check, table, cases)                                                \
    ParameterizedTestParameters(suite, name)                                                                 \
    {                                                                                                        \
        return conftest_indexes(sizeof(cases) / sizeof((cases)[0]));                                         \
    }                                                                                                        \
    ParameterizedTest(size_t *i, suite, name)                                                                \
    {                                                                                                        \
        conftest_run_check(check, table, &(cases)[*i]);                                                      \
    }

#endif
