/*
 * The proxy's directives and URL mapping: ProxyPass at the top level and in <Location>, exclusions, the
 * longest prefix, worker parameters and their defaults, and the configuration errors with their file:line.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "conftest.h"
#include "proxy_conf.h"

TestSuite(proxy_conf, .init = conftest_setup, .fini = conftest_teardown);

#define HEAD "Listen 127.0.0.1:8080\nTimeout 30\n"

Test(proxy_conf, mapping_longest_prefix_and_exclusions)
{
    struct server *s =
        conftest_load_ok(HEAD,
                         "ProxyPass /app/ http://127.0.0.1:9000/\n"
                         "ProxyPass /app/static/ !\n"
                         "ProxyPass /app/api/ http://127.0.0.1:9001/v1/\n"
                         "<Location /loc/>\n  ProxyPass http://127.0.0.1:9002/x/\n</Location>\n"
                         "<Location /loc/skip/>\n  ProxyPass !\n</Location>\n",
                         NULL);
    const struct proxy_conf *pc = s->proxy;
    cr_assert_not_null(pc);
    cr_assert_eq(pc->n_workers, 3);
    const struct proxy_pass *pp = proxy_match(pc, "/app/index.html");
    cr_assert_not_null(pp);
    cr_assert_str_eq(pp->worker->addr_text, "127.0.0.1:9000");
    cr_assert_str_eq(pp->worker->path, "/");
    pp = proxy_match(pc, "/app/api/users");
    cr_assert_not_null(pp);
    cr_assert_str_eq(pp->worker->path, "/v1/");
    cr_assert_null(proxy_match(pc, "/app/static/a.css"));
    cr_assert_null(proxy_match(pc, "/ap"));
    cr_assert_null(proxy_match(pc, "/other"));
    pp = proxy_match(pc, "/loc/a");
    cr_assert_not_null(pp);
    cr_assert_str_eq(pp->prefix, "/loc/");
    cr_assert_str_eq(pp->worker->hostport, "127.0.0.1:9002");
    cr_assert_null(proxy_match(pc, "/loc/skip/a"));
    config_free(s);
}

Test(proxy_conf, worker_parameters_and_defaults)
{
    struct server *s = conftest_load_ok(HEAD,
                                        "ProxyPass /a/ http://localhost/ connectiontimeout=2 timeout=7 max=3 "
                                        "ttl=9 disablereuse=On retry=0\n"
                                        "ProxyPass /b/ http://[::1]:8081/b\n"
                                        "ProxyTimeout 12\n",
                                        NULL);
    const struct proxy_worker *a = s->proxy->workers, *b = a->next;
    cr_assert_eq(a->connect_timeout, 2000);
    cr_assert_eq(a->timeout, 7000);
    cr_assert_eq(a->max, 3);
    cr_assert_eq(a->ttl, 9);
    cr_assert_eq(a->disable_reuse, 1);
    cr_assert_eq(a->retry, 0);
    cr_assert_eq(a->port, 80);
    cr_assert_str_eq(a->hostport, "localhost");
    cr_assert_eq(b->timeout, 12000, "ProxyTimeout is the default timeout=");
    cr_assert_eq(b->connect_timeout, 12000);
    cr_assert_eq(b->retry, 60);
    cr_assert_gt(b->max, 0);
    cr_assert_str_eq(b->host, "::1");
    cr_assert_str_eq(b->hostport, "[::1]:8081");
    cr_assert_str_eq(b->addr_text, "[::1]:8081");
    cr_assert_eq(s->proxy->add_headers, 1);
    cr_assert_eq(s->proxy->preserve_host, 0);
    cr_assert_eq(s->proxy->via, PROXY_VIA_OFF);
    cr_assert_eq(s->proxy->buffering, 0);
    cr_assert_eq(s->proxy->buffer_size, 65536);
    cr_assert_eq(s->proxy->max_temp_file, 1073741824LL);
    config_free(s);

    s = conftest_load_ok(HEAD,
                         "ProxyBuffering On\nProxyBufferSize 4096\nProxyMaxTempFileSize 0\n"
                         "ProxyPass /a/ http://127.0.0.1:1/\nProxyAddHeaders Off\nProxyPreserveHost On\n"
                         "ProxyVia Full\nProxyPassReverse /a/ http://127.0.0.1:1/\n",
                         NULL);
    cr_assert_eq(s->proxy->add_headers, 0);
    cr_assert_eq(s->proxy->buffering, 1);
    cr_assert_eq(s->proxy->buffer_size, 4096);
    cr_assert_eq(s->proxy->max_temp_file, 0);
    cr_assert_eq(s->proxy->preserve_host, 1);
    cr_assert_eq(s->proxy->via, PROXY_VIA_FULL);
    cr_assert_eq(s->proxy->workers->timeout, 30000, "Timeout when ProxyTimeout is not set");
    cr_assert_str_eq(s->proxy->reverses->url, "http://127.0.0.1:1/");
    config_free(s);
}

Test(proxy_conf, apache_worker_parameters)
{
    /* connectiontimeout= in a unit, as Apache's ap_timeout_parameter_parse() reads it; enablereuse= the other
     * way round of disablereuse=; keepalive=; the names in any case; ProxyRequests Off, Apache's default */
    struct server *s =
        conftest_load_ok(HEAD,
                         "ProxyRequests Off\n"
                         "ProxyPass /a/ http://127.0.0.1:1/ connectiontimeout=500ms keepalive=On "
                         "enablereuse=Off\n"
                         "ProxyPass /b/ http://127.0.0.1:2/ ConnectionTimeout=2mi EnableReuse=on "
                         "KeepAlive=off\n"
                         "ProxyPass /c/ http://127.0.0.1:3/ connectiontimeout=1h timeout=86400\n"
                         "ProxyPass /d/ http://127.0.0.1:4/ connectiontimeout=3s disablereuse=on "
                         "enablereuse=on\n",
                         NULL);
    const struct proxy_worker *a = s->proxy->workers, *b = a->next, *c = b->next, *d = c->next;
    cr_assert_eq(a->connect_timeout, 500);
    cr_assert_eq(a->timeout, 30000, "timeout= is not connectiontimeout=");
    cr_assert_eq(a->keepalive, 1);
    cr_assert_eq(a->disable_reuse, 1);
    cr_assert_eq(b->connect_timeout, 120000);
    cr_assert_eq(b->keepalive, 0);
    cr_assert_eq(b->disable_reuse, 0);
    cr_assert_eq(c->connect_timeout, 3600000);
    cr_assert_eq(c->timeout, 86400000);
    cr_assert_eq(c->keepalive, 0, "keepalive= is Off by default");
    cr_assert_eq(d->connect_timeout, 3000);
    cr_assert_eq(d->disable_reuse, 0, "the last of disablereuse= and enablereuse= wins");
    config_free(s);

    /* Apache's ranges: timeout= and ttl= at least a second, connectiontimeout= at least a millisecond */
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ timeout=0\n",
                            "'timeout=0': the value must be a number from 1 to 86400");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ ttl=0\n", "'ttl=0': the value must be");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ connectiontimeout=0ms\n",
                            "'connectiontimeout=0ms': takes seconds, or a number with ms, s, mi or h");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ connectiontimeout=5x\n",
                            "takes seconds, or a number with ms, s, mi or h");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ connectiontimeout=25h\n", "to a day");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ connectiontimeout=ms\n",
                            "takes seconds, or a number");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ keepalive=yes\n",
                            "'keepalive=yes': keepalive takes On or Off");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ EnableReuse=1\n",
                            "EnableReuse takes On or Off");
    /* an Apache parameter this server does not have is named as unknown, whatever its value */
    conftest_expect_refused(
        HEAD, "\n\nProxyPass /a/ http://127.0.0.1/ flushpackets=on\n",
        "test.conf:5: ProxyPass 'flushpackets=on': unknown worker parameter (connectiontimeout");
    conftest_expect_refused(HEAD, "ProxyRequests On\n",
                            "ProxyRequests On (a forward proxy) is not supported: only reverse proxying");
    conftest_expect_refused(HEAD, "ProxyRequests\n", "ProxyRequests takes one argument, On or Off");
    /* ProxyPassReverseCookiePath/-Domain: the main server's lines follow a vhost's own */
    s = conftest_load_ok(HEAD,
                         "ProxyPassReverseCookiePath /base/ /app/\n"
                         "ProxyPassReverseCookieDomain backend.internal www.example.org\n"
                         "<VirtualHost *:8080>\n  ServerName v\n  ProxyPassReverseCookiePath / /v/\n"
                         "</VirtualHost>\n",
                         NULL);
    cr_assert_str_eq(s->proxy->cookie_paths->url, "/base/");
    cr_assert_str_eq(s->proxy->cookie_paths->path, "/app/");
    cr_assert_null(s->proxy->cookie_paths->next);
    cr_assert_str_eq(s->proxy->cookie_domains->url, "backend.internal");
    cr_assert_str_eq(s->proxy->cookie_domains->path, "www.example.org");
    const struct proxy_conf *vp = s->vhosts->proxy;
    cr_assert_str_eq(vp->cookie_paths->url, "/");
    cr_assert_str_eq(vp->cookie_paths->next->url, "/base/");
    cr_assert_str_eq(vp->cookie_domains->url, "backend.internal");
    config_free(s);
    conftest_expect_refused(HEAD, "ProxyPassReverseCookiePath /base/\n",
                            "ProxyPassReverseCookiePath takes the upstream's path and the public one");
    conftest_expect_refused(HEAD, "ProxyPassReverseCookieDomain a b interpolate\n",
                            "interpolate: environment variables in these lines are not supported");
    conftest_expect_refused(HEAD, "<Location /x/>\nProxyPassReverseCookiePath / /x/\n</Location>\n",
                            "not allowed inside <Location>");
}

