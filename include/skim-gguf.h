/* skim-gguf.h - GGUF model files: read (memory-mapped where the platform allows) and write.
 *
 * GGUF is the ggml ecosystem's file format: a header, typed key/value metadata, tensor
 * infos, then the tensor data, each tensor at a multiple of general.alignment (default
 * 32) from the start of the data section. Versions 2 and 3 are read (they are the same
 * little-endian layout); version 3 is written. Big-endian files are refused.
 *
 * A file is untrusted input. Opening validates everything before it returns: every count,
 * offset, size, string length and array length is bounds-checked with overflow-checked
 * arithmetic, tensor data must lie inside the file, be aligned and not overlap. Opening
 * a malformed file returns a status and a message naming the field and its byte offset;
 * it never crashes, reads out of bounds, leaks, aborts or prints, and *out is untouched.
 *
 * Statuses: FORMAT for a file that is malformed or lies about its sizes; TOO_LARGE when
 * a size (elements, bytes) overflows 64-bit arithmetic or the address space; IO when the
 * file cannot be opened or read; OUT_OF_MEMORY; INVALID_ARG for NULL arguments.
 *
 * Once open, a skim_gguf is immutable: it may be read from several threads at once.
 * Everything returned by the getters (strings, arrays, tensor data) lives as long as the
 * skim_gguf. Strings are NUL-terminated copies; their length is also given (a GGUF string
 * may contain NUL bytes).
 *
 * Public header: C99 and C++ clean, needs skim.h only.
 */
#ifndef SKIM_GGUF_H
#define SKIM_GGUF_H

#include "skim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- value types */

/* GGUF metadata value types; the numbers are the file's. */
typedef enum skim_gguf_type {
    SKIM_GGUF_UINT8 = 0,
    SKIM_GGUF_INT8 = 1,
    SKIM_GGUF_UINT16 = 2,
    SKIM_GGUF_INT16 = 3,
    SKIM_GGUF_UINT32 = 4,
    SKIM_GGUF_INT32 = 5,
    SKIM_GGUF_FLOAT32 = 6,
    SKIM_GGUF_BOOL = 7,
    SKIM_GGUF_STRING = 8,
    SKIM_GGUF_ARRAY = 9,
    SKIM_GGUF_UINT64 = 10,
    SKIM_GGUF_INT64 = 11,
    SKIM_GGUF_FLOAT64 = 12,
    SKIM_GGUF_TYPE_COUNT
} skim_gguf_type;

/* "u8", "i8", ..., "str", "arr", ...; "?" for values out of range. */
SKIM_API const char *skim_gguf_type_name(skim_gguf_type t);

/* ggml tensor type numbers (the file's). The reader knows the block size and bytes of
 * every type ggml writes to GGUF files (F32, F16, BF16, F64, I8-I64, the legacy quants
 * Q4_0-Q8_1, the K quants Q2_K-Q8_K, the IQ and TQ types, MXFP4, NVFP4, Q1_0, Q2_0) and
 * checks every tensor's size and placement whatever its type; a tensor of a type skim does
 * not compute with opens as unsupported. A number not in that list fails to open
 * (SKIM_ERR_FORMAT naming the tensor's type field). */
#define SKIM_GGML_TYPE_F32 0
#define SKIM_GGML_TYPE_F16 1
#define SKIM_GGML_TYPE_Q4_0 2
#define SKIM_GGML_TYPE_Q8_0 8
#define SKIM_GGML_TYPE_Q4_K 12
#define SKIM_GGML_TYPE_Q6_K 14
#define SKIM_GGML_TYPE_I32 26
#define SKIM_GGML_TYPE_BF16 30

/* The skim type of a ggml type number; SKIM_TYPE_COUNT when skim has none. */
SKIM_API skim_type skim_gguf_skim_type(uint32_t ggml_type);
/* The ggml type number of a skim type; UINT32_MAX for SKIM_TYPE_COUNT or out of range. */
SKIM_API uint32_t skim_gguf_ggml_type(skim_type t);

#define SKIM_GGUF_DEFAULT_ALIGNMENT 32
#define SKIM_GGUF_MAX_DIMS 4
/* Longest tensor name accepted, in bytes (the GGUF spec's limit). */
#define SKIM_GGUF_MAX_NAME 64

/* ---------------------------------------------------------------- reading */

typedef struct skim_gguf skim_gguf;
/* A metadata value: of a key, or an element of an array of strings or of arrays. Owned
 * by the skim_gguf it came from. */
typedef struct skim_gguf_value skim_gguf_value;

typedef enum skim_gguf_load {
    SKIM_GGUF_LOAD_DEFAULT = 0, /* memory-map where the platform allows, else read */
    SKIM_GGUF_LOAD_READ         /* read the whole file into allocated memory */
} skim_gguf_load;

