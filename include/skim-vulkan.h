/* skim-vulkan.h - the Vulkan backend: options, an engine's own device, the pipeline cache.
 *
 * The backend runs a graph as GLSL compute shaders (compiled to SPIR-V at build time and
 * embedded in the library) on any Vulkan 1.1 device. Vulkan is loaded at run time (no
 * link-time libvulkan): from libvulkan.so.1 / vulkan-1.dll, or through the caller's
 * vkGetInstanceProcAddr. A plan records its command buffer once; a run updates a small
 * parameter buffer, submits once and waits on a fence. Selections are resolved on the
 * GPU and their consumers run as indirect dispatches (SKIM_VK_RESOLVE_GPU, the default).
 *
 * Environment (read at create time, override the desc):
 *   SKIM_VK_DEVICE=N       pick physical device N (in vkEnumeratePhysicalDevices order)
 *   SKIM_VK_RESOLVE=host   no indirect dispatch (SKIM_VK_RESOLVE_HOST), for comparison
 *   SKIM_VK_LOADER=path    the Vulkan loader library to open instead of libvulkan.so.1
 *   SKIM_VK_GUARD=1        guard bytes around every tensor, checked after each run
 *   SKIM_VK_STAGING=N      tests: device buffers never mapped, every transfer through a
 *                          staging area of N bytes (as on a GPU without host-visible VRAM)
 *   SKIM_VK_MAX_RANGE=N    tests: bindings of at most N bytes (>= 256), below the device's
 *                          maxStorageBufferRange, so that ops split as they do past it
 *   SKIM_VK_MAX_ALLOC=N    tests: store and arena buffers of at most N bytes (>= 4096), so
 *                          that they split into several as they do past the limit
 *   SKIM_VK_NO_FEATURES=a,b  take these optional features as absent: storage16, dot,
 *                          subgroup_size, float16, or all (skim_vulkan_info's path_*
 *                          fields):
 *                          the portable shader paths, and the device created without them
 *
 * Memory: weights, states and intermediates live in device-local memory (a type that is
 * not host-visible where the device has one), with a fallback to another type when an
 * allocation fails; a store's weights and states, and a plan's intermediates, past
 * maxMemoryAllocationSize (or the largest heap) are placed in several buffers, each tensor
 * wholly in one (a tensor alone past it: TOO_LARGE); any other buffer past maxMemoryAllocationSize, or that no heap can
 * hold, fails with DEVICE_MEMORY naming its bytes and the heaps' sizes. Transfers to memory that is
 * not host-visible go through a staging area the backend keeps (at most 16 MiB). get_rows
 * and plain 2-D mul_mat over a tensor past maxStorageBufferRange (an embedding, an output
 * matrix over a large vocabulary) run as several dispatches over ranges of its rows; other
 * ops over such a tensor are refused with TOO_LARGE.
 *
 * Threads: one plan is used by one thread at a time, and plans of one backend may be
 * created, run and destroyed on different threads at once (the backend locks what they
 * share).
 * (On Vulkan the lock covers the queue, the command pool, the staging area and the
 * pipelines made on first use; a run waits on its own fence, never for the queue or the
 * device to idle.)
 * This header is C99 and C++ clean and includes the Vulkan headers with VK_NO_PROTOTYPES.
 */
#ifndef SKIM_VULKAN_H
#define SKIM_VULKAN_H

#ifndef VK_NO_PROTOTYPES
#  define VK_NO_PROTOTYPES
#endif
#include <vulkan/vulkan.h>

#include "skim-backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum skim_vulkan_resolve {
    SKIM_VK_RESOLVE_DEFAULT = 0, /* GPU */
    SKIM_VK_RESOLVE_GPU,         /* selections compacted on the GPU, indirect dispatches */
    SKIM_VK_RESOLVE_HOST         /* for comparison: no indirect dispatch; every dispatch
                                    covers the full extent and its shader skips the rows
                                    past the count (the counts are still made on the GPU
                                    and read back after the run) */
} skim_vulkan_resolve;

typedef enum skim_vulkan_toggle {
    SKIM_VK_DEFAULT = 0, /* validation: off */
    SKIM_VK_ON,
    SKIM_VK_OFF
} skim_vulkan_toggle;

/* Called for every message of the validation layer (created backend only: an imported
 * instance keeps its own messengers). severity and type are the
 * VkDebugUtilsMessageSeverityFlagBitsEXT / VkDebugUtilsMessageTypeFlagsEXT bits. */
typedef void (*skim_vulkan_debug_fn)(void *user, uint32_t severity, uint32_t type,
                                     const char *message);

