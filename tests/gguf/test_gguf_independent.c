/* test_gguf_independent.c - the reader on files it did not write: the valid files of the
 * corpus, written byte by byte by tests/gguf/make_corpus.py (Python's struct module, not
 * skim's writer). Every metadata value type, strings with NUL bytes, arrays of strings and
 * arrays of arrays, general.alignment 64 and tensor data at its offsets must read back as
 * the script wrote them, from a mapped file, a read file and memory alike; a file opened
 * by path with the default load is memory-mapped (POSIX).
 *
 *   test_gguf_independent CORPUS_DIR */
#include "gguf_test.h"

#include <stdint.h>

static const char *g_dir;

static unsigned char *g_buf;
static size_t g_size;

static void read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    CHECK(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    free(g_buf);
    g_buf = malloc((size_t)n + 1);
    CHECK(g_buf && fread(g_buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    g_size = (size_t)n;
}

/* Opens NAME of the corpus in mode 0 (default: mapped), 1 (read) or 2 (from memory). */
static skim_gguf *open_mode(const char *name, int mode) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    skim_gguf *g = NULL;
    skim_gguf_error err;
    skim_gguf_desc d;
    memset(&d, 0, sizeof d);
    skim_status s;
    if (mode == 2) {
        read_all(path);
        s = skim_gguf_open_memory(g_buf, g_size, &d, &g, &err);
    } else {
        d.load = mode == 1 ? SKIM_GGUF_LOAD_READ : SKIM_GGUF_LOAD_DEFAULT;
        s = skim_gguf_open_file(path, &d, &g, &err);
    }
    if (s != SKIM_OK) fprintf(stderr, "%s: %s: %s\n", path, skim_status_str(s), err.msg);
    CHECK(s == SKIM_OK);
#if defined(__unix__) || defined(__APPLE__)
    CHECK(skim_gguf_is_mapped(g) == (mode == 0));
#endif
    CHECK(skim_gguf_version(g) == 3);
    return g;
}

static const skim_gguf_value *find(const skim_gguf *g, const char *key, skim_gguf_type t) {
    const skim_gguf_value *v = skim_gguf_find(g, key);
    if (!v) fprintf(stderr, "key %s is missing\n", key);
    CHECK(v != NULL && skim_gguf_value_type(v) == t);
    return v;
}

/* make_corpus.py: ok_all_types, 13 keys, one of each type, in this order. */
static void all_types(int mode) {
    skim_gguf *g = open_mode("ok_all_types.gguf", mode);
    CHECK(skim_gguf_n_kv(g) == 13 && skim_gguf_n_tensors(g) == 0);
    static const char *const keys[13] = {"a.u8", "a.i8", "a.u16", "a.i16", "a.u32", "a.i32",
                                         "a.f32", "a.bool", "a.str", "a.arr", "a.u64", "a.i64",
                                         "a.f64"};
    for (int i = 0; i < 13; i++) CHECK(strcmp(skim_gguf_key(g, i), keys[i]) == 0);
    uint8_t u8 = 0; int8_t i8 = 0; uint16_t u16 = 0; int16_t i16 = 0; uint32_t u32 = 0;
    int32_t i32 = 0; float f32 = 0; bool b = false; uint64_t u64 = 0; int64_t i64 = 0;
    double f64 = 0;
    CHECK_STATUS(skim_gguf_value_u8(find(g, "a.u8", SKIM_GGUF_UINT8), &u8), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_i8(find(g, "a.i8", SKIM_GGUF_INT8), &i8), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_u16(find(g, "a.u16", SKIM_GGUF_UINT16), &u16), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_i16(find(g, "a.i16", SKIM_GGUF_INT16), &i16), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_u32(find(g, "a.u32", SKIM_GGUF_UINT32), &u32), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_i32(find(g, "a.i32", SKIM_GGUF_INT32), &i32), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_f32(find(g, "a.f32", SKIM_GGUF_FLOAT32), &f32), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_bool(find(g, "a.bool", SKIM_GGUF_BOOL), &b), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_u64(find(g, "a.u64", SKIM_GGUF_UINT64), &u64), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_i64(find(g, "a.i64", SKIM_GGUF_INT64), &i64), SKIM_OK);
    CHECK_STATUS(skim_gguf_value_f64(find(g, "a.f64", SKIM_GGUF_FLOAT64), &f64), SKIM_OK);
    CHECK(u8 == 7 && i8 == -1 && u16 == 65535 && i16 == -2 && u32 == 7 && i32 == -7);
    CHECK(f32 == 1.5f && b && u64 == (1ull << 40) && i64 == -(1ll << 40) && f64 == -0.25);
    const char *s = NULL;
    size_t len = 0;
    CHECK_STATUS(skim_gguf_value_str(find(g, "a.str", SKIM_GGUF_STRING), &s, &len), SKIM_OK);
    CHECK(len == 3 && memcmp(s, "x\0y", 4) == 0); /* NUL inside, NUL-terminated copy */
    const skim_gguf_value *arr = find(g, "a.arr", SKIM_GGUF_ARRAY);
    skim_gguf_type et;
    uint64_t n = 0;
    CHECK_STATUS(skim_gguf_value_arr(arr, &et, &n), SKIM_OK);
    CHECK(et == SKIM_GGUF_STRING && n == 2 && skim_gguf_arr_data(arr) == NULL);
    CHECK_STATUS(skim_gguf_value_str(skim_gguf_arr_elem(arr, 0), &s, &len), SKIM_OK);
    CHECK(len == 1 && strcmp(s, "p") == 0);
    CHECK_STATUS(skim_gguf_value_str(skim_gguf_arr_elem(arr, 1), &s, &len), SKIM_OK);
    CHECK(len == 0 && s[0] == '\0');
    CHECK(skim_gguf_arr_elem(arr, 2) == NULL);
    /* a getter of another type refuses and leaves the output alone */
    CHECK_STATUS(skim_gguf_value_u32(find(g, "a.i32", SKIM_GGUF_INT32), &u32), SKIM_ERR_TYPE);
    CHECK(u32 == 7);
    skim_gguf_destroy(g);
}

/* ok_nested_arrays: n = [ u8[1, 2], [ str["z"] ] ]. */
static void nested(int mode) {
    skim_gguf *g = open_mode("ok_nested_arrays.gguf", mode);
    const skim_gguf_value *v = find(g, "n", SKIM_GGUF_ARRAY);
    skim_gguf_type et;
    uint64_t n = 0;
    CHECK_STATUS(skim_gguf_value_arr(v, &et, &n), SKIM_OK);
    CHECK(et == SKIM_GGUF_ARRAY && n == 2);
    const skim_gguf_value *e0 = skim_gguf_arr_elem(v, 0), *e1 = skim_gguf_arr_elem(v, 1);
    CHECK_STATUS(skim_gguf_value_arr(e0, &et, &n), SKIM_OK);
    const uint8_t *bytes = skim_gguf_arr_data(e0);
    CHECK(et == SKIM_GGUF_UINT8 && n == 2 && bytes && bytes[0] == 1 && bytes[1] == 2);
    CHECK(skim_gguf_arr_elem(e0, 0) == NULL); /* numeric elements are not values */
    CHECK(skim_gguf_arr_data(e1) == NULL);    /* nor are arrays' elements data */
    CHECK_STATUS(skim_gguf_value_arr(e1, &et, &n), SKIM_OK);
    CHECK(et == SKIM_GGUF_ARRAY && n == 1);
    const skim_gguf_value *inner = skim_gguf_arr_elem(e1, 0);
    CHECK_STATUS(skim_gguf_value_arr(inner, &et, &n), SKIM_OK);
    CHECK(et == SKIM_GGUF_STRING && n == 1);
    const char *s = NULL;
    CHECK_STATUS(skim_gguf_value_str(skim_gguf_arr_elem(inner, 0), &s, NULL), SKIM_OK);
    CHECK(strcmp(s, "z") == 0);
    skim_gguf_destroy(g);
}

/* ok_alignment_64: general.alignment = 64, tensors a and b of 4 F32 each (0, 1, 2, 3), b
 * at offset 64; the data section starts at the first multiple of 64 after the infos. */
static void alignment(int mode) {
    skim_gguf *g = open_mode("ok_alignment_64.gguf", mode);
    CHECK(skim_gguf_alignment(g) == 64 && skim_gguf_data_offset(g) % 64 == 0);
    CHECK(skim_gguf_n_tensors(g) == 2);
    for (int i = 0; i < 2; i++) {
        skim_gguf_tensor_info t;
        CHECK_STATUS(skim_gguf_tensor_info_get(g, skim_gguf_find_tensor(g, i ? "b" : "a"), &t),
                     SKIM_OK);
        CHECK(t.type == SKIM_TYPE_F32 && t.supported && t.n_dims == 1 && t.ne[0] == 4);
        CHECK(t.offset == (uint64_t)(64 * i) && t.nbytes == 16);
        CHECK(t.file_offset == skim_gguf_data_offset(g) + t.offset);
        if (mode != 2) CHECK((uintptr_t)t.data % 16 == 0);
        float f[4];
        memcpy(f, t.data, sizeof f);
        CHECK(f[0] == 0.0f && f[1] == 1.0f && f[2] == 2.0f && f[3] == 3.0f);
    }
    skim_gguf_destroy(g);
}

/* ok_every_ggml_type: one tensor of each ggml type, [2 blocks, 3 rows], its bytes all
 * index + 1, packed at the alignment; test.nbytes holds each size as the script computed
 * it from the block's fields. Sizes, offsets and data must match, whatever the type. */
static void every_ggml_type(int mode) {
    skim_gguf *g = open_mode("ok_every_ggml_type.gguf", mode);
    const skim_gguf_value *sizes = find(g, "test.nbytes", SKIM_GGUF_ARRAY);
    skim_gguf_type et;
    uint64_t n = 0;
    CHECK_STATUS(skim_gguf_value_arr(sizes, &et, &n), SKIM_OK);
    CHECK(et == SKIM_GGUF_UINT64 && n == (uint64_t)skim_gguf_n_tensors(g) && n >= 35);
    const uint64_t *want = skim_gguf_arr_data(sizes);
    uint64_t next = 0;
    for (int64_t i = 0; i < (int64_t)n; i++) {
        skim_gguf_tensor_info t;
        CHECK_STATUS(skim_gguf_tensor_info_get(g, i, &t), SKIM_OK);
        if (t.nbytes != want[i]) {
            fprintf(stderr, "tensor %s (ggml type %u): %zu bytes, the script says %llu\n",
                    t.name, (unsigned)t.ggml_type, t.nbytes, (unsigned long long)want[i]);
        }
        CHECK(t.nbytes == want[i] && t.n_dims == 2 && t.ne[1] == 3);
        CHECK(t.offset == next);
        next = (t.offset + t.nbytes + 31) / 32 * 32;
        const unsigned char *p = t.data;
        CHECK(p[0] == (unsigned char)(i + 1) && p[t.nbytes - 1] == (unsigned char)(i + 1));
        CHECK(t.supported == (t.type != SKIM_TYPE_COUNT));
    }
    skim_gguf_destroy(g);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_gguf_independent CORPUS_DIR\n");
        return 2;
    }
    g_dir = argv[1];
    for (int mode = 0; mode < 3; mode++) {
        all_types(mode);
        nested(mode);
        alignment(mode);
        every_ggml_type(mode);
    }
    free(g_buf);
    printf("gguf: the Python-written files read back as written (mapped, read, memory)\n");
    return 0;
}
