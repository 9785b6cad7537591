/* test_gguf_roundtrip.c - the GGUF writer and reader agree: every metadata value type,
 * arrays of every element type (strings, nested arrays, empty), every tensor type skim
 * has, alignment 32 (default), 1 and 256, through memory and through a file (mapped and
 * read); key replacement; writer misuse; out-of-memory sweeps of reader and writer.
 *
 *   test_gguf_roundtrip TMPDIR [KEEP.gguf]
 * With KEEP.gguf, one written file (alignment 64) is kept there for check_written.py. */
#include "gguf_test.h"

#include <math.h>

static const char *g_tmpdir = ".";

/* ---------------------------------------------------------------- building */

static void set_scalars(skim_gguf_writer *w) {
    CHECK_STATUS(skim_gguf_writer_set_u8(w, "t.u8", 200), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_i8(w, "t.i8", -100), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_u16(w, "t.u16", 60000), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_i16(w, "t.i16", -30000), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_u32(w, "t.u32", 4000000000u), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_i32(w, "t.i32", -2000000000), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_f32(w, "t.f32", -1.25f), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_bool(w, "t.bool", true), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_str(w, "t.str", "hello, gguf"), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_u64(w, "t.u64", 0xFEDCBA9876543210ull), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_i64(w, "t.i64", INT64_MIN + 5), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_f64(w, "t.f64", 3.141592653589793), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_str_n(w, "t.str_nul", "a\0b", 3), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_str(w, "t.str_empty", ""), SKIM_OK);
    /* replaced in place: keeps its position, takes the new type */
    CHECK_STATUS(skim_gguf_writer_set_u32(w, "t.replaced", 1), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_str(w, "t.replaced", "second"), SKIM_OK);
}

static const uint8_t A_U8[] = {0, 1, 255};
static const int8_t A_I8[] = {-128, 0, 127};
static const uint16_t A_U16[] = {1, 65535};
static const int16_t A_I16[] = {-32768, 32767};
static const uint32_t A_U32[] = {7, 0xFFFFFFFFu, 3};
static const int32_t A_I32[] = {-1, 2, -3, 4};
static const float A_F32[] = {0.5f, -2.0f, 1e30f};
static const bool A_BOOL[] = {true, false, true};
static const uint64_t A_U64[] = {1, 0xFFFFFFFFFFFFFFFFull};
static const int64_t A_I64[] = {INT64_MIN, INT64_MAX};
static const double A_F64[] = {1e-300, -0.0};
static const char *const A_STR[] = {"one", "", "three"};

static void set_arrays(skim_gguf_writer *w) {
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.u8", SKIM_GGUF_UINT8, A_U8, 3), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.i8", SKIM_GGUF_INT8, A_I8, 3), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.u16", SKIM_GGUF_UINT16, A_U16, 2), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.i16", SKIM_GGUF_INT16, A_I16, 2), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.u32", SKIM_GGUF_UINT32, A_U32, 3), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.i32", SKIM_GGUF_INT32, A_I32, 4), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.f32", SKIM_GGUF_FLOAT32, A_F32, 3), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.bool", SKIM_GGUF_BOOL, A_BOOL, 3), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.u64", SKIM_GGUF_UINT64, A_U64, 2), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.i64", SKIM_GGUF_INT64, A_I64, 2), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.f64", SKIM_GGUF_FLOAT64, A_F64, 2), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "a.empty", SKIM_GGUF_FLOAT32, NULL, 0), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr_str(w, "a.str", A_STR, NULL, 3), SKIM_OK);
    /* a.nested = [[1, 2, 3], ["one", "", "three"], [[], [-1, 2, -3, 4]], []] */
    CHECK_STATUS(skim_gguf_writer_begin_arr(w, "a.nested"), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_u32(w, "no", 1), SKIM_ERR_STATE);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "no", SKIM_GGUF_UINT8, A_U8, 3), SKIM_ERR_STATE);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, NULL, SKIM_GGUF_UINT8, A_U8, 3), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr_str(w, NULL, A_STR, NULL, 3), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_begin_arr(w, NULL), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, NULL, SKIM_GGUF_INT16, NULL, 0), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, NULL, SKIM_GGUF_INT32, A_I32, 4), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_end_arr(w), SKIM_OK);
    uint64_t size;
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_ERR_STATE); /* still open */
    CHECK_STATUS(skim_gguf_writer_begin_arr(w, NULL), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_end_arr(w), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_end_arr(w), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_end_arr(w), SKIM_ERR_STATE);
}

