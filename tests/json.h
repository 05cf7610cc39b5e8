/*
 * A strict JSON parser (RFC 8259) for tests that read JSON output back (server-status ?json). Header-only:
 * the including test defines JSON_ASSERT(cond, fmt, ...) as its assertion (cr_assert, or the harness's
 * hassert).
 */
#ifndef HTTPD_TEST_JSON_H
#define HTTPD_TEST_JSON_H

enum jtype { J_NULL, J_FALSE, J_TRUE, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
    enum jtype type;
    double num;
    char *str; /* J_STR */
    int n;     /* members or elements */
    char **keys;
    struct jval **items;
};

static void jfree(struct jval *v)
{
    if (v == NULL)
        return;
    for (int i = 0; i < v->n; i++) {
        if (v->keys != NULL)
            free(v->keys[i]);
        jfree(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->str);
    free(v);
}

static void jws(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
        (*p)++;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* A string at *p (which is at the opening quote); \u escapes above 0xff become '?'. NULL if invalid. */
static char *jstring(const char **p)
{
    const char *s = *p + 1;
    size_t len = 0, cap = 32;
    char *out = malloc(cap);
    for (;;) {
        unsigned char ch = (unsigned char)*s++;
        if (ch == '"')
            break;
        if (ch < 0x20)
            goto fail;
        if (ch == '\\') {
            char e = *s++;
            const char *simple = strchr("\"\\/bfnrt", e);
            if (e == 'u') {
                int code = 0;
                for (int k = 0; k < 4; k++) {
                    int h = hexval(s[k]);
                    if (h < 0)
                        goto fail;
                    code = code * 16 + h;
                }
                s += 4;
                ch = code <= 0xff ? (unsigned char)code : '?';
            } else if (e != '\0' && simple != NULL) {
                ch = (unsigned char)"\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            } else {
                goto fail;
            }
        }
        if (len + 2 > cap)
            out = realloc(out, cap *= 2);
        out[len++] = (char)ch;
    }
    out[len] = '\0';
    *p = s;
    return out;
fail:
    free(out);
    return NULL;
}

static struct jval *jvalue(const char **p, int depth);

/* Appends an element (and its key, for objects). */
static void jadd(struct jval *v, char *key, struct jval *item)
{
    v->items = realloc(v->items, sizeof(*v->items) * (size_t)(v->n + 1));
    if (v->type == J_OBJ)
        v->keys = realloc(v->keys, sizeof(*v->keys) * (size_t)(v->n + 1)), v->keys[v->n] = key;
    v->items[v->n++] = item;
}

static struct jval *jcontainer(const char **p, int depth, enum jtype type)
{
    struct jval *v = calloc(1, sizeof(*v));
    char close = type == J_OBJ ? '}' : ']';
    v->type = type;
    (*p)++;
    jws(p);
    if (**p == close) {
        (*p)++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        jws(p);
        if (type == J_OBJ) {
            if (**p != '"' || (key = jstring(p)) == NULL)
                goto fail;
            for (int i = 0; i < v->n; i++)
                if (strcmp(v->keys[i], key) == 0) { /* duplicate keys are an error here */
                    free(key);
                    goto fail;
                }
            jws(p);
            if (**p != ':') {
                free(key);
                goto fail;
            }
            (*p)++;
        }
        struct jval *item = jvalue(p, depth + 1);
        if (item == NULL) {
            free(key);
            goto fail;
        }
        jadd(v, key, item);
        jws(p);
        if (**p == ',') {
            (*p)++;
            continue;
        }
        if (**p != close)
            goto fail;
        (*p)++;
        return v;
    }
fail:
    jfree(v);
    return NULL;
}

static struct jval *jvalue(const char **p, int depth)
{
    if (depth > 32)
        return NULL;
    jws(p);
    const char *s = *p;
    if (*s == '{')
        return jcontainer(p, depth, J_OBJ);
    if (*s == '[')
        return jcontainer(p, depth, J_ARR);
    struct jval *v = calloc(1, sizeof(*v));
    if (*s == '"') {
        v->type = J_STR;
        if ((v->str = jstring(p)) == NULL)
            goto fail;
        return v;
    }
    const char *words[] = {"null", "false", "true"};
    for (int k = 0; k < 3; k++) {
        if (strncmp(s, words[k], strlen(words[k])) == 0) {
            v->type = (enum jtype)k;
            *p = s + strlen(words[k]);
            return v;
        }
    }
    /* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
    const char *q = s;
    if (*q == '-')
        q++;
    if (*q == '0')
        q++;
    else if (*q >= '1' && *q <= '9')
        while (*q >= '0' && *q <= '9')
            q++;
    else
        goto fail;
    if (*q == '.') {
        if (!(*++q >= '0' && *q <= '9'))
            goto fail;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        if (*q == '+' || *q == '-')
            q++;
        if (!(*q >= '0' && *q <= '9'))
            goto fail;
        while (*q >= '0' && *q <= '9')
            q++;
    }
    v->type = J_NUM;
    v->num = strtod(s, NULL);
    *p = q;
    return v;
fail:
    jfree(v);
    return NULL;
}

/* The whole text as one JSON value (whitespace around it allowed), or NULL. */
static struct jval *jparse(const char *text)
{
    const char *p = text;
    struct jval *v = jvalue(&p, 0);
    if (v == NULL)
        return NULL;
    jws(&p);
    if (*p != '\0') {
        jfree(v);
        return NULL;
    }
    return v;
}

/* The value at a dotted path ("children.1.pid"), or NULL. */
static struct jval *jget(struct jval *v, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *save = NULL, *seg = strtok_r(buf, ".", &save); v != NULL && seg != NULL;
         seg = strtok_r(NULL, ".", &save)) {
        struct jval *next = NULL;
        if (v->type == J_OBJ) {
            for (int i = 0; i < v->n; i++)
                if (strcmp(v->keys[i], seg) == 0)
                    next = v->items[i];
        } else if (v->type == J_ARR) {
            int i = atoi(seg);
            next = i >= 0 && i < v->n ? v->items[i] : NULL;
        }
        v = next;
    }
    return v;
}

static double jnum(struct jval *root, const char *path)
{
    struct jval *v = jget(root, path);
    JSON_ASSERT(v != NULL && v->type == J_NUM, "%s is not a number", path);
    return v->num;
}

static const char *jstr(struct jval *root, const char *path)
{
    struct jval *v = jget(root, path);
    JSON_ASSERT(v != NULL && v->type == J_STR, "%s is not a string", path);
    return v->str;
}

static int jbool(struct jval *root, const char *path)
{
    struct jval *v = jget(root, path);
    JSON_ASSERT(v != NULL && (v->type == J_TRUE || v->type == J_FALSE), "%s is not a boolean", path);
    return v->type == J_TRUE;
}

#endif
