/* bench - CPU mul_mat throughput: F32, F16, Q8_0, Q4_0, Q4_K and Q6_K weights at 1024x1024x1024 and
 * 4096x4096 times 1, 4, 16, 32 and 256 columns, on 1 and 2 threads; the quantised types
 * also with SKIM_PLAN_QUANTIZED_ACTIVATIONS (rows "q8_0+qa", "q4_0+qa", "q4_k+qa",
 * "q6_k+qa"). Prints the work, the median time of several runs and GFLOP/s (2 flops per
 * multiply-add). Then, per thread count, the matvec rows (x 1) again as weight bandwidth (weight bytes over the time)
 * against the copy bandwidth of this machine, measured here: memcpy of 256 MiB, bytes
 * read plus bytes written per second (as STREAM counts Copy), median of 5. First, the
 * cost of a node itself: a chain of 1,000 adds of 16 floats, in microseconds per node.
 *
 * Then soft_max and rms_norm over 1024 rows of 4096 (bytes read plus written per second).
 *
 * Usage: bench [max_threads (2)] [min_seconds_per_case (0.5)] [MxKxN | rows] [type]
 * MxKxN: that one shape instead (e.g. 4096x14336x1, ggml's matvec case), every type, with
 * the bandwidth lines when N is 1 (weights past the last-level cache: e.g. 4096x16384x1);
 * "rows": the node cost and the row ops only. type (a row name: f32, q4_0+qa, ...): that
 * variant only. */
#define _POSIX_C_SOURCE 200809L
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Copy bandwidth in bytes per second (read + written), median of 5 memcpy calls. */
static double copy_bandwidth(void) {
    size_t n = (size_t)256 << 20;
    char *a = malloc(n), *b = malloc(n);
    if (!a || !b) {
        free(a);
        free(b);
        return 0.0;
    }
    memset(a, 1, n);
    memset(b, 2, n);
    double t[5];
    for (int i = 0; i < 5; i++) {
        double t0 = now();
        memcpy(i % 2 ? a : b, i % 2 ? b : a, n);
        t[i] = now() - t0;
    }
    qsort(t, 5, sizeof t[0], cmp_double);
    volatile char sink = a[n / 2] + b[n / 3];
    (void)sink;
    free(a);
    free(b);
    return 2.0 * (double)n / t[2];
}

/* Microseconds per node of a chain of 1,000 tiny adds (the pool's hand-off and barrier,
 * the node's dispatch): median of 21 runs; returns 0 on success. */
static int node_overhead(skim_backend *be, int threads) {
    enum { NODES = 1000, LEN = 16 };
    skim_context *ctx = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
    skim_tensor *x = skim_new_input_1d(ctx, SKIM_TYPE_F32, LEN), *y = x;
    for (int i = 0; i < NODES; i++) y = skim_add(ctx, y, x);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    float xs[LEN] = {0};
    skim_status s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(be, g, NULL, &p);
    if (s == SKIM_OK) s = skim_plan_set_input(p, x, xs, sizeof xs);
    double t[21];
    for (int i = 0; s == SKIM_OK && i < 21; i++) {
        double t0 = now();
        s = skim_plan_run(p);
        t[i] = now() - t0;
    }
    if (s == SKIM_OK) {
        qsort(t, 21, sizeof t[0], cmp_double);
        printf("nodes: chain of %d adds of %d floats, %d thread%s: %7.3f us per node (median of 21)\n",
               NODES, LEN, threads, threads > 1 ? "s" : " ", t[10] * 1e6 / NODES);
    } else {
        fprintf(stderr, "bench: nodes: %s\n", skim_status_str(s));
    }
    skim_plan_destroy(p);
    skim_context_destroy(ctx);
    return s != SKIM_OK;
}

/* Runs p at least 3 times and for min_s seconds (at most 64 runs), each time into times[]. */
static skim_status time_runs(skim_plan *p, double min_s, double times[64], int *n_out) {
    skim_status s = SKIM_OK;
    int n = 0;
    double t_start = now();
    while (s == SKIM_OK && n < 64 && (n < 3 || now() - t_start < min_s)) {
        double t0 = now();
        s = skim_plan_run(p);
        times[n++] = now() - t0;
    }
    *n_out = n;
    return s;
}

/* One case; returns 0 on success and the median time in *med_out. */
typedef struct variant {
    skim_type type;
    uint32_t flags; /* skim_plan_desc.flags */
    const char *name;
} variant;

