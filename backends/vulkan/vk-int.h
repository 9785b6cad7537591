/* vk-int.h - internal structures of the Vulkan backend (not installed).
 *
 * Files: vk_backend.c (the skim_backend_i table, create/destroy), vk_device.c (loader,
 * instance, device choice, features), vk_memory.c (buffers, uploads, downloads),
 * vk_pipeline.c (layouts, pipelines on first use, the pipeline cache), vk_plan.c (plan
 * buffers, runs), vk_record.c (descriptors, the recorded command buffer, indirect
 * dispatch), vk_fuse.c (chains recorded as one dispatch), vk_ops.c / vk_ops_sel.c (skim_vk_op_<name>: one short dispatch function per
 * row of ops.def), vk_volk.c (volk.c, renamed). */
#ifndef SKIM_VK_INT_H
#define SKIM_VK_INT_H

#include "skim_volk_rename.h"
#include <volk.h>

typedef struct VolkDeviceTable VolkDeviceTable;

#include "skim-impl.h"
#if defined(_WIN32)
/* A CRITICAL_SECTION (recursive), opaque here: windows.h would clash with the loader's own
 * declarations in volk.c (vk_volk.c includes this header); vk_backend.c sees the type. */
typedef struct skim_vk_mutex {
    _Alignas(8) unsigned char bytes[64];
} skim_vk_mutex;
#else
#  include <pthread.h>
typedef pthread_mutex_t skim_vk_mutex; /* made PTHREAD_MUTEX_RECURSIVE */
#endif
#include "skim-vulkan.h"
#include "skim_vk_pc.h"
#include "skim_vk_shader_ids.h"

_Static_assert(sizeof(struct skim_vk_pc) <= 128, "push constants must fit 128 bytes");

typedef struct skim_vk_pc skim_vk_pc;

/* A plan's failure with a message (skim_plan_fail), and the one that passes on what a
 * backend-level call (memory, buffers) left in the calling thread's backend message. */
#define PFAIL(p, st, ...) skim_plan_fail((p), st, __VA_ARGS__)
#define PFAIL_BE(p, st) skim_plan_fail((p), st, "%s", skim_backend_error((p)->be))

typedef struct skim_vk_spirv {
    const uint32_t *code;
    size_t size;
    const char *name;
} skim_vk_spirv;
SKIM_HIDDEN extern const skim_vk_spirv skim_vk_spirv_table[SKIM_VK_SHADER_COUNT];

/* Instance-level functions, loaded per backend (never through globals). */
typedef struct skim_vk_itab {
    PFN_vkGetInstanceProcAddr GetInstanceProcAddr;
    PFN_vkCreateInstance CreateInstance;
    PFN_vkEnumerateInstanceVersion EnumerateInstanceVersion;
    PFN_vkEnumerateInstanceLayerProperties EnumerateInstanceLayerProperties;
    PFN_vkDestroyInstance DestroyInstance;
    PFN_vkEnumeratePhysicalDevices EnumeratePhysicalDevices;
    PFN_vkGetPhysicalDeviceProperties GetPhysicalDeviceProperties;
    PFN_vkGetPhysicalDeviceProperties2 GetPhysicalDeviceProperties2;
    PFN_vkGetPhysicalDeviceFeatures2 GetPhysicalDeviceFeatures2;
    PFN_vkGetPhysicalDeviceMemoryProperties GetPhysicalDeviceMemoryProperties;
    PFN_vkGetPhysicalDeviceQueueFamilyProperties GetPhysicalDeviceQueueFamilyProperties;
    PFN_vkEnumerateDeviceExtensionProperties EnumerateDeviceExtensionProperties;
    PFN_vkCreateDevice CreateDevice;
    PFN_vkGetDeviceProcAddr GetDeviceProcAddr;
    PFN_vkCreateDebugUtilsMessengerEXT CreateDebugUtilsMessengerEXT;
    PFN_vkDestroyDebugUtilsMessengerEXT DestroyDebugUtilsMessengerEXT;
} skim_vk_itab;

