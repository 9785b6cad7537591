/* cpu-exp.h - e^x for x <= 0, the exponential of soft_max and attention's softmax: a
 * scalar function and an AVX2 twin on 8 lanes that give the same bits (the same operations
 * in the same order, none fused; the backend is built with -ffp-contract=off), so a row's
 * result does not depend on which lanes took the vector path or on the ISA.
 *
 * x = n ln2 + r with |r| <= ln2/2 (n rounded by adding 1.5 * 2^23), a degree-7 polynomial
 * for e^r, times 2^n through the exponent bits. Relative error against e^x: at most
 * 8.1e-8 over a grid of step 1e-4 on [-85.9, 0]. Below -86 (and for -inf) it gives 0: a
 * softmax divides by a sum of at least 1, so that changes an output by less than 5e-38.
 * A NaN gives NaN. */
#ifndef SKIM_CPU_EXP_H
#define SKIM_CPU_EXP_H

#include "cpu-simd.h"

#include <stdint.h>
#include <string.h>

#define SKIM_EXP_BIG 12582912.0f /* 1.5 * 2^23 */
#define SKIM_EXP_LOG2E 1.44269504088896341f
#define SKIM_EXP_LN2_HI 0.693359375f
#define SKIM_EXP_LN2_LO -2.12194440e-4f
#define SKIM_EXP_P0 1.9875691500e-4f
#define SKIM_EXP_P1 1.3981999507e-3f
#define SKIM_EXP_P2 8.3334519073e-3f
#define SKIM_EXP_P3 4.1665795894e-2f
#define SKIM_EXP_P4 1.6666665459e-1f
#define SKIM_EXP_P5 5.0000001201e-1f

static inline float skim_cpu_exp_neg(float x) {
    float t = x * SKIM_EXP_LOG2E + SKIM_EXP_BIG;
    float n = t - SKIM_EXP_BIG;
    float r = (x - n * SKIM_EXP_LN2_HI) - n * SKIM_EXP_LN2_LO;
    float p = SKIM_EXP_P0;
    p = p * r + SKIM_EXP_P1;
    p = p * r + SKIM_EXP_P2;
    p = p * r + SKIM_EXP_P3;
    p = p * r + SKIM_EXP_P4;
    p = p * r + SKIM_EXP_P5;
    p = (p * r * r + r) + 1.0f;
    /* Unsigned: below -86 the exponent wraps, and the select below discards it. */
    uint32_t ti, pi;
    memcpy(&ti, &t, 4);
    memcpy(&pi, &p, 4);
    pi += (ti - 0x4b400000u) << 23;
    memcpy(&p, &pi, 4);
    return x != x ? x : (x < -86.0f ? 0.0f : p);
}

/* y[i] = e^(y[i] - mx), scalar. */
static inline void skim_cpu_exp_shift_c(float *y, int64_t n, float mx) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = skim_cpu_exp_neg(y[i] - mx);
    }
}

#ifdef SKIM_CPU_X86
/* e^x[j] for V vectors x[0..V-1], each step over all V before the next: the chain of
 * dependent operations is long, and interleaving the vectors keeps the units busy. */
#define SKIM_EXP_AVX2_STEPS(V, x, out)                                                         \
    do {                                                                                       \
        const __m256 big_ = _mm256_set1_ps(SKIM_EXP_BIG);                                      \
        static const float c_[5] = {SKIM_EXP_P1, SKIM_EXP_P2, SKIM_EXP_P3, SKIM_EXP_P4,        \
                                    SKIM_EXP_P5};                                              \
        __m256 t_[V], n_[V], r_[V], p_[V];                                                     \
        for (int j = 0; j < (V); j++) {                                                        \
            t_[j] = _mm256_add_ps(_mm256_mul_ps((x)[j], _mm256_set1_ps(SKIM_EXP_LOG2E)), big_); \
            n_[j] = _mm256_sub_ps(t_[j], big_);                                                \
        }                                                                                      \
        for (int j = 0; j < (V); j++) {                                                        \
            r_[j] = _mm256_sub_ps((x)[j], _mm256_mul_ps(n_[j], _mm256_set1_ps(SKIM_EXP_LN2_HI))); \
            r_[j] = _mm256_sub_ps(r_[j], _mm256_mul_ps(n_[j], _mm256_set1_ps(SKIM_EXP_LN2_LO))); \
            p_[j] = _mm256_set1_ps(SKIM_EXP_P0);                                               \
        }                                                                                      \
        for (int i_ = 0; i_ < 5; i_++) {                                                       \
            for (int j = 0; j < (V); j++) {                                                    \
                p_[j] = _mm256_add_ps(_mm256_mul_ps(p_[j], r_[j]), _mm256_set1_ps(c_[i_]));    \
            }                                                                                  \
        }                                                                                      \
        for (int j = 0; j < (V); j++) {                                                        \
            __m256 q_ = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p_[j], r_[j]), r_[j]), r_[j]); \
            q_ = _mm256_add_ps(q_, _mm256_set1_ps(1.0f));                                      \
            __m256i e_ = _mm256_slli_epi32(                                                    \
                _mm256_sub_epi32(_mm256_castps_si256(t_[j]), _mm256_set1_epi32(0x4b400000)), 23); \
            q_ = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(q_), e_));           \
            __m256 low_ = _mm256_cmp_ps((x)[j], _mm256_set1_ps(-86.0f), _CMP_LT_OQ);           \
            q_ = _mm256_andnot_ps(low_, q_);                                                   \
            (out)[j] = _mm256_blendv_ps(q_, (x)[j], _mm256_cmp_ps((x)[j], (x)[j], _CMP_UNORD_Q)); \
        }                                                                                      \
    } while (0)

__attribute__((target("avx2"))) static inline __m256 skim_cpu_exp8_avx2(__m256 x) {
    __m256 e[1];
    SKIM_EXP_AVX2_STEPS(1, &x, e);
    return e[0];
}

/* Four vectors at a time: e[j] = e^x[j]. */
__attribute__((target("avx2"))) static inline void skim_cpu_exp32_avx2(const __m256 x[4],
                                                                      __m256 e[4]) {
    SKIM_EXP_AVX2_STEPS(4, x, e);
}

/* y[i] = e^(y[i] - mx): 8 lanes at a time, the tail scalar (the same bits). */
__attribute__((target("avx2"))) static inline void skim_cpu_exp_shift_avx2(float *y, int64_t n,
                                                                           float mx) {
    __m256 vm = _mm256_set1_ps(mx);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v[4], e[4];
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_sub_ps(_mm256_loadu_ps(y + i + 8 * j), vm);
        }
        skim_cpu_exp32_avx2(v, e);
        for (int j = 0; j < 4; j++) {
            _mm256_storeu_ps(y + i + 8 * j, e[j]);
        }
    }
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i, skim_cpu_exp8_avx2(_mm256_sub_ps(_mm256_loadu_ps(y + i), vm)));
    }
    skim_cpu_exp_shift_c(y + i, n - i, mx);
}
#endif

#endif /* SKIM_CPU_EXP_H */