/* Apache's keywords after the URL: nocanon (the client's path as sent), noquery (accepted: only
 * mod_proxy_fcgi reads it), interpolate (refused). */
Test(proxy_conf, proxypass_keywords)
{
    struct server *s =
        conftest_load_ok(HEAD,
                         "ProxyPass /a/ http://127.0.0.1:9000/ nocanon timeout=5\n"
                         "ProxyPass /b/ http://127.0.0.1:9001/ noquery\n"
                         "<Proxy balancer://c>\n  BalancerMember http://127.0.0.1:9002/\n</Proxy>\n"
                         "ProxyPass /c/ balancer://c/ NoCanon\n",
                         NULL);
    const struct proxy_pass *a = proxy_match(s->proxy, "/a/x"), *b = proxy_match(s->proxy, "/b/x"),
                            *c = proxy_match(s->proxy, "/c/x");
    cr_assert(a->nocanon && !b->nocanon && c->nocanon);
    cr_assert_eq(a->worker->timeout, 5000, "the parameters after a keyword");
    config_free(s);
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ interpolate\n",
                            "test.conf:3: ProxyPass interpolate: environment variables");
    conftest_expect_refused(HEAD, "ProxyPass /a/ ! nocanon\n", "! takes no parameters");
}

Test(proxy_conf, errors_name_file_and_line)
{
    conftest_expect_refused(HEAD, "\nProxyPass /a/ https://x/\n",
                            "test.conf:4: ProxyPass 'https://x/': only http://");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1:0/\n", "bad port");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ foo=1\n", "unknown worker parameter");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://127.0.0.1/ max=x\n", "must be a number");
    conftest_expect_refused(HEAD, "ProxyPass a/ http://127.0.0.1/\n", "must start with '/'");
    conftest_expect_refused(HEAD, "ProxyPass /a/\n", "takes a path and a URL");
    conftest_expect_refused(HEAD, "ProxyPass /a/ http://no-such-host.invalid/\n", "cannot resolve");
    conftest_expect_refused(HEAD, "ProxyVia Sometimes\n", "takes Off, On, Full or Block");
    conftest_expect_refused(HEAD, "ProxyTimeout 0\n", "takes a number of seconds");
    conftest_expect_refused(HEAD, "ProxyBuffering maybe\n", "ProxyBuffering must be On or Off");
    conftest_expect_refused(HEAD, "ProxyBufferSize 100\n", "at least 1024");
    conftest_expect_refused(HEAD, "ProxyMaxTempFileSize -1\n", "takes a number of bytes");
    conftest_expect_refused(HEAD, "<Location /x>\nProxyTimeout 5\n</Location>\n",
                            "not allowed inside <Location>");
    conftest_expect_refused(HEAD, "<Location /x>\nProxyPass /x http://127.0.0.1/\n</Location>\n",
                            "only http://");
}

