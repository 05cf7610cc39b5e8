/*
 * server/tls_conf.c and server/tls.c: the SSL directives and SSLProtocol/SSLSessionCache parsing, the check
 * that gives https listeners their context, and the TLS transport driven over a non-blocking socketpair
 * against an OpenSSL client: the handshake's wants, reads and writes (buffers and files), decrypted bytes
 * pending, close_notify, plain HTTP answered with Apache's 400, ALPN, SNI through the caller's choice of
 * context (two certificates, ECDSA and RSA), the shared ticket keys' rotation and the shmcb session cache.
 * Keys and certificates are made in the test, never read from the tree.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../server/tls.c"
#include "../../server/tls_conf.c"
#include "conftest.h"
#include "testserver.h"

/* ---- SSLProtocol, SSLSessionCache ---- */

static unsigned protocols(const char *line, const char **err)
{
    char buf[256], *argv[16];
    int argc = 0;
    unsigned set = TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3; /* the default */
    snprintf(buf, sizeof(buf), "%s", line);
    for (char *t = strtok(buf, " "); t != NULL && argc < 16; t = strtok(NULL, " "))
        argv[argc++] = t;
    *err = tls_parse_protocols(argc, argv, &set);
    return set;
}

Test(tls_conf, protocol_syntax)
{
    const char *err;
    cr_assert_eq(protocols("all -TLSv1 -TLSv1.1", &err), TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3);
    cr_assert_null(err);
    cr_assert_eq(protocols("TLSv1.3", &err), TLS_PROTO_TLSV1_3, "a protocol without a sign starts over");
    cr_assert_eq(protocols("+TLSv1.1", &err), TLS_PROTO_TLSV1_1 | TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3);
    cr_assert_eq(protocols("-TLSv1.2", &err), TLS_PROTO_TLSV1_3);
    cr_assert_eq(protocols("all -SSLv3", &err), TLS_PROTO_ALL);
    cr_assert_null(err);
    cr_assert_eq(protocols("TLSV1.2 +tlsv1.3", &err), TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3,
                 "case-insensitive");
    protocols("SSLv3", &err);
    cr_assert_str_eq(err, "SSLv3 not supported by this version of OpenSSL");
    protocols("-all", &err);
    cr_assert_str_eq(err, "leaves no protocol enabled");
    protocols("TLSv1.4", &err);
    cr_assert_not_null(err);
    cr_assert_eq(protocols("TLSv1.4", &err), TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3,
                 "an error changes nothing");
}

Test(tls_conf, protocol_range_and_holes)
{
    int min, max;
    uint64_t holes;
    cr_assert_eq(protocol_range(TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3, &min, &max, &holes), 0);
    cr_assert(min == TLS1_2_VERSION && max == TLS1_3_VERSION && holes == 0);
    cr_assert_eq(protocol_range(TLS_PROTO_TLSV1 | TLS_PROTO_TLSV1_3, &min, &max, &holes), 0);
    cr_assert(min == TLS1_VERSION && max == TLS1_3_VERSION);
    cr_assert_eq(holes, SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2);
    cr_assert_eq(protocol_range(0, &min, &max, &holes), -1);
}

Test(tls_conf, session_cache_syntax)
{
    struct tls_conf c = {0};
    cr_assert_null(tls_parse_cache("shmcb:/var/run/ssl_scache(1024000)", &c));
    cr_assert(c.cache == TLS_CACHE_SHMCB && c.cache_size == 1024000);
    cr_assert_null(tls_parse_cache("none", &c));
    cr_assert_eq(c.cache, TLS_CACHE_NONE);
    cr_assert_null(tls_parse_cache("shmcb:logs/x", &c));
    cr_assert(c.cache == TLS_CACHE_SHMCB && c.cache_size == 512000, "Apache's default size");
    cr_assert_null(tls_parse_cache("nonenotnull", &c));
    cr_assert_eq(c.cache, TLS_CACHE_NONE);
    cr_assert_not_null(tls_parse_cache("shmcb:/x(12)", &c), "too small");
    cr_assert_not_null(tls_parse_cache("shmcb:/x(512000", &c));
    cr_assert_not_null(tls_parse_cache("shmcb:", &c));
    cr_assert_not_null(tls_parse_cache("dbm:/x", &c));
}

/* Applies one SSL directive to s; returns the setter's message. */
static const char *apply(struct server *s, const char *name, int argc, char **argv)
{
    for (const struct directive *d = tls_module.directives; d->name != NULL; d++)
        if (strcasecmp(d->name, name) == 0)
            return d->set(s, d, argc, argv);
    for (const struct directive *d = tls_module.vhost_directives; d->name != NULL; d++)
        if (strcasecmp(d->name, name) == 0)
            return d->set(s, d, argc, argv);
    cr_assert_fail("no directive %s", name);
    return NULL;
}

Test(tls_conf, directives, .init = testserver_pool_setup, .fini = testserver_pool_teardown)
{
    struct server s;
    testserver_init(&s, test_pool);
    s.server_root = "/srv";
    cr_assert_null(apply(&s, "SSLCipherSuite", 1, (char *[]){"HIGH:!aNULL"}));
    cr_assert_not_null(s.tls, "the first SSL directive makes the settings");
    cr_assert_eq(s.tls->protocols, TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3);
    cr_assert(s.tls->tickets && !s.tls->engine && s.tls->cache_timeout == 300 &&
              s.tls->cache == TLS_CACHE_NONE);
    cr_assert_str_eq(s.tls->ciphers, "HIGH:!aNULL");
    cr_assert_null(apply(&s, "SSLCipherSuite", 2, (char *[]){"TLSv1.3", "TLS_AES_256_GCM_SHA384"}));
    cr_assert_str_eq(s.tls->ciphersuites, "TLS_AES_256_GCM_SHA384");
    cr_assert_null(apply(&s, "SSLCipherSuite", 2, (char *[]){"SSL", "ECDHE+AESGCM"}));
    cr_assert_str_eq(s.tls->ciphers, "ECDHE+AESGCM");
    cr_assert_not_null(apply(&s, "SSLCipherSuite", 2, (char *[]){"TLSv1.2", "x"}));
    cr_assert_null(apply(&s, "SSLEngine", 1, (char *[]){"On"}));
    cr_assert(s.tls->engine);
    cr_assert_not_null(apply(&s, "SSLEngine", 1, (char *[]){"optional"}));
    cr_assert_null(apply(&s, "SSLCertificateFile", 1, (char *[]){"conf/server.pem"}));
    cr_assert_str_eq(s.tls->certs[0].cert_file, "/srv/conf/server.pem", "relative to ServerRoot");
    cr_assert_null(apply(&s, "SSLCertificateKeyFile", 1, (char *[]){"/etc/key.pem"}));
    cr_assert_str_eq(s.tls->certs[0].key_file, "/etc/key.pem");
    cr_assert_null(apply(&s, "SSLCertificateFile", 1, (char *[]){"/etc/rsa.pem"}));
    cr_assert(s.tls->ncerts == 2 && s.tls->nkeys == 1, "a second certificate, for another key type");
    cr_assert_str_eq(s.tls->certs[1].cert_file, "/etc/rsa.pem");
    cr_assert_null(s.tls->certs[1].key_file);
    cr_assert_null(apply(&s, "SSLCertificateFile", 1, (char *[]){"/etc/3.pem"}));
    cr_assert_null(apply(&s, "SSLCertificateFile", 1, (char *[]){"/etc/4.pem"}));
    cr_assert_not_null(apply(&s, "SSLCertificateFile", 1, (char *[]){"/etc/5.pem"}), "at most TLS_MAX_CERTS");
    cr_assert_null(apply(&s, "SSLHonorCipherOrder", 1, (char *[]){"on"}));
    cr_assert(s.tls->honor_cipher_order);
    cr_assert_null(apply(&s, "SSLSessionTickets", 1, (char *[]){"off"}));
    cr_assert(!s.tls->tickets);
    cr_assert_null(apply(&s, "SSLSessionCacheTimeout", 1, (char *[]){"600"}));
    cr_assert_eq(s.tls->cache_timeout, 600);
    cr_assert_not_null(apply(&s, "SSLSessionCacheTimeout", 1, (char *[]){"0"}));
    cr_assert_null(apply(&s, "SSLProtocol", 2, (char *[]){"-all", "+TLSv1.3"}));
    cr_assert_eq(s.tls->protocols, TLS_PROTO_TLSV1_3);
    cr_assert_null(apply(&s, "SSLSessionCache", 1, (char *[]){"shmcb:/run/x(65536)"}));
    cr_assert(s.tls->cache == TLS_CACHE_SHMCB && s.tls->cache_size == 65536);
}

