/* test_fault_vk.c - every Vulkan create / allocate call of a backend's life made to fail in
 * turn, and VkAllocationCallbacks that fail. The backend looks its functions up through
 * skim_vulkan_desc.get_instance_proc_addr; ours wraps the system loader's and hands out,
 * for every vkCreate* / vkAllocate* the backend uses (instance, messenger, device, pools,
 * layouts, cache, shader modules, pipelines, buffers, memory, descriptor sets, command
 * buffers, fences), a wrapper that fails on the N-th such call, and for every vkDestroy* /
 * vkFree* one that counts. One cycle: create the backend, plan the representative graph
 * (host_graph.c), run it, read the outputs, destroy. For every N, with
 * VK_ERROR_OUT_OF_HOST_MEMORY and then VK_ERROR_OUT_OF_DEVICE_MEMORY (the messenger can
 * only fail the first way), the call must return OUT_OF_MEMORY or DEVICE_MEMORY
 * respectively and leave *out alone; a backend whose plan failed must plan and run again
 * with the same bytes as a run without failures; after destroy every Vulkan object the
 * backend created is destroyed, and every block of its allocator freed. The validation
 * layer (when installed) sits below the wrapper, so a failed call never reaches it; any
 * message it prints fails the test.
 * The VkAllocationCallbacks sweep fails the N-th driver allocation: whatever status comes
 * back, every block the driver took through the callbacks is freed after destroy. Exits
 * 77 without a Vulkan device.
 *   test_fault_vk [--calls | --callbacks [N]]   (N: that failure point only) */
#define _POSIX_C_SOURCE 200809L
#include "host_graph.h"

#include "skim-vulkan.h"
#include "failing_alloc.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL ((void *)0x5e5e5e5e)

static long g_calls, g_fail_at = -1, g_live;
static VkResult g_result = VK_ERROR_OUT_OF_HOST_MEMORY;
static int g_vk_messages;

static VkResult g_injected; /* what the failed call returned */
static bool inject(void) {
    if (g_calls++ != g_fail_at) return false;
    g_injected = g_result;
    return true;
}

/* ---------------------------------------------------------------- wrappers */

#define WRAP_CREATE(Name, CI, Handle)                                                               \
    static PFN_vk##Name r_##Name;                                                                    \
    static VKAPI_ATTR VkResult VKAPI_CALL w_##Name(VkDevice d, const CI *ci,                         \
                                                   const VkAllocationCallbacks *a, Handle *out) {    \
        if (inject()) {                                                                              \
            return g_result;                                                                         \
        }                                                                                            \
        VkResult r = r_##Name(d, ci, a, out);                                                        \
        if (r == VK_SUCCESS) g_live++;                                                               \
        return r;                                                                                    \
    }
#define WRAP_DESTROY(Name, Handle)                                                                  \
    static PFN_vk##Name r_##Name;                                                                    \
    static VKAPI_ATTR void VKAPI_CALL w_##Name(VkDevice d, Handle h, const VkAllocationCallbacks *a) { \
        if (h) g_live--;                                                                             \
        r_##Name(d, h, a);                                                                           \
    }

WRAP_CREATE(CreateBuffer, VkBufferCreateInfo, VkBuffer)
WRAP_CREATE(AllocateMemory, VkMemoryAllocateInfo, VkDeviceMemory)
WRAP_CREATE(CreateCommandPool, VkCommandPoolCreateInfo, VkCommandPool)
WRAP_CREATE(CreateDescriptorSetLayout, VkDescriptorSetLayoutCreateInfo, VkDescriptorSetLayout)
WRAP_CREATE(CreatePipelineCache, VkPipelineCacheCreateInfo, VkPipelineCache)
WRAP_CREATE(CreateShaderModule, VkShaderModuleCreateInfo, VkShaderModule)
WRAP_CREATE(CreateDescriptorPool, VkDescriptorPoolCreateInfo, VkDescriptorPool)
WRAP_CREATE(CreateFence, VkFenceCreateInfo, VkFence)
WRAP_DESTROY(DestroyBuffer, VkBuffer)
WRAP_DESTROY(FreeMemory, VkDeviceMemory)
WRAP_DESTROY(DestroyCommandPool, VkCommandPool)
WRAP_DESTROY(DestroyDescriptorSetLayout, VkDescriptorSetLayout)
WRAP_DESTROY(DestroyPipelineLayout, VkPipelineLayout)
WRAP_DESTROY(DestroyPipelineCache, VkPipelineCache)
WRAP_DESTROY(DestroyShaderModule, VkShaderModule)
WRAP_DESTROY(DestroyDescriptorPool, VkDescriptorPool)
WRAP_DESTROY(DestroyFence, VkFence)
WRAP_DESTROY(DestroyPipeline, VkPipeline)

