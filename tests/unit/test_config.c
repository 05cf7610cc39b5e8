/* Configuration: syntax, every core directive, defaults, sections, Include, command-line directives, errors.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conftest.h"
#include "config.h"
#include "handler.h"
#include "handlers.h"
#include "listen.h"
#include "static.h"
#include "mpm.h"
#include "server.h"

TestSuite(config, .init = conftest_setup, .fini = conftest_teardown);

/* Loads text, which must be accepted. */
static struct server *load(const char *text)
{
    return conftest_load_ok("", text, NULL);
}

/* Asserts that text is refused with a message containing want. */
static void refused(const char *text, const char *want)
{
    conftest_expect_refused("", text, want);
}

Test(config, apache_defaults)
{
    struct server *s = load("Listen 8080\n");
    cr_assert_eq(s->timeout, 60);
    cr_assert_eq(s->keepalive, 1);
    cr_assert_eq(s->keepalive_timeout, 5);
    cr_assert_eq(s->max_keepalive_requests, 100);
    cr_assert_eq(s->limit_request_line, 8190);
    cr_assert_eq(s->limit_request_field_size, 8190);
    cr_assert_eq(s->limit_request_fields, 100);
    cr_assert_eq(s->limit_request_body, 1073741824LL);
    cr_assert_eq(s->listen_backlog, 511);
    cr_assert_eq(s->main.log_level, LOG_WARN);
    cr_assert_str_eq(s->main.directory_index[0], "index.html");
    cr_assert_null(s->main.directory_index[1]);
    /* ServerRoot defaults to the parent of the config file's directory */
    char *real = realpath(conftest_dir, NULL);
    cr_assert_str_eq(s->server_root, real);
    char expect[800];
    snprintf(expect, sizeof(expect), "%s/htdocs", real);
    cr_assert_str_eq(s->main.document_root, expect);
    snprintf(expect, sizeof(expect), "%s/logs/error_log", real);
    cr_assert_str_eq(s->main.error_log, expect);
    snprintf(expect, sizeof(expect), "%s/logs/httpd.pid", real);
    cr_assert_str_eq(s->pid_file, expect);
    free(real);
    cr_assert_str_eq(s->mpm->name, "prefork");
    config_free(s);
}

Test(config, every_core_directive)
{
    struct server *s = load("# a comment\n"
                            "listen 127.0.0.1:8081\n"
                            "Listen [::1]:8082\n"
                            "ListenBacklog 64\n"
                            "ServerName example.org\n"
                            "DocumentRoot \"htdocs/\"\n"
                            "DirectoryIndex index.htm default.html\n"
                            "TypesConfig conf/mime.types\n"
                            "Timeout 7\n"
                            "KeepAlive off\n"
                            "KeepAliveTimeout 3\n"
                            "MaxKeepAliveRequests 0\n"
                            "LimitRequestLine 1000\n"
                            "LimitRequestFieldSize 2000\n"
                            "LimitRequestFields 10\n"
                            "LimitRequestBody 0\n"
                            "ErrorLog /tmp/x_error_log\n"
                            "LogLevel debug\n"
                            "LogFormat \"%h %>s\" short\n"
                            "CustomLog logs/a_log short\n"
                            "CustomLog logs/b_log \"%h %b\"\n"
                            "PidFile run/httpd.pid\n"
                            "MPM prefork\n");
    cr_assert_str_eq(s->listeners->spec, "127.0.0.1:8081");
    cr_assert_str_eq(s->listeners->next->spec, "[::1]:8082");
    cr_assert_null(s->listeners->next->next);
    cr_assert_eq(s->listen_backlog, 64);
    cr_assert_str_eq(s->main.server_name, "example.org");
    cr_assert_eq(strcmp(s->main.document_root + strlen(s->main.document_root) - 7, "/htdocs"), 0, "%s",
                 s->main.document_root);
    cr_assert_str_eq(s->main.directory_index[0], "index.htm");
    cr_assert_str_eq(s->main.directory_index[1], "default.html");
    cr_assert_eq(s->timeout, 7);
    cr_assert_eq(s->keepalive, 0);
    cr_assert_eq(s->keepalive_timeout, 3);
    cr_assert_eq(s->max_keepalive_requests, 0);
    cr_assert_eq(s->limit_request_line, 1000);
    cr_assert_eq(s->limit_request_field_size, 2000);
    cr_assert_eq(s->limit_request_fields, 10);
    cr_assert_eq(s->limit_request_body, 0);
    cr_assert_str_eq(s->main.error_log, "/tmp/x_error_log");
    cr_assert_eq(s->main.log_level, LOG_DEBUG);
    cr_assert_not_null(s->main.custom_logs);
    cr_assert_not_null(s->main.custom_logs->next);
    cr_assert_eq(strcmp(s->main.custom_logs->path + strlen(s->main.custom_logs->path) - 11, "/logs/a_log"),
                 0);
    cr_assert_eq(strcmp(s->pid_file + strlen(s->pid_file) - 14, "/run/httpd.pid"), 0, "%s", s->pid_file);
    config_free(s);
}

