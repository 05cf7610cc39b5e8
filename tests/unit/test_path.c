/*
 * Tests for server/path.c: the normalisation table, and path_open_beneath() against a temporary tree with
 * symlinks that stay inside and symlinks that lead out. The .c is included so that the fallback walk (used on
 * kernels without openat2) is tested on this kernel too, case for case with the openat2 path.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../server/path.c"
#include "testserver.h"

TestSuite(normalize, .init = testserver_pool_setup, .fini = testserver_pool_teardown);

struct norm_case {
    const char *raw;
    int status;
    const char *out;
};

static const struct norm_case norm_cases[] = {
    {"/", 0, "/"},
    {"/a/b", 0, "/a/b"},
    {"/a/b/", 0, "/a/b/"},
    {"/a%20b", 0, "/a b"},
    {"/%41%62%63", 0, "/Abc"},
    {"/%c3%A9t%C3%a9", 0, "/\xc3\xa9t\xc3\xa9"},
    {"/a+b", 0, "/a+b"},
    {"/a/./b/../c", 0, "/a/c"},
    {"//x", 0, "/x"},
    {"/a//b///c", 0, "/a/b/c"},
    {"/a//", 0, "/a/"},
    {"/.", 0, "/"},
    {"/./", 0, "/"},
    {"/a/.", 0, "/a/"},
    {"/a/b/..", 0, "/a/"},
    {"/a/..", 0, "/"},
    {"/a/../", 0, "/"},
    {"/a/..//b", 0, "/b"},
    {"/a/b/c/../../d", 0, "/a/d"},
    {"/a/%2e%2e/b", 0, "/b"},
    {"/a/%2E./b", 0, "/b"},
    {"/a/.%2e", 0, "/"},
    {"/a/%2e/b", 0, "/a/b"},
    {"/a%2e", 0, "/a."},
    {"/..a", 0, "/..a"},
    {"/a..", 0, "/a.."},
    {"/.hidden", 0, "/.hidden"},
    {"/...", 0, "/..."},
    {"/a./b", 0, "/a./b"},
    {"/..", 400, NULL},
    {"/../", 400, NULL},
    {"/../x", 400, NULL},
    {"/%2e%2e/x", 400, NULL},
    {"/%2E%2E", 400, NULL},
    {"/a/../../x", 400, NULL},
    {"/a/b/../../..", 400, NULL},
    {"/./../x", 400, NULL},
    {"/%00", 400, NULL},
    {"/a%00b", 400, NULL},
    {"/a%zz", 400, NULL},
    {"/a%g1", 400, NULL},
    {"/a%1g", 400, NULL},
    {"/a%2", 400, NULL},
    {"/a%", 400, NULL},
    {"a/b", 400, NULL},
    {"*", 400, NULL},
    {"", 400, NULL},
    {"/a%2Fb", 404, NULL},
    {"/a%2fb", 404, NULL},
    {"/%2F", 404, NULL},
    {"/%2f..%2f..%2fetc", 404, NULL},
};

Test(normalize, table)
{
    for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        const struct norm_case *c = &norm_cases[i];
        char *out = NULL;
        int st = path_normalize(test_pool, c->raw, strlen(c->raw), PATH_SLASHES_OFF, &out);
        cr_expect_eq(st, c->status, "\"%s\": status %d, expected %d", c->raw, st, c->status);
        if (c->status == 0 && st == 0)
            cr_expect_str_eq(out, c->out, "\"%s\" -> \"%s\", expected \"%s\"", c->raw, out, c->out);
    }
}

Test(normalize, length_bounds_input)
{
    /* only `len` bytes are read: the query after them is not part of the path */
    const char raw[] = "/a/b?c=/../..";
    char *out = NULL;
    cr_assert_eq(path_normalize(test_pool, raw, 4, PATH_SLASHES_OFF, &out), 0);
    cr_assert_str_eq(out, "/a/b");
}

Test(normalize, literal_nul)
{
    const char raw[] = "/a\0b";
    char *out = NULL;
    cr_assert_eq(path_normalize(test_pool, raw, 4, PATH_SLASHES_OFF, &out), 400);
}

