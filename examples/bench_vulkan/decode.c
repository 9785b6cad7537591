/* decode.c - bench_vulkan's decode benchmark: one token per run through a gated stack of
 * realistic width (by default d_model 2048, 16 heads of 128, 8 blocks, SwiGLU ffn 5632,
 * a KV cache of 512 positions in F16, the token at the last position so that attention
 * reads all 512 keys), with F16 and Q8_0 weights, on every backend given.
 *
 * Each block is the gated model's decode block: a token-halt before the block (the token
 * stops after round(a * blocks) blocks), rms_norm, a head gate (round(a * heads) heads
 * pass), Q through mul_mat_sel, K and V through mul_mat into the caches (set_rows), rope,
 * attention over the selected heads, the output projection through mul_mat_sel_k, the
 * residual adds through scatter_add_sel and the SwiGLU MLP on the running token.
 *
 * Printed per backend and weight type: the median time per token at a = 1, 0.75, 0.5,
 * 0.25 and of the same blocks without gates, time(a) / time(1), and the dispatches and
 * pipeline barriers the run recorded (skim_run_stats; zero on the CPU backend). The
 * fractions run in interleaved rounds so that a shared machine slows them alike.
 *
 * The blocks share their weight data on the host (one buffer per role) to keep the
 * benchmark's own memory small; each block is still its own weight tensor, so every
 * backend holds and reads 8 separate copies, as with a real model. */
#define _POSIX_C_SOURCE 200809L
#include "bench_vulkan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct dims {
    int d, heads, hd, blocks, ffn, n_ctx;
} dims;

enum { ROLE_Q, ROLE_K, ROLE_V, ROLE_O, ROLE_GATE, ROLE_UP, ROLE_DOWN, N_ROLES, MAX_BLOCKS = 32 };

typedef struct dstack {
    dims dm;
    skim_type wt;
    bool gated;
    skim_context *ctx;
    skim_graph *g;
    skim_tensor *x, *pos, *n_kv, *out;
    skim_tensor *halt[MAX_BLOCKS], *gate[MAX_BLOCKS];
    void *wdata[N_ROLES]; /* shared by the blocks */
    float *norm_w;
} dstack;

static uint32_t drng = 7u;
static float drand(void) {
    drng = drng * 1664525u + 1013904223u;
    return (float)((drng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* n0 x n1 random weights (scale 1/sqrt(n0)) converted to type t. */
static void *make_weight(skim_type t, int64_t n0, int64_t n1) {
    size_t bytes = skim_row_size(t, n0) * (size_t)n1;
    float *row = malloc((size_t)n0 * sizeof *row);
    unsigned char *out = malloc(bytes);
    if (!row || !out) {
        free(row);
        free(out);
        return NULL;
    }
    float s = 1.0f / sqrtf((float)n0);
    for (int64_t r = 0; r < n1; r++) {
        for (int64_t i = 0; i < n0; i++) row[i] = drand() * s;
        skim_quantize(t, row, out + (size_t)r * skim_row_size(t, n0), 1, n0);
    }
    free(row);
    return out;
}

static skim_tensor *w2(dstack *s, int role, int64_t n0, int64_t n1) {
    return skim_new_weight_2d(s->ctx, s->wt, n0, n1, s->wdata[role]);
}

static skim_tensor *rmsn(dstack *s, skim_tensor *x) {
    skim_context *c = s->ctx;
    return skim_mul(c, skim_rms_norm(c, x, 1e-5f),
                    skim_new_weight_2d(c, SKIM_TYPE_F32, s->dm.d, 1, s->norm_w));
}

/* One decode block on the residual x [d, 1]; tok: the block's token selection (NULL when
 * ungated), heads: its head selection (NULL when ungated). */
static skim_tensor *dblock(dstack *s, skim_tensor *x, skim_tensor *tok, skim_tensor *heads) {
    skim_context *c = s->ctx;
    const dims *m = &s->dm;
    int64_t kvne[2] = {(int64_t)m->d, m->n_ctx};
    skim_tensor *kc = skim_new_state(c, SKIM_TYPE_F16, 2, kvne, 0.0f);
    skim_tensor *vc = skim_new_state(c, SKIM_TYPE_F16, 2, kvne, 0.0f);
    skim_tensor *xa = tok ? skim_get_rows_sel(c, x, tok) : x;
    skim_tensor *pos = tok ? skim_get_rows_sel(c, s->pos, tok) : s->pos;
    skim_tensor *h = rmsn(s, xa);
    skim_tensor *q = heads ? skim_mul_mat_sel(c, w2(s, ROLE_Q, m->d, m->d), h, heads, m->hd)
                           : skim_mul_mat(c, w2(s, ROLE_Q, m->d, m->d), h);
    q = skim_rope(c, skim_reshape_3d(c, q, m->hd, m->heads, 1), pos, SKIM_ROPE_NORM, m->hd,
                  10000.0f);
    skim_tensor *k = skim_reshape_3d(c, skim_mul_mat(c, w2(s, ROLE_K, m->d, m->d), h), m->hd,
                                     m->heads, 1);
    k = skim_rope(c, k, pos, SKIM_ROPE_NORM, m->hd, 10000.0f);
    skim_tensor *v = skim_mul_mat(c, w2(s, ROLE_V, m->d, m->d), h);
    kc = skim_set_rows(c, kc, skim_reshape_2d(c, k, m->d, 1), pos);
    vc = skim_set_rows(c, vc, v, pos);
    skim_attn_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.q = q;
    ad.k = skim_reshape_3d(c, kc, m->hd, m->heads, m->n_ctx);
    ad.v = skim_reshape_3d(c, vc, m->hd, m->heads, m->n_ctx);
    ad.q_pos = pos;
    ad.n_kv = s->n_kv;
    ad.heads = heads;
    skim_tensor *a = skim_reshape_2d(c, skim_attn(c, &ad), m->d, 1);
    skim_tensor *o = heads ? skim_mul_mat_sel_k(c, w2(s, ROLE_O, m->d, m->d), a, heads, m->hd)
                           : skim_mul_mat(c, w2(s, ROLE_O, m->d, m->d), a);
    skim_tensor *xa2 = skim_add(c, xa, o);
    skim_tensor *hf = rmsn(s, xa2);
    skim_tensor *u = skim_swiglu(c, skim_mul_mat(c, w2(s, ROLE_GATE, m->d, m->ffn), hf),
                                 skim_mul_mat(c, w2(s, ROLE_UP, m->d, m->ffn), hf));
    skim_tensor *f = skim_mul_mat(c, w2(s, ROLE_DOWN, m->ffn, m->d), u);
    if (!tok) {
        return skim_add(c, xa2, f);
    }
    return skim_scatter_add_sel(c, skim_scatter_add_sel(c, x, o, tok), f, tok);
}

static int dstack_build(dstack *s, bool gated) {
    skim_context_create(NULL, &s->ctx);
    s->gated = gated;
    const dims *m = &s->dm;
    skim_context *c = s->ctx;
    s->x = skim_new_input_2d(c, SKIM_TYPE_F32, m->d, 1);
    s->pos = skim_new_input_1d(c, SKIM_TYPE_I32, 1);
    s->n_kv = skim_new_param(c, 1, m->n_ctx, m->n_ctx);
    skim_tensor *x = s->x, *prev = NULL;
    for (int l = 0; l < m->blocks; l++) {
        skim_tensor *tok = NULL, *heads = NULL;
        if (gated) {
            s->halt[l] = skim_new_input_1d(c, SKIM_TYPE_F32, 1);
            s->gate[l] = skim_new_input_1d(c, SKIM_TYPE_F32, m->heads);
            tok = prev = skim_token_halt(c, s->halt[l], 0.5f, prev);
            heads = skim_head_gate(c, s->gate[l], 0.5f);
        }
        x = dblock(s, x, tok, heads);
    }
    s->out = x;
    if (skim_graph_build(c, &s->out, 1, &s->g) != SKIM_OK) {
        fprintf(stderr, "decode stack: %s\n", skim_context_error(c));
        return 1;
    }
    return 0;
}

/* Inputs for active fraction a: the first round(a * heads) heads of every block pass, and
 * the token halts before block round(a * blocks). */
static void dstack_inputs(dstack *s, skim_plan *p, double a) {
    const dims *m = &s->dm;
    float *x = malloc((size_t)m->d * sizeof *x), gate[256], halt;
    for (int i = 0; x && i < m->d; i++) x[i] = (float)sin(i * 0.01);
    int32_t pos = m->n_ctx - 1;
    skim_plan_set_input(p, s->x, x, (size_t)m->d * sizeof *x);
    skim_plan_set_input(p, s->pos, &pos, sizeof pos);
    skim_plan_set_param(p, s->n_kv, m->n_ctx);
    int nh = (int)(a * m->heads + 0.5), nb = (int)(a * m->blocks + 0.5);
    for (int i = 0; i < m->heads; i++) gate[i] = i < nh ? 1.0f : 0.0f;
    for (int l = 0; l < m->blocks && s->gated; l++) {
        halt = l < nb ? 0.0f : 1.0f;
        skim_plan_set_input(p, s->halt[l], &halt, sizeof halt);
        skim_plan_set_input(p, s->gate[l], gate, (size_t)m->heads * sizeof gate[0]);
    }
    free(x);
}

/* Rounds of (ungated, a = 1, 0.75, 0.5, 0.25) after one warm-up round; medians. */
static void bench_decode_on(skim_backend *be, dstack *s, dstack *u, int reps) {
    skim_plan *p = NULL, *pu = NULL;
    if (skim_plan_create(be, s->g, NULL, &p) != SKIM_OK ||
        skim_plan_create(be, u->g, NULL, &pu) != SKIM_OK) {
        printf("  %-7s %s: plan: %s\n", skim_backend_name(be), skim_type_name(s->wt),
               skim_backend_error(be));
        skim_plan_destroy(p);
        return;
    }
    static const double fr[4] = {1.0, 0.75, 0.5, 0.25};
    double t[4][16], tu[16];
    skim_run_stats st[4], stu;
    reps = reps > 16 ? 16 : reps;
    dstack_inputs(u, pu, 1.0);
    for (int rep = -1; rep < reps; rep++) {
        double x = bench_timed_run(pu);
        if (x < 0) goto done;
        if (rep >= 0) tu[rep] = x;
        for (int i = 0; i < 4; i++) {
            dstack_inputs(s, p, fr[i]);
            x = bench_timed_run(p);
            if (x < 0) goto done;
            if (rep >= 0) t[i][rep] = x;
            skim_plan_get_stats(p, &st[i]);
        }
    }
    skim_plan_get_stats(pu, &stu);
    double m1 = bench_median(t[0], reps), mu = bench_median(tu, reps);
    const char *bn = skim_backend_name(be), *tn = skim_type_name(s->wt);
    printf("  %-7s %-5s ungated  %9.2f ms/token  %.3f of a=1   %4lld dispatches %4lld "
           "barriers %6lld workgroups\n", bn, tn, mu * 1e3, mu / m1, (long long)stu.dispatches,
           (long long)stu.barriers, (long long)stu.workgroups);
    for (int i = 0; i < 4; i++) {
        double mi = bench_median(t[i], reps);
        printf("  %-7s %-5s a=%.2f   %9.2f ms/token  %.3f of a=1   %4lld dispatches %4lld "
               "barriers %6lld workgroups  (target <= %.2f: %s; GFLOP %.3f of %.3f)\n", bn, tn,
               fr[i], mi * 1e3, mi / m1, (long long)st[i].dispatches, (long long)st[i].barriers,
               (long long)st[i].workgroups,
               fr[i] + 0.10, mi / m1 <= fr[i] + 0.10 ? "met" : "MISSED",
               st[i].flops_executed * 1e-9, st[i].flops_dense * 1e-9);
    }
    fflush(stdout);
done:
    skim_plan_destroy(p);
    skim_plan_destroy(pu);
}

void bench_decode(skim_backend **be, int n_be, bool small, int reps) {
    dims dm = small ? (dims){1024, 8, 128, 4, 2816, 256} : (dims){2048, 16, 128, 8, 5632, 512};
    printf("decode: %d blocks, d_model %d, %d heads of %d, ffn %d, KV cache %d (F16), one "
           "token per run at position %d\n  (median of %d rounds; a: the fraction of heads and "
           "of blocks that run; target: time(a) / time(1) <= a + 0.10)\n", dm.blocks, dm.d,
           dm.heads, dm.hd, dm.ffn, dm.n_ctx, dm.n_ctx - 1, reps);
    static const skim_type types[2] = {SKIM_TYPE_F16, SKIM_TYPE_Q8_0};
    for (int ti = 0; ti < 2; ti++) {
        dstack s, u;
        memset(&s, 0, sizeof s);
        s.dm = dm;
        s.wt = types[ti];
        static const int shape[N_ROLES][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 1}, {0, 1},
                                              {1, 0}};
        bool ok = true;
        for (int r = 0; r < N_ROLES; r++) {
            int64_t n0 = shape[r][0] ? dm.ffn : dm.d, n1 = shape[r][1] ? dm.ffn : dm.d;
            s.wdata[r] = make_weight(s.wt, n0, n1);
            ok = ok && s.wdata[r];
        }
        s.norm_w = malloc((size_t)dm.d * sizeof *s.norm_w);
        for (int i = 0; s.norm_w && i < dm.d; i++) s.norm_w[i] = 1.0f + 0.1f * drand();
        u = s;
        if (ok && s.norm_w && !dstack_build(&s, true) && !dstack_build(&u, false)) {
            for (int i = 0; i < n_be; i++) bench_decode_on(be[i], &s, &u, reps);
        }
        skim_context_destroy(s.ctx);
        skim_context_destroy(u.ctx);
        for (int r = 0; r < N_ROLES; r++) free(s.wdata[r]);
        free(s.norm_w);
    }
}
