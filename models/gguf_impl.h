/* gguf_impl.h - what the GGUF reader and writer share. Not installed. */
#ifndef SKIM_GGUF_IMPL_H
#define SKIM_GGUF_IMPL_H

#include "skim-gguf.h"

#include <string.h>

#if defined(__GNUC__)
#  if defined(_WIN32) /* no visibility on Windows: a DLL exports what is dllexport */
#    define SKIM_GGUF_HIDDEN
#  else
#    define SKIM_GGUF_HIDDEN __attribute__((visibility("hidden")))
#  endif
#  if defined(__MINGW32__) /* C99 printf there (__USE_MINGW_ANSI_STDIO), not msvcrt's */
#    define SKIM_GGUF_PRINTF(a, b) __attribute__((format(gnu_printf, a, b)))
#  else
#    define SKIM_GGUF_PRINTF(a, b) __attribute__((format(printf, a, b)))
#  endif
#else
#  define SKIM_GGUF_HIDDEN
#  define SKIM_GGUF_PRINTF(a, b)
#endif

#define SKIM_GGUF_MAGIC "GGUF"

/* The allocator hook, zeroed meaning malloc/free. */
SKIM_GGUF_HIDDEN void *skim_gguf_mem_alloc(const skim_allocator *a, size_t size);
SKIM_GGUF_HIDDEN void skim_gguf_mem_free(const skim_allocator *a, void *p);

/* Bytes of one scalar of a metadata type; 0 for STRING, ARRAY and unknown types. */
SKIM_GGUF_HIDDEN size_t skim_gguf_scalar_size(uint32_t type);

/* Block size (elements) and block bytes of a ggml tensor type; false when unknown. */
SKIM_GGUF_HIDDEN bool skim_gguf_ggml_type_size(uint32_t ggml_type, int64_t *block,
                                               size_t *bytes);
/* ggml's name of a tensor type ("Q4_K"); NULL when unknown. */
SKIM_GGUF_HIDDEN const char *skim_gguf_ggml_type_name(uint32_t ggml_type);

/* Little-endian loads and stores, whatever the host's order. */
static inline uint64_t skim_gguf_load_le(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static inline void skim_gguf_store_le(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline bool skim_gguf_is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

/* ---------------------------------------------------------------- an open file */

/* A metadata value. Scalars keep their bits zero-extended in `bits`. */
struct skim_gguf_value {
    uint32_t type;
    uint32_t arr_type; /* ARRAY: the element type */
    uint64_t n;        /* STRING: length; ARRAY: element count */
    union { /* by type (24 bytes a value: a 128k-token vocabulary is 3 MB of them) */
        uint64_t bits;     /* scalars */
        const char *str;   /* STRING: NUL-terminated copy */
        const void *data;  /* ARRAY of scalars: decoded elements, host order, aligned */
        const struct skim_gguf_value *elems; /* ARRAY of STRING or ARRAY */
    } u;
};

typedef enum skim_gguf_backing {
    SKIM_GGUF_BORROWED = 0, /* open_memory: the caller's buffer */
    SKIM_GGUF_READ,         /* a buffer we allocated and read the file into */
    SKIM_GGUF_MAPPED        /* mmap */
} skim_gguf_backing;

struct skim_gguf {
    skim_allocator alloc;
    const uint8_t *base;
    size_t size;
    skim_gguf_backing backing;
    uint32_t version, alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    const char **keys;                /* [n_kv] */
    skim_gguf_value *values;          /* [n_kv] */
    int64_t *key_order;               /* [n_kv] indices sorted by key */
    skim_gguf_tensor_info *tensors;   /* [n_tensors] */
    int64_t *tensor_order;            /* [n_tensors] indices sorted by name */
    uint64_t *kv_offs, *tensor_offs;  /* file offsets of each kv and tensor info */
    void *block;                      /* the one allocation holding all of the above */
};

#endif /* SKIM_GGUF_IMPL_H */
