/* gguf_write.c - building a GGUF version 3 file in memory and writing it out.
 *
 * Each key's value is kept encoded as it will be in the file (little-endian), so that
 * writing is a copy and nested arrays are appended in place. Tensor data is borrowed. */
#include "gguf_impl.h"

#include <stdarg.h>
#include <stdio.h>

#define KEY_MAX_LEN 65535u

typedef struct gw_kv {
    char *key;         /* NUL-terminated copy */
    size_t key_len;
    uint32_t type;
    uint8_t *val;      /* encoded value */
    size_t len, cap;
} gw_kv;

typedef struct gw_tensor {
    char name[SKIM_GGUF_MAX_NAME + 1];
    uint32_t ggml_type;
    int n_dims;
    int64_t ne[SKIM_GGUF_MAX_DIMS];
    const void *data;
    size_t size;
    skim_gguf_rows_fn fn; /* or rows produced while writing */
    void *fn_user;
} gw_tensor;

struct skim_gguf_writer {
    skim_allocator alloc;
    gw_kv *kvs;
    int64_t n_kv, cap_kv;
    gw_tensor *tensors;
    int64_t n_tensors, cap_tensors;
    /* The value being set, committed into kvs only once complete, so that a failed call
     * leaves the writer as it was; an open array of arrays lives here until its end_arr. */
    gw_kv pending;
    /* Open arrays of arrays: per level, where the count is in pending. */
    int depth;
    size_t count_at[SKIM_GGUF_MAX_DEPTH];
    uint64_t count[SKIM_GGUF_MAX_DEPTH];
    char msg[SKIM_GGUF_MSG_LEN];
};

static skim_status SKIM_GGUF_PRINTF(3, 4) gw_fail(skim_gguf_writer *w, skim_status s,
                                                  const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return s;
}

/* Grows an array of elem-sized items to hold at least need. */
static bool gw_grow(const skim_allocator *a, void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap) return true;
    int64_t n = *cap ? *cap : 8;
    while (n < need) {
        if (n > INT64_MAX / 2) return false;
        n *= 2;
    }
    if ((uint64_t)n > SIZE_MAX / elem) return false;
    void *q = skim_gguf_mem_alloc(a, (size_t)n * elem);
    if (!q) return false;
    if (*p) memcpy(q, *p, (size_t)*cap * elem);
    skim_gguf_mem_free(a, *p);
    *p = q;
    *cap = n;
    return true;
}

SKIM_API skim_status skim_gguf_writer_create(const skim_gguf_writer_desc *desc,
                                             skim_gguf_writer **out_writer) {
    if (!out_writer) return SKIM_ERR_INVALID_ARG;
    const skim_allocator *a = desc ? &desc->allocator : NULL;
    skim_gguf_writer *w = skim_gguf_mem_alloc(a, sizeof *w);
    if (!w) return SKIM_ERR_OUT_OF_MEMORY;
    memset(w, 0, sizeof *w);
    if (a) w->alloc = *a;
    *out_writer = w;
    return SKIM_OK;
}

SKIM_API void skim_gguf_writer_destroy(skim_gguf_writer *w) {
    if (!w) return;
    skim_allocator a = w->alloc;
    for (int64_t i = 0; i < w->n_kv; i++) {
        skim_gguf_mem_free(&a, w->kvs[i].key);
        skim_gguf_mem_free(&a, w->kvs[i].val);
    }
    skim_gguf_mem_free(&a, w->pending.key);
    skim_gguf_mem_free(&a, w->pending.val);
    skim_gguf_mem_free(&a, w->kvs);
    skim_gguf_mem_free(&a, w->tensors);
    skim_gguf_mem_free(&a, w);
}

SKIM_API const char *skim_gguf_writer_error(const skim_gguf_writer *w) {
    return w ? w->msg : "";
}

/* Appends n bytes to a kv's encoded value. */
static bool gw_append(skim_gguf_writer *w, gw_kv *kv, const void *p, size_t n) {
    if (n > SIZE_MAX - kv->len) return false;
    if (kv->len + n > kv->cap) {
        size_t cap = kv->cap ? kv->cap : 16;
        while (cap < kv->len + n) {
            if (cap > SIZE_MAX / 2) return false;
            cap *= 2;
        }
        uint8_t *q = skim_gguf_mem_alloc(&w->alloc, cap);
        if (!q) return false;
        if (kv->len) memcpy(q, kv->val, kv->len);
        skim_gguf_mem_free(&w->alloc, kv->val);
        kv->val = q;
        kv->cap = cap;
    }
    if (n) memcpy(kv->val + kv->len, p, n);
    kv->len += n;
    return true;
}

