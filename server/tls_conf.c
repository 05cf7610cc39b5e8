/*
 * The SSL directives (mod_ssl's names and syntax) and their check: the values go into a struct tls_conf,
 * the check builds its context (server/tls.c) and hands it to the listeners whose protocol is https.
 *
 * The one thing to know: until <VirtualHost> exists, the SSL directives are the main server's (Apache allows
 * them there too), and SSLEngine on turns TLS on for the listeners whose protocol is https (`Listen 8443
 * https`, or port 443 without a protocol) while the others stay plain, so one server serves both. The
 * settings are kept apart in struct tls_conf so that each vhost can hold its own.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "pool.h"
#include "tls.h"

struct tls_conf *tls_conf_new(struct pool *p)
{
    struct tls_conf *c = pool_calloc(p, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->protocols = TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3;
    c->cache = TLS_CACHE_NONE;
    c->cache_size = 512000;
    c->cache_timeout = 300;
    c->tickets = 1;
    return c;
}

const char *tls_parse_protocols(int argc, char **argv, unsigned *protocols)
{
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {
        {"all", TLS_PROTO_ALL},         {"TLSv1", TLS_PROTO_TLSV1},     {"TLSv1.1", TLS_PROTO_TLSV1_1},
        {"TLSv1.2", TLS_PROTO_TLSV1_2}, {"TLSv1.3", TLS_PROTO_TLSV1_3}, {"SSLv3", TLS_PROTO_SSLV3},
    };
    unsigned set = *protocols;
    if (argc < 1)
        return "takes one or more protocols: [+|-]all, SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        char op = *a == '+' || *a == '-' ? *a++ : '\0';
        unsigned bits = 0;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && bits == 0; k++)
            if (strcasecmp(a, names[k].name) == 0)
                bits = names[k].bits;
        if (bits == 0)
            return "takes [+|-]all, SSLv3, TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3";
        if (bits == TLS_PROTO_SSLV3 && op != '-')
            return "SSLv3 not supported by this version of OpenSSL";
        /* as mod_ssl: a protocol without + or - starts the set over */
        if (op == '-')
            set &= ~bits;
        else if (op == '+')
            set |= bits;
        else
            set = bits;
    }
    set &= ~(unsigned)TLS_PROTO_SSLV3;
    if (set == 0)
        return "leaves no protocol enabled";
    *protocols = set;
    return NULL;
}

const char *tls_parse_cache(const char *arg, struct tls_conf *c)
{
    if (strcasecmp(arg, "none") == 0 || strcasecmp(arg, "nonenotnull") == 0) {
        c->cache = TLS_CACHE_NONE;
        return NULL;
    }
    if (strncasecmp(arg, "shmcb:", 6) == 0) {
        /* shmcb:/path/to/file(size): the path is only a name in Apache too; the size is what counts here */
        const char *paren = strchr(arg + 6, '(');
        long size = 512000;
        if (paren != NULL) {
            char *end;
            size = strtol(paren + 1, &end, 10);
            if (end == paren + 1 || *end != ')' || end[1] != '\0' || size < 8192 || size > 1L << 30)
                return "shmcb takes a size in bytes in parentheses, from 8192 to 1073741824: "
                       "shmcb:/path/to/datafile(512000)";
        }
        if (arg[6] == '\0' || arg[6] == '(')
            return "shmcb needs a path: shmcb:/path/to/datafile(512000)";
        c->cache = TLS_CACHE_SHMCB;
        c->cache_size = size;
        return NULL;
    }
    return "takes none, nonenotnull or shmcb:/path/to/datafile(size) (dbm:, dc: and memcache: are not built "
           "in)";
}

/* ---- setters: every SSL directive writes into the server's tls_conf, made at the first one ---- */

static struct tls_conf *conf_of(struct server *s)
{
    if (s->tls == NULL)
        s->tls = tls_conf_new(s->pool);
    return s->tls;
}

static const char *on_off(int argc, char **argv, int *out)
{
    if (argc != 1)
        return "takes one argument, on or off";
    if (strcasecmp(argv[0], "on") == 0)
        *out = 1;
    else if (strcasecmp(argv[0], "off") == 0)
        *out = 0;
    else
        return "must be on or off";
    return NULL;
}

static const char *set_engine(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    if (argc == 1 && strcasecmp(argv[0], "optional") == 0)
        return "optional (RFC 2817 upgrade) is not supported: on or off";
    return on_off(argc, argv, &conf_of(s)->engine);
}

static const char *set_cert(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    if (argc != 1)
        return "takes one argument, a file of PEM certificates (the server's first, then its chain)";
    if (c->ncerts == TLS_MAX_CERTS)
        return pool_printf(s->pool, "is given more than %d times (one per key type)", TLS_MAX_CERTS);
    c->certs[c->ncerts++].cert_file = config_server_path(s, argv[0]);
    return NULL;
}

static const char *set_key(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    if (argc != 1)
        return "takes one argument, a PEM private key file";
    if (c->nkeys == TLS_MAX_CERTS)
        return pool_printf(s->pool, "is given more than %d times (one per key type)", TLS_MAX_CERTS);
    c->certs[c->nkeys++].key_file = config_server_path(s, argv[0]);
    return NULL;
}

