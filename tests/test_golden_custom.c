/* test_golden_custom.c - golden_custom, the golden test of the CUSTOM row of ops.def
 * (linked into test_golden by tests/custom.cmake): the custom ops of test_custom_ops.h
 * (elementwise, a row reduction, a fixed grid, and ops on a selection-bounded tensor)
 * on every backend against a double-precision reference computed here, so that the CPU
 * function and the Vulkan shader are both held to it (outputs read through guard bytes
 * by the harness). */
#include "golden.h"
#include "test_custom_ops.h"

#ifdef SKIM_TEST_HAVE_VULKAN
#define HAVE_GLSL() skim_vulkan_custom_has_glsl()
#else
#define HAVE_GLSL() false
#endif

/* Backends that can run a GLSL custom op in this build: all, or the CPU only (with a
 * note) in a build without libshaderc. test_custom checks that case's status. */
static int glsl_backends(void) {
    static bool noted = false;
    if (G_nbe > 1 && !HAVE_GLSL()) {
        if (!noted) printf("note: built without libshaderc: GLSL custom ops on the CPU only\n");
        noted = true;
        return 1;
    }
    return G_nbe;
}

static int ew_cases(void) {
    static const struct { int nd; int64_t ne[3]; } cs[] = {
        {1, {1}}, {2, {7, 3}}, {2, {300, 5}}, {3, {64, 33, 7}}, {1, {100001}}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t ne[4];
        ne4(cs[ci].nd, cs[ci].ne, ne);
        int64_t n = prod4(ne);
        tc c;
        tc_begin(&c, "custom ew [%lld,%lld,%lld]", (long long)ne[0], (long long)ne[1],
                 (long long)ne[2]);
        float *x0, *x1;
        skim_tensor *src[2] = {tc_input_f32(&c, &G_rng, cs[ci].nd, cs[ci].ne, -3, 3, &x0),
                               tc_input_f32(&c, &G_rng, cs[ci].nd, cs[ci].ne, -1, 1, &x1)};
        ew_params p = {0.75f, -1.5f};
        skim_custom_desc d = tco_desc("ew", ew_glsl, ew_cpu, sizeof p, SKIM_CUSTOM_PER_ELEMENT);
        skim_tensor *out = skim_custom(c.ctx, &d, src, 2, &p);
        double *ref = dalloc(n);
        for (int64_t i = 0; i < n; i++) ref[i] = 0.75 * tanh((double)x0[i]) - 1.5 * (double)x1[i];
        tc_expect_f32(&c, out, ref, n, TOL(CUSTOM));
        f += tc_run(&c, G_be, glsl_backends());
        free(ref);
    }
    return f;
}

static int rms_cases(void) {
    static const struct { int nd; int64_t ne[3]; } cs[] = {
        {2, {1, 1}}, {2, {7, 5}}, {2, {300, 4}}, {3, {1000, 3, 2}}, {2, {64, 70000}}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t ne[4];
        ne4(cs[ci].nd, cs[ci].ne, ne);
        int64_t rows = ne[1] * ne[2] * ne[3], n0 = ne[0];
        tc c;
        tc_begin(&c, "custom rms [%lld,%lld,%lld]", (long long)ne[0], (long long)ne[1],
                 (long long)ne[2]);
        float *x;
        skim_tensor *src = tc_input_f32(&c, &G_rng, cs[ci].nd, cs[ci].ne, -2, 2, &x);
        rms_params p = {(uint32_t)n0, 2.0f};
        skim_custom_desc d = tco_desc("rms", rms_glsl, rms_cpu, sizeof p, SKIM_CUSTOM_PER_ROW);
        d.shape_fn = rms_shape;
        skim_tensor *out = skim_custom(c.ctx, &d, &src, 1, &p);
        CHECK(!out || (skim_tensor_ne(out, 0) == 1 && skim_tensor_ne(out, 1) == ne[1]),
              "%s: the shape callback's shape was not used", c.label);
        double *ref = dalloc(rows);
        for (int64_t r = 0; r < rows; r++) {
            double s = 0;
            for (int64_t i = 0; i < n0; i++) s += (double)x[r * n0 + i] * x[r * n0 + i];
            ref[r] = 2.0 * s / (double)n0;
        }
        tc_expect_f32(&c, out, ref, rows, TOL(CUSTOM));
        f += tc_run(&c, G_be, glsl_backends());
        free(ref);
    }
    return f;
}

