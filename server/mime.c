/*
 * MIME types (TypesConfig). A mime.types file in Apache's format, "type ext ext ..." per line with '#'
 * comments, is read once at startup into an open-addressing hash table keyed by the lower-cased extension,
 * all in the server's pool. Lookups are read-only afterwards, so children and threads share the table freely.
 * As in Apache, an extension listed twice takes the type of its last line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime.h"
#include "pool.h"

struct mime_entry {
    const char *ext; /* lower case; NULL for an empty slot */
    const char *type;
};

struct mime_table {
    struct mime_entry *slots;
    size_t mask; /* number of slots - 1, a power of two minus one */
    size_t count;
};

/* FNV-1a over the lower-cased bytes. */
static uint32_t ext_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)tolower((unsigned char)s[i]);
        h *= 16777619u;
    }
    return h;
}

static int ext_eq(const char *stored, const char *s, size_t n)
{
    return strncasecmp(stored, s, n) == 0 && stored[n] == '\0';
}

static struct mime_entry *slot_for(const struct mime_table *t, const char *ext, size_t n)
{
    size_t i = ext_hash(ext, n) & t->mask;
    while (t->slots[i].ext != NULL && !ext_eq(t->slots[i].ext, ext, n))
        i = (i + 1) & t->mask;
    return &t->slots[i];
}

/* Doubles the table when it is half full; the old slots stay in the pool until it is freed. */
static int table_grow(struct pool *p, struct mime_table *t)
{
    size_t nslots = (t->mask + 1) * 2;
    struct mime_entry *old = t->slots;
    size_t oldn = t->mask + 1;

    t->slots = pool_calloc(p, nslots * sizeof(*t->slots));
    if (t->slots == NULL) {
        t->slots = old;
        return -1;
    }
    t->mask = nslots - 1;
    for (size_t i = 0; i < oldn; i++)
        if (old[i].ext != NULL)
            *slot_for(t, old[i].ext, strlen(old[i].ext)) = old[i];
    return 0;
}

static int table_put(struct pool *p, struct mime_table *t, const char *type, const char *ext, size_t n)
{
    if ((t->count + 1) * 2 > t->mask + 1 && table_grow(p, t) < 0)
        return -1;
    struct mime_entry *e = slot_for(t, ext, n);
    if (e->ext == NULL) {
        char *lower = pool_strndup(p, ext, n);
        if (lower == NULL)
            return -1;
        for (char *c = lower; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        e->ext = lower;
        t->count++;
    }
    e->type = type;
    return 0;
}

/* Adds the types of one line; the line is modified. */
static int parse_line(struct pool *p, struct mime_table *t, char *line)
{
    static const char ws[] = " \t\r\n\f\v";
    char *save = NULL;
    char *tok = strtok_r(line, ws, &save);
    if (tok == NULL || tok[0] == '#')
        return 0;
    const char *type = pool_strdup(p, tok);
    if (type == NULL)
        return -1;
    while ((tok = strtok_r(NULL, ws, &save)) != NULL) {
        if (tok[0] == '#')
            break; /* a comment to the end of the line */
        if (table_put(p, t, type, tok, strlen(tok)) < 0)
            return -1;
    }
    return 0;
}

struct mime_table *mime_load(struct pool *p, const char *path, struct errbuf *err)
{
    struct mime_table *t = NULL;
    char *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "re");

    if (f == NULL) {
        errbuf_set(err, "TypesConfig: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    t = pool_calloc(p, sizeof(*t));
    if (t == NULL)
        goto oom;
    t->slots = pool_calloc(p, 256 * sizeof(*t->slots));
    if (t->slots == NULL)
        goto oom;
    t->mask = 255;

    errno = 0;
    while (getline(&line, &cap, f) >= 0) {
        if (parse_line(p, t, line) < 0)
            goto oom;
    }
    if (ferror(f)) {
        errbuf_set(err, "TypesConfig: cannot read %s: %s", path, strerror(errno ? errno : EIO));
        goto fail;
    }
    free(line);
    fclose(f);
    return t;

oom:
    errbuf_set(err, "TypesConfig: out of memory reading %s", path);
fail:
    free(line);
    fclose(f);
    return NULL;
}

const char *mime_type(const struct mime_table *t, const char *filename)
{
    if (t == NULL || filename == NULL)
        return NULL;
    const char *base = strrchr(filename, '/');
    base = base ? base + 1 : filename;
    const char *dot = strrchr(base, '.');
    if (dot == NULL || dot[1] == '\0')
        return NULL;
    const char *ext = dot + 1;
    const struct mime_entry *e = slot_for(t, ext, strlen(ext));
    return e->ext != NULL ? e->type : NULL;
}