/* Zero means default everywhere. */
typedef struct skim_gguf_desc {
    skim_allocator allocator; /* zero: malloc/free; used for every allocation */
    skim_gguf_load load;
} skim_gguf_desc;

#define SKIM_GGUF_MSG_LEN 256

/* Why an open failed. */
typedef struct skim_gguf_error {
    skim_status status;
    uint64_t offset; /* byte offset in the file of the field at fault (0 when none) */
    char msg[SKIM_GGUF_MSG_LEN]; /* names the field: "tensor 3 ('blk.0.attn_q.weight'):
                                    data [.., ..) past end of file (... bytes) at offset .." */
} skim_gguf_error;

/* Opens and validates a GGUF file. desc and err may be NULL. A mapped file must not be
 * truncated or rewritten while open (the platform would fault on reading it). On failure *out_gguf is
 * untouched and err (when given) says why. Returns OK, INVALID_ARG, IO, FORMAT,
 * TOO_LARGE, OUT_OF_MEMORY. */
SKIM_API skim_status skim_gguf_open_file(const char *path, const skim_gguf_desc *desc,
                                         skim_gguf **out_gguf, skim_gguf_error *err);
/* The same from memory. The buffer is borrowed, not copied: it must stay valid and
 * unchanged until skim_gguf_destroy (tensor data pointers point into it). */
SKIM_API skim_status skim_gguf_open_memory(const void *data, size_t size,
                                           const skim_gguf_desc *desc, skim_gguf **out_gguf,
                                           skim_gguf_error *err);
/* Unmaps or frees everything. NULL is ignored. */
SKIM_API void skim_gguf_destroy(skim_gguf *g);

/* The file's version (2 or 3). */
SKIM_API uint32_t skim_gguf_version(const skim_gguf *g);
/* general.alignment, or 32 when the file does not set it. */
SKIM_API uint32_t skim_gguf_alignment(const skim_gguf *g);
/* Byte offset in the file of the data section (tensor offsets are relative to it). */
SKIM_API uint64_t skim_gguf_data_offset(const skim_gguf *g);
/* Whether the file is memory-mapped (false: read into memory, or opened from memory). */
SKIM_API bool skim_gguf_is_mapped(const skim_gguf *g);

/* -------- metadata
 * Keys are indexed 0 .. n_kv-1 in file order; duplicate keys are refused when opening. */
SKIM_API int64_t skim_gguf_n_kv(const skim_gguf *g);
/* The key of entry i (NUL-terminated), or NULL when i is out of range. */
SKIM_API const char *skim_gguf_key(const skim_gguf *g, int64_t i);
/* The index of a key, or -1 (O(log n)). */
SKIM_API int64_t skim_gguf_find_key(const skim_gguf *g, const char *key);
/* The value of entry i, or NULL when i is out of range. */
SKIM_API const skim_gguf_value *skim_gguf_kv_value(const skim_gguf *g, int64_t i);
/* The value of a key, or NULL when absent. */
SKIM_API const skim_gguf_value *skim_gguf_find(const skim_gguf *g, const char *key);

/* The type of a value; SKIM_GGUF_TYPE_COUNT for NULL. */
SKIM_API skim_gguf_type skim_gguf_value_type(const skim_gguf_value *v);

/* Typed getters. Each returns OK and writes *out, or INVALID_ARG (v or out NULL) or
 * TYPE (the value has another type) and leaves *out untouched. */
SKIM_API skim_status skim_gguf_value_u8(const skim_gguf_value *v, uint8_t *out);
SKIM_API skim_status skim_gguf_value_i8(const skim_gguf_value *v, int8_t *out);
SKIM_API skim_status skim_gguf_value_u16(const skim_gguf_value *v, uint16_t *out);
SKIM_API skim_status skim_gguf_value_i16(const skim_gguf_value *v, int16_t *out);
SKIM_API skim_status skim_gguf_value_u32(const skim_gguf_value *v, uint32_t *out);
SKIM_API skim_status skim_gguf_value_i32(const skim_gguf_value *v, int32_t *out);
SKIM_API skim_status skim_gguf_value_f32(const skim_gguf_value *v, float *out);
SKIM_API skim_status skim_gguf_value_bool(const skim_gguf_value *v, bool *out);
SKIM_API skim_status skim_gguf_value_u64(const skim_gguf_value *v, uint64_t *out);
SKIM_API skim_status skim_gguf_value_i64(const skim_gguf_value *v, int64_t *out);
SKIM_API skim_status skim_gguf_value_f64(const skim_gguf_value *v, double *out);
/* A string: NUL-terminated, *len (may be NULL) its length in bytes. */
SKIM_API skim_status skim_gguf_value_str(const skim_gguf_value *v, const char **out,
                                         size_t *len);
