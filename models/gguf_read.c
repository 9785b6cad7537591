/* gguf_read.c - parsing and validating a GGUF file (untrusted input).
 *
 * Two passes over the bytes with the same code: the first validates what can be checked
 * on the fly and counts the memory the parsed form needs, then one block is allocated,
 * then the second pass fills it. Checks that need the parsed form (tensor data inside the
 * file, overlaps, duplicate keys and names) follow. Every length read from the file is
 * checked against the bytes left before it is used, so allocations stay proportional to
 * the file size. */
#include "gguf_impl.h"
#include "skim-platform.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define KEY_MAX_LEN 65535u
/* Smallest encodings, used to bound counts by the bytes left. */
#define MIN_KV_BYTES 14u      /* key length 8, key 1, type 4, a u8 value 1 */
#define MIN_TENSOR_BYTES 33u  /* name length 8, name 1, n_dims 4, ne 8, type 4, offset 8 */

typedef struct gg_parser {
    const uint8_t *p;
    size_t size, off;
    bool fill;            /* second pass: write into the block */
    uint32_t alignment;
    uint64_t n_nodes, str_bytes, num_bytes; /* first pass: totals; second: cursors */
    uint64_t cap_nodes, cap_strs, cap_nums;  /* second pass: what the first counted */
    skim_gguf_value *nodes;
    char *strs;
    uint8_t *nums;
    char where[128];      /* the field being parsed, for messages */
    skim_gguf_error *err;
} gg_parser;

static void gg_set_error(skim_gguf_error *err, skim_status s, uint64_t offset, const char *where,
                         const char *fmt, va_list ap) {
    if (!err) return;
    err->status = s;
    err->offset = offset;
    int n = snprintf(err->msg, sizeof err->msg, "%s%s", where, where[0] ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof err->msg) return;
    vsnprintf(err->msg + n, sizeof err->msg - (size_t)n, fmt, ap);
}

static bool SKIM_GGUF_PRINTF(4, 5) gg_fail(gg_parser *ps, skim_status s, uint64_t offset,
                                           const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gg_set_error(ps->err, s, offset, ps->where, fmt, ap);
    va_end(ap);
    return false;
}

static skim_status SKIM_GGUF_PRINTF(4, 5) gg_error(skim_gguf_error *err, skim_status s,
                                                   uint64_t offset, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    gg_set_error(err, s, offset, "", fmt, ap);
    va_end(ap);
    return s;
}

/* A printable excerpt of a name from the file, for messages. */
static void gg_excerpt(char *dst, size_t cap, const uint8_t *src, uint64_t len) {
    size_t n = 0;
    for (; n + 1 < cap && n < len && n < 48; n++) {
        uint8_t c = src[n];
        dst[n] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[n] = '\0';
}

/* The second pass found more than the first: the bytes changed between the passes (a
 * buffer or file modified while being opened). Never write past what was counted. */
static bool gg_changed(gg_parser *ps, uint64_t offset) {
    return gg_fail(ps, SKIM_ERR_FORMAT, offset, "the file changed while it was being read");
}

static bool gg_read(gg_parser *ps, size_t n, const char *what, uint64_t *out) {
    if (n > ps->size - ps->off) {
        return gg_fail(ps, SKIM_ERR_FORMAT, ps->off,
                       "truncated: %s needs %zu bytes at offset %zu, the file has %zu", what, n,
                       ps->off, ps->size);
    }
    *out = skim_gguf_load_le(ps->p + ps->off, n);
    ps->off += n;
    return true;
}

/* A GGUF string: u64 length, bytes. *src points into the file; in the second pass *copy
 * (when asked) receives a NUL-terminated copy. */
static bool gg_read_str(gg_parser *ps, const char *what, const uint8_t **src, uint64_t *len,
                        const char **copy) {
    uint64_t at = ps->off, n = 0;
    if (!gg_read(ps, 8, what, &n)) return false;
    if (n > ps->size - ps->off) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at,
                       "%s length %llu runs past the end of the file (%zu bytes left)", what,
                       (unsigned long long)n, ps->size - ps->off);
    }
    *src = ps->p + ps->off;
    *len = n;
    ps->off += (size_t)n;
    if (ps->fill && n + 1 > ps->cap_strs - ps->str_bytes) return gg_changed(ps, at);
    if (ps->fill) {
        char *dst = ps->strs + ps->str_bytes;
        if (n) memcpy(dst, *src, (size_t)n);
        dst[n] = '\0';
        if (copy) *copy = dst;
    }
    ps->str_bytes += n + 1;
    return true;
}

