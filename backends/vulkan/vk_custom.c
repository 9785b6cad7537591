/* vk_custom.c - custom ops on Vulkan (include/skim-custom.h): GLSL compiled at plan time
 * with libshaderc (SKIM_HAVE_SHADERC), SPIR-V validated with SPIRV-Tools, its bindings
 * and local size read from the module, a pipeline on the shared pipeline layout, all of
 * it cached in the backend by the shader's hash (a later plan compiles nothing), and the
 * dispatch function of the CUSTOM row of ops.def.
 *
 * The push constants of a custom op are struct skim_custom_pc_head, then the op's
 * parameter block, written into the bytes of skim_vk_pc (the same 128-byte range of the
 * one pipeline layout): the element offsets sit at byte 16 in both layouts, so the
 * recorder's binding code fills them as for every op. */
#include "vk-int.h"
#include "custom_int.h"
#include "vk_custom.h"

#ifdef SKIM_HAVE_SPIRV_TOOLS
#include <spirv-tools/libspirv.h>
#endif
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef SKIM_HAVE_SHADERC
#include <shaderc/shaderc.h>
#endif
#include "skim_custom_glsl.h" /* generated: skim_custom_glsl_text, the include's text */

_Static_assert(sizeof(skim_custom_pc_head) == SKIM_CUSTOM_PC_HEAD, "custom push-constant head");
_Static_assert(sizeof(skim_vk_pc) == 128, "custom ops use the full 128-byte range");

typedef struct vkc_entry {
    struct vkc_entry *next;
    uint64_t hash;
    uint8_t *key; /* the shader bytes, to tell hash collisions apart */
    size_t key_bytes;
    VkPipeline pipe;
    uint32_t local[3];
    uint32_t bindings; /* bit b: the module declares binding b of set 0 */
    uint32_t pc_bytes; /* what its push-constant block spans (0: none, or not known) */
} vkc_entry;

typedef struct vkc_cache {
    vkc_entry *head;
    skim_custom_stats stats;
#ifdef SKIM_HAVE_SHADERC
    shaderc_compiler_t compiler;
#endif
} vkc_cache;

static double now_ms(void) {
    return (double)skim_time_ns() * 1e-6;
}

void skim_vk_custom_destroy(skim_vk_backend *vb) {
    vkc_cache *c = vb->custom;
    if (!c) {
        return;
    }
    for (vkc_entry *e = c->head, *n; e; e = n) {
        n = e->next;
        if (e->pipe && vb->dev) {
            vb->d.vkDestroyPipeline(vb->dev, e->pipe, vb->vka);
        }
        skim_free(&vb->be->alloc, e->key);
        skim_free(&vb->be->alloc, e);
    }
#ifdef SKIM_HAVE_SHADERC
    if (c->compiler) {
        shaderc_compiler_release(c->compiler);
    }
#endif
    skim_free(&vb->be->alloc, c);
    vb->custom = NULL;
}

bool skim_vulkan_custom_has_glsl(void) {
#ifdef SKIM_HAVE_SHADERC
    return true;
#else
    return false;
#endif
}

skim_status skim_vulkan_custom_stats(const skim_backend *be, skim_custom_stats *out) {
    if (!be || !out) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (strcmp(skim_backend_name(be), "vulkan") != 0) {
        return SKIM_ERR_UNSUPPORTED;
    }
    const skim_vk_backend *vb = be->impl;
    const vkc_cache *c = vb->custom;
    memset(out, 0, sizeof *out);
    if (c) {
        *out = c->stats;
    }
    return SKIM_OK;
}

#if defined(SKIM_HAVE_SHADERC) || defined(SKIM_HAVE_SPIRV_TOOLS)
/* Copies a message into the plan's, newlines folded, so that it reads on one line. */
static void flat_copy(char *dst, size_t n, const char *src) {
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < n; i++) {
        char ch = src[i];
        if (ch == '\n') {
            if (src[i + 1] == '\0') break;
            ch = ' ';
        }
        dst[j++] = ch;
    }
    dst[j] = '\0';
}
#endif

/* ---------------------------------------------------------------- GLSL */

#ifdef SKIM_HAVE_SHADERC
static shaderc_include_result *inc_resolve(void *user, const char *req, int type,
                                           const char *from, size_t depth) {
    static shaderc_include_result found = {"skim_custom.glsl", 16, NULL, 0, NULL};
    static shaderc_include_result missing = {"", 0,
        "only \"skim_custom.glsl\" can be included by a custom op", 54, NULL};
    (void)user; (void)type; (void)from; (void)depth;
    if (strcmp(req, "skim_custom.glsl") == 0) {
        found.content = skim_custom_glsl_text;
        found.content_length = strlen(skim_custom_glsl_text);
        return &found;
    }
    return &missing;
}

