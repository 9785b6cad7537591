/* custom_op - a custom activation in a gated MLP block, checked on both backends.
 *
 * The block (random seeded weights): the running tokens of x (token_halt on p_halt) are
 * gathered, normalised, projected up, passed through "relu2cap" - min(relu(u)^2, cap), an
 * activation skim does not have, written here once as GLSL and once as C - projected
 * down and added back to the running tokens' rows of the residual stream. The custom op
 * sits on a selection-bounded tensor, so it runs on the running tokens only (indirect
 * dispatch on Vulkan).
 *
 * The program runs the block on the CPU backend and on the Vulkan backend, compares the
 * outputs, and prints how long planning took with a cold shader cache (the GLSL compiled
 * by libshaderc) and with a warm one (the same graph planned again: a cache hit).
 * Exit status: 0 equal, 1 different or an error, 77 no Vulkan device (or a build
 * without libshaderc: the GLSL cannot be compiled there).
 *
 * Usage: custom_op [repeats of the warm planning, default 5] */
#define _POSIX_C_SOURCE 200809L
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"
#include "skim-custom.h"
#include "skim-vulkan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { N_TOK = 64, N_EMBD = 128, N_FF = 512 };

typedef struct relu2cap_params { float cap; } relu2cap_params;

static const char relu2cap_glsl[] =
    "#version 450\n"
    "#include \"skim_custom.glsl\"\n"
    "struct params { float cap; };\n"
    "SKIM_CUSTOM_PUSH(params)\n"
    "SKIM_CUSTOM_OUTPUT(float, Y)\n"
    "SKIM_CUSTOM_INPUT(0, float, U)\n"
    "layout(local_size_x = 128) in;\n"
    "void main() {\n"
    "    uint e = skim_custom_element();\n"
    "    if (e >= skim_custom_n_elements()) return;\n"
    "    float u = max(U[SKIM_CUSTOM_OFF(0) + e], 0.0);\n"
    "    Y[SKIM_CUSTOM_OFF_DST + e] = min(u * u, pc.p.cap);\n"
    "}\n";

static void relu2cap_cpu(const skim_custom_call *c) {
    const relu2cap_params *p = c->params;
    int64_t n0 = c->dst.ne[0];
    const float *u = (const float *)c->src[0].data;
    float *y = c->dst.data;
    for (int64_t i = c->row_begin * n0; i < c->row_end * n0; i++) {
        float v = u[i] > 0.0f ? u[i] : 0.0f;
        y[i] = fminf(v * v, p->cap);
    }
}

static uint64_t rng_state = 42;
static float frand(void) { /* splitmix64 -> [-1, 1) */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 4503599627370496.0 - 1.0);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

typedef struct block {
    skim_context *ctx;
    skim_graph *graph;
    skim_tensor *x, *p_halt, *out, *sel;
    float *w1, *w2, *xd, *pd;
} block;

static skim_tensor *weight(block *b, float **data, int64_t ne0, int64_t ne1, float amp) {
    *data = malloc((size_t)(ne0 * ne1) * sizeof(float));
    if (!*data) return NULL;
    for (int64_t i = 0; i < ne0 * ne1; i++) (*data)[i] = amp * frand();
    return skim_new_weight_2d(b->ctx, SKIM_TYPE_F32, ne0, ne1, *data);
}

