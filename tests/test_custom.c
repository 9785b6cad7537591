/* test_custom.c - custom ops beyond the golden values (golden_custom in test_golden):
 * - Vulkan equal to the CPU function, element by element, read through guard bytes;
 * - the backend's shader cache: planning the same graph twice compiles once, a second
 *   context with the same shader compiles nothing;
 * - SPIR-V words (compiled by glslc when the tests were built) instead of GLSL;
 * - run stats: a custom op on a selection-bounded tensor counts `count` rows of work;
 * - bad input: GLSL that does not compile, SPIR-V that does not validate, bindings that
 *   do not match the inputs, no CPU function, a parameter block over the push-constant
 *   limit, GLSL without libshaderc: each the exact status and a message substring, with
 *   nothing printed and the backend still usable after. */
#define _POSIX_C_SOURCE 200809L
#include "test_backends.h"
#include "skim-cpu.h"
#include "skim-vulkan.h"
#include "test_common.h"
#include "test_custom_ops.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static skim_backend *g_cpu, *g_vk;
static trng g_rng;

/* ---------------------------------------------------------------- helpers */

typedef struct graph1 {
    skim_context *ctx;
    skim_tensor *in[2], *out;
    float *data[2];
    int64_t n;
} graph1;

/* ew over two [d, n] inputs, with the desc's shader (GLSL unless spirv is given). */
static bool make_ew(graph1 *g, int64_t d, int64_t n, const uint32_t *spirv, size_t words) {
    memset(g, 0, sizeof *g);
    g->n = d * n;
    if (skim_context_create(NULL, &g->ctx) != SKIM_OK) return false;
    for (int i = 0; i < 2; i++) {
        g->in[i] = skim_new_input_2d(g->ctx, SKIM_TYPE_F32, d, n);
        g->data[i] = malloc((size_t)g->n * sizeof(float));
        if (!g->data[i]) return false;
        fill_uniform(&g_rng, g->data[i], (size_t)g->n, -2, 2);
    }
    ew_params p = {1.25f, 0.5f};
    skim_custom_desc dc = tco_desc("ew", spirv ? NULL : ew_glsl, ew_cpu, sizeof p,
                                   SKIM_CUSTOM_PER_ELEMENT);
    dc.spirv = spirv;
    dc.spirv_words = words;
    g->out = skim_custom(g->ctx, &dc, g->in, 2, &p);
    return g->out != NULL;
}

static void free_graph1(graph1 *g) {
    skim_context_destroy(g->ctx);
    free(g->data[0]);
    free(g->data[1]);
}

/* Plans, runs and reads g's output on be into out (n floats). */
static skim_status run_read(skim_backend *be, graph1 *g, skim_graph *gr, float *out) {
    skim_plan *p = NULL;
    skim_status s = skim_plan_create(be, gr, NULL, &p);
    if (s != SKIM_OK) return s;
    for (int i = 0; i < 2; i++)
        CHECK_OK(skim_plan_set_input(p, g->in[i], g->data[i], (size_t)g->n * 4), skim_plan_error(p));
    CHECK_OK(skim_plan_run(p), skim_plan_error(p));
    if (!read_f32(p, g->out, out, skim_backend_name(be))) s = SKIM_ERR_STATE;
    skim_plan_destroy(p);
    return s;
}

static void vk_stats(skim_custom_stats *st) {
    memset(st, 0, sizeof *st);
    CHECK_OK(skim_vulkan_custom_stats(g_vk, st), "");
}

