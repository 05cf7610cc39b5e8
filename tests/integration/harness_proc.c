/*
 * Processes (see harness_proc.h): /proc readers for the server's processes, and run_cmd(). A process that is
 * gone is an answer (-1, or not listed), never a failure: the server's children come and go while they are
 * read.
 */
#define HARNESS_IMPL
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- process tree ---- */

/* Reads ppid and pgrp from /proc/PID/stat; -1 if the process is gone. */
static int proc_stat(pid_t pid, pid_t *ppid, pid_t *pgrp, char *state)
{
    char path[64], buf[1024];
    int fd, ppid_i, pgrp_i;
    ssize_t n;
    char *p;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c %d %d", state, &ppid_i, &pgrp_i) != 3)
        return -1;
    *ppid = ppid_i;
    *pgrp = pgrp_i;
    return 0;
}

/* Scans /proc for processes with the given parent (by_group 0) or process group (by_group 1). */
static int proc_scan(pid_t id, int by_group, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    cr_assert(d != NULL, "opendir(/proc) failed: %s", strerror(errno));
    while ((e = readdir(d)) != NULL && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        pid_t ppid, pgrp;
        char state;

        if (*end || pid <= 0)
            continue;
        if (proc_stat((pid_t)pid, &ppid, &pgrp, &state) == -1)
            continue;
        if ((by_group ? pgrp : ppid) == id)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

int proc_children(pid_t parent, pid_t *out, int max)
{
    return proc_scan(parent, 0, out, max);
}

int proc_group(pid_t pgid, pid_t *out, int max)
{
    return proc_scan(pgid, 1, out, max);
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return (x > y) - (x < y);
}

int pid_in(const pid_t *set, int n, pid_t pid)
{
    for (int i = 0; i < n; i++)
        if (set[i] == pid)
            return 1;
    return 0;
}

int proc_group_sorted(pid_t pgid, pid_t *out, int max)
{
    int n = proc_group(pgid, out, max);

    qsort(out, (size_t)n, sizeof(pid_t), cmp_pid);
    return n;
}

int proc_wait_children(pid_t parent, pid_t *out, int max, int least, int most, int ms)
{
    int64_t deadline = now_ms() + ms;
    int n;

    while (((n = proc_children(parent, out, max)) < least || n > most) && now_ms() < deadline)
        sleep_ms(20);
    return n;
}

int proc_free_fd(pid_t pid, int nth)
{
    for (int fd = 0; fd < 4096; fd++) {
        char path[64], target[64];
        snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
        if (readlink(path, target, sizeof(target)) < 0 && errno == ENOENT && --nth == 0)
            return fd;
    }
    return -1;
}

int proc_sockets(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        char link[320], target[64];
        snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
        ssize_t tl = readlink(link, target, sizeof(target) - 1);
        n += tl > 7 && strncmp(target, "socket:", 7) == 0;
    }
    closedir(d);
    return n;
}

void proc_set_nofile(pid_t pid, rlim_t soft, rlim_t hard, struct rlimit *old)
{
    struct rlimit before, rl;

    hassert(prlimit(pid, RLIMIT_NOFILE, NULL, &before) == 0, "prlimit(%d) failed: %s", (int)pid,
            strerror(errno));
    rl = (struct rlimit){.rlim_cur = soft, .rlim_max = hard != 0 ? hard : before.rlim_max};
    hassert(prlimit(pid, RLIMIT_NOFILE, &rl, NULL) == 0, "prlimit(%d) failed: %s", (int)pid, strerror(errno));
    if (old != NULL)
        *old = before;
}

/* ---- running a command ---- */

/* Appends what fd has to *buf; returns 0 at EOF, 1 otherwise. */
static int drain_pipe(int fd, char **buf, size_t *len, size_t *cap)
{
    char tmp[4096];
    ssize_t r = read(fd, tmp, sizeof(tmp));

    if (r == -1 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (r <= 0)
        return 0;
    if (*len + (size_t)r + 1 > *cap) {
        *cap = (*len + (size_t)r + 1) * 2;
        char *nb = realloc(*buf, *cap);
        if (!nb)
            return 0;
        *buf = nb;
    }
    memcpy(*buf + *len, tmp, (size_t)r);
    *len += (size_t)r;
    (*buf)[*len] = '\0';
    return 1;
}

int run_cmd(char *const argv[], int timeout_ms, char **out, char **err)
{
    int po[2] = {-1, -1}, pe[2] = {-1, -1}, status = 0, result = -1;
    char *bufs[2] = {NULL, NULL};
    size_t lens[2] = {0, 0}, caps[2] = {0, 0};
    int64_t deadline = now_ms() + timeout_ms;
    pid_t pid;

    if (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1)
        goto fail;
    pid = fork();
    if (pid == -1)
        goto fail;
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        setpgid(0, 0);
        if (devnull == -1 || dup2(devnull, 0) == -1 || dup2(po[1], 1) == -1 || dup2(pe[1], 2) == -1)
            _exit(126);
        execvp(argv[0], argv);
        dprintf(2, "execvp(%s) failed: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;

    int open_fds = 2, exited = 0;
    while (!exited || open_fds > 0) {
        struct pollfd pfd[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
        int64_t left = deadline - now_ms();

        if (left <= 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            goto fail;
        }
        if (!exited) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid)
                exited = 1;
        }
        if (open_fds == 0) {
            sleep_ms(5);
            continue;
        }
        if (poll(pfd, 2, exited ? (int)left : (int)(left < 20 ? left : 20)) > 0) {
            for (int i = 0; i < 2; i++) {
                if (pfd[i].fd != -1 && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                    if (!drain_pipe(pfd[i].fd, &bufs[i], &lens[i], &caps[i])) {
                        close(pfd[i].fd);
                        if (i == 0)
                            po[0] = -1;
                        else
                            pe[0] = -1;
                        open_fds--;
                    }
                }
            }
        }
    }
    result = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

fail:
    for (int i = 0; i < 2; i++) {
        if (!bufs[i])
            bufs[i] = strdup("");
    }
    if (out)
        *out = bufs[0];
    else
        free(bufs[0]);
    if (err)
        *err = bufs[1];
    else
        free(bufs[1]);
    for (int i = 0; i < 2; i++) {
        if (po[i] != -1)
            close(po[i]);
        if (pe[i] != -1)
            close(pe[i]);
    }
    return result;
}

/* ---- one process ---- */

/* pid's descriptors (only its sockets: sockets_only), the highest into *highest when not NULL; -1 if its
 * /proc entry is gone. */
static int count_fds(pid_t pid, int sockets_only, int *highest)
{
    char path[64], link[96], target[64];
    struct dirent *e;
    int n = 0, top = -1;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (pid == getpid() && fd == dirfd(d))
            continue;
        if (sockets_only) {
            snprintf(link, sizeof(link), "%s/%.16s", path, e->d_name);
            ssize_t len = readlink(link, target, sizeof(target) - 1);
            if (len <= 0 || (target[len] = '\0', strncmp(target, "socket:", 7) != 0))
                continue;
        }
        n++;
        if (fd > top)
            top = fd;
    }
    closedir(d);
    if (highest != NULL)
        *highest = top;
    return n;
}

int proc_socket_fds(pid_t pid)
{
    return count_fds(pid, 1, NULL);
}

int proc_fds(pid_t pid, int *highest)
{
    return count_fds(pid, 0, highest);
}

long proc_status(pid_t pid, const char *field)
{
    char path[64], key[64];
    long v = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    snprintf(key, sizeof(key), "\n%s:", field);
    char *text = read_file(path, NULL);
    const char *p = text ? strstr(text, key) : NULL;
    if (p != NULL)
        v = strtol(p + strlen(key), NULL, 10);
    free(text);
    return v;
}

long proc_cpu_ticks(pid_t pid)
{
    char path[64], *text, *p;
    unsigned long ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    text = read_file(path, NULL);
    p = text ? strrchr(text, ')') : NULL;
    /* after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    int ok = p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2;
    free(text);
    return ok ? (long)(ut + st) : -1;
}

void run_script(const char *script, int timeout_ms, const char *what)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL}, *err = NULL;
    int rc = run_cmd(argv, timeout_ms, NULL, &err);
    hassert(rc == 0, "%s failed (%d): %s", what, rc, err ? err : "");
    free(err);
}
