/*
 * The static-file handler: maps the request path beneath DocumentRoot and answers as Apache 2.4's default
 * handler with mod_dir does (conditionals, ranges, directory index). The default for every path that no
 * SetHandler claims.
 */
#ifndef HTTPD_STATIC_H
#define HTTPD_STATIC_H

#include "handler.h"

extern const struct handler static_handler;

#endif
