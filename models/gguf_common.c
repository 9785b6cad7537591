/* gguf_common.c - type tables and allocation helpers of the GGUF reader and writer. */
#include "gguf_impl.h"

#include <stdlib.h>

void *skim_gguf_mem_alloc(const skim_allocator *a, size_t size) {
    if (size == 0) size = 1;
    if (a && a->alloc) return a->alloc(a->user, size);
    return malloc(size);
}

void skim_gguf_mem_free(const skim_allocator *a, void *p) {
    if (!p) return;
    if (a && a->alloc) {
        if (a->free) a->free(a->user, p);
        return;
    }
    free(p);
}

size_t skim_gguf_scalar_size(uint32_t type) {
    switch (type) {
    case SKIM_GGUF_UINT8: case SKIM_GGUF_INT8: case SKIM_GGUF_BOOL: return 1;
    case SKIM_GGUF_UINT16: case SKIM_GGUF_INT16: return 2;
    case SKIM_GGUF_UINT32: case SKIM_GGUF_INT32: case SKIM_GGUF_FLOAT32: return 4;
    case SKIM_GGUF_UINT64: case SKIM_GGUF_INT64: case SKIM_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *skim_gguf_type_name(skim_gguf_type t) {
    static const char *const names[SKIM_GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64",
    };
    if ((unsigned)t >= SKIM_GGUF_TYPE_COUNT) return "?";
    return names[t];
}

/* Every tensor type a GGUF file may hold: ggml's type number, its name, the elements of one
 * block and the bytes of one block (the sum of the block's fields, QK_K = 256 elements per
 * super-block; "h" is a 2-byte half). Numbers ggml has retired from GGUF files (4 and 5,
 * the old Q4_2/Q4_3; 31-33 and 36-38, repacked in-memory layouts) are not in the table:
 * the reader refuses them as it does numbers it has never heard of. */
#define QK_K 256
static const struct skim_gguf_ggml_type_row {
    uint32_t id;
    const char *name;
    int64_t block;
    size_t bytes;
} ggml_types[] = {
    {0, "F32", 1, 4},
    {1, "F16", 1, 2},
    {2, "Q4_0", 32, 2 + 16},                             /* h d, 32 nibbles */
    {3, "Q4_1", 32, 2 + 2 + 16},                         /* h d, h m, 32 nibbles */
    {6, "Q5_0", 32, 2 + 4 + 16},                         /* h d, 32 high bits, nibbles */
    {7, "Q5_1", 32, 2 + 2 + 4 + 16},
    {8, "Q8_0", 32, 2 + 32},                             /* h d, 32 int8 */
    {9, "Q8_1", 32, 2 + 2 + 32},                         /* h d, h d*sum, 32 int8 */
    {10, "Q2_K", QK_K, QK_K / 16 + QK_K / 4 + 2 + 2},    /* 4-bit scale|min pairs, 2-bit q, d, dmin */
    {11, "Q3_K", QK_K, QK_K / 8 + QK_K / 4 + 12 + 2},    /* high bits, low 2 bits, 6-bit scales, d */
    {12, "Q4_K", QK_K, 2 + 2 + 12 + QK_K / 2},           /* d, dmin, 6-bit scales|mins, nibbles */
    {13, "Q5_K", QK_K, 2 + 2 + 12 + QK_K / 8 + QK_K / 2},/* as Q4_K plus one high bit each */
    {14, "Q6_K", QK_K, QK_K / 2 + QK_K / 4 + QK_K / 16 + 2}, /* low 4, high 2, int8 scales, d */
    {15, "Q8_K", QK_K, 4 + QK_K + (QK_K / 16) * 2},      /* f32 d, int8 q, int16 sums of 16 */
    {16, "IQ2_XXS", QK_K, 2 + (QK_K / 8) * 2},
    {17, "IQ2_XS", QK_K, 2 + (QK_K / 8) * 2 + QK_K / 32},
    {18, "IQ3_XXS", QK_K, 2 + 3 * (QK_K / 8)},
    {19, "IQ1_S", QK_K, 2 + QK_K / 8 + (QK_K / 32) * 2},
    {20, "IQ4_NL", 32, 2 + 16},
    {21, "IQ3_S", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 8 + QK_K / 64},
    {22, "IQ2_S", QK_K, 2 + QK_K / 4 + QK_K / 32 + QK_K / 32},
    {23, "IQ4_XS", QK_K, 2 + 2 + QK_K / 64 + QK_K / 2},
    {24, "I8", 1, 1},
    {25, "I16", 1, 2},
    {26, "I32", 1, 4},
    {27, "I64", 1, 8},
    {28, "F64", 1, 8},
    {29, "IQ1_M", QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32}, /* no d: scales carry it */
    {30, "BF16", 1, 2},
    {34, "TQ1_0", QK_K, (QK_K - 4 * QK_K / 64) / 5 + QK_K / 64 + 2}, /* base-3 packed trits */
    {35, "TQ2_0", QK_K, QK_K / 4 + 2},
    {39, "MXFP4", 32, 1 + 16},                           /* e8m0 exponent, 32 e2m1 nibbles */
    {40, "NVFP4", 64, 4 + 32},                           /* four e4m3 scales of 16, nibbles */
    {41, "Q1_0", 128, 2 + 128 / 8},                      /* h d, one sign bit each */
    {42, "Q2_0", 64, 2 + 64 / 4},                        /* h d, two bits each */
};
#undef QK_K

static const struct skim_gguf_ggml_type_row *ggml_type_row(uint32_t ggml_type) {
    for (size_t i = 0; i < sizeof ggml_types / sizeof ggml_types[0]; i++) {
        if (ggml_types[i].id == ggml_type) return &ggml_types[i];
    }
    return NULL;
}

bool skim_gguf_ggml_type_size(uint32_t ggml_type, int64_t *block, size_t *bytes) {
    const struct skim_gguf_ggml_type_row *r = ggml_type_row(ggml_type);
    if (!r) return false;
    *block = r->block;
    *bytes = r->bytes;
    return true;
}

const char *skim_gguf_ggml_type_name(uint32_t ggml_type) {
    const struct skim_gguf_ggml_type_row *r = ggml_type_row(ggml_type);
    return r ? r->name : NULL;
}

skim_type skim_gguf_skim_type(uint32_t ggml_type) {
    switch (ggml_type) {
    case SKIM_GGML_TYPE_F32: return SKIM_TYPE_F32;
    case SKIM_GGML_TYPE_F16: return SKIM_TYPE_F16;
    case SKIM_GGML_TYPE_Q4_0: return SKIM_TYPE_Q4_0;
    case SKIM_GGML_TYPE_Q8_0: return SKIM_TYPE_Q8_0;
    case SKIM_GGML_TYPE_I32: return SKIM_TYPE_I32;
    case SKIM_GGML_TYPE_BF16: return SKIM_TYPE_BF16;
    case SKIM_GGML_TYPE_Q4_K: return SKIM_TYPE_Q4_K;
    case SKIM_GGML_TYPE_Q6_K: return SKIM_TYPE_Q6_K;
    default: return SKIM_TYPE_COUNT;
    }
}

uint32_t skim_gguf_ggml_type(skim_type t) {
    switch (t) {
    case SKIM_TYPE_F32: return SKIM_GGML_TYPE_F32;
    case SKIM_TYPE_F16: return SKIM_GGML_TYPE_F16;
    case SKIM_TYPE_Q4_0: return SKIM_GGML_TYPE_Q4_0;
    case SKIM_TYPE_Q8_0: return SKIM_GGML_TYPE_Q8_0;
    case SKIM_TYPE_I32: return SKIM_GGML_TYPE_I32;
    case SKIM_TYPE_BF16: return SKIM_GGML_TYPE_BF16;
    case SKIM_TYPE_Q4_K: return SKIM_GGML_TYPE_Q4_K;
    case SKIM_TYPE_Q6_K: return SKIM_GGML_TYPE_Q6_K;
    default: return UINT32_MAX;
    }
}
