/*
 * Virtual hosts: <VirtualHost> read from configuration files (addresses, the directives allowed inside, what
 * a vhost inherits from the main server, errors with file:line), the selection by local address and by name
 * (ServerName, ServerAlias and its wildcards, ports, trailing dots, IPv6), what each listener is told, and -S
 * byte for byte.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conftest.h"
#include "config.h"
#include "handler.h"
#include "path.h"
#include "authz.h"
#include "handlers.h"
#include "server.h"
#include "static.h"
#include "status.h"
#include "vhost.h"
#include "workload.h"

TestSuite(vhost, .init = conftest_setup, .fini = conftest_teardown);

static struct server *load(const char *text)
{
    return conftest_load_ok("", text, NULL);
}

static void refused(const char *text, const char *want)
{
    conftest_expect_refused("", text, want);
}

/* The n-th <VirtualHost> of s (0 is the first). */
static const struct vhost *nth(const struct server *s, int n)
{
    const struct vhost *v = s->vhosts;
    for (; v != NULL && n > 0; n--)
        v = v->next;
    cr_assert_not_null(v, "no vhost %d", n);
    return v;
}

/* A socket address for "1.2.3.4" or "::1" and port. */
static struct sockaddr_storage addr(const char *ip, int port, socklen_t *len)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1, "%s", ip);
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1, "%s", ip);
        *len = sizeof(*a);
    }
    return ss;
}

/* The ServerName of the vhost a connection to ip:port with `host` (NULL: none) is served by. */
static const char *served_by(const struct server *s, const char *ip, int port, const char *host)
{
    socklen_t len;
    struct sockaddr_storage ss = addr(ip, port, &len);
    const struct vhost_set *set = vhost_by_addr(s, (struct sockaddr *)&ss, len);
    return vhost_by_name(s, set, host)->server_name;
}

/* ---- reading ---- */

Test(vhost, addresses_in_every_form)
{
    struct server *s = load("Listen 8080\nListen [::1]:8081\n"
                            "<VirtualHost *:8080 127.0.0.1:8080 [::1]:8081 10.0.0.1:* [2001:db8::1] * "
                            "_default_:8080 0.0.0.0:9>\n"
                            "</VirtualHost>\n");
    const struct vhost_addr *a = nth(s, 0)->addrs;
    struct {
        const char *spec, *host;
        int family, port;
    } want[] = {
        {"*:8080", "*", 0, 8080},
        {"127.0.0.1:8080", "127.0.0.1", AF_INET, 8080},
        {"[::1]:8081", "[::1]", AF_INET6, 8081},
        {"10.0.0.1:*", "10.0.0.1", AF_INET, 0},
        {"[2001:db8::1]", "[2001:db8::1]", AF_INET6, 0},
        {"*", "*", 0, 0},
        {"_default_:8080", "_default_", 0, 8080},
        {"0.0.0.0:9", "0.0.0.0", 0, 9},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++, a = a->next) {
        cr_assert_not_null(a, "address %zu missing", i);
        cr_expect_str_eq(a->spec, want[i].spec);
        cr_expect_str_eq(a->host, want[i].host);
        cr_expect_eq(a->family, want[i].family, "%s", a->spec);
        cr_expect_eq(a->port, want[i].port, "%s", a->spec);
    }
    cr_assert_null(a);
    unsigned char lo[4] = {127, 0, 0, 1};
    cr_assert_eq(memcmp(nth(s, 0)->addrs->next->ip, lo, 4), 0);
    config_free(s);
}

Test(vhost, an_address_without_port_takes_the_main_servers)
{
    struct server *s = load("Listen 8080\n"
                            "<VirtualHost 127.0.0.1 * _default_>\n</VirtualHost>\n"
                            "ServerName www.example.com:8080\n"
                            "<VirtualHost 127.0.0.1 [::1] * _default_ 127.0.0.1:* *:9>\n</VirtualHost>\n"
                            "ServerName https://[::1]:8443\n"
                            "<VirtualHost 127.0.0.1>\n</VirtualHost>\n");
    const struct vhost_addr *a = nth(s, 0)->addrs;
    cr_assert_eq(a->port, 0, "no ServerName port yet: any");
    cr_assert_eq(a->next->port, 0);
    cr_assert_eq(a->next->next->port, 0);
    int want[] = {8080, 8080, 0, 8080, 0, 9};
    a = nth(s, 1)->addrs;
    for (int i = 0; i < 6; i++, a = a->next)
        cr_expect_eq(a->port, want[i], "%s: %d, want %d", a->spec, a->port, want[i]);
    cr_assert_eq(nth(s, 2)->addrs->port, 8443);
    cr_assert_eq(vhost_name_port("localhost"), 0);
    cr_assert_eq(vhost_name_port("localhost:x"), 0);
    cr_assert_eq(vhost_name_port("http://localhost"), 0);
    cr_assert_eq(vhost_name_port("[::1]"), 0);
    config_free(s);
}

