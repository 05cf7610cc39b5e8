/*
 * TLS on every MPM, against the real binary: certificates made at test time with the openssl CLI (a root CA,
 * an intermediate, leaf certificates for localhost with an ECDSA P-256 and an RSA-2048 key, an expired one),
 * Python's ssl (tests/integration/tls_client.py) and curl as clients. Responses over TLS are compared byte
 * for byte with what the plain tests expect; sessions must resume on another child; a stalled handshake is
 * bounded and, under event, blocks no one; a graceful restart picks up a renewed certificate without a failed
 * request, and a bad certificate or key is a configuration error that keeps the old generation.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define TLS_CONF                                                                                             \
    "Listen 127.0.0.1:@PORT@ https\n"                                                                        \
    "SSLEngine on\n"                                                                                         \
    "SSLCertificateFile conf/leaf.pem\n"                                                                     \
    "SSLCertificateKeyFile conf/leaf.key\n"

/*
 * The PKI under DIR/conf: ca.pem (root), leaf.pem (localhost, ECDSA P-256 key leaf.key, issued by an
 * intermediate: the file holds the leaf then the intermediate), rsa.pem (localhost, RSA-2048 key rsa.key,
 * issued by the root), expired.pem (leaf.key's certificate, expired yesterday), other.key (a key of no
 * certificate).
 */
static void make_pki(const char *dir)
{
    char *script = xasprintf(
        "set -e; cd '%s/conf'; "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext; "
        "printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\n' > ca.ext; "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
        "-days 2 -subj /CN=httpd-test-root; "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -out int.csr "
        "-subj /CN=httpd-test-intermediate; "
        "openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out int.pem -days 2 "
        "-extfile ca.ext; "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr "
        "-subj /CN=localhost; "
        "openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -out leaf-only.pem "
        "-days 2 -extfile san.ext; "
        "cat leaf-only.pem int.pem > leaf.pem; "
        "openssl req -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.csr -subj /CN=localhost; "
        "openssl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out rsa.pem -days 2 "
        "-extfile san.ext; "
        "openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out expired.pem -days -1 "
        "-extfile san.ext; "
        "openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out other.key",
        dir);
    run_script(script, 30000, "making the test certificates");
    free(script);
}

/* A server of `mpm` with TLS_CONF (or `conf`) and `more`, its PKI made before it starts. */
static struct srv *tls_server(const char *mpm, const char *conf, const char *more)
{
    char *extra = xasprintf("%s%s", conf ? conf : TLS_CONF, more ? more : "");
    struct srv *s = server_new(mpm, extra);
    free(extra);
    s->listen_in_conf = 0;
    make_pki(s->dir);
    server_launch(s, NULL);
    return s;
}