static bool gw_append_le(skim_gguf_writer *w, gw_kv *kv, uint64_t v, size_t n) {
    uint8_t b[8];
    /* All 8 bytes, little-endian: the first n are v's low n bytes. (A store of n bytes
     * made gcc 12 -O3 for aarch64 warn of an overflow of b it could not rule out.) */
    skim_gguf_store_le(b, v, sizeof b);
    return n <= sizeof b && gw_append(w, kv, b, n);
}

static int64_t gw_find_kv(const skim_gguf_writer *w, const char *key) {
    for (int64_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kvs[i].key, key) == 0) return i;
    }
    return -1;
}

/* Starts a value for key in w->pending. */
static skim_status gw_begin_kv(skim_gguf_writer *w, const char *key, uint32_t type, gw_kv **out) {
    if (!key) return gw_fail(w, SKIM_ERR_INVALID_ARG, "key is NULL");
    if (w->depth > 0) return gw_fail(w, SKIM_ERR_STATE, "'%.64s': an array of arrays is open", key);
    size_t len = strlen(key);
    if (len == 0 || len > KEY_MAX_LEN) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "key length %zu is not in 1..%u", len, KEY_MAX_LEN);
    }
    char *copy = skim_gguf_mem_alloc(&w->alloc, len + 1);
    if (!copy) return gw_fail(w, SKIM_ERR_OUT_OF_MEMORY, "out of memory setting '%.64s'", key);
    memcpy(copy, key, len + 1);
    skim_gguf_mem_free(&w->alloc, w->pending.key);
    w->pending.key = copy;
    w->pending.key_len = len;
    w->pending.type = type;
    w->pending.len = 0;
    *out = &w->pending;
    return SKIM_OK;
}

/* Drops the pending value (and any open arrays): the writer is as before the call. */
static skim_status gw_discard(skim_gguf_writer *w) {
    skim_gguf_mem_free(&w->alloc, w->pending.key);
    w->pending.key = NULL;
    w->pending.len = 0;
    w->depth = 0;
    return gw_fail(w, SKIM_ERR_OUT_OF_MEMORY, "out of memory setting a value");
}

/* Moves the pending value into its kv: replacing the old value in place, or appended. */
static skim_status gw_commit(skim_gguf_writer *w) {
    gw_kv *p = &w->pending;
    int64_t i = gw_find_kv(w, p->key);
    if (i >= 0) {
        gw_kv *kv = &w->kvs[i];
        uint8_t *val = kv->val;
        size_t cap = kv->cap;
        kv->val = p->val, kv->len = p->len, kv->cap = p->cap, kv->type = p->type;
        p->val = val, p->cap = cap, p->len = 0; /* the old buffer becomes the scratch */
        skim_gguf_mem_free(&w->alloc, p->key);
        p->key = NULL;
        return SKIM_OK;
    }
    if (!gw_grow(&w->alloc, (void **)&w->kvs, &w->cap_kv, w->n_kv + 1, sizeof(gw_kv))) {
        return gw_discard(w);
    }
    w->kvs[w->n_kv++] = *p;
    memset(p, 0, sizeof *p);
    return SKIM_OK;
}

static skim_status gw_set_scalar(skim_gguf_writer *w, const char *key, uint32_t type,
                                 uint64_t bits) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    gw_kv *kv = NULL;
    skim_status s = gw_begin_kv(w, key, type, &kv);
    if (s != SKIM_OK) return s;
    if (!gw_append_le(w, kv, bits, skim_gguf_scalar_size(type))) return gw_discard(w);
    return gw_commit(w);
}

