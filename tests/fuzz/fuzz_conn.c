/*
 * libFuzzer target over the connection state machine (server/http_conn.c): the fuzzer's bytes are one
 * client's side of a connection, fed to the core exactly as an MPM would, with the real configuration loader,
 * handlers (static files, delay, server-status), access log and scoreboard behind it.
 *
 * Input layout: byte 0 selects how the MPM behaves, byte 1 seeds the choices it makes, the rest is what the
 * client sends:
 *   bit 0  read in pieces of 1..64 bytes (else as much as the buffer takes)
 *   bit 1  write responses in random partial amounts (else whole)
 *   bit 2  after the input, let the read deadline pass (408 / quiet close) instead of the peer closing
 *   bit 3  let time pass between pieces (0..4 s, so RequestReadTimeout and Timeout deadlines can expire)
 *   bit 4  ask for a graceful finish (http_conn_finish) at a random point
 *   bit 5  ask for a graceful stop (http_conn_shutdown) at a random point
 *   bit 6  the peer goes away during a response (http_conn_abort)
 * The oracle besides the sanitizers: fuzz_drive()'s (tests/fuzz/fuzz_drive.c, which is the simulated MPM).
 *
 * Built by ./configure --enable-fuzzing (clang) as tests/fuzz/fuzz_conn; tests/fuzz/test_fuzz_replay.c runs
 * the seeds and every kept crashing input through the same function in `make check`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_conn.h"
#include "fuzz_drive.h"
#include "process.h"
#include "scoreboard.h"
#include "server.h"

static struct server *srv;
static struct sb_worker *slot;

static const char conf_text[] =
    "Listen 127.0.0.1:8080\n"
    "ErrorLog /dev/null\n"
    "LogLevel debug\n"
    "CustomLog /dev/null \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-Agent}i\\\" %D %T %m "
    "%U %q %H %v %p %P %a %{Host}i %{Content-Type}o %%\"\n"
    "LimitRequestBody 100000\n"
    "LimitRequestFields 50\n"
    "RequestReadTimeout header=2-6,MinRate=500 body=3,MinRate=1000\n"
    "Timeout 10\n"
    "<Location /delay>\n  SetHandler delay\n</Location>\n"
    "<Location /server-status>\n  SetHandler server-status\n</Location>\n";

void fuzz_conn_init(void)
{
    if (srv != NULL)
        return;
    fuzz_sub("htdocs");
    fuzz_sub("htdocs/sub");
    fuzz_put("htdocs/index.html", "<html>fuzz</html>\n", 18);
    fuzz_put("htdocs/sub/index.html", "<html>sub</html>\n", 17);
    char big[20000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    fuzz_put("htdocs/big.txt", big, sizeof(big));
    char link[300];
    snprintf(link, sizeof(link), "%s/htdocs/out", fuzz_root());
    if (symlink("/etc", link) != 0)
        perror("fuzz: symlink");
    srv = fuzz_load(conf_text);
    slot = scoreboard_worker(process_scoreboard(), 0, 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_conn_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fuzz_conn_init();
    uint32_t rng = data[1] * 2654435761u + 1;
    struct fuzz_conn_run run = {.ctl = data[0], .rng = &rng, .data = data + 2, .size = size - 2};
    fuzz_drive(srv, slot, &run);
    return 0;
}
