/*
 * The reverse proxy's directives (Apache's mod_proxy names and defaults) and the URL mapping. A ProxyPass
 * line makes an upstream ("worker", with its own pool of connections in each child) and maps a prefix to it;
 * `ProxyPass /x !` excludes a prefix; inside <Location /p> the path is the section's. The longest prefix that
 * covers a path wins, whatever the order of the lines; the prefix matches at any character, as Apache's.
 *
 * The one thing to know: upstream host names are resolved here, while the configuration is read, so a child
 * only connects; a name that does not resolve is a configuration error with its file:line.
 */

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authz.h"
#include "config.h"
#include "pool.h"
#include "proxy_conf.h"
#include "util.h"

#define PROXY_DEFAULT_MAX   64 /* idle connections a child keeps per upstream */
#define PROXY_DEFAULT_RETRY 60 /* Apache's retry= */
#define PC(field)           offsetof(struct proxy_conf, field)

/* The main server's settings, which also hold every upstream and balancer of every server: their pools and
 * scoreboard slots are numbered across all of them. */
static struct proxy_conf *registry(struct server *s)
{
    if (s->proxy == NULL) {
        s->proxy = pool_calloc(s->pool, sizeof(*s->proxy));
        if (s->proxy == NULL)
            return NULL;
        s->proxy->add_headers = 1;
        s->proxy->timeout = -1;
        s->proxy->buffer_size = 65536;
        s->proxy->max_temp_file = 1024LL * 1024 * 1024;
    }
    return s->proxy;
}

/* The settings the line being applied is for: the main server's, or those of the <VirtualHost> being read,
 * whose fields stay unset (-1) until check_config() merges the main server's into them. */
static struct proxy_conf *conf_of(struct server *s)
{
    struct proxy_conf *main = registry(s);
    struct vhost *v = config_vhost(s);
    if (main == NULL || v == &s->main)
        return main;
    if (v->proxy == NULL) {
        struct proxy_conf *pc = pool_calloc(s->pool, sizeof(*pc));
        if (pc == NULL)
            return NULL;
        pc->preserve_host = pc->add_headers = pc->timeout = pc->buffering = -1;
        pc->via = PROXY_VIA_UNSET;
        pc->buffer_size = pc->max_temp_file = -1;
        v->proxy = pc;
    }
    return v->proxy;
}

