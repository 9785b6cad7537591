/* skim_vk_pc.h - the push constants of every skim shader, shared by GLSL and C.
 *
 * Included by shaders/common.glsl (GLSL) and backends/vulkan/vk-int.h (C); the C side
 * checks with a static assertion that it fits the 128 bytes every Vulkan device gives.
 * Sizes, strides and offsets are in elements of the tensor's type (bytes for Q8_0 and
 * Q4_0), relative to the start of the binding (which the backend aligns down to
 * minStorageBufferOffsetAlignment; the remainder is the offset here). */
#ifndef SKIM_VK_PC_H
#define SKIM_VK_PC_H

#if defined(VULKAN) || defined(GL_core_profile)
#  define SKIM_U32 uint
#  define SKIM_I32 int
#  define SKIM_F32 float
#else
#  include <stdint.h>
#  define SKIM_U32 uint32_t
#  define SKIM_I32 int32_t
#  define SKIM_F32 float
#endif

/* Op codes: a shader that serves several ops (eltwise.comp, norm.comp, select.comp,
 * mul_mat.comp) finds SKIM_VK_OP_<ENUM> of graph/ops.def's row in pc.op. The header is
 * generated into the build directory (backends/vulkan/CMakeLists.txt). */
#include "skim_vk_ops.h"
/* Epilogues of fused chains (backends/vulkan/vk_fuse.c), in bits above the op code (the
 * low byte): the operand at binding 4 (mul_mat) or 2 (norm) added (mul_mat) or multiplied
 * (norm) per row element, or added element by element; then an activation. */
#define SKIM_VK_EPI_ROW (1u << 8)
#define SKIM_VK_EPI_FULL (1u << 9)
#define SKIM_VK_EPI_SIGMOID (1u << 10)
#define SKIM_VK_EPI_GELU (1u << 11)
#define SKIM_VK_EPI_SILU (1u << 12)

/* select.comp: the candidates of one workgroup (its size). 32 rather than 256: decode's
 * producers have a few heads or one token, and a workgroup's barriers cost per invocation
 * on a CPU device (lavapipe: 4x the time of a small dispatch at 256). */
#define SKIM_VK_SEL_CHUNK 32

/* Specialization constants (the same ids in every shader that declares them; a shader
 * ignores the others). 0: the workgroup size of the one-workgroup-per-row shaders. */
#define SKIM_VK_SPEC_WG_ROWS 0

/* Word 0 of the run-parameter buffer (binding SKIM_VK_B_PARAMS) collects error flags of
 * the run; param slot i is word SKIM_VK_PARAM_BASE + i. */
#define SKIM_VK_FLAG_RANGE 1u
#define SKIM_VK_PARAM_BASE 4

/* Descriptor bindings of set 0, the same for every pipeline: the output, up to eight
 * sources (slot i of the node), the selection bounding the output's rows, the run
 * parameters. Unused bindings hold a small dummy buffer. */
#define SKIM_VK_B_DST 0
#define SKIM_VK_B_SRC0 1
#define SKIM_VK_B_BOUND 9
#define SKIM_VK_B_PARAMS 10
#define SKIM_VK_N_BINDINGS 11

struct skim_vk_pc {
    SKIM_U32 ne[4];  /* output shape; the bounded dimension holds `count` rows at run time */
    SKIM_U32 off[4]; /* offsets of dst, src0, src1, src2 */
    SKIM_U32 nbd[4]; /* dst strides */
    SKIM_U32 nba[4]; /* src0 strides */
    SKIM_U32 nbb[4]; /* src1 strides */
    SKIM_U32 neb[4]; /* src1 shape (broadcast), or src0's shape for copies */
    SKIM_I32 i[4];   /* op-specific integers */
    SKIM_F32 f[2];   /* op-specific floats */
    SKIM_U32 bound;  /* 0: none; d+1: dimension d of dst is bounded by binding BOUND */
    SKIM_U32 op;     /* op code of shaders serving several ops */
};

#endif