/* Tensor data: F32 [5, 3], F16 [7], Q8_0 [64, 2], Q4_0 [32, 1, 2, 2], I32 [3]. */
typedef struct tensors {
    float f32[15];
    uint16_t f16[7];
    uint8_t q8[2 * 2 * 34];
    uint8_t q4[4 * 18];
    int32_t i32[3];
} tensors;

static void fill_tensors(tensors *t) {
    for (int i = 0; i < 15; i++) t->f32[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 7; i++) t->f16[i] = (uint16_t)(0x3C00 + i);
    for (size_t i = 0; i < sizeof t->q8; i++) t->q8[i] = (uint8_t)(i * 7 + 1);
    for (size_t i = 0; i < sizeof t->q4; i++) t->q4[i] = (uint8_t)(i * 13 + 5);
    t->i32[0] = -1, t->i32[1] = 0, t->i32[2] = 123456;
}

static void add_tensors(skim_gguf_writer *w, const tensors *t) {
    int64_t ne_f32[] = {5, 3}, ne_f16[] = {7}, ne_q8[] = {64, 2}, ne_q4[] = {32, 1, 2, 2};
    int64_t ne_i32[] = {3};
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "f32", SKIM_TYPE_F32, 2, ne_f32, t->f32, sizeof t->f32), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "f16", SKIM_TYPE_F16, 1, ne_f16, NULL, 0), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "q8_0", SKIM_TYPE_Q8_0, 2, ne_q8, t->q8, sizeof t->q8), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "q4_0", SKIM_TYPE_Q4_0, 4, ne_q4, t->q4, sizeof t->q4), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "i32", SKIM_TYPE_I32, 1, ne_i32, t->i32, sizeof t->i32), SKIM_OK);
    uint64_t size;
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_ERR_STATE); /* f16 has no data */
    CHECK_STATUS(skim_gguf_writer_set_tensor_data(w, "f16", t->f16, sizeof t->f16 - 2), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_set_tensor_data(w, "f16", t->f16, sizeof t->f16), SKIM_OK);
    /* misuse */
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "f32", SKIM_TYPE_F32, 2, ne_f32, t->f32, sizeof t->f32), SKIM_ERR_INVALID_ARG);
    int64_t bad_q8[] = {30};
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "bad", SKIM_TYPE_Q8_0, 1, bad_q8, NULL, 0), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "bad", SKIM_TYPE_F32, 5, ne_q4, NULL, 0), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "bad", SKIM_TYPE_COUNT, 1, ne_i32, NULL, 0), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, "bad", SKIM_TYPE_F32, 1, ne_i32, t->f32, 4), SKIM_ERR_INVALID_ARG);
    char long_name[80];
    memset(long_name, 'x', 65);
    long_name[65] = '\0';
    CHECK_STATUS(skim_gguf_writer_add_tensor(w, long_name, SKIM_TYPE_F32, 1, ne_i32, NULL, 0), SKIM_ERR_INVALID_ARG);
}

/* ---------------------------------------------------------------- checking */

static const skim_gguf_value *must_find(const skim_gguf *g, const char *key) {
    const skim_gguf_value *v = skim_gguf_find(g, key);
    if (!v) fprintf(stderr, "key %s missing\n", key);
    CHECK(v != NULL);
    return v;
}

