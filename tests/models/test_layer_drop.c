/* test_layer_drop.c - layer drop and the static head mask (skim_model_desc drop_attn,
 * drop_mlp, head_mask) against the same model with the dropped parts zeroed in its file.
 *
 * A block's attention sublayer adds attn_output * (...) to the residual stream, its
 * feed-forward sublayer ffn_down * (...): with that weight zeroed the sublayer adds exactly
 * zero, and with the columns of head j of attn_output zeroed head j adds zero. So a model
 * built with a sublayer dropped (or a head pruned) must give the logits of the full graph
 * run on the zeroed file, which is an independent path (every node runs), and must differ
 * from the unmodified model. From the decode stats and the graphs: a dropped sublayer has
 * no node in either graph, executes no FLOPs (executed work falls by at least its matrix
 * products and attention), and stays in the dense figures and sublayers_dropped.
 * Last, the gated model with constant gate scores (gate weights zeroed, biases +-20, so
 * the scores are 1 or ~2e-9 whatever the input) must equal the same model with the gate
 * scores constant 1 and those heads pruned by a static head mask: a static mask is a
 * head-gate whose scores never change.
 *
 *   test_layer_drop MODEL.gguf cpu|vulkan
 * Exit 77 (ctest SKIP) when the model file or the backend is missing. */
#include "skim-cpu.h"
#include "skim-model.h"
#include "test_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef SKIM_TEST_HAVE_VULKAN
skim_status test_vulkan_create(skim_backend **out);
#endif

#define N_PROMPT 12
#define N_DECODE 6

typedef struct file {
    unsigned char *data;
    size_t size;
} file;

static bool read_file(const char *path, file *f) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return false;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->data = malloc((size_t)n);
    f->size = (size_t)n;
    bool ok = f->data && fread(f->data, 1, f->size, fp) == f->size;
    fclose(fp);
    return ok;
}

/* The F32 data of tensor `name` in the copy `buf` of the file that g was opened on. */
static float *tensor_in(const skim_gguf *g, unsigned char *buf, const char *name, int64_t ne[2]) {
    skim_gguf_tensor_info ti;
    int64_t i = skim_gguf_find_tensor(g, name);
    if (i < 0 || skim_gguf_tensor_info_get(g, i, &ti) != SKIM_OK || ti.type != SKIM_TYPE_F32) {
        CHECK(false, "tensor %s missing or not F32", name);
        return NULL;
    }
    ne[0] = ti.ne[0];
    ne[1] = ti.ne[1];
    return (float *)(buf + ti.file_offset);
}

typedef struct variant {
    const char *what;
    uint64_t drop_attn, drop_mlp;
    bool mask; /* prune head j of block l when (l + j) % 3 == 0 */
} variant;

static bool pruned(int l, int j) { return (l + j) % 3 == 0; }

/* buf (a copy of the file) with what v leaves out zeroed. */
static void zero_variant(const skim_gguf *g, unsigned char *buf, const variant *v,
                         const skim_model_hparams *hp) {
    char name[64];
    int64_t ne[2];
    for (int l = 0; l < hp->n_layer; l++) {
        if (v->drop_attn >> l & 1) {
            snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
            float *w = tensor_in(g, buf, name, ne);
            if (w) memset(w, 0, (size_t)(ne[0] * ne[1]) * sizeof *w);
        }
        if (v->drop_mlp >> l & 1) {
            snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
            float *w = tensor_in(g, buf, name, ne);
            if (w) memset(w, 0, (size_t)(ne[0] * ne[1]) * sizeof *w);
        }
        if (v->mask) {
            snprintf(name, sizeof name, "blk.%d.attn_output.weight", l);
            float *w = tensor_in(g, buf, name, ne); /* ne[0] = n_head * head_dim inputs */
            for (int64_t r = 0; w && r < ne[1]; r++) {
                for (int j = 0; j < hp->n_head; j++) {
                    if (pruned(l, j)) {
                        memset(w + r * ne[0] + (int64_t)j * hp->head_dim, 0,
                               (size_t)hp->head_dim * sizeof *w);
                    }
                }
            }
        }
    }
}

typedef struct run_out {
    float *logits; /* N_PROMPT prefill rows, then N_DECODE decode rows */
    skim_run_stats dec;
    bool ok;
} run_out;

