/* cpu-simd.h - which SIMD path the CPU kernels compile, and the horizontal sums that
 * every dot product of the matmul core ends with (matmul.c states the order). */
#ifndef SKIM_CPU_SIMD_H
#define SKIM_CPU_SIMD_H

/* SKIM_CPU_NO_SIMD builds the portable path only (to test it on x86). */
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(SKIM_CPU_NO_SIMD)
#define SKIM_CPU_X86 1
#include <immintrin.h>
#endif
#if defined(__aarch64__) && defined(__GNUC__) && !defined(SKIM_CPU_NO_SIMD)
#define SKIM_CPU_NEON 1
#include <arm_neon.h>
#endif

#ifdef SKIM_CPU_X86
/* Lanes reduce as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)). */
__attribute__((target("avx2,fma"))) static inline float skim_cpu_hsum_avx(__m256 v) {
    __m128 t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 u = _mm_add_ps(t, _mm_movehl_ps(t, t));
    return _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps(u, u, 1)));
}
#endif

#ifdef SKIM_CPU_NEON
/* Lanes 0-3 in lo, 4-7 in hi: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), as on x86. */
static inline float skim_cpu_hsum_neon(float32x4_t lo, float32x4_t hi) {
    float32x4_t t = vaddq_f32(lo, hi);
    float32x2_t u = vadd_f32(vget_low_f32(t), vget_high_f32(t));
    return vget_lane_f32(u, 0) + vget_lane_f32(u, 1);
}
#endif

#endif /* SKIM_CPU_SIMD_H */
