/* mix.c - the sequence mixers: causal_conv, linear_rec. Inputs are [C, T] with contiguous rows (one
 * row per token); outputs are contiguous. */
#include "cpu-int.h"

static const float *tok_row(const uint8_t *base, const skim_tensor *t, int64_t i) {
    return (const float *)(const void *)(base + (size_t)i * t->nb[1]);
}

/* Row r of xs (the K-1 state rows, then x's T rows); NULL for a row of a NULL state. */
static const float *xs_row(const skim_cpu_node *nd, int64_t r, int64_t km1) {
    const skim_tensor *t = nd->t;
    if (r >= km1) {
        return tok_row(nd->src[0], t->src[0], r - km1);
    }
    return nd->src[2] ? tok_row(nd->src[2], t->src[2], r) : NULL;
}

/* Output rows split among threads: row t < T sums its K taps in order j = 0..K-1; rows
 * from T on copy xs's last K-1 rows (the next state). */
void skim_cpu_op_causal_conv(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t;
    const float *w = (const float *)(const void *)nd->src[1];
    int64_t ch = nd->ne[0], k = nd->sne[1][0], n_tok = nd->sne[0][1], rb, re;
    skim_cpu_split(nd->ne[1], c->ith, c->nth, &rb, &re);
    for (int64_t r = rb; r < re; r++) {
        float *y = (float *)(void *)(nd->dst + (size_t)r * t->nb[1]);
        if (r >= n_tok) {
            const float *s = xs_row(nd, r, k - 1);
            for (int64_t i = 0; i < ch; i++) {
                y[i] = s ? s[i] : 0.0f;
            }
            continue;
        }
        for (int64_t i = 0; i < ch; i++) {
            y[i] = 0.0f;
        }
        for (int64_t j = 0; j < k; j++) {
            const float *s = xs_row(nd, r + j, k - 1);
            if (!s) {
                continue;
            }
            for (int64_t i = 0; i < ch; i++) {
                y[i] += w[i * k + j] * s[i];
            }
        }
    }
}

/* Channels split among threads; each walks the tokens in order. */
void skim_cpu_op_linear_rec(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t;
    const float *h0 = (const float *)(const void *)nd->src[3];
    int64_t n_tok = nd->ne[1], cb, ce;
    skim_cpu_split(nd->ne[0], c->ith, c->nth, &cb, &ce);
    for (int64_t i = cb; i < ce; i++) {
        float h = h0 ? h0[i] : 0.0f;
        for (int64_t r = 0; r < n_tok; r++) {
            float x = tok_row(nd->src[0], t->src[0], r)[i];
            float a = tok_row(nd->src[1], t->src[1], r)[i];
            float b = tok_row(nd->src[2], t->src[2], r)[i];
            h = a * h + b * x;
            ((float *)(void *)(nd->dst + (size_t)r * t->nb[1]))[i] = h;
        }
    }
}
