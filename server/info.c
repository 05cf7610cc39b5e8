/*
 * What httpd prints about itself and its configuration: -V (version, MPMs, libraries, where it looks) and the
 * settings of -t -D DUMP_RUN_CFG (and -S), as Apache's.
 */
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <llhttp.h>

#include "../mpm/mpm.h"
#include "info.h"
#include "server.h"
#include "tls.h"
#include "vhost.h"

/* -V. Without a configuration (s NULL), `why` says what could not be read and the MPM shown is the default.
 */
void info_settings(const struct server *s, const char *why)
{
    printf("Server version: %s\n", SERVER_SOFTWARE);
    if (s != NULL)
        printf("Server MPM:     %s\n", s->mpm->name);
    else
        printf("Server MPM:     %s (the default: no configuration was read)\n", mpm_default()->name);
    printf("Compiled-in MPMs:");
    for (int i = 0; mpm_registry[i] != NULL; i++)
        printf(" %s", mpm_registry[i]->name);
    printf("\nllhttp:         %d.%d.%d (strict mode)\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
           LLHTTP_VERSION_PATCH);
    char no_ktls[128];
    printf("SSL library:    %s\n", tls_library_version());
    if (tls_ktls_available(no_ktls, sizeof(no_ktls)))
        printf("SSL files:      kernel TLS (SSL_sendfile)\n");
    else
        printf("SSL files:      read + SSL_write (kernel TLS not available: %s; modprobe tls)\n", no_ktls);
    if (s != NULL) {
        printf("ServerRoot:     %s\n", s->server_root);
        printf("Config file:    %s\n", s->conf_file);
    } else {
        printf("Config file:    not read: %s\n", why);
    }
    /* as Apache's: where an installed httpd looks without -d and -f */
    printf("Server compiled with....\n -D HTTPD_ROOT=\"%s\"\n -D SERVER_CONFIG_FILE=\"%s\"\n", HTTPD_ROOT,
           SERVER_CONFIG_FILE);
}

/* -t -D DUMP_RUN_CFG (and -S): the settings Apache's core and mod_unixd print, where this server has them. */
static void run_cfg(const struct server *s, const char *const *defines)
{
    printf("ServerRoot: \"%s\"\n", s->server_root);
    printf("Main DocumentRoot: \"%s\"\n", s->main.document_root);
    printf("Main ErrorLog: \"%s\"\n", s->main.error_log);
    printf("PidFile: \"%s\"\n", s->pid_file);
    for (; *defines != NULL; defines++)
        printf("Define: %s\n", *defines);
    if (s->user != NULL) {
        const char *not_used = geteuid() != 0 ? " not_used" : "";
        struct group *g = s->group == NULL ? getgrgid(s->group_id) : NULL;
        printf("User: name=\"%s\" id=%lu%s\n", s->user_name != NULL ? s->user_name : s->user,
               (unsigned long)s->user_id, not_used);
        printf("Group: name=\"%s\" id=%lu%s\n",
               s->group != NULL ? s->group
               : g != NULL      ? g->gr_name
                                : "-",
               (unsigned long)s->group_id, not_used);
    }
}

static int defined(const char *const *defines, const char *name)
{
    for (; *defines != NULL; defines++)
        if (strcmp(*defines, name) == 0)
            return 1;
    return 0;
}

void info_dump(const struct server *s, const char *const *defines)
{
    if (defined(defines, "DUMP_VHOSTS"))
        vhost_dump(s, stdout);
    if (defined(defines, "DUMP_RUN_CFG"))
        run_cfg(s, defines);
}
