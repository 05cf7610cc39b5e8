/*
 * A throwaway ServerRoot for unit tests that load configurations with config_load(): DIR/conf holding a
 * minimal mime.types (where TypesConfig defaults to) and DIR/htdocs (where DocumentRoot defaults to).
 * Header-only.
 */
#ifndef HTTPD_TEST_CONFTEST_H
#define HTTPD_TEST_CONFTEST_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