static const char *set_protocol(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    return tls_parse_protocols(argc, argv, &c->protocols);
}

static const char *set_cipher_suite(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    if (argc == 1) {
        c->ciphers = pool_strdup(s->pool, argv[0]);
        return NULL;
    }
    if (argc == 2 && strcasecmp(argv[0], "SSL") == 0) {
        c->ciphers = pool_strdup(s->pool, argv[1]);
        return NULL;
    }
    if (argc == 2 && strcasecmp(argv[0], "TLSv1.3") == 0) {
        c->ciphersuites = pool_strdup(s->pool, argv[1]);
        return NULL;
    }
    return "takes [SSL|TLSv1.3] cipher-spec: an OpenSSL cipher list, or TLSv1.3 and its cipher suites";
}

static const char *set_honor_order(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    return on_off(argc, argv, &conf_of(s)->honor_cipher_order);
}

static const char *set_cache(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    if (argc != 1)
        return "takes one argument: none, nonenotnull or shmcb:/path/to/datafile(size)";
    return tls_parse_cache(argv[0], conf_of(s));
}

static const char *set_cache_timeout(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    long long v;
    if (argc != 1 || (v = parse_uint(argv[0])) < 1 || v > 86400 * 7)
        return "takes a number of seconds from 1 to 604800";
    conf_of(s)->cache_timeout = (int)v;
    return NULL;
}

static const char *set_tickets(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    return on_off(argc, argv, &conf_of(s)->tickets);
}

#define SSL_DIRECTIVE(name, fn, help)                                                                        \
    {                                                                                                        \
        name, fn, 0, help                                                                                    \
    }

static const struct directive tls_directives[] = {
    SSL_DIRECTIVE("SSLEngine", set_engine, "on or off: TLS on the https listeners (off)"),
    SSL_DIRECTIVE("SSLCertificateFile", set_cert,
                  "PEM file: the server's certificate, then its chain; once per key type (RSA, ECDSA)"),
    SSL_DIRECTIVE(
        "SSLCertificateKeyFile", set_key,
        "PEM private key of the SSLCertificateFile of the same rank (none: the key is in that file)"),
    SSL_DIRECTIVE("SSLProtocol", set_protocol, "[+|-]protocol ...: TLS versions offered (TLSv1.2 TLSv1.3)"),
    SSL_DIRECTIVE("SSLCipherSuite", set_cipher_suite,
                  "[SSL|TLSv1.3] cipher-spec: TLS 1.2 cipher list or TLS 1.3 suites (OpenSSL's defaults)"),
    SSL_DIRECTIVE("SSLHonorCipherOrder", set_honor_order, "on or off: the server's cipher order wins (off)"),
    SSL_DIRECTIVE("SSLSessionCache", set_cache,
                  "none or shmcb:/path(size): session cache shared by every child (none)"),
    SSL_DIRECTIVE("SSLSessionCacheTimeout", set_cache_timeout,
                  "seconds a session can be resumed; also the ticket key rotation period (300)"),
    SSL_DIRECTIVE("SSLSessionTickets", set_tickets,
                  "on or off: session tickets, keys shared by every child and rotated (on)"),
    {NULL, NULL, 0, NULL},
};

static int is_https(const struct listener *l)
{
    return l->protocol != NULL && strcmp(l->protocol, "https") == 0;
}

static int check_config(struct server *s, struct warnings *w, struct errbuf *err)
{
    struct tls_conf *c = s->tls;
    int https = 0;
    for (const struct listener *l = s->listeners; l != NULL; l = l->next)
        https += is_https(l);
    if (c == NULL || !c->engine) {
        for (const struct listener *l = s->listeners; l != NULL; l = l->next)
            if (is_https(l))
                warnings_add(w, "Listen %s is https, but SSLEngine is not on: its connections are plain HTTP",
                             l->spec);
        return 0;
    }
    for (int i = 0; i < c->ncerts || i < c->nkeys; i++) {
        c->certs[i].cert_at = config_where_nth(s, "SSLCertificateFile", i);
        c->certs[i].key_at = config_where_nth(s, "SSLCertificateKeyFile", i);
    }
    c->protocol_at = config_where(s, "SSLProtocol");
    c->ciphers_at = c->ciphersuites_at = config_where(s, "SSLCipherSuite");
    if (c->ncerts == 0)
        return errbuf_set(err, "%s: SSLEngine on, but no SSLCertificateFile [Hint: SSLCertificateFile]",
                          config_where(s, "SSLEngine"));
    if (c->nkeys > c->ncerts)
        return errbuf_set(err, "%s: SSLCertificateKeyFile without an SSLCertificateFile to pair it with",
                          c->certs[c->ncerts].key_at);
    c->ctx = tls_ctx_build(s->pool, c, w, err);
    if (c->ctx == NULL)
        return -1;
    if (https == 0)
        warnings_add(w, "SSLEngine on, but no listener is https (Listen [addr:]port https): no connection "
                        "uses TLS");
    for (struct listener *l = s->listeners; l != NULL; l = l->next)
        if (is_https(l))
            l->tls = c->ctx;
    return 0;
}

const struct config_module tls_module = {
    .name = "ssl_module",
    .directives = tls_directives,
    .check_config = check_config,
};