static skim_status build(block *b, const char *glsl) {
    memset(b, 0, sizeof *b);
    skim_status s = skim_context_create(NULL, &b->ctx);
    if (s != SKIM_OK) return s;
    skim_context *ctx = b->ctx;
    b->x = skim_new_input_2d(ctx, SKIM_TYPE_F32, N_EMBD, N_TOK);
    b->p_halt = skim_new_input_1d(ctx, SKIM_TYPE_F32, N_TOK);
    skim_tensor *w1 = weight(b, &b->w1, N_EMBD, N_FF, 0.15f);
    skim_tensor *w2 = weight(b, &b->w2, N_FF, N_EMBD, 0.05f);
    b->sel = skim_token_halt(ctx, b->p_halt, 0.5f, NULL);
    skim_tensor *xs = skim_get_rows_sel(ctx, b->x, b->sel);
    skim_tensor *u = skim_mul_mat(ctx, w1, skim_rms_norm(ctx, xs, 1e-5f));
    relu2cap_params p = {4.0f};
    skim_custom_desc d;
    memset(&d, 0, sizeof d);
    d.name = "relu2cap";
    d.glsl = glsl;
    d.cpu = relu2cap_cpu;
    d.params_size = sizeof p;
    d.dispatch = SKIM_CUSTOM_PER_ELEMENT;
    skim_tensor *a = skim_custom(ctx, &d, &u, 1, &p);
    b->out = skim_scatter_add_sel(ctx, b->x, skim_mul_mat(ctx, w2, a), b->sel);
    s = skim_graph_build(ctx, &b->out, 1, &b->graph);
    if (s != SKIM_OK) {
        fprintf(stderr, "graph_build: %s: %s\n", skim_status_str(s), skim_context_error(ctx));
        return s;
    }
    b->xd = malloc(sizeof(float) * N_EMBD * N_TOK);
    b->pd = malloc(sizeof(float) * N_TOK);
    if (!b->xd || !b->pd) return SKIM_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < N_EMBD * N_TOK; i++) b->xd[i] = frand();
    for (int i = 0; i < N_TOK; i++) b->pd[i] = 0.5f + 0.5f * frand(); /* about half halt */
    return SKIM_OK;
}

static void block_free(block *b) {
    skim_context_destroy(b->ctx);
    free(b->w1);
    free(b->w2);
    free(b->xd);
    free(b->pd);
}

/* Plans (timed into *plan_ms), runs and reads the output. */
static skim_status run(skim_backend *be, block *b, float *out, double *plan_ms, int32_t *count) {
    skim_plan *p = NULL;
    double t0 = now_ms();
    skim_status s = skim_plan_create(be, b->graph, NULL, &p);
    if (plan_ms) *plan_ms = now_ms() - t0;
    if (s != SKIM_OK) {
        fprintf(stderr, "%s: plan_create: %s: %s\n", skim_backend_name(be), skim_status_str(s),
                skim_backend_error(be));
        return s;
    }
    s = skim_plan_set_input(p, b->x, b->xd, sizeof(float) * N_EMBD * N_TOK);
    if (s == SKIM_OK) s = skim_plan_set_input(p, b->p_halt, b->pd, sizeof(float) * N_TOK);
    if (s == SKIM_OK) s = skim_plan_run(p);
    if (s == SKIM_OK && out) s = skim_plan_get_output(p, b->out, out, sizeof(float) * N_EMBD * N_TOK);
    if (s == SKIM_OK && count) s = skim_plan_get_selection(p, b->sel, count, NULL);
    if (s != SKIM_OK) fprintf(stderr, "%s: %s: %s\n", skim_backend_name(be), skim_status_str(s),
                              skim_plan_error(p));
    skim_plan_destroy(p);
    return s;
}

static int compare(const float *a, const float *b, int n) {
    double num = 0, den = 0, worst = 0;
    for (int i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)a[i] * a[i];
        worst = fabs(d) > worst ? fabs(d) : worst;
    }
    double nmse = den > 0 ? num / den : num;
    printf("vulkan vs cpu: NMSE %.3g, largest difference %.3g\n", nmse, worst);
    return nmse <= 1e-10 ? 0 : 1;
}

/* Planning with the custom shader new to the backend (a variant of the source: one more
 * comment line, so libshaderc compiles it; the built-in pipelines are already made) and
 * with it cached (the same graph planned again). */
