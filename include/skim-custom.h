/* skim-custom.h - custom ops: an op the library does not have, written once as a compute
 * shader (GLSL or SPIR-V) plus a C function for the CPU backend, that then runs, skips and
 * is golden-checked like any built-in op.
 *
 * A custom op is a node of the graph like any other. skim_custom() records it from a
 * desc (copied: the desc, its name, its shader and the parameter block may be freed when
 * the call returns). Planning it on the Vulkan backend compiles the GLSL (libshaderc,
 * when the library was built with SKIM_SHADERC=ON), validates the SPIR-V (SPIRV-Tools),
 * checks its bindings against the declared inputs and creates the pipeline; the result is
 * cached inside the backend by a hash of the shader, so planning the same graph (or any
 * graph using the same shader) again compiles nothing. The CPU backend calls the C
 * function. Both must compute the same thing: the golden tests hold them equal.
 *
 * Inputs: up to SKIM_CUSTOM_MAX_SRC data tensors (not selections, not run parameters),
 * each contiguous (use skim_cont on a view), of any type. Output: F32, F16 or I32, shape
 * from the desc or from a shape callback, contiguous.
 *
 * Selections: when inputs are bounded by a selection (skim_get_rows_sel and what follows
 * it), every bounded input must have the same bound, the output's outermost dimension
 * must equal the selection's capacity, and the output is bounded by it too. In a run
 * (SKIP mode) only `count` outer rows are computed: the C function is handed the run
 * extent, and on Vulkan the dispatch is indirect (PER_ELEMENT and PER_ROW modes), so
 * skipped rows launch no workgroups. Run stats count the op's work like any elementwise
 * op: one unit per output element of the run extent. (So an op cannot reduce over the
 * bounded dimension: its output would have to be unbounded.)
 *
 * ---------------------------------------------------------------- the shader convention
 * A shader #includes "skim_custom.glsl" (installed next to this header). The Vulkan
 * backend resolves that one include itself when it compiles GLSL (no other include is
 * found); to make SPIR-V offline, pass the folder to glslc (-I):
 *
 *     #version 450
 *     #include "skim_custom.glsl"
 *     struct my_params { float alpha; };      // the C struct passed as `params`
 *     SKIM_CUSTOM_PUSH(my_params)             // or SKIM_CUSTOM_PUSH_NONE
 *     SKIM_CUSTOM_OUTPUT(float, Y)            // binding 0
 *     SKIM_CUSTOM_INPUT(0, float, X)          // binding 1 + slot
 *     layout(local_size_x = 64) in;
 *     void main() {
 *         uint e = skim_custom_element();     // PER_ELEMENT: one invocation per element
 *         if (e >= skim_custom_n_elements()) return;
 *         Y[SKIM_CUSTOM_OFF_DST + e] = pc.p.alpha * X[SKIM_CUSTOM_OFF(0) + e];
 *     }
 *
 * - Descriptor set 0, storage buffers: binding 0 the output, binding 1 + i input slot i,
 *   binding 9 the selection bounding the output (int words: count, then the indices; the
 *   include declares it as skim_custom_bound). Binding 10 is the library's own. A shader
 *   must declare the output and exactly the inputs of the op: planning reads the
 *   bindings from the SPIR-V and rejects any other set, binding 10 or above, a missing or
 *   an extra input binding.
 * - Push constants: struct skim_custom_pc_head below (SKIM_CUSTOM_PC_HEAD bytes: output
 *   shape, element offsets, bound), then the parameter block at byte SKIM_CUSTOM_PC_HEAD,
 *   laid out as GLSL std430 lays out the params struct (4-byte scalars, vec4 at 16):
 *   params_size at most SKIM_CUSTOM_MAX_PARAMS, so that the whole fits the 128 bytes
 *   every Vulkan device offers. Planning measures the shader's push-constant block from
 *   its Offset decorations and refuses one that spans more than the head + params_size.
 * - Element offsets: a binding starts at the tensor's offset aligned down to the device's
 *   minStorageBufferOffsetAlignment; the remainder, in elements of the tensor's type
 *   (floats, ints, halves for F16, bytes for block types), is SKIM_CUSTOM_OFF_DST and
 *   SKIM_CUSTOM_OFF(0..2). Inputs 3..7 must start at a bindable offset (any tensor that is
 *   not a view does); planning says UNSUPPORTED otherwise.
 * - Dispatch (skim_custom_dispatch): PER_ELEMENT launches ceil(elements / invocations per
 *   workgroup) workgroups, PER_ROW one workgroup per output row (rows: everything but
 *   ne[0]), GRID the desc's fixed grid. Past 65535 workgroups the grid folds into y:
 *   use skim_custom_group() / skim_custom_element() / skim_custom_row(), which unfold it.
 *   A bounded output's rows past skim_custom_count() must not be touched (they get no
 *   workgroups in PER_ELEMENT and PER_ROW modes; a GRID shader checks itself).
 * - skim_custom_extent() is the run extent of the output (the bounded dimension holds
 *   the count), skim_custom_token(r) the original row (token) of compact outer row r.
 *
 * Errors (nothing prints, nothing aborts):
 * - skim_custom() records on the context: INVALID_ARG (desc or name NULL, no CPU
 *   function, no shader, both GLSL and SPIR-V, n_src out of 0..8, a NULL input, params
 *   NULL with params_size > 0, a bad dispatch mode or grid), TOO_LARGE (params_size over
 *   SKIM_CUSTOM_MAX_PARAMS), TYPE (output type), SHAPE (bad shape, or the callback said
 *   no), NOT_CONTIGUOUS (an input that is not contiguous), SELECTION (inputs with different bounds, or an
 *   output whose outermost dimension is not the bound's capacity).
 * - Planning on Vulkan (skim_plan_create returns it; skim_backend_error has the message):
 *   UNSUPPORTED (GLSL in a build without libshaderc: "built without libshaderc"; any
 *   custom op in a build without SPIRV-Tools; an input 3..7 at an unbindable offset),
 *   INVALID_ARG for GLSL that does not compile (the message carries the compiler's
 *   "<name>.comp:<line>: error: ..." text), for a shader without a GLCompute "main" or
 *   LocalSize, for bindings that do not match the inputs, and for a push-constant block
 *   that spans more than the head plus params_size; FORMAT for SPIR-V that
 *   SPIRV-Tools rejects (its message follows); TOO_LARGE when the device's
 *   maxPushConstantsSize cannot hold the block.
 *
 * Threads: a custom op desc is plain data. The C function may be called from several
 * threads of the CPU backend at once, each with its own [row_begin, row_end) (GRID: one
 * call with every row); it must not keep state between calls other than through `user`.
 *
 * C99 and C++ clean; needs skim.h and skim-backend.h only. */
