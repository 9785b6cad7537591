/* test_misuse.c - misuse of the API, table-driven: each case asserts the exact status,
 * that the message names what was wrong (a substring), and that nothing the caller owns
 * changed (out pointers, buffers). Two sweeps fail the N-th allocation during building and
 * during planning. The library must never print: stdout and stderr are redirected to a
 * file during the cases and must stay empty; a log callback is installed. */
#define _POSIX_C_SOURCE 200809L
#include "test_common.h"

#include "skim-cpu.h"
#include "skim-graph-int.h" /* skim_op_check_node, fed broken nodes below */
#include "failing_alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct env {
    skim_context *ctx;
    skim_backend *be;
    char msg[512];
    int logs;
    char last_log[512];
} env;

#define SENTINEL ((void *)0x5e5e5e5e)

static void on_log(void *user, skim_log_level level, const char *message) {
    env *e = user;
    (void)level;
    e->logs++;
    snprintf(e->last_log, sizeof e->last_log, "%s", message ? message : "(null)");
}

static void set_msg(env *e, const char *m) { snprintf(e->msg, sizeof e->msg, "%s", m ? m : "(null)"); }

static skim_tensor *in2(env *e, int64_t a, int64_t b, const char *name) {
    return skim_tensor_set_name(skim_new_input_2d(e->ctx, SKIM_TYPE_F32, a, b), name);
}
static skim_tensor *in1(env *e, skim_type t, int64_t a, const char *name) {
    return skim_tensor_set_name(skim_new_input_1d(e->ctx, t, a), name);
}

/* A builder's result: must be NULL with the error recorded; graph_build must report the
 * same error and leave out_graph alone. */
static skim_status built(env *e, skim_tensor *t) {
    skim_status s = skim_context_status(e->ctx);
    set_msg(e, skim_context_error(e->ctx));
    CHECK(t == NULL, "a failing builder returned a tensor");
    CHECK(e->logs > 0, "the error was not logged through the callback");
    skim_graph *g = SENTINEL;
    skim_tensor *dummy = NULL;
    skim_status gs = skim_graph_build(e->ctx, &dummy, 1, &g);
    CHECK(gs == s, "graph_build after the error -> %s, want %s", skim_status_str(gs), skim_status_str(s));
    CHECK(g == SENTINEL, "graph_build wrote out_graph on failure");
    return s;
}

/* A graph y = scale(x) ("xin" -> "yout") planned on the CPU. */
static skim_plan *small_plan(env *e, skim_tensor **x, skim_tensor **y, skim_graph **g) {
    *x = in2(e, 4, 2, "xin");
    skim_tensor *mid = skim_tensor_set_name(skim_scale(e->ctx, *x, 2.0f), "mid");
    *y = skim_tensor_set_name(skim_scale(e->ctx, mid, 3.0f), "yout");
    skim_plan *p = NULL;
    if (skim_graph_build(e->ctx, y, 1, g) != SKIM_OK || skim_plan_create(e->be, *g, NULL, &p) != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "small_plan: %s %s", skim_context_error(e->ctx), skim_backend_error(e->be));
        return NULL;
    }
    return p;
}

/* ---------------------------------------------------------------- stores */

/* y = w x on e's context with weight `name` [8, 4]. */
static skim_graph *w_graph(env *e, skim_context *ctx, const char *name) {
    static float w[32];
    skim_tensor *tw = skim_tensor_set_name(skim_new_weight_2d(ctx, SKIM_TYPE_F32, 8, 4, w), name);
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 2);
    skim_tensor *y = skim_mul_mat(ctx, tw, x);
    skim_graph *g = NULL;
    (void)e;
    return skim_graph_build(ctx, &y, 1, &g) == SKIM_OK ? g : NULL;
}

/* A plan given a store that cannot serve it: the status, the message, out untouched. */
static skim_status plan_with(env *e, skim_graph *g, skim_store *st) {
    skim_plan_desc pd = {.mode = SKIM_MODE_SKIP, .store = st};
    skim_plan *p = SENTINEL;
    skim_status s = skim_plan_create(e->be, g, &pd, &p);
    set_msg(e, skim_backend_error(e->be));
    CHECK(p == SENTINEL, "plan_create wrote out_plan on failure");
    return s;
}

static skim_status c_store_other_backend(env *e) {
    skim_backend *be2 = NULL;
    skim_store *st = NULL;
    skim_graph *g = w_graph(e, e->ctx, "wa");
    skim_status s = SKIM_ERR_STATE;
    if (g && skim_backend_create_cpu(NULL, &be2) == SKIM_OK &&
        skim_store_create(be2, &g, 1, &st) == SKIM_OK) {
        s = plan_with(e, g, st);
    }
    skim_store_destroy(st);
    skim_backend_destroy(be2);
    return s;
}
static skim_status c_store_missing_weight(env *e) {
    skim_graph *ga = w_graph(e, e->ctx, "wa"), *gb = w_graph(e, e->ctx, "wother");
    skim_store *st = NULL;
    skim_status s = SKIM_ERR_STATE;
    if (ga && gb && skim_store_create(e->be, &ga, 1, &st) == SKIM_OK) s = plan_with(e, gb, st);
    skim_store_destroy(st);
    return s;
}
static skim_status c_store_other_context(env *e) {
    skim_context *c2 = NULL;
    skim_store *st = NULL;
    skim_status s = SKIM_ERR_STATE;
    skim_graph *ga = w_graph(e, e->ctx, "wa");
    if (ga && skim_context_create(NULL, &c2) == SKIM_OK) {
        skim_graph *gb = w_graph(e, c2, "wa");
        if (gb && skim_store_create(e->be, &ga, 1, &st) == SKIM_OK) s = plan_with(e, gb, st);
    }
    skim_store_destroy(st);
    skim_context_destroy(c2);
    return s;
}
static skim_status c_store_mixed_contexts(env *e) {
    skim_context *c2 = NULL;
    skim_status s = SKIM_ERR_STATE;
    if (skim_context_create(NULL, &c2) == SKIM_OK) {
        skim_graph *gs[2] = {w_graph(e, e->ctx, "wa"), w_graph(e, c2, "wb")};
        skim_store *st = SENTINEL;
        if (gs[0] && gs[1]) {
            s = skim_store_create(e->be, gs, 2, &st);
            set_msg(e, skim_backend_error(e->be));
            CHECK(st == SENTINEL, "store_create wrote out_store on failure");
        }
    }
    skim_context_destroy(c2);
    return s;
}

