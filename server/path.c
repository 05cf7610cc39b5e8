/*
 * Request paths. path_normalize() turns the raw path of a request target into the canonical form the rest of
 * the server trusts: one pass that percent-decodes each segment in place and resolves "." and ".." as it goes
 * (RFC 3986 5.2.4), so "%2e%2e" is a ".." too, as in Apache. The output is never longer than the input.
 *
 * path_open_beneath() opens a file under the DocumentRoot so that neither ".." nor a symlink (absolute, or
 * relative and climbing out) can reach outside it. The kernel does this atomically with openat2() and
 * RESOLVE_BENEATH; on kernels without it (ENOSYS, or a seccomp filter answering EPERM) we walk the path one
 * component at a time with O_NOFOLLOW, expanding symlinks ourselves and refusing those that would leave the
 * root, with the same rules as RESOLVE_BENEATH: absolute targets are refused, relative ones are followed
 * while they stay beneath. An escape fails with EXDEV in both implementations.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#define PATH_HAVE_OPENAT2 1
#endif

#include "path.h"
#include "pool.h"

/* As the kernel: at most this many symlinks are followed while resolving one path. */
#define PATH_MAX_SYMLINKS 40

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int path_normalize(struct pool *p, const char *raw, size_t len, enum path_slashes slashes, char **out)
{
    if (len == 0 || raw[0] != '/')
        return 400;

    char *o = pool_alloc(p, len + 1);
    if (o == NULL)
        return 500;

    size_t n = 1; /* o[0..n) is the output so far; it always ends with '/' between segments */
    size_t i = 1;
    o[0] = '/';

    while (i <= len) {
        /* decode one segment, up to the next '/' (or %2F with PATH_SLASHES_ON), straight into the output */
        size_t seg = n;
        int slash = 0; /* the segment ends at an encoded slash: i is at its last character */
        while (i < len && raw[i] != '/') {
            unsigned char c = (unsigned char)raw[i];
            if (c == '\0')
                return 400;
            if (c == '%') {
                int hi = i + 2 < len ? hex_value((unsigned char)raw[i + 1]) : -1;
                int lo = hi >= 0 ? hex_value((unsigned char)raw[i + 2]) : -1;
                if (lo < 0)
                    return 400;
                c = (unsigned char)(hi << 4 | lo);
                if (c == '\0')
                    return 400;
                if (c == '/' && slashes == PATH_SLASHES_OFF)
                    return 404;
                if (c == '/' && slashes == PATH_SLASHES_ON) {
                    i += 2;
                    slash = 1;
                    break;
                }
                if (c == '/') { /* PATH_SLASHES_NODECODE: the escape stays as written */
                    memcpy(o + n, raw + i, 3);
                    n += 3;
                    i += 3;
                    continue;
                }
                i += 2;
            }
            o[n++] = (char)c;
            i++;
        }
        int more = slash || i < len; /* a '/' follows this segment */
        size_t seglen = n - seg;

        if (seglen == 0) {
            /* an empty segment: repeated slashes are merged */
        } else if (seglen == 1 && o[seg] == '.') {
            n = seg;
        } else if (seglen == 2 && o[seg] == '.' && o[seg + 1] == '.') {
            if (seg == 1)
                return 400; /* ".." above the root */
            /* drop the previous segment: back to just after the '/' that precedes it */
            n = seg - 1;
            while (n > 0 && o[n - 1] != '/')
                n--;
        } else if (more) {
            o[n++] = '/';
        }
        i++; /* past the '/' (or past the end) */
    }
    o[n] = '\0';
    *out = o;
    return 0;
}

/* ---- the fallback walk ---- */

/* The directories the walk went through, so that ".." from a symlink target can go back up without ever
 * naming a parent the kernel would resolve for us. stack[0] is the root and is not ours to close. */
struct walk {
    int *stack;
    size_t depth, cap;
};

static int walk_push(struct walk *w, int fd)
{
    if (w->depth == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        int *s = realloc(w->stack, cap * sizeof(*s));
        if (s == NULL) {
            close(fd);
            errno = ENOMEM;
            return -1;
        }
        w->stack = s;
        w->cap = cap;
    }
    w->stack[w->depth++] = fd;
    return 0;
}

static void walk_free(struct walk *w)
{
    int saved = errno;
    for (size_t k = 1; k < w->depth; k++)
        close(w->stack[k]);
    free(w->stack);
    errno = saved;
}

/*
 * Resolves rel component by component. `todo` holds what is left to resolve; a symlink's target is spliced in
 * front of the rest. Each component is opened O_PATH|O_NOFOLLOW and fstat()ed through that fd, so what we
 * inspect is what we descend into: a symlink swapped in behind our back is seen as a symlink, never followed.
 * The last component is reopened with the caller's flags plus O_NOFOLLOW, for the same reason.
 */
