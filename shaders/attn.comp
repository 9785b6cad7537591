#version 450
/* attn.comp - causal grouped-query attention, one workgroup per (head, query).
 * Bindings (1 + source slot): q 1, k 2, v 3 (F32, or F16 with KV_F16), q_pos 4, k_pos 5,
 * the selection bounding k's rows 6 (keys exist only for its tokens), kmask 7, heads 8.
 * ne = out shape [head_dim, n_head, n_q]; nba/nbb/nbd = q/k/v strides; neb = k's shape.
 * i[0] = n_kv param slot + 1 (0: none); i[1] bits: 1 k_pos, 2 kmask, 4 k bounded;
 * i[2] heads kind (0 none, 1 HEADS, 2 HEAD_TOKENS, 3 HEADS compacted: workgroup x is
 * the x-th listed head, and the rows of unlisted heads are not written, since nothing
 * reads them; 4 HEAD_TOKENS pairs: binding 8 holds the producer's pair list, workgroup x
 * is its x-th pair, head * i[3] + query, and the rows of the other pairs are not written,
 * as with 3); i[3] its capacity; f[0] scale.
 * Keys go by in chunks of 64 with an online softmax; each invocation owns head_dim/64
 * output dimensions (head_dim <= 256). Unselected heads and fully masked rows give zero. */
#include "common.glsl"
#define WG 64u
layout(local_size_x = 64) in;
shared float sc[WG];

#ifdef KV_F16
#define LOAD_K(i) SKIM_LOAD_F16(Bu, i)
#define LOAD_V(i) SKIM_LOAD_F16(Cu, i)
#else
#define LOAD_K(i) B[i]
#define LOAD_V(i) C[i]
#endif

bool list_has(uint g, uint cap, uint groups, int v) {
    int lo = 0, hi = min(H[g], int(cap)) - 1;
    uint base = groups + g * cap;
    while (lo <= hi) {
        int mid = (lo + hi) >> 1;
        int x = H[base + uint(mid)];
        if (x == v) return true;
        if (x < v) lo = mid + 1; else hi = mid - 1;
    }
    return false;
}

void main() {
    uvec4 n = skim_extent();
    uint h = gl_WorkGroupID.x, qi = gl_WorkGroupID.y, t = gl_LocalInvocationID.x;
    if (pc.i[2] == 3) {
        if (int(h) >= min(H[0], pc.i[3])) {
            return; /* a direct dispatch over every head (selections resolved on the host) */
        }
        h = uint(H[1u + h]);
    } else if (pc.i[2] == 4) {
        if (int(h) >= H[0]) {
            return;
        }
        uint pair = uint(H[1u + h]);
        h = pair / uint(pc.i[3]);
        qi = pair % uint(pc.i[3]);
    }
    if (qi >= n.z || h >= n.y) {
        return;
    }
    uint hd = n.x, nh = n.y;
    uint out0 = pc.off[0] + h * hd + qi * hd * nh;
    bool act = true;
    if (pc.i[2] == 1) {
        act = list_has(0u, uint(pc.i[3]), 1u, int(h));
    } else if (pc.i[2] == 2) {
        act = list_has(h, uint(pc.i[3]), nh, int(qi));
    }
    uint nk = pc.neb[2];
    if ((pc.i[1] & 4) != 0) nk = min(nk, uint(max(KB[0], 0)));
    if (pc.i[0] != 0) nk = min(nk, uint(max(int(PARAMS[SKIM_VK_PARAM_BASE + uint(pc.i[0] - 1)]), 0)));
    uint kvh = h / (nh / pc.neb[1]);
    uint q0 = pc.off[1] + h * pc.nba[1] + qi * pc.nba[2];
    uint k0 = pc.off[2] + kvh * pc.nbb[1];
    uint v0 = pc.off[3] + kvh * pc.nbd[1];
    int qpos = Ei[qi];
    float m = -1.0 / 0.0, l = 0.0;
    float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
    for (uint c = 0u; act && c < nk; c += WG) {
        uint j = c + t;
        float s = -1.0 / 0.0;
        if (j < nk) {
            int kp = (pc.i[1] & 1) != 0 ? Fi[j] : int(j);
            if (kp <= qpos) {
                float d = 0.0;
                for (uint e = 0u; e < hd; e++) d += A[q0 + e] * LOAD_K(k0 + j * pc.nbb[2] + e);
                s = d * pc.f[0] + ((pc.i[1] & 2) != 0 ? G[j] : 0.0);
            }
        }
        sc[t] = s;
        barrier();
        float cm = m;
        uint cn = min(WG, nk - c);
        for (uint jj = 0u; jj < cn; jj++) cm = max(cm, sc[jj]);
        if (!(isinf(cm) && cm < 0.0)) {
            float alpha = isinf(m) ? 0.0 : exp(m - cm);
            l *= alpha;
            [[unroll]] for (uint r = 0u; r < 4u; r++) acc[r] *= alpha;
            for (uint jj = 0u; jj < cn; jj++) {
                float p = isinf(sc[jj]) ? 0.0 : exp(sc[jj] - cm);
                l += p;
                if (p != 0.0) {
                    uint vj = v0 + (c + jj) * pc.nbd[2];
                    [[unroll]] for (uint r = 0u; r < 4u; r++) {
                        uint e = t + r * WG;
                        if (e < hd) acc[r] += p * LOAD_V(vj + e);
                    }
                }
            }
            m = cm;
        }
        barrier();
    }
    [[unroll]] for (uint r = 0u; r < 4u; r++) {
        uint e = t + r * WG;
        if (e < hd) D[out0 + e] = l > 0.0 ? acc[r] / l : 0.0;
    }
}
