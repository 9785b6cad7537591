/* skim_custom.glsl - the binding and push-constant convention of skim's custom ops
 * (include/skim-custom.h documents it in full). A custom op's compute shader includes
 * this file, declares its push constants with SKIM_CUSTOM_PUSH(struct) or
 * SKIM_CUSTOM_PUSH_NONE, its output with SKIM_CUSTOM_OUTPUT and each input slot with
 * SKIM_CUSTOM_INPUT, and its local size. */
#ifndef SKIM_CUSTOM_GLSL
#define SKIM_CUSTOM_GLSL

/* The library's head of the push constants: SKIM_CUSTOM_PC_HEAD (48) bytes, then the
 * op's parameter block (std430 layout, at most 80 bytes). */
struct skim_custom_head {
    uint ne[4];  /* output shape; the bounded dimension holds the capacity */
    uint off[4]; /* element offsets of the output and inputs 0..2 in their bindings */
    uint bound;  /* 0: none; d + 1: output dimension d is bounded */
    uint n_src;
    uint rows;   /* ne[1] * ne[2] * ne[3] */
    uint n_dims; /* of the output */
};

#define SKIM_CUSTOM_PUSH(T) \
    layout(push_constant) uniform skim_custom_pc_blk { skim_custom_head skim; T p; } pc;
#define SKIM_CUSTOM_PUSH_NONE \
    layout(push_constant) uniform skim_custom_pc_blk { skim_custom_head skim; } pc;

/* Binding 0: the output; binding 1 + slot: input `slot` (0..7). */
#define SKIM_CUSTOM_OUTPUT(T, name) \
    layout(std430, set = 0, binding = 0) buffer skim_custom_out_blk { T name[]; };
#define SKIM_CUSTOM_INPUT(slot, T, name) \
    layout(std430, set = 0, binding = 1 + slot) readonly buffer skim_custom_in##slot##_blk { T name[]; };

/* Binding 9: the selection bounding the output (count at word 0, then the indices). */
layout(std430, set = 0, binding = 9) readonly buffer skim_custom_bound_blk {
    int skim_custom_bound[];
};

#define SKIM_CUSTOM_OFF_DST (pc.skim.off[0])
#define SKIM_CUSTOM_OFF(slot) (pc.skim.off[1 + (slot)])

/* The selection's count clamped to the capacity; unbounded: the outermost size. */
#define skim_custom_count() \
    (pc.skim.bound != 0u ? min(uint(max(skim_custom_bound[0], 0)), pc.skim.ne[pc.skim.bound - 1u]) \
                         : pc.skim.ne[pc.skim.n_dims - 1u])
/* The run extent of the output: the bounded dimension holds the count. */
#define skim_custom_extent() \
    (pc.skim.bound == 0u ? uvec4(pc.skim.ne[0], pc.skim.ne[1], pc.skim.ne[2], pc.skim.ne[3]) \
     : pc.skim.bound == 1u ? uvec4(skim_custom_count(), pc.skim.ne[1], pc.skim.ne[2], pc.skim.ne[3]) \
     : pc.skim.bound == 2u ? uvec4(pc.skim.ne[0], skim_custom_count(), pc.skim.ne[2], pc.skim.ne[3]) \
     : pc.skim.bound == 3u ? uvec4(pc.skim.ne[0], pc.skim.ne[1], skim_custom_count(), pc.skim.ne[3]) \
     : uvec4(pc.skim.ne[0], pc.skim.ne[1], pc.skim.ne[2], skim_custom_count()))
#define skim_custom_n_elements() \
    (skim_custom_extent().x * skim_custom_extent().y * skim_custom_extent().z * skim_custom_extent().w)
#define skim_custom_rows() \
    (skim_custom_extent().y * skim_custom_extent().z * skim_custom_extent().w)
/* The original row (token) of compact outer row r of a bounded output. */
#define skim_custom_token(r) (skim_custom_bound[1u + (r)])

/* The workgroup's linear index (grids past 65535 workgroups fold into y). */
#define skim_custom_group() (gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x)
/* PER_ELEMENT: this invocation's element (flat index over the output). */
#define skim_custom_element() \
    (skim_custom_group() * (gl_WorkGroupSize.x * gl_WorkGroupSize.y * gl_WorkGroupSize.z) + \
     gl_LocalInvocationIndex)
/* PER_ROW: this workgroup's row (flat over ne[1..3]). */
#define skim_custom_row() skim_custom_group()

#endif