static run_out run_model(const skim_gguf *g, const skim_model_desc *d, skim_backend *be,
                         skim_model **keep) {
    run_out r;
    memset(&r, 0, sizeof r);
    skim_model *m = NULL;
    skim_session *s = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_status st = skim_model_load(g, d, &m, msg, sizeof msg);
    CHECK(st == SKIM_OK, "load: %s", msg);
    if (st == SKIM_OK) st = skim_session_create(m, be, NULL, &s, msg, sizeof msg);
    CHECK(st == SKIM_OK, "session: %s", msg);
    int32_t nv = st == SKIM_OK ? skim_model_get_hparams(m)->n_vocab : 0;
    r.logits = calloc((size_t)(N_PROMPT + N_DECODE) * (size_t)(nv ? nv : 1), sizeof(float));
    int32_t tokens[N_PROMPT + N_DECODE];
    for (int i = 0; i < N_PROMPT + N_DECODE; i++) tokens[i] = i == 0 ? 1 : (37 * i + 11) % nv;
    if (st == SKIM_OK) st = skim_session_prefill(s, tokens, N_PROMPT, r.logits);
    for (int i = 0; st == SKIM_OK && i < N_DECODE; i++) {
        st = skim_session_decode(s, tokens[N_PROMPT + i], r.logits + (size_t)(N_PROMPT + i) * nv);
    }
    CHECK(st == SKIM_OK, "run: %s", s ? skim_session_error(s) : "");
    if (st == SKIM_OK) st = skim_session_get_stats(s, true, &r.dec);
    r.ok = st == SKIM_OK;
    skim_session_destroy(s);
    if (keep) *keep = m;
    else skim_model_destroy(m);
    return r;
}

static double rel_diff(const float *a, const float *b, size_t n) {
    double dmax = 0, amax = 1e-30;
    for (size_t i = 0; i < n; i++) {
        dmax = fmax(dmax, fabs((double)a[i] - b[i]));
        amax = fmax(amax, fabs((double)b[i]));
    }
    return dmax / amax;
}

/* Whether graph g has a node named blk.<l>.<suffix>. */
static bool has_node(const skim_graph *g, int l, const char *suffix) {
    char want[64];
    snprintf(want, sizeof want, "blk.%d.%s", l, suffix);
    for (int i = 0; i < skim_graph_n_nodes(g); i++) {
        const char *n = skim_tensor_name(skim_graph_node(g, i));
        if (n && strcmp(n, want) == 0) return true;
    }
    return false;
}

static const char *const attn_nodes[] = {"attn_norm", "q", "k", "v", "attn", "attn_out"};
static const char *const mlp_nodes[] = {"ffn_norm", "ffn_out"};

static void check_graphs(const skim_model *m, const skim_model *ref, const variant *v, int n_layer) {
    const skim_graph *gs[2] = {skim_model_decode_graph(m), skim_model_prefill_graph(m)};
    const skim_graph *rs[2] = {skim_model_decode_graph(ref), skim_model_prefill_graph(ref)};
    for (int k = 0; k < 2; k++) {
        for (int l = 0; l < n_layer; l++) {
            for (size_t i = 0; i < sizeof attn_nodes / sizeof *attn_nodes; i++) {
                bool drop = v->drop_attn >> l & 1;
                CHECK(has_node(rs[k], l, attn_nodes[i]), "reference lacks blk.%d.%s", l,
                      attn_nodes[i]);
                CHECK(has_node(gs[k], l, attn_nodes[i]) == !drop, "%s: blk.%d.%s %s", v->what, l,
                      attn_nodes[i], drop ? "is built though dropped" : "is missing");
            }
            for (size_t i = 0; i < sizeof mlp_nodes / sizeof *mlp_nodes; i++) {
                bool drop = v->drop_mlp >> l & 1;
                CHECK(has_node(gs[k], l, mlp_nodes[i]) == !drop, "%s: blk.%d.%s %s", v->what, l,
                      mlp_nodes[i], drop ? "is built though dropped" : "is missing");
            }
        }
    }
}

static int popcount(uint64_t x) {
    int n = 0;
    for (; x; x &= x - 1) n++;
    return n;
}

