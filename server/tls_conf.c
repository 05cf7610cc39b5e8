/*
 * The SSL directives (mod_ssl's names and syntax) and their check: the values go into a struct tls_conf per
 * server (the main server's, each <VirtualHost>'s), the check merges each vhost's with the main server's,
 * builds a context per server with SSLEngine on (server/tls.c), gives each https listener the context of its
 * address's default server, and makes the SNI choice the vhost selection's (tls_sni_choose()).
 *
 * The one thing to know: a listener's protocol decides whether its connections speak TLS (`Listen 8443
 * https`, or port 443 without a protocol; the others stay plain, so one server serves both), and then, as in
 * Apache, the default server of the connection's address (its first vhost, else the main server) decides the
 * handshake: with its SSLEngine off the connections are plain HTTP, and its context starts every handshake,
 * until the server name (SNI) moves it to the named vhost's. The session cache and the ticket keys are
 * server-wide, shared by every vhost's context and every child.
 */

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "pool.h"
#include "log.h"
#include "tls.h"
#include "vhost.h"

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

/* ---- setters: an SSL directive writes into the settings of the server being read, made at its first ---- */

static struct tls_conf *conf_of(struct server *s)
{
    struct tls_conf **c = s->conf_vhost != NULL ? &s->conf_vhost->tls : &s->tls;
    if (*c == NULL)
        *c = tls_conf_new(s->pool);
    return *c;
}

static const char *set_engine(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    if (argc == 1 && strcasecmp(argv[0], "optional") == 0)
        return "optional (RFC 2817 upgrade) is not supported: on or off";
    c->set |= TLS_SET_ENGINE;
    c->engine_at = config_here(s);
    return config_parse_flag(argc, argv, &c->engine);
}

static const char *set_cert(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    if (argc != 1)
        return "takes one argument, a file of PEM certificates (the server's first, then its chain)";
    if (c->ncerts == TLS_MAX_CERTS)
        return pool_printf(s->pool, "is given more than %d times (one per key type)", TLS_MAX_CERTS);
    c->set |= TLS_SET_CERTS;
    c->certs[c->ncerts].cert_at = config_here(s);
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
    c->set |= TLS_SET_CERTS;
    c->certs[c->nkeys].key_at = config_here(s);
    c->certs[c->nkeys++].key_file = config_server_path(s, argv[0]);
    return NULL;
}

static const char *set_protocol(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    c->set |= TLS_SET_PROTOCOL;
    c->protocol_at = config_here(s);
    return tls_parse_protocols(argc, argv, &c->protocols);
}

static const char *set_cipher_suite(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    if (argc == 1 || (argc == 2 && strcasecmp(argv[0], "SSL") == 0)) {
        c->ciphers = pool_strdup(s->pool, argv[argc - 1]);
        c->ciphers_at = config_here(s);
        c->set |= TLS_SET_CIPHERS;
        return NULL;
    }
    if (argc == 2 && strcasecmp(argv[0], "TLSv1.3") == 0) {
        c->ciphersuites = pool_strdup(s->pool, argv[1]);
        c->ciphersuites_at = config_here(s);
        c->set |= TLS_SET_CIPHERSUITES;
        return NULL;
    }
    return "takes [SSL|TLSv1.3] cipher-spec: an OpenSSL cipher list, or TLSv1.3 and its cipher suites";
}

static const char *set_honor_order(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct tls_conf *c = conf_of(s);
    c->set |= TLS_SET_HONOR;
    return config_parse_flag(argc, argv, &c->honor_cipher_order);
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
    return config_parse_flag(argc, argv, &conf_of(s)->tickets);
}

#define SSL_DIRECTIVE(name, fn, help)                                                                        \
    {                                                                                                        \
        name, fn, 0, help                                                                                    \
    }

/* "server config, virtual host", as in Apache */
static const struct directive tls_vhost_directives[] = {
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
    {NULL, NULL, 0, NULL},
};

/* server config only: sessions are the server's, shared by every vhost and child */
static const struct directive tls_directives[] = {
    SSL_DIRECTIVE("SSLSessionCache", set_cache,
                  "none or shmcb:/path(size): session cache shared by every child (none)"),
    SSL_DIRECTIVE("SSLSessionCacheTimeout", set_cache_timeout,
                  "seconds a session can be resumed; also the ticket key rotation period (300)"),
    SSL_DIRECTIVE("SSLSessionTickets", set_tickets,
                  "on or off: session tickets, keys shared by every child and rotated (on)"),
    {NULL, NULL, 0, NULL},
};

/* ---- the check ---- */

static int is_https(const struct listener *l)
{
    return l->protocol != NULL && strcmp(l->protocol, "https") == 0;
}

/* A vhost's own settings completed with the main server's m (NULL: Apache's defaults), as mod_ssl merges:
 * what the vhost does not set it takes from m; the session settings are always m's. */