Test(vhost, directives_inside_and_what_is_inherited)
{
    struct server *s = load("Listen 8080\n"
                            "ServerName main.example\n"
                            "DocumentRoot /srv/main\n"
                            "DirectoryIndex main.html\n"
                            "ErrorLog /tmp/main_error\n"
                            "LogLevel info\n"
                            "LogFormat \"%h %v\" short\n"
                            "CustomLog /tmp/main_access short\n"
                            "<VirtualHost *:8080>\n"
                            "    ServerName A.example:8080\n"
                            "    ServerAlias www.a.example a.example\n"
                            "    ServerAlias *.a.test ?.a.example\n"
                            "    DocumentRoot /srv/a/\n"
                            "    DirectoryIndex a.html b.html\n"
                            "    ErrorLog /tmp/a_error\n"
                            "    LogLevel debug\n"
                            "    LogFormat \"%h %>s\" own\n"
                            "    CustomLog /tmp/a_access own\n"
                            "    CustomLog /tmp/a_access2 short\n"
                            "</VirtualHost>\n"
                            "<VirtualHost *:8080>\n"
                            "</VirtualHost>\n");
    const struct vhost *a = nth(s, 0), *b = nth(s, 1);
    cr_assert_str_eq(a->server_name, "A.example:8080");
    cr_assert_str_eq(a->hostname, "A.example");
    cr_assert_str_eq(a->names[0], "www.a.example");
    cr_assert_str_eq(a->names[1], "a.example");
    cr_assert_null(a->names[2]);
    cr_assert_str_eq(a->wild_names[0], "*.a.test");
    cr_assert_str_eq(a->wild_names[1], "?.a.example");
    cr_assert_null(a->wild_names[2]);
    cr_assert_str_eq(a->document_root, "/srv/a");
    cr_assert_str_eq(a->directory_index[0], "a.html");
    cr_assert_str_eq(a->error_log, "/tmp/a_error");
    cr_assert_eq(a->log_level, LOG_DEBUG);
    cr_assert(a->own_logs);
    cr_assert_str_eq(a->custom_logs->path, "/tmp/a_access");
    cr_assert_str_eq(a->custom_logs->next->path, "/tmp/a_access2", "a nickname of the main server's");
    cr_assert_null(a->custom_logs->next->next);
    /* the main server keeps its own */
    cr_assert_str_eq(s->main.document_root, "/srv/main");
    cr_assert_eq(s->main.log_level, LOG_INFO);
    cr_assert_str_eq(s->main.custom_logs->path, "/tmp/main_access");
    cr_assert_null(s->main.custom_logs->next);
    /* a vhost that sets nothing has the main server's settings */
    cr_assert_str_eq(b->server_name, "main.example");
    cr_assert_str_eq(b->hostname, "main.example");
    cr_assert_null(b->names);
    cr_assert_str_eq(b->document_root, "/srv/main");
    cr_assert_str_eq(b->directory_index[0], "main.html");
    cr_assert_str_eq(b->error_log, "/tmp/main_error");
    cr_assert_eq(b->log_level, LOG_INFO);
    cr_assert_not(b->own_logs);
    cr_assert_eq(b->custom_logs, s->main.custom_logs, "without CustomLog, the main server's logs");
    config_free(s);
}

