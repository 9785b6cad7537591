#version 450
/* mul_mat.comp - y[m, n, b2, b3] = sum_k w[k, m, b2/r2, b3/r3] x[k, n, b2, b3].
 * w (binding 1, type by define, contiguous; nba = its strides), x F32 (binding 2, strided
 * rows nbb, shape neb), y F32 contiguous. Register-blocked: each invocation makes RM x RN
 * outputs over the whole of k, with no shared memory or barriers (what llvmpipe runs
 * fastest; a subgroup-reduction variant for GPUs is a further row in shaders.cmake).
 * A workgroup covers 16*RM rows and 4*RN columns; NARROW (N <= RN: decode, where the
 * 16 x 4 layout leaves three quarters of the invocations without a column) 64*RM rows
 * and RN columns.
 * op: DENSE; SEL: row blocks (heads) of i[0] rows listed in the selection at binding 3
 * (i[1] & 0xffff groups of capacity i[2]; i[1] >> 16 is 1 for HEAD_TOKENS, which may have
 * one group too) are computed, the rest are zero; SEL_K: only the listed column blocks of
 * w take part. With one group (HEADS) the list holds heads (SEL_K loops over it); with one
 * group per head (HEAD_TOKENS) group h lists the columns n for which head h is active
 * (SEL_K of one column: the backend binds the producer's head list instead, a list of
 * i[2] heads at most, and clears bit 16).
 * Bit 17 of i[1] (SEL, head blocks of whole RM-row groups): the rows go over the listed
 * heads only (row r of the grid is row r % block of the (r / block)-th listed head, of
 * a list at binding 3 of a count and then i[2] heads at most: a HEADS selection, or the
 * head list of a per-token one of one column); the skipped heads' rows are not written,
 * since nothing reads them.
 * Bit 18 of i[1] (SEL of a per-token selection): runs of each head's own tokens. The list
 * of a head's active columns goes in runs of as many as a workgroup has columns (16 but
 * for NARROW and TILE), run after run and head after head; workgroup x is row block x %
 * R (R = ceil(i[0] / the workgroup's rows)) of the head of the (x / R)-th run, over that
 * run's columns, gathered from x by the list. The skipped (head, column) outputs, and listed columns past the
 * column extent, are not written: the backend takes this only when nothing reads them.
 * i[3] = r2 | r3 << 16 (the batch broadcast ratios).
 * Epilogue (a fused chain, bits of op above the low byte): E (binding 4, contiguous, bound
 * at offset 0) added per output row (EPI_ROW) or element by element (EPI_FULL), then an
 * activation (skim_epi_act); applied to skipped blocks' zeros too, as the chain would.
 * VEC4: k in steps of 4 with vec4 loads of x, and of w four elements at a time (a vec4
 * for F32, a uvec2 of halves for F16, one possibly unaligned word of quants and the
 * block's scale for Q8_0 / Q4_0): 2-4x faster on lavapipe, whose scalar storage-buffer
 * loads are not vectorised (Mesa 22.3.6). The backend picks it only when K, the head
 * block and x's strides and offset (and F32 / F16 w's) are multiples of 4 elements.
 * Q8_0 / Q4_0 with VEC4 go block by block where k's range allows (below).
 * TILE (with VEC4; the backend picks it for a dense mul_mat of N >= 32, prefill): RM x RN
 * = TILE_RM x TILE_RN (16 x 8 in shaders.cmake) outputs per invocation, a workgroup 16*RM
 * rows by 4*RN columns. lavapipe (Mesa 22.3) loads a storage buffer lane by lane, so the
 * cost is loads per multiply-add: 4 x 4 loads 24 words per 64 (F16), 16 x 8 64 per 512,
 * about 2x faster at n = 256. 32 x 8 and 16 x 16 took llvmpipe 10x longer to compile.
 * HALF (with TILE, W_F16; HALF_ARITH: in f16 arithmetic): SKIM_PLAN_HALF_PRODUCTS, by
 * mul_mat_half.glsl's rule, runs of 8 k at a time. */
#if defined(HALF_ARITH)
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#endif
#include "common.glsl"
#include "dequant.glsl"
#ifdef VEC4
layout(std430, set = 0, binding = 1) buffer A4_blk { vec4 A4[]; };
layout(std430, set = 0, binding = 1) buffer Au2_blk { uvec2 Au2[]; };
layout(std430, set = 0, binding = 2) buffer B4_blk { vec4 B4[]; };

/* The 4 bytes at byte a of binding 1 (any alignment). */
uint skim_word_at(uint a) {
    uint s = (a & 3u) * 8u, i = a >> 2u;
    uint lo = Au[i];
    return s == 0u ? lo : (lo >> s) | (Au[i + 1u] << (32u - s));
}

