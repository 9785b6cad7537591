#include "gated_stack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void gs_random_config(trng *r, gs_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->n_layer = trng_int(r, 2, 4);
    cfg->n_tok = trng_int(r, 0, 3) == 0 ? trng_int(r, 1, 3) : trng_int(r, 1, 64);
    cfg->n_head = trng_int(r, 1, 8);
    do {
        cfg->n_kv_head = trng_int(r, 1, cfg->n_head);
    } while (cfg->n_head % cfg->n_kv_head != 0);
    static const int hds[] = {2, 4, 8, 16};
    cfg->head_dim = hds[trng_int(r, 0, 3)];
    cfg->n_embd = 32 * trng_int(r, 1, 2);
    cfg->n_ff = 2 * cfg->n_embd;
    for (int l = 0; l < GS_MAX_LAYERS; l++) cfg->per_token[l] = trng_int(r, 0, 1) != 0;
    cfg->f16_weights = trng_int(r, 0, 3) == 0;
}

static skim_tensor *weight(gs_model *m, trng *r, int64_t ne0, int64_t ne1, float amp) {
    skim_type ty = m->cfg.f16_weights ? SKIM_TYPE_F16 : SKIM_TYPE_F32;
    int64_t n = ne0 * ne1;
    float *f = malloc((size_t)n * sizeof(float));
    void *q = malloc(skim_row_size(ty, ne0) * (size_t)ne1);
    if (!f || !q || m->n_weights == GS_MAX_LAYERS * 8) {
        free(f);
        free(q);
        return NULL;
    }
    fill_uniform(r, f, (size_t)n, -amp, amp);
    skim_quantize(ty, f, q, ne1, ne0);
    free(f);
    m->weights[m->n_weights++] = q;
    return skim_new_weight_2d(m->ctx, ty, ne0, ne1, q);
}

static float pick_tau(trng *r, float lo, float hi, float empty, float full) {
    int k = trng_int(r, 0, 9);
    if (k == 0) return empty;
    if (k == 1) return full;
    return trng_uniform(r, lo, hi);
}

void gs_randomize_gates(gs_model *m, trng *r) {
    const gs_config *c = &m->cfg;
    for (int l = 0; l < c->n_layer; l++) {
        gs_layer *L = &m->layers[l];
        fill_uniform(r, L->halt, (size_t)c->n_tok, 0, 1);
        int64_t ng = (int64_t)c->n_head * (c->per_token[l] ? c->n_tok : 1);
        fill_uniform(r, L->gate, (size_t)ng, -1, 1);
        if (trng_int(r, 0, 2) == 0) L->halt[trng_int(r, 0, c->n_tok - 1)] = NAN;
        if (trng_int(r, 0, 2) == 0) L->gate[trng_int(r, 0, (int)ng - 1)] = NAN;
    }
}