SKIM_API skim_status skim_gguf_writer_set_u8(skim_gguf_writer *w, const char *key, uint8_t v) {
    return gw_set_scalar(w, key, SKIM_GGUF_UINT8, v);
}
SKIM_API skim_status skim_gguf_writer_set_i8(skim_gguf_writer *w, const char *key, int8_t v) {
    return gw_set_scalar(w, key, SKIM_GGUF_INT8, (uint8_t)v);
}
SKIM_API skim_status skim_gguf_writer_set_u16(skim_gguf_writer *w, const char *key, uint16_t v) {
    return gw_set_scalar(w, key, SKIM_GGUF_UINT16, v);
}
SKIM_API skim_status skim_gguf_writer_set_i16(skim_gguf_writer *w, const char *key, int16_t v) {
    return gw_set_scalar(w, key, SKIM_GGUF_INT16, (uint16_t)v);
}
SKIM_API skim_status skim_gguf_writer_set_u32(skim_gguf_writer *w, const char *key, uint32_t v) {
    return gw_set_scalar(w, key, SKIM_GGUF_UINT32, v);
}
SKIM_API skim_status skim_gguf_writer_set_i32(skim_gguf_writer *w, const char *key, int32_t v) {
    return gw_set_scalar(w, key, SKIM_GGUF_INT32, (uint32_t)v);
}
SKIM_API skim_status skim_gguf_writer_set_f32(skim_gguf_writer *w, const char *key, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return gw_set_scalar(w, key, SKIM_GGUF_FLOAT32, u);
}
SKIM_API skim_status skim_gguf_writer_set_bool(skim_gguf_writer *w, const char *key, bool v) {
    return gw_set_scalar(w, key, SKIM_GGUF_BOOL, v ? 1 : 0);
}
SKIM_API skim_status skim_gguf_writer_set_u64(skim_gguf_writer *w, const char *key, uint64_t v) {
    return gw_set_scalar(w, key, SKIM_GGUF_UINT64, v);
}
SKIM_API skim_status skim_gguf_writer_set_i64(skim_gguf_writer *w, const char *key, int64_t v) {
    return gw_set_scalar(w, key, SKIM_GGUF_INT64, (uint64_t)v);
}
SKIM_API skim_status skim_gguf_writer_set_f64(skim_gguf_writer *w, const char *key, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return gw_set_scalar(w, key, SKIM_GGUF_FLOAT64, u);
}

SKIM_API skim_status skim_gguf_writer_set_str_n(skim_gguf_writer *w, const char *key,
                                                const char *str, size_t len) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    if (!str && len) return gw_fail(w, SKIM_ERR_INVALID_ARG, "string is NULL");
    gw_kv *kv = NULL;
    skim_status s = gw_begin_kv(w, key, SKIM_GGUF_STRING, &kv);
    if (s != SKIM_OK) return s;
    if (!gw_append_le(w, kv, len, 8) || !gw_append(w, kv, str, len)) return gw_discard(w);
    return gw_commit(w);
}

SKIM_API skim_status skim_gguf_writer_set_str(skim_gguf_writer *w, const char *key,
                                              const char *str) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    if (!str) return gw_fail(w, SKIM_ERR_INVALID_ARG, "string is NULL");
    return skim_gguf_writer_set_str_n(w, key, str, strlen(str));
}

/* Where an array goes: a new value under key (depth 0), or the next element of the open
 * array of arrays (key NULL). */
static skim_status gw_array_target(skim_gguf_writer *w, const char *key, gw_kv **out) {
    if (w->depth == 0) return gw_begin_kv(w, key, SKIM_GGUF_ARRAY, out);
    if (key) return gw_fail(w, SKIM_ERR_STATE, "'%.64s': an array of arrays is open", key);
    if (w->depth >= SKIM_GGUF_MAX_DEPTH) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "arrays nested deeper than %d levels",
                       SKIM_GGUF_MAX_DEPTH);
    }
    w->count[w->depth - 1]++;
    *out = &w->pending;
    return SKIM_OK;
}

/* A complete array at depth 0 is committed; inside an array of arrays it waits. */
static skim_status gw_array_done(skim_gguf_writer *w) {
    return w->depth == 0 ? gw_commit(w) : SKIM_OK;
}

