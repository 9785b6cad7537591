/* Writes ggml_k_quants.gguf: float rows, and the same rows quantised by ggml
 * (ggml_quantize_chunk) to Q4_K, Q6_K and BF16, each with ggml's own dequantisation. */
#include "ggml.h"
#include "gguf.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

enum { K = 256, ROWS = 4 };

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "ggml_k_quants.gguf";
    struct ggml_init_params ip = {16 << 20, NULL, false};
    struct ggml_context *ctx = ggml_init(ip);
    struct gguf_context *gg = gguf_init_empty();
    gguf_set_val_str(gg, "general.description",
                     "rows quantised by ggml (ggml_quantize_chunk) and dequantised by ggml (to_float)");
    struct ggml_tensor *src = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, ROWS);
    ggml_set_name(src, "src");
    float *x = src->data;
    for (int r = 0; r < ROWS; r++) {
        for (int k = 0; k < K; k++) { /* sub-blocks of different ranges and offsets, a row of outliers */
            float v = sinf(0.37f * (float)(k + 31 * r)) * (1.0f + (float)((k / 32 + r) % 5));
            if (r == 1) v += 0.5f * (float)(k / 16);
            if (r == 3 && k % 97 == 5) v *= 20.0f;
            x[r * K + k] = v;
        }
    }
    gguf_add_tensor(gg, src);
    const enum ggml_type types[3] = {GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_BF16};
    const char *names[3] = {"q4_k", "q6_k", "bf16"};
    for (int i = 0; i < 3; i++) {
        struct ggml_tensor *q = ggml_new_tensor_2d(ctx, types[i], K, ROWS);
        ggml_set_name(q, names[i]);
        ggml_quantize_chunk(types[i], x, q->data, 0, ROWS, K, NULL);
        gguf_add_tensor(gg, q);
        char nm[32];
        snprintf(nm, sizeof nm, "%s.dequant", names[i]);
        struct ggml_tensor *d = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, K, ROWS);
        ggml_set_name(d, nm);
        ggml_get_type_traits(types[i])->to_float(q->data, d->data, K * ROWS);
        gguf_add_tensor(gg, d);
    }
    if (!gguf_write_to_file(gg, out, false)) return 1;
    printf("wrote %s\n", out);
    gguf_free(gg);
    ggml_free(ctx);
    return 0;
}
