/*
 * TLS with OpenSSL 3 (see tls.h): the only file that includes an OpenSSL header. Three parts:
 *
 *  - contexts: one SSL_CTX per struct tls_conf, built in the parent while the configuration is checked, so
 *    that the children inherit it ready (certificate chain, key, protocols, ciphers, ALPN, sessions);
 *  - session resumption across children: the ticket keys live in a page the parent maps shared, and makes
 *    the first key in, before the first fork; whichever child issues a ticket, any other decrypts it. A key
 *    encrypts for SSLSessionCacheTimeout seconds, then the next one is made (by the first child that needs
 *    it, under a process-shared lock) and the old one only decrypts, for one more period, then is
 *    overwritten;
 *  - the transport (transport.h): SSL_read/SSL_write on the connection's socket, SSL_ERROR_WANT_READ/WRITE
 *    turned into EAGAIN with t->want, files with SSL_sendfile when the kernel does TLS (kTLS) and read +
 *    SSL_write otherwise.
 *
 * The one thing to know: OpenSSL's error queue is per thread and shared by every connection a reactor
 * holds, so each call starts with an empty queue (err_clear()), and a connection that failed is never shut
 * down cleanly (no SSL_shutdown after a fatal error, as OpenSSL requires).
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "log.h"
#include "pool.h"
#include "tls.h"

#define MODULE        "ssl"
#define TLS_CHUNK     16384 /* one full TLS record of plaintext: the most one SSL_write sends here */
#define TICKET_KEYS   3     /* the key that encrypts, the previous one (decrypts), the one overwritten next */
#define SHMCB_DEFAULT 512000L
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

struct session_cache;

struct tls_ctx {
    SSL_CTX *ctx;
    struct session_cache *cache; /* SSLSessionCache shmcb; NULL: none */
    int own_cache;               /* cache was mapped for this context (else shared with another) */
    int timeout;                 /* SSLSessionCacheTimeout: ticket key period */
    const char *ciphers;         /* SSLCipherSuite lists, NULL: OpenSSL's default (copied to a connection */
    const char *ciphersuites;    /* that SNI moves to this context) */
    tls_sni_fn sni;              /* the caller's SNI choice; NULL: the name is ignored */
    void *sni_arg;
};

/* One connection's TLS state (t->priv). */
struct tls_conn {
    SSL *ssl;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    const void *sni_conn;   /* the caller's per-connection argument of the SNI choice */
    const void *sni_chosen; /* what the SNI choice kept; NULL: no server name */
    int fd;
    unsigned failed : 1; /* a fatal error: no close_notify */
    unsigned ktls : 1;   /* kernel TLS sends: SSL_sendfile */
    unsigned out : 1;    /* writes go through the output BIO (out_method), which can hold them */
    unsigned hold : 1;   /* a handshake step runs: the output BIO keeps what it is given in held */
    unsigned more : 1;   /* a close follows these writes: MSG_MORE, so that the FIN leaves with them */
    char *held;          /* what a handshake step wrote and the socket has not taken yet */
    size_t held_len, held_cap;
};

/* ---- session ticket keys, shared by every child ---- */

struct ticket_key {
    unsigned char name[16], aes[32], hmac[32];
    int64_t born; /* monotonic seconds (CLOCK_MONOTONIC is the machine's, the same in every process) */
};

struct ticket_store {
    pthread_mutex_t lock; /* process-shared, robust: a child killed while holding it does not wedge others */
    int current;          /* index of the key that encrypts; -1 before the first */
    struct ticket_key keys[TICKET_KEYS];
};

static struct ticket_store *tickets; /* mapped once by the parent, kept across restarts */
static EVP_CIPHER *ticket_cipher;    /* AES-256-CBC fetched once with it: EVP_aes_256_cbc() is looked up
                                        in the providers again by every EVP_EncryptInit_ex() */

static int64_t now_s(void)
{
    return now_ms() / 1000;
}