static void check_scalars(const skim_gguf *g) {
    uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
    float f32; bool b; uint64_t u64; int64_t i64; double f64; const char *s; size_t len;
    CHECK_STATUS(skim_gguf_value_u8(must_find(g, "t.u8"), &u8), SKIM_OK); CHECK(u8 == 200);
    CHECK_STATUS(skim_gguf_value_i8(must_find(g, "t.i8"), &i8), SKIM_OK); CHECK(i8 == -100);
    CHECK_STATUS(skim_gguf_value_u16(must_find(g, "t.u16"), &u16), SKIM_OK); CHECK(u16 == 60000);
    CHECK_STATUS(skim_gguf_value_i16(must_find(g, "t.i16"), &i16), SKIM_OK); CHECK(i16 == -30000);
    CHECK_STATUS(skim_gguf_value_u32(must_find(g, "t.u32"), &u32), SKIM_OK); CHECK(u32 == 4000000000u);
    CHECK_STATUS(skim_gguf_value_i32(must_find(g, "t.i32"), &i32), SKIM_OK); CHECK(i32 == -2000000000);
    CHECK_STATUS(skim_gguf_value_f32(must_find(g, "t.f32"), &f32), SKIM_OK); CHECK(f32 == -1.25f);
    CHECK_STATUS(skim_gguf_value_bool(must_find(g, "t.bool"), &b), SKIM_OK); CHECK(b);
    CHECK_STATUS(skim_gguf_value_u64(must_find(g, "t.u64"), &u64), SKIM_OK); CHECK(u64 == 0xFEDCBA9876543210ull);
    CHECK_STATUS(skim_gguf_value_i64(must_find(g, "t.i64"), &i64), SKIM_OK); CHECK(i64 == INT64_MIN + 5);
    CHECK_STATUS(skim_gguf_value_f64(must_find(g, "t.f64"), &f64), SKIM_OK); CHECK(f64 == 3.141592653589793);
    CHECK_STATUS(skim_gguf_value_str(must_find(g, "t.str"), &s, &len), SKIM_OK);
    CHECK(len == 11 && strcmp(s, "hello, gguf") == 0);
    CHECK_STATUS(skim_gguf_value_str(must_find(g, "t.str_nul"), &s, &len), SKIM_OK);
    CHECK(len == 3 && memcmp(s, "a\0b", 4) == 0);
    CHECK_STATUS(skim_gguf_value_str(must_find(g, "t.str_empty"), &s, &len), SKIM_OK);
    CHECK(len == 0 && s[0] == '\0');
    CHECK_STATUS(skim_gguf_value_str(must_find(g, "t.replaced"), &s, &len), SKIM_OK);
    CHECK(strcmp(s, "second") == 0);
    CHECK(skim_gguf_find_key(g, "t.replaced") == skim_gguf_find_key(g, "t.str_empty") + 1);
    /* wrong types, lenient getters */
    CHECK_STATUS(skim_gguf_value_u32(must_find(g, "t.i32"), &u32), SKIM_ERR_TYPE);
    CHECK_STATUS(skim_gguf_value_str(must_find(g, "t.u8"), &s, &len), SKIM_ERR_TYPE);
    CHECK(u32 == 4000000000u); /* untouched */
    CHECK_STATUS(skim_gguf_value_int(must_find(g, "t.i16"), &i64), SKIM_OK); CHECK(i64 == -30000);
    CHECK_STATUS(skim_gguf_value_int(must_find(g, "t.u64"), &i64), SKIM_ERR_RANGE);
    CHECK_STATUS(skim_gguf_value_int(must_find(g, "t.f32"), &i64), SKIM_ERR_TYPE);
    CHECK_STATUS(skim_gguf_value_float(must_find(g, "t.f32"), &f64), SKIM_OK); CHECK(f64 == -1.25);
    CHECK_STATUS(skim_gguf_get_int(g, "t.u32", &i64), SKIM_OK); CHECK(i64 == 4000000000ll);
    CHECK_STATUS(skim_gguf_get_int(g, "absent", &i64), SKIM_ERR_FORMAT);
    CHECK_STATUS(skim_gguf_get_float(g, "t.u8", &f64), SKIM_OK); CHECK(f64 == 200.0);
    CHECK_STATUS(skim_gguf_get_str(g, "t.str", &s), SKIM_OK);
    CHECK(skim_gguf_find(g, "absent") == NULL && skim_gguf_kv_value(g, -1) == NULL);
    CHECK(skim_gguf_key(g, skim_gguf_n_kv(g)) == NULL);
}

#define CHECK_ARR(key, et, arr, count)                                                      \
    do {                                                                                    \
        skim_gguf_type t_;                                                                  \
        uint64_t n_;                                                                        \
        const skim_gguf_value *v_ = must_find(g, key);                                      \
        CHECK_STATUS(skim_gguf_value_arr(v_, &t_, &n_), SKIM_OK);                           \
        CHECK(t_ == (et) && n_ == (count));                                                 \
        CHECK(memcmp(skim_gguf_arr_data(v_), arr, sizeof arr) == 0);                        \
    } while (0)

static void check_str_arr(const skim_gguf_value *v) {
    skim_gguf_type t;
    uint64_t n;
    CHECK_STATUS(skim_gguf_value_arr(v, &t, &n), SKIM_OK);
    CHECK(t == SKIM_GGUF_STRING && n == 3 && skim_gguf_arr_data(v) == NULL);
    for (uint64_t j = 0; j < 3; j++) {
        const char *s;
        CHECK_STATUS(skim_gguf_value_str(skim_gguf_arr_elem(v, j), &s, NULL), SKIM_OK);
        CHECK(strcmp(s, A_STR[j]) == 0);
    }
    CHECK(skim_gguf_arr_elem(v, 3) == NULL);
}

