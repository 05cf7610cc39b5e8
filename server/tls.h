/*
 * TLS, as Apache's mod_ssl: the SSL directives (their values in a struct tls_conf), the contexts built from
 * them, and the TLS transport that the drivers put under a connection accepted on an https listener. OpenSSL
 * is used in server/tls.c alone; this header names none of its types.
 *
 * The one thing to know: everything that can fail is done while the configuration is checked, in the parent:
 * certificates and keys are loaded and matched there (a bad one is a configuration error naming its file and
 * line, so a graceful restart with it keeps the old generation), and the session ticket keys live in memory
 * the parent shares with every child, so a session resumes on whichever child the next connection reaches.
 */
#ifndef HTTPD_TLS_H
#define HTTPD_TLS_H

#include <sys/socket.h>

#include "config.h"
#include "server.h"
#include "transport.h"
#include "util.h"

/* SSLProtocol's protocols, as bits. */
enum {
    TLS_PROTO_SSLV3 = 1u << 0,
    TLS_PROTO_TLSV1 = 1u << 1,
    TLS_PROTO_TLSV1_1 = 1u << 2,
    TLS_PROTO_TLSV1_2 = 1u << 3,
    TLS_PROTO_TLSV1_3 = 1u << 4,
    TLS_PROTO_ALL = TLS_PROTO_TLSV1 | TLS_PROTO_TLSV1_1 | TLS_PROTO_TLSV1_2 | TLS_PROTO_TLSV1_3
};

/* SSLSessionCache's kinds. */
enum tls_cache { TLS_CACHE_NONE, TLS_CACHE_SHMCB };

struct tls_ctx; /* a built context (an SSL_CTX and what its callbacks need) */

#define TLS_MAX_CERTS                                                                                        \
    4 /* SSLCertificateFile lines of one server: one per key type (RSA, ECDSA, Ed25519...) */

/* One certificate and its key: the n-th SSLCertificateFile with the n-th SSLCertificateKeyFile. */
struct tls_cert {
    char *cert_file;              /* the leaf, then its chain */
    char *key_file;               /* NULL: the key is in cert_file */
    const char *cert_at, *key_at; /* "file:line" of those directives, for the errors */
};

/* Which settings a server's SSL directives set (struct tls_conf's `set`): what a <VirtualHost> does not set,
 * it takes from the main server. */
enum {
    TLS_SET_ENGINE = 1u << 0,
    TLS_SET_CERTS = 1u << 1, /* SSLCertificateFile or SSLCertificateKeyFile: the pairs go together */
    TLS_SET_PROTOCOL = 1u << 2,
    TLS_SET_CIPHERS = 1u << 3,
    TLS_SET_CIPHERSUITES = 1u << 4,
    TLS_SET_HONOR = 1u << 5
};

/*
 * The SSL settings of one server: the main server's (struct server's `tls`) or a <VirtualHost>'s (struct
 * vhost's `tls`, merged with the main server's by tls_module's check). SSLSessionCache,
 * SSLSessionCacheTimeout and SSLSessionTickets are server-wide: a vhost's copy holds the main server's.
 */
struct tls_conf {
    int engine;                           /* SSLEngine on|off (off) */
    struct tls_cert certs[TLS_MAX_CERTS]; /* SSLCertificateFile / SSLCertificateKeyFile, paired in order */
    int ncerts, nkeys;
    unsigned protocols;      /* SSLProtocol (TLSv1.2 and TLSv1.3) */
    const char *protocol_at; /* "file:line" of SSLProtocol, NULL when unset */
    char *ciphers;           /* SSLCipherSuite [SSL] list: TLS 1.2 and below; NULL: OpenSSL's default */
    char *ciphersuites;      /* SSLCipherSuite TLSv1.3 list; NULL: OpenSSL's default */
    const char *ciphers_at, *ciphersuites_at;
    int honor_cipher_order;   /* SSLHonorCipherOrder (off) */
    enum tls_cache cache;     /* SSLSessionCache none|shmcb:path[(size)] (none) */
    long cache_size;          /* bytes of the shmcb cache (512000, as Apache's) */
    int cache_timeout;        /* SSLSessionCacheTimeout, seconds (300) */
    int tickets;              /* SSLSessionTickets on|off (on) */
    unsigned set;             /* TLS_SET_*: what this server's own directives set */
    const char *engine_at;    /* "file:line" of SSLEngine, NULL when unset */
    const char *id;           /* names the server in its session id context: a session resumes only with the
                                 server that made it (NULL: "httpd") */
    struct tls_ctx *sessions; /* a context built before, whose session cache this one shares (every vhost
                                 uses the same SSLSessionCache); NULL: its own */
    struct tls_ctx *ctx;      /* built by tls_module's check */
};