/* Runs tls_client.py with args (NULL-terminated, at most 8); returns its exit status with *out. */
static int client(const struct srv *s, char **out, char **err, const char *const *args)
{
    char *argv[12];
    int n = 0;
    char *script = xasprintf("%s/tests/integration/tls_client.py", getenv("HTTPD_SRCDIR"));
    setenv("TLS_DIR", s->dir, 1);
    argv[n++] = "python3";
    argv[n++] = script;
    for (int i = 0; args[i] != NULL && n < 11; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    int rc = run_cmd(argv, 30000, out, err);
    free(script);
    return rc;
}

/* GET path over TLS (extra client options in opt1, opt2, may be NULL); returns the parsed response and the
 * client's "VERSION ALPN" line in *info (malloc'd). */
static struct resp *tls_get(const struct srv *s, const char *path, const char *opt1, const char *opt2,
                            char **info)
{
    char port[16], *out = NULL, *err = NULL, msg[256];
    snprintf(port, sizeof(port), "%d", s->port);
    char *file = xasprintf("%s/tls.out", s->dir);
    const char *args[] = {"get", port, path, file, opt1, opt2, NULL};
    int rc = client(s, &out, &err, args);
    hassert(rc == 0, "TLS GET %s: exit %d: %s", path, rc, err ? err : "");
    size_t len, used;
    char *raw = read_file(file, &len);
    hassert(raw != NULL, "the client wrote no response");
    struct resp *r = calloc(1, sizeof(*r));
    hassert(resp_parse(raw, len, 0, r, &used, msg, sizeof(msg)) == 1, "TLS GET %s: %s", path, msg);
    hassert(used == len, "TLS GET %s: %zu bytes after the response", path, len - used);
    free(raw);
    unlink(file);
    free(file);
    free(err);
    *info = out;
    return r;
}

MPM_TEST(tls, get_byte_for_byte, .timeout = 60)
{
    struct srv *s = tls_server(mpm, NULL, NULL);
    char *info;
    struct resp *r = tls_get(s, "/index.html", "--alpn", "http/1.1", &info);
    expect_file(r, s, "index.html", "close", 0);
    hassert(strcmp(info, "TLSv1.3 http/1.1\n") == 0, "negotiated: %s", info);
    resp_free(r);
    free(info);

    /* a file large enough to go out in many records, through sendfile's path of the transport */
    r = tls_get(s, "/big.bin", "--tls-max", "1.2", &info);
    hassert(r->status == 200, "big.bin: status %d", r->status);
    expect_bytes("big.bin over TLS", r->body, r->body_len, harness_big(), BIG_LEN);
    hassert(strcmp(info, "TLSv1.2 -\n") == 0, "negotiated (no ALPN offered): %s", info);
    resp_free(r);
    free(info);

    /* curl, verifying the chain (leaf and intermediate sent from SSLCertificateFile) against the root */
    char *url = xasprintf("https://localhost:%d/big.bin", s->port);
    char *resolve = xasprintf("localhost:%d:127.0.0.1", s->port);
    char *ca = xasprintf("%s/conf/ca.pem", s->dir), *file = xasprintf("%s/curl.out", s->dir);
    char *head_file = xasprintf("%s/curl.head", s->dir);
    char *argv[] = {"curl",  "-sS", "--max-time", "10", "--cacert", ca,   "--resolve",
                    resolve, "-D",  head_file,    "-o", file,       "-w", "%{http_code} %{http_version}",
                    url,     NULL};
    char *out = NULL, *err = NULL;
    int rc = run_cmd(argv, 15000, &out, &err);
    hassert(rc == 0, "curl: exit %d: %s", rc, err ? err : "");
    hassert(out && strcmp(out, "200 1.1") == 0, "curl: %s", out ? out : "");
    /* the head curl saw and the body it saved, as one response: the same bytes a plain GET gets */
    size_t hlen, blen, used;
    char *head = read_file(head_file, &hlen), *body = read_file(file, &blen), msg[256];
    hassert(head != NULL && body != NULL, "curl saved no head or body");
    char *whole = malloc(hlen + blen);
    memcpy(whole, head, hlen);
    memcpy(whole + hlen, body, blen);
    struct resp cr;
    memset(&cr, 0, sizeof(cr));
    hassert(resp_parse(whole, hlen + blen, 0, &cr, &used, msg, sizeof(msg)) == 1, "curl's response: %s", msg);
    expect_static(&cr, s, "big.bin", harness_big(), BIG_LEN, "application/octet-stream", NULL, 0);
    hassert(used == hlen + blen, "curl saved more than one response");
    resp_clear(&cr);
    free(whole);
    free(head);
    free(head_file);
    free(body);
    free(out);
    free(err);
    free(url);
    free(resolve);
    free(ca);
    free(file);

    /* ALPN with nothing in common: RFC 7301's fatal alert */
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    char *dummy = xasprintf("%s/h2.out", s->dir);
    const char *h2[] = {"get", port, "/", dummy, "--alpn", "h2", NULL};
    hassert(client(s, NULL, NULL, h2) != 0, "a client offering only h2 was served");
    free(dummy);
    server_stop(s);
}

MPM_TEST(tls, pipelined_requests_in_one_record, .timeout = 60)
{
    /* 20 requests of about 660 bytes in one TLS record: more than the core reads at a time, so the rest waits
     * decrypted in OpenSSL, where no readiness of the socket announces it */
    struct srv *s = tls_server(mpm, NULL, NULL);
    char port[16], *err = NULL, msg[256];
    snprintf(port, sizeof(port), "%d", s->port);
    char *file = xasprintf("%s/pipeline.out", s->dir);
    const char *args[] = {"pipeline", port, "20", file, NULL};
    int rc = client(s, NULL, &err, args);
    hassert(rc == 0, "pipeline: exit %d: %s", rc, err ? err : "");
    size_t len, used, at = 0;
    char *raw = read_file(file, &len);
    hassert(raw != NULL, "no answer");
    for (int i = 0; i < 20; i++) {
        struct resp r;
        memset(&r, 0, sizeof(r));
        hassert(resp_parse(raw + at, len - at, 0, &r, &used, msg, sizeof(msg)) == 1, "response %d: %s", i,
                msg);
        expect_file(&r, s, "index.html", i == 19 ? "close" : NULL, 0);
        resp_clear(&r);
        at += used;
    }
    hassert(at == len, "%zu bytes after the 20 responses", len - at);
    free(raw);
    free(file);
    free(err);
    server_stop(s);
}

MPM_TEST(tls, old_protocols_refused, .timeout = 60)
{
    struct srv *s = tls_server(mpm, NULL, NULL);
    char *url = xasprintf("https://127.0.0.1:%d/", s->port);
    static const char *const versions[][2] = {{"--tlsv1.0", "1.0"}, {"--tlsv1.1", "1.1"}};
    for (int i = 0; i < 2; i++) {
        char *argv[] = {"curl",      "-sS",
                        "-k",        "--max-time",
                        "5",         (char *)versions[i][0],
                        "--tls-max", (char *)versions[i][1],
                        "-o",        "/dev/null",
                        url,         NULL};
        int rc = run_cmd(argv, 10000, NULL, NULL);
        hassert(rc == 35, "TLS %s: curl exit %d, want 35 (handshake refused)", versions[i][1], rc);
    }
    hassert(wait_log(s->error_log, "unsupported protocol", 2, 3000),
            "the refused handshakes are not logged at info: %s", log_tail(s->error_log, 2000));
    free(url);
    server_stop(s);
}

/* Reads everything until the server closes (or ms pass); returns the bytes (malloc'd) and their count. */
static char *read_to_close(int fd, size_t *len, int ms)
{
    struct conn c = {.fd = fd};
    while (!c.eof && conn_fill(&c, ms) > 0)
        ;
    hassert(c.eof, "the server did not close the connection within %d ms", ms);
    *len = c.len;
    return c.buf;
}

/* The children's sockets, for a leak check: pids into kids, counts into fds. Sockets only: a child that
 * serves its first file opens its DocumentRoot once and keeps it, and which child serves the first request is
 * not ours to choose. */
static int child_fds(const struct srv *s, pid_t *kids, int *fds, int max)
{
    int n = proc_children(s->pid, kids, max);
    for (int i = 0; i < n; i++)
        fds[i] = proc_socket_fds(kids[i]);
    return n;
}

MPM_TEST(tls, bad_input, .timeout = 90)
{
    struct srv *s = tls_server(mpm, NULL, "StartServers 1\nRequestReadTimeout handshake=1\n");
    pid_t kids[16];
    int fds[16];
    char *info;
    struct resp *r = tls_get(s, "/index.html", NULL, NULL, &info); /* every child has served once */
    resp_free(r);
    free(info);
    int nk = child_fds(s, kids, fds, 16);

    /* plain HTTP: Apache's 400 page, then a close */
    int fd = raw_connect(s->port, 0);
    raw_send(fd, "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
    size_t len, used;
    char *got = read_to_close(fd, &len, 3000), msg[256];
    struct resp pr;
    hassert(resp_parse(got, len, 0, &pr, &used, msg, sizeof(msg)) == 1, "plain HTTP: %s", msg);
    char *head = expect_head(400, "", 362, "text/html; charset=iso-8859-1", "close");
    expect_bytes("the 400 head", pr.norm, strlen(pr.norm), head, strlen(head));
    hassert(strstr(pr.body, "Reason: You're speaking plain HTTP to an SSL-enabled server port.<br />") !=
                NULL,
            "400 body: %s", pr.body);
    resp_clear(&pr);
    close(fd);
    free(head);
    free(got);

    /* garbage, a truncated ClientHello, a record of an unknown version: closed without an answer */
    static const char garbage[] = "\x01\x02\x03 this is not TLS at all \xff\xfe\r\n\r\n";
    static const char truncated[] = "\x16\x03\x01\x00\xc8\x01\x00\x00\xc4\x03\x03";
    static const char version[] = "\x16\x09\x09\x00\x05\x01\x00\x00\x01\x00";
    const struct {
        const char *bytes;
        size_t len;
        int half_close;
    } bad[] = {{garbage, sizeof(garbage) - 1, 0},
               {truncated, sizeof(truncated) - 1, 1},
               {version, sizeof(version) - 1, 0}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        fd = raw_connect(s->port, 0);
        hassert(write(fd, bad[i].bytes, bad[i].len) == (ssize_t)bad[i].len, "write failed");
        if (bad[i].half_close)
            shutdown(fd, SHUT_WR);
        char *reply = read_to_close(fd, &len, 5000);
        hassert(len == 0 || (unsigned char)reply[0] == 0x15,
                "bad input %zu: answered with %zu bytes not an alert", i, len);
        free(reply);
        close(fd);
    }
    hassert(wait_log(s->error_log, "handshake failed with 127.0.0.1", 4, 3000),
            "the failed handshakes are not logged at info: %s", log_tail(s->error_log, 3000));

    /* 100 random inputs (a fixed seed), half of them behind a handshake record's header, some cut short */
    unsigned seed = 15;
    for (int i = 0; i < 100; i++) {
        unsigned char junk[600];
        size_t n = 1 + (size_t)(rand_r(&seed) % (int)sizeof(junk));
        for (size_t k = 0; k < n; k++)
            junk[k] = (unsigned char)rand_r(&seed);
        if (i % 2 == 0 && n > 5)
            memcpy(junk, "\x16\x03\x01", 3);
        fd = raw_connect(s->port, 0);
        hassert(write(fd, junk, n) == (ssize_t)n, "write failed");
        if (i % 10 != 0) /* the others stay open: RequestReadTimeout handshake=1 ends them */
            shutdown(fd, SHUT_WR);
        char *reply = read_to_close(fd, &len, 4000);
        free(reply);
        close(fd);
    }
    pid_t after[16];
    int na = proc_children(s->pid, after, 16);
    for (int i = 0; i < nk; i++)
        hassert(pid_in(after, na, kids[i]), "child %d is gone after the random input", (int)kids[i]);
    /* the children still serve, and hold no descriptor more than before */
    r = tls_get(s, "/index.html", NULL, NULL, &info);
    expect_file(r, s, "index.html", "close", 0);
    resp_free(r);
    free(info);
    /* (the last connection's close may lag its response on a loaded machine: a leak stays) */
    for (int i = 0; i < nk; i++) {
        int now = proc_socket_fds(kids[i]);
        for (int64_t until = now_ms() + 3000; now > fds[i] && now_ms() < until;
             now = proc_socket_fds(kids[i]))
            sleep_ms(50);
        hassert(now < 0 || now == fds[i], "child %d holds %d sockets, %d before the bad input", (int)kids[i],
                now, fds[i]);
    }
    server_stop(s);
}

/* Directives that make each of N connections held open at once be answered by another child. */
#define SPREAD                                                                                               \
    "LogFormat \"%P\" pid\n"                                                                                 \
    "CustomLog pids pid\n"                                                                                   \
    "<IfModule mpm_prefork_module>\nStartServers 4\nMinSpareServers 4\nMaxSpareServers 8\n</IfModule>\n"     \
    "<IfModule mpm_worker_module>\nStartServers 4\nThreadsPerChild 1\nMinSpareThreads 4\n"                   \
    "MaxSpareThreads 8\nMaxRequestWorkers 8\nServerLimit 8\n</IfModule>\n"                                   \
    "<IfModule mpm_event_module>\nStartServers 4\nWorkerConnections 1\n</IfModule>\n"

/* Resumes a session over 4 connections held open at once (`max`: "1.2" or NULL); returns how many resumed
 * (and in *renewed, unless NULL, how many of them were sent a new ticket) and asserts that more than one
 * child answered. */
static int resumed_renewed(struct srv *s, const char *max, int *renewed)
{
    char port[16], *out = NULL, *err = NULL;
    snprintf(port, sizeof(port), "%d", s->port);
    const char *args[] = {"resume", port, "4", max ? "--tls-max" : NULL, max, NULL};
    char *pids = server_path(s, "pids") ? strdup(server_path(s, "pids")) : NULL;
    hassert(truncate(pids, 0) == 0 || errno == ENOENT, "truncate(%s): %s", pids, strerror(errno));
    int rc = client(s, &out, &err, args);
    hassert(rc == 0, "resume: exit %d: %s %s", rc, out ? out : "", err ? err : "");
    int n = -1, k = -1;
    hassert(out && sscanf(out, "reused %d renewed %d", &n, &k) == 2, "resume: %s", out ? out : "");
    if (renewed != NULL)
        *renewed = k;
    sleep_ms(1200); /* BufferedLogs is off: written at once; the pids file appears with the first line */
    size_t len;
    char *text = read_file(pids, &len);
    hassert(text != NULL, "no pid log");
    char *first = strtok(text, "\n"), *other = NULL;
    for (char *p = strtok(NULL, "\n"); p != NULL && other == NULL; p = strtok(NULL, "\n"))
        if (strcmp(p, first) != 0)
            other = p;
    hassert(other != NULL, "every connection was answered by child %s", first);
    free(text);
    free(pids);
    free(out);
    free(err);
    return n;
}

static int resumed(struct srv *s, const char *max)
{
    return resumed_renewed(s, max, NULL);
}

MPM_TEST(tls, session_resumes_on_another_child, .timeout = 90)
{
    struct srv *s = tls_server(mpm, NULL, SPREAD);
    pid_t kids[16];
    hassert(proc_wait_children(s->pid, kids, 16, 4, 16, 5000) >= 4, "the server has not got 4 children");
    int renewed = -1;
    int n = resumed_renewed(s, NULL, &renewed);
    hassert(n == 3, "TLS 1.3, tickets: %d of 3 connections resumed", n);
    /* a TLS 1.3 client uses a ticket once: each resumption must bring a new one, else the next connection
     * of such a client is a full handshake */
    hassert(renewed == 3, "TLS 1.3, tickets: %d of 3 resumptions were sent a new ticket", renewed);
    n = resumed(s, "1.2");
    hassert(n == 3, "TLS 1.2, tickets: %d of 3 connections resumed", n);
    server_stop(s);

    /* without tickets, the shared session cache */
    s = tls_server(mpm, NULL, SPREAD "SSLSessionTickets off\nSSLSessionCache shmcb:ssl_scache(512000)\n");
    hassert(proc_wait_children(s->pid, kids, 16, 4, 16, 5000) >= 4, "the server has not got 4 children");
    n = resumed(s, NULL);
    hassert(n == 3, "TLS 1.3, shmcb: %d of 3 connections resumed", n);
    n = resumed(s, "1.2");
    hassert(n == 3, "TLS 1.2, shmcb: %d of 3 connections resumed", n);
    server_stop(s);

    /* neither: nothing resumes (the check above can fail) */
    s = tls_server(mpm, NULL, SPREAD "SSLSessionTickets off\nSSLSessionCache none\n");
    hassert(proc_wait_children(s->pid, kids, 16, 4, 16, 5000) >= 4, "the server has not got 4 children");
    n = resumed(s, NULL);
    hassert(n == 0, "no tickets and no cache, yet %d connections resumed", n);
    server_stop(s);
}

/* Runs tls_client.py nagle over 7 connections (`max`: "1.2" or NULL); asserts that 6 resumed and returns the
 * median ms of their requests. */
static double nagle_ms(struct srv *s, const char *max)
{
    char port[16], *out = NULL, *err = NULL;
    snprintf(port, sizeof(port), "%d", s->port);
    const char *args[] = {"nagle", port, "7", max ? "--tls-max" : NULL, max, NULL};
    int rc = client(s, &out, &err, args);
    hassert(rc == 0, "nagle: exit %d: %s %s", rc, out ? out : "", err ? err : "");
    int n = -1;
    double ms = -1;
    hassert(out && sscanf(out, "reused %d ms %lf", &n, &ms) == 2, "nagle: %s", out ? out : "");
    hassert(n == 6, "TLS %s: %d of 6 connections resumed", max ? max : "1.3", n);
    free(out);
    free(err);
    return ms;
}

MPM_TEST(tls, request_after_a_resumed_handshake_not_held, .timeout = 60)
{
    /* A resumed TLS 1.2 handshake ends with the client's Finished, to which the server has nothing to say;
     * a client with Nagle's algorithm on holds its request until that Finished is acknowledged, and unless
     * the server acknowledges it at once, the request waits out the delayed-ACK timer (40 ms or more) */
    struct srv *s = tls_server(mpm, NULL, NULL);
    double ms = nagle_ms(s, "1.2");
    hassert(ms < 25, "TLS 1.2: a request after a resumed handshake was answered in %.1f ms (median of 7)",
            ms);
    ms = nagle_ms(s, NULL);
    hassert(ms < 25, "TLS 1.3: a request after a resumed handshake was answered in %.1f ms (median of 7)",
            ms);
    server_stop(s);
}

MPM_TEST(tls, stalled_handshake, .timeout = 60)
{
    /* 5 s: the other client below is a Python process, which on a loaded machine takes well over a second to
     * start and shake hands; the reactor's fault would show as an answer held until the timeout */
    struct srv *s = tls_server(mpm, NULL, "RequestReadTimeout handshake=5\nStartServers 1\n");
    /* a ClientHello's first bytes, then nothing */
    int fd = raw_connect(s->port, 0);
    hassert(write(fd, "\x16\x03\x01\x00\xc8\x01", 6) == 6, "write failed");
    int64_t t0 = now_ms();
    if (strcmp(mpm, "event") == 0) {
        /* the reactor that holds the stalled handshake answers another client meanwhile */
        char *info;
        struct resp *r = tls_get(s, "/index.html", NULL, NULL, &info);
        expect_file(r, s, "index.html", "close", 0);
        hassert(now_ms() - t0 < 4000, "a stalled handshake held another client for %lld ms",
                (long long)(now_ms() - t0));
        resp_free(r);
        free(info);
    }
    size_t len;
    char *got = read_to_close(fd, &len, 9000);
    int64_t took = now_ms() - t0;
    hassert(len == 0, "the stalled handshake got %zu bytes", len);
    hassert(took >= 4500 && took < 8000, "the stalled handshake was closed after %lld ms, want about 5 s",
            (long long)took);
    hassert(wait_log(s->error_log, "handshake timed out", 1, 2000), "the timeout is not logged: %s",
            log_tail(s->error_log, 2000));
    free(got);
    close(fd);
    server_stop(s);
}

/* Starts tls_client.py loop for `secs` in the background, its output to DIR/loop.out; returns its pid. */
static pid_t start_loop(const struct srv *s, int secs)
{
    char port[16], dur[16];
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(dur, sizeof(dur), "%d", secs);
    char *script = xasprintf("%s/tests/integration/tls_client.py", getenv("HTTPD_SRCDIR"));
    char *out = xasprintf("%s/loop.out", s->dir);
    setenv("TLS_DIR", s->dir, 1);
    pid_t pid = fork();
    hassert(pid >= 0, "fork() failed: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        execlp("python3", "python3", script, "loop", port, dur, (char *)NULL);
        _exit(127);
    }
    free(script);
    free(out);
    return pid;
}

/* Replaces conf/leaf.pem and conf/leaf.key by the files `pem` and `key` of conf/ (renamed over them, as a
 * certificate renewal does). */
static void install_cert(const struct srv *s, const char *pem, const char *key)
{
    char *from = xasprintf("%s/conf/%s", s->dir, pem), *to = xasprintf("%s/conf/leaf.pem", s->dir);
    hassert(rename(from, to) == 0, "rename %s: %s", from, strerror(errno));
    free(from);
    free(to);
    from = xasprintf("%s/conf/%s", s->dir, key);
    to = xasprintf("%s/conf/leaf.key", s->dir);
    hassert(rename(from, to) == 0, "rename %s: %s", from, strerror(errno));
    free(from);
    free(to);
}

MPM_TEST(tls, graceful_restart_renewed_certificate, .timeout = 60)
{
    struct srv *s = tls_server(mpm, NULL, NULL);
    pid_t loop = start_loop(s, 4);
    hassert(wait_log(server_path(s, "loop.out"), "started", 1, 10000), "the TLS client loop got no answer");
    sleep_ms(300);
    install_cert(s, "rsa.pem", "rsa.key");
    server_signal(s, SIGUSR1);
    int status;
    hassert(waitpid(loop, &status, 0) == loop && WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "the TLS client loop failed");
    size_t len;
    char *out = read_file(server_path(s, "loop.out"), &len);
    int ok = 0, failed = -1;
    char serials[256] = "";
    char *result = out != NULL ? strstr(out, "ok ") : NULL;
    hassert(result && sscanf(result, "ok %d failed %d serials %255s", &ok, &failed, serials) >= 2, "loop: %s",
            out ? out : "");
    hassert(failed == 0 && ok > 10, "%d requests failed, %d succeeded across the restart: %s", failed, ok,
            out);
    hassert(strchr(serials, ',') != NULL, "the renewed certificate was never presented (serials %s)",
            serials);
    free(out);

    /* a restart with a key that does not match keeps the generation that serves */
    install_cert(s, "expired.pem", "other.key");
    server_signal(s, SIGUSR1);
    hassert(wait_log(s->error_log, "restart failed, still serving with the previous configuration", 1, 5000),
            "the bad key did not fail the restart: %s", log_tail(s->error_log, 2000));
    hassert(log_count(s->error_log, "httpd.conf:") >= 1 && log_count(s->error_log, "does not match") == 1,
            "the error does not name the file and line: %s", log_tail(s->error_log, 2000));
    char *info;
    struct resp *r = tls_get(s, "/index.html", NULL, NULL, &info);
    expect_file(r, s, "index.html", "close", 0);
    resp_free(r);
    free(info);
    server_stop(s);
}

/* httpd -t on s's configuration: the exit status, with stderr in *err. */
static int config_test(struct srv *s, char **err)
{
    char *text = server_conf_text(s, 8443);
    write_file(s->conf, text, strlen(text));
    free(text);
    char *argv[] = {getenv("HTTPD_BIN"), "-t", "-f", s->conf, NULL};
    return run_cmd(argv, 10000, NULL, err);
}

MPM_TEST(tls, certificate_errors, .timeout = 60)
{
    static const struct {
        const char *conf, *want;
    } cases[] = {
        {"Listen 127.0.0.1:@PORT@ https\nSSLEngine on\nSSLCertificateFile conf/leaf.pem\n"
         "SSLCertificateKeyFile conf/other.key\n",
         "httpd.conf:15: SSLCertificateKeyFile"},
        {"Listen 127.0.0.1:@PORT@ https\nSSLEngine on\nSSLCertificateFile conf/missing.pem\n"
         "SSLCertificateKeyFile conf/leaf.key\n",
         "httpd.conf:14: SSLCertificateFile: unable to load"},
        {"Listen 127.0.0.1:@PORT@ https\nSSLEngine on\nSSLCertificateFile conf/leaf.pem\n"
         "SSLCertificateKeyFile conf/missing.key\n",
         "httpd.conf:15: SSLCertificateKeyFile: unable to load a private key"},
        {"Listen 127.0.0.1:@PORT@ https\nSSLEngine on\n",
         "httpd.conf:13: SSLEngine on, but no SSLCertificateFile"},
        {"Listen 127.0.0.1:@PORT@ https\nSSLEngine on\nSSLCertificateFile conf/leaf.pem\n"
         "SSLCertificateKeyFile conf/leaf.key\nSSLCertificateFile conf/rsa.pem\nSSLCertificateKeyFile "
         "conf/other.key\n",
         "httpd.conf:17: SSLCertificateKeyFile"},
        {"Listen 127.0.0.1:@PORT@ https\nSSLEngine on\nSSLCertificateFile conf/leaf.pem\n"
         "SSLCertificateKeyFile conf/leaf.key\nSSLCertificateKeyFile conf/rsa.key\n",
         "httpd.conf:16: SSLCertificateKeyFile without an SSLCertificateFile"},
        {"Listen 127.0.0.1:@PORT@ https\nSSLEngine on\nSSLCertificateFile conf/leaf.pem\nSSLProtocol -all\n",
         "SSLProtocol leaves no protocol enabled"},
        {"Listen 127.0.0.1:@PORT@ https\nSSLEngine on\nSSLCertificateFile conf/leaf.pem\n"
         "SSLCertificateKeyFile conf/leaf.key\nSSLCipherSuite NO-SUCH-CIPHER\n",
         "httpd.conf:16: SSLCipherSuite 'NO-SUCH-CIPHER'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct srv *s = server_new(mpm, cases[i].conf);
        s->listen_in_conf = 0;
        make_pki(s->dir);
        char *err = NULL;
        int rc = config_test(s, &err);
        hassert(rc == 1, "case %zu: httpd -t exit %d, want 1: %s", i, rc, err ? err : "");
        hassert(err && strstr(err, cases[i].want), "case %zu: stderr lacks \"%s\": %s", i, cases[i].want,
                err ? err : "");
        free(err);
        server_destroy(s);
    }

    /* an expired certificate: a warning, the server starts, and a client that verifies refuses it */
    struct srv *s = server_new(mpm, "Listen 127.0.0.1:@PORT@ https\nSSLEngine on\nSSLCertificateFile "
                                    "conf/expired.pem\nSSLCertificateKeyFile conf/leaf.key\n");
    s->listen_in_conf = 0;
    make_pki(s->dir);
    char *err = NULL;
    hassert(config_test(s, &err) == 0, "an expired certificate failed the configuration: %s", err ? err : "");
    hassert(err && strstr(err, "httpd.conf:14: SSLCertificateFile") && strstr(err, "has expired"),
            "no warning for the expired certificate: %s", err ? err : "");
    free(err);
    server_launch(s, NULL);
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    char *file = xasprintf("%s/x.out", s->dir);
    const char *args[] = {"get", port, "/", file, NULL};
    char *cerr = NULL;
    hassert(client(s, NULL, &cerr, args) != 0 && cerr && strstr(cerr, "certificate has expired"),
            "the expired certificate was accepted: %s", cerr ? cerr : "");
    free(cerr);
    free(file);
    server_stop(s);
}
