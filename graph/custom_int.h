/* custom_int.h - the context-owned form of a custom op (include/skim-custom.h), shared
 * by graph/custom.c and the backends' custom-op files. Not installed. */
#ifndef SKIM_CUSTOM_INT_H
#define SKIM_CUSTOM_INT_H

#include "skim-impl.h"
#include "skim-custom.h"

/* One allocation: this struct, then the parameter block, the name, the GLSL source or
 * the SPIR-V words; desc's pointers point into it. */
struct skim_custom_op {
    struct skim_custom_op *next; /* the context's list */
    skim_custom_desc desc;
    const void *params;          /* desc.params_size bytes, or NULL */
    uint64_t hash;               /* FNV-1a of the shader's kind and bytes: the cache key */
    const uint8_t *shader;       /* the bytes hashed (the GLSL text or the SPIR-V words) */
    size_t shader_bytes;
};
typedef struct skim_custom_op skim_custom_op;

static inline const skim_custom_op *skim_custom_of(const skim_tensor *t) {
    return t->params.custom.op;
}

#endif /* SKIM_CUSTOM_INT_H */