Test(vhost, keepalive_and_body_limit_per_vhost)
{
    struct server *s = load("Listen 8080\n"
                            "KeepAlive Off\nMaxKeepAliveRequests 7\nLimitRequestBody 1000\n"
                            "<VirtualHost *:8080>\n  KeepAlive On\n  MaxKeepAliveRequests 0\n"
                            "  LimitRequestBody 10\n</VirtualHost>\n"
                            "<VirtualHost *:8080>\n</VirtualHost>\n");
    const struct vhost *a = nth(s, 0), *b = nth(s, 1);
    /* the main server's are the server's own, which the connection starts with */
    cr_assert_eq(s->keepalive, 0);
    cr_assert_eq(s->max_keepalive_requests, 7);
    cr_assert_eq(s->limit_request_body, 1000);
    cr_assert_eq(vhost_keepalive(s, &s->main), 0);
    cr_assert_eq(vhost_max_keepalive_requests(s, &s->main), 7);
    cr_assert_eq(vhost_limit_request_body(s, &s->main), 1000);
    cr_assert_eq(vhost_keepalive(s, a), 1);
    cr_assert_eq(vhost_max_keepalive_requests(s, a), 0);
    cr_assert_eq(vhost_limit_request_body(s, a), 10);
    cr_assert_eq(vhost_keepalive(s, b), 0, "inherited");
    cr_assert_eq(vhost_max_keepalive_requests(s, b), 7);
    cr_assert_eq(vhost_limit_request_body(s, b), 1000);
    config_free(s);
}

Test(vhost, allow_encoded_slashes_per_vhost)
{
    struct server *s = load("Listen 8080\n"
                            "<VirtualHost *:8080>\n  AllowEncodedSlashes nodecode\n</VirtualHost>\n"
                            "<VirtualHost *:8080>\n</VirtualHost>\n"
                            "AllowEncodedSlashes On\n");
    cr_assert_eq(s->main.allow_encoded_slashes, PATH_SLASHES_ON);
    cr_assert_eq(nth(s, 0)->allow_encoded_slashes, PATH_SLASHES_NODECODE);
    cr_assert_eq(nth(s, 1)->allow_encoded_slashes, PATH_SLASHES_ON, "the main server's, written after");
    config_free(s);
    s = load("Listen 8080\n<VirtualHost *:8080>\n</VirtualHost>\n");
    cr_assert_eq(s->main.allow_encoded_slashes, PATH_SLASHES_OFF, "Apache's default");
    cr_assert_eq(nth(s, 0)->allow_encoded_slashes, PATH_SLASHES_OFF);
    config_free(s);
    refused("Listen 8080\nAllowEncodedSlashes Yes\n",
            "test.conf:2: AllowEncodedSlashes must be On, Off or NoDecode");
}

Test(vhost, main_server_settings_after_the_vhost_are_inherited_too)
{
    struct server *s = load("Listen 8080\n"
                            "<VirtualHost *:8080>\nServerName a\n</VirtualHost>\n"
                            "DocumentRoot /srv/late\n"
                            "<Location /late>\nSetHandler cpu\n</Location>\n");
    cr_assert_str_eq(nth(s, 0)->document_root, "/srv/late");
    cr_assert_eq(handler_for(nth(s, 0), "/late/x"), &cpu_handler);
    config_free(s);
}

Test(vhost, locations_of_the_vhost_before_the_main_servers)
{
    struct server *s =
        load("Listen 8080\n"
             "<Location /server-status>\nSetHandler server-status\nRequire local\n</Location>\n"
             "<Location /w>\nSetHandler delay\n</Location>\n"
             "<VirtualHost *:8080>\n"
             "  ServerName a\n"
             "  <Location /w>\n    SetHandler cpu\n  </Location>\n"
             "  <Location /own>\n    SetHandler delay\n    Require all denied\n  </Location>\n"
             "</VirtualHost>\n"
             "<VirtualHost *:8080>\n  ServerName b\n</VirtualHost>\n");
    const struct vhost *a = nth(s, 0), *b = nth(s, 1);
    cr_assert_eq(handler_for(a, "/w/x"), &cpu_handler, "the same path: the vhost's decides");
    cr_assert_eq(handler_for(a, "/own/x"), &delay_handler);
    cr_assert_eq(handler_for(a, "/server-status"), &status_handler, "the main server's sections apply");
    cr_assert_not_null(authz_for(a, "/server-status"));
    cr_assert_not_null(authz_for(a, "/own"));
    cr_assert_eq(handler_for(b, "/w/x"), &delay_handler);
    cr_assert_eq(handler_for(b, "/own/x"), &static_handler, "another vhost's sections do not");
    cr_assert_null(authz_for(b, "/own"));
    cr_assert_eq(handler_for(&s->main, "/w/x"), &delay_handler);
    cr_assert_eq(handler_for(&s->main, "/own/x"), &static_handler);
    cr_assert(s->need_local_addr);
    config_free(s);
}

