/* llama_session.c - a model planned on a backend: decode steps through the KV cache,
 * prefill windows, run stats summed over runs, and the per-token trace of the gates.
 *
 * A prompt runs through the smallest prefill window that holds it: the full n_batch
 * window and the smaller ones llama.c builds are plans of graphs of one context, sharing
 * one store, so the weights and caches are held once however many windows there are. */
#include "llama_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct skim_session {
    skim_model *m;
    skim_backend *be;
    skim_store *store; /* weights once, and the caches both plans use */
    skim_plan *dec, *pre;
    skim_plan *win[SKIM_LLAMA_MAX_WINDOWS]; /* the model's smaller windows (m->win) */
    int32_t n_past;
    int32_t *pre_tokens, *pre_pos; /* [n_batch] */
    float *pre_logits;             /* [n_vocab * n_batch] */
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
    skim_plan_desc pd;
    memset(&pd, 0, sizeof pd);
    pd.mode = d ? d->mode : SKIM_MODE_SKIP;
    pd.store = s->store;
    pd.flags = d ? d->plan_flags : 0;
    st = skim_plan_create(s->be, s->m->dec.graph, &pd, &s->dec);
    if (st != SKIM_OK) {
        return skim_llama_msg(msg, size, st, "session: planning the decode graph on %s: %s",
                              skim_backend_name(s->be), skim_backend_error(s->be));
    }
    if (s->m->pre.graph) {
        st = skim_plan_create(s->be, s->m->pre.graph, &pd, &s->pre);
        if (st != SKIM_OK) {
            return skim_llama_msg(msg, size, st, "session: planning the prefill graph on %s: "
                                  "%s", skim_backend_name(s->be), skim_backend_error(s->be));
        }
        for (int i = 0; i < m->n_win; i++) {
            st = skim_plan_create(s->be, m->win[i].graph, &pd, &s->win[i]);
            if (st != SKIM_OK) {
                return skim_llama_msg(msg, size, st, "session: planning the %d-token prefill "
                                      "window on %s: %s", m->win[i].n_tokens,
                                      skim_backend_name(s->be), skim_backend_error(s->be));
            }
        }
        size_t nb = (size_t)s->m->n_batch;
        const skim_allocator *a = &s->m->alloc;
        s->pre_tokens = skim_llama_alloc(a, nb * sizeof *s->pre_tokens);
        s->pre_pos = skim_llama_alloc(a, nb * sizeof *s->pre_pos);
        s->pre_logits = skim_llama_alloc(a, nb * (size_t)s->m->hp.n_vocab * sizeof *s->pre_logits);
        if (!s->pre_tokens || !s->pre_pos || !s->pre_logits) {
            return skim_llama_msg(msg, size, SKIM_ERR_OUT_OF_MEMORY, "session: out of memory");
        }
        for (size_t i = 0; i < nb; i++) {
            s->pre_pos[i] = (int32_t)i;
        }
    }
    return SKIM_OK;
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

/* tokens[0..n-1] through a prefill window (the full one, or with `smallest` the smallest
 * that holds n tokens): logits of its positions to s->pre_logits when want_logits; the
 * caches then hold positions 0..n-1. */
static skim_status prefill_run(skim_session *s, const int32_t *tokens, int32_t n,
                               bool want_logits, bool smallest) {
    const skim_model *m = s->m;
    if (!s->pre) {
        return fail(s, SKIM_ERR_STATE, "prefill: the model was built without prefill%s", "");
    }
    if (n < 1 || n > m->n_batch) {
        return fail(s, SKIM_ERR_RANGE, "prefill: token count out of 1..n_batch%s", "");
    }
    skim_plan *p = s->pre;
    const skim_llama_graph *G = &m->pre;
    for (int i = 0; smallest && i < m->n_win && p == s->pre; i++) {
        if (n <= m->win[i].n_tokens) {
            p = s->win[i];
            G = &m->win[i];
        }
    }
    const int32_t nw = G->n_tokens;
    for (int32_t i = 0; i < nw; i++) {
        int32_t t = i < n ? tokens[i] : 0;
        if (t < 0 || t >= m->hp.n_vocab) {
            return fail(s, SKIM_ERR_RANGE, "prefill: token id out of range%s", "");
        }
        s->pre_tokens[i] = t;
    }
    size_t nb = (size_t)nw * sizeof(int32_t);
    skim_status st = skim_plan_set_input(p, G->tokens, s->pre_tokens, nb);
    if (st == SKIM_OK) st = skim_plan_set_input(p, G->pos, s->pre_pos, nb);
    int32_t last = n - 1; /* the recurrences' state is the last real token's */
    if (st == SKIM_OK && G->last) st = skim_plan_set_input(p, G->last, &last, sizeof last);
    if (st == SKIM_OK) st = skim_plan_run(p);
    size_t nl = (size_t)m->hp.n_vocab * (size_t)nw * sizeof(float);
    if (st == SKIM_OK && want_logits) {
        st = skim_plan_get_output(p, G->logits, s->pre_logits, nl);
    }
    if (st != SKIM_OK) {
        return plan_fail(s, st, "prefill", p);
    }
    add_stats(&s->pre_sum, p, m, nw, nw);
    s->n_past = n;
    return SKIM_OK;
}

skim_status skim_session_prompt(skim_session *s, const int32_t *tokens, int32_t n, float *logits) {
    if (!s || (!tokens && n > 0)) {
        return SKIM_ERR_INVALID_ARG;
    }
    int32_t done = 0;
    if (s->pre && s->n_past == 0 && n >= 1) {
        /* The first n_batch tokens in one run of the smallest window that holds them. */
        done = n < s->m->n_batch ? n : s->m->n_batch;
        skim_status st = prefill_run(s, tokens, done, logits != NULL && done == n, true);
        if (st != SKIM_OK || done == n) {
            if (st == SKIM_OK && logits) {
                size_t nv = (size_t)s->m->hp.n_vocab;
                memcpy(logits, s->pre_logits + (size_t)(n - 1) * nv, nv * sizeof *logits);
            }
            return st;
        }
    }
    for (int32_t i = done; i < n; i++) {
        skim_status st = skim_session_decode(s, tokens[i], i == n - 1 ? logits : NULL);
        if (st != SKIM_OK) {
            return st;
        }
    }
    return SKIM_OK;
}

skim_status skim_session_prefill(skim_session *s, const int32_t *tokens, int32_t n, float *logits) {
    if (!s || !tokens) {
        return SKIM_ERR_INVALID_ARG;
    }
    skim_status st = prefill_run(s, tokens, n, logits != NULL, false);
    if (st == SKIM_OK && logits) {
        memcpy(logits, s->pre_logits, (size_t)s->m->hp.n_vocab * (size_t)n * sizeof(float));
    }
    return st;
}

skim_status skim_session_prefill_read(skim_session *s, const skim_tensor *t, void *dst,
                                      size_t size) {
    if (!s || !s->pre) {
        return SKIM_ERR_INVALID_ARG;
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

skim_status skim_session_get_stats(const skim_session *s, bool decode, skim_run_stats *out) {
    if (!s || !out) {
        return SKIM_ERR_INVALID_ARG;
    }
    *out = decode ? s->dec_sum : s->pre_sum;
    return SKIM_OK;
}