static void check_arrays(const skim_gguf *g) {
    CHECK_ARR("a.u8", SKIM_GGUF_UINT8, A_U8, 3);
    CHECK_ARR("a.i8", SKIM_GGUF_INT8, A_I8, 3);
    CHECK_ARR("a.u16", SKIM_GGUF_UINT16, A_U16, 2);
    CHECK_ARR("a.i16", SKIM_GGUF_INT16, A_I16, 2);
    CHECK_ARR("a.u32", SKIM_GGUF_UINT32, A_U32, 3);
    CHECK_ARR("a.i32", SKIM_GGUF_INT32, A_I32, 4);
    CHECK_ARR("a.f32", SKIM_GGUF_FLOAT32, A_F32, 3);
    CHECK_ARR("a.bool", SKIM_GGUF_BOOL, A_BOOL, 3);
    CHECK_ARR("a.u64", SKIM_GGUF_UINT64, A_U64, 2);
    CHECK_ARR("a.i64", SKIM_GGUF_INT64, A_I64, 2);
    CHECK_ARR("a.f64", SKIM_GGUF_FLOAT64, A_F64, 2);
    skim_gguf_type t;
    uint64_t n;
    CHECK_STATUS(skim_gguf_value_arr(must_find(g, "a.empty"), &t, &n), SKIM_OK);
    CHECK(t == SKIM_GGUF_FLOAT32 && n == 0 && skim_gguf_arr_data(must_find(g, "a.empty")) == NULL);
    check_str_arr(must_find(g, "a.str"));
    const skim_gguf_value *nest = must_find(g, "a.nested");
    CHECK_STATUS(skim_gguf_value_arr(nest, &t, &n), SKIM_OK);
    CHECK(t == SKIM_GGUF_ARRAY && n == 4);
    const skim_gguf_value *e0 = skim_gguf_arr_elem(nest, 0);
    CHECK_STATUS(skim_gguf_value_arr(e0, &t, &n), SKIM_OK);
    CHECK(t == SKIM_GGUF_UINT8 && n == 3 && memcmp(skim_gguf_arr_data(e0), A_U8, 3) == 0);
    check_str_arr(skim_gguf_arr_elem(nest, 1));
    const skim_gguf_value *e2 = skim_gguf_arr_elem(nest, 2);
    CHECK_STATUS(skim_gguf_value_arr(e2, &t, &n), SKIM_OK);
    CHECK(t == SKIM_GGUF_ARRAY && n == 2);
    CHECK_STATUS(skim_gguf_value_arr(skim_gguf_arr_elem(e2, 0), &t, &n), SKIM_OK);
    CHECK(t == SKIM_GGUF_INT16 && n == 0);
    const skim_gguf_value *e21 = skim_gguf_arr_elem(e2, 1);
    CHECK_STATUS(skim_gguf_value_arr(e21, &t, &n), SKIM_OK);
    CHECK(t == SKIM_GGUF_INT32 && n == 4 && memcmp(skim_gguf_arr_data(e21), A_I32, 16) == 0);
    CHECK_STATUS(skim_gguf_value_arr(skim_gguf_arr_elem(nest, 3), &t, &n), SKIM_OK);
    CHECK(t == SKIM_GGUF_ARRAY && n == 0);
}

static void check_tensor(const skim_gguf *g, const char *name, skim_type type, int n_dims,
                         const int64_t *ne, const void *data, size_t size) {
    int64_t i = skim_gguf_find_tensor(g, name);
    CHECK(i >= 0);
    skim_gguf_tensor_info t;
    CHECK_STATUS(skim_gguf_tensor_info_get(g, i, &t), SKIM_OK);
    CHECK(strcmp(t.name, name) == 0 && t.type == type && t.supported && t.n_dims == n_dims);
    CHECK(t.ggml_type == skim_gguf_ggml_type(type));
    for (int d = 0; d < 4; d++) CHECK(t.ne[d] == (d < n_dims ? ne[d] : 1));
    CHECK(t.nbytes == size && memcmp(t.data, data, size) == 0);
    uint32_t align = skim_gguf_alignment(g);
    CHECK(t.offset % align == 0);
    CHECK(t.file_offset == skim_gguf_data_offset(g) + t.offset);
    CHECK(skim_gguf_data_offset(g) % align == 0);
}

