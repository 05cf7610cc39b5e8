/*
 * Access control: Require lines read through the real configuration reader, addresses and masks (IPv4,
 * IPv6, partial, netmask, IPv4-mapped clients), `local`, negation and the containers' logic, which <Location>
 * decides for a path, and configuration errors with file:line.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz.c"
#include "config.h"
#include "conftest.h"
#include "http.h"
#include "server.h"

static struct server *srv;

static void teardown(void)
{
    config_free(srv);
    srv = NULL;
    conftest_teardown();
}

TestSuite(authz, .init = conftest_setup, .fini = teardown);

#define LISTEN "Listen 8080\n"

/* Loads a configuration that must be valid (freed by teardown, or by the next call). */
static void use(const char *text)
{
    config_free(srv);
    srv = conftest_load_ok(LISTEN, text, NULL);
}

/* A request for path from peer ("10.1.2.3", "::1"; NULL: address unknown). */
static struct request req(const char *path, const char *peer)
{
    struct request r = {.server = srv, .vhost = srv != NULL ? &srv->main : NULL, .path = path};
    if (peer == NULL)
        return r;
    if (inet_pton(AF_INET, peer, r.peer_addr) == 1)
        r.peer_family = AF_INET;
    else if (inet_pton(AF_INET6, peer, r.peer_addr) == 1)
        r.peer_family = AF_INET6;
    else
        cr_assert_fail("bad test address %s", peer);
    return r;
}

/* The verdict of the loaded configuration for path and peer: what authz_check() decides. */
static int allowed(const char *path, const char *peer)
{
    struct request r = req(path, peer);
    return authz_check(&r);
}

static void expect(const char *path, const char *peer, int want)
{
    cr_expect_eq(allowed(path, peer), want, "%s from %s: %s, want %s", path, peer ? peer : "(unknown)",
                 want ? "denied" : "granted", want ? "granted" : "denied");
}

#define GRANTED(path, peer) expect(path, peer, 1)
#define DENIED(path, peer)  expect(path, peer, 0)

/* "<Location /x>\n" + body + "</Location>\n" */
static void use_x(const char *body)
{
    char text[2048];
    snprintf(text, sizeof(text), "<Location /x>\n%s</Location>\n", body);
    use(text);
}

/* ---- addresses ---- */

struct subnet_case {
    const char *arg;
    int family;
    const char *addr; /* network address after masking, as text */
    int bits;         /* prefix length the mask must have */
};

static int mask_bits(const struct subnet *n)
{
    int bits = 0, len = n->family == AF_INET ? 4 : 16;
    for (int i = 0; i < len; i++)
        for (int b = 7; b >= 0; b--)
            bits += (n->mask[i] >> b) & 1;
    return bits;
}

Test(authz, subnets_as_apr_parses_them)
{
    static const struct subnet_case cases[] = {
        {"192.0.2.7", AF_INET, "192.0.2.7", 32},
        {"192.0.2.77/24", AF_INET, "192.0.2.0", 24},
        {"10.0.0.0/255.255.0.0", AF_INET, "10.0.0.0", 16},
        {"10.9.8.7/1", AF_INET, "0.0.0.0", 1},
        {"10.1", AF_INET, "10.1.0.0", 16}, /* partial forms, as Apache's */
        {"10.1.", AF_INET, "10.1.0.0", 16},
        {"10", AF_INET, "10.0.0.0", 8},
        {"172.20.5", AF_INET, "172.20.5.0", 24},
        {"10.1.2.3.", AF_INET, "10.1.2.3", 32},
        {"::1", AF_INET6, "::1", 128},
        {"2001:db8::/32", AF_INET6, "2001:db8::", 32},
        {"2001:db8:ffff::1/33", AF_INET6, "2001:db8:8000::", 33},
        {"fe80::1/10", AF_INET6, "fe80::", 10},
    };
    struct pool *p = pool_create(1024);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct subnet n;
        char text[INET6_ADDRSTRLEN];
        const char *msg = parse_subnet(p, cases[i].arg, &n);
        cr_assert_null(msg, "%s: %s", cases[i].arg, msg);
        cr_expect_eq(n.family, cases[i].family, "%s: family", cases[i].arg);
        cr_assert_not_null(inet_ntop(n.family, n.addr, text, sizeof(text)));
        cr_expect_str_eq(text, cases[i].addr, "%s: network", cases[i].arg);
        cr_expect_eq(mask_bits(&n), cases[i].bits, "%s: mask", cases[i].arg);
    }
    pool_destroy(p);
}

