/* test_golden.c - one golden test per op of graph/ops.def: every op, through the public
 * API, for several shape classes and types, against a double-precision reference written
 * here, on every backend in skip mode, with the op's tolerance from the table. The table
 * below comes from ops.def, so an op without golden_<name> fails to link. The selection
 * ops' goldens are in test_golden_sel.c. */
#include "golden.h"
#include "test_backends.h"

const double op_tol[SKIM_OP_COUNT] = {
#define SKIM_OP(E, n, s, sh, fl, t) [SKIM_OP_##E] = t,
#include "ops.def"
#undef SKIM_OP
};

static const struct {
    const char *name;
    int (*fn)(void);
} goldens[] = {
#define SKIM_OP(E, n, s, sh, fl, t) {#n, golden_##n},
#include "ops.def"
#undef SKIM_OP
};

skim_backend *G_be[4];
int G_nbe;
trng G_rng;

/* ================================================================ get_rows */

int golden_get_rows(void) {
    static const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 9}, {300, 3, 4}, {64, 600, 300}};
    static const int64_t qshapes[][3] = {{32, 1, 1}, {96, 5, 9}, {320, 3, 4}, {64, 600, 300}};
    int f = 0;
    for (int ti = 0; ti < 4; ti++) {
        skim_type ty = all_w_types[ti];
        bool q = ty == SKIM_TYPE_Q8_0 || ty == SKIM_TYPE_Q4_0;
        for (int si = 0; si < 4; si++) {
            const int64_t *s = q ? qshapes[si] : shapes[si];
            int64_t ne0 = s[0], nr = s[1], n = s[2];
            tc c;
            tc_begin(&c, "get_rows %s w[%lld,%lld] idx[%lld]", skim_type_name(ty),
                     (long long)ne0, (long long)nr, (long long)n);
            float *src = falloc(ne0 * nr);
            fill_uniform(&G_rng, src, (size_t)(ne0 * nr), -2, 2);
            double *wref = NULL;
            skim_tensor *w = tc_weight(&c, ty, 2, NE(ne0, nr), src, &wref);
            int32_t *idx = malloc((size_t)n * sizeof(int32_t));
            for (int64_t i = 0; i < n; i++) idx[i] = trng_int(&G_rng, 0, (int)nr - 1);
            if (n > 1) idx[n - 1] = idx[0]; /* a repeated row */
            skim_tensor *it = tc_input(&c, SKIM_TYPE_I32, 1, NE(n), idx);
            skim_tensor *out = skim_get_rows(c.ctx, w, it);
            double *ref = dalloc(ne0 * n);
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = 0; j < ne0; j++) ref[i * ne0 + j] = wref[idx[i] * ne0 + j];
            tc_expect_f32(&c, out, ref, ne0 * n, TOL(GET_ROWS));
            f += RUN(&c);
            free(src);
            free(idx);
            free(ref);
        }
    }
    return f;
}

/* ================================================================ add, mul */

typedef struct bshape {
    int na;
    int64_t a[4];
    int nb;
    int64_t b[4];
} bshape;

static const bshape bin_shapes[] = {
    {1, {1}, 1, {1}},
    {2, {7, 3}, 2, {7, 3}},
    {3, {7, 3, 2}, 3, {7, 1, 1}},
    {3, {7, 3, 2}, 3, {1, 3, 2}},
    {2, {300, 5}, 2, {300, 5}},
    {2, {5, 300}, 2, {1, 300}},
    {4, {9, 2, 3, 2}, 4, {9, 1, 3, 1}},
    {2, {4096, 16}, 2, {4096, 1}},
};

static void ref_binary(bool mul, const float *a, const int64_t na[4], const float *b,
                       const int64_t nb[4], double *out) {
    for (int64_t i3 = 0; i3 < na[3]; i3++)
        for (int64_t i2 = 0; i2 < na[2]; i2++)
            for (int64_t i1 = 0; i1 < na[1]; i1++)
                for (int64_t i0 = 0; i0 < na[0]; i0++) {
                    int64_t ia = ((i3 * na[2] + i2) * na[1] + i1) * na[0] + i0;
                    int64_t ib = (((i3 % nb[3]) * nb[2] + i2 % nb[2]) * nb[1] + i1 % nb[1]) * nb[0] +
                                 i0 % nb[0];
                    out[ia] = mul ? (double)a[ia] * b[ib] : (double)a[ia] + b[ib];
                }
}

