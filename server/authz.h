/*
 * Access control, as Apache 2.4's mod_authz_core and mod_authz_host: `Require all granted|denied`,
 * `Require local`, `Require ip ADDR[/BITS|/NETMASK] ...` and `Require not ...`, combined by <RequireAll>,
 * <RequireAny> and <RequireNone> inside a <Location>. A request a rule does not grant gets 403.
 *
 * The rule of a request is the one of the longest matching <Location> that has Require lines (the same
 * longest-prefix choice that picks its handler); a section without any inherits the rule of the next shorter
 * one. A path no rule covers is granted, as in Apache without authorization directives. A <Proxy URL> section
 * holds a rule of the same kind for the URLs a request is proxied to (server/proxy.c applies it).
 */
#ifndef HTTPD_AUTHZ_H
#define HTTPD_AUTHZ_H

struct authz;
struct errbuf;
struct location;
struct pool;
struct request;
struct server;
struct vhost;

/* What a rule (or one of its lines) says of a request; NEUTRAL is a `Require not` that did not refuse. */
enum authz_result { AUTHZ_DENIED, AUTHZ_GRANTED, AUTHZ_NEUTRAL };

/* Whether a configuration line named `name` is this module's: Require and the <Require...> containers. */
int authz_directive(const char *name);

/*
 * Applies one such line (argv[0] is its name as written) to the rule in *rule (NULL until the section's
 * first such line), where rule is the slot of a <Location>'s or a <Proxy>'s rule, or NULL when the line is
 * outside both. Returns 0, or -1 with err holding "file:line: message".
 */
int authz_config_line(struct pool *p, struct authz **rule, const char *file, int line, int argc, char **argv,
                      struct errbuf *err);

/* At the section's end: every container must be closed. Returns 0, or -1 with err naming the open one. */
int authz_config_end(const struct authz *rule, struct errbuf *err);

/* Whether the rule has `Require local` somewhere (see authz_needs_local_addr()). */
int authz_uses_local(const struct authz *rule);

/*
 * Whether some rule of s (of the main server or a vhost) has `Require local`, which needs the connection's
 * local address as well as the client's (a client connecting from the server's own address is local): only
 * then do the MPMs look it up.
 */
int authz_needs_local_addr(const struct server *s);

/* The rule for `path` in the server v (see above), or NULL when no <Location> with Require lines matches it.
 */
const struct authz *authz_for(const struct vhost *v, const char *path);

/* Evaluates a rule for the client of r (r->peer_family, peer_addr, peer_local) as Apache does. */
enum authz_result authz_eval(const struct authz *a, const struct request *r);

/*
 * The check the core makes before it runs a handler: 1 when r may proceed, 0 when it must be answered 403.
 * The rule it applied is noted in r->location_rule (a <Proxy> section's gives way to it).
 * A refusal is written to the error log at level error, as Apache's
 * "[client ADDR] AH01630: client denied by server configuration: DOCUMENT_ROOT/PATH", in the error log of
 * the request's vhost.
 */
int authz_check(struct request *r);

#endif