static void merge_main(struct tls_conf *v, const struct tls_conf *m, const struct tls_conf *defaults)
{
    if (m == NULL)
        m = defaults;
    if (!(v->set & TLS_SET_ENGINE)) {
        v->engine = m->engine;
        v->engine_at = m->engine_at;
    }
    if (!(v->set & TLS_SET_CERTS)) {
        memcpy(v->certs, m->certs, sizeof(v->certs));
        v->ncerts = m->ncerts;
        v->nkeys = m->nkeys;
    }
    if (!(v->set & TLS_SET_PROTOCOL)) {
        v->protocols = m->protocols;
        v->protocol_at = m->protocol_at;
    }
    if (!(v->set & TLS_SET_CIPHERS)) {
        v->ciphers = m->ciphers;
        v->ciphers_at = m->ciphers_at;
    }
    if (!(v->set & TLS_SET_CIPHERSUITES)) {
        v->ciphersuites = m->ciphersuites;
        v->ciphersuites_at = m->ciphersuites_at;
    }
    if (!(v->set & TLS_SET_HONOR))
        v->honor_cipher_order = m->honor_cipher_order;
    v->cache = m->cache;
    v->cache_size = m->cache_size;
    v->cache_timeout = m->cache_timeout;
    v->tickets = m->tickets;
}

static int same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether every certificate (or key) file of a is one of b's, and the other way round. */
static int same_files(const struct tls_conf *a, const struct tls_conf *b, int keys)
{
    for (int k = 0; k < 2; k++) {
        const struct tls_conf *x = k ? b : a, *y = k ? a : b;
        for (int i = 0; i < (keys ? x->nkeys : x->ncerts); i++) {
            const char *f = keys ? x->certs[i].key_file : x->certs[i].cert_file;
            int found = 0;
            for (int j = 0; j < (keys ? y->nkeys : y->ncerts) && !found; j++)
                found = same_str(f, keys ? y->certs[j].key_file : y->certs[j].cert_file);
            if (!found)
                return 0;
        }
    }
    return 1;
}

int tls_conf_compatible(const struct tls_conf *a, const struct tls_conf *b)
{
    if (a == b)
        return 1;
    return a != NULL && b != NULL && a->protocols == b->protocols && same_str(a->ciphers, b->ciphers) &&
           same_str(a->ciphersuites, b->ciphersuites) && same_files(a, b, 0) && same_files(a, b, 1);
}

struct tls_ctx *tls_sni_choose(void *arg, const void *conn, struct tls_ctx *ctx, const char *host,
                               const void **chosen)
{
    const struct server *s = arg;
    const struct vhost_set *set = conn;
    const struct vhost *v = vhost_find_name(set, host);
    if (v == NULL) {
        /* as mod_ssl: no alert (RFC 6066 allows going on), the default server, and a line at debug */
        v = vhost_default(s, set);
        log_error(LOG_DEBUG, "ssl",
                  "No matching SSL virtual host for servername %s found (using default/first virtual host)",
                  host);
    }
    *chosen = v;
    /* a vhost without SSLEngine on keeps the handshake's context, as mod_ssl finds no context to switch to */
    return v->tls != NULL && v->tls->engine && v->tls->ctx != NULL ? v->tls->ctx : ctx;
}

/* The checks and the context of one server with SSLEngine on; `where` names it in the errors. */
static int build_server(struct server *s, struct vhost *v, struct tls_ctx **first, struct warnings *w,
                        struct errbuf *err)
{
    struct tls_conf *c = v->tls;
    const char *where =
        v->file != NULL ? pool_printf(s->pool, " (VirtualHost at %s:%d)", v->file, v->line) : "";
    const char *engine_at = c->engine_at != NULL ? c->engine_at : s->conf_file;
    if (c->nkeys > c->ncerts)
        return errbuf_set(err, "%s: SSLCertificateKeyFile without an SSLCertificateFile to pair it with%s",
                          c->certs[c->ncerts].key_at, where);
    if (c->ncerts == 0)
        return errbuf_set(err, "%s: SSLEngine on, but no SSLCertificateFile%s [Hint: SSLCertificateFile]",
                          (c->set & TLS_SET_ENGINE) || v->file == NULL
                              ? engine_at
                              : pool_printf(s->pool, "%s:%d", v->file, v->line),
                          where);
    c->sessions = *first;
    if ((c->ctx = tls_ctx_build(s->pool, c, w, err)) == NULL)
        return -1;
    if (*first == NULL)
        *first = c->ctx;
    tls_ctx_set_sni(c->ctx, tls_sni_choose, s);
    return 0;
}

