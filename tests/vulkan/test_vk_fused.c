/* test_vk_fused.c - the goldens of the Vulkan backend's fused chains (vk_fuse.c): norm
 * with its weight, and mul_mat / mul_mat_sel / mul_mat_sel_k with a bias or residual add
 * and an activation as epilogue; and the gathers of one row that record nothing. Each chain runs on Vulkan (validation, synchronization
 * validation and guard bytes as test_vulkan.c sets them) against a double-precision
 * reference computed here. Fusion is checked by the run stats: the same graph with the
 * chain's inner results made outputs too (which forbids fusing) records len - 1 more
 * dispatches, and its values must agree as well. */
#define SKIM_TEST_HAVE_VULKAN 1
#include "test_backends.h"
#include "test_common.h"

#include "skim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K = 64, M = 48, N = 3, H = 4 }; /* M = H heads of 12 rows; K = H blocks of 16 */

typedef enum chain_kind {
    NORM_MUL, LNORM_MUL, MM_BIAS_SIGMOID, MM_GELU, MM_RESIDUAL, MM_RESIDUAL_FIRST,
    MM_BIAS_GELU, SEL_BIAS_SILU, SEL_K_RESIDUAL, CHAIN_COUNT
} chain_kind;

static const char *const names[CHAIN_COUNT] = {
    "rms_norm+mul", "layer_norm+mul", "mul_mat+add(bias)+sigmoid", "mul_mat+gelu",
    "add(mul_mat, residual)", "add(residual, mul_mat)", "mul_mat+add(bias)+gelu",
    "mul_mat_sel(heads)+add(bias)+silu", "mul_mat_sel_k(heads)+add(residual)"};

typedef struct data {
    float w[K * M], x[K * N], bias[M], res[M * N], nw[K], scores[H];
} data;