static bool gg_read_value(gg_parser *ps, uint32_t type, skim_gguf_value *v, int depth);

static bool gg_read_scalars(gg_parser *ps, skim_gguf_value *v, uint32_t et, uint64_t n) {
    size_t sz = skim_gguf_scalar_size(et);
    uint64_t start = (ps->num_bytes + 7) & ~(uint64_t)7;
    if (ps->fill && (start > ps->cap_nums || n * sz > ps->cap_nums - start)) {
        return gg_changed(ps, ps->off);
    }
    uint8_t *dst = ps->fill ? ps->nums + start : NULL;
    const uint8_t *src = ps->p + ps->off;
    for (uint64_t j = 0; j < n; j++) {
        uint64_t bits = skim_gguf_load_le(src + j * sz, sz);
        if (et == SKIM_GGUF_BOOL && bits > 1) {
            return gg_fail(ps, SKIM_ERR_FORMAT, ps->off + j,
                           "array element %llu: bool value %u is not 0 or 1",
                           (unsigned long long)j, (unsigned)bits);
        }
        if (dst) {
            switch (sz) {
            case 1: { uint8_t x = (uint8_t)bits; memcpy(dst + j, &x, 1); } break;
            case 2: { uint16_t x = (uint16_t)bits; memcpy(dst + j * 2, &x, 2); } break;
            case 4: { uint32_t x = (uint32_t)bits; memcpy(dst + j * 4, &x, 4); } break;
            default: memcpy(dst + j * 8, &bits, 8); break;
            }
        }
    }
    if (dst && n) v->u.data = dst;
    ps->num_bytes = start + n * sz;
    ps->off += (size_t)(n * sz);
    return true;
}

static bool gg_read_array(gg_parser *ps, skim_gguf_value *v, int depth) {
    uint64_t at = ps->off, et = 0, n = 0;
    if (depth >= SKIM_GGUF_MAX_DEPTH) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at, "arrays nested deeper than %d levels",
                       SKIM_GGUF_MAX_DEPTH);
    }
    if (!gg_read(ps, 4, "array element type", &et)) return false;
    if (et >= SKIM_GGUF_TYPE_COUNT) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at, "unknown array element type %llu",
                       (unsigned long long)et);
    }
    if (!gg_read(ps, 8, "array length", &n)) return false;
    size_t sz = skim_gguf_scalar_size((uint32_t)et);
    size_t min = sz ? sz : (et == SKIM_GGUF_STRING ? 8u : 12u);
    if (n > (ps->size - ps->off) / min) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at + 4,
                       "array length %llu (of %s) runs past the end of the file (%zu bytes left)",
                       (unsigned long long)n, skim_gguf_type_name((skim_gguf_type)et),
                       ps->size - ps->off);
    }
    v->arr_type = (uint32_t)et;
    v->n = n;
    if (sz) return gg_read_scalars(ps, v, (uint32_t)et, n);
    skim_gguf_value scratch, *elems = NULL;
    if (ps->fill && n > ps->cap_nodes - ps->n_nodes) return gg_changed(ps, at);
    if (ps->fill) {
        elems = ps->nodes + ps->n_nodes;
        if (n) v->u.elems = elems;
    }
    ps->n_nodes += n;
    for (uint64_t j = 0; j < n; j++) {
        skim_gguf_value *e = elems ? &elems[j] : &scratch;
        memset(e, 0, sizeof *e);
        if (!gg_read_value(ps, (uint32_t)et, e, depth + 1)) return false;
    }
    return true;
}