/* Command buffers and descriptor sets die with their pools: failed, not counted. */
static PFN_vkAllocateCommandBuffers r_AllocateCommandBuffers;
static VKAPI_ATTR VkResult VKAPI_CALL w_AllocateCommandBuffers(VkDevice d, const VkCommandBufferAllocateInfo *ai,
                                                               VkCommandBuffer *out) {
    if (inject()) return g_result;
    return r_AllocateCommandBuffers(d, ai, out);
}
static PFN_vkAllocateDescriptorSets r_AllocateDescriptorSets;
static VKAPI_ATTR VkResult VKAPI_CALL w_AllocateDescriptorSets(VkDevice d, const VkDescriptorSetAllocateInfo *ai,
                                                               VkDescriptorSet *out) {
    if (inject()) return g_result;
    return r_AllocateDescriptorSets(d, ai, out);
}
static PFN_vkCreateComputePipelines r_CreateComputePipelines;
static VKAPI_ATTR VkResult VKAPI_CALL w_CreateComputePipelines(VkDevice d, VkPipelineCache c, uint32_t n,
                                                               const VkComputePipelineCreateInfo *ci,
                                                               const VkAllocationCallbacks *a, VkPipeline *out) {
    if (inject()) {
        for (uint32_t i = 0; i < n; i++) out[i] = VK_NULL_HANDLE; /* the spec's rule on failure */
        return g_result;
    }
    VkResult r = r_CreateComputePipelines(d, c, n, ci, a, out);
    for (uint32_t i = 0; i < n; i++)
        if (out[i]) g_live++;
    return r;
}
/* While a command buffer records, inside vkCreatePipelineLayout and while the test
 * destroys plans and backends, driver allocations are not failed (see vk_alloc). */
