/* The reverse proxy handler ("proxy-server"), which serves every path a ProxyPass maps (see proxy.c). */
#ifndef HTTPD_PROXY_H
#define HTTPD_PROXY_H

#include "handler.h"

extern const struct handler proxy_handler;

#endif