static int golden_binary(bool mul) {
    const char *nm = mul ? "mul" : "add";
    double tol = mul ? TOL(MUL) : TOL(ADD);
    int f = 0;
    for (size_t si = 0; si < sizeof bin_shapes / sizeof bin_shapes[0]; si++) {
        const bshape *s = &bin_shapes[si];
        int64_t na[4], nb[4];
        ne4(s->na, s->a, na);
        ne4(s->nb, s->b, nb);
        tc c;
        tc_begin(&c, "%s a[%lld,%lld,%lld,%lld] b[%lld,%lld,%lld,%lld]", nm, (long long)na[0],
                 (long long)na[1], (long long)na[2], (long long)na[3], (long long)nb[0],
                 (long long)nb[1], (long long)nb[2], (long long)nb[3]);
        float *a, *b;
        skim_tensor *ta = tc_input_f32(&c, &G_rng, s->na, s->a, -3, 3, &a);
        skim_tensor *tb = tc_input_f32(&c, &G_rng, s->nb, s->b, -3, 3, &b);
        skim_tensor *out = mul ? skim_mul(c.ctx, ta, tb) : skim_add(c.ctx, ta, tb);
        double *ref = dalloc(prod4(na));
        ref_binary(mul, a, na, b, nb, ref);
        tc_expect_f32(&c, out, ref, prod4(na), tol);
        f += RUN(&c);
        free(ref);
    }
    /* Views as inputs: a is a row-strided window of a wider input, b a column window. */
    {
        tc c;
        tc_begin(&c, "%s view a[7,3] of [11,4] + view b[7,1]", nm);
        c.soft_view = true;
        float *a, *b;
        skim_tensor *ta = tc_input_f32(&c, &G_rng, 2, NE(11, 4), -3, 3, &a);
        skim_tensor *tb = tc_input_f32(&c, &G_rng, 2, NE(8, 2), -3, 3, &b);
        skim_tensor *va = view2(c.ctx, ta, 7, 3, 11, 13);
        skim_tensor *vb = view2(c.ctx, tb, 7, 1, 8, 9);
        skim_tensor *out = mul ? skim_mul(c.ctx, va, vb) : skim_add(c.ctx, va, vb);
        float wa[21], wb[7];
        window(a, 13, 11, 7, 3, wa);
        window(b, 9, 8, 7, 1, wb);
        double ref[21];
        ref_binary(mul, wa, NE(7, 3, 1, 1), wb, NE(7, 1, 1, 1), ref);
        tc_expect_f32(&c, out, ref, 21, tol);
        f += RUN(&c);
    }
    return f;
}

int golden_add(void) { return golden_binary(false); }
int golden_mul(void) { return golden_binary(true); }

/* ================================================================ unary ops */

typedef enum { U_SCALE, U_SILU, U_GELU, U_SIGMOID, U_RMS, U_LN } unary_kind;

static const int64_t unary_shapes[][2] = {{1, 1}, {7, 3}, {300, 5}, {5000, 2}, {64, 300}};

static double gelu_d(double x) {
    return 0.5 * x * (1.0 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}

static void ref_unary(unary_kind k, const float *x, int64_t ne0, int64_t rows, double *out) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * ne0;
        double *o = out + r * ne0;
        double sum = 0, sum2 = 0;
        for (int64_t i = 0; i < ne0; i++) {
            sum += xr[i];
            sum2 += (double)xr[i] * xr[i];
        }
        double mean = sum / ne0, var = 0;
        for (int64_t i = 0; i < ne0; i++) var += (xr[i] - mean) * (xr[i] - mean);
        var /= ne0;
        for (int64_t i = 0; i < ne0; i++) {
            double v = xr[i];
            switch (k) {
            case U_SCALE: o[i] = v * 0.37; break;
            case U_SILU: o[i] = v / (1.0 + exp(-v)); break;
            case U_GELU: o[i] = gelu_d(v); break;
            case U_SIGMOID: o[i] = 1.0 / (1.0 + exp(-v)); break;
            case U_RMS: o[i] = v / sqrt(sum2 / ne0 + 1e-5); break;
            case U_LN: o[i] = (v - mean) / sqrt(var + 1e-5); break;
            }
        }
    }
}

static skim_tensor *build_unary(skim_context *ctx, unary_kind k, skim_tensor *x) {
    switch (k) {
    case U_SCALE: return skim_scale(ctx, x, 0.37f);
    case U_SILU: return skim_silu(ctx, x);
    case U_GELU: return skim_gelu(ctx, x);
    case U_SIGMOID: return skim_sigmoid(ctx, x);
    case U_RMS: return skim_rms_norm(ctx, x, 1e-5f);
    case U_LN: return skim_layer_norm(ctx, x, 1e-5f);
    }
    return NULL;
}