/* Holds Vulkan's output of g equal to the CPU function's (both read through guards). */
static void same_on_both(graph1 *g, const char *what) {
    skim_graph *gr = NULL;
    CHECK_OK(skim_graph_build(g->ctx, &g->out, 1, &gr), skim_context_error(g->ctx));
    float *a = malloc((size_t)g->n * 4), *b = malloc((size_t)g->n * 4);
    if (gr && a && b && run_read(g_cpu, g, gr, a) == SKIM_OK) {
        skim_status s = run_read(g_vk, g, gr, b);
        CHECK(s == SKIM_OK, "%s: vulkan -> %s: %s", what, skim_status_str(s), skim_backend_error(g_vk));
        double worst = 0;
        for (int64_t i = 0; s == SKIM_OK && i < g->n; i++) {
            double dlt = fabs((double)a[i] - (double)b[i]) / (1.0 + fabs((double)a[i]));
            worst = dlt > worst || isnan(dlt) ? (isnan(dlt) ? INFINITY : dlt) : worst;
        }
        CHECK(worst <= 1e-5, "%s: vulkan differs from the CPU function by %g", what, worst);
    }
    free(a);
    free(b);
}

/* ---------------------------------------------------------------- cache, SPIR-V */

/* Plans an ew graph twice, then another context's ew graph: one build (compile for
 * GLSL, validation for both), then cache hits only. */
static void test_cache(const uint32_t *spv, size_t words) {
    const char *kind = spv ? "SPIR-V" : "GLSL";
    skim_custom_stats s0, s1, s2, s3;
    vk_stats(&s0);
    graph1 g;
    CHECK(make_ew(&g, 33, 7, spv, words), "ew: %s", skim_context_error(g.ctx));
    same_on_both(&g, spv ? "ew from SPIR-V (first plan)" : "ew (first plan)");
    vk_stats(&s1);
    same_on_both(&g, "ew (second plan, same graph)");
    vk_stats(&s2);
    free_graph1(&g);
    CHECK(s1.compiles == s0.compiles + (spv ? 0 : 1), "%s first plan: %lld compiles", kind,
          (long long)(s1.compiles - s0.compiles));
    CHECK(s1.validations == s0.validations + 1, "%s first plan: %lld validations, want 1", kind,
          (long long)(s1.validations - s0.validations));
    CHECK(s1.entries == s0.entries + 1, "%s: the cache did not grow", kind);
    CHECK(spv || s1.last_compile_ms > 0, "no compile time recorded");
    CHECK(s2.compiles == s1.compiles && s2.validations == s1.validations,
          "%s second plan: %lld compiles, %lld validations, want 0", kind,
          (long long)(s2.compiles - s1.compiles), (long long)(s2.validations - s1.validations));
    CHECK(s2.cache_hits == s1.cache_hits + 1, "%s second plan: %lld cache hits, want 1", kind,
          (long long)(s2.cache_hits - s1.cache_hits));
    CHECK(s2.entries == s1.entries, "%s: the cache grew on a hit", kind);
    /* Another context, the same shader: still nothing built. */
    CHECK(make_ew(&g, 5, 3, spv, words), "ew: %s", skim_context_error(g.ctx));
    same_on_both(&g, "ew (another context)");
    vk_stats(&s3);
    CHECK(s3.compiles == s2.compiles && s3.validations == s2.validations &&
          s3.cache_hits == s2.cache_hits + 1, "%s another context: %lld compiles, %lld hits "
          "(want 0, 1)", kind, (long long)(s3.compiles - s2.compiles),
          (long long)(s3.cache_hits - s2.cache_hits));
    free_graph1(&g);
}

static void test_stats_api(void) {
    skim_custom_stats sc;
    CHECK(skim_vulkan_custom_stats(g_cpu, &sc) == SKIM_ERR_UNSUPPORTED, "stats of a CPU backend");
    CHECK(skim_vulkan_custom_stats(g_vk, NULL) == SKIM_ERR_INVALID_ARG, "stats into NULL");
}

static uint32_t *read_spv(size_t *words) {
    FILE *f = fopen(SKIM_TEST_CUSTOM_SPV, "rb");
    if (!f) {
        t_fail(__FILE__, __LINE__, "cannot open %s", SKIM_TEST_CUSTOM_SPV);
        return NULL;
    }
    uint32_t *w = malloc(65536);
    size_t n = w ? fread(w, 4, 16384, f) : 0;
    fclose(f);
    *words = n;
    return w;
}

