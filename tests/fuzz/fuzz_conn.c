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
 * The oracle besides the sanitizers: the output stream starts with "HTTP/1.1 ", every piece the core hands
 * out is non-empty, file ranges are readable, the connection ends, and the core never asks for something
 * impossible (no read space while reading).
 *
 * Built by ./configure --enable-fuzzing (clang) as tests/fuzz/fuzz_conn; tests/fuzz/test_fuzz_replay.c runs
 * the seeds and every kept crashing input through the same function in `make check`.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../mpm/mpm.h"
#include "config.h"
#include "fuzz_conn.h"
#include "handlers.h"
#include "http_conn.h"
#include "log.h"
#include "process.h"
#include "scoreboard.h"
#include "server.h"
#include "util.h"

static struct server *srv;
static struct sb_worker *slot;
static char root[] = "/tmp/httpd-fuzz.XXXXXX";

static void put(const char *rel, const void *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
}

static void sub(const char *rel)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if (mkdir(path, 0755) != 0) {
        fprintf(stderr, "fuzz: cannot make %s\n", path);
        abort();
    }
}

static void remove_root(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", root);
}

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
    if (mkdtemp(root) == NULL) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_root);
    sub("conf");
    sub("htdocs");
    sub("htdocs/sub");
    static const char types[] = "text/html html\ntext/plain txt\napplication/octet-stream bin\n";
    put("conf/mime.types", types, sizeof(types) - 1);
    put("conf/httpd.conf", conf_text, sizeof(conf_text) - 1);
    put("htdocs/index.html", "<html>fuzz</html>\n", 18);
    put("htdocs/sub/index.html", "<html>sub</html>\n", 17);
    char big[20000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    put("htdocs/big.txt", big, sizeof(big));
    char link[300];
    snprintf(link, sizeof(link), "%s/htdocs/out", root);
    if (symlink("/etc", link) != 0)
        perror("fuzz: symlink");

    char conf[300];
    snprintf(conf, sizeof(conf), "%s/conf/httpd.conf", root);
    struct config_args args = {.mpms = mpm_registry, .find_handler = handler_find, .conf_file = conf};
    struct errbuf err;
    srv = config_load(&args, NULL, &err);
    if (srv == NULL || log_open(srv, &err) < 0 || process_init(2, 2, &err) < 0) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    slot = scoreboard_worker(process_scoreboard(), 0, 0);
}

/* The MPM's choices: a small deterministic generator seeded by the input. */
static uint32_t next(uint32_t *rng)
{
    *rng = *rng * 1103515245u + 12345u;
    return *rng >> 8;
}

static void check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz: invariant broken: %s\n", what);
        abort();
    }
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
    static char file_buf[65536];
    if (size < 2)
        return 0;
    fuzz_conn_init();
    unsigned ctl = data[0];
    uint32_t rng = data[1] * 2654435761u + 1;
    data += 2;
    size -= 2;

    int64_t now = 1000000;
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(0x7f000001);
    struct http_conn *c = http_conn_create(srv, (struct sockaddr *)&peer, sizeof(peer), now);
    check(c != NULL, "create");
    http_conn_set_slot(c, slot);

    size_t pos = 0, out_total = 0;
    char head[9];
    int finish_at = (ctl & 0x10) ? (int)(next(&rng) % (size + 1)) : -1;
    int shutdown_at = (ctl & 0x20) ? (int)(next(&rng) % (size + 1)) : -1;
    int abort_at = (ctl & 0x40) ? (int)(next(&rng) % 4096) : -1;
    int ended_input = 0;
    enum conn_state st = http_conn_state(c);
    for (int steps = 0; steps < 200000 && st != CONN_CLOSE; steps++) {
        if (finish_at >= 0 && pos >= (size_t)finish_at) {
            http_conn_finish(c);
            finish_at = -1;
        }
        if (shutdown_at >= 0 && pos >= (size_t)shutdown_at) {
            st = http_conn_shutdown(c);
            shutdown_at = -1;
            continue;
        }
        switch (st) {
        case CONN_WRITE: {
            struct conn_out out;
            check(http_conn_output(c, &out) == 0, "WRITE with nothing to write");
            size_t avail = 0;
            if (out.iovcnt > 0) {
                for (int i = 0; i < out.iovcnt; i++) {
                    check(out.iov[i].iov_len > 0, "empty iovec");
                    avail += out.iov[i].iov_len;
                }
            } else {
                check(out.file_len > 0 && out.file_fd >= 0, "empty file range");
                check(out_total >= sizeof(head), "file range before a head");
                size_t n = out.file_len < sizeof(file_buf) ? out.file_len : sizeof(file_buf);
                check(pread(out.file_fd, file_buf, n, out.file_off) == (ssize_t)n, "file range unreadable");
                avail = out.file_len;
            }
            if (abort_at >= 0 && out_total >= (size_t)abort_at) {
                st = http_conn_abort(c);
                break;
            }
            size_t n = avail;
            if (ctl & 0x02)
                n = 1 + next(&rng) % avail;
            /* the first bytes written must be a status line */
            for (int i = 0, k = 0; i < out.iovcnt && out_total + (size_t)k < sizeof(head); i++)
                for (size_t j = 0;
                     j < out.iov[i].iov_len && (size_t)k < n && out_total + (size_t)k < sizeof(head);
                     j++, k++)
                    head[out_total + (size_t)k] = ((const char *)out.iov[i].iov_base)[j];
            out_total += n;
            if (out_total >= sizeof(head))
                check(memcmp(head, "HTTP/1.1 ", sizeof(head)) == 0, "output does not start with HTTP/1.1");
            st = http_conn_sent(c, n, now);
            break;
        }
        case CONN_WAIT:
            if (now < http_conn_deadline(c))
                now = http_conn_deadline(c);
            st = http_conn_timeout(c, now);
            break;
        case CONN_READ:
        case CONN_KEEPALIVE:
            if (ctl & 0x08)
                now += next(&rng) % 4000;
            if (now >= http_conn_deadline(c)) {
                st = http_conn_timeout(c, now);
                break;
            }
            if (pos == size) {
                if (ended_input++ > 0 || !(ctl & 0x04)) {
                    st = http_conn_eof(c, now);
                    break;
                }
                now = http_conn_deadline(c);
                st = http_conn_timeout(c, now);
                break;
            }
            char *buf;
            size_t space;
            check(http_conn_read_space(c, &buf, &space) == 0, "no read space while reading");
            check(space > 0, "zero read space");
            size_t k = size - pos;
            if (k > space)
                k = space;
            if ((ctl & 0x01) && k > 1)
                k = 1 + next(&rng) % (k < 64 ? k : 64);
            memcpy(buf, data + pos, k);
            pos += k;
            st = http_conn_input(c, k, now);
            break;
        case CONN_CLOSE:
            break;
        }
    }
    check(st == CONN_CLOSE, "connection never ends");
    http_conn_destroy(c);
    return 0;
}