static void inc_release(void *user, shaderc_include_result *r) {
    (void)user; (void)r; /* static results */
}

/* GLSL to SPIR-V words (allocated with the backend's allocator) or a plan error with the
 * compiler's message. */
static skim_status compile_glsl(skim_vk_rec *r, vkc_cache *c, const skim_custom_op *op,
                                uint32_t **words, size_t *n_words) {
    const char *nm = op->desc.name;
    if (!c->compiler && !(c->compiler = shaderc_compiler_initialize())) {
        return PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "custom op '%s': libshaderc did not start", nm);
    }
    shaderc_compile_options_t o = shaderc_compile_options_initialize();
    if (!o) {
        return PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "custom op '%s': out of memory", nm);
    }
    shaderc_compile_options_set_target_env(o, shaderc_target_env_vulkan,
                                           shaderc_env_version_vulkan_1_1);
    shaderc_compile_options_set_include_callbacks(o, inc_resolve, inc_release, NULL);
    char file[SKIM_MAX_NAME + 8];
    snprintf(file, sizeof file, "%s.comp", nm);
    double t0 = now_ms();
    shaderc_compilation_result_t res = shaderc_compile_into_spv(
        c->compiler, op->desc.glsl, op->shader_bytes, shaderc_compute_shader, file, "main", o);
    double ms = now_ms() - t0;
    shaderc_compile_options_release(o);
    skim_status st = SKIM_OK;
    if (!res) {
        st = PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "custom op '%s': out of memory", nm);
    } else if (shaderc_result_get_compilation_status(res) != shaderc_compilation_status_success) {
        char msg[SKIM_MSG_LEN];
        flat_copy(msg, sizeof msg, shaderc_result_get_error_message(res));
        st = PFAIL(r->p, SKIM_ERR_INVALID_ARG, "custom op '%s': GLSL does not compile: %s", nm, msg);
    } else {
        size_t bytes = shaderc_result_get_length(res);
        *words = skim_alloc(&r->vb->be->alloc, bytes ? bytes : 4);
        if (!*words) {
            st = PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "custom op '%s': out of memory", nm);
        } else {
            memcpy(*words, shaderc_result_get_bytes(res), bytes);
            *n_words = bytes / 4;
        }
    }
    if (res) {
        shaderc_result_release(res);
    }
    c->stats.compiles++;
    c->stats.compile_ms += ms;
    c->stats.last_compile_ms = ms;
    return st;
}
#endif

/* ---------------------------------------------------------------- SPIR-V */

static skim_status validate(skim_vk_rec *r, const skim_custom_op *op, const uint32_t *w,
                            size_t n) {
#ifndef SKIM_HAVE_SPIRV_TOOLS
    (void)w; (void)n;
    return PFAIL(r->p, SKIM_ERR_UNSUPPORTED, "custom op '%s': this library was built without "
                 "SPIRV-Tools, so custom shaders cannot be validated", op->desc.name);
#else
    spv_context sc = spvContextCreate(SPV_ENV_VULKAN_1_1);
    if (!sc) {
        return PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "custom op '%s': SPIRV-Tools did not start",
                     op->desc.name);
    }
    spv_diagnostic diag = NULL;
    spv_result_t res = spvValidateBinary(sc, w, n, &diag);
    skim_status st = SKIM_OK;
    if (res != SPV_SUCCESS) {
        char msg[SKIM_MSG_LEN];
        flat_copy(msg, sizeof msg, diag && diag->error ? diag->error : "(no message)");
        st = PFAIL(r->p, SKIM_ERR_FORMAT, "custom op '%s': the SPIR-V does not validate: %s",
                   op->desc.name, msg);
    }
    spvDiagnosticDestroy(diag);
    spvContextDestroy(sc);
    return st;
#endif
}

enum { OP_ENTRY = 15, OP_EXEC_MODE = 16, OP_DECORATE = 71, OP_EXEC_MODE_ID = 331 };
enum { DEC_BINDING = 33, DEC_SET = 34, MODE_LOCAL_SIZE = 17, MODE_LOCAL_SIZE_ID = 38 };
#define MAX_DECOR 64

typedef struct reflect {
    bool entry;
    uint32_t local[3];
    int n_bind, n_set;
    uint32_t bind_id[MAX_DECOR], bind_val[MAX_DECOR], set_id[MAX_DECOR], set_val[MAX_DECOR];
} reflect;