const char *proxy_parse_url(struct pool *p, const char *url, struct proxy_worker *w)
{
    if (strncasecmp(url, "http://", 7) != 0)
        return pool_printf(p, "'%s': only http:// upstreams are supported", url);
    const char *auth = url + 7;
    const char *end = auth + strcspn(auth, "/?#");
    if (end == auth)
        return pool_printf(p, "'%s': no host", url);
    const char *colon;
    if (*auth == '[') {
        const char *rb = memchr(auth, ']', (size_t)(end - auth));
        if (rb == NULL)
            return pool_printf(p, "'%s': bad IPv6 address", url);
        w->host = pool_strndup(p, auth + 1, (size_t)(rb - auth - 1));
        colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
        if (rb + 1 < end && colon == NULL)
            return pool_printf(p, "'%s': bad host", url);
    } else {
        colon = memchr(auth, ':', (size_t)(end - auth));
        w->host = pool_strndup(p, auth, (size_t)((colon != NULL ? colon : end) - auth));
    }
    w->port = 80;
    if (colon != NULL) {
        char digits[8];
        size_t n = (size_t)(end - colon - 1);
        if (n == 0 || n >= sizeof(digits))
            return pool_printf(p, "'%s': bad port", url);
        memcpy(digits, colon + 1, n);
        digits[n] = '\0';
        long long port = parse_uint(digits);
        if (port < 1 || port > 65535)
            return pool_printf(p, "'%s': bad port", url);
        w->port = (int)port;
    }
    w->hostport = pool_strndup(p, auth, (size_t)((colon != NULL && w->port == 80 ? colon : end) - auth));
    w->path = pool_strdup(p, *end == '/' ? end : "/");
    w->url = pool_strdup(p, url);

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char port[8];
    snprintf(port, sizeof(port), "%d", w->port);
    int rc = getaddrinfo(w->host, port, &hints, &res);
    if (rc != 0)
        return pool_printf(p, "'%s': cannot resolve %s: %s", url, w->host, gai_strerror(rc));
    memcpy(&w->addr, res->ai_addr, res->ai_addrlen);
    w->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    char text[NI_MAXHOST];
    if (getnameinfo((struct sockaddr *)&w->addr, w->addrlen, text, sizeof(text), NULL, 0, NI_NUMERICHOST) !=
        0)
        snprintf(text, sizeof(text), "%s", w->host);
    w->addr_text = pool_printf(p, w->addr.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", text, w->port);
    return NULL;
}

/* "On"/"Off" of a worker parameter; -1 if neither. */
static int on_off(const char *v)
{
    return strcasecmp(v, "on") == 0 ? 1 : strcasecmp(v, "off") == 0 ? 0 : -1;
}

/* A connectiontimeout= value in ms: a number of seconds, or of the unit after it (ms, s, mi, h), as Apache's
 * ap_timeout_parameter_parse() reads it; -1 when it is not one, or is more than a day. */
static long long duration_ms(const char *v)
{
    static const struct {
        const char *unit;
        long long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"mi", 60000}, {"h", 3600000}};
    size_t n = strspn(v, "0123456789");
    if (n == 0 || n > 9)
        return -1;
    char digits[10];
    memcpy(digits, v, n);
    digits[n] = '\0';
    long long x = parse_uint(digits), scale = v[n] == '\0' ? 1000 : -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && scale < 0; i++)
        if (strcasecmp(v + n, units[i].unit) == 0)
            scale = units[i].ms;
    return scale < 0 || x * scale > 86400000LL ? -1 : x * scale;
}

/* key=value worker parameters (Apache's names and ranges). */
static const char *worker_param(struct pool *p, struct proxy_worker *w, const char *arg)
{
    static const char known[] =
        "connectiontimeout, timeout, max, ttl, disablereuse, enablereuse, keepalive, retry, loadfactor";
    const char *eq = strchr(arg, '=');
    if (eq == NULL || eq[1] == '\0')
        return pool_printf(p, "'%s': a worker parameter is key=value", arg);
    size_t klen = (size_t)(eq - arg);
    const char *val = eq + 1;
    int *flag = NULL, invert = 0;
    if (str_ieq("disablereuse", arg, klen))
        flag = &w->disable_reuse;
    else if (str_ieq("enablereuse", arg, klen))
        flag = &w->disable_reuse, invert = 1;
    else if (str_ieq("keepalive", arg, klen))
        flag = &w->keepalive;
    if (flag != NULL) {
        int b = on_off(val);
        if (b < 0)
            return pool_printf(p, "'%s': %.*s takes On or Off", arg, (int)klen, arg);
        *flag = invert ? !b : b;
        return NULL;
    }
    if (str_ieq("connectiontimeout", arg, klen)) {
        long long ms = duration_ms(val);
        if (ms < 1)
            return pool_printf(p, "'%s': takes seconds, or a number with ms, s, mi or h, from 1 ms to a day",
                               arg);
        w->connect_timeout = (int)ms;
        return NULL;
    }
    int *dst = NULL, min = 0, max = 1000000, scale = 1;
    if (str_ieq("timeout", arg, klen))
        dst = &w->timeout, min = 1, max = 86400, scale = 1000;
    else if (str_ieq("max", arg, klen))
        dst = &w->max;
    else if (str_ieq("ttl", arg, klen))
        dst = &w->ttl, min = 1;
    else if (str_ieq("retry", arg, klen))
        dst = &w->retry;
    else if (str_ieq("loadfactor", arg, klen))
        dst = &w->loadfactor, min = 1, max = 100;
    else
        return pool_printf(p, "'%s': unknown worker parameter (%s)", arg, known);
    long long v = parse_uint(val);
    if (v < min || v > max)
        return pool_printf(p, "'%s': the value must be a number from %d to %d", arg, min, max);
    *dst = (int)v * scale;
    return NULL;
}