static void test_spirv(void) {
    size_t n = 0;
    uint32_t *w = read_spv(&n);
    if (!w) return;
    test_cache(w, n);
    graph1 g;
    CHECK(make_ew(&g, 300, 5, w, n), "ew spirv: %s", skim_context_error(g.ctx));
    same_on_both(&g, "ew from SPIR-V");
    free_graph1(&g);
    free(w);
}

/* ---------------------------------------------------------------- stats on a selection */

/* flops_executed of a graph with and without tok on top of get_rows_sel: tok adds one
 * unit per element of the run extent (count rows) and d * n to the dense figure. */
static void test_stats(skim_backend *be) {
    const int64_t d = 16, n = 12;
    float ph[12], x[16 * 12];
    fill_uniform(&g_rng, ph, 12, 0, 1);
    fill_uniform(&g_rng, x, 16 * 12, -1, 1);
    int64_t cnt = 0;
    for (int i = 0; i < n; i++) cnt += ph[i] < 0.5f;
    double ex[2] = {0, 0}, de[2] = {0, 0};
    for (int with = 0; with < 2; with++) {
        skim_context *ctx = NULL;
        CHECK_OK(skim_context_create(NULL, &ctx), "");
        skim_tensor *tp = skim_new_input_1d(ctx, SKIM_TYPE_F32, n);
        skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, d, n);
        skim_tensor *xs = skim_get_rows_sel(ctx, tx, skim_token_halt(ctx, tp, 0.5f, NULL));
        tok_params p = {1.0f};
        skim_custom_desc dc = tco_desc("tok", tok_glsl, tok_cpu, sizeof p, SKIM_CUSTOM_PER_ELEMENT);
        skim_tensor *out = with ? skim_custom(ctx, &dc, &xs, 1, &p) : xs;
        skim_graph *g = NULL;
        skim_plan *pl = NULL;
        skim_run_stats st;
        CHECK_OK(skim_graph_build(ctx, &out, 1, &g), skim_context_error(ctx));
        CHECK_OK(skim_plan_create(be, g, NULL, &pl), skim_backend_error(be));
        if (pl) {
            CHECK_OK(skim_plan_set_input(pl, tp, ph, sizeof ph), skim_plan_error(pl));
            CHECK_OK(skim_plan_set_input(pl, tx, x, sizeof x), skim_plan_error(pl));
            CHECK_OK(skim_plan_run(pl), skim_plan_error(pl));
            CHECK_OK(skim_plan_get_stats(pl, &st), "");
            ex[with] = st.flops_executed;
            de[with] = st.flops_dense;
            skim_plan_destroy(pl);
        }
        skim_context_destroy(ctx);
    }
    CHECK(ex[1] - ex[0] == (double)(d * cnt), "[%s] tok executed %g units, want %lld",
          skim_backend_name(be), ex[1] - ex[0], (long long)(d * cnt));
    CHECK(de[1] - de[0] == (double)(d * n), "[%s] tok dense %g units, want %lld",
          skim_backend_name(be), de[1] - de[0], (long long)(d * n));
}

/* ---------------------------------------------------------------- indirect dispatch */

/* Each launched invocation writes the number of workgroups of its dispatch: with GPU
 * resolve that is the count's share (indirect), with host resolve the dense grid. */
static const char ngroups_glsl[] =
    "#version 450\n"
    "#include \"skim_custom.glsl\"\n"
    "SKIM_CUSTOM_PUSH_NONE\n"
    "SKIM_CUSTOM_OUTPUT(float, Y)\n"
    "SKIM_CUSTOM_INPUT(0, float, X)\n"
    "layout(local_size_x = 64) in;\n"
    "void main() {\n"
    "    uint e = ROW ? skim_custom_row() * pc.skim.ne[0] + gl_LocalInvocationID.x\n"
    "                 : skim_custom_element();\n"
    "    if ((ROW && gl_LocalInvocationID.x >= pc.skim.ne[0]) || e >= skim_custom_n_elements()) return;\n"
    "    Y[SKIM_CUSTOM_OFF_DST + e] = float(gl_NumWorkGroups.x) + 0.0 * X[SKIM_CUSTOM_OFF(0) + e];\n"
    "}\n";