Test(proxy_conf, balancers)
{
    struct server *s = conftest_load_ok(HEAD,
                                        "<Proxy balancer://app>\n"
                                        "  BalancerMember http://127.0.0.1:9001/ loadfactor=3 retry=5\n"
                                        "  BalancerMember http://127.0.0.1:9002/\n"
                                        "  ProxySet lbmethod=bybusyness\n"
                                        "</Proxy>\n"
                                        "ProxyPass /app/ balancer://app/\n"
                                        "ProxyPass /one/ http://127.0.0.1:9003/\n",
                                        NULL);
    const struct proxy_conf *pc = s->proxy;
    const struct proxy_balancer *b = pc->balancers;
    cr_assert_not_null(b);
    cr_assert_str_eq(b->name, "balancer://app");
    cr_assert_eq(b->n_members, 2);
    cr_assert_eq(b->lbmethod, PROXY_LB_BYBUSYNESS);
    cr_assert_eq(b->members[0]->loadfactor, 3);
    cr_assert_eq(b->members[0]->retry, 5);
    cr_assert_eq(b->members[1]->loadfactor, 1);
    cr_assert_str_eq(b->members[1]->shared_name, "balancer://app http://127.0.0.1:9002/");
    cr_assert_eq(pc->n_workers, 3, "members have pools of their own");
    const struct proxy_pass *pp = proxy_match(pc, "/app/x");
    cr_assert_not_null(pp);
    cr_assert_eq(pp->balancer, b);
    cr_assert_null(pp->worker);
    cr_assert_str_eq(proxy_match(pc, "/one/")->worker->shared_name, "http://127.0.0.1:9003/");
    config_free(s);
}

