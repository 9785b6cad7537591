/* fuzz_graph.c - a libFuzzer target that builds random graphs through the public API from
 * the fuzzer's bytes and runs them on the CPU backend. The bytes are a program: a header
 * (context limits, an allocation to fail), then one instruction per step: make a leaf
 * (input, weight, state, param; any type, 1-4 dims, small or zero sizes), apply an op
 * (any row of graph/ops.def, through a table generated from it), a view or a selection to tensors picked from a pool (or NULL), clear the error. Then the
 * last tensors become the outputs: build, plan, set every input from the bytes (indices
 * and parameters in or out of range, NaN scores), run twice, read every output and
 * selection, the stats. Most programs are misuse; every call must return a status. Any
 * abort, sanitizer report or leak is a failure, and so is a broken promise of the API
 * (checked here, __builtin_trap): a builder returning a tensor after the context recorded
 * an error, a failed call writing its out pointer, a failed allocation swallowed (not
 * left on the context by a builder, or not OUT_OF_MEMORY from skim_graph_build).
 * fuzz_graph_main.c runs this over the checked-in corpus without libFuzzer. */
#include "skim.h"
#include "skim-backend.h"
#include "skim-cpu.h"
#include "skim-custom.h"
#include "skim-impl.h" /* SKIM_OP_* of graph/ops.def */
#include "fuzz_bytes.h"
#include "failing_alloc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define POOL 32
#define MAX_STEPS 48
#define SENTINEL ((void *)0x5e5e5e5e)
#define PROMISE(c)                  \
    do {                            \
        if (!(c)) __builtin_trap(); \
    } while (0)

static int32_t i32(bytes *b) {
    uint32_t v = (uint32_t)u8(b) | (uint32_t)u8(b) << 8;
    return (int32_t)(int16_t)v;
}
/* Mostly small sane floats; sometimes 0, a huge value, NaN or an infinity. */
static float f32(bytes *b) {
    uint8_t k = u8(b);
    switch (k >> 5) {
    case 0: return 0.0f;
    case 1: return NAN;
    case 2: return (k & 1) ? INFINITY : -INFINITY;
    case 3: return 1e30f * (float)(k & 15);
    default: return ((float)(k & 31) - 16.0f) / 8.0f;
    }
}

typedef struct prog {
    bytes b;
    skim_context *ctx;
    skim_tensor *pool[POOL];
    int n;
    void *data[POOL]; /* weight data, freed at the end */
    int n_data;
    skim_tensor *inputs[POOL], *params[POOL];
    int n_inputs, n_params;
    failing *f;
    long n_at_clear; /* allocations made before the last clear_error */
} prog;

static skim_tensor *pick(prog *g) {
    uint8_t k = u8(&g->b);
    if (k == 255 || g->n == 0) return NULL;
    return g->pool[k % g->n];
}
static void push(prog *g, skim_tensor *t) {
    if (!t) return;
    if (g->n < POOL) {
        g->pool[g->n++] = t;
    } else {
        g->pool[u8(&g->b) % POOL] = t;
    }
}
static skim_type type(bytes *b) {
    uint8_t k = u8(b);
    return k == 200 ? (skim_type)77 : (skim_type)(k % SKIM_TYPE_COUNT); /* 77: a bad enum */
}
/* ne from the bytes: 1..8 mostly; 32..128 (block multiples) in the first two dimensions;
 * sometimes 0, -1, or 2^40 (overflow: TOO_LARGE or OUT_OF_MEMORY). Kept small otherwise:
 * the fuzzer is after statuses and memory errors, not long kernels. */
static int dims(bytes *b, int64_t ne[4]) {
    int nd = 1 + u8(b) % 4;
    if (u8(b) == 99) nd = 5;
    for (int i = 0; i < 4; i++) {
        uint8_t k = u8(b);
        ne[i] = k == 250 ? 0 : k == 251 ? -1 : k == 252 ? (int64_t)1 << 40
              : (k >= 240 && i < 2) ? 32 * (1 + (k - 240) % 4) : 1 + k % 8;
    }
    return nd;
}