static void ngroups_cpu(const skim_custom_call *c) {
    (void)c; /* not run: the test plans this op on Vulkan only */
}

static void test_indirect(void) {
    enum { D = 16, N = 256 };
    skim_vulkan_info info;
    CHECK(skim_vulkan_query_info(g_vk, &info), "vulkan info");
    static const int counts[] = {0, 1, 100, 256};
    for (int row = 0; row < 2; row++) {
        /* #define ROW right after the #version line */
        char body[sizeof ngroups_glsl + 32];
        snprintf(body, sizeof body, "#version 450\n#define ROW %s\n%s", row ? "true" : "false",
                 ngroups_glsl + strlen("#version 450\n"));
        for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++) {
            skim_context *ctx = NULL;
            CHECK_OK(skim_context_create(NULL, &ctx), "");
            skim_tensor *tp = skim_new_input_1d(ctx, SKIM_TYPE_F32, N);
            skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, D, N);
            skim_tensor *xs = skim_get_rows_sel(ctx, tx, skim_token_halt(ctx, tp, 0.5f, NULL));
            skim_custom_desc dc = tco_desc(row ? "ngroups_row" : "ngroups", body, ngroups_cpu, 0,
                                           row ? SKIM_CUSTOM_PER_ROW : SKIM_CUSTOM_PER_ELEMENT);
            skim_tensor *y = skim_custom(ctx, &dc, &xs, 1, NULL);
            skim_graph *g = NULL;
            skim_plan *p = NULL;
            static float ph[N], x[D * N], out[D * N];
            for (int t = 0; t < N; t++) ph[t] = t < counts[ci] ? 0.25f : 0.75f;
            memset(x, 0, sizeof x);
            CHECK_OK(skim_graph_build(ctx, &y, 1, &g), skim_context_error(ctx));
            CHECK_OK(skim_plan_create(g_vk, g, NULL, &p), skim_backend_error(g_vk));
            if (p) {
                CHECK_OK(skim_plan_set_input(p, tp, ph, sizeof ph), skim_plan_error(p));
                CHECK_OK(skim_plan_set_input(p, tx, x, sizeof x), skim_plan_error(p));
                CHECK_OK(skim_plan_run(p), skim_plan_error(p));
                if (read_f32(p, y, out, dc.name)) {
                    int64_t cnt = counts[ci], rows = info.gpu_resolve ? cnt : N;
                    double want = row ? (double)rows : (double)((rows * D + 63) / 64);
                    for (int64_t i = 0; i < cnt * D; i++)
                        if (out[i] != want) {
                            t_fail(__FILE__, __LINE__, "%s, count %lld (%s resolve): element %lld "
                                   "saw %g workgroups, want %g", dc.name, (long long)cnt,
                                   info.gpu_resolve ? "GPU" : "host", (long long)i, out[i], want);
                            break;
                        }
                }
                skim_plan_destroy(p);
            }
            skim_context_destroy(ctx);
        }
    }
}

/* ---------------------------------------------------------------- bad input */

static int g_saved[2] = {-1, -1};
static FILE *g_capture;

/* Sends stdout and stderr to a temporary file (the library must write nothing). */
static void capture_begin(void) {
    fflush(stdout);
    fflush(stderr);
    g_capture = tmpfile();
    if (!g_capture) return;
    for (int i = 0; i < 2; i++) {
        g_saved[i] = dup(1 + i);
        dup2(fileno(g_capture), 1 + i);
    }
}