static bool g_recording, g_in_layout, g_destroying;
static PFN_vkCreatePipelineLayout r_CreatePipelineLayout;
static VKAPI_ATTR VkResult VKAPI_CALL w_CreatePipelineLayout(VkDevice d, const VkPipelineLayoutCreateInfo *ci,
                                                             const VkAllocationCallbacks *a, VkPipelineLayout *out) {
    if (inject()) return g_result;
    g_in_layout = true;
    VkResult r = r_CreatePipelineLayout(d, ci, a, out);
    g_in_layout = false;
    if (r == VK_SUCCESS) g_live++;
    return r;
}
static PFN_vkBeginCommandBuffer r_BeginCommandBuffer;
static VKAPI_ATTR VkResult VKAPI_CALL w_BeginCommandBuffer(VkCommandBuffer cb, const VkCommandBufferBeginInfo *bi) {
    g_recording = true;
    return r_BeginCommandBuffer(cb, bi);
}
static PFN_vkEndCommandBuffer r_EndCommandBuffer;
static VKAPI_ATTR VkResult VKAPI_CALL w_EndCommandBuffer(VkCommandBuffer cb) {
    VkResult r = r_EndCommandBuffer(cb);
    g_recording = false;
    return r;
}
static PFN_vkCreateDevice r_CreateDevice;
static VKAPI_ATTR VkResult VKAPI_CALL w_CreateDevice(VkPhysicalDevice p, const VkDeviceCreateInfo *ci,
                                                     const VkAllocationCallbacks *a, VkDevice *out) {
    if (inject()) return g_result;
    VkResult r = r_CreateDevice(p, ci, a, out);
    if (r == VK_SUCCESS) g_live++;
    return r;
}
static PFN_vkDestroyDevice r_DestroyDevice;
static VKAPI_ATTR void VKAPI_CALL w_DestroyDevice(VkDevice d, const VkAllocationCallbacks *a) {
    if (d) g_live--;
    r_DestroyDevice(d, a);
}
static PFN_vkCreateInstance r_CreateInstance;
static VKAPI_ATTR VkResult VKAPI_CALL w_CreateInstance(const VkInstanceCreateInfo *ci, const VkAllocationCallbacks *a,
                                                       VkInstance *out) {
    if (inject()) return g_result;
    VkResult r = r_CreateInstance(ci, a, out);
    if (r == VK_SUCCESS) g_live++;
    return r;
}
static PFN_vkDestroyInstance r_DestroyInstance;
static VKAPI_ATTR void VKAPI_CALL w_DestroyInstance(VkInstance i, const VkAllocationCallbacks *a) {
    if (i) g_live--;
    r_DestroyInstance(i, a);
}
static PFN_vkCreateDebugUtilsMessengerEXT r_CreateMessenger;
static VKAPI_ATTR VkResult VKAPI_CALL w_CreateMessenger(VkInstance i, const VkDebugUtilsMessengerCreateInfoEXT *ci,
                                                        const VkAllocationCallbacks *a, VkDebugUtilsMessengerEXT *out) {
    /* The spec lets this call fail with VK_ERROR_OUT_OF_HOST_MEMORY only. */
    if (inject()) return g_injected = VK_ERROR_OUT_OF_HOST_MEMORY;
    VkResult r = r_CreateMessenger(i, ci, a, out);
    if (r == VK_SUCCESS) g_live++;
    return r;
}
static PFN_vkDestroyDebugUtilsMessengerEXT r_DestroyMessenger;
static VKAPI_ATTR void VKAPI_CALL w_DestroyMessenger(VkInstance i, VkDebugUtilsMessengerEXT m,
                                                     const VkAllocationCallbacks *a) {
    if (m) g_live--;
    r_DestroyMessenger(i, m, a);
}

/* ---------------------------------------------------------------- lookup */

typedef struct wrapped {
    const char *name;
    PFN_vkVoidFunction wrapper;
    PFN_vkVoidFunction *real;
} wrapped;

#define W(Name) {"vk" #Name, (PFN_vkVoidFunction)w_##Name, (PFN_vkVoidFunction *)&r_##Name}
static const wrapped g_wrapped[] = {
    W(CreateBuffer), W(AllocateMemory), W(CreateCommandPool), W(CreateDescriptorSetLayout),
    W(CreatePipelineLayout), W(CreatePipelineCache), W(CreateShaderModule), W(CreateDescriptorPool),
    W(CreateFence), W(DestroyBuffer), W(FreeMemory), W(DestroyCommandPool),
    W(DestroyDescriptorSetLayout), W(DestroyPipelineLayout), W(DestroyPipelineCache),
    W(DestroyShaderModule), W(DestroyDescriptorPool), W(DestroyFence), W(DestroyPipeline),
    W(AllocateCommandBuffers), W(AllocateDescriptorSets), W(CreateComputePipelines), W(CreateDevice),
    W(DestroyDevice), W(CreateInstance), W(DestroyInstance), W(BeginCommandBuffer), W(EndCommandBuffer),
    {"vkCreateDebugUtilsMessengerEXT", (PFN_vkVoidFunction)w_CreateMessenger, (PFN_vkVoidFunction *)&r_CreateMessenger},
    {"vkDestroyDebugUtilsMessengerEXT", (PFN_vkVoidFunction)w_DestroyMessenger,
     (PFN_vkVoidFunction *)&r_DestroyMessenger},
};

static PFN_vkGetInstanceProcAddr real_gipa;
static PFN_vkGetDeviceProcAddr real_gdpa;