/* Lenient getters: any integer type (and bool) whose value fits int64 / any float type
 * or integer type. TYPE otherwise, RANGE for a u64 above INT64_MAX. */
SKIM_API skim_status skim_gguf_value_int(const skim_gguf_value *v, int64_t *out);
SKIM_API skim_status skim_gguf_value_float(const skim_gguf_value *v, double *out);

/* Arrays. skim_gguf_value_arr gives the element type and count (TYPE when v is not an
 * array). For numeric and bool element types the elements are contiguous in host order
 * at skim_gguf_arr_data (aligned for their type; bool as one byte 0/1); it is NULL for
 * arrays of strings or arrays, and for empty arrays. For arrays of strings or arrays, the
 * element j is skim_gguf_arr_elem(v, j) (NULL when j is out of range or the elements are
 * numeric). Arrays nest up to SKIM_GGUF_MAX_DEPTH levels. */
#define SKIM_GGUF_MAX_DEPTH 8
SKIM_API skim_status skim_gguf_value_arr(const skim_gguf_value *v, skim_gguf_type *elem_type,
                                         uint64_t *n);
SKIM_API const void *skim_gguf_arr_data(const skim_gguf_value *v);
SKIM_API const skim_gguf_value *skim_gguf_arr_elem(const skim_gguf_value *v, uint64_t j);

/* Getters by key, for the common case: FORMAT when the key is absent, otherwise as the
 * value getters (skim_gguf_get_str: TYPE unless a string). */
SKIM_API skim_status skim_gguf_get_int(const skim_gguf *g, const char *key, int64_t *out);
SKIM_API skim_status skim_gguf_get_float(const skim_gguf *g, const char *key, double *out);
SKIM_API skim_status skim_gguf_get_str(const skim_gguf *g, const char *key, const char **out);

/* -------- tensors */

typedef struct skim_gguf_tensor_info {
    const char *name;     /* NUL-terminated, at most SKIM_GGUF_MAX_NAME bytes */
    uint32_t ggml_type;   /* the file's type number */
    skim_type type;       /* SKIM_TYPE_COUNT when skim has no such type */
    bool supported;       /* type != SKIM_TYPE_COUNT */
    int n_dims;           /* 1..4 */
    int64_t ne[SKIM_GGUF_MAX_DIMS]; /* ne[0] contiguous (ggml's order); unused dims are 1 */
    uint64_t offset;      /* relative to the data section, a multiple of the alignment */
    uint64_t file_offset; /* absolute */
    size_t nbytes;        /* the data's bytes (every type's size is known) */
    const void *data;     /* little-endian as stored; from a path,
                             aligned to min(alignment, 16) or better (from memory: as far as
                             the caller's buffer is aligned) */
} skim_gguf_tensor_info;

SKIM_API int64_t skim_gguf_n_tensors(const skim_gguf *g);
/* The index of a tensor by name, or -1 (O(log n)). Names are unique in a valid file. */
SKIM_API int64_t skim_gguf_find_tensor(const skim_gguf *g, const char *name);
/* Fills *out for tensor i. Returns OK, INVALID_ARG (NULL), RANGE (i out of range). */
SKIM_API skim_status skim_gguf_tensor_info_get(const skim_gguf *g, int64_t i,
                                               skim_gguf_tensor_info *out);

/* ---------------------------------------------------------------- writing
 * A writer collects metadata and tensors in memory and writes a GGUF version 3 file:
 * keys in the order first set, tensors in the order added, each tensor's data at a
 * multiple of general.alignment (set it with skim_gguf_writer_set_u32; default 32; a
 * value that is not a power of two makes writing fail with INVALID_ARG). Setting a key
 * again replaces its value in place. A failed call leaves the writer as it was, except
 * that a failure inside an open array of arrays abandons that whole value (the key keeps
 * its earlier value, if any; later end_arr calls return STATE). A writer is used by one
 * thread at a time. Every call
 * returns OK, INVALID_ARG (NULL, empty key, bad type), STATE (out of order: a nested
 * array open), TOO_LARGE, OUT_OF_MEMORY; skim_gguf_writer_error says why. */

typedef struct skim_gguf_writer skim_gguf_writer;

typedef struct skim_gguf_writer_desc {
    skim_allocator allocator; /* zero: malloc/free */
} skim_gguf_writer_desc;

SKIM_API skim_status skim_gguf_writer_create(const skim_gguf_writer_desc *desc,
                                             skim_gguf_writer **out_writer);
SKIM_API void skim_gguf_writer_destroy(skim_gguf_writer *w);
SKIM_API const char *skim_gguf_writer_error(const skim_gguf_writer *w);

