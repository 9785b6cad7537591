/* vk_device.c - the Vulkan loader, instance, physical-device choice, features and the
 * logical device, or the caller's own objects (engines). */
#include "vk-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(_WIN32)
#  include <windows.h>
#else
#  include <dlfcn.h>
#endif

SKIM_HIDDEN void skim_vk_load_device_table(struct VolkDeviceTable *t, VkDevice dev,
                                           PFN_vkGetDeviceProcAddr gdpa);

const char *skim_vk_result_str(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    default: return "VkResult error";
    }
}

skim_status skim_vk_status(VkResult r) {
    switch (r) {
    case VK_SUCCESS: return SKIM_OK;
    case VK_ERROR_OUT_OF_HOST_MEMORY: return SKIM_ERR_OUT_OF_MEMORY;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return SKIM_ERR_DEVICE_MEMORY;
    case VK_ERROR_DEVICE_LOST: return SKIM_ERR_DEVICE_LOST;
    default: return SKIM_ERR_DEVICE;
    }
}

#define FAIL(vb, st, ...) skim_backend_fail((vb)->be, st, __VA_ARGS__)
#define LOADI(vb, inst, name) \
    (vb)->i.name = (PFN_vk##name)(vb)->i.GetInstanceProcAddr(inst, "vk" #name)

static skim_status load_loader(skim_vk_backend *vb, PFN_vkGetInstanceProcAddr gipa) {
    if (!gipa) {
#if defined(_WIN32)
        HMODULE m = LoadLibraryA("vulkan-1.dll");
        vb->loader = m;
        gipa = m ? (PFN_vkGetInstanceProcAddr)(void (*)(void))GetProcAddress(m, "vkGetInstanceProcAddr") : NULL;
#else
#if defined(__ANDROID__)
        static const char *const names[] = {"libvulkan.so"}; /* Android has no .so.1 */
#else
        static const char *const names[] = {"libvulkan.so.1", "libvulkan.so"};
#endif
        const char *env = getenv("SKIM_VK_LOADER");
        void *m = env && *env ? dlopen(env, RTLD_NOW | RTLD_LOCAL) : NULL;
        for (size_t n = 0; !m && !(env && *env) && n < sizeof names / sizeof names[0]; n++) {
            m = dlopen(names[n], RTLD_NOW | RTLD_LOCAL);
        }
        vb->loader = m;
        if (m) {
            void *sym = dlsym(m, "vkGetInstanceProcAddr");
            memcpy(&gipa, &sym, sizeof gipa);
        }
#endif
    }
    if (!gipa) {
        const char *lib = getenv("SKIM_VK_LOADER");
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: no Vulkan loader (%s) found",
                    lib && *lib ? lib : "libvulkan.so.1");
    }
    vb->i.GetInstanceProcAddr = gipa;
    LOADI(vb, NULL, CreateInstance);
    LOADI(vb, NULL, EnumerateInstanceVersion);
    LOADI(vb, NULL, EnumerateInstanceLayerProperties);
    if (!vb->i.CreateInstance) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: the loader has no vkCreateInstance");
    }
    return SKIM_OK;
}

static void load_instance_fns(skim_vk_backend *vb) {
    VkInstance in = vb->inst;
    LOADI(vb, in, DestroyInstance);
    LOADI(vb, in, EnumeratePhysicalDevices);
    LOADI(vb, in, GetPhysicalDeviceProperties);
    LOADI(vb, in, GetPhysicalDeviceProperties2);
    LOADI(vb, in, GetPhysicalDeviceFeatures2);
    LOADI(vb, in, GetPhysicalDeviceMemoryProperties);
    LOADI(vb, in, GetPhysicalDeviceQueueFamilyProperties);
    LOADI(vb, in, EnumerateDeviceExtensionProperties);
    LOADI(vb, in, CreateDevice);
    LOADI(vb, in, GetDeviceProcAddr);
    LOADI(vb, in, CreateDebugUtilsMessengerEXT);
    LOADI(vb, in, DestroyDebugUtilsMessengerEXT);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                               VkDebugUtilsMessageTypeFlagsEXT type,
                                               const VkDebugUtilsMessengerCallbackDataEXT *data,
                                               void *user) {
    skim_vk_backend *vb = user;
    if (vb->debug) {
        vb->debug(vb->debug_user, (uint32_t)sev, (uint32_t)type,
                  data && data->pMessage ? data->pMessage : "");
    }
    return VK_FALSE;
}

