/* llama.c - the llama-family and gated graph builders, and the model's life cycle.
 *
 * The graphs are built once on the model's context and share its weight tensors. The
 * block is written once for all: the cached form (the decode graph, one token, and the
 * prefill chunks of 16, 64, ..., n_batch tokens) adds the KV cache (set_rows into per-block
 * state tensors at the tokens' positions, attention over the cache with n_kv keys, causal
 * by position) and the gated model's key mask; the window prefill (the public one, whose
 * tensors skim_model_prefill_* name) attends within its window, where the keys of a block
 * are the compact rows of the tokens that run it (bounded by the block's selection), so
 * halted tokens are absent as keys without a mask. assets/README.md section 3 is the
 * gated forward pass this follows step by step. */
#include "llama_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct builder {
    skim_model *m;
    skim_context *ctx;
    skim_llama_graph *G;
    bool cached;                    /* attention over the KV cache (decode and chunks) */
    int32_t n;                      /* tokens per run */
    skim_tensor *ninf_n, *zeros_n;  /* [1, n] of -inf and of 0 (key mask writes) */
} builder;

static skim_tensor *name_it(skim_tensor *t, const char *fmt, int il) {
    if (t) {
        char name[SKIM_MAX_NAME];
        snprintf(name, sizeof name, fmt, il);
        skim_tensor_set_name(t, name);
    }
    return t;
}

static skim_tensor *norm(builder *b, skim_tensor *x, skim_tensor *w) {
    return skim_mul(b->ctx, skim_rms_norm(b->ctx, x, b->m->hp.eps), w);
}

/* The halting probability of every row of x (compact when x is): [1, rows]. */
static skim_tensor *halt_mlp(builder *b, const skim_llama_layer *L, skim_tensor *x) {
    skim_context *ctx = b->ctx;
    skim_tensor *h = norm(b, x, L->halt_norm);
    skim_tensor *u = skim_gelu(ctx, skim_add(ctx, skim_mul_mat(ctx, L->halt_up, h), L->halt_up_b));
    return skim_sigmoid(ctx, skim_add(ctx, skim_mul_mat(ctx, L->halt_down, u), L->halt_down_b));
}

/* The key mask of a block with halting: -inf at every position of the run (a token that
 * does not run the block is absent as a key, whatever an earlier sequence or a padded
 * prefill window left there), then zero at the positions of the tokens that run it. */
static skim_tensor *write_kmask(builder *b, skim_llama_layer *L, skim_tensor *pos_sel,
                                skim_tensor *sel) {
    skim_context *ctx = b->ctx;
    skim_tensor *km = skim_set_rows(ctx, L->kmask, b->ninf_n, b->G->pos);
    return skim_set_rows(ctx, km, skim_get_rows_sel(ctx, b->zeros_n, sel), pos_sel);
}

/* K and V of the current tokens written into the block's caches (and the key mask when
 * the block has halting). In the cached form (decode, chunks) the attention desc then
 * reads the caches: every position before the run and the run's own, causally; the
 * window prefill attends within its window and keeps the writes as outputs, so that a
 * decode plan sharing the states goes on from the cache it filled. */
static void write_kv(builder *b, int il, skim_tensor *k, skim_tensor *v, skim_tensor *pos,
                     skim_tensor *sel, skim_attn_desc *ad) {
    skim_context *ctx = b->ctx;
    skim_llama_layer *L = &b->m->layers[il];
    const skim_model_hparams *hp = &b->m->hp;
    const int64_t kv = (int64_t)hp->head_dim * hp->n_head_kv, nc = b->m->n_ctx;
    skim_tensor *kc = skim_set_rows(ctx, L->k_cache, skim_reshape_2d(ctx, k, kv, b->n), pos);
    skim_tensor *vc = skim_set_rows(ctx, L->v_cache, v, pos);
    skim_tensor *km = L->kmask && sel ? write_kmask(b, L, pos, sel) : NULL;
    if (!b->cached) {
        skim_llama_graph *G = b->G;
        G->writes[G->n_writes++] = kc;
        G->writes[G->n_writes++] = vc;
        if (km) G->writes[G->n_writes++] = km;
        return;
    }
    ad->k = skim_reshape_3d(ctx, kc, hp->head_dim, hp->n_head_kv, nc);
    ad->v = skim_reshape_3d(ctx, vc, hp->head_dim, hp->n_head_kv, nc);
    ad->n_kv = b->G->n_kv;
    if (km) {
        int64_t ne = nc;
        ad->kmask = skim_reshape(ctx, km, 1, &ne);
    }
}

