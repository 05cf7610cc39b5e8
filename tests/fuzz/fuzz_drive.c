/*
 * The fuzz targets' shared parts (fuzz_drive.h): the temporary ServerRoot, the generator, and the simulated
 * MPM that drives one client connection through the core (server/http_conn.c).
 */
#include <arpa/inet.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../mpm/mpm.h"
#include "config.h"
#include "fuzz_drive.h"
#include "handlers.h"
#include "http_conn.h"
#include "log.h"
#include "process.h"
#include "headers.h"
#include "proxy_conf.h"
#include "server.h"
#include "util.h"

static char root[] = "/tmp/httpd-fuzz.XXXXXX"; /* mkdtemp() replaces the X's */
static int root_made;

void fuzz_check(int cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz: invariant broken: %s\n", what);
        abort();
    }
}

int fuzz_verbose(void)
{
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    return verbose;
}

uint32_t fuzz_next(uint32_t *rng)
{
    *rng = *rng * 1103515245u + 12345u;
    return *rng >> 8;
}

static void remove_root(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", root);
}

const char *fuzz_root(void)
{
    if (!root_made) {
        if (mkdtemp(root) == NULL) {
            perror("fuzz: mkdtemp");
            abort();
        }
        root_made = 1;
        atexit(remove_root);
    }
    return root;
}

void fuzz_put(const char *rel, const void *data, size_t len)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", fuzz_root(), rel);
    FILE *f = fopen(path, "w");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
}

void fuzz_sub(const char *rel)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", fuzz_root(), rel);
    if (mkdir(path, 0755) != 0) {
        fprintf(stderr, "fuzz: cannot make %s\n", path);
        abort();
    }
}

struct server *fuzz_load(const char *conf_text)
{
    fuzz_sub("conf");
    static const char types[] = "text/html html\ntext/plain txt\napplication/octet-stream bin\n";
    fuzz_put("conf/mime.types", types, sizeof(types) - 1);
    fuzz_put("conf/httpd.conf", conf_text, strlen(conf_text));
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/conf/httpd.conf", fuzz_root());
    static const struct config_module *const modules[] = {&proxy_module, &headers_module, NULL};
    struct config_args args = {
        .mpms = mpm_registry, .find_handler = handler_find, .modules = modules, .conf_file = conf};
    struct errbuf err;
    struct server *s = config_load(&args, NULL, &err);
    if (s == NULL || log_open(s, &err) < 0 || process_init(2, 2, &err) < 0) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    return s;
}

/* What the client receives, parsed as responses as it arrives. */
struct output {
    llhttp_t parser;
    int on;    /* checked: the input has no HEAD request (see fuzz_drive.h) */
    size_t at; /* bytes parsed */
};

static void output_feed(struct output *o, const char *p, size_t n)
{
    if (fuzz_verbose()) /* for writing seeds: what the client got */
        fwrite(p, 1, n, stderr);
    if (!o->on || n == 0)
        return;
    llhttp_errno_t err = llhttp_execute(&o->parser, p, n);
    if (err != HPE_OK)
        fprintf(stderr, "fuzz: the output at byte %zu: %s\n",
                o->at + (size_t)(llhttp_get_error_pos(&o->parser) - p), llhttp_get_error_reason(&o->parser));
    fuzz_check(err == HPE_OK, "the output does not parse as HTTP/1.1 responses");
    o->at += n;
}

/* The first n bytes of out, as written. */
static void output_written(struct output *o, const struct conn_out *out, size_t n, char *file_buf, size_t cap)
{
    if (out->iovcnt == 0) {
        for (size_t done = 0; done < n;) {
            size_t k = n - done < cap ? n - done : cap;
            fuzz_check(pread(out->file_fd, file_buf, k, out->file_off + (off_t)done) == (ssize_t)k,
                       "file range unreadable");
            output_feed(o, file_buf, k);
            done += k;
        }
        return;
    }
    for (int i = 0; i < out->iovcnt && n > 0; i++) {
        size_t k = out->iov[i].iov_len < n ? out->iov[i].iov_len : n;
        output_feed(o, out->iov[i].iov_base, k);
        n -= k;
    }
}