/* A pipeline cache: load returns the bytes of an earlier save (or size 0); save receives
 * the cache's bytes when the backend is destroyed. Both may be NULL. */
typedef struct skim_vulkan_cache {
    const void *(*load)(void *user, size_t *size);
    void (*save)(void *user, const void *data, size_t size);
    void *user;
} skim_vulkan_cache;

/* An engine's own Vulkan objects. When instance and device are both set the backend
 * creates neither and destroys neither: it uses the device's queue `queue` of family
 * `queue_family` (a compute-capable family) and loads functions through
 * get_instance_proc_addr (NULL: the process's libvulkan). The device must have been
 * created with Vulkan 1.1 or newer; skim needs no optional feature of it (and uses none:
 * the portable shader paths, skim_vulkan_info.path_* false). The caller keeps these alive
 * until the backend is destroyed and does not use `queue` from another thread during skim
 * calls. */
typedef struct skim_vulkan_external {
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    uint32_t queue_family;
    VkQueue queue;
    PFN_vkGetInstanceProcAddr get_instance_proc_addr;
} skim_vulkan_external;

typedef struct skim_vulkan_desc {
    skim_allocator allocator;             /* host memory of skim's own structures */
    const VkAllocationCallbacks *vk_allocator; /* NULL: the driver's */
    skim_vulkan_toggle validation;        /* VK_LAYER_KHRONOS_validation + a messenger */
    bool sync_validation;                 /* also synchronization validation (with validation) */
    skim_vulkan_debug_fn debug;           /* validation messages; NULL: dropped */
    void *debug_user;
    int device_index;                     /* 0: the best device (discrete > integrated >
                                             virtual > CPU); N > 0: device N-1 */
    skim_vulkan_resolve resolve;
    const skim_vulkan_external *external; /* NULL: the backend creates its own device */
    skim_vulkan_cache cache;
    /* Without `external`: where every Vulkan function is looked up (an application's own
     * loader, or a wrapper around it); NULL opens the system loader. */
    PFN_vkGetInstanceProcAddr get_instance_proc_addr;
    /* Debugging (the tests): every tensor gets its own memory with guard bytes after it,
     * checked after each run; a changed guard byte fails the run with STATE. Slower, and
     * no arena reuse. Also SKIM_VK_GUARD=1. */
    bool guard_bytes;
    /* Profiling: every plan times each of its dispatches on the device with timestamps
     * (skim_vulkan_plan_profile). A profiled plan records one dispatch at a time, with a
     * barrier between any two, so runs are slower and `barriers` counts more; results are
     * unchanged. Plan creation fails with UNSUPPORTED where the queue family writes no
     * timestamps. Also SKIM_VK_PROFILE=1. */
    bool profile;
} skim_vulkan_desc;

/* Creates the Vulkan backend. desc may be NULL (all defaults). Returns OK, INVALID_ARG,
 * OUT_OF_MEMORY, DEVICE (no loader, no device, the device index out of range, Vulkan
 * older than 1.1, a required feature missing; the message says which), DEVICE_MEMORY.
 * *out is untouched on failure; the reason is in `msg` when msg is not NULL (a buffer of
 * msg_size bytes), since there is no backend to ask. */
SKIM_API skim_status skim_backend_create_vulkan(const skim_vulkan_desc *desc, skim_backend **out);
/* Like skim_backend_create_vulkan, with the failure message copied to msg. */
SKIM_API skim_status skim_backend_create_vulkan_msg(const skim_vulkan_desc *desc,
                                                    skim_backend **out, char *msg,
                                                    size_t msg_size);