typedef struct skim_vk_buffer {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    void *map; /* non-NULL when host-visible (mapped for the buffer's life) */
    bool coherent;
    VkDeviceSize mem_bytes; /* allocationSize of mem, for skim_backend_query_memory */
    uint32_t type;          /* its memory type */
} skim_vk_buffer;

typedef struct skim_vk_backend {
    skim_backend *be;
    void *loader; /* dlopen handle, or NULL with the caller's vkGetInstanceProcAddr */
    skim_vk_itab i;
    VolkDeviceTable d;
    VkInstance inst;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t qfam;
    uint32_t timestamp_bits; /* the queue family's timestampValidBits (0: no timestamps) */
    bool own_instance, own_device;
    uint32_t inst_api; /* the API version the backend's own instance was created with */
    VkDebugUtilsMessengerEXT messenger;
    const VkAllocationCallbacks *vka;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties memprops;
    skim_vulkan_info info;
    bool force_mul_mv; /* SKIM_VK_MUL_MV=1: mul_mv.comp on CPU devices too (its tests) */
    bool no_vec4;      /* SKIM_VK_NO_VEC4=1: never mul_mat.comp's VEC4 variants (tests) */
    bool barrier_every; /* SKIM_VK_BARRIERS=every: a barrier between any two dispatches */
    bool arena_reuse;   /* SKIM_VK_ARENA=reuse: the liveness plan's offsets however small */
    bool no_fuse;       /* SKIM_VK_FUSE=0: every node its own dispatch (vk_fuse.c) */
    bool profile;       /* desc.profile or SKIM_VK_PROFILE=1: timestamps (vk_profile.c) */
    skim_vulkan_debug_fn debug;
    void *debug_user;
    skim_vulkan_cache cache_io;
    VkDescriptorSetLayout dsl;
    VkPipelineLayout layout;
    VkPipelineCache cache;
    VkPipeline pipes[SKIM_VK_SHADER_COUNT];
    VkCommandPool pool;
    void *custom; /* vk_custom.c: the custom ops' shader cache */
    int guard; /* vk_guard.c: 0 off, 1 guard bytes, 2 also a deliberate stray write */
    uint32_t wg_rows; /* specialization constant SKIM_VK_SPEC_WG_ROWS (vk_pipeline.c) */
    int64_t n_submits; /* every vkQueueSubmit this backend made (runs report the difference) */
    int64_t n_begins;  /* every vkBeginCommandBuffer it made (skim_vk_begin), likewise */
    VkDeviceSize max_alloc; /* maxMemoryAllocationSize */
    /* The most bytes one block of a store (weights, states) or of an arena takes:
     * max_alloc, at most the largest heap's size, or the lower SKIM_VK_MAX_ALLOC (tests). */
    VkDeviceSize block_max;
    int64_t n_blocks; /* store blocks held (skim_vulkan_info.store_blocks), under lock */
    /* maxStorageBufferRange, or the lower SKIM_VK_MAX_RANGE (the split path's tests): a
     * binding never spans more; an op over a larger tensor runs in pieces (vk_split.c). */
    VkDeviceSize max_range;
    bool no_map;        /* SKIM_VK_STAGING=N: device buffers unmapped (the staging path's tests) */
    VkDeviceSize staging_cap; /* 0: vk_memory.c's default; SKIM_VK_STAGING=N: N bytes */
    skim_vk_buffer staging;   /* vk_memory.c: the staging area, reused */
    VkCommandBuffer staging_cb;
    VkFence staging_fence;
    /* Held while what the plans of this backend share is used: the queue, the command
     * pool, the staging area, the pipelines made on first use, the submit counters. */
    skim_vk_mutex lock;
    bool lock_made;
} skim_vk_backend;

#if defined(_WIN32)
SKIM_HIDDEN void skim_vk_lock(skim_vk_backend *vb);   /* vk_backend.c */
SKIM_HIDDEN void skim_vk_unlock(skim_vk_backend *vb);
#else
static inline void skim_vk_lock(skim_vk_backend *vb) {
    pthread_mutex_lock(&vb->lock);
}

static inline void skim_vk_unlock(skim_vk_backend *vb) {
    pthread_mutex_unlock(&vb->lock);
}
#endif

