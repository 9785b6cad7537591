/* llama_load.c - hyper-parameters and weights of llama-family and gated GGUF files.
 *
 * Weights are used in place: each skim weight tensor points at the GGUF's (mapped) data,
 * so the file must outlive the model. Every tensor's shape is checked against the
 * hyper-parameters before it is used, since the file is untrusted. */
#include "llama_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

skim_status skim_llama_msg(char *msg, size_t size, skim_status s, const char *fmt, ...) {
    if (msg && size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, size, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* The first of `keys` present (each prefixed with "<arch>."), as an integer. */
static skim_status get_int(const skim_gguf *g, const char *arch, const char *const *keys, int n,
                           int64_t def, bool required, int64_t *out, char *msg, size_t size) {
    char key[128];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s.%s", arch, keys[i]);
        if (skim_gguf_find(g, key)) {
            if (skim_gguf_get_int(g, key, out) != SKIM_OK) {
                return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: key %s is not an "
                                      "integer", key);
            }
            if (*out < 0 || *out > (1 << 24)) {
                return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: key %s = %lld is out "
                                      "of range", key, (long long)*out);
            }
            return SKIM_OK;
        }
    }
    if (required) {
        snprintf(key, sizeof key, "%s.%s", arch, keys[0]);
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: key %s is missing", key);
    }
    *out = def;
    return SKIM_OK;
}

static skim_status get_f32(const skim_gguf *g, const char *arch, const char *name, float def,
                           float *out, char *msg, size_t size) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    if (!skim_gguf_find(g, key)) {
        *out = def;
        return SKIM_OK;
    }
    double v;
    if (skim_gguf_get_float(g, key, &v) != SKIM_OK || !isfinite(v)) {
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: key %s is not a finite "
                              "number", key);
    }
    *out = (float)v;
    return SKIM_OK;
}

#define GET_INT(field, def, req, ...)                                                     \
    do {                                                                                  \
        static const char *const k_[] = {__VA_ARGS__};                                   \
        int64_t v_;                                                                       \
        skim_status s_ = get_int(g, arch, k_, (int)(sizeof k_ / sizeof k_[0]), def, req,  \
                                 &v_, msg, size);                                         \
        if (s_ != SKIM_OK) return s_;                                                     \
        hp->field = (int32_t)v_;                                                          \
    } while (0)

static skim_status read_arch(skim_model *m, const char **arch_out, char *msg, size_t size) {
    const char *arch = NULL;
    if (skim_gguf_get_str(m->gguf, "general.architecture", &arch) != SKIM_OK) {
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: general.architecture is "
                              "missing or not a string");
    }
    if (strcmp(arch, "llama") == 0) {
        m->hp.arch = SKIM_ARCH_LLAMA;
        m->hp.ffn = SKIM_FFN_SWIGLU;
        *arch_out = "llama";
    } else if (strcmp(arch, "skim-gated") == 0) {
        m->hp.arch = SKIM_ARCH_GATED;
        m->hp.ffn = SKIM_FFN_GELU;
        *arch_out = "skim";
    } else {
        return skim_llama_msg(msg, size, SKIM_ERR_UNSUPPORTED, "model: architecture '%s' is "
                              "not supported (llama, skim-gated)", arch);
    }
    return SKIM_OK;
}