static int ticket_store_map(struct errbuf *err)
{
    pthread_mutexattr_t a;
    if (tickets != NULL)
        return 0;
    void *m =
        mmap(NULL, sizeof(struct ticket_store), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return errbuf_set(err, "mmap() of the session ticket keys failed: %s", strerror(errno));
    struct ticket_store *st = m;
    if (pthread_mutexattr_init(&a) != 0 || pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
        pthread_mutex_init(&st->lock, &a) != 0) {
        munmap(m, sizeof(*st));
        return errbuf_set(err, "a process-shared mutex for the session ticket keys could not be made");
    }
    pthread_mutexattr_destroy(&a);
    st->current = -1;
    tickets = st;
    ticket_cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
    ERR_clear_error(); /* without it, ticket_cb() takes the implicit fetch */
    return 0;
}

static void ticket_lock(void)
{
    if (pthread_mutex_lock(&tickets->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&tickets->lock); /* the keys are written before `current` moves: intact */
}

/* Copies the key that encrypts now into *k, making the next one when the current is `period` seconds old.
 * Returns 0, or -1 when no random key could be made. */
static int ticket_current(struct ticket_key *k, int period)
{
    int rc = 0;
    ticket_lock();
    int cur = tickets->current;
    if (cur < 0 || now_s() - tickets->keys[cur].born >= period) {
        int next = (cur + 1) % TICKET_KEYS;
        struct ticket_key fresh;
        if (RAND_bytes(fresh.name, sizeof(fresh.name)) != 1 ||
            RAND_bytes(fresh.aes, sizeof(fresh.aes)) != 1 ||
            RAND_bytes(fresh.hmac, sizeof(fresh.hmac)) != 1) {
            rc = cur >= 0 ? 0 : -1; /* keep encrypting with the old key rather than fail */
        } else {
            fresh.born = now_s();
            tickets->keys[next] = fresh;
            tickets->current = cur = next;
        }
        OPENSSL_cleanse(&fresh, sizeof(fresh));
    }
    if (cur >= 0)
        *k = tickets->keys[cur];
    pthread_mutex_unlock(&tickets->lock);
    return rc;
}

/* Copies the key named `name` into *k. Returns 1 when it is the current one, 2 when older (the ticket is
 * renewed), 0 when there is none (a full handshake follows). */
static int ticket_find(const unsigned char *name, struct ticket_key *k)
{
    int rc = 0;
    ticket_lock();
    for (int i = 0; i < TICKET_KEYS && rc == 0; i++) {
        if (tickets->current >= 0 && tickets->keys[i].born > 0 &&
            memcmp(tickets->keys[i].name, name, 16) == 0) {
            *k = tickets->keys[i];
            rc = i == tickets->current ? 1 : 2;
        }
    }
    pthread_mutex_unlock(&tickets->lock);
    return rc;
}

static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    struct tls_ctx *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct ticket_key k;
    int rc;

    if (enc) {
        if (ticket_current(&k, tc != NULL && tc->timeout > 0 ? tc->timeout : 300) < 0 ||
            RAND_bytes(iv, 16) != 1)
            return -1;
        memcpy(key_name, k.name, 16);
        rc = 1;
    } else {
        rc = ticket_find(key_name, &k);
        if (rc == 0)
            return 0;
        /* TLS 1.3 clients use a ticket once (RFC 8446, C.4), so a resumption sends a fresh one, as OpenSSL's
         * own keys, nginx and Apache do: without it every other connection of such a client is a full
         * handshake. TLS 1.2 renews only a ticket of an older key. */
        if (SSL_version(ssl) == TLS1_3_VERSION)
            rc = 2;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof(k.hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    const EVP_CIPHER *cipher = ticket_cipher != NULL ? ticket_cipher : EVP_aes_256_cbc();
    int ok = EVP_MAC_CTX_set_params(hctx, params) == 1 &&
             (enc ? EVP_EncryptInit_ex(cctx, cipher, NULL, k.aes, iv)
                  : EVP_DecryptInit_ex(cctx, cipher, NULL, k.aes, iv)) == 1;
    OPENSSL_cleanse(&k, sizeof(k));
    return ok ? rc : -1;
}

/* ---- SSLSessionCache shmcb: sessions by id in memory shared by every child ---- */

#define CACHE_WAYS 4 /* slots per set: a new session replaces an expired one, else the oldest */
#define CACHE_DER_MAX                                                                                        \
    1200 /* a serialized server session is a few hundred bytes; larger ones are not kept                     \
          */

struct cache_slot {
    int64_t expires; /* monotonic seconds; 0: empty */
    unsigned char id_len;
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    unsigned short der_len;
    unsigned char der[CACHE_DER_MAX];
};

struct session_cache {
    pthread_mutex_t lock; /* process-shared, robust */
    size_t size;          /* bytes mapped */
    unsigned nsets;
    struct cache_slot slots[];
};

static unsigned cache_set(const struct session_cache *c, const unsigned char *id, unsigned len)
{
    uint32_t h = 2166136261u; /* FNV-1a: the ids are random already */
    for (unsigned i = 0; i < len; i++)
        h = (h ^ id[i]) * 16777619u;
    return h % c->nsets;
}

static void cache_lock(struct session_cache *c)
{
    if (pthread_mutex_lock(&c->lock) == EOWNERDEAD)
        pthread_mutex_consistent(&c->lock);
}

static int cache_new_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_ctx *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct session_cache *c = tc->cache;
    unsigned int id_len;
    const unsigned char *id = SSL_SESSION_get_id(sess, &id_len);
    unsigned char der[CACHE_DER_MAX], *p = der;
    /* TLS 1.3 with tickets: the whole session travels in the ticket (ticket_cb) and is never looked up by
     * its id, yet OpenSSL reports each ticket it sends here ("for applications that want to know") */
    if (SSL_version(ssl) == TLS1_3_VERSION && !(SSL_get_options(ssl) & SSL_OP_NO_TICKET))
        return 0;
    int n = i2d_SSL_SESSION(sess, NULL);
    if (n <= 0 || n > CACHE_DER_MAX || id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return 0;
    i2d_SSL_SESSION(sess, &p);
    int64_t now = now_s();
    cache_lock(c);
    struct cache_slot *set = &c->slots[cache_set(c, id, id_len) * CACHE_WAYS], *victim = &set[0];
    for (int i = 0; i < CACHE_WAYS; i++) {
        if (set[i].expires <= now) {
            victim = &set[i];
            break;
        }
        if (set[i].expires < victim->expires)
            victim = &set[i];
    }
    victim->expires = now + (int64_t)SSL_SESSION_get_timeout(sess);
    victim->id_len = (unsigned char)id_len;
    memcpy(victim->id, id, id_len);
    victim->der_len = (unsigned short)n;
    memcpy(victim->der, der, (size_t)n);
    pthread_mutex_unlock(&c->lock);
    OPENSSL_cleanse(der, sizeof(der));
    return 0; /* the cache keeps a copy, not OpenSSL's reference */
}

static SSL_SESSION *cache_get_cb(SSL *ssl, const unsigned char *id, int id_len, int *copy)
{
    struct tls_ctx *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    struct session_cache *c = tc->cache;
    unsigned char der[CACHE_DER_MAX];
    int n = 0;
    *copy = 0;
    if (id_len <= 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return NULL;
    int64_t now = now_s();
    cache_lock(c);
    struct cache_slot *set = &c->slots[cache_set(c, id, (unsigned)id_len) * CACHE_WAYS];
    for (int i = 0; i < CACHE_WAYS && n == 0; i++)
        if (set[i].expires > now && set[i].id_len == id_len && memcmp(set[i].id, id, (size_t)id_len) == 0) {
            n = set[i].der_len;
            memcpy(der, set[i].der, (size_t)n);
        }
    pthread_mutex_unlock(&c->lock);
    if (n == 0)
        return NULL;
    const unsigned char *p = der;
    SSL_SESSION *sess = d2i_SSL_SESSION(NULL, &p, n);
    OPENSSL_cleanse(der, sizeof(der));
    return sess;
}

static void cache_remove_cb(SSL_CTX *ctx, SSL_SESSION *sess)
{
    struct tls_ctx *tc = SSL_CTX_get_app_data(ctx);
    struct session_cache *c = tc->cache;
    unsigned int id_len;
    const unsigned char *id = SSL_SESSION_get_id(sess, &id_len);
    if (c == NULL || id_len == 0 || id_len > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return;
    cache_lock(c);
    struct cache_slot *set = &c->slots[cache_set(c, id, id_len) * CACHE_WAYS];
    for (int i = 0; i < CACHE_WAYS; i++)
        if (set[i].id_len == id_len && memcmp(set[i].id, id, id_len) == 0)
            set[i].expires = 0;
    pthread_mutex_unlock(&c->lock);
}

/* Maps a cache of about `size` bytes shared with the children forked after (unmapped with its context).
 * Returns it, or NULL with err. */
static struct session_cache *cache_map(long size, struct errbuf *err)
{
    pthread_mutexattr_t a;
    size_t set_bytes = sizeof(struct cache_slot) * CACHE_WAYS;
    unsigned nsets = (unsigned)(((size_t)size - sizeof(struct session_cache)) / set_bytes);
    if (nsets == 0)
        nsets = 1;
    size_t bytes = sizeof(struct session_cache) + set_bytes * nsets;
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        errbuf_set(err, "mmap() of %zu bytes for SSLSessionCache failed: %s", bytes, strerror(errno));
        return NULL;
    }
    struct session_cache *c = m;
    if (pthread_mutexattr_init(&a) != 0 || pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 || pthread_mutex_init(&c->lock, &a) != 0) {
        munmap(m, bytes);
        errbuf_set(err, "a process-shared mutex for SSLSessionCache could not be made");
        return NULL;
    }
    pthread_mutexattr_destroy(&a);
    c->size = bytes;
    c->nsets = nsets;
    return c;
}

/*
 * ---- the output BIO: what a handshake writes last leaves with the answer ----
 *
 * OpenSSL writes what it has to say as it goes: a full TLS 1.3 handshake ends with two session tickets, each
 * flushed in a write of its own after the client's Finished, then come the response and close_notify, each
 * a write: five segments before the FIN, each read (and acknowledged) on its own by the client. The
 * connection's write BIO (reads keep OpenSSL's socket BIO) holds what a handshake step writes (hold) in held;
 * at the end of the step it is written at once when the server waits next (for the client's next flight, or
 * when no request has arrived yet), and otherwise -- the request came with the client's Finished -- in front
 * of the next write's record, in one sendmsg(). Whenever the transport is about to wait for the client to
 * send, held is written first, so the client never waits for it. Writes after the handshake go straight to
 * the socket (with MSG_MORE when a close follows: `more`), and the BIO's retry means what the socket BIO's
 * does, so SSL_write keeps its semantics. Under kernel TLS OpenSSL writes through the socket BIO itself, and
 * this BIO is not used.
 */

static BIO_METHOD *out_method, *in_method; /* made once in the parent, with the first context */

/* Drops the first n bytes of held; frees it when empty (an idle connection holds nothing). */
static void held_consume(struct tls_conn *tc, size_t n)
{
    if (n < tc->held_len) {
        memmove(tc->held, tc->held + n, tc->held_len - n);
        tc->held_len -= n;
        return;
    }
    free(tc->held);
    tc->held = NULL;
    tc->held_len = tc->held_cap = 0;
}

/* Writes held to the socket. Returns 0 when all of it went, else -1 with errno (EAGAIN: the socket is full).
 */
static int held_flush(struct tls_conn *tc)
{
    while (tc->held_len > 0) {
        ssize_t n = send(tc->fd, tc->held, tc->held_len, MSG_NOSIGNAL | (tc->more ? MSG_MORE : 0));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        held_consume(tc, (size_t)n);
    }
    return 0;
}

static int out_write(BIO *b, const char *data, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (len <= 0)
        return 0;
    if (tc->hold) {
        if (tc->held_len + (size_t)len > tc->held_cap) {
            size_t cap = tc->held_cap > 0 ? tc->held_cap : 1024;
            while (cap < tc->held_len + (size_t)len)
                cap *= 2;
            char *m = realloc(tc->held, cap);
            if (m == NULL) {
                errno = ENOMEM;
                return -1;
            }
            tc->held = m;
            tc->held_cap = cap;
        }
        memcpy(tc->held + tc->held_len, data, (size_t)len);
        tc->held_len += (size_t)len;
        return len;
    }
    /* what is held, then this record: one system call */
    struct iovec iov[2] = {{tc->held, tc->held_len}, {(void *)data, (size_t)len}};
    int first = tc->held_len > 0 ? 0 : 1;
    struct msghdr msg = {.msg_iov = iov + first, .msg_iovlen = (size_t)(2 - first)};
    ssize_t n = sendmsg(tc->fd, &msg, MSG_NOSIGNAL | (tc->more ? MSG_MORE : 0));
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            BIO_set_retry_write(b);
        return -1;
    }
    size_t before = tc->held_len;
    held_consume(tc, (size_t)n < before ? (size_t)n : before);
    if ((size_t)n <= before) { /* not a byte of the record yet: asked again, as after EAGAIN */
        BIO_set_retry_write(b);
        errno = EAGAIN;
        return -1;
    }
    return (int)((size_t)n - before);
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct tls_conn *tc = BIO_get_data(b);
    (void)num, (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH: /* OpenSSL flushes each flight and each ticket: held for the end of the step */
        BIO_clear_retry_flags(b);
        if (tc->hold || held_flush(tc) == 0)
            return 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(b);
        return 0;
    case BIO_CTRL_WPENDING:
        return (long)tc->held_len;
    case BIO_CTRL_DUP:
        return 1;
    default:
        return 0;
    }
}

static int out_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

/* The read side, a filter over OpenSSL's socket BIO: while a handshake step holds what it wrote, the client
 * cannot have answered it, so the read OpenSSL tries next (for the client's next flight) is not made: it
 * would fail with EAGAIN, a system call per handshake for nothing. The rest is the socket BIO's. */
static int in_read(BIO *b, char *buf, int len)
{
    struct tls_conn *tc = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (tc->hold && tc->held_len > 0) {
        BIO_set_retry_read(b);
        errno = EAGAIN;
        return -1;
    }
    int n = BIO_read(BIO_next(b), buf, len);
    BIO_copy_next_retry(b);
    return n;
}

static long in_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    return BIO_next(b) != NULL ? BIO_ctrl(BIO_next(b), cmd, num, ptr) : 0;
}

static int out_method_make(void)
{
    if (out_method != NULL)
        return 0;
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "httpd TLS output");
    BIO_METHOD *r = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER, "httpd TLS input");
    if (m == NULL || r == NULL || BIO_meth_set_write(m, out_write) != 1 ||
        BIO_meth_set_ctrl(m, out_ctrl) != 1 || BIO_meth_set_create(m, out_create) != 1 ||
        BIO_meth_set_read(r, in_read) != 1 || BIO_meth_set_ctrl(r, in_ctrl) != 1 ||
        BIO_meth_set_create(r, out_create) != 1) {
        BIO_meth_free(m);
        BIO_meth_free(r);
        return -1;
    }
    out_method = m;
    in_method = r;
    return 0;
}