/* One instruction; false with a message for what the convention does not take. */
static bool reflect_ins(reflect *rf, const uint32_t *ins, uint32_t wc, const char **why) {
    uint32_t opc = ins[0] & 0xffffu;
    if (opc == OP_ENTRY && wc >= 4 && ins[1] == 5 /* GLCompute */) {
        size_t len = (size_t)(wc - 3) * 4;
        rf->entry = rf->entry || strncmp((const char *)(ins + 3), "main", len) == 0;
    } else if ((opc == OP_EXEC_MODE || opc == OP_EXEC_MODE_ID) && wc >= 3) {
        if (ins[2] == MODE_LOCAL_SIZE_ID) {
            *why = "its local size is LocalSizeId (specialization constants are not supported)";
            return false;
        }
        if (ins[2] == MODE_LOCAL_SIZE && wc >= 6) {
            memcpy(rf->local, ins + 3, sizeof rf->local);
        }
    } else if (opc == OP_DECORATE && wc >= 4 && (ins[2] == DEC_BINDING || ins[2] == DEC_SET)) {
        bool b = ins[2] == DEC_BINDING;
        int *cnt = b ? &rf->n_bind : &rf->n_set;
        if (*cnt == MAX_DECOR) {
            *why = "it declares more than 64 resources";
            return false;
        }
        (b ? rf->bind_id : rf->set_id)[*cnt] = ins[1];
        (b ? rf->bind_val : rf->set_val)[(*cnt)++] = ins[3];
    }
    return true;
}

/* The module's GLCompute "main", its local size and the bindings it declares in set 0. */
static skim_status reflect_module(skim_vk_rec *r, const skim_custom_op *op, const uint32_t *w,
                                  size_t n, vkc_entry *e) {
    const char *nm = op->desc.name, *why = NULL;
    reflect rf;
    memset(&rf, 0, sizeof rf);
    for (size_t i = 5; i < n && !why;) {
        uint32_t wc = w[i] >> 16;
        if (wc == 0 || i + wc > n) {
            why = "an instruction runs past the end of the module";
            break;
        }
        if (!reflect_ins(&rf, w + i, wc, &why)) {
            break;
        }
        i += wc;
    }
    if (!why && !rf.entry) why = "it has no GLCompute entry point named \"main\"";
    if (!why && !(rf.local[0] && rf.local[1] && rf.local[2])) why = "it declares no LocalSize";
    for (int i = 0; !why && i < rf.n_bind; i++) {
        uint32_t set = 0;
        for (int j = 0; j < rf.n_set; j++) {
            if (rf.set_id[j] == rf.bind_id[i]) set = rf.set_val[j];
        }
        if (set != 0) {
            return PFAIL(r->p, SKIM_ERR_INVALID_ARG, "custom op '%s': the shader uses descriptor "
                         "set %u; custom ops bind set 0 only", nm, (unsigned)set);
        }
        if (rf.bind_val[i] > SKIM_VK_B_BOUND) {
            return PFAIL(r->p, SKIM_ERR_INVALID_ARG, "custom op '%s': the shader declares binding "
                         "%u; the convention has 0 (output), 1..8 (inputs), 9 (bound)", nm,
                         (unsigned)rf.bind_val[i]);
        }
        e->bindings |= 1u << rf.bind_val[i];
    }
    if (why) {
        return PFAIL(r->p, SKIM_ERR_INVALID_ARG, "custom op '%s': the shader does not follow the "
                     "convention: %s", nm, why);
    }
    memcpy(e->local, rf.local, sizeof e->local);
    return SKIM_OK;
}

/* The declared inputs against the module's bindings, and what the op pushes against the
 * module's push constants (checked for every use: two ops may share a shader). */
static skim_status check_bindings(skim_vk_rec *r, const skim_custom_op *op, int n_src,
                                  const vkc_entry *e) {
    const char *nm = op->desc.name;
    size_t pushed = SKIM_CUSTOM_PC_HEAD + op->desc.params_size;
    if (e->pc_bytes > pushed) {
        return PFAIL(r->p, SKIM_ERR_INVALID_ARG, "custom op '%s': the shader's push constants "
                     "span %u bytes but the op pushes %zu (the %d-byte head and params_size "
                     "%zu)", nm, (unsigned)e->pc_bytes, pushed, SKIM_CUSTOM_PC_HEAD,
                     op->desc.params_size);
    }
    if (!(e->bindings & 1u)) {
        return PFAIL(r->p, SKIM_ERR_INVALID_ARG, "custom op '%s': the shader declares no output "
                     "(binding 0)", nm);
    }
    for (int i = 0; i < SKIM_CUSTOM_MAX_SRC; i++) {
        bool has = (e->bindings >> (1 + i)) & 1u;
        if (has && i >= n_src) {
            return PFAIL(r->p, SKIM_ERR_INVALID_ARG, "custom op '%s': the shader binds input %d "
                         "(binding %d) but the op declares %d input%s", nm, i, 1 + i, n_src,
                         n_src == 1 ? "" : "s");
        }
        if (!has && i < n_src) {
            return PFAIL(r->p, SKIM_ERR_INVALID_ARG, "custom op '%s': the op declares input %d "
                         "but the shader has no binding %d for it", nm, i, 1 + i);
        }
    }
    return SKIM_OK;
}

