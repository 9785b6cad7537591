/* embed - an engine-style application: it creates its own Vulkan instance and device
 * (through volk, as many engines do), then hands them to skim, which creates neither and
 * destroys neither. It runs a small gated layer on the engine's queue, prints it and
 * checks it against values computed here; then records the same run into its own command
 * buffer, ordered after its own work and before its consumer by semaphores.
 * Usage: embed [--validate]  (--validate: the engine's instance gets the Khronos
 * validation layer and a messenger; any message fails the program.)
 * Exits 77 when there is no Vulkan device. */
#include <volk.h>

#include "skim-vulkan.h"

#include <stdio.h>
#include <string.h>

typedef struct engine {
    VkInstance inst;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t family;
    VkDebugUtilsMessengerEXT messenger;
} engine;

static int g_messages;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *d,
                                                 void *user) {
    (void)type;
    (void)user;
    g_messages++;
    printf("VULKAN VALIDATION (0x%x): %s\n", (unsigned)sev, d && d->pMessage ? d->pMessage : "");
    return VK_FALSE;
}

static void messenger_info(VkDebugUtilsMessengerCreateInfoEXT *mi) {
    memset(mi, 0, sizeof *mi);
    mi->sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT;
    mi->messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                          VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mi->messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                      VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mi->pfnUserCallback = on_message;
}

static int engine_create(engine *e, int validate) {
    memset(e, 0, sizeof *e);
    if (volkInitialize() != VK_SUCCESS) return 77;
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "embed";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    const char *layer = "VK_LAYER_KHRONOS_validation", *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkDebugUtilsMessengerCreateInfoEXT mi;
    messenger_info(&mi);
    if (validate) {
        ci.enabledLayerCount = 1;
        ci.ppEnabledLayerNames = &layer;
        ci.enabledExtensionCount = 1;
        ci.ppEnabledExtensionNames = &ext;
        ci.pNext = &mi;
    }
    VkResult cr = vkCreateInstance(&ci, NULL, &e->inst);
    if (cr == VK_ERROR_LAYER_NOT_PRESENT) {
        printf("embed: --validate, but %s is not installed\n", layer);
        return 1;
    }
    if (cr != VK_SUCCESS) return 77;
    volkLoadInstance(e->inst);
    if (validate && vkCreateDebugUtilsMessengerEXT(e->inst, &mi, NULL, &e->messenger) != VK_SUCCESS)
        return 1;
    uint32_t n = 1;
    VkResult r = vkEnumeratePhysicalDevices(e->inst, &n, &e->phys);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || n == 0) return 77;
    VkQueueFamilyProperties qf[8];
    uint32_t nq = 8;
    vkGetPhysicalDeviceQueueFamilyProperties(e->phys, &nq, qf);
    e->family = UINT32_MAX;
    for (uint32_t i = 0; i < nq && e->family == UINT32_MAX; i++) {
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) e->family = i;
    }
    if (e->family == UINT32_MAX) return 77;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qi.queueFamilyIndex = e->family;
    qi.queueCount = 1;
    qi.pQueuePriorities = &prio;
    VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    di.queueCreateInfoCount = 1;
    di.pQueueCreateInfos = &qi;
    if (vkCreateDevice(e->phys, &di, NULL, &e->dev) != VK_SUCCESS) return 1;
    volkLoadDevice(e->dev);
    vkGetDeviceQueue(e->dev, e->family, 0, &e->queue);
    return 0;
}

static void engine_destroy(engine *e) {
    if (e->dev) vkDestroyDevice(e->dev, NULL);
    if (e->messenger) vkDestroyDebugUtilsMessengerEXT(e->inst, e->messenger, NULL);
    if (e->inst) vkDestroyInstance(e->inst, NULL);
}

/* A run recorded into the engine's own command buffer, submitted by the engine between
 * its own work: "before" signals semaphore 0, skim's command buffer waits on it (at the
 * compute stage) and signals semaphore 1, "after" (the engine's consumer) waits on that
 * and signals the fence. Here "before" and "after" are empty submissions. */
static skim_status engine_run(const engine *e, skim_plan *plan) {
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.queueFamilyIndex = e->family;
    VkCommandPool pool;
    if (vkCreateCommandPool(e->dev, &pi, NULL, &pool) != VK_SUCCESS) return SKIM_ERR_DEVICE;
    VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
    ai.commandPool = pool;
    ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
    ai.commandBufferCount = 1;
    VkCommandBuffer cmd;
    vkAllocateCommandBuffers(e->dev, &ai, &cmd);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    vkBeginCommandBuffer(cmd, &bi);
    /* ... the engine's own work would be recorded here ... */
    skim_status s = skim_vulkan_plan_record(plan, cmd);
    vkEndCommandBuffer(cmd);
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VkFence fence;
    vkCreateFence(e->dev, &fi, NULL, &fence);
    VkSemaphoreCreateInfo smi = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    VkSemaphore sem[2];
    vkCreateSemaphore(e->dev, &smi, NULL, &sem[0]);
    vkCreateSemaphore(e->dev, &smi, NULL, &sem[1]);
    const VkPipelineStageFlags wait_at = VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT |
                                         VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT;
    VkSubmitInfo si[3];
    for (int i = 0; i < 3; i++) {
        memset(&si[i], 0, sizeof si[i]);
        si[i].sType = VK_STRUCTURE_TYPE_SUBMIT_INFO;
    }
    si[0].signalSemaphoreCount = 1; /* before */
    si[0].pSignalSemaphores = &sem[0];
    si[1].waitSemaphoreCount = 1; /* skim */
    si[1].pWaitSemaphores = &sem[0];
    si[1].pWaitDstStageMask = &wait_at;
    si[1].commandBufferCount = 1;
    si[1].pCommandBuffers = &cmd;
    si[1].signalSemaphoreCount = 1;
    si[1].pSignalSemaphores = &sem[1];
    si[2].waitSemaphoreCount = 1; /* after */
    si[2].pWaitSemaphores = &sem[1];
    si[2].pWaitDstStageMask = &wait_at;
    if (s == SKIM_OK && vkQueueSubmit(e->queue, 3, si, fence) == VK_SUCCESS) {
        vkWaitForFences(e->dev, 1, &fence, VK_TRUE, UINT64_MAX);
    }
    if (s == SKIM_OK) s = skim_vulkan_plan_complete(plan);
    vkDestroySemaphore(e->dev, sem[0], NULL);
    vkDestroySemaphore(e->dev, sem[1], NULL);
    vkDestroyFence(e->dev, fence, NULL);
    vkDestroyCommandPool(e->dev, pool, NULL);
    return s;
}