static skim_status read_hparams(skim_model *m, char *msg, size_t size) {
    const skim_gguf *g = m->gguf;
    skim_model_hparams *hp = &m->hp;
    const char *arch = "";
    skim_status s = read_arch(m, &arch, msg, size);
    if (s != SKIM_OK) return s;
    GET_INT(n_ctx_train, 0, true, "context_length");
    GET_INT(n_embd, 0, true, "embedding_length");
    GET_INT(n_layer, 0, true, "block_count");
    GET_INT(n_ff, 0, true, "feed_forward_length");
    GET_INT(n_head, 0, true, "attention.head_count", "head_count");
    GET_INT(n_head_kv, hp->n_head, false, "attention.head_count_kv", "head_count_kv");
    if (hp->n_head < 1 || hp->n_embd < 1 || hp->n_layer < 1 || hp->n_ff < 1 ||
        hp->n_ctx_train < 1 || hp->n_layer > SKIM_LLAMA_MAX_LAYERS) {
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: hyper-parameters out of "
                              "range (%d layers, %d heads, %d embd, %d ff, %d ctx)", hp->n_layer,
                              hp->n_head, hp->n_embd, hp->n_ff, hp->n_ctx_train);
    }
    GET_INT(head_dim, hp->n_embd / hp->n_head, false, "attention.key_length");
    GET_INT(rope_dims, hp->head_dim, false, "rope.dimension_count");
    if (hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv != 0 || hp->head_dim < 2 ||
        hp->head_dim * hp->n_head != hp->n_embd || hp->rope_dims % 2 ||
        hp->rope_dims > hp->head_dim) {
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: heads do not fit (%d heads, "
                              "%d kv heads, head size %d, rope dims %d, embd %d)", hp->n_head,
                              hp->n_head_kv, hp->head_dim, hp->rope_dims, hp->n_embd);
    }
    if ((s = get_f32(g, arch, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->eps, msg, size)) ||
        (s = get_f32(g, arch, "rope.freq_base", 10000.0f, &hp->rope_base, msg, size))) {
        return s;
    }
    if (hp->arch == SKIM_ARCH_GATED) {
        /* A llama model with gates retrofitted keeps its SwiGLU feed-forward. */
        const char *act = NULL;
        if (skim_gguf_find(g, "skim.ffn.activation") &&
            skim_gguf_get_str(g, "skim.ffn.activation", &act) != SKIM_OK) {
            return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: key skim.ffn.activation "
                                  "is not a string");
        }
        if (act && strcmp(act, "swiglu") == 0) {
            hp->ffn = SKIM_FFN_SWIGLU;
        } else if (act && strcmp(act, "gelu_tanh") != 0) {
            return skim_llama_msg(msg, size, SKIM_ERR_UNSUPPORTED, "model: skim.ffn.activation "
                                  "'%s' is not supported (gelu_tanh, swiglu)", act);
        }
        GET_INT(halt_hidden, 0, true, "halt.hidden");
        GET_INT(halt_first, 1, false, "halt.first_block");
        if ((s = get_f32(g, arch, "gate.threshold", 0.5f, &hp->gate_tau, msg, size)) ||
            (s = get_f32(g, arch, "halt.threshold", 0.5f, &hp->halt_tau, msg, size))) {
            return s;
        }
        if (hp->n_head > 64 || hp->halt_hidden < 1) {
            return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: gated model with %d heads "
                                  "(at most 64) or halting width %d", hp->n_head, hp->halt_hidden);
        }
    }
    return SKIM_OK;
}

/* A weight tensor by name, checked against the expected shape (ne1 0: 1-D). */
static skim_status weight(skim_model *m, const char *name, int64_t ne0, int64_t ne1,
                          bool optional, skim_tensor **out, char *msg, size_t size) {
    int64_t i = skim_gguf_find_tensor(m->gguf, name);
    *out = NULL;
    if (i < 0) {
        return optional ? SKIM_OK
                        : skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: tensor %s is "
                                         "missing", name);
    }
    skim_gguf_tensor_info ti;
    if (skim_gguf_tensor_info_get(m->gguf, i, &ti) != SKIM_OK) {
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: tensor %s unreadable", name);
    }
    if (!ti.supported || ti.type == SKIM_TYPE_I32 || !ti.data) {
        return skim_llama_msg(msg, size, SKIM_ERR_UNSUPPORTED, "model: tensor %s has ggml type "
                              "%u, which skim does not compute with", name, ti.ggml_type);
    }
    int64_t want1 = ne1 ? ne1 : 1;
    if (ti.ne[0] != ne0 || ti.ne[1] != want1 || ti.ne[2] != 1 || ti.ne[3] != 1) {
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: tensor %s is [%lld, %lld, %lld, "
                              "%lld], [%lld, %lld] expected", name, (long long)ti.ne[0],
                              (long long)ti.ne[1], (long long)ti.ne[2], (long long)ti.ne[3],
                              (long long)ne0, (long long)want1);
    }
    /* Norm vectors and biases are added and multiplied as F32. */
    if (!ne1 && ti.type != SKIM_TYPE_F32) {
        return skim_llama_msg(msg, size, SKIM_ERR_UNSUPPORTED, "model: vector %s must be F32",
                              name);
    }
    int64_t ne[2] = {ne0, want1};
    *out = skim_new_weight(m->ctx, ti.type, ne1 ? 2 : 1, ne, ti.data);
    if (!*out) {
        return skim_llama_msg(msg, size, skim_context_status(m->ctx), "model: %s: %s", name,
                              skim_context_error(m->ctx));
    }
    skim_tensor_set_name(*out, name);
    return SKIM_OK;
}

