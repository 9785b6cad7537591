/* vk_pipeline.c - the one descriptor-set layout and pipeline layout every shader shares,
 * compute pipelines created on first use from the embedded SPIR-V, the pipeline cache,
 * and the choice of shader variants by the device's optional features. */
#include "vk-int.h"

#include <stdlib.h>

#define FAIL(vb, st, ...) skim_backend_fail((vb)->be, st, __VA_ARGS__)

/* The row shaders' workgroup size: 128, or SKIM_VK_WG_ROWS (a power of two from 32 to
 * 1024 that the device allows; for measurements and the tests of other sizes). */
static uint32_t pick_wg_rows(const skim_vk_backend *vb) {
    const char *env = getenv("SKIM_VK_WG_ROWS");
    long v = env ? strtol(env, NULL, 10) : 0;
    uint32_t lim = vb->props.limits.maxComputeWorkGroupInvocations;
    if (vb->props.limits.maxComputeWorkGroupSize[0] < lim) {
        lim = vb->props.limits.maxComputeWorkGroupSize[0];
    }
    if (v >= 32 && v <= 1024 && (v & (v - 1)) == 0 && (uint32_t)v <= lim) {
        return (uint32_t)v;
    }
    return 128;
}

skim_status skim_vk_pipelines_init(skim_vk_backend *vb) {
    VkDescriptorSetLayoutBinding b[SKIM_VK_N_BINDINGS];
    for (uint32_t k = 0; k < SKIM_VK_N_BINDINGS; k++) {
        b[k].binding = k;
        b[k].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        b[k].descriptorCount = 1;
        b[k].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
        b[k].pImmutableSamplers = NULL;
    }
    vb->wg_rows = pick_wg_rows(vb);
    if (vb->props.limits.maxPerStageDescriptorStorageBuffers < SKIM_VK_N_BINDINGS) {
        return FAIL(vb, SKIM_ERR_DEVICE, "vulkan: %s allows %u storage buffers per stage; skim "
                    "needs %d", vb->props.deviceName,
                    vb->props.limits.maxPerStageDescriptorStorageBuffers, SKIM_VK_N_BINDINGS);
    }
    VkDescriptorSetLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    li.bindingCount = SKIM_VK_N_BINDINGS;
    li.pBindings = b;
    VkResult r = vb->d.vkCreateDescriptorSetLayout(vb->dev, &li, vb->vka, &vb->dsl);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: descriptor set layout: %s", skim_vk_result_str(r));
    }
    VkPushConstantRange pr = {VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(skim_vk_pc)};
    VkPipelineLayoutCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pi.setLayoutCount = 1;
    pi.pSetLayouts = &vb->dsl;
    pi.pushConstantRangeCount = 1;
    pi.pPushConstantRanges = &pr;
    r = vb->d.vkCreatePipelineLayout(vb->dev, &pi, vb->vka, &vb->layout);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: pipeline layout: %s", skim_vk_result_str(r));
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    if (vb->cache_io.load) {
        size_t n = 0;
        const void *data = vb->cache_io.load(vb->cache_io.user, &n);
        if (data && n > 0) {
            ci.initialDataSize = n;
            ci.pInitialData = data;
        }
    }
    r = vb->d.vkCreatePipelineCache(vb->dev, &ci, vb->vka, &vb->cache);
    if (r != VK_SUCCESS && ci.initialDataSize) {
        /* A cache from another driver or device: start empty (spec: the data may be
         * ignored, but some drivers fail instead). */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        r = vb->d.vkCreatePipelineCache(vb->dev, &ci, vb->vka, &vb->cache);
    }
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: pipeline cache: %s", skim_vk_result_str(r));
    }
    return SKIM_OK;
}

static void save_cache(skim_vk_backend *vb) {
    size_t n = 0;
    if (!vb->cache_io.save || !vb->cache ||
        vb->d.vkGetPipelineCacheData(vb->dev, vb->cache, &n, NULL) != VK_SUCCESS || n == 0) {
        return;
    }
    void *data = skim_alloc(&vb->be->alloc, n);
    if (data && vb->d.vkGetPipelineCacheData(vb->dev, vb->cache, &n, data) == VK_SUCCESS) {
        vb->cache_io.save(vb->cache_io.user, data, n);
    }
    skim_free(&vb->be->alloc, data);
}

void skim_vk_pipelines_destroy(skim_vk_backend *vb) {
    if (!vb->dev) {
        return;
    }
    for (int k = 0; k < SKIM_VK_SHADER_COUNT; k++) {
        if (vb->pipes[k]) {
            vb->d.vkDestroyPipeline(vb->dev, vb->pipes[k], vb->vka);
        }
    }
    save_cache(vb);
    if (vb->cache) vb->d.vkDestroyPipelineCache(vb->dev, vb->cache, vb->vka);
    if (vb->layout) vb->d.vkDestroyPipelineLayout(vb->dev, vb->layout, vb->vka);
    if (vb->dsl) vb->d.vkDestroyDescriptorSetLayout(vb->dev, vb->dsl, vb->vka);
}

