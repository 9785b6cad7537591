/* host_graph.c - the representative graph of the host tests (see host_graph.h). */
#include "host_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HG_CLASSES 16

/* Weight shapes [ne0, ne1] and types: some F16 and Q8_0 so that every weight path runs. */
static const struct {
    int64_t ne0, ne1;
    skim_type type;
} hg_w[HG_NW] = {
    {HG_EMBD, HG_HEADS * HG_HDIM, SKIM_TYPE_F32}, /* wq */
    {HG_EMBD, HG_HEADS * HG_HDIM, SKIM_TYPE_F16}, /* wk */
    {HG_EMBD, HG_HEADS * HG_HDIM, SKIM_TYPE_F32}, /* wv */
    {HG_HEADS * HG_HDIM, HG_EMBD, SKIM_TYPE_F32}, /* wo */
    {HG_EMBD, HG_FF, SKIM_TYPE_Q8_0},             /* wu */
    {HG_FF, HG_EMBD, SKIM_TYPE_F16},              /* wd */
    {HG_EMBD, HG_CLASSES, SKIM_TYPE_F32},         /* classifier */
};

bool hg_init(host_graph *h, uint64_t seed) {
    memset(h, 0, sizeof *h);
    trng r;
    trng_seed(&r, seed);
    for (int i = 0; i < HG_NW; i++) {
        int64_t n = hg_w[i].ne0 * hg_w[i].ne1;
        float *f = malloc((size_t)n * sizeof *f);
        h->w[i] = malloc(skim_row_size(hg_w[i].type, hg_w[i].ne0) * (size_t)hg_w[i].ne1);
        if (!f || !h->w[i]) {
            free(f);
            hg_free(h);
            return false;
        }
        float amp = 1.0f / sqrtf((float)hg_w[i].ne0);
        fill_uniform(&r, f, (size_t)n, -amp, amp);
        skim_quantize(hg_w[i].type, f, h->w[i], hg_w[i].ne1, hg_w[i].ne0);
        free(f);
    }
    fill_uniform(&r, h->x_data, HG_EMBD * HG_TOK, -1, 1);
    for (int t = 0; t < HG_TOK; t++) h->pos_data[t] = t;
    h->n_kv_value = HG_TOK;
    hg_new_gates(h, seed ^ 0x9e3779b97f4a7c15ull);
    return true;
}

void hg_new_gates(host_graph *h, uint64_t seed) {
    trng r;
    trng_seed(&r, seed);
    fill_uniform(&r, h->halt_data, HG_TOK, 0, 1);
    fill_uniform(&r, h->gate_data, HG_HEADS * HG_TOK, -1, 1);
}

static skim_tensor *weight(skim_context *ctx, const host_graph *h, int i) {
    return skim_new_weight_2d(ctx, hg_w[i].type, hg_w[i].ne0, hg_w[i].ne1, h->w[i]);
}

/* Attention of the running tokens over the cache written with every token's K and V. */
static skim_tensor *attention(skim_context *ctx, host_graph *h, skim_tensor *x, skim_tensor *sel,
                              skim_tensor *heads) {
    const int64_t hd = HG_HDIM, nh = HG_HEADS, T = HG_TOK, kv = HG_HEADS * HG_HDIM;
    skim_tensor *hs = skim_rms_norm(ctx, skim_get_rows_sel(ctx, x, sel), 1e-5f);
    skim_tensor *ps = skim_get_rows_sel(ctx, h->pos, sel);
    skim_tensor *hf = skim_rms_norm(ctx, x, 1e-5f);
    skim_tensor *q = skim_mul_mat_sel(ctx, weight(ctx, h, 0), hs, heads, (int)hd);
    q = skim_rope(ctx, skim_reshape_3d(ctx, q, hd, nh, T), ps, SKIM_ROPE_NORM, (int)hd, 10000.0f);
    skim_tensor *k = skim_rope(ctx, skim_reshape_3d(ctx, skim_mul_mat(ctx, weight(ctx, h, 1), hf), hd, nh, T),
                               h->pos, SKIM_ROPE_NORM, (int)hd, 10000.0f);
    skim_tensor *v = skim_mul_mat(ctx, weight(ctx, h, 2), hf);
    int64_t cne[2] = {kv, HG_CTX};
    skim_tensor *kc = skim_new_state(ctx, SKIM_TYPE_F16, 2, cne, 0.0f);
    skim_tensor *vc = skim_new_state(ctx, SKIM_TYPE_F16, 2, cne, 0.0f);
    kc = skim_set_rows(ctx, kc, skim_reshape_2d(ctx, k, kv, T), h->pos);
    vc = skim_set_rows(ctx, vc, v, h->pos);
    skim_attn_desc ad = {0};
    ad.q = q;
    ad.k = skim_reshape_3d(ctx, kc, hd, nh, HG_CTX);
    ad.v = skim_reshape_3d(ctx, vc, hd, nh, HG_CTX);
    ad.q_pos = ps;
    ad.n_kv = h->n_kv;
    ad.heads = heads;
    skim_tensor *att = skim_reshape_2d(ctx, skim_attn(ctx, &ad), kv, T);
    return skim_mul_mat_sel_k(ctx, weight(ctx, h, 3), att, heads, (int)hd);
}

