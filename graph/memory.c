/* memory.c - a backend's own accounting of the memory it holds (skim_backend_query_memory):
 * be->alloc is a counting allocator in front of the caller's, and a backend with device
 * memory adds what it allocated there. The size of each block is kept in a 16-byte prefix
 * (so the caller's 16-byte alignment is kept) because skim_free is not told sizes.
 * Counters are atomic: plans of one backend may be used from different threads (skim-backend.h). */
#include "skim-impl.h"

#include <string.h>

#define SKIM_MEM_PREFIX 16
_Static_assert(sizeof(size_t) <= SKIM_MEM_PREFIX, "the size prefix holds a size_t");

#if defined(__GNUC__) || defined(__clang__)
#  define MEM_ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#  define MEM_SUB(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#  define MEM_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#else /* MSVC (skim-platform.h's Interlocked intrinsics); 64-bit targets only */
_Static_assert(sizeof(size_t) == sizeof(uint64_t), "the counters are 64-bit");
#  define MEM_ADD(p, v) skim_atomic_fetch_add64((volatile uint64_t *)(p), (uint64_t)(v))
#  define MEM_SUB(p, v) skim_atomic_fetch_add64((volatile uint64_t *)(p), (uint64_t)0 - (uint64_t)(v))
#  define MEM_LOAD(p) skim_atomic_load64((const volatile uint64_t *)(p))
#endif

static void *counted_alloc(void *user, size_t size) {
    skim_mem_counter *c = user;
    size_t total;
    if (!skim_add_size(size, SKIM_MEM_PREFIX, &total)) {
        return NULL;
    }
    unsigned char *raw = skim_alloc(&c->base, total);
    if (!raw) {
        return NULL;
    }
    memcpy(raw, &size, sizeof size);
    MEM_ADD(&c->host_bytes, size);
    MEM_ADD(&c->host_blocks, (size_t)1);
    return raw + SKIM_MEM_PREFIX;
}

/* Reads everything it needs from c before the block is freed: the last block freed may be
 * the one that holds c (a backend frees itself through its caller's allocator). */
static void counted_free(void *user, void *p) {
    if (!p) {
        return;
    }
    skim_mem_counter *c = user;
    unsigned char *raw = (unsigned char *)p - SKIM_MEM_PREFIX;
    size_t size;
    memcpy(&size, raw, sizeof size);
    MEM_SUB(&c->host_bytes, size);
    MEM_SUB(&c->host_blocks, (size_t)1);
    skim_allocator base = c->base;
    skim_free(&base, raw);
}

void skim_mem_counter_init(skim_mem_counter *c, const skim_allocator *base, skim_allocator *out) {
    memset(c, 0, sizeof *c);
    if (base) {
        c->base = *base;
    }
    out->alloc = counted_alloc;
    out->free = counted_free;
    out->user = c;
}

void skim_mem_counter_device(skim_mem_counter *c, uint64_t bytes, bool add) {
    if (add) {
        MEM_ADD(&c->device_bytes, bytes);
        MEM_ADD(&c->device_blocks, (uint64_t)1);
    } else {
        MEM_SUB(&c->device_bytes, bytes);
        MEM_SUB(&c->device_blocks, (uint64_t)1);
    }
}

skim_status skim_backend_query_memory(const skim_backend *be, skim_memory_stats *out) {
    if (!be || !out) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_memory_stats m;
    memset(&m, 0, sizeof m);
    m.host_bytes = MEM_LOAD(&be->mem.host_bytes);
    m.host_blocks = MEM_LOAD(&be->mem.host_blocks);
    m.device_bytes = MEM_LOAD(&be->mem.device_bytes);
    m.device_blocks = MEM_LOAD(&be->mem.device_blocks);
    *out = m;
    return SKIM_OK;
}
