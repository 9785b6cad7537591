#version 450
/* set_rows.comp - dst[idx[r]] = src[r]: src F32 (binding 2, rows strided nbb, shape neb),
 * idx I32 (binding 3), dst (binding 0, F32 or F16 by define, strides nbd, i[0] slots).
 * An index out of range is skipped and flagged in the run-parameter buffer. */
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
    uint len = pc.neb[0];
    uint rows = pc.neb[1];
    if (pc.bound != 0u) {
        rows = min(rows, uint(max(BOUND[0], 0)));
    }
    uint e = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    if (e >= len * rows) {
        return;
    }
    uint k = e % len, r = e / len;
    int slot = Ci[pc.off[3] + r];
    if (slot < 0 || slot >= pc.i[0]) {
        if (k == 0u) atomicOr(PARAMS[0], SKIM_VK_FLAG_RANGE);
        return;
    }
    float v = B[pc.off[2] + r * pc.nbb[1] + k];
    uint di = pc.off[0] + uint(slot) * pc.nbd[1] + k;
#ifdef DST_32
    D[di] = v;
#else
    uint sh = (di & 1u) * 16u;
    atomicAnd(Du[di >> 1u], ~(0xffffu << sh));
    atomicOr(Du[di >> 1u], (packHalf2x16(vec2(v, 0.0)) & 0xffffu) << sh);
#endif
}