/* Defaults, then the key=value parameters. */
static const char *worker_params(struct pool *p, struct proxy_worker *w, int argc, char **argv)
{
    const char *msg;
    w->connect_timeout = w->timeout = -1;
    w->max = -1;
    w->retry = PROXY_DEFAULT_RETRY;
    w->loadfactor = 1;
    for (int i = 0; i < argc; i++)
        if ((msg = worker_param(p, w, argv[i])) != NULL)
            return msg;
    return NULL;
}

static void add_worker(struct proxy_conf *pc, struct proxy_worker *w, char *shared_name)
{
    w->shared_name = shared_name;
    w->index = pc->n_workers++;
    struct proxy_worker **t = &pc->workers;
    while (*t != NULL)
        t = &(*t)->next;
    *t = w;
}

/* The balancer of the <Proxy> section being read, made on its first line. */
static struct proxy_balancer *section_balancer(struct server *s, const char **err)
{
    struct proxy_conf *pc = registry(s);
    const char *name = s->conf_section;
    *err = NULL;
    if (pc == NULL) {
        *err = "out of memory";
        return NULL;
    }
    if (strncasecmp(name, "balancer://", 11) != 0 || name[11] == '\0' || strchr(name + 11, '/') != NULL) {
        *err = pool_printf(s->pool, "is only allowed inside <Proxy balancer://NAME>, not <Proxy %s>", name);
        return NULL;
    }
    struct proxy_balancer **t = &pc->balancers;
    for (; *t != NULL; t = &(*t)->next)
        if (strcasecmp((*t)->name, name) == 0)
            return *t;
    *t = pool_calloc(s->pool, sizeof(**t));
    (*t)->name = pool_strdup(s->pool, name);
    return *t;
}

/*
 * Outside <Proxy>, BalancerMember and ProxySet name their balancer first, as Apache's do ("ProxySet
 * balancer://app lbmethod=bybusyness"): the line is applied as if it stood in that balancer's section.
 */
static const char *outside_section(struct server *s, const struct directive *d, int argc, char **argv,
                                   const char *(*set)(struct server *, const struct directive *, int,
                                                      char **))
{
    if (argc < 1 || strncasecmp(argv[0], "balancer://", 11) != 0)
        return "outside <Proxy balancer://NAME> takes the balancer://NAME first";
    char *name = pool_strdup(s->pool, argv[0]);
    size_t len = strlen(name);
    if (len > 11 && name[len - 1] == '/') /* "balancer://app/", as ProxyPass writes it */
        name[len - 1] = '\0';
    s->conf_section = name;
    const char *msg = set(s, d, argc - 1, argv + 1);
    s->conf_section = NULL;
    return msg;
}

static const char *set_balancer_member(struct server *s, const struct directive *d, int argc, char **argv)
{
    if (s->conf_section == NULL)
        return outside_section(s, d, argc, argv, set_balancer_member);
    const char *msg;
    struct proxy_balancer *b = section_balancer(s, &msg);
    if (b == NULL)
        return msg;
    if (argc < 1)
        return "takes an http:// URL, then key=value parameters (loadfactor=, retry=, timeout= ...)";
    struct proxy_worker *w = pool_calloc(s->pool, sizeof(*w));
    if ((msg = proxy_parse_url(s->pool, argv[0], w)) != NULL ||
        (msg = worker_params(s->pool, w, argc - 1, argv + 1)) != NULL)
        return msg;
    if (b->n_members == b->cap_members) {
        int cap = b->cap_members ? 2 * b->cap_members : 4;
        struct proxy_worker **m = pool_alloc(s->pool, sizeof(*m) * (size_t)cap);
        if (b->n_members > 0)
            memcpy(m, b->members, sizeof(*m) * (size_t)b->n_members);
        b->members = m;
        b->cap_members = cap;
    }
    b->members[b->n_members++] = w;
    add_worker(s->proxy, w, pool_printf(s->pool, "%s %s", b->name, w->url));
    return NULL;
}