/* Attention of block il on the normalised rows h (compact when sel is set), projected
 * back to the embedding. heads: the block's head selection or NULL. */
static skim_tensor *attention(builder *b, int il, skim_tensor *h, skim_tensor *pos,
                              skim_tensor *sel, skim_tensor *heads) {
    skim_context *ctx = b->ctx;
    skim_llama_layer *L = &b->m->layers[il];
    const skim_model_hparams *hp = &b->m->hp;
    const int hd = hp->head_dim;
    skim_tensor *q = heads ? skim_mul_mat_sel(ctx, L->wq, h, heads, hd)
                           : skim_mul_mat(ctx, L->wq, h);
    q = skim_rope(ctx, skim_reshape_3d(ctx, q, hd, hp->n_head, b->n), pos, SKIM_ROPE_NORM,
                  hp->rope_dims, hp->rope_base);
    skim_tensor *k = skim_reshape_3d(ctx, skim_mul_mat(ctx, L->wk, h), hd, hp->n_head_kv, b->n);
    k = name_it(skim_rope(ctx, k, pos, SKIM_ROPE_NORM, hp->rope_dims, hp->rope_base),
                "blk.%d.k", il);
    skim_tensor *v = name_it(skim_mul_mat(ctx, L->wv, h), "blk.%d.v", il);
    skim_attn_desc ad;
    memset(&ad, 0, sizeof ad);
    ad.q = name_it(q, "blk.%d.q", il);
    ad.q_pos = pos;
    ad.heads = heads;
    write_kv(b, il, k, v, pos, sel, &ad);
    if (!b->cached) {
        ad.k = k;
        ad.v = skim_reshape_3d(ctx, v, hd, hp->n_head_kv, b->n);
        ad.k_pos = pos;
    }
    skim_tensor *o = skim_reshape_2d(ctx, name_it(skim_attn(ctx, &ad), "blk.%d.attn", il),
                                     hp->n_embd, b->n);
    o = heads ? skim_mul_mat_sel_k(ctx, L->wo, o, heads, hd) : skim_mul_mat(ctx, L->wo, o);
    return name_it(o, "blk.%d.attn_out", il);
}

static skim_tensor *feed_forward(builder *b, int il, skim_tensor *x) {
    skim_context *ctx = b->ctx;
    const skim_llama_layer *L = &b->m->layers[il];
    skim_tensor *h = name_it(norm(b, x, L->ffn_norm), "blk.%d.ffn_norm", il), *u;
    if (b->m->hp.ffn == SKIM_FFN_SWIGLU) {
        u = skim_swiglu(ctx, skim_mul_mat(ctx, L->ffn_gate, h), skim_mul_mat(ctx, L->ffn_up, h));
    } else {
        u = skim_gelu(ctx, skim_mul_mat(ctx, L->ffn_up, h));
    }
    return skim_mul_mat(ctx, L->ffn_down, u);
}

/* The linear recurrence of block il in place of attention (assets/README.md section 9),
 * over every token of the normalised residual stream h (halted tokens too: the state
 * advances on each token). The state is read in the cached graphs (decode and chunks) and
 * written by every graph: with n > 1 from the row of the last real token (G->last), not
 * from the padding. */
static skim_tensor *recurrence(builder *b, int il, skim_tensor *h) {
    skim_context *ctx = b->ctx;
    skim_llama_layer *L = &b->m->layers[il];
    skim_llama_graph *G = b->G;
    skim_tensor *v = skim_mul_mat(ctx, L->rec_x, h);
    skim_tensor *ga = skim_sigmoid(ctx, skim_add(ctx, skim_mul_mat(ctx, L->rec_a, h), L->rec_a_b));
    skim_tensor *gb = skim_sigmoid(ctx, skim_add(ctx, skim_mul_mat(ctx, L->rec_b, h), L->rec_b_b));
    skim_tensor *y = name_it(skim_linear_rec(ctx, v, ga, gb, b->cached ? L->rec_state : NULL),
                             "blk.%d.rec", il);
    skim_tensor *last = b->n == 1 ? y : skim_get_rows(ctx, y, G->last);
    G->writes[G->n_writes++] = name_it(skim_cpy(ctx, last, L->rec_state), "blk.%d.rec_write", il);
    return name_it(skim_mul_mat(ctx, L->rec_out, y), "blk.%d.attn_out", il);
}