static void check_tensors(const skim_gguf *g, const tensors *t) {
    int64_t ne_f32[] = {5, 3}, ne_f16[] = {7}, ne_q8[] = {64, 2}, ne_q4[] = {32, 1, 2, 2};
    int64_t ne_i32[] = {3};
    CHECK(skim_gguf_n_tensors(g) == 5);
    check_tensor(g, "f32", SKIM_TYPE_F32, 2, ne_f32, t->f32, sizeof t->f32);
    check_tensor(g, "f16", SKIM_TYPE_F16, 1, ne_f16, t->f16, sizeof t->f16);
    check_tensor(g, "q8_0", SKIM_TYPE_Q8_0, 2, ne_q8, t->q8, sizeof t->q8);
    check_tensor(g, "q4_0", SKIM_TYPE_Q4_0, 4, ne_q4, t->q4, sizeof t->q4);
    check_tensor(g, "i32", SKIM_TYPE_I32, 1, ne_i32, t->i32, sizeof t->i32);
    CHECK(skim_gguf_find_tensor(g, "nope") == -1);
    skim_gguf_tensor_info info;
    CHECK_STATUS(skim_gguf_tensor_info_get(g, 5, &info), SKIM_ERR_RANGE);
}

static void check_all(const skim_gguf *g, const tensors *t) {
    CHECK(skim_gguf_version(g) == 3);
    check_scalars(g);
    check_arrays(g);
    check_tensors(g, t);
}

/* ---------------------------------------------------------------- runs */

static skim_gguf_writer *build(const tensors *t, int64_t alignment, const skim_allocator *a) {
    skim_gguf_writer_desc d;
    memset(&d, 0, sizeof d);
    if (a) d.allocator = *a;
    skim_gguf_writer *w = NULL;
    CHECK_STATUS(skim_gguf_writer_create(&d, &w), SKIM_OK);
    if (alignment > 0) CHECK_STATUS(skim_gguf_writer_set_u32(w, "general.alignment", (uint32_t)alignment), SKIM_OK);
    set_scalars(w);
    set_arrays(w);
    add_tensors(w, t);
    return w;
}

static void roundtrip(const tensors *t, int64_t alignment) {
    skim_gguf_writer *w = build(t, alignment, NULL);
    uint64_t size;
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_OK);
    uint32_t align = alignment > 0 ? (uint32_t)alignment : 32;
    CHECK(size % align == 0);
    unsigned char *buf = malloc((size_t)size);
    CHECK(buf);
    CHECK_STATUS(skim_gguf_writer_write_memory(w, buf, (size_t)size - 1), SKIM_ERR_RANGE);
    CHECK_STATUS(skim_gguf_writer_write_memory(w, buf, (size_t)size), SKIM_OK);
    skim_gguf *g = NULL;
    skim_gguf_error err;
    CHECK_STATUS(skim_gguf_open_memory(buf, (size_t)size, NULL, &g, &err), SKIM_OK);
    CHECK(skim_gguf_alignment(g) == align && !skim_gguf_is_mapped(g));
    check_all(g, t);
    skim_gguf_destroy(g);

    char path[512];
    snprintf(path, sizeof path, "%s/roundtrip_%lld.gguf", g_tmpdir, (long long)alignment);
    CHECK_STATUS(skim_gguf_writer_write_file(w, path), SKIM_OK);
    for (int load = 0; load < 2; load++) {
        skim_gguf_desc desc;
        memset(&desc, 0, sizeof desc);
        desc.load = load ? SKIM_GGUF_LOAD_READ : SKIM_GGUF_LOAD_DEFAULT;
        CHECK_STATUS(skim_gguf_open_file(path, &desc, &g, &err), SKIM_OK);
        check_all(g, t);
        if (load) CHECK(!skim_gguf_is_mapped(g));
        skim_gguf_destroy(g);
    }
    /* the file's bytes are the memory image's */
    FILE *f = fopen(path, "rb");
    CHECK(f);
    unsigned char *file = malloc((size_t)size + 1);
    CHECK(file && fread(file, 1, (size_t)size + 1, f) == size);
    fclose(f);
    CHECK(memcmp(file, buf, (size_t)size) == 0);
    free(file);
    remove(path);
    free(buf);
    skim_gguf_writer_destroy(w);
}