static const char *set_proxy_set(struct server *s, const struct directive *d, int argc, char **argv)
{
    if (s->conf_section == NULL)
        return outside_section(s, d, argc, argv, set_proxy_set);
    const char *msg;
    struct proxy_balancer *b = section_balancer(s, &msg);
    if (b == NULL)
        return msg;
    if (argc < 1)
        return "takes key=value parameters (lbmethod=byrequests|bybusyness)";
    for (int i = 0; i < argc; i++) {
        if (strcasecmp(argv[i], "lbmethod=byrequests") == 0)
            b->lbmethod = PROXY_LB_BYREQUESTS;
        else if (strcasecmp(argv[i], "lbmethod=bybusyness") == 0)
            b->lbmethod = PROXY_LB_BYBUSYNESS;
        else
            return pool_printf(s->pool, "'%s': takes lbmethod=byrequests or lbmethod=bybusyness", argv[i]);
    }
    return NULL;
}

static const char *set_proxy_pass(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct proxy_conf *pc = conf_of(s);
    const char *prefix = s->conf_location;
    if (pc == NULL)
        return "out of memory";
    if (prefix == NULL) {
        if (argc < 2)
            return "takes a path and a URL (or !), then key=value parameters";
        prefix = argv[0];
        argc--, argv++;
    } else if (argc < 1) {
        return "takes a URL (or !) inside <Location>, then key=value parameters";
    }
    if (prefix[0] != '/')
        return pool_printf(s->pool, "'%s': the path must start with '/'", prefix);
    struct proxy_pass *pp = pool_calloc(s->pool, sizeof(*pp));
    pp->prefix = pool_strdup(s->pool, prefix);
    pp->len = strlen(prefix);
    /* Apache's keywords among the parameters: nocanon; noquery, which only mod_proxy_fcgi's SCRIPT_FILENAME
     * reads (an http:// upstream gets the query either way, as from Apache); interpolate would need
     * environment variables. The others are kept in a copy (a restart reads the line's own again). */
    int noquery = 0;
    char **args = pool_alloc(s->pool, sizeof(*args) * (size_t)argc);
    if (args == NULL)
        return "out of memory";
    args[0] = argv[0];
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (strcasecmp(argv[i], "nocanon") == 0)
            pp->nocanon = 1;
        else if (strcasecmp(argv[i], "noquery") == 0)
            noquery = 1;
        else if (strcasecmp(argv[i], "interpolate") == 0)
            return "interpolate: environment variables in these lines are not supported";
        else
            args[kept++] = argv[i];
    }
    argc = kept;
    argv = args;
    if (strcmp(argv[0], "!") == 0) {
        if (argc > 1 || pp->nocanon || noquery)
            return "! takes no parameters";
    } else if (strncasecmp(argv[0], "balancer://", 11) == 0) {
        size_t n = strcspn(argv[0] + 11, "/");
        for (struct proxy_balancer *b = s->proxy->balancers; b != NULL; b = b->next)
            if (strlen(b->name) == 11 + n && strncasecmp(b->name, argv[0], 11 + n) == 0)
                pp->balancer = b;
        if (pp->balancer == NULL)
            return pool_printf(s->pool, "'%s': no <Proxy %.*s> section before this line", argv[0],
                               (int)(11 + n), argv[0]);
        if (argv[0][11 + n] != '\0' && strcmp(argv[0] + 11 + n, "/") != 0)
            return pool_printf(s->pool, "'%s': a path after the balancer's name is not supported", argv[0]);
        if (argc > 1)
            return "takes no worker parameters with a balancer (give them to each BalancerMember)";
    } else {
        struct proxy_worker *w = pool_calloc(s->pool, sizeof(*w));
        const char *msg = proxy_parse_url(s->pool, argv[0], w);
        if (msg != NULL)
            return msg;
        if ((msg = worker_params(s->pool, w, argc - 1, argv + 1)) != NULL)
            return msg;
        add_worker(s->proxy, w, w->url);
        pp->worker = w;
    }
    struct proxy_pass **t = &pc->passes;
    while (*t != NULL)
        t = &(*t)->next;
    *t = pp;
    return NULL;
}