/* The block's head selection: its gate's (gated), the static head mask's, or NULL. */
static skim_tensor *block_heads(builder *b, int il, skim_tensor *h) {
    skim_context *ctx = b->ctx;
    skim_llama_layer *L = &b->m->layers[il];
    skim_tensor *mask = b->m->head_mask[il], *heads = NULL;
    if (b->m->gated) {
        skim_tensor *sc = skim_mul_mat(ctx, L->gate_w, h);
        sc = skim_sigmoid(ctx, skim_add(ctx, sc, L->gate_b));
        sc = mask ? skim_mul(ctx, sc, mask) : sc;
        heads = skim_head_gate(ctx, name_it(sc, "blk.%d.gate", il), b->m->hp.gate_tau);
    } else if (mask) {
        heads = skim_head_gate(ctx, mask, 0.5f);
    }
    return name_it(heads, "blk.%d.heads", il);
}

/* One block on the residual stream x [n_embd, n]; sel: the tokens that run it (NULL:
 * all). Returns the new residual stream (unbounded; x itself when both sublayers are
 * dropped). A dropped sublayer adds no node. */
static skim_tensor *block(builder *b, int il, skim_tensor *x, skim_tensor *sel) {
    skim_context *ctx = b->ctx;
    skim_llama_layer *L = &b->m->layers[il];
    bool run_attn = !(b->m->drop_attn >> il & 1), run_mlp = !(b->m->drop_mlp >> il & 1);
    skim_tensor *xa = sel ? skim_get_rows_sel(ctx, x, sel) : x;
    skim_tensor *att = NULL, *ff = NULL, *xa2 = xa;
    if (run_attn && (b->m->rec_layers >> il & 1)) {
        skim_tensor *h = name_it(norm(b, x, L->attn_norm), "blk.%d.attn_norm", il);
        skim_tensor *r = recurrence(b, il, h);
        att = sel ? skim_get_rows_sel(ctx, r, sel) : r;
        xa2 = skim_add(ctx, xa, att);
    } else if (run_attn) {
        skim_tensor *pos = sel ? skim_get_rows_sel(ctx, b->G->pos, sel) : b->G->pos;
        skim_tensor *h = name_it(norm(b, xa, L->attn_norm), "blk.%d.attn_norm", il);
        skim_tensor *heads = block_heads(b, il, h);
        b->G->head_sel[il] = heads;
        att = attention(b, il, h, pos, sel, heads);
        /* X += attn, then X += mlp, in that order, as the reference does (same rounding). */
        xa2 = skim_add(ctx, xa, att);
    }
    if (run_mlp) {
        ff = name_it(feed_forward(b, il, xa2), "blk.%d.ffn_out", il);
    }
    if (!sel) {
        return ff ? skim_add(ctx, xa2, ff) : xa2;
    }
    skim_tensor *x1 = att ? skim_scatter_add_sel(ctx, x, att, sel) : x;
    return ff ? skim_scatter_add_sel(ctx, x1, ff, sel) : x1;
}

static skim_status build_outputs(builder *b, bool debug, char *msg, size_t size);

/* A graph of n tokens per run: cached (attention over the KV cache, n_kv a parameter:
 * the decode graph when n is 1, a prefill chunk otherwise) or the window prefill. */
