/* common.glsl - bindings, push constants and helpers shared by every skim shader.
 * Each binding is declared with several element types (aliases of one descriptor), so a
 * shader reads F32 as float, F16 as packed uint pairs (no 16-bit storage needed), block
 * types as bytes of uint words, I32 as int. */
#extension GL_EXT_control_flow_attributes : enable
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "skim_vk_pc.h"

layout(push_constant) uniform PC { skim_vk_pc pc; };

/* A shader whose workgroups read each other's writes (select.comp) defines SKIM_BUF_QUAL
 * coherent before including this file. */
#ifndef SKIM_BUF_QUAL
#define SKIM_BUF_QUAL
#endif
#define SKIM_BUF(b, name, T) layout(std430, set = 0, binding = b) SKIM_BUF_QUAL buffer name##_blk { T name[]; };
SKIM_BUF(0, D, float)
SKIM_BUF(0, Du, uint)
SKIM_BUF(0, Di, int)
SKIM_BUF(1, A, float)
SKIM_BUF(1, Au, uint)
SKIM_BUF(1, Ai, int)
SKIM_BUF(2, B, float)
SKIM_BUF(2, Bu, uint)
SKIM_BUF(2, Bi, int)
SKIM_BUF(3, C, float)
SKIM_BUF(3, Cu, uint)
SKIM_BUF(3, Ci, int)
SKIM_BUF(4, E, float)
SKIM_BUF(4, Ei, int)
SKIM_BUF(5, F, float)
SKIM_BUF(5, Fi, int)
SKIM_BUF(6, KB, int)
SKIM_BUF(7, G, float)
SKIM_BUF(7, Gi, int)
SKIM_BUF(8, H, int)
SKIM_BUF(9, BOUND, int)
SKIM_BUF(10, PARAMS, uint)

/* The run extent of dst: the bounded dimension clamped to the selection's count. */
uvec4 skim_extent() {
    uvec4 n = uvec4(pc.ne[0], pc.ne[1], pc.ne[2], pc.ne[3]);
    if (pc.bound != 0u) {
        uint c = uint(max(BOUND[0], 0));
        n[pc.bound - 1u] = min(n[pc.bound - 1u], c);
    }
    return n;
}

/* Element e of a tensor of shape n split into indices. */
uvec4 skim_unflatten(uint e, uvec4 n) {
    uvec4 i;
    i.x = e % n.x; e /= n.x;
    i.y = e % n.y; e /= n.y;
    i.z = e % n.z;
    i.w = e / n.z;
    return i;
}

uint skim_dot_strides(uvec4 i, uint nb0, uint nb1, uint nb2, uint nb3) {
    return i.x * nb0 + i.y * nb1 + i.z * nb2 + i.w * nb3;
}

/* An F16 element at half index h of a packed uint array. */
#define SKIM_LOAD_F16(arr, h) (unpackHalf2x16(arr[(h) >> 1u])[(h) & 1u])
/* Byte a of a uint array. */
#define SKIM_BYTE(arr, a) ((arr[(a) >> 2u] >> (((a) & 3u) * 8u)) & 0xffu)

float skim_gelu(float x) {
    const float c = 0.7978845608028654;
    /* 0.5 x (1 + tanh z) as x / (1 + e^-2z): no cancellation of 1 + tanh z for x below
     * about -2 (backends/cpu/eltwise.c computes it alike). */
    return x / (1.0 + exp(-2.0 * c * (x + 0.044715 * x * x * x)));
}

/* The activation of a fused chain's epilogue (eltwise.comp's formulas). */
float skim_epi_act(float v, uint op) {
    if ((op & SKIM_VK_EPI_SIGMOID) != 0u) return 1.0 / (1.0 + exp(-v));
    if ((op & SKIM_VK_EPI_GELU) != 0u) return skim_gelu(v);
    if ((op & SKIM_VK_EPI_SILU) != 0u) return v / (1.0 + exp(-v));
    return v;
}

/* The grid of an indirect dispatch (indirect.comp, select.comp): the table entry's fixed
 * extents xyz with dimension dim replaced by ceil(count * mul / div). */
uvec3 skim_indirect_grid(uint count, uint mul, uint div, uint dim, uvec3 xyz) {
    uint per = max(div, 1u);
    xyz[dim] = (count * mul + per - 1u) / per;
    return xyz;
}