/* The connection's BIOs: the input filter over OpenSSL's socket BIO reads, the output BIO writes. Returns 0,
 * or -1. */
static int out_attach(struct tls_conn *tc, int fd)
{
    BIO *sock = BIO_new_socket(fd, BIO_NOCLOSE), *rb = BIO_new(in_method), *wb = BIO_new(out_method);
    if (sock == NULL || rb == NULL || wb == NULL) {
        BIO_free(sock);
        BIO_free(rb);
        BIO_free(wb);
        return -1;
    }
    BIO_set_data(rb, tc);
    BIO_set_data(wb, tc);
    BIO_push(rb, sock); /* freed with rb by SSL_free() */
    SSL_set_bio(tc->ssl, rb, wb);
    tc->out = 1;
    return 0;
}

/* ---- contexts ---- */

/* The first error in OpenSSL's queue, as text (then the queue is cleared). */
static const char *ssl_error_text(char *buf, size_t len)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, len, "no detail from OpenSSL");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *sel;
    (void)ssl, (void)arg;
    if (SSL_select_next_proto(&sel, outlen, ours, sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301: no protocol in common */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* The host name of a ClientHello's server_name extension (RFC 6066 3) into name; 0 when there is none. */
static int client_hello_name(SSL *ssl, char *name, size_t size)
{
    const unsigned char *p;
    size_t len;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 5)
        return 0;
    size_t list = (size_t)p[0] << 8 | p[1];
    size_t n = (size_t)p[3] << 8 | p[4];
    if (list + 2 != len || p[2] != TLSEXT_NAMETYPE_host_name || n == 0 || n + 3 > list || n >= size ||
        memchr(p + 5, '\0', n) != NULL)
        return 0; /* OpenSSL refuses it as it parses the extension */
    memcpy(name, p + 5, n);
    name[n] = '\0';
    return 1;
}

/*
 * As the ClientHello arrives (before the version, the cipher and a session to resume are chosen, as Apache's
 * ssl_callback_ClientHello): the caller chooses the context for the server name; the connection moves to it
 * with its options, protocols and ciphers (SSL_set_SSL_CTX() itself moves only the certificates and the
 * session id context). Asked again for a second ClientHello (HelloRetryRequest), it chooses the same.
 */
static int client_hello_cb(SSL *ssl, int *alert, void *arg)
{
    struct tls_ctx *tc = arg;
    struct tls_conn *conn = SSL_get_app_data(ssl);
    char name[256];
    const void *chosen = NULL;
    if (tc->sni == NULL || !client_hello_name(ssl, name, sizeof(name)))
        return SSL_CLIENT_HELLO_SUCCESS;
    struct tls_ctx *to = tc->sni(tc->sni_arg, conn != NULL ? conn->sni_conn : NULL, tc, name, &chosen);
    if (to == NULL) {
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (conn != NULL)
        conn->sni_chosen = chosen;
    if (to == tc)
        return SSL_CLIENT_HELLO_SUCCESS;
    if (SSL_set_SSL_CTX(ssl, to->ctx) == NULL)
        goto fail;
    SSL_clear_options(ssl, SSL_get_options(ssl));
    SSL_set_options(ssl, SSL_CTX_get_options(to->ctx));
    if (SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(to->ctx)) != 1 ||
        SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(to->ctx)) != 1 ||
        SSL_set_cipher_list(ssl, to->ciphers != NULL ? to->ciphers : OSSL_default_cipher_list()) != 1 ||
        SSL_set_ciphersuites(ssl,
                             to->ciphersuites != NULL ? to->ciphersuites : OSSL_default_ciphersuites()) != 1)
        goto fail;
    return SSL_CLIENT_HELLO_SUCCESS;
fail:
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
}