static void leaf(prog *g, int kind) {
    int64_t ne[4];
    skim_type t = type(&g->b);
    int nd = dims(&g->b, ne);
    skim_tensor *x = NULL;
    if (kind == 0) {
        x = skim_new_input(g->ctx, t, nd, ne);
        if (x && g->n_inputs < POOL) g->inputs[g->n_inputs++] = x;
    } else if (kind == 1) {
        x = skim_new_weight(g->ctx, t, nd, ne, NULL);
        size_t nb = x ? skim_tensor_nbytes(x) : 0;
        void *d = nb && nb < (1u << 20) && g->n_data < POOL ? malloc(nb) : NULL;
        if (d) {
            for (size_t i = 0; i < nb; i++) ((uint8_t *)d)[i] = (uint8_t)(i * 37u + 11u);
            if (t == SKIM_TYPE_F32) /* finite values: random F32 bits are half NaN */
                for (size_t i = 0; i < nb / 4; i++) ((float *)d)[i] = (float)(i % 7) - 3.0f;
            g->data[g->n_data++] = d;
            PROMISE(skim_tensor_set_data(x, d, nb) == SKIM_OK);
        }
    } else if (kind == 2) {
        x = skim_new_state(g->ctx, t, nd, ne, f32(&g->b));
    } else {
        int32_t lo = i32(&g->b), hi = i32(&g->b);
        x = skim_new_param(g->ctx, lo, hi, i32(&g->b));
        if (x && g->n_params < POOL) g->params[g->n_params++] = x;
    }
    push(g, x);
}

static skim_tensor *op_attn(prog *g) {
    skim_attn_desc d;
    memset(&d, 0, sizeof d);
    d.q = pick(g);
    d.k = pick(g);
    d.v = pick(g);
    d.q_pos = pick(g);
    uint8_t k = u8(&g->b);
    if (k & 1) d.k_pos = pick(g);
    if (k & 2) d.n_kv = pick(g);
    if (k & 4) d.kmask = pick(g);
    if (k & 8) d.heads = pick(g);
    if (k & 16) d.scale = f32(&g->b);
    return skim_attn(g->ctx, (k & 128) ? NULL : &d);
}

static skim_tensor *op_view(prog *g, skim_tensor *a) {
    int64_t ne[4];
    int nd = dims(&g->b, ne);
    switch (u8(&g->b) % 5) {
    case 0: return skim_reshape(g->ctx, a, nd, ne);
    case 1: return skim_reshape_2d(g->ctx, a, ne[0], ne[1]);
    case 2: {
        size_t nb[4] = {0, (size_t)u8(&g->b) * 4, (size_t)u8(&g->b) * 16, (size_t)u8(&g->b) * 64};
        return skim_view(g->ctx, a, nd, ne, nb, (size_t)u8(&g->b) * 4);
    }
    case 3: return skim_permute(g->ctx, a, u8(&g->b) % 5, u8(&g->b) % 4, u8(&g->b) % 4, u8(&g->b) % 4);
    default: return skim_transpose(g->ctx, a);
    }
}

/* One builder per row of ops.def, each reading its own bytes after the two pool picks;
 * the table below is generated from ops.def, so a row without its fz_<name> fails to
 * compile here and a new op is fuzzed from the day it is added. */
