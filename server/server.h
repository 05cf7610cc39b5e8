/*
 * struct server: everything the configuration decides, built once by server/config.c and then read-only in
 * the children. The MPM fields are generic knobs that each MPM's directive table maps its own names onto
 * (MinSpareServers and MinSpareThreads both set min_spare); check_config fills the defaults left unset (-1).
 */
#ifndef HTTPD_SERVER_H
#define HTTPD_SERVER_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct pool;
struct server;
struct errbuf;
struct warnings;
struct directive;
struct header_op;
struct mime_table;
struct handler;
struct mpm;
struct log_format;
struct conf_line;
struct authz;
struct vhost_set;
struct vhost_map;
struct proxy_conf;
struct tls_conf;
struct tls_ctx;

#define SERVER_SOFTWARE "httpd/" PACKAGE_VERSION

/* One AcceptFilter directive: the filter a protocol's listeners use ("none" for none). */
struct accept_filter {
    char *protocol; /* lower-cased, as Listen's protocol */
    char *filter;   /* lower-cased: "data" (and every other name but "none") defers accept on Linux */
    struct accept_filter *next;
};

/* One Listen directive, bound by listen_open(). */
struct listener {
    char *spec;          /* as written: "8080", "127.0.0.1:8080", "[::1]:8080" */
    char *protocol;      /* Listen's second argument: "http", "https" (https by default on port 443) */
    struct tls_ctx *tls; /* https: the TLS context its connections start with (tls_module's check) */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int fd; /* -1 until bound */
    /* The <VirtualHost> addresses this listener's connections may match (server/vhost.c, at config time):
     * with vhosts_by_addr 0 the set is known from the listener alone (NULL: the main server), so no
     * getsockname() is needed; with 1 the connection's local address decides (vhost_by_addr()). */
    const struct vhost_set *vhosts;
    int vhosts_by_addr;
    struct listener *next;
};

/* A <Location PATH> section: requests whose path starts with `path` go to `handler`, if `authz` grants. */
struct location {
    char *path;
    size_t len;
    const struct handler *handler; /* its SetHandler; NULL when it has none */
    struct authz *authz;           /* its Require lines (server/authz.c); NULL when it has none */
    struct location *next;
};

/* A CustomLog: a file and the compiled format written to it for each request. */
struct custom_log {
    char *path;
    const struct log_format *format;
    int fd;    /* opened by log_open() */
    int index; /* among every CustomLog of the server (main and vhosts): its BufferedLogs buffer */
    struct custom_log *next;
};

/* One address of a <VirtualHost>: "addr:port", "[v6]:port", "*:port", "_default_:port", "*"; ":*" means any
 * port, and so does no port unless the main server's ServerName has one (server/vhost.h). */
struct vhost_addr {
    char *spec; /* as written */
    char *host; /* its address part as written ("127.0.0.1", "[::1]", "*"): Apache's last-resort name */
    int family; /* AF_INET or AF_INET6; 0 for "*" and "_default_" (any address) */
    unsigned char ip[16]; /* 4 or 16 bytes, network order */
    int port;             /* 0: any port */
    struct vhost_addr *next;
};

/*
 * A server's own settings: the main server's (everything outside <VirtualHost>) and each virtual host's,
 * which starts from the main server's as Apache merges them (vhost_finish(), server/vhost.c). Handlers read
 * these from request->vhost, never from struct server. A directive allowed in a <VirtualHost> is a row of a
 * virtual-host table, whose offset is into this struct (config.h).
 */
