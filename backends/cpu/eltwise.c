/* eltwise.c - elementwise and copying ops: add, mul (b broadcasts as in ggml), scale,
 * silu, gelu, sigmoid, swiglu, cont, cpy, get_rows, argmax, set_rows. Work is split by
 * rows of the output's run extent. */
#include "cpu-int.h"

#include <math.h>
#include <string.h>

static int64_t nrows(const int64_t ne[4]) {
    return ne[1] * ne[2] * ne[3];
}

static const uint8_t *row_at(const uint8_t *base, const size_t nb[4], int64_t i1, int64_t i2,
                             int64_t i3) {
    return base + (size_t)i1 * nb[1] + (size_t)i2 * nb[2] + (size_t)i3 * nb[3];
}

/* Calls fn(ctx, dst row, a row, b row, ne0) over this thread's rows of the output. */
typedef void (*row_fn)(const skim_cpu_node *nd, float *y, const float *a, const float *b,
                       int64_t n);

static void for_rows(const skim_cpu_ctx *c, const skim_cpu_node *nd, row_fn fn) {
    const skim_tensor *t = nd->t, *a = t->src[0], *b = t->src[1];
    const int64_t *ne = nd->ne, *ae = nd->sne[0], *be = nd->sne[1];
    int64_t n = nrows(ne), rb, re;
    if (n == 0 || ne[0] == 0) {
        return;
    }
    skim_cpu_split(n, c->ith, c->nth, &rb, &re);
    for (int64_t r = rb; r < re; r++) {
        int64_t i1 = r % ne[1], i2 = (r / ne[1]) % ne[2], i3 = r / (ne[1] * ne[2]);
        float *y = (float *)(void *)row_at(nd->dst, t->nb, i1, i2, i3);
        const float *pa = (const float *)(const void *)row_at(nd->src[0], a->nb, i1 % ae[1],
                                                               i2 % ae[2], i3 % ae[3]);
        const float *pb = NULL;
        if (b) {
            if (be[1] == 0 || be[2] == 0 || be[3] == 0) {
                return;
            }
            pb = (const float *)(const void *)row_at(nd->src[1], b->nb, i1 % be[1], i2 % be[2],
                                                     i3 % be[3]);
        }
        fn(nd, y, pa, pb, ne[0]);
    }
}

static void row_add(const skim_cpu_node *nd, float *y, const float *a, const float *b,
                    int64_t n) {
    int64_t nb0 = nd->sne[1][0];
    if (nb0 == n) {
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] + b[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] + b[i % nb0];
        }
    }
}

static void row_mul(const skim_cpu_node *nd, float *y, const float *a, const float *b,
                    int64_t n) {
    int64_t nb0 = nd->sne[1][0];
    if (nb0 == n) {
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] * b[i];
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            y[i] = a[i] * b[i % nb0];
        }
    }
}

static void row_scale(const skim_cpu_node *nd, float *y, const float *a, const float *b,
                      int64_t n) {
    float s = nd->t->params.scale.s;
    for (int64_t i = 0; i < n; i++) {
        y[i] = a[i] * s;
    }
}

static float silu(float x) {
    return x / (1.0f + expf(-x));
}

static void row_silu(const skim_cpu_node *nd, float *y, const float *a, const float *b,
                     int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = silu(a[i]);
    }
}

static void row_gelu(const skim_cpu_node *nd, float *y, const float *a, const float *b,
                     int64_t n) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    for (int64_t i = 0; i < n; i++) {
        float x = a[i];
        /* 0.5 x (1 + tanh z) as x / (1 + e^-2z): the same value without the cancellation
         * of 1 + tanh z for x below about -2 (1e-3 relative error at -4 otherwise). */
        y[i] = x / (1.0f + expf(-2.0f * k * (x + 0.044715f * x * x * x)));
    }
}

static void row_sigmoid(const skim_cpu_node *nd, float *y, const float *a, const float *b,
                        int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = 1.0f / (1.0f + expf(-a[i]));
    }
}

static void row_swiglu(const skim_cpu_node *nd, float *y, const float *a, const float *b,
                       int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = silu(a[i]) * b[i];
    }
}

void skim_cpu_op_add(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_add);
}

void skim_cpu_op_mul(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_mul);
}

void skim_cpu_op_scale(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_scale);
}

void skim_cpu_op_silu(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_silu);
}

void skim_cpu_op_gelu(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_gelu);
}

void skim_cpu_op_sigmoid(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_sigmoid);
}

void skim_cpu_op_swiglu(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_swiglu);
}

/* ---------------------------------------------------------------- copies */

void skim_cpu_op_cont(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *a = t->src[0];
    const int64_t *ne = nd->ne;
    size_t bb = skim_type_block_bytes(t->type);
    int64_t nblk = ne[0] / skim_type_block_size(t->type), n = nrows(ne), rb, re;
    skim_cpu_split(n, c->ith, c->nth, &rb, &re);
    for (int64_t r = rb; r < re; r++) {
        int64_t i1 = r % ne[1], i2 = (r / ne[1]) % ne[2], i3 = r / (ne[1] * ne[2]);
        uint8_t *y = (uint8_t *)row_at(nd->dst, t->nb, i1, i2, i3);
        const uint8_t *x = row_at(nd->src[0], a->nb, i1, i2, i3);
        if (a->nb[0] == bb) {
            memcpy(y, x, (size_t)nblk * bb);
        } else {
            for (int64_t i = 0; i < nblk; i++) {
                memcpy(y + (size_t)i * bb, x + (size_t)i * a->nb[0], bb);
            }
        }
    }
}

