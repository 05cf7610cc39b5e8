/*
 * TLS per virtual host on every MPM, against the real binary: two name-based vhosts on one https port, each
 * with SSLEngine on, its own certificate (a.test: ECDSA P-256, also valid for 127.0.0.1; b.test and *.b.test:
 * RSA-2048, both issued by a root made at test time with the openssl CLI) and its own DocumentRoot. curl,
 * verifying against the root with the name it connects to (--resolve), checks that each name gets its own
 * certificate and site; a client without SNI (an address in the URL) gets the default vhost's; a Host that
 * selects the other vhost than the SNI did gets 421; the same vhosts reached on a plain listener of the same
 * port are selected by Host as before, over plain HTTP; a session resumes within its vhost and not in
 * another; -S shows the https vhosts.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define VHOSTS_CONF                                                                                          \
    "Listen 127.0.0.1:@PORT@ https\n"                                                                        \
    "Listen 127.0.0.2:@PORT@\n"                                                                              \
    "SSLSessionCache shmcb:logs/ssl_scache(512000)\n"                                                        \
    "<VirtualHost *:@PORT@>\n"                                                                               \
    "    ServerName a.test\n"                                                                                \
    "    ServerAlias www.a.test\n"                                                                           \
    "    DocumentRoot a\n"                                                                                   \
    "    SSLEngine on\n"                                                                                     \
    "    SSLCertificateFile conf/a.pem\n"                                                                    \
    "    SSLCertificateKeyFile conf/a.key\n"                                                                 \
    "</VirtualHost>\n"                                                                                       \
    "<VirtualHost *:@PORT@>\n"                                                                               \
    "    ServerName b.test\n"                                                                                \
    "    ServerAlias *.b.test\n"                                                                             \
    "    DocumentRoot b\n"                                                                                   \
    "    SSLEngine on\n"                                                                                     \
    "    SSLCertificateFile conf/b.pem\n"                                                                    \
    "    SSLCertificateKeyFile conf/b.key\n"                                                                 \
    "</VirtualHost>\n"

/* Under DIR/conf: ca.pem (the root), a.pem/a.key (a.test, www.a.test and 127.0.0.1; ECDSA P-256), b.pem/b.key
 * (b.test and *.b.test; RSA-2048), both issued by the root. */
static void make_pki(const char *dir)
{
    char *script = xasprintf(
        "set -e; cd '%s/conf'; "
        "printf 'subjectAltName=DNS:a.test,DNS:www.a.test,IP:127.0.0.1\\n' > a.ext; "
        "printf 'subjectAltName=DNS:b.test,DNS:*.b.test\\n' > b.ext; "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem "
        "-days 2 -subj /CN=httpd-test-root; "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout a.key -out a.csr "
        "-subj /CN=a.test; "
        "openssl x509 -req -in a.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out a.pem -days 2 "
        "-extfile a.ext; "
        "openssl req -newkey rsa:2048 -nodes -keyout b.key -out b.csr -subj /CN=b.test; "
        "openssl x509 -req -in b.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out b.pem -days 2 "
        "-extfile b.ext",
        dir);
    run_script(script, 30000, "making the test certificates");
    free(script);
}

/* A site: a directory under the server's root with an index.html saying "site NAME". */
static void add_site(struct srv *s, const char *name)
{
    char *rel = xasprintf("%s/index.html", name), *body = xasprintf("site %s\n", name);
    hassert(mkdir(server_path(s, name), 0755) == 0, "mkdir(%s) failed", name);
    write_file(server_path(s, rel), body, strlen(body));
    free(rel);
    free(body);
}

static struct srv *start(const char *mpm)
{
    struct srv *s = server_new(mpm, VHOSTS_CONF);
    s->listen_in_conf = 0;
    make_pki(s->dir);
    add_site(s, "a");
    add_site(s, "b");
    server_launch(s, NULL);
    return s;
}