Test(proxy_conf, balancers_outside_their_section)
{
    /* Apache's other spelling: BalancerMember and ProxySet name the balancer first */
    struct server *s =
        conftest_load_ok(HEAD,
                         "BalancerMember balancer://app http://127.0.0.1:9001/ loadfactor=2\n"
                         "BalancerMember balancer://app/ http://127.0.0.1:9002/\n"
                         "ProxySet balancer://app lbmethod=bybusyness\n"
                         "<Proxy balancer://app>\n  BalancerMember http://127.0.0.1:9003/\n</Proxy>\n"
                         "ProxyPass /app/ balancer://app/\n",
                         NULL);
    const struct proxy_balancer *b = s->proxy->balancers;
    cr_assert_not_null(b);
    cr_assert_null(b->next, "one balancer, however it is spelt");
    cr_assert_str_eq(b->name, "balancer://app");
    cr_assert_eq(b->n_members, 3);
    cr_assert_eq(b->members[0]->loadfactor, 2);
    cr_assert_str_eq(b->members[1]->url, "http://127.0.0.1:9002/");
    cr_assert_eq(b->lbmethod, PROXY_LB_BYBUSYNESS);
    cr_assert_eq(proxy_match(s->proxy, "/app/x")->balancer, b);
    config_free(s);
}