static int golden_unary(unary_kind k, const char *nm, double tol) {
    int f = 0;
    for (size_t si = 0; si < sizeof unary_shapes / sizeof unary_shapes[0]; si++) {
        int64_t ne0 = unary_shapes[si][0], ne1 = unary_shapes[si][1];
        tc c;
        tc_begin(&c, "%s x[%lld,%lld]", nm, (long long)ne0, (long long)ne1);
        float *x;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(ne0, ne1), -6, 6, &x);
        skim_tensor *out = build_unary(c.ctx, k, tx);
        double *ref = dalloc(ne0 * ne1);
        ref_unary(k, x, ne0, ne1, ref);
        tc_expect_f32(&c, out, ref, ne0 * ne1, tol);
        f += RUN(&c);
        free(ref);
    }
    {   /* 3-D input */
        tc c;
        tc_begin(&c, "%s x[9,4,3]", nm);
        float *x;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 3, NE(9, 4, 3), -6, 6, &x);
        double ref[108];
        ref_unary(k, x, 9, 12, ref);
        tc_expect_f32(&c, build_unary(c.ctx, k, tx), ref, 108, tol);
        f += RUN(&c);
    }
    {   /* a row-strided view as input */
        tc c;
        tc_begin(&c, "%s view x[9,5] of [13,6]", nm);
        c.soft_view = true;
        float *x, w[45];
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(13, 6), -6, 6, &x);
        skim_tensor *v = view2(c.ctx, tx, 9, 5, 13, 15);
        window(x, 15, 13, 9, 5, w);
        double ref[45];
        ref_unary(k, w, 9, 5, ref);
        tc_expect_f32(&c, build_unary(c.ctx, k, v), ref, 45, tol);
        f += RUN(&c);
    }
    {   /* every input in the negative tail (gelu: 1 + tanh(z) cancels there; found by the
         * differential fuzzer, both backends 1e-4 to 1e-3 off relative) */
        tc c;
        tc_begin(&c, "%s tail x[64,4] in [-6, -3]", nm);
        float *x;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(64, 4), -6, -3, &x);
        double ref[256];
        ref_unary(k, x, 64, 4, ref);
        tc_expect_f32(&c, build_unary(c.ctx, k, tx), ref, 256, tol);
        f += RUN(&c);
    }
    return f;
}

int golden_scale(void) { return golden_unary(U_SCALE, "scale", TOL(SCALE)); }
int golden_silu(void) { return golden_unary(U_SILU, "silu", TOL(SILU)); }
int golden_gelu(void) { return golden_unary(U_GELU, "gelu", TOL(GELU)); }
int golden_sigmoid(void) { return golden_unary(U_SIGMOID, "sigmoid", TOL(SIGMOID)); }
int golden_rms_norm(void) { return golden_unary(U_RMS, "rms_norm", TOL(RMS_NORM)); }
int golden_layer_norm(void) { return golden_unary(U_LN, "layer_norm", TOL(LAYER_NORM)); }

int golden_swiglu(void) {
    int f = 0;
    for (size_t si = 0; si < sizeof unary_shapes / sizeof unary_shapes[0]; si++) {
        int64_t ne0 = unary_shapes[si][0], ne1 = unary_shapes[si][1], n = ne0 * ne1;
        tc c;
        tc_begin(&c, "swiglu [%lld,%lld]", (long long)ne0, (long long)ne1);
        float *a, *b;
        skim_tensor *ta = tc_input_f32(&c, &G_rng, 2, NE(ne0, ne1), -6, 6, &a);
        skim_tensor *tb = tc_input_f32(&c, &G_rng, 2, NE(ne0, ne1), -3, 3, &b);
        double *ref = dalloc(n);
        for (int64_t i = 0; i < n; i++) ref[i] = (double)a[i] / (1.0 + exp(-(double)a[i])) * b[i];
        tc_expect_f32(&c, skim_swiglu(c.ctx, ta, tb), ref, n, TOL(SWIGLU));
        f += RUN(&c);
        free(ref);
    }
    return f;
}

/* ================================================================ mul_mat */

/* y[m, n, b2, b3] = sum_k w[k, m, b2 / (B2 / W2), b3 / (B3 / W3)] x[k, n, b2, b3] */
static void ref_mul_mat(const double *w, const int64_t nw[4], const float *x, const int64_t nx[4],
                        double *y) {
    int64_t K = nx[0], M = nw[1], N = nx[1];
    for (int64_t b3 = 0; b3 < nx[3]; b3++)
        for (int64_t b2 = 0; b2 < nx[2]; b2++) {
            const double *wb = w + ((b3 / (nx[3] / nw[3])) * nw[2] + b2 / (nx[2] / nw[2])) * K * M;
            const float *xb = x + (b3 * nx[2] + b2) * K * N;
            double *yb = y + (b3 * nx[2] + b2) * M * N;
            for (int64_t n = 0; n < N; n++)
                for (int64_t m = 0; m < M; m++) {
                    double s = 0;
                    for (int64_t k = 0; k < K; k++) s += wb[m * K + k] * xb[n * K + k];
                    yb[n * M + m] = s;
                }
        }
}