/* Whether an https listener's connections can reach v: v is in its set, or its set is the local address's. */
static int https_reaches(const struct server *s, const struct vhost *v)
{
    for (const struct listener *l = s->listeners; l != NULL; l = l->next) {
        if (!is_https(l))
            continue;
        if (l->vhosts_by_addr)
            return 1;
        for (int i = 0; l->vhosts != NULL && i < l->vhosts->n; i++)
            if (l->vhosts->hosts[i] == v)
                return 1;
    }
    return 0;
}

/* The port of a listener's address. */
static int listener_port(const struct listener *l)
{
    if (l->addr.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port);
    return ntohs(((const struct sockaddr_in *)&l->addr)->sin_port);
}

/* For an https listener whose connections' local address decides: each set of its port whose default server
 * has SSLEngine off makes those connections plain HTTP. */
static void warn_by_addr(const struct server *s, const struct listener *l, struct warnings *w)
{
    int port = listener_port(l);
    for (int k = 0; k < 2 && s->vhost_map != NULL; k++)
        for (const struct vhost_set *set = k ? s->vhost_map->wildcard : s->vhost_map->specific; set != NULL;
             set = set->next) {
            const struct vhost *d = vhost_default(s, set);
            if ((set->port == 0 || set->port == port) && (d->tls == NULL || !d->tls->engine))
                warnings_add(
                    w,
                    "Listen %s is https, but the default server (VirtualHost at %s:%d) of some of its "
                    "addresses has SSLEngine off: their connections are plain HTTP",
                    l->spec, d->file, d->line);
        }
}

static int check_config(struct server *s, struct warnings *w, struct errbuf *err)
{
    struct tls_conf *m = s->tls;
    struct tls_ctx *first = NULL;
    int setups = 0;
    const struct tls_conf *defaults = tls_conf_new(s->pool); /* what a vhost inherits without main settings */
    if (defaults == NULL)
        return errbuf_set(err, "out of memory");
    s->main.tls = m;
    if (m != NULL && m->engine && build_server(s, &s->main, &first, w, err) < 0)
        return -1;
    for (struct vhost *v = s->vhosts; v != NULL; v = v->next) {
        if (v->tls == NULL) {
            v->tls = m; /* nothing of its own: the main server's settings and context */
            continue;
        }
        merge_main(v->tls, m, defaults);
        v->tls->id = pool_printf(s->pool, "%s:%d", v->file, v->line);
        if (v->tls->engine && build_server(s, v, &first, w, err) < 0)
            return -1;
    }
    /* the classes of compatible settings, for the 421 rule */
    for (struct vhost *v = &s->main; v != NULL; v = v == &s->main ? s->vhosts : v->next) {
        v->tls_setup = 0;
        if (v->tls == NULL || !v->tls->engine)
            continue;
        for (struct vhost *u = &s->main; u != v && v->tls_setup == 0; u = u == &s->main ? s->vhosts : u->next)
            if (u->tls_setup != 0 && tls_conf_compatible(u->tls, v->tls))
                v->tls_setup = u->tls_setup;
        if (v->tls_setup == 0)
            v->tls_setup = ++setups;
    }
    /* each https listener starts its handshakes with the context of its address's default server */
    int https = 0;
    for (struct listener *l = s->listeners; l != NULL; l = l->next) {
        if (!is_https(l))
            continue;
        https++;
        l->tls = NULL;
        if (l->vhosts_by_addr) {
            /* the connection's local address decides (mpm/driver.c): l->tls only says TLS is possible */
            l->tls = first;
            warn_by_addr(s, l, w);
            continue;
        }
        const struct vhost *dv = vhost_default(s, l->vhosts);
        if (dv->tls != NULL && dv->tls->engine)
            l->tls = dv->tls->ctx;
        else if (dv->file != NULL)
            warnings_add(
                w,
                "Listen %s is https, but its default server (VirtualHost at %s:%d) has SSLEngine off: "
                "its connections are plain HTTP",
                l->spec, dv->file, dv->line);
        else
            warnings_add(w, "Listen %s is https, but SSLEngine is not on: its connections are plain HTTP",
                         l->spec);
    }
    /* as Listen's protocol decides, a vhost that turns SSLEngine on where only plain listeners reach it */
    for (const struct vhost *v = s->vhosts; v != NULL && https > 0; v = v->next)
        if (v->tls != NULL && v->tls->engine && (v->tls->set & TLS_SET_ENGINE) && !https_reaches(s, v))
            warnings_add(
                w,
                "%s: SSLEngine on in the VirtualHost at %s:%d, but no https listener reaches it (Listen "
                "[addr:]port https): its connections are plain HTTP",
                v->tls->engine_at, v->file, v->line);
    if (first != NULL && https == 0)
        warnings_add(w, "SSLEngine on, but no listener is https (Listen [addr:]port https): no connection "
                        "uses TLS");
    return 0;
}

const struct config_module tls_module = {
    .name = "ssl_module",
    .directives = tls_directives,
    .vhost_directives = tls_vhost_directives,
    .check_config = check_config,
};