#ifndef SKIM_CUSTOM_H
#define SKIM_CUSTOM_H

#include "skim.h"
#include "skim-backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SKIM_CUSTOM_MAX_SRC 8
/* Bytes of the push constants the library fills before the parameter block. */
#define SKIM_CUSTOM_PC_HEAD 48
/* The largest parameter block: 128 (Vulkan's guaranteed push-constant size) minus the head. */
#define SKIM_CUSTOM_MAX_PARAMS (128 - SKIM_CUSTOM_PC_HEAD)

/* The library's part of the push constants (the same layout skim_custom.glsl declares). */
typedef struct skim_custom_pc_head {
    uint32_t ne[4];  /* output shape; the bounded dimension holds the capacity */
    uint32_t off[4]; /* element offsets of the output and inputs 0..2 in their bindings */
    uint32_t bound;  /* 0: none; d + 1: output dimension d is bounded by binding 9 */
    uint32_t n_src;  /* inputs of the op */
    uint32_t rows;   /* output rows (ne[1] * ne[2] * ne[3]) before bounding */
    uint32_t n_dims; /* of the output */
} skim_custom_pc_head;

typedef enum skim_custom_dispatch {
    SKIM_CUSTOM_PER_ELEMENT = 0, /* one invocation per output element (the default) */
    SKIM_CUSTOM_PER_ROW,         /* one workgroup per output row */
    SKIM_CUSTOM_GRID             /* the desc's grid of workgroups, whatever the shape */
} skim_custom_dispatch;