/*
 * GET / with curl over https to `name` (resolved to 127.0.0.1; an address: no SNI), verifying the server's
 * certificate against the root for that name, with Host header `host` (NULL: curl's, the URL's). Returns
 * curl's exit status, and the status code and body in *code and *body (malloc'd) when it is 0.
 */
static int curl_get(const struct srv *s, const char *scheme, const char *ip, const char *name,
                    const char *host, int *code, char **body)
{
    char *url = xasprintf("%s://%s:%d/", scheme, name, s->port);
    char *resolve = xasprintf("%s:%d:%s", name, s->port, ip);
    char *ca = xasprintf("%s/conf/ca.pem", s->dir), *file = xasprintf("%s/curl.out", s->dir);
    char *hdr = host != NULL ? xasprintf("Host: %s", host) : NULL;
    char *argv[20];
    int n = 0;
    argv[n++] = "curl";
    argv[n++] = "-sS";
    argv[n++] = "--max-time";
    argv[n++] = "10";
    argv[n++] = "--cacert";
    argv[n++] = ca;
    argv[n++] = "--resolve";
    argv[n++] = resolve;
    argv[n++] = "-o";
    argv[n++] = file;
    argv[n++] = "-w";
    argv[n++] = "%{http_code}";
    if (hdr != NULL) {
        argv[n++] = "-H";
        argv[n++] = hdr;
    }
    argv[n++] = url;
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    unlink(file);
    int rc = run_cmd(argv, 15000, &out, &err);
    *code = out != NULL ? atoi(out) : 0;
    *body = NULL;
    if (rc == 0) {
        size_t len;
        char *raw = read_file(file, &len);
        *body = raw != NULL ? raw : strdup("");
    }
    free(out);
    free(err);
    free(url);
    free(resolve);
    free(ca);
    free(file);
    free(hdr);
    return rc;
}

/* Asserts that GET / to name (Host: host) answers `code` with "site SITE" (code 200) over a verified TLS
 * connection, or over plain HTTP for scheme "http". */
static void expect(const struct srv *s, const char *scheme, const char *ip, const char *name,
                   const char *host, int code, const char *site)
{
    int got;
    char *body;
    int rc = curl_get(s, scheme, ip, name, host, &got, &body);
    hassert(rc == 0, "%s://%s (Host %s): curl exit %d (60: the certificate is not %s's)", scheme, name,
            host ? host : "-", rc, name);
    hassert(got == code, "%s://%s (Host %s): status %d, want %d", scheme, name, host ? host : "-", got, code);
    if (site != NULL) {
        char *want = xasprintf("site %s\n", site);
        hassert(strcmp(body, want) == 0, "%s://%s (Host %s): body %s, want %s", scheme, name,
                host ? host : "-", body, want);
        free(want);
    }
    free(body);
}

MPM_TEST(tls_vhost, each_name_its_certificate_and_site, .timeout = 90)
{
    struct srv *s = start(mpm);
    /* each name its own certificate (verified for that name against the root) and DocumentRoot */
    expect(s, "https", "127.0.0.1", "a.test", NULL, 200, "a");
    expect(s, "https", "127.0.0.1", "b.test", NULL, 200, "b");
    expect(s, "https", "127.0.0.1", "www.a.test", NULL, 200, "a");
    expect(s, "https", "127.0.0.1", "x.b.test", NULL, 200, "b");
    /* no SNI (curl sends none for an address): the default vhost's certificate, valid for 127.0.0.1 */
    expect(s, "https", "127.0.0.1", "127.0.0.1", NULL, 200, "a");
    server_stop(s);
}