static int bench(skim_backend *be, int threads, variant v, int64_t K, int64_t M, int64_t N,
                 const float *wsrc, const float *xsrc, double min_s, double *med_out) {
    skim_type type = v.type;
    skim_plan_desc pd = {.flags = v.flags};
    void *w = malloc(skim_row_size(type, K) * (size_t)M);
    if (!w) return 1;
    skim_quantize(type, wsrc, w, M, K);
    skim_context *ctx = NULL;
    skim_context_create(NULL, &ctx);
    skim_tensor *tw = skim_new_weight_2d(ctx, type, K, M, w);
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, K, N);
    skim_tensor *y = skim_mul_mat(ctx, tw, x);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    skim_status s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(be, g, &pd, &p);
    if (s == SKIM_OK) s = skim_plan_set_input(p, x, xsrc, skim_tensor_nbytes(x));
    if (s == SKIM_OK) s = skim_plan_run(p); /* warm-up */
    double times[64];
    int n = 0;
    if (s == SKIM_OK) s = time_runs(p, min_s, times, &n);
    if (s != SKIM_OK) {
        fprintf(stderr, "bench: %s: %s %s\n", skim_status_str(s), skim_context_error(ctx),
                p ? skim_plan_error(p) : skim_backend_error(be));
    } else {
        qsort(times, (size_t)n, sizeof times[0], cmp_double);
        double med = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
        *med_out = med;
        double flops = 2.0 * (double)K * (double)M * (double)N;
        printf("%-7s %5lld x %5lld x %4lld  %d thread%s  %8.3f GFLOP  %9.3f ms (median of %2d)  %7.2f GFLOP/s\n",
               v.name, (long long)M, (long long)K, (long long)N, threads,
               threads > 1 ? "s" : " ", flops * 1e-9, med * 1e3, n, flops / med * 1e-9);
        fflush(stdout);
    }
    skim_plan_destroy(p);
    skim_context_destroy(ctx);
    free(w);
    return s != SKIM_OK;
}

/* soft_max (scale 1, no mask) or rms_norm (eps 1e-6) over rows of 4096, 1024 rows: the
 * median time and the bytes read plus written per second. Returns 0 on success. */
static int bench_rowop(skim_backend *be, int threads, int op, const float *xsrc, double min_s) {
    enum { RK = 4096, RN = 1024 };
    skim_context *ctx = NULL;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, RK, RN);
    skim_tensor *y = op ? skim_rms_norm(ctx, x, 1e-6f) : skim_soft_max(ctx, x, NULL, 1.0f);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    skim_status s = skim_graph_build(ctx, &y, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(be, g, NULL, &p);
    if (s == SKIM_OK) s = skim_plan_set_input(p, x, xsrc, skim_tensor_nbytes(x));
    if (s == SKIM_OK) s = skim_plan_run(p);
    double times[64];
    int n = 0;
    if (s == SKIM_OK) s = time_runs(p, min_s, times, &n);
    if (s == SKIM_OK) {
        qsort(times, (size_t)n, sizeof times[0], cmp_double);
        double med = times[n / 2], bytes = 2.0 * 4.0 * RK * RN;
        printf("%-8s %5d x %4d      %d thread%s  %9.3f ms (median of %2d)  %7.2f GB/s\n",
               op ? "rms_norm" : "soft_max", RK, RN, threads, threads > 1 ? "s" : " ", med * 1e3,
               n, bytes / med * 1e-9);
    } else {
        fprintf(stderr, "bench: row op: %s\n", skim_status_str(s));
    }
    skim_plan_destroy(p);
    skim_context_destroy(ctx);
    return s != SKIM_OK;
}