Test(proxy_conf, balancer_errors)
{
    conftest_expect_refused(HEAD, "ProxyPass /a/ balancer://nope/\n",
                            "test.conf:3: ProxyPass 'balancer://nope/': no <Proxy balancer://nope> section");
    conftest_expect_refused(
        HEAD, "BalancerMember http://127.0.0.1/\n",
        "test.conf:3: BalancerMember outside <Proxy balancer://NAME> takes the balancer://NAME "
        "first");
    conftest_expect_refused(HEAD, "ProxySet lbmethod=bybusyness\n",
                            "ProxySet outside <Proxy balancer://NAME>");
    conftest_expect_refused(HEAD, "<Location /x/>\nProxySet balancer://b lbmethod=bybusyness\n</Location>\n",
                            "not allowed inside <Location>");
    conftest_expect_refused(
        HEAD, "<Proxy http://x/>\nBalancerMember http://127.0.0.1/\n</Proxy>\n",
        "test.conf:4: BalancerMember is only allowed inside <Proxy balancer://NAME>, not <Proxy http://x/>");
    conftest_expect_refused(HEAD,
                            "<Proxy balancer://b>\nBalancerMember http://127.0.0.1/ loadfactor=0\n</Proxy>\n",
                            "'loadfactor=0': the value must be a number from 1 to 100");
    conftest_expect_refused(HEAD, "<Proxy balancer://b>\nProxySet lbmethod=heartbeat\n</Proxy>\n",
                            "takes lbmethod=byrequests or lbmethod=bybusyness");
    conftest_expect_refused(HEAD, "<Proxy balancer://b>\nProxySet lbmethod=byrequests\n</Proxy>\n",
                            "<Proxy balancer://b> has no BalancerMember");
    conftest_expect_refused(HEAD, "<Proxy balancer://b>\nProxyPass /x http://127.0.0.1/\n</Proxy>\n",
                            "ProxyPass is not allowed inside <Proxy>");
    conftest_expect_refused(HEAD, "<Proxy balancer://b>\nBalancerMember http://127.0.0.1/\n",
                            "section is not closed");
    conftest_expect_refused(HEAD, "<Proxy balancer://b>\n<Location /x>\n</Location>\n</Proxy>\n",
                            "test.conf:4: <Location> cannot be nested");
    conftest_expect_refused(HEAD, "<Location /x>\n<Proxy balancer://b>\n</Proxy>\n</Location>\n",
                            "test.conf:4: <Proxy> cannot be inside another section");
    conftest_expect_refused(HEAD, "<Proxy balancer://b>\nBalancerMember http://127.0.0.1/\n</Location>\n",
                            "without matching opening section");
    conftest_expect_refused(HEAD,
                            "<Proxy balancer://b>\nBalancerMember http://127.0.0.1/\n</Proxy>\n"
                            "ProxyPass /a/ balancer://b/sub/\n",
                            "a path after the balancer's name is not supported");
}

/* The n-th <VirtualHost> of s (0 is the first). */
static struct vhost *nth_vhost(const struct server *s, int n)
{
    struct vhost *v = s->vhosts;
    for (; v != NULL && n > 0; n--)
        v = v->next;
    cr_assert_not_null(v);
    return v;
}

