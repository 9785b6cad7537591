/* bench_vulkan - the Vulkan backend's speed figures, next to the CPU backend's:
 *  1. a gated stack (4 blocks, d_model 512, 8 heads, 256 tokens; head-gates and
 *     token-halts) at active fractions a = 0.25, 0.5, 0.75, 1.0 of heads and tokens: the
 *     median run time and its ratio to a = 1.0 (the dense run); with --per-token the
 *     head gates score each (head, token) pair, as in prefill;
 *  2. mul_mat F32, F16, Q8_0, Q4_0, Q4_K, Q6_K GFLOP/s at 4096x4096 times 1, 32, 256
 *     columns; soft_max and rms_norm GB/s;
 *  3. recordings and submits of the runs after the first;
 *  4. decode (decode.c): one token per run through a wide gated stack with a KV cache,
 *     F16 and Q8_0 weights, time per token at each fraction, dispatches and barriers.
 * The target for 1: Vulkan time at a <= (a + 0.05) x the time at a = 1; each
 * Vulkan line says whether it is met.
 *  5. selection producers (sel.c) at n = 4096 and 65536 candidates, microseconds per run.
 * Usage: see usage_text below (--help prints it). */
#define _POSIX_C_SOURCE 200809L
#include "skim-cpu.h"
#include "skim-vulkan.h"
#include "bench_vulkan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint32_t rng = 1u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *rand_buf(size_t n, float scale) {
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++) p[i] = frand() * scale;
    return p;
}

/* Median seconds of `reps` runs after a warm-up; -1 on error. */
static double time_runs(skim_plan *p, int reps, skim_run_stats *st) {
    if (skim_plan_run(p) != SKIM_OK) {
        fprintf(stderr, "run: %s\n", skim_plan_error(p));
        return -1;
    }
    double t[32];
    reps = reps > 32 ? 32 : reps;
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        if (skim_plan_run(p) != SKIM_OK) return -1;
        t[i] = bench_now() - t0;
    }
    if (st) skim_plan_get_stats(p, st);
    qsort(t, (size_t)reps, sizeof t[0], cmp_d);
    return t[reps / 2];
}

/* ---------------------------------------------------------------- the gated stack */

enum { L = 4, D = 512, H = 8, HD = 64, T = 256, FF = 1024 };

typedef struct stack {
    skim_context *ctx;
    skim_graph *g;
    skim_tensor *x, *pos, *gate[L], *halt[L], *out;
    float *wbuf[L][6];
    bool gated, per_token; /* per_token: head gates score each (head, token) pair */
} stack;

static skim_tensor *weight(stack *s, int l, int k, int64_t n0, int64_t n1) {
    s->wbuf[l][k] = rand_buf((size_t)(n0 * n1), 1.0f / sqrtf((float)n0));
    return skim_new_weight_2d(s->ctx, SKIM_TYPE_F32, n0, n1, s->wbuf[l][k]);
}

static skim_tensor *block(stack *s, int l, skim_tensor *x) {
    skim_context *c = s->ctx;
    s->halt[l] = skim_new_input_1d(c, SKIM_TYPE_F32, T);
    s->gate[l] = s->per_token ? skim_new_input_2d(c, SKIM_TYPE_F32, H, T)
                              : skim_new_input_1d(c, SKIM_TYPE_F32, H);
    skim_tensor *tok = skim_token_halt(c, s->halt[l], 0.5f, NULL);
    /* Per token: the running tokens' scores, so that head h's list holds q's compact rows
     * (prefill's per-token head selection, as the gated model makes it). */
    skim_tensor *gs = s->per_token ? skim_get_rows_sel(c, s->gate[l], tok) : s->gate[l];
    skim_tensor *heads = skim_head_gate(c, gs, 0.5f);
    skim_tensor *h = skim_get_rows_sel(c, skim_rms_norm(c, x, 1e-5f), tok);
    skim_tensor *pos = skim_get_rows_sel(c, s->pos, tok);
    skim_tensor *q = skim_mul_mat_sel(c, weight(s, l, 0, D, D), h, heads, HD);
    skim_tensor *k = skim_mul_mat(c, weight(s, l, 1, D, D), h);
    skim_tensor *v = skim_mul_mat(c, weight(s, l, 2, D, D), h);
    skim_attn_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.q = skim_reshape_3d(c, q, HD, H, T);
    ad.k = skim_reshape_3d(c, k, HD, H, T);
    ad.v = skim_reshape_3d(c, v, HD, H, T);
    ad.q_pos = pos;
    ad.k_pos = pos;
    ad.heads = heads;
    skim_tensor *a = skim_reshape_2d(c, skim_attn(c, &ad), D, T);
    skim_tensor *o = skim_mul_mat_sel_k(c, weight(s, l, 3, D, D), a, heads, HD);
    skim_tensor *f = skim_mul_mat(c, weight(s, l, 5, FF, D),
                                  skim_silu(c, skim_mul_mat(c, weight(s, l, 4, D, FF), o)));
    return skim_scatter_add_sel(c, x, skim_add(c, o, f), tok);
}