/* OUT_OF_MEMORY when the layer list cannot be allocated (not "not installed": the fault
 * injection sweep of tests/host/test_fault.c found that), else OK with *found. */
static skim_status has_layer(skim_vk_backend *vb, const char *name, bool *found) {
    uint32_t n = 0;
    *found = false;
    if (!vb->i.EnumerateInstanceLayerProperties ||
        vb->i.EnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) {
        return SKIM_OK;
    }
    VkLayerProperties *lp = skim_calloc(&vb->be->alloc, n, sizeof *lp);
    if (!lp) {
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    if (vb->i.EnumerateInstanceLayerProperties(&n, lp) == VK_SUCCESS) {
        for (uint32_t k = 0; k < n && !*found; k++) {
            *found = strcmp(lp[k].layerName, name) == 0;
        }
    }
    skim_free(&vb->be->alloc, lp);
    return SKIM_OK;
}

static skim_status create_instance(skim_vk_backend *vb, const skim_vulkan_desc *desc) {
    uint32_t ver = VK_API_VERSION_1_0;
    if (vb->i.EnumerateInstanceVersion) {
        vb->i.EnumerateInstanceVersion(&ver);
    }
    if (ver < VK_API_VERSION_1_1) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: the loader offers Vulkan %u.%u; 1.1 is required",
                    VK_API_VERSION_MAJOR(ver), VK_API_VERSION_MINOR(ver));
    }
    bool validate = desc->validation == SKIM_VK_ON;
    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    bool found = false;
    if (validate && has_layer(vb, layer, &found) != SKIM_OK) {
        return FAIL(vb, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory listing instance layers");
    }
    if (validate && !found) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: validation asked for but %s is not installed",
                    layer);
    }
    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO};
    app.pApplicationName = "skim";
    app.pEngineName = "skim";
    app.apiVersion = ver >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : ver;
    vb->inst_api = app.apiVersion;
    VkValidationFeatureEnableEXT en[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT vf = {.sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT};
    vf.enabledValidationFeatureCount = 1;
    vf.pEnabledValidationFeatures = en;
    VkDebugUtilsMessengerCreateInfoEXT mi = {.sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT};
    mi.messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                         VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    mi.messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                     VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT;
    mi.pfnUserCallback = debug_cb;
    mi.pUserData = vb;
    if (desc->sync_validation) {
        mi.pNext = &vf;
    }
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
    ci.pApplicationInfo = &app;
    if (validate) {
        ci.enabledLayerCount = 1;
        ci.ppEnabledLayerNames = &layer;
        ci.enabledExtensionCount = 1;
        ci.ppEnabledExtensionNames = &ext;
        ci.pNext = &mi; /* messages of vkCreateInstance / vkDestroyInstance too */
    }
    VkResult r = vb->i.CreateInstance(&ci, vb->vka, &vb->inst);
    if (r != VK_SUCCESS) {
        /* skim_vk_status: out of host or device memory keeps its own status (the failing-call
         * sweep of tests/host/test_fault_vk.c); every other failure is DEVICE. */
        return FAIL(vb, skim_vk_status(r), "vulkan: vkCreateInstance failed: %s", skim_vk_result_str(r));
    }
    vb->own_instance = true;
    load_instance_fns(vb);
    if (validate && vb->i.CreateDebugUtilsMessengerEXT) {
        mi.pNext = NULL;
        r = vb->i.CreateDebugUtilsMessengerEXT(vb->inst, &mi, vb->vka, &vb->messenger);
        if (r != VK_SUCCESS) {
            return FAIL(vb, skim_vk_status(r), "vulkan: debug messenger: %s", skim_vk_result_str(r));
        }
    }
    return SKIM_OK;
}