Test(normalize, escape_cut_by_length)
{
    /* "%41" exists in memory but only "%4" is inside the span */
    const char raw[] = "/a%41";
    char *out = NULL;
    cr_assert_eq(path_normalize(test_pool, raw, 4, PATH_SLASHES_OFF, &out), 400);
}

Test(normalize, overlong_input)
{
    /* 64 KiB of segments: decoded in one pass, nothing truncated */
    size_t n = 65536;
    char *raw = malloc(n + 1);
    cr_assert_not_null(raw);
    for (size_t i = 0; i < n; i++)
        raw[i] = i % 4 == 0 ? '/' : 'x';
    raw[n] = '\0';
    char *out = NULL;
    cr_assert_eq(path_normalize(test_pool, raw, n, PATH_SLASHES_OFF, &out), 0);
    cr_assert_str_eq(out, raw);

    /* "/a/.." repeated: everything cancels out */
    size_t reps = 20000;
    char *up = malloc(reps * 5 + 1);
    cr_assert_not_null(up);
    for (size_t i = 0; i < reps; i++)
        memcpy(up + i * 5, "/a/..", 5);
    up[reps * 5] = '\0';
    cr_assert_eq(path_normalize(test_pool, up, reps * 5, PATH_SLASHES_OFF, &out), 0);
    cr_assert_str_eq(out, "/");

    /* one ".." too many at the very end of a long path: still 400 */
    memcpy(up + (reps - 1) * 5, "/../.", 5);
    cr_assert_eq(path_normalize(test_pool, up, reps * 5, PATH_SLASHES_OFF, &out), 400);
    free(raw);
    free(up);
}

Test(normalize, percent_encoded_escape_is_not_decoded_twice)
{
    char *out = NULL;
    cr_assert_eq(path_normalize(test_pool, "/%252e%252e/x", 13, PATH_SLASHES_OFF, &out), 0);
    cr_assert_str_eq(out, "/%2e%2e/x");
}

/* AllowEncodedSlashes: Off refuses %2F, On makes it a '/' like any other (dot segments and all), NoDecode
 * keeps it as written in its segment. */
Test(normalize, encoded_slashes)
{
    static const struct {
        const char *raw;
        int st_off, st_on, st_keep;
        const char *on, *keep;
    } cases[] = {
        {"/a%2Fb", 404, 0, 0, "/a/b", "/a%2Fb"},
        {"/a%2fb/", 404, 0, 0, "/a/b/", "/a%2fb/"},
        {"/a%2F%2Fb", 404, 0, 0, "/a/b", "/a%2F%2Fb"},
        {"/x/..%2F..%2Fetc", 404, 400, 0, NULL, "/x/..%2F..%2Fetc"},
        {"/p%2F..%2Fadmin", 404, 0, 0, "/admin", "/p%2F..%2Fadmin"},
        {"/a%2F", 404, 0, 0, "/a/", "/a%2F"},
        {"/%2e%2e%2Fx", 404, 400, 0, NULL, "/..%2Fx"},
        {"/a/%2E%2F", 404, 0, 0, "/a/", "/a/.%2F"},
        {"/a%252Fb", 0, 0, 0, "/a%2Fb", "/a%2Fb"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *raw = cases[i].raw;
        char *out = NULL;
        cr_assert_eq(path_normalize(test_pool, raw, strlen(raw), PATH_SLASHES_OFF, &out), cases[i].st_off,
                     "%s", raw);
        cr_assert_eq(path_normalize(test_pool, raw, strlen(raw), PATH_SLASHES_ON, &out), cases[i].st_on,
                     "On: %s", raw);
        if (cases[i].st_on == 0)
            cr_assert_str_eq(out, cases[i].on, "On: %s", raw);
        cr_assert_eq(path_normalize(test_pool, raw, strlen(raw), PATH_SLASHES_NODECODE, &out),
                     cases[i].st_keep, "NoDecode: %s", raw);
        cr_assert_str_eq(out, cases[i].keep, "NoDecode: %s", raw);
    }
}

/* ---- path_open_beneath ---- */

/*
 * tmp/outside.txt              "outside"
 * tmp/root/file.txt            "file"
 * tmp/root/dir/inner.txt       "inner"
 * tmp/root/dir/up          ->  ../file.txt            inside
 * tmp/root/dir/deep_out    ->  ../../outside.txt      leads out
 * tmp/root/dir/sub/back    ->  ../../dir/inner.txt    inside
 * tmp/root/link_in         ->  file.txt               inside
 * tmp/root/link_dir        ->  dir                    inside
 * tmp/root/link_out        ->  ../outside.txt         leads out
 * tmp/root/link_abs        ->  <absolute path of root/file.txt>   absolute: refused even though inside
 * tmp/root/link_dotdot     ->  ..                     leads out
 * tmp/root/loop            ->  loop
 */
static char tmp[64], root[128];
static int root_dirfd = -1;

static void write_file(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "fopen(%s): %s", path, strerror(errno));
    fputs(content, f);
    fclose(f);
}

