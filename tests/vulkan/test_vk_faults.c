/* test_vk_faults.c - the failures a Vulkan backend meets on real machines, each made to
 * happen: no Vulkan loader (SKIM_VK_LOADER names a library that does not exist), and,
 * through a vkGetInstanceProcAddr wrapper around the real loader (skim_vulkan_desc.
 * get_instance_proc_addr), no device, a Vulkan 1.0 device, a device without enough
 * storage-buffer bindings, out of device memory (vkAllocateMemory fails for big
 * buffers) and a lost device (vkQueueSubmit or vkWaitForFences says so). Memory as
 * discrete GPUs have it, faked on lavapipe's one memory type: a device-local type that is
 * not host-visible beside the real one (buffers go there, transfers through the staging
 * area), its allocations failing (the fallback to the other type), a heap too small and
 * a low maxMemoryAllocationSize (clear errors naming the bytes). Each must give
 * its status and a message, leak nothing (skim's allocator and our VkAllocationCallbacks
 * both balance after destroy), and leave the CPU backend, and after a memory failure the
 * Vulkan backend itself, usable. No validation layer here: the faked answers would
 * rightly confuse it. Exits 77 without a Vulkan device. */
#define _POSIX_C_SOURCE 200809L
#include "skim-cpu.h"
#include "skim-vulkan.h"
#include "vk_counting_alloc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define EXPECT(c, ...) do { if (!(c)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); \
    printf(__VA_ARGS__); printf("\n"); } } while (0)

typedef enum fault {
    F_NONE, F_NO_DEVICE, F_VULKAN_10, F_FEW_BINDINGS, F_DEVICE_MEMORY, F_LOST_SUBMIT, F_LOST_WAIT,
    F_SMALL_GRID, F_TWO_TYPES, F_TWO_TYPES_FAIL0, F_SMALL_HEAP, F_SMALL_MAX_ALLOC
} fault;
static fault g_fault;
static int g_armed; /* faults of running devices start when the test arms them */

static PFN_vkGetInstanceProcAddr real_gipa;
static PFN_vkGetDeviceProcAddr real_gdpa;
static PFN_vkEnumeratePhysicalDevices real_enum;
static PFN_vkGetPhysicalDeviceProperties real_props;
static PFN_vkAllocateMemory real_alloc;
static PFN_vkQueueSubmit real_submit;
static PFN_vkWaitForFences real_wait;
static PFN_vkBeginCommandBuffer real_begin;
static long g_begins; /* vkBeginCommandBuffer calls seen, whatever the fault */
static PFN_vkGetPhysicalDeviceMemoryProperties real_memprops;
static PFN_vkGetPhysicalDeviceProperties2 real_props2;
static PFN_vkGetBufferMemoryRequirements real_reqs;
static long g_type_allocs[2]; /* F_TWO_TYPES*: allocations made in faked type 0 and 1 */

static bool two_types(void) { return g_fault == F_TWO_TYPES || g_fault == F_TWO_TYPES_FAIL0; }

/* F_TWO_TYPES: type 0 becomes DEVICE_LOCAL only (a discrete GPU's VRAM), type 1 the real
 * type 0; both allocate from the real one. F_SMALL_HEAP: heap 0 holds 1 MiB. */
static VKAPI_ATTR void VKAPI_CALL f_memprops(VkPhysicalDevice d, VkPhysicalDeviceMemoryProperties *m) {
    real_memprops(d, m);
    if (two_types() && m->memoryTypeCount >= 1) {
        m->memoryTypes[1] = m->memoryTypes[0];
        m->memoryTypes[0].propertyFlags = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
        m->memoryTypeCount = 2;
    }
    if (g_fault == F_SMALL_HEAP) m->memoryHeaps[0].size = 1u << 20;
}

static VKAPI_ATTR void VKAPI_CALL f_props2(VkPhysicalDevice d, VkPhysicalDeviceProperties2 *p) {
    real_props2(d, p);
    for (VkBaseOutStructure *s = (VkBaseOutStructure *)p; s; s = s->pNext) {
        if (s->sType == VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES && g_fault == F_SMALL_MAX_ALLOC)
            ((VkPhysicalDeviceMaintenance3Properties *)s)->maxMemoryAllocationSize = 1u << 20;
    }
}

