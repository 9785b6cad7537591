#version 450
/* select.comp - the selection producers, over a grid of (chunks, groups) workgroups: chunk
 * c of group g holds candidates c * WG .. c * WG + WG - 1 (WG = SKIM_VK_SEL_CHUNK).
 * Entries keep ascending order: each chunk is compacted with a workgroup prefix sum (with SUBGROUP, devices with
 * subgroup arithmetic: subgroupInclusiveAdd plus the subgroups' totals through shared
 * memory; without, a shared-memory Hillis-Steele scan), at the offset of its chunk, the
 * count of the group's chunks before it.
 * Output words (binding 0): counts[groups], idx[groups][cap], the NaN count.
 * op HEAD_GATE: scores (binding 1) [n_head] (one group) or [n_head, n_tok] (a group per
 *   head), kept when score >= tau or NaN.
 * op TOKEN_HALT: p_halt (binding 1), prev's words (binding 2, when i[2] & 2): tokens of
 *   prev (all when none) with p < tau or NaN; p is compact (entry i for prev[i]) when
 *   i[2] & 4.
 * op TOPK: the i[3] highest scores (ties: lower index; NaN counts as highest). Scores are
 *   mapped to keys whose unsigned order is the scores' (NaN highest, -0 = +0); each chunk
 *   sorts its keys in shared memory (bitonic), the finishing workgroup finds the k-th
 *   highest key T by 32 probes, each a binary search per sorted chunk (O(n log n) in all),
 *   and a candidate is kept when its key is above T, or equal to T and among the first
 *   `need` such in index order (need = k - the count above T).
 * HEAD_GATE / TOKEN_HALT with neb[1] = K != 0 (a fused chain, vk_fuse.c): the scores are
 *   not read but computed, score e = sigmoid(W row (e % M) . x column (e / M) + bias
 *   row), W [K, M] at binding 4, x [K, columns] at binding 5, the bias [M] at binding 7,
 *   M = neb[2] (the product, bias add and sigmoid the unfused chain would run first).
 * i[0] groups, i[1] capacity, i[2] & 1: the input's rows are bounded by binding 9;
 * i[2] & 8 (HEAD_GATE): binding 2 holds a token selection gating the head count;
 * i[2] & 16 (HEAD_GATE of one token, at most WG groups): one workgroup decides every
 *   group, invocation g group g (main_across);
 * neb[0] = input elements; f[0] = tau; nba[0] the scratch's first word at binding 3;
 * nba[1] = 1: the second dispatch (below).
 *
 * Scratch (binding 3, words from nba[0], zero before the first run and left so by every
 * run): the ticket, T, need, the NaN count, then per (group, chunk) its count (then
 * offset) and the count of keys equal to T before it. Every workgroup adds its NaN count,
 * then takes a ticket; the last one finishes: with one chunk per group the entries are
 * already written (TOPK: it writes them); with more, it turns the chunks' counts into
 * offsets and a second dispatch of the same grid (nba[1] = 1) writes the entries. It
 * writes the counts, the NaN count and, as indirect.comp would in a dispatch of its own,
 * the VkDispatchIndirectCommand of every dispatch consuming this selection: the indirect
 * table and commands at binding 3 (entry e: 8 words from 8e, its command 3 words from
 * nbb[2] + 3e), nbb[0] entries (0: none), nbb[1] this selection's slot; count = group
 * 0's count, or with word 7 of the entry 1 the pair list's length, with 2 group 0's
 * count taken as zero when the token selection at binding 2 (i[2] & 8) has none (decode:
 * the token halted), with 3 the sum over the groups of ceil(count / div), times mul (the
 * runs of a per-token head gate's product).
 * The pair list (when nbb[3] != 0, at word nbb[3] of binding 3): the number of entries
 * of all groups, then group by group each entry v of group g as g * capacity + v (for a
 * per-token head gate: the active (head, token) pairs, which attention dispatches over;
 * of one token, the active heads, the head list of decode's consumers). The finishing
 * workgroup writes the count and, with one chunk per group, the pairs; with more, the
 * second dispatch writes them beside the entries, after the groups before. Word 7 of an
 * indirect entry 1 takes the count from it. */