enum { D = 4, T = 6 };

/* Prints y and counts its elements that differ from x + x (running tokens) or x (halted). */
static int check(const float *x, const float *p, const float *y, const char *what) {
    int wrong = 0;
    printf("%s\n", what);
    for (int t = 0; t < T; t++) {
        printf("  token %d (p_halt %.2f):", t, p[t]);
        for (int i = 0; i < D; i++) {
            printf(" %5.1f", y[t * D + i]);
            wrong += y[t * D + i] != (p[t] < 0.5f ? 2.0f : 1.0f) * x[t * D + i];
        }
        printf("\n");
    }
    printf("  against x + x for running tokens, x for halted ones: %s\n", wrong ? "WRONG" : "right");
    return wrong;
}

/* y = scatter of 2 * x over the tokens whose gate is below 0.5: a gated layer in small. */
static int run_skim(const engine *e, skim_backend *be) {
    float x[D * T], p[T] = {0.1f, 0.9f, 0.2f, 0.7f, 0.3f, 0.95f}, y[D * T];
    for (int i = 0; i < D * T; i++) x[i] = (float)i;
    skim_context *ctx;
    if (skim_context_create(NULL, &ctx) != SKIM_OK) return 1;
    skim_tensor *tx = skim_new_input_2d(ctx, SKIM_TYPE_F32, D, T);
    skim_tensor *tp = skim_new_input_1d(ctx, SKIM_TYPE_F32, T);
    skim_tensor *sel = skim_token_halt(ctx, tp, 0.5f, NULL);
    skim_tensor *out = skim_scatter_add_sel(ctx, tx, skim_get_rows_sel(ctx, tx, sel), sel);
    skim_graph *g = NULL;
    skim_plan *plan = NULL;
    skim_status s = skim_graph_build(ctx, &out, 1, &g);
    if (s == SKIM_OK) s = skim_plan_create(be, g, NULL, &plan);
    if (s == SKIM_OK) s = skim_plan_set_input(plan, tx, x, sizeof x);
    if (s == SKIM_OK) s = skim_plan_set_input(plan, tp, p, sizeof p);
    if (s == SKIM_OK) s = skim_plan_run(plan);
    if (s == SKIM_OK) s = skim_plan_get_output(plan, out, y, sizeof y);
    if (s == SKIM_OK && check(x, p, y, "skim_plan_run:")) s = SKIM_ERR_STATE;
    /* New gates, then the run recorded into the engine's command buffer, twice (a replay
     * of the one recording). */
    for (int t = 0; t < T; t++) p[t] = 1.0f - p[t];
    if (s == SKIM_OK) s = skim_plan_set_input(plan, tp, p, sizeof p);
    if (s == SKIM_OK) s = engine_run(e, plan);
    if (s == SKIM_OK) s = engine_run(e, plan);
    if (s == SKIM_OK) s = skim_plan_get_output(plan, out, y, sizeof y);
    if (s == SKIM_OK && check(x, p, y, "recorded into the engine's command buffer, new gates:"))
        s = SKIM_ERR_STATE;
    if (s != SKIM_OK)
        printf("skim: %s: %s\n", skim_status_str(s), plan ? skim_plan_error(plan) : skim_backend_error(be));
    skim_plan_destroy(plan);
    skim_context_destroy(ctx);
    return s != SKIM_OK;
}

int main(int argc, char **argv) {
    engine e;
    int validate = argc > 1 && strcmp(argv[1], "--validate") == 0;
    int rc = engine_create(&e, validate);
    if (rc != 0) {
        printf("embed: no Vulkan device (%d)\n", rc);
        engine_destroy(&e);
        return rc;
    }
    skim_vulkan_external x;
    memset(&x, 0, sizeof x);
    x.instance = e.inst;
    x.physical_device = e.phys;
    x.device = e.dev;
    x.queue_family = e.family;
    x.queue = e.queue;
    x.get_instance_proc_addr = vkGetInstanceProcAddr; /* the engine's loader */
    skim_vulkan_desc d;
    memset(&d, 0, sizeof d);
    d.external = &x;
    skim_backend *be = NULL;
    char msg[256];
    skim_status s = skim_backend_create_vulkan_msg(&d, &be, msg, sizeof msg);
    if (s != SKIM_OK) {
        printf("embed: skim on the engine's device: %s: %s\n", skim_status_str(s), msg);
        engine_destroy(&e);
        return 1;
    }
    printf("skim runs on the engine's device: %s\n", skim_backend_device(be));
    rc = run_skim(&e, be);
    skim_backend_destroy(be); /* the engine's device and instance stay */
    engine_destroy(&e);
    if (validate) printf("validation messages: %d\n", g_messages);
    return rc ? rc : g_messages != 0;
}