/* vkBeginCommandBuffer, counted for the run stats' `recordings`. */
static inline VkResult skim_vk_begin(skim_vk_backend *vb, VkCommandBuffer cb,
                                     const VkCommandBufferBeginInfo *bi) {
    vb->n_begins++;
    return vb->d.vkBeginCommandBuffer(cb, bi);
}

/* One indirect dispatch: its command is (ceil(count * mul / div) in dimension dim, the
 * fixed extents in the others), count being word 0 of selection `sel` (a g->sels slot),
 * or with src 1 the length of its pair list (the sum of its groups' counts; with one
 * token, the groups with a nonzero count: its head list's length); with src
 * 2, word 0 of `sel`, taken as zero when word 0 of selection `gate` is not positive; with
 * src 3, (count * mul) with count the sum over its groups of ceil(group count / div). */
typedef struct skim_vk_indirect {
    int sel, gate;
    uint32_t mul, div, dim, xyz[3], src;
} skim_vk_indirect;

/* A store's weights or states: packed into n buffers ("blocks") of at most
 * vb->block_max bytes each, every tensor wholly inside one (vk_memory.c). */
typedef struct skim_vk_blocks {
    skim_vk_buffer *b;
    int n;
} skim_vk_blocks;

typedef struct skim_vk_profile skim_vk_profile; /* vk_profile.c */

typedef struct skim_vk_plan {
    skim_vk_buffer inputs, params, indirect, dummy;
    /* The arena: one buffer, or several past vb->block_max, block j holding the layout's
     * bytes [a_start[j], a_start[j + 1]) (vk_guard.c's skim_vk_arena_split). */
    skim_vk_blocks arena;
    VkDeviceSize *a_start;
    skim_vk_blocks weights, states; /* the plan's store's (not owned) */
    int *w_blk, *st_blk; /* per slot: its block in weights / states */
    skim_vk_buffer readback; /* host-visible: every selection's words after a run */
    VkDeviceSize *w_off, *in_off, *st_off; /* per slot: offset in its buffer */
    VkDeviceSize *a_off; /* guard bytes on: per tensor id, its own offset in the arena */
    /* Per tensor id: the tensor whose storage stands for it (a gather of a one-row tensor
     * that records no dispatch, vk_fuse.c), or NULL; no table when none is. */
    const skim_tensor **alias;
    VkDescriptorPool dpool;
    VkCommandBuffer cmd;     /* secondary: the plan's work, recorded once */
    VkCommandBuffer primary; /* executes cmd; what skim_plan_run submits */
    VkFence fence;
    bool gpu_resolve;
    bool external_pending; /* a run recorded into an engine's command buffer */
    /* Indirect dispatches, collected by a first pass over the ops, written by the record
     * pass right after their selection's producer. */
    skim_vk_indirect *ind;
    int n_ind, cap_ind, next_ind;
    VkDeviceSize ind_cmd_off; /* where the commands start in `indirect` (the table first) */
    int n_dispatch;
    int64_t submit_mark; /* vb->n_submits when the current run started */
    int64_t begin_mark;  /* vb->n_begins then */
    int64_t plan_begins; /* command buffers begun at plan time (the first run reports them) */
    int64_t wg_direct;   /* workgroups of the recorded direct dispatches */
    /* Per g->sels slot of a HEAD_TOKENS selection: the byte offset in `indirect` of its
     * pair list, 0 when none: its producer writes the count of active (group, entry)
     * pairs, then group by group each as group * capacity + entry. With one token this
     * is the head list: the groups with a nonzero count. The counting pass marks the
     * lists that consumers want with 1. */
    VkDeviceSize *hl_off;
    /* Per g->sels slot of a HEADS selection: the token selection whose count gates its
     * consumers' head counts (skim_vk_head_gate_by), or NULL. */
    const skim_tensor **gate_by;
    /* Per g->sels slot: the byte offset in `indirect` of its producer's scratch
     * (select.comp: a ticket, the chunks' counts), zero before the first run. */
    VkDeviceSize *sc_off;
    skim_vk_profile *prof; /* profiling on: the timestamps (vk_profile.c), else NULL */
} skim_vk_plan;