/* ---------------------------------------------------------------- builder cases */

static skim_status c_add_shape(env *e) {
    return built(e, skim_add(e->ctx, in2(e, 4, 3, "alpha"), in2(e, 5, 3, "beta")));
}
static skim_status c_mul_mat_k(env *e) {
    float w[32] = {0};
    skim_tensor *tw = skim_tensor_set_name(skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 8, 4, w), "wq");
    return built(e, skim_mul_mat(e->ctx, tw, in2(e, 6, 2, "xs")));
}
static skim_status c_mul_mat_x_type(env *e) {
    float w[32] = {0};
    skim_tensor *tw = skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 8, 4, w);
    skim_tensor *x = skim_tensor_set_name(skim_new_input_2d(e->ctx, SKIM_TYPE_I32, 8, 2), "xint");
    return built(e, skim_mul_mat(e->ctx, tw, x));
}
static skim_status c_get_rows_idx_f32(env *e) {
    float w[32] = {0};
    skim_tensor *tw = skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 8, 4, w);
    return built(e, skim_get_rows(e->ctx, tw, in1(e, SKIM_TYPE_F32, 3, "idxf")));
}
static skim_status c_get_rows_3d(env *e) {
    static float w[64];
    skim_tensor *tw = skim_tensor_set_name(skim_new_weight(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){8, 4, 2}, w), "w3");
    return built(e, skim_get_rows(e->ctx, tw, in1(e, SKIM_TYPE_I32, 3, "idx")));
}
static skim_status c_rope_odd(env *e) {
    skim_tensor *x = skim_new_input(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){8, 2, 3});
    return built(e, skim_rope(e->ctx, x, in1(e, SKIM_TYPE_I32, 3, "pos"), SKIM_ROPE_NORM, 3, 1e4f));
}
static skim_status c_rope_pos_type(env *e) {
    skim_tensor *x = skim_new_input(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){8, 2, 3});
    return built(e, skim_rope(e->ctx, x, in1(e, SKIM_TYPE_F32, 3, "posf"), SKIM_ROPE_NORM, 8, 1e4f));
}
static skim_status c_attn_kv_heads(env *e) {
    skim_attn_desc d = {0};
    d.q = skim_new_input(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){8, 6, 2});
    d.k = skim_tensor_set_name(skim_new_input(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){8, 4, 2}), "kc");
    d.v = skim_new_input(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){8, 4, 2});
    d.q_pos = in1(e, SKIM_TYPE_I32, 2, "qp");
    return built(e, skim_attn(e->ctx, &d));
}
static skim_status c_null_arg(env *e) { return built(e, skim_add(e->ctx, NULL, in2(e, 2, 2, "b"))); }
static skim_status c_mms_tokens(env *e) {
    static float w[8 * 12];
    skim_tensor *tw = skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 8, 12, w);
    skim_tensor *sel = skim_tensor_set_name(skim_token_halt(e->ctx, in1(e, SKIM_TYPE_F32, 3, "p"), 0.5f, NULL), "toks");
    return built(e, skim_mul_mat_sel(e->ctx, tw, in2(e, 8, 3, "x"), sel, 4));
}
static skim_status c_mms_capacity(env *e) {
    static float w[8 * 12];
    skim_tensor *tw = skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 8, 12, w); /* 3 heads of 4 */
    skim_tensor *sel = skim_tensor_set_name(skim_head_gate(e->ctx, in1(e, SKIM_TYPE_F32, 4, "g"), 0.5f), "heads4");
    return built(e, skim_mul_mat_sel(e->ctx, tw, in2(e, 8, 3, "x"), sel, 4));
}
static skim_status c_grs_heads(env *e) {
    skim_tensor *sel = skim_tensor_set_name(skim_head_gate(e->ctx, in1(e, SKIM_TYPE_F32, 3, "g"), 0.5f), "hs");
    return built(e, skim_get_rows_sel(e->ctx, in2(e, 4, 3, "x"), sel));
}
static skim_status c_scatter_unbounded(env *e) {
    skim_tensor *sel = skim_token_halt(e->ctx, in1(e, SKIM_TYPE_F32, 3, "p"), 0.5f, NULL);
    return built(e, skim_scatter_add_sel(e->ctx, in2(e, 4, 3, "x"), in2(e, 4, 3, "yfree"), sel));
}
static skim_status c_gate_view(env *e) {
    skim_tensor *s = skim_transpose(e->ctx, in2(e, 3, 4, "sc"));
    return built(e, skim_head_gate(e->ctx, s, 0.5f));
}
static skim_status c_oversized(env *e) {
    return built(e, skim_new_input(e->ctx, SKIM_TYPE_F32, 2, (const int64_t[]){(int64_t)1 << 40, (int64_t)1 << 40}));
}
static skim_status c_max_tensors(env *e) {
    skim_context_destroy(e->ctx);
    skim_context_desc d = {0};
    d.log = on_log;
    d.log_user = e;
    d.max_tensors = 2;
    e->ctx = NULL;
    if (skim_context_create(&d, &e->ctx) != SKIM_OK) return SKIM_ERR_STATE;
    in2(e, 2, 2, "a");
    in2(e, 2, 2, "b");
    return built(e, skim_new_input_1d(e->ctx, SKIM_TYPE_F32, 2));
}
static skim_status c_q8_ne0(env *e) {
    static unsigned char q[34 * 4];
    return built(e, skim_new_weight_2d(e->ctx, SKIM_TYPE_Q8_0, 48, 2, q));
}
static skim_status c_n_dims5(env *e) {
    return built(e, skim_new_input(e->ctx, SKIM_TYPE_F32, 5, (const int64_t[]){1, 1, 1, 1, 1}));
}
static skim_status c_ne_zero(env *e) { return built(e, skim_new_input_2d(e->ctx, SKIM_TYPE_F32, 0, 3)); }
static skim_status c_foreign(env *e) {
    skim_context *other = NULL;
    skim_context_create(NULL, &other);
    skim_tensor *a = skim_tensor_set_name(skim_new_input_2d(other, SKIM_TYPE_F32, 2, 2), "stranger");
    skim_status s = built(e, skim_add(e->ctx, a, in2(e, 2, 2, "b")));
    CHECK(skim_context_status(other) == SKIM_OK, "the other context got the error");
    skim_context_destroy(other);
    return s;
}
static skim_status c_set_rows_weight(env *e) {
    static float w[8];
    skim_tensor *tw = skim_tensor_set_name(skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 4, 2, w), "wt");
    return built(e, skim_set_rows(e->ctx, tw, in2(e, 4, 1, "src"), in1(e, SKIM_TYPE_I32, 1, "i")));
}
static skim_status c_cpy_into_input(env *e) {
    return built(e, skim_cpy(e->ctx, in2(e, 4, 1, "src"), in2(e, 4, 1, "notstate")));
}
static skim_status c_cpy_count(env *e) {
    skim_tensor *st = skim_new_state(e->ctx, SKIM_TYPE_F32, 1, (const int64_t[]){5}, 0.0f);
    return built(e, skim_cpy(e->ctx, in2(e, 4, 1, "src4"), st));
}
static skim_status c_topk_k0(env *e) {
    return built(e, skim_select_topk(e->ctx, in1(e, SKIM_TYPE_F32, 5, "sc"), 0));
}
static skim_status c_halt_prev_cap(env *e) {
    skim_tensor *prev = skim_token_halt(e->ctx, in1(e, SKIM_TYPE_F32, 5, "p5"), 0.5f, NULL);
    return built(e, skim_token_halt(e->ctx, in1(e, SKIM_TYPE_F32, 6, "p6"), 0.5f, prev));
}
static skim_status c_gate_tau_nan(env *e) {
    return built(e, skim_head_gate(e->ctx, in1(e, SKIM_TYPE_F32, 4, "g"), NAN));
}
static skim_status c_permute_bounded(env *e) {
    skim_tensor *sel = skim_token_halt(e->ctx, in1(e, SKIM_TYPE_F32, 3, "p"), 0.5f, NULL);
    skim_tensor *b = skim_tensor_set_name(skim_get_rows_sel(e->ctx, in2(e, 4, 3, "x"), sel), "compact");
    return built(e, skim_permute(e->ctx, b, 1, 0, 2, 3));
}
static skim_status c_attn_k_no_kpos(env *e) {
    skim_tensor *sel = skim_token_halt(e->ctx, in1(e, SKIM_TYPE_F32, 3, "p"), 0.5f, NULL);
    skim_tensor *x = skim_new_input(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){4, 2, 3});
    skim_tensor *xb = skim_get_rows_sel(e->ctx, x, sel);
    skim_attn_desc d = {0};
    d.q = xb;
    d.k = xb;
    d.v = xb;
    d.q_pos = skim_get_rows_sel(e->ctx, in1(e, SKIM_TYPE_I32, 3, "pos"), sel);
    return built(e, skim_attn(e->ctx, &d));
}
static skim_status c_soft_max_mask(env *e) {
    return built(e, skim_soft_max(e->ctx, in2(e, 7, 3, "x"), in2(e, 6, 3, "badmask"), 1.0f));
}
static skim_status c_block_zero(env *e) {
    static float w[8 * 12];
    skim_tensor *tw = skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 8, 12, w);
    skim_tensor *sel = skim_head_gate(e->ctx, in1(e, SKIM_TYPE_F32, 3, "g"), 0.5f);
    return built(e, skim_mul_mat_sel(e->ctx, tw, in2(e, 8, 3, "x"), sel, 0));
}
static skim_status c_view_outside(env *e) {
    size_t nb[4] = {4, 16, 0, 0};
    return built(e, skim_view(e->ctx, in2(e, 4, 3, "x"), 2, (const int64_t[]){4, 3}, nb, 8));
}
static skim_status c_scale_inf(env *e) { return built(e, skim_scale(e->ctx, in2(e, 4, 3, "x"), INFINITY)); }