static skim_status make_pipeline(skim_vk_rec *r, const skim_custom_op *op, const uint32_t *w,
                                 size_t n, vkc_entry *e) {
    skim_vk_backend *vb = r->vb;
    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = n * 4;
    mi.pCode = w;
    VkShaderModule mod;
    VkResult res = vb->d.vkCreateShaderModule(vb->dev, &mi, vb->vka, &mod);
    if (res != VK_SUCCESS) {
        return PFAIL(r->p, skim_vk_status(res), "custom op '%s': shader module: %s",
                     op->desc.name, skim_vk_result_str(res));
    }
    VkComputePipelineCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = mod;
    ci.stage.pName = "main";
    ci.layout = vb->layout;
    res = vb->d.vkCreateComputePipelines(vb->dev, vb->cache, 1, &ci, vb->vka, &e->pipe);
    vb->d.vkDestroyShaderModule(vb->dev, mod, vb->vka);
    if (res != VK_SUCCESS) {
        e->pipe = VK_NULL_HANDLE;
        return PFAIL(r->p, skim_vk_status(res), "custom op '%s': pipeline: %s", op->desc.name,
                     skim_vk_result_str(res));
    }
    return SKIM_OK;
}

/* SPIR-V of the op: compiled (owned, *owned true) or the desc's words. */
static skim_status get_words(skim_vk_rec *r, vkc_cache *c, const skim_custom_op *op,
                             uint32_t **w, size_t *n) {
    if (op->desc.spirv) {
        *w = (uint32_t *)(uintptr_t)op->desc.spirv;
        *n = op->desc.spirv_words;
        return SKIM_OK;
    }
#ifdef SKIM_HAVE_SHADERC
    return compile_glsl(r, c, op, w, n);
#else
    (void)c;
    return PFAIL(r->p, SKIM_ERR_UNSUPPORTED, "custom op '%s': GLSL needs libshaderc and this "
                 "library was built without libshaderc (SKIM_SHADERC=OFF); pass SPIR-V words "
                 "(desc.spirv) instead", op->desc.name);
#endif
}

/* A new cache entry: compile (GLSL), validate, reflect, create the pipeline. */
static skim_status build_entry(skim_vk_rec *r, vkc_cache *c, const skim_custom_op *op,
                               vkc_entry **out) {
    const skim_allocator *a = &r->vb->be->alloc;
    uint32_t *w = NULL;
    size_t n = 0;
    skim_status st = get_words(r, c, op, &w, &n);
    if (st != SKIM_OK) {
        return st;
    }
    double t0 = now_ms();
    vkc_entry *e = skim_calloc(a, 1, sizeof *e);
    uint8_t *key = skim_alloc(a, op->shader_bytes ? op->shader_bytes : 1);
    if (!e || !key) {
        st = PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "custom op '%s': out of memory", op->desc.name);
    }
    if (st == SKIM_OK && (n < 5 || w[0] != 0x07230203u)) {
        st = PFAIL(r->p, SKIM_ERR_FORMAT, "custom op '%s': the SPIR-V does not validate: no "
                   "SPIR-V magic number (0x07230203) at word 0", op->desc.name);
    }
    if (st == SKIM_OK) {
        c->stats.validations++;
        st = validate(r, op, w, n);
    }
    if (st == SKIM_OK) st = reflect_module(r, op, w, n, e);
    if (st == SKIM_OK && !skim_vk_custom_pc_bytes(a, w, n, &e->pc_bytes)) e->pc_bytes = 0;
    if (st == SKIM_OK) st = make_pipeline(r, op, w, n, e);
    if (w != op->desc.spirv) {
        skim_free(a, w);
    }
    c->stats.build_ms += now_ms() - t0;
    if (st != SKIM_OK) {
        skim_free(a, key);
        skim_free(a, e);
        return st;
    }
    memcpy(key, op->shader, op->shader_bytes);
    e->key = key;
    e->key_bytes = op->shader_bytes;
    e->hash = op->hash;
    e->next = c->head;
    c->head = e;
    c->stats.entries++;
    *out = e;
    return SKIM_OK;
}