Test(vhost, require_local_in_a_vhost_needs_the_local_address)
{
    struct server *s = load("Listen 8080\n<VirtualHost *:8080>\n<Location />\nRequire local\n</Location>\n"
                            "</VirtualHost>\n");
    cr_assert(s->need_local_addr);
    config_free(s);
    s = load("Listen 8080\n<VirtualHost *:8080>\n</VirtualHost>\n");
    cr_assert_not(s->need_local_addr);
    config_free(s);
}

Test(vhost, inside_ifmodule_and_false_sections)
{
    struct server *s =
        load("Listen 8080\nMPM event\n"
             "<IfModule mpm_event_module>\n<VirtualHost *:8080>\nServerName e\n</VirtualHost>\n"
             "</IfModule>\n"
             "<IfModule mpm_worker_module>\n<VirtualHost *:8080>\nServerName w\n</VirtualHost>\n"
             "</IfModule>\n"
             "<VirtualHost *:8080>\n<IfModule mpm_event_module>\nServerName x\n</IfModule>\n"
             "</VirtualHost>\n");
    cr_assert_str_eq(nth(s, 0)->server_name, "e");
    cr_assert_str_eq(nth(s, 1)->server_name, "x");
    cr_assert_null(nth(s, 1)->next);
    config_free(s);
}

Test(vhost, included_files)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/conf/sites", conftest_dir);
    cr_assert_eq(mkdir(p, 0755), 0);
    conftest_write("conf/sites/a.conf", "<VirtualHost *:8080>\n  ServerName a\n</VirtualHost>\n");
    conftest_write("conf/sites/b.conf", "<VirtualHost *:8080>\n  ServerName b\n  Include conf/b-more.conf\n"
                                        "</VirtualHost>\n");
    conftest_write("conf/b-more.conf", "ServerAlias bb\n\nDocumentRoot /srv/b\n");
    struct server *s = load("Listen 8080\nIncludeOptional conf/sites/*.conf\n");
    cr_assert_str_eq(nth(s, 0)->server_name, "a");
    cr_assert_str_eq(nth(s, 1)->server_name, "b");
    cr_assert_str_eq(nth(s, 1)->names[0], "bb");
    cr_assert_str_eq(nth(s, 1)->document_root, "/srv/b");
    snprintf(p, sizeof(p), "%s/conf/sites/b.conf", conftest_dir);
    cr_assert_str_eq(nth(s, 1)->file, p, "-S names the file the section is in");
    cr_assert_eq(nth(s, 1)->line, 1);
    config_free(s);
    conftest_write("conf/b-more.conf", "ServerAlias bb\n\nPidFile x\n");
    refused("Listen 8080\nIncludeOptional conf/sites/*.conf\n",
            "conf/b-more.conf:3: PidFile cannot occur within "
            "<VirtualHost> section");
}

Test(vhost, errors_name_the_file_and_line)
{
    refused("Listen 8080\n<VirtualHost *:8080>\nServerName a\n",
            "test.conf:2: <VirtualHost> section is not closed");
    refused("Listen 8080\n<VirtualHost *:8080>\n<VirtualHost *:8081>\n</VirtualHost>\n</VirtualHost>\n",
            "test.conf:3: <VirtualHost> cannot occur within <VirtualHost> section");
    refused("Listen 8080\n<Location />\n<VirtualHost *:8080>\n</VirtualHost>\n</Location>\n",
            "test.conf:3: <VirtualHost> cannot occur within <Location> section");
    refused("Listen 8080\n</VirtualHost>\n", "test.conf:2: </VirtualHost> without matching opening section");
    refused("Listen 8080\n<VirtualHost *:8080>\n</Location>\n",
            "test.conf:3: </Location> without matching opening section");
    refused("Listen 8080\n<VirtualHost *:8080>\nListen 8081\n</VirtualHost>\n",
            "test.conf:3: Listen cannot occur within <VirtualHost> section");
    refused("Listen 8080\n<VirtualHost *:8080>\nPidFile x\n</VirtualHost>\n",
            "test.conf:3: PidFile cannot occur within <VirtualHost> section");
    refused("Listen 8080\n<VirtualHost *:8080>\nuser nobody\n</VirtualHost>\n",
            "test.conf:3: User cannot occur within <VirtualHost> section");
    refused("Listen 8080\nMPM worker\n<VirtualHost *:8080>\nThreadsPerChild 5\n</VirtualHost>\n",
            "test.conf:4: ThreadsPerChild cannot occur within <VirtualHost> section");
    refused("Listen 8080\n<VirtualHost *:8080>\nTimeout 5\n</VirtualHost>\n",
            "test.conf:3: Timeout cannot occur within <VirtualHost> section");
    refused("Listen 8080\n<VirtualHost *:8080>\nKeepAlive maybe\n</VirtualHost>\n",
            "test.conf:3: KeepAlive must be On or Off");
    refused("Listen 8080\n<VirtualHost *:8080>\nLimitRequestBody -1\n</VirtualHost>\n",
            "test.conf:3: LimitRequestBody takes one number");
    refused("Listen 8080\nServerAlias www.example\n",
            "test.conf:2: ServerAlias is only allowed inside <VirtualHost>");
    refused("Listen 8080\n<VirtualHost *:8080>\nServerAlias\n</VirtualHost>\n",
            "test.conf:3: ServerAlias takes one or more host names");
    refused("Listen 8080\n<VirtualHost *:8080>\nSetHandler cpu\n</VirtualHost>\n",
            "test.conf:3: SetHandler is only allowed inside <Location>");
    refused("Listen 8080\n<VirtualHost>\n</VirtualHost>\n",
            "test.conf:2: <VirtualHost> requires at least one argument");
    refused("Listen 8080\n<VirtualHost *:8080\n</VirtualHost>\n",
            "test.conf:2: <VirtualHost> directive missing closing '>'");
}

