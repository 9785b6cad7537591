/* llama_session.c - a model planned on a backend: decode steps through the KV cache,
 * prefill chunks and the window prefill, run stats summed over runs, and the per-token
 * trace of the gates.
 *
 * A prompt runs chunk by chunk through the cached-form graphs llama.c builds (16, 64, ...,
 * n_batch tokens, and the decode graph for one), each attending to every cached position
 * before it: chunk_choice picks the chunks. All graphs are of one context and share one
 * store, so the weights and caches are held once however many plans there are; a plan is
 * made when first used, so a session that never calls skim_session_prefill holds no
 * window-prefill arena, and one that only prefills holds no chunk arenas. */
#include "llama_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct skim_session {
    skim_model *m;
    skim_backend *be;
    skim_store *store; /* weights once, and the caches both plans use */
    skim_plan_desc pd; /* of every plan */
    skim_plan *dec, *pre; /* pre: made by the first skim_session_prefill */
    skim_plan *win[SKIM_LLAMA_MAX_WINDOWS]; /* the model's chunks (m->win), made when used */
    int32_t n_past;
    int32_t *pre_tokens, *pre_pos; /* [n_batch] */
    float *pre_logits;             /* [n_vocab * n_batch], made by the first prefill */
    skim_run_stats dec_sum, pre_sum;
    char msg[SKIM_MODEL_MSG_LEN];
};

static skim_status fail(skim_session *s, skim_status st, const char *fmt, const char *detail) {
    snprintf(s->msg, sizeof s->msg, fmt, detail);
    return st;
}

static skim_status plan_fail(skim_session *s, skim_status st, const char *what, skim_plan *p) {
    snprintf(s->msg, sizeof s->msg, "%s: %s", what, skim_plan_error(p));
    return st;
}

static skim_status session_plan(skim_session *s, const skim_session_desc *d, char *msg,
                                size_t size) {
    const skim_model *m = s->m;
    skim_graph *graphs[2 + SKIM_LLAMA_MAX_WINDOWS] = {m->dec.graph, m->pre.graph};
    int ng = m->pre.graph ? 2 : 1;
    for (int i = 0; i < m->n_win; i++) {
        graphs[ng++] = m->win[i].graph;
    }
    skim_status st = skim_store_create(s->be, graphs, ng, &s->store);
    if (st != SKIM_OK) {
        return skim_llama_msg(msg, size, st, "session: placing the weights and caches on %s: %s",
                              skim_backend_name(s->be), skim_backend_error(s->be));
    }
    s->pd.mode = d ? d->mode : SKIM_MODE_SKIP;
    s->pd.store = s->store;
    s->pd.flags = d ? d->plan_flags : 0;
    st = skim_plan_create(s->be, s->m->dec.graph, &s->pd, &s->dec);
    if (st != SKIM_OK) {
        return skim_llama_msg(msg, size, st, "session: planning the decode graph on %s: %s",
                              skim_backend_name(s->be), skim_backend_error(s->be));
    }
    if (s->m->pre.graph) {
        size_t nb = (size_t)s->m->n_batch;
        const skim_allocator *a = &s->m->alloc;
        s->pre_tokens = skim_llama_alloc(a, nb * sizeof *s->pre_tokens);
        s->pre_pos = skim_llama_alloc(a, nb * sizeof *s->pre_pos);
        if (!s->pre_tokens || !s->pre_pos) {
            return skim_llama_msg(msg, size, SKIM_ERR_OUT_OF_MEMORY, "session: out of memory");
        }
    }
    return SKIM_OK;
}

/* *slot, the plan of graph g, made now when it is not yet: what names it in the error. */
static skim_status lazy_plan(skim_session *s, skim_plan **slot, skim_graph *g, const char *what,
                             int32_t n) {
    if (*slot) {
        return SKIM_OK;
    }
    skim_status st = skim_plan_create(s->be, g, &s->pd, slot);
    if (st != SKIM_OK) {
        snprintf(s->msg, sizeof s->msg, "planning the %d-token %s on %s: %s", (int)n, what,
                 skim_backend_name(s->be), skim_backend_error(s->be));
    }
    return st;
}