/* A byte range a recorded dispatch reads or writes (vk_record.c's barrier planning). */
typedef struct skim_vk_access {
    VkBuffer buf;
    VkDeviceSize off, end;
    bool write;
} skim_vk_access;

struct skim_vk_queued; /* vk_record.c: a dispatch of pass 1, recorded once scheduled */

/* vk_fuse.c: per node index, its part in a fused chain. At the chain's last node: the
 * head (whose op function records the chain), the operand and epilogue (SKIM_VK_EPI_*).
 * Its other nodes are absorbed (they record nothing). */
typedef struct skim_vk_fusion {
    const skim_tensor *head, *last, *operand;
    const skim_tensor *product; /* a producer's chain: the score product (mul_mat), or NULL */
    uint32_t epi;
    bool absorbed;
} skim_vk_fusion;

/* The recorder handed to skim_vk_op_<name>: pass 0 only counts (no Vulkan calls). */
typedef struct skim_vk_rec {
    skim_vk_backend *vb;
    skim_plan *p;
    skim_vk_plan *vp;
    int pass;
    skim_status st;
    int64_t n_dispatch, n_barrier; /* recorded by pass 1: the run stats' figures */
    int64_t n_wg;                  /* pass 1: workgroups of the direct dispatches */
    struct skim_vk_queued *q;      /* pass 1: the dispatches in graph order */
    int n_q, cap_q;
    skim_vk_fusion *fuse;          /* per node index (vk_fuse.c) */
    const skim_vk_fusion *cur;     /* the chain the op function being called records, or NULL */
} skim_vk_rec;

/* A dispatch: the shader, its push constants, the tensors at bindings 0..8 (NULL:
 * dummy) and the dense grid. When `bounded_sel` >= 0 and the plan resolves on the GPU,
 * the dispatch is indirect with dimension `bdim` = ceil(count * bmul / bdiv). */
typedef struct skim_vk_dispatch {
    skim_vk_shader_id shader;
    skim_vk_pc pc;
    const skim_tensor *bind[9];
    const skim_tensor *bind_bound; /* binding SKIM_VK_B_BOUND: a selection, or NULL */
    uint32_t grid[3];
    int bounded_sel;
    uint32_t bmul, bdiv, bdim;
    uint32_t bsrc; /* 1: the count is the length of the selection's pair list; 2: word 0,
                      zero when word 0 of selection slot bgate is not positive; 3: the
                      sum over the groups of ceil(group count / bdiv), times bmul */
    int bgate;
    VkPipeline pipe; /* non-null: this pipeline instead of `shader` (custom ops) */
    const skim_vk_buffer *raw[9]; /* non-null: binding k holds this buffer from raw_off[k] */
    VkDeviceSize raw_off[9];
    uint32_t writes; /* bit k: binding k is written too (binding 0 always is) */
} skim_vk_dispatch;

/* ---------------------------------------------------------------- vk_device.c */
SKIM_HIDDEN skim_status skim_vk_device_create(skim_vk_backend *vb, const skim_vulkan_desc *desc);
SKIM_HIDDEN void skim_vk_device_destroy(skim_vk_backend *vb);
SKIM_HIDDEN const char *skim_vk_result_str(VkResult r);
SKIM_HIDDEN skim_status skim_vk_status(VkResult r);

/* ---------------------------------------------------------------- vk_memory.c */
/* host: prefer host-visible memory (mapped). */
SKIM_HIDDEN skim_status skim_vk_buffer_create(skim_vk_backend *vb, skim_vk_buffer *b,
                                              VkDeviceSize size, VkBufferUsageFlags usage,
                                              bool host, const char *what);
SKIM_HIDDEN void skim_vk_buffer_destroy(skim_vk_backend *vb, skim_vk_buffer *b);
SKIM_HIDDEN skim_status skim_vk_upload(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                                       const void *data, size_t size);
SKIM_HIDDEN skim_status skim_vk_download(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                                         void *data, size_t size);
/* Frees the staging area. */
SKIM_HIDDEN void skim_vk_staging_destroy(skim_vk_backend *vb);
SKIM_HIDDEN skim_status skim_vk_fill(skim_vk_backend *vb, skim_vk_buffer *b, VkDeviceSize off,
                                     VkDeviceSize size, uint32_t word);