Test(config, quoting_and_continuation)
{
    struct server *s = load("Listen \\\n  8080\n"
                            "ServerName 'my host'\n"
                            "LogFormat \"%h \\\"%r\\\" %>s\" q\n"
                            "DirectoryIndex \"a b.html\" c.html   # trailing comment\n");
    cr_assert_str_eq(s->listeners->spec, "8080");
    cr_assert_str_eq(s->main.server_name, "my host");
    cr_assert_str_eq(s->main.directory_index[0], "a b.html");
    cr_assert_str_eq(s->main.directory_index[1], "c.html");
    cr_assert_null(s->main.directory_index[2]);
    config_free(s);
}

Test(config, errors_name_file_line_and_directive)
{
    refused("Listen 8080\n\nFoo bar\n", "test.conf:3: unknown directive 'Foo'");
    refused("Listen 8080\nStartServers abc\n", "test.conf:2: StartServers takes one number");
    refused("Listen 8080\nKeepAlive maybe\n", "test.conf:2: KeepAlive must be On or Off");
    refused("Listen 8080\nTimeout\n", "test.conf:2: Timeout takes one number");
    refused("Listen 99999\n", "test.conf:1: Listen ");
    refused("Listen 8080\nListen 8080\n", "test.conf:2: Listen ");
    refused("Listen 8080\nLogLevel loud\n", "test.conf:2: LogLevel");
    refused("Listen 8080\nCustomLog logs/x nosuchformat\n", "test.conf:2: CustomLog");
    refused("Listen 8080\nLogFormat \"%Z\" bad\n", "test.conf:2: LogFormat");
    refused("Listen 8080\nMPM turbo\n", "test.conf:2: MPM 'turbo'");
    refused("Listen 8080\nServerName \"unterminated\n", "test.conf:2: unterminated quote");
    refused("Listen 8080\n<Location /x>\nSetHandler nope\n</Location>\n",
            "test.conf:3: SetHandler: unknown handler 'nope'");
    refused("Listen 8080\n<Location /x>\n", "test.conf:2: <Location> section is not closed");
    refused("Listen 8080\n</IfModule>\n", "test.conf:2:");
    refused("Listen 8080\nSetHandler static\n", "test.conf:2: SetHandler is only allowed inside <Location>");
    refused("Listen 8080\n<Location /x>\nTimeout 5\n</Location>\n",
            "test.conf:3: Timeout is not allowed inside <Location>");
    refused("ServerName x\n", "no Listen directive");
    refused("Listen 8080\nInclude conf/missing.conf\n", "test.conf:2: Include file");
    refused("Listen 8080\nTypesConfig conf/none.types\n", "none.types");
}