Test(authz, bad_subnets_are_refused)
{
    static const char *const bad[] = {
        "",
        "10.1/16", /* a partial address takes no mask (apr) */
        "256.1",
        "1..2",
        ".1",
        "10.1.2.3.4",
        "1.2.3.4/0", /* Apache refuses /0 */
        "1.2.3.4/33",
        "1.2.3.4/",
        "1.2.3.4/8x",
        "1.2.3.4/-8",
        "1.2.3.4/255.255.0.zz",
        "::1/0",
        "::1/129",
        "::1/ffff::", /* no netmask form for IPv6 */
        "::1/255.255.0.0",
        "::ffff:10.1.2.3", /* IPv4 is written a.b.c.d */
        "1::2::3",
        "example.com",
        "localhost",
    };
    struct pool *p = pool_create(1024);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct subnet n;
        cr_expect_not_null(parse_subnet(p, bad[i], &n), "'%s' accepted", bad[i]);
    }
    pool_destroy(p);
}

Test(authz, ipv4_addresses_masks_and_several_per_line)
{
    use_x("Require ip 10.0.0.0/8 192.0.2.1 198.51.100.0/255.255.255.0\n");
    GRANTED("/x", "10.0.0.1");
    GRANTED("/x", "10.255.255.255");
    DENIED("/x", "11.0.0.1");
    DENIED("/x", "9.255.255.255");
    GRANTED("/x", "192.0.2.1");
    DENIED("/x", "192.0.2.2");
    GRANTED("/x", "198.51.100.200");
    DENIED("/x", "198.51.101.1");
    DENIED("/x", "::1");
    DENIED("/x", NULL);
}

Test(authz, partial_ipv4_addresses)
{
    use_x("Require ip 10.1 172.16.5.\n");
    GRANTED("/x", "10.1.0.0");
    GRANTED("/x", "10.1.200.3");
    DENIED("/x", "10.2.0.1");
    DENIED("/x", "10.0.1.1");
    GRANTED("/x", "172.16.5.9");
    DENIED("/x", "172.16.6.9");
}

Test(authz, ipv6_addresses_and_masks)
{
    use_x("Require ip 2001:db8::/32 ::1\n");
    GRANTED("/x", "2001:db8::1");
    GRANTED("/x", "2001:db8:ffff:1::5");
    DENIED("/x", "2001:db9::1");
    GRANTED("/x", "::1");
    DENIED("/x", "::2");
    DENIED("/x", "127.0.0.1"); /* ::1 is not 127.0.0.1 */
    DENIED("/x", "32.1.13.184");
}

/* A client on an IPv6 socket with an IPv4-mapped address is matched as IPv4, as APR does. */
Test(authz, ipv4_mapped_clients_match_ipv4_subnets)
{
    use_x("Require ip 10.0.0.0/8\n");
    GRANTED("/x", "::ffff:10.1.2.3");
    DENIED("/x", "::ffff:11.1.2.3");
    use_x("Require ip ::/1\n");
    DENIED("/x", "::ffff:10.1.2.3");
    GRANTED("/x", "::5");
}

/* ---- providers and logic ---- */

Test(authz, all_granted_and_denied)
{
    use_x("Require all granted\n");
    GRANTED("/x", "192.0.2.1");
    GRANTED("/x", NULL);
    use_x("Require all denied\n");
    DENIED("/x", "127.0.0.1");
    DENIED("/x", "::1");
}

/* Apache's `local`: 127.0.0.0/8 (so 127.0.0.2 too), ::1, or the connection's own address. */
Test(authz, local)
{
    use_x("Require local\n");
    GRANTED("/x", "127.0.0.1");
    GRANTED("/x", "127.0.0.2");
    GRANTED("/x", "127.255.255.254");
    GRANTED("/x", "::1");
    GRANTED("/x", "::ffff:127.0.0.2");
    DENIED("/x", "128.0.0.1");
    DENIED("/x", "10.0.0.1");
    DENIED("/x", "::2");
    DENIED("/x", "fe80::1");
    DENIED("/x", NULL);

    /* a client connecting from the server's own address (peer_local) is local whatever that address is */
    struct request r = req("/x", "192.0.2.10");
    r.peer_local = 1;
    cr_expect_eq(authz_check(&r), 1);
    r = req("/x", "2001:db8::10");
    r.peer_local = 1;
    cr_expect_eq(authz_check(&r), 1);
    r.peer_local = 0;
    cr_expect_eq(authz_check(&r), 0);
}

