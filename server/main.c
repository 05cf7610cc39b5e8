/*
 * httpd's entry point, with Apache's command line: read the configuration, answer -t/-v/-V/-k, open the logs
 * and the listeners, detach unless told to stay in the foreground, write the PidFile, and hand over to the
 * MPM.
 *
 * The one thing to know: main() is also the restart loop. The MPM's run() returns PROCESS_RESTART (HUP) or
 * PROCESS_GRACEFUL (USR1) while its children still serve; main() then reads the configuration again and
 * switches to it only if every part can be put in place (configuration, limits, listeners, logs): the new
 * server takes over the sockets of the addresses it keeps, the logs are opened anew (logrotate), a generation
 * starts, and the new configuration's MPM, maybe another one, runs and adopts the old children while they
 * finish. If anything fails, the old configuration goes on serving and the error log says why.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <llhttp.h>

#include "../mpm/mpm.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "process.h"
#include "scoreboard.h"

#define MAX_CMDLINE 64
#define MAX_EXTRA   4         /* -c directives main() appends itself */
#define MAX_MPMS    16        /* registry entries looked at */
#define MAX_SLOTS   (1 << 20) /* worker slots of a scoreboard sized for every MPM, at most (40 MiB) */

/* -k arguments and the signal each sends, as Apache's. */
static const struct {
    const char *name;
    int sig; /* 0: start */
} k_commands[] = {
    {"start", 0}, {"stop", SIGTERM}, {"restart", SIGHUP}, {"graceful", SIGUSR1}, {"graceful-stop", SIGWINCH},
};

/* ServerLimit and ThreadLimit of each MPM (registry order) as the configuration gave them at start-up: the
 * scoreboard is sized from them, so restarts keep them (as Apache does). */
static struct {
    int known;
    int server_limit, thread_limit;
} start_limits[MAX_MPMS];

