/* The reverse proxy's fuzz target, shared by the libFuzzer binary (fuzz_proxy_main.c) and the replay test
 * that runs in make check. */
#ifndef HTTPD_FUZZ_PROXY_H
#define HTTPD_FUZZ_PROXY_H

#include <stddef.h>
#include <stdint.h>

/* Makes the temporary ServerRoot, the upstream's listener, and loads the configuration (once). */
void fuzz_proxy_init(void);

/* One input: the client's control byte, a seed, the upstream's control byte, the client's length (2 bytes,
 * little-endian), the client's bytes, the upstream's (see fuzz_proxy.c). */
int fuzz_proxy_one(const uint8_t *data, size_t size);

#endif
