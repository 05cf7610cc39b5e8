/*
 * Logs (harness_log.c): counting and waiting for lines in the server's log files, and their end for failure
 * messages. Included through harness.h.
 */
#ifndef HTTPD_TEST_HARNESS_LOG_H
#define HTTPD_TEST_HARNESS_LOG_H

#include <stddef.h>

/* Occurrences of needle in the file at path (an error log); wait_log() polls up to ms for at least n of them
 * and returns the count. */
int log_count(const char *path, const char *needle);
int wait_log(const char *path, const char *needle, int n, int ms);

/* The last `max` bytes of a file, escaped for a failure message (malloc'd); says why if it cannot be read. */
char *log_tail(const char *path, size_t max);

#endif