static double gelu(double x) {
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}
static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Heads with score >= 0.5 (the head gate's tau below). */
static bool head_on(const data *d, int h) { return d->scores[h] >= 0.5f; }

/* The chain's result, in doubles: [K, N] for norms, [M, N] otherwise. */
static void reference(chain_kind c, const data *d, double *out) {
    if (c == NORM_MUL || c == LNORM_MUL) {
        for (int n = 0; n < N; n++) {
            const float *x = d->x + n * K;
            double mean = 0.0, s2 = 0.0;
            for (int k = 0; c == LNORM_MUL && k < K; k++) mean += x[k] / (double)K;
            for (int k = 0; k < K; k++) s2 += (x[k] - mean) * (x[k] - mean);
            double sc = 1.0 / sqrt(s2 / K + 1e-5);
            for (int k = 0; k < K; k++) out[n * K + k] = (x[k] - mean) * sc * d->nw[k];
        }
        return;
    }
    for (int n = 0; n < N; n++) {
        for (int m = 0; m < M; m++) {
            double acc = 0.0;
            for (int k = 0; k < K; k++) {
                bool on = c == SEL_BIAS_SILU ? head_on(d, m / (M / H))
                        : c == SEL_K_RESIDUAL ? head_on(d, k / (K / H)) : true;
                acc += on ? (double)d->w[m * K + k] * d->x[n * K + k] : 0.0;
            }
            double b = d->bias[m], r = d->res[n * M + m];
            double v;
            switch (c) {
            case MM_BIAS_SIGMOID: v = sigm(acc + b); break;
            case MM_GELU: v = gelu(acc); break;
            case MM_BIAS_GELU: v = gelu(acc + b); break;
            case SEL_BIAS_SILU: v = (acc + b) * sigm(acc + b); break;
            default: v = acc + r; break; /* the residual chains */
            }
            out[n * M + m] = v;
        }
    }
}

/* Builds chain c; the inner results go to inner[] (up to 2). Returns the last result. */
static skim_tensor *build(skim_context *ctx, chain_kind c, const data *d, skim_tensor **inner,
                          int *n_inner, skim_tensor **x_in, skim_tensor **s_in) {
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    *x_in = x;
    *s_in = NULL;
    *n_inner = 0;
    if (c == NORM_MUL || c == LNORM_MUL) {
        int64_t ne = K;
        skim_tensor *nw = skim_new_weight(ctx, SKIM_TYPE_F32, 1, &ne, d->nw);
        skim_tensor *h = c == NORM_MUL ? skim_rms_norm(ctx, x, 1e-5f) : skim_layer_norm(ctx, x, 1e-5f);
        inner[(*n_inner)++] = h;
        return skim_mul(ctx, h, nw);
    }
    int64_t nm = M, nr[2] = {M, N}, nh = H;
    skim_tensor *w = skim_new_weight_2d(ctx, SKIM_TYPE_F32, K, M, d->w);
    skim_tensor *bias = skim_new_weight(ctx, SKIM_TYPE_F32, 1, &nm, d->bias);
    skim_tensor *res = skim_new_weight(ctx, SKIM_TYPE_F32, 2, nr, d->res);
    skim_tensor *y, *a;
    if (c == SEL_BIAS_SILU || c == SEL_K_RESIDUAL) {
        skim_tensor *s = skim_new_input(ctx, SKIM_TYPE_F32, 1, &nh);
        *s_in = s;
        skim_tensor *heads = skim_head_gate(ctx, s, 0.5f);
        y = c == SEL_BIAS_SILU ? skim_mul_mat_sel(ctx, w, x, heads, M / H)
                               : skim_mul_mat_sel_k(ctx, w, x, heads, K / H);
    } else {
        y = skim_mul_mat(ctx, w, x);
    }
    inner[(*n_inner)++] = y;
    switch (c) {
    case MM_GELU: return skim_gelu(ctx, y);
    case MM_RESIDUAL: return skim_add(ctx, y, res);
    case MM_RESIDUAL_FIRST: return skim_add(ctx, res, y);
    case SEL_K_RESIDUAL: return skim_add(ctx, y, res);
    default: break;
    }
    a = skim_add(ctx, y, bias);
    inner[(*n_inner)++] = a;
    return c == MM_BIAS_SIGMOID ? skim_sigmoid(ctx, a)
         : c == MM_BIAS_GELU ? skim_gelu(ctx, a) : skim_silu(ctx, a);
}

/* Runs chain c on be, fused (the last result the only output) or not; the result to out
 * and the run's dispatches to *disp. */
static bool run(skim_backend *be, chain_kind c, const data *d, bool unfused, float *out,
                int64_t *disp) {
    skim_context *ctx = NULL;
    skim_context_desc cd;
    memset(&cd, 0, sizeof cd);
    CHECK_OK(skim_context_create(&cd, &ctx), names[c]);
    if (!ctx) return false;
    skim_tensor *inner[2], *x, *s;
    int n_inner;
    skim_tensor *last = build(ctx, c, d, inner, &n_inner, &x, &s);
    skim_tensor *outs[3] = {last, inner[0], n_inner > 1 ? inner[1] : NULL};
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    bool ok = false;
    if (skim_graph_build(ctx, outs, unfused ? 1 + n_inner : 1, &g) != SKIM_OK) {
        CHECK(0, "%s: graph: %s", names[c], skim_context_error(ctx));
    } else if (skim_plan_create(be, g, NULL, &p) != SKIM_OK) {
        CHECK(0, "%s: plan: %s", names[c], skim_backend_error(be));
    } else {
        CHECK_OK(skim_plan_set_input(p, x, d->x, sizeof d->x), names[c]);
        if (s) CHECK_OK(skim_plan_set_input(p, s, d->scores, sizeof d->scores), names[c]);
        skim_run_stats st;
        CHECK_OK(skim_plan_run(p), skim_plan_error(p));
        CHECK_OK(skim_plan_get_stats(p, &st), names[c]);
        *disp = st.dispatches;
        ok = read_f32(p, last, out, names[c]);
    }
    skim_plan_destroy(p);
    skim_context_destroy(ctx);
    return ok;
}

/* Builds the graph of outs (the first n_out), plans it on be, sets inputs in[k] to
 * vals[k] (bytes[k]), runs it once; the first output to out, the run's dispatches to
 * *disp. Destroys ctx. */
static bool plan_run(skim_backend *be, skim_context *ctx, skim_tensor **outs, int n_out,
                     skim_tensor *const *in, const void *const *vals, const size_t *bytes,
                     int n_in, float *out, int64_t *disp, const char *nm) {
    skim_graph *g = NULL;
    skim_plan *pl = NULL;
    bool ok = false;
    if (skim_graph_build(ctx, outs, n_out, &g) != SKIM_OK) {
        CHECK(0, "%s: graph: %s", nm, skim_context_error(ctx));
    } else if (skim_plan_create(be, g, NULL, &pl) != SKIM_OK) {
        CHECK(0, "%s: plan: %s", nm, skim_backend_error(be));
    } else {
        for (int k = 0; k < n_in; k++) {
            CHECK_OK(skim_plan_set_input(pl, in[k], vals[k], bytes[k]), nm);
        }
        skim_run_stats st;
        CHECK_OK(skim_plan_run(pl), skim_plan_error(pl));
        CHECK_OK(skim_plan_get_stats(pl, &st), nm);
        *disp = st.dispatches;
        ok = read_f32(pl, outs[0], out, nm);
    }
    skim_plan_destroy(pl);
    skim_context_destroy(ctx);
    return ok;
}

/* Gathers of one row (get_rows_sel of a one-row tensor: vk_fuse.c records none, their
 * readers bind the source) from an intermediate, a weight and an input, the first feeding
 * a fused norm chain, all added back by scatter_add_sel, as a gated decode block does:
 *   xi = x + wv;  y = norm(gather(xi)) * nw + gather(wv) + gather(x);
 *   out = scatter_add_sel(x, y, token_halt(p, 0.5)).
 * xi's last reader is its gather: where the arena reuses ranges (SKIM_VK_ARENA=reuse, no
 * guard bytes: test_vk_fused_reuse) the results after it may take xi's range, so that
 * gather must stay. With rows > 1 nothing may be elided (the selection is not row 0). */
enum { GR_MAX = 3 };

typedef struct gdata {
    float x[K * GR_MAX], wv[K * GR_MAX], nw[K], p[GR_MAX];
} gdata;

static void gather_reference(const gdata *d, int rows, double *out) {
    for (int n = 0; n < rows; n++) {
        const float *x = d->x + n * K, *wv = d->wv + n * K;
        double xi[K], s2 = 0.0;
        for (int k = 0; k < K; k++) {
            xi[k] = (double)(x[k] + wv[k]); /* the add's f32 result, as the graph keeps it */
            s2 += xi[k] * xi[k];
        }
        double sc = 1.0 / sqrt(s2 / K + 1e-5);
        bool on = d->p[n] < 0.5f;
        for (int k = 0; k < K; k++) {
            out[n * K + k] = x[k] + (on ? xi[k] * sc * d->nw[k] + wv[k] + x[k] : 0.0);
        }
    }
}

/* Runs the gather graph of `rows` rows; unfused: the gathers (and the norm) outputs too,
 * which keeps each its own dispatch. */
static bool run_gather(skim_backend *be, int rows, const gdata *d, bool unfused, float *out,
                       int64_t *disp) {
    const char *nm = "gathers of one row";
    skim_context *ctx = NULL;
    skim_context_desc cd;
    memset(&cd, 0, sizeof cd);
    CHECK_OK(skim_context_create(&cd, &ctx), nm);
    if (!ctx) return false;
    int64_t nx[2] = {K, rows}, np[2] = {1, rows}, nk = K;
    skim_tensor *x = skim_new_input(ctx, SKIM_TYPE_F32, 2, nx);
    skim_tensor *p = skim_new_input(ctx, SKIM_TYPE_F32, 2, np);
    skim_tensor *wv = skim_new_weight(ctx, SKIM_TYPE_F32, 2, nx, d->wv);
    skim_tensor *nw = skim_new_weight(ctx, SKIM_TYPE_F32, 1, &nk, d->nw);
    skim_tensor *sel = skim_token_halt(ctx, p, 0.5f, NULL);
    skim_tensor *xi = skim_add(ctx, x, wv);
    skim_tensor *gx = skim_get_rows_sel(ctx, xi, sel), *gw = skim_get_rows_sel(ctx, wv, sel);
    skim_tensor *gi = skim_get_rows_sel(ctx, x, sel);
    skim_tensor *h = skim_rms_norm(ctx, gx, 1e-5f);
    skim_tensor *y = skim_add(ctx, skim_add(ctx, skim_mul(ctx, h, nw), gw), gi);
    skim_tensor *last = skim_scatter_add_sel(ctx, x, y, sel);
    skim_tensor *outs[5] = {last, gx, gw, gi, h}, *in[2] = {x, p};
    const void *vals[2] = {d->x, d->p};
    size_t bytes[2] = {sizeof(float) * K * (size_t)rows, sizeof(float) * (size_t)rows};
    return plan_run(be, ctx, outs, unfused ? 5 : 1, in, vals, bytes, 2, out, disp, nm);
}

/* One row: the three gathers record nothing (3 + the norm chain's 1 fewer dispatches than
 * unfused; 2 + 1 where the arena reuses ranges); three rows: only the norm chain fuses.
 * Rows on and off, with fresh values every trial so that a stale row cannot pass. */
static void check_gathers(skim_backend *be, trng *rng) {
    const char *arena = getenv("SKIM_VK_ARENA"), *ng = getenv("SKIM_TEST_VK_NO_GUARD");
    bool reuse = arena && strcmp(arena, "reuse") == 0 && ng; /* guard bytes: own ranges */
    static gdata d;
    double ref[K * GR_MAX];
    float fused[K * GR_MAX], plain[K * GR_MAX];
    for (int rows = 1; rows <= GR_MAX; rows += GR_MAX - 1) {
        for (int trial = 0; trial < 3; trial++) {
            fill_uniform(rng, d.x, K * GR_MAX, -1.0f, 1.0f);
            fill_uniform(rng, d.wv, K * GR_MAX, -1.0f, 1.0f);
            fill_uniform(rng, d.nw, K, 0.5f, 1.5f);
            for (int n = 0; n < rows; n++) { /* trial 0: all on; 1: none; 2: alternate */
                d.p[n] = trial == 0 || (trial == 2 && n % 2 == 1) ? 0.1f : 0.9f;
            }
            int64_t df = -1, du = -1;
            size_t n = K * (size_t)rows;
            if (!run_gather(be, rows, &d, false, fused, &df) ||
                !run_gather(be, rows, &d, true, plain, &du)) {
                continue;
            }
            gather_reference(&d, rows, ref);
            double ef = nmse_f32(fused, ref, n), eu = nmse_f32(plain, ref, n);
            /* Fewer dispatches than unfused, at most (hi) and at least (lo). Reused ranges:
             * the intermediate's gather stays, and whether the norm fuses depends on the
             * layout (its result may take its source's range). */
            int64_t hi = rows > 1 ? 1 : reuse ? 3 : 4, lo = reuse ? hi - 1 : hi;
            bool d_ok = du - df >= lo && du - df <= hi;
            printf("%-36s rows %d trial %d: nmse fused %.2e, unfused %.2e; dispatches %lld "
                   "fused, %lld not\n", "get_rows_sel of one row (elided)", rows, trial, ef,
                   eu, (long long)df, (long long)du);
            CHECK(ef < 1e-10, "gathers, %d rows, trial %d: fused nmse %.3e", rows, trial, ef);
            CHECK(eu < 1e-10, "gathers, %d rows, trial %d: unfused nmse %.3e", rows, trial, eu);
            CHECK(d_ok, "gathers, %d rows: %lld dispatches fused, %lld not (%lld to %lld fewer "
                  "expected)", rows, (long long)df, (long long)du, (long long)lo, (long long)hi);
        }
    }
}

/* A head gate and a token halt whose scores are sigmoid(W x + bias) of one column: the
 * producer computes them (vk_fuse.c), and the product, add and sigmoid record nothing.
 *   head gate: y = mul_mat_sel(wq, x, head_gate(sigmoid(wg x + bg), 0.5), M / H)
 *   token halt: out = scatter_add_sel(x, gather(x2), token_halt(sigmoid(wp x + bp), 0.5))
 * The biases put every pre-activation at +-0.2 (its sign the head's or token's choice,
 * from the product in doubles): far from the threshold whatever the order of sums, and
 * on the other side of it without the sigmoid. Unfused:
 * the scores an output too (one more dispatch). */
typedef struct pdata {
    float wg[K * H], bg[H], wq[K * M], x[K], x2[K], wp[K], bp[1];
} pdata;

static bool run_producer(skim_backend *be, bool halt, const pdata *d, bool unfused,
                         float *out, int64_t *disp) {
    const char *nm = halt ? "token_halt(sigmoid(mul_mat+bias))" : "head_gate(sigmoid(mul_mat+bias))";
    skim_context *ctx = NULL;
    skim_context_desc cd;
    memset(&cd, 0, sizeof cd);
    CHECK_OK(skim_context_create(&cd, &ctx), nm);
    if (!ctx) return false;
    int64_t nh = H, one = 1;
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, 1), *x2 = NULL, *sc, *last;
    if (halt) {
        x2 = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, 1);
        skim_tensor *wp = skim_new_weight_2d(ctx, SKIM_TYPE_F32, K, 1, d->wp);
        skim_tensor *bp = skim_new_weight(ctx, SKIM_TYPE_F32, 1, &one, d->bp);
        sc = skim_sigmoid(ctx, skim_add(ctx, skim_mul_mat(ctx, wp, x), bp));
        skim_tensor *sel = skim_token_halt(ctx, sc, 0.5f, NULL);
        last = skim_scatter_add_sel(ctx, x, skim_get_rows_sel(ctx, x2, sel), sel);
    } else {
        skim_tensor *wg = skim_new_weight_2d(ctx, SKIM_TYPE_F32, K, H, d->wg);
        skim_tensor *bg = skim_new_weight(ctx, SKIM_TYPE_F32, 1, &nh, d->bg);
        skim_tensor *wq = skim_new_weight_2d(ctx, SKIM_TYPE_F32, K, M, d->wq);
        sc = skim_sigmoid(ctx, skim_add(ctx, skim_mul_mat(ctx, wg, x), bg));
        last = skim_mul_mat_sel(ctx, wq, x, skim_head_gate(ctx, sc, 0.5f), M / H);
    }
    skim_tensor *outs[2] = {last, sc}, *in[2] = {x, x2};
    const void *vals[2] = {d->x, d->x2};
    size_t bytes[2] = {sizeof d->x, sizeof d->x2};
    return plan_run(be, ctx, outs, unfused ? 2 : 1, in, vals, bytes, x2 ? 2 : 1, out, disp, nm);
}