SKIM_API skim_status skim_gguf_writer_set_arr(skim_gguf_writer *w, const char *key,
                                              skim_gguf_type elem_type, const void *data,
                                              uint64_t n) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    size_t sz = skim_gguf_scalar_size((uint32_t)elem_type);
    if (sz == 0) return gw_fail(w, SKIM_ERR_INVALID_ARG, "element type %d is not numeric", elem_type);
    if (!data && n) return gw_fail(w, SKIM_ERR_INVALID_ARG, "data is NULL");
    if (n > SIZE_MAX / sz) return gw_fail(w, SKIM_ERR_TOO_LARGE, "array of %llu elements",
                                          (unsigned long long)n);
    gw_kv *kv = NULL;
    skim_status s = gw_array_target(w, key, &kv);
    if (s != SKIM_OK) return s;
    if (!gw_append_le(w, kv, (uint64_t)elem_type, 4) || !gw_append_le(w, kv, n, 8)) {
        return gw_discard(w);
    }
    const uint8_t *src = data;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t bits = 0;
        switch (sz) {
        case 1: bits = src[j]; break;
        case 2: { uint16_t x; memcpy(&x, src + j * 2, 2); bits = x; } break;
        case 4: { uint32_t x; memcpy(&x, src + j * 4, 4); bits = x; } break;
        default: memcpy(&bits, src + j * 8, 8); break;
        }
        if (elem_type == SKIM_GGUF_BOOL) bits = bits != 0;
        if (!gw_append_le(w, kv, bits, sz)) return gw_discard(w);
    }
    return gw_array_done(w);
}

SKIM_API skim_status skim_gguf_writer_set_arr_str(skim_gguf_writer *w, const char *key,
                                                  const char *const *strs, const size_t *lens,
                                                  uint64_t n) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    if (!strs && n) return gw_fail(w, SKIM_ERR_INVALID_ARG, "strs is NULL");
    for (uint64_t j = 0; j < n; j++) {
        if (!strs[j] && (!lens || lens[j])) {
            return gw_fail(w, SKIM_ERR_INVALID_ARG, "string %llu is NULL", (unsigned long long)j);
        }
    }
    gw_kv *kv = NULL;
    skim_status s = gw_array_target(w, key, &kv);
    if (s != SKIM_OK) return s;
    if (!gw_append_le(w, kv, SKIM_GGUF_STRING, 4) || !gw_append_le(w, kv, n, 8)) {
        return gw_discard(w);
    }
    for (uint64_t j = 0; j < n; j++) {
        size_t len = lens ? lens[j] : strlen(strs[j]);
        if (!gw_append_le(w, kv, len, 8) || !gw_append(w, kv, strs[j], len)) {
            return gw_discard(w);
        }
    }
    return gw_array_done(w);
}

SKIM_API skim_status skim_gguf_writer_begin_arr(skim_gguf_writer *w, const char *key) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    gw_kv *kv = NULL;
    skim_status s = gw_array_target(w, key, &kv);
    if (s != SKIM_OK) return s;
    if (!gw_append_le(w, kv, SKIM_GGUF_ARRAY, 4) || !gw_append_le(w, kv, 0, 8)) {
        return gw_discard(w);
    }
    w->count_at[w->depth] = kv->len - 8;
    w->count[w->depth] = 0;
    w->depth++;
    return SKIM_OK;
}

SKIM_API skim_status skim_gguf_writer_end_arr(skim_gguf_writer *w) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    if (w->depth == 0) return gw_fail(w, SKIM_ERR_STATE, "end_arr without begin_arr");
    w->depth--;
    skim_gguf_store_le(w->pending.val + w->count_at[w->depth], w->count[w->depth], 8);
    return gw_array_done(w);
}

/* ---------------------------------------------------------------- tensors */

static int64_t gw_find_tensor(const skim_gguf_writer *w, const char *name) {
    for (int64_t i = 0; i < w->n_tensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0) return i;
    }
    return -1;
}

/* Checks the shape and computes the byte size. */
static skim_status gw_tensor_shape(skim_gguf_writer *w, gw_tensor *t, const char *name,
                                   skim_type type, int n_dims, const int64_t *ne) {
    int64_t block;
    size_t bytes;
    t->ggml_type = skim_gguf_ggml_type(type);
    if (t->ggml_type == UINT32_MAX || !skim_gguf_ggml_type_size(t->ggml_type, &block, &bytes)) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor '%s': bad type %d", name, (int)type);
    }
    if (n_dims < 1 || n_dims > SKIM_GGUF_MAX_DIMS || !ne) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor '%s': n_dims %d is not in 1..4", name, n_dims);
    }
    int64_t nel = 1;
    t->n_dims = n_dims;
    for (int d = 0; d < SKIM_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1) return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor '%s': ne[%d] < 1", name, d);
        if (nel > INT64_MAX / ne[d]) return gw_fail(w, SKIM_ERR_TOO_LARGE, "tensor '%s': too many elements", name);
        nel *= ne[d];
    }
    if (ne[0] % block != 0) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor '%s': ne[0] = %lld is not a multiple of %lld",
                       name, (long long)ne[0], (long long)block);
    }
    uint64_t blocks = (uint64_t)(nel / block);
    if (blocks > SIZE_MAX / bytes) return gw_fail(w, SKIM_ERR_TOO_LARGE, "tensor '%s': too large", name);
    t->size = (size_t)blocks * bytes;
    return SKIM_OK;
}