Test(vhost, bad_addresses)
{
    refused("Listen 8080\n<VirtualHost www.example.com:80>\n</VirtualHost>\n",
            "test.conf:2: <VirtualHost> bad address 'www.example.com:80'");
    refused("Listen 8080\n<VirtualHost *:0>\n</VirtualHost>\n",
            "test.conf:2: <VirtualHost> bad address '*:0'");
    refused("Listen 8080\n<VirtualHost *:65536>\n</VirtualHost>\n", "bad address '*:65536'");
    refused("Listen 8080\n<VirtualHost *:http>\n</VirtualHost>\n", "bad address '*:http'");
    refused("Listen 8080\n<VirtualHost ::1:80>\n</VirtualHost>\n", "write IPv6 addresses in brackets");
    refused("Listen 8080\n<VirtualHost [::1:80>\n</VirtualHost>\n", "bad address '[::1:80'");
    refused("Listen 8080\n<VirtualHost [127.0.0.1]:80>\n</VirtualHost>\n", "not an IPv6 address");
    refused("Listen 8080\n<VirtualHost 1.2.3:80>\n</VirtualHost>\n", "bad address '1.2.3:80'");
    refused("Listen 8080\n<VirtualHost :80>\n</VirtualHost>\n", "bad address ':80'");
}

Test(vhost, an_address_nobody_listens_on_is_a_warning)
{
    struct warnings w = {0};
    struct server *s = conftest_load_ok("",
                                        "Listen 127.0.0.1:8080\n"
                                        "<VirtualHost *:8080 127.0.0.1:* [::1]:8080>\n</VirtualHost>\n"
                                        "<VirtualHost 127.0.0.2:8080>\n</VirtualHost>\n"
                                        "<VirtualHost *:9090>\n</VirtualHost>\n",
                                        &w);
    char *got = conftest_warnings_text(&w);
    char want[2048];
    snprintf(
        want, sizeof(want),
        "httpd: WARNING: VirtualHost [::1]:8080 at %s:2 is on an address and port no Listen directive "
        "covers: it cannot be reached\n"
        "httpd: WARNING: VirtualHost 127.0.0.2:8080 at %s:4 is on an address and port no Listen directive "
        "covers: it cannot be reached\n"
        "httpd: WARNING: VirtualHost *:9090 at %s:6 is on an address and port no Listen directive covers: "
        "it cannot be reached\n",
        conftest_conf, conftest_conf, conftest_conf);
    cr_assert_str_eq(got, want);
    free(got);
    config_free(s);
}

/* ---- selection ---- */

static const char name_based[] = "Listen 8080\nListen 8081\n"
                                 "ServerName main.example\n"
                                 "<VirtualHost *:8080>\n"
                                 "  ServerName first.example\n"
                                 "</VirtualHost>\n"
                                 "<VirtualHost *:8080>\n"
                                 "  ServerName Second.Example\n"
                                 "  ServerAlias alias.example other.example\n"
                                 "  ServerAlias *.wild.example img?.example\n"
                                 "</VirtualHost>\n"
                                 "<VirtualHost *:8080>\n"
                                 "  ServerName third.example\n"
                                 "  ServerAlias *.example\n"
                                 "</VirtualHost>\n";