void fuzz_drive(const struct server *s, struct sb_worker *slot, const struct fuzz_conn_run *run)
{
    static char file_buf[65536];
    static llhttp_settings_t response_settings;
    static int settings_made;
    if (!settings_made) {
        llhttp_settings_init(&response_settings);
        settings_made = 1;
    }
    struct output o = {.on = memmem(run->data, run->size, "HEAD", 4) == NULL};
    llhttp_init(&o.parser, HTTP_RESPONSE, &response_settings);
    const unsigned ctl = run->ctl;
    uint32_t *rng = run->rng;
    const uint8_t *data = run->data;
    const size_t size = run->size;

    int64_t now = 1000000;
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(0x7f000001);
    struct http_conn *c = http_conn_create(s, (struct sockaddr *)&peer, sizeof(peer), now);
    fuzz_check(c != NULL, "create");
    http_conn_set_slot(c, slot);
    if (run->vhosts != NULL)
        http_conn_set_vhosts(c, run->vhosts);

    size_t pos = 0, out_total = 0;
    char head[9];
    int finish_at = (ctl & 0x10) ? (int)(fuzz_next(rng) % (size + 1)) : -1;
    int shutdown_at = (ctl & 0x20) ? (int)(fuzz_next(rng) % (size + 1)) : -1;
    int abort_at = (ctl & 0x40) ? (int)(fuzz_next(rng) % 4096) : -1;
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
            fuzz_check(http_conn_output(c, &out) == 0, "WRITE with nothing to write");
            size_t avail = 0;
            if (out.iovcnt > 0) {
                for (int i = 0; i < out.iovcnt; i++) {
                    fuzz_check(out.iov[i].iov_len > 0, "empty iovec");
                    avail += out.iov[i].iov_len;
                }
            } else {
                fuzz_check(out.file_len > 0 && out.file_fd >= 0, "empty file range");
                fuzz_check(out_total >= sizeof(head), "file range before a head");
                size_t n = out.file_len < sizeof(file_buf) ? out.file_len : sizeof(file_buf);
                fuzz_check(pread(out.file_fd, file_buf, n, out.file_off) == (ssize_t)n,
                           "file range unreadable");
                avail = out.file_len;
            }
            if (abort_at >= 0 && out_total >= (size_t)abort_at) {
                st = http_conn_abort(c);
                break;
            }
            size_t n = avail;
            if (ctl & 0x02)
                n = 1 + fuzz_next(rng) % avail;
            /* the first bytes written must be a status line */
            for (int i = 0, k = 0; i < out.iovcnt && out_total + (size_t)k < sizeof(head); i++)
                for (size_t j = 0;
                     j < out.iov[i].iov_len && (size_t)k < n && out_total + (size_t)k < sizeof(head);
                     j++, k++)
                    head[out_total + (size_t)k] = ((const char *)out.iov[i].iov_base)[j];
            out_total += n;
            if (out_total >= sizeof(head))
                fuzz_check(memcmp(head, "HTTP/1.1 ", sizeof(head)) == 0,
                           "output does not start with HTTP/1.1");
            output_written(&o, &out, n, file_buf, sizeof(file_buf));
            st = http_conn_sent(c, n, now);
            break;
        }
        case CONN_WAIT: {
            int events = 0;
            int fd = http_conn_wait_fd(c, &events);
            if (fd >= 0 && run->socket_wait != NULL && run->socket_wait(run->arg, fd, events, &now) &&
                now < http_conn_deadline(c)) {
                st = http_conn_ready(c, now);
                break;
            }
            if (now < http_conn_deadline(c))
                now = http_conn_deadline(c);
            st = http_conn_timeout(c, now);
            break;
        }
        case CONN_READ:
        case CONN_KEEPALIVE:
            if (ctl & 0x08)
                now += fuzz_next(rng) % 4000;
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
            fuzz_check(http_conn_read_space(c, &buf, &space) == 0, "no read space while reading");
            fuzz_check(space > 0, "zero read space");
            size_t k = size - pos;
            if (k > space)
                k = space;
            if ((ctl & 0x01) && k > 1)
                k = 1 + fuzz_next(rng) % (k < 64 ? k : 64);
            memcpy(buf, data + pos, k);
            pos += k;
            st = http_conn_input(c, k, now);
            break;
        case CONN_CLOSE:
            break;
        }
    }
    fuzz_check(st == CONN_CLOSE, "connection never ends");
    http_conn_destroy(c);
}