static bool gg_read_value(gg_parser *ps, uint32_t type, skim_gguf_value *v, int depth) {
    uint64_t at = ps->off;
    v->type = type;
    size_t sz = skim_gguf_scalar_size(type);
    if (sz) {
        if (!gg_read(ps, sz, "value", &v->u.bits)) return false;
        if (type == SKIM_GGUF_BOOL && v->u.bits > 1) {
            return gg_fail(ps, SKIM_ERR_FORMAT, at, "bool value %u is not 0 or 1",
                           (unsigned)v->u.bits);
        }
        return true;
    }
    if (type == SKIM_GGUF_STRING) {
        const uint8_t *src = NULL;
        return gg_read_str(ps, "string", &src, &v->n, &v->u.str);
    }
    if (type == SKIM_GGUF_ARRAY) return gg_read_array(ps, v, depth);
    return gg_fail(ps, SKIM_ERR_FORMAT, at, "unknown value type %u", (unsigned)type);
}

static bool gg_parse_header(gg_parser *ps, skim_gguf *g) {
    uint64_t magic = 0, version = 0, n_tensors = 0, n_kv = 0;
    snprintf(ps->where, sizeof ps->where, "header");
    if (!gg_read(ps, 4, "magic", &magic)) return false;
    if (memcmp(ps->p, SKIM_GGUF_MAGIC, 4) != 0) {
        return gg_fail(ps, SKIM_ERR_FORMAT, 0,
                       "bad magic %02x %02x %02x %02x (not a GGUF file)", ps->p[0], ps->p[1],
                       ps->p[2], ps->p[3]);
    }
    if (!gg_read(ps, 4, "version", &version)) return false;
    if (version == 0x02000000u || version == 0x03000000u) {
        return gg_fail(ps, SKIM_ERR_FORMAT, 4, "big-endian GGUF files are not supported");
    }
    if (version != 2 && version != 3) {
        return gg_fail(ps, SKIM_ERR_FORMAT, 4, "version %llu is not supported (2 or 3)",
                       (unsigned long long)version);
    }
    if (!gg_read(ps, 8, "tensor count", &n_tensors)) return false;
    if (!gg_read(ps, 8, "metadata count", &n_kv)) return false;
    size_t left = ps->size - ps->off;
    if (n_kv > left / MIN_KV_BYTES) {
        return gg_fail(ps, SKIM_ERR_FORMAT, 16,
                       "metadata count %llu cannot fit in the %zu bytes left",
                       (unsigned long long)n_kv, left);
    }
    if (n_tensors > left / MIN_TENSOR_BYTES) {
        return gg_fail(ps, SKIM_ERR_FORMAT, 8,
                       "tensor count %llu cannot fit in the %zu bytes left",
                       (unsigned long long)n_tensors, left);
    }
    if (ps->fill && (n_kv != (uint64_t)g->n_kv || n_tensors != (uint64_t)g->n_tensors)) {
        return gg_changed(ps, 8);
    }
    g->version = (uint32_t)version;
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;
    return true;
}

static bool gg_check_alignment(gg_parser *ps, const skim_gguf_value *v, uint64_t at) {
    if (v->type != SKIM_GGUF_UINT32) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at, "general.alignment has type %s, not u32",
                       skim_gguf_type_name((skim_gguf_type)v->type));
    }
    if (!skim_gguf_is_pow2(v->u.bits)) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at, "general.alignment %llu is not a power of two",
                       (unsigned long long)v->u.bits);
    }
    ps->alignment = (uint32_t)v->u.bits;
    return true;
}

static bool gg_parse_kv(gg_parser *ps, skim_gguf *g, int64_t i) {
    uint64_t at = ps->off, len = 0, type = 0;
    const uint8_t *key = NULL;
    const char *copy = NULL;
    char name[64];
    snprintf(ps->where, sizeof ps->where, "kv %lld", (long long)i);
    if (!gg_read_str(ps, "key", &key, &len, &copy)) return false;
    if (len == 0) return gg_fail(ps, SKIM_ERR_FORMAT, at, "empty key");
    if (len > KEY_MAX_LEN) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at, "key length %llu is over %u",
                       (unsigned long long)len, KEY_MAX_LEN);
    }
    if (memchr(key, 0, (size_t)len)) return gg_fail(ps, SKIM_ERR_FORMAT, at, "key holds a NUL byte");
    gg_excerpt(name, sizeof name, key, len);
    snprintf(ps->where, sizeof ps->where, "kv %lld ('%s')", (long long)i, name);
    uint64_t type_at = ps->off;
    if (!gg_read(ps, 4, "value type", &type)) return false;
    if (type >= SKIM_GGUF_TYPE_COUNT) {
        return gg_fail(ps, SKIM_ERR_FORMAT, type_at, "unknown value type %llu",
                       (unsigned long long)type);
    }
    skim_gguf_value scratch, *v = ps->fill ? &g->values[i] : &scratch;
    memset(v, 0, sizeof *v);
    if (!gg_read_value(ps, (uint32_t)type, v, 0)) return false;
    if (len == 17 && memcmp(key, "general.alignment", 17) == 0 &&
        !gg_check_alignment(ps, v, type_at)) {
        return false;
    }
    if (ps->fill) {
        g->keys[i] = copy;
        g->kv_offs[i] = at;
    }
    return true;
}