static void capture_end(const char *what) {
    if (!g_capture) return;
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < 2; i++) {
        dup2(g_saved[i], 1 + i);
        close(g_saved[i]);
    }
    long size = (fseek(g_capture, 0, SEEK_END) == 0) ? ftell(g_capture) : -1;
    fclose(g_capture);
    g_capture = NULL;
    CHECK(size == 0, "%s: %ld bytes were printed", what, size);
}

/* A one-input op built from desc on a [d, n] input; its plan on be must fail with
 * `want` and a message containing `needle`. */
static void plan_fails(skim_backend *be, const skim_custom_desc *dc, const void *params, int n_src,
                       skim_status want, const char *needle) {
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), "");
    skim_tensor *src[2] = {skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 3),
                           skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 3)};
    skim_tensor *out = skim_custom(ctx, dc, src, n_src, params);
    skim_graph *g = NULL;
    CHECK_OK(skim_graph_build(ctx, &out, 1, &g), skim_context_error(ctx));
    skim_plan *p = NULL;
    capture_begin();
    skim_status s = g ? skim_plan_create(be, g, NULL, &p) : SKIM_ERR_STATE;
    capture_end(dc->name);
    CHECK(s == want, "%s: plan_create -> %s, want %s (%s)", dc->name, skim_status_str(s),
          skim_status_str(want), skim_backend_error(be));
    CHECK(p == NULL, "%s: a plan was returned on failure", dc->name);
    CHECK(strstr(skim_backend_error(be), needle) != NULL, "%s: message \"%s\" lacks \"%s\"",
          dc->name, skim_backend_error(be), needle);
    if (getenv("SKIM_TEST_VERBOSE")) printf("%s: %s: %s\n", dc->name, skim_status_str(s), skim_backend_error(be));
    if (p) skim_plan_destroy(p);
    skim_context_destroy(ctx);
}

/* Line 6 (counting from 1) calls a function that does not exist. */
static const char bad_glsl[] =
    "#version 450\n"
    "#include \"skim_custom.glsl\"\n"
    "SKIM_CUSTOM_PUSH_NONE\n"
    "SKIM_CUSTOM_OUTPUT(float, Y)\n"
    "layout(local_size_x = 64) in;\n"
    "void main() { Y[0] = no_such_function(1.0); }\n";

static void test_bad_shaders(void) {
    ew_params p = {1, 1};
    skim_custom_desc d = tco_desc("bad", bad_glsl, ew_cpu, 0, SKIM_CUSTOM_PER_ELEMENT);
    d.n_dims = 1; /* no inputs: the shape from the desc */
    d.ne[0] = 8;
    if (!skim_vulkan_custom_has_glsl()) {
        plan_fails(g_vk, &d, NULL, 0, SKIM_ERR_UNSUPPORTED, "built without libshaderc");
        return;
    }
    plan_fails(g_vk, &d, NULL, 0, SKIM_ERR_INVALID_ARG, "GLSL does not compile: bad.comp:6: error:");
    plan_fails(g_vk, &d, NULL, 0, SKIM_ERR_INVALID_ARG, "no_such_function");
    /* ew's shader binds two inputs; declared with one, then tok's (one) with two. */
    d = tco_desc("ew1", ew_glsl, ew_cpu, sizeof p, SKIM_CUSTOM_PER_ELEMENT);
    plan_fails(g_vk, &d, &p, 1, SKIM_ERR_INVALID_ARG,
               "the shader binds input 1 (binding 2) but the op declares 1 input");
    /* ew's shader reads 8 bytes of params (a, b); the op pushes 4. */
    d = tco_desc("ew4", ew_glsl, ew_cpu, 4, SKIM_CUSTOM_PER_ELEMENT);
    plan_fails(g_vk, &d, &p, 2, SKIM_ERR_INVALID_ARG, "the shader's push constants span 56 bytes "
               "but the op pushes 52 (the 48-byte head and params_size 4)");
    d = tco_desc("tok2", tok_glsl, tok_cpu, sizeof(tok_params), SKIM_CUSTOM_PER_ELEMENT);
    tok_params tp = {1};
    plan_fails(g_vk, &d, &tp, 2, SKIM_ERR_INVALID_ARG,
               "the op declares input 1 but the shader has no binding 2");
}