/* Appends a mapping from the upstream's `theirs` (a URL, a cookie path or domain) to our `ours` to a list. */
static void add_reverse(struct pool *p, struct proxy_reverse **list, const char *theirs, const char *ours)
{
    struct proxy_reverse *m = pool_calloc(p, sizeof(*m));
    m->url = pool_strdup(p, theirs);
    m->url_len = strlen(theirs);
    m->path = pool_strdup(p, ours);
    while (*list != NULL)
        list = &(*list)->next;
    *list = m;
}

static const char *set_proxy_pass_reverse(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct proxy_conf *pc = conf_of(s);
    const char *path = s->conf_location;
    if (pc == NULL)
        return "out of memory";
    if (path == NULL) {
        if (argc != 2)
            return "takes a path and a URL";
        path = argv[0];
        argc--, argv++;
    } else if (argc != 1) {
        return "takes a URL inside <Location>";
    }
    add_reverse(s->pool, &pc->reverses, argv[0], path);
    return NULL;
}

/* ProxyPassReverseCookiePath and ProxyPassReverseCookieDomain: the upstream's path (domain), then ours. */
static const char *set_cookie_map(struct server *s, const struct directive *d, int argc, char **argv)
{
    struct proxy_conf *pc = conf_of(s);
    if (pc == NULL)
        return "out of memory";
    if (argc == 3 && strcasecmp(argv[2], "interpolate") == 0)
        return "interpolate: environment variables in these lines are not supported";
    if (argc != 2)
        return d->offset == PC(cookie_paths) ? "takes the upstream's path and the public one"
                                             : "takes the upstream's domain and the public one";
    add_reverse(s->pool, (struct proxy_reverse **)((char *)pc + d->offset), argv[0], argv[1]);
    return NULL;
}

static const char *set_flag(struct server *s, const struct directive *d, int argc, char **argv)
{
    struct proxy_conf *pc = conf_of(s);
    if (pc == NULL)
        return "out of memory";
    return config_parse_flag(argc, argv, (int *)((char *)pc + d->offset));
}

/* ProxyRequests: Off, Apache's default (no forward proxying), is what this server does; On is refused rather
 * than left to serve as a reverse proxy only. */
static const char *set_requests(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)s;
    (void)d;
    int on = 0;
    const char *msg = config_parse_flag(argc, argv, &on);
    if (msg != NULL)
        return msg;
    return on ? "On (a forward proxy) is not supported: only reverse proxying, with ProxyPass" : NULL;
}

static const char *set_via(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct proxy_conf *pc = conf_of(s);
    static const char *const names[] = {"Off", "On", "Full", "Block"};
    if (pc == NULL)
        return "out of memory";
    for (int i = 0; argc == 1 && i < 4; i++)
        if (strcasecmp(argv[0], names[i]) == 0) {
            pc->via = (enum proxy_via)i;
            return NULL;
        }
    return "takes Off, On, Full or Block";
}

static const char *set_bytes(struct server *s, const struct directive *d, int argc, char **argv)
{
    struct proxy_conf *pc = conf_of(s);
    long long v = argc == 1 ? parse_uint(argv[0]) : -1;
    if (pc == NULL)
        return "out of memory";
    long long min = d->offset == PC(buffer_size) ? 1024 : 0;
    if (v < min)
        return pool_printf(s->pool, "takes a number of bytes, at least %lld", min);
    *(long long *)((char *)pc + d->offset) = v;
    return NULL;
}

static const char *set_timeout(struct server *s, const struct directive *d, int argc, char **argv)
{
    (void)d;
    struct proxy_conf *pc = conf_of(s);
    long long v = argc == 1 ? parse_uint(argv[0]) : -1;
    if (pc == NULL)
        return "out of memory";
    if (v < 1 || v > 1000000)
        return "takes a number of seconds";
    pc->timeout = (int)v;
    return NULL;
}

/* The worker parameters left unset: timeouts from the ProxyTimeout of the server that named the upstream
 * (itself from Timeout), max. */
