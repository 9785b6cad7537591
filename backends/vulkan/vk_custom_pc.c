/* vk_custom_pc.c - how many bytes a SPIR-V module's push-constant block spans, so that
 * planning can refuse a custom op whose shader reads past what the op pushes (the head
 * plus its parameter block): a table of the module's types by id, sized from their
 * Offset / ArrayStride decorations (SPIR-V 1.x, section 2.16.2: explicit layout). */
#include "vk_custom.h"

#include <string.h>

enum { OP_TYPE_BOOL = 20, OP_TYPE_INT = 21, OP_TYPE_FLOAT = 22, OP_TYPE_VECTOR = 23,
       OP_TYPE_MATRIX = 24, OP_TYPE_ARRAY = 28, OP_TYPE_STRUCT = 30, OP_TYPE_POINTER = 32,
       OP_CONSTANT = 43, OP_VARIABLE = 59, OP_DECORATE = 71, OP_MEMBER_DECORATE = 72 };
enum { DEC_ARRAY_STRIDE = 6, DEC_OFFSET = 35, SC_PUSH_CONSTANT = 9 };
enum { T_NONE = 0, T_SCALAR, T_VEC, T_ARRAY, T_STRUCT, T_PTR, T_CONST };
#define MAX_IDS 65536u
#define MAX_OFFSETS 512

typedef struct pc_ty {
    uint8_t kind;
    uint32_t a, b;   /* SCALAR: bytes; VEC: component, count; ARRAY: element, length id;
                        STRUCT: word index of the instruction, members; PTR: storage, type;
                        CONST: value */
    uint32_t stride; /* ARRAY: ArrayStride */
} pc_ty;

typedef struct pc_tab {
    const uint32_t *w;
    pc_ty *ty;
    uint32_t pc_type; /* the type of the push-constant variable's pointee, 0: none */
    int n_off;
    uint32_t off_struct[MAX_OFFSETS], off_member[MAX_OFFSETS], off_value[MAX_OFFSETS];
} pc_tab;

static void record(pc_tab *t, const uint32_t *ins, uint32_t wc, size_t at) {
    uint32_t opc = ins[0] & 0xffffu;
    uint32_t id = wc >= 2 ? ins[1] : 0;
    pc_ty *y = id < MAX_IDS ? &t->ty[id] : NULL;
    if (opc == OP_CONSTANT && wc >= 4 && ins[2] < MAX_IDS) {
        t->ty[ins[2]].kind = T_CONST;
        t->ty[ins[2]].a = ins[3];
    } else if (opc == OP_VARIABLE && wc >= 4 && ins[3] == SC_PUSH_CONSTANT && ins[1] < MAX_IDS &&
               t->ty[ins[1]].kind == T_PTR) {
        t->pc_type = t->ty[ins[1]].b;
    } else if (opc == OP_DECORATE && wc >= 4 && ins[2] == DEC_ARRAY_STRIDE && y) {
        y->stride = ins[3];
    } else if (opc == OP_MEMBER_DECORATE && wc >= 5 && ins[3] == DEC_OFFSET &&
               t->n_off < MAX_OFFSETS) {
        t->off_struct[t->n_off] = ins[1];
        t->off_member[t->n_off] = ins[2];
        t->off_value[t->n_off++] = ins[4];
    } else if (!y) {
        return;
    } else if (opc == OP_TYPE_BOOL || (opc == OP_TYPE_INT && wc >= 3) ||
               (opc == OP_TYPE_FLOAT && wc >= 3)) {
        y->kind = T_SCALAR;
        y->a = opc == OP_TYPE_BOOL ? 4 : ins[2] / 8;
    } else if ((opc == OP_TYPE_VECTOR || opc == OP_TYPE_MATRIX) && wc >= 4) {
        y->kind = T_VEC;
        y->a = ins[2];
        y->b = ins[3];
    } else if (opc == OP_TYPE_ARRAY && wc >= 4) {
        y->kind = T_ARRAY;
        y->a = ins[2];
        y->b = ins[3];
    } else if (opc == OP_TYPE_STRUCT) {
        y->kind = T_STRUCT;
        y->a = (uint32_t)at;
        y->b = wc - 2;
    } else if (opc == OP_TYPE_POINTER && wc >= 4) {
        y->kind = T_PTR;
        y->a = ins[2];
        y->b = ins[3];
    }
}

/* Bytes of type id, 0 when unknown. */
static uint64_t ty_size(const pc_tab *t, uint32_t id, int depth) {
    if (id >= MAX_IDS || depth > 16) {
        return 0;
    }
    const pc_ty *y = &t->ty[id];
    switch (y->kind) {
    case T_SCALAR: return y->a;
    case T_VEC: return (uint64_t)y->b * ty_size(t, y->a, depth + 1);
    case T_ARRAY: {
        uint64_t len = y->b < MAX_IDS && t->ty[y->b].kind == T_CONST ? t->ty[y->b].a : 0;
        return len * (y->stride ? y->stride : ty_size(t, y->a, depth + 1));
    }
    case T_STRUCT: {
        uint64_t end = 0;
        for (uint32_t m = 0; m < y->b; m++) {
            uint64_t off = 0;
            for (int k = 0; k < t->n_off; k++) {
                if (t->off_struct[k] == id && t->off_member[k] == m) off = t->off_value[k];
            }
            uint64_t e = off + ty_size(t, t->w[y->a + 2 + m], depth + 1);
            end = e > end ? e : end;
        }
        return end;
    }
    default: return 0;
    }
}

bool skim_vk_custom_pc_bytes(const skim_allocator *a, const uint32_t *w, size_t n,
                             uint32_t *bytes) {
    *bytes = 0;
    if (n < 5 || w[3] > MAX_IDS) {
        return false;
    }
    pc_tab *t = skim_calloc(a, 1, sizeof *t);
    pc_ty *ty = skim_calloc(a, MAX_IDS, sizeof *ty);
    bool ok = t && ty;
    if (ok) {
        t->w = w;
        t->ty = ty;
        for (size_t i = 5; i < n;) {
            uint32_t wc = w[i] >> 16;
            if (wc == 0 || i + wc > n) {
                ok = false;
                break;
            }
            record(t, w + i, wc, i);
            i += wc;
        }
    }
    if (ok && t->pc_type) {
        uint64_t s = ty_size(t, t->pc_type, 0);
        ok = s > 0 && s <= UINT32_MAX;
        *bytes = ok ? (uint32_t)s : 0;
    }
    skim_free(a, ty);
    skim_free(a, t);
    return ok;
}