skim_status hg_build(host_graph *h, skim_context *ctx) {
    h->x = skim_tensor_set_name(skim_new_input_2d(ctx, SKIM_TYPE_F32, HG_EMBD, HG_TOK), "x");
    h->pos = skim_tensor_set_name(skim_new_input_1d(ctx, SKIM_TYPE_I32, HG_TOK), "pos");
    h->halt = skim_tensor_set_name(skim_new_input_1d(ctx, SKIM_TYPE_F32, HG_TOK), "halt");
    h->gate = skim_new_input_2d(ctx, SKIM_TYPE_F32, HG_HEADS, HG_TOK);
    h->n_kv = skim_new_param(ctx, 1, HG_CTX, HG_CTX);
    h->sel_tok = skim_token_halt(ctx, h->halt, 0.7f, NULL);
    skim_tensor *heads = skim_head_gate(ctx, skim_get_rows_sel(ctx, h->gate, h->sel_tok), 0.0f);
    skim_tensor *x = skim_scatter_add_sel(ctx, h->x, attention(ctx, h, h->x, h->sel_tok, heads), h->sel_tok);
    skim_tensor *h2 = skim_rms_norm(ctx, skim_get_rows_sel(ctx, x, h->sel_tok), 1e-5f);
    skim_tensor *mlp = skim_mul_mat(ctx, weight(ctx, h, 5), skim_gelu(ctx, skim_mul_mat(ctx, weight(ctx, h, 4), h2)));
    h->out = skim_scatter_add_sel(ctx, x, mlp, h->sel_tok);
    h->probs = skim_soft_max(ctx, skim_mul_mat(ctx, weight(ctx, h, 6), h->out), NULL, 1.0f);
    h->best = skim_argmax(ctx, h->probs);
    skim_tensor *outs[3] = {h->out, h->probs, h->best};
    return skim_graph_build(ctx, outs, 3, &h->graph);
}

skim_status hg_set_inputs(const host_graph *h, skim_plan *p) {
    skim_status s = skim_plan_set_input(p, h->x, h->x_data, sizeof h->x_data);
    if (s == SKIM_OK) s = skim_plan_set_input(p, h->pos, h->pos_data, sizeof h->pos_data);
    if (s == SKIM_OK) s = skim_plan_set_input(p, h->halt, h->halt_data, sizeof h->halt_data);
    if (s == SKIM_OK) s = skim_plan_set_input(p, h->gate, h->gate_data, sizeof h->gate_data);
    if (s == SKIM_OK) s = skim_plan_set_param(p, h->n_kv, h->n_kv_value);
    return s;
}

size_t hg_output_size(void) {
    return (size_t)HG_EMBD * HG_TOK * 4 + (size_t)HG_CLASSES * HG_TOK * 4 + (size_t)HG_TOK * 4;
}

skim_status hg_read(const host_graph *h, skim_plan *p, void *dst) {
    unsigned char *d = dst;
    size_t a = (size_t)HG_EMBD * HG_TOK * 4, b = (size_t)HG_CLASSES * HG_TOK * 4;
    skim_status s = skim_plan_get_output(p, h->out, d, a);
    if (s == SKIM_OK) s = skim_plan_get_output(p, h->probs, d + a, b);
    if (s == SKIM_OK) s = skim_plan_get_output(p, h->best, d + a + b, (size_t)HG_TOK * 4);
    return s;
}

void hg_free(host_graph *h) {
    for (int i = 0; i < HG_NW; i++) {
        free(h->w[i]);
        h->w[i] = NULL;
    }
}