static int type_rank(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

static skim_status pick_device(skim_vk_backend *vb, int index) {
    uint32_t n = 0;
    VkResult r = vb->i.EnumeratePhysicalDevices(vb->inst, &n, NULL);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: vkEnumeratePhysicalDevices: %s",
                    skim_vk_result_str(r));
    }
    if (n == 0) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: no Vulkan device found");
    }
    VkPhysicalDevice *pd = skim_calloc(&vb->be->alloc, n, sizeof *pd);
    if (!pd) {
        return FAIL(vb, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
    }
    /* Its result matters: on failure pd holds no handles (the loader aborts on a NULL
     * one; found by the VkAllocationCallbacks sweep of tests/host/test_fault_vk.c). */
    r = vb->i.EnumeratePhysicalDevices(vb->inst, &n, pd);
    if ((r != VK_SUCCESS && r != VK_INCOMPLETE) || n == 0) {
        skim_free(&vb->be->alloc, pd);
        return FAIL(vb, r == VK_SUCCESS ? SKIM_ERR_DEVICE : skim_vk_status(r),
                    "vulkan: vkEnumeratePhysicalDevices: %s", skim_vk_result_str(r));
    }
    skim_status st = SKIM_OK;
    if (index > 0) {
        if ((uint32_t)index > n) {
            st = FAIL(vb, SKIM_ERR_DEVICE, "vulkan: device index %d asked for but %u device(s) "
                      "exist", index - 1, n);
        } else {
            vb->phys = pd[index - 1];
        }
    } else {
        int best = -1, best_rank = 99;
        for (uint32_t k = 0; k < n; k++) {
            VkPhysicalDeviceProperties pr;
            vb->i.GetPhysicalDeviceProperties(pd[k], &pr);
            int rk = type_rank(pr.deviceType);
            if (pr.apiVersion >= VK_API_VERSION_1_1 && rk < best_rank) {
                best = (int)k;
                best_rank = rk;
            }
        }
        if (best < 0) {
            st = FAIL(vb, SKIM_ERR_DEVICE, "vulkan: no device supports Vulkan 1.1");
        } else {
            vb->phys = pd[best];
        }
    }
    skim_free(&vb->be->alloc, pd);
    return st;
}

static int env_int(const char *name, int def) {
    const char *v = getenv(name);
    return v && *v ? atoi(v) : def;
}

/* The optional features skim's shader variants use, as the device reports them. */
typedef struct vk_feats {
    VkPhysicalDeviceVulkan11Features f11;
    VkPhysicalDeviceVulkan12Features f12;
    VkPhysicalDeviceVulkan13Features f13;
    uint32_t api; /* the version the feature structs were queried at */
} vk_feats;

/* Whether the comma-separated list in environment variable `name` holds `item` or "all". */
static bool env_lists(const char *name, const char *item) {
    const char *v = getenv(name);
    size_t n = strlen(item);
    for (const char *p = v; p && *p;) {
        size_t len = strcspn(p, ",");
        if ((len == n && strncmp(p, item, n) == 0) || (len == 3 && strncmp(p, "all", 3) == 0)) {
            return true;
        }
        p += len + (p[len] == ',');
    }
    return false;
}

/* The shader paths that use optional features: each where the device has the feature,
 * skim creates the device (an engine's device keeps the portable paths: which features
 * it enabled is not known) and SKIM_VK_NO_FEATURES does not name it. */
static void pick_paths(skim_vk_backend *vb, const vk_feats *f) {
    skim_vulkan_info *in = &vb->info;
    bool own = vb->own_instance;
    bool v13 = f->api >= VK_API_VERSION_1_3;
    const char *no = "SKIM_VK_NO_FEATURES";
    in->path_storage16 = own && f->f11.storageBuffer16BitAccess && !env_lists(no, "storage16");
    in->path_int_dot = own && v13 && f->f13.shaderIntegerDotProduct && !env_lists(no, "dot");
    in->path_float16 = own && f->api >= VK_API_VERSION_1_2 && f->f12.shaderFloat16 &&
                       !env_lists(no, "float16");
    in->full_subgroups = own && v13 && f->f13.subgroupSizeControl &&
                         f->f13.computeFullSubgroups && !env_lists(no, "subgroup_size");
}

