/* test_custom_ops.h - the custom ops the custom-op tests declare (test_golden_custom.c,
 * test_custom.c): GLSL, the C function and a double-precision reference for each.
 *   ew    elementwise, two inputs: y = a * tanh(x0) + b * x1
 *   rms   per row, a reduction: y[0, r] = scale * mean_i(x[i, r]^2)   (shape [1, rows...])
 *   tok   elementwise on a selection-bounded tensor: y[i, r] = s * x[i, r] + token(r)
 *         where token(r) is the original row of compact row r (r itself when unbounded)
 *   colsum a fixed grid: y[i] = sum_r x[i, r] over the rows of a 2-D input (shape [ne0]) */
#ifndef SKIM_TEST_CUSTOM_OPS_H
#define SKIM_TEST_CUSTOM_OPS_H

#include "skim-custom.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
#  define SKIM_TCO_UNUSED __attribute__((unused))
#else
#  define SKIM_TCO_UNUSED
#endif

typedef struct ew_params { float a, b; } ew_params;
typedef struct rms_params { uint32_t n; float scale; } rms_params;
typedef struct tok_params { float s; } tok_params;
typedef struct colsum_params { uint32_t rows; } colsum_params;

static const char ew_glsl[] SKIM_TCO_UNUSED =
    "#version 450\n"
    "#include \"skim_custom.glsl\"\n"
    "struct params { float a; float b; };\n"
    "SKIM_CUSTOM_PUSH(params)\n"
    "SKIM_CUSTOM_OUTPUT(float, Y)\n"
    "SKIM_CUSTOM_INPUT(0, float, X0)\n"
    "SKIM_CUSTOM_INPUT(1, float, X1)\n"
    "layout(local_size_x = 64) in;\n"
    "void main() {\n"
    "    uint e = skim_custom_element();\n"
    "    if (e >= skim_custom_n_elements()) return;\n"
    "    Y[SKIM_CUSTOM_OFF_DST + e] = pc.p.a * tanh(X0[SKIM_CUSTOM_OFF(0) + e]) +\n"
    "                                 pc.p.b * X1[SKIM_CUSTOM_OFF(1) + e];\n"
    "}\n";

static const char rms_glsl[] SKIM_TCO_UNUSED =
    "#version 450\n"
    "#include \"skim_custom.glsl\"\n"
    "struct params { uint n; float scale; };\n"
    "SKIM_CUSTOM_PUSH(params)\n"
    "SKIM_CUSTOM_OUTPUT(float, Y)\n"
    "SKIM_CUSTOM_INPUT(0, float, X)\n"
    "layout(local_size_x = 64) in;\n"
    "shared float part[64];\n"
    "void main() {\n"
    "    uint row = skim_custom_row();\n"
    "    if (row >= skim_custom_rows()) return; /* the same for the whole workgroup */\n"
    "    uint n = pc.p.n, t = gl_LocalInvocationID.x, base = SKIM_CUSTOM_OFF(0) + row * n;\n"
    "    float s = 0.0;\n"
    "    for (uint i = t; i < n; i += 64u) { float v = X[base + i]; s += v * v; }\n"
    "    part[t] = s;\n"
    "    barrier();\n"
    "    for (uint k = 32u; k > 0u; k >>= 1u) {\n"
    "        if (t < k) part[t] += part[t + k];\n"
    "        barrier();\n"
    "    }\n"
    "    if (t == 0u) Y[SKIM_CUSTOM_OFF_DST + row] = pc.p.scale * part[0] / float(n);\n"
    "}\n";

static const char tok_glsl[] SKIM_TCO_UNUSED =
    "#version 450\n"
    "#include \"skim_custom.glsl\"\n"
    "struct params { float s; };\n"
    "SKIM_CUSTOM_PUSH(params)\n"
    "SKIM_CUSTOM_OUTPUT(float, Y)\n"
    "SKIM_CUSTOM_INPUT(0, float, X)\n"
    "layout(local_size_x = 32, local_size_y = 2) in;\n"
    "void main() {\n"
    "    uint e = skim_custom_element();\n"
    "    if (e >= skim_custom_n_elements()) return;\n"
    "    uint r = e / pc.skim.ne[0];\n"
    "    int tok = pc.skim.bound != 0u ? skim_custom_token(r) : int(r);\n"
    "    Y[SKIM_CUSTOM_OFF_DST + e] = pc.p.s * X[SKIM_CUSTOM_OFF(0) + e] + float(tok);\n"
    "}\n";