static void make_link(const char *target, const char *rel)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof(p), "%s/%s", root, rel);
    cr_assert_eq(symlink(target, p), 0, "symlink(%s): %s", p, strerror(errno));
}

static void tree_setup(void)
{
    char p[PATH_MAX + 64];
    snprintf(tmp, sizeof(tmp), "/tmp/test_path.XXXXXX");
    cr_assert_not_null(mkdtemp(tmp));
    snprintf(root, sizeof(root), "%s/root", tmp);
    cr_assert_eq(mkdir(root, 0755), 0);
    snprintf(p, sizeof(p), "%s/outside.txt", tmp);
    write_file(p, "outside");
    snprintf(p, sizeof(p), "%s/file.txt", root);
    write_file(p, "file");
    snprintf(p, sizeof(p), "%s/dir", root);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/dir/sub", root);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/dir/inner.txt", root);
    write_file(p, "inner");
    make_link("../file.txt", "dir/up");
    make_link("../../outside.txt", "dir/deep_out");
    make_link("../../dir/inner.txt", "dir/sub/back");
    make_link("file.txt", "link_in");
    make_link("dir", "link_dir");
    make_link("../outside.txt", "link_out");
    snprintf(p, sizeof(p), "%s/file.txt", root);
    make_link(p, "link_abs");
    make_link("..", "link_dotdot");
    make_link("loop", "loop");
    root_dirfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    cr_assert_geq(root_dirfd, 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void tree_teardown(void)
{
    if (root_dirfd >= 0)
        close(root_dirfd);
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(beneath, .init = tree_setup, .fini = tree_teardown);

typedef int (*open_fn)(int, const char *, int);

/* Reads the whole (small) file behind fd and closes it. */
static char *slurp(int fd)
{
    static char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    cr_assert_geq(n, 0);
    buf[n] = '\0';
    return buf;
}

struct open_case {
    const char *rel;
    const char *content; /* expected content, or NULL when the open must fail */
    int err;             /* errno when it fails */
};

static const struct open_case open_cases[] = {
    {"file.txt", "file", 0},
    {"dir/inner.txt", "inner", 0},
    {"link_in", "file", 0},
    {"link_dir/inner.txt", "inner", 0},
    {"dir/up", "file", 0},
    {"link_dir/up", "file", 0},
    {"dir/sub/back", "inner", 0},
    {"dir/../file.txt", "file", 0},
    {"./file.txt", "file", 0},
    {"dir//inner.txt", "inner", 0},
    {"link_out", NULL, EXDEV},
    {"dir/deep_out", NULL, EXDEV},
    {"link_dir/deep_out", NULL, EXDEV},
    {"link_abs", NULL, EXDEV},
    {"link_dotdot/outside.txt", NULL, EXDEV},
    {"../outside.txt", NULL, EXDEV},
    {"dir/../../outside.txt", NULL, EXDEV},
    {"/etc/passwd", NULL, EXDEV},
    {"missing", NULL, ENOENT},
    {"dir/missing", NULL, ENOENT},
    {"file.txt/x", NULL, ENOTDIR},
    {"file.txt/", NULL, ENOTDIR},
    {"link_in/", NULL, ENOTDIR},
    {"loop", NULL, ELOOP},
};

static void check_open_cases(open_fn fn, const char *which)
{
    for (size_t i = 0; i < sizeof(open_cases) / sizeof(open_cases[0]); i++) {
        const struct open_case *c = &open_cases[i];
        errno = 0;
        int fd = fn(root_dirfd, c->rel, O_RDONLY);
        if (c->content != NULL) {
            cr_expect_geq(fd, 0, "%s: %s failed: %s", which, c->rel, strerror(errno));
            if (fd >= 0)
                cr_expect_str_eq(slurp(fd), c->content, "%s: %s", which, c->rel);
        } else {
            cr_expect_lt(fd, 0, "%s: %s opened", which, c->rel);
            cr_expect_eq(errno, c->err, "%s: %s: errno %s, expected %s", which, c->rel, strerror(errno),
                         strerror(c->err));
            if (fd >= 0)
                close(fd);
        }
    }
}

Test(beneath, openat2_or_fallback)
{
    check_open_cases(path_open_beneath, "path_open_beneath");
}

Test(beneath, fallback_walk)
{
    check_open_cases(open_beneath_walk, "walk");
}

static void check_directories(open_fn fn, const char *which)
{
    struct stat st, rst;
    cr_assert_eq(fstat(root_dirfd, &rst), 0);

    /* "" is the root itself */
    int fd = fn(root_dirfd, "", O_RDONLY | O_DIRECTORY);
    cr_assert_geq(fd, 0, "%s: root: %s", which, strerror(errno));
    cr_assert_eq(fstat(fd, &st), 0);
    cr_expect_eq(st.st_ino, rst.st_ino, "%s: root is not the root", which);
    close(fd);

    fd = fn(root_dirfd, "link_dir/", O_RDONLY | O_DIRECTORY);
    cr_assert_geq(fd, 0, "%s: link_dir/: %s", which, strerror(errno));
    cr_assert_eq(fstat(fd, &st), 0);
    cr_expect(S_ISDIR(st.st_mode));
    close(fd);

    fd = fn(root_dirfd, "dir/sub/..", O_RDONLY | O_DIRECTORY);
    cr_assert_geq(fd, 0, "%s: dir/sub/..: %s", which, strerror(errno));
    close(fd);

    /* O_PATH on a symlink inside: the target, not the link */
    fd = fn(root_dirfd, "link_in", O_PATH);
    cr_assert_geq(fd, 0, "%s: O_PATH link_in: %s", which, strerror(errno));
    cr_assert_eq(fstat(fd, &st), 0);
    cr_expect(S_ISREG(st.st_mode), "%s: O_PATH of a symlink gave the link", which);
    close(fd);
}

Test(beneath, directories)
{
    check_directories(path_open_beneath, "path_open_beneath");
}

Test(beneath, directories_fallback)
{
    check_directories(open_beneath_walk, "walk");
}

Test(beneath, descriptor_is_close_on_exec)
{
    int fd = path_open_beneath(root_dirfd, "file.txt", O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    fd = open_beneath_walk(root_dirfd, "dir/up", O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_expect(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
}

Test(beneath, no_descriptor_leaks)
{
    /* the walk opens a descriptor per directory: every one must be closed, on success and on failure */
    int probe = open("/dev/null", O_RDONLY);
    cr_assert_geq(probe, 0);
    close(probe);
    for (int i = 0; i < 50; i++) {
        int fd = open_beneath_walk(root_dirfd, "link_dir/sub/back", O_RDONLY);
        cr_assert_geq(fd, 0);
        close(fd);
        cr_assert_lt(open_beneath_walk(root_dirfd, "link_dir/deep_out", O_RDONLY), 0);
        cr_assert_lt(open_beneath_walk(root_dirfd, "dir/sub/missing", O_RDONLY), 0);
    }
    int after = open("/dev/null", O_RDONLY);
    cr_expect_eq(after, probe, "descriptor %d free before, first free after is %d", probe, after);
    close(after);
}

Test(beneath, name_too_long)
{
    char *rel = malloc(PATH_MAX + 2);
    cr_assert_not_null(rel);
    memset(rel, 'a', PATH_MAX + 1);
    rel[PATH_MAX + 1] = '\0';
    errno = 0;
    cr_expect_lt(path_open_beneath(root_dirfd, rel, O_RDONLY), 0);
    cr_expect_eq(errno, ENAMETOOLONG);
    errno = 0;
    cr_expect_lt(open_beneath_walk(root_dirfd, rel, O_RDONLY), 0);
    cr_expect_eq(errno, ENAMETOOLONG);
    free(rel);
}
