/* gguf_get.c - reading the parsed form of an open GGUF file. */
#include "gguf_impl.h"

SKIM_API uint32_t skim_gguf_version(const skim_gguf *g) { return g ? g->version : 0; }
SKIM_API uint32_t skim_gguf_alignment(const skim_gguf *g) { return g ? g->alignment : 0; }
SKIM_API uint64_t skim_gguf_data_offset(const skim_gguf *g) { return g ? g->data_offset : 0; }
SKIM_API bool skim_gguf_is_mapped(const skim_gguf *g) {
    return g && g->backing == SKIM_GGUF_MAPPED;
}

SKIM_API int64_t skim_gguf_n_kv(const skim_gguf *g) { return g ? g->n_kv : 0; }

SKIM_API const char *skim_gguf_key(const skim_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_kv) return NULL;
    return g->keys[i];
}

SKIM_API int64_t skim_gguf_find_key(const skim_gguf *g, const char *key) {
    if (!g || !key) return -1;
    int64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->keys[g->key_order[mid]], key);
        if (c == 0) return g->key_order[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

SKIM_API const skim_gguf_value *skim_gguf_kv_value(const skim_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_kv) return NULL;
    return &g->values[i];
}

SKIM_API const skim_gguf_value *skim_gguf_find(const skim_gguf *g, const char *key) {
    return skim_gguf_kv_value(g, skim_gguf_find_key(g, key));
}

SKIM_API skim_gguf_type skim_gguf_value_type(const skim_gguf_value *v) {
    return v ? (skim_gguf_type)v->type : SKIM_GGUF_TYPE_COUNT;
}

/* The value's bits when it has type t. */
static skim_status gv_bits(const skim_gguf_value *v, const void *out, uint32_t t, uint64_t *bits) {
    if (!v || !out) return SKIM_ERR_INVALID_ARG;
    if (v->type != t) return SKIM_ERR_TYPE;
    *bits = v->u.bits;
    return SKIM_OK;
}

#define GV_GETTER(fn, ctype, gtype)                                                         \
    SKIM_API skim_status fn(const skim_gguf_value *v, ctype *out) {                         \
        uint64_t bits;                                                                      \
        skim_status s = gv_bits(v, out, gtype, &bits);                                      \
        if (s == SKIM_OK) {                                                                 \
            *out = (ctype)bits;                                                             \
        }                                                                                   \
        return s;                                                                           \
    }
GV_GETTER(skim_gguf_value_u8, uint8_t, SKIM_GGUF_UINT8)
GV_GETTER(skim_gguf_value_u16, uint16_t, SKIM_GGUF_UINT16)
GV_GETTER(skim_gguf_value_u32, uint32_t, SKIM_GGUF_UINT32)
GV_GETTER(skim_gguf_value_u64, uint64_t, SKIM_GGUF_UINT64)
#undef GV_GETTER

/* Signed values: reinterpret the two's complement bits of their width. */
#define GV_SIGNED(fn, ctype, utype, gtype)                                                  \
    SKIM_API skim_status fn(const skim_gguf_value *v, ctype *out) {                         \
        uint64_t bits;                                                                      \
        skim_status s = gv_bits(v, out, gtype, &bits);                                      \
        if (s == SKIM_OK) {                                                                 \
            utype u = (utype)bits;                                                          \
            ctype x;                                                                        \
            memcpy(&x, &u, sizeof x);                                                       \
            *out = x;                                                                       \
        }                                                                                   \
        return s;                                                                           \
    }
GV_SIGNED(skim_gguf_value_i8, int8_t, uint8_t, SKIM_GGUF_INT8)
GV_SIGNED(skim_gguf_value_i16, int16_t, uint16_t, SKIM_GGUF_INT16)
GV_SIGNED(skim_gguf_value_i32, int32_t, uint32_t, SKIM_GGUF_INT32)
GV_SIGNED(skim_gguf_value_i64, int64_t, uint64_t, SKIM_GGUF_INT64)
GV_SIGNED(skim_gguf_value_f32, float, uint32_t, SKIM_GGUF_FLOAT32)
GV_SIGNED(skim_gguf_value_f64, double, uint64_t, SKIM_GGUF_FLOAT64)
#undef GV_SIGNED

SKIM_API skim_status skim_gguf_value_bool(const skim_gguf_value *v, bool *out) {
    uint64_t bits;
    skim_status s = gv_bits(v, out, SKIM_GGUF_BOOL, &bits);
    if (s == SKIM_OK) *out = bits != 0;
    return s;
}

SKIM_API skim_status skim_gguf_value_str(const skim_gguf_value *v, const char **out, size_t *len) {
    if (!v || !out) return SKIM_ERR_INVALID_ARG;
    if (v->type != SKIM_GGUF_STRING) return SKIM_ERR_TYPE;
    *out = v->u.str;
    if (len) *len = (size_t)v->n;
    return SKIM_OK;
}

