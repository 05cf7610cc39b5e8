/*
 * httpd's entry point, with Apache's command line: read the configuration, answer -t/-v/-V/-k, open the logs
 * and the listeners, detach unless told to stay in the foreground, write the PidFile, and hand over to
 * restart_serve() (server/restart.c), which runs the MPM and switches to a new configuration on each restart.
 * Warnings of the configuration are printed here, on stderr, and only by the commands that start a server or
 * check its configuration.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../mpm/mpm.h"
#include "config.h"
#include "listen.h"
#include "handlers.h"
#include "info.h"
#include "log.h"
#include "process.h"
#include "restart.h"
#include "tls.h"
#include "headers.h"
#include "proxy_conf.h"
#include "unixd.h"

#define MAX_CMDLINE 64

/* -k arguments and the signal each sends, as Apache's. */
static const struct {
    const char *name;
    int sig; /* 0: start */
} k_commands[] = {
    {"start", 0}, {"stop", SIGTERM}, {"restart", SIGHUP}, {"graceful", SIGUSR1}, {"graceful-stop", SIGWINCH},
};

static void usage(const char *prog)
{
    fprintf(stderr,
            "Usage: %s [-D name] [-d directory] [-f file] [-C \"directive\"] [-c \"directive\"]\n"
            "       [-k start|restart|graceful|graceful-stop|stop] [-v] [-V] [-h] [-t] [-S] [-X]\n"
            "Options:\n"
            "  -D name            : define a name for use in <IfDefine name> directives\n"
            "  -d directory       : specify an alternate initial ServerRoot\n"
            "  -f file            : specify an alternate ServerConfigFile (default " HTTPD_ROOT
            "/" SERVER_CONFIG_FILE ")\n"
            "  -C \"directive\"     : process directive before reading config files\n"
            "  -c \"directive\"     : process directive after reading config files\n"
            "  -k start           : start the server\n"
            "  -k stop            : stop the server whose pid is in PidFile now (SIGTERM)\n"
            "  -k graceful-stop   : stop it once its connections are finished (SIGWINCH)\n"
            "  -k restart         : restart it, replacing its children at once (SIGHUP)\n"
            "  -k graceful        : restart it, letting its children finish (SIGUSR1); reopens the logs\n"
            "  -v                 : show version number\n"
            "  -V                 : show compile settings\n"
            "  -h                 : list available command line options (this page)\n"
            "  -t                 : run syntax check for config files\n"
            "  -t -D DUMP_VHOSTS  : show parsed vhost settings\n"
            "  -t -D DUMP_RUN_CFG : show parsed run settings\n"
            "  -S                 : a synonym for -t -D DUMP_RUN_CFG -D DUMP_VHOSTS\n"
            "  -X                 : debug mode (only one worker, do not detach)\n",
            prog);
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
    if (setsid() < 0) {
        log_error(LOG_EMERG, "core", "setsid() failed: %s", strerror(errno));
        return -1;
    }
    int fd = open("/dev/null", O_RDWR);
    if (fd < 0 || dup2(fd, STDIN_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) {
        log_error(LOG_EMERG, "core", "%s() of /dev/null failed: %s", fd < 0 ? "open" : "dup2",
                  strerror(errno));
        return -1;
    }
    if (fd > STDERR_FILENO)
        close(fd);
    return 0;
}

/* The pid of the server PidFile names if it runs, else 0. */
static pid_t running_pid(const struct server *s)
{
    pid_t pid = read_pid_file(s->pid_file);
    if (pid <= 0 || pid == getpid())
        return 0;
    /* EPERM: it exists but is not ours to signal; the kill() that follows says so */
    if (kill(pid, 0) < 0 && errno == ESRCH)
        return 0;
    return pid;
}

/*
 * -k stop|graceful-stop|restart|graceful: signals the server in PidFile. Returns 0 or 1 (main's status), or
 * -1 when none runs and the command is a restart: then, as Apache, this process starts one.
 */
static int signal_running(const struct server *s, const char *command, int sig)
{
    pid_t pid = running_pid(s);
    if (pid == 0) {
        if (sig == SIGHUP || sig == SIGUSR1) {
            fprintf(stderr, "httpd not running, trying to start\n");
            return -1;
        }
        fprintf(stderr, "httpd (pid file %s) not running\n", s->pid_file);
        return 1;
    }
    if (kill(pid, sig) < 0) {
        fprintf(stderr, "httpd: -k %s: kill(%ld, %s) failed: %s\n", command, (long)pid, strsignal(sig),
                strerror(errno));
        return 1;
    }
    return 0;
}

/* Appends a -D, -C or -c argument to its NULL-terminated list (MAX_CMDLINE at most). */
static void append(const char **list, int *n, const char *arg)
{
    if (*n < MAX_CMDLINE)
        list[(*n)++] = arg;
}

int main(int argc, char **argv)
{
    const char *pre[MAX_CMDLINE + 1] = {0}, *post[MAX_CMDLINE + 1] = {0}, *defines[MAX_CMDLINE + 1] = {0};
    int npre = 0, npost = 0, ndef = 0, opt, test_only = 0, show_v = 0, show_V = 0, one_process = 0, k_sig = 0;
    int dump_only = 0;
    const char *command = NULL;
    static const struct config_module *const modules[] = {&unixd_module, &proxy_module, &tls_module,
                                                          &headers_module, NULL};
    struct config_args args = {.mpms = mpm_registry,
                               .find_handler = handler_find,
                               .modules = modules,
                               .pre = pre,
                               .post = post,
                               .defines = defines};
    struct warnings w = {0};
    struct errbuf err;

    while ((opt = getopt(argc, argv, "D:d:f:C:c:k:vVhtSX")) != -1) {
        switch (opt) {
        case 'D':
            append(defines, &ndef, optarg);
            break;
        case 'd':
            args.server_root = optarg;
            break;
        case 'f':
            args.conf_file = optarg;
            break;
        case 'C':
            append(pre, &npre, optarg);
            break;
        case 'c':
            append(post, &npost, optarg);
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
        case 'S':
            /* as Apache: -t -D DUMP_VHOSTS -D DUMP_RUN_CFG, without "Syntax OK" */
            test_only = dump_only = 1;
            append(defines, &ndef, "DUMP_VHOSTS");
            append(defines, &ndef, "DUMP_RUN_CFG");
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
    if (command != NULL) {
        size_t i, n = sizeof(k_commands) / sizeof(k_commands[0]);
        for (i = 0; i < n && strcmp(command, k_commands[i].name) != 0; i++)
            ;
        if (i == n) {
            fprintf(stderr,
                    "httpd: -k %s: the commands are start, restart, graceful, graceful-stop and stop\n",
                    command);
            return 1;
        }
        k_sig = k_commands[i].sig;
    }

    struct server *s = config_load(&args, &w, &err);
    if (show_V) {
        info_settings(s, err.msg);
        config_free(s);
        return 0;
    }
    if (s == NULL) {
        fprintf(stderr, "httpd: %s\n", err.msg);
        return 1;
    }
    if (test_only) {
        restart_warnings(&w, NULL, 0);
        info_dump(s, defines);
        fflush(stdout);
        if (!dump_only)
            fprintf(stderr, "Syntax OK\n");
        config_free(s);
        return 0;
    }
    if (k_sig != 0) {
        /* the configuration was read (and is good) before a restart is asked for, as apachectl's check */
        int rc = signal_running(s, command, k_sig);
        if (rc >= 0) {
            config_free(s);
            return rc;
        }
    }
    s->one_process = s->foreground = one_process;
    for (int i = 0; i < ndef; i++)
        if (strcmp(defines[i], "FOREGROUND") == 0 || strcmp(defines[i], "NO_DETACH") == 0)
            s->foreground = 1;

    pid_t running = running_pid(s);
    if (running > 0) {
        fprintf(stderr, "httpd (pid %ld) already running\n", (long)running);
        config_free(s);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    restart_warnings(&w, unixd_root_warning(s), 0);
    struct restart rs = {.args = &args};
    process_hold_signals();
    if (restart_prepare(&rs, s, &err) < 0) {
        fprintf(stderr, "httpd: %s\n", err.msg);
        return 1;
    }
    if (!s->foreground) {
        if (detach() < 0)
            return 1;
        log_redirect_stderr();
    }
    if (restart_write_pid_file(s->pid_file) < 0)
        return 1;

    int rc = restart_serve(&rs, &s);
    if (unlink(s->pid_file) < 0)
        log_error(LOG_WARN, "core", "unlink() of PidFile %s failed: %s", s->pid_file, strerror(errno));
    restart_release(s);
    return rc == PROCESS_STOPPED ? 0 : 1;
}