static skim_status build_graph(skim_model *m, skim_llama_graph *G, bool cached, int32_t n,
                               bool debug, char *msg, size_t size) {
    skim_context *ctx = m->ctx;
    builder b = {m, ctx, G, cached, n, m->ninf_batch, m->zeros_batch};
    if (n == 1) {
        b.ninf_n = m->ninf1;
        b.zeros_n = m->zeros;
    } else if (n < m->n_batch && m->gated) { /* the first n of the n_batch values */
        int64_t ne[2] = {1, n};
        b.ninf_n = skim_new_weight(ctx, SKIM_TYPE_F32, 2, ne, m->ninf_values);
        b.zeros_n = skim_new_weight(ctx, SKIM_TYPE_F32, 2, ne, m->zero_values);
    }
    G->n_tokens = n;
    G->tokens = skim_tensor_set_name(skim_new_input_1d(ctx, SKIM_TYPE_I32, n), "tokens");
    G->pos = skim_tensor_set_name(skim_new_input_1d(ctx, SKIM_TYPE_I32, n), "pos");
    if (cached) {
        G->n_kv = skim_tensor_set_name(skim_new_param(ctx, 1, m->n_ctx, 1), "n_kv");
    }
    if (n > 1 && (cached || (m->rec_layers & ~m->drop_attn))) {
        G->last = skim_tensor_set_name(skim_new_input_1d(ctx, SKIM_TYPE_I32, 1), "last");
    }
    skim_tensor *x = skim_tensor_set_name(skim_get_rows(ctx, m->tok_embd, G->tokens), "embd");
    skim_tensor *prev = NULL;
    for (int il = 0; il < m->hp.n_layer && x; il++) {
        skim_tensor *sel = NULL;
        if (m->gated && il >= m->hp.halt_first) {
            skim_tensor *xin = prev ? name_it(skim_get_rows_sel(ctx, x, prev), "blk.%d.halt_in", il)
                                    : x;
            skim_tensor *p = name_it(halt_mlp(&b, &m->layers[il], xin), "blk.%d.p_halt", il);
            sel = name_it(skim_token_halt(ctx, p, m->hp.halt_tau, prev), "blk.%d.tokens", il);
            prev = sel;
        }
        G->tok_sel[il] = sel;
        skim_tensor *y = block(&b, il, x, sel);
        x = y == x ? y : name_it(y, "blk.%d.out", il);
        G->hidden[il] = x;
    }
    if (cached && n > 1 && x) { /* a chunk: the logits of one row, its last real token's */
        x = skim_get_rows(ctx, x, G->last);
    }
    G->logits = skim_tensor_set_name(skim_mul_mat(ctx, m->output, norm(&b, x, m->out_norm)),
                                     "logits");
    return build_outputs(&b, debug, msg, size);
}