/* Fills vb->props, memprops, info from the physical device. */
static void query_features(skim_vk_backend *vb, vk_feats *f) {
    vb->i.GetPhysicalDeviceProperties(vb->phys, &vb->props);
    vb->i.GetPhysicalDeviceMemoryProperties(vb->phys, &vb->memprops);
    /* Structures of a version are valid when both the instance and the device have it. */
    uint32_t api = vb->props.apiVersion;
    if (vb->own_instance && vb->inst_api < api) {
        api = vb->inst_api;
    }
    VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES,
    };
    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES,
        .pNext = api >= VK_API_VERSION_1_3 ? &sgc : NULL,
    };
    VkPhysicalDeviceSubgroupProperties sg = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
        .pNext = &m3,
    };
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
    p2.pNext = &sg;
    vb->i.GetPhysicalDeviceProperties2(vb->phys, &p2);
    /* Vulkan 1.1 requires at least 1 GiB; a 0 (a faulty layer) reads as that minimum. */
    vb->max_alloc = m3.maxMemoryAllocationSize ? m3.maxMemoryAllocationSize : (VkDeviceSize)1 << 30;
    VkDeviceSize heap = 0; /* the largest heap: a block larger than it cannot be had */
    for (uint32_t h = 0; h < vb->memprops.memoryHeapCount; h++) {
        VkDeviceSize sz = vb->memprops.memoryHeaps[h].size;
        heap = sz > heap ? sz : heap;
    }
    vb->block_max = heap && heap < vb->max_alloc ? heap : vb->max_alloc;
    /* The tests of stores and arenas in several blocks: SKIM_VK_MAX_ALLOC=N lowers their
     * blocks' limit to N bytes; a plan's other buffers keep the device's. */
    VkDeviceSize test_alloc = (VkDeviceSize)env_int("SKIM_VK_MAX_ALLOC", 0);
    if (test_alloc >= 4096 && test_alloc < vb->block_max) {
        vb->block_max = test_alloc;
    }
    vb->max_range = vb->props.limits.maxStorageBufferRange;
    VkDeviceSize test_range = (VkDeviceSize)env_int("SKIM_VK_MAX_RANGE", 0);
    if (test_range >= 256 && test_range < vb->max_range) {
        vb->max_range = test_range; /* the split path's tests: a lower limit */
    }
    memset(f, 0, sizeof *f);
    f->api = api;
    f->f11.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES;
    f->f12.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES;
    f->f13.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES;
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    f2.pNext = &f->f11;
    if (api >= VK_API_VERSION_1_2) {
        f->f11.pNext = &f->f12;
    }
    if (api >= VK_API_VERSION_1_3) {
        f->f12.pNext = &f->f13;
    }
    vb->i.GetPhysicalDeviceFeatures2(vb->phys, &f2);
    skim_vulkan_info *in = &vb->info;
    in->api_version = vb->props.apiVersion;
    in->vendor_id = vb->props.vendorID;
    in->device_id = vb->props.deviceID;
    in->device_type = vb->props.deviceType;
    in->storage16 = f->f11.storageBuffer16BitAccess;
    in->float16 = f->f12.shaderFloat16;
    in->int8 = f->f12.shaderInt8;
    in->storage8 = f->f12.storageBuffer8BitAccess;
    in->int_dot = f->f13.shaderIntegerDotProduct;
    in->subgroup_size = sg.subgroupSize;
    in->min_subgroup_size = api >= VK_API_VERSION_1_3 ? sgc.minSubgroupSize : sg.subgroupSize;
    in->max_subgroup_size = api >= VK_API_VERSION_1_3 ? sgc.maxSubgroupSize : sg.subgroupSize;
    in->subgroup_arith = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                         (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    in->max_storage_range = vb->props.limits.maxStorageBufferRange;
    pick_paths(vb, f);
}

static skim_status create_device(skim_vk_backend *vb, const skim_vulkan_desc *desc) {
    vk_feats f;
    query_features(vb, &f);
    if (vb->props.apiVersion < VK_API_VERSION_1_1) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: %s supports Vulkan 1.0 only; 1.1 is required",
                    vb->props.deviceName);
    }
    uint32_t nq = 0;
    vb->i.GetPhysicalDeviceQueueFamilyProperties(vb->phys, &nq, NULL);
    VkQueueFamilyProperties qf[16];
    nq = nq > 16 ? 16 : nq;
    vb->i.GetPhysicalDeviceQueueFamilyProperties(vb->phys, &nq, qf);
    uint32_t fam = UINT32_MAX;
    for (uint32_t k = 0; k < nq && fam == UINT32_MAX; k++) {
        if (qf[k].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            fam = k;
        }
    }
    if (fam == UINT32_MAX) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: %s has no compute queue", vb->props.deviceName);
    }
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    qi.queueFamilyIndex = fam;
    qi.queueCount = 1;
    qi.pQueuePriorities = &prio;
    VkDeviceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    ci.queueCreateInfoCount = 1;
    ci.pQueueCreateInfos = &qi;
    /* Only the features of the paths in use (pick_paths), so that a device without them
     * is created as before. Before 1.2 the 16-bit storage feature has its own structure. */
    const skim_vulkan_info *in = &vb->info;
    VkPhysicalDevice16BitStorageFeatures s16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
        .storageBuffer16BitAccess = in->path_storage16,
    };
    VkPhysicalDeviceVulkan13Features e13 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES,
        .subgroupSizeControl = in->full_subgroups,
        .computeFullSubgroups = in->full_subgroups,
        .shaderIntegerDotProduct = in->path_int_dot,
    };
    VkPhysicalDeviceVulkan12Features e12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = f.api >= VK_API_VERSION_1_3 ? &e13 : NULL,
        .shaderFloat16 = in->path_float16,
    };
    VkPhysicalDeviceVulkan11Features e11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &e12,
        .storageBuffer16BitAccess = in->path_storage16,
    };
    if (f.api >= VK_API_VERSION_1_2) {
        ci.pNext = &e11;
    } else if (in->path_storage16) {
        ci.pNext = &s16;
    }
    VkResult r = vb->i.CreateDevice(vb->phys, &ci, vb->vka, &vb->dev);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: vkCreateDevice on %s failed: %s",
                    vb->props.deviceName, skim_vk_result_str(r));
    }
    vb->own_device = true;
    vb->qfam = fam;
    return SKIM_OK;
}