Test(authz, several_lines_are_an_implicit_require_any)
{
    use_x("Require ip 192.0.2.0/24\nRequire local\n");
    GRANTED("/x", "192.0.2.9");
    GRANTED("/x", "127.0.0.3");
    DENIED("/x", "198.51.100.1");
    use_x("Require all denied\nRequire ip 192.0.2.9\n");
    GRANTED("/x", "192.0.2.9");
    DENIED("/x", "192.0.2.8");
}

Test(authz, require_not_inside_require_all)
{
    use_x("<RequireAll>\n  Require all granted\n  Require not ip 127.0.0.2\n</RequireAll>\n");
    GRANTED("/x", "127.0.0.1");
    GRANTED("/x", "192.0.2.1");
    DENIED("/x", "127.0.0.2");
    use_x("<RequireAll>\n  Require local\n  Require not ip 127.0.0.2 ::1\n</RequireAll>\n");
    GRANTED("/x", "127.0.0.1");
    DENIED("/x", "127.0.0.2");
    DENIED("/x", "::1");
    DENIED("/x", "192.0.2.1");
}

Test(authz, require_all_needs_every_line)
{
    use_x("<RequireAll>\n  Require ip 10.0.0.0/8\n  Require ip 10.1\n</RequireAll>\n");
    GRANTED("/x", "10.1.2.3");
    DENIED("/x", "10.2.2.3");
    DENIED("/x", "192.0.2.1");
}

Test(authz, nested_containers)
{
    use_x("Require ip 10.0.0.0/8\n"
          "<RequireAll>\n"
          "  <RequireAny>\n"
          "    Require local\n"
          "    Require ip 192.0.2.0/24\n"
          "  </RequireAny>\n"
          "  Require not ip 127.0.0.2 192.0.2.66\n"
          "</RequireAll>\n");
    GRANTED("/x", "10.9.9.9");
    GRANTED("/x", "127.0.0.1");
    GRANTED("/x", "192.0.2.1");
    DENIED("/x", "127.0.0.2");
    DENIED("/x", "192.0.2.66");
    DENIED("/x", "198.51.100.1");
}

Test(authz, require_none_inside_require_all)
{
    use_x("<RequireAll>\n"
          "  Require ip 192.0.2.0/24\n"
          "  <RequireNone>\n"
          "    Require ip 192.0.2.7 192.0.2.8\n"
          "    Require ip 192.0.2.128/25\n"
          "  </RequireNone>\n"
          "</RequireAll>\n");
    GRANTED("/x", "192.0.2.1");
    GRANTED("/x", "192.0.2.127");
    DENIED("/x", "192.0.2.7");
    DENIED("/x", "192.0.2.8");
    DENIED("/x", "192.0.2.200");
    DENIED("/x", "198.51.100.1");
}

/* Negation never grants: "not denied" is NEUTRAL, and a rule that ends NEUTRAL refuses (Apache). */
Test(authz, neutral_refuses)
{
    struct subnet net;
    struct pool *p = pool_create(1024);
    cr_assert_null(parse_subnet(p, "192.0.2.1", &net));
    struct node line = {.kind = NODE_IP, .negate = 1, .nets = &net, .n_nets = 1};
    struct authz a = {.root = {.kind = NODE_OR, .first = &line}};
    struct request r = req("/x", "198.51.100.1");
    cr_expect_eq(authz_eval(&a, &r), AUTHZ_NEUTRAL);
    r = req("/x", "192.0.2.1");
    cr_expect_eq(authz_eval(&a, &r), AUTHZ_DENIED);
    /* an AND of a grant and a neutral line grants */
    struct node all = {.kind = NODE_ALL, .granted = 1, .next = &line};
    struct node and = {.kind = NODE_AND, .first = &all};
    a.root.first = &and;
    r = req("/x", "198.51.100.1");
    cr_expect_eq(authz_eval(&a, &r), AUTHZ_GRANTED);
    pool_destroy(p);
}

/* ---- which <Location> decides ---- */

#define LOCATIONS_GENERAL_FIRST                                                                              \
    "<Location />\n  Require all denied\n</Location>\n"                                                      \
    "<Location /pub>\n  Require all granted\n</Location>\n"                                                  \
    "<Location /pub/deep>\n  SetHandler none\n</Location>\n"                                                 \
    "<Location /status>\n  SetHandler server-status\n</Location>\n"                                          \
    "<Location /status>\n  Require local\n</Location>\n"
#define LOCATIONS_GENERAL_LAST                                                                               \
    "<Location /status>\n  Require local\n</Location>\n"                                                     \
    "<Location /status>\n  SetHandler server-status\n</Location>\n"                                          \
    "<Location /pub/deep>\n  SetHandler none\n</Location>\n"                                                 \
    "<Location /pub>\n  Require all granted\n</Location>\n"                                                  \
    "<Location />\n  Require all denied\n</Location>\n"