static PFN_vkVoidFunction wrap(const char *name, PFN_vkVoidFunction real) {
    if (!real) return NULL;
    for (size_t i = 0; i < sizeof g_wrapped / sizeof g_wrapped[0]; i++) {
        if (strcmp(name, g_wrapped[i].name) == 0) {
            *g_wrapped[i].real = real;
            return g_wrapped[i].wrapper;
        }
    }
    return real;
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL w_gdpa(VkDevice d, const char *name) {
    return wrap(name, real_gdpa(d, name));
}

static VKAPI_ATTR PFN_vkVoidFunction VKAPI_CALL w_gipa(VkInstance i, const char *name) {
    PFN_vkVoidFunction real = real_gipa(i, name);
    if (strcmp(name, "vkGetDeviceProcAddr") == 0 && real) {
        real_gdpa = (PFN_vkGetDeviceProcAddr)real;
        return (PFN_vkVoidFunction)w_gdpa;
    }
    if (strcmp(name, "vkGetInstanceProcAddr") == 0) return (PFN_vkVoidFunction)w_gipa;
    return wrap(name, real);
}

/* ---------------------------------------------------------------- allocators */

/* VkAllocationCallbacks failing the fail_at-th allocation or reallocation. Each block
 * keeps its size and the raw pointer in front of the aligned address. */
typedef struct vk_failing {
    long n, fail_at, live, n_command;
} vk_failing;
typedef struct vk_hdr {
    void *raw;
    size_t size;
} vk_hdr;

static void *VKAPI_CALL vk_alloc(void *user, size_t size, size_t align, VkSystemAllocationScope scope) {
    vk_failing *f = user;
    /* Never failed, each for a driver bug this sweep found in lavapipe (Mesa 22.3.6), in
     * libvulkan_lvp.so's own code, that no caller can handle:
     * - while a command buffer records: it writes through the NULL it gets back inside
     *   vkCmdPushConstants (SEGV), and after a failed allocation inside
     *   vkCmdPipelineBarrier (made with OBJECT scope) frees one block more than it took;
     * - inside vkCreatePipelineLayout: it reads through the NULL (SEGV);
     * - while plans and backends are destroyed: vkDeviceWaitIdle allocates, and when that
     *   fails it keeps the block it did get (destruction cannot report a failure). */
    if (scope == VK_SYSTEM_ALLOCATION_SCOPE_COMMAND || g_recording || g_in_layout || g_destroying) {
        f->n_command++;
    } else if (f->n++ == f->fail_at) {
        return NULL;
    }
    if (align < sizeof(void *)) align = sizeof(void *);
    unsigned char *raw = malloc(size + align + sizeof(vk_hdr));
    if (!raw) return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(vk_hdr) + align - 1) & ~(uintptr_t)(align - 1);
    vk_hdr h = {raw, size};
    memcpy((void *)(p - sizeof h), &h, sizeof h);
    f->live++;
    return (void *)p;
}
static void VKAPI_CALL vk_free(void *user, void *mem) {
    vk_failing *f = user;
    if (!mem) return;
    vk_hdr h;
    memcpy(&h, (unsigned char *)mem - sizeof h, sizeof h);
    f->live--;
    free(h.raw);
}
static void *VKAPI_CALL vk_realloc(void *user, void *orig, size_t size, size_t align, VkSystemAllocationScope scope) {
    if (!orig) return vk_alloc(user, size, align, scope);
    if (size == 0) {
        vk_free(user, orig);
        return NULL;
    }
    void *p = vk_alloc(user, size, align, scope);
    if (!p) return NULL; /* orig stays valid, as the spec says */
    vk_hdr h;
    memcpy(&h, (unsigned char *)orig - sizeof h, sizeof h);
    memcpy(p, orig, h.size < size ? h.size : size);
    vk_free(user, orig);
    return p;
}

/* ---------------------------------------------------------------- cycles */

static void vk_message(void *user, uint32_t severity, uint32_t type, const char *message) {
    (void)user;
    g_vk_messages++;
    printf("VULKAN VALIDATION (severity 0x%x, type 0x%x): %s\n", severity, type, message);
}
static bool g_validation;

