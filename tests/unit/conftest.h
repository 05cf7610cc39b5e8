/*
 * A throwaway ServerRoot for unit tests that load configurations with config_load(): DIR/conf holding a
 * minimal mime.types (where TypesConfig defaults to) and DIR/htdocs (where DocumentRoot defaults to); the
 * lists config_load() takes from main (MPMs, modules); and the warnings of a check as main prints them.
 * Header-only.
 */
#ifndef HTTPD_TEST_CONFTEST_H
#define HTTPD_TEST_CONFTEST_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../mpm/mpm.h"
#include "unixd.h"

/* What main() hands config_load(): every MPM, and unixd's directives. */
#define CONFTEST_ARGS                                                                                        \
    .mpms = mpm_registry, .modules = (const struct config_module *const[])                                   \
    {                                                                                                        \
        &unixd_module, NULL                                                                                  \
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

#endif