Test(proxy_conf, virtual_hosts_have_their_own_and_inherit_the_main_servers)
{
    struct server *s =
        conftest_load_ok(HEAD,
                         "ProxyPass /app/ http://127.0.0.1:9000/\n"
                         "ProxyPass /both/ http://127.0.0.1:9001/\n"
                         "ProxyPassReverse /app/ http://127.0.0.1:9000/\n"
                         "ProxyVia On\n"
                         "ProxyTimeout 12\n"
                         "<Proxy balancer://pair>\n  BalancerMember http://127.0.0.1:9005/\n</Proxy>\n"
                         "<VirtualHost *:8080>\n"
                         "  ServerName a.test\n"
                         "  ProxyPass /api/ http://127.0.0.1:9002/ timeout=3\n"
                         "  ProxyPass /both/ http://127.0.0.1:9003/\n"
                         "  ProxyPass /slow/ http://127.0.0.1:9004/\n"
                         "  ProxyPass /lb/ balancer://pair/\n"
                         "  ProxyPreserveHost On\n"
                         "  ProxyTimeout 40\n"
                         "  <Location /loc/>\n    ProxyPass http://127.0.0.1:9006/\n  </Location>\n"
                         "</VirtualHost>\n"
                         "<VirtualHost *:8080>\n  ServerName b.test\n</VirtualHost>\n",
                         NULL);
    const struct proxy_conf *main = s->proxy, *a = nth_vhost(s, 0)->proxy, *b = nth_vhost(s, 1)->proxy;
    cr_assert_eq(s->main.proxy, main);
    cr_assert_eq(b, main, "a vhost without proxy directives uses the main server's settings");
    cr_assert_neq(a, main);
    cr_assert_eq(main->n_workers, 7, "every upstream is numbered in the main server's: %d", main->n_workers);
    cr_assert_eq(a->n_workers, main->n_workers);

    /* a's own lines, then the main server's; its own win a tie */
    cr_assert_str_eq(proxy_match(a, "/api/x")->worker->addr_text, "127.0.0.1:9002");
    cr_assert_str_eq(proxy_match(a, "/both/x")->worker->addr_text, "127.0.0.1:9003");
    cr_assert_str_eq(proxy_match(a, "/app/x")->worker->addr_text, "127.0.0.1:9000");
    cr_assert_str_eq(proxy_match(a, "/loc/x")->worker->addr_text, "127.0.0.1:9006");
    cr_assert_not_null(proxy_match(a, "/lb/x")->balancer);
    cr_assert_null(proxy_match(main, "/api/x"), "a vhost's ProxyPass is not the main server's");
    cr_assert_null(proxy_match(main, "/loc/x"));
    cr_assert_str_eq(proxy_match(main, "/both/x")->worker->addr_text, "127.0.0.1:9001");
    cr_assert_str_eq(a->reverses->url, "http://127.0.0.1:9000/");

    /* settings: a's own, else the main server's */
    cr_assert_eq(a->preserve_host, 1);
    cr_assert_eq(main->preserve_host, 0);
    cr_assert_eq(a->via, PROXY_VIA_ON);
    cr_assert_eq(a->add_headers, 1);
    cr_assert_eq(a->timeout, 40);
    cr_assert_eq(main->timeout, 12);
    /* a worker's default timeout is the ProxyTimeout of the server that named it */
    cr_assert_eq(proxy_match(a, "/api/x")->worker->timeout, 3000);
    cr_assert_eq(proxy_match(a, "/slow/x")->worker->timeout, 40000);
    cr_assert_eq(proxy_match(a, "/app/x")->worker->timeout, 12000);
    config_free(s);
}

Test(proxy_conf, a_proxy_directive_in_a_vhost_alone)
{
    struct server *s = conftest_load_ok(HEAD,
                                        "<VirtualHost *:8080>\n  ServerName a.test\n"
                                        "  ProxyPass /api/ http://127.0.0.1:9002/\n</VirtualHost>\n"
                                        "<VirtualHost *:8080>\n  ServerName b.test\n</VirtualHost>\n",
                                        NULL);
    cr_assert_not_null(proxy_match(nth_vhost(s, 0)->proxy, "/api/x"));
    cr_assert_null(proxy_match(nth_vhost(s, 1)->proxy, "/api/x"));
    cr_assert_null(proxy_match(s->main.proxy, "/api/x"));
    cr_assert_eq(proxy_match(nth_vhost(s, 0)->proxy, "/api/x")->worker->timeout, 30000, "Timeout 30");
    config_free(s);
}