skim_status skim_session_create(skim_model *m, skim_backend *be, const skim_session_desc *desc,
                                skim_session **out, char *msg, size_t msg_size) {
    if (!m || !be || !out) {
        return skim_llama_msg(msg, msg_size, SKIM_ERR_INVALID_ARG, "session_create: NULL "
                              "argument");
    }
    skim_session *s = skim_llama_alloc(&m->alloc, sizeof *s);
    if (!s) {
        return skim_llama_msg(msg, msg_size, SKIM_ERR_OUT_OF_MEMORY, "session: out of memory");
    }
    s->m = m;
    s->be = be;
    skim_status st = session_plan(s, desc, msg, msg_size);
    if (st != SKIM_OK) {
        skim_session_destroy(s);
        return st;
    }
    *out = s;
    return SKIM_OK;
}

void skim_session_destroy(skim_session *s) {
    if (!s) {
        return;
    }
    skim_plan_destroy(s->dec);
    skim_plan_destroy(s->pre);
    for (int i = 0; i < SKIM_LLAMA_MAX_WINDOWS; i++) {
        skim_plan_destroy(s->win[i]);
    }
    skim_store_destroy(s->store);
    const skim_allocator *a = &s->m->alloc;
    skim_llama_free(a, s->pre_tokens);
    skim_llama_free(a, s->pre_pos);
    skim_llama_free(a, s->pre_logits);
    skim_llama_free(a, s);
}

const char *skim_session_error(const skim_session *s) { return s ? s->msg : "session is NULL"; }
int32_t skim_session_n_past(const skim_session *s) { return s ? s->n_past : 0; }
skim_plan *skim_session_decode_plan(const skim_session *s) { return s ? s->dec : NULL; }
skim_plan *skim_session_prefill_plan(const skim_session *s) { return s ? s->pre : NULL; }

skim_status skim_session_reset(skim_session *s) {
    if (!s) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_status st = skim_store_reset_states(s->store);
    if (st != SKIM_OK) {
        return fail(s, st, "reset: %s", skim_backend_error(s->be));
    }
    s->n_past = 0;
    return SKIM_OK;
}

/* The FLOPs a dropped sublayer would have cost a run of n tokens over `keys` keys: its
 * matrix products and attention, counted as graph/stats.c counts them (2 per multiply-add,
 * attention 4 * head_dim * keys per head and query); its norms and elementwise ops are
 * left out. */
static double dropped_flops(const skim_model *m, int64_t n, int64_t keys) {
    const skim_model_hparams *hp = &m->hp;
    double d = hp->n_embd, qd = (double)hp->n_head * hp->head_dim;
    double kvd = (double)hp->n_head_kv * hp->head_dim, ff = hp->n_ff;
    double attn = 2.0 * d * (qd + 2.0 * kvd) * n + 2.0 * qd * d * n +
                  4.0 * hp->head_dim * (double)keys * hp->n_head * n;
    double mlp = 2.0 * d * ff * (hp->ffn == SKIM_FFN_SWIGLU ? 3.0 : 2.0) * n;
    double rec = 8.0 * d * d * n; /* a recurrence's four products */
    return attn * skim_llama_popcount(m->drop_attn & ~m->rec_layers) +
           rec * skim_llama_popcount(m->drop_attn & m->rec_layers) +
           mlp * skim_llama_popcount(m->drop_mlp);
}

/* Adds the plan's last run of n tokens over `keys` keys; dropped sublayers count in the
 * dense figures with every head and token of the run, as full selections would (the
 * head and token-layer ops are counted at attention nodes, so a recurrence counts in
 * neither). */
static void add_stats(skim_run_stats *sum, const skim_plan *p, const skim_model *m, int32_t n,
                      int32_t keys) {
    skim_run_stats r;
    if (skim_plan_get_stats(p, &r) != SKIM_OK) {
        return;
    }
    int64_t n_attn = skim_llama_popcount(m->drop_attn & ~m->rec_layers);
    int64_t n_mlp = skim_llama_popcount(m->drop_mlp);
    sum->head_ops_executed += r.head_ops_executed;
    sum->head_ops_dense += r.head_ops_dense + n_attn * m->hp.n_head * n;
    sum->token_layer_ops_executed += r.token_layer_ops_executed;
    sum->token_layer_ops_dense += r.token_layer_ops_dense + n_attn * n;
    sum->sublayers_dropped += skim_llama_popcount(m->drop_attn) + n_mlp;
    sum->flops_dense += dropped_flops(m, n, keys);
    sum->flops_executed += r.flops_executed;
    sum->flops_dense += r.flops_dense;
    sum->nan_scores += r.nan_scores;
    sum->runs++;
    sum->submits += r.submits;
    sum->recordings += r.recordings;
    sum->dispatches += r.dispatches;
    sum->barriers += r.barriers;
    sum->workgroups += r.workgroups;
}