/* The same block without gates: the plain dense graph the gated one is also compared to. */
static skim_tensor *block_dense(stack *s, int l, skim_tensor *x) {
    skim_context *c = s->ctx;
    skim_tensor *h = skim_rms_norm(c, x, 1e-5f);
    skim_attn_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.q = skim_reshape_3d(c, skim_mul_mat(c, weight(s, l, 0, D, D), h), HD, H, T);
    ad.k = skim_reshape_3d(c, skim_mul_mat(c, weight(s, l, 1, D, D), h), HD, H, T);
    ad.v = skim_reshape_3d(c, skim_mul_mat(c, weight(s, l, 2, D, D), h), HD, H, T);
    ad.q_pos = s->pos;
    ad.k_pos = s->pos;
    skim_tensor *a = skim_reshape_2d(c, skim_attn(c, &ad), D, T);
    skim_tensor *o = skim_mul_mat(c, weight(s, l, 3, D, D), a);
    skim_tensor *f = skim_mul_mat(c, weight(s, l, 5, FF, D),
                                  skim_silu(c, skim_mul_mat(c, weight(s, l, 4, D, FF), o)));
    return skim_add(c, x, skim_add(c, o, f));
}

static int stack_build(stack *s, bool gated, bool per_token) {
    memset(s, 0, sizeof *s);
    s->gated = gated;
    s->per_token = per_token;
    if (skim_context_create(NULL, &s->ctx) != SKIM_OK) return 1;
    s->x = skim_new_input_2d(s->ctx, SKIM_TYPE_F32, D, T);
    s->pos = skim_new_input_1d(s->ctx, SKIM_TYPE_I32, T);
    skim_tensor *x = s->x;
    for (int l = 0; l < L; l++) x = gated ? block(s, l, x) : block_dense(s, l, x);
    s->out = x;
    skim_status st = skim_graph_build(s->ctx, &s->out, 1, &s->g);
    if (st != SKIM_OK) fprintf(stderr, "stack: %s\n", skim_context_error(s->ctx));
    return st != SKIM_OK;
}

/* Inputs for active fraction a: the first a*H heads and every token i with
 * (i * 7919) % T < a*T pass (spread over the sequence); per token, head h passes for
 * token i when (h + i) % H < a*H (a*H heads of every token, a different set each). */
static void stack_inputs(stack *s, skim_plan *p, double a) {
    static float x[D * T], halt[T], gate[H * T];
    static int32_t pos[T];
    for (int i = 0; i < D * T; i++) x[i] = (float)sin(i * 0.01);
    for (int i = 0; i < T; i++) {
        pos[i] = i;
        halt[i] = (i * 7919) % T < (int)(a * T + 0.5) ? 0.0f : 1.0f;
    }
    int nt = s->per_token ? T : 1;
    for (int i = 0; i < nt; i++)
        for (int h = 0; h < H; h++)
            gate[i * H + h] = (s->per_token ? (h + i) % H : h) < (int)(a * H + 0.5) ? 1.0f : 0.0f;
    skim_plan_set_input(p, s->x, x, sizeof x);
    skim_plan_set_input(p, s->pos, pos, sizeof pos);
    for (int l = 0; l < L && s->gated; l++) {
        skim_plan_set_input(p, s->halt[l], halt, sizeof halt);
        skim_plan_set_input(p, s->gate[l], gate, sizeof gate[0] * (size_t)(nt * H));
    }
}

