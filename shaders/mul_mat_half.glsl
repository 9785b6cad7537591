/* mul_mat_half.glsl - mul_mat.comp's HALF variants (TILE, F16 weights): the products of
 * SKIM_PLAN_HALF_PRODUCTS, by the rule include/skim-backend.h states:
 *   x rounded to the nearest f16 (ties to even; past 65504 in magnitude from 65520 on:
 *   infinity; NaN stays NaN); k taken in runs of 8 (k = 8j .. 8j + 7; the last run of a
 *   K of 4 mod 8 has zeros for its missing products, 0 * 0); in a run, with w_i x_i the
 *   f16 product of element i (rounded once), lane sums a_i = p_i + p_(i+4) (i = 0..3),
 *   then s = (a_0 + a_1) + (a_2 + a_3), every sum rounded to f16; s added to the output's
 *   f32 sum, runs in order of k.
 * HALF_ARITH: in f16 arithmetic (float16_t, shaderFloat16); `precise` keeps products and
 * sums apart (a fused multiply-add would round once where the rule rounds twice).
 * Without it (the portable twin): the same values in f32 arithmetic, each rounded to f16
 * by skim_f16_round. A product of two f16 values is exact in f32 (22 significant bits),
 * and a sum of two is rounded once to f32 and then to f16, which gives the sum's f16
 * rounding since f32 has at least 2 x 11 + 2 significant bits (double rounding is
 * innocuous at that width). x is rounded by skim_f16_round in both, so the f16 path's
 * conversion is exact. The two give the same bits where the device's f16 arithmetic
 * rounds to nearest even and keeps f16 subnormals (lavapipe does); NaN payloads may
 * differ. */
#if defined(HALF_ARITH)
#define HVEC f16vec4
#else
#define HVEC vec4
#endif

/* v rounded to the nearest f16 value (ties to even), as a float: integer operations on
 * v's bits for normal f16 values (13 of f32's 23 fraction bits dropped), a scale by 2^24
 * (exact) and roundEven (exact) below 2^-14, where f16 values are multiples of 2^-24. */
float skim_f16_round(float v) {
    uint u = floatBitsToUint(v), s = u & 0x80000000u, a = u ^ s;
    if (a >= 0x477ff000u) { /* 65520 and past (ties to the even 65536: infinity), NaN */
        return a > 0x7f800000u ? v : uintBitsToFloat(s | 0x7f800000u);
    }
    if (a < 0x38800000u) {
        float q = roundEven(uintBitsToFloat(a) * 16777216.0) * (1.0 / 16777216.0);
        return uintBitsToFloat(s | floatBitsToUint(q));
    }
    a += 0xfffu + ((a >> 13u) & 1u);
    return uintBitsToFloat(s | (a & 0xffffe000u));
}

vec4 skim_f16_round4(vec4 v) {
    return vec4(skim_f16_round(v.x), skim_f16_round(v.y), skim_f16_round(v.z), skim_f16_round(v.w));
}

/* Four x values as f16 (rounded by the rule). */
HVEC skim_half_x4(vec4 x) {
    return HVEC(skim_f16_round4(x));
}

/* Weights k..k+3 (k a multiple of 4) of the F16 row starting at element base: their bits
 * as f16 values (exact). */
HVEC skim_half_w4(uint base, uint k) {
    uvec2 h = Au2[(base + k) >> 2u];
#if defined(HALF_ARITH)
    return f16vec4(unpackFloat2x16(h.x), unpackFloat2x16(h.y));
#else
    return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
#endif
}

/* One run's s: (wa, xa) are elements 0..3 of the run, (wb, xb) elements 4..7. */
float skim_half_run(HVEC wa, HVEC xa, HVEC wb, HVEC xb) {
#if defined(HALF_ARITH)
    precise f16vec4 pa = wa * xa;
    precise f16vec4 pb = wb * xb;
    precise f16vec4 a = pa + pb;
    precise float16_t s = (a.x + a.y) + (a.z + a.w);
    return float(s);
#else
    vec4 a = skim_f16_round4(skim_f16_round4(wa * xa) + skim_f16_round4(wb * xb));
    return skim_f16_round(skim_f16_round(a.x + a.y) + skim_f16_round(a.z + a.w));
#endif
}