/* Element count and byte size of a tensor from its dims and type. A type number that is
 * not in the table is refused: without its size, the tensor's placement and overlap with
 * the others could not be checked. */
static bool gg_tensor_size(gg_parser *ps, skim_gguf_tensor_info *t, uint64_t at) {
    int64_t nel = 1, block;
    size_t bytes;
    for (int d = 0; d < t->n_dims; d++) {
        if (nel > INT64_MAX / t->ne[d]) {
            return gg_fail(ps, SKIM_ERR_TOO_LARGE, at, "the element count overflows int64");
        }
        nel *= t->ne[d];
    }
    if (!skim_gguf_ggml_type_size(t->ggml_type, &block, &bytes)) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at, "type: unknown ggml type %u",
                       (unsigned)t->ggml_type);
    }
    if (t->ne[0] % block != 0) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at,
                       "ne[0] = %lld is not a multiple of the block size %lld of type %s",
                       (long long)t->ne[0], (long long)block,
                       skim_gguf_ggml_type_name(t->ggml_type));
    }
    uint64_t blocks = (uint64_t)(nel / block);
    if (blocks > UINT64_MAX / bytes || blocks * bytes > (uint64_t)SIZE_MAX) {
        return gg_fail(ps, SKIM_ERR_TOO_LARGE, at, "the byte size overflows");
    }
    t->nbytes = (size_t)(blocks * bytes);
    return true;
}

static bool gg_parse_dims(gg_parser *ps, skim_gguf_tensor_info *t) {
    uint64_t at = ps->off, n_dims = 0, ne = 0;
    if (!gg_read(ps, 4, "n_dims", &n_dims)) return false;
    if (n_dims < 1 || n_dims > SKIM_GGUF_MAX_DIMS) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at, "n_dims %llu is not in 1..%d",
                       (unsigned long long)n_dims, SKIM_GGUF_MAX_DIMS);
    }
    t->n_dims = (int)n_dims;
    for (int d = 0; d < SKIM_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) {
        at = ps->off;
        if (!gg_read(ps, 8, "ne", &ne)) return false;
        if (ne == 0) return gg_fail(ps, SKIM_ERR_FORMAT, at, "ne[%d] is 0", d);
        if (ne > (uint64_t)INT64_MAX) {
            return gg_fail(ps, SKIM_ERR_FORMAT, at, "ne[%d] = %llu is negative as int64", d,
                           (unsigned long long)ne);
        }
        t->ne[d] = (int64_t)ne;
    }
    return true;
}