Test(vhost, by_host_in_configuration_order)
{
    struct server *s = load(name_based);
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "first.example"), "first.example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "second.example"), "Second.Example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "SECOND.EXAMPLE"), "Second.Example", "case-insensitive");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "second.example:8080"), "Second.Example",
                     "port ignored");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "second.example."), "Second.Example", "trailing dot");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "second.example.:8080"), "Second.Example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "other.example"), "Second.Example", "second alias");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "a.b.wild.example"), "Second.Example", "'*' spans dots");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "img1.example"), "Second.Example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "img12.example"), "third.example",
                     "'?' is one character");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "wild.example"), "third.example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "any.example"), "third.example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "first.example.org"), "first.example",
                     "no match: default");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "first.exampl"), "first.example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "irst.example"), "third.example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, ""), "first.example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, NULL), "first.example", "HTTP/1.0 without Host");
    cr_assert_str_eq(served_by(s, "10.9.8.7", 8080, "third.example"), "third.example", "*:8080: any address");
    cr_assert_str_eq(served_by(s, "::1", 8080, "third.example"), "third.example");
    /* port 8081 has no vhost: the main server, whatever the Host */
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8081, "third.example"), "main.example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8081, NULL), "main.example");
    config_free(s);
}

/* Many vhosts on one address: the first vhost in order with a matching name wins, whether the name is plain
 * (looked up in the set's table) or a wildcard of an earlier vhost. */
Test(vhost, many_vhosts_first_match_in_order)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cr_assert_not_null(f);
    fputs("Listen 8080\n", f);
    for (int i = 0; i < 1000; i++) {
        fprintf(
            f,
            "<VirtualHost *:8080>\n  ServerName Host%d.Example\n  ServerAlias alias%d.example dup.example\n",
            i, i);
        if (i == 500)
            fputs("  ServerAlias *.wild.example host7??.example\n", f);
        if (i == 900)
            fputs("  ServerAlias host3.example *.late.example host9*\n", f);
        fputs("</VirtualHost>\n", f);
    }
    fclose(f);
    struct server *s = load(text);
    free(text);
    for (int i = 0; i < 1000; i += 37) {
        char host[64], name[64];
        snprintf(name, sizeof(name), "Host%d.Example", i);
        snprintf(host, sizeof(host), "HOST%d.example.:8080", i);
        if (i >= 700 && i < 800)
            snprintf(name, sizeof(name), "Host500.Example"); /* vhost 500's host7?? comes first */
        if (i > 900)
            snprintf(name, sizeof(name), "Host900.Example"); /* vhost 900's host9* likewise */
        cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, host), name, "%s", host);
        snprintf(host, sizeof(host), "alias%d.example", i);
        snprintf(name, sizeof(name), "Host%d.Example", i);
        cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, host), name, "%s", host);
    }
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "dup.example"), "Host0.Example",
                     "the first with the name");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "x.wild.example"), "Host500.Example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "x.late.example"), "Host900.Example");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "host3.example"), "Host3.Example", "plain, earlier");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "host950.example"), "Host900.Example",
                     "host9* of vhost 900 comes before vhost 950");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "host99.example"), "Host99.Example", "before vhost 900");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "host1000.example"), "Host0.Example", "none: the first");
    config_free(s);
}

Test(vhost, find_name_is_separate_from_the_default)
{
    struct server *s = load(name_based);
    socklen_t len;
    struct sockaddr_storage ss = addr("127.0.0.1", 8080, &len);
    const struct vhost_set *set = vhost_by_addr(s, (struct sockaddr *)&ss, len);
    cr_assert_not_null(set);
    cr_assert_eq(set->n, 3);
    cr_assert_null(vhost_find_name(set, "nothing.org"));
    cr_assert_null(vhost_find_name(set, NULL));
    cr_assert_null(vhost_find_name(NULL, "first.example"));
    cr_assert_eq(vhost_find_name(set, "alias.example"), nth(s, 1));
    cr_assert_eq(vhost_default(s, set), nth(s, 0));
    cr_assert_eq(vhost_default(s, NULL), &s->main);
    /* what a TLS layer calls with the SNI name */
    cr_assert_eq(vhost_select(s, (struct sockaddr *)&ss, len, "alias.example"), nth(s, 1));
    cr_assert_eq(vhost_select(s, (struct sockaddr *)&ss, len, "nothing.org"), nth(s, 0));
    cr_assert_eq(vhost_select(s, (struct sockaddr *)&ss, len, NULL), nth(s, 0));
    ss = addr("127.0.0.1", 8081, &len);
    cr_assert_eq(vhost_select(s, (struct sockaddr *)&ss, len, "alias.example"), &s->main);
    config_free(s);
}