static void usage(const char *prog)
{
    fprintf(stderr,
            "Usage: %s [-D name] [-d directory] [-f file] [-C \"directive\"] [-c \"directive\"]\n"
            "       [-k start|restart|graceful|graceful-stop|stop] [-v] [-V] [-h] [-t] [-X]\n"
            "Options:\n"
            "  -D name            : define a name for use in <IfDefine name> directives\n"
            "  -d directory       : specify an alternate initial ServerRoot\n"
            "  -f file            : specify an alternate ServerConfigFile (default " HTTPD_ROOT "/" SERVER_CONFIG_FILE ")\n"
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
    /* as Apache's: where an installed httpd looks without -d and -f */
    printf("Server compiled with....\n");
    printf(" -D HTTPD_ROOT=\"%s\"\n", HTTPD_ROOT);
    printf(" -D SERVER_CONFIG_FILE=\"%s\"\n", SERVER_CONFIG_FILE);
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
    if (close(fd) < 0) {
        log_error(LOG_ERR, "core", "close() of PidFile %s failed: %s", path, strerror(errno));
        return -1;
    }
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

static int mpm_index(const struct mpm *m)
{
    for (int i = 0; i < MAX_MPMS && mpm_registry[i] != NULL; i++)
        if (mpm_registry[i] == m)
            return i;
    return -1;
}

static int has_directive(const struct mpm *m, const char *name)
{
    for (const struct directive *d = m->directives; d != NULL && d->name != NULL; d++)
        if (strcasecmp(d->name, name) == 0)
            return 1;
    return 0;
}

/* Reads the configuration with `extra` -c directives after the command line's own. */
static struct server *load_with(const struct config_args *args, const char *const *extra, int nextra,
                                struct errbuf *err)
{
    const char *post[MAX_CMDLINE + MAX_EXTRA + 1];
    struct config_args a = *args;
    int n = 0;

    for (; args->post != NULL && args->post[n] != NULL && n < MAX_CMDLINE; n++)
        post[n] = args->post[n];
    for (int i = 0; i < nextra && i < MAX_EXTRA; i++)
        post[n++] = extra[i];
    post[n] = NULL;
    a.post = post;
    return config_load(&a, err);
}

/* Sends stderr to /dev/null; returns the saved descriptor for unsilence(), or -1 if it could not. */
static int silence(void)
{
    int saved = dup(STDERR_FILENO);
    int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved < 0 || null < 0 || dup2(null, STDERR_FILENO) < 0) {
        if (saved >= 0)
            close(saved);
        saved = -1;
    }
    if (null >= 0)
        close(null);
    return saved;
}

static void unsilence(int saved)
{
    if (saved < 0)
        return;
    if (dup2(saved, STDERR_FILENO) < 0)
        log_error(LOG_ERR, "core", "dup2() restoring stderr failed: %s", strerror(errno));
    close(saved);
}

/*
 * Sizes the scoreboard for every MPM a graceful restart could switch to: the configuration is read again as
 * each other compiled-in MPM would read it (`-c "MPM name"` last), and the scoreboard gets the largest
 * ServerLimit and the largest ThreadLimit. Their clamp warnings are not the running server's, so stderr is
 * silenced meanwhile. An MPM the configuration does not load with is left out (a restart to it is fitted
 * into the scoreboard); if all of them would need more than MAX_SLOTS, the scoreboard fits the running MPM
 * alone.
 */
static void size_scoreboard(const struct server *s, const struct config_args *args, int *rows, int *slots)
{
    int self = mpm_index(s->mpm);
    int own_rows = s->mpm_conf.server_limit > 0 ? s->mpm_conf.server_limit : 1;
    int own_slots = s->mpm_conf.thread_limit > 0 ? s->mpm_conf.thread_limit : 1;

    *rows = own_rows;
    *slots = own_slots;
    if (self < 0)
        return;
    start_limits[self].known = 1;
    start_limits[self].server_limit = s->mpm_conf.server_limit;
    start_limits[self].thread_limit = s->mpm_conf.thread_limit;
    if (s->one_process)
        return;

    int saved = silence();
    for (int i = 0; i < MAX_MPMS && mpm_registry[i] != NULL; i++) {
        char line[64];
        struct errbuf err;
        if (i == self)
            continue;
        snprintf(line, sizeof(line), "MPM %s", mpm_registry[i]->name);
        const char *extra[] = {line};
        struct server *o = load_with(args, extra, 1, &err);
        if (o == NULL)
            continue;
        start_limits[i].known = 1;
        start_limits[i].server_limit = o->mpm_conf.server_limit;
        start_limits[i].thread_limit = o->mpm_conf.thread_limit;
        config_free(o);
    }
    unsilence(saved);

    for (int i = 0; i < MAX_MPMS; i++) {
        if (!start_limits[i].known)
            continue;
        if (start_limits[i].server_limit > *rows)
            *rows = start_limits[i].server_limit;
        if (start_limits[i].thread_limit > *slots)
            *slots = start_limits[i].thread_limit;
    }
    if ((long long)*rows * *slots > MAX_SLOTS) {
        log_error(
            LOG_NOTICE, "core",
            "a scoreboard for every MPM would need %d x %d slots: sized for %s alone (%d x %d); a graceful "
            "restart to another MPM is fitted into it",
            *rows, *slots, s->mpm->name, own_rows, own_slots);
        *rows = own_rows;
        *slots = own_slots;
        for (int i = 0; i < MAX_MPMS; i++)
            if (i != self)
                start_limits[i].known = 0;
    }
}

/*
 * ServerLimit and ThreadLimit keep their start-up values (the scoreboard was sized with them), as Apache's:
 * a restart that changes one is told so in the error log, and the configuration is read again with the
 * start-up value appended, so that the MPM's clamps of the directives that depend on them follow. Returns n,
 * its replacement, or NULL with err.
 */
static struct server *keep_limits(struct server *n, const struct config_args *args, struct errbuf *err)
{
    struct scoreboard *sb = process_scoreboard();
    int i = mpm_index(n->mpm), sl, tl;
    char sl_line[64], tl_line[64];
    const char *extra[2];
    int nextra = 0;

    if (i >= 0 && start_limits[i].known) {
        sl = start_limits[i].server_limit;
        tl = start_limits[i].thread_limit;
    } else {
        sl = n->mpm_conf.server_limit < sb->server_limit ? n->mpm_conf.server_limit : sb->server_limit;
        tl = n->mpm_conf.thread_limit < sb->thread_limit ? n->mpm_conf.thread_limit : sb->thread_limit;
    }
    if (n->mpm_conf.server_limit == sl && n->mpm_conf.thread_limit == tl)
        return n;
    if (n->mpm_conf.server_limit != sl)
        log_error(LOG_WARN, "core",
                  "changing ServerLimit to %d from original value of %d not allowed during restart",
                  n->mpm_conf.server_limit, sl);
    if (n->mpm_conf.thread_limit != tl)
        log_error(LOG_WARN, "core",
                  "changing ThreadLimit to %d from original value of %d not allowed during restart",
                  n->mpm_conf.thread_limit, tl);
    snprintf(sl_line, sizeof(sl_line), "ServerLimit %d", sl);
    extra[nextra++] = sl_line;
    if (has_directive(n->mpm, "ThreadLimit")) {
        snprintf(tl_line, sizeof(tl_line), "ThreadLimit %d", tl);
        extra[nextra++] = tl_line;
    }
    config_free(n);
    return load_with(args, extra, nextra, err);
}

/*
 * A restart: reads the configuration again and puts it in place, all or nothing. Returns the new server, or
 * NULL with err once everything done is undone (old still serves, with its listeners and logs).
 */
static struct server *reload(struct server *old, const struct config_args *args, struct errbuf *err)
{
    struct server *n = config_load(args, err);
    if (n == NULL)
        return NULL;
    n = keep_limits(n, args, err);
    if (n == NULL)
        return NULL;
    n->one_process = old->one_process;
    n->foreground = old->foreground;
    if (listen_open_from(n, old, err) < 0)
        goto fail;
    if (log_open(n, err) < 0) {
        listen_abandon(n, old);
        goto fail;
    }

    /* Nothing can fail from here on: the old server gives up its sockets and files. */
    listen_release(old, n);
    log_release(old);
    if (!n->foreground)
        log_redirect_stderr();
    if (strcmp(old->pid_file, n->pid_file) != 0 && write_pid_file(n->pid_file) == 0 &&
        unlink(old->pid_file) < 0)
        log_error(LOG_WARN, "core", "unlink() of the old PidFile %s failed: %s", old->pid_file,
                  strerror(errno));
    return n;

fail:
    config_free(n);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *pre[MAX_CMDLINE + 1] = {0}, *post[MAX_CMDLINE + 1] = {0}, *defines[MAX_CMDLINE + 1] = {0};
    int npre = 0, npost = 0, ndef = 0;
    int test_only = 0, show_v = 0, show_V = 0, one_process = 0, k_sig = 0;
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
    if (k_sig != 0) {
        /* the configuration was read (and is good) before a restart is asked for, as apachectl's check */
        int rc = signal_running(s, command, k_sig);
        if (rc >= 0) {
            config_free(s);
            return rc;
        }
    }
    s->one_process = one_process;
    s->foreground = one_process;
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

    int rows, slots;
    size_scoreboard(s, &args, &rows, &slots);
    process_hold_signals();
    if (process_init(rows, slots, &err) < 0) {
        fprintf(stderr, "httpd: could not create the scoreboard: %s\n", err.msg);
        return 1;
    }
    if (log_open(s, &err) < 0 || listen_open(s, &err) < 0) {
        fprintf(stderr, "httpd: %s\n", err.msg);
        return 1;
    }
    if (!s->foreground) {
        if (detach() < 0)
            return 1;
        log_redirect_stderr();
    }
    if (write_pid_file(s->pid_file) < 0)
        return 1;
    log_error(LOG_NOTICE, "core", "%s (%s MPM) configured -- resuming normal operations", SERVER_SOFTWARE,
              s->mpm->name);

    int rc;
    for (;;) {
        rc = s->mpm->run(s);
        if (rc != PROCESS_RESTART && rc != PROCESS_GRACEFUL)
            break;
        struct server *n = reload(s, &args, &err);
        if (n == NULL) {
            log_error(LOG_ERR, "core", "restart failed, still serving with the previous configuration: %s",
                      err.msg);
            continue;
        }
        config_free(s);
        s = n;
        process_new_generation(rc == PROCESS_GRACEFUL);
        log_error(LOG_NOTICE, "core", "%s (%s MPM) configured -- resuming normal operations", SERVER_SOFTWARE,
                  s->mpm->name);
    }
    listen_close(s);
    if (unlink(s->pid_file) < 0)
        log_error(LOG_WARN, "core", "unlink() of PidFile %s failed: %s", s->pid_file, strerror(errno));
    log_close(s);
    config_free(s);
    return rc == PROCESS_STOPPED ? 0 : 1;
}