/* The workgroup size of a shader that uses subgroup operations, 0 for the others. */
static uint32_t subgroup_wg(const skim_vk_backend *vb, skim_vk_shader_id id) {
    if (id == SKIM_VK_SHADER_NORM_SG || id == SKIM_VK_SHADER_SOFT_MAX_SG) {
        return vb->wg_rows; /* reduce.glsl: local_size_x_id 0 */
    }
    if (id == SKIM_VK_SHADER_SELECT_SG) {
        return SKIM_VK_SEL_CHUNK;
    }
    bool mv = (id >= SKIM_VK_SHADER_MUL_MV_F32 && id <= SKIM_VK_SHADER_MUL_MV_Q6_K) ||
              (id >= SKIM_VK_SHADER_MUL_MV_F16_S16 && id <= SKIM_VK_SHADER_MUL_MV_Q4_0_QA_DOT);
    return mv ? 64 : 0;
}

/* Full subgroups where the device lets us ask (Vulkan 1.3's computeFullSubgroups) and the
 * workgroup is a whole number of the largest subgroups (the spec's condition for the
 * flag): every subgroup shader's lanes are then all present (a driver may otherwise
 * launch partial ones; select.comp, whose 32 are less than a wave64 subgroup, allows
 * for them). */
static bool full_subgroups(const skim_vk_backend *vb, skim_vk_shader_id id) {
    uint32_t wg = subgroup_wg(vb, id), mx = vb->info.max_subgroup_size;
    return vb->info.full_subgroups && wg && mx && wg % mx == 0;
}

skim_vk_shader_id skim_vk_mv_shader(const skim_vk_backend *vb, skim_type t, bool qa) {
    const skim_vulkan_info *in = &vb->info;
    if (qa) {
        bool q8 = t == SKIM_TYPE_Q8_0;
        if (in->path_int_dot) {
            return q8 ? SKIM_VK_SHADER_MUL_MV_Q8_0_QA_DOT : SKIM_VK_SHADER_MUL_MV_Q4_0_QA_DOT;
        }
        return q8 ? SKIM_VK_SHADER_MUL_MV_Q8_0_QA : SKIM_VK_SHADER_MUL_MV_Q4_0_QA;
    }
    switch (t) {
    case SKIM_TYPE_F32: return SKIM_VK_SHADER_MUL_MV_F32;
    case SKIM_TYPE_F16: return in->path_storage16 ? SKIM_VK_SHADER_MUL_MV_F16_S16 : SKIM_VK_SHADER_MUL_MV_F16;
    case SKIM_TYPE_Q8_0: return SKIM_VK_SHADER_MUL_MV_Q8_0;
    case SKIM_TYPE_Q4_0: return SKIM_VK_SHADER_MUL_MV_Q4_0;
    case SKIM_TYPE_BF16: return SKIM_VK_SHADER_MUL_MV_BF16;
    case SKIM_TYPE_Q4_K: return SKIM_VK_SHADER_MUL_MV_Q4_K;
    default: return SKIM_VK_SHADER_MUL_MV_Q6_K;
    }
}

skim_status skim_vk_pipeline_get(skim_vk_backend *vb, skim_vk_shader_id id, VkPipeline *out) {
    if (vb->pipes[id]) {
        *out = vb->pipes[id];
        return SKIM_OK;
    }
    const skim_vk_spirv *s = &skim_vk_spirv_table[id];
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = s->size;
    mi.pCode = s->code;
    VkShaderModule mod;
    VkResult r = vb->d.vkCreateShaderModule(vb->dev, &mi, vb->vka, &mod);
    if (r != VK_SUCCESS) {
        return FAIL(vb, skim_vk_status(r), "vulkan: shader %s: %s", s->name, skim_vk_result_str(r));
    }
    VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = mod;
    ci.stage.pName = "main";
    ci.stage.flags = full_subgroups(vb, id) ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT : 0;
    VkSpecializationMapEntry me = {SKIM_VK_SPEC_WG_ROWS, 0, sizeof vb->wg_rows};
    VkSpecializationInfo spec = {1, &me, sizeof vb->wg_rows, &vb->wg_rows};
    ci.stage.pSpecializationInfo = &spec;
    ci.layout = vb->layout;
    r = vb->d.vkCreateComputePipelines(vb->dev, vb->cache, 1, &ci, vb->vka, &vb->pipes[id]);
    vb->d.vkDestroyShaderModule(vb->dev, mod, vb->vka);
    if (r != VK_SUCCESS) {
        vb->pipes[id] = VK_NULL_HANDLE;
        return FAIL(vb, skim_vk_status(r), "vulkan: pipeline %s: %s", s->name, skim_vk_result_str(r));
    }
    *out = vb->pipes[id];
    return SKIM_OK;
}
