/*
 * Process supervision, seen from outside: a child killed with SIGKILL is replaced and logged, SIGTERM stops
 * the server with status 0 and no child left (also with a client holding an idle connection), and the PidFile
 * exists exactly while the server runs.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KIDS 256

static const char *supervision_directives(const char *mpm)
{
    /* Enough spares that replacing the dead child is the only change to expect. */
    if (strcmp(mpm, "prefork") == 0)
        return "StartServers 3\nMinSpareServers 3\nMaxSpareServers 5\n";
    return "";
}

MPM_TEST(supervision, killed_child_is_replaced, .timeout = 30)
{
    struct srv *s = server_start(mpm, supervision_directives(mpm));
    pid_t before[MAX_KIDS], after[MAX_KIDS];
    int nb = proc_wait_children(s->pid, before, MAX_KIDS, 1, MAX_KIDS, 3000), na = 0, replaced = 0;

    hassert(nb > 0, "the server (pid %d) has no child process", (int)s->pid);
    pid_t victim = before[0];
    hassert(kill(victim, SIGKILL) == 0, "kill(%d) failed: %s", (int)victim, strerror(errno));

    int64_t deadline = now_ms() + 3000;
    while (now_ms() < deadline && !replaced) {
        sleep_ms(50);
        na = proc_children(s->pid, after, MAX_KIDS);
        for (int i = 0; i < na; i++) {
            if (!pid_in(before, nb, after[i]))
                replaced = 1;
        }
    }
    hassert(replaced, "no new child within 3 s of killing child %d (%d children before, %d now)", (int)victim,
            nb, na);
    hassert(!pid_in(after, na, victim), "killed child %d is still a child (not reaped?)", (int)victim);

    expect_served(s, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", "index.html", NULL);

    char *log = NULL;
    deadline = now_ms() + 3000;
    do {
        free(log);
        log = read_file(s->error_log, NULL);
        if (log && strstr(log, "exit signal Killed (9)"))
            break;
        sleep_ms(50);
    } while (now_ms() < deadline);
    hassert(log && strstr(log, "exit signal Killed (9)"),
            "error_log has no \"exit signal Killed (9)\" line:\n%s", log ? log : "(missing)");
    free(log);
    server_stop(s);
}

MPM_TEST(supervision, sigterm_stops_everything, .timeout = 30)
{
    struct srv *s = server_start(mpm, NULL);
    pid_t kids[MAX_KIDS];
    int n = proc_wait_children(s->pid, kids, MAX_KIDS, 1, MAX_KIDS, 3000);

    hassert(n > 0, "the server (pid %d) has no child process", (int)s->pid);
    /* A client in the middle of a keep-alive connection must not delay the stop. */
    struct conn *c;
    struct resp *r = request_once(s, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", &c);
    resp_free(r);

    int64_t start = now_ms();
    int status = server_terminate(s);
    hassert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x after SIGTERM, want 0", status);
    hassert(now_ms() - start < 4000, "stopping took %lld ms", (long long)(now_ms() - start));
    for (int i = 0; i < n; i++) {
        char path[64];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/%d", (int)kids[i]);
        hassert(stat(path, &st) == -1, "child %d still exists after the server exited", (int)kids[i]);
    }
    conn_close(c);
    server_destroy(s);
}

MPM_TEST(supervision, pid_file, .timeout = 20)
{
    struct srv *s = server_start(mpm, NULL);
    char *text = read_file(s->pid_file, NULL), *want = xasprintf("%d\n", (int)s->pid);
    char path[sizeof(s->pid_file)];

    hassert(text != NULL, "no PidFile %s while running", s->pid_file);
    hassert(strcmp(text, want) == 0, "PidFile holds \"%s\", want \"%d\\n\"", text, (int)s->pid);
    snprintf(path, sizeof(path), "%s", s->pid_file);
    int status = server_terminate(s);
    hassert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x after SIGTERM", status);
    hassert(access(path, F_OK) == -1, "PidFile %s still exists after the server exited", path);
    free(text);
    free(want);
    server_destroy(s);
}
