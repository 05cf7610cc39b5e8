/*
 * Virtual hosts, as Apache's: the addresses of <VirtualHost>, a vhost's settings merged with the main
 * server's, the map from a connection's local address to the set of vhosts it may reach, and the selection in
 * two steps kept apart:
 *
 *  1. by address, once per connection: the most specific set for the local address and port (an address of
 *     its own before "*", an exact port before any port); no set means the main server;
 *  2. by name, once per request (Host) or per handshake (a TLS server name, SNI): the first vhost of the set
 *     whose ServerName or ServerAlias matches, else the set's first vhost, its default.
 *
 * So the TLS layer picks a vhost and its certificate by name within the connection's set at the handshake
 * (tls_sni_choose(), server/tls_conf.c), and the core compares that vhost with the one Host selects (421 when
 * their SSL setups differ) without selecting by address twice.
 *
 * The one thing to know: nothing here runs per connection unless a <VirtualHost> exists. Each listener is
 * told at configuration time which set its connections reach when its own address decides it (every vhost on
 * that port is "*:port", or the listener is bound to one address), so the common configuration costs no
 * getsockname() per connection, and a request costs a hash lookup and a string compare or two.
 */
#ifndef HTTPD_VHOST_H
#define HTTPD_VHOST_H

#include <stdio.h>
#include <sys/socket.h>

#include "server.h"
#include "util.h"

struct pool;
struct vhost_name_slot;

/* The vhosts that share one address:port of <VirtualHost>, in the order of the configuration. */
struct vhost_set {
    int family;                    /* AF_INET, AF_INET6, or 0 for "*" (any address) */
    unsigned char ip[16];          /* with family */
    int port;                      /* 0: any port */
    const struct vhost **hosts;    /* hosts[0] is the default (the first in the configuration) */
    const struct vhost_addr **via; /* the address of hosts[i] that put it here */
    int n;
    /* the plain names (ServerName, ServerAlias without wildcards) in a hash table: a name to the first vhost
     * that has it, so that a Host costs one lookup however many vhosts share the address */
    struct vhost_name_slot *slots;
    unsigned mask; /* slots has mask + 1 entries, a power of two */
    int *wild;     /* the indexes of the vhosts with wildcard aliases, in order */
    int n_wild;
    struct vhost_set *next;
};

/* Builds set's table of plain names and its list of vhosts with wildcards from its hosts (vhost_finish() does
 * it for every set; a set made by hand needs it before vhost_find_name()). Returns 0, or -1 without memory.
 */
int vhost_set_index(struct pool *p, struct vhost_set *set);

/* Every set, as vhost_finish() built them. */
struct vhost_map {
    struct vhost_set *specific; /* sets of an address of their own, in the order of their first vhost */
    struct vhost_set *wildcard; /* sets of "*" and "_default_", likewise */
};

/* Parses one address of <VirtualHost> into a (its strings in p); an address written without a port gets
 * default_port (0: any), as Apache gives it the main server's (the port of its ServerName, if any). Returns
 * 0, or -1 with err. */
int vhost_parse_addr(struct pool *p, const char *spec, int default_port, struct vhost_addr *a,
                     struct errbuf *err);

/* The port of a ServerName ("www.example.com:8080" -> 8080); 0 when it has none. */
int vhost_name_port(const char *server_name);

/* Sets v's fields to "not set" (a <VirtualHost> as it opens, the main server before the configuration). */
void vhost_init(struct vhost *v);

/*
 * After every line is applied and the main server has its defaults: merges each vhost with the main server
 * (Apache's merge: what a vhost does not set, it takes from the main server; its <Location>s come before the
 * main server's, its CustomLogs replace the main server's), builds s->vhost_map and
 * tells each listener its set. A vhost address no Listen covers is a warning into w. Returns 0, or -1 with
 * err.
 */
int vhost_finish(struct server *s, struct warnings *w, struct errbuf *err);

/* The set the local address `local` reaches, NULL for the main server. */
const struct vhost_set *vhost_by_addr(const struct server *s, const struct sockaddr *local, socklen_t len);

/*
 * The first vhost of `set` whose ServerName, ServerAlias (with '*' and '?' wildcards) or, as Apache's last
 * resort, <VirtualHost> address matches `host`: a Host value (its port is ignored, and a trailing dot) or a
 * server name, compared case-insensitively. NULL when none does (or set or host is NULL).
 */
const struct vhost *vhost_find_name(const struct vhost_set *set, const char *host);

/* The vhost a request for `host` (NULL: no Host) on a connection that reached `set` is served by: the match
 * of vhost_find_name(), else the set's default, else (no set) the main server. */
const struct vhost *vhost_by_name(const struct server *s, const struct vhost_set *set, const char *host);

/* The set's default vhost; the main server when set is NULL. */
const struct vhost *vhost_default(const struct server *s, const struct vhost_set *set);

/* Both steps at once, for a TLS server name (SNI) at the handshake: the vhost serving `name` (NULL: none
 * sent) on a connection to `local`. */
const struct vhost *vhost_select(const struct server *s, const struct sockaddr *local, socklen_t len,
                                 const char *name);

/* Whether `name` (lower-case) matches the pattern `pat` (lower-case; '*' any run of characters, '?' one), as
 * Apache's ap_strcasecmp_match(); `name` is its first n bytes, compared case-insensitively. */
int vhost_wild_match(const char *pat, const char *name, size_t n);

/* The KeepAlive, MaxKeepAliveRequests and LimitRequestBody that hold for requests served by v (the main
 * server's, in struct server, unless v is a <VirtualHost>, merged). */
static inline int vhost_keepalive(const struct server *s, const struct vhost *v)
{
    return v != NULL && v->file != NULL ? v->keepalive : s->keepalive;
}
static inline int vhost_max_keepalive_requests(const struct server *s, const struct vhost *v)
{
    return v != NULL && v->file != NULL ? v->max_keepalive_requests : s->max_keepalive_requests;
}
static inline long long vhost_limit_request_body(const struct server *s, const struct vhost *v)
{
    return v != NULL && v->file != NULL ? v->limit_request_body : s->limit_request_body;
}

/* Writes the vhost map as Apache's `httpd -S` ("VirtualHost configuration:" and a block per address). */
void vhost_dump(const struct server *s, FILE *out);

#endif
