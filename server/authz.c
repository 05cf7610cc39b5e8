/*
 * Access control with Apache 2.4's syntax and semantics (mod_authz_core, mod_authz_host).
 *
 * A <Location>'s (or <Proxy>'s) rule is a tree: the section itself is an implicit <RequireAny>, each
 * container a node whose children are its Require lines and inner containers. A line grants or denies; a
 * container combines its children as Apache's apply_authz_sections() does: <RequireAll> denies at the first
 * child that denies and grants when some child granted, <RequireAny> grants at the first child that grants;
 * <RequireNone> is a negated <RequireAny>. Negation turns "granted" into "denied" and "denied" into NEUTRAL,
 * never into "granted": a `Require not` can only take access away, so it must sit in a <RequireAll> next to a
 * line that grants, and the configuration refuses it anywhere else (as Apache does). A rule that ends NEUTRAL
 * refuses.
 *
 * Addresses follow APR's apr_ipsubnet_create()/apr_ipsubnet_test(): ADDR, ADDR/BITS (1..32 or 1..128),
 * IPv4 ADDR/NETMASK, and the partial IPv4 forms `10.1` and `10.1.` (10.1.0.0/16) without a mask. A client
 * connected over IPv6 with an IPv4-mapped address (::ffff:a.b.c.d) is matched against the IPv4 subnets.
 */

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "authz.h"
#include "handler.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "server.h"
#include "util.h"

#define AUTHZ_MAX_DEPTH 16 /* nested containers in one <Location> */

enum node_kind {
    NODE_ALL,   /* Require all granted|denied */
    NODE_LOCAL, /* Require local */
    NODE_IP,    /* Require ip ... */
    NODE_AND,   /* <RequireAll> */
    NODE_OR     /* <RequireAny>, <RequireNone> (negated), and the <Location> itself */
};

/* The three containers; RequireNone is a negated RequireAny, as in Apache. */
struct container {
    const char *name;
    enum node_kind kind;
    int negate;
};

static const struct container containers[] = {
    {"RequireAll", NODE_AND, 0},
    {"RequireAny", NODE_OR, 0},
    {"RequireNone", NODE_OR, 1},
};

struct subnet {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16], mask[16];
};

struct node {
    enum node_kind kind;
    int negate;
    int granted;         /* NODE_ALL */
    struct subnet *nets; /* NODE_IP */
    int n_nets;
    const struct container *type; /* containers; NULL for a line and for the <Location> */
    struct node *first, **tail, *next, *parent;
    int depth;
    const char *file; /* where it was written, for messages */
    int line;
};

struct authz {
    struct node root;  /* the <Location>: an implicit <RequireAny> */
    struct node *open; /* the innermost container still open while the configuration is read */
};