/* Elements k..k+3 (k a multiple of 4) of the weight row starting at base (elements for
 * F32 / F16, bytes for the block types, as skim_load_w). */
vec4 skim_load_w4(uint base, uint k) {
#if defined(W_F32)
    return A4[(base + k) >> 2u];
#elif defined(W_F16)
    uvec2 h = Au2[(base + k) >> 2u];
    return vec4(unpackHalf2x16(h.x), unpackHalf2x16(h.y));
#elif defined(W_Q8_0)
    uint b = base + (k >> 5u) * 34u;
    uint q = skim_word_at(b + 2u + (k & 31u));
    ivec4 v = ivec4(int(q << 24u), int(q << 16u), int(q << 8u), int(q)) >> 24;
    return skim_half_at(b) * vec4(v);
#else
    uint b = base + (k >> 5u) * 18u, j = k & 31u;
    uint q = skim_word_at(b + 2u + (j & 15u)) >> (j < 16u ? 0u : 4u);
    uvec4 v = uvec4(q, q >> 8u, q >> 16u, q >> 24u) & 15u;
    return skim_half_at(b) * (vec4(v) - 8.0);
#endif
}
#endif
#if defined(HALF)
#include "mul_mat_half.glsl"
#endif
#ifdef TILE
#define RM TILE_RM
#define RN TILE_RN
#else
#define RM 4u
#define RN 4u
#endif
layout(local_size_x = 64) in;

/* Whether v is in the ascending list of group g of the selection at binding 3. */
bool sel_has(uint g, uint v) {
    uint groups = uint(pc.i[1]) & 0xffffu, cap = uint(pc.i[2]);
    int lo = 0, hi = min(Ci[pc.off[3] + g], int(cap)) - 1;
    uint base = pc.off[3] + groups + g * cap;
    while (lo <= hi) {
        int mid = (lo + hi) >> 1;
        int x = Ci[base + uint(mid)];
        if (x == int(v)) return true;
        if (x < int(v)) lo = mid + 1; else hi = mid - 1;
    }
    return false;
}

/* The head of run `run` (bit 18 of i[1]; `per` columns of a head's list per run): run
 * becomes its index within the head, cnt the head's count; i[1] & 0xffff when past the
 * last run. */
uint run_head(inout uint run, uint per, out uint cnt) {
    uint groups = uint(pc.i[1]) & 0xffffu;
    cnt = 0u;
    for (uint h = 0u; h < groups; h++) {
        cnt = uint(clamp(Ci[pc.off[3] + h], 0, pc.i[2]));
        uint k = (cnt + per - 1u) / per;
        if (run < k) return h;
        run -= k;
    }
    return groups;
}

/* Bit c: head h is active for column n0 + c. */
uint head_cols(uint h, uint n0, uint ncol) {
    if (((pc.i[1] >> 16) & 1) == 0) { /* HEADS: one list of heads (HEAD_TOKENS may have 1 group too) */
        return sel_has(0u, h) ? (1u << ncol) - 1u : 0u;
    }
    uint bits = 0u;
    for (uint c = 0u; c < ncol; c++) {
        bits |= sel_has(h, n0 + c) ? (1u << c) : 0u;
    }
    return bits;
}

