/* norm.c - row reductions and rotations: rms_norm, layer_norm, soft_max, rope. A row is
 * one thread's, and its sums run in a fixed order, in double, so results do not depend on
 * the thread count. rms_norm's sum of squares is plain C over 8 lanes (lane l sums
 * k = l mod 8, then a fixed reduction) that compilers vectorise: the build's SSE2 or NEON,
 * and on x86 an AVX2 copy of the same code chosen at run time (ISO C allows no contraction
 * into fused multiply-adds, so every path gives the same bits). soft_max sums in the same
 * lanes; its exponentials are cpu-exp.h's, on 8 lanes with AVX2, and the same bits on
 * every path. */
#include "cpu-exp.h"
#include "cpu-int.h"
#include "cpu-simd.h"

#include <math.h>
#include <string.h>

static const uint8_t *row_at(const uint8_t *base, const size_t nb[4], int64_t i1, int64_t i2,
                             int64_t i3) {
    return base + (size_t)i1 * nb[1] + (size_t)i2 * nb[2] + (size_t)i3 * nb[3];
}

typedef void (*norm_fn)(const skim_cpu_ctx *c, const skim_cpu_node *nd, float *y, const float *x, int64_t n,
                        int64_t i1, int64_t i2, int64_t i3);

static void for_rows(const skim_cpu_ctx *c, const skim_cpu_node *nd, norm_fn fn) {
    const skim_tensor *t = nd->t, *a = t->src[0];
    const int64_t *ne = nd->ne;
    int64_t n = ne[1] * ne[2] * ne[3], rb, re;
    if (ne[0] == 0) {
        return;
    }
    skim_cpu_split(n, c->ith, c->nth, &rb, &re);
    for (int64_t r = rb; r < re; r++) {
        int64_t i1 = r % ne[1], i2 = (r / ne[1]) % ne[2], i3 = r / (ne[1] * ne[2]);
        float *y = (float *)(void *)row_at(nd->dst, t->nb, i1, i2, i3);
        const float *x = (const float *)(const void *)row_at(nd->src[0], a->nb, i1, i2, i3);
        fn(c, nd, y, x, ne[0], i1, i2, i3);
    }
}

#define LANES 8

static inline double lane_sum(const double s[LANES]) {
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

#if defined(_MSC_VER)
#  define ALWAYS_INLINE __forceinline
#else
#  define ALWAYS_INLINE __attribute__((always_inline))
#endif
ALWAYS_INLINE static inline double sum_sq(const float *x, int64_t n) {
    double s[LANES] = {0};
    int64_t n8 = n & ~(int64_t)(LANES - 1);
    for (int64_t k = 0; k < n8; k += LANES) {
        for (int l = 0; l < LANES; l++) {
            s[l] += (double)x[k + l] * (double)x[k + l];
        }
    }
    double t = lane_sum(s);
    for (int64_t k = n8; k < n; k++) {
        t += (double)x[k] * (double)x[k];
    }
    return t;
}

/* y[i] = e^(y[i] - mx) (cpu-exp.h); returns their sum, lane l summing k = l mod 8. */
static double exp_sum_plain(float *y, int64_t n, float mx) {
    double s[LANES] = {0};
    int64_t n8 = n & ~(int64_t)(LANES - 1);
    for (int64_t k = 0; k < n8; k += LANES) {
        for (int l = 0; l < LANES; l++) {
            float e = skim_cpu_exp_neg(y[k + l] - mx);
            y[k + l] = e;
            s[l] += (double)e;
        }
    }
    double t = lane_sum(s);
    for (int64_t k = n8; k < n; k++) {
        y[k] = skim_cpu_exp_neg(y[k] - mx);
        t += (double)y[k];
    }
    return t;
}

static double sum_sq_plain(const float *x, int64_t n) {
    return sum_sq(x, n);
}

#ifdef SKIM_CPU_X86
__attribute__((target("avx2"))) static double sum_sq_avx2(const float *x, int64_t n) {
    return sum_sq(x, n);
}

/* y = x * sc (+ mk) over the first n8 values, the lanes' maxima into lm; true when a
 * value is NaN. The same values and maxima as the plain loop. */
__attribute__((target("avx2"))) static bool scale_max_avx2(const float *x, const float *mk,
                                                            float sc, float *y, int64_t n8,
                                                            float lm[LANES]) {
    __m256 vs = _mm256_set1_ps(sc), m = _mm256_set1_ps(-INFINITY), bad = _mm256_setzero_ps();
    for (int64_t k = 0; k < n8; k += LANES) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + k), vs);
        v = _mm256_add_ps(v, mk ? _mm256_loadu_ps(mk + k) : _mm256_setzero_ps());
        _mm256_storeu_ps(y + k, v);
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        m = _mm256_max_ps(v, m);
    }
    _mm256_storeu_ps(lm, m);
    return _mm256_movemask_ps(bad) != 0;
}