typedef struct mm_shape {
    int64_t K, M, N, W2, B2, B3;
} mm_shape;

int golden_mul_mat(void) {
    static const mm_shape fshapes[] = {{1, 1, 1, 1, 1, 1},     {7, 5, 3, 1, 1, 1},
                                       {64, 300, 3, 1, 1, 1},  {300, 17, 5, 1, 1, 1},
                                       {33, 7, 5, 1, 2, 3},    {32, 7, 5, 2, 2, 1},
                                       {64, 8, 300, 1, 1, 1},  {1024, 256, 8, 1, 1, 1},
                                       /* N >= 32 (the Vulkan TILE variant): ragged rows past
                                        * one 256-row tile and ragged columns; batched with a
                                        * broadcast; K not a multiple of 4 (no VEC4) */
                                       {36, 261, 45, 1, 1, 1}, {20, 19, 33, 2, 2, 1},
                                       {37, 19, 40, 1, 1, 1}};
    static const mm_shape qshapes[] = {{32, 1, 1, 1, 1, 1},    {96, 5, 3, 1, 1, 1},
                                       {64, 300, 3, 1, 1, 1},  {320, 17, 5, 1, 1, 1},
                                       {64, 7, 5, 1, 2, 3},    {32, 7, 5, 2, 2, 1},
                                       {64, 8, 300, 1, 1, 1},  {1024, 256, 8, 1, 1, 1},
                                       {96, 261, 45, 1, 1, 1}, {32, 19, 33, 2, 2, 1},
                                       {64, 270, 64, 1, 1, 1}};
    int f = 0;
    for (int ti = 0; ti < 4; ti++) {
        skim_type ty = all_w_types[ti];
        bool q = ty == SKIM_TYPE_Q8_0 || ty == SKIM_TYPE_Q4_0;
        _Static_assert(sizeof fshapes == sizeof qshapes, "one quantized shape per float one");
        for (size_t si = 0; si < sizeof fshapes / sizeof fshapes[0]; si++) {
            mm_shape s = q ? qshapes[si] : fshapes[si];
            int64_t nw[4] = {s.K, s.M, s.W2, 1}, nx[4] = {s.K, s.N, s.B2, s.B3};
            tc c;
            tc_begin(&c, "mul_mat %s w[%lld,%lld,%lld] x[%lld,%lld,%lld,%lld]", skim_type_name(ty),
                     (long long)s.K, (long long)s.M, (long long)s.W2, (long long)s.K,
                     (long long)s.N, (long long)s.B2, (long long)s.B3);
            float *wsrc = falloc(prod4(nw));
            fill_uniform(&G_rng, wsrc, (size_t)prod4(nw), -1, 1);
            double *wref = NULL;
            skim_tensor *w = tc_weight(&c, ty, s.W2 > 1 ? 3 : 2, nw, wsrc, &wref);
            float *x;
            skim_tensor *tx = tc_input_f32(&c, &G_rng, s.B3 > 1 ? 4 : s.B2 > 1 ? 3 : 2, nx, -1, 1, &x);
            int64_t ny = s.M * s.N * s.B2 * s.B3;
            double *ref = dalloc(ny);
            ref_mul_mat(wref, nw, x, nx, ref);
            tc_expect_f32(&c, skim_mul_mat(c.ctx, w, tx), ref, ny, TOL(MUL_MAT));
            f += RUN(&c);
            free(wsrc);
            free(ref);
        }
        {   /* x a row-strided view (every other row of a wider input) */
            int64_t K = 64, M = 9, N = 4;
            tc c;
            tc_begin(&c, "mul_mat %s w[64,9] x view[64,4] of [64,8]", skim_type_name(ty));
            c.soft_view = true;
            float wsrc[64 * 9], *x, xw[64 * 4];
            fill_uniform(&G_rng, wsrc, 64 * 9, -1, 1);
            double *wref = NULL;
            skim_tensor *w = tc_weight(&c, ty, 2, NE(K, M), wsrc, &wref);
            skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(K, 8), -1, 1, &x);
            skim_tensor *v = view2(c.ctx, tx, K, N, 2 * K, K);
            window(x, K, 2 * K, K, N, xw);
            double ref[9 * 4];
            ref_mul_mat(wref, NE(K, M, 1, 1), xw, NE(K, N, 1, 1), ref);
            tc_expect_f32(&c, skim_mul_mat(c.ctx, w, v), ref, M * N, TOL(MUL_MAT));
            f += RUN(&c);
        }
    }
    return f;
}

