/* What httpd prints about itself and its configuration (-V, -t -D DUMP_RUN_CFG), for main. */
#ifndef HTTPD_INFO_H
#define HTTPD_INFO_H

struct server;

/* -V. Without a configuration (s NULL), `why` says what could not be read and the MPM shown is the default.
 */
void info_settings(const struct server *s, const char *why);

/* -t with -D DUMP_VHOSTS (the vhost map, as Apache's -S) and/or -D DUMP_RUN_CFG (the settings Apache's core
 * and mod_unixd print, where this server has them), on stdout. -S is both. */
void info_dump(const struct server *s, const char *const *defines);

#endif