static skim_status get_entry(skim_vk_rec *r, const skim_custom_op *op, vkc_entry **out) {
    skim_vk_backend *vb = r->vb;
    if (!vb->custom) {
        vb->custom = skim_calloc(&vb->be->alloc, 1, sizeof(vkc_cache));
        if (!vb->custom) {
            return PFAIL(r->p, SKIM_ERR_OUT_OF_MEMORY, "vulkan: out of memory");
        }
    }
    vkc_cache *c = vb->custom;
    for (vkc_entry *e = c->head; e; e = e->next) {
        if (e->hash == op->hash && e->key_bytes == op->shader_bytes &&
            memcmp(e->key, op->shader, e->key_bytes) == 0) {
            if (r->pass == 0) {
                c->stats.cache_hits++;
            }
            *out = e;
            return SKIM_OK;
        }
    }
    return build_entry(r, c, op, out);
}

/* ---------------------------------------------------------------- the dispatch */

/* n items over workgroups of `per`, folded into y past 65535; a bounded output with an
 * unfolded grid runs indirect: count * (n / outer) items. */
static void custom_grid(skim_vk_rec *r, skim_vk_dispatch *d, const skim_tensor *node, int64_t n,
                        uint32_t per) {
    int64_t wgs = (n + per - 1) / per;
    if (wgs > 65535) {
        d->grid[0] = 65535;
        d->grid[1] = (uint32_t)((wgs + 65534) / 65535);
    } else {
        d->grid[0] = (uint32_t)wgs;
    }
    /* Indirect when the bounded dimension is outside the items (a PER_ROW op on a 1-D
     * bounded output has one row: a direct dispatch, the shader checks the count). */
    if (node->bound && wgs <= 65535 && n >= node->ne[node->n_dims - 1]) {
        d->bounded_sel = skim_graph_slot(r->p->graph, node->bound);
        d->bmul = (uint32_t)(n / node->ne[node->n_dims - 1]);
        d->bdiv = per;
        d->bdim = 0;
    }
}

skim_status skim_vk_op_custom(skim_vk_rec *r, const skim_tensor *node) {
    const skim_custom_op *op = skim_custom_of(node);
    const skim_custom_desc *dc = &op->desc;
    if (SKIM_CUSTOM_PC_HEAD + dc->params_size > r->vb->props.limits.maxPushConstantsSize) {
        return PFAIL(r->p, SKIM_ERR_TOO_LARGE, "custom op '%s': %zu bytes of push constants "
                     "are past the device's maxPushConstantsSize of %u", dc->name,
                     SKIM_CUSTOM_PC_HEAD + dc->params_size,
                     r->vb->props.limits.maxPushConstantsSize);
    }
    vkc_entry *e = NULL;
    skim_status st = get_entry(r, op, &e);
    int n_src = 0;
    for (int i = 0; i < SKIM_MAX_SRC; i++) {
        n_src = node->src[i] ? i + 1 : n_src;
    }
    if (st == SKIM_OK) st = check_bindings(r, op, n_src, e);
    if (st != SKIM_OK) {
        return st;
    }
    skim_vk_dispatch d;
    skim_vk_dispatch_init(&d, (skim_vk_shader_id)0, node);
    d.pipe = e->pipe;
    memset(&d.pc, 0, sizeof d.pc);
    skim_custom_pc_head h;
    memset(&h, 0, sizeof h);
    for (int k = 0; k < 4; k++) {
        h.ne[k] = (uint32_t)node->ne[k];
    }
    h.bound = node->bound ? (uint32_t)node->n_dims : 0;
    h.n_src = (uint32_t)n_src;
    h.rows = (uint32_t)skim_tensor_nrows(node);
    h.n_dims = (uint32_t)node->n_dims;
    uint8_t *pc = (uint8_t *)&d.pc;
    memcpy(pc, &h, sizeof h);
    if (dc->params_size) {
        memcpy(pc + SKIM_CUSTOM_PC_HEAD, op->params, dc->params_size);
    }
    if (dc->dispatch == SKIM_CUSTOM_GRID) {
        for (int k = 0; k < 3; k++) {
            d.grid[k] = dc->grid[k] ? dc->grid[k] : 1;
        }
    } else if (dc->dispatch == SKIM_CUSTOM_PER_ROW) {
        custom_grid(r, &d, node, skim_tensor_nrows(node), 1);
    } else {
        custom_grid(r, &d, node, skim_tensor_nelements(node), e->local[0] * e->local[1] * e->local[2]);
    }
    return skim_vk_emit(r, &d);
}