void main() {
    uvec4 n = skim_extent();
    uint t = gl_LocalInvocationID.x;
#ifdef NARROW
    const uint tr = 64u;
#else
    const uint tr = 16u;
#endif
    uint m0 = gl_WorkGroupID.x * tr * RM + (t % tr) * RM;
    uint n0 = gl_WorkGroupID.y * (64u / tr) * RN + (t / tr) * RN;
    uint bz = gl_WorkGroupID.z;
    uint M = pc.ne[0];
    uint block = uint(max(pc.i[0], 1));
    bool listed = (pc.i[1] & (1 << 17)) != 0;
    bool runs = (pc.i[1] & (1 << 18)) != 0;
    uint col[RN], live = 0u, rlim = M;
    [[unroll]] for (uint c = 0u; c < RN; c++) col[c] = n0 + c;
    if (runs) { /* a run of head h's listed columns: the (t / tr)-th RN of them */
        const uint wr = tr * RM, wc = (64u / tr) * RN; /* the workgroup's rows and columns */
        uint rb = (block + wr - 1u) / wr, run = gl_WorkGroupID.x / rb, cnt;
        uint h = run_head(run, wc, cnt), r0 = (gl_WorkGroupID.x % rb) * wr + (t % tr) * RM;
        uint j0 = run * wc + (t / tr) * RN, groups = uint(pc.i[1]) & 0xffffu;
        if (h >= groups || r0 >= block || j0 >= cnt) {
            return;
        }
        m0 = h * block + r0;
        rlim = min(M, h * block + block);
        uint base = pc.off[3] + groups + h * uint(pc.i[2]) + j0;
        [[unroll]] for (uint c = 0u; c < RN; c++) {
            col[c] = j0 + c < cnt ? uint(Ci[base + c]) : 0u;
            live |= j0 + c < cnt && col[c] < n.y ? (1u << c) : 0u;
        }
        n0 = 0u;
    }
    if (listed) { /* rows of the listed heads only: j-th listed head */
        uint j = m0 / block;
        if (j >= uint(min(Ci[pc.off[3]], pc.i[2]))) {
            return;
        }
        m0 = uint(Ci[pc.off[3] + 1u + j]) * block + m0 % block;
    }
    if (m0 >= M || n0 >= n.y) {
        return;
    }
    uint nrow = min(RM, rlim - m0), ncol = runs ? RN : min(RN, n.y - n0);
    uint b2 = bz % n.z, b3 = bz / n.z;
    uint r2 = uint(pc.i[3]) & 0xffffu, r3 = uint(pc.i[3]) >> 16u;
    uint wb = pc.off[1] + (b2 / r2) * pc.nba[2] + (b3 / r3) * pc.nba[3];
    uint xb = pc.off[2] + b2 * pc.nbb[2] + b3 * pc.nbb[3];
    uint K = pc.neb[0];
    uint mop = pc.op & 0xffu;
    uint act[RM];
    [[unroll]] for (uint r = 0u; r < RM; r++) {
        act[r] = r >= nrow ? 0u : runs ? live : (1u << ncol) - 1u;
        if (mop == SKIM_VK_OP_MUL_MAT_SEL && r < nrow && !listed && !runs) {
            act[r] = head_cols((m0 + r) / block, n0, ncol);
        }
    }
    float acc[RM][RN];
    [[unroll]] for (uint r = 0u; r < RM; r++)
        [[unroll]] for (uint c = 0u; c < RN; c++) acc[r][c] = 0.0;
    uint any = 0u;
    [[unroll]] for (uint r = 0u; r < RM; r++) any |= act[r];
    /* SEL_K over one list of heads: the listed blocks only (count at word 0, then the
     * heads); per-token lists: every block, its columns looked up. */
    bool klist = mop == SKIM_VK_OP_MUL_MAT_SEL_K && ((pc.i[1] >> 16) & 1) == 0;
    uint nblk = mop != SKIM_VK_OP_MUL_MAT_SEL_K ? 1u
              : klist ? uint(clamp(Ci[pc.off[3]], 0, pc.i[2])) : K / block;
    for (uint j = 0u; any != 0u && j < nblk; j++) {
        uint hb = klist ? uint(Ci[pc.off[3] + 1u + j]) : j;
        uint k0 = 0u, k1 = K, cols = runs ? live : (1u << ncol) - 1u;
        if (mop == SKIM_VK_OP_MUL_MAT_SEL_K) {
            cols = klist ? cols : head_cols(hb, n0, ncol);
            if (cols == 0u) continue;
            k0 = hb * block;
            k1 = k0 + block;
        }
#if defined(VEC4) && (defined(W_Q8_0) || defined(W_Q4_0))
        /* Whole blocks (k0 and k1 on block bounds): each row's scale read once per block
         * and applied to the block's sum of quant x x products; Q4_0 takes the low and
         * high nibbles of one word (elements j and j + 16) together. */
        uint kq = (k0 % 32u == 0u && k1 % 32u == 0u) ? k1 : k0;
        for (uint kb = k0; kb < kq; kb += 32u) {
            float part[RM][RN];
            [[unroll]] for (uint r = 0u; r < RM; r++)
                [[unroll]] for (uint c = 0u; c < RN; c++) part[r][c] = 0.0;
#ifdef W_Q8_0
            const uint BS = 34u, KS = 32u;
#else
            const uint BS = 18u, KS = 16u;
#endif
            for (uint j = 0u; j < KS; j += 4u) {
                vec4 xv[RN], wv[RM];
#ifdef W_Q4_0
                vec4 xh[RN], wh[RM];
#endif
                [[unroll]] for (uint c = 0u; c < RN; c++) {
                    uint xi = (xb + col[c] * pc.nbb[1] + kb + j) >> 2u;
                    bool on = (cols & (1u << c)) != 0u;
                    xv[c] = on ? B4[xi] : vec4(0.0);
#ifdef W_Q4_0
                    xh[c] = on ? B4[xi + 4u] : vec4(0.0);
#endif
                }
                [[unroll]] for (uint r = 0u; r < RM; r++) {
                    uint q = r < nrow ? skim_word_at(wb + (m0 + r) * pc.nba[1] + (kb >> 5u) * BS + 2u + j) : 0u;
#ifdef W_Q8_0
                    wv[r] = vec4(ivec4(int(q << 24u), int(q << 16u), int(q << 8u), int(q)) >> 24);
#else
                    wv[r] = vec4(uvec4(q, q >> 8u, q >> 16u, q >> 24u) & 15u) - 8.0;
                    wh[r] = vec4(uvec4(q >> 4u, q >> 12u, q >> 20u, q >> 28u) & 15u) - 8.0;
#endif
                }
                [[unroll]] for (uint r = 0u; r < RM; r++)
                    [[unroll]] for (uint c = 0u; c < RN; c++) {
                        part[r][c] += dot(wv[r], xv[c]);
#ifdef W_Q4_0
                        part[r][c] += dot(wh[r], xh[c]);
#endif
                    }
            }
            [[unroll]] for (uint r = 0u; r < RM; r++) {
                float d = r < nrow ? skim_half_at(wb + (m0 + r) * pc.nba[1] + (kb >> 5u) * BS) : 0.0;
                [[unroll]] for (uint c = 0u; c < RN; c++) acc[r][c] += d * part[r][c];
            }
        }
#elif defined(VEC4)
        uint kq = k0;
#endif
#if defined(HALF)
        for (uint k = kq; k < k1; k += 8u) { /* one run: k..k+3, then k+4..k+7 if in range */
            bool two = k + 4u < k1;
            HVEC xl[RN], xh[RN], wl[RM], wh[RM]; /* elements 0..3, 4..7 */
            [[unroll]] for (uint c = 0u; c < RN; c++) {
                uint xi = (xb + col[c] * pc.nbb[1] + k) >> 2u;
                bool on = (cols & (1u << c)) != 0u;
                xl[c] = on ? skim_half_x4(B4[xi]) : HVEC(0.0);
                xh[c] = on && two ? skim_half_x4(B4[xi + 1u]) : HVEC(0.0);
            }
            [[unroll]] for (uint r = 0u; r < RM; r++) {
                uint wr = wb + (m0 + r) * pc.nba[1];
                wl[r] = r < nrow ? skim_half_w4(wr, k) : HVEC(0.0);
                wh[r] = r < nrow && two ? skim_half_w4(wr, k + 4u) : HVEC(0.0);
            }
            [[unroll]] for (uint r = 0u; r < RM; r++)
                [[unroll]] for (uint c = 0u; c < RN; c++)
                    acc[r][c] += skim_half_run(wl[r], xl[c], wh[r], xh[c]);
        }
#elif defined(VEC4)
        for (uint k = kq; k < k1; k += 4u) {
            vec4 xv[RN], wv[RM];
            [[unroll]] for (uint c = 0u; c < RN; c++)
                xv[c] = (cols & (1u << c)) != 0u ? B4[(xb + col[c] * pc.nbb[1] + k) >> 2u] : vec4(0.0);
            [[unroll]] for (uint r = 0u; r < RM; r++)
                wv[r] = r < nrow ? skim_load_w4(wb + (m0 + r) * pc.nba[1], k) : vec4(0.0);
            [[unroll]] for (uint r = 0u; r < RM; r++)
                [[unroll]] for (uint c = 0u; c < RN; c++) acc[r][c] += dot(wv[r], xv[c]);
        }
#else
        for (uint k = k0; k < k1; k++) {
            float xv[RN], wv[RM];
            [[unroll]] for (uint c = 0u; c < RN; c++)
                xv[c] = (cols & (1u << c)) != 0u ? B[xb + col[c] * pc.nbb[1] + k] : 0.0;
            [[unroll]] for (uint r = 0u; r < RM; r++)
                wv[r] = r < nrow ? skim_load_w(wb + (m0 + r) * pc.nba[1], k) : 0.0;
            [[unroll]] for (uint r = 0u; r < RM; r++)
                [[unroll]] for (uint c = 0u; c < RN; c++) acc[r][c] += wv[r] * xv[c];
        }
#endif
    }
    [[unroll]] for (uint r = 0u; r < RM; r++) {
        [[unroll]] for (uint c = 0u; c < RN; c++) {
            if (r < nrow && c < ncol && (!runs || (act[r] & (1u << c)) != 0u)) {
                uint e = m0 + r + col[c] * pc.nbd[1] + b2 * pc.nbd[2] + b3 * pc.nbd[3];
                float v = (act[r] & (1u << c)) != 0u ? acc[r][c] : 0.0;
                if ((pc.op & SKIM_VK_EPI_ROW) != 0u) v += E[m0 + r];
                if ((pc.op & SKIM_VK_EPI_FULL) != 0u) v += E[e];
                D[pc.off[0] + e] = skim_epi_act(v, pc.op);
            }
        }
    }
}
