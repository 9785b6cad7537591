/* layer_choice.c - the text forms of the layer choices of skim_model_desc: a list of
 * blocks ("3,5-7") for drop_attn / drop_mlp, and a static head-mask file. */
#include "llama_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>

static skim_status fail(char *msg, size_t size, skim_status s, const char *what, const char *at) {
    return skim_llama_msg(msg, size, s, "%s at \"%.40s\"", what, at);
}

static bool read_int(const char **p, long *out) {
    char *end;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (end == *p || errno != 0 || !isdigit((unsigned char)**p)) {
        return false;
    }
    *p = end;
    *out = v;
    return true;
}

skim_status skim_model_parse_layers(const char *list, int n_layer, uint64_t *out, char *msg,
                                    size_t msg_size) {
    if (!list || !out || n_layer < 1 || n_layer > 64) {
        return skim_llama_msg(msg, msg_size, SKIM_ERR_INVALID_ARG, "layer list: NULL argument "
                              "or %d layers (1 to 64)", n_layer);
    }
    uint64_t bits = 0;
    const char *p = list;
    while (*p) {
        long a, b;
        if (!read_int(&p, &a)) {
            return fail(msg, msg_size, SKIM_ERR_INVALID_ARG, "layer list: a number expected", p);
        }
        b = a;
        if (*p == '-') {
            p++;
            if (!read_int(&p, &b)) {
                return fail(msg, msg_size, SKIM_ERR_INVALID_ARG, "layer list: a number expected",
                            p);
            }
        }
        if (a > b || b >= n_layer) {
            return skim_llama_msg(msg, msg_size, SKIM_ERR_RANGE, "layer list: %ld-%ld is not "
                                  "within the %d layers (0 to %d)", a, b, n_layer, n_layer - 1);
        }
        for (long l = a; l <= b; l++) {
            bits |= (uint64_t)1 << l;
        }
        if (*p == ',') {
            p++;
        } else if (*p) {
            return fail(msg, msg_size, SKIM_ERR_INVALID_ARG, "layer list: ',' expected", p);
        }
    }
    *out = bits;
    return SKIM_OK;
}

skim_status skim_model_read_head_mask(const char *path, int n_layer, int n_head, float *out,
                                      char *msg, size_t msg_size) {
    if (!path || !out || n_layer < 1 || n_head < 1) {
        return skim_llama_msg(msg, msg_size, SKIM_ERR_INVALID_ARG, "head mask: NULL argument or "
                              "no heads");
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        return skim_llama_msg(msg, msg_size, SKIM_ERR_IO, "head mask: cannot open %s", path);
    }
    size_t want = (size_t)n_layer * (size_t)n_head, n = 0;
    float *v = malloc(want * sizeof *v);
    skim_status st = v ? SKIM_OK : SKIM_ERR_OUT_OF_MEMORY;
    char line[1024];
    int lineno = 0;
    while (st == SKIM_OK && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line, *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        for (;;) {
            while (isspace((unsigned char)*p)) p++;
            if (!*p) break;
            char *end;
            float x = strtof(p, &end);
            if (end == p || (*end && !isspace((unsigned char)*end)) || n == want) {
                st = skim_llama_msg(msg, msg_size, SKIM_ERR_FORMAT, "head mask: %s:%d: %s", path,
                                    lineno, n == want ? "more than n_layer * n_head values"
                                                      : "not a number");
                break;
            }
            v[n++] = x;
            p = end;
        }
    }
    fclose(f);
    if (st == SKIM_OK && n != want) {
        st = skim_llama_msg(msg, msg_size, SKIM_ERR_FORMAT, "head mask: %s: %zu values, the model "
                            "has %d layers x %d heads", path, n, n_layer, n_head);
    }
    if (st == SKIM_OK) {
        memcpy(out, v, want * sizeof *v);
    } else if (st == SKIM_ERR_OUT_OF_MEMORY) {
        skim_llama_msg(msg, msg_size, st, "head mask: out of memory");
    }
    free(v);
    return st;
}