static VKAPI_ATTR void VKAPI_CALL f_reqs(VkDevice d, VkBuffer b, VkMemoryRequirements *r) {
    real_reqs(d, b, r);
    if (two_types() && (r->memoryTypeBits & 1u)) r->memoryTypeBits |= 2u;
}

static VKAPI_ATTR VkResult VKAPI_CALL f_enum(VkInstance i, uint32_t *n, VkPhysicalDevice *d) {
    if (g_fault == F_NO_DEVICE) {
        *n = 0;
        return VK_SUCCESS;
    }
    return real_enum(i, n, d);
}

static VKAPI_ATTR void VKAPI_CALL f_props(VkPhysicalDevice d, VkPhysicalDeviceProperties *p) {
    real_props(d, p);
    if (g_fault == F_VULKAN_10) p->apiVersion = VK_API_VERSION_1_0;
    if (g_fault == F_FEW_BINDINGS) p->limits.maxPerStageDescriptorStorageBuffers = 8;
    if (g_fault == F_SMALL_GRID) /* the spec's minimum is 65535; 16 makes small graphs pass it */
        p->limits.maxComputeWorkGroupCount[0] = p->limits.maxComputeWorkGroupCount[1] =
            p->limits.maxComputeWorkGroupCount[2] = 16;
}

static VKAPI_ATTR VkResult VKAPI_CALL f_alloc(VkDevice d, const VkMemoryAllocateInfo *ai,
                                              const VkAllocationCallbacks *a, VkDeviceMemory *m) {
    if (g_fault == F_DEVICE_MEMORY && g_armed && ai->allocationSize >= (1u << 20))
        return VK_ERROR_OUT_OF_DEVICE_MEMORY;
    if (two_types()) {
        if (ai->memoryTypeIndex == 0 && g_fault == F_TWO_TYPES_FAIL0) return VK_ERROR_OUT_OF_DEVICE_MEMORY;
        g_type_allocs[ai->memoryTypeIndex & 1]++;
        VkMemoryAllocateInfo real = *ai;
        real.memoryTypeIndex = 0;
        return real_alloc(d, &real, a, m);
    }
    return real_alloc(d, ai, a, m);
}

static VKAPI_ATTR VkResult VKAPI_CALL f_submit(VkQueue q, uint32_t n, const VkSubmitInfo *s, VkFence f) {
    if (g_fault == F_LOST_SUBMIT && g_armed) return VK_ERROR_DEVICE_LOST;
    return real_submit(q, n, s, f);
}

static VKAPI_ATTR VkResult VKAPI_CALL f_wait(VkDevice d, uint32_t n, const VkFence *f, VkBool32 all,
                                             uint64_t timeout) {
    VkResult r = real_wait(d, n, f, all, timeout);
    return g_fault == F_LOST_WAIT && g_armed ? VK_ERROR_DEVICE_LOST : r;
}

static VKAPI_ATTR VkResult VKAPI_CALL f_begin(VkCommandBuffer cb, const VkCommandBufferBeginInfo *bi) {
    g_begins++;
    return real_begin(cb, bi);
}