/* The module of the SSL directives; its check builds the contexts and gives the https listeners theirs. */
extern const struct config_module tls_module;

/* Whether two servers' SSL settings are compatible, as Apache's ssl_server_compatible(): the same protocols,
 * cipher lists and certificate and key files (in any order). */
int tls_conf_compatible(const struct tls_conf *a, const struct tls_conf *b);

/* The SNI choice of a server with <VirtualHost>s (a tls_sni_fn: arg is the struct server, conn the
 * connection's struct vhost_set): the vhost the name selects among those of the connection's address, as a
 * Host would (vhost_find_name()), else the default one with a line at debug and no alert, as mod_ssl; its
 * context when its SSLEngine is on, else ctx. *chosen is that vhost. */
struct tls_ctx *tls_sni_choose(void *arg, const void *conn, struct tls_ctx *ctx, const char *host,
                               const void **chosen);

/* Parses SSLProtocol's arguments (Apache's syntax: [+|-]protocol ..., protocols SSLv3, TLSv1, TLSv1.1,
 * TLSv1.2, TLSv1.3, all) starting from *protocols. Returns NULL or the error. */
const char *tls_parse_protocols(int argc, char **argv, unsigned *protocols);

/* Parses an SSLSessionCache argument ("none", "nonenotnull", "shmcb:/path(512000)") into c. Returns NULL or
 * the error. */
const char *tls_parse_cache(const char *arg, struct tls_conf *c);

/* A tls_conf with Apache's defaults, in pool p. */
struct tls_conf *tls_conf_new(struct pool *p);

/*
 * Builds c's context: protocols, ciphers, certificate chain and key (checked to match), sessions, tickets,
 * ALPN (http/1.1), no renegotiation. Warnings (an expired certificate) go to w. Returns the context, freed
 * with the pool p, or NULL with err ("file:line: ..." of the directive at fault).
 */
struct tls_ctx *tls_ctx_build(struct pool *p, const struct tls_conf *c, struct warnings *w,
                              struct errbuf *err);

/*
 * The SNI choice, taken from the caller (the vhost selection): for a connection that came to ctx with the
 * caller's per-connection `conn` (tls_transport_set_sni_arg(): the vhosts of its address) and names `host`,
 * the context to continue with (ctx itself, or another), with *chosen set to what the caller wants kept for
 * the connection (the vhost: tls_transport_sni()); or NULL to refuse the name (the handshake ends with an
 * unrecognized_name alert). It is asked as the ClientHello arrives, before the version, the ciphers and a
 * session to resume are chosen, so the chosen context's protocols, ciphers and session id context hold.
 */
typedef struct tls_ctx *(*tls_sni_fn)(void *arg, const void *conn, struct tls_ctx *ctx, const char *host,
                                      const void **chosen);

/* Makes ctx ask fn (with arg) for the context of each SNI name. Without it, the name is ignored. */
void tls_ctx_set_sni(struct tls_ctx *ctx, tls_sni_fn fn, void *arg);

/*
 * Makes t the TLS transport of the accepted socket fd, its handshake to come (t->handshaking). peer is kept
 * for the log and for tls_transport_peer(). Returns 0, or -1 when out of memory (t unchanged).
 */
int tls_transport_open(struct transport *t, struct tls_ctx *ctx, int fd, const struct sockaddr *peer,
                       socklen_t peerlen);

/* Sets the per-connection argument of the SNI choice (its `conn`) of a transport tls_transport_open() made.
 */
void tls_transport_set_sni_arg(struct transport *t, const void *conn);

/* What the SNI choice kept for the connection (*chosen), once the handshake is done; NULL when the client
 * sent no server name, when no choice is set, or when t is not a TLS transport. */
const void *tls_transport_sni(const struct transport *t);

/* The peer address kept by tls_transport_open(). */
const struct sockaddr *tls_transport_peer(const struct transport *t, socklen_t *len);

/* After the handshake: the negotiated protocol ("TLSv1.3"), cipher and ALPN protocol ("" when none); and
 * whether files go out with kernel TLS (SSL_sendfile). For the tests and the debug log. */
void tls_transport_info(const struct transport *t, const char **protocol, const char **cipher,
                        const char **alpn, int *ktls);

/* OpenSSL's version and how files are sent over TLS on this machine (kernel TLS or read + SSL_write), for -V
 * and the error log at start; `why` is filled with the reason kernel TLS is not in use. */
const char *tls_library_version(void);
int tls_ktls_available(char *why, size_t len);

/* Logs at start (notice) the TLS path in use, when some listener speaks TLS. */
void tls_log_start(const struct server *s);

#endif