static void test_bad_spirv(void) {
    size_t n = 0;
    uint32_t *w = read_spv(&n);
    if (!w || n < 8) {
        free(w);
        return;
    }
    ew_params p = {1, 1};
    skim_custom_desc d = tco_desc("badspv", NULL, ew_cpu, sizeof p, SKIM_CUSTOM_PER_ELEMENT);
    d.spirv = w;
    d.spirv_words = n;
    w[3] = 1; /* the id bound: every id of the module is past it */
    plan_fails(g_vk, &d, &p, 2, SKIM_ERR_FORMAT, "custom op 'badspv': the SPIR-V does not validate: ");
    w[0] = 0x12345678u;
    plan_fails(g_vk, &d, &p, 2, SKIM_ERR_FORMAT, "no SPIR-V magic number");
    free(w);
}

/* Build-time errors, recorded on the context; nothing printed. */
static void build_fails(const skim_custom_desc *dc, const void *params, skim_status want,
                        const char *needle) {
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), "");
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 3);
    capture_begin();
    skim_tensor *out = skim_custom(ctx, dc, &x, 1, params);
    capture_end(dc->name);
    if (getenv("SKIM_TEST_VERBOSE")) printf("%s: %s\n", dc->name, skim_context_error(ctx));
    CHECK(out == NULL, "%s: a tensor was returned", dc->name);
    CHECK(skim_context_status(ctx) == want, "%s: status %s, want %s (%s)", dc->name,
          skim_status_str(skim_context_status(ctx)), skim_status_str(want), skim_context_error(ctx));
    CHECK(strstr(skim_context_error(ctx), needle) != NULL, "%s: message \"%s\" lacks \"%s\"",
          dc->name, skim_context_error(ctx), needle);
    skim_context_destroy(ctx);
}

static void test_bad_desc(void) {
    uint8_t big[SKIM_CUSTOM_MAX_PARAMS + 1];
    memset(big, 0, sizeof big);
    skim_custom_desc d = tco_desc("nocpu", tok_glsl, NULL, 0, SKIM_CUSTOM_PER_ELEMENT);
    build_fails(&d, NULL, SKIM_ERR_INVALID_ARG, "custom op 'nocpu': no CPU function");
    d = tco_desc("bigparams", tok_glsl, tok_cpu, sizeof big, SKIM_CUSTOM_PER_ELEMENT);
    build_fails(&d, big, SKIM_ERR_TOO_LARGE, "the parameter block is 81 bytes; push constants hold at most 80");
    d = tco_desc("maxparams", tok_glsl, tok_cpu, SKIM_CUSTOM_MAX_PARAMS, SKIM_CUSTOM_PER_ELEMENT);
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), "");
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 3);
    CHECK(skim_custom(ctx, &d, &x, 1, big) != NULL, "80 bytes of params refused: %s",
          skim_context_error(ctx));
    skim_context_destroy(ctx);
    d = tco_desc("noshader", NULL, tok_cpu, 0, SKIM_CUSTOM_PER_ELEMENT);
    build_fails(&d, NULL, SKIM_ERR_INVALID_ARG, "no shader");
    d = tco_desc("noparams", tok_glsl, tok_cpu, 4, SKIM_CUSTOM_PER_ELEMENT);
    build_fails(&d, NULL, SKIM_ERR_INVALID_ARG, "params is NULL but params_size is 4");
    rms_params rp = {9, 1}; /* x has ne[0] = 8: the shape callback says no */
    d = tco_desc("rmsbad", rms_glsl, rms_cpu, sizeof rp, SKIM_CUSTOM_PER_ROW);
    d.shape_fn = rms_shape;
    build_fails(&d, &rp, SKIM_ERR_SHAPE, "the shape callback rejected the inputs: rms takes");
    d = tco_desc("q8out", tok_glsl, tok_cpu, 0, SKIM_CUSTOM_PER_ELEMENT);
    d.type = SKIM_TYPE_Q8_0;
    build_fails(&d, NULL, SKIM_ERR_TYPE, "output type q8_0");
}