static skim_status adopt_external(skim_vk_backend *vb, const skim_vulkan_external *x) {
    if (!x->instance || !x->physical_device || !x->device || !x->queue) {
        return FAIL(vb, SKIM_ERR_INVALID_ARG, "vulkan: external instance, physical device, "
                    "device and queue must all be set");
    }
    vb->inst = x->instance;
    vb->phys = x->physical_device;
    vb->dev = x->device;
    vb->queue = x->queue;
    vb->qfam = x->queue_family;
    load_instance_fns(vb);
    vk_feats f;
    query_features(vb, &f);
    if (vb->props.apiVersion < VK_API_VERSION_1_1) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: the external device is Vulkan 1.0");
    }
    return SKIM_OK;
}

skim_status skim_vk_device_create(skim_vk_backend *vb, const skim_vulkan_desc *desc) {
    const skim_vulkan_external *x = desc->external;
    skim_status st = load_loader(vb, x ? x->get_instance_proc_addr : desc->get_instance_proc_addr);
    if (st == SKIM_OK && x) {
        st = adopt_external(vb, x);
    } else if (st == SKIM_OK) {
        st = create_instance(vb, desc);
        if (st == SKIM_OK) {
            st = pick_device(vb, env_int("SKIM_VK_DEVICE", desc->device_index - 1) + 1);
        }
        if (st == SKIM_OK) {
            st = create_device(vb, desc);
        }
    }
    if (st != SKIM_OK) {
        return st;
    }
    if (!vb->i.GetDeviceProcAddr) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: no vkGetDeviceProcAddr");
    }
    skim_vk_load_device_table(&vb->d, vb->dev, vb->i.GetDeviceProcAddr);
    if (vb->own_device) {
        vb->d.vkGetDeviceQueue(vb->dev, vb->qfam, 0, &vb->queue);
    }
    uint32_t nq = 0; /* the family's timestamp bits, for profiled plans (vk_profile.c) */
    vb->i.GetPhysicalDeviceQueueFamilyProperties(vb->phys, &nq, NULL);
    VkQueueFamilyProperties qf[32];
    nq = nq > 32 ? 32 : nq;
    vb->i.GetPhysicalDeviceQueueFamilyProperties(vb->phys, &nq, qf);
    vb->timestamp_bits = vb->qfam < nq ? qf[vb->qfam].timestampValidBits : 0;
    VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pi.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pi.queueFamilyIndex = vb->qfam;
    VkResult r = vb->d.vkCreateCommandPool(vb->dev, &pi, vb->vka, &vb->pool);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: command pool: %s", skim_vk_result_str(r));
    }
    snprintf(vb->be->device, sizeof vb->be->device, "%.200s, Vulkan %u.%u", vb->props.deviceName,
             VK_API_VERSION_MAJOR(vb->props.apiVersion), VK_API_VERSION_MINOR(vb->props.apiVersion));
    return SKIM_OK;
}

void skim_vk_device_destroy(skim_vk_backend *vb) {
    if (vb->dev && vb->pool) {
        vb->d.vkDestroyCommandPool(vb->dev, vb->pool, vb->vka);
    }
    if (vb->own_device && vb->dev) {
        vb->d.vkDestroyDevice(vb->dev, vb->vka);
    }
    if (vb->messenger && vb->i.DestroyDebugUtilsMessengerEXT) {
        vb->i.DestroyDebugUtilsMessengerEXT(vb->inst, vb->messenger, vb->vka);
    }
    if (vb->own_instance && vb->inst && vb->i.DestroyInstance) {
        vb->i.DestroyInstance(vb->inst, vb->vka);
    }
#if defined(_WIN32)
    if (vb->loader) FreeLibrary((HMODULE)vb->loader);
#else
    if (vb->loader) dlclose(vb->loader);
#endif
}