/* <Proxy URL> sections with Require lines: their patterns, which one a URL finds, the errors. */
Test(proxy_conf, proxy_sections_with_require)
{
    struct server *s =
        conftest_load_ok(HEAD,
                         "<Proxy *>\n  Require all granted\n</Proxy>\n"
                         "<Proxy \"http://127.0.0.1:9000/admin/\">\n"
                         "  <RequireAll>\n    Require ip 10.0.0.0/8\n  </RequireAll>\n"
                         "</Proxy>\n"
                         "<Proxy balancer://app>\n"
                         "  BalancerMember http://127.0.0.1:9001/\n  Require local\n"
                         "</Proxy>\n"
                         "<Proxy http://127.0.0.1:9000/[ab]*/x>\n  Require all denied\n</Proxy>\n"
                         "<Proxy http://127.0.0.1:9002/>\n</Proxy>\n"
                         "ProxyPass /app/ balancer://app/\n",
                         NULL);
    const struct proxy_conf *pc = s->proxy;
    const struct proxy_section *all = pc->sections, *admin = all->next, *app = admin->next, *wild = app->next;
    cr_assert_str_eq(all->pattern, "*");
    cr_assert(all->wildcard && !admin->wildcard && !app->wildcard && wild->wildcard);
    cr_assert_str_eq(admin->pattern, "http://127.0.0.1:9000/admin/",
                     "the quotes are the file's, not the URL's");
    cr_assert_null(wild->next, "a section without Require lines has no rule to keep");
    cr_assert_eq(pc->balancers->n_members, 1, "a balancer's section is both");
    cr_assert(s->need_local_addr, "Require local in a section needs the local address");
    /* the last section that matches decides */
    cr_assert_eq(proxy_section_rule(pc, "http://127.0.0.1:9000/"), all->authz);
    cr_assert_eq(proxy_section_rule(pc, "http://127.0.0.1:9000/admin/x?y=1"), admin->authz);
    cr_assert_eq(proxy_section_rule(pc, "http://127.0.0.1:9000/admin"), all->authz, "a prefix, not a path");
    cr_assert_eq(proxy_section_rule(pc, "http://127.0.0.1:9000/HTTP/admin/"), all->authz);
    cr_assert_eq(proxy_section_rule(pc, "balancer://app/x"), app->authz);
    cr_assert_eq(proxy_section_rule(pc, "http://127.0.0.1:9000/b/c/x"), wild->authz, "* takes '/' too");
    cr_assert_eq(proxy_section_rule(pc, "http://127.0.0.1:9000/c/x"), all->authz);
    config_free(s);

    /* without a section that matches, no rule */
    s = conftest_load_ok(HEAD, "<Proxy http://a/>\n  Require all denied\n</Proxy>\n", NULL);
    cr_assert_null(proxy_section_rule(s->proxy, "http://b/a"));
    cr_assert_not_null(proxy_section_rule(s->proxy, "http://a/b"));
    cr_assert(!s->need_local_addr);
    config_free(s);

    conftest_expect_refused(HEAD, "<Proxy *>\n  BalancerMember http://127.0.0.1/\n</Proxy>\n",
                            "test.conf:4: BalancerMember is only allowed inside <Proxy balancer://NAME>, not "
                            "<Proxy *>");
    conftest_expect_refused(HEAD, "<Proxy *>\n  <RequireAll>\n    Require all granted\n</Proxy>\n",
                            "test.conf:4: <RequireAll> section is not closed");
    conftest_expect_refused(HEAD, "<Proxy *>\n  Require sometimes\n</Proxy>\n", "test.conf:4: Require");
    conftest_expect_refused(HEAD, "<Proxy *>\n  Order allow,deny\n</Proxy>\n",
                            "test.conf:4: Order is not allowed inside <Proxy>");
}

/* A <VirtualHost>'s sections come after the main server's, so that its own decide. */
Test(proxy_conf, proxy_sections_in_virtual_hosts)
{
    struct server *s = conftest_load_ok(HEAD,
                                        "<Proxy *>\n  Require all granted\n</Proxy>\n"
                                        "<VirtualHost *:8080>\n  ServerName a.test\n"
                                        "  <Proxy http://x/>\n    Require all denied\n  </Proxy>\n"
                                        "</VirtualHost>\n"
                                        "<VirtualHost *:8080>\n  ServerName b.test\n</VirtualHost>\n",
                                        NULL);
    const struct proxy_section *main_all = s->proxy->sections;
    cr_assert_null(main_all->next, "the vhost's section is its own");
    const struct proxy_conf *a = nth_vhost(s, 0)->proxy, *b = nth_vhost(s, 1)->proxy;
    cr_assert_str_eq(a->sections->pattern, "*");
    cr_assert_str_eq(a->sections->next->pattern, "http://x/");
    cr_assert_eq(proxy_section_rule(a, "http://x/1"), a->sections->next->authz);
    cr_assert_eq(proxy_section_rule(a, "http://y/1"), main_all->authz);
    cr_assert_eq(proxy_section_rule(b, "http://x/1"), main_all->authz);
    config_free(s);
}