skim_status skim_session_decode(skim_session *s, int32_t token, float *logits) {
    if (!s) {
        return SKIM_ERR_INVALID_ARG;
    }
    const skim_model *m = s->m;
    if (token < 0 || token >= m->hp.n_vocab) {
        return fail(s, SKIM_ERR_RANGE, "decode: token id out of range%s", "");
    }
    if (s->n_past >= m->n_ctx) {
        return fail(s, SKIM_ERR_RANGE, "decode: the cache is full%s", "");
    }
    int32_t pos = s->n_past;
    skim_status st = skim_plan_set_input(s->dec, m->dec.tokens, &token, sizeof token);
    if (st == SKIM_OK) st = skim_plan_set_input(s->dec, m->dec.pos, &pos, sizeof pos);
    if (st == SKIM_OK) st = skim_plan_set_param(s->dec, m->dec.n_kv, pos + 1);
    if (st == SKIM_OK) st = skim_plan_run(s->dec);
    if (st == SKIM_OK && logits) {
        st = skim_plan_get_output(s->dec, m->dec.logits, logits,
                                  (size_t)m->hp.n_vocab * sizeof *logits);
    }
    if (st != SKIM_OK) {
        return plan_fail(s, st, "decode", s->dec);
    }
    add_stats(&s->dec_sum, s->dec, m, 1, pos + 1);
    s->n_past++;
    return SKIM_OK;
}

/* tokens[0..n-1] through the window prefill (the full n_batch window), positions 0..n-1:
 * the logits of its positions to s->pre_logits when want_logits; the caches then hold
 * positions 0..n-1. */
static skim_status prefill_run(skim_session *s, const int32_t *tokens, int32_t n,
                               bool want_logits) {
    const skim_model *m = s->m;
    if (!m->pre.graph) {
        return fail(s, SKIM_ERR_STATE, "prefill: the model was built without prefill%s", "");
    }
    if (n < 1 || n > m->n_batch) {
        return fail(s, SKIM_ERR_RANGE, "prefill: token count out of 1..n_batch%s", "");
    }
    const skim_llama_graph *G = &m->pre;
    const int32_t nw = G->n_tokens;
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
            return fail(s, SKIM_ERR_RANGE, "prefill: token id out of range%s", "");
        }
    }
    size_t nl = (size_t)m->hp.n_vocab * (size_t)nw * sizeof(float);
    if (!s->pre_logits && !(s->pre_logits = skim_llama_alloc(&m->alloc, nl))) {
        return fail(s, SKIM_ERR_OUT_OF_MEMORY, "prefill: out of memory%s", "");
    }
    skim_status st = lazy_plan(s, &s->pre, G->graph, "prefill window", nw);
    if (st != SKIM_OK) {
        return st;
    }
    for (int32_t i = 0; i < nw; i++) {
        s->pre_tokens[i] = i < n ? tokens[i] : 0;
        s->pre_pos[i] = i;
    }
    size_t nb = (size_t)nw * sizeof(int32_t);
    int32_t last = n - 1; /* the recurrences' state is the last real token's */
    st = skim_plan_set_input(s->pre, G->tokens, s->pre_tokens, nb);
    if (st == SKIM_OK) st = skim_plan_set_input(s->pre, G->pos, s->pre_pos, nb);
    if (st == SKIM_OK && G->last) st = skim_plan_set_input(s->pre, G->last, &last, sizeof last);
    if (st == SKIM_OK) st = skim_plan_run(s->pre);
    if (st == SKIM_OK && want_logits) {
        st = skim_plan_get_output(s->pre, G->logits, s->pre_logits, nl);
    }
    if (st != SKIM_OK) {
        return plan_fail(s, st, "prefill", s->pre);
    }
    add_stats(&s->pre_sum, s->pre, m, nw, nw);
    s->n_past = n;
    return SKIM_OK;
}