void tls_ctx_set_sni(struct tls_ctx *ctx, tls_sni_fn fn, void *arg)
{
    ctx->sni = fn;
    ctx->sni_arg = arg;
}

static void ctx_free(void *arg)
{
    struct tls_ctx *tc = arg;
    SSL_CTX_free(tc->ctx);
    if (tc->cache != NULL && tc->own_cache)
        munmap(tc->cache, tc->cache->size); /* the children that use it keep their own mapping */
}

/* The lowest and highest protocol of the set, and the holes between them as SSL_OP_NO_* options. */
static int protocol_range(unsigned set, int *min, int *max, uint64_t *holes)
{
    static const struct {
        unsigned bit;
        int version;
        uint64_t no;
    } order[] = {
        {TLS_PROTO_TLSV1, TLS1_VERSION, SSL_OP_NO_TLSv1},
        {TLS_PROTO_TLSV1_1, TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
        {TLS_PROTO_TLSV1_2, TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
        {TLS_PROTO_TLSV1_3, TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
    };
    int lo = -1, hi = -1;
    for (int i = 0; i < 4; i++)
        if (set & order[i].bit) {
            if (lo < 0)
                lo = i;
            hi = i;
        }
    if (lo < 0)
        return -1;
    *min = order[lo].version;
    *max = order[hi].version;
    *holes = 0;
    for (int i = lo; i <= hi; i++)
        if (!(set & order[i].bit))
            *holes |= order[i].no;
    return 0;
}

/* A warning when the leaf certificate has expired or is not valid yet (the server still starts, as Apache's).
 */
static void check_validity(SSL_CTX *ctx, const struct tls_cert *c, struct warnings *w)
{
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    if (leaf == NULL)
        return;
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
        warnings_add(w, "%s: SSLCertificateFile %s: the certificate has expired", c->cert_at, c->cert_file);
    else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
        warnings_add(w, "%s: SSLCertificateFile %s: the certificate is not valid yet", c->cert_at,
                     c->cert_file);
}

/*
 * Loads one SSLCertificateFile (the leaf and then its chain, as Apache >= 2.4.8) and its key (the
 * SSLCertificateKeyFile of the same rank, else the certificate file), into the context's slot for the key's
 * type: an RSA and an ECDSA pair can be served side by side. Returns 0, or -1 with err naming the directive.
 */
static int use_pair(SSL_CTX *ctx, const struct tls_cert *c, struct warnings *w, struct errbuf *err)
{
    char ebuf[256];
    if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1)
        return errbuf_set(err,
                          "%s: SSLCertificateFile: unable to load the certificate (and chain) from %s: %s",
                          c->cert_at, c->cert_file, ssl_error_text(ebuf, sizeof(ebuf)));
    const char *key = c->key_file != NULL ? c->key_file : c->cert_file;
    const char *key_at = c->key_file != NULL ? c->key_at : c->cert_at;
    BIO *kb = BIO_new_file(key, "r");
    EVP_PKEY *pkey = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    BIO_free(kb);
    if (pkey == NULL)
        return errbuf_set(err, "%s: %s: unable to load a private key from %s%s: %s", key_at,
                          c->key_file != NULL ? "SSLCertificateKeyFile" : "SSLCertificateFile", key,
                          c->key_file != NULL ? "" : " (and no SSLCertificateKeyFile)",
                          ssl_error_text(ebuf, sizeof(ebuf)));
    /* the key must be this certificate's (OpenSSL alone would file a key of another type beside the
     * certificate of that type) */
    X509 *leaf = SSL_CTX_get0_certificate(ctx);
    int used = leaf != NULL && X509_check_private_key(leaf, pkey) == 1 &&
               SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(pkey);
    if (!used)
        return errbuf_set(
            err,
            "%s: SSLCertificateKeyFile %s does not match the certificate in %s (SSLCertificateFile "
            "at %s): %s",
            key_at, key, c->cert_file, c->cert_at, ssl_error_text(ebuf, sizeof(ebuf)));
    check_validity(ctx, c, w);
    return 0;
}

struct tls_ctx *tls_ctx_build(struct pool *p, const struct tls_conf *c, struct warnings *w,
                              struct errbuf *err)
{
    char ebuf[256];
    int min, max;
    uint64_t holes;

    ERR_clear_error();
    if (c->ncerts == 0) {
        errbuf_set(err, "SSLEngine on, but no SSLCertificateFile");
        return NULL;
    }
    struct ticket_key first;
    if (c->tickets && (ticket_store_map(err) < 0 || ticket_current(&first, c->cache_timeout) < 0)) {
        if (tickets != NULL)
            errbuf_set(err, "no random session ticket key could be made");
        return NULL;
    }
    OPENSSL_cleanse(&first, sizeof(first)); /* the key is made here, before the children are forked */
    if (out_method_make() < 0) {
        errbuf_set(err, "the TLS output BIO could not be made: %s", ssl_error_text(ebuf, sizeof(ebuf)));
        return NULL;
    }
    struct tls_ctx *tc = pool_calloc(p, sizeof(*tc));
    if (tc == NULL || (tc->ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
        errbuf_set(err, "SSL_CTX_new() failed: %s", ssl_error_text(ebuf, sizeof(ebuf)));
        return NULL;
    }
    if (pool_cleanup_add(p, ctx_free, tc) < 0) {
        SSL_CTX_free(tc->ctx);
        errbuf_set(err, "out of memory");
        return NULL;
    }
    SSL_CTX *ctx = tc->ctx;
    tc->timeout = c->cache_timeout;
    SSL_CTX_set_app_data(ctx, tc);

    if (protocol_range(c->protocols, &min, &max, &holes) < 0) {
        errbuf_set(err, "%s: SSLProtocol leaves no protocol enabled",
                   c->protocol_at ? c->protocol_at : "SSLProtocol");
        return NULL;
    }
    if (SSL_CTX_set_min_proto_version(ctx, min) != 1 || SSL_CTX_set_max_proto_version(ctx, max) != 1) {
        errbuf_set(err, "%s: SSLProtocol: %s", c->protocol_at, ssl_error_text(ebuf, sizeof(ebuf)));
        return NULL;
    }
    /* no client-initiated renegotiation (TLS 1.2; 1.3 has none); a peer's EOF without close_notify reads
     * as an end (a request is delimited by HTTP itself); kernel TLS where the kernel has it (asked for only
     * then: OpenSSL would otherwise try two setsockopt() calls on every connection, in vain) */
    char no_ktls[128];
    int ktls = tls_ktls_available(no_ktls, sizeof(no_ktls));
    SSL_CTX_set_options(ctx, holes | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | (ktls ? SSL_OP_ENABLE_KTLS : 0) |
                                 (c->honor_cipher_order ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0) |
                                 (c->tickets ? 0 : SSL_OP_NO_TICKET));
    /* a write that could not finish is retried from a copy of the same bytes (moving buffer), one record at
     * a time (partial); an idle connection holds no record buffers */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1);

    tc->ciphers = c->ciphers != NULL ? pool_strdup(p, c->ciphers) : NULL;
    tc->ciphersuites = c->ciphersuites != NULL ? pool_strdup(p, c->ciphersuites) : NULL;
    if (c->ciphers != NULL && SSL_CTX_set_cipher_list(ctx, c->ciphers) != 1) {
        errbuf_set(err, "%s: SSLCipherSuite '%s': %s", c->ciphers_at, c->ciphers,
                   ssl_error_text(ebuf, sizeof(ebuf)));
        return NULL;
    }
    if (c->ciphersuites != NULL && SSL_CTX_set_ciphersuites(ctx, c->ciphersuites) != 1) {
        errbuf_set(err, "%s: SSLCipherSuite TLSv1.3 '%s': %s", c->ciphersuites_at, c->ciphersuites,
                   ssl_error_text(ebuf, sizeof(ebuf)));
        return NULL;
    }

    for (int i = 0; i < c->ncerts; i++)
        if (use_pair(ctx, &c->certs[i], w, err) < 0)
            return NULL;

    /* sessions: the id context makes resumption possible at all, and names the server, so that a session
     * resumes only with the server (vhost) that made it; the ticket keys and the cache are the shared ones */
    unsigned char sid[SHA256_DIGEST_LENGTH];
    const char *id = c->id != NULL ? c->id : "httpd";
    unsigned int sid_len = 0;
    if (EVP_Digest(id, strlen(id), sid, &sid_len, EVP_sha256(), NULL) != 1 ||
        SSL_CTX_set_session_id_context(ctx, sid, sid_len) != 1) {
        errbuf_set(err, "the session id context could not be set: %s", ssl_error_text(ebuf, sizeof(ebuf)));
        return NULL;
    }
    SSL_CTX_set_timeout(ctx, c->cache_timeout);
    if (c->cache == TLS_CACHE_SHMCB) {
        if (c->sessions != NULL && c->sessions->cache != NULL)
            tc->cache = c->sessions->cache;
        else if ((tc->cache = cache_map(c->cache_size, err)) == NULL)
            return NULL;
        else
            tc->own_cache = 1;
        /* only the shared cache: a session made by one child is found by every other */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
        SSL_CTX_sess_set_new_cb(ctx, cache_new_cb);
        SSL_CTX_sess_set_get_cb(ctx, cache_get_cb);
        SSL_CTX_sess_set_remove_cb(ctx, cache_remove_cb);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    if (c->tickets)
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);

    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, tc);
    return tc;
}

/* ---- the transport ---- */

/* Empties this thread's error queue before an SSL call (SSL_get_error() reads it). Clearing costs a pass
 * over all of the queue's slots even when it is empty, which it nearly always is: looked at first. */
static void err_clear(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

static struct tls_conn *conn_of(const struct transport *t)
{
    return t->priv;
}

static void log_failure(const struct tls_conn *tc, const char *what, const char *detail)
{
    char host[64] = "?";
    int port = 0;
    if (tc->peer.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&tc->peer;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
    } else if (tc->peer.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&tc->peer;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
    }
    log_error(LOG_INFO, MODULE, "%s with %s:%d: %s", what, host, port, detail);
}

/*
 * After an SSL call returned r <= 0: sets errno and t->want, and returns -1, or 0 for a clean end (what recv
 * returns at the peer's close_notify or EOF).
 */
static ssize_t ssl_failed(struct transport *t, int r, const char *what)
{
    struct tls_conn *tc = conn_of(t);
    char ebuf[256];
    int e = SSL_get_error(tc->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        t->want = TRANSPORT_WANT_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        t->want = TRANSPORT_WANT_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        tc->failed = 1;
        if (errno == 0)
            return 0; /* EOF */
        return -1;
    default:
        tc->failed = 1;
        log_error(LOG_DEBUG, MODULE, "%s failed: %s", what, ssl_error_text(ebuf, sizeof(ebuf)));
        errno = EPROTO;
        return -1;
    }
}

static ssize_t tls_recv(struct transport *t, void *buf, size_t len)
{
    struct tls_conn *tc = conn_of(t);
    size_t n;
    err_clear();
    errno = 0;
    if (SSL_read_ex(tc->ssl, buf, len, &n) == 1)
        return (ssize_t)n;
    ssize_t r = ssl_failed(t, 0, "SSL_read");
    if (r < 0 && errno == EAGAIN && tc->held_len > 0 && held_flush(tc) < 0) {
        /* the transport waits for the client next: what the handshake wrote last goes first */
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            tc->failed = 1;
            return -1;
        }
        t->want = TRANSPORT_WANT_WRITE;
        errno = EAGAIN;
    }
    return r;
}

/* One SSL_write of at most one record; the caller copies what it sends to a buffer of its own. */
static ssize_t write_record(struct transport *t, const void *buf, size_t len)
{
    struct tls_conn *tc = conn_of(t);
    size_t n;
    err_clear();
    errno = 0;
    if (SSL_write_ex(tc->ssl, buf, len, &n) == 1)
        return (ssize_t)n;
    ssize_t r = ssl_failed(t, 0, "SSL_write");
    if (r == 0) {
        errno = EPIPE;
        r = -1;
    }
    return r;
}

/* Copies the buffers into buf (TLS_CHUNK bytes), as many as fit; returns the bytes copied. */
static size_t gather(char *buf, const struct iovec *iov, int iovcnt)
{
    size_t len = 0;
    for (int i = 0; i < iovcnt && len < TLS_CHUNK; i++) {
        size_t k = iov[i].iov_len < TLS_CHUNK - len ? iov[i].iov_len : TLS_CHUNK - len;
        memcpy(buf + len, iov[i].iov_base, k);
        len += k;
    }
    return len;
}

static ssize_t tls_send(struct transport *t, const struct iovec *iov, int iovcnt, int more)
{
    struct tls_conn *tc = conn_of(t);
    char buf[TLS_CHUNK];
    ssize_t r;
    /* `more`: the connection's last response, the close follows at once: its record waits in the socket
     * (MSG_MORE) for close_notify, and the FIN leaves with both, as the plain transport's last write */
    tc->more = more && tc->out;
    if (iovcnt == 1 || iov[0].iov_len >= TLS_CHUNK)
        r = write_record(t, iov[0].iov_base, iov[0].iov_len < TLS_CHUNK ? iov[0].iov_len : TLS_CHUNK);
    else /* the head and a small body in one record: the same bytes each time the core is asked again, so a
          * retry after WANT_WRITE is the same write */
        r = write_record(t, buf, gather(buf, iov, iovcnt));
    tc->more = 0;
    return r;
}

/* The head and the first bytes of the file that follows it in one record (one write), rather than a short
 * record of its own before the file's. Asked again after WANT_WRITE, the same bytes are read again. */
static ssize_t tls_send_with_file(struct transport *t, const struct iovec *iov, int iovcnt, int file_fd,
                                  off_t off, size_t len)
{
    char buf[TLS_CHUNK];
    size_t n = gather(buf, iov, iovcnt);
    if (n < TLS_CHUNK && !conn_of(t)->ktls) { /* kTLS: the file goes by SSL_sendfile */
        size_t want = len < TLS_CHUNK - n ? len : TLS_CHUNK - n;
        ssize_t r = pread(file_fd, buf + n, want, off);
        if (r > 0)
            n += (size_t)r; /* else the buffers alone: send_file reports what is wrong with the file */
    }
    return write_record(t, buf, n);
}

static ssize_t tls_send_file(struct transport *t, int file_fd, off_t off, size_t len)
{
    struct tls_conn *tc = conn_of(t);
    char buf[TLS_CHUNK];
    if (tc->ktls) {
        err_clear();
        errno = 0;
        ossl_ssize_t n = SSL_sendfile(tc->ssl, file_fd, off, len, 0);
        if (n > 0)
            return n;
        if (n == 0) {
            errno = ENODATA;
            return -1;
        }
        if (ssl_failed(t, (int)n, "SSL_sendfile") == 0)
            errno = EPIPE; /* the peer's end, while writing */
        return -1;
    }
    ssize_t n = pread(file_fd, buf, len < sizeof(buf) ? len : sizeof(buf), off);
    if (n <= 0) {
        if (n == 0)
            errno = ENODATA;
        return -1;
    }
    return write_record(t, buf, (size_t)n);
}

/* Apache's answer to plain HTTP on an https port (mod_ssl's HTTP_BAD_REQUEST with its reason). */
static void answer_plain_http(struct transport *t)
{
    static const char body[] = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n"
                               "<html><head>\n"
                               "<title>400 Bad Request</title>\n"
                               "</head><body>\n"
                               "<h1>Bad Request</h1>\n"
                               "<p>Your browser sent a request that this server could not understand.<br />\n"
                               "Reason: You're speaking plain HTTP to an SSL-enabled server port.<br />\n"
                               " Instead use the HTTPS scheme to access this URL, please.<br />\n"
                               "</p>\n"
                               "</body></html>\n";
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 400 Bad Request\r\nDate: %s\r\nServer: %s\r\nContent-Length: %zu\r\n"
                     "Content-Type: text/html; charset=iso-8859-1\r\nConnection: close\r\n\r\n",
                     http_date_now(), SERVER_SOFTWARE, sizeof(body) - 1);
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, sizeof(body) - 1}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    /* a fresh socket's buffer takes it whole; if not, the client gets what fits */
    if (sendmsg(t->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_error(LOG_DEBUG, MODULE, "sendmsg() of the 400 page failed: %s", strerror(errno));
}

/* Writes what the handshake holds before the transport waits: 0, or -1 with errno, t->want WRITE on EAGAIN.
 */
static int handshake_flush(struct transport *t)
{
    struct tls_conn *tc = conn_of(t);
    if (held_flush(tc) == 0)
        return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        t->want = TRANSPORT_WANT_WRITE;
        errno = EAGAIN;
    }
    return -1;
}