#define FN(x) ((PFN_vkVoidFunction)(x))

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL f_gdpa(VkDevice d, const char *name) {
    PFN_vkVoidFunction r = real_gdpa(d, name);
    if (!r) return r;
    if (!strcmp(name, "vkAllocateMemory")) { real_alloc = (PFN_vkAllocateMemory)r; return FN(f_alloc); }
    if (!strcmp(name, "vkQueueSubmit")) { real_submit = (PFN_vkQueueSubmit)r; return FN(f_submit); }
    if (!strcmp(name, "vkWaitForFences")) { real_wait = (PFN_vkWaitForFences)r; return FN(f_wait); }
    if (!strcmp(name, "vkBeginCommandBuffer")) { real_begin = (PFN_vkBeginCommandBuffer)r; return FN(f_begin); }
    if (!strcmp(name, "vkGetBufferMemoryRequirements")) {
        real_reqs = (PFN_vkGetBufferMemoryRequirements)r;
        return FN(f_reqs);
    }
    return r;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL f_gipa(VkInstance i, const char *name) {
    PFN_vkVoidFunction r = real_gipa(i, name);
    if (!r || !i) return r;
    if (!strcmp(name, "vkGetDeviceProcAddr")) { real_gdpa = (PFN_vkGetDeviceProcAddr)r; return FN(f_gdpa); }
    if (!strcmp(name, "vkEnumeratePhysicalDevices")) { real_enum = (PFN_vkEnumeratePhysicalDevices)r; return FN(f_enum); }
    if (!strcmp(name, "vkGetPhysicalDeviceMemoryProperties")) {
        real_memprops = (PFN_vkGetPhysicalDeviceMemoryProperties)r;
        return FN(f_memprops);
    }
    if (!strcmp(name, "vkGetPhysicalDeviceProperties2")) {
        real_props2 = (PFN_vkGetPhysicalDeviceProperties2)r;
        return FN(f_props2);
    }
    if (!strcmp(name, "vkGetPhysicalDeviceProperties")) {
        real_props = (PFN_vkGetPhysicalDeviceProperties)r;
        return FN(f_props);
    }
    return r;
}

/* ---------------------------------------------------------------- counting allocators */

typedef struct counter { long live, total; } counter;
static void *c_alloc(void *user, size_t size) {
    void *p = malloc(size);
    if (p) { ((counter *)user)->live++; ((counter *)user)->total++; }
    return p;
}
static void c_free(void *user, void *p) {
    if (p) { ((counter *)user)->live--; free(p); }
}


typedef struct env {
    counter host, drv;
    VkAllocationCallbacks cb;
    skim_vulkan_desc d;
} env;

static void env_init(env *e, bool wrap) {
    memset(e, 0, sizeof *e);
    e->d.allocator.alloc = c_alloc;
    e->d.allocator.free = c_free;
    e->d.allocator.user = &e->host;
    e->cb = (VkAllocationCallbacks){&e->drv.live, vk_alloc, vk_realloc, vk_free, NULL, NULL};
    e->d.vk_allocator = &e->cb;
    e->d.validation = SKIM_VK_OFF;
    e->d.get_instance_proc_addr = wrap ? f_gipa : NULL;
}

static void expect_no_leak(const env *e, const char *what) {
    EXPECT(e->host.live == 0 && e->drv.live == 0, "%s: %ld skim and %ld driver allocations leaked",
           what, e->host.live, e->drv.live);
}

/* ---------------------------------------------------------------- graphs */

/* y = x * 2 + x over n floats (n * 4 bytes of input, two intermediates). */
typedef struct small { skim_context *ctx; skim_graph *g; skim_tensor *x, *y; } small;

static int small_build(small *s, int64_t n) {
    memset(s, 0, sizeof *s);
    if (skim_context_create(NULL, &s->ctx) != SKIM_OK) return 1;
    s->x = skim_new_input_1d(s->ctx, SKIM_TYPE_F32, n);
    s->y = skim_add(s->ctx, skim_scale(s->ctx, s->x, 2.0f), s->x);
    return skim_graph_build(s->ctx, &s->y, 1, &s->g) != SKIM_OK;
}

static void small_free(small *s) {
    skim_graph_destroy(s->g);
    skim_context_destroy(s->ctx);
}

/* Plans, runs and checks y = 3x; returns the plan's status (OK when the values match). */
static skim_status small_run(skim_backend *be, int64_t n, skim_status *run_st, char *msg, size_t cap) {
    small s;
    if (small_build(&s, n)) return SKIM_ERR_INVALID_ARG;
    float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 13) - 6.0f;
    skim_plan *p = NULL;
    skim_status st = skim_plan_create(be, s.g, NULL, &p);
    snprintf(msg, cap, "%s", skim_backend_error(be));
    if (st == SKIM_OK) {
        skim_plan_set_input(p, s.x, x, (size_t)n * sizeof *x);
        *run_st = skim_plan_run(p);
        snprintf(msg, cap, "%s", skim_plan_error(p));
        if (*run_st == SKIM_OK && skim_plan_get_output(p, s.y, y, (size_t)n * sizeof *y) == SKIM_OK) {
            for (int64_t i = 0; i < n; i++)
                if (y[i] != 3.0f * x[i]) { *run_st = SKIM_ERR_STATE; break; }
        }
        if (*run_st == SKIM_ERR_DEVICE_LOST) {
            skim_status again = skim_plan_run(p);
            EXPECT(again == SKIM_ERR_DEVICE_LOST, "a second run on a lost device -> %s",
                   skim_status_str(again));
        }
        skim_plan_destroy(p);
    }
    small_free(&s);
    free(x);
    free(y);
    return st;
}

