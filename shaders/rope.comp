#version 450
/* rope.comp - x [head_dim, n_head, n_tok] (src0, strided rows), pos I32 [n_tok] (src1).
 * i[0] = mode (0 interleaved pairs, 1 half-split), i[1] = n_dims, f[0] = freq_base.
 * One invocation per output element; the angle is pos * base^(-2i/n_dims).
 * i[2] != 0: over the listed heads only (a list at binding 3: a count, then at most i[2]
 * heads; element e is of the (e / head_dim % count)-th listed head); the other heads'
 * rows are not written (nothing reads them).
 * i[3] != 0: over listed (head, token) pairs only (a list at binding 3: a count, then
 * each pair as head * i[3] + token; element e is of the (e / head_dim)-th pair); the
 * other pairs' rows, and pairs past the token extent, are not written (nothing reads
 * them). */
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
    uvec4 n = skim_extent();
    bool listed = pc.i[2] != 0;
    if (listed) n.y = uint(clamp(Ci[pc.off[3]], 0, pc.i[2]));
    uint e = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (e >= n.x * n.y * n.z * n.w) {
        return;
    }
    uvec4 i = skim_unflatten(e, n);
    if (listed) i.y = uint(Ci[pc.off[3] + 1u + i.y]);
    if (pc.i[3] != 0) { /* pairs: no element past the list's count * head_dim */
        uint pair = e / n.x;
        if (pair >= uint(max(Ci[pc.off[3]], 0))) return;
        uint v = uint(Ci[pc.off[3] + 1u + pair]), cap = uint(pc.i[3]);
        i = uvec4(e % n.x, v / cap, v % cap, 0u);
        if (i.z >= n.z || i.y >= n.y) return;
    }
    uint a0 = pc.off[1] + skim_dot_strides(uvec4(0u, i.y, i.z, i.w), 1u, pc.nba[1], pc.nba[2], pc.nba[3]);
    uint k = i.x, nd = uint(pc.i[1]);
    float r;
    if (k >= nd) {
        r = A[a0 + k];
    } else {
        uint p0, p1, fi;
        if (pc.i[0] == 0) {
            p0 = k & ~1u; p1 = p0 + 1u; fi = p0;
        } else {
            uint h = nd / 2u;
            fi = 2u * (k % h); p0 = k % h; p1 = p0 + h;
        }
        float pos = float(Bi[pc.off[2] + i.z]);
        float theta = pos * pow(pc.f[0], -float(fi) / float(nd));
        float c = cos(theta), s = sin(theta);
        float x0 = A[a0 + p0], x1 = A[a0 + p1];
        r = k == p0 ? x0 * c - x1 * s : x0 * s + x1 * c;
    }
    D[pc.off[0] + skim_dot_strides(i, 1u, pc.nbd[1], pc.nbd[2], pc.nbd[3])] = r;
}