MPM_TEST(tls_vhost, misdirected_request, .timeout = 90)
{
    struct srv *s = start(mpm);
    /* SNI a.test, Host b.test: the vhosts differ, and so do their certificates */
    expect(s, "https", "127.0.0.1", "a.test", "b.test", 421, NULL);
    expect(s, "https", "127.0.0.1", "b.test", "a.test", 421, NULL);
    hassert(wait_log(s->error_log, "provided via HTTP selects a server whose SSL setup is not compatible", 2,
                     3000),
            "the 421s are not logged: %s", log_tail(s->error_log, 2000));
    /* an alias of the SNI's vhost, a Host naming no vhost (the default, a) are served */
    expect(s, "https", "127.0.0.1", "a.test", "www.a.test", 200, "a");
    expect(s, "https", "127.0.0.1", "a.test", "nobody.test", 200, "a");
    expect(s, "https", "127.0.0.1", "b.test", "nobody.test", 421, NULL);
    /* without SNI, Host alone decides: not refused */
    expect(s, "https", "127.0.0.1", "127.0.0.1", "b.test", 200, "b");
    server_stop(s);
}

MPM_TEST(tls_vhost, plain_listener_selects_by_host, .timeout = 90)
{
    struct srv *s = start(mpm);
    /* the same vhosts on the plain listener of the port: HTTP, selected by Host, whatever their SSLEngine */
    expect(s, "http", "127.0.0.2", "b.test", NULL, 200, "b");
    expect(s, "http", "127.0.0.2", "a.test", NULL, 200, "a");
    expect(s, "http", "127.0.0.2", "x.b.test", NULL, 200, "b");
    expect(s, "http", "127.0.0.2", "127.0.0.2", "nobody.test", 200, "a");
    server_stop(s);
}

MPM_TEST(tls_vhost, dump_vhosts_shows_the_https_vhosts, .timeout = 60)
{
    struct srv *s = start(mpm);
    int la = server_conf_line(s, "<VirtualHost *:"), lb = la + 8;
    char *want = xasprintf("VirtualHost configuration:\n"
                           "*:%-20d is a NameVirtualHost\n"
                           "         default server a.test (%s:%d)\n"
                           "         port %d namevhost a.test (%s:%d)\n"
                           "                 alias www.a.test\n"
                           "         port %d namevhost b.test (%s:%d)\n"
                           "                 wild alias *.b.test\n",
                           s->port, s->conf, la, s->port, s->conf, la, s->port, s->conf, lb);
    const char *bin = getenv("HTTPD_BIN") ? getenv("HTTPD_BIN") : "server/httpd";
    char *argv[] = {(char *)bin, "-t", "-D", "DUMP_VHOSTS", "-f", s->conf, NULL}, *out = NULL, *err = NULL;
    int rc = run_cmd(argv, 10000, &out, &err);
    hassert(rc == 0, "httpd -t -D DUMP_VHOSTS: exit %d: %s", rc, err ? err : "");
    hassert(out != NULL && strcmp(out, want) == 0, "printed\n%s\nwant\n%s", out ? out : "", want);
    free(out);
    free(err);
    free(want);
    server_stop(s);
}

/* Python's ssl: a connection to `first` (its session kept), then one to `second` offering that session, at
 * TLS `version` ("1.2" or "1.3"), each verified for its name and each GET / read to the close; prints "reused
 * R BODY" of the second. */
static const char resume_py[] =
    "import os, socket, ssl, sys\n"
    "port, first, second, version = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]\n"
    "ctx = ssl.create_default_context(cafile=os.path.join(os.environ['TLS_DIR'], 'conf', 'ca.pem'))\n"
    "ctx.maximum_version = ssl.TLSVersion.TLSv1_2 if version == '1.2' else ssl.TLSVersion.TLSv1_3\n"
    "def get(name, session):\n"
    "    raw = socket.create_connection(('127.0.0.1', port), timeout=10)\n"
    "    t = ctx.wrap_socket(raw, server_hostname=name, session=session)\n"
    "    t.sendall(b'GET / HTTP/1.1\\r\\nHost: ' + name.encode() + b'\\r\\nConnection: close\\r\\n\\r\\n')\n"
    "    data = b''\n"
    "    while True:\n"
    "        chunk = t.recv(65536)\n"
    "        if not chunk:\n"
    "            break\n"
    "        data += chunk\n"
    "    s, reused = t.session, t.session_reused\n"
    "    t.close()\n"
    "    return s, reused, data.partition(b'\\r\\n\\r\\n')[2].decode().strip()\n"
    "s, _, _ = get(first, None)\n"
    "_, reused, body = get(second, s)\n"
    "print('reused', int(reused), body)\n";