static skim_tensor *fz_get_rows(prog *g, skim_tensor *a, skim_tensor *b2) {
    return skim_get_rows(g->ctx, a, b2);
}
static skim_tensor *fz_add(prog *g, skim_tensor *a, skim_tensor *b2) { return skim_add(g->ctx, a, b2); }
static skim_tensor *fz_mul(prog *g, skim_tensor *a, skim_tensor *b2) { return skim_mul(g->ctx, a, b2); }
static skim_tensor *fz_scale(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_scale(g->ctx, a, f32(&g->b));
}
static skim_tensor *fz_rms_norm(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_rms_norm(g->ctx, a, fabsf(f32(&g->b)));
}
static skim_tensor *fz_layer_norm(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_layer_norm(g->ctx, a, f32(&g->b));
}
static skim_tensor *fz_mul_mat(prog *g, skim_tensor *a, skim_tensor *b2) {
    return skim_mul_mat(g->ctx, a, b2);
}
static skim_tensor *fz_rope(prog *g, skim_tensor *a, skim_tensor *b2) {
    skim_rope_mode mode = (skim_rope_mode)(u8(&g->b) % 3);
    return skim_rope(g->ctx, a, b2, mode, u8(&g->b) % 10, 10000.0f);
}
static skim_tensor *fz_soft_max(prog *g, skim_tensor *a, skim_tensor *b2) {
    skim_tensor *mask = (u8(&g->b) & 1) ? b2 : NULL;
    return skim_soft_max(g->ctx, a, mask, f32(&g->b));
}
static skim_tensor *fz_silu(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_silu(g->ctx, a);
}
static skim_tensor *fz_gelu(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_gelu(g->ctx, a);
}
static skim_tensor *fz_sigmoid(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_sigmoid(g->ctx, a);
}
static skim_tensor *fz_swiglu(prog *g, skim_tensor *a, skim_tensor *b2) {
    return skim_swiglu(g->ctx, a, b2);
}
static skim_tensor *fz_cont(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_cont(g->ctx, a);
}
static skim_tensor *fz_cpy(prog *g, skim_tensor *a, skim_tensor *b2) { return skim_cpy(g->ctx, a, b2); }
static skim_tensor *fz_argmax(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_argmax(g->ctx, a);
}
static skim_tensor *fz_set_rows(prog *g, skim_tensor *a, skim_tensor *b2) {
    return skim_set_rows(g->ctx, a, b2, pick(g));
}
static skim_tensor *fz_attn(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)a, (void)b2;
    return op_attn(g);
}
static skim_tensor *fz_head_gate(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_head_gate(g->ctx, a, f32(&g->b));
}
static skim_tensor *fz_token_halt(prog *g, skim_tensor *a, skim_tensor *b2) {
    float tau = f32(&g->b);
    return skim_token_halt(g->ctx, a, tau, (u8(&g->b) & 1) ? b2 : NULL);
}
static skim_tensor *fz_select_topk(prog *g, skim_tensor *a, skim_tensor *b2) {
    (void)b2;
    return skim_select_topk(g->ctx, a, i32(&g->b));
}
static skim_tensor *fz_get_rows_sel(prog *g, skim_tensor *a, skim_tensor *b2) {
    return skim_get_rows_sel(g->ctx, a, b2);
}
static skim_tensor *fz_scatter_add_sel(prog *g, skim_tensor *a, skim_tensor *b2) {
    return skim_scatter_add_sel(g->ctx, a, b2, pick(g));
}
static skim_tensor *fz_mul_mat_sel(prog *g, skim_tensor *a, skim_tensor *b2) {
    skim_tensor *sel = pick(g);
    return skim_mul_mat_sel(g->ctx, a, b2, sel, u8(&g->b) % 10);
}
static skim_tensor *fz_mul_mat_sel_k(prog *g, skim_tensor *a, skim_tensor *b2) {
    skim_tensor *sel = pick(g);
    return skim_mul_mat_sel_k(g->ctx, a, b2, sel, u8(&g->b) % 10);
}
/* A custom op of the CPU backend: the output has input 0's shape (or a fuzzed one) and is
 * filled with a constant, row range by row range. */
static void fz_custom_cpu(const skim_custom_call *call) {
    if (call->dst.type != SKIM_TYPE_F32) return;
    int64_t ne0 = call->dst.ne[0];
    for (int64_t r = call->row_begin; r < call->row_end; r++) {
        float *row = (float *)((char *)call->dst.data + (size_t)r * call->dst.nb[1]);
        for (int64_t i = 0; i < ne0; i++) row[i] = 0.5f;
    }
}
static skim_tensor *fz_custom(prog *g, skim_tensor *a, skim_tensor *b2) {
    skim_custom_desc d;
    memset(&d, 0, sizeof d);
    uint8_t k = u8(&g->b);
    d.name = (k & 1) ? "fuzz_custom" : NULL;
    d.type = (k & 2) ? SKIM_TYPE_I32 : SKIM_TYPE_F32;
    d.n_dims = (k & 4) ? dims(&g->b, d.ne) : 0;
    d.params_size = (k & 8) ? (size_t)u8(&g->b) : 0;
    d.cpu = (k & 16) ? NULL : fz_custom_cpu;
    d.dispatch = (skim_custom_dispatch)((k >> 5) % 4);
    uint8_t params[256] = {0};
    skim_tensor *src[2] = {a, b2};
    return skim_custom(g->ctx, &d, src, (k & 128) ? 2 : 1, params);
}
static skim_tensor *fz_causal_conv(prog *g, skim_tensor *a, skim_tensor *b2) {
    return skim_causal_conv(g->ctx, a, b2, (u8(&g->b) & 1) ? pick(g) : NULL);
}
static skim_tensor *fz_linear_rec(prog *g, skim_tensor *a, skim_tensor *b2) {
    skim_tensor *gb = pick(g);
    return skim_linear_rec(g->ctx, a, b2, gb, (u8(&g->b) & 1) ? pick(g) : NULL);
}