/* Whether soft_max writes its result with streaming stores: when the result is larger
 * than the caches would keep for the next op anyway (the values are the same). */
static bool soft_max_streams(const skim_cpu_node *nd) {
    return nd->ne[0] * nd->ne[1] * nd->ne[2] * nd->ne[3] >= ((int64_t)1 << 20);
}

/* out[k] = y[k] * a over the first n8 values (streaming stores from the first 32-byte
 * aligned value when `stream`); returns n8. */
__attribute__((target("avx2"))) static int64_t scale_avx2(float *out, const float *y, int64_t n8,
                                                          float a, bool stream) {
    __m256 va = _mm256_set1_ps(a);
    int64_t k = 0;
    if (stream) {
        for (; k < n8 && ((uintptr_t)(out + k) & 31) != 0; k++) {
            out[k] = y[k] * a;
        }
        for (; k + LANES <= n8; k += LANES) {
            _mm256_stream_ps(out + k, _mm256_mul_ps(_mm256_loadu_ps(y + k), va));
        }
        _mm_sfence();
        for (; k < n8; k++) {
            out[k] = y[k] * a;
        }
        return n8;
    }
    for (; k < n8; k += LANES) {
        _mm256_storeu_ps(out + k, _mm256_mul_ps(_mm256_loadu_ps(y + k), va));
    }
    return n8;
}

/* exp_sum_plain's values and sum (the same bits). */
__attribute__((target("avx2"))) static double exp_sum_avx2(float *y, int64_t n, float mx) {
    __m256d s0 = _mm256_setzero_pd(), s1 = s0;
    __m256 vm = _mm256_set1_ps(mx);
    int64_t n8 = n & ~(int64_t)(LANES - 1);
    int64_t k = 0;
    for (; k + 4 * LANES <= n8; k += 4 * LANES) {
        __m256 v[4], e[4];
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_sub_ps(_mm256_loadu_ps(y + k + LANES * j), vm);
        }
        skim_cpu_exp32_avx2(v, e);
        for (int j = 0; j < 4; j++) {
            _mm256_storeu_ps(y + k + LANES * j, e[j]);
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e[j])));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e[j], 1)));
        }
    }
    for (; k < n8; k += LANES) {
        __m256 e = skim_cpu_exp8_avx2(_mm256_sub_ps(_mm256_loadu_ps(y + k), vm));
        _mm256_storeu_ps(y + k, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double s[LANES];
    _mm256_storeu_pd(s, s0);
    _mm256_storeu_pd(s + 4, s1);
    double t = lane_sum(s);
    for (k = n8; k < n; k++) {
        y[k] = skim_cpu_exp_neg(y[k] - mx);
        t += (double)y[k];
    }
    return t;
}
#endif

static void row_rms(const skim_cpu_ctx *c, const skim_cpu_node *nd, float *y, const float *x,
                    int64_t n, int64_t i1, int64_t i2, int64_t i3) {
    (void)i1, (void)i2, (void)i3;
    double s;
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        s = sum_sq_avx2(x, n);
    } else
#endif
    {
        (void)c;
        s = sum_sq_plain(x, n);
    }
    float k = (float)(1.0 / sqrt(s / (double)n + (double)nd->t->params.norm.eps));
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i] * k;
    }
}

static void row_layer(const skim_cpu_ctx *c, const skim_cpu_node *nd, float *y, const float *x, int64_t n, int64_t i1,
                      int64_t i2, int64_t i3) {
    double s = 0.0, v = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
    }
    double mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)x[i] - mean;
        v += d * d;
    }
    double k = 1.0 / sqrt(v / (double)n + (double)nd->t->params.norm.eps);
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)(((double)x[i] - mean) * k);
    }
}