Test(vhost, most_specific_address_wins)
{
    struct server *s =
        load("Listen 8080\nListen 8081\nListen 8082\n"
             "ServerName main\n"
             "<VirtualHost *:8080>\n  ServerName star\n  ServerAlias both\n</VirtualHost>\n"
             "<VirtualHost 127.0.0.1:8080>\n  ServerName lo\n</VirtualHost>\n"
             "<VirtualHost 127.0.0.1:8080>\n  ServerName lo2\n  ServerAlias both\n</VirtualHost>\n"
             "<VirtualHost 127.0.0.2:*>\n  ServerName lo-anyport\n</VirtualHost>\n"
             "<VirtualHost 127.0.0.2:8081>\n  ServerName lo-8081\n</VirtualHost>\n"
             "<VirtualHost *:*>\n  ServerName anything\n</VirtualHost>\n"
             "<VirtualHost [::1]:8080>\n  ServerName six\n</VirtualHost>\n");
    /* an address of its own before "*": the *:8080 vhost is not reachable from 127.0.0.1, even by name */
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, NULL), "lo");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "lo2"), "lo2");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "both"), "lo2");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "star"), "lo");
    cr_assert_str_eq(served_by(s, "127.0.0.3", 8080, "both"), "star");
    cr_assert_str_eq(served_by(s, "127.0.0.3", 8080, "lo2"), "star");
    /* an exact port before any port */
    cr_assert_str_eq(served_by(s, "127.0.0.2", 8081, NULL), "lo-8081");
    cr_assert_str_eq(served_by(s, "127.0.0.2", 8082, NULL), "lo-anyport");
    cr_assert_str_eq(served_by(s, "127.0.0.2", 8080, NULL), "lo-anyport");
    cr_assert_str_eq(served_by(s, "127.0.0.3", 8082, NULL), "anything");
    /* IPv6, and IPv4 mapped into IPv6 as IPv4 */
    cr_assert_str_eq(served_by(s, "::1", 8080, NULL), "six");
    cr_assert_str_eq(served_by(s, "::2", 8080, NULL), "star");
    cr_assert_str_eq(served_by(s, "::ffff:127.0.0.1", 8080, NULL), "lo");
    config_free(s);
}

Test(vhost, the_vhost_address_as_a_last_resort_name)
{
    struct server *s = load("Listen 8080\n"
                            "<VirtualHost 127.0.0.1:8080>\n  ServerName a\n</VirtualHost>\n"
                            "<VirtualHost 127.0.0.1:8080>\n  ServerName b\n</VirtualHost>\n"
                            "<VirtualHost [::1]:8080>\n  ServerName c\n</VirtualHost>\n"
                            "<VirtualHost [::1]:8080>\n  ServerName d\n</VirtualHost>\n");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "127.0.0.1:8080"), "a");
    cr_assert_str_eq(served_by(s, "127.0.0.1", 8080, "b"), "b");
    cr_assert_str_eq(served_by(s, "::1", 8080, "[::1]:8080"), "c");
    cr_assert_str_eq(served_by(s, "::1", 8080, "D"), "d");
    config_free(s);
}

Test(vhost, wildcards)
{
    cr_assert(vhost_wild_match("*.example.com", "www.example.com", 15));
    cr_assert(vhost_wild_match("*.example.com", "a.b.example.com", 15));
    cr_assert_not(vhost_wild_match("*.example.com", "example.com", 11));
    cr_assert(vhost_wild_match("*", "anything", 8));
    cr_assert(vhost_wild_match("*", "", 0));
    cr_assert(vhost_wild_match("w?w.*", "WWW.x", 5), "case-insensitive");
    cr_assert_not(vhost_wild_match("w?w.*", "ww.x", 4));
    cr_assert(vhost_wild_match("a*b*c", "aXXbYYc", 7));
    cr_assert_not(vhost_wild_match("a*b*c", "aXXbYY", 6));
    cr_assert(vhost_wild_match("*.example.com", "www.example.com:80", 15), "only the first n bytes");
    cr_assert_not(vhost_wild_match("www.example.com", "www.example.co", 14));
}