Test(config, ifdefine_and_command_line)
{
    struct errbuf err;
    conftest_write("conf/test.conf",
                   "<IfDefine NOPE>\nFoo bar\n</IfDefine>\n"
                   "<IfDefine !NOPE>\n  <IfDefine TLS>\n  Bar\n  </IfDefine>\nServerName yes\n"
                   "</IfDefine>\n"
                   "<IfDefine TLS>\nServerName tls\n</IfDefine>\n");
    const char *pre[] = {"Timeout 9", "ServerName first", NULL};
    const char *post[] = {"Listen 127.0.0.1:9000", NULL};
    const char *defs[] = {NULL};
    struct config_args args = {CONFTEST_ARGS, .conf_file = conftest_conf, .pre = pre, .post = post,
                               .defines = defs};
    struct server *s = config_load(&args, NULL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_eq(s->timeout, 9);
    cr_assert_str_eq(s->main.server_name, "yes");
    cr_assert_str_eq(s->listeners->spec, "127.0.0.1:9000");
    config_free(s);

    const char *defs2[] = {"TLS", NULL};
    args.defines = defs2;
    s = config_load(&args, NULL, &err);
    cr_assert_null(s, "Bar inside <IfDefine TLS> must be read when TLS is defined");
    cr_assert(strstr(err.msg, "unknown directive 'Bar'") != NULL, "%s", err.msg);
}

Test(config, include_glob_relative_to_server_root)
{
    char p[700];
    snprintf(p, sizeof(p), "%s/conf/extra", conftest_dir);
    mkdir(p, 0755);
    conftest_write("conf/extra/a.conf", "Listen 127.0.0.1:9001\n");
    conftest_write("conf/extra/b.conf", "Listen 127.0.0.1:9002\nBroken here\n");
    conftest_write("conf/extra/c.txt", "Foo\n");
    refused("Include conf/extra/*.conf\n", "extra/b.conf:2: unknown directive 'Broken'");
    conftest_write("conf/extra/b.conf", "Listen 127.0.0.1:9002\n");
    struct server *s = load("Include conf/extra/*.conf\nIncludeOptional conf/none/*.conf\n");
    cr_assert_str_eq(s->listeners->spec, "127.0.0.1:9001");
    cr_assert_str_eq(s->listeners->next->spec, "127.0.0.1:9002");
    config_free(s);
}

Test(config, locations_and_handlers)
{
    struct server *s = load("Listen 8080\n<Location /files>\n  SetHandler static\n</Location>\n");
    cr_assert_str_eq(s->main.locations->path, "/files");
    cr_assert_eq(handler_for(&s->main, "/files/a"), &static_handler);
    cr_assert_eq(handler_for(&s->main, "/other"), &static_handler);
    config_free(s);
}

/* Apache's quoted section arguments, '>' after the quote or apart: <Location "/server-status"> */
Test(config, quoted_section_arguments)
{
    struct server *s = load("Listen 8080\nMPM event\n<Location \"/a b/\">\n  SetHandler static\n</Location>\n"
                            "<Location '/c/' >\n  SetHandler static\n</Location>\n"
                            "<Location /d/ >\n  SetHandler static\n</Location>\n"
                            "<IfModule \"mpm_event_module\">\n  StartServers 3\n</IfModule>\n");
    const char *want[] = {"/a b/", "/c/", "/d/"};
    for (int i = 0; i < 3; i++) {
        const struct location *l = s->main.locations;
        while (l != NULL && strcmp(l->path, want[i]) != 0)
            l = l->next;
        cr_assert_not_null(l, "no <Location %s>", want[i]);
    }
    cr_assert_eq(s->mpm_conf.start_servers, 3);
    config_free(s);
    refused("Listen 8080\n<Location \"/x/\" \"/y/\">\n</Location>\n",
            "test.conf:2: <Location> takes one argument");
    refused("Listen 8080\n<Location \"\" >\n</Location>\n", "test.conf:2: <Location> takes one argument");
}

Test(config, ifmodule_follows_the_mpm)
{
    struct server *s = load("Listen 8080\nMPM prefork\n"
                            "<IfModule mpm_prefork_module>\nStartServers 2\n</IfModule>\n"
                            "<IfModule mpm_nothing_module>\nThis is skipped\n</IfModule>\n"
                            "<IfModule !mpm_nothing_module>\nMaxSpareServers 20\n</IfModule>\n"
                            "<IfModule prefork.c>\nMinSpareServers 3\n</IfModule>\n");
    cr_assert_eq(s->mpm_conf.start_servers, 2);
    cr_assert_eq(s->mpm_conf.min_spare, 3);
    cr_assert_eq(s->mpm_conf.max_spare, 20);
    config_free(s);
}

Test(config, prefork_defaults_and_clamps)
{
    struct server *s = load("Listen 8080\nMPM prefork\n");
    cr_assert_eq(s->mpm_conf.start_servers, 5);
    cr_assert_eq(s->mpm_conf.min_spare, 5);
    cr_assert_eq(s->mpm_conf.max_spare, 10);
    cr_assert_eq(s->mpm_conf.max_workers, 256);
    cr_assert_eq(s->mpm_conf.server_limit, 256);
    cr_assert_eq(s->mpm_conf.max_conn_per_child, 0);
    config_free(s);

    s = load("Listen 8080\nMaxClients 500\nMaxRequestsPerChild 7\n");
    cr_assert_eq(s->mpm_conf.max_workers, 256, "MaxRequestWorkers is capped by ServerLimit");
    cr_assert_eq(s->mpm_conf.max_conn_per_child, 7);
    config_free(s);

    s = load("Listen 8080\nServerLimit 10\nMaxRequestWorkers 20\nMinSpareServers 4\nMaxSpareServers 2\n");
    cr_assert_eq(s->mpm_conf.max_workers, 10);
    cr_assert_geq(s->mpm_conf.max_spare, s->mpm_conf.min_spare + 1);
    config_free(s);
}

Test(config, request_read_timeout)
{
    struct server *s = load("Listen 8080\n");
    /* mod_reqtimeout's defaults: header=20-40,MinRate=500 body=20,MinRate=500 */
    cr_assert_eq(s->header_timeout.timeout, 20);
    cr_assert_eq(s->header_timeout.max_timeout, 40);
    cr_assert_eq(s->header_timeout.min_rate, 500);
    cr_assert_eq(s->body_timeout.timeout, 20);
    cr_assert_eq(s->body_timeout.max_timeout, 0);
    cr_assert_eq(s->body_timeout.min_rate, 500);
    cr_assert_eq(s->handshake_timeout.timeout, 10, "a TLS handshake gets 10 s (Apache: 0, then Timeout)");
    config_free(s);

    /* a stage not named keeps its default; names and MinRate are case-insensitive */
    s = load("Listen 8080\nRequestReadTimeout HEADER=10-30,minrate=1000 handshake=5\n");
    cr_assert_eq(s->handshake_timeout.timeout, 5);
    cr_assert_eq(s->header_timeout.timeout, 10);
    cr_assert_eq(s->header_timeout.max_timeout, 30);
    cr_assert_eq(s->header_timeout.min_rate, 1000);
    cr_assert_eq(s->body_timeout.timeout, 20);
    config_free(s);

    s = load("Listen 8080\nRequestReadTimeout header=0 body=0\n");
    cr_assert_eq(s->header_timeout.timeout, 0);
    cr_assert_eq(s->body_timeout.timeout, 0);
    config_free(s);

    s = load("Listen 8080\nRequestReadTimeout body=10\n");
    cr_assert_eq(s->body_timeout.timeout, 10);
    cr_assert_eq(s->body_timeout.min_rate, 0);
    config_free(s);

    refused("Listen 8080\nRequestReadTimeout\n", "test.conf:2: RequestReadTimeout takes");
    refused("Listen 8080\nRequestReadTimeout handshake=5-10,MinRate=500\n",
            "test.conf:2: RequestReadTimeout 'handshake=5-10,MinRate=500': handshake= takes a timeout in "
            "seconds alone");
    refused("Listen 8080\nRequestReadTimeout headers=10\n",
            "test.conf:2: RequestReadTimeout 'headers=10': unknown stage");
    refused("Listen 8080\nRequestReadTimeout header=10-20\n",
            "test.conf:2: RequestReadTimeout 'header=10-20': a timeout range needs MinRate");
    refused("Listen 8080\nRequestReadTimeout header=20-10,MinRate=500\n",
            "must be larger than the initial timeout");
    refused("Listen 8080\nRequestReadTimeout header=x\n",
            "test.conf:2: RequestReadTimeout 'header=x': the timeout must be");
    refused("Listen 8080\nRequestReadTimeout body=10,MinRate=0\n", "MinRate must be");
    refused("Listen 8080\nRequestReadTimeout body=10,Rate=5\n", "unknown option");
}

/* Checks write warnings into the caller's sink, in order; nothing is printed. */
Test(config, warnings_are_data)
{
    struct warnings w = {0};
    struct server *s = conftest_load_ok("",
                                        "Listen 8080\nMPM prefork\nDocumentRoot /nonexistent/htdocs\n"
                                        "ServerLimit 4\nMaxRequestWorkers 9\n",
                                        &w);
    cr_assert_eq(w.count, 2);
    cr_assert_str_eq(w.msg[0], "DocumentRoot [/nonexistent/htdocs] does not exist");
    cr_assert_str_eq(w.msg[1], "MaxRequestWorkers of 9 exceeds ServerLimit of 4, decreasing to match");
    config_free(s);
}

/* User and Group are unixd's, not the core's: a caller that does not hand config that module gets an error.
 */
Test(config, module_tables_come_from_the_caller)
{
    struct errbuf err;
    conftest_write("conf/test.conf", "Listen 8080\nUser nobody\n");
    struct config_args bare = {.mpms = mpm_registry, .conf_file = conftest_conf};
    cr_assert_null(config_load(&bare, NULL, &err));
    cr_assert(strstr(err.msg, "test.conf:2: unknown directive 'User'") != NULL, "%s", err.msg);
    struct config_args with = {CONFTEST_ARGS, .conf_file = conftest_conf};
    struct server *s = config_load(&with, NULL, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_str_eq(s->user, "nobody");
    config_free(s);
}

/*
 * Another MPM's settings from the same lines, as a restart to it would read them: its <IfModule> sections
 * count, the running MPM's do not, forced fields act as if written last, and its clamps warn into the sink
 * given. The lines can be applied any number of times.
 */
Test(config, settings_of_another_mpm)
{
    struct errbuf err;
    struct server *s =
        load("Listen 8080\nMPM prefork\n"
             "<IfModule mpm_prefork_module>\nServerLimit 12\nMaxRequestWorkers 12\n</IfModule>\n"
             "<IfModule mpm_worker_module>\nServerLimit 6\nThreadLimit 40\nThreadsPerChild 20\n"
             "MaxRequestWorkers 100\n</IfModule>\n"
             "<IfModule mpm_event_module>\nStartServers 3\n</IfModule>\n");
    cr_assert_eq(s->mpm_conf.server_limit, 12);

    for (int round = 0; round < 2; round++) {
        struct mpm_conf c;
        struct warnings w = {0};
        cr_assert_eq(config_mpm_settings(s, &mpm_worker, NULL, &c, &w, &err), 0, "%s", err.msg);
        cr_assert_eq(c.server_limit, 6);
        cr_assert_eq(c.thread_limit, 40);
        cr_assert_eq(c.threads_per_child, 20);
        cr_assert_eq(c.max_workers, 100);
        cr_assert_eq(w.count, 0);
    }

    struct mpm_conf c;
    struct warnings w = {0};
    struct mpm_conf force;
    config_mpm_conf_unset(&force);
    force.server_limit = 4;
    cr_assert_eq(config_mpm_settings(s, &mpm_worker, &force, &c, &w, &err), 0, "%s", err.msg);
    cr_assert_eq(c.server_limit, 4);
    cr_assert_eq(c.max_workers, 80);
    cr_assert_eq(w.count, 1);
    cr_assert(strstr(w.msg[0],
                     "MaxRequestWorkers of 100 would require 5 servers and would exceed ServerLimit "
                     "of 4") != NULL,
              "%s", w.msg[0]);

    cr_assert_eq(config_mpm_settings(s, &mpm_event, NULL, &c, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(c.start_servers, 3);
    cr_assert_eq(c.server_limit, 16);
    /* and the running MPM's own settings come out as config_load() made them */
    cr_assert_eq(config_mpm_settings(s, s->mpm, NULL, &c, NULL, &err), 0, "%s", err.msg);
    cr_assert_eq(memcmp(&c, &s->mpm_conf, sizeof(c)), 0);
    config_free(s);
}

/*
 * A <Location> decides only what it sets, as Apache merges its sections: a later section of the same path
 * that only restricts access keeps the earlier one's handler; of two SetHandler for one path, the later one
 * wins; a longer section without SetHandler leaves a shorter one's handler in place.
 */
Test(config, location_sections_merge_what_they_set)
{
    struct server *s = load("Listen 8080\n"
                            "<Location /server-status>\nSetHandler server-status\n</Location>\n"
                            "<Location /server-status>\nRequire local\n</Location>\n"
                            "<Location /w>\nSetHandler delay\n</Location>\n"
                            "<Location /w>\nSetHandler cpu\n</Location>\n"
                            "<Location /w/sub>\nRequire all denied\n</Location>\n");
    cr_assert_str_eq(handler_for(&s->main, "/server-status")->name, "server-status");
    cr_assert_str_eq(handler_for(&s->main, "/w/x")->name, "cpu");
    cr_assert_str_eq(handler_for(&s->main, "/w/sub/x")->name, "cpu");
    cr_assert_eq(handler_for(&s->main, "/other"), &static_handler);
    config_free(s);
}

Test(config, listen_protocol)
{
    /* as Apache: https is the default protocol of port 443, http of every other; a named one is kept */
    struct server *s = load("Listen 8080\nListen 127.0.0.1:443\nListen [::1]:8443 HTTPS\nListen 9090 http\n"
                            "<IfModule ssl_module>\nListen 9443 https\n</IfModule>\n");
    const char *want[] = {"http", "https", "https", "http", "https"};
    int i = 0;
    for (const struct listener *l = s->listeners; l != NULL; l = l->next, i++) {
        cr_assert_lt(i, 5);
        cr_assert_str_eq(l->protocol, want[i], "Listen %s", l->spec);
        cr_assert_null(l->tls, "no TLS without SSLEngine on");
    }
    cr_assert_eq(i, 5, "<IfModule ssl_module> is true");
    config_free(s);
    refused("Listen 8080 https extra\n", "test.conf:1: Listen takes one or two arguments");
}

/* The filter s has for protocol, or NULL. */
static const char *accept_filter_of(const struct server *s, const char *protocol)
{
    for (const struct accept_filter *f = s->accept_filters; f != NULL; f = f->next)
        if (strcmp(f->protocol, protocol) == 0)
            return f->filter;
    return NULL;
}

Test(config, accept_filter)
{
    /* Apache's default on Linux: data for http and https */
    struct server *s = load("Listen 8080\n");
    cr_assert_str_eq(accept_filter_of(s, "http"), "data");
    cr_assert_str_eq(accept_filter_of(s, "https"), "data");
    cr_assert(listen_deferred(s, s->listeners));
    config_free(s);

    /* both names lower-cased; a later line replaces the protocol's filter; other protocols may be named */
    s = load("Listen 8080\nListen 8081 FTP\nAcceptFilter HTTP data\nAcceptFilter http None\n"
             "AcceptFilter ftp DATA\n");
    cr_assert_str_eq(accept_filter_of(s, "http"), "none");
    cr_assert_str_eq(accept_filter_of(s, "https"), "data");
    cr_assert_str_eq(accept_filter_of(s, "ftp"), "data");
    cr_assert_not(listen_deferred(s, s->listeners), "http: none");
    cr_assert(listen_deferred(s, s->listeners->next), "ftp: data");
    config_free(s);

    refused("Listen 8080\nAcceptFilter http\n", "test.conf:2: AcceptFilter takes two arguments");
    refused("Listen 8080\n<VirtualHost *:8080>\nAcceptFilter http none\n</VirtualHost>\n",
            "AcceptFilter cannot occur within <VirtualHost> section");
}