static char *resume(const struct srv *s, const char *first, const char *second, const char *version)
{
    char port[16], *out = NULL, *err = NULL;
    snprintf(port, sizeof(port), "%d", s->port);
    setenv("TLS_DIR", s->dir, 1);
    char *argv[] = {"python3",     "-c",           (char *)resume_py, port,
                    (char *)first, (char *)second, (char *)version,   NULL};
    int rc = run_cmd(argv, 30000, &out, &err);
    hassert(rc == 0, "resume %s then %s: exit %d: %s", first, second, rc, err ? err : "");
    free(err);
    return out;
}

MPM_TEST(tls_vhost, sessions_resume_within_their_vhost, .timeout = 90)
{
    struct srv *s = start(mpm);
    static const char *const versions[] = {"1.2", "1.3"};
    for (int i = 0; i < 2; i++) {
        char *out = resume(s, "b.test", "b.test", versions[i]);
        hassert(strcmp(out, "reused 1 site b\n") == 0, "TLS %s, b.test twice: %s", versions[i], out);
        free(out);
        out = resume(s, "b.test", "www.b.test", versions[i]);
        hassert(strcmp(out, "reused 1 site b\n") == 0, "TLS %s, b then a name of b: %s", versions[i], out);
        free(out);
    }
    /* a session of b offered to a: a full handshake, with a's certificate (the client verified it) */
    char *out = resume(s, "b.test", "a.test", "1.2");
    hassert(strcmp(out, "reused 0 site a\n") == 0, "b's session offered for a.test: %s", out);
    free(out);
    server_stop(s);
}

/* One https listener on every address: the connection's local address chooses the set, and its default vhost
 * the handshake (127.0.0.2 has a vhost of its own, b; the others the "*" one, a). */
MPM_TEST(tls_vhost, the_local_address_chooses_the_set, .timeout = 90)
{
    struct srv *s = server_new(mpm, "Listen @PORT@ https\n"
                                    "<VirtualHost 127.0.0.2:@PORT@>\n"
                                    "    ServerName b.test\n"
                                    "    DocumentRoot b\n"
                                    "    SSLEngine on\n"
                                    "    SSLCertificateFile conf/b.pem\n"
                                    "    SSLCertificateKeyFile conf/b.key\n"
                                    "</VirtualHost>\n"
                                    "<VirtualHost *:@PORT@>\n"
                                    "    ServerName a.test\n"
                                    "    DocumentRoot a\n"
                                    "    SSLEngine on\n"
                                    "    SSLCertificateFile conf/a.pem\n"
                                    "    SSLCertificateKeyFile conf/a.key\n"
                                    "</VirtualHost>\n");
    s->listen_in_conf = 0;
    make_pki(s->dir);
    add_site(s, "a");
    add_site(s, "b");
    server_launch(s, NULL);
    expect(s, "https", "127.0.0.1", "a.test", NULL, 200, "a");
    expect(s, "https", "127.0.0.2", "b.test", NULL, 200, "b");
    /* b is not among 127.0.0.1's vhosts: its name gets a's certificate there, which curl refuses */
    int code;
    char *body;
    int rc = curl_get(s, "https", "127.0.0.1", "b.test", NULL, &code, &body);
    hassert(rc == 60, "b.test on 127.0.0.1: curl exit %d, want 60 (a's certificate)", rc);
    free(body);
    /* and 127.0.0.2's only vhost is b: a's name gets b's certificate there */
    rc = curl_get(s, "https", "127.0.0.2", "a.test", NULL, &code, &body);
    hassert(rc == 60, "a.test on 127.0.0.2: curl exit %d, want 60 (b's certificate)", rc);
    free(body);
    server_stop(s);
}