/* Bounds: the output's outermost dimension must be the capacity; inputs share one bound. */
static void test_bad_bound(void) {
    skim_context *ctx = NULL;
    CHECK_OK(skim_context_create(NULL, &ctx), "");
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 6);
    skim_tensor *p1 = skim_new_input_1d(ctx, SKIM_TYPE_F32, 6), *p2 = skim_new_input_1d(ctx, SKIM_TYPE_F32, 6);
    skim_tensor *src[2] = {skim_get_rows_sel(ctx, x, skim_token_halt(ctx, p1, 0.5f, NULL)),
                           skim_get_rows_sel(ctx, x, skim_token_halt(ctx, p2, 0.5f, NULL))};
    skim_tensor_set_name(src[0], "xs1");
    skim_custom_desc d = tco_desc("short", tok_glsl, tok_cpu, 0, SKIM_CUSTOM_PER_ELEMENT);
    d.n_dims = 2;
    d.ne[0] = 8;
    d.ne[1] = 5;
    capture_begin();
    skim_tensor *y = skim_custom(ctx, &d, src, 1, NULL);
    capture_end("short");
    CHECK(!y && skim_context_status(ctx) == SKIM_ERR_SELECTION &&
          strstr(skim_context_error(ctx), "outermost dimension is 5; it must be the capacity"),
          "short output: %s", skim_context_error(ctx));
    skim_context_clear_error(ctx);
    d = tco_desc("twobounds", ew_glsl, ew_cpu, sizeof(ew_params), SKIM_CUSTOM_PER_ELEMENT);
    ew_params ep = {1, 1};
    y = skim_custom(ctx, &d, src, 2, &ep);
    CHECK(!y && skim_context_status(ctx) == SKIM_ERR_SELECTION &&
          strstr(skim_context_error(ctx), "input 1 is bounded by"),
          "two bounds: %s", skim_context_error(ctx));
    skim_context_destroy(ctx);
}

int main(void) {
    trng_seed(&g_rng, 20261201);
    skim_cpu_desc cd = {0};
    cd.n_threads = 3; /* rows split over threads: the same result (checked against Vulkan) */
    if (skim_backend_create_cpu(&cd, &g_cpu) != SKIM_OK) {
        printf("FAIL: no CPU backend\n");
        return 1;
    }
    test_bad_desc();
    test_bad_bound();
    test_stats(g_cpu);
    skim_status s = test_vulkan_create(&g_vk);
    if (s != SKIM_OK) {
        printf("FAIL: vulkan backend: %s\n", skim_status_str(s));
        return 1;
    }
    test_backend_print(1, g_vk);
    test_stats_api();
    if (skim_vulkan_custom_has_glsl()) test_cache(NULL, 0);
    test_spirv();
    if (skim_vulkan_custom_has_glsl()) test_stats(g_vk);
    if (skim_vulkan_custom_has_glsl()) test_indirect();
    test_bad_shaders();
    test_bad_spirv();
    /* The backend still works after every failure. */
    graph1 g;
    CHECK(make_ew(&g, 64, 9, NULL, 0), "ew: %s", skim_context_error(g.ctx));
    if (skim_vulkan_custom_has_glsl()) same_on_both(&g, "ew after the failures");
    free_graph1(&g);
    skim_backend_destroy(g_vk);
    skim_backend_destroy(g_cpu);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures ? 1 : 0;
}