/* The debug form: every op result of the graph (not views or selections) an output. */
static skim_status all_outputs(builder *b, char *msg, size_t size) {
    skim_llama_graph *G = b->G;
    int n = skim_graph_n_nodes(G->graph), k = 0;
    skim_tensor **outs = skim_llama_alloc(&b->m->alloc, ((size_t)n + 1) * sizeof *outs);
    if (!outs) {
        return skim_llama_msg(msg, size, SKIM_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    for (int i = 0; i < n; i++) {
        skim_tensor *t = skim_graph_node(G->graph, i);
        skim_type ty = skim_tensor_type(t);
        if (skim_tensor_get_kind(t) == SKIM_KIND_NODE && !skim_tensor_is_selection(t) &&
            (ty == SKIM_TYPE_F32 || ty == SKIM_TYPE_I32)) {
            outs[k++] = t;
        }
    }
    skim_graph_destroy(G->graph);
    G->graph = NULL;
    skim_status s = skim_graph_build(b->ctx, outs, k, &G->graph);
    skim_llama_free(&b->m->alloc, outs);
    if (s != SKIM_OK) {
        return skim_llama_msg(msg, size, s, "model: debug graph: %s", skim_context_error(b->ctx));
    }
    return SKIM_OK;
}

static skim_status build_outputs(builder *b, bool debug, char *msg, size_t size) {
    skim_llama_graph *G = b->G;
    skim_tensor *outs[4 * SKIM_LLAMA_MAX_LAYERS + 1];
    int n = 0;
    outs[n++] = G->logits;
    if (!b->cached) {
        for (int il = 0; il < b->m->hp.n_layer; il++) {
            /* A block with both sublayers dropped passes its input on: one output. */
            if (il == 0 || G->hidden[il] != G->hidden[il - 1]) {
                outs[n++] = G->hidden[il];
            }
        }
    }
    for (int i = 0; i < G->n_writes; i++) {
        outs[n++] = G->writes[i];
    }
    skim_status s = skim_graph_build(b->ctx, outs, n, &G->graph);
    if (s != SKIM_OK) {
        return skim_llama_msg(msg, size, s, "model: building the %s graph: %s",
                              !b->cached ? "prefill" : b->n == 1 ? "decode" : "prefill chunk",
                              skim_context_error(b->ctx));
    }
    return debug && !b->cached ? all_outputs(b, msg, size) : SKIM_OK;
}

static skim_status make_states(skim_model *m, char *msg, size_t size) {
    const skim_model_hparams *hp = &m->hp;
    const int64_t kv = (int64_t)hp->head_dim * hp->n_head_kv;
    for (int il = 0; il < hp->n_layer; il++) {
        skim_llama_layer *L = &m->layers[il];
        int64_t ne[2] = {kv, m->n_ctx}, nm[2] = {1, m->n_ctx};
        if (m->drop_attn >> il & 1) {
            continue; /* nothing reads or writes a dropped attention's caches */
        }
        if (m->rec_layers >> il & 1) {
            int64_t nr[2] = {hp->n_embd, 1};
            L->rec_state = name_it(skim_new_state(m->ctx, SKIM_TYPE_F32, 2, nr, 0.0f),
                                   "blk.%d.rec_state", il);
            continue;
        }
        L->k_cache = name_it(skim_new_state(m->ctx, SKIM_TYPE_F32, 2, ne, 0.0f), "blk.%d.k_cache",
                             il);
        L->v_cache = name_it(skim_new_state(m->ctx, SKIM_TYPE_F32, 2, ne, 0.0f), "blk.%d.v_cache",
                             il);
        if (m->gated && il >= hp->halt_first) {
            L->kmask = name_it(skim_new_state(m->ctx, SKIM_TYPE_F32, 2, nm, -INFINITY),
                               "blk.%d.kmask", il);
        }
    }
    /* -inf rows for the key masks' writes: one (decode), n_batch (prefill). */
    size_t nr = m->n_batch > 1 ? (size_t)m->n_batch : 1;
    m->ninf_values = skim_llama_alloc(&m->alloc, nr * sizeof *m->ninf_values);
    if (!m->ninf_values) {
        return skim_llama_msg(msg, size, SKIM_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    for (size_t i = 0; i < nr; i++) {
        m->ninf_values[i] = -INFINITY;
    }
    m->zero_values = skim_llama_alloc(&m->alloc, nr * sizeof *m->zero_values); /* zeroed */
    if (!m->zero_values) {
        return skim_llama_msg(msg, size, SKIM_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    int64_t n1[2] = {1, 1}, nb[2] = {1, (int64_t)nr};
    m->zeros_batch = skim_new_weight(m->ctx, SKIM_TYPE_F32, 2, nb, m->zero_values);
    m->ninf1 = skim_new_weight(m->ctx, SKIM_TYPE_F32, 2, n1, m->ninf_values);
    m->ninf_batch = skim_new_weight(m->ctx, SKIM_TYPE_F32, 2, nb, m->ninf_values);
    if (skim_context_status(m->ctx) != SKIM_OK) {
        return skim_llama_msg(msg, size, skim_context_status(m->ctx), "model: states: %s",
                              skim_context_error(m->ctx));
    }
    return SKIM_OK;
}

skim_status skim_llama_build(skim_model *m, bool debug_outputs, char *msg, size_t size) {
    skim_status s = make_states(m, msg, size);
    if (s == SKIM_OK) {
        s = build_graph(m, &m->dec, true, 1, false, msg, size);
    }
    if (s == SKIM_OK && m->n_batch > 0) {
        s = build_graph(m, &m->pre, false, m->n_batch, debug_outputs, msg, size);
    }
    /* The chunks a prompt runs through (cached form, smaller than n_batch, then n_batch). */
    for (int32_t n = SKIM_LLAMA_MIN_WINDOW; s == SKIM_OK && n < m->n_batch &&
         m->n_win < SKIM_LLAMA_MAX_WINDOWS - 1; n *= SKIM_LLAMA_WINDOW_STEP) {
        s = build_graph(m, &m->win[m->n_win++], true, n, false, msg, size);
    }
    if (s == SKIM_OK && m->n_batch > 1) {
        s = build_graph(m, &m->win[m->n_win++], true, m->n_batch, false, msg, size);
    }
    return s;
}

/* ---------------------------------------------------------------- life cycle */

/* desc's layer drop and static head mask: checked, the mask copied as 0/1 scores into one
 * weight [n_head] per block. */
static skim_status layer_choices(skim_model *m, const skim_model_desc *d, char *msg,
                                 size_t size) {
    const skim_model_hparams *hp = &m->hp;
    uint64_t all = hp->n_layer >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << hp->n_layer) - 1;
    if ((d->drop_attn | d->drop_mlp) & ~all) {
        return skim_llama_msg(msg, size, SKIM_ERR_INVALID_ARG, "model: a dropped sublayer past "
                              "the model's %d blocks", hp->n_layer);
    }
    m->drop_attn = d->drop_attn;
    m->drop_mlp = d->drop_mlp;
    if (!d->head_mask) {
        return SKIM_OK;
    }
    size_t nh = (size_t)hp->n_head, n = (size_t)hp->n_layer * nh;
    m->head_mask_values = skim_llama_alloc(&m->alloc, n * sizeof *m->head_mask_values);
    if (!m->head_mask_values) {
        return skim_llama_msg(msg, size, SKIM_ERR_OUT_OF_MEMORY, "model: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        m->head_mask_values[i] = d->head_mask[i] < 0.5f ? 0.0f : 1.0f; /* NaN: 1 */
    }
    for (int il = 0; il < hp->n_layer; il++) {
        int64_t ne = hp->n_head;
        m->head_mask[il] = name_it(skim_new_weight(m->ctx, SKIM_TYPE_F32, 1, &ne,
                                                   m->head_mask_values + (size_t)il * nh),
                                   "blk.%d.head_mask", il);
    }
    if (skim_context_status(m->ctx) != SKIM_OK) {
        return skim_llama_msg(msg, size, skim_context_status(m->ctx), "model: head mask: %s",
                              skim_context_error(m->ctx));
    }
    return SKIM_OK;
}

static skim_status model_init(skim_model *m, const skim_model_desc *d, char *msg, size_t size) {
    skim_context_desc cd;
    memset(&cd, 0, sizeof cd);
    cd.allocator = d->allocator;
    skim_status s = skim_context_create(&cd, &m->ctx);
    if (s != SKIM_OK) {
        return skim_llama_msg(msg, size, s, "model: cannot create a context");
    }
    if ((s = skim_llama_load_weights(m, msg, size)) != SKIM_OK) {
        return s;
    }
    m->gated = m->hp.arch == SKIM_ARCH_GATED && !m->dense;
    if (d->gate_tau > 0.0f) m->hp.gate_tau = d->gate_tau;
    if (d->halt_tau > 0.0f) m->hp.halt_tau = d->halt_tau;
    if ((s = layer_choices(m, d, msg, size)) != SKIM_OK) {
        return s;
    }
    m->n_ctx = d->n_ctx > 0 ? d->n_ctx : m->hp.n_ctx_train;
    m->n_batch = d->n_batch < 0 ? 0 : d->n_batch > 0 ? d->n_batch : m->n_ctx;
    if (m->n_batch > m->n_ctx) {
        return skim_llama_msg(msg, size, SKIM_ERR_INVALID_ARG, "model: n_batch %d exceeds n_ctx "
                              "%d", m->n_batch, m->n_ctx);
    }
    return skim_llama_build(m, d->debug_outputs, msg, size);
}

skim_status skim_model_load(const skim_gguf *g, const skim_model_desc *desc, skim_model **out,
                            char *msg, size_t msg_size) {
    if (!g || !out) {
        return skim_llama_msg(msg, msg_size, SKIM_ERR_INVALID_ARG, "model_load: NULL argument");
    }
    skim_model_desc d;
    memset(&d, 0, sizeof d);
    if (desc) {
        d = *desc;
    }
    skim_allocator a = d.allocator;
    skim_model *m = skim_llama_alloc(&a, sizeof *m);
    if (!m) {
        return skim_llama_msg(msg, msg_size, SKIM_ERR_OUT_OF_MEMORY, "model_load: out of memory");
    }
    m->alloc = a;
    m->gguf = g;
    m->dense = d.dense;
    skim_status s = model_init(m, &d, msg, msg_size);
    if (s != SKIM_OK) {
        skim_model_destroy(m);
        return s;
    }
    *out = m;
    return SKIM_OK;
}

skim_status skim_model_load_file(const char *path, const skim_model_desc *desc, skim_model **out,
                                 char *msg, size_t msg_size) {
    if (!path || !out) {
        return skim_llama_msg(msg, msg_size, SKIM_ERR_INVALID_ARG, "model_load: NULL argument");
    }
    skim_gguf_desc gd;
    memset(&gd, 0, sizeof gd);
    if (desc) {
        gd.allocator = desc->allocator;
    }
    skim_gguf *g = NULL;
    skim_gguf_error err;
    skim_status s = skim_gguf_open_file(path, &gd, &g, &err);
    if (s != SKIM_OK) {
        return skim_llama_msg(msg, msg_size, s, "%s: %s", path, err.msg);
    }
    skim_model *m = NULL;
    s = skim_model_load(g, desc, &m, msg, msg_size);
    if (s != SKIM_OK) {
        skim_gguf_destroy(g);
        return s;
    }
    m->owned = g;
    *out = m;
    return SKIM_OK;
}

void skim_model_destroy(skim_model *m) {
    if (!m) {
        return;
    }
    skim_context_destroy(m->ctx); /* frees its graphs too */
    skim_gguf_destroy(m->owned);
    skim_allocator a = m->alloc;
    skim_llama_free(&a, m->ninf_values);
    skim_llama_free(&a, m->zero_values);
    skim_llama_free(&a, m->head_mask_values);
    skim_llama_free(&a, m);
}

const skim_model_hparams *skim_model_get_hparams(const skim_model *m) { return m ? &m->hp : NULL; }
const skim_gguf *skim_model_gguf(const skim_model *m) { return m ? m->gguf : NULL; }
bool skim_model_is_dense(const skim_model *m) { return m && !m->gated; }
int32_t skim_model_n_ctx(const skim_model *m) { return m ? m->n_ctx : 0; }
int32_t skim_model_n_batch(const skim_model *m) { return m ? m->n_batch : 0; }
bool skim_model_sublayer_dropped(const skim_model *m, int layer, bool mlp) {
    if (!m || layer < 0 || layer >= m->hp.n_layer) {
        return false;
    }
    return ((mlp ? m->drop_mlp : m->drop_attn) >> layer & 1) != 0;
}

bool skim_model_head_pruned(const skim_model *m, int layer, int head) {
    if (!m || !m->head_mask_values || layer < 0 || layer >= m->hp.n_layer || head < 0 ||
        head >= m->hp.n_head) {
        return false;
    }
    return m->head_mask_values[(size_t)layer * (size_t)m->hp.n_head + (size_t)head] == 0.0f;
}

skim_graph *skim_model_decode_graph(const skim_model *m) { return m ? m->dec.graph : NULL; }
skim_graph *skim_model_prefill_graph(const skim_model *m) { return m ? m->pre.graph : NULL; }

skim_tensor *skim_model_prefill_hidden(const skim_model *m, int layer) {
    if (!m || !m->pre.graph || layer < 0 || layer > m->hp.n_layer) {
        return NULL;
    }
    return m->pre.hidden[layer < m->hp.n_layer ? layer : m->hp.n_layer - 1];
}

skim_tensor *skim_model_prefill_logits(const skim_model *m) {
    return m && m->pre.graph ? m->pre.logits : NULL;
}

skim_tensor *skim_model_prefill_tokens(const skim_model *m) {
    return m && m->pre.graph ? m->pre.tokens : NULL;
}

skim_tensor *skim_model_cache(const skim_model *m, int layer, int which) {
    if (!m || layer < 0 || layer >= m->hp.n_layer) {
        return NULL;
    }
    const skim_llama_layer *L = &m->layers[layer];
    return which == 0 ? L->k_cache : which == 1 ? L->v_cache : which == 2 ? L->kmask : NULL;
}