int main(int argc, char **argv) {
    int max_threads = argc > 1 ? atoi(argv[1]) : 2;
    double min_s = argc > 2 ? atof(argv[2]) : 0.5;
    enum { N_SHAPES = 6, MATVEC = 1 };
    int64_t shapes[N_SHAPES][3] = {{1024, 1024, 1024}, {4096, 4096, 1}, {4096, 4096, 4},
                                   {4096, 4096, 16},   {4096, 4096, 32}, {4096, 4096, 256}};
    int n_shapes = N_SHAPES;
    long long cm, ck, cn;
    int rows_only = argc > 3 && strcmp(argv[3], "rows") == 0;
    const char *only = argc > 4 ? argv[4] : NULL; /* one variant's name */
    if (argc > 3 && !rows_only) {
        if (sscanf(argv[3], "%lldx%lldx%lld", &cm, &ck, &cn) != 3 || cm < 1 || ck < 32 ||
            ck % 32 || cn < 1 || cm * ck > (1ll << 28) || ck * cn > (1ll << 26)) {
            fprintf(stderr, "bench: shape '%s': want MxKxN, K a multiple of 32\n", argv[3]);
            return 2;
        }
        shapes[0][0] = ck, shapes[0][1] = cm, shapes[0][2] = cn;
        n_shapes = 1;
    }
    enum { N_VARIANTS = 10 };
    static const variant vars[N_VARIANTS] = {
        {SKIM_TYPE_F32, 0, "f32"},   {SKIM_TYPE_F16, 0, "f16"},
        {SKIM_TYPE_Q8_0, 0, "q8_0"}, {SKIM_TYPE_Q4_0, 0, "q4_0"},
        {SKIM_TYPE_Q4_K, 0, "q4_k"}, {SKIM_TYPE_Q6_K, 0, "q6_k"},
        {SKIM_TYPE_Q8_0, SKIM_PLAN_QUANTIZED_ACTIVATIONS, "q8_0+qa"},
        {SKIM_TYPE_Q4_0, SKIM_PLAN_QUANTIZED_ACTIVATIONS, "q4_0+qa"},
        {SKIM_TYPE_Q4_K, SKIM_PLAN_QUANTIZED_ACTIVATIONS, "q4_k+qa"},
        {SKIM_TYPE_Q6_K, SKIM_PLAN_QUANTIZED_ACTIVATIONS, "q6_k+qa"}};
    size_t wn = 4096 * 4096, xn = 4096 * 1024;
    if (n_shapes == 1) {
        wn = (size_t)(shapes[0][0] * shapes[0][1]);
        xn = (size_t)(shapes[0][0] * shapes[0][2]);
    }
    float *w = malloc(wn * sizeof(float)), *x = malloc(xn * sizeof(float));
    if (!w || !x) return 1;
    uint64_t r = 1;
    for (size_t i = 0; i < wn; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        w[i] = (float)((double)(r >> 40) / 16777216.0 - 0.5);
    }
    for (size_t i = 0; i < xn; i++) x[i] = w[(i * 7919) % wn];
    int bad = 0;
    printf("mul_mat y[M, N] = w[K, M]^T x[K, N]; columns: type, M x K x N, threads, work, time, rate\n");
    for (int threads = 1; threads <= max_threads; threads++) {
        skim_cpu_desc d = {0};
        d.n_threads = threads;
        skim_backend *be = NULL;
        if (skim_backend_create_cpu(&d, &be) != SKIM_OK) return 1;
        if (threads == 1) printf("device: %s\n", skim_backend_device(be));
        bad |= node_overhead(be, threads);
        if (n_shapes > 1) {
            bad |= bench_rowop(be, threads, 0, x, min_s);
            bad |= bench_rowop(be, threads, 1, x, min_s);
        }
        if (rows_only) {
            skim_backend_destroy(be);
            continue;
        }
        /* the matvec shape whose weight bandwidth is printed (-1: none) */
        int mvs = n_shapes > 1 ? MATVEC : shapes[0][2] == 1 ? 0 : -1;
        double mv[N_VARIANTS] = {0};
        for (int si = 0; si < n_shapes; si++)
            for (int ti = 0; ti < N_VARIANTS; ti++)
                if (!only || strcmp(only, vars[ti].name) == 0)
                    bad |= bench(be, threads, vars[ti], shapes[si][0], shapes[si][1], shapes[si][2],
                                 w, x, min_s, si == mvs ? &mv[ti] : &(double){0});
        if (mvs < 0) {
            skim_backend_destroy(be);
            continue;
        }
        double copy = copy_bandwidth(), mk = (double)shapes[mvs][0], mm = (double)shapes[mvs][1];
        printf("matvec %.0f x %.0f x 1, %d thread%s; copy bandwidth %.2f GB/s (memcpy of 256 MiB, read + write)\n",
               mm, mk, threads, threads > 1 ? "s" : "", copy * 1e-9);
        for (int ti = 0; ti < N_VARIANTS; ti++) {
            double bytes = (double)skim_row_size(vars[ti].type, shapes[mvs][0]) * mm;
            if (mv[ti] > 0.0 && copy > 0.0)
                printf("  %-7s %7.2f GFLOP/s  weights %6.2f MB  %7.2f GB/s  %5.1f%% of copy\n",
                       vars[ti].name, 2.0 * mk * mm / mv[ti] * 1e-9, bytes * 1e-6,
                       bytes / mv[ti] * 1e-9, 100.0 * bytes / mv[ti] / copy);
        }
        fflush(stdout);
        skim_backend_destroy(be);
    }
    free(w);
    free(x);
    return bad;
}
