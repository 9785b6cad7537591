#version 450
/* select.comp - the selection producers, one workgroup for the whole selection: for each
 * group, 256 candidates at a time are flagged and compacted with a workgroup prefix sum,
 * keeping ascending order: with SUBGROUP (devices with subgroup arithmetic) a
 * subgroupInclusiveAdd per subgroup plus the subgroups' totals through shared memory (one
 * barrier pair); without, a shared-memory Hillis-Steele scan (eight barrier pairs).
 * Output words (binding 0): counts[groups], idx[groups][cap], the NaN count.
 * op HEAD_GATE: scores (binding 1) [n_head] (one group) or [n_head, n_tok] (a group per
 *   head), kept when score >= tau or NaN.
 * op TOKEN_HALT: p_halt (binding 1), prev's words (binding 2, when i[2] & 2): tokens of
 *   prev (all when none) with p < tau or NaN; p is compact (entry i for prev[i]) when
 *   i[2] & 4.
 * op TOPK: the i[3] highest scores (ties: lower index; NaN counts as highest).
 * i[0] groups, i[1] capacity, i[2] & 1: the input's rows are bounded by binding 9;
 * i[2] & 8 (HEAD_GATE): binding 2 holds a token selection gating the head count;
 * neb[0] = input elements; f[0] = tau.
 * Then, as indirect.comp would in a dispatch of its own, the VkDispatchIndirectCommand of
 * every dispatch consuming this selection: the indirect table and commands at binding 3
 * (entry e: 8 words from 8e, its command 3 words from nbb[2] + 3e), nbb[0] entries
 * (0: none), nbb[1] this selection's slot; count = group 0's count, or with word 7 of
 * the entry 1 the head list's length, with 2 group 0's count taken as zero when the
 * token selection at binding 2 (i[2] & 8) has none (decode: the token halted).
 * The head list (when nbb[3] != 0, at word nbb[3] of binding 3): the number of groups
 * with a nonzero count, then those groups in ascending order (for a per-token head gate
 * of one token: the active heads, which its consumers dispatch over). */
#include "common.glsl"
#define WG 256u
layout(local_size_x = 256) in;
shared uint scan[WG];
shared uint nan_count;
shared uint n_listed;

/* The inclusive prefix count of `keep` over the workgroup; *total: the workgroup's count.
 * Called in uniform control flow. */
uint wg_scan(bool keep, out uint total) {
    uint t = gl_LocalInvocationID.x;
#ifdef SUBGROUP
    uint incl = subgroupInclusiveAdd(keep ? 1u : 0u);
    if (gl_SubgroupInvocationID == gl_SubgroupSize - 1u) scan[gl_SubgroupID] = incl;
    barrier();
    uint before = 0u, all = 0u;
    for (uint s = 0u; s < gl_NumSubgroups; s++) {
        uint v = scan[s];
        before += s < gl_SubgroupID ? v : 0u;
        all += v;
    }
    barrier();
    total = all;
    return before + incl;
#else
    scan[t] = keep ? 1u : 0u;
    barrier();
    [[unroll]] for (uint s = 1u; s < WG; s <<= 1u) {
        uint v = t >= s ? scan[t - s] : 0u;
        barrier();
        scan[t] += v;
        barrier();
    }
    uint incl = scan[t];
    total = scan[WG - 1u];
    barrier();
    return incl;
#endif
}

bool keep_topk(uint i, uint n) {
    float s = A[pc.off[1] + i];
    uint rank = 0u;
    for (uint j = 0u; j < n; j++) {
        float o = A[pc.off[1] + j];
        bool better = isnan(o) ? (!isnan(s) || j < i) : (!isnan(s) && (o > s || (o == s && j < i)));
        rank += better ? 1u : 0u;
    }
    return rank < uint(pc.i[3]);
}

void main() {
    uint t = gl_LocalInvocationID.x;
    uint groups = uint(pc.i[0]), cap = uint(pc.i[1]);
    uint words0 = pc.off[0];
    if (t == 0u) nan_count = 0u;
    barrier();
    uint first = 0u, listed = 0u, hl = pc.nbb[3];
    for (uint g = 0u; g < groups; g++) {
        uint n = cap;
        if ((pc.i[2] & 1) != 0) n = min(n, uint(max(BOUND[0], 0)));
        if (pc.op == SKIM_VK_OP_TOKEN_HALT && (pc.i[2] & 2) != 0) n = min(n, uint(max(Bi[pc.off[2]], 0)));
        uint total = 0u;
        for (uint c = 0u; c < n; c += WG) {
            uint i = c + t;
            bool keep = false, isn = false;
            uint value = i;
            if (i < n) {
                if (pc.op == SKIM_VK_OP_HEAD_GATE) {
                    float s = groups == 1u ? A[pc.off[1] + i] : A[pc.off[1] + i * groups + g];
                    isn = isnan(s);
                    keep = isn || s >= pc.f[0];
                } else if (pc.op == SKIM_VK_OP_TOKEN_HALT) {
                    bool has_prev = (pc.i[2] & 2) != 0;
                    value = has_prev ? uint(Bi[pc.off[2] + 1u + i]) : i;
                    float p = A[pc.off[1] + ((pc.i[2] & 4) != 0 ? i : value)];
                    isn = isnan(p);
                    keep = isn || p < pc.f[0];
                } else {
                    isn = isnan(A[pc.off[1] + i]);
                    keep = keep_topk(i, n);
                }
            }
            if (isn && keep) atomicAdd(nan_count, 1u);
            uint chunk;
            uint incl = wg_scan(keep, chunk);
            if (keep) Di[words0 + groups + g * cap + total + incl - 1u] = int(value);
            total += chunk;
        }
        if (t == 0u) {
            Di[words0 + g] = int(total);
            if (hl != 0u && total > 0u) Cu[hl + 1u + listed++] = g;
        }
        if (g == 0u) first = total;
    }
    if (t == 0u) {
        n_listed = listed;
        if (hl != 0u) Cu[hl] = listed;
    }
    barrier();
    if (t == 0u) Di[words0 + groups + groups * cap] = int(nan_count);
    for (uint e = t; e < pc.nbb[0]; e += WG) {
        uint b = e * 8u;
        if (Cu[b] != pc.nbb[1]) continue;
        uint src = Cu[b + 7u];
        uint count = src == 1u ? n_listed : first;
        if (src == 2u && (pc.i[2] & 8) != 0 && Bi[pc.off[2]] <= 0) count = 0u;
        uvec3 g3 = skim_indirect_grid(count, Cu[b + 1u], Cu[b + 2u], Cu[b + 3u],
                                      uvec3(Cu[b + 4u], Cu[b + 5u], Cu[b + 6u]));
        uint d = pc.nbb[2] + e * 3u;
        Cu[d] = g3.x;
        Cu[d + 1u] = g3.y;
        Cu[d + 2u] = g3.z;
    }
}