/* ---------------------------------------------------------------- node invariants */

/* mul_mat_sel_k on a 4-D x once left ne[2] and ne[3] of its result 0, and mul_mat, given
 * that result as w, divided by them (a fuzzer's find). Now the result is [M, N, 1, 1]. */
static skim_status c_sel_k_4d(env *e) {
    static float w[8 * 6];
    skim_tensor *tw = skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 8, 6, w);
    skim_tensor *x = skim_new_input(e->ctx, SKIM_TYPE_F32, 4, (const int64_t[]){8, 6, 1, 1});
    skim_tensor *sel = skim_head_gate(e->ctx, in1(e, SKIM_TYPE_F32, 2, "g"), 0.5f);
    skim_tensor *r = skim_mul_mat_sel_k(e->ctx, tw, x, sel, 4);
    for (int i = 0; i < 4; i++)
        CHECK(skim_tensor_ne(r, i) == (i == 0 ? 6 : i == 1 ? 6 : 1), "mul_mat_sel_k result ne[%d] = %lld", i,
              (long long)skim_tensor_ne(r, i));
    skim_tensor *y = skim_mul_mat(e->ctx, r, in2(e, 6, 3, "x2"));
    CHECK(skim_tensor_ne(y, 0) == 6 && skim_tensor_ne(y, 1) == 3 && skim_tensor_ne(y, 2) == 1,
          "mul_mat on it: [%lld, %lld, %lld]", (long long)skim_tensor_ne(y, 0), (long long)skim_tensor_ne(y, 1),
          (long long)skim_tensor_ne(y, 2));
    set_msg(e, skim_context_error(e->ctx));
    return skim_context_status(e->ctx);
}

/* The check after every shape function, fed nodes a broken shape function could leave:
 * each is refused with GRAPH naming the op; the last (the fuzzer's shape) stays recorded. */