static void settle_worker(struct proxy_worker *wk, const struct proxy_conf *pc)
{
    if (wk->timeout < 0)
        wk->timeout = pc->timeout * 1000;
    if (wk->connect_timeout < 0)
        wk->connect_timeout = wk->timeout;
    if (wk->max < 0)
        wk->max = PROXY_DEFAULT_MAX;
}

/* A <Proxy URL> section's rule, made at its first Require line (config.h's section_authz): in the settings of
 * the server the section is in, after the sections before it. */
static struct authz **section_authz(struct server *s, const char **err)
{
    struct proxy_conf *pc = conf_of(s);
    struct proxy_section *ps = pc != NULL ? pool_calloc(s->pool, sizeof(*ps)) : NULL;
    if (ps == NULL || (ps->pattern = pool_strdup(s->pool, s->conf_section)) == NULL) {
        *err = "out of memory";
        return NULL;
    }
    ps->wildcard = strpbrk(ps->pattern, "*?[") != NULL;
    struct proxy_section **t = &pc->sections;
    while (*t != NULL)
        t = &(*t)->next;
    *t = ps;
    return &ps->authz;
}

/* Copies of the main server's ProxyPass (ProxyPassReverse) lines after a vhost's own, as Apache merges a
 * server's lines with the main server's (its own win a tie of equal prefixes). */
static void append_passes(struct pool *p, struct proxy_pass **own, const struct proxy_pass *base)
{
    while (*own != NULL)
        own = &(*own)->next;
    for (; base != NULL; base = base->next, own = &(*own)->next) {
        if ((*own = pool_alloc(p, sizeof(**own))) == NULL)
            return;
        **own = *base;
        (*own)->next = NULL;
    }
}

static void append_reverses(struct pool *p, struct proxy_reverse **own, const struct proxy_reverse *base)
{
    while (*own != NULL)
        own = &(*own)->next;
    for (; base != NULL; base = base->next, own = &(*own)->next) {
        if ((*own = pool_alloc(p, sizeof(**own))) == NULL)
            return;
        **own = *base;
        (*own)->next = NULL;
    }
}

/* A <VirtualHost>'s settings: what it left unset is the main server's; its ProxyPass lines, then the main's.
 */
static void merge_vhost(struct pool *p, struct proxy_conf *vp, const struct proxy_conf *pc)
{
    if (vp->preserve_host < 0)
        vp->preserve_host = pc->preserve_host;
    if (vp->add_headers < 0)
        vp->add_headers = pc->add_headers;
    if (vp->via == PROXY_VIA_UNSET)
        vp->via = pc->via;
    if (vp->timeout < 0)
        vp->timeout = pc->timeout;
    if (vp->buffering < 0)
        vp->buffering = pc->buffering;
    if (vp->buffer_size < 0)
        vp->buffer_size = pc->buffer_size;
    if (vp->max_temp_file < 0)
        vp->max_temp_file = pc->max_temp_file;
    for (const struct proxy_pass *pp = vp->passes; pp != NULL; pp = pp->next)
        if (pp->worker != NULL)
            settle_worker(pp->worker, vp);
    /* the main server's sections first: a vhost's own, later, win */
    struct proxy_section *own = vp->sections, **t = &vp->sections;
    for (const struct proxy_section *ps = pc->sections; ps != NULL; ps = ps->next, t = &(*t)->next) {
        if ((*t = pool_alloc(p, sizeof(**t))) == NULL)
            return;
        **t = *ps;
    }
    *t = own;
    append_passes(p, &vp->passes, pc->passes);
    append_reverses(p, &vp->reverses, pc->reverses);
    append_reverses(p, &vp->cookie_paths, pc->cookie_paths);
    append_reverses(p, &vp->cookie_domains, pc->cookie_domains);
    vp->workers = pc->workers;
    vp->balancers = pc->balancers;
    vp->n_workers = pc->n_workers;
}