#define SKIM_BUF_QUAL coherent
#include "common.glsl"
#define WG uint(SKIM_VK_SEL_CHUNK)
layout(local_size_x = SKIM_VK_SEL_CHUNK) in;
shared uint scan[WG];
shared uint skey[WG];
shared uint wg_nan;
shared uint wg_last;
shared uint n_listed;

/* The inclusive prefix sum of v over the workgroup; *total: the workgroup's sum. Called
 * in uniform control flow. */
uint wg_scan(uint v, out uint total) {
    uint t = gl_LocalInvocationID.x;
#ifdef SUBGROUP
    /* The subgroup's total from subgroupAdd, not its last lane: a workgroup smaller than
     * the device's subgroup (32 on a wave64 device) runs as one partial subgroup. */
    uint incl = subgroupInclusiveAdd(v), sum = subgroupAdd(v);
    if (subgroupElect()) scan[gl_SubgroupID] = sum;
    barrier();
    uint before = 0u, all = 0u;
    for (uint s = 0u; s < gl_NumSubgroups; s++) {
        uint x = scan[s];
        before += s < gl_SubgroupID ? x : 0u;
        all += x;
    }
    barrier();
    total = all;
    return before + incl;
#else
    scan[t] = v;
    barrier();
    [[unroll]] for (uint s = 1u; s < WG; s <<= 1u) {
        uint x = t >= s ? scan[t - s] : 0u;
        barrier();
        scan[t] += x;
        barrier();
    }
    uint incl = scan[t];
    total = scan[WG - 1u];
    barrier();
    return incl;
#endif
}

/* How many candidates there are at run time. */
uint limit() {
    uint n = uint(pc.i[1]);
    if ((pc.i[2] & 1) != 0) n = min(n, uint(max(BOUND[0], 0)));
    if (pc.op == SKIM_VK_OP_TOKEN_HALT && (pc.i[2] & 2) != 0) n = min(n, uint(max(Bi[pc.off[2]], 0)));
    return n;
}

/* HEAD_GATE / TOKEN_HALT: score element e, read or (neb[1] != 0) computed. */
float score(uint e) {
    uint K = pc.neb[1];
    if (K == 0u) return A[pc.off[1] + e];
    uint M = pc.neb[2], row = e % M, wr = row * K, xc = (e / M) * K;
    float acc = 0.0;
    for (uint k = 0u; k < K; k++) acc += E[wr + k] * F[xc + k];
    return skim_epi_act(acc + G[row], SKIM_VK_EPI_SIGMOID);
}

/* HEAD_GATE / TOKEN_HALT: whether candidate i (< n) of group g is kept, whether its score
 * is NaN, and its entry. */
bool flag(uint g, uint groups, uint i, out bool isn, out uint value) {
    value = i;
    if (pc.op == SKIM_VK_OP_HEAD_GATE) {
        float s = score(groups == 1u ? i : i * groups + g);
        isn = isnan(s);
        return isn || s >= pc.f[0];
    }
    bool has_prev = (pc.i[2] & 2) != 0;
    value = has_prev ? uint(Bi[pc.off[2] + 1u + i]) : i;
    float p = score((pc.i[2] & 4) != 0 ? i : value);
    isn = isnan(p);
    return isn || p < pc.f[0];
}

/* TOPK: the key of candidate i (< n); 0 (below every key) for none. */
uint topk_key(uint i) {
    uint b = Au[pc.off[1] + i];
    if ((b & 0x7fffffffu) > 0x7f800000u) return 0xffffffffu; /* NaN */
    if ((b & 0x7fffffffu) == 0u) b = 0u;                      /* -0 ties with +0 */
    return (b & 0x80000000u) != 0u ? ~b : (b | 0x80000000u);
}

uint scratch(uint g, uint c) {
    return pc.nba[0] + 4u + 2u * (g * gl_NumWorkGroups.x + c);
}