static int tls_handshake(struct transport *t, int *linger)
{
    struct tls_conn *tc = conn_of(t);
    char ebuf[256];
    int r, e;
    *linger = 0;
    err_clear();
    errno = 0;
    if (tc->held_len > 0) { /* the end of the last step, which the socket did not take at once */
        if (handshake_flush(t) < 0) {
            if (errno == EAGAIN)
                return -1;
            e = SSL_ERROR_SYSCALL;
            goto failed;
        }
        if (SSL_is_init_finished(tc->ssl)) {
            r = 1;
            goto done;
        }
    }
    tc->hold = tc->out;
    r = SSL_do_handshake(tc->ssl);
    tc->hold = 0;
    int wrote = tc->held_len > 0;
    if (r == 1) {
        /* TLS 1.3's tickets wait for the response when the request came with the client's Finished (the
         * core reads it from what OpenSSL holds); else the core waits for the client: written now */
        if (!SSL_has_pending(tc->ssl) && handshake_flush(t) < 0) {
            if (errno == EAGAIN)
                return -1; /* still handshaking: the next call writes the rest */
            e = SSL_ERROR_SYSCALL;
            goto failed;
        }
        /* Nothing was written after the client's last flight (a resumed TLS 1.2 session, TLS 1.3 without
         * tickets) and its request is still to come: a client with Nagle's algorithm on holds that request
         * until its Finished is acknowledged, so the ACK goes now (mpm/driver.h) */
        if (!SSL_has_pending(tc->ssl) && !wrote)
            transport_quick_acks(t);
    done:
        t->handshaking = 0;
        tc->ktls = BIO_get_ktls_send(SSL_get_wbio(tc->ssl)) ? 1 : 0;
        return 0;
    }
    e = SSL_get_error(tc->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (handshake_flush(t) < 0) { /* the flight goes before the wait for the client's */
            if (errno == EAGAIN)
                return -1;
            e = SSL_ERROR_SYSCALL;
            goto failed;
        }
        t->want = e == SSL_ERROR_WANT_READ ? TRANSPORT_WANT_READ : TRANSPORT_WANT_WRITE;
        errno = EAGAIN;
        return -1;
    }
    if (tc->held_len > 0) { /* an alert, as the socket BIO would have written it: before anything else */
        int saved = errno;
        held_flush(tc);
        errno = saved;
    }
failed:
    tc->failed = 1;
    unsigned long err = ERR_peek_error();
    if (e == SSL_ERROR_SSL && ERR_GET_LIB(err) == ERR_LIB_SSL &&
        (ERR_GET_REASON(err) == SSL_R_HTTP_REQUEST || ERR_GET_REASON(err) == SSL_R_HTTPS_PROXY_REQUEST)) {
        ERR_clear_error();
        log_failure(tc, "handshake failed", "plain HTTP request on an SSL port, answered 400");
        answer_plain_http(t);
        *linger = 1;
    } else if (e == SSL_ERROR_SSL) {
        log_failure(tc, "handshake failed", ssl_error_text(ebuf, sizeof(ebuf)));
        *linger = 1; /* what the peer still sends is drained, so that the alert is not lost to a reset */
    } else if (e == SSL_ERROR_SYSCALL && errno != 0) {
        log_failure(tc, "handshake failed", strerror(errno));
    } else {
        ERR_clear_error();
        log_failure(tc, "handshake failed", "the connection ended during the handshake");
    }
    errno = EPROTO;
    return -1;
}