/* Fills what the directives left, and gives every server the settings its requests use. */
static int check_config(struct server *s, struct warnings *w, struct errbuf *err)
{
    (void)w;
    struct proxy_conf *pc = s->proxy;
    s->main.proxy = pc;
    if (pc == NULL)
        return 0; /* no proxy directive anywhere (one in a vhost makes the main server's too) */
    if (pc->timeout < 0)
        pc->timeout = s->timeout;
    for (struct proxy_balancer *b = pc->balancers; b != NULL; b = b->next)
        if (b->n_members == 0)
            return errbuf_set(err, "%s: <Proxy %s> has no BalancerMember", s->conf_file, b->name);
    for (struct vhost *v = s->vhosts; v != NULL; v = v->next) {
        if (v->proxy == NULL)
            v->proxy = pc;
        else
            merge_vhost(s->pool, v->proxy, pc);
    }
    for (struct proxy_worker *wk = pc->workers; wk != NULL; wk = wk->next)
        settle_worker(wk, pc);
    /* a <Proxy> section's Require local needs the connection's own address, as a <Location>'s does */
    for (const struct proxy_section *ps = pc->sections; ps != NULL; ps = ps->next)
        s->need_local_addr |= authz_uses_local(ps->authz);
    for (const struct vhost *v = s->vhosts; v != NULL; v = v->next)
        for (const struct proxy_section *ps = v->proxy->sections; ps != NULL; ps = ps->next)
            s->need_local_addr |= authz_uses_local(ps->authz);
    return 0;
}

/* All of them also in <VirtualHost>: config_vhost(s) tells which server a line is for (conf_of()). */
static const struct directive proxy_directives[] = {
    {"ProxyPass", set_proxy_pass, 0, "maps a path prefix to an http:// upstream (or ! to exclude it)"},
    {"ProxyPassReverse", set_proxy_pass_reverse, 0, "rewrites the upstream's redirects back to the path"},
    {"ProxyPassReverseCookiePath", set_cookie_map, PC(cookie_paths),
     "rewrites the Path of the upstream's cookies: its path, then ours"},
    {"ProxyPassReverseCookieDomain", set_cookie_map, PC(cookie_domains),
     "rewrites the Domain of the upstream's cookies: its domain, then ours"},
    {"ProxyPreserveHost", set_flag, PC(preserve_host), "sends the client's Host upstream (Off)"},
    {"ProxyAddHeaders", set_flag, PC(add_headers), "adds X-Forwarded-For/-Host/-Server (On)"},
    {"ProxyVia", set_via, 0, "Via headers: Off, On, Full, Block (Off)"},
    {"ProxyTimeout", set_timeout, 0, "seconds to wait for an upstream (Timeout)"},
    {"ProxyRequests", set_requests, 0, "forward proxying: Off (the default) only"},
    {"BalancerMember", set_balancer_member, 0, "balancer://NAME, then a member's URL and parameters"},
    {"ProxySet", set_proxy_set, 0, "balancer://NAME lbmethod=byrequests|bybusyness"},
    {"ProxyBuffering", set_flag, PC(buffering), "reads responses ahead and frees the upstream early (Off)"},
    {"ProxyBufferSize", set_bytes, PC(buffer_size), "bytes of a response read ahead in memory (65536)"},
    {"ProxyMaxTempFileSize", set_bytes, PC(max_temp_file), "then in a temporary file, at most (1073741824)"},
    {NULL, NULL, 0, NULL},
};

static const struct directive proxy_location_directives[] = {
    {"ProxyPass", set_proxy_pass, 0, "maps the section's path to an http:// upstream (or !)"},
    {"ProxyPassReverse", set_proxy_pass_reverse, 0, "rewrites the upstream's redirects back to the path"},
    {NULL, NULL, 0, NULL},
};

static const struct directive proxy_section_directives[] = {
    {"BalancerMember", set_balancer_member, 0, "a member of the balancer: an http:// URL and parameters"},
    {"ProxySet", set_proxy_set, 0, "lbmethod=byrequests|bybusyness"},
    {NULL, NULL, 0, NULL},
};

const struct config_module proxy_module = {
    .name = "proxy_module",
    .vhost_directives = proxy_directives,
    .check_config = check_config,
    .location_directives = proxy_location_directives,
    .section = "Proxy",
    .section_directives = proxy_section_directives,
    .section_authz = section_authz,
};