SKIM_API skim_status skim_gguf_value_int(const skim_gguf_value *v, int64_t *out) {
    if (!v || !out) return SKIM_ERR_INVALID_ARG;
    uint64_t b = v->u.bits;
    switch (v->type) {
    case SKIM_GGUF_UINT8: case SKIM_GGUF_UINT16: case SKIM_GGUF_UINT32: case SKIM_GGUF_BOOL:
        *out = (int64_t)b;
        return SKIM_OK;
    case SKIM_GGUF_UINT64:
        if (b > (uint64_t)INT64_MAX) return SKIM_ERR_RANGE;
        *out = (int64_t)b;
        return SKIM_OK;
    case SKIM_GGUF_INT8: *out = (int8_t)(uint8_t)b; return SKIM_OK;
    case SKIM_GGUF_INT16: *out = (int16_t)(uint16_t)b; return SKIM_OK;
    case SKIM_GGUF_INT32: *out = (int32_t)(uint32_t)b; return SKIM_OK;
    case SKIM_GGUF_INT64: {
        int64_t x;
        memcpy(&x, &b, sizeof x);
        *out = x;
        return SKIM_OK;
    }
    default: return SKIM_ERR_TYPE;
    }
}

SKIM_API skim_status skim_gguf_value_float(const skim_gguf_value *v, double *out) {
    if (!v || !out) return SKIM_ERR_INVALID_ARG;
    if (v->type == SKIM_GGUF_FLOAT32) {
        float f;
        uint32_t u = (uint32_t)v->u.bits;
        memcpy(&f, &u, sizeof f);
        *out = f;
        return SKIM_OK;
    }
    if (v->type == SKIM_GGUF_FLOAT64) {
        double d;
        memcpy(&d, &v->u.bits, sizeof d);
        *out = d;
        return SKIM_OK;
    }
    int64_t i;
    skim_status s = skim_gguf_value_int(v, &i);
    if (s == SKIM_OK) *out = (double)i;
    return s;
}

SKIM_API skim_status skim_gguf_value_arr(const skim_gguf_value *v, skim_gguf_type *elem_type,
                                         uint64_t *n) {
    if (!v) return SKIM_ERR_INVALID_ARG;
    if (v->type != SKIM_GGUF_ARRAY) return SKIM_ERR_TYPE;
    if (elem_type) *elem_type = (skim_gguf_type)v->arr_type;
    if (n) *n = v->n;
    return SKIM_OK;
}

SKIM_API const void *skim_gguf_arr_data(const skim_gguf_value *v) {
    if (!v || v->type != SKIM_GGUF_ARRAY || skim_gguf_scalar_size(v->arr_type) == 0) return NULL;
    return v->u.data;
}

SKIM_API const skim_gguf_value *skim_gguf_arr_elem(const skim_gguf_value *v, uint64_t j) {
    if (!v || v->type != SKIM_GGUF_ARRAY || skim_gguf_scalar_size(v->arr_type) != 0 ||
        !v->u.elems || j >= v->n) {
        return NULL;
    }
    return &v->u.elems[j];
}

SKIM_API skim_status skim_gguf_get_int(const skim_gguf *g, const char *key, int64_t *out) {
    if (!g || !key || !out) return SKIM_ERR_INVALID_ARG;
    const skim_gguf_value *v = skim_gguf_find(g, key);
    return v ? skim_gguf_value_int(v, out) : SKIM_ERR_FORMAT;
}

SKIM_API skim_status skim_gguf_get_float(const skim_gguf *g, const char *key, double *out) {
    if (!g || !key || !out) return SKIM_ERR_INVALID_ARG;
    const skim_gguf_value *v = skim_gguf_find(g, key);
    return v ? skim_gguf_value_float(v, out) : SKIM_ERR_FORMAT;
}

SKIM_API skim_status skim_gguf_get_str(const skim_gguf *g, const char *key, const char **out) {
    if (!g || !key || !out) return SKIM_ERR_INVALID_ARG;
    const skim_gguf_value *v = skim_gguf_find(g, key);
    return v ? skim_gguf_value_str(v, out, NULL) : SKIM_ERR_FORMAT;
}

SKIM_API int64_t skim_gguf_n_tensors(const skim_gguf *g) { return g ? g->n_tensors : 0; }

SKIM_API int64_t skim_gguf_find_tensor(const skim_gguf *g, const char *name) {
    if (!g || !name) return -1;
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->tensors[g->tensor_order[mid]].name, name);
        if (c == 0) return g->tensor_order[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

SKIM_API skim_status skim_gguf_tensor_info_get(const skim_gguf *g, int64_t i,
                                               skim_gguf_tensor_info *out) {
    if (!g || !out) return SKIM_ERR_INVALID_ARG;
    if (i < 0 || i >= g->n_tensors) return SKIM_ERR_RANGE;
    *out = g->tensors[i];
    return SKIM_OK;
}