static bool gg_parse_tensor(gg_parser *ps, skim_gguf *g, int64_t i) {
    uint64_t at = ps->off, len = 0, type = 0, offset = 0;
    const uint8_t *name = NULL;
    const char *copy = NULL;
    char excerpt[64];
    skim_gguf_tensor_info scratch, *t = ps->fill ? &g->tensors[i] : &scratch;
    memset(t, 0, sizeof *t);
    snprintf(ps->where, sizeof ps->where, "tensor %lld", (long long)i);
    if (!gg_read_str(ps, "name", &name, &len, &copy)) return false;
    if (len == 0) return gg_fail(ps, SKIM_ERR_FORMAT, at, "empty name");
    if (len > SKIM_GGUF_MAX_NAME) {
        return gg_fail(ps, SKIM_ERR_FORMAT, at, "name length %llu is over %d",
                       (unsigned long long)len, SKIM_GGUF_MAX_NAME);
    }
    if (memchr(name, 0, (size_t)len)) return gg_fail(ps, SKIM_ERR_FORMAT, at, "name holds a NUL byte");
    gg_excerpt(excerpt, sizeof excerpt, name, len);
    snprintf(ps->where, sizeof ps->where, "tensor %lld ('%s')", (long long)i, excerpt);
    if (!gg_parse_dims(ps, t)) return false;
    uint64_t type_at = ps->off;
    if (!gg_read(ps, 4, "type", &type)) return false;
    t->ggml_type = (uint32_t)type;
    if (!gg_tensor_size(ps, t, type_at)) return false;
    uint64_t off_at = ps->off;
    if (!gg_read(ps, 8, "offset", &offset)) return false;
    if (offset % ps->alignment != 0) {
        return gg_fail(ps, SKIM_ERR_FORMAT, off_at,
                       "data offset %llu is not a multiple of the alignment %u",
                       (unsigned long long)offset, (unsigned)ps->alignment);
    }
    t->offset = offset;
    t->type = skim_gguf_skim_type(t->ggml_type);
    t->supported = t->type != SKIM_TYPE_COUNT;
    if (ps->fill) {
        t->name = copy;
        g->tensor_offs[i] = at;
    }
    return true;
}

/* One pass over the whole file. */
static bool gg_pass(gg_parser *ps, skim_gguf *g) {
    ps->off = 0;
    ps->alignment = SKIM_GGUF_DEFAULT_ALIGNMENT;
    ps->n_nodes = ps->str_bytes = ps->num_bytes = 0;
    if (!gg_parse_header(ps, g)) return false;
    for (int64_t i = 0; i < g->n_kv; i++) {
        if (!gg_parse_kv(ps, g, i)) return false;
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        if (!gg_parse_tensor(ps, g, i)) return false;
    }
    snprintf(ps->where, sizeof ps->where, "data section");
    uint64_t data = ((uint64_t)ps->off + ps->alignment - 1) & ~((uint64_t)ps->alignment - 1);
    if (data < ps->off) return gg_fail(ps, SKIM_ERR_FORMAT, ps->off, "start overflows");
    if (g->n_tensors > 0 && data > ps->size) {
        return gg_fail(ps, SKIM_ERR_FORMAT, ps->off,
                       "starts at %llu, past the end of the file (%zu bytes)",
                       (unsigned long long)data, ps->size);
    }
    g->alignment = ps->alignment;
    g->data_offset = data;
    return true;
}

/* ---------------------------------------------------------------- the block */

static bool gg_add(uint64_t *total, uint64_t n, uint64_t elem) {
    if (elem && n > UINT64_MAX / elem) return false;
    uint64_t bytes = (n * elem + 15) & ~(uint64_t)15;
    if (bytes < n * elem || *total > UINT64_MAX - bytes) return false;
    *total += bytes;
    return true;
}