struct vhost {
    const char *file; /* where its <VirtualHost> is: for -S and messages; NULL for the main server */
    int line;
    struct vhost_addr *addrs; /* its <VirtualHost> addresses, in order; NULL for the main server */
    char *server_name;        /* ServerName as written ("www.example.com", "https://www.example.com:8443") */
    char *hostname;           /* its host part: what Host is matched against (case-insensitively), -S shows */
    char **names;             /* ServerAlias names without wildcards, as written, NULL-terminated */
    char **wild_names;        /* ServerAlias names with '*' or '?', as written, NULL-terminated */
    char *document_root;      /* DocumentRoot */
    char **directory_index;   /* DirectoryIndex, NULL-terminated */
    char *error_log;          /* ErrorLog */
    int own_error_log;        /* a vhost's ErrorLog other than the main server's: error_fd is its own */
    int error_fd;             /* with own_error_log, opened by log_open() */
    int log_level;            /* LogLevel (-1 in a vhost until merged) */
    struct log_format *formats;     /* its own LogFormat nicknames (CustomLog also finds the main server's) */
    struct custom_log *custom_logs; /* CustomLog: its own, or the main server's when it has none */
    int own_logs;                   /* custom_logs are its own (opened and closed for it) */
    struct location *locations;     /* <Location> sections: its own first, then the main server's */
    /* RequestHeader and Header lines (server/headers.h): a vhost's after copies of the main server's */
    struct header_op *request_headers, *response_headers;
    struct proxy_conf *proxy; /* the mod_proxy settings its requests use: its own merged with the main
                                 server's (s->proxy), or the main server's; NULL when there is none */
    /* Request settings a <VirtualHost> may set for the requests it serves (Apache reads them from the Host's
     * vhost); the main server's are struct server's, and these stay -1 in s->main. Merged, in a vhost they
     * hold the main server's value unless it set its own: read them through vhost_keepalive() & co. */
    int keepalive;                /* KeepAlive */
    int max_keepalive_requests;   /* MaxKeepAliveRequests */
    long long limit_request_body; /* LimitRequestBody */
    int allow_encoded_slashes;    /* AllowEncodedSlashes, an enum path_slashes (server/path.h); -1 in a vhost
                                     until merged, Off in s->main */
    /* Its SSL settings (server/tls_conf.c), merged with the main server's once every line is read: the main
     * server's own when it writes no SSL directive; NULL when no server writes one. */
    struct tls_conf *tls;
    /* Servers with the same nonzero tls_setup have compatible SSL settings (the same protocols, ciphers,
     * certificate and key files: Apache's ssl_server_compatible()); 0: SSLEngine is not on. A request whose
     * Host selects a server of another setup than its TLS server name (SNI) did is answered 421. */
    int tls_setup;
    struct vhost *next; /* the next <VirtualHost>, in the order of the configuration */
};

/* LogLevel values, as Apache's. */
enum log_level { LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR, LOG_WARN, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

/*
 * A concurrency model (MPM): a const struct of function pointers, which the configuration chooses by name
 * (`MPM worker`) from the registry main hands it (mpm/mpm.h); the MPMs under mpm/ fill it in.
 */
enum mpm_caps {
    MPM_FORKED = 1u << 0,   /* serves from child processes */
    MPM_THREADED = 1u << 1, /* several worker threads per child */
    MPM_ASYNC = 1u << 2     /* connections not tied to a thread (idle keep-alive costs no worker) */
};

struct mpm {
    const char *name;                   /* "prefork", "worker", "event" */
    unsigned caps;                      /* enum mpm_caps */
    const struct directive *directives; /* its directives; {NULL} ends the table */
    /* After the config is read: fill defaults left at -1, clamp as Apache does with its warnings into w (may
     * be NULL); -1 with err to refuse. Also run on a copy of the settings to size the scoreboard for a
     * restart to this MPM (config_mpm_settings), so it must have no effect beyond s->mpm_conf. */
    int (*check_config)(struct server *s, struct warnings *w, struct errbuf *err);
    /* Serves until stopped or asked to restart; returns an enum process_result (server/process.h). */
    int (*run)(struct server *s);
};

/* Knobs of the concurrency model; -1 means "not set in the config". */
struct mpm_conf {
    int start_servers;      /* StartServers */
    int min_spare;          /* MinSpareServers (prefork) / MinSpareThreads (worker) */
    int max_spare;          /* MaxSpareServers / MaxSpareThreads */
    int max_workers;        /* MaxRequestWorkers, alias MaxClients */
    int server_limit;       /* ServerLimit */
    int threads_per_child;  /* ThreadsPerChild (1 for prefork) */
    int thread_limit;       /* ThreadLimit */
    int max_conn_per_child; /* MaxConnectionsPerChild, alias MaxRequestsPerChild; 0 = never recycle */
    int max_conns;          /* event: per-child connection cap */
};

/* One stage of RequestReadTimeout (mod_reqtimeout): `timeout` seconds to receive the stage (0: no limit),
 * extended by one second per `min_rate` bytes received (0: never), up to `max_timeout` seconds (0: no cap).
 */
struct read_timeout {
    int timeout, max_timeout, min_rate;
};

struct server {
    struct pool *pool; /* everything below lives in it */