static skim_status layer_weights(skim_model *m, int il, char *msg, size_t size) {
    const skim_model_hparams *hp = &m->hp;
    skim_llama_layer *L = &m->layers[il];
    const int64_t d = hp->n_embd, kv = (int64_t)hp->head_dim * hp->n_head_kv, f = hp->n_ff;
    char n[64];
    skim_status s;
#define W(field, suffix, a, b, opt)                                                       \
    do {                                                                                  \
        snprintf(n, sizeof n, "blk.%d.%s", il, suffix);                                   \
        if ((s = weight(m, n, a, b, opt, &L->field, msg, size)) != SKIM_OK) return s;     \
    } while (0)
    W(attn_norm, "attn_norm.weight", d, 0, false);
    /* A block with rec_x has a linear recurrence in place of attention (assets/README.md
     * section 9): no attention weights and no head gate. */
    snprintf(n, sizeof n, "blk.%d.rec_x.weight", il);
    bool rec = skim_gguf_find_tensor(m->gguf, n) >= 0;
    if (rec) {
        m->rec_layers |= (uint64_t)1 << il;
        W(rec_x, "rec_x.weight", d, d, false);
        W(rec_a, "rec_a.weight", d, d, false);
        W(rec_a_b, "rec_a.bias", d, 0, false);
        W(rec_b, "rec_b.weight", d, d, false);
        W(rec_b_b, "rec_b.bias", d, 0, false);
        W(rec_out, "rec_out.weight", d, d, false);
    } else {
        W(wq, "attn_q.weight", d, d, false);
        W(wk, "attn_k.weight", d, kv, false);
        W(wv, "attn_v.weight", d, kv, false);
        W(wo, "attn_output.weight", d, d, false);
    }
    W(ffn_norm, "ffn_norm.weight", d, 0, false);
    W(ffn_up, "ffn_up.weight", d, f, false);
    W(ffn_down, "ffn_down.weight", f, d, false);
    if (hp->ffn == SKIM_FFN_SWIGLU) {
        W(ffn_gate, "ffn_gate.weight", d, f, false);
    }
    if (hp->arch == SKIM_ARCH_GATED && !m->dense) {
        if (!rec) {
            W(gate_w, "attn_gate.weight", d, hp->n_head, false);
            W(gate_b, "attn_gate.bias", hp->n_head, 0, false);
        }
        if (il >= hp->halt_first) {
            W(halt_norm, "halt_norm.weight", d, 0, false);
            W(halt_up, "halt_up.weight", d, hp->halt_hidden, false);
            W(halt_up_b, "halt_up.bias", hp->halt_hidden, 0, false);
            W(halt_down, "halt_down.weight", hp->halt_hidden, 1, false);
            W(halt_down_b, "halt_down.bias", 1, 0, false);
        }
    }
#undef W
    return SKIM_OK;
}

static skim_status vocab_size(skim_model *m, char *msg, size_t size) {
    int64_t i = skim_gguf_find_tensor(m->gguf, "token_embd.weight");
    skim_gguf_tensor_info ti;
    if (i < 0 || skim_gguf_tensor_info_get(m->gguf, i, &ti) != SKIM_OK) {
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: tensor token_embd.weight is "
                              "missing");
    }
    if (ti.ne[1] < 1 || ti.ne[1] > (1 << 24)) {
        return skim_llama_msg(msg, size, SKIM_ERR_FORMAT, "model: token_embd.weight has %lld "
                              "rows", (long long)ti.ne[1]);
    }
    m->hp.n_vocab = (int32_t)ti.ne[1];
    return SKIM_OK;
}

skim_status skim_llama_load_weights(skim_model *m, char *msg, size_t size) {
    skim_status s = read_hparams(m, msg, size);
    if (s == SKIM_OK) s = vocab_size(m, msg, size);
    if (s != SKIM_OK) return s;
    const int64_t d = m->hp.n_embd;
    if ((s = weight(m, "token_embd.weight", d, m->hp.n_vocab, false, &m->tok_embd, msg, size)) ||
        (s = weight(m, "output_norm.weight", d, 0, false, &m->out_norm, msg, size)) ||
        (s = weight(m, "output.weight", d, m->hp.n_vocab, true, &m->output, msg, size))) {
        return s;
    }
    m->hp.tied = m->output == NULL;
    if (m->hp.tied) {
        m->output = m->tok_embd;
    }
    for (int il = 0; il < m->hp.n_layer; il++) {
        if ((s = layer_weights(m, il, msg, size)) != SKIM_OK) return s;
    }
    m->zero_value = 0.0f;
    int64_t ne[2] = {1, 1};
    m->zeros = skim_new_weight(m->ctx, SKIM_TYPE_F32, 2, ne, &m->zero_value);
    if (!m->zeros) {
        return skim_llama_msg(msg, size, skim_context_status(m->ctx), "model: %s",
                              skim_context_error(m->ctx));
    }
    return SKIM_OK;
}