/* Allocates the skim_gguf and everything it points to as one block. */
static skim_status gg_alloc_block(gg_parser *ps, const skim_gguf *counted,
                                  const skim_allocator *alloc, skim_gguf **out) {
    uint64_t nk = (uint64_t)counted->n_kv, nt = (uint64_t)counted->n_tensors, total = 0;
    bool ok = gg_add(&total, 1, sizeof(skim_gguf)) && gg_add(&total, nk, sizeof(char *)) &&
              gg_add(&total, nk, sizeof(skim_gguf_value)) && gg_add(&total, nk, 8) &&
              gg_add(&total, nk, 8) && gg_add(&total, nt, sizeof(skim_gguf_tensor_info)) &&
              gg_add(&total, nt, 8) && gg_add(&total, nt, 8) &&
              gg_add(&total, ps->n_nodes, sizeof(skim_gguf_value)) &&
              gg_add(&total, ps->num_bytes, 1) && gg_add(&total, ps->str_bytes, 1);
    if (!ok || total > (uint64_t)SIZE_MAX) {
        return gg_error(ps->err, SKIM_ERR_TOO_LARGE, 0, "the parsed metadata needs too much memory");
    }
    uint8_t *b = skim_gguf_mem_alloc(alloc, (size_t)total);
    if (!b) {
        return gg_error(ps->err, SKIM_ERR_OUT_OF_MEMORY, 0,
                        "out of memory for %llu bytes of metadata", (unsigned long long)total);
    }
    memset(b, 0, (size_t)total);
    uint64_t at = 0;
    skim_gguf *g = (skim_gguf *)b;
#define GG_TAKE(field, type, n)                                                               \
    do {                                                                                      \
        field = (type)(void *)(b + at);                                                       \
        gg_add(&at, (n), sizeof *field);                                                      \
    } while (0)
    gg_add(&at, 1, sizeof(skim_gguf));
    GG_TAKE(g->keys, const char **, nk);
    GG_TAKE(g->values, skim_gguf_value *, nk);
    GG_TAKE(g->key_order, int64_t *, nk);
    GG_TAKE(g->kv_offs, uint64_t *, nk);
    GG_TAKE(g->tensors, skim_gguf_tensor_info *, nt);
    GG_TAKE(g->tensor_order, int64_t *, nt);
    GG_TAKE(g->tensor_offs, uint64_t *, nt);
    GG_TAKE(ps->nodes, skim_gguf_value *, ps->n_nodes);
    GG_TAKE(ps->nums, uint8_t *, ps->num_bytes);
    GG_TAKE(ps->strs, char *, ps->str_bytes);
#undef GG_TAKE
    ps->cap_nodes = ps->n_nodes;
    ps->cap_strs = ps->str_bytes;
    ps->cap_nums = ps->num_bytes;
    g->block = b;
    *out = g;
    return SKIM_OK;
}

/* ---------------------------------------------------------------- checks on the parsed form */

typedef int (*gg_cmp_fn)(const skim_gguf *g, int64_t a, int64_t b);

/* Heap sort of an index array with a comparator that sees the parsed file. */
static void gg_sift(int64_t *idx, int64_t root, int64_t n, gg_cmp_fn cmp, const skim_gguf *g) {
    for (;;) {
        int64_t child = 2 * root + 1;
        if (child >= n) return;
        if (child + 1 < n && cmp(g, idx[child], idx[child + 1]) < 0) child++;
        if (cmp(g, idx[root], idx[child]) >= 0) return;
        int64_t tmp = idx[root];
        idx[root] = idx[child];
        idx[child] = tmp;
        root = child;
    }
}

static void gg_sort(int64_t *idx, int64_t n, gg_cmp_fn cmp, const skim_gguf *g) {
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    for (int64_t i = n / 2; i-- > 0;) gg_sift(idx, i, n, cmp, g);
    for (int64_t end = n; end-- > 1;) {
        int64_t tmp = idx[0];
        idx[0] = idx[end];
        idx[end] = tmp;
        gg_sift(idx, 0, end, cmp, g);
    }
}

static int gg_tie(int64_t a, int64_t b) { return a < b ? -1 : a > b; }

static int gg_cmp_key(const skim_gguf *g, int64_t a, int64_t b) {
    int c = strcmp(g->keys[a], g->keys[b]);
    return c ? c : gg_tie(a, b);
}

static int gg_cmp_name(const skim_gguf *g, int64_t a, int64_t b) {
    int c = strcmp(g->tensors[a].name, g->tensors[b].name);
    return c ? c : gg_tie(a, b);
}

static int gg_cmp_offset(const skim_gguf *g, int64_t a, int64_t b) {
    uint64_t x = g->tensors[a].offset, y = g->tensors[b].offset;
    return x < y ? -1 : x > y ? 1 : gg_tie(a, b);
}

