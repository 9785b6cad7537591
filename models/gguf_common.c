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

/* ggml's type numbers and block layouts (ggml.h, enum ggml_type), for the types whose
 * layout is fixed and well known; sizes let the reader bounds-check tensors it cannot
 * compute with. Unknown numbers are still accepted, with an unknown size. */
bool skim_gguf_ggml_type_size(uint32_t ggml_type, int64_t *block, size_t *bytes) {
    static const struct { uint32_t id; int64_t block; size_t bytes; } table[] = {
        {0, 1, 4},      /* F32 */
        {1, 1, 2},      /* F16 */
        {2, 32, 18},    /* Q4_0 */
        {3, 32, 20},    /* Q4_1 */
        {6, 32, 22},    /* Q5_0 */
        {7, 32, 24},    /* Q5_1 */
        {8, 32, 34},    /* Q8_0 */
        {9, 32, 36},    /* Q8_1 */
        {10, 256, 84},  /* Q2_K */
        {11, 256, 110}, /* Q3_K */
        {12, 256, 144}, /* Q4_K */
        {13, 256, 176}, /* Q5_K */
        {14, 256, 210}, /* Q6_K */
        {15, 256, 292}, /* Q8_K */
        {24, 1, 1},     /* I8 */
        {25, 1, 2},     /* I16 */
        {26, 1, 4},     /* I32 */
        {27, 1, 8},     /* I64 */
        {28, 1, 8},     /* F64 */
        {30, 1, 2},     /* BF16 */
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].id == ggml_type) {
            *block = table[i].block;
            *bytes = table[i].bytes;
            return true;
        }
    }
    return false;
}

skim_type skim_gguf_skim_type(uint32_t ggml_type) {
    switch (ggml_type) {
    case SKIM_GGML_TYPE_F32: return SKIM_TYPE_F32;
    case SKIM_GGML_TYPE_F16: return SKIM_TYPE_F16;
    case SKIM_GGML_TYPE_Q4_0: return SKIM_TYPE_Q4_0;
    case SKIM_GGML_TYPE_Q8_0: return SKIM_TYPE_Q8_0;
    case SKIM_GGML_TYPE_I32: return SKIM_TYPE_I32;
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
    default: return UINT32_MAX;
    }
}