static void check_variant(const file *f, const skim_gguf *g, skim_backend *be,
                          const skim_model_hparams *hp, const run_out *full, const variant *v,
                          bool gated) {
    file z = {malloc(f->size), f->size};
    memcpy(z.data, f->data, f->size);
    zero_variant(g, z.data, v, hp);
    skim_gguf *gz = NULL;
    if (skim_gguf_open_memory(z.data, z.size, NULL, &gz, NULL) != SKIM_OK) {
        CHECK(false, "cannot reopen the zeroed copy");
        free(z.data);
        return;
    }
    size_t nl = (size_t)hp->n_layer * (size_t)hp->n_head;
    float *mask = malloc(nl * sizeof *mask);
    for (int l = 0; l < hp->n_layer; l++) {
        for (int j = 0; j < hp->n_head; j++) mask[l * hp->n_head + j] = pruned(l, j) ? 0.0f : 1.0f;
    }
    skim_model_desc d;
    memset(&d, 0, sizeof d);
    d.n_ctx = 64;
    d.n_batch = N_PROMPT;
    skim_model *mref = NULL, *mdrop = NULL;
    run_out ref = run_model(gz, &d, be, &mref);
    d.drop_attn = v->drop_attn;
    d.drop_mlp = v->drop_mlp;
    d.head_mask = v->mask ? mask : NULL;
    run_out drop = run_model(g, &d, be, &mdrop);
    size_t n = (size_t)(N_PROMPT + N_DECODE) * (size_t)hp->n_vocab;
    if (ref.ok && drop.ok && full->ok) {
        double dr = rel_diff(drop.logits, ref.logits, n), df = rel_diff(drop.logits, full->logits, n);
        printf("%-28s vs zeroed file %.2e, vs full model %.2e; decode FLOPs executed %.4g of "
               "%.4g (zeroed file: %.4g), head-ops %lld of %lld, dispatches %lld (%lld)\n",
               v->what, dr, df, drop.dec.flops_executed, drop.dec.flops_dense,
               ref.dec.flops_executed, (long long)drop.dec.head_ops_executed,
               (long long)drop.dec.head_ops_dense, (long long)drop.dec.dispatches,
               (long long)ref.dec.dispatches);
        CHECK(dr <= 1e-5, "%s: logits differ from the zeroed file's by %.3g", v->what, dr);
        CHECK(df >= 1e-4, "%s: logits equal the full model's (%.3g): nothing was dropped",
              v->what, df);
        int64_t na = popcount(v->drop_attn), nm = popcount(v->drop_mlp);
        CHECK(drop.dec.sublayers_dropped == (na + nm) * N_DECODE, "%s: sublayers_dropped %lld",
              v->what, (long long)drop.dec.sublayers_dropped);
        CHECK(drop.dec.head_ops_dense == ref.dec.head_ops_dense &&
              drop.dec.token_layer_ops_dense == ref.dec.token_layer_ops_dense,
              "%s: dense head-ops %lld / %lld, token-layer ops %lld / %lld", v->what,
              (long long)drop.dec.head_ops_dense, (long long)ref.dec.head_ops_dense,
              (long long)drop.dec.token_layer_ops_dense, (long long)ref.dec.token_layer_ops_dense);
        /* The dropped matrix products and attention of N_DECODE steps at positions
         * N_PROMPT.. (keys pos + 1), as the stats count them. */
        double dd = hp->n_embd, qd = (double)hp->n_head * hp->head_dim;
        double kvd = (double)hp->n_head_kv * hp->head_dim, saved = 0;
        for (int i = 0; i < N_DECODE; i++) {
            double keys = N_PROMPT + i + 1;
            saved += na * (2 * dd * (qd + 2 * kvd) + 2 * qd * dd + 4.0 * hp->head_dim * keys * hp->n_head);
            saved += nm * 2 * dd * hp->n_ff * (hp->ffn == SKIM_FFN_SWIGLU ? 3 : 2);
        }
        if (!gated) {
            /* Every token runs every block: the executed work falls by at least that. */
            CHECK(ref.dec.flops_executed - drop.dec.flops_executed >= saved * (1 - 1e-12),
                  "%s: executed FLOPs fall by %.6g, the dropped sublayers cost %.6g", v->what,
                  ref.dec.flops_executed - drop.dec.flops_executed, saved);
            int64_t kept = 0;
            for (int l = 0; l < hp->n_layer; l++) {
                for (int j = 0; j < hp->n_head; j++) {
                    kept += !(v->drop_attn >> l & 1) && !(v->mask && pruned(l, j));
                }
            }
            CHECK(drop.dec.head_ops_executed == kept * N_DECODE, "%s: %lld head-ops run, %lld kept",
                  v->what, (long long)drop.dec.head_ops_executed, (long long)(kept * N_DECODE));
        } else {
            CHECK(drop.dec.flops_executed <= ref.dec.flops_executed, "%s: more FLOPs executed",
                  v->what);
        }
        /* Dense FLOPs: the dropped sublayers' norms and elementwise ops are not counted. */
        CHECK(fabs(drop.dec.flops_dense - ref.dec.flops_dense) <= 0.02 * ref.dec.flops_dense,
              "%s: dense FLOPs %.6g, zeroed file's %.6g", v->what, drop.dec.flops_dense,
              ref.dec.flops_dense);
        if (ref.dec.dispatches > 0 && (na + nm) > 0) {
            CHECK(drop.dec.dispatches < ref.dec.dispatches, "%s: %lld dispatches, %lld without "
                  "dropping", v->what, (long long)drop.dec.dispatches,
                  (long long)ref.dec.dispatches);
        }
        check_graphs(mdrop, mref, v, hp->n_layer);
    }
    skim_model_destroy(mdrop);
    skim_model_destroy(mref);
    free(ref.logits);
    free(drop.logits);
    free(mask);
    skim_gguf_destroy(gz);
    free(z.data);
}