/* The chunk that starts a prompt's remaining r tokens: the index into m->win, or -1 for
 * a decode step. Chosen by the least cost over the whole rest, a run costing the rows it
 * computes plus RUN_COST rows: full chunks, and at the end one chunk padded past the
 * prompt when its padding fits in the cache's `slack` free positions after the prompt (a
 * padded row writes the cache at its position; the next token written there replaces
 * it before anything reads it). */
enum { RUN_COST = 8 };
static int chunk_choice(const skim_model *m, int32_t r, int32_t slack, int64_t *cost) {
    int best = -1;
    cost[0] = 0;
    for (int32_t x = 1; x <= r; x++) {
        cost[x] = cost[x - 1] + 1 + RUN_COST; /* a decode step */
        int bx = -1;
        for (int i = m->n_win - 1; i >= 0; i--) { /* ties: the larger chunk, fewer runs */
            int32_t w = m->win[i].n_tokens;
            int64_t c = w <= x ? w + RUN_COST + cost[x - w]
                        : w - x <= slack ? w + RUN_COST : INT64_MAX;
            if (c < cost[x]) {
                cost[x] = c;
                bx = i;
            }
        }
        best = bx;
    }
    return best;
}

/* One run of chunk `wi` (or a decode step when -1) on tokens[0..r-1] at positions
 * n_past..: the caches then hold them; logits (may be NULL) receives the last one's. */
static skim_status chunk_run(skim_session *s, int wi, const int32_t *tokens, int32_t r,
                             float *logits) {
    const skim_model *m = s->m;
    if (wi < 0) {
        skim_status st = SKIM_OK;
        for (int32_t i = 0; i < r && st == SKIM_OK; i++) {
            st = skim_session_decode(s, tokens[i], i == r - 1 ? logits : NULL);
        }
        return st;
    }
    const skim_llama_graph *G = &m->win[wi];
    const int32_t nw = G->n_tokens, past = s->n_past, last = r - 1;
    skim_status st = lazy_plan(s, &s->win[wi], G->graph, "prefill chunk", nw);
    if (st != SKIM_OK) {
        return st;
    }
    skim_plan *p = s->win[wi];
    for (int32_t i = 0; i < nw; i++) {
        s->pre_tokens[i] = i < r ? tokens[i] : 0;
        s->pre_pos[i] = past + i;
    }
    size_t nb = (size_t)nw * sizeof(int32_t);
    st = skim_plan_set_input(p, G->tokens, s->pre_tokens, nb);
    if (st == SKIM_OK) st = skim_plan_set_input(p, G->pos, s->pre_pos, nb);
    if (st == SKIM_OK) st = skim_plan_set_input(p, G->last, &last, sizeof last);
    if (st == SKIM_OK) st = skim_plan_set_param(p, G->n_kv, past + r);
    if (st == SKIM_OK) st = skim_plan_run(p);
    if (st == SKIM_OK && logits) {
        st = skim_plan_get_output(p, G->logits, logits, (size_t)m->hp.n_vocab * sizeof *logits);
    }
    if (st != SKIM_OK) {
        return plan_fail(s, st, "prompt", p);
    }
    add_stats(&s->pre_sum, p, m, nw, past + r);
    s->n_past = past + r;
    return SKIM_OK;
}

skim_status skim_session_prompt(skim_session *s, const int32_t *tokens, int32_t n, float *logits) {
    if (!s || n < 0 || (!tokens && n > 0)) {
        return SKIM_ERR_INVALID_ARG;
    }
    const skim_model *m = s->m;
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab) {
            return fail(s, SKIM_ERR_RANGE, "prompt: token id out of range%s", "");
        }
    }
    if (n > m->n_ctx - s->n_past) {
        return fail(s, SKIM_ERR_RANGE, "prompt: past the cache's end%s", "");
    }
    if (m->n_win == 0 || n <= 1) {
        return chunk_run(s, -1, tokens, n, logits);
    }
    int64_t *cost = skim_llama_alloc(&m->alloc, ((size_t)n + 1) * sizeof *cost);
    if (!cost) {
        return fail(s, SKIM_ERR_OUT_OF_MEMORY, "prompt: out of memory%s", "");
    }
    const int32_t slack = m->n_ctx - s->n_past - n;
    skim_status st = SKIM_OK;
    for (int32_t done = 0; done < n && st == SKIM_OK;) {
        int32_t r = n - done;
        int wi = chunk_choice(m, r, slack, cost);
        int32_t k = wi < 0 ? 1 : m->win[wi].n_tokens < r ? m->win[wi].n_tokens : r;
        st = chunk_run(s, wi, tokens + done, k, done + k == n ? logits : NULL);
        done += k;
    }
    skim_llama_free(&m->alloc, cost);
    return st;
}