static size_t tls_pending(const struct transport *t)
{
    const struct tls_conn *tc = conn_of(t);
    if (tc == NULL)
        return 0;
    int n = SSL_pending(tc->ssl);
    if (n > 0)
        return (size_t)n;
    /* read ahead: records received but not yet decrypted count too (at least one byte to read) */
    return SSL_has_pending(tc->ssl) ? 1 : 0;
}

static void tls_close_notify(struct transport *t)
{
    struct tls_conn *tc = conn_of(t);
    if (tc == NULL || tc->failed)
        return;
    ERR_clear_error();
    /* once, without waiting for the peer's: the socket is non-blocking and closes next (or shuts its
     * write side), so the FIN leaves with it (MSG_MORE) */
    tc->more = tc->out;
    if (SSL_shutdown(tc->ssl) < 0)
        ERR_clear_error();
    tc->more = 0;
}

static void tls_free(struct transport *t)
{
    struct tls_conn *tc = conn_of(t);
    if (tc == NULL)
        return;
    SSL_free(tc->ssl);
    free(tc->held);
    free(tc);
}

static const struct transport_ops transport_tls = {
    .name = "TLS",
    .recv = tls_recv,
    .send = tls_send,
    .send_file = tls_send_file,
    .send_with_file = tls_send_with_file,
    .handshake = tls_handshake,
    .pending = tls_pending,
    .close_notify = tls_close_notify,
    .free = tls_free,
};

