/* norm.c - row reductions and rotations: rms_norm, layer_norm, soft_max, rope. Sums run
 * in order over the row, in double, so results do not depend on the thread count. */
#include "cpu-int.h"

#include <math.h>
#include <string.h>

static const uint8_t *row_at(const uint8_t *base, const size_t nb[4], int64_t i1, int64_t i2,
                             int64_t i3) {
    return base + (size_t)i1 * nb[1] + (size_t)i2 * nb[2] + (size_t)i3 * nb[3];
}

typedef void (*norm_fn)(const skim_cpu_node *nd, float *y, const float *x, int64_t n,
                        int64_t i1, int64_t i2, int64_t i3);

static void for_rows(const skim_cpu_ctx *c, const skim_cpu_node *nd, norm_fn fn) {
    const skim_tensor *t = nd->t, *a = t->src[0];
    const int64_t *ne = nd->ne;
    int64_t n = ne[1] * ne[2] * ne[3], rb, re;
    if (ne[0] == 0) {
        return;
    }
    skim_cpu_split(n, c->ith, c->nth, &rb, &re);
    for (int64_t r = rb; r < re; r++) {
        int64_t i1 = r % ne[1], i2 = (r / ne[1]) % ne[2], i3 = r / (ne[1] * ne[2]);
        float *y = (float *)(void *)row_at(nd->dst, t->nb, i1, i2, i3);
        const float *x = (const float *)(const void *)row_at(nd->src[0], a->nb, i1, i2, i3);
        fn(nd, y, x, ne[0], i1, i2, i3);
    }
}

static void row_rms(const skim_cpu_node *nd, float *y, const float *x, int64_t n, int64_t i1,
                    int64_t i2, int64_t i3) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)x[i] * (double)x[i];
    }
    float k = (float)(1.0 / sqrt(s / (double)n + (double)nd->t->params.norm.eps));
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i] * k;
    }
}

static void row_layer(const skim_cpu_node *nd, float *y, const float *x, int64_t n, int64_t i1,
                      int64_t i2, int64_t i3) {
    double s = 0.0, v = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
    }
    double mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - mean;
        v += d * d;
    }
    double k = 1.0 / sqrt(v / (double)n + (double)nd->t->params.norm.eps);
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)(((double)x[i] - mean) * k);
    }
}

/* softmax(x * scale + mask); a row whose values are all -inf gives zeros. */
static void row_soft_max(const skim_cpu_node *nd, float *y, const float *x, int64_t n,
                         int64_t i1, int64_t i2, int64_t i3) {
    const skim_tensor *m = nd->t->src[1];
    const float *mk = NULL;
    float sc = nd->t->params.soft_max.scale;
    if (m) {
        const int64_t *me = nd->sne[1];
        mk = (const float *)(const void *)row_at(nd->src[1], m->nb, i1 % me[1], i2 % me[2],
                                                 i3 % me[3]);
    }
    float mx = -INFINITY;
    bool nan = false;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * sc + (mk ? mk[i] : 0.0f);
        y[i] = v;
        nan = nan || isnan(v);
        mx = v > mx ? v : mx;
    }
    if (mx == -INFINITY && !nan) {
        memset(y, 0, (size_t)n * sizeof(float));
        return;
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        float e = y[i] == -INFINITY ? 0.0f : expf(y[i] - mx);
        y[i] = e;
        s += e;
    }
    float inv = (float)(1.0 / s);
    for (int64_t i = 0; i < n; i++) {
        y[i] *= inv;
    }
}

void skim_cpu_op_rms_norm(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_rms);
}

void skim_cpu_op_layer_norm(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_layer);
}

void skim_cpu_op_soft_max(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    if (nd->t->src[1] && (nd->sne[1][1] == 0 || nd->sne[1][2] == 0 || nd->sne[1][3] == 0)) {
        return;
    }
    for_rows(c, nd, row_soft_max);
}

/* ---------------------------------------------------------------- rope */

/* x [head_dim, n_head, n_tok]: per token, cos/sin of pos * base^(-2i/n_dims) in double
 * (positions of thousands of radians need it), then every head rotated. */
void skim_cpu_op_rope(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *x = t->src[0];
    const skim_rope_params *rp = &t->params.rope;
    const int32_t *pos = (const int32_t *)(const void *)nd->src[1];
    int64_t hd = nd->ne[0], nh = nd->ne[1], nt = nd->ne[2], half = rp->n_dims / 2, tb, te;
    float *cs = c->scratch, *sn = c->scratch + half;
    skim_cpu_split(nt, c->ith, c->nth, &tb, &te);
    for (int64_t it = tb; it < te; it++) {
        for (int64_t i = 0; i < half; i++) {
            double th = (double)pos[it] *
                        pow((double)rp->freq_base, -2.0 * (double)i / (double)rp->n_dims);
            cs[i] = (float)cos(th);
            sn[i] = (float)sin(th);
        }
        for (int64_t h = 0; h < nh; h++) {
            const float *a = (const float *)(const void *)row_at(nd->src[0], x->nb, h, it, 0);
            float *y = (float *)(void *)row_at(nd->dst, t->nb, h, it, 0);
            for (int64_t i = 0; i < half; i++) {
                int64_t i0 = rp->mode == SKIM_ROPE_NEOX ? i : 2 * i;
                int64_t i1 = rp->mode == SKIM_ROPE_NEOX ? i + half : 2 * i + 1;
                float x0 = a[i0], x1 = a[i1];
                y[i0] = x0 * cs[i] - x1 * sn[i];
                y[i1] = x0 * sn[i] + x1 * cs[i];
            }
            for (int64_t i = 2 * half; i < hd; i++) {
                y[i] = a[i];
            }
        }
    }
}