/* Buffers of the given sizes in *out (allocated; freed by skim_vk_blocks_destroy). */
SKIM_HIDDEN skim_status skim_vk_blocks_make(skim_vk_backend *vb, skim_vk_blocks *out,
                                            const VkDeviceSize *sizes, int n, const char *what);
/* Places list[0..n) into blocks of at most vb->block_max bytes (guard gaps when guard):
 * offs[i] and blk[i] per tensor; creates the blocks' buffers in *out (allocated; freed by
 * skim_vk_blocks_destroy). TOO_LARGE, naming the bytes against the limit, when one tensor
 * alone passes it. */
SKIM_HIDDEN skim_status skim_vk_blocks_create(skim_vk_backend *vb, skim_vk_blocks *out,
                                              skim_tensor *const *list, int n, VkDeviceSize *offs,
                                              int *blk, bool guard, const char *what);
SKIM_HIDDEN void skim_vk_blocks_destroy(skim_vk_backend *vb, skim_vk_blocks *bl);

/* ---------------------------------------------------------------- vk_pipeline.c */
SKIM_HIDDEN skim_status skim_vk_pipelines_init(skim_vk_backend *vb);
SKIM_HIDDEN void skim_vk_pipelines_destroy(skim_vk_backend *vb);
SKIM_HIDDEN skim_status skim_vk_pipeline_get(skim_vk_backend *vb, skim_vk_shader_id id,
                                             VkPipeline *out);
/* mul_mv.comp's variant for weights of type t: with qa, the quantized-activation one
 * (Q8_0, Q4_0 only); else the one reading t through 16-bit storage where that path is
 * in use (skim_vulkan_info), the plain one otherwise. */
SKIM_HIDDEN skim_vk_shader_id skim_vk_mv_shader(const skim_vk_backend *vb, skim_type t, bool qa);

/* ---------------------------------------------------------------- vk_plan.c */
SKIM_HIDDEN skim_status skim_vk_plan_create(skim_backend *be, skim_plan *p);
SKIM_HIDDEN void skim_vk_plan_destroy(skim_plan *p);
SKIM_HIDDEN skim_status skim_vk_set_input(skim_plan *p, int slot, const void *data, size_t size);
SKIM_HIDDEN skim_status skim_vk_reset_states(skim_plan *p);
SKIM_HIDDEN skim_status skim_vk_store_create(skim_backend *be, skim_store *s);
SKIM_HIDDEN void skim_vk_store_destroy(skim_store *s);
SKIM_HIDDEN skim_status skim_vk_store_fill(skim_store *s, int i);
SKIM_HIDDEN skim_status skim_vk_run_async(skim_plan *p);
SKIM_HIDDEN skim_status skim_vk_wait(skim_plan *p);
/* After a run completed: selections to p->sel_host, error flags to a status. */
SKIM_HIDDEN skim_status skim_vk_finish(skim_plan *p);
SKIM_HIDDEN void skim_vk_write_params(skim_plan *p);
SKIM_HIDDEN skim_status skim_vk_read(skim_plan *p, const skim_tensor *t, void *dst, size_t size);

/* ---------------------------------------------------------------- vk_record.c */
SKIM_HIDDEN skim_status skim_vk_record_pass(skim_vk_rec *r);
SKIM_HIDDEN skim_status skim_vk_emit(skim_vk_rec *r, const skim_vk_dispatch *d);
/* The buffer and byte offset of a tensor's data. */
SKIM_HIDDEN bool skim_vk_locate(const skim_plan *p, const skim_tensor *t, skim_vk_buffer **buf,
                                VkDeviceSize *off, VkDeviceSize *region_end);