static int open_beneath_walk(int root_fd, const char *rel, int flags)
{
    struct walk w = {0};
    char *todo = NULL, *link = NULL;
    int result = -1, links = 0;

    if (rel[0] == '/') {
        errno = EXDEV;
        return -1;
    }
    if (strlen(rel) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    todo = strdup(rel);
    link = malloc(PATH_MAX);
    if (todo == NULL || link == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    if (walk_push(&w, root_fd) < 0)
        goto fail;

    char *rest = todo;
    for (;;) {
        while (*rest == '/')
            rest++;
        char *end = strchrnul(rest, '/');
        char *next = end;
        while (*next == '/')
            next++;
        int last = *next == '\0';
        size_t clen = (size_t)(end - rest);
        int cur = w.stack[w.depth - 1];

        if (clen == 0 || (clen == 1 && rest[0] == '.')) {
            if (last) {
                /* the path names the current directory itself */
                result = openat(cur, ".", flags | O_CLOEXEC);
                goto done;
            }
            rest = next;
            continue;
        }
        if (clen == 2 && rest[0] == '.' && rest[1] == '.') {
            if (w.depth == 1) {
                errno = EXDEV;
                goto fail;
            }
            close(w.stack[--w.depth]);
            if (last) {
                result = openat(w.stack[w.depth - 1], ".", flags | O_CLOEXEC);
                goto done;
            }
            rest = next;
            continue;
        }

        char saved = *end;
        *end = '\0';
        int fd = openat(cur, rest, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        *end = saved;
        if (fd < 0)
            goto fail;
        struct stat st;
        if (fstat(fd, &st) < 0) {
            close(fd);
            goto fail;
        }

        if (S_ISLNK(st.st_mode)) {
            ssize_t tl = readlinkat(fd, "", link, PATH_MAX);
            close(fd);
            if (tl < 0)
                goto fail;
            if (tl >= PATH_MAX) {
                errno = ENAMETOOLONG;
                goto fail;
            }
            if (++links > PATH_MAX_SYMLINKS) {
                errno = ELOOP;
                goto fail;
            }
            if (tl == 0 || link[0] == '/') {
                errno = EXDEV; /* absolute targets are refused, as RESOLVE_BENEATH does */
                goto fail;
            }
            /* new todo: target, then what followed the link (a trailing '/' kept: it asks for a directory) */
            const char *after = last ? end : next;
            size_t alen = strlen(after);
            size_t sep = *after != '\0' && *after != '/';
            if ((size_t)tl + sep + alen >= PATH_MAX) {
                errno = ENAMETOOLONG;
                goto fail;
            }
            char *nt = malloc((size_t)tl + sep + alen + 1);
            if (nt == NULL) {
                errno = ENOMEM;
                goto fail;
            }
            memcpy(nt, link, (size_t)tl);
            if (sep)
                nt[tl] = '/';
            memcpy(nt + tl + sep, after, alen + 1);
            free(todo);
            todo = rest = nt;
            continue;
        }

        if (last) {
            if (*end == '/' && !S_ISDIR(st.st_mode)) {
                close(fd);
                errno = ENOTDIR;
                goto fail;
            }
            if ((flags & O_PATH) && !(flags & O_DIRECTORY)) {
                result = fd;
                goto done;
            }
            close(fd);
            *end = '\0';
            result = openat(cur, rest, flags | O_NOFOLLOW | O_CLOEXEC);
            *end = saved;
            goto done;
        }
        if (!S_ISDIR(st.st_mode)) {
            close(fd);
            errno = ENOTDIR;
            goto fail;
        }
        if (walk_push(&w, fd) < 0)
            goto fail;
        rest = next;
    }

done:
    walk_free(&w);
    free(todo);
    free(link);
    return result;

fail:
    walk_free(&w);
    free(todo);
    free(link);
    return -1;
}

#ifdef PATH_HAVE_OPENAT2
/* 1 once openat2() was found missing (old kernel or a seccomp filter): do not try it again. */
static atomic_int openat2_missing;
#endif

int path_open_beneath(int root_fd, const char *rel, int flags)
{
    if (rel[0] == '\0')
        rel = ".";
#ifdef PATH_HAVE_OPENAT2
    if (!atomic_load_explicit(&openat2_missing, memory_order_relaxed)) {
        struct open_how how;
        memset(&how, 0, sizeof(how));
        how.flags = (unsigned long long)(flags | O_CLOEXEC);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        for (int tries = 0; tries < 8; tries++) {
            long fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
            if (fd >= 0)
                return (int)fd;
            /* EAGAIN: a concurrent rename or mount was seen during the lookup; try again */
            if (errno != EAGAIN)
                break;
        }
        if (errno == ENOSYS)
            atomic_store_explicit(&openat2_missing, 1, memory_order_relaxed);
        else if (errno != EPERM)
            return -1;
        /* EPERM may be a seccomp filter refusing openat2, or a real refusal the walk will report again */
    }
#endif
    return open_beneath_walk(root_fd, rel, flags);
}