typedef skim_tensor *(*fz_builder)(prog *g, skim_tensor *a, skim_tensor *b2);
static const fz_builder fz_by_op[SKIM_OP_COUNT] = {
#define SKIM_OP(e, name, n_src, shader, flops, tol) [SKIM_OP_##e] = fz_##name,
#include "ops.def"
#undef SKIM_OP
};

/* Step codes 0..24 as the corpus was written (each an op of the table); 28 takes the next
 * byte as an index into the whole table, so every op of ops.def is reached. */
static const uint8_t fz_code_op[25] = {
    SKIM_OP_ADD, SKIM_OP_MUL, SKIM_OP_SCALE, SKIM_OP_RMS_NORM, SKIM_OP_LAYER_NORM,
    SKIM_OP_MUL_MAT, SKIM_OP_ROPE, SKIM_OP_SOFT_MAX, SKIM_OP_SILU, SKIM_OP_GELU,
    SKIM_OP_SIGMOID, SKIM_OP_SWIGLU, SKIM_OP_CONT, SKIM_OP_CPY, SKIM_OP_ARGMAX,
    SKIM_OP_SET_ROWS, SKIM_OP_ATTN, SKIM_OP_GET_ROWS, SKIM_OP_HEAD_GATE, SKIM_OP_TOKEN_HALT,
    SKIM_OP_SELECT_TOPK, SKIM_OP_GET_ROWS_SEL, SKIM_OP_SCATTER_ADD_SEL, SKIM_OP_MUL_MAT_SEL,
    SKIM_OP_MUL_MAT_SEL_K,
};

/* One op on tensors from the pool. */
static skim_tensor *op(prog *g, uint8_t code) {
    skim_context *c = g->ctx;
    skim_tensor *a = pick(g), *b2 = pick(g);
    int k = code % 30;
    if (k < 25) return fz_by_op[fz_code_op[k]](g, a, b2);
    switch (k) {
    case 25: case 26: return op_view(g, a);
    case 27:
        skim_context_clear_error(c);
        g->n_at_clear = g->f->n;
        return NULL;
    case 28: return fz_by_op[1 + u8(&g->b) % (SKIM_OP_COUNT - 1)](g, a, b2);
    default: return skim_tensor_set_name(a, "fuzzed");
    }
}

static void step(prog *g) {
    uint8_t k = u8(&g->b);
    if (k < 64) {
        leaf(g, k % 4);
        return;
    }
    skim_status before = skim_context_status(g->ctx);
    skim_tensor *t = op(g, k);
    /* The sticky error: after one, builders return NULL (clear_error resets it). */
    if (before != SKIM_OK && k % 30 != 27 && k % 30 < 29) PROMISE(t == NULL);
    push(g, t);
}

static void fill_inputs(prog *g, skim_plan *p) {
    for (int i = 0; i < g->n_inputs; i++) {
        skim_tensor *t = g->inputs[i];
        size_t nb = skim_tensor_nbytes(t);
        if (nb == 0 || nb > (1u << 20)) continue;
        uint8_t *d = malloc(nb);
        if (!d) continue;
        if (skim_tensor_type(t) == SKIM_TYPE_F32) {
            for (size_t j = 0; j < nb / 4; j++) ((float *)d)[j] = f32(&g->b);
        } else if (skim_tensor_type(t) == SKIM_TYPE_I32) {
            for (size_t j = 0; j < nb / 4; j++) ((int32_t *)d)[j] = (int32_t)(int8_t)u8(&g->b);
        } else {
            for (size_t j = 0; j < nb; j++) d[j] = (uint8_t)(u8(&g->b) & 0x3b); /* no NaN halves */
        }
        skim_plan_set_input(p, t, d, nb); /* INVALID_ARG when not in the graph: fine */
        free(d);
    }
    for (int i = 0; i < g->n_params; i++) skim_plan_set_param(p, g->params[i], i32(&g->b));
}