typedef struct cyc {
    const host_graph *h;
    const unsigned char *want; /* NULL: fill got (the reference) */
    unsigned char *got;
    failing f;
    vk_failing vf;
    bool use_vf;
    skim_status st;     /* the first failure, or OK */
    const char *stage;
    bool retried;
} cyc;

static skim_status plan_run(skim_backend *be, cyc *c) {
    skim_plan *p = SENTINEL;
    c->stage = "plan_create";
    skim_status s = skim_plan_create(be, c->h->graph, NULL, &p);
    if (s != SKIM_OK) {
        CHECK(p == SENTINEL, "plan_create wrote out_plan on failure");
        return s;
    }
    c->stage = "set_inputs";
    s = hg_set_inputs(c->h, p);
    if (s == SKIM_OK) {
        c->stage = "run";
        s = skim_plan_run(p);
    }
    if (s == SKIM_OK) {
        c->stage = "outputs";
        s = hg_read(c->h, p, c->got);
    }
    g_destroying = true;
    skim_plan_destroy(p);
    g_destroying = false;
    return s;
}

/* One cycle; the caller has set the injection globals. */
static void run_cycle(cyc *c) {
    g_recording = g_in_layout = g_destroying = false;
    VkAllocationCallbacks cb = {&c->vf, vk_alloc, vk_realloc, vk_free, NULL, NULL};
    skim_vulkan_desc d;
    memset(&d, 0, sizeof d);
    d.get_instance_proc_addr = w_gipa;
    d.validation = g_validation ? SKIM_VK_ON : SKIM_VK_OFF;
    d.debug = vk_message;
    d.allocator.alloc = f_alloc;
    d.allocator.free = f_free;
    d.allocator.user = &c->f;
    if (c->use_vf) d.vk_allocator = &cb;
    skim_backend *be = SENTINEL;
    char msg[256] = "";
    c->stage = "backend_create";
    c->st = skim_backend_create_vulkan_msg(&d, &be, msg, sizeof msg);
    if (c->st != SKIM_OK) {
        CHECK(be == SENTINEL, "backend create wrote *out on failure (%s)", msg);
        return;
    }
    c->st = plan_run(be, c);
    if (c->st != SKIM_OK) {
        g_fail_at = -1;
        c->vf.fail_at = -1;
        c->retried = true;
        const char *first = c->stage;
        skim_status s = plan_run(be, c);
        CHECK(s == SKIM_OK, "after %s failed (%s), a new plan -> %s: %s", first, skim_status_str(c->st),
              skim_status_str(s), skim_backend_error(be));
        c->stage = first;
        if (s != SKIM_OK) c->want = NULL;
    }
    if (c->want) CHECK(memcmp(c->got, c->want, hg_output_size()) == 0, "outputs differ from a run without failures");
    g_destroying = true;
    skim_backend_destroy(be);
    g_destroying = false;
}