/* ================================================================ rope */

static void ref_rope(const float *x, const int32_t *pos, int64_t hd, int64_t nh, int64_t nt,
                     int mode, int n_dims, double base, double *out) {
    for (int64_t t = 0; t < nt; t++)
        for (int64_t h = 0; h < nh; h++) {
            const float *xr = x + (t * nh + h) * hd;
            double *o = out + (t * nh + h) * hd;
            for (int64_t i = 0; i < hd; i++) o[i] = xr[i];
            for (int i = 0; i < n_dims / 2; i++) {
                double th = pos[t] * pow(base, -2.0 * i / n_dims);
                int64_t i0 = mode == SKIM_ROPE_NORM ? 2 * i : i;
                int64_t i1 = mode == SKIM_ROPE_NORM ? 2 * i + 1 : i + n_dims / 2;
                double a = xr[i0], b = xr[i1];
                o[i0] = a * cos(th) - b * sin(th);
                o[i1] = a * sin(th) + b * cos(th);
            }
        }
}

int golden_rope(void) {
    static const int64_t shapes[][4] = {{2, 1, 1, 2}, {8, 3, 5, 8}, {64, 4, 7, 32}, {128, 2, 300, 128},
                                        {6, 2, 3, 4}};
    int f = 0;
    for (int mode = 0; mode < 2; mode++)
        for (int si = 0; si < 5; si++) {
            int64_t hd = shapes[si][0], nh = shapes[si][1], nt = shapes[si][2];
            int nd = (int)shapes[si][3];
            float base = si == 3 ? 500000.0f : 10000.0f;
            tc c;
            tc_begin(&c, "rope %s x[%lld,%lld,%lld] n_dims %d", mode ? "neox" : "norm",
                     (long long)hd, (long long)nh, (long long)nt, nd);
            float *x;
            skim_tensor *tx = tc_input_f32(&c, &G_rng, 3, NE(hd, nh, nt), -2, 2, &x);
            int32_t *pos = malloc((size_t)nt * sizeof(int32_t));
            for (int64_t t = 0; t < nt; t++) pos[t] = si == 3 ? (int32_t)t : trng_int(&G_rng, 0, 4095);
            skim_tensor *tp = tc_input(&c, SKIM_TYPE_I32, 1, NE(nt), pos);
            double *ref = dalloc(hd * nh * nt);
            ref_rope(x, pos, hd, nh, nt, mode, nd, base, ref);
            tc_expect_f32(&c, skim_rope(c.ctx, tx, tp, (skim_rope_mode)mode, nd, base), ref,
                          hd * nh * nt, TOL(ROPE));
            f += RUN(&c);
            free(pos);
            free(ref);
        }
    return f;
}

/* ================================================================ soft_max */

int golden_soft_max(void) {
    /* ne0, ne1, ne2, mask rows (0: no mask), scale */
    static const struct { int64_t ne0, ne1, ne2, mrows; float scale; } cs[] = {
        {1, 1, 1, 0, 1.0f},  {7, 3, 1, 0, 1.0f},   {7, 3, 2, 3, 0.5f},  {300, 4, 1, 1, 1.0f},
        {4096, 3, 1, 3, 0.125f}, {5, 300, 1, 300, 2.0f}, {1, 4, 1, 4, 1.0f}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t ne0 = cs[ci].ne0, ne1 = cs[ci].ne1, ne2 = cs[ci].ne2, mr = cs[ci].mrows;
        int64_t rows = ne1 * ne2;
        tc c;
        tc_begin(&c, "soft_max x[%lld,%lld,%lld] mask rows %lld scale %g", (long long)ne0,
                 (long long)ne1, (long long)ne2, (long long)mr, cs[ci].scale);
        float *x, *m = NULL;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 3, NE(ne0, ne1, ne2), -5, 5, &x);
        skim_tensor *tm = NULL;
        if (mr) {
            tm = tc_input_f32(&c, &G_rng, 2, NE(ne0, mr), -1, 1, &m);
            /* Some -inf entries, never a whole row. */
            for (int64_t r = 0; r < mr; r++)
                for (int64_t i = 1; i < ne0; i += 3) m[r * ne0 + i] = -INFINITY;
        }
        double *ref = dalloc(ne0 * rows);
        for (int64_t r = 0; r < rows; r++) {
            double mx = -INFINITY, sum = 0;
            double *o = ref + r * ne0;
            for (int64_t i = 0; i < ne0; i++) {
                o[i] = (double)x[r * ne0 + i] * cs[ci].scale + (m ? m[(r % ne1 % mr) * ne0 + i] : 0.0);
                if (o[i] > mx) mx = o[i];
            }
            for (int64_t i = 0; i < ne0; i++) sum += (o[i] = exp(o[i] - mx));
            for (int64_t i = 0; i < ne0; i++) o[i] /= sum;
        }
        tc_expect_f32(&c, skim_soft_max(c.ctx, tx, tm, cs[ci].scale), ref, ne0 * rows, TOL(SOFT_MAX));
        f += RUN(&c);
        free(ref);
    }
    return f;
}

