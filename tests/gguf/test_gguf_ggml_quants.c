/* test_gguf_ggml_quants.c - skim against blocks quantised by ggml itself
 * (tests/gguf/ggml/README.md says how the file was made): the file, written by ggml's
 * GGUF writer, opens; skim's dequantisation of ggml's Q4_K, Q6_K and BF16 blocks equals
 * ggml's own, bit for bit; and skim's quantiser on the same rows is within a factor of
 * ggml's error (ggml searches for its scales, skim takes them from each range).
 *
 *   test_gguf_ggml_quants FILE */
#include "gguf_test.h"

#include "skim.h"

static const float *tensor(const skim_gguf *g, const char *name, skim_type type, int64_t *n) {
    skim_gguf_tensor_info t;
    CHECK_STATUS(skim_gguf_tensor_info_get(g, skim_gguf_find_tensor(g, name), &t), SKIM_OK);
    if (t.type != type) fprintf(stderr, "%s: type %s\n", name, skim_type_name(t.type));
    CHECK(t.type == type && t.supported && t.ne[0] == 256 && t.ne[1] == 4);
    *n = t.ne[0] * t.ne[1];
    return t.data;
}

static double nmse(const float *a, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        den += (double)ref[i] * ref[i];
    }
    return num / den;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_gguf_ggml_quants FILE\n");
        return 2;
    }
    skim_gguf *g = NULL;
    skim_gguf_error err;
    skim_status s = skim_gguf_open_file(argv[1], NULL, &g, &err);
    if (s != SKIM_OK) fprintf(stderr, "%s: %s\n", argv[1], err.msg);
    CHECK(s == SKIM_OK);
    int64_t n;
    const float *src = tensor(g, "src", SKIM_TYPE_F32, &n);
    static const skim_type types[3] = {SKIM_TYPE_Q4_K, SKIM_TYPE_Q6_K, SKIM_TYPE_BF16};
    static const char *const names[3] = {"q4_k", "q6_k", "bf16"};
    static float ours[1024], back[1024];
    static unsigned char q[1024 * 2];
    for (int i = 0; i < 3; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "%s.dequant", names[i]);
        int64_t nq, nd;
        const void *blocks = tensor(g, names[i], types[i], &nq);
        const float *theirs = tensor(g, nm, SKIM_TYPE_F32, &nd);
        CHECK(nq == n && nd == n && n <= 1024);
        CHECK(skim_dequantize(types[i], blocks, ours, n));
        for (int64_t k = 0; k < n; k++) {
            if (ours[k] != theirs[k]) {
                fprintf(stderr, "%s element %lld: skim %.9g, ggml %.9g\n", names[i], (long long)k,
                        ours[k], theirs[k]);
                return 1;
            }
        }
        CHECK(skim_quantize(types[i], src, q, 4, 256) == skim_row_size(types[i], 256) * 4);
        CHECK(skim_dequantize(types[i], q, back, n));
        double e_ggml = nmse(theirs, src, n), e_skim = nmse(back, src, n);
        printf("%s: ggml's blocks read bit for bit; quantisation error (nmse) ggml %.3g, skim %.3g\n",
               names[i], e_ggml, e_skim);
        CHECK(e_skim <= 4.0 * e_ggml + 1e-12);
    }
    skim_gguf_destroy(g);
    return 0;
}