/* Every N of the create / allocate calls, with one result. Returns the calls per cycle. */
static long sweep_calls(const host_graph *h, const unsigned char *want, unsigned char *got, VkResult res,
                        skim_status expect) {
    long total = -1, points = 0, failed = 0;
    double t0 = t_now();
    for (long at = 0;; at++) {
        cyc c;
        memset(&c, 0, sizeof c);
        c.h = h;
        c.want = want;
        c.got = got;
        c.f.fail_at = -1;
        c.vf.fail_at = -1;
        g_calls = 0;
        g_live = 0;
        g_fail_at = at;
        g_result = res;
        g_injected = VK_SUCCESS;
        expect = res == VK_ERROR_OUT_OF_HOST_MEMORY ? SKIM_ERR_OUT_OF_MEMORY : SKIM_ERR_DEVICE_MEMORY;
        run_cycle(&c);
        bool injected = g_fail_at == -1 || g_calls > at;
        points++;
        if (c.st != SKIM_OK) failed++;
        if (getenv("SKIM_TEST_VERBOSE")) printf("call %ld: %s -> %s\n", at, c.stage, skim_status_str(c.st));
        if (g_injected == VK_ERROR_OUT_OF_HOST_MEMORY) expect = SKIM_ERR_OUT_OF_MEMORY; /* the messenger */
        if (c.st != SKIM_OK && c.st != expect)
            t_fail(__FILE__, __LINE__, "%s at call %ld: %s -> %s, want %s", res == VK_ERROR_OUT_OF_HOST_MEMORY ?
                   "OUT_OF_HOST_MEMORY" : "OUT_OF_DEVICE_MEMORY", at, c.stage, skim_status_str(c.st),
                   skim_status_str(expect));
        CHECK(!injected || c.st != SKIM_OK, "call %ld failed but every skim call returned OK", at);
        CHECK(g_live == 0, "call %ld failing: %ld Vulkan objects not destroyed", at, g_live);
        CHECK(c.f.live == 0, "call %ld failing: %ld allocator blocks not freed", at, c.f.live);
        if (!injected) {
            total = at;
            CHECK(c.st == SKIM_OK, "the cycle without a failing call -> %s", skim_status_str(c.st));
            break;
        }
        if (at > 100000) break;
    }
    printf("%s: %ld create/allocate calls per cycle, each failed in turn: %ld cycles failed with %s (%.1f s)\n",
           res == VK_ERROR_OUT_OF_HOST_MEMORY ? "VK_ERROR_OUT_OF_HOST_MEMORY" : "VK_ERROR_OUT_OF_DEVICE_MEMORY",
           total, failed, skim_status_str(expect), t_now() - t0);
    return total;
}

/* The N-th allocation through VkAllocationCallbacks fails, for every N (about a hundred
 * per cycle on lavapipe, command-scope ones aside: see vk_alloc). */
static void sweep_callbacks(const host_graph *h, const unsigned char *want, unsigned char *got, long only) {
    /* Without the validation layer: failing the loader's and the layer's own allocations
     * makes them report their own out-of-memory through the messenger, not our usage. */
    bool saved = g_validation;
    g_validation = false;
    cyc c0;
    memset(&c0, 0, sizeof c0);
    c0.h = h;
    c0.want = want;
    c0.got = got;
    c0.f.fail_at = -1;
    c0.vf.fail_at = -1;
    c0.use_vf = true;
    g_calls = 0;
    g_fail_at = -1;
    g_live = 0;
    run_cycle(&c0);
    CHECK(c0.st == SKIM_OK && c0.vf.live == 0, "the cycle with callbacks -> %s, %ld driver blocks left",
          skim_status_str(c0.st), c0.vf.live);
    long total = c0.vf.n;
    long points = 0, failed = 0, by_status[SKIM_STATUS_COUNT] = {0};
    double t0 = t_now();
    long from = 0;
    if (only >= 0) { /* one point (reproducing a failure) */
        from = only;
        total = only + 1;
    }
    for (long at = from; at < total; at++) {
        cyc c;
        memset(&c, 0, sizeof c);
        c.h = h;
        c.want = want;
        c.got = got;
        c.f.fail_at = -1;
        c.vf.fail_at = at;
        c.use_vf = true;
        g_calls = 0;
        g_fail_at = -1;
        g_live = 0;
        run_cycle(&c);
        points++;
        if (c.st != SKIM_OK) {
            failed++;
            if (c.st > 0 && c.st < SKIM_STATUS_COUNT) by_status[c.st]++;
        }
        CHECK(c.st == SKIM_OK || c.st == SKIM_ERR_OUT_OF_MEMORY || c.st == SKIM_ERR_DEVICE_MEMORY ||
              c.st == SKIM_ERR_DEVICE, "driver allocation %ld failing: %s -> %s", at, c.stage,
              skim_status_str(c.st));
        CHECK(c.vf.live == 0, "driver allocation %ld failing (%s -> %s): %ld blocks taken through the callbacks "
              "not freed", at, c.stage, skim_status_str(c.st), c.vf.live);
        CHECK(g_live == 0, "driver allocation %ld failing: %ld Vulkan objects not destroyed", at, g_live);
        CHECK(c.f.live == 0, "driver allocation %ld failing: %ld allocator blocks not freed", at, c.f.live);
    }
    printf("VkAllocationCallbacks: %ld driver allocations per cycle (and %ld never failed: see vk_alloc); ", total, c0.vf.n_command);
    printf("%ld failure points, each failed in turn: %ld cycles failed (OUT_OF_MEMORY %ld, DEVICE_MEMORY "
           "%ld, DEVICE %ld), the rest absorbed by the driver (%.1f s)\n", points, failed, by_status[SKIM_ERR_OUT_OF_MEMORY],
           by_status[SKIM_ERR_DEVICE_MEMORY], by_status[SKIM_ERR_DEVICE], t_now() - t0);
    g_validation = saved;
}