/* One gated block on the residual stream x. */
static skim_tensor *layer(gs_model *m, trng *r, int l, skim_tensor *x, skim_tensor *prev) {
    const gs_config *c = &m->cfg;
    skim_context *ctx = m->ctx;
    gs_layer *L = &m->layers[l];
    int64_t d = c->n_embd, hd = c->head_dim, nh = c->n_head, nkv = c->n_kv_head, T = c->n_tok;
    L->halt = calloc((size_t)T, sizeof(float));
    L->gate = calloc((size_t)(nh * T), sizeof(float));
    L->halt_in = skim_new_input_1d(ctx, SKIM_TYPE_F32, T);
    L->gate_in = c->per_token[l] ? skim_new_input_2d(ctx, SKIM_TYPE_F32, nh, T)
                                 : skim_new_input_1d(ctx, SKIM_TYPE_F32, nh);
    /* Thresholds are build-time constants: drawn now, scores later. Halting: p < tau
     * keeps a token (-1 halts all but NaN, 2 keeps all); heads: score >= tau. */
    L->tau_halt = pick_tau(r, 0.6f, 1.0f, -1.0f, 2.0f);
    L->tau_head = pick_tau(r, -0.8f, 0.6f, 2.0f, -2.0f);
    L->tok_sel = skim_token_halt(ctx, L->halt_in, L->tau_halt, prev);
    skim_tensor *sel = L->tok_sel;
    skim_tensor *xs = skim_get_rows_sel(ctx, x, sel);
    skim_tensor *ps = skim_get_rows_sel(ctx, m->pos, sel);
    skim_tensor *h = skim_rms_norm(ctx, xs, 1e-5f);
    skim_tensor *sc = c->per_token[l] ? skim_get_rows_sel(ctx, L->gate_in, sel) : L->gate_in;
    L->head_sel = skim_head_gate(ctx, sc, L->tau_head);
    float a = 1.0f / sqrtf((float)d);
    skim_tensor *wq = weight(m, r, d, nh * hd, a), *wk = weight(m, r, d, nkv * hd, a);
    skim_tensor *wv = weight(m, r, d, nkv * hd, a), *wo = weight(m, r, nh * hd, d, a);
    skim_tensor *q = skim_mul_mat_sel(ctx, wq, h, L->head_sel, (int)hd);
    skim_tensor *k = skim_mul_mat(ctx, wk, h);
    skim_tensor *v = skim_mul_mat(ctx, wv, h);
    q = skim_rope(ctx, skim_reshape_3d(ctx, q, hd, nh, T), ps, SKIM_ROPE_NORM, (int)hd, 10000.0f);
    k = skim_rope(ctx, skim_reshape_3d(ctx, k, hd, nkv, T), ps, SKIM_ROPE_NEOX, (int)hd, 10000.0f);
    v = skim_reshape_3d(ctx, v, hd, nkv, T);
    skim_attn_desc ad = {0};
    ad.q = q;
    ad.k = k;
    ad.v = v;
    ad.q_pos = ps;
    ad.k_pos = ps;
    ad.heads = L->head_sel;
    skim_tensor *att = skim_reshape_2d(ctx, skim_attn(ctx, &ad), hd * nh, T);
    skim_tensor *o = skim_mul_mat_sel_k(ctx, wo, att, L->head_sel, (int)hd);
    x = skim_scatter_add_sel(ctx, x, o, sel);
    /* MLP on the running rows */
    skim_tensor *h2 = skim_rms_norm(ctx, skim_get_rows_sel(ctx, x, sel), 1e-5f);
    skim_tensor *wg = weight(m, r, d, c->n_ff, a), *wu = weight(m, r, d, c->n_ff, a);
    skim_tensor *wd = weight(m, r, c->n_ff, d, 1.0f / sqrtf((float)c->n_ff));
    skim_tensor *mlp = skim_mul_mat(ctx, wd, skim_swiglu(ctx, skim_mul_mat(ctx, wg, h2),
                                                         skim_mul_mat(ctx, wu, h2)));
    x = skim_scatter_add_sel(ctx, x, mlp, sel);
    L->x_out = x;
    return x;
}

skim_status gs_build(gs_model *m, const gs_config *cfg, trng *r) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    skim_status s = skim_context_create(NULL, &m->ctx);
    if (s != SKIM_OK) return s;
    int64_t d = cfg->n_embd, T = cfg->n_tok;
    m->x_in = skim_new_input_2d(m->ctx, SKIM_TYPE_F32, d, T);
    m->pos = skim_new_input_1d(m->ctx, SKIM_TYPE_I32, T);
    m->x_data = malloc((size_t)(d * T) * sizeof(float));
    m->pos_data = malloc((size_t)T * sizeof(int32_t));
    if (!m->x_data || !m->pos_data) return SKIM_ERR_OUT_OF_MEMORY;
    fill_uniform(r, m->x_data, (size_t)(d * T), -1, 1);
    for (int64_t t = 0; t < T; t++) m->pos_data[t] = (int32_t)t;
    skim_tensor *x = m->x_in, *prev = NULL;
    skim_tensor *outs[GS_MAX_LAYERS];
    for (int l = 0; l < cfg->n_layer; l++) {
        x = layer(m, r, l, x, prev);
        prev = m->layers[l].tok_sel;
        outs[l] = x;
    }
    if (!m->layers[cfg->n_layer - 1].halt) return SKIM_ERR_OUT_OF_MEMORY;
    gs_randomize_gates(m, r);
    return skim_graph_build(m->ctx, outs, cfg->n_layer, &m->graph);
}

skim_status gs_set_inputs(const gs_model *m, skim_plan *p) {
    const gs_config *c = &m->cfg;
    skim_status s = skim_plan_set_input(p, m->x_in, m->x_data, skim_tensor_nbytes(m->x_in));
    if (s == SKIM_OK) s = skim_plan_set_input(p, m->pos, m->pos_data, skim_tensor_nbytes(m->pos));
    for (int l = 0; s == SKIM_OK && l < c->n_layer; l++) {
        const gs_layer *L = &m->layers[l];
        s = skim_plan_set_input(p, L->halt_in, L->halt, skim_tensor_nbytes(L->halt_in));
        if (s == SKIM_OK)
            s = skim_plan_set_input(p, L->gate_in, L->gate, skim_tensor_nbytes(L->gate_in));
    }
    return s;
}

void gs_free(gs_model *m) {
    if (m->graph) skim_graph_destroy(m->graph);
    skim_context_destroy(m->ctx);
    for (int i = 0; i < m->n_weights; i++) free(m->weights[i]);
    for (int l = 0; l < GS_MAX_LAYERS; l++) {
        free(m->layers[l].halt);
        free(m->layers[l].gate);
    }
    free(m->x_data);
    free(m->pos_data);
    memset(m, 0, sizeof *m);
}
