/* vk_backend.c - the Vulkan backend's skim_backend_i table, create and destroy. */
#define _XOPEN_SOURCE 700 /* PTHREAD_MUTEX_RECURSIVE */
#include "vk-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#include <windows.h>

_Static_assert(sizeof(CRITICAL_SECTION) <= sizeof(skim_vk_mutex) &&
                   _Alignof(CRITICAL_SECTION) <= _Alignof(skim_vk_mutex),
               "skim_vk_mutex holds a CRITICAL_SECTION");

static CRITICAL_SECTION *vk_cs(skim_vk_backend *vb) {
    return (CRITICAL_SECTION *)(void *)vb->lock.bytes;
}

void skim_vk_lock(skim_vk_backend *vb) {
    EnterCriticalSection(vk_cs(vb));
}

void skim_vk_unlock(skim_vk_backend *vb) {
    LeaveCriticalSection(vk_cs(vb));
}
#endif

static void vk_destroy(skim_backend *be) {
    skim_vk_backend *vb = be->impl;
    if (vb) {
        /* Plans and stores are gone (their fences waited on); an engine's device keeps
         * its own work, so only skim's own device is waited for. */
        if (vb->own_device && vb->dev && vb->d.vkDeviceWaitIdle) {
            vb->d.vkDeviceWaitIdle(vb->dev);
        }
        if (vb->dev) {
            skim_vk_staging_destroy(vb);
        }
        skim_vk_custom_destroy(vb);
        skim_vk_pipelines_destroy(vb);
        skim_vk_device_destroy(vb);
        if (vb->lock_made) {
#if defined(_WIN32)
            DeleteCriticalSection(vk_cs(vb));
#else
            pthread_mutex_destroy(&vb->lock);
#endif
        }
        skim_free(&be->alloc, vb);
    }
    skim_allocator raw = be->mem.base; /* be itself came from the caller's allocator */
    skim_free(&raw, be);
}

static const skim_backend_i vk_iface = {
    "vulkan",
    vk_destroy,
    skim_vk_supports,
    skim_vk_plan_create,
    skim_vk_plan_destroy,
    skim_vk_set_input,
    skim_vk_reset_states,
    skim_vk_run_async,
    skim_vk_wait,
    skim_vk_read,
    skim_vk_store_create,
    skim_vk_store_destroy,
    skim_vk_store_fill,
};

skim_status skim_backend_create_vulkan_msg(const skim_vulkan_desc *desc, skim_backend **out,
                                           char *msg, size_t msg_size) {
    skim_vulkan_desc dd;
    memset(&dd, 0, sizeof dd);
    if (desc) {
        dd = *desc;
    }
    if (msg && msg_size) {
        msg[0] = '\0';
    }
    if (!out) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_backend *be = skim_calloc(&dd.allocator, 1, sizeof *be);
    if (be) {
        skim_mem_counter_init(&be->mem, &dd.allocator, &be->alloc); /* counts the rest */
    }
    skim_vk_backend *vb = be ? skim_calloc(&be->alloc, 1, sizeof *vb) : NULL;
    if (!vb) {
        skim_free(&dd.allocator, be);
        if (msg && msg_size) snprintf(msg, msg_size, "vulkan: out of memory");
        return SKIM_ERR_OUT_OF_MEMORY;
    }
    be->iface = &vk_iface;
    be->impl = vb;
    vb->be = be;
    vb->vka = dd.vk_allocator;
    vb->debug = dd.debug;
    vb->debug_user = dd.debug_user;
    vb->cache_io = dd.cache;
#if defined(_WIN32)
    InitializeCriticalSection(vk_cs(vb));
    vb->lock_made = true;
#else
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    vb->lock_made = pthread_mutex_init(&vb->lock, &ma) == 0;
    pthread_mutexattr_destroy(&ma);
    if (!vb->lock_made) {
        vk_destroy(be);
        if (msg && msg_size) snprintf(msg, msg_size, "vulkan: a mutex could not be made");
        return SKIM_ERR_OUT_OF_MEMORY;
    }
#endif
    /* SKIM_VK_STAGING=N: device buffers unmapped and a staging area of N bytes (tests). */
    const char *stg = getenv("SKIM_VK_STAGING");
    long long stg_n = stg ? atoll(stg) : 0;
    if (stg_n > 0) {
        vb->no_map = true;
        vb->staging_cap = (VkDeviceSize)(stg_n < 256 ? 256 : stg_n);
    }
    const char *res = getenv("SKIM_VK_RESOLVE");
    const char *mv = getenv("SKIM_VK_MUL_MV");
    vb->force_mul_mv = mv && strcmp(mv, "1") == 0;
    const char *nv4 = getenv("SKIM_VK_NO_VEC4");
    vb->no_vec4 = nv4 && strcmp(nv4, "1") == 0;
    const char *bar = getenv("SKIM_VK_BARRIERS"); /* "every": the unplanned order (comparison) */
    vb->barrier_every = bar && strcmp(bar, "every") == 0;
    const char *ar = getenv("SKIM_VK_ARENA"); /* "reuse": graph/'s plan (its tests) */
    vb->arena_reuse = ar && strcmp(ar, "reuse") == 0;
    const char *fu = getenv("SKIM_VK_FUSE"); /* "0": no fused chains (comparison, tests) */
    vb->no_fuse = fu && strcmp(fu, "0") == 0;
    const char *pf = getenv("SKIM_VK_PROFILE"); /* "1": as desc.profile */
    vb->profile = dd.profile || (pf && strcmp(pf, "1") == 0);
    const char *gd = getenv("SKIM_VK_GUARD");
    vb->guard = gd && strcmp(gd, "stray") == 0 ? 2 : dd.guard_bytes || (gd && strcmp(gd, "1") == 0);
    bool host = dd.resolve == SKIM_VK_RESOLVE_HOST || (res && strcmp(res, "host") == 0);
    skim_status st = skim_vk_device_create(vb, &dd);
    const char *nosg = getenv("SKIM_VK_NO_SUBGROUP"); /* the fallback shaders (their tests) */
    if (nosg && strcmp(nosg, "1") == 0) {
        vb->info.subgroup_arith = false;
    }
    vb->info.quantized_activations = vb->info.subgroup_arith; /* mul_mv.comp QA */
    if (st == SKIM_OK) {
        st = skim_vk_pipelines_init(vb);
    }
    vb->info.gpu_resolve = !host;
    if (st != SKIM_OK) {
        if (msg && msg_size) snprintf(msg, msg_size, "%s", skim_backend_error(be));
        vk_destroy(be);
        return st;
    }
    skim_backend_clear(be);
    *out = be;
    return SKIM_OK;
}

skim_status skim_backend_create_vulkan(const skim_vulkan_desc *desc, skim_backend **out) {
    return skim_backend_create_vulkan_msg(desc, out, NULL, 0);
}

bool skim_vulkan_query_info(const skim_backend *be, skim_vulkan_info *out) {
    if (!be || !out || be->iface != &vk_iface) {
        return false;
    }
    skim_vk_backend *vb = be->impl;
    skim_vk_lock(vb); /* the count changes under it (stores made and freed) */
    *out = vb->info;
    out->max_block = vb->block_max;
    out->store_blocks = vb->n_blocks;
    skim_vk_unlock(vb);
    return true;
}