static void writer_misuse(void) {
    skim_gguf_writer *w = NULL;
    CHECK_STATUS(skim_gguf_writer_create(NULL, NULL), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_create(NULL, &w), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_u32(w, "", 1), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_set_u32(w, NULL, 1), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_set_str(w, "k", NULL), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "k", SKIM_GGUF_STRING, A_STR, 3), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_writer_end_arr(w), SKIM_ERR_STATE);
    CHECK_STATUS(skim_gguf_writer_set_u32(w, "general.alignment", 48), SKIM_OK);
    uint64_t size;
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_ERR_INVALID_ARG);
    CHECK(strlen(skim_gguf_writer_error(w)) > 0);
    CHECK_STATUS(skim_gguf_writer_set_u32(w, "general.alignment", 16), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_write_file(w, "/nonexistent-dir/x.gguf"), SKIM_ERR_IO);
    for (int i = 0; i < SKIM_GGUF_MAX_DEPTH; i++) {
        CHECK_STATUS(skim_gguf_writer_begin_arr(w, i ? NULL : "deep"), SKIM_OK);
    }
    CHECK_STATUS(skim_gguf_writer_begin_arr(w, NULL), SKIM_ERR_INVALID_ARG);
    for (int i = 0; i < SKIM_GGUF_MAX_DEPTH; i++) CHECK_STATUS(skim_gguf_writer_end_arr(w), SKIM_OK);
    /* the deepest nesting the writer allows, the reader reads */
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_OK);
    unsigned char *buf = malloc((size_t)size);
    CHECK_STATUS(skim_gguf_writer_write_memory(w, buf, (size_t)size), SKIM_OK);
    skim_gguf *g = NULL;
    CHECK_STATUS(skim_gguf_open_memory(buf, (size_t)size, NULL, &g, NULL), SKIM_OK);
    skim_gguf_destroy(g);
    free(buf);
    skim_gguf_writer_destroy(w);
    skim_gguf_writer_destroy(NULL);
    skim_gguf_destroy(NULL);
}

static void reader_misuse(void) {
    skim_gguf *g = NULL;
    skim_gguf_error err;
    CHECK_STATUS(skim_gguf_open_memory(NULL, 4, NULL, &g, &err), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_open_memory("GGUF", 4, NULL, NULL, &err), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_open_file(NULL, NULL, &g, &err), SKIM_ERR_INVALID_ARG);
    CHECK_STATUS(skim_gguf_open_file("/nonexistent/file.gguf", NULL, &g, &err), SKIM_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/file.gguf") != NULL);
    CHECK_STATUS(skim_gguf_open_file("/", NULL, &g, &err), SKIM_ERR_IO);
    CHECK(g == NULL);
    CHECK(skim_gguf_n_kv(NULL) == 0 && skim_gguf_find_key(NULL, "x") == -1);
    CHECK(skim_gguf_value_type(NULL) == SKIM_GGUF_TYPE_COUNT);
    CHECK(strcmp(skim_gguf_type_name(SKIM_GGUF_FLOAT64), "f64") == 0);
    CHECK(strcmp(skim_gguf_type_name((skim_gguf_type)99), "?") == 0);
    CHECK(skim_gguf_skim_type(8) == SKIM_TYPE_Q8_0 && skim_gguf_skim_type(2) == SKIM_TYPE_Q4_0);
    CHECK(skim_gguf_skim_type(26) == SKIM_TYPE_I32 && skim_gguf_skim_type(13) == SKIM_TYPE_COUNT);
    CHECK(skim_gguf_skim_type(12) == SKIM_TYPE_Q4_K && skim_gguf_skim_type(14) == SKIM_TYPE_Q6_K &&
          skim_gguf_skim_type(30) == SKIM_TYPE_BF16);
    CHECK(skim_gguf_ggml_type(SKIM_TYPE_Q4_K) == 12 && skim_gguf_ggml_type(SKIM_TYPE_Q6_K) == 14 &&
          skim_gguf_ggml_type(SKIM_TYPE_BF16) == 30);
}

/* Every allocation of building, writing and reading fails in turn: statuses, no leaks. */
static void oom_sweep(const tensors *t) {
    skim_gguf_writer *w = build(t, 0, NULL);
    uint64_t size;
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_OK);
    unsigned char *buf = malloc((size_t)size);
    CHECK_STATUS(skim_gguf_writer_write_memory(w, buf, (size_t)size), SKIM_OK);
    skim_gguf_writer_destroy(w);
    long reader_allocs = -1;
    for (long n = 0; reader_allocs < 0; n++) {
        test_alloc ta = {0, 0, 0, n};
        skim_gguf_desc d;
        memset(&d, 0, sizeof d);
        d.allocator = test_allocator(&ta);
        skim_gguf *g = NULL;
        skim_status s = skim_gguf_open_memory(buf, (size_t)size, &d, &g, NULL);
        if (ta.n_alloc <= n) {
            CHECK_STATUS(s, SKIM_OK);
            check_all(g, t);
            reader_allocs = n;
        } else {
            CHECK_STATUS(s, SKIM_ERR_OUT_OF_MEMORY);
            CHECK(g == NULL);
        }
        skim_gguf_destroy(g);
        CHECK(test_live(&ta) == 0);
    }
    /* The writer: a failed call reports OUT_OF_MEMORY; destroying frees everything. */
    long failures = 0;
    for (long n = 0; n < 400; n++) {
        test_alloc ta = {0, 0, 0, n};
        skim_allocator a = test_allocator(&ta);
        skim_gguf_writer_desc d;
        memset(&d, 0, sizeof d);
        d.allocator = a;
        skim_gguf_writer *ww = NULL;
        skim_status s = skim_gguf_writer_create(&d, &ww);
        if (s == SKIM_OK) {
            s = skim_gguf_writer_set_str(ww, "k.str", "abc");
            if (s == SKIM_OK) s = skim_gguf_writer_set_arr_str(ww, "k.arr", A_STR, NULL, 3);
            if (s == SKIM_OK) s = skim_gguf_writer_set_arr(ww, "k.f", SKIM_GGUF_FLOAT64, A_F64, 2);
            if (s == SKIM_OK) s = skim_gguf_writer_write_memory(ww, buf, (size_t)size);
            skim_gguf_writer_destroy(ww);
        }
        CHECK(s == SKIM_OK || s == SKIM_ERR_OUT_OF_MEMORY);
        CHECK(test_live(&ta) == 0);
        if (s == SKIM_OK && ta.n_alloc <= n) break;
        failures++;
    }
    printf("reader: %ld allocations swept; writer: %ld failure points swept\n", reader_allocs,
           failures);
    free(buf);
}