/* HEAD_GATE / TOKEN_HALT: chunk c of group g compacted to position `at` of the group's
 * list (and, when pairs != 0, of the group's pairs from word `pairs` of binding 3);
 * returns the chunk's count, adds its NaN to wg_nan. */
uint compact_flags(uint c, uint g, uint n, uint at, bool write, uint pairs) {
    uint t = gl_LocalInvocationID.x, groups = uint(pc.i[0]), i = c * WG + t, value = 0u;
    bool isn = false, keep = i < n && flag(g, groups, i, isn, value);
    if (isn && keep) atomicAdd(wg_nan, 1u);
    uint total, incl = wg_scan(keep ? 1u : 0u, total);
    if (write && keep) {
        uint e = at + incl - 1u, cap = uint(pc.i[1]);
        Di[pc.off[0] + groups + g * cap + e] = int(value);
        if (pairs != 0u) Cu[pairs + e] = g * cap + value;
    }
    return total;
}

/* Group g's count as its list holds it (at most the capacity). */
uint group_count(uint g) {
    return uint(clamp(Di[pc.off[0] + g], 0, pc.i[1]));
}

/* The sum over the groups of ceil(count / per). */
uint group_runs(uint per) {
    uint runs = 0u;
    for (uint g = 0u; g < uint(pc.i[0]); g++) runs += (group_count(g) + per - 1u) / max(per, 1u);
    return runs;
}

/* TOPK: chunk c compacted to position `at`: keys above T, and those equal to T while the
 * count of such before them (eqb before the chunk) stays under need. T = 0: all. */
void compact_topk(uint c, uint n, uint T, uint need, uint at, uint eqb) {
    uint t = gl_LocalInvocationID.x, i = c * WG + t;
    uint key = i < n ? topk_key(i) : 0u;
    bool eq = T != 0u && key == T;
    uint total, er = wg_scan(eq ? 1u : 0u, total) - (eq ? 1u : 0u);
    bool keep = key > T || (eq && eqb + er < need);
    uint incl = wg_scan(keep ? 1u : 0u, total);
    if (keep) Di[pc.off[0] + 1u + at + incl - 1u] = int(i);
}

/* TOPK: how many of sorted chunk c's keys (descending, at its place in the entries) are
 * at least x (x > 0). */
uint count_ge_chunk(uint c, uint x) {
    uint base = pc.off[0] + 1u + c * WG, lo = 0u, hi = min(WG, uint(pc.i[1]) - c * WG);
    while (lo < hi) {
        uint mid = (lo + hi) >> 1u;
        if (Du[base + mid] >= x) lo = mid + 1u;
        else hi = mid;
    }
    return lo;
}

/* TOPK: how many keys are at least x (x > 0); uniform control flow. */
uint count_ge(uint x) {
    uint s = 0u, total;
    for (uint c = gl_LocalInvocationID.x; c < gl_NumWorkGroups.x; c += WG) s += count_ge_chunk(c, x);
    wg_scan(s, total);
    return total;
}

/* TOPK, the finishing workgroup: T, need, every chunk's offset and count of keys equal to
 * T before it; with one chunk, the entries. Returns the count of NaN kept. */
uint finish_topk(uint n) {
    uint t = gl_LocalInvocationID.x, chunks = gl_NumWorkGroups.x, S = pc.nba[0];
    uint k = uint(pc.i[3]), T = 0u, need = 0u;
    if (k < n) {
        for (int b = 31; b >= 0; b--) {
            uint cand = T | (1u << uint(b));
            if (count_ge(cand) >= k) T = cand;
        }
        need = k - (T == 0xffffffffu ? 0u : count_ge(T + 1u));
    }
    uint nan_kept = min(k, count_ge(0xffffffffu));
    uint eq_carry = 0u, off_carry = 0u, off = 0u, eqb = 0u, total;
    for (uint c0 = 0u; c0 < chunks; c0 += WG) {
        uint c = c0 + t, gt = 0u, eq = 0u;
        if (c < chunks) {
            gt = T == 0u ? count_ge_chunk(c, 1u) : (T == 0xffffffffu ? 0u : count_ge_chunk(c, T + 1u));
            eq = T == 0u ? 0u : count_ge_chunk(c, T) - gt;
        }
        eqb = eq_carry + wg_scan(eq, total) - eq;
        eq_carry += total;
        uint kept = gt + min(eq, need > eqb ? need - eqb : 0u);
        off = off_carry + wg_scan(kept, total) - kept;
        off_carry += total;
        if (c < chunks) {
            Cu[scratch(0u, c)] = off;
            Cu[scratch(0u, c) + 1u] = eqb;
        }
    }
    if (t == 0u) {
        Di[pc.off[0]] = int(off_carry);
        Cu[S + 1u] = T;
        Cu[S + 2u] = need;
    }
    if (chunks == 1u) { /* every read of the sorted keys is behind the scans' barriers */
        compact_topk(0u, n, T, need, 0u, 0u);
    }
    return nan_kept;
}