int tls_transport_open(struct transport *t, struct tls_ctx *ctx, int fd, const struct sockaddr *peer,
                       socklen_t peerlen)
{
    struct tls_conn *tc = calloc(1, sizeof(*tc));
    if (tc == NULL)
        return -1;
    ERR_clear_error();
    tc->ssl = SSL_new(ctx->ctx);
    tc->fd = fd;
    /* kernel TLS: OpenSSL's socket BIO both ways, since it writes through the socket's TLS itself */
    if (tc->ssl == NULL || ((SSL_CTX_get_options(ctx->ctx) & SSL_OP_ENABLE_KTLS) || out_method == NULL
                                ? SSL_set_fd(tc->ssl, fd) != 1
                                : out_attach(tc, fd) < 0)) {
        ERR_clear_error();
        SSL_free(tc->ssl);
        free(tc);
        return -1;
    }
    SSL_set_accept_state(tc->ssl);
    SSL_set_app_data(tc->ssl, tc);
    if (peer != NULL && peerlen <= sizeof(tc->peer)) {
        memcpy(&tc->peer, peer, peerlen);
        tc->peerlen = peerlen;
    }
    t->ops = &transport_tls;
    t->fd = fd;
    t->want = TRANSPORT_WANT_READ;
    t->handshaking = 1;
    t->quick_acks = 0;
    t->priv = tc;
    return 0;
}