/* Constant gate scores (zeroed gate weights, biases +-20) against scores 1 (bias +20)
 * with the same heads pruned by a static mask. */
static void check_static_mask(const file *f, const skim_gguf *g, skim_backend *be,
                              const skim_model_hparams *hp) {
    file a = {malloc(f->size), f->size}, b = {malloc(f->size), f->size};
    memcpy(a.data, f->data, f->size);
    memcpy(b.data, f->data, f->size);
    size_t nl = (size_t)hp->n_layer * (size_t)hp->n_head;
    float *mask = malloc(nl * sizeof *mask);
    for (int l = 0; l < hp->n_layer; l++) {
        char name[64];
        int64_t ne[2];
        snprintf(name, sizeof name, "blk.%d.attn_gate.weight", l);
        float *wa = tensor_in(g, a.data, name, ne), *wb = tensor_in(g, b.data, name, ne);
        if (wa && wb) {
            memset(wa, 0, (size_t)(ne[0] * ne[1]) * sizeof *wa);
            memset(wb, 0, (size_t)(ne[0] * ne[1]) * sizeof *wb);
        }
        snprintf(name, sizeof name, "blk.%d.attn_gate.bias", l);
        float *ba = tensor_in(g, a.data, name, ne), *bb = tensor_in(g, b.data, name, ne);
        for (int j = 0; ba && bb && j < hp->n_head; j++) {
            ba[j] = pruned(l, j) ? -20.0f : 20.0f;
            bb[j] = 20.0f;
            mask[l * hp->n_head + j] = pruned(l, j) ? 0.0f : 1.0f;
        }
    }
    skim_gguf *ga = NULL, *gb = NULL;
    if (skim_gguf_open_memory(a.data, a.size, NULL, &ga, NULL) == SKIM_OK &&
        skim_gguf_open_memory(b.data, b.size, NULL, &gb, NULL) == SKIM_OK) {
        skim_model_desc d;
        memset(&d, 0, sizeof d);
        d.n_ctx = 64;
        d.n_batch = N_PROMPT;
        run_out gate = run_model(ga, &d, be, NULL);
        d.head_mask = mask;
        run_out st = run_model(gb, &d, be, NULL);
        size_t n = (size_t)(N_PROMPT + N_DECODE) * (size_t)hp->n_vocab;
        if (gate.ok && st.ok) {
            double dr = rel_diff(st.logits, gate.logits, n);
            printf("static mask vs constant gate scores: logits %.2e, head-ops %lld / %lld\n", dr,
                   (long long)st.dec.head_ops_executed, (long long)gate.dec.head_ops_executed);
            CHECK(dr == 0.0, "static mask: logits differ from constant gate scores by %.3g", dr);
            /* The same work but the mask's multiply of the scores (1 per head and token
             * that ran the block). */
            double extra = st.dec.flops_executed - gate.dec.flops_executed;
            CHECK(st.dec.head_ops_executed == gate.dec.head_ops_executed && extra >= 0 &&
                  extra <= (double)nl * N_DECODE,
                  "static mask: work %lld head-ops, %.9g FLOPs; constant scores %lld, %.9g",
                  (long long)st.dec.head_ops_executed, st.dec.flops_executed,
                  (long long)gate.dec.head_ops_executed, gate.dec.flops_executed);
        }
        free(gate.logits);
        free(st.logits);
    } else {
        CHECK(false, "cannot reopen the gate copies");
    }
    skim_gguf_destroy(ga);
    skim_gguf_destroy(gb);
    free(a.data);
    free(b.data);
    free(mask);
}