static void stack_free(stack *s, skim_plan *p) {
    skim_plan_destroy(p);
    skim_context_destroy(s->ctx);
    for (int l = 0; l < L; l++)
        for (int k = 0; k < 6; k++) free(s->wbuf[l][k]);
}

double bench_timed_run(skim_plan *p) {
    double t0 = bench_now();
    if (skim_plan_run(p) != SKIM_OK) {
        fprintf(stderr, "run: %s\n", skim_plan_error(p));
        return -1;
    }
    return bench_now() - t0;
}

double bench_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof t[0], cmp_d);
    return t[n / 2];
}

/* The gated stack at the four fractions and the ungated graph of the same blocks, in
 * rounds (ungated, a=1, .75, .5, .25, ungated, ...) so that a machine shared with other
 * work slows them alike; medians of the rounds. "of dense" is the time over the gated
 * stack's time at a = 1 (the reference); "of ungated" over the ungated graph's. */
static void bench_stack(skim_backend *be, const char *label, int reps, bool per_token) {
    stack s, u;
    if (stack_build(&s, true, per_token) || stack_build(&u, false, false)) return;
    skim_plan *p = NULL, *pu = NULL;
    if (skim_plan_create(be, s.g, NULL, &p) != SKIM_OK ||
        skim_plan_create(be, u.g, NULL, &pu) != SKIM_OK) {
        fprintf(stderr, "plan: %s\n", skim_backend_error(be));
        return;
    }
    static const double fr[4] = {1.0, 0.75, 0.5, 0.25};
    double t[4][32], tu[32];
    skim_run_stats st[4];
    reps = reps > 32 ? 32 : reps;
    stack_inputs(&u, pu, 1.0);
    for (int rep = -1; rep < reps; rep++) { /* round -1 warms up */
        double x = bench_timed_run(pu);
        if (x < 0) return;
        if (rep >= 0) tu[rep] = x;
        for (int i = 0; i < 4; i++) {
            stack_inputs(&s, p, fr[i]);
            x = bench_timed_run(p);
            if (x < 0) return;
            if (rep >= 0) t[i][rep] = x;
            skim_plan_get_stats(p, &st[i]);
        }
    }
    double med[4], mu = bench_median(tu, reps);
    for (int i = 0; i < 4; i++) med[i] = bench_median(t[i], reps);
    bool gpu = strcmp(skim_backend_name(be), "vulkan") == 0;
    printf("  %-12s ungated   %9.2f ms  (the same blocks without gates or selections)\n", label,
           mu * 1e3);
    for (int i = 0; i < 4; i++) {
        char verdict[48] = "";
        if (gpu) {
            snprintf(verdict, sizeof verdict, " (target <= %.2f: %s)", fr[i] + 0.05,
                     med[i] / med[0] <= fr[i] + 0.05 ? "met" : "MISSED");
        }
        printf("  %-12s a=%.2f    %9.2f ms  %.3f of dense%s  %.3f of ungated  (head-ops "
               "%lld/%lld, token-layer ops %lld/%lld, GFLOP %.2f/%.2f; this run: %lld "
               "recordings, %lld vkQueueSubmit, %lld workgroups)\n",
               label, fr[i], med[i] * 1e3, med[i] / med[0], verdict, med[i] / mu,
               (long long)st[i].head_ops_executed, (long long)st[i].head_ops_dense,
               (long long)st[i].token_layer_ops_executed, (long long)st[i].token_layer_ops_dense,
               st[i].flops_executed * 1e-9, st[i].flops_dense * 1e-9,
               (long long)st[i].recordings, (long long)st[i].submits,
               (long long)st[i].workgroups);
    }
    fflush(stdout);
    stack_free(&s, p);
    stack_free(&u, pu);
}