/* ---------------------------------------------------------------- the cases */

/* The run stats' `recordings` against the vkBeginCommandBuffer calls the wrapper saw:
 * the first run reports those of plan_create and of the run, later runs their own. */
static void recordings_counted(void) {
    env e;
    env_init(&e, true);
    skim_backend *be = NULL;
    EXPECT(skim_backend_create_vulkan(&e.d, &be) == SKIM_OK, "create for the recordings case");
    if (!be) return;
    small s;
    EXPECT(small_build(&s, 1024) == 0, "build");
    float x[1024] = {0};
    skim_plan *p = NULL;
    long b0 = g_begins;
    EXPECT(skim_plan_create(be, s.g, NULL, &p) == SKIM_OK, "plan: %s", skim_backend_error(be));
    long at_plan = g_begins - b0;
    EXPECT(at_plan >= 1, "plan_create began %ld command buffers", at_plan);
    for (int run = 0; p && run < 3; run++) {
        skim_plan_set_input(p, s.x, x, sizeof x);
        long b1 = g_begins;
        EXPECT(skim_plan_run(p) == SKIM_OK, "run %d: %s", run, skim_plan_error(p));
        long want = g_begins - b1 + (run == 0 ? at_plan : 0);
        skim_run_stats st;
        skim_plan_get_stats(p, &st);
        EXPECT(st.recordings == want, "run %d: recordings %lld, vkBeginCommandBuffer calls %ld",
               run, (long long)st.recordings, want);
        if (run == 0) printf("%-28s %lld (plan_create began %ld)\n", "recordings of run 0",
                             (long long)st.recordings, at_plan);
    }
    skim_plan_destroy(p);
    small_free(&s);
    skim_backend_destroy(be);
    expect_no_leak(&e, "recordings");
}

static void create_fails(fault f, const char *want, const char *what) {
    env e;
    env_init(&e, true);
    g_fault = f;
    char msg[256];
    skim_backend *be = NULL;
    skim_status s = skim_backend_create_vulkan_msg(&e.d, &be, msg, sizeof msg);
    EXPECT(s == SKIM_ERR_DEVICE && be == NULL && strstr(msg, want), "%s -> %s (%s), want DEVICE "
           "with \"%s\"", what, skim_status_str(s), msg, want);
    printf("%-28s %s: %s\n", what, skim_status_str(s), msg);
    if (be) skim_backend_destroy(be);
    g_fault = F_NONE;
    expect_no_leak(&e, what);
}

static void no_loader(void) {
    env e;
    env_init(&e, false);
    setenv("SKIM_VK_LOADER", "/nonexistent/libvulkan-missing.so.1", 1);
    char msg[256];
    skim_backend *be = NULL;
    skim_status s = skim_backend_create_vulkan_msg(&e.d, &be, msg, sizeof msg);
    unsetenv("SKIM_VK_LOADER");
    EXPECT(s == SKIM_ERR_DEVICE && be == NULL && strstr(msg, "no Vulkan loader"),
           "no loader -> %s (%s)", skim_status_str(s), msg);
    printf("%-28s %s: %s\n", "no Vulkan loader", skim_status_str(s), msg);
    expect_no_leak(&e, "no loader");
}

static void device_memory(void) {
    env e;
    env_init(&e, true);
    g_fault = F_DEVICE_MEMORY;
    skim_backend *be = NULL;
    EXPECT(skim_backend_create_vulkan(&e.d, &be) == SKIM_OK, "create for the memory case");
    if (!be) return;
    char msg[256];
    skim_status rs = SKIM_OK;
    g_armed = 1;
    skim_status s = small_run(be, 1 << 19, &rs, msg, sizeof msg); /* 2 MiB buffers */
    g_armed = 0;
    EXPECT(s == SKIM_ERR_DEVICE_MEMORY && strstr(msg, "needs 4194304 bytes") && strstr(msg, "heap 0"),
           "out of device memory -> %s (%s)", skim_status_str(s), msg);
    printf("%-28s %s: %s\n", "out of device memory", skim_status_str(s), msg);
    s = small_run(be, 1 << 19, &rs, msg, sizeof msg);
    EXPECT(s == SKIM_OK && rs == SKIM_OK, "the backend after a memory failure: %s / %s (%s)",
           skim_status_str(s), skim_status_str(rs), msg);
    skim_backend_destroy(be);
    g_fault = F_NONE;
    expect_no_leak(&e, "out of device memory");
}