/* softmax(x * scale + mask); a row whose values are all -inf gives zeros. */
static void row_soft_max(const skim_cpu_ctx *c, const skim_cpu_node *nd, float *out,
                         const float *x, int64_t n, int64_t i1, int64_t i2, int64_t i3) {
    /* the row is built in the thread's scratch, so out is written once, by the last pass */
    float *y = c->scratch_floats >= (size_t)n ? c->scratch : out;
    const skim_tensor *m = nd->t->src[1];
    const float *mk = NULL;
    float sc = nd->t->params.soft_max.scale;
    if (m) {
        const int64_t *me = nd->sne[1];
        mk = (const float *)(const void *)row_at(nd->src[1], m->nb, i1 % me[1], i2 % me[2],
                                                 i3 % me[3]);
    }
    float lm[LANES], mx = -INFINITY;
    int nan = 0;
    for (int l = 0; l < LANES; l++) {
        lm[l] = -INFINITY;
    }
    int64_t n8 = n & ~(int64_t)(LANES - 1), k0 = 0;
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        nan = scale_max_avx2(x, mk, sc, y, n8, lm);
        k0 = n8;
    }
#endif
    for (int64_t k = k0; k < n8; k += LANES) {
        for (int l = 0; l < LANES; l++) {
            float v = x[k + l] * sc + (mk ? mk[k + l] : 0.0f);
            y[k + l] = v;
            nan |= v != v;
            lm[l] = v > lm[l] ? v : lm[l];
        }
    }
    for (int64_t k = n8; k < n; k++) {
        float v = x[k] * sc + (mk ? mk[k] : 0.0f);
        y[k] = v;
        nan |= v != v;
        mx = v > mx ? v : mx;
    }
    for (int l = 0; l < LANES; l++) {
        mx = lm[l] > mx ? lm[l] : mx;
    }
    if (mx == -INFINITY && !nan) {
        memset(out, 0, (size_t)n * sizeof(float));
        return;
    }
    double s;
    if (nan) { /* every output is NaN, as the sum is */
        s = NAN;
    } else {
#ifdef SKIM_CPU_X86
        if (c->avx2) {
            s = exp_sum_avx2(y, n, mx);
        } else
#endif
        {
            (void)c;
            s = exp_sum_plain(y, n, mx);
        }
    }
    float inv = (float)(1.0 / s);
    int64_t i = 0;
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        i = scale_avx2(out, y, n8, inv, soft_max_streams(nd));
    }
#endif
    for (; i < n; i++) {
        out[i] = y[i] * inv;
    }
}

void skim_cpu_op_rms_norm(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_rms);
}

void skim_cpu_op_layer_norm(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    for_rows(c, nd, row_layer);
}

void skim_cpu_op_soft_max(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    if (nd->t->src[1] && (nd->sne[1][1] == 0 || nd->sne[1][2] == 0 || nd->sne[1][3] == 0)) {
        return;
    }
    for_rows(c, nd, row_soft_max);
}

/* ---------------------------------------------------------------- rope */

/* x [head_dim, n_head, n_tok]: per token, cos/sin of pos * base^(-2i/n_dims) in double
 * (positions of thousands of radians need it; the frequencies come from the plan), then
 * every head rotated. */
void skim_cpu_op_rope(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t, *x = t->src[0];
    const skim_rope_params *rp = &t->params.rope;
    const int32_t *pos = (const int32_t *)(const void *)nd->src[1];
    int64_t hd = nd->ne[0], nh = nd->ne[1], nt = nd->ne[2], half = rp->n_dims / 2, tb, te;
    float *cs = c->scratch, *sn = c->scratch + half;
    skim_cpu_split(nt, c->ith, c->nth, &tb, &te);
    for (int64_t it = tb; it < te; it++) {
        for (int64_t i = 0; i < half; i++) {
            double th = (double)pos[it] *
                        (nd->theta ? nd->theta[i] : skim_cpu_rope_theta(rp, i));
            cs[i] = (float)cos(th);
            sn[i] = (float)sin(th);
        }
        for (int64_t h = 0; h < nh; h++) {
            const float *a = (const float *)(const void *)row_at(nd->src[0], x->nb, h, it, 0);
            float *y = (float *)(void *)row_at(nd->dst, t->nb, h, it, 0);
            for (int64_t i = 0; i < half; i++) {
                int64_t i0 = rp->mode == SKIM_ROPE_NEOX ? i : 2 * i;
                int64_t i1 = rp->mode == SKIM_ROPE_NEOX ? i + half : 2 * i + 1;
                float x0 = a[i0], x1 = a[i1];
                y[i0] = x0 * cs[i] - x1 * sn[i];
                y[i1] = x0 * sn[i] + x1 * cs[i];
            }
            for (int64_t i = 2 * half; i < hd; i++) {
                y[i] = a[i];
            }
        }
    }
}