/* ---------------------------------------------------------------- per op */

static void bench_mul_mat(skim_backend *be, skim_type t, int64_t K, int64_t M, int64_t N, int reps,
                          uint32_t flags) {
    float *w = rand_buf((size_t)(K * M), 1.0f), *x = rand_buf((size_t)(K * N), 1.0f);
    void *wq = malloc(skim_row_size(t, K) * (size_t)M);
    skim_quantize(t, w, wq, M, K);
    skim_context *c;
    skim_context_create(NULL, &c);
    skim_tensor *tw = skim_new_weight_2d(c, t, K, M, wq);
    skim_tensor *tx = skim_new_input_2d(c, SKIM_TYPE_F32, K, N);
    skim_tensor *y = skim_mul_mat(c, tw, tx);
    skim_graph *g;
    skim_plan *p = NULL;
    skim_plan_desc pd = {.flags = flags};
    if (skim_graph_build(c, &y, 1, &g) == SKIM_OK && skim_plan_create(be, g, &pd, &p) == SKIM_OK) {
        skim_plan_set_input(p, tx, x, skim_tensor_nbytes(tx));
        double s = time_runs(p, reps, NULL);
        printf("  %-7s mul_mat %-5s %5lld x %5lld x %4lld  %9.2f ms  %7.2f GFLOP/s%s\n",
               skim_backend_name(be), skim_type_name(t), (long long)M, (long long)K,
               (long long)N, s * 1e3, 2.0 * K * M * N / s * 1e-9,
               flags == SKIM_PLAN_QUANTIZED_ACTIVATIONS ? "  (+qa)"
               : flags == SKIM_PLAN_HALF_PRODUCTS ? "  (+half)" : "");
        fflush(stdout);
        skim_plan_destroy(p);
    } else {
        printf("  %-7s mul_mat %s: %s\n", skim_backend_name(be), skim_type_name(t),
               skim_backend_error(be));
    }
    skim_context_destroy(c);
    free(w);
    free(x);
    free(wq);
}

static void bench_rows(skim_backend *be, bool softmax, int64_t n0, int64_t n1, int reps) {
    float *x = rand_buf((size_t)(n0 * n1), 1.0f);
    skim_context *c;
    skim_context_create(NULL, &c);
    skim_tensor *tx = skim_new_input_2d(c, SKIM_TYPE_F32, n0, n1);
    skim_tensor *y = softmax ? skim_soft_max(c, tx, NULL, 1.0f) : skim_rms_norm(c, tx, 1e-5f);
    skim_graph *g;
    skim_plan *p = NULL;
    if (skim_graph_build(c, &y, 1, &g) == SKIM_OK && skim_plan_create(be, g, NULL, &p) == SKIM_OK) {
        skim_plan_set_input(p, tx, x, skim_tensor_nbytes(tx));
        double s = time_runs(p, reps, NULL);
        printf("  %-7s %-8s %6lld x %5lld  %9.3f ms  %7.2f GB/s (read + write)\n",
               skim_backend_name(be), softmax ? "soft_max" : "rms_norm", (long long)n0,
               (long long)n1, s * 1e3, 8.0 * n0 * n1 / s * 1e-9);
        skim_plan_destroy(p);
    }
    skim_context_destroy(c);
    free(x);
}

/* A per-op row named by spec, for comparisons that run one op per process:
 * "mul_mat:TYPE:N" (*type, *cols; *rows 0) or "soft_max" / "rms_norm" (*rows 1 / 2).
 * false when spec names none. */
static bool parse_op(const char *spec, int *rows, skim_type *type, int64_t *cols) {
    *rows = !strcmp(spec, "soft_max") ? 1 : !strcmp(spec, "rms_norm") ? 2 : 0;
    if (*rows) return true;
    char tname[16], tail = 0;
    long long nc = 0;
    if (sscanf(spec, "mul_mat:%15[^:]:%lld%c", tname, &nc, &tail) != 2 || nc < 1 || nc > 4096)
        return false;
    for (int t = 0; t < SKIM_TYPE_COUNT; t++) {
        const char *nm = skim_type_name((skim_type)t);
        size_t i = 0;
        while (nm[i] && tname[i] && (nm[i] | 0x20) == (tname[i] | 0x20)) i++;
        if (!nm[i] && !tname[i] && t != SKIM_TYPE_I32) {
            *type = (skim_type)t;
            *cols = nc;
            return true;
        }
    }
    return false;
}

