/* json_min.c - see json_min.h. Recursive descent; strings keep escapes other than \" and
 * \\ and \n as written (test vectors hold plain ASCII). */
#include "json_min.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jm_parser {
    const char *p;
    int depth;
} jm_parser;

static void skip_ws(jm_parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t') ps->p++;
}

static bool parse_value(jm_parser *ps, jm_value *out);

static char *parse_string(jm_parser *ps) {
    if (*ps->p != '"') return NULL;
    const char *s = ++ps->p;
    size_t n = 0;
    while (s[n] && s[n] != '"') n += s[n] == '\\' && s[n + 1] ? 2 : 1;
    if (s[n] != '"') return NULL;
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char c = s[++i];
            *o++ = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    ps->p = s + n + 1;
    return out;
}

static bool push(jm_value *v, size_t *cap) {
    if (v->n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 8;
    jm_value *items = realloc(v->items, nc * sizeof *items);
    if (!items) return false;
    v->items = items;
    if (v->kind == JM_OBJ) {
        char **keys = realloc(v->keys, nc * sizeof *keys);
        if (!keys) return false;
        v->keys = keys;
    }
    *cap = nc;
    return true;
}

static bool parse_container(jm_parser *ps, jm_value *out, bool obj) {
    out->kind = obj ? JM_OBJ : JM_ARR;
    size_t cap = 0;
    ps->p++;
    skip_ws(ps);
    if (*ps->p == (obj ? '}' : ']')) {
        ps->p++;
        return true;
    }
    for (;;) {
        if (!push(out, &cap)) return false;
        char *key = NULL;
        skip_ws(ps);
        if (obj) {
            if (!(key = parse_string(ps))) return false;
            skip_ws(ps);
            if (*ps->p++ != ':') {
                free(key);
                return false;
            }
            out->keys[out->n] = key;
        }
        memset(&out->items[out->n], 0, sizeof out->items[0]);
        out->n++;
        if (!parse_value(ps, &out->items[out->n - 1])) return false;
        skip_ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            continue;
        }
        return *ps->p++ == (obj ? '}' : ']');
    }
}

static bool parse_value(jm_parser *ps, jm_value *out) {
    skip_ws(ps);
    if (++ps->depth > 64) return false;
    bool ok = true;
    char c = *ps->p;
    if (c == '{' || c == '[') {
        ok = parse_container(ps, out, c == '{');
    } else if (c == '"') {
        out->kind = JM_STR;
        ok = (out->str = parse_string(ps)) != NULL;
    } else if (strncmp(ps->p, "true", 4) == 0 || strncmp(ps->p, "false", 5) == 0) {
        out->kind = JM_BOOL;
        out->num = c == 't';
        ps->p += c == 't' ? 4 : 5;
    } else if (strncmp(ps->p, "null", 4) == 0) {
        out->kind = JM_NULL;
        ps->p += 4;
    } else {
        char *end;
        out->kind = JM_NUM;
        out->num = strtod(ps->p, &end);
        ok = end != ps->p;
        ps->p = end;
    }
    ps->depth--;
    return ok;
}

static void free_inner(jm_value *v) {
    for (size_t i = 0; i < v->n; i++) {
        free_inner(&v->items[i]);
        if (v->kind == JM_OBJ) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
}

jm_value *jm_parse(const char *text) {
    jm_value *v = calloc(1, sizeof *v);
    jm_parser ps = {text, 0};
    if (v && !parse_value(&ps, v)) {
        jm_free(v);
        return NULL;
    }
    return v;
}

void jm_free(jm_value *v) {
    if (v) {
        free_inner(v);
        free(v);
    }
}

const jm_value *jm_get(const jm_value *v, const char *key) {
    if (!v || v->kind != JM_OBJ) return NULL;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys[i] && strcmp(v->keys[i], key) == 0) return &v->items[i];
    }
    return NULL;
}

const jm_value *jm_at(const jm_value *v, size_t i) {
    return v && v->kind == JM_ARR && i < v->n ? &v->items[i] : NULL;
}

char *jm_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = '\0';
            }
        }
    }
    fclose(f);
    return buf;
}
