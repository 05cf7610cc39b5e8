/*
 * Virtual hosts (see vhost.h): addresses, the merge with the main server, the address map and the two
 * selections. The map is built once per configuration and only read afterwards, by every child and thread.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "pool.h"
#include "vhost.h"

/* ---- addresses ---- */

int vhost_parse_addr(struct pool *p, const char *spec, int default_port, struct vhost_addr *a,
                     struct errbuf *err)
{
    static const char usage[] = "an IP address, [IPv6 address], * or _default_, with an optional :port or :* "
                                "(host names are not resolved)";
    char host[128];
    const char *port = NULL;
    size_t n;

    memset(a, 0, sizeof(*a));
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (close == NULL || (close[1] != '\0' && close[1] != ':'))
            return errbuf_set(err, "bad address '%s': expected [IPv6 address]:port", spec);
        n = (size_t)(close - spec) + 1;
        port = close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = strchr(spec, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            return errbuf_set(err, "bad address '%s': write IPv6 addresses in brackets, as [::1]:80", spec);
        n = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
        port = colon != NULL ? colon + 1 : NULL;
    }
    if (n == 0 || n >= sizeof(host))
        return errbuf_set(err, "bad address '%s': %s", spec, usage);
    memcpy(host, spec, n);
    host[n] = '\0';

    if (port == NULL) {
        a->port = strcmp(host, "*") == 0 ? 0 : default_port; /* "*" alone is any port, as Apache's */
    } else if (strcmp(port, "*") == 0) {
        a->port = 0;
    } else {
        long long v = parse_uint(port);
        if (v < 1 || v > 65535)
            return errbuf_set(err, "bad address '%s': the port must be a number from 1 to 65535, or *", spec);
        a->port = (int)v;
    }
    if (strcmp(host, "*") == 0 || strcasecmp(host, "_default_") == 0) {
        a->family = 0;
    } else if (host[0] == '[') {
        host[n - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, a->ip) != 1)
            return errbuf_set(err, "bad address '%s': not an IPv6 address", spec);
        host[n - 1] = ']';
        a->family = AF_INET6;
    } else if (inet_pton(AF_INET, host, a->ip) == 1) {
        a->family = AF_INET;
    } else {
        return errbuf_set(err, "bad address '%s': %s", spec, usage);
    }
    /* "0.0.0.0" and "[::]" are "*", as Apache's wildcard address */
    static const unsigned char zero[16];
    if (a->family != 0 && memcmp(a->ip, zero, a->family == AF_INET ? 4 : 16) == 0)
        a->family = 0;
    a->spec = pool_strdup(p, spec);
    a->host = pool_strdup(p, host);
    return a->spec != NULL && a->host != NULL ? 0 : errbuf_set(err, "out of memory");
}

/* An address of a socket as (family, ip, port); an IPv4 address mapped into IPv6 as IPv4. Returns 0 or -1. */
static int sock_key(const struct sockaddr *sa, socklen_t len, int *family, unsigned char ip[16], int *port)
{
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        *family = AF_INET;
        memcpy(ip, &sin->sin_addr, 4);
        *port = ntohs(sin->sin_port);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        *port = ntohs(sin6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            *family = AF_INET;
            memcpy(ip, sin6->sin6_addr.s6_addr + 12, 4);
        } else {
            *family = AF_INET6;
            memcpy(ip, &sin6->sin6_addr, 16);
        }
        return 0;
    }
    return -1;
}

static size_t ip_len(int family)
{
    return family == AF_INET6 ? 16 : 4;
}

static int ip_any(int family, const unsigned char *ip)
{
    static const unsigned char zero[16];
    return memcmp(ip, zero, ip_len(family)) == 0;
}

/* ---- names ---- */

/* The part of a Host value or server name that is matched: without ":port" and one trailing dot. */
static size_t host_key(const char *h)
{
    size_t n;
    if (h[0] == '[') {
        const char *e = strchr(h, ']');
        n = e != NULL ? (size_t)(e - h) + 1 : strlen(h);
    } else {
        n = strcspn(h, ":");
    }
    if (n > 1 && h[n - 1] == '.')
        n--;
    return n;
}