int main(int argc, char **argv) {
    /* --calls: the failing-call sweeps only; --callbacks: the VkAllocationCallbacks one. */
    bool calls = !(argc > 1 && strcmp(argv[1], "--callbacks") == 0);
    bool callbacks = !(argc > 1 && strcmp(argv[1], "--calls") == 0);
    long only = argc > 2 && strcmp(argv[1], "--callbacks") == 0 ? atol(argv[2]) : -1;
    /* Mesa's implicit device-selection layer (VK_LAYER_MESA_device_select, Mesa 22.3.6)
     * mishandles failures below it: after a failed allocation it calls strcmp on NULL and
     * callocs hundreds of GB from an unset count inside vkEnumeratePhysicalDevices (seen
     * under ASan in both sweeps). It only orders devices; the layer's own switch turns it off. */
    setenv("NODEVICE_SELECT", "1", 1);
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    void *sym = lib ? dlsym(lib, "vkGetInstanceProcAddr") : NULL;
    if (!sym) {
        printf("SKIP: no Vulkan loader\n");
        return 77;
    }
    memcpy(&real_gipa, &sym, sizeof sym);
    host_graph h;
    skim_context *ctx = NULL;
    if (!hg_init(&h, 42) || skim_context_create(NULL, &ctx) != SKIM_OK || hg_build(&h, ctx) != SKIM_OK) {
        printf("FAIL: the graph: %s\n", ctx ? skim_context_error(ctx) : "out of memory");
        return 1;
    }
    size_t size = hg_output_size();
    unsigned char *want = calloc(1, size), *got = calloc(1, size);
    /* The reference, and whether this machine has a device and the validation layer
     * (SKIM_TEST_VK_NO_VALIDATION=1: without it, as the sanitizer script runs it). */
    g_validation = !getenv("SKIM_TEST_VK_NO_VALIDATION");
    cyc c;
    memset(&c, 0, sizeof c);
    c.h = &h;
    c.got = want;
    c.f.fail_at = c.vf.fail_at = g_fail_at = -1;
    run_cycle(&c);
    if (c.st == SKIM_ERR_DEVICE) {
        g_validation = false;
        run_cycle(&c);
        if (c.st == SKIM_OK) printf("note: no validation layer; the sweeps run without it\n");
    }
    if (c.st != SKIM_OK) {
        printf("SKIP: no usable Vulkan device (%s)\n", skim_status_str(c.st));
        return 77;
    }
    if (calls) {
        sweep_calls(&h, want, got, VK_ERROR_OUT_OF_HOST_MEMORY, SKIM_ERR_OUT_OF_MEMORY);
        sweep_calls(&h, want, got, VK_ERROR_OUT_OF_DEVICE_MEMORY, SKIM_ERR_DEVICE_MEMORY);
    }
    if (callbacks) sweep_callbacks(&h, want, got, only);
    CHECK(g_vk_messages == 0, "%d Vulkan validation message(s)", g_vk_messages);
    free(want);
    free(got);
    skim_context_destroy(ctx);
    hg_free(&h);
    dlclose(lib);
    printf("%s: %d failure(s)\n", t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