/* HEAD_GATE / TOKEN_HALT with several chunks, the finishing workgroup: each group's chunk
 * counts become offsets; the group's count. */
void finish_offsets() {
    uint t = gl_LocalInvocationID.x, chunks = gl_NumWorkGroups.x, total;
    for (uint g = 0u; g < gl_NumWorkGroups.y; g++) {
        uint carry = 0u;
        for (uint c0 = 0u; c0 < chunks; c0 += WG) {
            uint c = c0 + t, v = c < chunks ? Cu[scratch(g, c)] : 0u;
            uint off = carry + wg_scan(v, total) - v;
            carry += total;
            if (c < chunks) Cu[scratch(g, c)] = off;
        }
        if (t == 0u) Di[pc.off[0] + g] = int(carry);
    }
}

void indirect_cmds();

/* The finishing workgroup, after the others' writes: counts, NaN count, head list,
 * indirect commands; the scratch back to zero. */
void finish(uint n) {
    uint t = gl_LocalInvocationID.x, groups = uint(pc.i[0]), cap = uint(pc.i[1]);
    uint S = pc.nba[0], hl = pc.nbb[3], words0 = pc.off[0];
    uint nan = 0u;
    if (pc.op == SKIM_VK_OP_SELECT_TOPK) {
        nan = finish_topk(n);
    } else {
        if (gl_NumWorkGroups.x > 1u) finish_offsets();
        nan = Cu[S + 3u];
    }
    memoryBarrierBuffer();
    barrier();
    if (t == 0u) {
        uint listed = 0u;
        for (uint g = 0u; g < groups; g++) listed += group_count(g);
        n_listed = listed;
        if (hl != 0u) Cu[hl] = listed;
        Di[words0 + groups + groups * cap] = int(nan);
        Cu[S] = 0u;
        Cu[S + 3u] = 0u;
    }
    barrier();
    if (hl != 0u && gl_NumWorkGroups.x == 1u) { /* one chunk per group: the entries are written */
        uint at = hl + 1u;
        for (uint g = 0u; g < groups; g++) {
            uint cnt = group_count(g);
            for (uint j = t; j < cnt; j += WG) {
                Cu[at + j] = g * cap + uint(Di[words0 + groups + g * cap + j]);
            }
            at += cnt;
        }
    }
    indirect_cmds();
}

/* The indirect commands of this selection's consumers (n_listed set, the counts written
 * and visible to the workgroup). */
void indirect_cmds() {
    uint first = uint(max(Di[pc.off[0]], 0));
    for (uint e = gl_LocalInvocationID.x; e < pc.nbb[0]; e += WG) {
        uint b = e * 8u;
        if (Cu[b] != pc.nbb[1]) continue;
        uint src = Cu[b + 7u];
        uint count = src == 1u ? n_listed : src == 3u ? group_runs(Cu[b + 2u]) : first;
        if (src == 2u && (pc.i[2] & 8) != 0 && Bi[pc.off[2]] <= 0) count = 0u;
        uvec3 g3 = skim_indirect_grid(count, Cu[b + 1u], src == 3u ? 1u : Cu[b + 2u], Cu[b + 3u],
                                      uvec3(Cu[b + 4u], Cu[b + 5u], Cu[b + 6u]));
        uint d = pc.nbb[2] + e * 3u;
        Cu[d] = g3.x;
        Cu[d + 1u] = g3.y;
        Cu[d + 2u] = g3.z;
    }
}

