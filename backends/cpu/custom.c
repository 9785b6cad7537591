/* custom.c - the CPU kernel of custom ops (include/skim-custom.h): the user's C function,
 * called on the run extent. PER_ELEMENT and PER_ROW ops split the output's rows over the
 * threads (contiguous chunks, so each row is computed by one call whatever the thread
 * count); GRID ops are called once, on thread 0, with every row. */
#include "cpu-int.h"
#include "custom_int.h"

#include <string.h>

static void fill_tensor(skim_custom_tensor *ct, const skim_tensor *t, void *data,
                        const int64_t ext[4]) {
    ct->data = data;
    ct->type = t->type;
    ct->n_dims = t->n_dims;
    memcpy(ct->ne, ext, sizeof ct->ne);
    memcpy(ct->nb, t->nb, sizeof ct->nb);
}

void skim_cpu_op_custom(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t;
    const skim_custom_op *op = skim_custom_of(t);
    skim_custom_call call;
    memset(&call, 0, sizeof call);
    fill_tensor(&call.dst, t, nd->dst, nd->ne);
    for (int i = 0; i < SKIM_CUSTOM_MAX_SRC; i++) {
        if (t->src[i]) {
            fill_tensor(&call.src[i], t->src[i], (void *)(uintptr_t)nd->src[i], nd->sne[i]);
            call.n_src = i + 1;
        }
    }
    call.params = op->params;
    call.params_size = op->desc.params_size;
    call.user = op->desc.user;
    if (t->bound && !c->masked) {
        const int32_t *w = skim_cpu_words(c, t->bound);
        call.sel_count = skim_cpu_count(w, 0, t->bound->ne[0]);
        call.sel = w + 1; /* one group: the count, then the indices */
    }
    int64_t rows = nd->ne[1] * nd->ne[2] * nd->ne[3];
    if (nd->ne[0] == 0 || rows == 0) {
        return;
    }
    int64_t b = 0, e = rows;
    if (op->desc.dispatch == SKIM_CUSTOM_GRID) {
        if (c->ith != 0) {
            return;
        }
    } else {
        skim_cpu_split(rows, c->ith, c->nth, &b, &e);
    }
    if (b < e) {
        call.row_begin = b;
        call.row_end = e;
        op->desc.cpu(&call);
    }
}