/* ---------------------------------------------------------------- vk_split.c */
/* Whether a binding of t stays within vb->max_range. */
SKIM_HIDDEN bool skim_vk_fits(skim_vk_rec *r, const skim_tensor *t);
/* How many of t's rows (ne[1]) one binding can span (0: not even one). */
SKIM_HIDDEN int64_t skim_vk_rows_per_piece(skim_vk_rec *r, const skim_tensor *t);
/* *v = rows [row0, row0 + rows) of t, a view of t's storage (for one dispatch). */
SKIM_HIDDEN void skim_vk_rows_view(skim_tensor *v, const skim_tensor *t, int64_t row0,
                                   int64_t rows);
/* TOO_LARGE: node's source t is past the range and cannot be split (why). */
SKIM_HIDDEN skim_status skim_vk_split_fail(skim_vk_rec *r, const skim_tensor *node,
                                           const skim_tensor *t, const char *why);
/* Whether t's extents, and its strides in `unit` bytes, fit the shaders' 32 bits. */
SKIM_HIDDEN bool skim_vk_u32_ok(const skim_tensor *t, size_t unit);

/* ---------------------------------------------------------------- vk_profile.c */
/* After the counting pass: a timestamp pool for n_dispatch dispatches (UNSUPPORTED where
 * the queue family writes none). */
SKIM_HIDDEN skim_status skim_vk_profile_create(skim_plan *p, int n_dispatch);
SKIM_HIDDEN void skim_vk_profile_destroy(skim_plan *p);
SKIM_HIDDEN void skim_vk_profile_start(skim_vk_rec *r);
/* After a dispatch writing node (NULL: an internal one) with shader (-1: custom). */
SKIM_HIDDEN void skim_vk_profile_mark(skim_vk_rec *r, const skim_tensor *node, int shader);
SKIM_HIDDEN skim_status skim_vk_profile_collect(skim_plan *p);

/* ---------------------------------------------------------------- vk_engine.c */
SKIM_HIDDEN bool skim_vk_is_plan(const skim_plan *p);

/* ---------------------------------------------------------------- vk_fuse.c */
/* Fills r->fuse (allocated; the caller frees it): the chains recorded as one dispatch. */
SKIM_HIDDEN skim_status skim_vk_fuse_plan(skim_vk_rec *r);

/* ---------------------------------------------------------------- vk_guard.c */
/* Offsets of a list of tensors packed into one buffer (with guard gaps when guard);
 * returns the buffer's size. */
SKIM_HIDDEN VkDeviceSize skim_vk_guard_pack(bool guard, VkDeviceSize *offs,
                                            skim_tensor *const *list, int n);
/* The same over blocks of at most `limit` bytes, each with its own leading guard: offs[i]
 * within block blk[i]; sizes[b] per block (n + 1 entries at most). Returns the number of
 * blocks, or -1 with *bad the index of a tensor that alone passes the limit. */
SKIM_HIDDEN int skim_vk_guard_pack_blocks(bool guard, VkDeviceSize limit, VkDeviceSize *offs,
                                          int *blk, VkDeviceSize *sizes,
                                          skim_tensor *const *list, int n, int *bad);
/* The arena's layout and size: with guard bytes, or when it costs little memory, every
 * arena tensor its own offset (vp->a_off); otherwise graph/'s liveness plan. */
SKIM_HIDDEN skim_status skim_vk_arena_layout(skim_plan *p, VkDeviceSize *arena_size);
/* vp->a_start: the arena's blocks, cut between tensors (and their guards) so that none
 * passes vb->block_max; TOO_LARGE, naming it, when one tensor alone does. */
SKIM_HIDDEN skim_status skim_vk_arena_split(skim_plan *p, VkDeviceSize *arena_size, int *n_blocks);
/* The layout address of an arena tensor (base), and the arena block holding an address. */
SKIM_HIDDEN VkDeviceSize skim_vk_arena_addr(const skim_plan *p, const skim_tensor *base);
SKIM_HIDDEN int skim_vk_arena_block(const skim_vk_plan *vp, VkDeviceSize addr);
SKIM_HIDDEN skim_status skim_vk_guard_fill(skim_plan *p);
/* After a run: STATE (and a message) when a guard byte changed. */
SKIM_HIDDEN skim_status skim_vk_guard_check(skim_plan *p);
SKIM_HIDDEN void skim_vk_guard_record_stray(skim_plan *p);