static const uint8_t *elem_at(const uint8_t *base, const skim_tensor *t, int64_t e) {
    int64_t i0 = e % t->ne[0], r = e / t->ne[0];
    int64_t i1 = r % t->ne[1], i2 = (r / t->ne[1]) % t->ne[2], i3 = r / (t->ne[1] * t->ne[2]);
    return base + (size_t)i0 * t->nb[0] + (size_t)i1 * t->nb[1] + (size_t)i2 * t->nb[2] +
           (size_t)i3 * t->nb[3];
}

static float load_f(skim_type ty, const uint8_t *p) {
    if (ty == SKIM_TYPE_F16) {
        uint16_t h;
        memcpy(&h, p, 2);
        return skim_fp16_to_fp32(h);
    }
    float f;
    memcpy(&f, p, 4);
    return f;
}

static void store_f(skim_type ty, uint8_t *p, float v) {
    if (ty == SKIM_TYPE_F16) {
        uint16_t h = skim_fp32_to_fp16(v);
        memcpy(p, &h, 2);
    } else {
        memcpy(p, &v, 4);
    }
}

/* Element order is the flat order of each side; shapes may differ. */
void skim_cpu_op_cpy(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *s = t->src[0];
    int64_t n = skim_tensor_nelements(s), eb, ee;
    skim_cpu_split(n, c->ith, c->nth, &eb, &ee);
    for (int64_t e = eb; e < ee; e++) {
        float v = load_f(s->type, elem_at(nd->src[0], s, e));
        store_f(t->type, (uint8_t *)elem_at(nd->dst, t, e), v);
    }
}

/* A row of w (any type) as floats. */
static void row_to_f32(const skim_cpu_ctx *c, skim_type ty, const uint8_t *src, float *dst,
                       int64_t n) {
    if (ty == SKIM_TYPE_F16) {
        skim_cpu_f16_to_f32((const uint16_t *)(const void *)src, dst, n, c->avx2);
    } else {
        skim_row_to_f32(ty, src, dst, n);
    }
}

/* An index outside w's rows gives a row of zeros. */
void skim_cpu_op_get_rows(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *w = t->src[0];
    const int32_t *idx = (const int32_t *)(const void *)nd->src[1];
    int64_t n = nd->ne[1], rb, re, d = w->ne[0];
    skim_cpu_split(n, c->ith, c->nth, &rb, &re);
    for (int64_t r = rb; r < re; r++) {
        float *y = (float *)(void *)(nd->dst + (size_t)r * t->nb[1]);
        int32_t i = idx[r];
        if (i < 0 || i >= w->ne[1]) {
            memset(y, 0, (size_t)d * sizeof(float));
        } else {
            row_to_f32(c, w->type, nd->src[0] + (size_t)i * w->nb[1], y, d);
        }
    }
}

/* First index of the largest value; a NaN is larger than everything (the first NaN). */
void skim_cpu_op_argmax(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *a = t->src[0];
    const int64_t *ae = nd->sne[0];
    int64_t n = nrows(ae), rb, re;
    skim_cpu_split(n, c->ith, c->nth, &rb, &re);
    for (int64_t r = rb; r < re; r++) {
        int64_t i1 = r % ae[1], i2 = (r / ae[1]) % ae[2], i3 = r / (ae[1] * ae[2]);
        const float *x = (const float *)(const void *)row_at(nd->src[0], a->nb, i1, i2, i3);
        int32_t best = 0;
        for (int64_t i = 0; i < ae[0]; i++) {
            if (isnan(x[i])) {
                best = (int32_t)i;
                break;
            }
            if (x[i] > x[best]) {
                best = (int32_t)i;
            }
        }
        int32_t *y = (int32_t *)(void *)(nd->dst + (size_t)i1 * t->nb[0] +
                                         (size_t)i2 * t->nb[1] + (size_t)i3 * t->nb[2]);
        *y = best;
    }
}

/* Rows in order; each thread writes the destination slots of its own range, so that
 * duplicate indices end with the last row's data whatever the thread count. In
 * MASKED_DENSE a bounded src keeps every token's row: only the selected ones are written. */
void skim_cpu_op_set_rows(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *src = t->src[1];
    const int32_t *idx = (const int32_t *)(const void *)nd->src[2];
    int64_t d = src->ne[0], n_slots = t->ne[1], sb, se;
    int64_t n = src->bound ? skim_cpu_count(skim_cpu_words(c, src->bound), 0, src->ne[1])
                           : src->ne[1];
    skim_cpu_split(n_slots, c->ith, c->nth, &sb, &se);
    for (int64_t r = 0; r < n; r++) {
        int64_t row = skim_cpu_row_of(c, src->bound, r);
        int32_t i = idx[row];
        if (i < 0 || i >= n_slots) {
            if (c->ith == 0 && c->err->node < 0) {
                c->err->node = nd->index;
                c->err->row = r;
                c->err->value = i;
                c->err->n_slots = n_slots;
            }
            continue;
        }
        if (i < sb || i >= se) {
            continue;
        }
        const float *x = (const float *)(const void *)(nd->src[1] + (size_t)row * src->nb[1]);
        uint8_t *y = nd->dst + (size_t)i * t->nb[1];
        if (t->type == SKIM_TYPE_F32 && t->nb[0] == 4) {
            memcpy(y, x, (size_t)d * sizeof(float));
        } else {
            for (int64_t e = 0; e < d; e++) {
                store_f(t->type, y + (size_t)e * t->nb[0], x[e]);
            }
        }
    }
}