/* HEAD_GATE of one token (decode's per-token gate; i[2] & 16): one workgroup, invocation
 * g deciding group g (groups <= WG), where the general grid would launch a workgroup per
 * head for one candidate each. The same words as the general path. */
void main_across() {
    uint t = gl_LocalInvocationID.x, groups = uint(pc.i[0]), cap = uint(pc.i[1]);
    uint words0 = pc.off[0], hl = pc.nbb[3], value = 0u, total;
    if (t == 0u) wg_nan = 0u;
    barrier();
    bool isn = false, keep = t < groups && limit() > 0u && flag(t, groups, 0u, isn, value);
    if (isn && keep) atomicAdd(wg_nan, 1u);
    uint incl = wg_scan(keep ? 1u : 0u, total); /* its barriers publish wg_nan */
    if (t < groups) Di[words0 + t] = keep ? 1 : 0;
    if (keep) {
        Di[words0 + groups + t * cap] = int(value);
        if (hl != 0u) Cu[hl + incl] = t * cap + value;
    }
    if (t == 0u) {
        n_listed = total;
        if (hl != 0u) Cu[hl] = total;
        Di[words0 + groups + groups * cap] = int(wg_nan);
    }
    memoryBarrierBuffer();
    barrier();
    indirect_cmds();
}

void main() {
    if ((pc.i[2] & 16) != 0) {
        main_across();
        return;
    }
    uint t = gl_LocalInvocationID.x, c = gl_WorkGroupID.x, g = gl_WorkGroupID.y;
    uint chunks = gl_NumWorkGroups.x, S = pc.nba[0], n = limit();
    bool topk = pc.op == SKIM_VK_OP_SELECT_TOPK;
    if (pc.nba[1] != 0u) { /* the second dispatch: entries at the chunk's offset */
        if (topk) {
            compact_topk(c, n, Cu[S + 1u], Cu[S + 2u], Cu[scratch(0u, c)], Cu[scratch(0u, c) + 1u]);
        } else {
            uint pairs = pc.nbb[3] == 0u ? 0u : pc.nbb[3] + 1u;
            for (uint h = 0u; pairs != 0u && h < g; h++) pairs += group_count(h);
            compact_flags(c, g, n, Cu[scratch(g, c)], true, pairs);
        }
        return;
    }
    if (t == 0u) wg_nan = 0u;
    barrier();
    if (topk) {
        /* The chunk's keys sorted descending (bitonic), stored where its entries go. */
        uint i = c * WG + t;
        skey[t] = i < n ? topk_key(i) : 0u;
        for (uint k = 2u; k <= WG; k <<= 1u) {
            for (uint j = k >> 1u; j > 0u; j >>= 1u) {
                barrier();
                uint p = t ^ j;
                if (p > t) {
                    uint a = skey[t], b = skey[p];
                    if ((t & k) == 0u ? a < b : a > b) {
                        skey[t] = b;
                        skey[p] = a;
                    }
                }
            }
        }
        barrier();
        if (i < uint(pc.i[1])) Du[pc.off[0] + 1u + i] = skey[t];
    } else {
        bool one = chunks == 1u;
        uint total = compact_flags(c, g, n, 0u, one, 0u);
        if (t == 0u) {
            if (one) Di[pc.off[0] + g] = int(total);
            else Cu[scratch(g, c)] = total;
            if (wg_nan != 0u) atomicAdd(Cu[S + 3u], wg_nan);
        }
    }
    memoryBarrierBuffer();
    barrier();
    if (t == 0u) wg_last = atomicAdd(Cu[S], 1u) == chunks * gl_NumWorkGroups.y - 1u ? 1u : 0u;
    barrier();
    if (wg_last == 0u) return;
    memoryBarrierBuffer();
    finish(n);
}