static double dot_d(const float *a, const float *b) {
    double s = 0.0;
    for (int k = 0; k < K; k++) s += (double)a[k] * b[k];
    return s;
}

static void check_producers(skim_backend *be, trng *rng) {
    static pdata d;
    double ref[K > M ? K : M]; /* the halt's output has K elements, the gate's M */
    float fused[K > M ? K : M], plain[K > M ? K : M];
    for (int halt = 0; halt < 2; halt++) {
        for (int trial = 0; trial < 4; trial++) {
            fill_uniform(rng, d.wg, K * H, -0.3f, 0.3f);
            fill_uniform(rng, d.wq, K * M, -0.3f, 0.3f);
            fill_uniform(rng, d.wp, K, -0.3f, 0.3f);
            fill_uniform(rng, d.x, K, -1.0f, 1.0f);
            fill_uniform(rng, d.x2, K, -1.0f, 1.0f);
            bool on[H]; /* heads: trial's bits; the token: on in even trials */
            for (int h = 0; h < H; h++) {
                on[h] = (trial * 5 + 3) >> h & 1;
                d.bg[h] = (float)((on[h] ? 0.2 : -0.2) - dot_d(d.wg + h * K, d.x));
            }
            bool run_tok = trial % 2 == 0;
            d.bp[0] = (float)((run_tok ? -0.2 : 0.2) - dot_d(d.wp, d.x));
            int n = halt ? K : M;
            for (int m = 0; m < n; m++) {
                ref[m] = halt ? (double)d.x[m] + (run_tok ? d.x2[m] : 0.0)
                              : on[m / (M / H)] ? dot_d(d.wq + m * K, d.x) : 0.0;
            }
            int64_t df = -1, du = -1;
            if (!run_producer(be, halt, &d, false, fused, &df) ||
                !run_producer(be, halt, &d, true, plain, &du)) {
                continue;
            }
            double ef = nmse_f32(fused, ref, (size_t)n), eu = nmse_f32(plain, ref, (size_t)n);
            const char *nm = halt ? "token_halt(sigmoid(mul_mat+bias))"
                                  : "head_gate(sigmoid(mul_mat+bias))";
            printf("%-36s trial %d: nmse fused %.2e, unfused %.2e; dispatches %lld fused, "
                   "%lld not\n", nm, trial, ef, eu, (long long)df, (long long)du);
            CHECK(ef < 1e-10, "%s trial %d: fused nmse %.3e", nm, trial, ef);
            CHECK(eu < 1e-10, "%s trial %d: unfused nmse %.3e", nm, trial, eu);
            CHECK(du - df == 1, "%s: %lld dispatches fused, %lld not (1 fewer expected)", nm,
                  (long long)df, (long long)du);
        }
    }
}

