/*
 * Processes (harness_proc.c): what /proc says about the server's processes (children, process group,
 * descriptors, threads, memory, CPU time), and running a command with its output collected. Included through
 * harness.h.
 */
#ifndef HTTPD_TEST_HARNESS_PROC_H
#define HTTPD_TEST_HARNESS_PROC_H

#include <sys/resource.h>
#include <sys/types.h>

/* Pids of the processes whose parent is `parent`; returns the count (at most max). */
int proc_children(pid_t parent, pid_t *out, int max);

/* Pids of the processes in process group pgid; returns the count (at most max). */
int proc_group(pid_t pgid, pid_t *out, int max);

/* Whether pid is one of the n in set. */
int pid_in(const pid_t *set, int n, pid_t pid);

/* proc_group() sorted by pid. */
int proc_group_sorted(pid_t pgid, pid_t *out, int max);

/* Waits up to ms until `parent` has from least to most children; returns how many it has then (pids into out,
 * at most max). */
int proc_wait_children(pid_t parent, pid_t *out, int max, int least, int most, int ms);

/* Descriptors open in a process (from /proc/PID/fd), -1 if it is gone; *highest (if not NULL) gets the
 * highest of them. */
int proc_fds(pid_t pid, int *highest);

/* How many of pid's descriptors are sockets (a connection left open shows there, unlike a file a process
 * opens once and keeps, such as its DocumentRoot's), or -1 if its /proc entry is gone. */
int proc_socket_fds(pid_t pid);

/* The nth (from 1) lowest descriptor number that is free in process pid, -1 if there is none below 4096. */
int proc_free_fd(pid_t pid, int nth);

/* The sockets pid holds now (its /proc/PID/fd links to "socket:[...]"), or -1 if it cannot be read. */
int proc_sockets(pid_t pid);

/* Sets RLIMIT_NOFILE of process pid to soft and hard (hard 0: unchanged), asserting; *old (if not NULL) gets
 * the limits before. */
void proc_set_nofile(pid_t pid, rlim_t soft, rlim_t hard, struct rlimit *old);

/* The number a field of /proc/PID/status starts with ("VmRSS" in kB, "Threads"); -1 if the process is gone
 * or has no such field. */
long proc_status(pid_t pid, const char *field);

/* utime + stime of a process (all its threads) from /proc/PID/stat, in clock ticks; -1 if it is gone. */
long proc_cpu_ticks(pid_t pid);

/*
 * Runs argv (PATH searched) with stdin from /dev/null, collecting stdout and stderr (malloc'd,
 * NUL-terminated, may be NULL pointers to discard). Returns the exit status, 128+signal if killed, -1 on
 * timeout (the process group is then killed) or if it could not run.
 */
int run_cmd(char *const argv[], int timeout_ms, char **out, char **err);

/* Runs `script` with sh -c (run_cmd()) and fails the test with its stderr, naming `what`, unless it exits 0.
 */
void run_script(const char *script, int timeout_ms, const char *what);

#endif
