/*
 * Many clients at once against a small pool: 200 connections opened together (non-blocking, one poll loop),
 * each sends one GET; all must be answered with the exact file although the MPM has far fewer workers, so the
 * rest wait in the listen queue. KeepAlive Off makes every worker free again after one response.
 */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define N_CLIENTS 200

/* The directives that size the pool, for the MPM under test only. */
static const char *pool_directives(const char *mpm)
{
    if (strcmp(mpm, "prefork") == 0)
        return "StartServers 2\nMinSpareServers 1\nMaxSpareServers 4\nMaxRequestWorkers 10\n";
    if (strcmp(mpm, "worker") == 0)
        return "StartServers 2\nThreadsPerChild 5\nMinSpareThreads 5\nMaxSpareThreads 10\nMaxRequestWorkers "
               "10\n";
    return "";
}

enum cstate { CONNECTING, READING, DONE, FAILED };

struct client {
    int fd;
    enum cstate state;
    char *buf;
    size_t len, cap;
    char err[128];
};

static void client_fail(struct client *cl, const char *what, int e)
{
    snprintf(cl->err, sizeof(cl->err), "%s: %s", what, strerror(e));
    cl->state = FAILED;
    close(cl->fd);
    cl->fd = -1;
}

MPM_TEST(concurrency, two_hundred_clients, .timeout = 60)
{
    char *extra = xasprintf("KeepAlive Off\n%s", pool_directives(mpm));
    struct srv *s = server_start(mpm, extra);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)s->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    static const char req[] = "GET /page.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
    struct client *cl = calloc(N_CLIENTS, sizeof(*cl));
    struct pollfd *pfd = calloc(N_CLIENTS, sizeof(*pfd));
    int64_t deadline = now_ms() + 30000;
    int active = N_CLIENTS;

    cr_assert(cl && pfd, "calloc() failed");
    for (int i = 0; i < N_CLIENTS; i++) {
        cl[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        hassert(cl[i].fd != -1, "socket() failed: %s", strerror(errno));
        if (connect(cl[i].fd, (struct sockaddr *)&a, sizeof(a)) == -1 && errno != EINPROGRESS)
            client_fail(&cl[i], "connect()", errno);
        else
            cl[i].state = CONNECTING;
        if (cl[i].state == FAILED)
            active--;
    }

    while (active > 0 && now_ms() < deadline) {
        int n = 0;
        int map[N_CLIENTS];
        for (int i = 0; i < N_CLIENTS; i++) {
            if (cl[i].state == CONNECTING || cl[i].state == READING) {
                pfd[n].fd = cl[i].fd;
                pfd[n].events = cl[i].state == CONNECTING ? POLLOUT : POLLIN;
                pfd[n].revents = 0;
                map[n++] = i;
            }
        }
        int64_t left = deadline - now_ms();
        int rc = poll(pfd, (nfds_t)n, left > 0 ? (int)left : 0);
        if (rc == -1 && errno == EINTR)
            continue;
        hassert(rc >= 0, "poll() failed: %s", strerror(errno));
        for (int k = 0; k < n; k++) {
            struct client *c = &cl[map[k]];
            if (!pfd[k].revents)
                continue;
            if (c->state == CONNECTING) {
                int e = 0;
                socklen_t elen = sizeof(e);
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &elen);
                if (e) {
                    client_fail(c, "connect()", e);
                    active--;
                    continue;
                }
                /* The request is small: one send fits the socket buffer. */
                ssize_t w = send(c->fd, req, strlen(req), MSG_NOSIGNAL);
                if (w != (ssize_t)strlen(req)) {
                    client_fail(c, "send()", w == -1 ? errno : EIO);
                    active--;
                    continue;
                }
                c->state = READING;
                continue;
            }
            if (c->cap - c->len < 4096) {
                c->cap = c->cap ? c->cap * 2 : 8192;
                c->buf = realloc(c->buf, c->cap);
                cr_assert(c->buf != NULL, "realloc() failed");
            }
            ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
            if (r > 0) {
                c->len += (size_t)r;
            } else if (r == 0) {
                c->state = DONE;
                close(c->fd);
                c->fd = -1;
                active--;
            } else if (errno != EAGAIN && errno != EINTR) {
                client_fail(c, "recv()", errno);
                active--;
            }
        }
    }

    int failed = 0, first = -1;
    char first_err[8192] = "";
    for (int i = 0; i < N_CLIENTS; i++) {
        struct client *c = &cl[i];
        char err[512] = "";
        if (c->state == CONNECTING || c->state == READING) {
            snprintf(err, sizeof(err), "no complete response within 30 s (%zu bytes)", c->len);
            close(c->fd);
        } else if (c->state == FAILED) {
            snprintf(err, sizeof(err), "%s after %zu bytes", c->err, c->len);
        } else {
            struct resp *r = calloc(1, sizeof(*r));
            size_t used = 0;
            int rc = resp_parse(c->buf ? c->buf : "", c->len, 0, r, &used, err, sizeof(err));
            if (rc != 1)
                snprintf(err + strlen(err), sizeof(err) - strlen(err), " (%zu bytes, parse %d)", c->len, rc);
            else if (used != c->len)
                snprintf(err, sizeof(err), "%zu bytes after the response", c->len - used);
            else if (r->status != 200)
                snprintf(err, sizeof(err), "status %d", r->status);
            else if (!resp_get(r, "Connection") || strcmp(resp_get(r, "Connection"), "close") != 0)
                snprintf(err, sizeof(err), "no Connection: close with KeepAlive Off");
            else if (r->body_len != PAGE_LEN || memcmp(r->body, harness_page(), PAGE_LEN) != 0)
                snprintf(err, sizeof(err), "wrong body (%zu bytes)", r->body_len);
            if (rc == 1)
                resp_free(r);
            else
                free(r);
        }
        if (err[0]) {
            failed++;
            if (first < 0) {
                first = i;
                snprintf(first_err, sizeof(first_err), "%s", err);
            }
        }
        free(c->buf);
    }
    hassert(failed == 0, "%d of %d clients failed; client %d: %s", failed, N_CLIENTS, first, first_err);
    free(cl);
    free(pfd);
    free(extra);
    server_stop(s);
}
