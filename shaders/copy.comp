#version 450
/* copy.comp - cont and cpy: element e of the source (shape neb, strides nba, any view) goes
 * to element e of the destination (shape ne, strides nbd), converting F32 <-> F16.
 * 32-bit copies move bits (I32 and NaN payloads survive). F16 stores update their half of
 * a word with two atomics, as neighbouring invocations share the word. */
#include "common.glsl"
layout(local_size_x = 256) in;

void main() {
    uvec4 n = skim_extent();
    uint e = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 256u;
    uint total = n.x * n.y * n.z * n.w;
    if (e >= total) {
        return;
    }
    uvec4 s = skim_unflatten(e, uvec4(pc.neb[0], pc.neb[1], pc.neb[2], pc.neb[3]));
    uint si = pc.off[1] + skim_dot_strides(s, pc.nba[0], pc.nba[1], pc.nba[2], pc.nba[3]);
    uvec4 d = skim_unflatten(e, uvec4(pc.ne[0], pc.ne[1], pc.ne[2], pc.ne[3]));
    uint di = pc.off[0] + skim_dot_strides(d, pc.nbd[0], pc.nbd[1], pc.nbd[2], pc.nbd[3]);
#if defined(SRC_32) && defined(DST_32)
    Du[di] = Au[si];
#else
#  ifdef SRC_32
    float v = A[si];
#  else
    float v = SKIM_LOAD_F16(Au, si);
#  endif
#  ifdef DST_32
    D[di] = v;
#  else
    uint h = packHalf2x16(vec2(v, 0.0)) & 0xffffu;
#    ifdef SRC_F16
    h = (Au[si >> 1u] >> ((si & 1u) * 16u)) & 0xffffu; /* bit-exact half copy */
#    endif
    uint sh = (di & 1u) * 16u;
    atomicAnd(Du[di >> 1u], ~(0xffffu << sh));
    atomicOr(Du[di >> 1u], h << sh);
#  endif
#endif
}