static void check_errors(const skim_gguf *g, int n_layer) {
    skim_model_desc d;
    memset(&d, 0, sizeof d);
    d.n_batch = -1;
    d.drop_attn = (uint64_t)1 << n_layer;
    skim_model *m = NULL;
    char msg[SKIM_MODEL_MSG_LEN];
    CHECK(skim_model_load(g, &d, &m, msg, sizeof msg) == SKIM_ERR_INVALID_ARG && !m,
          "a drop past the last block loads");
    uint64_t bits = 7;
    CHECK(skim_model_parse_layers("1,3-4", 5, &bits, msg, sizeof msg) == SKIM_OK && bits == 0x1a,
          "parse 1,3-4: %llx", (unsigned long long)bits);
    bits = 7;
    CHECK(skim_model_parse_layers("", 5, &bits, msg, sizeof msg) == SKIM_OK && bits == 0,
          "parse of nothing");
    bits = 7;
    CHECK(skim_model_parse_layers("2,5", 5, &bits, msg, sizeof msg) == SKIM_ERR_RANGE && bits == 7,
          "parse 2,5 of 5 layers");
    CHECK(skim_model_parse_layers("2;x", 5, &bits, msg, sizeof msg) == SKIM_ERR_INVALID_ARG &&
          bits == 7, "parse 2;x");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_layer_drop MODEL.gguf cpu|vulkan\n");
        return 2;
    }
    file f;
    if (!read_file(argv[1], &f)) {
        printf("SKIP: cannot read %s\n", argv[1]);
        return 77;
    }
    skim_backend *be = NULL;
    skim_status st = SKIM_ERR_UNSUPPORTED;
    if (strcmp(argv[2], "cpu") == 0) {
        st = skim_backend_create_cpu(NULL, &be);
    }
#ifdef SKIM_TEST_HAVE_VULKAN
    if (strcmp(argv[2], "vulkan") == 0) st = test_vulkan_create(&be);
#endif
    if (st != SKIM_OK) {
        printf("SKIP: no %s backend\n", argv[2]);
        free(f.data);
        return 77;
    }
    skim_gguf *g = NULL;
    skim_model *m = NULL;
    skim_model_desc d;
    memset(&d, 0, sizeof d);
    d.n_ctx = 64;
    d.n_batch = N_PROMPT;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    if (skim_gguf_open_memory(f.data, f.size, NULL, &g, NULL) != SKIM_OK ||
        skim_model_load(g, &d, &m, msg, sizeof msg) != SKIM_OK) {
        printf("FAIL: cannot load %s: %s\n", argv[1], msg);
        return 1;
    }
    skim_model_hparams hp = *skim_model_get_hparams(m);
    skim_model_destroy(m);
    bool gated = hp.arch == SKIM_ARCH_GATED;
    int L = hp.n_layer;
    run_out full = run_model(g, &d, be, NULL);
    const variant vs[] = {
        {"attention of the last block", (uint64_t)1 << (L - 1), 0, false},
        {"attention of blocks 1, last", ((uint64_t)1 << (L - 1)) | 2, 0, false},
        {"feed-forward of block 0", 0, 1, false},
        {"whole block 0, attention last", 1 | ((uint64_t)1 << (L - 1)), 1, false},
        {"static head mask", 0, 0, true},
        {"head mask and drops", 2, (uint64_t)1 << (L - 1), true},
    };
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) {
        check_variant(&f, g, be, &hp, &full, &vs[i], gated);
    }
    if (gated) {
        check_static_mask(&f, g, be, &hp);
    }
    check_errors(g, L);
    free(full.logits);
    skim_gguf_destroy(g);
    skim_backend_destroy(be);
    free(f.data);
    printf("%s: %d failure(s)\n", argv[2], t_failures);
    return t_failures ? 1 : 0;
}