void tls_transport_set_sni_arg(struct transport *t, const void *conn)
{
    conn_of(t)->sni_conn = conn;
}

const void *tls_transport_sni(const struct transport *t)
{
    return t->ops == &transport_tls ? conn_of(t)->sni_chosen : NULL;
}

const struct sockaddr *tls_transport_peer(const struct transport *t, socklen_t *len)
{
    const struct tls_conn *tc = conn_of(t);
    *len = tc->peerlen;
    return (const struct sockaddr *)&tc->peer;
}

void tls_transport_info(const struct transport *t, const char **protocol, const char **cipher,
                        const char **alpn, int *ktls)
{
    const struct tls_conn *tc = conn_of(t);
    static _Thread_local char proto[32];
    const unsigned char *a;
    unsigned int alen;
    *protocol = SSL_get_version(tc->ssl);
    *cipher = SSL_get_cipher_name(tc->ssl);
    SSL_get0_alpn_selected(tc->ssl, &a, &alen);
    if (alen >= sizeof(proto))
        alen = sizeof(proto) - 1;
    memcpy(proto, a != NULL ? (const char *)a : "", alen);
    proto[alen] = '\0';
    *alpn = proto;
    *ktls = tc->ktls;
}

/* ---- what this machine allows ---- */

const char *tls_library_version(void)
{
    return OpenSSL_version(OPENSSL_VERSION);
}

int tls_ktls_available(char *why, size_t len)
{
    /* the kernel's TLS "upper layer protocol" is attached to a connected TCP socket: try one on loopback */
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int l = -1, c = -1, s = -1, ok = 0;
    const char *step = "socket()";
    if ((l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        goto done;
    step = "bind()";
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) < 0)
        goto done;
    step = "connect()";
    if ((c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect(c, (struct sockaddr *)&a, alen) < 0)
        goto done;
    step = "accept()";
    if ((s = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
        goto done;
    step = "setsockopt(TCP_ULP, \"tls\")";
    ok = setsockopt(s, IPPROTO_TCP, TCP_ULP, "tls", 3) == 0;
done:
    if (!ok)
        snprintf(why, len, "%s failed: %s", step, strerror(errno));
    if (s >= 0)
        close(s);
    if (c >= 0)
        close(c);
    if (l >= 0)
        close(l);
    return ok;
}

void tls_log_start(const struct server *s)
{
    char why[128];
    int any = 0;
    for (const struct listener *l = s->listeners; l != NULL; l = l->next)
        any |= l->tls != NULL;
    if (!any)
        return;
    if (tls_ktls_available(why, sizeof(why)))
        log_error(LOG_NOTICE, MODULE,
                  "%s: files are sent with kernel TLS (SSL_sendfile) where the cipher allows",
                  tls_library_version());
    else
        log_error(LOG_NOTICE, MODULE,
                  "%s: files are sent with read + SSL_write: kernel TLS is not available (%s; modprobe tls)",
                  tls_library_version(), why);
}