/* Device facts of a Vulkan backend (false / zero for another backend). */
typedef struct skim_vulkan_info {
    uint32_t api_version;
    uint32_t vendor_id, device_id;
    VkPhysicalDeviceType device_type;
    /* What the device offers: storageBuffer16BitAccess, shaderFloat16, shaderInt8 (the
     * last two: Vulkan 1.2 devices; f16 arithmetic serves SKIM_PLAN_HALF_PRODUCTS
     * (path_float16); no shader uses int8 arithmetic, so skim does not enable it). */
    bool storage16, float16, int8;
    bool subgroup_arith;       /* subgroup arithmetic in compute shaders */
    uint32_t subgroup_size;
    uint64_t max_storage_range; /* maxStorageBufferRange */
    bool gpu_resolve;          /* selections are compacted on the GPU */
    /* The most bytes one device buffer of a store takes (the smaller of
     * maxMemoryAllocationSize and the largest heap): weights or states past it are placed
     * in several buffers, each tensor wholly in one; a tensor alone past it is refused. */
    uint64_t max_block;
    int64_t store_blocks;      /* the buffers the backend's stores hold now */
    /* Also offered: storageBuffer8BitAccess (Vulkan 1.2; not used: Q8_0 quants read as
     * aligned words were faster than as int8_t), shaderIntegerDotProduct (1.3), and the
     * range of subgroup sizes (1.3's subgroup size control; before: subgroup_size). */
    bool storage8, int_dot;
    uint32_t min_subgroup_size, max_subgroup_size;
    /* The shader paths in use that need an optional feature (skim enables exactly these
     * features when it creates the device; each path falls back to a portable one that
     * needs none, as on devices without the feature, on an engine's own device (its
     * enabled features are not known) and when SKIM_VK_NO_FEATURES names it):
     *   path_storage16: matrix-vector products (mul_mv) read F16 weights as float16_t
     *     through 16-bit storage instead of halves of 32-bit words ("storage16").
     *   path_int_dot: SKIM_PLAN_QUANTIZED_ACTIVATIONS' block sums by integer dot
     *     products (OpSDot) instead of plain integer arithmetic ("dot").
     *   full_subgroups: the shaders that use subgroup operations run with full
     *     subgroups required (computeFullSubgroups), where their workgroup size is a
     *     multiple of max_subgroup_size ("subgroup_size").
     * Each path gives the same bits as its portable one (the same values summed in the
     * same order; the integer dot products' sums are exact), except path_storage16,
     * which sums in another order (float rounding differs). */
    bool path_storage16, path_int_dot, full_subgroups;
    /* SKIM_PLAN_QUANTIZED_ACTIVATIONS is honoured (devices with subgroup arithmetic):
     * plain products (mul_mat) with Q8_0 or Q4_0 weights and one x column run by that
     * rule; the head-selected products (mul_mat_sel, mul_mat_sel_k) stay exact on Vulkan. */
    bool quantized_activations;
    /* SKIM_PLAN_HALF_PRODUCTS' products in f16 arithmetic (shaderFloat16, Vulkan 1.2;
     * "float16"), under the same conditions as the path_* fields above; without it the
     * flag's rule is computed in f32 arithmetic rounded to f16 (the same bits where the
     * device's f16 arithmetic rounds to nearest even and keeps subnormals). */
    bool path_float16;
} skim_vulkan_info;
SKIM_API bool skim_vulkan_query_info(const skim_backend *be, skim_vulkan_info *out);

/* Engines: records a run of plan p into the caller's primary command buffer `cmd` (in
 * the recording state, outside a render pass, for a queue of the backend's queue family).
 * The run parameters are written now; the plan's work, recorded once at plan time, is
 * executed as a secondary command buffer. The caller submits `cmd`, synchronised by its own
 * semaphores, and once that submission has completed (its fence or semaphore waited on)
 * calls skim_vulkan_plan_complete to fetch the selections and stats; outputs are then
 * readable. Until then the plan counts as running: skim_plan_run and setters return STATE.
 * Returns OK, INVALID_ARG (not a Vulkan plan, cmd NULL), STATE (a run in progress, an
 * input never set). */
SKIM_API skim_status skim_vulkan_plan_record(skim_plan *p, VkCommandBuffer cmd);
/* Ends a run recorded with skim_vulkan_plan_record after the caller saw its submission
 * complete. Returns OK, RANGE (a set_rows index was out of range), STATE (no recorded
 * run pending). */
SKIM_API skim_status skim_vulkan_plan_complete(skim_plan *p);

/* One dispatch of a profiled plan, in recorded order. */
typedef struct skim_vulkan_profile_row {
    const char *op;     /* the op of the node it writes (a fused chain: its first op); ""
                           for the backend's own dispatches (selection fills) */
    const char *name;   /* that node's name, "" when unnamed or internal */
    const char *shader; /* the shader it runs ("custom" for a custom op) */
    int64_t runs;       /* completed runs timed */
    double ms;          /* device time summed over those runs, in milliseconds */
} skim_vulkan_profile_row;
/* The dispatch times of plan p (made with profiling on): *n = the dispatches recorded,
 * rows[0 .. min(cap, *n)) filled (cap 0 with rows NULL asks for *n only). Strings live as
 * long as the plan. Returns OK, INVALID_ARG (not a Vulkan plan, n NULL, cap < 0, rows
 * NULL with cap > 0), UNSUPPORTED (the plan was made without profiling). */
SKIM_API skim_status skim_vulkan_plan_profile(const skim_plan *p, skim_vulkan_profile_row *rows,
                                              int cap, int *n);

#ifdef __cplusplus
}
#endif
#endif /* SKIM_VULKAN_H */