/* The value of k as a string, after writing w to memory and reading it back. */
static void read_back_str(skim_gguf_writer *w, const char *key, char *out, size_t cap) {
    uint64_t size;
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_OK);
    unsigned char *buf = malloc((size_t)size);
    CHECK_STATUS(skim_gguf_writer_write_memory(w, buf, (size_t)size), SKIM_OK);
    skim_gguf *g = NULL;
    CHECK_STATUS(skim_gguf_open_memory(buf, (size_t)size, NULL, &g, NULL), SKIM_OK);
    const char *s = "";
    if (skim_gguf_value_str(skim_gguf_find(g, key), &s, NULL) != SKIM_OK) s = "(not a string)";
    snprintf(out, cap, "%s", s);
    skim_gguf_destroy(g);
    free(buf);
}

/* A failed set leaves the writer as it was: the old value of a replaced key survives. */
static void oom_keeps_state(void) {
    for (long n = 0; n < 100; n++) {
        test_alloc ta = {0, 0, 0, -1};
        skim_gguf_writer_desc d;
        memset(&d, 0, sizeof d);
        d.allocator = test_allocator(&ta);
        skim_gguf_writer *w = NULL;
        CHECK_STATUS(skim_gguf_writer_create(&d, &w), SKIM_OK);
        CHECK_STATUS(skim_gguf_writer_set_str(w, "k", "old"), SKIM_OK);
        CHECK_STATUS(skim_gguf_writer_set_str(w, "j", "old"), SKIM_OK);
        ta.fail_at = ta.n_alloc + n;
        skim_status s1 = skim_gguf_writer_set_str(w, "k", "a longer new value, to grow the buffer");
        skim_status s2 = skim_gguf_writer_begin_arr(w, "j");
        for (int i = 0; s2 == SKIM_OK && i < 20; i++) {
            s2 = skim_gguf_writer_set_arr_str(w, NULL, A_STR, NULL, 3);
        }
        if (s2 == SKIM_OK) s2 = skim_gguf_writer_end_arr(w);
        skim_status s3 = skim_gguf_writer_set_u32(w, "new.key", 5);
        ta.fail_at = -1;
        char k[64], j[64];
        read_back_str(w, "k", k, sizeof k);
        read_back_str(w, "j", j, sizeof j);
        CHECK(s1 == SKIM_OK ? strcmp(k, "a longer new value, to grow the buffer") == 0
                            : s1 == SKIM_ERR_OUT_OF_MEMORY && strcmp(k, "old") == 0);
        CHECK(s2 == SKIM_OK ? strcmp(j, "(not a string)") == 0
                            : s2 == SKIM_ERR_OUT_OF_MEMORY && strcmp(j, "old") == 0);
        CHECK(s3 == SKIM_OK || s3 == SKIM_ERR_OUT_OF_MEMORY);
        CHECK(skim_gguf_find_key(NULL, "x") == -1);
        skim_gguf_writer_destroy(w);
        CHECK(test_live(&ta) == 0);
        if (s1 == SKIM_OK && s2 == SKIM_OK && s3 == SKIM_OK) return;
    }
    CHECK(!"the writer needed more than 100 allocations");
}