/* Device memory laid out as on a discrete GPU (F_TWO_TYPES): buffers go to the
 * device-local type that is not host-visible, outputs come back through the staging area;
 * when that type's allocations fail (F_TWO_TYPES_FAIL0) they fall back to the other type.
 * Both runs give y = 3x (small_run checks every value). */
static void memory_types(fault f, const char *what, int want_type) {
    env e;
    env_init(&e, true);
    g_fault = f;
    skim_backend *be = NULL;
    EXPECT(skim_backend_create_vulkan(&e.d, &be) == SKIM_OK, "create for %s", what);
    if (!be) return;
    char msg[256];
    skim_status rs = SKIM_ERR_STATE;
    long before[2] = {g_type_allocs[0], g_type_allocs[1]};
    skim_status s = small_run(be, 1 << 18, &rs, msg, sizeof msg); /* 1 MiB buffers */
    long made[2] = {g_type_allocs[0] - before[0], g_type_allocs[1] - before[1]};
    EXPECT(s == SKIM_OK && rs == SKIM_OK, "%s: %s / %s (%s)", what, skim_status_str(s),
           skim_status_str(rs), msg);
    /* The arena, the dummy and the indirect buffer are device buffers; the inputs, the
     * parameters, the readback and the staging area host-visible ones. */
    EXPECT(made[want_type] >= 3, "%s: %ld allocations in type 0, %ld in type 1", what, made[0],
           made[1]);
    printf("%-28s run %s; allocations in the device-local-only type %ld, the other %ld\n", what,
           skim_status_str(rs), made[0], made[1]);
    skim_backend_destroy(be);
    g_fault = F_NONE;
    expect_no_leak(&e, what);
}

/* A heap of 1 MiB, or maxMemoryAllocationSize 1 MiB: intermediates of 2 MiB are refused
 * with TOO_LARGE naming the bytes and the limit; two of 528 KiB (an arena past the limit)
 * run, the arena in several buffers; and the backend still runs what fits. */
static void memory_limits(fault f, const char *what) {
    env e;
    env_init(&e, true);
    g_fault = f;
    skim_backend *be = NULL;
    EXPECT(skim_backend_create_vulkan(&e.d, &be) == SKIM_OK, "create for %s", what);
    if (!be) return;
    char msg[256];
    skim_status rs = SKIM_OK;
    skim_status s = small_run(be, 1 << 19, &rs, msg, sizeof msg); /* 2 MiB buffers */
    EXPECT(s == SKIM_ERR_TOO_LARGE && strstr(msg, "needs 2097152 bytes, past the 1048576 bytes"),
           "%s -> %s (%s)", what, skim_status_str(s), msg);
    printf("%-28s %s: %s\n", what, skim_status_str(s), msg);
    skim_memory_stats m0, m1;
    skim_backend_query_memory(be, &m0);
    s = small_run(be, (1 << 17) + 4096, &rs, msg, sizeof msg); /* 2 x 528 KiB: an arena past 1 MiB */
    EXPECT(s == SKIM_OK && rs == SKIM_OK, "%s: an arena past the limit: %s / %s (%s)", what,
           skim_status_str(s), skim_status_str(rs), msg);
    skim_backend_query_memory(be, &m1);
    EXPECT(m1.device_blocks == m0.device_blocks, "%s: allocations left: %llu, before %llu", what,
           (unsigned long long)m1.device_blocks, (unsigned long long)m0.device_blocks);
    s = small_run(be, 4096, &rs, msg, sizeof msg);
    EXPECT(s == SKIM_OK && rs == SKIM_OK, "%s: a small graph after it: %s / %s (%s)", what,
           skim_status_str(s), skim_status_str(rs), msg);
    skim_backend_destroy(be);
    g_fault = F_NONE;
    expect_no_leak(&e, what);
}