static skim_status c_node_invariants(env *e) {
    static const struct { int n_dims; int64_t ne[4]; size_t nb0; const char *what; } bad[] = {
        {2, {6, 6, 3, 1}, 4, "ne 2 is 3"},          /* a dimension past n_dims not 1 */
        {5, {6, 6, 1, 1}, 4, "n_dims 0 is 5"},
        {0, {6, 6, 1, 1}, 4, "n_dims 0 is 0"},
        {2, {6, -1, 1, 1}, 4, "ne 1 is -1"},
        {2, {6, 6, 1, 1}, 2, "nb 0 is 2"},          /* strides not of the type */
        {4, {6, 6, 0, 0}, 4, "ne 2 is 0"},
    };
    skim_tensor good;
    memset(&good, 0, sizeof good);
    good.op = SKIM_OP_MUL_MAT_SEL_K;
    good.type = SKIM_TYPE_F32;
    good.n_dims = 1;
    good.ne[0] = 6;
    good.ne[1] = good.ne[2] = good.ne[3] = 1;
    good.nb[0] = 4;
    good.nb[1] = good.nb[2] = good.nb[3] = 24;
    CHECK(skim_op_check_node(e->ctx, &good) && skim_context_status(e->ctx) == SKIM_OK, "a sound node was refused: %s",
          skim_context_error(e->ctx));
    int n = (int)(sizeof bad / sizeof bad[0]);
    for (int i = 0; i < n; i++) {
        skim_context_clear_error(e->ctx);
        skim_tensor node = good;
        node.n_dims = bad[i].n_dims;
        memcpy(node.ne, bad[i].ne, sizeof node.ne);
        node.nb[0] = bad[i].nb0;
        CHECK(!skim_op_check_node(e->ctx, &node), "broken node %d passed the check", i);
        const char *m = skim_context_error(e->ctx);
        CHECK(skim_context_status(e->ctx) == SKIM_ERR_GRAPH, "broken node %d: %s", i,
              skim_status_str(skim_context_status(e->ctx)));
        CHECK(strstr(m, "mul_mat_sel_k") && strstr(m, bad[i].what), "broken node %d: message \"%s\" lacks \"%s\"",
              i, m, bad[i].what);
    }
    return built(e, NULL);
}

/* The memory plan's check, fed a plan corrupted after the fact: s2 moved onto mid while
 * both are read by yout; then yout moved past the arena's end. */
static skim_status c_plan_overlap(env *e) {
    skim_tensor *x = in2(e, 64, 2, "xin");
    skim_tensor *mid = skim_tensor_set_name(skim_scale(e->ctx, x, 2.0f), "mid");
    skim_tensor *s2 = skim_tensor_set_name(skim_scale(e->ctx, mid, 3.0f), "s2");
    skim_tensor *y = skim_tensor_set_name(skim_add(e->ctx, s2, mid), "yout");
    skim_graph *g = NULL;
    if (skim_graph_build(e->ctx, &y, 1, &g) != SKIM_OK) {
        set_msg(e, skim_context_error(e->ctx));
        return skim_context_status(e->ctx);
    }
    CHECK(skim_graph_check_memory(g) == SKIM_OK, "the planner's own plan was refused: %s", skim_context_error(e->ctx));
    skim_tensor_mem saved = g->mem[y->id];
    g->mem[y->id].offset = g->arena_size;
    CHECK(skim_graph_check_memory(g) == SKIM_ERR_GRAPH && strstr(skim_context_error(e->ctx), "yout") &&
          strstr(skim_context_error(e->ctx), "misplaces"), "yout past the arena: %s", skim_context_error(e->ctx));
    g->mem[y->id] = saved;
    skim_context_clear_error(e->ctx);
    CHECK(g->mem[s2->id].offset != g->mem[mid->id].offset, "the planner put s2 on mid");
    g->mem[s2->id].offset = g->mem[mid->id].offset;
    skim_status s = skim_graph_check_memory(g);
    set_msg(e, skim_context_error(e->ctx));
    CHECK(strstr(e->msg, "mid") && strstr(e->msg, "s2"), "the overlap's message names neither tensor: %s", e->msg);
    return s;
}

/* ---------------------------------------------------------------- sticky errors */

static skim_status c_sticky(env *e) {
    skim_tensor *ok = in2(e, 4, 3, "ok");
    skim_tensor *bad = skim_add(e->ctx, ok, in2(e, 5, 3, "first"));
    CHECK(bad == NULL, "the failing add returned a tensor");
    CHECK(skim_scale(e->ctx, ok, 2.0f) == NULL, "a valid builder after the error did not return NULL");
    CHECK(skim_new_input_1d(e->ctx, SKIM_TYPE_F32, 3) == NULL, "new_input after the error did not return NULL");
    skim_mul(e->ctx, ok, in2(e, 9, 9, "second"));
    CHECK(strstr(skim_context_error(e->ctx), "second") == NULL, "a later error replaced the first");
    return built(e, NULL);
}
static skim_status c_clear_error(env *e) {
    skim_tensor *a = in2(e, 4, 3, "a");
    skim_add(e->ctx, a, in2(e, 5, 3, "b"));
    CHECK(skim_context_status(e->ctx) == SKIM_ERR_SHAPE, "no error recorded");
    skim_context_clear_error(e->ctx);
    CHECK(skim_context_status(e->ctx) == SKIM_OK && skim_context_error(e->ctx)[0] == 0,
          "clear_error left %s '%s'", skim_status_str(skim_context_status(e->ctx)), skim_context_error(e->ctx));
    skim_tensor *y = skim_scale(e->ctx, a, 2.0f);
    skim_graph *g = NULL;
    skim_status s = skim_graph_build(e->ctx, &y, 1, &g);
    set_msg(e, skim_context_error(e->ctx));
    return s;
}

/* ---------------------------------------------------------------- run API */