int main(void) {
    skim_backend *be = NULL;
    if (test_vulkan_create(&be) != SKIM_OK) {
        return 1;
    }
    trng rng;
    trng_seed(&rng, 11);
    static data d;
    double ref[M * N > K * N ? M * N : K * N];
    float fused[M * N > K * N ? M * N : K * N], plain[M * N > K * N ? M * N : K * N];
    for (int c = 0; c < CHAIN_COUNT; c++) {
        for (int trial = 0; trial < 2; trial++) {
            fill_uniform(&rng, d.w, K * M, -0.3f, 0.3f);
            fill_uniform(&rng, d.x, K * N, -1.0f, 1.0f);
            fill_uniform(&rng, d.bias, M, -1.0f, 1.0f);
            fill_uniform(&rng, d.res, M * N, -1.0f, 1.0f);
            fill_uniform(&rng, d.nw, K, 0.5f, 1.5f);
            /* trial 0: heads 0 and 2 on; trial 1: none on (every block zero, then epilogue) */
            for (int h = 0; h < H; h++) d.scores[h] = trial == 0 && h % 2 == 0 ? 0.9f : 0.1f;
            int64_t df = -1, du = -1;
            size_t n = (c == NORM_MUL || c == LNORM_MUL ? K : M) * (size_t)N;
            if (!run(be, (chain_kind)c, &d, false, fused, &df) ||
                !run(be, (chain_kind)c, &d, true, plain, &du)) {
                continue;
            }
            reference((chain_kind)c, &d, ref);
            double ef = nmse_f32(fused, ref, n), eu = nmse_f32(plain, ref, n);
            int len = c == NORM_MUL || c == LNORM_MUL || c == MM_GELU || c == MM_RESIDUAL ||
                      c == MM_RESIDUAL_FIRST || c == SEL_K_RESIDUAL ? 2 : 3;
            printf("%-36s trial %d: nmse fused %.2e, unfused %.2e; dispatches %lld fused, %lld not\n",
                   names[c], trial, ef, eu, (long long)df, (long long)du);
            CHECK(ef < 1e-10, "%s: fused nmse %.3e", names[c], ef);
            CHECK(eu < 1e-10, "%s: unfused nmse %.3e", names[c], eu);
            CHECK(du - df == len - 1, "%s: %lld dispatches fused, %lld not (a chain of %d)",
                  names[c], (long long)df, (long long)du, len);
        }
    }
    check_gathers(be, &rng);
    check_producers(be, &rng);
    skim_backend_destroy(be);
    printf("%s\n", t_failures ? "FAILED" : "ok");
    return t_failures != 0;
}