static void device_lost(fault f, const char *what) {
    env e;
    env_init(&e, true);
    g_fault = f;
    skim_backend *be = NULL;
    EXPECT(skim_backend_create_vulkan(&e.d, &be) == SKIM_OK, "create for %s", what);
    if (!be) return;
    char msg[256];
    skim_status rs = SKIM_OK;
    g_armed = 1;
    skim_status s = small_run(be, 4096, &rs, msg, sizeof msg);
    EXPECT(s == SKIM_OK && rs == SKIM_ERR_DEVICE_LOST && msg[0], "%s: plan %s, run %s (%s)", what,
           skim_status_str(s), skim_status_str(rs), msg);
    printf("%-28s %s: %s\n", what, skim_status_str(rs), msg);
    skim_backend_destroy(be);
    g_armed = 0;
    g_fault = F_NONE;
    expect_no_leak(&e, what);
}

/* A dispatch whose grid passes the device's maxComputeWorkGroupCount is refused when the
 * plan is made (TOO_LARGE naming the op), not run to give wrong numbers; a graph within
 * the limit still runs on the same backend. */
static void small_grid(void) {
    env e;
    env_init(&e, true);
    g_fault = F_SMALL_GRID;
    skim_backend *be = NULL;
    EXPECT(skim_backend_create_vulkan(&e.d, &be) == SKIM_OK, "create for the grid case");
    if (!be) return;
    char msg[256];
    skim_status rs = SKIM_OK;
    skim_status s = small_run(be, 16 * 256 * 2, &rs, msg, sizeof msg); /* 32 workgroups of 256 */
    EXPECT(s == SKIM_ERR_TOO_LARGE && strstr(msg, "grid of 32 x 1 x 1") && strstr(msg, "scale"),
           "a grid past the limit -> %s (%s)", skim_status_str(s), msg);
    printf("%-28s %s: %s\n", "grid past the device limit", skim_status_str(s), msg);
    s = small_run(be, 16 * 256, &rs, msg, sizeof msg);
    EXPECT(s == SKIM_OK && rs == SKIM_OK, "a grid at the limit: %s / %s (%s)", skim_status_str(s),
           skim_status_str(rs), msg);
    skim_backend_destroy(be);
    g_fault = F_NONE;
    expect_no_leak(&e, "grid past the device limit");
}

int main(void) {
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    void *sym = lib ? dlsym(lib, "vkGetInstanceProcAddr") : NULL;
    if (!sym) {
        printf("SKIP: no Vulkan loader here\n");
        return 77;
    }
    memcpy(&real_gipa, &sym, sizeof real_gipa);
    {
        env e;
        env_init(&e, true);
        skim_backend *be = NULL;
        char msg[256];
        if (skim_backend_create_vulkan_msg(&e.d, &be, msg, sizeof msg) != SKIM_OK) {
            printf("SKIP: no usable Vulkan device: %s\n", msg);
            return 77;
        }
        printf("device: %s\n", skim_backend_device(be));
        skim_status rs = SKIM_ERR_STATE;
        EXPECT(small_run(be, 4096, &rs, msg, sizeof msg) == SKIM_OK && rs == SKIM_OK,
               "the wrapper without faults: %s (%s)", skim_status_str(rs), msg);
        skim_backend_destroy(be);
        expect_no_leak(&e, "no fault");
    }
    recordings_counted();
    no_loader();
    create_fails(F_NO_DEVICE, "no Vulkan device", "no device");
    create_fails(F_VULKAN_10, "1.1", "a Vulkan 1.0 device");
    create_fails(F_FEW_BINDINGS, "storage buffers", "8 storage buffers per stage");
    device_memory();
    memory_types(F_TWO_TYPES, "device-local-only memory", 0);
    memory_types(F_TWO_TYPES_FAIL0, "its allocations failing", 1);
    memory_limits(F_SMALL_HEAP, "a 1 MiB heap");
    memory_limits(F_SMALL_MAX_ALLOC, "maxMemoryAllocationSize 1 MiB");
    device_lost(F_LOST_SUBMIT, "device lost at submit");
    device_lost(F_LOST_WAIT, "device lost at wait");
    small_grid();
    skim_backend *cpu = NULL;
    char msg[256];
    skim_status rs = SKIM_ERR_STATE, s = skim_backend_create_cpu(NULL, &cpu);
    if (s == SKIM_OK) s = small_run(cpu, 4096, &rs, msg, sizeof msg);
    EXPECT(s == SKIM_OK && rs == SKIM_OK, "the CPU backend after the Vulkan failures: %s / %s",
           skim_status_str(s), skim_status_str(rs));
    skim_backend_destroy(cpu);
    dlclose(lib);
    printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
    return failures != 0;
}