static skim_status gw_add_tensor(skim_gguf_writer *w, const char *name, skim_type type,
                                 int n_dims, const int64_t *ne, const void *data, size_t size,
                                 skim_gguf_rows_fn fn, void *fn_user) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    if (!name) return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor name is NULL");
    if (w->depth > 0) return gw_fail(w, SKIM_ERR_STATE, "tensor '%.64s': an array is open", name);
    size_t len = strlen(name);
    if (len == 0 || len > SKIM_GGUF_MAX_NAME) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor name length %zu is not in 1..%d", len,
                       SKIM_GGUF_MAX_NAME);
    }
    if (gw_find_tensor(w, name) >= 0) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor '%s' added twice", name);
    }
    gw_tensor t;
    memset(&t, 0, sizeof t);
    memcpy(t.name, name, len + 1);
    skim_status s = gw_tensor_shape(w, &t, name, type, n_dims, ne);
    if (s != SKIM_OK) return s;
    if (data && size != t.size) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor '%s': %zu bytes given, %zu expected", name,
                       size, t.size);
    }
    t.data = data;
    t.fn = fn;
    t.fn_user = fn_user;
    if (!gw_grow(&w->alloc, (void **)&w->tensors, &w->cap_tensors, w->n_tensors + 1,
                 sizeof(gw_tensor))) {
        return gw_fail(w, SKIM_ERR_OUT_OF_MEMORY, "out of memory adding tensor '%s'", name);
    }
    w->tensors[w->n_tensors++] = t;
    return SKIM_OK;
}

SKIM_API skim_status skim_gguf_writer_add_tensor(skim_gguf_writer *w, const char *name,
                                                 skim_type type, int n_dims, const int64_t *ne,
                                                 const void *data, size_t size) {
    return gw_add_tensor(w, name, type, n_dims, ne, data, size, NULL, NULL);
}

SKIM_API skim_status skim_gguf_writer_add_tensor_rows(skim_gguf_writer *w, const char *name,
                                                      skim_type type, int n_dims,
                                                      const int64_t *ne, skim_gguf_rows_fn fn,
                                                      void *user) {
    if (w && !fn) return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor '%.64s': fn is NULL",
                                 name ? name : "");
    return gw_add_tensor(w, name, type, n_dims, ne, NULL, 0, fn, user);
}

SKIM_API skim_status skim_gguf_writer_set_tensor_data(skim_gguf_writer *w, const char *name,
                                                      const void *data, size_t size) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    if (!name || !data) return gw_fail(w, SKIM_ERR_INVALID_ARG, "name or data is NULL");
    int64_t i = gw_find_tensor(w, name);
    if (i < 0) return gw_fail(w, SKIM_ERR_INVALID_ARG, "no tensor '%s'", name);
    if (size != w->tensors[i].size) {
        return gw_fail(w, SKIM_ERR_INVALID_ARG, "tensor '%s': %zu bytes given, %zu expected", name,
                       size, w->tensors[i].size);
    }
    w->tensors[i].data = data;
    return SKIM_OK;
}

/* ---------------------------------------------------------------- layout and output */

typedef struct gw_layout {
    uint64_t alignment;
    uint64_t meta_size;   /* header, kvs, tensor infos */
    uint64_t data_offset; /* meta_size rounded up */
    uint64_t total;
} gw_layout;

static bool gw_add(uint64_t *a, uint64_t b) {
    if (*a > UINT64_MAX - b) return false;
    *a += b;
    return true;
}

static bool gw_align(uint64_t *a, uint64_t align) {
    uint64_t r = *a % align;
    return r == 0 || gw_add(a, align - r);
}