static void bench_ops(skim_backend *be, bool quick, bool rows_only) {
    int64_t n = quick ? 1024 : 4096;
    static const int64_t cols[3] = {1, 32, 256};
    static const skim_type types[6] = {SKIM_TYPE_F32,  SKIM_TYPE_F16,  SKIM_TYPE_Q8_0,
                                       SKIM_TYPE_Q4_0, SKIM_TYPE_Q4_K, SKIM_TYPE_Q6_K};
    for (int t = 0; t < 6 && !rows_only; t++)
        for (int c = 0; c < 3; c++) bench_mul_mat(be, types[t], n, n, cols[c], quick ? 3 : 5, 0);
    bench_rows(be, true, 4096, 1024, 5);
    bench_rows(be, false, 4096, 1024, 5);
}

static const char usage_text[] =
    "usage: bench_vulkan [--quick] [--no-cpu] [--host-resolve] [--small]\n"
    "                    [--only stack|ops|rows|decode|sel] [--op SPEC] [--reps R]\n"
    "  --quick         1024x1024 matrices and fewer repeats (for slow devices such as "
    "lavapipe)\n"
    "  --no-cpu        the Vulkan backend only\n"
    "  --host-resolve  the stack also with SKIM_VK_RESOLVE_HOST (direct dispatches over the\n"
    "                  full extent), for comparison\n"
    "  --small         the decode stack at d_model 1024, 4 blocks, ffn 2816, 256 cached\n"
    "                  positions (minutes on lavapipe instead of tens of minutes)\n"
    "  --only PART     one part: the gated stack, per-op rows (ops), soft_max and rms_norm\n"
    "                  (rows), decode, or the selection producers (sel)\n"
    "  --op SPEC       one per-op row only: mul_mat:TYPE:N (TYPE f32, f16, q8_0, q4_0, q4_k,\n"
    "                  q6_k; 4096x4096, or 1024x1024 with --quick, times N columns),\n"
    "                  soft_max or rms_norm (4096 x 1024)\n"
    "  --reps R        timed runs per per-op row or producer (1-32; default 5)\n"
    "  --qa            the --op mul_mat row with SKIM_PLAN_QUANTIZED_ACTIVATIONS\n"
    "  --half          the --op mul_mat row with SKIM_PLAN_HALF_PRODUCTS (F16, N >= 32;\n"
    "                  SKIM_VK_NO_FEATURES=float16 for its portable twin)\n"
    "  --per-token     the stack's head gates score each (head, token) pair: prefill's\n"
    "                  per-token head selections\n"
    "  --help          this text\n";