SKIM_API skim_status skim_gguf_writer_set_u8(skim_gguf_writer *w, const char *key, uint8_t v);
SKIM_API skim_status skim_gguf_writer_set_i8(skim_gguf_writer *w, const char *key, int8_t v);
SKIM_API skim_status skim_gguf_writer_set_u16(skim_gguf_writer *w, const char *key, uint16_t v);
SKIM_API skim_status skim_gguf_writer_set_i16(skim_gguf_writer *w, const char *key, int16_t v);
SKIM_API skim_status skim_gguf_writer_set_u32(skim_gguf_writer *w, const char *key, uint32_t v);
SKIM_API skim_status skim_gguf_writer_set_i32(skim_gguf_writer *w, const char *key, int32_t v);
SKIM_API skim_status skim_gguf_writer_set_f32(skim_gguf_writer *w, const char *key, float v);
SKIM_API skim_status skim_gguf_writer_set_bool(skim_gguf_writer *w, const char *key, bool v);
SKIM_API skim_status skim_gguf_writer_set_u64(skim_gguf_writer *w, const char *key, uint64_t v);
SKIM_API skim_status skim_gguf_writer_set_i64(skim_gguf_writer *w, const char *key, int64_t v);
SKIM_API skim_status skim_gguf_writer_set_f64(skim_gguf_writer *w, const char *key, double v);
/* A NUL-terminated string, or len bytes (which may include NULs) with _n. */
SKIM_API skim_status skim_gguf_writer_set_str(skim_gguf_writer *w, const char *key,
                                              const char *s);
SKIM_API skim_status skim_gguf_writer_set_str_n(skim_gguf_writer *w, const char *key,
                                                const char *s, size_t len);
/* An array of n numeric or bool elements (elem_type not STRING or ARRAY) in host order;
 * bool elements are one byte each. data may be NULL when n is 0. */
SKIM_API skim_status skim_gguf_writer_set_arr(skim_gguf_writer *w, const char *key,
                                              skim_gguf_type elem_type, const void *data,
                                              uint64_t n);
/* An array of n strings; lens may be NULL (NUL-terminated strings). */
SKIM_API skim_status skim_gguf_writer_set_arr_str(skim_gguf_writer *w, const char *key,
                                                  const char *const *strs, const size_t *lens,
                                                  uint64_t n);
/* Arrays of arrays: begin_arr opens one (under key, or, with key NULL, as the next
 * element of the array of arrays already open); until the matching end_arr, calls to
 * set_arr, set_arr_str and begin_arr with key NULL append its elements, and any other
 * call fails with STATE. Up to SKIM_GGUF_MAX_DEPTH levels. */
SKIM_API skim_status skim_gguf_writer_begin_arr(skim_gguf_writer *w, const char *key);
SKIM_API skim_status skim_gguf_writer_end_arr(skim_gguf_writer *w);

/* Adds a tensor (name unique, at most SKIM_GGUF_MAX_NAME bytes; n_dims 1..4; ne[i] >= 1;
 * ne[0] a multiple of the type's block size; size == skim_row_size * rows). The data is
 * borrowed, not copied: it must stay valid until the writer is destroyed or has written.
 * data may be NULL for now and given with skim_gguf_writer_set_tensor_data. */
SKIM_API skim_status skim_gguf_writer_add_tensor(skim_gguf_writer *w, const char *name,
                                                 skim_type type, int n_dims, const int64_t *ne,
                                                 const void *data, size_t size);
SKIM_API skim_status skim_gguf_writer_set_tensor_data(skim_gguf_writer *w, const char *name,
                                                      const void *data, size_t size);

/* Fills rows [row, row + n_rows) of tensor `name` into dst (n_rows * skim_row_size bytes,
 * rows counted over ne[1..3]). Returns OK, or any other status to stop writing. */
typedef skim_status (*skim_gguf_rows_fn)(void *user, const char *name, int64_t row,
                                         int64_t n_rows, void *dst);
/* Adds a tensor whose data is produced while the file is written, a few rows at a time
 * (about 1 MiB, at least one row), so that a file of any size is written with little
 * memory. The checks are those of add_tensor. When fn fails, writing fails with its
 * status (a partial file is removed). */
SKIM_API skim_status skim_gguf_writer_add_tensor_rows(skim_gguf_writer *w, const char *name,
                                                      skim_type type, int n_dims,
                                                      const int64_t *ne, skim_gguf_rows_fn fn,
                                                      void *user);

/* Bytes the file will have (STATE while an array is open or a tensor has no data). */
SKIM_API skim_status skim_gguf_writer_query_size(skim_gguf_writer *w, uint64_t *out_size);
/* Writes the file into buf (size at least the query_size; RANGE when smaller). */
SKIM_API skim_status skim_gguf_writer_write_memory(skim_gguf_writer *w, void *buf, size_t size);
/* Writes the file to path (IO when it cannot be created or written; a partial file is
 * removed). */
SKIM_API skim_status skim_gguf_writer_write_file(skim_gguf_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_GGUF_H */