static int name_is(const char *name, const char *host, size_t n)
{
    return name != NULL && strncasecmp(name, host, n) == 0 && name[n] == '\0';
}

int vhost_wild_match(const char *pat, const char *name, size_t n)
{
    const char *star = NULL;
    size_t i = 0, star_i = 0;
    while (i < n) {
        if (*pat == '*') {
            star = pat++;
            star_i = i;
        } else if (*pat != '\0' &&
                   (*pat == '?' || tolower((unsigned char)*pat) == tolower((unsigned char)name[i]))) {
            pat++;
            i++;
        } else if (star != NULL) {
            pat = star + 1;
            i = ++star_i;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

int vhost_name_port(const char *server_name)
{
    const char *h = server_name, *scheme = strstr(h, "://");
    if (scheme != NULL)
        h = scheme + 3;
    h += h[0] == '[' ? host_key(h) : strcspn(h, ":");
    long long port = h[0] == ':' ? parse_uint(h + 1) : 0;
    return port > 0 && port <= 65535 ? (int)port : 0;
}

/* ServerName's host part: "https://www.example.com:8443" -> "www.example.com" (a copy in p). */
static char *hostname_of(struct pool *p, const char *server_name)
{
    const char *h = server_name;
    const char *scheme = strstr(h, "://");
    if (scheme != NULL)
        h = scheme + 3;
    size_t n = h[0] == '[' ? host_key(h) : strcspn(h, ":");
    return pool_strndup(p, h, n);
}

/* One plain name of a set's hash table; name NULL: empty. */
struct vhost_name_slot {
    const char *name;
    size_t len;
    int index; /* of the first vhost of the set with that name */
};

/* FNV-1a of the first n bytes of s, lower-cased. */
static unsigned name_hash(const char *s, size_t n)
{
    unsigned h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)tolower((unsigned char)s[i])) * 16777619u;
    return h;
}

/* The index of the first vhost of set with the plain name host[0..n); set->n if none. */
static int plain_lookup(const struct vhost_set *set, const char *host, size_t n)
{
    for (unsigned i = name_hash(host, n) & set->mask;; i = (i + 1) & set->mask) {
        const struct vhost_name_slot *sl = &set->slots[i];
        if (sl->name == NULL)
            return set->n;
        if (sl->len == n && strncasecmp(sl->name, host, n) == 0)
            return sl->index;
    }
}

/* Adds a plain name of the vhost at index, unless an earlier vhost has it already. */
static void plain_add(struct vhost_set *set, const char *name, int index)
{
    size_t n = strlen(name);
    unsigned i = name_hash(name, n) & set->mask;
    for (; set->slots[i].name != NULL; i = (i + 1) & set->mask)
        if (set->slots[i].len == n && strncasecmp(set->slots[i].name, name, n) == 0)
            return;
    set->slots[i] = (struct vhost_name_slot){.name = name, .len = n, .index = index};
}

int vhost_set_index(struct pool *p, struct vhost_set *set)
{
    size_t names = 0;
    for (int i = 0; i < set->n; i++) {
        names++;
        for (char **a = set->hosts[i]->names; a != NULL && *a != NULL; a++)
            names++;
    }
    unsigned size = 8;
    while (size < 2 * names)
        size *= 2;
    set->mask = size - 1;
    set->slots = pool_calloc(p, sizeof(*set->slots) * size);
    set->wild = pool_calloc(p, sizeof(*set->wild) * (size_t)set->n);
    if (set->slots == NULL || set->wild == NULL)
        return -1;
    set->n_wild = 0;
    for (int i = 0; i < set->n; i++) {
        const struct vhost *v = set->hosts[i];
        plain_add(set, v->hostname, i);
        for (char **a = v->names; a != NULL && *a != NULL; a++)
            plain_add(set, *a, i);
        if (v->wild_names != NULL && v->wild_names[0] != NULL)
            set->wild[set->n_wild++] = i;
    }
    return 0;
}

const struct vhost *vhost_find_name(const struct vhost_set *set, const char *host)
{
    if (set == NULL || host == NULL)
        return NULL;
    size_t n = host_key(host);
    /* as Apache: the first vhost in order with a name that matches (its ServerName, a plain ServerAlias, a
     * wildcard one): the first with the plain name, unless one before it has a wildcard that matches */
    int first = plain_lookup(set, host, n);
    for (int k = 0; k < set->n_wild && set->wild[k] < first; k++)
        for (char **a = set->hosts[set->wild[k]]->wild_names; *a != NULL; a++)
            if (vhost_wild_match(*a, host, n))
                return set->hosts[set->wild[k]];
    if (first < set->n)
        return set->hosts[first];
    /* Apache's last resort: the address the vhost was declared with, as a name */
    for (int i = 0; i < set->n; i++)
        if (set->via[i]->family != 0 && name_is(set->via[i]->host, host, n))
            return set->hosts[i];
    return NULL;
}

const struct vhost *vhost_default(const struct server *s, const struct vhost_set *set)
{
    return set != NULL ? set->hosts[0] : &s->main;
}

const struct vhost *vhost_by_name(const struct server *s, const struct vhost_set *set, const char *host)
{
    const struct vhost *v = vhost_find_name(set, host);
    return v != NULL ? v : vhost_default(s, set);
}

/* ---- the address map ---- */

/* The set for (family, ip, port): of its own address first (an exact port before any port), else of "*". */
static const struct vhost_set *lookup(const struct vhost_map *m, int family, const unsigned char *ip,
                                      int port)
{
    const struct vhost_set *any_port = NULL;
    if (m == NULL)
        return NULL;
    for (const struct vhost_set *set = m->specific; family != 0 && set != NULL; set = set->next) {
        if (set->family != family || memcmp(set->ip, ip, ip_len(family)) != 0)
            continue;
        if (set->port == port)
            return set;
        if (set->port == 0 && any_port == NULL)
            any_port = set;
    }
    if (any_port != NULL)
        return any_port;
    for (const struct vhost_set *set = m->wildcard; set != NULL; set = set->next) {
        if (set->port == port)
            return set;
        if (set->port == 0 && any_port == NULL)
            any_port = set;
    }
    return any_port;
}

const struct vhost_set *vhost_by_addr(const struct server *s, const struct sockaddr *local, socklen_t len)
{
    int family, port;
    unsigned char ip[16];
    if (s->vhost_map == NULL || local == NULL || sock_key(local, len, &family, ip, &port) < 0)
        return NULL;
    return lookup(s->vhost_map, family, ip, port);
}

const struct vhost *vhost_select(const struct server *s, const struct sockaddr *local, socklen_t len,
                                 const char *name)
{
    return vhost_by_name(s, vhost_by_addr(s, local, len), name);
}

/* Adds v (through its address a) to the set of a's address and port, making the set if it is the first. */
static int map_add(struct pool *p, struct vhost_map *m, const struct vhost *v, const struct vhost_addr *a)
{
    struct vhost_set **tail = a->family != 0 ? &m->specific : &m->wildcard;
    for (; *tail != NULL; tail = &(*tail)->next) {
        struct vhost_set *set = *tail;
        if (set->family != a->family || set->port != a->port ||
            (a->family != 0 && memcmp(set->ip, a->ip, ip_len(a->family)) != 0))
            continue;
        for (int i = 0; i < set->n; i++)
            if (set->hosts[i] == v)
                return 0; /* the same vhost written twice with one address */
        const struct vhost **hosts = pool_alloc(p, sizeof(*hosts) * (size_t)(set->n + 1));
        const struct vhost_addr **via = pool_alloc(p, sizeof(*via) * (size_t)(set->n + 1));
        if (hosts == NULL || via == NULL)
            return -1;
        memcpy(hosts, set->hosts, sizeof(*hosts) * (size_t)set->n);
        memcpy(via, set->via, sizeof(*via) * (size_t)set->n);
        hosts[set->n] = v;
        via[set->n] = a;
        set->hosts = hosts;
        set->via = via;
        set->n++;
        return 0;
    }
    struct vhost_set *set = pool_calloc(p, sizeof(*set));
    if (set == NULL || (set->hosts = pool_alloc(p, sizeof(*set->hosts))) == NULL ||
        (set->via = pool_alloc(p, sizeof(*set->via))) == NULL)
        return -1;
    set->family = a->family;
    memcpy(set->ip, a->ip, sizeof(set->ip));
    set->port = a->port;
    set->hosts[0] = v;
    set->via[0] = a;
    set->n = 1;
    *tail = set;
    return 0;
}

/*
 * What a listener's connections reach: a listener bound to one address always reaches the same set; one bound
 * to "*" does too unless a vhost of an address of its own shares its port, and only then is the connection's
 * local address needed.
 */
static void assign_listener(const struct server *s, struct listener *l)
{
    int family, port;
    unsigned char ip[16];
    l->vhosts = NULL;
    l->vhosts_by_addr = 0;
    if (s->vhost_map == NULL ||
        sock_key((const struct sockaddr *)&l->addr, l->addrlen, &family, ip, &port) < 0)
        return;
    if (!ip_any(family, ip)) {
        l->vhosts = lookup(s->vhost_map, family, ip, port);
        return;
    }
    for (const struct vhost_set *set = s->vhost_map->specific; set != NULL; set = set->next)
        if ((set->port == port || set->port == 0) && !(family == AF_INET && set->family == AF_INET6))
            l->vhosts_by_addr = 1; /* (an IPv4 listener receives no IPv6 connection; an IPv6 one both) */
    if (!l->vhosts_by_addr)
        l->vhosts = lookup(s->vhost_map, 0, ip, port);
}

/* Whether some listener can receive connections for a. */
static int reachable(const struct server *s, const struct vhost_addr *a)
{
    for (const struct listener *l = s->listeners; l != NULL; l = l->next) {
        int family, port;
        unsigned char ip[16];
        if (sock_key((const struct sockaddr *)&l->addr, l->addrlen, &family, ip, &port) < 0)
            continue;
        if (a->port != 0 && a->port != port)
            continue;
        /* a listener on "*" of IPv4 receives no IPv6 connection; one on [::] may receive both */
        if (a->family == 0 || (ip_any(family, ip) && (family == a->family || family == AF_INET6)) ||
            (family == a->family && memcmp(ip, a->ip, ip_len(family)) == 0))
            return 1;
    }
    return 0;
}

/* What a vhost does not set, it takes from the main server, as Apache merges a server's configuration. */
static int merge(struct server *s, struct vhost *v)
{
    const struct vhost *m = &s->main;
    if (v->server_name == NULL)
        v->server_name = m->server_name;
    if (v->document_root == NULL)
        v->document_root = m->document_root;
    if (v->directory_index == NULL)
        v->directory_index = m->directory_index;
    if (v->error_log == NULL || strcmp(v->error_log, m->error_log) == 0)
        v->error_log = m->error_log; /* the process's error log: error_fd stays -1 */
    if (v->log_level < 0)
        v->log_level = m->log_level;
    if (v->keepalive < 0)
        v->keepalive = s->keepalive;
    if (v->max_keepalive_requests < 0)
        v->max_keepalive_requests = s->max_keepalive_requests;
    if (v->limit_request_body < 0)
        v->limit_request_body = s->limit_request_body;
    if (v->allow_encoded_slashes < 0)
        v->allow_encoded_slashes = m->allow_encoded_slashes;
    v->own_logs = v->custom_logs != NULL;
    if (!v->own_logs)
        v->custom_logs =
            m->custom_logs; /* mod_log_config: a vhost without CustomLog logs where the main does */
    /* its own sections first: among sections of the same path, the vhost's decides */
    struct location **tail = &v->locations;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = m->locations;
    v->hostname = hostname_of(s->pool, v->server_name);
    return v->hostname != NULL ? 0 : -1;
}

void vhost_init(struct vhost *v)
{
    memset(v, 0, sizeof(*v));
    v->error_fd = -1;
    v->log_level = -1;
    v->keepalive = -1;
    v->max_keepalive_requests = -1;
    v->limit_request_body = -1;
    v->allow_encoded_slashes = -1;
}

int vhost_finish(struct server *s, struct warnings *w, struct errbuf *err)
{
    struct vhost *m = &s->main;
    m->hostname = hostname_of(s->pool, m->server_name);
    m->own_logs = 1;
    if (m->hostname == NULL)
        return errbuf_set(err, "out of memory");
    s->vhost_map = NULL;
    if (s->vhosts != NULL && (s->vhost_map = pool_calloc(s->pool, sizeof(*s->vhost_map))) == NULL)
        return errbuf_set(err, "out of memory");
    for (struct vhost *v = s->vhosts; v != NULL; v = v->next) {
        if (merge(s, v) < 0)
            return errbuf_set(err, "out of memory");
        for (const struct vhost_addr *a = v->addrs; a != NULL; a = a->next) {
            if (map_add(s->pool, s->vhost_map, v, a) < 0)
                return errbuf_set(err, "out of memory");
            if (!reachable(s, a))
                warnings_add(w,
                             "VirtualHost %s at %s:%d is on an address and port no Listen directive covers: "
                             "it cannot be reached",
                             a->spec, v->file, v->line);
        }
    }
    for (int specific = 0; s->vhost_map != NULL && specific < 2; specific++)
        for (struct vhost_set *set = specific ? s->vhost_map->specific : s->vhost_map->wildcard; set != NULL;
             set = set->next)
            if (vhost_set_index(s->pool, set) < 0)
                return errbuf_set(err, "out of memory");
    for (struct listener *l = s->listeners; l != NULL; l = l->next)
        assign_listener(s, l);
    return 0;
}

/* ---- -S ---- */

static void set_label(const struct vhost_set *set, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int n;
    if (set->family == 0) {
        n = snprintf(buf, size, "*:%d", set->port);
    } else {
        inet_ntop(set->family, set->ip, ip, sizeof(ip));
        n = snprintf(buf, size, set->family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, set->port);
    }
    /* as Apache: any port shows as '*' in place of the 0 */
    if (set->port == 0 && n > 0 && (size_t)n < size)
        buf[n - 1] = '*';
}

static void dump_set(const struct vhost_set *set, FILE *out)
{
    char label[80];
    set_label(set, label, sizeof(label));
    const struct vhost *d = set->hosts[0];
    if (set->n == 1) {
        fprintf(out, "%-22s %s (%s:%d)\n", label, d->hostname, d->file, d->line);
        return;
    }
    fprintf(out, "%-22s is a NameVirtualHost\n%8s default server %s (%s:%d)\n", label, "", d->hostname,
            d->file, d->line);
    for (int i = 0; i < set->n; i++) {
        const struct vhost *v = set->hosts[i];
        if (set->via[i]->port != 0)
            fprintf(out, "%8s port %d ", "", set->via[i]->port);
        else
            fprintf(out, "%8s port * ", "");
        fprintf(out, "namevhost %s (%s:%d)\n", v->hostname, v->file, v->line);
        for (char **a = v->names; a != NULL && *a != NULL; a++)
            fprintf(out, "%16s alias %s\n", "", *a);
        for (char **a = v->wild_names; a != NULL && *a != NULL; a++)
            fprintf(out, "%16s wild alias %s\n", "", *a);
    }
}

void vhost_dump(const struct server *s, FILE *out)
{
    fprintf(out, "VirtualHost configuration:\n");
    if (s->vhost_map == NULL)
        return;
    for (const struct vhost_set *set = s->vhost_map->specific; set != NULL; set = set->next)
        dump_set(set, out);
    for (const struct vhost_set *set = s->vhost_map->wildcard; set != NULL; set = set->next)
        dump_set(set, out);
}