static skim_status c_run_before_input(env *e) {
    skim_tensor *x, *y;
    skim_graph *g;
    skim_plan *p = small_plan(e, &x, &y, &g);
    if (!p) return SKIM_OK;
    skim_status s = skim_plan_run(p);
    set_msg(e, skim_plan_error(p));
    skim_plan_destroy(p);
    return s;
}
static skim_status c_param_range(env *e) {
    skim_tensor *prm = skim_tensor_set_name(skim_new_param(e->ctx, 0, 10, 3), "npast");
    skim_attn_desc d = {0};
    d.q = skim_new_input(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){4, 1, 1});
    d.k = d.v = skim_new_input(e->ctx, SKIM_TYPE_F32, 3, (const int64_t[]){4, 1, 10});
    d.q_pos = in1(e, SKIM_TYPE_I32, 1, "qp");
    d.n_kv = prm;
    skim_tensor *y = skim_attn(e->ctx, &d);
    skim_graph *g = NULL;
    skim_plan *p = NULL;
    if (skim_graph_build(e->ctx, &y, 1, &g) != SKIM_OK || skim_plan_create(e->be, g, NULL, &p) != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "param_range setup: %s", skim_context_error(e->ctx));
        return SKIM_OK;
    }
    skim_status s = skim_plan_set_param(p, prm, 11);
    set_msg(e, skim_plan_error(p));
    CHECK(skim_plan_set_param(p, prm, -1) == SKIM_ERR_RANGE, "set_param -1 accepted");
    CHECK(skim_plan_set_param(p, prm, 10) == SKIM_OK, "set_param 10 (the max) refused");
    skim_plan_destroy(p);
    return s;
}
static skim_status c_set_input_size(env *e) {
    skim_tensor *x, *y;
    skim_graph *g;
    skim_plan *p = small_plan(e, &x, &y, &g);
    if (!p) return SKIM_OK;
    float data[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    skim_status s = skim_plan_set_input(p, x, data, sizeof data);
    set_msg(e, skim_plan_error(p));
    CHECK(data[0] == 1 && data[8] == 9, "set_input changed the caller's buffer");
    skim_plan_destroy(p);
    return s;
}
static skim_status c_set_input_stray(env *e) {
    skim_tensor *x, *y;
    skim_graph *g;
    skim_tensor *stray = in2(e, 4, 2, "stray");
    skim_plan *p = small_plan(e, &x, &y, &g);
    if (!p) return SKIM_OK;
    float data[8] = {0};
    skim_status s = skim_plan_set_input(p, stray, data, sizeof data);
    set_msg(e, skim_plan_error(p));
    skim_plan_destroy(p);
    return s;
}
static skim_status c_set_param_not_param(env *e) {
    skim_tensor *x, *y;
    skim_graph *g;
    skim_plan *p = small_plan(e, &x, &y, &g);
    if (!p) return SKIM_OK;
    skim_status s = skim_plan_set_param(p, x, 1);
    set_msg(e, skim_plan_error(p));
    skim_plan_destroy(p);
    return s;
}
/* Runs small_plan with data; then calls f. */
static skim_plan *ran_plan(env *e, skim_tensor **x, skim_tensor **y, skim_graph **g) {
    skim_plan *p = small_plan(e, x, y, g);
    float data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    if (p && (skim_plan_set_input(p, *x, data, sizeof data) != SKIM_OK || skim_plan_run(p) != SKIM_OK))
        t_fail(__FILE__, __LINE__, "ran_plan: %s", skim_plan_error(p));
    return p;
}
static skim_status read_into_pattern(env *e, skim_plan *p, const skim_tensor *t, size_t size) {
    unsigned char buf[256];
    memset(buf, 0x77, sizeof buf);
    skim_status s = skim_plan_get_output(p, t, buf, size);
    set_msg(e, skim_plan_error(p));
    for (size_t i = 0; i < sizeof buf; i++)
        if (buf[i] != 0x77) {
            t_fail(__FILE__, __LINE__, "a failing get_output wrote the caller's buffer");
            break;
        }
    return s;
}
static skim_status c_read_intermediate(env *e) {
    skim_tensor *x, *y;
    skim_graph *g;
    skim_plan *p = ran_plan(e, &x, &y, &g);
    if (!p) return SKIM_OK;
    skim_tensor *mid = NULL;
    for (int i = 0; i < skim_graph_n_nodes(g); i++)
        if (strcmp(skim_tensor_name(skim_graph_node(g, i)), "mid") == 0) mid = skim_graph_node(g, i);
    CHECK(mid != NULL, "the intermediate is not among the graph's nodes");
    skim_status s = read_into_pattern(e, p, mid, 32);
    skim_plan_destroy(p);
    return s;
}
static skim_status c_output_before_run(env *e) {
    skim_tensor *x, *y;
    skim_graph *g;
    skim_plan *p = small_plan(e, &x, &y, &g);
    if (!p) return SKIM_OK;
    skim_status s = read_into_pattern(e, p, y, 32);
    skim_plan_destroy(p);
    return s;
}
static skim_status c_output_size(env *e) {
    skim_tensor *x, *y;
    skim_graph *g;
    skim_plan *p = ran_plan(e, &x, &y, &g);
    if (!p) return SKIM_OK;
    skim_status s = read_into_pattern(e, p, y, 31);
    skim_plan_destroy(p);
    return s;
}
static skim_status c_get_selection_not_sel(env *e) {
    skim_tensor *x, *y;
    skim_graph *g;
    skim_plan *p = ran_plan(e, &x, &y, &g);
    if (!p) return SKIM_OK;
    int32_t counts[4] = {-9, -9, -9, -9};
    skim_status s = skim_plan_get_selection(p, y, counts, NULL);
    set_msg(e, skim_plan_error(p));
    CHECK(counts[0] == -9, "a failing get_selection wrote counts");
    skim_plan_destroy(p);
    return s;
}
static skim_status c_plan_null_graph(env *e) {
    skim_plan *p = SENTINEL;
    skim_status s = skim_plan_create(e->be, NULL, NULL, &p);
    set_msg(e, skim_backend_error(e->be));
    CHECK(p == SENTINEL, "plan_create wrote out_plan on failure");
    return s;
}
static skim_status c_plan_ctx_error(env *e) {
    skim_tensor *a = in2(e, 4, 3, "a");
    skim_tensor *y = skim_scale(e->ctx, a, 2.0f);
    skim_graph *g = NULL;
    if (skim_graph_build(e->ctx, &y, 1, &g) != SKIM_OK) return SKIM_OK;
    skim_add(e->ctx, a, in2(e, 5, 3, "b")); /* an error after the build */
    skim_plan *p = SENTINEL;
    skim_status s = skim_plan_create(e->be, g, NULL, &p);
    set_msg(e, skim_backend_error(e->be));
    CHECK(p == SENTINEL, "plan_create wrote out_plan on failure");
    return s;
}
/* A head selection of capacity 2^40 (tokens): refused at plan time, before its words
 * (terabytes) or anything else are allocated. */
static skim_status c_plan_sel_capacity(env *e) {
    skim_tensor *sc = skim_new_input(e->ctx, SKIM_TYPE_F32, 2,
                                     (const int64_t[]){6, (int64_t)1 << 40});
    skim_tensor *y = skim_tensor_set_name(skim_head_gate(e->ctx, sc, 0.5f), "hugesel");
    skim_graph *g = NULL;
    if (!y || skim_graph_build(e->ctx, &y, 1, &g) != SKIM_OK) {
        t_fail(__FILE__, __LINE__, "the selection's graph: %s", skim_context_error(e->ctx));
        return SKIM_OK;
    }
    skim_plan *p = SENTINEL;
    skim_status s = skim_plan_create(e->be, g, NULL, &p);
    set_msg(e, skim_backend_error(e->be));
    CHECK(p == SENTINEL, "plan_create wrote out_plan on failure");
    skim_graph_destroy(g);
    return s;
}
static skim_status c_set_data_input(env *e) {
    float d[8] = {0};
    skim_status s = skim_tensor_set_data(in2(e, 4, 2, "x"), d, sizeof d);
    set_msg(e, "");
    return s;
}
static skim_status c_set_data_size(env *e) {
    float d[8] = {0};
    skim_tensor *w = skim_new_weight_2d(e->ctx, SKIM_TYPE_F32, 4, 2, NULL);
    skim_status s = skim_tensor_set_data(w, d, 7 * sizeof(float));
    set_msg(e, "");
    return s;
}
static skim_status c_graph_null_output(env *e) {
    skim_graph *g = SENTINEL;
    skim_tensor *outs[2] = {skim_scale(e->ctx, in2(e, 2, 2, "x"), 2.0f), NULL};
    skim_status s = skim_graph_build(e->ctx, outs, 2, &g);
    set_msg(e, skim_context_error(e->ctx));
    CHECK(g == SENTINEL, "graph_build wrote out_graph on failure");
    return s;
}
static skim_status c_context_create_null(env *e) {
    set_msg(e, "");
    return skim_context_create(NULL, NULL);
}
static skim_status c_cpu_threads(env *e) {
    skim_cpu_desc d = {0};
    d.n_threads = -2;
    skim_backend *be = SENTINEL;
    skim_status s = skim_backend_create_cpu(&d, &be);
    CHECK(be == SENTINEL, "backend_create_cpu wrote out_be on failure");
    set_msg(e, "");
    return s;
}
static skim_status c_cpu_isa(env *e) {
    skim_cpu_desc d = {0};
    d.max_isa = (skim_cpu_isa)(SKIM_CPU_ISA_AVX512 + 1);
    skim_backend *be = SENTINEL;
    skim_status s = skim_backend_create_cpu(&d, &be);
    CHECK(be == SENTINEL, "backend_create_cpu wrote out_be on failure");
    set_msg(e, "");
    return s;
}
static skim_status c_graph_empty(env *e) {
    skim_graph *g = SENTINEL;
    skim_tensor *none[1] = {NULL};
    skim_status s = skim_graph_build(e->ctx, none, 0, &g);
    set_msg(e, skim_context_error(e->ctx));
    CHECK(g == SENTINEL, "graph_build wrote out_graph on failure");
    return s;
}

/* ---------------------------------------------------------------- failing allocators */

/* A small gated graph: every kind of builder allocation. */
static skim_status build_some(skim_context *ctx, skim_graph **g) {
    skim_tensor *x = skim_new_input_2d(ctx, SKIM_TYPE_F32, 8, 6);
    skim_tensor *sel = skim_token_halt(ctx, skim_new_input_1d(ctx, SKIM_TYPE_F32, 6), 0.5f, NULL);
    skim_tensor *xs = skim_rms_norm(ctx, skim_get_rows_sel(ctx, x, sel), 1e-5f);
    skim_tensor *y = skim_scatter_add_sel(ctx, x, skim_scale(ctx, xs, 0.5f), sel);
    for (int i = 0; i < 20; i++) y = skim_add(ctx, y, x);
    return skim_graph_build(ctx, &y, 1, g);
}

static skim_status c_oom_build(env *e) {
    int ooms = 0;
    skim_status last = SKIM_OK;
    for (long at = 0; at < 100000; at++) {
        failing f = {0, at, 0};
        skim_context_desc d = {0};
        d.allocator.alloc = f_alloc;
        d.allocator.free = f_free;
        d.allocator.user = &f;
        skim_context *ctx = SENTINEL;
        skim_status s = skim_context_create(&d, &ctx);
        if (s != SKIM_OK) {
            CHECK(s == SKIM_ERR_OUT_OF_MEMORY && ctx == SENTINEL, "context_create failing alloc %ld -> %s", at,
                  skim_status_str(s));
            ooms++;
            last = s;
            set_msg(e, "out of memory");
            continue;
        }
        skim_graph *g = SENTINEL;
        s = build_some(ctx, &g);
        CHECK(s == SKIM_OK || s == SKIM_ERR_OUT_OF_MEMORY, "failing allocation %ld: build -> %s", at,
              skim_status_str(s));
        if (s != SKIM_OK) {
            CHECK(g == SENTINEL, "graph_build wrote out_graph on failure");
            ooms++;
            last = s;
            set_msg(e, skim_context_error(ctx));
        }
        skim_context_destroy(ctx);
        CHECK(f.live == 0, "failing allocation %ld: %ld blocks leaked", at, f.live);
        if (f.n <= at) { /* no allocation failed: the sweep is complete */
            CHECK(s == SKIM_OK, "build without failures -> %s", skim_status_str(s));
            break;
        }
    }
    CHECK(ooms > 0, "no allocation failure was injected");
    return last;
}

static skim_status c_oom_plan(env *e) {
    int ooms = 0;
    skim_status last = SKIM_OK;
    skim_graph *g = NULL;
    if (build_some(e->ctx, &g) != SKIM_OK) return SKIM_OK;
    for (long at = 0; at < 100000; at++) {
        failing f = {0, at, 0};
        skim_cpu_desc d = {0};
        d.n_threads = 2;
        d.allocator.alloc = f_alloc;
        d.allocator.free = f_free;
        d.allocator.user = &f;
        skim_backend *be = SENTINEL;
        skim_status s = skim_backend_create_cpu(&d, &be);
        if (s != SKIM_OK) {
            CHECK(s == SKIM_ERR_OUT_OF_MEMORY && be == SENTINEL, "backend_create failing alloc %ld -> %s", at,
                  skim_status_str(s));
            ooms++;
            last = s;
            CHECK(f.live == 0, "failing allocation %ld: %ld blocks leaked", at, f.live);
            continue;
        }
        skim_plan *p = SENTINEL;
        s = skim_plan_create(be, g, NULL, &p);
        CHECK(s == SKIM_OK || s == SKIM_ERR_OUT_OF_MEMORY, "failing allocation %ld: plan -> %s", at,
              skim_status_str(s));
        if (s != SKIM_OK) {
            CHECK(p == SENTINEL, "plan_create wrote out_plan on failure");
            ooms++;
            last = s;
            set_msg(e, skim_backend_error(be));
        } else {
            skim_plan_destroy(p);
        }
        skim_backend_destroy(be);
        CHECK(f.live == 0, "failing allocation %ld: %ld blocks leaked", at, f.live);
        if (f.n <= at) {
            CHECK(s == SKIM_OK, "plan without failures -> %s", skim_status_str(s));
            break;
        }
    }
    CHECK(ooms > 0, "no allocation failure was injected");
    return last;
}

/* ---------------------------------------------------------------- the table */

typedef struct mcase {
    const char *name;
    skim_status want;
    const char *substr; /* NULL: the call has no message to check */
    skim_status (*fn)(env *e);
} mcase;

static const mcase cases[] = {
    {"add: shapes differ", SKIM_ERR_SHAPE, "beta", c_add_shape},
    {"mul_mat: K differs", SKIM_ERR_SHAPE, "wq", c_mul_mat_k},
    {"mul_mat: x is I32", SKIM_ERR_TYPE, "xint", c_mul_mat_x_type},
    {"get_rows: idx is F32", SKIM_ERR_TYPE, "idxf", c_get_rows_idx_f32},
    {"get_rows: w is 3-D", SKIM_ERR_SHAPE, "w3", c_get_rows_3d},
    {"rope: odd n_dims", SKIM_ERR_SHAPE, "n_dims", c_rope_odd},
    {"rope: pos is F32", SKIM_ERR_TYPE, "posf", c_rope_pos_type},
    {"attn: KV heads do not divide heads", SKIM_ERR_SHAPE, "kc", c_attn_kv_heads},
    {"add: NULL argument", SKIM_ERR_INVALID_ARG, "add", c_null_arg},
    {"mul_mat_sel: a TOKENS selection", SKIM_ERR_SELECTION, "toks", c_mms_tokens},
    {"mul_mat_sel: selection capacity", SKIM_ERR_SELECTION, "heads4", c_mms_capacity},
    {"get_rows_sel: a HEADS selection", SKIM_ERR_SELECTION, "hs", c_grs_heads},
    {"scatter_add_sel: y unbounded", SKIM_ERR_SELECTION, "yfree", c_scatter_unbounded},
    {"head_gate: a transposed view", SKIM_ERR_NOT_CONTIGUOUS, "head_gate", c_gate_view},
    {"new_input: 2^80 elements", SKIM_ERR_TOO_LARGE, "overflow", c_oversized},
    {"context: max_tensors", SKIM_ERR_TOO_LARGE, "max_tensors", c_max_tensors},
    {"weight: Q8_0 with ne0 48", SKIM_ERR_SHAPE, "multiple", c_q8_ne0},
    {"new_input: 5 dims", SKIM_ERR_INVALID_ARG, "n_dims", c_n_dims5},
    {"new_input: ne0 = 0", SKIM_ERR_SHAPE, "ne[0]", c_ne_zero},
    {"add: a tensor of another context", SKIM_ERR_GRAPH, "stranger", c_foreign},
    {"set_rows: into a weight", SKIM_ERR_STATE, "wt", c_set_rows_weight},
    {"cpy: into an input", SKIM_ERR_STATE, "notstate", c_cpy_into_input},
    {"cpy: element counts differ", SKIM_ERR_SHAPE, "src4", c_cpy_count},
    {"select_topk: k = 0", SKIM_ERR_INVALID_ARG, "k = 0", c_topk_k0},
    {"token_halt: prev of another capacity", SKIM_ERR_SELECTION, "prev", c_halt_prev_cap},
    {"head_gate: tau NaN", SKIM_ERR_INVALID_ARG, "tau", c_gate_tau_nan},
    {"permute: a bounded tensor", SKIM_ERR_SELECTION, "compact", c_permute_bounded},
    {"attn: bounded k without k_pos", SKIM_ERR_SELECTION, "k_pos", c_attn_k_no_kpos},
    {"soft_max: mask shape", SKIM_ERR_SHAPE, "badmask", c_soft_max_mask},
    {"mul_mat_sel: block 0", SKIM_ERR_INVALID_ARG, "block", c_block_zero},
    {"view: outside its source", SKIM_ERR_SHAPE, "view", c_view_outside},
    {"scale: infinite factor", SKIM_ERR_INVALID_ARG, "scale", c_scale_inf},
    {"mul_mat_sel_k: 4-D x, result as mul_mat's w", SKIM_OK, NULL, c_sel_k_4d},
    {"node invariants: broken shapes refused", SKIM_ERR_GRAPH, "ne 2 is 0", c_node_invariants},
    {"memory plan: two live tensors overlap", SKIM_ERR_GRAPH, "overlaps two live tensors", c_plan_overlap},
    {"sticky: the first error wins", SKIM_ERR_SHAPE, "first", c_sticky},
    {"clear_error: building goes on", SKIM_OK, NULL, c_clear_error},
    {"run: an input never set", SKIM_ERR_STATE, "xin", c_run_before_input},
    {"set_param: out of range", SKIM_ERR_RANGE, "npast", c_param_range},
    {"set_param: not a parameter", SKIM_ERR_INVALID_ARG, "xin", c_set_param_not_param},
    {"set_input: wrong size", SKIM_ERR_SHAPE, "xin", c_set_input_size},
    {"set_input: not in the graph", SKIM_ERR_INVALID_ARG, "stray", c_set_input_stray},
    {"get_output: a non-output intermediate", SKIM_ERR_INVALID_ARG, "mid", c_read_intermediate},
    {"get_output: before the first run", SKIM_ERR_STATE, "yout", c_output_before_run},
    {"get_output: wrong size", SKIM_ERR_SHAPE, "yout", c_output_size},
    {"get_selection: not a selection", SKIM_ERR_INVALID_ARG, "yout", c_get_selection_not_sel},
    {"plan_create: NULL graph", SKIM_ERR_INVALID_ARG, "NULL", c_plan_null_graph},
    {"plan_create: the context has an error", SKIM_ERR_STATE, "error", c_plan_ctx_error},
    {"plan_create: a selection past int32 words", SKIM_ERR_TOO_LARGE, "capacity 1099511627776", c_plan_sel_capacity},
    {"set_data: on an input", SKIM_ERR_STATE, NULL, c_set_data_input},
    {"set_data: wrong size", SKIM_ERR_SHAPE, NULL, c_set_data_size},
    {"context_create: NULL out", SKIM_ERR_INVALID_ARG, NULL, c_context_create_null},
    {"cpu backend: -2 threads", SKIM_ERR_INVALID_ARG, NULL, c_cpu_threads},
    {"cpu backend: max_isa out of range", SKIM_ERR_INVALID_ARG, NULL, c_cpu_isa},
    {"graph_build: no outputs", SKIM_ERR_GRAPH, "outputs", c_graph_empty},
    {"graph_build: a NULL output", SKIM_ERR_INVALID_ARG, "output 1", c_graph_null_output},
    {"plan_create: a store of another backend", SKIM_ERR_INVALID_ARG, "store was created on backend", c_store_other_backend},
    {"plan_create: a store without the weight", SKIM_ERR_INVALID_ARG, "wother", c_store_missing_weight},
    {"plan_create: a store of another context", SKIM_ERR_INVALID_ARG, "another context", c_store_other_context},
    {"store_create: graphs of two contexts", SKIM_ERR_INVALID_ARG, "graph 1 is of another context", c_store_mixed_contexts},
    {"failing allocator: building", SKIM_ERR_OUT_OF_MEMORY, "out of memory", c_oom_build},
    {"failing allocator: planning", SKIM_ERR_OUT_OF_MEMORY, "out of memory", c_oom_plan},
};

int main(void) {
    char *report = NULL;
    size_t report_len = 0;
#if defined(_WIN32) /* no open_memstream: the report goes through a temporary file */
    t_out = tmpfile();
    (void)report_len;
#else
    t_out = open_memstream(&report, &report_len);
#endif
    FILE *cap = tmpfile();
    if (!t_out || !cap) return 1;
    fflush(stdout);
    fflush(stderr);
    int saved1 = dup(1), saved2 = dup(2);
    dup2(fileno(cap), 1);
    dup2(fileno(cap), 2);
    int n = (int)(sizeof cases / sizeof cases[0]), bad_cases = 0;
    for (int i = 0; i < n; i++) {
        const mcase *c = &cases[i];
        env e;
        memset(&e, 0, sizeof e);
        skim_context_desc d = {0};
        d.log = on_log;
        d.log_user = &e;
        int before = t_failures;
        if (skim_context_create(&d, &e.ctx) != SKIM_OK || skim_backend_create_cpu(NULL, &e.be) != SKIM_OK) {
            t_fail(__FILE__, __LINE__, "%s: setup failed", c->name);
            continue;
        }
        skim_status s = c->fn(&e);
        if (s != c->want)
            t_fail(__FILE__, __LINE__, "%s: status %s, want %s (message: %s)", c->name, skim_status_str(s),
                   skim_status_str(c->want), e.msg);
        else if (c->substr && !strstr(e.msg, c->substr))
            t_fail(__FILE__, __LINE__, "%s: message \"%s\" does not name \"%s\"", c->name, e.msg, c->substr);
        if (t_failures != before) {
            fprintf(t_out, "  case %d (%s) failed\n", i, c->name);
            bad_cases++;
        } else {
            fprintf(t_out, "ok   %-42s %s: %s\n", c->name, skim_status_str(s), e.msg);
        }
        skim_backend_destroy(e.be);
        skim_context_destroy(e.ctx);
    }
    fflush(stdout);
    fflush(stderr);
    dup2(saved1, 1);
    dup2(saved2, 2);
    long printed = ftell(cap) > 0 ? ftell(cap) : (fseek(cap, 0, SEEK_END), ftell(cap));
#if defined(_WIN32)
    long len = ftell(t_out);
    report = len >= 0 ? calloc((size_t)len + 1, 1) : NULL;
    rewind(t_out);
    if (report && fread(report, 1, (size_t)len, t_out) != (size_t)len) report[0] = '\0';
#endif
    fclose(t_out);
    t_out = NULL;
    fputs(report ? report : "report lost\n", stdout);
    free(report);
    if (printed > 0) {
        char buf[512] = {0};
        rewind(cap);
        size_t got = fread(buf, 1, sizeof buf - 1, cap);
        buf[got] = 0;
        t_fail(__FILE__, __LINE__, "the library printed %ld bytes to stdout/stderr: %s", printed, buf);
    }
    fclose(cap);
    printf("%d cases, %d failed; %s: %d failure(s)\n", n, bad_cases, t_failures ? "FAILED" : "PASSED", t_failures);
    return t_failures != 0;
}
