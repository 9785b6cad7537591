#version 450
/* soft_max.comp - softmax over ne[0] of x*scale + mask, one workgroup per row; the mask
 * (binding 2, shape neb, strides nbb) broadcasts over rows. i[0] = 1 when there is one.
 * A row whose entries are all -inf gives zeros. */
#include "common.glsl"
#include "reduce.glsl" /* the workgroup: SKIM_WG_ROWS invocations */

void main() {
    uvec4 n = skim_extent();
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * 65535u;
    if (row >= n.y * n.z * n.w) {
        return;
    }
    uvec4 i = skim_unflatten(row * n.x, n);
    uint a0 = pc.off[1] + skim_dot_strides(i, 1u, pc.nba[1], pc.nba[2], pc.nba[3]);
    uint d0 = pc.off[0] + skim_dot_strides(i, 1u, pc.nbd[1], pc.nbd[2], pc.nbd[3]);
    uvec4 j = i % uvec4(pc.neb[0], pc.neb[1], pc.neb[2], pc.neb[3]);
    uint m0 = pc.off[2] + skim_dot_strides(j, 1u, pc.nbb[1], pc.nbb[2], pc.nbb[3]);
    bool has_mask = pc.i[0] != 0;
    uint t = gl_LocalInvocationID.x;
    float mx = -1.0 / 0.0;
    for (uint k = t; k < n.x; k += SKIM_WG_ROWS) {
        float v = A[a0 + k] * pc.f[0] + (has_mask ? B[m0 + k] : 0.0);
        mx = max(mx, v);
    }
    mx = skim_wg_reduce(mx, true);
    float s = 0.0;
    for (uint k = t; k < n.x; k += SKIM_WG_ROWS) {
        float v = A[a0 + k] * pc.f[0] + (has_mask ? B[m0 + k] : 0.0);
        float ex = isinf(mx) && mx < 0.0 ? 0.0 : exp(v - mx);
        D[d0 + k] = ex;
        s += ex;
    }
    s = skim_wg_reduce(s, false);
    float inv = s > 0.0 ? 1.0 / s : 0.0;
    for (uint k = t; k < n.x; k += SKIM_WG_ROWS) {
        D[d0 + k] *= inv;
    }
}