/* ================================================================ cont */

int golden_cont(void) {
    int f = 0;
    {   /* transpose of [7,5] and of [300,3] */
        static const int64_t sh[][2] = {{7, 5}, {300, 3}, {1, 1}};
        for (int si = 0; si < 3; si++) {
            int64_t a0 = sh[si][0], a1 = sh[si][1];
            tc c;
            tc_begin(&c, "cont transpose [%lld,%lld]", (long long)a0, (long long)a1);
            float *x;
            skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(a0, a1), -1, 1, &x);
            double *ref = dalloc(a0 * a1);
            for (int64_t i = 0; i < a0; i++)
                for (int64_t j = 0; j < a1; j++) ref[i * a1 + j] = x[j * a0 + i];
            tc_expect_f32(&c, skim_cont(c.ctx, skim_transpose(c.ctx, tx)), ref, a0 * a1, TOL(CONT));
            f += RUN(&c);
            free(ref);
        }
    }
    {   /* permute of [3,4,5] with axes (2,0,1): result ne = [4,5,3] */
        tc c;
        tc_begin(&c, "cont permute [3,4,5] (2,0,1)");
        float *x;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 3, NE(3, 4, 5), -1, 1, &x);
        double ref[60];
        /* result index (j0,j1,j2) = a index (i0 = j2, i1 = j0, i2 = j1) */
        for (int j2 = 0; j2 < 3; j2++)
            for (int j1 = 0; j1 < 5; j1++)
                for (int j0 = 0; j0 < 4; j0++) ref[(j2 * 5 + j1) * 4 + j0] = x[(j1 * 4 + j0) * 3 + j2];
        tc_expect_f32(&c, skim_cont(c.ctx, skim_permute(c.ctx, tx, 2, 0, 1, 3)), ref, 60, TOL(CONT));
        f += RUN(&c);
    }
    {   /* a row-strided window, and an F16 transpose */
        tc c;
        tc_begin(&c, "cont view [9,5] of [13,6]");
        float *x, w[45];
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(13, 6), -1, 1, &x);
        window(x, 14, 13, 9, 5, w);
        double ref[45];
        for (int i = 0; i < 45; i++) ref[i] = w[i];
        tc_expect_f32(&c, skim_cont(c.ctx, view2(c.ctx, tx, 9, 5, 13, 14)), ref, 45, TOL(CONT));
        f += RUN(&c);
    }
    {
        tc c;
        tc_begin(&c, "cont F16 transpose [33,4]");
        float x[132];
        uint16_t h[132];
        fill_uniform(&G_rng, x, 132, -1, 1);
        skim_quantize(SKIM_TYPE_F16, x, h, 4, 33);
        skim_tensor *tx = tc_input(&c, SKIM_TYPE_F16, 2, NE(33, 4), h);
        double ref[132];
        for (int i = 0; i < 33; i++)
            for (int j = 0; j < 4; j++) ref[i * 4 + j] = skim_fp16_to_fp32(h[j * 33 + i]);
        tc_expect_f32(&c, skim_cont(c.ctx, skim_transpose(c.ctx, tx)), ref, 132, TOL(CONT));
        f += RUN(&c);
    }
    return f;
}

/* ================================================================ cpy */

static double as_type(skim_type t, float v) {
    return t == SKIM_TYPE_F16 ? skim_fp16_to_fp32(skim_fp32_to_fp16(v)) : v;
}

