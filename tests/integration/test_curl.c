/*
 * A real client: curl fetches the index over HTTP/1.1 and HTTP/1.0 and the large file, and the saved bodies
 * must equal the files. Skipped when curl is not installed.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* curl is on PATH. */
static int have_curl(void)
{
    char *argv[] = {"curl", "--version", NULL};

    return run_cmd(argv, 5000, NULL, NULL) == 0;
}

/* Runs curl with `flag` (or none) on url, saving to file; asserts exit 0 and the status code printed. */
static void curl_get(const char *flag, const char *url, const char *file, const char *want_code)
{
    char *argv[16], *out = NULL, *err = NULL;
    int argc = 0;

    argv[argc++] = "curl";
    argv[argc++] = "-sS";
    argv[argc++] = "--max-time";
    argv[argc++] = "10";
    if (flag)
        argv[argc++] = (char *)flag;
    argv[argc++] = "-o";
    argv[argc++] = (char *)file;
    argv[argc++] = "-w";
    argv[argc++] = "%{http_code}";
    argv[argc++] = (char *)url;
    argv[argc] = NULL;
    int status = run_cmd(argv, 15000, &out, &err);
    hassert(status == 0, "curl %s %s: exit %d; stderr: %s", flag ? flag : "", url, status, err ? err : "");
    hassert(out && strcmp(out, want_code) == 0, "curl %s %s: status \"%s\", want %s", flag ? flag : "", url,
            out ? out : "", want_code);
    free(out);
    free(err);
}

static void expect_file_equals(const char *path, const void *want, size_t want_len)
{
    size_t len;
    char *got = read_file(path, &len);

    hassert(got != NULL, "curl wrote no %s", path);
    expect_bytes(path, got, len, want, want_len);
    free(got);
}

MPM_TEST(curl, fetch, .timeout = 30)
{
    if (!have_curl())
        cr_skip_test("curl is not installed");
    struct srv *s = server_start(mpm, NULL);
    char *url = xasprintf("http://127.0.0.1:%d/", s->port),
         *big = xasprintf("http://127.0.0.1:%d/big.bin", s->port);
    char *missing = xasprintf("http://127.0.0.1:%d/missing", s->port);
    char *file = strdup(server_path(s, "curl.out"));

    curl_get(NULL, url, file, "200");
    expect_file_equals(file, INDEX_HTML, strlen(INDEX_HTML));
    unlink(file);
    curl_get("--http1.0", url, file, "200");
    expect_file_equals(file, INDEX_HTML, strlen(INDEX_HTML));
    unlink(file);
    curl_get(NULL, big, file, "200");
    expect_file_equals(file, harness_big(), BIG_LEN);
    unlink(file);
    curl_get(NULL, missing, file, "404");
    char *page = error_body(404);
    expect_file_equals(file, page, strlen(page));
    free(page);
    free(url);
    free(big);
    free(missing);
    free(file);
    server_stop(s);
}