/* ---------------------------------------------------------------- vk_custom.c */
/* Frees the custom ops' shader cache (before the device goes). */
SKIM_HIDDEN void skim_vk_custom_destroy(skim_vk_backend *vb);

/* ---------------------------------------------------------------- vk_ops*.c */
/* Element unit of a type in shader offsets and strides: 4 (F32, I32), 2 (F16, BF16), 1
 * (blocks). */
static inline size_t skim_vk_unit(skim_type t) {
    if (t == SKIM_TYPE_F16 || t == SKIM_TYPE_BF16) {
        return 2;
    }
    return skim_type_block_size(t) > 1 ? 1 : 4;
}
/* select.comp: the chunks of a selection's producer (SKIM_VK_SEL_CHUNK candidates each),
 * and its scratch words (a ticket, T, need, NaN, then two per (group, chunk)). */
static inline int64_t skim_vk_sel_chunks(const skim_tensor *sel) {
    return (sel->ne[0] + SKIM_VK_SEL_CHUNK - 1) / SKIM_VK_SEL_CHUNK;
}
static inline int64_t skim_vk_sel_scratch_words(const skim_tensor *sel) {
    return 4 + 2 * sel->ne[1] * skim_vk_sel_chunks(sel);
}
/* Whether node's producer (select.comp) writes its consumers' indirect commands itself,
 * so that no indirect.comp dispatch follows it (a fusion: not with SKIM_VK_FUSE=0). */
static inline bool skim_vk_fills_own(const skim_vk_backend *vb, const skim_tensor *node) {
    return !vb->no_fuse && (node->op == SKIM_OP_HEAD_GATE || node->op == SKIM_OP_TOKEN_HALT ||
                            node->op == SKIM_OP_SELECT_TOPK);
}
SKIM_HIDDEN void skim_vk_dispatch_init(skim_vk_dispatch *d, skim_vk_shader_id shader,
                                       const skim_tensor *node);
/* Fills pc.ne / nbd (and bound) from node, nba from src0, nbb / neb from src1. */
SKIM_HIDDEN void skim_vk_set_strides(uint32_t nb[4], const skim_tensor *t);
SKIM_HIDDEN bool skim_vk_supports(skim_backend *be, const skim_tensor *node);
/* vk_ops_sel.c: whether the consumers of head selection sel (HEAD_TOKENS of one token)
 * may read its head list instead: in the counting pass it asks sel's producer for one;
 * in the recording pass *off is the list's byte offset in the indirect buffer. */
SKIM_HIDDEN bool skim_vk_head_list(skim_vk_rec *r, const skim_tensor *sel, VkDeviceSize *off);
/* vk_ops_sel.c: the same for the pair list of HEAD_TOKENS selection sel of any number of
 * tokens (vp->hl_off). */
SKIM_HIDDEN bool skim_vk_pair_list(skim_vk_rec *r, const skim_tensor *sel, VkDeviceSize *off);
/* vk_ops_sel.c: for a dispatch over the listed heads of HEADS selection `heads` whose
 * rows are bounded by token selection tok: whether heads' producer can take its count
 * as zero when tok's is (then d->bsrc = 2, d->bgate = tok's slot are set). */
SKIM_HIDDEN void skim_vk_head_gate_by(skim_vk_rec *r, skim_vk_dispatch *d,
                                      const skim_tensor *heads, const skim_tensor *tok);
/* vk_ops_sel.c: whether nothing reads the rows of t (row blocks of `block`: heads) that
 * the HEADS selection `heads` skips (call with depth 0). */
SKIM_HIDDEN bool skim_vk_head_rows_unread(const skim_graph *g, const skim_tensor *t,
                                          const skim_tensor *heads, int64_t block, int depth);

#define SKIM_OP(E, n, s, sh, fl, t) \
    SKIM_HIDDEN skim_status skim_vk_op_##n(skim_vk_rec *r, const skim_tensor *node);
#include "ops.def"
#undef SKIM_OP

#endif /* SKIM_VK_INT_H */