int golden_cpy(void) {
    int f = 0;
    static const int64_t sh[][2] = {{1, 1}, {7, 3}, {300, 2}, {64, 300}};
    for (int ti = 0; ti < 2; ti++)
        for (int si = 0; si < 4; si++) {
            skim_type ty = ti ? SKIM_TYPE_F16 : SKIM_TYPE_F32;
            int64_t n0 = sh[si][0], n1 = sh[si][1], n = n0 * n1;
            tc c;
            tc_begin(&c, "cpy F32 [%lld,%lld] -> %s state", (long long)n0, (long long)n1,
                     skim_type_name(ty));
            float *x;
            skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(n0, n1), -100, 100, &x);
            skim_tensor *st = skim_new_state(c.ctx, ty, 2, NE(n0, n1), 1.5f);
            skim_tensor *out = skim_cpy(c.ctx, tx, st);
            double *ref = dalloc(n);
            for (int64_t i = 0; i < n; i++) ref[i] = as_type(ty, x[i]);
            tc_expect_f32(&c, out, ref, n, TOL(CPY));
            tc_expect_f32(&c, st, ref, n, TOL(CPY))->output = false;
            f += RUN(&c);
            free(ref);
        }
    for (int ti = 0; ti < 2; ti++) {
        /* into rows 2..3 of a [5,6] state: the other rows keep the fill value */
        skim_type ty = ti ? SKIM_TYPE_F16 : SKIM_TYPE_F32;
        size_t es = ti ? 2 : 4;
        tc c;
        tc_begin(&c, "cpy F32 [5,2] -> view of %s state [5,6]", skim_type_name(ty));
        float *x;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(5, 2), -1, 1, &x);
        skim_tensor *st = skim_new_state(c.ctx, ty, 2, NE(5, 6), 1.5f);
        size_t nb[4] = {es, 5 * es, 0, 0};
        skim_tensor *v = skim_view(c.ctx, st, 2, NE(5, 2), nb, 10 * es);
        skim_tensor *out = skim_cpy(c.ctx, tx, v);
        double ref[30], rv[10];
        for (int i = 0; i < 30; i++) ref[i] = 1.5;
        for (int i = 0; i < 10; i++) ref[10 + i] = rv[i] = as_type(ty, x[i]);
        tc_expect_f32(&c, out, rv, 10, TOL(CPY));
        tc_expect_f32(&c, st, ref, 30, TOL(CPY))->output = false;
        f += RUN(&c);
    }
    {   /* from a transposed view */
        tc c;
        tc_begin(&c, "cpy transpose view [3,7] -> F32 state");
        float *x;
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(7, 3), -1, 1, &x);
        skim_tensor *st = skim_new_state(c.ctx, SKIM_TYPE_F32, 2, NE(3, 7), 0.0f);
        double ref[21];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 7; j++) ref[j * 3 + i] = x[i * 7 + j];
        tc_expect_f32(&c, skim_cpy(c.ctx, skim_transpose(c.ctx, tx), st), ref, 21, TOL(CPY));
        f += RUN(&c);
    }
    return f;
}

/* ================================================================ argmax */

int golden_argmax(void) {
    static const int64_t sh[][2] = {{1, 1}, {7, 3}, {300, 5}, {5000, 2}, {3, 300}};
    int f = 0;
    for (int si = 0; si < 5; si++) {
        int64_t ne0 = sh[si][0], ne1 = sh[si][1];
        tc c;
        tc_begin(&c, "argmax [%lld,%lld]", (long long)ne0, (long long)ne1);
        float *x = falloc(ne0 * ne1);
        for (int64_t i = 0; i < ne0 * ne1; i++) x[i] = (float)trng_int(&G_rng, -20, 20); /* ties */
        if (ne1 >= 3 && ne0 >= 3) {
            x[2 * ne0 + 1] = NAN; /* row 2: NaN counts as largest */
            x[2 * ne0 + 2] = NAN;
        }
        if (ne0 >= 7) x[ne0 + ne0 - 1] = 1000.0f; /* row 1: the last element */
        skim_tensor *tx = tc_input(&c, SKIM_TYPE_F32, 2, NE(ne0, ne1), x);
        int32_t *ref = calloc((size_t)ne1, sizeof(int32_t));
        for (int64_t r = 0; r < ne1; r++) {
            int32_t best = 0;
            for (int64_t i = 0; i < ne0; i++) {
                float v = x[r * ne0 + i], b = x[r * ne0 + best];
                if (isnan(b)) break;
                if (isnan(v) || v > b) best = (int32_t)i;
            }
            ref[r] = best;
        }
        tc_expect_i32(&c, skim_argmax(c.ctx, tx), ref, ne1);
        f += RUN(&c);
        free(x);
        free(ref);
    }
    return f;
}

/* ================================================================ set_rows */