int main(int argc, char **argv) {
    bool quick = false, cpu = true, host_resolve = false, small = false, qa = false;
    bool half = false;
    bool per_token = false;
    const char *only = NULL, *op = NULL;
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        bool more = i + 1 < argc;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (!strcmp(argv[i], "--no-cpu")) {
            cpu = false;
        } else if (!strcmp(argv[i], "--host-resolve")) {
            host_resolve = true;
        } else if (!strcmp(argv[i], "--small")) {
            small = true;
        } else if (!strcmp(argv[i], "--qa")) {
            qa = true;
        } else if (!strcmp(argv[i], "--half")) {
            half = true;
        } else if (!strcmp(argv[i], "--per-token")) {
            per_token = true;
        } else if (!strcmp(argv[i], "--only") && more) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--op") && more) {
            op = argv[++i];
        } else if (!strcmp(argv[i], "--reps") && more) {
            reps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "bench_vulkan: unknown or incomplete option '%s'\n%s", argv[i],
                    usage_text);
            return 2;
        }
    }
    static const char *const parts[] = {"stack", "ops", "rows", "decode", "sel"};
    bool part_ok = !only;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && !part_ok; i++)
        part_ok = !strcmp(only, parts[i]);
    int op_rows = 0;
    skim_type op_type = SKIM_TYPE_F32;
    int64_t op_cols = 0;
    const char *bad = !part_ok ? "--only takes stack, ops, rows, decode or sel"
                      : reps < 1 || reps > 32 ? "--reps takes 1 to 32"
                      : op && !parse_op(op, &op_rows, &op_type, &op_cols) ? "--op: unknown SPEC"
                                                                          : NULL;
    if (bad) {
        fprintf(stderr, "bench_vulkan: %s\n%s", bad, usage_text);
        return 2;
    }
    skim_backend *be[2] = {NULL, NULL};
    int n = 0;
    char msg[256];
    skim_status s = skim_backend_create_vulkan_msg(NULL, &be[n], msg, sizeof msg);
    if (s != SKIM_OK) {
        printf("no Vulkan backend: %s: %s\n", skim_status_str(s), msg);
    } else {
        skim_vulkan_info in;
        skim_vulkan_query_info(be[n], &in);
        printf("vulkan: %s; fp16 storage %d, fp16 math %d, int8 %d, subgroup %u (arith %d), "
               "selections resolved on the %s\n", skim_backend_device(be[n]), in.storage16,
               in.float16, in.int8, in.subgroup_size, in.subgroup_arith,
               in.gpu_resolve ? "GPU (indirect dispatch)" : "host");
        printf("vulkan paths: 16-bit storage %d, integer dot %d, full subgroups %d, "
               "quantized activations %d\n", in.path_storage16, in.path_int_dot,
               in.full_subgroups, in.quantized_activations);
        n++;
    }
    if (cpu) {
        skim_cpu_desc cd = {0};
        cd.n_threads = 2;
        if (skim_backend_create_cpu(&cd, &be[n]) == SKIM_OK) n++;
    }
    if (op) {
        for (int i = 0; i < n; i++) {
            if (op_rows) bench_rows(be[i], op_rows == 1, 4096, 1024, reps);
            else bench_mul_mat(be[i], op_type, quick ? 1024 : 4096, quick ? 1024 : 4096, op_cols, reps,
                               (qa ? SKIM_PLAN_QUANTIZED_ACTIVATIONS : 0) |
                               (half ? SKIM_PLAN_HALF_PRODUCTS : 0));
        }
        for (int i = 0; i < n; i++) skim_backend_destroy(be[i]);
        return 0;
    }
    if (!only || !strcmp(only, "stack")) {
        printf("gated stack: %d blocks, d_model %d, %d heads, %d tokens, ffn %d%s\n", L, D, H, T, FF,
               per_token ? "; head gates per token" : "");
        printf("  (median of %d rounds; \"of dense\": time / time at a = 1.00 on that backend)\n",
               quick ? 3 : 5);
        for (int i = 0; i < n; i++) bench_stack(be[i], skim_backend_name(be[i]), quick ? 3 : 5, per_token);
        if (host_resolve && n > 0 && !strcmp(skim_backend_name(be[0]), "vulkan")) {
            skim_vulkan_desc hd;
            memset(&hd, 0, sizeof hd);
            hd.resolve = SKIM_VK_RESOLVE_HOST;
            skim_backend *hb = NULL;
            if (skim_backend_create_vulkan(&hd, &hb) == SKIM_OK) {
                bench_stack(hb, "vulkan-host", quick ? 3 : 5, per_token);
                skim_backend_destroy(hb);
            }
        }
    }
    if (!only || !strcmp(only, "ops") || !strcmp(only, "rows")) {
        printf("per op:\n");
        for (int i = 0; i < n; i++) bench_ops(be[i], quick, only && !strcmp(only, "rows"));
    }
    if (!only || !strcmp(only, "decode")) {
        bench_decode(be, n, small, quick ? 3 : 5);
    }
    if (!only || !strcmp(only, "sel")) bench_producers(be, n, reps);
    for (int i = 0; i < n; i++) skim_backend_destroy(be[i]);
    return 0;
}