/* The longest matching <Location> with Require lines decides, whatever the order in the file. */
static void check_longest_prefix(void)
{
    GRANTED("/pub", "192.0.2.1");
    GRANTED("/pub/file.html", "192.0.2.1");
    GRANTED("/pub/deep/x", "192.0.2.1"); /* no Require of its own: /pub's */
    DENIED("/publication", "192.0.2.1"); /* not under /pub: / decides */
    DENIED("/", "192.0.2.1");
    DENIED("/other/x", "127.0.0.1");
    GRANTED("/status", "127.0.0.1");
    GRANTED("/status/x", "127.0.0.2");
    DENIED("/status", "192.0.2.1");
}

Test(authz, longest_location_decides)
{
    use(LOCATIONS_GENERAL_FIRST);
    check_longest_prefix();
    use(LOCATIONS_GENERAL_LAST);
    check_longest_prefix();
}

/* Of two sections of the same path the later one decides (Apache's AuthMerging Off). */
Test(authz, same_path_later_section_decides)
{
    use("<Location /s>\n  Require all denied\n</Location>\n<Location /s>\n  Require all "
        "granted\n</Location>\n");
    GRANTED("/s", "192.0.2.1");
    use("<Location /s>\n  Require all granted\n</Location>\n<Location /s>\n  Require all "
        "denied\n</Location>\n");
    DENIED("/s", "192.0.2.1");
}

Test(authz, no_rule_grants)
{
    use("<Location /x>\n  SetHandler server-status\n</Location>\n");
    cr_expect_null(authz_for(&srv->main, "/x"));
    GRANTED("/x", "192.0.2.1");
    GRANTED("/", NULL);
    use("<Location /x>\n  Require all denied\n</Location>\n");
    GRANTED("/y", "192.0.2.1");
    GRANTED("*", "192.0.2.1"); /* OPTIONS * is under no Location */
    cr_expect_not_null(authz_for(&srv->main, "/x/"));
}

/* Lines in an <IfModule> that is false are skipped with it. */
Test(authz, inside_false_ifmodule)
{
    use("<Location /x>\n  <IfModule !core>\n    Require all denied\n  </IfModule>\n  Require local\n"
        "</Location>\n");
    GRANTED("/x", "127.0.0.1");
    DENIED("/x", "192.0.2.1");
    use("<IfModule !core>\n<Location /x>\n  Require all denied\n</Location>\n</IfModule>\n");
    GRANTED("/x", "192.0.2.1");
}

Test(authz, names_are_case_insensitive)
{
    use_x("<requireall>\n  REQUIRE All Granted\n  require NOT IP 127.0.0.2\n</REQUIREALL>\n");
    GRANTED("/x", "127.0.0.1");
    DENIED("/x", "127.0.0.2");
}

/* ---- errors ---- */

struct error_case {
    const char *conf; /* appended after "Listen 8080\n" (line 1) */
    const char *want; /* the whole message after the file name */
};