/* A tensor as the C function sees it. For a bounded tensor in SKIP mode ne[n_dims - 1]
 * is the run extent (the selection's count). nb are byte strides. */
typedef struct skim_custom_tensor {
    void *data; /* read-only for inputs */
    skim_type type;
    int n_dims;
    int64_t ne[4];
    size_t nb[4];
} skim_custom_tensor;

/* One call of the C function. Rows are the output's rows (everything but ne[0], flat:
 * r = i1 + ne1 * (i2 + ne2 * i3)) in the run extent; the call computes rows
 * [row_begin, row_end) of dst. */
typedef struct skim_custom_call {
    skim_custom_tensor dst;
    int n_src;
    skim_custom_tensor src[SKIM_CUSTOM_MAX_SRC];
    const void *params; /* the block given to skim_custom (NULL when params_size is 0) */
    size_t params_size;
    int64_t row_begin, row_end;
    /* The selection bounding the output: in SKIP mode outer row r of dst is the original
     * row sel[r] (sel_count of them). NULL when unbounded, and in MASKED_DENSE mode,
     * where every row is present at its own index. */
    const int32_t *sel;
    int64_t sel_count;
    void *user;
} skim_custom_call;

typedef void (*skim_custom_cpu_fn)(const skim_custom_call *call);

/* Output shape from the inputs: fill *n_dims (1..4), ne[0..n_dims-1] (>= 1) and return
 * true; or return false and write why into msg (msg_size bytes, NUL-terminated). */
typedef bool (*skim_custom_shape_fn)(void *user, int n_src, const skim_tensor *const *src,
                                     const void *params, int *n_dims, int64_t ne[4],
                                     char *msg, size_t msg_size);

/* Zero means default where it says so. */
typedef struct skim_custom_desc {
    const char *name;        /* required; names the op in messages and its shader file */
    skim_type type;          /* output type: F32 (0), F16 or I32 */
    /* The output shape when shape_fn is NULL; n_dims 0: the shape of input 0. */
    int n_dims;
    int64_t ne[4];
    skim_custom_shape_fn shape_fn;
    skim_custom_dispatch dispatch;
    uint32_t grid[3];        /* GRID: workgroups in x, y, z (0: 1) */
    size_t params_size;      /* bytes of the parameter block, <= SKIM_CUSTOM_MAX_PARAMS */
    /* The shader: GLSL source (NUL-terminated) or SPIR-V words, not both. */
    const char *glsl;
    const uint32_t *spirv;
    size_t spirv_words;
    skim_custom_cpu_fn cpu;  /* required: the CPU backend's implementation */
    void *user;              /* passed to cpu and shape_fn; the caller keeps it alive */
} skim_custom_desc;

/* Records a custom op over src[0..n_src-1] with the parameter block `params`
 * (desc->params_size bytes, copied). Returns the output tensor, or NULL with the error
 * recorded on ctx (see the list at the top). */
SKIM_API skim_tensor *skim_custom(skim_context *ctx, const skim_custom_desc *desc,
                                  skim_tensor *const *src, int n_src, const void *params);

/* The Vulkan backend's shader cache for custom ops. Counters since the backend was
 * created; times from a monotonic clock. */
typedef struct skim_custom_stats {
    int64_t compiles;      /* GLSL sources compiled with libshaderc */
    int64_t validations;   /* SPIR-V modules validated (compiled ones included) */
    int64_t cache_hits;    /* custom nodes planned whose shader was in the cache */
    int64_t entries;       /* shaders in the cache */
    double compile_ms;     /* total milliseconds in libshaderc */
    double last_compile_ms;
    double build_ms;       /* total milliseconds to validate, reflect and create pipelines */
} skim_custom_stats;

/* In skim::vulkan. Fills *out for a Vulkan backend. Returns OK, INVALID_ARG (NULL
 * argument), UNSUPPORTED (not a Vulkan backend). Not thread-safe against planning on
 * the same backend. */
SKIM_API skim_status skim_vulkan_custom_stats(const skim_backend *be, skim_custom_stats *out);
/* In skim::vulkan. Whether this build compiles GLSL (SKIM_SHADERC=ON). */
SKIM_API bool skim_vulkan_custom_has_glsl(void);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_CUSTOM_H */
