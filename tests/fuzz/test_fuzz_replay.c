/*
 * Replays each fuzz target's seed corpus and every input that once crashed it through the target's function
 * (tests/fuzz/seeds and regressions through fuzz_conn's LLVMFuzzerTestOneInput, seeds-proxy and
 * regressions-proxy through fuzz_proxy_one), so a fixed finding stays fixed in every `make check`, without
 * libFuzzer. A broken invariant aborts the program; the sanitizer build reports memory errors as the fuzzer
 * would. Criterion runs each test in its own process: each target has its own server and scoreboard.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_conn.h"
#include "fuzz_proxy.h"

/* Runs every file of tests/fuzz/<dir> through one; returns how many. */
static int replay_dir(const char *dir, int (*one)(const uint8_t *, size_t))
{
    const char *src = getenv("HTTPD_SRCDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fuzz/%s", src != NULL ? src : ".", dir);
    DIR *d = opendir(path);
    cr_assert_not_null(d, "cannot open %s", path);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "README") == 0)
            continue;
        char file[4400];
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        FILE *f = fopen(file, "rb");
        cr_assert_not_null(f, "cannot open %s", file);
        static uint8_t buf[1 << 20];
        size_t len = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        /* libFuzzer hands the target a buffer of exactly the input's size: do the same, so that ASan sees
         * a read past its end */
        uint8_t *exact = malloc(len ? len : 1);
        cr_assert_not_null(exact);
        memcpy(exact, buf, len);
        cr_log_info("replaying %s (%zu bytes)", e->d_name, len);
        one(exact, len);
        free(exact);
        n++;
    }
    closedir(d);
    return n;
}

Test(fuzz_replay, seeds, .timeout = 120)
{
    fuzz_conn_init();
    int n = replay_dir("seeds", LLVMFuzzerTestOneInput);
    cr_assert_geq(n, 20, "only %d seed inputs", n);
}

Test(fuzz_replay, regressions, .timeout = 120)
{
    fuzz_conn_init();
    replay_dir("regressions", LLVMFuzzerTestOneInput);
}

Test(fuzz_replay, proxy_seeds, .timeout = 120)
{
    fuzz_proxy_init();
    int n = replay_dir("seeds-proxy", fuzz_proxy_one);
    cr_assert_geq(n, 20, "only %d seed inputs", n);
}

Test(fuzz_replay, proxy_regressions, .timeout = 120)
{
    fuzz_proxy_init();
    replay_dir("regressions-proxy", fuzz_proxy_one);
}