static void timings(skim_backend *vk, double first_ms, int repeats) {
    skim_custom_stats st0, st;
    double cold = 0, warm = 0, cold_best = 1e30, warm_best = 1e30, shc = 0, bld = 0;
    static char src[sizeof relu2cap_glsl + 64];
    skim_vulkan_custom_stats(vk, &st);
    printf("first plan of the process: %.2f ms (built-in pipelines included), of which "
           "libshaderc %.2f ms (its first compile), validation + reflection + pipeline %.2f ms\n",
           first_ms, st.compile_ms, st.build_ms);
    for (int i = 0; i < repeats; i++) {
        block v;
        snprintf(src, sizeof src, "%s// variant %d\n", relu2cap_glsl, i);
        if (build(&v, src) != SKIM_OK) return;
        double c = 0, w = 0;
        skim_vulkan_custom_stats(vk, &st0);
        skim_status s = run(vk, &v, NULL, &c, NULL);
        skim_vulkan_custom_stats(vk, &st);
        if (s == SKIM_OK) s = run(vk, &v, NULL, &w, NULL);
        block_free(&v);
        if (s != SKIM_OK) return;
        shc += st.compile_ms - st0.compile_ms;
        bld += st.build_ms - st0.build_ms;
        cold += c;
        warm += w;
        cold_best = c < cold_best ? c : cold_best;
        warm_best = w < warm_best ? w : warm_best;
    }
    skim_vulkan_custom_stats(vk, &st);
    printf("plan, shader new to the backend: mean %.2f ms (best %.2f), of which libshaderc "
           "%.2f ms, validation + reflection + pipeline %.2f ms\n", cold / repeats, cold_best,
           shc / repeats, bld / repeats);
    printf("plan, shader cached:             mean %.2f ms (best %.2f)\n", warm / repeats, warm_best);
    printf("cache: %lld compiles, %lld hits, %lld entries over %d variants\n",
           (long long)st.compiles, (long long)st.cache_hits, (long long)st.entries, repeats);
}

int main(int argc, char **argv) {
    int repeats = argc > 1 ? atoi(argv[1]) : 5;
    repeats = repeats < 1 ? 1 : repeats;
    block b;
    if (build(&b, relu2cap_glsl) != SKIM_OK) return 1;
    skim_backend *cpu = NULL, *vk = NULL;
    skim_cpu_desc cd = {0};
    if (skim_backend_create_cpu(&cd, &cpu) != SKIM_OK) return 1;
    static float out_cpu[N_EMBD * N_TOK], out_vk[N_EMBD * N_TOK];
    int32_t count = 0;
    int rc = run(cpu, &b, out_cpu, NULL, &count) == SKIM_OK ? 0 : 1;
    printf("cpu: %d of %d tokens ran the block\n", count, N_TOK);
    char msg[256];
    skim_status s = skim_backend_create_vulkan_msg(NULL, &vk, msg, sizeof msg);
    if (rc == 0 && s != SKIM_OK) {
        printf("no Vulkan backend here (%s: %s); checked on the CPU only\n", skim_status_str(s), msg);
        rc = 77;
    } else if (rc == 0 && !skim_vulkan_custom_has_glsl()) {
        printf("this build has no libshaderc (SKIM_SHADERC=OFF): GLSL custom ops need SPIR-V\n");
        rc = 77;
    } else if (rc == 0) {
        printf("vulkan: %s\n", skim_backend_device(vk));
        double cold = 0;
        rc = run(vk, &b, out_vk, &cold, NULL) == SKIM_OK ? compare(out_cpu, out_vk, N_EMBD * N_TOK) : 1;
        if (rc == 0) timings(vk, cold, repeats);
    }
    printf("%s\n", rc == 0 ? "custom_op: PASSED" : rc == 77 ? "custom_op: SKIPPED" : "custom_op: FAILED");
    skim_backend_destroy(vk);
    skim_backend_destroy(cpu);
    block_free(&b);
    return rc;
}