/* ---- keys and certificates, made here ---- */

static char tmpdir[64];

/* A self-signed certificate for cn (ECDSA P-256, or RSA-2048), written as DIR/NAME.pem and DIR/NAME.key. */
static void make_cert(const char *name, const char *cn, int rsa)
{
    static long serial = 1;
    EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    X509 *x = X509_new();
    cr_assert(key != NULL && x != NULL);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
    char path[128];
    snprintf(path, sizeof(path), "%s/%s.pem", tmpdir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL && PEM_write_X509(f, x) == 1);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", tmpdir, name);
    f = fopen(path, "w");
    cr_assert(f != NULL && PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void pki_setup(void)
{
    testserver_pool_setup();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tls.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    make_cert("a", "a.test", 0);
    make_cert("b", "b.test", 1);
}

static void pki_teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
    testserver_pool_teardown();
}

static char *path_of(const char *name, const char *ext)
{
    return pool_printf(test_pool, "%s/%s.%s", tmpdir, name, ext);
}

/* The settings of a server with certificate `name` and the defaults otherwise. */
static struct tls_conf *conf_for(const char *name)
{
    struct tls_conf *c = tls_conf_new(test_pool);
    c->engine = 1;
    c->certs[0].cert_file = path_of(name, "pem");
    c->certs[0].key_file = path_of(name, "key");
    c->certs[0].cert_at = "test.conf:1";
    c->certs[0].key_at = "test.conf:2";
    c->ncerts = c->nkeys = 1;
    c->protocol_at = c->ciphers_at = c->ciphersuites_at = "test.conf:3";
    return c;
}

static struct tls_ctx *build(struct tls_conf *c)
{
    struct errbuf err;
    struct warnings w = {0};
    struct tls_ctx *ctx = tls_ctx_build(test_pool, c, &w, &err);
    cr_assert_not_null(ctx, "%s", err.msg);
    return ctx;
}

Test(tls_ctx, certificate_errors_name_the_directive, .init = pki_setup, .fini = pki_teardown)
{
    struct errbuf err;
    struct warnings w = {0};
    struct tls_conf *c = conf_for("a");
    c->certs[0].key_file = path_of("b", "key");
    cr_assert_null(tls_ctx_build(test_pool, c, &w, &err));
    cr_assert(strstr(err.msg, "test.conf:2: SSLCertificateKeyFile") && strstr(err.msg, "does not match"),
              "%s", err.msg);
    c = conf_for("a");
    c->certs[0].cert_file = path_of("missing", "pem");
    cr_assert_null(tls_ctx_build(test_pool, c, &w, &err));
    cr_assert(strstr(err.msg, "test.conf:1: SSLCertificateFile: unable to load"), "%s", err.msg);
    c = conf_for("a");
    c->certs[0].key_file = NULL; /* then the key is looked for in the certificate file, which has none */
    cr_assert_null(tls_ctx_build(test_pool, c, &w, &err));
    cr_assert(strstr(err.msg, "test.conf:1: SSLCertificateFile: unable to load a private key"), "%s",
              err.msg);
    c = conf_for("a");
    c->ciphers = "NOT-A-CIPHER";
    cr_assert_null(tls_ctx_build(test_pool, c, &w, &err));
    cr_assert(strstr(err.msg, "test.conf:3: SSLCipherSuite 'NOT-A-CIPHER'"), "%s", err.msg);
    cr_assert_eq(w.count, 0);
}

Test(tls_ctx, https_listeners_get_the_context, .init = pki_setup, .fini = pki_teardown)
{
    struct server s;
    struct errbuf err;
    struct warnings w = {0};
    struct listener plain = {.spec = "8080", .protocol = "http"},
                    https = {.spec = "8443", .protocol = "https"};
    testserver_init(&s, test_pool);
    plain.next = &https;
    s.listeners = &plain;
    cr_assert_eq(tls_module.check_config(&s, &w, &err), 0);
    cr_assert(plain.tls == NULL && https.tls == NULL);
    cr_assert_eq(w.count, 1, "an https listener without SSLEngine on is warned about");
    cr_assert(strstr(w.msg[0], "Listen 8443 is https, but SSLEngine is not on"), "%s", w.msg[0]);

    s.tls = conf_for("a");
    w.count = 0;
    cr_assert_eq(tls_module.check_config(&s, &w, &err), 0, "%s", err.msg);
    cr_assert(plain.tls == NULL && https.tls != NULL && https.tls == s.tls->ctx);
    cr_assert_eq(w.count, 0);

    https.protocol = "http";
    https.tls = NULL;
    cr_assert_eq(tls_module.check_config(&s, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(w.count, 1, "SSLEngine on without an https listener is warned about");
    cr_assert(https.tls == NULL);
}

/* ---- the transport over a socketpair, an OpenSSL client on the other end ---- */

struct pair {
    struct transport t; /* the server's */
    SSL_CTX *cctx;
    SSL *client;
    int cfd;
};

static void pair_open(struct pair *p, struct tls_ctx *ctx, const char *sni, const char *alpn)
{
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    cr_assert_eq(tls_transport_open(&p->t, ctx, sp[0], NULL, 0), 0);
    cr_assert(p->t.handshaking);
    p->cctx = SSL_CTX_new(TLS_client_method());
    p->client = SSL_new(p->cctx);
    cr_assert(p->client != NULL && SSL_set_fd(p->client, sp[1]) == 1);
    SSL_set_connect_state(p->client);
    if (sni != NULL)
        SSL_set_tlsext_host_name(p->client, sni);
    if (alpn != NULL)
        SSL_set_alpn_protos(p->client, (const unsigned char *)alpn, (unsigned)strlen(alpn));
    p->cfd = sp[1];
}

static void pair_close(struct pair *p)
{
    int fd = p->t.fd;
    transport_close(&p->t); /* as the drivers end a connection: close_notify unless it failed */
    close(fd);
    SSL_free(p->client);
    SSL_CTX_free(p->cctx);
    close(p->cfd);
}

/* Runs both handshakes, one step each in turn; returns the server's last result (0 done, -1 failed). */
static int handshake(struct pair *p, int *linger)
{
    int server_done = 0, client_done = 0;
    for (int i = 0; i < 50 && !(server_done && client_done); i++) {
        if (!client_done) {
            int r = SSL_do_handshake(p->client);
            int e = r == 1 ? 0 : SSL_get_error(p->client, r);
            client_done = r == 1;
            if (r != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                client_done = -1;
        }
        if (!server_done) {
            if (p->t.ops->handshake(&p->t, linger) == 0)
                server_done = 1;
            else if (errno != EAGAIN)
                return -1;
            else
                cr_assert(p->t.want == TRANSPORT_WANT_READ || p->t.want == TRANSPORT_WANT_WRITE);
        }
        if (client_done < 0)
            return server_done ? 0 : -1;
    }
    cr_assert(!p->t.handshaking);
    return 0;
}

/* Reads exactly n bytes on the client end. */
static void client_read(struct pair *p, char *buf, size_t n)
{
    size_t got = 0, k;
    for (int i = 0; got < n && i < 10000; i++)
        if (SSL_read_ex(p->client, buf + got, n - got, &k) == 1)
            got += k;
    cr_assert_eq(got, n);
}

Test(tls_transport, handshake_read_write_close, .init = pki_setup, .fini = pki_teardown)
{
    struct pair p;
    int linger;
    pair_open(&p, build(conf_for("a")), NULL, "\x02h2\x08http/1.1");
    cr_assert_eq(p.t.ops->handshake(&p.t, &linger), -1, "no ClientHello yet");
    cr_assert(errno == EAGAIN && p.t.want == TRANSPORT_WANT_READ);
    cr_assert_eq(handshake(&p, &linger), 0);

    const char *proto, *cipher, *alpn;
    int ktls;
    tls_transport_info(&p.t, &proto, &cipher, &alpn, &ktls);
    cr_assert_str_eq(proto, "TLSv1.3");
    cr_assert_str_eq(alpn, "http/1.1", "the only protocol offered");

    /* nothing yet: EAGAIN, wanting to read */
    char buf[64];
    cr_assert_eq(p.t.ops->recv(&p.t, buf, sizeof(buf)), -1);
    cr_assert(errno == EAGAIN && p.t.want == TRANSPORT_WANT_READ);

    /* a request in one record, read in two pieces: the rest is pending in the transport */
    size_t k;
    cr_assert_eq(SSL_write_ex(p.client, "GET / HTTP/1.1\r\n\r\n", 18, &k), 1);
    ssize_t n = -1;
    for (int i = 0; i < 100 && n < 0; i++)
        n = p.t.ops->recv(&p.t, buf, 4);
    cr_assert_eq(n, 4);
    cr_assert_eq(transport_pending(&p.t), 14, "decrypted and not yet read");
    cr_assert_eq(p.t.ops->recv(&p.t, buf + 4, sizeof(buf) - 4), 14);
    cr_assert_eq(memcmp(buf, "GET / HTTP/1.1\r\n\r\n", 18), 0);
    cr_assert_eq(transport_pending(&p.t), 0);

    /* buffers in one record, then a file range */
    struct iovec iov[2] = {{"HTTP/1.1 200 OK\r\n", 17}, {"\r\nbody", 6}};
    cr_assert_eq(p.t.ops->send(&p.t, iov, 2, 0), 23);
    client_read(&p, buf, 23);
    cr_assert_eq(memcmp(buf, "HTTP/1.1 200 OK\r\n\r\nbody", 23), 0);
    char *file = path_of("a", "pem");
    int fd = open(file, O_RDONLY);
    char want[32];
    cr_assert_eq(pread(fd, want, 20, 5), 20);
    cr_assert_eq(p.t.ops->send_file(&p.t, fd, 5, 20), 20);
    client_read(&p, buf, 20);
    cr_assert_eq(memcmp(buf, want, 20), 0);
    cr_assert_eq(p.t.ops->send_file(&p.t, fd, 1 << 20, 10), -1, "past the end of the file");
    cr_assert_eq(errno, ENODATA);

    /* a head and the first bytes of the file after it: one record (one SSL_read on the client gets both) */
    struct iovec head = {"HTTP/1.1 200 OK\r\n\r\n", 19};
    cr_assert_eq(p.t.ops->send_with_file(&p.t, &head, 1, fd, 5, 20), 39);
    char rec[64];
    for (int j = 0; j < 10000 && SSL_read_ex(p.client, rec, sizeof(rec), &k) != 1; j++)
        ;
    cr_assert_eq(k, 39, "head and file in one record");
    cr_assert_eq(memcmp(rec, "HTTP/1.1 200 OK\r\n\r\n", 19), 0);
    cr_assert_eq(memcmp(rec + 19, want, 20), 0);
    cr_assert_eq(p.t.ops->send_with_file(&p.t, &head, 1, fd, 1 << 20, 10), 19,
                 "no file there: the head alone");
    client_read(&p, rec, 19);
    close(fd);

    /* a large file: the record is full, the rest of the file is for send_file */
    char *large = path_of("large", "bin");
    static char lots[3 * TLS_CHUNK];
    memset(lots, 'L', sizeof(lots));
    int lfd = open(large, O_RDWR | O_CREAT | O_TRUNC, 0600);
    cr_assert(lfd >= 0 && write(lfd, lots, sizeof(lots)) == (ssize_t)sizeof(lots));
    cr_assert_eq(p.t.ops->send_with_file(&p.t, &head, 1, lfd, 0, sizeof(lots)), TLS_CHUNK);
    static char got[TLS_CHUNK];
    client_read(&p, got, TLS_CHUNK);
    cr_assert_eq(memcmp(got, "HTTP/1.1 200 OK\r\n\r\nLLL", 22), 0);
    cr_assert_eq(got[TLS_CHUNK - 1], 'L');
    close(lfd);
    unlink(large);

    /* the client reads nothing: the socket fills, and the transport wants to write */
    static char big[TLS_CHUNK];
    struct iovec one = {big, sizeof(big)};
    int i;
    for (i = 0; i < 10000 && p.t.ops->send(&p.t, &one, 1, 0) > 0; i++)
        ;
    cr_assert(i < 10000 && errno == EAGAIN && p.t.want == TRANSPORT_WANT_WRITE);

    pair_close(&p);
}

/* Records read from the socket ahead of the one decrypted wait in the transport, where no readiness of the
 * socket would announce them: pending says there is something to read. */
Test(tls_transport, records_read_ahead_are_pending, .init = pki_setup, .fini = pki_teardown)
{
    struct pair p;
    int linger;
    pair_open(&p, build(conf_for("a")), NULL, NULL);
    cr_assert_eq(handshake(&p, &linger), 0);
    size_t k;
    cr_assert_eq(SSL_write_ex(p.client, "first", 5, &k), 1);
    cr_assert_eq(SSL_write_ex(p.client, "second", 6, &k), 1);
    struct pollfd pfd = {.fd = p.t.fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 1000), 1);
    usleep(10000); /* both records are in the socket (a socketpair: written at once) */
    char buf[64];
    cr_assert_eq(p.t.ops->recv(&p.t, buf, sizeof(buf)), 5, "one record a read");
    cr_assert_eq(memcmp(buf, "first", 5), 0);
    pfd.revents = 0;
    cr_assert_eq(poll(&pfd, 1, 0), 0, "the socket has nothing more: it was all read at once");
    cr_assert_gt(transport_pending(&p.t), 0, "the second record waits in the transport");
    cr_assert_eq(p.t.ops->recv(&p.t, buf, sizeof(buf)), 6);
    cr_assert_eq(memcmp(buf, "second", 6), 0);
    cr_assert_eq(transport_pending(&p.t), 0);
    pair_close(&p);
}

Test(tls_transport, close_notify_and_eof, .init = pki_setup, .fini = pki_teardown)
{
    struct pair p;
    int linger;
    pair_open(&p, build(conf_for("a")), NULL, NULL);
    cr_assert_eq(handshake(&p, &linger), 0);
    p.t.ops->close_notify(&p.t);
    char buf[8];
    size_t k;
    cr_assert_eq(SSL_read_ex(p.client, buf, sizeof(buf), &k), 0);
    cr_assert_eq(SSL_get_error(p.client, 0), SSL_ERROR_ZERO_RETURN, "the client saw close_notify");
    /* the client's end: recv reports it as 0 */
    SSL_shutdown(p.client);
    cr_assert_eq(p.t.ops->recv(&p.t, buf, sizeof(buf)), 0);
    pair_close(&p);
}

/* ---- what the last step of a handshake writes (TLS 1.3: the session tickets) ---- */

static int tickets_seen;

static int count_ticket(SSL *ssl, SSL_SESSION *sess)
{
    (void)ssl, (void)sess;
    tickets_seen++;
    return 0; /* not kept */
}

/* A client that counts the tickets it reads (its new-session callback). */
static void pair_open_counting(struct pair *p, struct tls_ctx *ctx)
{
    pair_open(p, ctx, NULL, NULL);
    SSL_CTX_set_session_cache_mode(p->cctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(p->cctx, count_ticket);
    tickets_seen = 0;
}

/* Runs the handshake until the client is done (it has sent its Finished), the server one step behind: the
 * server's last step is left to the caller. */
static void client_first(struct pair *p)
{
    int linger, done = 0;
    for (int i = 0; i < 50 && !done; i++) {
        int r = SSL_do_handshake(p->client);
        done = r == 1;
        cr_assert(done || SSL_get_error(p->client, r) == SSL_ERROR_WANT_READ);
        if (!done)
            cr_assert(p->t.ops->handshake(&p->t, &linger) == 0 || errno == EAGAIN);
    }
    cr_assert(done && p->t.handshaking);
}

static int client_readable(const struct pair *p)
{
    struct pollfd pfd = {.fd = p->cfd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1;
}

/* A pair counting the tickets the client gets, the client's first flight (its hello) sent. */
static void tickets_pair(struct pair *p)
{
    pair_open_counting(p, build(conf_for("a")));
    client_first(p);
}

/* The request came with the client's Finished: the tickets wait for the response and leave in front of it,
 * in the same write; the last response (`more`: the close follows) and close_notify come after. */
Test(tls_transport, tls13_tickets_leave_with_the_response, .init = pki_setup, .fini = pki_teardown)
{
    struct pair p;
    int linger;
    size_t k;
    char buf[64];
    tickets_pair(&p);
    cr_assert_eq(SSL_write_ex(p.client, "GET / HTTP/1.1\r\n\r\n", 18, &k), 1);
    cr_assert_eq(p.t.ops->handshake(&p.t, &linger), 0, "the client's Finished and the request: done");
    cr_assert(!client_readable(&p), "the tickets are held for the response");
    cr_assert_gt(transport_pending(&p.t), 0, "the request came with the Finished");
    cr_assert_eq(p.t.ops->recv(&p.t, buf, sizeof(buf)), 18);
    cr_assert_eq(memcmp(buf, "GET / HTTP/1.1\r\n\r\n", 18), 0);

    struct iovec iov[2] = {{"HTTP/1.1 200 OK\r\n", 17}, {"\r\nbody", 6}};
    cr_assert_eq(p.t.ops->send(&p.t, iov, 2, 1), 23);
    p.t.ops->close_notify(&p.t);
    client_read(&p, buf, 23);
    cr_assert_eq(memcmp(buf, "HTTP/1.1 200 OK\r\n\r\nbody", 23), 0);
    cr_assert_eq(tickets_seen, 2, "both tickets came before the response");
    cr_assert_eq(SSL_read_ex(p.client, buf, sizeof(buf), &k), 0);
    cr_assert_eq(SSL_get_error(p.client, 0), SSL_ERROR_ZERO_RETURN, "then close_notify");
    pair_close(&p);
}

/* No request with the Finished: the server waits for the client next, so the tickets leave at once (a
 * client that reads them before it asks for anything gets them). */
Test(tls_transport, tls13_tickets_leave_before_a_wait, .init = pki_setup, .fini = pki_teardown)
{
    struct pair p;
    int linger;
    size_t k;
    char buf[64];
    tickets_pair(&p);
    cr_assert_eq(p.t.ops->handshake(&p.t, &linger), 0);
    cr_assert(client_readable(&p), "the tickets were written");
    cr_assert_eq(SSL_read_ex(p.client, buf, sizeof(buf), &k), 0);
    cr_assert_eq(SSL_get_error(p.client, 0), SSL_ERROR_WANT_READ);
    cr_assert_eq(tickets_seen, 2);
    pair_close(&p);

    /* a part of a request came with the Finished: the transport waits for the rest, the tickets go first */
    tickets_pair(&p);
    cr_assert_eq(SSL_write_ex(p.client, "GET / HTTP/1.1\r\n", 16, &k), 1);
    cr_assert_eq(p.t.ops->handshake(&p.t, &linger), 0);
    cr_assert(!client_readable(&p));
    cr_assert_eq(p.t.ops->recv(&p.t, buf, sizeof(buf)), 16);
    cr_assert(!client_readable(&p), "the core may still answer at once");
    cr_assert_eq(p.t.ops->recv(&p.t, buf, sizeof(buf)), -1);
    cr_assert(errno == EAGAIN && p.t.want == TRANSPORT_WANT_READ);
    cr_assert(client_readable(&p), "waiting for the client: the tickets were written first");
    SSL_read_ex(p.client, buf, sizeof(buf), &k);
    cr_assert_eq(tickets_seen, 2);
    pair_close(&p);

    /* TLS 1.2: the server's last flight (its ticket, its Finished) is what the client waits for */
    pair_open_counting(&p, build(conf_for("a")));
    SSL_set_max_proto_version(p.client, TLS1_2_VERSION);
    cr_assert_eq(handshake(&p, &linger), 0);
    cr_assert_eq(tickets_seen, 1, "the client finished its handshake with the server's ticket");
    pair_close(&p);
}

Test(tls_transport, plain_http_gets_apaches_400, .init = pki_setup, .fini = pki_teardown)
{
    struct pair p;
    int linger = 0;
    pair_open(&p, build(conf_for("a")), NULL, NULL);
    const char req[] = "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(write(p.cfd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
    cr_assert_eq(p.t.ops->handshake(&p.t, &linger), -1);
    cr_assert(errno == EPROTO && linger, "closed lingeringly after the answer");
    char buf[1024];
    ssize_t n = read(p.cfd, buf, sizeof(buf) - 1);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    cr_assert(strncmp(buf, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", buf);
    cr_assert(strstr(buf, "Content-Length: 362\r\n") && strstr(buf, "Connection: close\r\n"), "%s", buf);
    cr_assert(strstr(buf, "Reason: You're speaking plain HTTP to an SSL-enabled server port.<br />"), "%s",
              buf);
    cr_assert_eq(strlen(strstr(buf, "\r\n\r\n") + 4), 362);
    pair_close(&p);
}

Test(tls_transport, garbage_fails_the_handshake, .init = pki_setup, .fini = pki_teardown)
{
    struct pair p;
    int linger = 0;
    pair_open(&p, build(conf_for("a")), NULL, NULL);
    cr_assert_eq(write(p.cfd, "\x16\x09\x09\x00\x05hello", 10), 10);
    cr_assert_eq(p.t.ops->handshake(&p.t, &linger), -1);
    cr_assert_eq(errno, EPROTO);
    p.t.ops->close_notify(&p.t); /* after a fatal error: nothing is sent, nothing fails */
    pair_close(&p);
}

/* ---- SNI: the caller chooses the context ---- */

static struct tls_ctx *ctx_a, *ctx_b;

static struct tls_ctx *choose(void *arg, const void *conn, struct tls_ctx *ctx, const char *host,
                              const void **chosen)
{
    int *calls = arg;
    (*calls)++;
    (void)conn;
    *chosen = host;
    cr_assert_eq(ctx, ctx_a, "asked for the context the connection came to");
    if (strcmp(host, "a.test") == 0)
        return ctx_a;
    if (strcmp(host, "b.test") == 0)
        return ctx_b;
    return NULL;
}

/* The common name of the certificate the client got. */
static char *peer_cn(struct pair *p)
{
    static char cn[64];
    X509 *x = SSL_get1_peer_certificate(p->client);
    cr_assert_not_null(x);
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
    X509_free(x);
    return cn;
}

Test(tls_sni, the_callers_choice_picks_the_certificate, .init = pki_setup, .fini = pki_teardown)
{
    struct pair p;
    int linger, calls = 0;
    ctx_a = build(conf_for("a"));
    ctx_b = build(conf_for("b"));

    /* without a choice, the name is ignored */
    pair_open(&p, ctx_a, "b.test", NULL);
    cr_assert_eq(handshake(&p, &linger), 0);
    cr_assert_str_eq(peer_cn(&p), "a.test");
    pair_close(&p);

    tls_ctx_set_sni(ctx_a, choose, &calls);
    pair_open(&p, ctx_a, "b.test", NULL);
    cr_assert_eq(handshake(&p, &linger), 0);
    cr_assert_str_eq(peer_cn(&p), "b.test", "the RSA certificate of the other context");
    cr_assert_eq(EVP_PKEY_get_base_id(X509_get0_pubkey(SSL_get0_peer_certificate(p.client))), EVP_PKEY_RSA);
    pair_close(&p);

    pair_open(&p, ctx_a, "a.test", NULL);
    cr_assert_eq(handshake(&p, &linger), 0);
    cr_assert_str_eq(peer_cn(&p), "a.test");
    cr_assert_eq(EVP_PKEY_get_base_id(X509_get0_pubkey(SSL_get0_peer_certificate(p.client))), EVP_PKEY_EC);
    pair_close(&p);

    pair_open(&p, ctx_a, "nobody.test", NULL);
    cr_assert_eq(handshake(&p, &linger), -1, "a name refused by the caller ends the handshake");
    pair_close(&p);

    pair_open(&p, ctx_a, NULL, NULL);
    cr_assert_eq(handshake(&p, &linger), 0, "no SNI at all: the context the connection came to");
    cr_assert_str_eq(peer_cn(&p), "a.test");
    pair_close(&p);
    cr_assert_eq(calls, 3);
}

/* ---- sessions ---- */

/* Two connections, the second offering the first's session, the client with options `opts`; returns whether
 * it resumed. */
static int resumes_with(struct tls_ctx *ctx, long max_version, uint64_t opts)
{
    struct pair p;
    int linger;
    char buf[8];
    size_t k;
    pair_open(&p, ctx, NULL, NULL);
    SSL_set_max_proto_version(p.client, max_version);
    SSL_set_options(p.client, opts);
    cr_assert_eq(handshake(&p, &linger), 0);
    /* TLS 1.3 tickets come after the handshake: the client reads them while waiting for data */
    SSL_read_ex(p.client, buf, sizeof(buf), &k);
    SSL_SESSION *sess = SSL_get1_session(p.client);
    cr_assert_not_null(sess);
    SSL_shutdown(p.client); /* a client freed without close_notify marks its session not resumable */
    pair_close(&p);
    pair_open(&p, ctx, NULL, NULL);
    SSL_set_max_proto_version(p.client, max_version);
    SSL_set_options(p.client, opts);
    SSL_set_session(p.client, sess);
    cr_assert_eq(handshake(&p, &linger), 0);
    int reused = SSL_session_reused(p.client);
    pair_close(&p);
    SSL_SESSION_free(sess);
    return reused;
}

static int resumes(struct tls_ctx *ctx, long max_version)
{
    return resumes_with(ctx, max_version, 0);
}

Test(tls_sessions, tickets_and_shmcb_and_neither, .init = pki_setup, .fini = pki_teardown)
{
    struct tls_conf *c = conf_for("a");
    struct tls_ctx *ctx = build(c);
    cr_assert(resumes(ctx, TLS1_3_VERSION), "tickets, TLS 1.3");
    cr_assert(resumes(ctx, TLS1_2_VERSION), "tickets, TLS 1.2");

    c = conf_for("a");
    c->tickets = 0;
    c->cache = TLS_CACHE_SHMCB;
    c->cache_size = 65536;
    ctx = build(c);
    cr_assert(ctx->cache != NULL && ctx->cache->nsets > 0);
    cr_assert(resumes(ctx, TLS1_3_VERSION) && resumes(ctx, TLS1_2_VERSION), "the shared cache");

    c = conf_for("a");
    c->tickets = 0;
    ctx = build(c);
    cr_assert(!resumes(ctx, TLS1_3_VERSION) && !resumes(ctx, TLS1_2_VERSION), "neither: no resumption");
}

static int cache_used(const struct session_cache *c)
{
    int n = 0;
    for (unsigned i = 0; i < c->nsets * CACHE_WAYS; i++)
        n += c->slots[i].expires > 0;
    return n;
}

/* TLS 1.3 with tickets resumes from the ticket alone: its sessions take no room in the shared cache, which
 * stays for TLS 1.2 clients that take no ticket (and for TLS 1.3 without tickets, above). */
Test(tls_sessions, tls13_tickets_leave_the_cache_alone, .init = pki_setup, .fini = pki_teardown)
{
    struct tls_conf *c = conf_for("a");
    c->cache = TLS_CACHE_SHMCB;
    c->cache_size = 65536;
    struct tls_ctx *ctx = build(c);
    cr_assert(resumes(ctx, TLS1_3_VERSION), "tickets, TLS 1.3");
    cr_assert_eq(cache_used(ctx->cache), 0, "no TLS 1.3 session in the cache");
    cr_assert(resumes_with(ctx, TLS1_2_VERSION, SSL_OP_NO_TICKET), "TLS 1.2, a client without tickets");
    cr_assert_gt(cache_used(ctx->cache), 0, "the TLS 1.2 session is in the cache");
}

Test(tls_sessions, ticket_keys_rotate, .init = pki_setup, .fini = pki_teardown)
{
    struct errbuf err;
    struct ticket_key k1, k2, k, again;
    cr_assert_eq(ticket_store_map(&err), 0);
    cr_assert_eq(ticket_current(&k1, 1000), 0);
    cr_assert_eq(ticket_current(&again, 1000), 0);
    cr_assert_eq(memcmp(k1.name, again.name, 16), 0, "the same key within its period");
    cr_assert_eq(ticket_find(k1.name, &k), 1, "the current key");
    cr_assert_eq(ticket_current(&k2, 0), 0); /* its period is over: the next key */
    cr_assert_neq(memcmp(k1.name, k2.name, 16), 0);
    cr_assert_eq(ticket_find(k2.name, &k), 1);
    cr_assert_eq(ticket_find(k1.name, &k), 2, "the previous key still decrypts, and the ticket is renewed");
    cr_assert_eq(memcmp(k.aes, k1.aes, 32), 0);
    cr_assert_eq(ticket_current(&k, 0), 0);
    cr_assert_eq(ticket_find(k1.name, &k), 2, "two periods old: still there");
    cr_assert_eq(ticket_current(&k, 0), 0);
    cr_assert_eq(ticket_find(k1.name, &k), 0, "three periods old: overwritten");
    unsigned char unknown[16] = {0};
    cr_assert_eq(ticket_find(unknown, &k), 0);
}

Test(tls_machine, ktls_probe_says_why, .init = testserver_pool_setup, .fini = testserver_pool_teardown)
{
    char why[128] = "";
    int ok = tls_ktls_available(why, sizeof(why));
    cr_assert(ok || strstr(why, "failed"), "no reason given: %s", why);
    cr_assert(strncmp(tls_library_version(), "OpenSSL 3", 9) == 0, "%s", tls_library_version());
}

/* The cipher a client offering `client_list` (TLS 1.2 at most) gets from ctx. */
static const char *cipher_with(struct tls_ctx *ctx, const char *client_list, long max_version)
{
    struct pair p;
    int linger;
    static char name[64];
    const char *proto, *cipher, *alpn;
    int ktls;
    pair_open(&p, ctx, NULL, NULL);
    SSL_set_max_proto_version(p.client, max_version);
    if (client_list != NULL)
        cr_assert_eq(SSL_set_cipher_list(p.client, client_list), 1);
    cr_assert_eq(handshake(&p, &linger), 0);
    tls_transport_info(&p.t, &proto, &cipher, &alpn, &ktls);
    snprintf(name, sizeof(name), "%s", cipher);
    pair_close(&p);
    return name;
}

Test(tls_ctx, cipher_suites_and_order, .init = pki_setup, .fini = pki_teardown)
{
    static const char server[] = "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256";
    static const char client[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384";
    struct tls_conf *c = conf_for("a");
    c->ciphers = (char *)server;
    cr_assert_str_eq(cipher_with(build(c), client, TLS1_2_VERSION), "ECDHE-ECDSA-AES128-GCM-SHA256",
                     "SSLHonorCipherOrder off: the client's order");
    c = conf_for("a");
    c->ciphers = (char *)server;
    c->honor_cipher_order = 1;
    cr_assert_str_eq(cipher_with(build(c), client, TLS1_2_VERSION), "ECDHE-ECDSA-AES256-GCM-SHA384",
                     "SSLHonorCipherOrder on: the server's order");
    c = conf_for("a");
    c->ciphersuites = "TLS_CHACHA20_POLY1305_SHA256";
    cr_assert_str_eq(cipher_with(build(c), NULL, TLS1_3_VERSION), "TLS_CHACHA20_POLY1305_SHA256",
                     "SSLCipherSuite TLSv1.3");
    c = conf_for("a");
    c->protocols = TLS_PROTO_TLSV1_2;
    struct pair p;
    int linger;
    const char *proto, *cipher, *alpn;
    int ktls;
    pair_open(&p, build(c), NULL, NULL);
    cr_assert_eq(handshake(&p, &linger), 0);
    tls_transport_info(&p.t, &proto, &cipher, &alpn, &ktls);
    cr_assert_str_eq(proto, "TLSv1.2", "SSLProtocol TLSv1.2 caps the version");
    pair_close(&p);
}

Test(tls_ctx, an_ecdsa_and_an_rsa_certificate_side_by_side, .init = pki_setup, .fini = pki_teardown)
{
    struct tls_conf *c = conf_for("a");
    c->certs[1] = (struct tls_cert){path_of("b", "pem"), path_of("b", "key"), "test.conf:3", "test.conf:4"};
    c->ncerts = c->nkeys = 2;
    struct tls_ctx *ctx = build(c);
    static const struct {
        const char *sigalgs, *cn;
        long version;
    } cases[] = {
        {"ECDSA+SHA256", "a.test", TLS1_3_VERSION},
        {"rsa_pss_rsae_sha256", "b.test", TLS1_3_VERSION},
        {"ECDSA+SHA256", "a.test", TLS1_2_VERSION},
        {"RSA+SHA256", "b.test", TLS1_2_VERSION},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct pair p;
        int linger;
        pair_open(&p, ctx, NULL, NULL);
        SSL_set_max_proto_version(p.client, cases[i].version);
        cr_assert_eq(SSL_set1_sigalgs_list(p.client, cases[i].sigalgs), 1);
        cr_assert_eq(handshake(&p, &linger), 0, "case %zu", i);
        cr_assert_str_eq(peer_cn(&p), cases[i].cn, "a client that verifies %s only", cases[i].sigalgs);
        pair_close(&p);
    }

    /* the second pair's key belongs to the first: an error naming the second key's line */
    struct errbuf err;
    struct warnings w = {0};
    c = conf_for("a");
    c->certs[1] = (struct tls_cert){path_of("b", "pem"), path_of("a", "key"), "test.conf:3", "test.conf:4"};
    c->ncerts = c->nkeys = 2;
    cr_assert_null(tls_ctx_build(test_pool, c, &w, &err));
    cr_assert(strstr(err.msg, "test.conf:4: SSLCertificateKeyFile") && strstr(err.msg, "does not match"),
              "%s", err.msg);
}

/* ---- SSL directives in <VirtualHost>: inheritance, errors, the SNI choice ---- */

/* conftest's ServerRoot and the certificates of pki_setup */
static void vhost_setup(void)
{
    pki_setup();
    conftest_setup();
}

static void vhost_teardown(void)
{
    conftest_teardown();
    pki_teardown();
}

/* Loads text (with %1$s the directory of the certificates) with the SSL module; NULL with err. */
static struct server *load_tls(const char *text, struct warnings *w, struct errbuf *err)
{
    char body[4096];
    snprintf(body, sizeof(body), text, tmpdir);
    FILE *f = fopen(conftest_conf, "w");
    cr_assert_not_null(f);
    fputs(body, f);
    fclose(f);
    struct config_args args = {.mpms = mpm_registry,
                               .modules = (const struct config_module *const[]){&tls_module, NULL},
                               .conf_file = conftest_conf};
    return config_load(&args, w, err);
}

static struct server *load_tls_ok(const char *text, struct warnings *w)
{
    struct errbuf err;
    struct server *s = load_tls(text, w, &err);
    cr_assert_not_null(s, "refused: %s", err.msg);
    return s;
}

static void tls_refused(const char *text, const char *want)
{
    struct errbuf err;
    struct server *s = load_tls(text, NULL, &err);
    cr_assert_null(s, "accepted:\n%s", text);
    cr_assert(strstr(err.msg, want) != NULL, "got: %s\nwant: %s", err.msg, want);
}

static const struct vhost *vhost_nth(const struct server *s, int n)
{
    const struct vhost *v = s->vhosts;
    while (v != NULL && n-- > 0)
        v = v->next;
    cr_assert_not_null(v);
    return v;
}

#define TWO_VHOSTS                                                                                           \
    "Listen 127.0.0.1:18443 https\n"                                                                         \
    "Listen 127.0.0.1:18080\n"                                                                               \
    "SSLEngine on\n"                                                                                         \
    "SSLCertificateFile %1$s/a.pem\n"                                                                        \
    "SSLCertificateKeyFile %1$s/a.key\n"                                                                     \
    "SSLProtocol -all +TLSv1.2 +TLSv1.3\n"                                                                   \
    "SSLSessionCache shmcb:/x(65536)\n"                                                                      \
    "<VirtualHost *:18443>\n" /* line 8 */                                                                   \
    "    ServerName a.test\n"                                                                                \
    "</VirtualHost>\n"                                                                                       \
    "<VirtualHost *:18443>\n" /* line 11 */                                                                  \
    "    ServerName b.test\n"                                                                                \
    "    ServerAlias *.b.test\n"                                                                             \
    "    SSLCertificateFile %1$s/b.pem\n"                                                                    \
    "    SSLCertificateKeyFile %1$s/b.key\n"                                                                 \
    "    SSLProtocol TLSv1.3\n"                                                                              \
    "</VirtualHost>\n"                                                                                       \
    "<VirtualHost *:18443>\n" /* line 18 */                                                                  \
    "    ServerName c.test\n"                                                                                \
    "    SSLCipherSuite HIGH:!aNULL\n"                                                                       \
    "</VirtualHost>\n"                                                                                       \
    "<VirtualHost *:18443>\n" /* line 22 */                                                                  \
    "    ServerName d.test\n"                                                                                \
    "    SSLEngine off\n"                                                                                    \
    "    SSLCertificateFile %1$s/a.pem\n"                                                                    \
    "    SSLCertificateKeyFile %1$s/a.key\n"                                                                 \
    "</VirtualHost>\n"                                                                                       \
    "<VirtualHost *:18080>\n" /* line 28 */                                                                  \
    "    ServerName plain.test\n"                                                                            \
    "</VirtualHost>\n"

Test(tls_vhost, a_vhost_inherits_what_it_does_not_set, .init = vhost_setup, .fini = vhost_teardown)
{
    struct warnings w = {0};
    struct server *s = load_tls_ok(TWO_VHOSTS, &w);
    const struct vhost *a = vhost_nth(s, 0), *b = vhost_nth(s, 1), *c = vhost_nth(s, 2), *d = vhost_nth(s, 3);
    cr_assert_eq(a->tls, s->tls, "no SSL directive of its own: the main server's settings and context");
    cr_assert(b->tls != s->tls && b->tls->engine, "SSLEngine inherited");
    cr_assert_str_eq(b->tls->certs[0].cert_file, path_of("b", "pem"));
    cr_assert_eq(b->tls->ncerts, 1, "its own certificate replaces the main server's");
    cr_assert_eq(b->tls->protocols, TLS_PROTO_TLSV1_3);
    cr_assert(b->tls->ctx != NULL && b->tls->ctx != s->tls->ctx, "a context of its own");
    cr_assert_eq(b->tls->cache, TLS_CACHE_SHMCB, "the session settings are the server's");
    cr_assert(b->tls->ctx->cache == s->tls->ctx->cache && !b->tls->ctx->own_cache, "one cache for all");
    cr_assert_str_eq(c->tls->certs[0].cert_file, path_of("a", "pem"), "the main server's certificate");
    cr_assert_str_eq(c->tls->ciphers, "HIGH:!aNULL");
    cr_assert_eq(c->tls->protocols, TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3, "the main server's SSLProtocol");
    cr_assert(!d->tls->engine && d->tls->ctx == NULL, "SSLEngine off: no context");
    /* the classes of compatible settings (Apache's ssl_server_compatible) */
    cr_assert(s->main.tls_setup != 0 && a->tls_setup == s->main.tls_setup);
    cr_assert(b->tls_setup != 0 && b->tls_setup != a->tls_setup, "other certificate and protocols");
    cr_assert(c->tls_setup != 0 && c->tls_setup != a->tls_setup, "other ciphers");
    cr_assert_eq(d->tls_setup, 0);
    cr_assert_eq(vhost_nth(s, 4)->tls_setup, s->main.tls_setup, "a plain vhost inheriting SSLEngine on");
    /* the https listener starts with its default vhost's context; the plain one is plain */
    cr_assert_eq(s->listeners->tls, s->tls->ctx);
    cr_assert_null(s->listeners->next->tls);
    config_free(s);
}

Test(tls_vhost, same_files_are_compatible, .init = vhost_setup, .fini = vhost_teardown)
{
    struct server *s = load_tls_ok("Listen 127.0.0.1:18443 https\n"
                                   "<VirtualHost *:18443>\n"
                                   "    ServerName a.test\n"
                                   "    SSLEngine on\n"
                                   "    SSLCertificateFile %1$s/a.pem\n"
                                   "    SSLCertificateKeyFile %1$s/a.key\n"
                                   "    SSLCertificateFile %1$s/b.pem\n"
                                   "    SSLCertificateKeyFile %1$s/b.key\n"
                                   "</VirtualHost>\n"
                                   "<VirtualHost *:18443>\n"
                                   "    ServerName b.test\n"
                                   "    SSLEngine on\n"
                                   "    SSLCertificateFile %1$s/b.pem\n"
                                   "    SSLCertificateKeyFile %1$s/b.key\n"
                                   "    SSLCertificateFile %1$s/a.pem\n"
                                   "    SSLCertificateKeyFile %1$s/a.key\n"
                                   "</VirtualHost>\n",
                                   NULL);
    cr_assert_eq(vhost_nth(s, 0)->tls_setup, vhost_nth(s, 1)->tls_setup, "the same files in another order");
    cr_assert_eq(s->main.tls_setup, 0, "the main server has SSLEngine off");
    config_free(s);
}

Test(tls_vhost, errors_name_file_and_line, .init = vhost_setup, .fini = vhost_teardown)
{
    char want[1024];
    snprintf(want, sizeof(want), "%s:4: SSLEngine on, but no SSLCertificateFile (VirtualHost at %s:2)",
             conftest_conf, conftest_conf);
    tls_refused("Listen 18443 https\n"
                "<VirtualHost *:18443>\n"
                "    ServerName a.test\n"
                "    SSLEngine on\n"
                "</VirtualHost>\n",
                want);
    /* inherited SSLEngine on, no certificate anywhere: the main server's SSLEngine line is the fault */
    snprintf(want, sizeof(want), "%s:2: SSLEngine on, but no SSLCertificateFile", conftest_conf);
    tls_refused("Listen 18443 https\n"
                "SSLEngine on\n",
                want);
    snprintf(want, sizeof(want), "%s:5: SSLCertificateFile: unable to load", conftest_conf);
    tls_refused("Listen 18443 https\n"
                "<VirtualHost *:18443>\n"
                "    ServerName a.test\n"
                "    SSLEngine on\n"
                "    SSLCertificateFile %1$s/missing.pem\n"
                "</VirtualHost>\n",
                want);
    snprintf(want, sizeof(want), "%s:6: SSLCertificateKeyFile %s/b.key does not match", conftest_conf,
             tmpdir);
    tls_refused("Listen 18443 https\n"
                "<VirtualHost *:18443>\n"
                "    ServerName a.test\n"
                "    SSLEngine on\n"
                "    SSLCertificateFile %1$s/a.pem\n"
                "    SSLCertificateKeyFile %1$s/b.key\n"
                "</VirtualHost>\n",
                want);
    snprintf(want, sizeof(want), "%s:4: SSLCertificateKeyFile without an SSLCertificateFile", conftest_conf);
    tls_refused("SSLCertificateFile %1$s/a.pem\n"
                "Listen 18443 https\n"
                "<VirtualHost *:18443>\n"
                "    SSLCertificateKeyFile %1$s/a.key\n"
                "    SSLEngine on\n"
                "</VirtualHost>\n",
                want);
    snprintf(want, sizeof(want), "%s:3: SSLCipherSuite 'NOPE'", conftest_conf);
    tls_refused("Listen 18443 https\n"
                "<VirtualHost *:18443>\n"
                "    SSLCipherSuite NOPE\n"
                "    SSLEngine on\n"
                "    SSLCertificateFile %1$s/a.pem\n"
                "    SSLCertificateKeyFile %1$s/a.key\n"
                "</VirtualHost>\n",
                want);
    snprintf(want, sizeof(want), "%s:3: SSLSessionCache cannot occur within <VirtualHost> section",
             conftest_conf);
    tls_refused("Listen 18443 https\n"
                "<VirtualHost *:18443>\n"
                "    SSLSessionCache none\n"
                "</VirtualHost>\n",
                want);
    snprintf(want, sizeof(want), "%s:3: SSLSessionTickets cannot occur", conftest_conf);
    tls_refused("Listen 18443 https\n"
                "<VirtualHost *:18443>\n"
                "    SSLSessionTickets off\n"
                "</VirtualHost>\n",
                want);
}

Test(tls_vhost, an_https_listener_whose_default_vhost_is_not_ssl, .init = vhost_setup, .fini = vhost_teardown)
{
    struct warnings w = {0};
    struct server *s = load_tls_ok("Listen 127.0.0.1:18443 https\n"
                                   "<VirtualHost *:18443>\n"
                                   "    ServerName plain.test\n"
                                   "</VirtualHost>\n"
                                   "<VirtualHost *:18443>\n"
                                   "    ServerName a.test\n"
                                   "    SSLEngine on\n"
                                   "    SSLCertificateFile %1$s/a.pem\n"
                                   "    SSLCertificateKeyFile %1$s/a.key\n"
                                   "</VirtualHost>\n",
                                   &w);
    cr_assert_null(s->listeners->tls, "the default vhost decides: plain HTTP");
    int found = 0;
    for (int i = 0; i < warnings_kept(&w); i++)
        found |= strstr(w.msg[i],
                        "Listen 127.0.0.1:18443 is https, but its default server (VirtualHost at ") != NULL &&
                 strstr(w.msg[i], ":2) has SSLEngine off") != NULL;
    cr_assert(found, "warned");
    config_free(s);
}

Test(tls_vhost, the_sni_choice_is_the_vhost_selection, .init = vhost_setup, .fini = vhost_teardown)
{
    struct server *s = load_tls_ok(TWO_VHOSTS, NULL);
    const struct vhost *a = vhost_nth(s, 0), *b = vhost_nth(s, 1), *d = vhost_nth(s, 3);
    const struct vhost_set *set = s->listeners->vhosts;
    struct tls_ctx *start = s->listeners->tls;
    const void *chosen = NULL;
    cr_assert_eq(tls_sni_choose(s, set, start, "b.test", &chosen), b->tls->ctx);
    cr_assert_eq(chosen, b);
    cr_assert_eq(tls_sni_choose(s, set, start, "WWW.B.Test.", &chosen), b->tls->ctx, "wildcard alias, case");
    cr_assert_eq(chosen, b);
    cr_assert_eq(tls_sni_choose(s, set, start, "a.test", &chosen), start);
    cr_assert_eq(chosen, a);
    cr_assert_eq(tls_sni_choose(s, set, start, "nobody.test", &chosen), start, "no vhost: no alert");
    cr_assert_eq(chosen, a, "the default vhost");
    cr_assert_eq(tls_sni_choose(s, set, start, "d.test", &chosen), start, "SSLEngine off: no switch");
    cr_assert_eq(chosen, d);
    cr_assert_eq(tls_sni_choose(s, set, start, "plain.test", &chosen), start, "another port's vhost");
    cr_assert_eq(chosen, a);
    config_free(s);
}

Test(tls_vhost, sni_picks_the_vhosts_certificate_and_protocols, .init = vhost_setup, .fini = vhost_teardown)
{
    struct pair p;
    int linger;
    struct server *s = load_tls_ok(TWO_VHOSTS, NULL);
    const struct vhost *a = vhost_nth(s, 0), *b = vhost_nth(s, 1);
    struct tls_ctx *start = s->listeners->tls;

    pair_open(&p, start, "b.test", NULL);
    tls_transport_set_sni_arg(&p.t, s->listeners->vhosts);
    cr_assert_eq(handshake(&p, &linger), 0);
    cr_assert_str_eq(peer_cn(&p), "b.test");
    cr_assert_eq(tls_transport_sni(&p.t), b);
    cr_assert_str_eq(SSL_get_version(p.client), "TLSv1.3");
    pair_close(&p);

    /* b.test is TLSv1.3 only: its SSLProtocol holds, as the name is known before the version is chosen */
    pair_open(&p, start, "b.test", NULL);
    tls_transport_set_sni_arg(&p.t, s->listeners->vhosts);
    SSL_set_max_proto_version(p.client, TLS1_2_VERSION);
    cr_assert_eq(handshake(&p, &linger), -1);
    pair_close(&p);

    pair_open(&p, start, "a.test", NULL);
    tls_transport_set_sni_arg(&p.t, s->listeners->vhosts);
    SSL_set_max_proto_version(p.client, TLS1_2_VERSION);
    cr_assert_eq(handshake(&p, &linger), 0);
    cr_assert_str_eq(peer_cn(&p), "a.test");
    cr_assert_eq(tls_transport_sni(&p.t), a);
    pair_close(&p);

    pair_open(&p, start, NULL, NULL);
    tls_transport_set_sni_arg(&p.t, s->listeners->vhosts);
    cr_assert_eq(handshake(&p, &linger), 0);
    cr_assert_str_eq(peer_cn(&p), "a.test", "no SNI: the default vhost's certificate");
    cr_assert_null(tls_transport_sni(&p.t), "no name, nothing chosen");
    pair_close(&p);

    pair_open(&p, start, "nobody.test", NULL);
    tls_transport_set_sni_arg(&p.t, s->listeners->vhosts);
    cr_assert_eq(handshake(&p, &linger), 0, "an unknown name is served, as mod_ssl");
    cr_assert_str_eq(peer_cn(&p), "a.test");
    cr_assert_eq(tls_transport_sni(&p.t), a);
    pair_close(&p);
    config_free(s);
}

Test(tls_vhost, ssl_vhost_on_a_plain_listener_is_plain, .init = vhost_setup, .fini = vhost_teardown)
{
    struct warnings w = {0};
    struct server *s = load_tls_ok("Listen 127.0.0.1:18443 https\n"
                                   "Listen 127.0.0.1:18080\n"
                                   "SSLCertificateFile %1$s/a.pem\n"
                                   "SSLCertificateKeyFile %1$s/a.key\n"
                                   "<VirtualHost *:18443>\n"
                                   "    SSLEngine on\n"
                                   "</VirtualHost>\n"
                                   "<VirtualHost *:18080>\n"
                                   "    SSLEngine on\n"
                                   "</VirtualHost>\n",
                                   &w);
    cr_assert_not_null(s->listeners->tls);
    cr_assert_null(s->listeners->next->tls, "the plain listener stays plain");
    char *text = conftest_warnings_text(&w);
    char *want = pool_printf(
        test_pool, "%s:9: SSLEngine on in the VirtualHost at %s:8, but no https listener reaches it",
        conftest_conf, conftest_conf);
    cr_assert(strstr(text, want) != NULL, "%s", text);
    cr_assert_null(strstr(text, ":5, but"), "the https one is not warned about: %s", text);
    free(text);
    config_free(s);
}

Test(tls_vhost, by_address_listener_warns_for_a_plain_default, .init = vhost_setup, .fini = vhost_teardown)
{
    struct warnings w = {0};
    struct server *s = load_tls_ok("Listen 18443 https\n"
                                   "<VirtualHost 127.0.0.2:18443>\n"
                                   "    SSLEngine on\n"
                                   "    SSLCertificateFile %1$s/b.pem\n"
                                   "    SSLCertificateKeyFile %1$s/b.key\n"
                                   "</VirtualHost>\n"
                                   "<VirtualHost *:18443>\n"
                                   "    ServerName plain.test\n"
                                   "</VirtualHost>\n",
                                   &w);
    cr_assert(s->listeners->vhosts_by_addr, "the local address decides");
    cr_assert_not_null(s->listeners->tls, "TLS is possible on it");
    char *text = conftest_warnings_text(&w);
    char *want =
        pool_printf(test_pool,
                    "Listen 18443 is https, but the default server (VirtualHost at %s:7) of some of its "
                    "addresses has SSLEngine off",
                    conftest_conf);
    cr_assert(strstr(text, want) != NULL, "%s", text);
    cr_assert_null(strstr(text, ":2) of some"), "127.0.0.2's default is SSL: %s", text);
    free(text);
    config_free(s);
}
