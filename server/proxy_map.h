/*
 * The reverse proxy's map (Apache's mod_proxy): the settings of a server (struct proxy_conf), its upstreams,
 * balancers, ProxyPass and ProxyPassReverse lines and <Proxy URL> sections, which ProxyPass covers a path
 * and which section an upstream URL. Below the configuration: what the handler registry asks (proxy_match)
 * needs nothing of how the directives are read (server/proxy_conf.c).
 */
#ifndef HTTPD_PROXY_MAP_H
#define HTTPD_PROXY_MAP_H

#include <stddef.h>
#include <sys/socket.h>

struct authz;

/* An upstream (Apache's "worker"): the URL's address and path, and its parameters. */
struct proxy_worker {
    char *url;      /* as written: "http://127.0.0.1:9000/app/" */
    char *host;     /* "127.0.0.1", "[::1]", "app.example" */
    int port;       /* 80 when not written */
    char *hostport; /* the Host header it gets: "app.example" or "app.example:9000" */
    char *path;     /* "/app/"; at least "/" */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char *addr_text;     /* "127.0.0.1:9000", for the error log */
    int index;           /* of its pool in a child (proxy_pool.c) */
    int connect_timeout; /* connectiontimeout=, ms (default: the timeout) */
    int timeout;         /* timeout=, ms (default: ProxyTimeout) */
    int max;             /* max=: most idle connections a child keeps for it */
    int ttl;             /* ttl=, s: an idle connection older than this is not used again; 0 = no limit */
    int disable_reuse;   /* disablereuse=On (enablereuse=Off): a connection per request */
    int keepalive;       /* keepalive=On: TCP keep-alive probes on its connections (SO_KEEPALIVE) */
    int retry;           /* retry=, s: after a connect error, requests get 503 at once for this long */
    int loadfactor;      /* loadfactor= of a BalancerMember, 1..100 (1) */
    char *shared_name;   /* its scoreboard slot: the URL, or "balancer://NAME URL" for a member */
    struct proxy_worker *next;
};

enum proxy_lbmethod { PROXY_LB_BYREQUESTS, PROXY_LB_BYBUSYNESS };

/* A <Proxy balancer://NAME> section: its members and how one is chosen. */
struct proxy_balancer {
    char *name; /* "balancer://app" */
    struct proxy_worker **members;
    int n_members, cap_members;
    enum proxy_lbmethod lbmethod; /* ProxySet lbmethod=, byrequests */
    struct proxy_balancer *next;
};

/* One ProxyPass: a path prefix and its upstream, or an exclusion (`!`). */
struct proxy_pass {
    char *prefix;
    size_t len;
    struct proxy_worker *worker;     /* NULL for `!` and for a balancer */
    struct proxy_balancer *balancer; /* ProxyPass /x balancer://NAME/ */
    int nocanon; /* the path goes upstream as the client sent it, not decoded and encoded */
    struct proxy_pass *next;
};

/* One ProxyPassReverse: upstream URL prefix -> our path prefix. */
struct proxy_reverse {
    char *path; /* ours: "/app/" */
    char *url;  /* theirs: "http://127.0.0.1:9000/" */
    size_t url_len;
    struct proxy_reverse *next;
};

/* A <Proxy URL> section with Require lines: who may have requests proxied to the URLs it matches. */
struct proxy_section {
    char *pattern;       /* "http://127.0.0.1:9000/admin/", "balancer://app", "*" */
    int wildcard;        /* it has * ? or [: matched as fnmatch(3) does, '/' included; else a prefix */
    struct authz *authz; /* its rule (server/authz.h) */
    struct proxy_section *next;
};

enum proxy_via { PROXY_VIA_UNSET = -1, PROXY_VIA_OFF, PROXY_VIA_ON, PROXY_VIA_FULL, PROXY_VIA_BLOCK };

/*
 * The settings of one server: s->proxy for the main server, and a <VirtualHost>'s own when it has a proxy
 * directive (its unset fields then take the main server's, and its ProxyPass lines are followed by the main
 * server's). Every upstream and balancer is numbered in the main server's (workers, n_workers), whichever
 * server named it; a vhost's copy points at the same lists.
 */
struct proxy_conf {
    struct proxy_pass *passes;      /* in file order */
    struct proxy_reverse *reverses; /* in file order */
    struct proxy_worker *workers;   /* every upstream (balancer members too), index 0 .. n_workers-1 */
    /* ProxyPassReverseCookiePath, -Domain (file order): url the upstream's path (domain), path ours */
    struct proxy_reverse *cookie_paths, *cookie_domains;
    struct proxy_balancer *balancers;
    struct proxy_section *sections; /* the main server's, then a vhost's own: the last that matches decides */
    int n_workers;
    int preserve_host;       /* ProxyPreserveHost, Off */
    int add_headers;         /* ProxyAddHeaders, On */
    enum proxy_via via;      /* ProxyVia, Off */
    int timeout;             /* ProxyTimeout, s; -1: Timeout */
    int buffering;           /* ProxyBuffering, Off */
    long long buffer_size;   /* ProxyBufferSize: bytes read ahead in memory (65536) */
    long long max_temp_file; /* ProxyMaxTempFileSize: then in a temporary file (1 GiB; 0: none) */
};

/* The ProxyPass that covers `path`: the longest prefix; NULL when none, or when the longest is a `!`. It has
 * a worker or a balancer. */
const struct proxy_pass *proxy_match(const struct proxy_conf *pc, const char *path);

/*
 * The rule for a request proxied to `url` ("http://host:port/path?query", "balancer://NAME/path"), as
 * Apache's <Proxy> sections merge: that of the last section whose pattern matches it; NULL when none does.
 */
const struct authz *proxy_section_rule(const struct proxy_conf *pc, const char *url);

#endif