/* ---- addresses ---- */

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Anything with a ':' may be IPv6; otherwise only digits and dots (apr's looks_like_ip). */
static int looks_like_ip(const char *s)
{
    if (*s == '\0')
        return 0;
    if (strchr(s, ':') != NULL)
        return 1;
    return strspn(s, "0123456789.") == strlen(s);
}

/* The legacy partial form: "10.1" or "10.1." is 10.1.0.0/16, up to four octets (apr's parse_network). */
static int parse_partial(const char *s, struct subnet *n)
{
    int shift = 24;
    if (strlen(s) >= sizeof("255.255.255.255"))
        return -1;
    memset(n->addr, 0, sizeof(n->addr));
    memset(n->mask, 0, sizeof(n->mask));
    while (*s != '\0') {
        int octet = 0;
        if (!isdigit((unsigned char)*s) || shift < 0)
            return -1;
        for (; isdigit((unsigned char)*s); s++)
            if ((octet = octet * 10 + (*s - '0')) > 255)
                return -1;
        if (*s == '.')
            s++;
        else if (*s != '\0')
            return -1;
        n->addr[(24 - shift) / 8] = (unsigned char)octet;
        n->mask[(24 - shift) / 8] = 0xff;
        shift -= 8;
    }
    n->family = AF_INET;
    return 0;
}

/* One argument of Require ip. Returns NULL or a message. */
static const char *parse_subnet(struct pool *p, const char *arg, struct subnet *n)
{
    char addr[64];
    const char *slash = strchr(arg, '/');
    size_t len = slash != NULL ? (size_t)(slash - arg) : strlen(arg);

    if (len >= sizeof(addr))
        return pool_printf(p, "'%s' is not an IP address", arg);
    memcpy(addr, arg, len);
    addr[len] = '\0';
    if (!looks_like_ip(addr))
        return pool_printf(p, "'%s' is not an IP address (host names are not supported)", arg);
    memset(n->mask, 0xff, sizeof(n->mask));
    if (inet_pton(AF_INET6, addr, n->addr) == 1) {
        if (memcmp(n->addr, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0)
            return pool_printf(p, "'%s': write an IPv4 address as a.b.c.d, not ::ffff:a.b.c.d", arg);
        n->family = AF_INET6;
    } else if (inet_pton(AF_INET, addr, n->addr) == 1) {
        n->family = AF_INET;
    } else if (slash != NULL || parse_partial(addr, n) < 0) {
        return pool_printf(p, "'%s' is not a valid IP address%s", arg,
                           slash != NULL ? " (a partial address like 10.1 takes no mask)" : "");
    }
    if (slash != NULL) {
        const char *m = slash + 1;
        int max = n->family == AF_INET ? 32 : 128;
        char *end = NULL;
        long bits = isdigit((unsigned char)*m) ? strtol(m, &end, 10) : 0;
        if (end != NULL && *end == '\0' && bits > 0 && bits <= max) {
            memset(n->mask, 0, sizeof(n->mask));
            for (int i = 0; i < bits; i++)
                n->mask[i / 8] |= (unsigned char)(0x80 >> (i % 8));
        } else if (end != NULL && *end == '\0' && bits == 0) {
            return pool_printf(
                p, "'%s': a mask of 0 bits is refused (as by Apache): write Require all granted", arg);
        } else if (n->family != AF_INET || inet_pton(AF_INET, m, n->mask) != 1) {
            return pool_printf(p,
                               "'%s': invalid mask (IPv4: 1 to 32 bits or a netmask like 255.255.0.0; IPv6: "
                               "1 to 128 bits)",
                               arg);
        }
    }
    for (size_t i = 0; i < sizeof(n->addr); i++)
        n->addr[i] &= n->mask[i];
    return NULL;
}

static int subnet_match(const struct subnet *n, const struct request *r)
{
    int family = r->peer_family;
    const unsigned char *a = r->peer_addr;
    /* an IPv4 client on an IPv6 socket is matched as IPv4 (and only against IPv4 subnets), as APR does */
    if (family == AF_INET6 && memcmp(a, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        family = AF_INET;
        a += sizeof(v4_mapped_prefix);
    }
    if (family != n->family)
        return 0;
    size_t len = family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < len; i++)
        if ((a[i] & n->mask[i]) != n->addr[i])
            return 0;
    return 1;
}

/* mod_authz_host's `local`: 127.0.0.0/8, ::1, or a client whose address is the connection's local address. */
static int is_local(const struct request *r)
{
    static const struct subnet loopback_v4 = {AF_INET, {127}, {0xff}};
    static const struct subnet loopback_v6 = {
        AF_INET6,
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
        {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    return r->peer_local || subnet_match(&loopback_v4, r) || subnet_match(&loopback_v6, r);
}

/* ---- evaluation ---- */

static enum authz_result eval(const struct node *n, const struct request *r)
{
    enum authz_result res = AUTHZ_DENIED;

    switch (n->kind) {
    case NODE_ALL:
        res = n->granted ? AUTHZ_GRANTED : AUTHZ_DENIED;
        break;
    case NODE_LOCAL:
        res = is_local(r) ? AUTHZ_GRANTED : AUTHZ_DENIED;
        break;
    case NODE_IP:
        for (int i = 0; i < n->n_nets && res != AUTHZ_GRANTED; i++)
            if (subnet_match(&n->nets[i], r))
                res = AUTHZ_GRANTED;
        break;
    case NODE_AND:
    case NODE_OR:
        /* NEUTRAL children do not count; AND stops at a denial, OR at a grant */
        res = AUTHZ_NEUTRAL;
        for (const struct node *c = n->first; c != NULL; c = c->next) {
            enum authz_result cr = eval(c, r);
            if (cr == AUTHZ_NEUTRAL)
                continue;
            if (n->kind == NODE_AND ? cr == AUTHZ_DENIED : cr == AUTHZ_GRANTED) {
                res = cr;
                break;
            }
            if (res == AUTHZ_NEUTRAL)
                res = cr;
        }
        break;
    }
    if (n->negate)
        res = res == AUTHZ_GRANTED ? AUTHZ_DENIED : AUTHZ_NEUTRAL;
    return res;
}

enum authz_result authz_eval(const struct authz *a, const struct request *r)
{
    return eval(&a->root, r);
}

static int uses_local(const struct node *n)
{
    if (n->kind == NODE_LOCAL)
        return 1;
    for (const struct node *k = n->first; k != NULL; k = k->next)
        if (uses_local(k))
            return 1;
    return 0;
}

int authz_uses_local(const struct authz *rule)
{
    return rule != NULL && uses_local(&rule->root);
}

static int locations_need_local(const struct location *l)
{
    for (; l != NULL; l = l->next)
        if (authz_uses_local(l->authz))
            return 1;
    return 0;
}

int authz_needs_local_addr(const struct server *s)
{
    /* a vhost's list ends with the main server's sections */
    if (locations_need_local(s->main.locations))
        return 1;
    for (const struct vhost *v = s->vhosts; v != NULL; v = v->next)
        if (locations_need_local(v->locations))
            return 1;
    return 0;
}

static int has_authz(const struct location *l)
{
    return l->authz != NULL;
}

const struct authz *authz_for(const struct vhost *v, const char *path)
{
    const struct location *l = location_for(v, path, has_authz);
    return l != NULL ? l->authz : NULL;
}

int authz_check(struct request *r)
{
    const struct authz *a = r->location_rule = authz_for(r->vhost, r->path);
    char peer[HTTP_PEER_TEXT];

    if (a == NULL || authz_eval(a, r) == AUTHZ_GRANTED)
        return 1;
    log_verror(r->vhost, LOG_ERR, "authz_core",
               "[client %s] AH01630: client denied by server configuration: %s%s", http_peer_text(r, peer),
               r->vhost->document_root, r->path);
    return 0;
}

/* ---- configuration ---- */

/* The container named by "<RequireAll>", "<RequireAll" (arguments follow) or "</RequireAll>"; NULL if none.
 */
static const struct container *container_of(const char *name, int *closing)
{
    if (name[0] != '<')
        return NULL;
    *closing = name[1] == '/';
    name += 1 + *closing;
    for (size_t i = 0; i < sizeof(containers) / sizeof(containers[0]); i++) {
        size_t n = strlen(containers[i].name);
        if (strncasecmp(name, containers[i].name, n) == 0 && (name[n] == '\0' || strcmp(name + n, ">") == 0))
            return &containers[i];
    }
    return NULL;
}

int authz_directive(const char *name)
{
    int closing;
    return strcasecmp(name, "Require") == 0 || container_of(name, &closing) != NULL;
}

/* How a message names the container a line is in. */
static const char *where(struct pool *p, const struct node *n)
{
    if (n->type == NULL)
        return "its section (an implicit <RequireAny>)";
    return pool_printf(p, "<%s> (line %d)", n->type->name, n->line);
}

static void append(struct node *parent, struct node *n)
{
    n->parent = parent;
    n->depth = parent->depth + 1;
    *parent->tail = n;
    parent->tail = &n->next;
}

static int require_line(struct pool *p, struct authz *a, const char *file, int line, int argc, char **argv,
                        struct errbuf *err)
{
    int i = 1, negate = 0;
    if (i < argc && strcasecmp(argv[i], "not") == 0) {
        negate = 1;
        i++;
    }
    if (i >= argc)
        return errbuf_set(err,
                          "%s:%d: Require%s takes a provider and its arguments: all granted|denied, local, "
                          "ip ADDR[/BITS] ...",
                          file, line, negate ? " not" : "");
    const char *provider = argv[i++];
    int nargs = argc - i;
    char **args = argv + i;
    struct node *n = pool_calloc(p, sizeof(*n));
    if (n == NULL)
        return errbuf_set(err, "%s:%d: out of memory", file, line);
    n->negate = negate;
    n->file = file;
    n->line = line;
    if (strcasecmp(provider, "all") == 0) {
        n->kind = NODE_ALL;
        n->granted = nargs == 1 && strcasecmp(args[0], "granted") == 0;
        if (nargs != 1 || (!n->granted && strcasecmp(args[0], "denied") != 0))
            return errbuf_set(err, "%s:%d: Require all takes one argument, granted or denied", file, line);
    } else if (strcasecmp(provider, "local") == 0) {
        n->kind = NODE_LOCAL;
        if (nargs != 0)
            return errbuf_set(err, "%s:%d: Require local takes no arguments", file, line);
    } else if (strcasecmp(provider, "ip") == 0) {
        n->kind = NODE_IP;
        if (nargs == 0)
            return errbuf_set(err,
                              "%s:%d: Require ip takes one or more addresses: ADDR, ADDR/BITS, ADDR/NETMASK",
                              file, line);
        n->nets = pool_calloc(p, sizeof(*n->nets) * (size_t)nargs);
        if (n->nets == NULL)
            return errbuf_set(err, "%s:%d: out of memory", file, line);
        for (int k = 0; k < nargs; k++) {
            const char *msg = parse_subnet(p, args[k], &n->nets[k]);
            if (msg != NULL)
                return errbuf_set(err, "%s:%d: Require ip %s", file, line, msg);
        }
        n->n_nets = nargs;
    } else {
        return errbuf_set(err, "%s:%d: Require: unknown provider '%s' (this server has all, local and ip)",
                          file, line, provider);
    }
    /* a negation can only refuse: in an OR it could never make the container grant */
    if (negate && a->open->kind == NODE_OR)
        return errbuf_set(err,
                          "%s:%d: Require not has no effect in %s: it can only refuse, so it belongs in a "
                          "<RequireAll> beside a Require that grants",
                          file, line, where(p, a->open));
    append(a->open, n);
    return 0;
}

static int open_container(struct pool *p, struct authz *a, const struct container *type, const char *file,
                          int line, int argc, char **argv, struct errbuf *err)
{
    if (argc != 1 || argv[0][strlen(argv[0]) - 1] != '>')
        return errbuf_set(err, "%s:%d: <%s> takes no arguments", file, line, type->name);
    if (a->open->depth >= AUTHZ_MAX_DEPTH)
        return errbuf_set(err, "%s:%d: <%s> nested too deeply", file, line, type->name);
    if (type->negate && a->open->kind == NODE_OR)
        return errbuf_set(err,
                          "%s:%d: <%s> has no effect in %s: it can only refuse, so it belongs in a "
                          "<RequireAll> beside a Require that grants",
                          file, line, type->name, where(p, a->open));
    struct node *n = pool_calloc(p, sizeof(*n));
    if (n == NULL)
        return errbuf_set(err, "%s:%d: out of memory", file, line);
    n->kind = type->kind;
    n->negate = type->negate;
    n->type = type;
    n->tail = &n->first;
    n->file = file;
    n->line = line;
    append(a->open, n);
    a->open = n;
    return 0;
}

static int close_container(struct authz *a, const struct container *type, const char *file, int line,
                           int argc, struct errbuf *err)
{
    struct node *n = a->open;
    if (argc != 1)
        return errbuf_set(err, "%s:%d: </%s> takes no arguments", file, line, type->name);
    if (n->type == NULL)
        return errbuf_set(err, "%s:%d: </%s> without matching <%s>", file, line, type->name, type->name);
    if (n->type != type)
        return errbuf_set(err, "%s:%d: </%s> cannot close <%s> (opened at line %d)", file, line, type->name,
                          n->type->name, n->line);
    int positive = 0;
    for (const struct node *c = n->first; c != NULL; c = c->next)
        positive += !c->negate;
    if (n->first == NULL)
        return errbuf_set(err, "%s:%d: <%s> contains no Require lines", n->file, n->line, type->name);
    if (positive == 0)
        return errbuf_set(err,
                          "%s:%d: <%s> contains only negative Require lines, so it can never grant (add one "
                          "that grants, e.g. Require all granted)",
                          n->file, n->line, type->name);
    a->open = n->parent;
    return 0;
}

int authz_config_line(struct pool *p, struct authz **rule, const char *file, int line, int argc, char **argv,
                      struct errbuf *err)
{
    int closing = 0;
    const struct container *type = container_of(argv[0], &closing);

    if (rule == NULL) {
        if (type != NULL)
            return errbuf_set(err, "%s:%d: <%s%s> is only allowed inside <Location> or <Proxy>", file, line,
                              closing ? "/" : "", type->name);
        return errbuf_set(err, "%s:%d: Require is only allowed inside <Location> or <Proxy>", file, line);
    }
    if (*rule == NULL) {
        struct authz *a = pool_calloc(p, sizeof(*a));
        if (a == NULL)
            return errbuf_set(err, "%s:%d: out of memory", file, line);
        a->root.kind = NODE_OR;
        a->root.tail = &a->root.first;
        a->open = &a->root;
        *rule = a;
    }
    if (type == NULL)
        return require_line(p, *rule, file, line, argc, argv, err);
    if (closing)
        return close_container(*rule, type, file, line, argc, err);
    return open_container(p, *rule, type, file, line, argc, argv, err);
}

int authz_config_end(const struct authz *rule, struct errbuf *err)
{
    const struct node *open = rule != NULL ? rule->open : NULL;
    if (open != NULL && open->type != NULL)
        return errbuf_set(err, "%s:%d: <%s> section is not closed", open->file, open->line, open->type->name);
    return 0;
}