Test(authz, errors_name_file_line_and_directive)
{
    static const struct error_case cases[] = {
        {"<Location /x>\nRequire foo bar\n</Location>\n",
         ":3: Require: unknown provider 'foo' (this server has all, local and ip)"},
        {"<Location /x>\nRequire host example.com\n</Location>\n",
         ":3: Require: unknown provider 'host' (this server has all, local and ip)"},
        {"<Location /x>\nRequire\n</Location>\n", ":3: Require takes a provider and its arguments"},
        {"<Location /x>\nRequire not\n</Location>\n", ":3: Require not takes a provider and its arguments"},
        {"<Location /x>\nRequire all\n</Location>\n",
         ":3: Require all takes one argument, granted or denied"},
        {"<Location /x>\nRequire all allowed\n</Location>\n",
         ":3: Require all takes one argument, granted or denied"},
        {"<Location /x>\nRequire all granted denied\n</Location>\n",
         ":3: Require all takes one argument, granted or denied"},
        {"<Location /x>\nRequire local 10.0.0.1\n</Location>\n", ":3: Require local takes no arguments"},
        {"<Location /x>\nRequire ip\n</Location>\n", ":3: Require ip takes one or more addresses"},
        {"<Location /x>\nRequire ip 10.0.0.1 10.0.0.300\n</Location>\n",
         ":3: Require ip '10.0.0.300' is not a valid IP address"},
        {"<Location /x>\nRequire ip 10.1/16\n</Location>\n",
         ":3: Require ip '10.1/16' is not a valid IP address (a partial address like 10.1 takes no mask)"},
        {"<Location /x>\nRequire ip 10.0.0.0/33\n</Location>\n",
         ":3: Require ip '10.0.0.0/33': invalid mask"},
        {"<Location /x>\nRequire ip 0.0.0.0/0\n</Location>\n",
         ":3: Require ip '0.0.0.0/0': a mask of 0 bits is refused"},
        {"<Location /x>\nRequire ip www.example.com\n</Location>\n",
         ":3: Require ip 'www.example.com' is not an IP address"},
        {"<Location /x>\nRequire not ip 10.0.0.1\n</Location>\n",
         ":3: Require not has no effect in its section (an implicit <RequireAny>)"},
        {"<Location /x>\n<RequireAny>\nRequire all granted\nRequire not ip "
         "10.0.0.1\n</RequireAny>\n</Location>\n",
         ":5: Require not has no effect in <RequireAny> (line 3)"},
        {"<Location /x>\n<RequireAll>\n<RequireNone>\nRequire not local\n</RequireNone>\n</RequireAll>\n"
         "</Location>\n",
         ":5: Require not has no effect in <RequireNone> (line 4)"},
        {"<Location /x>\n<RequireNone>\nRequire ip 10.0.0.1\n</RequireNone>\n</Location>\n",
         ":3: <RequireNone> has no effect in its section (an implicit <RequireAny>)"},
        {"<Location /x>\n<RequireAll>\nRequire not ip 10.0.0.1\n</RequireAll>\n</Location>\n",
         ":3: <RequireAll> contains only negative Require lines"},
        {"<Location /x>\n<RequireAll>\n</RequireAll>\n</Location>\n",
         ":3: <RequireAll> contains no Require lines"},
        {"<Location /x>\n<RequireAll>\nRequire all granted\n</Location>\n",
         ":3: <RequireAll> section is not closed"},
        {"<Location /x>\n<RequireAll>\nRequire all granted\n</RequireAny>\n</Location>\n",
         ":5: </RequireAny> cannot close <RequireAll> (opened at line 3)"},
        {"<Location /x>\nRequire all granted\n</RequireAll>\n</Location>\n",
         ":4: </RequireAll> without matching <RequireAll>"},
        {"<Location /x>\n<RequireAll x>\n</Location>\n", ":3: <RequireAll> takes no arguments"},
        {"Require all granted\n", ":2: Require is only allowed inside <Location> or <Proxy>"},
        {"<RequireAll>\nRequire all granted\n</RequireAll>\n",
         ":2: <RequireAll> is only allowed inside <Location> or <Proxy>"},
        {"<RequireAllx>\n", ":2: unknown section '<RequireAllx>'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct errbuf err;
        struct server *s = conftest_load(LISTEN, cases[i].conf, NULL, &err);
        cr_expect_null(s, "accepted:\n%s", cases[i].conf);
        config_free(s);
        if (s != NULL)
            continue;
        char want[700];
        snprintf(want, sizeof(want), "%s%s", conftest_conf, cases[i].want);
        cr_expect(strncmp(err.msg, want, strlen(want)) == 0, "config:\n%s\ngot:  %s\nwant: %s...",
                  cases[i].conf, err.msg, want);
    }
}

Test(authz, nesting_is_bounded)
{
    char text[4096] = "<Location /x>\n";
    for (int i = 0; i < AUTHZ_MAX_DEPTH + 1; i++)
        strcat(text, "<RequireAll>\n");
    struct errbuf err;
    struct server *s = conftest_load(LISTEN, text, NULL, &err);
    cr_assert_null(s);
    cr_expect(strstr(err.msg, ":19: <RequireAll> nested too deeply") != NULL, "%s", err.msg);
}

/* ---- the shipped configurations ---- */

Test(authz, shipped_configurations_keep_server_status_local)
{
    static const char *const names[] = {"conf/httpd.conf", "conf/prefork.conf", "conf/worker.conf",
                                        "conf/event.conf"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct errbuf err;
        struct config_args args = {CONFTEST_ARGS, .conf_file = conftest_source_file(names[i])};
        config_free(srv);
        srv = config_load(&args, NULL, &err);
        cr_assert_not_null(srv, "%s: %s", args.conf_file, err.msg);
        cr_expect_not_null(authz_for(&srv->main, "/server-status"), "%s: no Require on /server-status",
                           names[i]);
        GRANTED("/server-status", "127.0.0.1");
        GRANTED("/server-status", "127.0.0.2");
        GRANTED("/server-status", "::1");
        DENIED("/server-status", "192.0.2.1");
        DENIED("/server-status", "2001:db8::1");
        GRANTED("/index.html", "192.0.2.1");
    }
}