int golden_set_rows(void) {
    int f = 0;
    static const struct { int64_t ne0, slots, n; int oob; } cs[] = {
        {1, 1, 1, 0}, {7, 6, 3, 0}, {64, 300, 17, 0}, {300, 8, 5, 0}, {7, 6, 4, 1}};
    for (int ti = 0; ti < 2; ti++)
        for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
            skim_type ty = ti ? SKIM_TYPE_F16 : SKIM_TYPE_F32;
            int64_t ne0 = cs[ci].ne0, ns = cs[ci].slots, n = cs[ci].n;
            tc c;
            tc_begin(&c, "set_rows %s dst[%lld,%lld] src[%lld,%lld]%s", skim_type_name(ty),
                     (long long)ne0, (long long)ns, (long long)ne0, (long long)n,
                     cs[ci].oob ? " with indices out of range" : "");
            float *src;
            skim_tensor *ts = tc_input_f32(&c, &G_rng, 2, NE(ne0, n), -4, 4, &src);
            int32_t *idx = malloc((size_t)n * sizeof(int32_t));
            int32_t *perm = malloc((size_t)ns * sizeof(int32_t));
            for (int64_t i = 0; i < ns; i++) perm[i] = (int32_t)i;
            for (int64_t i = ns - 1; i > 0; i--) {
                int j = trng_int(&G_rng, 0, (int)i);
                int32_t tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
            }
            for (int64_t i = 0; i < n; i++) idx[i] = perm[i];
            if (cs[ci].oob) {
                idx[1] = (int32_t)ns; /* one past the end */
                idx[2] = -1;
                c.expect_run = SKIM_ERR_RANGE;
            }
            skim_tensor *ti_ = tc_input(&c, SKIM_TYPE_I32, 1, NE(n), idx);
            skim_tensor *st = skim_new_state(c.ctx, ty, 2, NE(ne0, ns), -0.5f);
            skim_tensor *out = skim_set_rows(c.ctx, st, ts, ti_);
            double *ref = dalloc(ne0 * ns);
            for (int64_t i = 0; i < ne0 * ns; i++) ref[i] = -0.5;
            for (int64_t i = 0; i < n; i++)
                if (idx[i] >= 0 && idx[i] < ns)
                    for (int64_t j = 0; j < ne0; j++) ref[idx[i] * ne0 + j] = as_type(ty, src[i * ne0 + j]);
            tc_expect_f32(&c, out, ref, ne0 * ns, TOL(SET_ROWS));
            tc_expect_f32(&c, st, ref, ne0 * ns, TOL(SET_ROWS))->output = false;
            f += RUN(&c);
            free(idx);
            free(perm);
            free(ref);
        }
    {   /* two writes chained on one state */
        tc c;
        tc_begin(&c, "set_rows chained twice on one F32 state [4,5]");
        float *a, *b;
        skim_tensor *ta = tc_input_f32(&c, &G_rng, 2, NE(4, 2), -1, 1, &a);
        skim_tensor *tb = tc_input_f32(&c, &G_rng, 2, NE(4, 1), -1, 1, &b);
        int32_t ia[2] = {3, 1}, ib[1] = {3};
        skim_tensor *tia = tc_input(&c, SKIM_TYPE_I32, 1, NE(2), ia);
        skim_tensor *tib = tc_input(&c, SKIM_TYPE_I32, 1, NE(1), ib);
        skim_tensor *st = skim_new_state(c.ctx, SKIM_TYPE_F32, 2, NE(4, 5), 0.0f);
        skim_tensor *w1 = skim_set_rows(c.ctx, st, ta, tia);
        skim_tensor *w2 = skim_set_rows(c.ctx, w1, tb, tib);
        double ref[20] = {0};
        for (int j = 0; j < 4; j++) {
            ref[4 + j] = a[4 + j];
            ref[12 + j] = b[j];
        }
        tc_expect_f32(&c, w2, ref, 20, TOL(SET_ROWS));
        f += RUN(&c);
    }
    return f;
}

/* ================================================================ main */

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    trng_seed(&G_rng, 20261122);
    int unavailable = 0;
    G_nbe = test_backend_open(G_be, &unavailable);
    if (G_nbe == 0) return 1;
    int n_ops = (int)(sizeof goldens / sizeof goldens[0]);
    CHECK(n_ops == SKIM_OP_COUNT - 1, "golden table has %d rows, the op table %d", n_ops,
          SKIM_OP_COUNT - 1);
    int ran = 0;
    for (int i = 0; i < n_ops; i++) {
        if (only && strcmp(only, goldens[i].name) != 0) continue;
        ran++;
        double t0 = t_now();
        int f = goldens[i].fn();
        printf("%-16s %s (tol %.0e, %.2f s)\n", goldens[i].name, f ? "FAILED" : "ok",
               op_tol[i + 1], t_now() - t0);
        fflush(stdout);
    }
    CHECK(ran > 0, "no op is named %s", only ? only : "(none)");
    for (int i = 0; i < G_nbe; i++) skim_backend_destroy(G_be[i]);
    printf("%d (case, backend) runs on %d backend(s)\n", tc_n_runs, G_nbe);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures ? 1 : unavailable ? TEST_SKIP : 0;
}