static skim_status gg_check_data(skim_gguf *g, skim_gguf_error *err) {
    for (int64_t i = 0; i < g->n_tensors; i++) {
        skim_gguf_tensor_info *t = &g->tensors[i];
        uint64_t start = g->data_offset + t->offset;
        if (start < t->offset || t->nbytes > UINT64_MAX - start ||
            start + t->nbytes > (uint64_t)g->size) {
            return gg_error(err, SKIM_ERR_FORMAT, g->tensor_offs[i],
                            "tensor %lld ('%s'): data at %llu + %zu bytes runs past the end of "
                            "the file (%zu bytes)", (long long)i, t->name,
                            (unsigned long long)t->offset, t->nbytes, g->size);
        }
        t->file_offset = start;
        t->data = g->base + start;
    }
    gg_sort(g->tensor_order, g->n_tensors, gg_cmp_offset, g);
    for (int64_t k = 1; k < g->n_tensors; k++) {
        const skim_gguf_tensor_info *a = &g->tensors[g->tensor_order[k - 1]];
        const skim_gguf_tensor_info *b = &g->tensors[g->tensor_order[k]];
        if (a->offset + a->nbytes > b->offset) {
            return gg_error(err, SKIM_ERR_FORMAT, g->tensor_offs[g->tensor_order[k]],
                            "tensor %lld ('%s'): data at %llu overlaps tensor %lld ('%s')",
                            (long long)g->tensor_order[k], b->name,
                            (unsigned long long)b->offset, (long long)g->tensor_order[k - 1],
                            a->name);
        }
    }
    return SKIM_OK;
}

static skim_status gg_check_names(skim_gguf *g, skim_gguf_error *err) {
    gg_sort(g->key_order, g->n_kv, gg_cmp_key, g);
    for (int64_t k = 1; k < g->n_kv; k++) {
        int64_t a = g->key_order[k - 1], b = g->key_order[k];
        if (strcmp(g->keys[a], g->keys[b]) == 0) {
            int64_t later = a > b ? a : b;
            return gg_error(err, SKIM_ERR_FORMAT, g->kv_offs[later],
                            "kv %lld: duplicate key '%.64s' (also kv %lld)", (long long)later,
                            g->keys[a], (long long)(a < b ? a : b));
        }
    }
    gg_sort(g->tensor_order, g->n_tensors, gg_cmp_name, g);
    for (int64_t k = 1; k < g->n_tensors; k++) {
        int64_t a = g->tensor_order[k - 1], b = g->tensor_order[k];
        if (strcmp(g->tensors[a].name, g->tensors[b].name) == 0) {
            int64_t later = a > b ? a : b;
            return gg_error(err, SKIM_ERR_FORMAT, g->tensor_offs[later],
                            "tensor %lld: duplicate name '%s' (also tensor %lld)",
                            (long long)later, g->tensors[a].name, (long long)(a < b ? a : b));
        }
    }
    return SKIM_OK;
}

/* Parses base[0..size) into a new skim_gguf (which does not yet own the bytes). */
static skim_status gg_parse(const uint8_t *base, size_t size, const skim_allocator *alloc,
                            skim_gguf **out, skim_gguf_error *err) {
    gg_parser ps;
    skim_gguf counted, *g = NULL;
    memset(&ps, 0, sizeof ps);
    memset(&counted, 0, sizeof counted);
    ps.p = base;
    ps.size = size;
    ps.err = err;
    if (!gg_pass(&ps, &counted)) return err->status;
    skim_status s = gg_alloc_block(&ps, &counted, alloc, &g);
    if (s != SKIM_OK) return s;
    g->alloc = alloc ? *alloc : (skim_allocator){0};
    g->base = base;
    g->size = size;
    g->n_kv = counted.n_kv;
    g->n_tensors = counted.n_tensors;
    ps.fill = true;
    if (!gg_pass(&ps, g)) s = err->status;
    if (s == SKIM_OK) s = gg_check_data(g, err);
    if (s == SKIM_OK) s = gg_check_names(g, err);
    if (s != SKIM_OK) {
        skim_gguf_mem_free(alloc, g->block);
        return s;
    }
    *out = g;
    return SKIM_OK;
}

/* ---------------------------------------------------------------- opening */

SKIM_API skim_status skim_gguf_open_memory(const void *data, size_t size,
                                           const skim_gguf_desc *desc, skim_gguf **out_gguf,
                                           skim_gguf_error *err) {
    skim_gguf_error local;
    if (!err) err = &local;
    memset(err, 0, sizeof *err);
    if (!out_gguf || (!data && size)) {
        return gg_error(err, SKIM_ERR_INVALID_ARG, 0, "out_gguf or data is NULL");
    }
    static const uint8_t empty[1] = {0};
    const skim_allocator *alloc = desc ? &desc->allocator : NULL;
    skim_gguf *g;
    skim_status s = gg_parse(data ? (const uint8_t *)data : empty, size, alloc, &g, err);
    if (s != SKIM_OK) return s;
    g->backing = SKIM_GGUF_BORROWED;
    *out_gguf = g;
    return SKIM_OK;
}

