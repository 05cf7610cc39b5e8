/* The connection fuzz target, shared by the libFuzzer binary and the replay test that runs in make check. */
#ifndef HTTPD_FUZZ_CONN_H
#define HTTPD_FUZZ_CONN_H

#include <stddef.h>
#include <stdint.h>

/* Makes the temporary ServerRoot and loads its configuration (once; removed at exit). */
void fuzz_conn_init(void);

/* One input: a control byte, a seed byte, then the client's bytes (see fuzz_conn.c). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif
