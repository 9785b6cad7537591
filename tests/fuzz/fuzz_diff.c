/* fuzz_diff.c - a differential libFuzzer target: the fuzzer's bytes choose a small valid
 * graph, built through the public API only (every op of ops.def but custom: elementwise,
 * norms, soft_max, mul_mat on F32/F16/Q8_0/Q4_0 weights, get_rows, rope, attention with
 * and without a head selection, cont of transposed and strided views, reshape, argmax,
 * cpy and set_rows into states, head gates (HEADS and HEAD_TOKENS) feeding mul_mat_sel,
 * mul_mat_sel_k and attn, token-halts and top-k feeding get_rows_sel and scatter_add_sel,
 * the sequence mixers causal_conv and linear_rec with their states written back),
 * with gate thresholds that select nothing, everything or some, and NaN scores. The graph
 * is planned and run on the CPU backend and on Vulkan with the same inputs (Vulkan as
 * applications get it, or resolving selections on the host with guard bytes; sometimes
 * the CPU's masked-dense mode as well, held to the same outputs). The outputs
 * must agree within the op table's tolerance (normalised squared error, at most 4x the
 * largest tolerance of the ops the output depends on: each backend is within the
 * tolerance of the exact result, so their difference within twice its square root),
 * integer outputs and selections exactly, and the run stats exactly. Any disagreement
 * aborts with what differed; a crash, sanitizer report, leak or hang is a finding too.
 * Its first findings (corpus_diff/found-diff-*): gelu far in its negative tail, where
 * 1 + tanh(z) cancelled (1e-4 to 1e-3 relative error on both backends), alone and
 * through an rms_norm that scaled a row of such values up. Later: a layer_norm of rows
 * whose values barely differed (its output held to the tolerance of its input, when the
 * input's errors are divided by the row's spread), which the tolerances now measure.
 * Then (in CI's 20-s run): a product whose terms cancelled (x = [a, b, b, a] against a
 * weight row [w, v, -v, -w]): 1.5e-8 on the CPU, 0 on Vulkan, the order of the sums.
 * fuzz_diff_main.c replays inputs without libFuzzer. Without a Vulkan device every input
 * is skipped (and says so once). */
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"
#include "fuzz_bytes.h"
#include "skim-vulkan.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The op table's tolerances, by op, in ops.def's order. */
enum {
#define SKIM_OP(E, n, s, sh, fl, t) D_##E,
#include "ops.def"
#undef SKIM_OP
    D_COUNT
};
static const double op_tol[D_COUNT] = {
#define SKIM_OP(E, n, s, sh, fl, t) t,
#include "ops.def"
#undef SKIM_OP
};

#define POOL 24
#define NORM_EPS 1e-5f
#define MAX_BUF 128
#define MAX_OUT 24
#define MAX_ADD 12 /* adds, layer_norms and products whose cancellation is measured */
#define MAX_AMP 5  /* of them, upstream of one tensor */
enum { C_ADD, C_LAYER_NORM, C_RMS_NORM, C_PROD }; /* what cancels */
static const char *const c_names[] = {"add", "layer_norm", "rms_norm", "product"};

#define FAIL(...)                                  \
    do {                                           \
        fprintf(stderr, "fuzz_diff: " __VA_ARGS__); \
        fputc('\n', stderr);                       \
        abort();                                   \
    } while (0)

static int pick(bytes *b, int n) {
    return n > 0 ? u8(b) % n : 0;
}
static float val(bytes *b) { /* small exact values */
    return ((float)(u8(b) & 31) - 16.0f) / 8.0f;
}

/* Tolerances propagate as the largest of the ops a tensor depends on, which holds for
 * errors relative to the values' own size, except where values cancel: an add a + b much
 * smaller than a and b keeps their absolute errors, and a layer_norm of a row whose
 * values barely differ divides its input's absolute errors by the row's spread. So each
 * add and layer_norm of inexact values is remembered, and the tolerance of everything
 * downstream of it is multiplied at compare time by the cancellation measured on the
 * CPU's values (at least 1): the largest (a^2 + b^2) / (a+b)^2 over elements for an add,
 * the largest sum(x^2) / sum((x - mean)^2) over rows for a layer_norm (each denominator at
 * least the comparison's floor, 1e-6 per element). A product y = W x cancels the same way:
 * each y[j,t] has absolute errors up to e * sum_i |W[j,i] x[i,t]| = e * s[j,t], with e
 * the larger of x's relative error and the sum's own rounding (K * 2^-24 over K terms);
 * its cancellation is the largest e^2 s^2 / y^2 over elements, over the tolerance it is
 * held to. A tensor downstream of more of them than MAX_AMP is compared for NaNs only. */
typedef struct ent {
    skim_tensor *t; /* F32 [d0, d1], rows contiguous */
    double tol;     /* the largest tolerance of the ops it depends on (0: exact) */
    bool contig;
    int n_amp;      /* adds upstream (indices into gen.adds); -1: too many to track */
    int8_t amp[MAX_AMP];
} ent;

typedef struct input {
    skim_tensor *t;
    void *data;
    size_t size;
} input;

typedef struct gen {
    bytes b;
    skim_context *ctx;
    int T;
    ent pool[POOL];
    int n;
    input in[POOL * 2];
    int n_in;
    void *bufs[MAX_BUF];
    int n_bufs;
    skim_tensor *outs[MAX_OUT * 3];
    double out_tol[MAX_OUT * 3];
    int out_n_amp[MAX_OUT * 3];
    int8_t out_amp[MAX_OUT * 3][MAX_AMP];
    int n_outs, n_data_outs; /* outs[n_data_outs..]: selections, compared as selections */
    ent adds[MAX_ADD][3];    /* a + b, a, b; a norm: result, x, x; a product: W x, x, x */
    int8_t add_kind[MAX_ADD];
    const float *add_w[MAX_ADD]; /* a product's W as the backends see it, [k, m] */
    int n_adds;
    const float *last_w;     /* the last weight new_w made, dequantized (kept) */
    ent cur;                 /* the adds upstream of the step being made (n_amp, amp) */
    skim_tensor *sels[MAX_OUT];
    int n_sels;
} gen;

static void *keep(gen *g, size_t size) {
    if (g->n_bufs == MAX_BUF) return NULL;
    void *p = calloc(1, size ? size : 1);
    if (p) g->bufs[g->n_bufs++] = p;
    return p;
}

static void push(gen *g, skim_tensor *t, double tol, bool contig) {
    if (!t) return;
    ent e = {t, tol, contig, g->cur.n_amp, {0}};
    memcpy(e.amp, g->cur.amp, sizeof e.amp);
    if (g->n < POOL) g->pool[g->n++] = e;
    else g->pool[u8(&g->b) % POOL] = e;
}

static void out_amp(gen *g, skim_tensor *t, double tol, const ent *amp) {
    if (!t || g->n_outs == MAX_OUT * 3) return;
    for (int i = 0; i < g->n_outs; i++)
        if (g->outs[i] == t) return;
    g->outs[g->n_outs] = t;
    g->out_n_amp[g->n_outs] = amp->n_amp;
    memcpy(g->out_amp[g->n_outs], amp->amp, sizeof amp->amp);
    g->out_tol[g->n_outs++] = tol;
}

/* An output made by the step being made (or with no adds upstream when none is). */
static void out(gen *g, skim_tensor *t, double tol) { out_amp(g, t, tol, &g->cur); }

/* The adds upstream of either of a and b, in g->cur; false when there are too many. */
static bool amp_union(ent *dst, const ent *a, const ent *b) {
    ent u = {0};
    const ent *src[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        if (src[k]->n_amp < 0) return dst->n_amp = -1, false;
        for (int i = 0; i < src[k]->n_amp; i++) {
            bool have = false;
            for (int j = 0; j < u.n_amp; j++) have |= u.amp[j] == src[k]->amp[i];
            if (have) continue;
            if (u.n_amp == MAX_AMP) return dst->n_amp = -1, false;
            u.amp[u.n_amp++] = src[k]->amp[i];
        }
    }
    dst->n_amp = u.n_amp;
    memcpy(dst->amp, u.amp, sizeof u.amp);
    return true;
}

/* t = a + b, or t = layer_norm(a) or rms_norm(a) with b = a, or t = W a with b = a (w: W):
 * remembered when it may cancel (a or b inexact, or a product), and pushed. */
static void push_cancelling(gen *g, skim_tensor *t, ent a, ent b, double tol, int kind, const float *w) {
    if (!t) return;
    if (tol > 0 && (a.tol > 0 || b.tol > 0 || w) && g->cur.n_amp >= 0) {
        if (g->n_adds == MAX_ADD || g->cur.n_amp == MAX_AMP) {
            g->cur.n_amp = -1;
        } else {
            int k = g->n_adds++;
            g->cur.amp[g->cur.n_amp++] = (int8_t)k;
            g->adds[k][0] = (ent){t, tol, true, g->cur.n_amp, {0}};
            memcpy(g->adds[k][0].amp, g->cur.amp, sizeof g->cur.amp);
            g->adds[k][1] = a;
            g->adds[k][2] = b;
            g->add_kind[k] = (int8_t)kind;
            g->add_w[k] = w;
        }
    }
    push(g, t, tol, true);
}

static void sel_out(gen *g, skim_tensor *s) {
    if (s && g->n_sels < MAX_OUT) g->sels[g->n_sels++] = s;
}

/* An input whose data is chosen now: kind 0 data values, 1 scores (NaN sometimes),
 * 2 I32 indices in 0..range-1, 3 I32 positions 0..n-1 in order. */
static skim_tensor *new_in(gen *g, skim_type t, int64_t n0, int64_t n1, int kind, int range) {
    if (g->n_in == POOL * 2) return NULL;
    int64_t ne[2] = {n0, n1};
    skim_tensor *x = skim_new_input(g->ctx, t, n1 > 1 ? 2 : 1, ne);
    if (!x) return NULL;
    size_t size = skim_tensor_nbytes(x);
    void *d = keep(g, size);
    if (!d) return NULL;
    int64_t n = n0 * n1;
    for (int64_t i = 0; i < n; i++) {
        if (kind == 0) ((float *)d)[i] = val(&g->b);
        else if (kind == 1) ((float *)d)[i] = u8(&g->b) == 7 ? NAN : (float)(u8(&g->b) % 9) / 8.0f;
        else if (kind == 2) ((int32_t *)d)[i] = range > 0 ? u8(&g->b) % range : 0;
        else ((int32_t *)d)[i] = (int32_t)i;
    }
    g->in[g->n_in++] = (input){x, d, size};
    return x;
}

/* A weight [k, m] of type t (F32 when k does not fit its block). */
static skim_tensor *new_w(gen *g, skim_type t, int64_t k, int64_t m) {
    if (k % skim_type_block_size(t) != 0) t = SKIM_TYPE_F32;
    float *f = malloc(sizeof(float) * (size_t)(k * m));
    if (!f) return NULL;
    uint8_t s = u8(&g->b);
    for (int64_t i = 0; i < k * m; i++) f[i] = (float)((i * 7 + s) % 17) / 8.0f - 1.0f;
    size_t size = skim_row_size(t, k) * (size_t)m;
    void *d = keep(g, size);
    skim_tensor *w = NULL;
    if (d && skim_quantize(t, f, d, m, k) == size) w = skim_new_weight_2d(g->ctx, t, k, m, d);
    free(f);
    if (w && skim_tensor_set_data(w, d, size) != SKIM_OK) w = NULL;
    float *deq = w ? keep(g, sizeof(float) * (size_t)(k * m)) : NULL;
    g->last_w = deq && skim_dequantize(t, d, deq, k * m) ? deq : NULL;
    return w;
}


static const int64_t dims[] = {2, 4, 8, 32, 64};
static const skim_type wtypes[] = {SKIM_TYPE_F32, SKIM_TYPE_F16, SKIM_TYPE_Q8_0, SKIM_TYPE_Q4_0};

static int64_t ne(const skim_tensor *t, int i) {
    return skim_tensor_ne(t, i);
}
static double tmax(double a, double b) {
    return a > b ? a : b;
}
/* A gate threshold: nothing passes, everything passes, or some. */
static float tau(gen *g) {
    switch (u8(&g->b) % 3) {
    case 0: return 100.0f;
    case 1: return -100.0f;
    default: return 0.5f;
    }
}
/* Heads dividing d: 1, 2 or 4 (or fewer). */
static int64_t heads_of(gen *g, int64_t d) {
    int64_t h = (int64_t)1 << (u8(&g->b) % 3);
    while (d % h) h /= 2;
    return h;
}

/* A head selection for h heads: HEADS from scores [h], or HEAD_TOKENS [h, n]. */
static skim_tensor *head_sel(gen *g, int64_t h, int64_t n) {
    bool per_token = u8(&g->b) & 1;
    skim_tensor *sc = new_in(g, SKIM_TYPE_F32, h, per_token ? n : 1, 1, 0);
    skim_tensor *s = skim_head_gate(g->ctx, sc, tau(g));
    sel_out(g, s);
    return s;
}

static void op_token_path(gen *g, ent a) {
    int64_t d = ne(a.t, 0), n = ne(a.t, 1);
    if (!a.contig || skim_tensor_n_dims(a.t) < 2) return; /* [d, 1] is 1-D: tokens along d */
    skim_tensor *sel;
    if (u8(&g->b) & 1) {
        sel = skim_token_halt(g->ctx, new_in(g, SKIM_TYPE_F32, n, 1, 1, 0), tau(g), NULL);
    } else {
        sel = skim_select_topk(g->ctx, new_in(g, SKIM_TYPE_F32, n, 1, 1, 0), 1 + pick(&g->b, (int)n));
    }
    sel_out(g, sel);
    skim_tensor *y = skim_get_rows_sel(g->ctx, a.t, sel);
    double tol = tmax(a.tol, op_tol[D_GET_ROWS_SEL]);
    if (u8(&g->b) & 1) {
        y = skim_mul_mat(g->ctx, new_w(g, wtypes[pick(&g->b, 4)], d, d), y);
        tol = tmax(tol, op_tol[D_MUL_MAT]);
    } else {
        y = skim_silu(g->ctx, y);
        tol = tmax(tol, op_tol[D_SILU]);
    }
    skim_tensor *z = skim_scatter_add_sel(g->ctx, a.t, y, sel);
    push(g, z, tmax(tol, op_tol[D_SCATTER_ADD_SEL]), true);
}

static void op_rope_attn(gen *g, ent a, bool attn) {
    int64_t d = ne(a.t, 0), n = ne(a.t, 1), h = heads_of(g, d), hd = d / h;
    if (!a.contig || hd % 2) return;
    skim_tensor *x3 = skim_reshape_3d(g->ctx, a.t, hd, h, n);
    skim_tensor *pos = new_in(g, SKIM_TYPE_I32, n, 1, 3, 0);
    skim_tensor *r;
    double tol;
    if (!attn) {
        int nd = (int)(hd - 2 * pick(&g->b, (int)(hd / 2)));
        r = skim_rope(g->ctx, x3, pos, (skim_rope_mode)(u8(&g->b) & 1), nd, 10000.0f);
        tol = op_tol[D_ROPE];
    } else {
        skim_attn_desc ad = {0};
        ad.q = x3;
        ad.k = ad.v = x3;
        ad.q_pos = pos;
        if (u8(&g->b) & 1) ad.heads = head_sel(g, h, n);
        r = skim_attn(g->ctx, &ad);
        tol = op_tol[D_ATTN];
    }
    push(g, skim_reshape_2d(g->ctx, r, d, n), tmax(a.tol, tol), true);
}

static void op_sel_mm(gen *g, ent a, bool over_k) {
    int64_t d = ne(a.t, 0), n = ne(a.t, 1);
    if (!a.contig) return;
    skim_type wt = wtypes[pick(&g->b, 4)];
    if (!over_k) { /* output rows in h blocks of b */
        int64_t h = (int64_t)1 << pick(&g->b, 3), blk = (int64_t)1 << pick(&g->b, 3);
        skim_tensor *s = head_sel(g, h, n);
        skim_tensor *w = new_w(g, wt, d, h * blk);
        push_cancelling(g, skim_mul_mat_sel(g->ctx, w, a.t, s, (int)blk), a, a,
                        tmax(a.tol, op_tol[D_MUL_MAT_SEL]), C_PROD, g->last_w);
    } else { /* contracting over h blocks of d */
        int64_t h = heads_of(g, d), m = dims[pick(&g->b, 5)];
        skim_tensor *s = head_sel(g, h, n);
        skim_tensor *w = new_w(g, wt, d, m);
        push_cancelling(g, skim_mul_mat_sel_k(g->ctx, w, a.t, s, (int)(d / h)), a, a,
                        tmax(a.tol, op_tol[D_MUL_MAT_SEL_K]), C_PROD, g->last_w);
    }
}

static void op_write(gen *g, ent a) {
    int64_t d = ne(a.t, 0), n = ne(a.t, 1);
    skim_type st = (u8(&g->b) & 1) ? SKIM_TYPE_F16 : SKIM_TYPE_F32;
    double tol = tmax(a.tol, st == SKIM_TYPE_F16 ? op_tol[D_CPY] : 0);
    if (u8(&g->b) & 1) {
        skim_tensor *s = skim_new_state(g->ctx, st, 2, (const int64_t[]){d, n}, 0.0f);
        skim_tensor *w = skim_cpy(g->ctx, a.t, s);
        out(g, w, tmax(tol, op_tol[D_CPY]));
    } else { /* rows of a into rows 0..n-1 of a state of n + 2 rows, in a permuted order */
        skim_tensor *s = skim_new_state(g->ctx, st, 2, (const int64_t[]){d, n + 2}, 0.5f);
        skim_tensor *idx = skim_new_input_1d(g->ctx, SKIM_TYPE_I32, n);
        int32_t *v = keep(g, sizeof(int32_t) * (size_t)n);
        if (!idx || !v || g->n_in == POOL * 2) return;
        int rot = pick(&g->b, (int)n);
        for (int64_t i = 0; i < n; i++) v[i] = (int32_t)((i + rot) % n);
        g->in[g->n_in++] = (input){idx, v, sizeof(int32_t) * (size_t)n};
        out(g, skim_set_rows(g->ctx, s, a.t, idx), tmax(tol, op_tol[D_SET_ROWS]));
    }
}

static void op_view(gen *g, ent a) {
    int64_t d = ne(a.t, 0), n = ne(a.t, 1);
    switch (u8(&g->b) % 3) {
    case 0: push(g, skim_cont(g->ctx, skim_transpose(g->ctx, a.t)), a.tol, true); break;
    case 1: /* the first half of each row: rows contiguous, strided */
        if (d >= 2 && a.contig) {
            size_t nb[2] = {4, (size_t)d * 4};
            push(g, skim_view(g->ctx, a.t, 2, (const int64_t[]){d / 2, n}, nb, 4 * (size_t)(d / 4)),
                 a.tol, false);
        }
        break;
    default:
        if (a.contig) push(g, skim_reshape_2d(g->ctx, a.t, d * n, 1), a.tol, true);
    }
}

/* The sequence mixers, on exact inputs only (leaves and views of them: multiples of 1/8):
 * their sums of products may cancel, which the propagated tolerances do not measure, and
 * on such values both backends are exact or within rounding of a few products. The
 * state is none, an input, or a state written back as a decode loop does. */
static void op_mixer(gen *g, ent a, ent b, bool conv) {
    int64_t c = ne(a.t, 0), n = ne(a.t, 1);
    if (a.tol > 0 || b.tol > 0) return;
    int64_t k = conv ? 1 + pick(&g->b, 4) : 0, st_rows = conv ? k - 1 : 1;
    int how = st_rows > 0 ? pick(&g->b, 3) : 0;
    skim_tensor *st = NULL, *state = NULL;
    if (how == 1) st = new_in(g, SKIM_TYPE_F32, c, st_rows, 0, 0);
    if (how == 2) st = state = skim_new_state(g->ctx, SKIM_TYPE_F32, 2, (const int64_t[]){c, st_rows}, 0.5f);
    size_t nb[2] = {4, (size_t)c * 4};
    skim_tensor *y, *next = NULL;
    double tol = op_tol[conv ? D_CAUSAL_CONV : D_LINEAR_REC];
    if (conv) {
        skim_tensor *r = skim_causal_conv(g->ctx, a.t, new_w(g, SKIM_TYPE_F32, k, c), st);
        y = skim_view(g->ctx, r, 2, (const int64_t[]){c, n}, nb, 0);
        if (state) next = skim_view(g->ctx, r, 2, (const int64_t[]){c, k - 1}, nb, (size_t)(n * c) * 4);
    } else {
        y = skim_linear_rec(g->ctx, a.t, b.t, new_in(g, SKIM_TYPE_F32, c, n, 0, 0), st);
        if (state) next = skim_view(g->ctx, y, 2, (const int64_t[]){c, 1}, nb, (size_t)((n - 1) * c) * 4);
    }
    push(g, y, tol, true);
    if (next) out(g, skim_cpy(g->ctx, next, state), tol);
}

/* Per step kind: builders that added a tensor, and that refused (fuzz_diff_main.c prints
 * them: the generator's coverage). FUZZ_DIFF_TRACE=1 prints each step, for triage. */
#define N_KINDS 18
const int fuzz_diff_n_kinds = N_KINDS;
long fuzz_diff_steps[N_KINDS][2];
const char *const fuzz_diff_kinds[N_KINDS] = {"add", "mul", "swiglu", "scale", "silu/gelu/sigmoid",
    "rms_norm/layer_norm", "soft_max", "mul_mat", "views", "head gate + mul_mat_sel",
    "head gate + mul_mat_sel_k", "token_halt/topk + get_rows_sel + scatter_add_sel",
    "rope/attn", "get_rows", "argmax", "cpy/set_rows", "causal_conv", "linear_rec"};

static void step(gen *g) {
    if (g->n == 0) return;
    ent a = g->pool[u8(&g->b) % g->n];
    ent b = g->pool[u8(&g->b) % g->n];
    if (ne(b.t, 0) != ne(a.t, 0) || ne(b.t, 1) != ne(a.t, 1)) b = a;
    skim_context *c = g->ctx;
    double t2 = tmax(a.tol, b.tol);
    /* Kinds past the first 16 take step bytes 0xFE and 0xFF, which the inputs of
     * corpus_diff do not use as step bytes, so that those inputs keep their graphs. */
    int raw = u8(&g->b), code = raw >= 0xFE ? 16 + (raw & 1) : raw % 16, n_before = g->n, outs_before = g->n_outs;
    skim_tensor *last = g->pool[g->n - 1].t;
    amp_union(&g->cur, &a, &b); /* everything this step makes depends on a or b at most */
    switch (code) {
    case 0: push_cancelling(g, skim_add(c, a.t, b.t), a, b, tmax(t2, op_tol[D_ADD]), C_ADD, NULL); break;
    case 1: push(g, skim_mul(c, a.t, b.t), tmax(t2, op_tol[D_MUL]), true); break;
    case 2: push(g, skim_swiglu(c, a.t, b.t), tmax(t2, op_tol[D_SWIGLU]), true); break;
    case 3: push(g, skim_scale(c, a.t, val(&g->b)), tmax(a.tol, op_tol[D_SCALE]), true); break;
    case 4: {
        int k = u8(&g->b) % 3;
        skim_tensor *r = k == 0 ? skim_silu(c, a.t) : k == 1 ? skim_gelu(c, a.t) : skim_sigmoid(c, a.t);
        push(g, r, tmax(a.tol, op_tol[k == 0 ? D_SILU : k == 1 ? D_GELU : D_SIGMOID]), true);
        break;
    }
    case 5:
        if (u8(&g->b) & 1)
            push_cancelling(g, skim_rms_norm(c, a.t, NORM_EPS), a, a, tmax(a.tol, op_tol[D_RMS_NORM]), C_RMS_NORM,
                            NULL);
        else
            push_cancelling(g, skim_layer_norm(c, a.t, NORM_EPS), a, a, tmax(a.tol, op_tol[D_LAYER_NORM]),
                            C_LAYER_NORM, NULL);
        break;
    case 6: push(g, skim_soft_max(c, a.t, NULL, (u8(&g->b) & 1) ? 1.0f : 0.5f),
                 tmax(a.tol, op_tol[D_SOFT_MAX]), true); break;
    case 7: {
        skim_tensor *w = new_w(g, wtypes[pick(&g->b, 4)], ne(a.t, 0), dims[pick(&g->b, 5)]);
        push_cancelling(g, skim_mul_mat(c, w, a.t), a, a, tmax(a.tol, op_tol[D_MUL_MAT]), C_PROD, g->last_w);
        break;
    }
    case 8: op_view(g, a); break;
    case 9: op_sel_mm(g, a, false); break;
    case 10: op_sel_mm(g, a, true); break;
    case 11: op_token_path(g, a); break;
    case 12: op_rope_attn(g, a, u8(&g->b) & 1); break;
    case 13: {
        int64_t v = dims[pick(&g->b, 5)];
        skim_type wt = wtypes[pick(&g->b, 3)];
        skim_tensor *idx = new_in(g, SKIM_TYPE_I32, g->T, 1, 2, (int)v);
        push(g, skim_get_rows(c, new_w(g, wt, dims[pick(&g->b, 5)], v), idx), op_tol[D_GET_ROWS], true);
        break;
    }
    case 14: /* argmax of a, exact when a is */
        if (a.tol == 0) out(g, skim_argmax(c, a.t), 0);
        break;
    case 15: op_write(g, a); break;
    default: op_mixer(g, a, b, code == 16); break;
    }
    /* A builder that refused (a generator's choice the op does not take) is skipped. */
    if (skim_context_status(c) != SKIM_OK) {
        fuzz_diff_steps[code][1]++;
        skim_context_clear_error(c);
    } else if (g->n != n_before || g->pool[g->n - 1].t != last || g->n_outs != outs_before) {
        fuzz_diff_steps[code][0]++;
        if (getenv("FUZZ_DIFF_TRACE")) {
            skim_tensor *t = g->pool[g->n - 1].t;
            fprintf(stderr, "step %-48s -> [%lld, %lld] tol %g\n", fuzz_diff_kinds[code], (long long)ne(t, 0),
                    (long long)ne(t, 1), g->pool[g->n - 1].tol);
        }
    }
}

/* ---------------------------------------------------------------- the comparison */

/* The CPU, and Vulkan twice: as applications get it (selections resolved on the GPU,
 * indirect dispatches, the arena's reuse of memory) and the way the tests check it
 * (resolved on the host, guard bytes after every tensor). */
static skim_backend *g_cpu, *g_vk, *g_vk_host;

/* F32 data of t from plan p (NULL when it cannot be read). */
static float *read_f32(skim_plan *p, skim_tensor *t) {
    size_t size = skim_tensor_nbytes(t);
    float *d = skim_tensor_type(t) == SKIM_TYPE_F32 ? malloc(size) : NULL;
    if (d && skim_plan_get_output(p, t, d, size) != SKIM_OK) {
        free(d);
        d = NULL;
    }
    return d;
}

/* The cancellation of product k (y = W x) on its values: see ent. Elements that are 0 on
 * both backends (rows a selection skipped) have no error to amplify. */
static double prod_cancellation(gen *g, int k, const float *y, const float *y2, const float *x) {
    const float *w = g->add_w[k];
    int64_t kk = ne(g->adds[k][1].t, 0), m = ne(g->adds[k][0].t, 0), n = ne(g->adds[k][0].t, 1);
    if (ne(g->adds[k][1].t, 1) != n) return INFINITY;
    double r = 0, e = tmax(g->adds[k][1].tol, pow((double)kk * 0x1p-24, 2.0));
    for (int64_t t = 0; t < n; t++)
        for (int64_t j = 0; j < m; j++) {
            double s = 0, v = y[t * m + j];
            if (v == 0 && y2[t * m + j] == 0) continue;
            for (int64_t i = 0; i < kk; i++) s += fabs((double)w[j * kk + i] * x[t * kk + i]);
            if (!isnan(v) && !isnan(s)) r = fmax(r, s * s / fmax(v * v, 1e-6));
        }
    return fmax(1.0, r * e / g->adds[k][0].tol);
}

/* The cancellation of add, layer_norm or product k on p's values (see ent), at least 1;
 * infinity when it cannot be measured. */
static double cancellation(gen *g, int k, skim_plan *p, skim_plan *p2) {
    float *v[3], *y2 = g->add_w[k] ? read_f32(p2, g->adds[k][0].t) : NULL;
    for (int j = 0; j < 3; j++) v[j] = read_f32(p, g->adds[k][j].t);
    int64_t n = skim_tensor_nelements(g->adds[k][0].t);
    double terms = 0, sum = 0, r = INFINITY;
    if (g->add_w[k]) {
        if (v[0] && v[1] && y2) r = prod_cancellation(g, k, v[0], y2, v[1]);
    } else if (v[0] && v[1] && v[2] && skim_tensor_nelements(g->adds[k][1].t) == n &&
               skim_tensor_nelements(g->adds[k][2].t) == n) {
        int kind = g->add_kind[k];
        /* per element for an add (a view downstream may keep only the elements that
         * cancelled), per row for a norm */
        int64_t d = kind == C_ADD ? 1 : ne(g->adds[k][1].t, 0);
        const double fl = 1e-6; /* the comparison's floor per element */
        r = 1.0;
        for (int64_t r0 = 0; r0 + d <= n; r0 += d) {
            double mean = 0;
            for (int64_t i = r0; kind == C_LAYER_NORM && i < r0 + d; i++) mean += v[1][i] / (double)d;
            terms = sum = 0;
            for (int64_t i = r0; i < r0 + d; i++) {
                if (isnan(v[0][i]) || isnan(v[1][i]) || isnan(v[2][i])) continue;
                if (kind == C_ADD) {
                    terms += fmax((double)v[1][i] * v[1][i], fl) + fmax((double)v[2][i] * v[2][i], fl);
                    sum += (double)v[0][i] * v[0][i];
                } else {
                    terms += (double)v[1][i] * v[1][i];
                    sum += (v[1][i] - mean) * (v[1][i] - mean);
                }
            }
            if (kind == C_ADD) {
                r = fmax(r, terms / fmax(sum, fl));
            } else { /* errors within the floor of x are scaled up by 1/sqrt(ms + eps) */
                double ms = sum / (double)d;
                r = fmax(r, fmax(terms, fl * (double)d) / fmax(sum, fl * (double)d * (ms + NORM_EPS)));
            }
        }
    }
    for (int j = 0; j < 3; j++) free(v[j]);
    free(y2);
    return r;
}

static void compare_outputs(gen *g, skim_plan *pc, skim_plan *pv) {
    double ratio[MAX_ADD];
    for (int k = 0; k < g->n_adds; k++) {
        ratio[k] = cancellation(g, k, pc, pv);
        if (getenv("FUZZ_DIFF_TRACE"))
            fprintf(stderr, "%s %d cancels by %g\n", c_names[g->add_kind[k]], k, ratio[k]);
    }
    for (int i = 0; i < g->n_data_outs; i++) {
        skim_tensor *t = g->outs[i];
        size_t size = skim_tensor_nbytes(t);
        void *a = malloc(size), *b = malloc(size);
        if (!a || !b) FAIL("out of memory");
        skim_status sa = skim_plan_get_output(pc, t, a, size), sb = skim_plan_get_output(pv, t, b, size);
        if (sa != sb) FAIL("output %d (%s): get_output %s on the CPU (%s), %s on Vulkan (%s)", i,
                           skim_tensor_name(t), skim_status_str(sa), skim_plan_error(pc), skim_status_str(sb),
                           skim_plan_error(pv));
        skim_type ty = skim_tensor_type(t);
        int64_t n = skim_tensor_nelements(t);
        if (sa == SKIM_OK && ty == SKIM_TYPE_I32) {
            if (memcmp(a, b, size) != 0) FAIL("output %d (%s, I32): the backends differ", i, skim_tensor_name(t));
        } else if (sa == SKIM_OK) {
            double num = 0, den = 0;
            for (int64_t j = 0; j < n; j++) {
                double x = ty == SKIM_TYPE_F16 ? skim_fp16_to_fp32(((uint16_t *)a)[j]) : ((float *)a)[j];
                double y = ty == SKIM_TYPE_F16 ? skim_fp16_to_fp32(((uint16_t *)b)[j]) : ((float *)b)[j];
                if (isnan(x) != isnan(y)) FAIL("output %d (%s) element %lld: %g on the CPU, %g on Vulkan", i,
                                               skim_tensor_name(t), (long long)j, x, y);
                if (isnan(x)) continue;
                num += (x - y) * (x - y);
                den += x * x;
            }
            /* Near-zero outputs: the squared error per element against 1e-6 at least. */
            double err = num / fmax(den, 1e-6 * (double)n), tol = 4.0 * g->out_tol[i];
            for (int k = 0; k < g->out_n_amp[i]; k++) tol *= ratio[g->out_amp[i][k]];
            if (g->out_n_amp[i] < 0 || !isfinite(tol)) tol = INFINITY; /* NaNs compared only */
            if (err > tol && getenv("FUZZ_DIFF_TRACE"))
                for (int64_t j = 0; j < n && j < 64; j++)
                    fprintf(stderr, "  [%lld] %.9g %.9g\n", (long long)j, (double)((float *)a)[j], (double)((float *)b)[j]);
            if (err > tol) FAIL("output %d (%s, %lld elements): normalised squared error %.3g > %.3g", i,
                                skim_tensor_name(t), (long long)n, err, tol);
        }
        free(a);
        free(b);
    }
}

static void compare_sels(gen *g, skim_plan *pc, skim_plan *pv) {
    for (int i = 0; i < g->n_sels; i++) {
        skim_tensor *s = g->sels[i];
        int32_t gr = skim_selection_groups(s), cap = skim_selection_capacity(s);
        size_t nc = (size_t)gr, ni = (size_t)gr * (size_t)cap;
        int32_t *ca = calloc(nc, 4), *cb = calloc(nc, 4), *ia = calloc(ni, 4), *ib = calloc(ni, 4);
        if (!ca || !cb || !ia || !ib) FAIL("out of memory");
        skim_status sa = skim_plan_get_selection(pc, s, ca, ia), sb = skim_plan_get_selection(pv, s, cb, ib);
        if (sa != sb) FAIL("selection %d: get_selection %s on the CPU, %s on Vulkan", i, skim_status_str(sa),
                           skim_status_str(sb));
        if (sa == SKIM_OK) {
            for (int32_t k = 0; k < gr; k++) {
                if (ca[k] != cb[k]) FAIL("selection %d group %d: count %d on the CPU, %d on Vulkan", i, k, ca[k], cb[k]);
                if (memcmp(ia + (size_t)k * (size_t)cap, ib + (size_t)k * (size_t)cap, 4 * (size_t)ca[k]) != 0)
                    FAIL("selection %d group %d: the indices differ", i, k);
            }
        }
        free(ca);
        free(cb);
        free(ia);
        free(ib);
    }
}

static void compare_stats(skim_plan *pc, skim_plan *pv) {
    skim_run_stats a, b;
    if (skim_plan_get_stats(pc, &a) != SKIM_OK || skim_plan_get_stats(pv, &b) != SKIM_OK) FAIL("get_stats failed");
#define SAME(f) \
    if (a.f != b.f) FAIL("stats: " #f " %g on the CPU, %g on Vulkan", (double)a.f, (double)b.f)
    SAME(n_selections);
    SAME(head_ops_executed);
    SAME(head_ops_dense);
    SAME(token_layer_ops_executed);
    SAME(token_layer_ops_dense);
    SAME(flops_executed);
    SAME(flops_dense);
    SAME(nan_scores);
    SAME(runs);
#undef SAME
    for (int i = 0; i < a.n_selections; i++) {
        const skim_sel_stats *x = &a.selections[i], *y = &b.selections[i];
        if (x->sel != y->sel || x->count != y->count || x->capacity != y->capacity || x->nan_count != y->nan_count)
            FAIL("stats: selection %d: count %lld/%lld NaN %lld on the CPU, %lld/%lld NaN %lld on Vulkan", i,
                 (long long)x->count, (long long)x->capacity, (long long)x->nan_count, (long long)y->count,
                 (long long)y->capacity, (long long)y->nan_count);
    }
}

static skim_plan *plan_run(gen *g, skim_backend *be, skim_graph *gr, skim_plan_mode mode, const char *what) {
    skim_plan *p = NULL;
    skim_plan_desc pd = {0};
    pd.mode = mode;
    skim_status s = skim_plan_create(be, gr, &pd, &p);
    if (s != SKIM_OK) FAIL("%s: plan_create: %s (%s)", what, skim_status_str(s), skim_backend_error(be));
    for (int i = 0; i < g->n_in; i++) {
        s = skim_plan_set_input(p, g->in[i].t, g->in[i].data, g->in[i].size);
        if (s != SKIM_OK && s != SKIM_ERR_INVALID_ARG) /* INVALID_ARG: not in the graph */
            FAIL("%s: set_input: %s (%s)", what, skim_status_str(s), skim_plan_error(p));
    }
    s = skim_plan_run(p);
    if (s != SKIM_OK) FAIL("%s: run: %s (%s)", what, skim_status_str(s), skim_plan_error(p));
    return p;
}

/* Graphs built, and run on both backends (fuzz_diff_main.c prints them). */
long fuzz_diff_counts[2];

/* The backends live for the process (creating a Vulkan device per input is slow): made
 * once here, before libFuzzer's per-input leak checks start, and destroyed at exit, before
 * LeakSanitizer looks, so that the driver's memory is freed. */
static int no_vulkan;

static void destroy_backends(void) {
    /* what a libFuzzer run did: executions are inputs, not all of them make a graph */
    fprintf(stderr, "fuzz_diff: %ld graphs built, %ld run on both backends and agreeing\n",
            fuzz_diff_counts[0], fuzz_diff_counts[1]);
    skim_backend_destroy(g_vk_host);
    skim_backend_destroy(g_vk);
    skim_backend_destroy(g_cpu);
    g_vk_host = g_vk = g_cpu = NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (skim_backend_create_cpu(NULL, &g_cpu) != SKIM_OK) FAIL("no CPU backend");
    skim_vulkan_desc vd = {0};
    vd.validation = SKIM_VK_OFF;
    char msg[256];
    if (skim_backend_create_vulkan_msg(&vd, &g_vk, msg, sizeof msg) != SKIM_OK) {
        fprintf(stderr, "fuzz_diff: no Vulkan device (%s): every input is skipped\n", msg);
        no_vulkan = 1;
    }
    vd.resolve = SKIM_VK_RESOLVE_HOST;
    vd.guard_bytes = true;
    if (!no_vulkan && skim_backend_create_vulkan_msg(&vd, &g_vk_host, msg, sizeof msg) != SKIM_OK)
        FAIL("the second Vulkan backend (host resolve, guard bytes): %s", msg);
    atexit(destroy_backends);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (no_vulkan || !g_cpu) return 0;
    gen g;
    memset(&g, 0, sizeof g);
    g.b.p = data;
    g.b.n = size;
    if (skim_context_create(NULL, &g.ctx) != SKIM_OK) FAIL("context_create");
    g.T = 1 + pick(&g.b, 6);
    int n_leaves = 1 + pick(&g.b, 2);
    for (int i = 0; i < n_leaves; i++) push(&g, new_in(&g, SKIM_TYPE_F32, dims[pick(&g.b, 5)], g.T, 0, 0), 0, true);
    int n_steps = 1 + pick(&g.b, 10);
    for (int i = 0; i < n_steps && g.b.i < g.b.n; i++) step(&g);
    for (int i = g.n - 1; i >= 0 && i >= g.n - 3; i--) out_amp(&g, g.pool[i].t, g.pool[i].tol, &g.pool[i]);
    for (int k = 0; k < g.n_adds; k++) /* read for the cancellation they measure */
        for (int j = 0; j < 3; j++) out_amp(&g, g.adds[k][j].t, g.adds[k][j].tol, &g.adds[k][j]);
    g.n_data_outs = g.n_outs;
    for (int i = 0; i < g.n_sels; i++) out(&g, g.sels[i], 0); /* selections must be in the graph */
    skim_graph *gr = NULL;
    if (g.n_outs > 0 && skim_graph_build(g.ctx, g.outs, g.n_outs, &gr) == SKIM_OK) {
        fuzz_diff_counts[0]++;
        uint8_t how = u8(&g.b);
        skim_backend *vk = (how & 1) ? g_vk_host : g_vk;
        skim_plan *pc = plan_run(&g, g_cpu, gr, SKIM_MODE_SKIP, "cpu");
        skim_plan *pv = plan_run(&g, vk, gr, SKIM_MODE_SKIP, (how & 1) ? "vulkan (host resolve)" : "vulkan");
        compare_outputs(&g, pc, pv);
        compare_sels(&g, pc, pv);
        compare_stats(pc, pv);
        if (how & 2) { /* the CPU's masked-dense mode: the same outputs and selections */
            skim_plan *pm = plan_run(&g, g_cpu, gr, SKIM_MODE_MASKED_DENSE, "cpu (masked dense)");
            compare_outputs(&g, pc, pm);
            compare_sels(&g, pc, pm);
            skim_plan_destroy(pm);
        }
        fuzz_diff_counts[1]++;
        skim_plan_destroy(pc);
        skim_plan_destroy(pv);
    } else if (g.n_outs > 0) {
        FAIL("graph_build refused a graph of valid builders: %s", skim_context_error(g.ctx));
    }
    skim_context_destroy(g.ctx);
    for (int i = 0; i < g.n_bufs; i++) free(g.bufs[i]);
    return 0;
}