/* Maps the file or reads it into memory (skim-platform.h: mmap, or a Win32 file mapping). */
static skim_status gg_load(const char *path, const skim_gguf_desc *desc, const uint8_t **base,
                           size_t *size, skim_gguf_backing *backing, skim_gguf_error *err) {
    const skim_allocator *alloc = desc ? &desc->allocator : NULL;
    skim_file f;
    size_t n = 0;
    int os_err = 0;
    switch (skim_file_open(path, &f, &n, &os_err)) {
    case SKIM_FILE_OK: break;
    case SKIM_FILE_CANNOT_OPEN:
        return gg_error(err, SKIM_ERR_IO, 0, "cannot open '%s' (error %d)", path, os_err);
    case SKIM_FILE_NOT_REGULAR:
        return gg_error(err, SKIM_ERR_IO, 0, "'%s' is not a regular file", path);
    case SKIM_FILE_TOO_LARGE:
    default:
        return gg_error(err, SKIM_ERR_TOO_LARGE, 0, "'%s' is larger than the address space", path);
    }
    if (n > 0 && !(desc && desc->load == SKIM_GGUF_LOAD_READ)) {
        const void *m = skim_file_map(f, n);
        if (m) {
            skim_file_close(f);
            *base = m;
            *size = n;
            *backing = SKIM_GGUF_MAPPED;
            return SKIM_OK;
        }
    }
    uint8_t *buf = skim_gguf_mem_alloc(alloc, n);
    if (!buf) {
        skim_file_close(f);
        return gg_error(err, SKIM_ERR_OUT_OF_MEMORY, 0, "out of memory reading %zu bytes", n);
    }
    size_t got = skim_file_read_all(f, buf, n);
    skim_file_close(f);
    if (got != n) {
        skim_gguf_mem_free(alloc, buf);
        return gg_error(err, SKIM_ERR_IO, got, "reading '%s' failed after %zu of %zu bytes", path,
                        got, n);
    }
    *base = buf;
    *size = n;
    *backing = SKIM_GGUF_READ;
    return SKIM_OK;
}

static void gg_unload(const skim_allocator *alloc, const uint8_t *base, size_t size,
                      skim_gguf_backing backing) {
    if (backing == SKIM_GGUF_MAPPED) {
        skim_file_unmap(base, size);
        return;
    }
    if (backing == SKIM_GGUF_READ) skim_gguf_mem_free(alloc, (void *)base);
}

SKIM_API skim_status skim_gguf_open_file(const char *path, const skim_gguf_desc *desc,
                                         skim_gguf **out_gguf, skim_gguf_error *err) {
    skim_gguf_error local;
    if (!err) err = &local;
    memset(err, 0, sizeof *err);
    if (!path || !out_gguf) return gg_error(err, SKIM_ERR_INVALID_ARG, 0, "path or out_gguf is NULL");
    const skim_allocator *alloc = desc ? &desc->allocator : NULL;
    const uint8_t *base = NULL;
    size_t size = 0;
    skim_gguf_backing backing = SKIM_GGUF_READ;
    skim_status s = gg_load(path, desc, &base, &size, &backing, err);
    if (s != SKIM_OK) return s;
    static const uint8_t empty[1] = {0};
    skim_gguf *g;
    s = gg_parse(size ? base : empty, size, alloc, &g, err);
    if (s != SKIM_OK) {
        gg_unload(alloc, base, size, backing);
        return s;
    }
    g->backing = backing;
    *out_gguf = g;
    return SKIM_OK;
}

SKIM_API void skim_gguf_destroy(skim_gguf *g) {
    if (!g) return;
    skim_allocator alloc = g->alloc;
    gg_unload(&alloc, g->base, g->size, g->backing);
    skim_gguf_mem_free(&alloc, g->block);
}
