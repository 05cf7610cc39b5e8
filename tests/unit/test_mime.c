/*
 * Tests for server/mime.c: the shipped conf/mime.types (found through $HTTPD_SRCDIR, set by make check, or
 * relative to this file), lookups by the last extension, case-insensitivity, unknown extensions, and the
 * parser on a hand-written file with comments, blank lines, CRLF endings and repeated extensions.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conftest.h"
#include "mime.h"
#include "pool.h"
#include "testserver.h"
#include "util.h"

TestSuite(mime, .init = testserver_pool_setup, .fini = testserver_pool_teardown);

static struct mime_table *load_shipped(void)
{
    struct errbuf err = {{0}};
    struct mime_table *t = mime_load(test_pool, conftest_source_file("conf/mime.types"), &err);
    cr_assert_not_null(t, "mime_load: %s", err.msg);
    return t;
}

static struct mime_table *load_text(const char *text)
{
    char path[] = "/tmp/test_mime.XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    struct errbuf err = {{0}};
    struct mime_table *t = mime_load(test_pool, path, &err);
    unlink(path);
    cr_assert_not_null(t, "mime_load: %s", err.msg);
    return t;
}

Test(mime, shipped_common_types)
{
    static const char *const cases[][2] = {
        {"index.html", "text/html"},   {"page.htm", "text/html"},      {"style.css", "text/css"},
        {"app.js", "text/javascript"}, {"mod.mjs", "text/javascript"}, {"data.json", "application/json"},
        {"readme.txt", "text/plain"},  {"feed.xml", "text/xml"},       {"logo.svg", "image/svg+xml"},
        {"a.png", "image/png"},        {"a.jpg", "image/jpeg"},        {"a.jpeg", "image/jpeg"},
        {"a.gif", "image/gif"},        {"a.webp", "image/webp"},       {"favicon.ico", "image/x-icon"},
        {"a.avif", "image/avif"},      {"doc.pdf", "application/pdf"}, {"a.zip", "application/zip"},
        {"a.gz", "application/gzip"},  {"a.tar", "application/x-tar"}, {"m.wasm", "application/wasm"},
        {"f.woff", "font/woff"},       {"f.woff2", "font/woff2"},      {"f.ttf", "font/ttf"},
        {"f.otf", "font/otf"},         {"v.mp4", "video/mp4"},         {"v.webm", "video/webm"},
        {"s.mp3", "audio/mpeg"},       {"s.ogg", "audio/ogg"},         {"s.wav", "audio/wav"},
        {"t.csv", "text/csv"},         {"notes.md", "text/markdown"},
    };
    struct mime_table *t = load_shipped();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *type = mime_type(t, cases[i][0]);
        cr_expect_not_null(type, "%s: no type", cases[i][0]);
        if (type != NULL)
            cr_expect_str_eq(type, cases[i][1], "%s", cases[i][0]);
    }
}

Test(mime, last_extension_and_paths)
{
    struct mime_table *t = load_shipped();
    cr_expect_str_eq(mime_type(t, "archive.tar.gz"), "application/gzip");
    cr_expect_str_eq(mime_type(t, "page.txt.html"), "text/html");
    cr_expect_str_eq(mime_type(t, "dir/sub/file.css"), "text/css");
    cr_expect_str_eq(mime_type(t, "dir.html/file.css"), "text/css");
    cr_expect_null(mime_type(t, "dir.html/file"), "a dot in a directory name is no extension");
    cr_expect_null(mime_type(t, "noext"));
    cr_expect_null(mime_type(t, "trailing."));
    cr_expect_null(mime_type(t, "dir/"));
    cr_expect_null(mime_type(t, ""));
}

Test(mime, case_insensitive)
{
    struct mime_table *t = load_shipped();
    cr_expect_str_eq(mime_type(t, "INDEX.HTML"), "text/html");
    cr_expect_str_eq(mime_type(t, "Photo.JpG"), "image/jpeg");
    cr_expect_str_eq(mime_type(t, "x.Woff2"), "font/woff2");
}

Test(mime, unknown_is_null)
{
    struct mime_table *t = load_shipped();
    cr_expect_null(mime_type(t, "file.unknownext"));
    cr_expect_null(mime_type(t, "file.htmlx"));
    cr_expect_null(mime_type(t, "file.htm_"));
    cr_expect_null(mime_type(NULL, "file.html"), "no TypesConfig: no type");
}

Test(mime, parser_comments_blank_lines_crlf)
{
    struct mime_table *t = load_text("# a comment line\n"
                                     "\n"
                                     "   \t \n"
                                     "   # an indented comment: text/nope nope\n"
                                     "text/html\thtml htm\r\n"
                                     "image/png png # trailing comment mentions jpg\n"
                                     "application/x-empty\n"
                                     "text/plain  TXT  Text\n"
                                     "application/one dup\n"
                                     "application/two dup\n"
                                     "text/last last-line-without-newline");
    cr_expect_str_eq(mime_type(t, "a.html"), "text/html");
    cr_expect_str_eq(mime_type(t, "a.htm"), "text/html", "CRLF must not stick to the last extension");
    cr_expect_str_eq(mime_type(t, "a.png"), "image/png");
    cr_expect_null(mime_type(t, "a.jpg"), "words after # are a comment");
    cr_expect_null(mime_type(t, "a.comment"));
    cr_expect_null(mime_type(t, "a.nope"), "indented comment lines are comments");
    cr_expect_str_eq(mime_type(t, "a.txt"), "text/plain", "extensions are stored lower-case");
    cr_expect_str_eq(mime_type(t, "a.TEXT"), "text/plain");
    cr_expect_str_eq(mime_type(t, "a.dup"), "application/two", "the last line wins");
    cr_expect_str_eq(mime_type(t, "a.last-line-without-newline"), "text/last");
}

Test(mime, many_entries_grow_the_table)
{
    size_t n = 3000, cap = n * 32 + 64;
    char *text = malloc(cap), *p = text;
    cr_assert_not_null(text);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "type/t%zu e%zu x%zu\n", i, i, i);
    struct mime_table *t = load_text(text);
    free(text);
    for (size_t i = 0; i < n; i++) {
        char name[32], want[32];
        snprintf(name, sizeof(name), "f.E%zu", i);
        snprintf(want, sizeof(want), "type/t%zu", i);
        const char *got = mime_type(t, name);
        cr_assert_not_null(got, "%s missing", name);
        cr_assert_str_eq(got, want);
    }
    cr_expect_null(mime_type(t, "f.e3000"));
}

Test(mime, empty_file_loads)
{
    struct mime_table *t = load_text("");
    cr_expect_null(mime_type(t, "a.html"));
}

Test(mime, missing_file_explains)
{
    struct errbuf err = {{0}};
    cr_expect_null(mime_load(test_pool, "/nonexistent/dir/mime.types", &err));
    cr_expect_not_null(strstr(err.msg, "/nonexistent/dir/mime.types"), "message: %s", err.msg);
    cr_expect_not_null(strstr(err.msg, strerror(ENOENT)), "message: %s", err.msg);
}
