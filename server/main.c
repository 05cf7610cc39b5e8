/*
 * httpd's entry point, with Apache's command line: read the configuration, answer -t/-v/-V, open the logs and
 * the listeners, detach unless told to stay in the foreground, write the PidFile, and hand over to the MPM.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llhttp.h>

#include "../mpm/mpm.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "process.h"

#define MAX_CMDLINE 64

static void usage(const char *prog)
{
    fprintf(stderr,
            "Usage: %s [-D name] [-d directory] [-f file] [-C \"directive\"] [-c \"directive\"]\n"
            "       [-k start|stop] [-v] [-V] [-h] [-t] [-X]\n"
            "Options:\n"
            "  -D name            : define a name for use in <IfDefine name> directives\n"
            "  -d directory       : specify an alternate initial ServerRoot\n"
            "  -f file            : specify an alternate ServerConfigFile (default conf/httpd.conf)\n"
            "  -C \"directive\"     : process directive before reading config files\n"
            "  -c \"directive\"     : process directive after reading config files\n"
            "  -k start|stop      : start the server, or stop the one whose pid is in PidFile\n"
            "  -v                 : show version number\n"
            "  -V                 : show compile settings\n"
            "  -h                 : list available command line options (this page)\n"
            "  -t                 : run syntax check for config files\n"
            "  -X                 : debug mode (only one worker, do not detach)\n",
            prog);
}

static void show_settings(const struct server *s)
{
    printf("Server version: %s\n", SERVER_SOFTWARE);
    printf("Server MPM:     %s\n", s != NULL ? s->mpm->name : mpm_default()->name);
    printf("Compiled-in MPMs:");
    for (int i = 0; mpm_registry[i] != NULL; i++)
        printf(" %s", mpm_registry[i]->name);
    printf("\nllhttp:         %d.%d.%d (strict mode)\n", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
           LLHTTP_VERSION_PATCH);
    if (s != NULL) {
        printf("ServerRoot:     %s\n", s->server_root);
        printf("Config file:    %s\n", s->conf_file);
    }
}

/* Reads the pid in PidFile; 0 if there is none. */
static pid_t read_pid_file(const char *path)
{
    FILE *f = fopen(path, "r");
    long pid = 0;
    if (f == NULL)
        return 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

static int write_pid_file(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error(LOG_ERR, "core", "could not create PidFile %s: %s", path, strerror(errno));
        return -1;
    }
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        log_error(LOG_ERR, "core", "write() to PidFile %s failed: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

/* Detaches from the terminal as Apache does: fork, the parent exits, the child starts a new session. */
static int detach(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "httpd: fork() failed: %s\n", strerror(errno));
        return -1;
    }
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        return -1;
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    return 0;
}

static int stop_running(const struct server *s)
{
    pid_t pid = read_pid_file(s->pid_file);
    if (pid <= 0 || kill(pid, 0) < 0) {
        fprintf(stderr, "httpd (pid file %s) not running\n", s->pid_file);
        return 1;
    }
    if (kill(pid, SIGTERM) < 0) {
        fprintf(stderr, "httpd: kill(%ld, SIGTERM) failed: %s\n", (long)pid, strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *pre[MAX_CMDLINE + 1] = {0}, *post[MAX_CMDLINE + 1] = {0}, *defines[MAX_CMDLINE + 1] = {0};
    int npre = 0, npost = 0, ndef = 0;
    int test_only = 0, show_v = 0, show_V = 0, one_process = 0;
    const char *command = NULL;
    struct config_args args = {0};
    struct errbuf err;
    int opt;

    while ((opt = getopt(argc, argv, "D:d:f:C:c:k:vVhtX")) != -1) {
        switch (opt) {
        case 'D':
            if (ndef < MAX_CMDLINE)
                defines[ndef++] = optarg;
            break;
        case 'd':
            args.server_root = optarg;
            break;
        case 'f':
            args.conf_file = optarg;
            break;
        case 'C':
            if (npre < MAX_CMDLINE)
                pre[npre++] = optarg;
            break;
        case 'c':
            if (npost < MAX_CMDLINE)
                post[npost++] = optarg;
            break;
        case 'k':
            command = optarg;
            break;
        case 'v':
            show_v = 1;
            break;
        case 'V':
            show_V = 1;
            break;
        case 't':
            test_only = 1;
            break;
        case 'X':
            one_process = 1;
            break;
        case 'h':
            usage(argv[0]);
            return 0;
        default:
            usage(argv[0]);
            return 1;
        }
    }
    if (optind < argc) {
        usage(argv[0]);
        return 1;
    }
    if (show_v) {
        printf("Server version: %s\n", SERVER_SOFTWARE);
        return 0;
    }
    if (command != NULL && strcmp(command, "start") != 0 && strcmp(command, "stop") != 0) {
        fprintf(stderr, "httpd: -k %s: supported commands are start and stop\n", command);
        return 1;
    }
    args.pre = pre;
    args.post = post;
    args.defines = defines;

    struct server *s = config_load(&args, &err);
    if (show_V) {
        show_settings(s);
        config_free(s);
        return 0;
    }
    if (s == NULL) {
        fprintf(stderr, "httpd: %s\n", err.msg);
        return 1;
    }
    if (test_only) {
        fprintf(stderr, "Syntax OK\n");
        config_free(s);
        return 0;
    }
    if (command != NULL && strcmp(command, "stop") == 0) {
        int rc = stop_running(s);
        config_free(s);
        return rc;
    }
    s->one_process = one_process;
    s->foreground = one_process;
    for (int i = 0; i < ndef; i++)
        if (strcmp(defines[i], "FOREGROUND") == 0 || strcmp(defines[i], "NO_DETACH") == 0)
            s->foreground = 1;

    pid_t running = read_pid_file(s->pid_file);
    if (running > 0 && running != getpid() && kill(running, 0) == 0) {
        fprintf(stderr, "httpd (pid %ld) already running\n", (long)running);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    process_hold_signals();
    if (log_open(s, &err) < 0 || listen_open(s, &err) < 0) {
        fprintf(stderr, "httpd: %s\n", err.msg);
        return 1;
    }
    if (!s->foreground && detach() < 0)
        return 1;
    if (write_pid_file(s->pid_file) < 0)
        return 1;
    log_error(LOG_NOTICE, "core", "%s (%s MPM) configured -- resuming normal operations", SERVER_SOFTWARE,
              s->mpm->name);
    int rc = s->mpm->run(s);
    listen_close(s);
    unlink(s->pid_file);
    log_close(s);
    config_free(s);
    return rc;
}