/* ---- what the listeners are told ---- */

static const struct listener *listener(const struct server *s, int n)
{
    const struct listener *l = s->listeners;
    for (; l != NULL && n > 0; n--)
        l = l->next;
    cr_assert_not_null(l);
    return l;
}

Test(vhost, listeners_know_their_set_when_they_can)
{
    struct server *s = load("Listen 8080\nListen 127.0.0.1:8081\nListen 8082\nListen 8083\nListen [::]:8084\n"
                            "<VirtualHost *:8080>\nServerName a\n</VirtualHost>\n"
                            "<VirtualHost *:8080>\nServerName b\n</VirtualHost>\n"
                            "<VirtualHost 127.0.0.1:8081>\nServerName c\n</VirtualHost>\n"
                            "<VirtualHost *:8082>\nServerName d\n</VirtualHost>\n"
                            "<VirtualHost 127.0.0.2:8082>\nServerName e\n</VirtualHost>\n"
                            "<VirtualHost [::1]:*>\nServerName f\n</VirtualHost>\n");
    /* every vhost on 8080 is *:8080: no getsockname() */
    cr_assert_not(listener(s, 0)->vhosts_by_addr);
    cr_assert_eq(listener(s, 0)->vhosts->n, 2);
    cr_assert_str_eq(listener(s, 0)->vhosts->hosts[0]->server_name, "a");
    /* bound to one address: its set */
    cr_assert_not(listener(s, 1)->vhosts_by_addr);
    cr_assert_str_eq(listener(s, 1)->vhosts->hosts[0]->server_name, "c");
    /* "*" with a vhost of an address of its own on the port: the local address decides */
    cr_assert(listener(s, 2)->vhosts_by_addr);
    /* no vhost on the port: the main server, without a lookup */
    cr_assert_not(listener(s, 3)->vhosts_by_addr);
    cr_assert_null(listener(s, 3)->vhosts);
    /* [::1]:* covers every port of an IPv6 "*" listener */
    cr_assert(listener(s, 4)->vhosts_by_addr);
    config_free(s);

    s = load("Listen 8080\n");
    cr_assert_null(s->vhost_map);
    cr_assert_not(listener(s, 0)->vhosts_by_addr);
    cr_assert_null(listener(s, 0)->vhosts);
    config_free(s);
}

/* ---- -S ---- */

static char *dump(const struct server *s)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    cr_assert_not_null(f);
    vhost_dump(s, f);
    fclose(f);
    return text;
}

Test(vhost, dump_as_apache)
{
    struct server *s = load("Listen 8080\nListen 8081\n"
                            "<VirtualHost *:8080>\n"
                            "  ServerName a.example\n"
                            "  ServerAlias www.a.example *.a.test\n"
                            "  ServerAlias a2.example\n"
                            "</VirtualHost>\n"
                            "<VirtualHost *:8080 127.0.0.1:8081>\n"
                            "  ServerName b.example\n"
                            "</VirtualHost>\n"
                            "<VirtualHost [::1]:*>\n"
                            "  ServerName six.example\n"
                            "</VirtualHost>\n"
                            "<VirtualHost *>\n"
                            "  ServerName any.example\n"
                            "</VirtualHost>\n");
    char want[4096];
    const char *f = conftest_conf;
    snprintf(want, sizeof(want),
             "VirtualHost configuration:\n"
             "127.0.0.1:8081         b.example (%s:8)\n"
             "[::1]:*                six.example (%s:11)\n"
             "*:8080                 is a NameVirtualHost\n"
             "         default server a.example (%s:3)\n"
             "         port 8080 namevhost a.example (%s:3)\n"
             "                 alias www.a.example\n"
             "                 alias a2.example\n"
             "                 wild alias *.a.test\n"
             "         port 8080 namevhost b.example (%s:8)\n"
             "*:*                    any.example (%s:14)\n",
             f, f, f, f, f, f);
    char *got = dump(s);
    cr_assert_str_eq(got, want);
    free(got);
    config_free(s);

    s = load("Listen 8080\n");
    got = dump(s);
    cr_assert_str_eq(got, "VirtualHost configuration:\n");
    free(got);
    config_free(s);
}