static void read_back(skim_plan *p, skim_tensor *const *outs, int n) {
    for (int i = 0; i < n; i++) {
        size_t nb = skim_tensor_nbytes(outs[i]);
        void *d = nb && nb < (1u << 22) ? malloc(nb) : NULL;
        if (d) skim_plan_get_output(p, outs[i], d, nb);
        free(d);
        if (skim_tensor_is_selection(outs[i])) {
            int32_t gr = skim_selection_groups(outs[i]), cap = skim_selection_capacity(outs[i]);
            int32_t *cnt = malloc(sizeof(int32_t) * (size_t)(gr > 0 ? gr : 1));
            int32_t *idx = malloc(sizeof(int32_t) * (size_t)(gr > 0 ? gr : 1) * (size_t)(cap > 0 ? cap : 1));
            if (cnt && idx) skim_plan_get_selection(p, outs[i], cnt, idx);
            free(cnt);
            free(idx);
        }
    }
    skim_run_stats st;
    skim_plan_get_stats(p, &st);
}

/* Inputs that reached a built graph, a plan, an OK run (fuzz_graph_main.c prints them). */
long fuzz_graph_counts[3];

/* Returns skim_graph_build's status. */
static skim_status run_graph(prog *g, skim_backend *be, skim_tensor *const *outs, int n_out) {
    skim_graph *gr = SENTINEL;
    skim_status s = skim_graph_build(g->ctx, outs, n_out, &gr);
    if (s != SKIM_OK) {
        PROMISE(gr == SENTINEL);
        return s;
    }
    fuzz_graph_counts[0]++;
    skim_plan_desc pd = {0};
    pd.mode = (u8(&g->b) & 1) ? SKIM_MODE_MASKED_DENSE : SKIM_MODE_SKIP;
    skim_plan *p = SENTINEL;
    s = skim_plan_create(be, gr, &pd, &p);
    if (s != SKIM_OK) {
        PROMISE(p == SENTINEL);
    } else {
        fuzz_graph_counts[1]++;
        fill_inputs(g, p);
        for (int r = 0; r < 2; r++) {
            if (skim_plan_run(p) == SKIM_OK && r == 0) fuzz_graph_counts[2]++;
            read_back(p, outs, n_out);
        }
        if (u8(&g->b) & 1) skim_plan_reset_states(p);
        skim_plan_destroy(p);
    }
    if (u8(&g->b) & 1) skim_graph_destroy(gr); /* else the context frees it */
    return SKIM_OK;
}

static skim_backend *g_backend; /* one for the process: creating a pool per input is slow */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    prog g;
    memset(&g, 0, sizeof g);
    g.b.p = data;
    g.b.n = size;
    if (!g_backend && skim_backend_create_cpu(NULL, &g_backend) != SKIM_OK) return 0;
    uint8_t h = u8(&g.b);
    failing f = {0, (h & 0x80) ? (long)u8(&g.b) : -1, 0};
    skim_context_desc cd = {0};
    cd.max_tensors = (h & 0x40) ? u8(&g.b) : 0;
    cd.allocator.alloc = f_alloc;
    cd.allocator.free = f_free;
    cd.allocator.user = &f;
    g.ctx = SENTINEL;
    g.f = &f;
    skim_status s = skim_context_create(&cd, &g.ctx);
    if (s != SKIM_OK) {
        PROMISE(s == SKIM_ERR_OUT_OF_MEMORY && g.ctx == SENTINEL && f.live == 0);
        return 0;
    }
    for (int i = 0; i < MAX_STEPS && g.b.i < g.b.n; i++) step(&g);
    int n_out = 1 + u8(&g.b) % 3;
    if (n_out > g.n) n_out = g.n;
    skim_tensor *outs[3] = {NULL, NULL, NULL};
    for (int i = 0; i < n_out; i++) outs[i] = g.pool[g.n - 1 - i];
    if (n_out > 0) {
        skim_status before = skim_context_status(g.ctx);
        long n_before = f.n;
        skim_status built = run_graph(&g, g_backend, outs, n_out);
        /* A failed allocation is never swallowed: one in a builder since the last
         * clear_error left the context's error set; one in skim_graph_build is its status. */
        if (f.fail_at >= g.n_at_clear && f.fail_at < n_before) PROMISE(before != SKIM_OK);
        if (f.fail_at >= n_before && f.n > f.fail_at) PROMISE(built == SKIM_ERR_OUT_OF_MEMORY);
    }
    skim_context_destroy(g.ctx);
    PROMISE(f.live == 0);
    for (int i = 0; i < g.n_data; i++) free(g.data[i]);
    return 0;
}