static skim_status gw_layout_of(skim_gguf_writer *w, gw_layout *l) {
    if (w->depth > 0) return gw_fail(w, SKIM_ERR_STATE, "an array of arrays is still open");
    l->alignment = SKIM_GGUF_DEFAULT_ALIGNMENT;
    int64_t ai = gw_find_kv(w, "general.alignment");
    if (ai >= 0) {
        const gw_kv *kv = &w->kvs[ai];
        uint64_t v = kv->type == SKIM_GGUF_UINT32 ? skim_gguf_load_le(kv->val, 4) : 0;
        if (!skim_gguf_is_pow2(v)) {
            return gw_fail(w, SKIM_ERR_INVALID_ARG, "general.alignment must be a u32 power of two");
        }
        l->alignment = v;
    }
    uint64_t n = 24;
    bool ok = true;
    for (int64_t i = 0; i < w->n_kv; i++) {
        ok = ok && gw_add(&n, 12 + (uint64_t)w->kvs[i].key_len) && gw_add(&n, w->kvs[i].len);
    }
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const gw_tensor *t = &w->tensors[i];
        if (!t->data && !t->fn) {
            return gw_fail(w, SKIM_ERR_STATE, "tensor '%s' has no data", t->name);
        }
        ok = ok && gw_add(&n, 8 + strlen(t->name) + 4 + 8 * (uint64_t)t->n_dims + 4 + 8);
    }
    l->meta_size = n;
    ok = ok && gw_align(&n, l->alignment);
    l->data_offset = n;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        ok = ok && gw_add(&n, w->tensors[i].size) && gw_align(&n, l->alignment);
    }
    if (!ok || n > (uint64_t)SIZE_MAX) return gw_fail(w, SKIM_ERR_TOO_LARGE, "the file is too large");
    l->total = n;
    return SKIM_OK;
}

SKIM_API skim_status skim_gguf_writer_query_size(skim_gguf_writer *w, uint64_t *out_size) {
    if (!w || !out_size) return SKIM_ERR_INVALID_ARG;
    gw_layout l;
    skim_status s = gw_layout_of(w, &l);
    if (s == SKIM_OK) *out_size = l.total;
    return s;
}

/* Encodes header, kvs and tensor infos (meta_size bytes) into dst. */
static void gw_encode_meta(const skim_gguf_writer *w, const gw_layout *l, uint8_t *dst) {
    uint8_t *p = dst;
    memcpy(p, SKIM_GGUF_MAGIC, 4);
    skim_gguf_store_le(p + 4, 3, 4);
    skim_gguf_store_le(p + 8, (uint64_t)w->n_tensors, 8);
    skim_gguf_store_le(p + 16, (uint64_t)w->n_kv, 8);
    p += 24;
    for (int64_t i = 0; i < w->n_kv; i++) {
        const gw_kv *kv = &w->kvs[i];
        skim_gguf_store_le(p, kv->key_len, 8);
        memcpy(p + 8, kv->key, kv->key_len);
        p += 8 + kv->key_len;
        skim_gguf_store_le(p, kv->type, 4);
        if (kv->len) memcpy(p + 4, kv->val, kv->len);
        p += 4 + kv->len;
    }
    uint64_t offset = 0;
    for (int64_t i = 0; i < w->n_tensors; i++) {
        const gw_tensor *t = &w->tensors[i];
        size_t len = strlen(t->name);
        skim_gguf_store_le(p, len, 8);
        memcpy(p + 8, t->name, len);
        p += 8 + len;
        skim_gguf_store_le(p, (uint64_t)t->n_dims, 4);
        p += 4;
        for (int d = 0; d < t->n_dims; d++, p += 8) skim_gguf_store_le(p, (uint64_t)t->ne[d], 8);
        skim_gguf_store_le(p, t->ggml_type, 4);
        skim_gguf_store_le(p + 4, offset, 8);
        p += 12;
        offset += t->size;
        gw_align(&offset, l->alignment);
    }
}

/* Emits the whole file through a sink. */
typedef bool (*gw_sink_fn)(void *user, const void *p, size_t n);

static bool gw_emit_zeros(gw_sink_fn sink, void *user, uint64_t n) {
    static const uint8_t zeros[256];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (!sink(user, zeros, k)) return false;
        n -= k;
    }
    return true;
}