/* An allocator that rewrites the buffer being opened when the reader allocates (between
 * its counting pass and its filling pass): a file changed while being read. */
typedef struct mutating {
    unsigned char *buf;
    size_t at;
    unsigned char value;
} mutating;

static void *mutate_alloc(void *user, size_t size) {
    mutating *m = user;
    m->buf[m->at] = m->value;
    return malloc(size);
}

static void mutate_free(void *user, void *p) { (void)user, free(p); }

static void changed_while_reading(void) {
    static const char *const strs[] = {"p", "q"};
    skim_gguf_writer *w = NULL;
    CHECK_STATUS(skim_gguf_writer_create(NULL, &w), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_str(w, "a", "x"), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr_str(w, "b", strs, NULL, 2), SKIM_OK);
    CHECK_STATUS(skim_gguf_writer_set_arr(w, "c", SKIM_GGUF_UINT8, A_U8, 3), SKIM_OK);
    uint64_t size;
    CHECK_STATUS(skim_gguf_writer_query_size(w, &size), SKIM_OK);
    unsigned char *buf = malloc((size_t)size), *orig = malloc((size_t)size);
    CHECK_STATUS(skim_gguf_writer_write_memory(w, orig, (size_t)size), SKIM_OK);
    skim_gguf_writer_destroy(w);
    /* header n_kv 3 -> 4; "x" length 1 -> 9; "b" count 2 -> 3; "c" count 3 -> 4;
     * "c" elements u8 -> u64 */
    const size_t at[] = {16, 37, 63, 106, 102};
    const unsigned char val[] = {4, 9, 3, 4, 10};
    CHECK(orig[16] == 3 && orig[37] == 1 && orig[63] == 2 && orig[106] == 3 && orig[102] == 0);
    for (int i = 0; i < 5; i++) {
        memcpy(buf, orig, (size_t)size);
        mutating m = {buf, at[i], val[i]};
        skim_gguf_desc d;
        memset(&d, 0, sizeof d);
        d.allocator.alloc = mutate_alloc;
        d.allocator.free = mutate_free;
        d.allocator.user = &m;
        skim_gguf *g = NULL;
        skim_gguf_error err;
        skim_status s = skim_gguf_open_memory(buf, (size_t)size, &d, &g, &err);
        CHECK(s != SKIM_OK && g == NULL);
        printf("changed at byte %zu: %s: %s\n", at[i], skim_status_str(s), err.msg);
    }
    free(buf);
    free(orig);
}

/* Keeps one written file (alignment 64) for tests/gguf/check_written.py, an independent
 * reader that checks the same values. */
static void keep_file(const tensors *t, const char *path) {
    skim_gguf_writer *w = build(t, 64, NULL);
    CHECK_STATUS(skim_gguf_writer_write_file(w, path), SKIM_OK);
    skim_gguf_writer_destroy(w);
}

int main(int argc, char **argv) {
    if (argc > 1) g_tmpdir = argv[1];
    tensors t;
    fill_tensors(&t);
    if (argc > 2) keep_file(&t, argv[2]);
    roundtrip(&t, 0);
    roundtrip(&t, 1);
    roundtrip(&t, 256);
    writer_misuse();
    reader_misuse();
    oom_sweep(&t);
    oom_keeps_state();
    changed_while_reading();
    printf("gguf round trip: ok\n");
    return 0;
}