skim_status skim_session_prefill(skim_session *s, const int32_t *tokens, int32_t n, float *logits) {
    if (!s || !tokens) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_status st = prefill_run(s, tokens, n, logits != NULL);
    if (st == SKIM_OK && logits) {
        memcpy(logits, s->pre_logits, (size_t)s->m->hp.n_vocab * (size_t)n * sizeof(float));
    }
    return st;
}

skim_status skim_session_prefill_read(skim_session *s, const skim_tensor *t, void *dst,
                                      size_t size) {
    if (!s) {
        return SKIM_ERR_INVALID_ARG;
    }
    if (!s->pre) {
        return fail(s, SKIM_ERR_STATE, "prefill_read: no prefill has run%s", "");
    }
    skim_status st = skim_plan_get_output(s->pre, t, dst, size);
    return st == SKIM_OK ? st : plan_fail(s, st, "prefill_read", s->pre);
}

skim_status skim_session_last_trace(skim_session *s, skim_token_trace *out) {
    if (!s || !out) {
        return SKIM_ERR_INVALID_ARG;
    }
    const skim_model *m = s->m;
    memset(out, 0, sizeof *out);
    out->depth = m->hp.n_layer;
    int32_t counts[64];
    for (int il = 0; il < m->hp.n_layer; il++) {
        skim_tensor *ts = m->dec.tok_sel[il], *hs = m->dec.head_sel[il];
        if (ts && out->depth == m->hp.n_layer) {
            skim_status st = skim_plan_get_selection(s->dec, ts, counts, NULL);
            if (st != SKIM_OK) {
                return plan_fail(s, st, "trace", s->dec);
            }
            if (counts[0] == 0) {
                out->depth = il;
            }
        }
        if (il >= out->depth || (m->drop_attn >> il & 1)) {
            continue;
        }
        if (!hs) {
            out->head_mask[il] = m->hp.n_head >= 64 ? ~0ull : (1ull << m->hp.n_head) - 1;
            continue;
        }
        skim_status st = skim_plan_get_selection(s->dec, hs, counts, NULL);
        if (st != SKIM_OK) {
            return plan_fail(s, st, "trace", s->dec);
        }
        for (int h = 0; h < m->hp.n_head && h < 64; h++) {
            if (counts[h] > 0) {
                out->head_mask[il] |= 1ull << h;
            }
        }
    }
    return SKIM_OK;
}

skim_status skim_session_query_bytes(const skim_session *s, uint64_t *weights,
                                     uint64_t *states, uint64_t *arenas) {
    if (!s) {
        return SKIM_ERR_INVALID_ARG;
    }
    uint64_t w = 0, st = 0, ar = 0;
    skim_status r = skim_store_query_bytes(s->store, &w, &st);
    if (r != SKIM_OK) {
        return r;
    }
    const skim_model *m = s->m;
    ar = s->dec ? skim_graph_arena_size(m->dec.graph) : 0;
    ar += s->pre ? skim_graph_arena_size(m->pre.graph) : 0;
    for (int i = 0; i < m->n_win; i++) {
        ar += s->win[i] ? skim_graph_arena_size(m->win[i].graph) : 0;
    }
    if (weights) *weights = w;
    if (states) *states = st;
    if (arenas) *arenas = ar;
    return SKIM_OK;
}

skim_status skim_session_get_stats(const skim_session *s, bool decode, skim_run_stats *out) {
    if (!s || !out) {
        return SKIM_ERR_INVALID_ARG;
    }
    *out = decode ? s->dec_sum : s->pre_sum;
    return SKIM_OK;
}