    /* where things are */
    char *server_root;       /* ServerRoot */
    char *conf_file;         /* -f */
    char *types_config;      /* TypesConfig */
    int file_cache_max_file; /* FileCacheMaxFile: bytes; 0 = no small-file cache */
    int file_cache_size;     /* FileCacheSize: bytes per process */
    struct mime_table *mime; /* loaded from types_config */
    char *pid_file;          /* PidFile */

    /* listeners */
    struct listener *listeners;           /* Listen */
    int listen_backlog;                   /* ListenBacklog */
    struct accept_filter *accept_filters; /* AcceptFilter; by default http and https use "data" */

    /* protocol limits and timeouts */
    int timeout;                                      /* Timeout, seconds */
    int keepalive;                                    /* KeepAlive On/Off */
    int keepalive_timeout;                            /* KeepAliveTimeout, seconds */
    int max_keepalive_requests;                       /* MaxKeepAliveRequests; 0 = unlimited */
    int limit_request_line;                           /* LimitRequestLine */
    int limit_request_field_size;                     /* LimitRequestFieldSize */
    int limit_request_fields;                         /* LimitRequestFields; 0 = unlimited */
    long long limit_request_body;                     /* LimitRequestBody; 0 = unlimited */
    struct read_timeout header_timeout, body_timeout; /* RequestReadTimeout header=... body=... */
    struct read_timeout handshake_timeout;            /* RequestReadTimeout handshake=N (timeout only) */

    /* logs */
    int buffered_logs; /* BufferedLogs On/Off */
    int n_custom_logs; /* CustomLogs of the main server and every vhost (their buffers with BufferedLogs) */

    /* identity of the children when started as root (User, Group: server/unixd.c) */
    char *user;         /* User as written ("nobody", "#65534"); NULL when not set */
    char *user_name;    /* its passwd name (for the supplementary groups); NULL for a #uid without one */
    uid_t user_id;      /* User */
    gid_t user_gid;     /* the User's primary group, used when Group is not set */
    char *group;        /* Group as written; NULL when not set */
    gid_t group_id;     /* Group, or user_gid; final after config_load() */
    gid_t *user_groups; /* supplementary groups of user_name, resolved at config time */
    int user_ngroups;

    /* the main server and the virtual hosts */
    struct vhost main;           /* ServerName, DocumentRoot, logs, <Location>s outside any <VirtualHost> */
    struct vhost *vhosts;        /* <VirtualHost> sections, in order; NULL when there are none */
    struct vhost_map *vhost_map; /* which vhosts each local address selects (server/vhost.c) */
    struct vhost *conf_vhost;    /* while applying: the server the lines are for (&main outside sections) */
    struct proxy_conf
        *proxy;          /* ProxyPass and the other mod_proxy settings (server/proxy_conf.c); NULL if none */
    int need_local_addr; /* a rule needs the local address of each connection (Require local) */

    /* TLS (server/tls.c): the main server's SSL settings; NULL when no SSL directive is written */
    struct tls_conf *tls;

    /* concurrency model */
    const struct mpm *mpm; /* MPM */
    struct mpm_conf mpm_conf;
    int graceful_shutdown_timeout; /* GracefulShutdownTimeout, seconds; 0 = wait without limit */

    /* how it was read, for config_mpm_settings() */
    const struct mpm *const *mpms;                           /* the MPMs it could choose from */
    const struct handler *(*find_handler)(const char *name); /* SetHandler's names (config_args) */
    struct conf_line *conf_lines;                            /* the directives as read, in order */
    const char *conf_location; /* while a directive inside <Location> is applied: the section's path */
    const char *conf_section;  /* while a directive inside a module's section is applied: its argument */
    const struct conf_line *conf_current; /* while a line is applied: that line (config_here()) */

    /* command line */
    int one_process; /* -X */
    int foreground;  /* -X or -D FOREGROUND */
    char **defines;  /* -D names, NULL-terminated */
};

#endif