/* colsum: a GRID op (the grid from the shape), output [ne0] from [ne0, rows]. */
static int grid_cases(void) {
    static const int64_t cs[][2] = {{1, 1}, {7, 3}, {64, 50}, {1000, 9}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t n0 = cs[ci][0], rows = cs[ci][1];
        tc c;
        tc_begin(&c, "custom colsum (grid) [%lld,%lld]", (long long)n0, (long long)rows);
        float *x;
        skim_tensor *src = tc_input_f32(&c, &G_rng, 2, NE(n0, rows), -1, 1, &x);
        colsum_params p = {(uint32_t)rows};
        skim_custom_desc d = tco_desc("colsum", colsum_glsl, colsum_cpu, sizeof p, SKIM_CUSTOM_GRID);
        d.n_dims = 1;
        d.ne[0] = n0;
        d.grid[0] = (uint32_t)((n0 + 63) / 64);
        skim_tensor *out = skim_custom(c.ctx, &d, &src, 1, &p);
        double *ref = dalloc(n0);
        for (int64_t i = 0; i < n0; i++)
            for (int64_t r = 0; r < rows; r++) ref[i] += x[r * n0 + i];
        tc_expect_f32(&c, out, ref, n0, TOL(CUSTOM));
        f += tc_run(&c, G_be, glsl_backends());
        free(ref);
    }
    return f;
}

/* tok and rms on rows gathered by a token_halt selection: count rows only (the rows
 * past the count hold whatever the backend left there: not compared). */
static int sel_cases(void) {
    static const struct { int64_t d, n; float tau; } cs[] = {
        {7, 9, 0.5f}, {64, 300, 0.6f}, {33, 5, 2.0f}, {7, 9, -1.0f}, {1, 1, 2.0f}, {300, 17, 0.3f}};
    int f = 0;
    for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
        int64_t dd = cs[ci].d, n = cs[ci].n;
        tc c;
        tc_begin(&c, "custom on a selection x[%lld,%lld] tau %g", (long long)dd, (long long)n,
                 cs[ci].tau);
        float *ph, *x;
        skim_tensor *tp = tc_input_f32(&c, &G_rng, 1, NE(n), 0, 1, &ph);
        skim_tensor *tx = tc_input_f32(&c, &G_rng, 2, NE(dd, n), -1, 1, &x);
        int32_t cnt = 0, *idx = calloc((size_t)n, sizeof(int32_t));
        for (int64_t t = 0; t < n; t++)
            if (ph[t] < cs[ci].tau) idx[cnt++] = (int32_t)t;
        skim_tensor *sel = skim_token_halt(c.ctx, tp, cs[ci].tau, NULL);
        skim_tensor *xs = skim_get_rows_sel(c.ctx, tx, sel);
        tok_params tp_ = {0.5f};
        skim_custom_desc dt = tco_desc("tok", tok_glsl, tok_cpu, sizeof tp_, SKIM_CUSTOM_PER_ELEMENT);
        skim_tensor *y = skim_custom(c.ctx, &dt, &xs, 1, &tp_);
        rms_params rp = {(uint32_t)dd, 1.0f};
        skim_custom_desc dr = tco_desc("rms", rms_glsl, rms_cpu, sizeof rp, SKIM_CUSTOM_PER_ROW);
        dr.shape_fn = rms_shape;
        skim_tensor *z = skim_custom(c.ctx, &dr, &xs, 1, &rp);
        CHECK(!y || skim_tensor_bound(y) == sel, "%s: tok's result is not bounded", c.label);
        CHECK(!z || skim_tensor_bound(z) == sel, "%s: rms's result is not bounded", c.label);
        double *ry = dalloc(dd * n), *rz = dalloc(n);
        for (int32_t r = 0; r < cnt; r++) {
            double s = 0;
            for (int64_t i = 0; i < dd; i++) {
                double v = x[idx[r] * dd + i];
                ry[r * dd + i] = 0.5 * v + (double)idx[r];
                s += v * v;
            }
            rz[r] = s / (double)dd;
        }
        tc_expect_f32(&c, y, ry, dd * cnt, TOL(CUSTOM));
        tc_expect_f32(&c, z, rz, cnt, TOL(CUSTOM));
        tc_expect_sel(&c, sel, &cnt, idx, -1);
        f += tc_run(&c, G_be, glsl_backends());
        free(idx); free(ry); free(rz);
    }
    return f;
}

int golden_custom(void) {
    return ew_cases() + rms_cases() + grid_cases() + sel_cases();
}