/* A tensor produced by its callback, about 1 MiB of whole rows at a time. */
static skim_status gw_emit_rows(skim_gguf_writer *w, const gw_tensor *t, gw_sink_fn sink,
                                void *user) {
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
    size_t row_size = t->size / (size_t)rows;
    int64_t chunk = (int64_t)((1u << 20) / row_size);
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;
    uint8_t *buf = skim_gguf_mem_alloc(&w->alloc, (size_t)chunk * row_size);
    if (!buf) return gw_fail(w, SKIM_ERR_OUT_OF_MEMORY, "out of memory writing '%s'", t->name);
    skim_status s = SKIM_OK;
    for (int64_t r = 0; r < rows && s == SKIM_OK; r += chunk) {
        int64_t n = rows - r < chunk ? rows - r : chunk;
        s = t->fn(t->fn_user, t->name, r, n, buf);
        if (s != SKIM_OK) {
            s = gw_fail(w, s, "tensor '%s': the rows callback failed at row %lld (%s)", t->name,
                        (long long)r, skim_status_str(s));
        } else if (!sink(user, buf, (size_t)n * row_size)) {
            s = gw_fail(w, SKIM_ERR_IO, "writing failed");
        }
    }
    skim_gguf_mem_free(&w->alloc, buf);
    return s;
}

static skim_status gw_emit(skim_gguf_writer *w, const gw_layout *l, gw_sink_fn sink, void *user) {
    uint8_t *meta = skim_gguf_mem_alloc(&w->alloc, (size_t)l->meta_size);
    if (!meta) return gw_fail(w, SKIM_ERR_OUT_OF_MEMORY, "out of memory encoding the metadata");
    gw_encode_meta(w, l, meta);
    bool ok = sink(user, meta, (size_t)l->meta_size) &&
              gw_emit_zeros(sink, user, l->data_offset - l->meta_size);
    skim_gguf_mem_free(&w->alloc, meta);
    for (int64_t i = 0; ok && i < w->n_tensors; i++) {
        const gw_tensor *t = &w->tensors[i];
        uint64_t pad = (l->alignment - t->size % l->alignment) % l->alignment;
        if (t->fn) {
            skim_status s = gw_emit_rows(w, t, sink, user);
            if (s != SKIM_OK) return s;
        } else {
            ok = sink(user, t->data, t->size);
        }
        ok = ok && gw_emit_zeros(sink, user, pad);
    }
    return ok ? SKIM_OK : gw_fail(w, SKIM_ERR_IO, "writing failed");
}

typedef struct gw_mem_sink { uint8_t *p; size_t left; } gw_mem_sink;

static bool gw_mem_write(void *user, const void *p, size_t n) {
    gw_mem_sink *m = user;
    if (n > m->left) return false;
    memcpy(m->p, p, n);
    m->p += n;
    m->left -= n;
    return true;
}

static bool gw_file_write(void *user, const void *p, size_t n) {
    return fwrite(p, 1, n, (FILE *)user) == n;
}

SKIM_API skim_status skim_gguf_writer_write_memory(skim_gguf_writer *w, void *buf, size_t size) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    if (!buf) return gw_fail(w, SKIM_ERR_INVALID_ARG, "buf is NULL");
    gw_layout l;
    skim_status s = gw_layout_of(w, &l);
    if (s != SKIM_OK) return s;
    if (size < l.total) {
        return gw_fail(w, SKIM_ERR_RANGE, "buffer of %zu bytes, the file needs %llu", size,
                       (unsigned long long)l.total);
    }
    gw_mem_sink m = {buf, size};
    return gw_emit(w, &l, gw_mem_write, &m);
}

SKIM_API skim_status skim_gguf_writer_write_file(skim_gguf_writer *w, const char *path) {
    if (!w) return SKIM_ERR_INVALID_ARG;
    if (!path) return gw_fail(w, SKIM_ERR_INVALID_ARG, "path is NULL");
    gw_layout l;
    skim_status s = gw_layout_of(w, &l);
    if (s != SKIM_OK) return s;
    FILE *f = fopen(path, "wb");
    if (!f) return gw_fail(w, SKIM_ERR_IO, "cannot create '%s'", path);
    s = gw_emit(w, &l, gw_file_write, f);
    if (fclose(f) != 0 && s == SKIM_OK) s = gw_fail(w, SKIM_ERR_IO, "writing '%s' failed", path);
    if (s != SKIM_OK) {
        remove(path);
        if (s == SKIM_ERR_IO) gw_fail(w, SKIM_ERR_IO, "writing '%s' failed", path);
    }
    return s;
}