/* One invocation per column, ceil(ne0 / 64) workgroups given as the op's grid. */
static const char colsum_glsl[] SKIM_TCO_UNUSED =
    "#version 450\n"
    "#include \"skim_custom.glsl\"\n"
    "struct params { uint rows; };\n"
    "SKIM_CUSTOM_PUSH(params)\n"
    "SKIM_CUSTOM_OUTPUT(float, Y)\n"
    "SKIM_CUSTOM_INPUT(0, float, X)\n"
    "layout(local_size_x = 64) in;\n"
    "void main() {\n"
    "    uint i = gl_GlobalInvocationID.x, n = pc.skim.ne[0];\n"
    "    if (i >= n) return;\n"
    "    float s = 0.0;\n"
    "    for (uint r = 0u; r < pc.p.rows; r++) s += X[SKIM_CUSTOM_OFF(0) + r * n + i];\n"
    "    Y[SKIM_CUSTOM_OFF_DST + i] = s;\n"
    "}\n";

/* Row r of a contiguous F32 tensor. */
static inline float *tco_row(const skim_custom_tensor *t, int64_t r) {
    return (float *)t->data + r * t->ne[0];
}

static void SKIM_TCO_UNUSED ew_cpu(const skim_custom_call *c) {
    const ew_params *p = c->params;
    for (int64_t r = c->row_begin; r < c->row_end; r++) {
        const float *x0 = tco_row(&c->src[0], r), *x1 = tco_row(&c->src[1], r);
        float *y = tco_row(&c->dst, r);
        for (int64_t i = 0; i < c->dst.ne[0]; i++) y[i] = p->a * tanhf(x0[i]) + p->b * x1[i];
    }
}

static void SKIM_TCO_UNUSED rms_cpu(const skim_custom_call *c) {
    const rms_params *p = c->params;
    for (int64_t r = c->row_begin; r < c->row_end; r++) {
        const float *x = tco_row(&c->src[0], r);
        float s = 0.0f;
        for (uint32_t i = 0; i < p->n; i++) s += x[i] * x[i];
        tco_row(&c->dst, r)[0] = p->scale * s / (float)p->n;
    }
}

static void SKIM_TCO_UNUSED tok_cpu(const skim_custom_call *c) {
    const tok_params *p = c->params;
    for (int64_t r = c->row_begin; r < c->row_end; r++) {
        const float *x = tco_row(&c->src[0], r);
        float *y = tco_row(&c->dst, r);
        float tok = (float)(c->sel ? c->sel[r] : r);
        for (int64_t i = 0; i < c->dst.ne[0]; i++) y[i] = p->s * x[i] + tok;
    }
}

static void SKIM_TCO_UNUSED colsum_cpu(const skim_custom_call *c) {
    const colsum_params *p = c->params;
    const float *x = c->src[0].data;
    float *y = c->dst.data;
    for (int64_t i = 0; i < c->dst.ne[0]; i++) {
        float s = 0.0f;
        for (uint32_t r = 0; r < p->rows; r++) s += x[r * c->dst.ne[0] + i];
        y[i] = s;
    }
}

/* The output of rms: [1, ne1, ne2, ne3] of the input. */
static bool SKIM_TCO_UNUSED rms_shape(void *user, int n_src, const skim_tensor *const *src,
                                      const void *params, int *n_dims, int64_t ne[4], char *msg,
                                      size_t msg_size) {
    const rms_params *p = params;
    (void)user;
    if (n_src != 1 || skim_tensor_ne(src[0], 0) != (int64_t)p->n) {
        if (msg_size) snprintf(msg, msg_size, "rms takes one input with ne[0] = params.n");
        return false;
    }
    *n_dims = skim_tensor_n_dims(src[0]) < 2 ? 2 : skim_tensor_n_dims(src[0]);
    ne[0] = 1;
    for (int k = 1; k < 4; k++) ne[k] = skim_tensor_ne(src[0], k);
    return true;
}

static inline skim_custom_desc tco_desc(const char *name, const char *glsl, skim_custom_cpu_fn fn,
                                        size_t params_size, skim_custom_dispatch mode) {
    skim_custom_desc d;
    memset(&d, 0, sizeof d);
    d.name = name;
    d.glsl = glsl;
    d.cpu = fn;
    d.params_size = params_size;
    d.dispatch = mode;
    return d;
}

#endif /* SKIM_TEST_CUSTOM_OPS_H */
