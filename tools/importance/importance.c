/* importance - which attention sublayers and heads of a model matter, measured on text.
 *
 *   importance -m MODEL.gguf [--text FILE] [--max-tokens N] [--backend cpu|vulkan]
 *              [--threads N] [--drop K] [--drop-out FILE] [--prune K] [--mask-out FILE]
 *              [--table]
 *
 * The text is FILE (its first --max-tokens tokens, default 2048, in windows of the
 * model's context) or, without --text, 480 tokens of the model's own greedy continuations
 * of a few prompts. Two rankings are printed, least important first:
 *  (a) attention sublayers by 1 - cos(x, x + attn(x)), the cosine between the residual
 *      stream before and after the sublayer, averaged over the text's positions ("What
 *      Matters in Transformers": a sublayer that barely turns the hidden state can go);
 *  (b) heads by the increase of the mean next-token loss (nats) when that head alone is
 *      pruned (a static head mask with one zero).
 * A gated model is measured with its gates off (every head and token runs).
 * --drop-out writes the K (--drop, default 1) least important attention sublayers as a
 * layer list, --mask-out a static head mask pruning the K (--prune, default 1) least
 * important heads: generate takes them as --drop-attn "$(cat FILE)" and --head-mask FILE.
 * --table prints, for k = 0, 1, ... attention sublayers dropped in the order of (a), the
 * next-token KL divergence from the full model and top-1 agreement over 2,000
 * teacher-forced positions of the full model's greedy text (other prompts: four of 500
 * tokens, more where the context is shorter), and
 * decode tokens per second on the CPU and Vulkan backends. */
#include "importance.h"

#include "skim-cpu.h"
#include "skim-text.h"
#ifdef SKIM_HAVE_VULKAN
#include "skim-vulkan.h"
#endif
#include "text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double imp_now_s(void) {
    struct timespec ts;
#if defined(_WIN32) && !defined(TIME_UTC) /* MinGW's msvcrt: winpthreads' clock */
    clock_gettime(CLOCK_REALTIME, &ts);
#else
    timespec_get(&ts, TIME_UTC);
#endif
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void imp_seqs_free(imp_seqs *s) {
    for (int i = 0; i < s->n; i++) free(s->tok[i]);
    memset(s, 0, sizeof *s);
}

int64_t imp_seqs_rows(const imp_seqs *s) {
    int64_t n = 0;
    for (int i = 0; i < s->n; i++) n += s->len[i] - 1 - s->first[i];
    return n;
}

int32_t imp_seqs_window(const imp_seqs *s) {
    int32_t w = 1;
    for (int i = 0; i < s->n; i++) w = s->len[i] > w ? s->len[i] : w;
    return w;
}

skim_model *imp_load(const imp_opts *o, uint64_t drop_attn, const float *head_mask, bool debug,
                     int32_t n_batch) {
    skim_model_desc d;
    memset(&d, 0, sizeof d);
    d.n_batch = n_batch;
    d.dense = true;
    d.drop_attn = drop_attn;
    d.head_mask = head_mask;
    d.debug_outputs = debug;
    skim_model *m = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    if (skim_model_load_file(o->model, &d, &m, msg, sizeof msg) != SKIM_OK) {
        fprintf(stderr, "%s: %s\n", o->model, msg);
        return NULL;
    }
    return m;
}

skim_backend *imp_backend(const char *name, int threads) {
    skim_backend *be = NULL;
    if (strcmp(name, "cpu") == 0) {
        skim_cpu_desc d;
        memset(&d, 0, sizeof d);
        d.n_threads = threads;
        if (skim_backend_create_cpu(&d, &be) == SKIM_OK) return be;
    }
#ifdef SKIM_HAVE_VULKAN
    if (strcmp(name, "vulkan") == 0) {
        char msg[256] = "";
        if (skim_backend_create_vulkan_msg(NULL, &be, msg, sizeof msg) == SKIM_OK) return be;
        fprintf(stderr, "vulkan: %s\n", msg);
        return NULL;
    }
#endif
    fprintf(stderr, "no backend '%s'\n", name);
    return NULL;
}

static skim_session *session(skim_model *m, skim_backend *be) {
    skim_session *s = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    if (skim_session_create(m, be, NULL, &s, msg, sizeof msg) != SKIM_OK) {
        fprintf(stderr, "session: %s\n", msg);
        return NULL;
    }
    return s;
}

bool imp_greedy(const imp_opts *o, const char *const *prompts, int n_prompts, int n_new,
                int total, imp_seqs *out) {
    memset(out, 0, sizeof *out);
    skim_model *m = imp_load(o, 0, NULL, false, 16);
    skim_backend *be = m ? imp_backend("cpu", o->threads) : NULL;
    skim_session *s = be ? session(m, be) : NULL;
    ex_text text;
    bool ok = s && ex_text_load(&text, skim_model_gguf(m)), loaded = ok;
    int32_t nv = ok ? skim_model_get_hparams(m)->n_vocab : 0, n_ctx = ok ? skim_model_n_ctx(m) : 0;
    float *logits = ok ? malloc((size_t)nv * sizeof *logits) : NULL;
    int scored = 0;
    for (int p = 0; ok && p < n_prompts && out->n < IMP_MAX_SEQS && scored < total; p++) {
        int32_t *t = malloc((size_t)n_ctx * sizeof *t);
        int64_t n = t ? ex_text_encode(&text, prompts[p], strlen(prompts[p]), t, n_ctx) : -1;
        int32_t k = n > 0 && n + n_new > n_ctx ? n_ctx - (int32_t)n : n_new;
        k = k < total - scored ? k : total - scored;
        ok = n > 0 && k > 0 && logits;
        if (!ok) {
            fprintf(stderr, "prompt %d: cannot encode it in a context of %d\n", p, n_ctx);
            free(t);
            break;
        }
        ok = skim_session_reset(s) == SKIM_OK && skim_session_prompt(s, t, (int32_t)n, logits) == SKIM_OK;
        for (int i = 0; ok && i < k; i++) {
            t[n + i] = skim_sample_argmax(logits, nv);
            ok = i + 1 == k || skim_session_decode(s, t[n + i], logits) == SKIM_OK;
        }
        out->tok[out->n] = t;
        out->first[out->n] = (int32_t)n - 1;
        out->len[out->n++] = (int32_t)n + k;
        scored += k;
    }
    if (ok && scored < total) {
        fprintf(stderr, "%d prompts give %d of %d positions\n", n_prompts, scored, total);
        ok = false;
    }
    if (loaded) ex_text_free(&text);
    free(logits);
    skim_session_destroy(s);
    skim_backend_destroy(be);
    skim_model_destroy(m);
    return ok;
}

float *imp_logits(skim_model *m, skim_backend *be, const imp_seqs *sq) {
    int32_t nv = skim_model_get_hparams(m)->n_vocab, nb = skim_model_n_batch(m);
    int64_t rows = imp_seqs_rows(sq), r = 0;
    float *out = malloc((size_t)rows * (size_t)nv * sizeof *out);
    float *all = malloc((size_t)nb * (size_t)nv * sizeof *all);
    skim_session *s = out && all ? session(m, be) : NULL;
    bool ok = s != NULL;
    for (int i = 0; ok && i < sq->n; i++) {
        ok = sq->len[i] <= nb && skim_session_prefill(s, sq->tok[i], sq->len[i], all) == SKIM_OK;
        int32_t k = sq->len[i] - 1 - sq->first[i];
        if (ok) memcpy(out + r * nv, all + (size_t)sq->first[i] * nv, (size_t)k * nv * sizeof *out);
        r += k;
    }
    if (!ok) fprintf(stderr, "teacher forcing: %s\n", s ? skim_session_error(s) : "no session");
    skim_session_destroy(s);
    free(all);
    if (!ok) free(out);
    return ok ? out : NULL;
}

/* Mean next-token loss (nats) of the rows against the sequences' next tokens. */
static double mean_loss(const float *logits, const imp_seqs *sq, int32_t nv) {
    double sum = 0;
    int64_t r = 0;
    for (int i = 0; i < sq->n; i++) {
        for (int32_t p = sq->first[i]; p < sq->len[i] - 1; p++, r++) {
            const float *l = logits + r * nv;
            double mx = l[0], z = 0;
            for (int32_t v = 1; v < nv; v++) mx = fmax(mx, l[v]);
            for (int32_t v = 0; v < nv; v++) z += exp(l[v] - mx);
            sum += mx + log(z) - l[sq->tok[i][p + 1]];
        }
    }
    return r ? sum / (double)r : 0;
}

/* The tensor of the prefill graph named `name`. */
static skim_tensor *node_named(const skim_model *m, const char *name) {
    skim_graph *g = skim_model_prefill_graph(m);
    for (int i = 0; i < skim_graph_n_nodes(g); i++) {
        const char *n = skim_tensor_name(skim_graph_node(g, i));
        if (n && strcmp(n, name) == 0) return skim_graph_node(g, i);
    }
    return NULL;
}

/* (a): score[l] = mean over scored positions of 1 - cos(x, x + attn(x)). */
static bool attn_scores(const imp_opts *o, const imp_seqs *sq, skim_backend *be, double *score) {
    skim_model *m = imp_load(o, 0, NULL, true, imp_seqs_window(sq));
    if (!m) return false;
    const skim_model_hparams *hp = skim_model_get_hparams(m);
    int32_t d = hp->n_embd, nb = skim_model_n_batch(m);
    skim_session *s = session(m, be);
    float *x = malloc((size_t)d * nb * sizeof *x), *a = malloc((size_t)d * nb * sizeof *a);
    bool ok = s && x && a;
    int64_t count = 0;
    for (int l = 0; l < hp->n_layer; l++) score[l] = 0;
    for (int i = 0; ok && i < sq->n; i++) {
        ok = sq->len[i] <= nb && skim_session_prefill(s, sq->tok[i], sq->len[i], NULL) == SKIM_OK;
        for (int l = 0; ok && l < hp->n_layer; l++) {
            char xn[64], an[64];
            snprintf(xn, sizeof xn, l == 0 ? "embd" : "blk.%d.out", l - 1);
            snprintf(an, sizeof an, "blk.%d.attn_out", l);
            skim_tensor *tx = node_named(m, xn), *ta = node_named(m, an);
            size_t nbytes = (size_t)d * nb * sizeof *x;
            ok = tx && ta && skim_session_prefill_read(s, tx, x, nbytes) == SKIM_OK &&
                 skim_session_prefill_read(s, ta, a, nbytes) == SKIM_OK;
            for (int32_t p = sq->first[i]; ok && p < sq->len[i]; p++) {
                double xy = 0, xx = 0, yy = 0;
                for (int32_t e = 0; e < d; e++) {
                    double u = x[(size_t)p * d + e], v = u + a[(size_t)p * d + e];
                    xy += u * v, xx += u * u, yy += v * v;
                }
                score[l] += 1.0 - xy / sqrt(xx * yy + 1e-300);
            }
        }
        count += sq->len[i] - sq->first[i];
    }
    if (!ok) fprintf(stderr, "attention scores: %s\n", s ? skim_session_error(s) : "no session");
    for (int l = 0; ok && l < hp->n_layer; l++) score[l] /= (double)count;
    free(x);
    free(a);
    skim_session_destroy(s);
    skim_model_destroy(m);
    return ok;
}

/* (b): delta[l * n_head + j] = loss with head j of block l pruned - loss of the full model. */
static bool head_scores(const imp_opts *o, const imp_seqs *sq, skim_backend *be, int n_layer,
                        int n_head, int32_t nv, double *delta) {
    size_t nl = (size_t)n_layer * n_head;
    float *mask = malloc(nl * sizeof *mask);
    skim_model *m = mask ? imp_load(o, 0, NULL, false, imp_seqs_window(sq)) : NULL;
    float *lg = m ? imp_logits(m, be, sq) : NULL;
    skim_model_destroy(m);
    bool ok = lg != NULL;
    double base = ok ? mean_loss(lg, sq, nv) : 0;
    free(lg);
    for (size_t h = 0; ok && h < nl; h++) {
        for (size_t i = 0; i < nl; i++) mask[i] = i == h ? 0.0f : 1.0f;
        m = imp_load(o, 0, mask, false, imp_seqs_window(sq));
        lg = m ? imp_logits(m, be, sq) : NULL;
        ok = lg != NULL;
        if (ok) delta[h] = mean_loss(lg, sq, nv) - base;
        free(lg);
        skim_model_destroy(m);
    }
    free(mask);
    if (ok) printf("mean next-token loss of the full model: %.4f nats\n", base);
    return ok;
}

/* Indices 0..n-1 by ascending value (ties: lower index first). */
static void rank(const double *v, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0 && v[order[j]] < v[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    }
}

static bool text_seqs(const imp_opts *o, imp_seqs *out) {
    memset(out, 0, sizeof *out);
    skim_model *m = imp_load(o, 0, NULL, false, 0);
    FILE *f = m ? fopen(o->text, "rb") : NULL;
    ex_text text;
    bool ok = f && ex_text_load(&text, skim_model_gguf(m));
    char *buf = NULL;
    long size = 0;
    if (ok) {
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, 0, SEEK_SET);
        /* Encoding costs more than linear time: read no more than the tokens need (a
         * token is rarely longer than 8 bytes). */
        size = size / 8 > o->max_tokens ? (long)o->max_tokens * 8 : size;
        buf = malloc((size_t)size + 1);
        ok = buf && fread(buf, 1, (size_t)size, f) == (size_t)size;
    }
    int32_t n_ctx = m ? skim_model_n_batch(m) : 0;
    int64_t cap = (int64_t)size + 2, n = 0; /* a token has a byte at least, and BOS */
    int32_t *all = ok ? malloc((size_t)cap * sizeof *all) : NULL;
    if (all) n = ex_text_encode(&text, buf, (size_t)size, all, cap);
    n = n > o->max_tokens ? o->max_tokens : n;
    ok = all && n > 1;
    for (int64_t at = 0; ok && at < n - 1 && out->n < IMP_MAX_SEQS; at += n_ctx) {
        int32_t len = (int32_t)(n - at < n_ctx ? n - at : n_ctx);
        out->tok[out->n] = malloc((size_t)len * sizeof(int32_t));
        memcpy(out->tok[out->n], all + at, (size_t)len * sizeof(int32_t));
        out->len[out->n++] = len;
    }
    if (!ok) fprintf(stderr, "%s: cannot read or encode it\n", o->text);
    if (f) fclose(f);
    if (m && f) ex_text_free(&text);
    free(buf);
    free(all);
    skim_model_destroy(m);
    return ok;
}

static int usage(void) {
    fprintf(stderr, "usage: importance -m MODEL.gguf [--text FILE] [--max-tokens N] [--backend "
                    "cpu|vulkan] [--threads N] [--drop K] [--drop-out FILE] [--prune K] "
                    "[--mask-out FILE] [--table]\n");
    return 2;
}

static bool parse(int argc, char **argv, imp_opts *o) {
    memset(o, 0, sizeof *o);
    o->backend = "cpu";
    o->n_drop = o->n_prune = 1;
    o->max_tokens = 2048;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--table") == 0) { o->table = true; continue; }
        if (!v) return false;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) o->model = v;
        else if (strcmp(a, "--text") == 0) o->text = v;
        else if (strcmp(a, "--max-tokens") == 0) o->max_tokens = atoll(v);
        else if (strcmp(a, "--backend") == 0) o->backend = v;
        else if (strcmp(a, "--threads") == 0) o->threads = atoi(v);
        else if (strcmp(a, "--drop") == 0) o->n_drop = atoi(v);
        else if (strcmp(a, "--drop-out") == 0) o->drop_out = v;
        else if (strcmp(a, "--prune") == 0) o->n_prune = atoi(v);
        else if (strcmp(a, "--mask-out") == 0) o->mask_out = v;
        else return false;
        i++;
    }
    return o->model && o->max_tokens > 1 && o->n_drop >= 0 && o->n_prune >= 0;
}

static const char *const rank_prompts[] = {"Once upon a time", "The little dog",
                                           "One day, a girl", "Tom and his mom",
                                           "The robot", "In the morning"};

static bool write_outputs(const imp_opts *o, const int *aorder, const int *horder, int n_layer,
                          int n_head) {
    if (o->drop_out) {
        FILE *f = fopen(o->drop_out, "w");
        if (!f) return false;
        for (int k = 0; k < o->n_drop && k < n_layer; k++) fprintf(f, "%s%d", k ? "," : "", aorder[k]);
        fprintf(f, "\n");
        fclose(f);
        printf("wrote %s (%d attention sublayers to drop)\n", o->drop_out, o->n_drop);
    }
    if (o->mask_out) {
        FILE *f = fopen(o->mask_out, "w");
        if (!f) return false;
        int nl = n_layer * n_head;
        fprintf(f, "# static head mask: %d layers x %d heads, 0 = pruned (importance)\n", n_layer,
                n_head);
        for (int l = 0; l < n_layer; l++) {
            for (int j = 0; j < n_head; j++) {
                bool pr = false;
                for (int k = 0; k < o->n_prune && k < nl; k++) pr |= horder[k] == l * n_head + j;
                fprintf(f, "%s%d", j ? " " : "", pr ? 0 : 1);
            }
            fprintf(f, "\n");
        }
        fclose(f);
        printf("wrote %s (%d heads pruned)\n", o->mask_out, o->n_prune);
    }
    return true;
}

int main(int argc, char **argv) {
    imp_opts o;
    if (!parse(argc, argv, &o)) return usage();
    skim_model *m = imp_load(&o, 0, NULL, false, -1);
    if (!m) return 1;
    skim_model_hparams hp = *skim_model_get_hparams(m);
    skim_model_destroy(m);
    imp_seqs sq;
    bool ok = o.text ? text_seqs(&o, &sq) : imp_greedy(&o, rank_prompts, 6, 120, 480, &sq);
    skim_backend *be = ok ? imp_backend(o.backend, o.threads) : NULL;
    int L = hp.n_layer, H = hp.n_head;
    double *as = calloc((size_t)L, sizeof *as), *hs = calloc((size_t)L * H, sizeof *hs);
    int *aorder = calloc((size_t)L, sizeof *aorder), *horder = calloc((size_t)L * H, sizeof *horder);
    ok = be && as && hs && aorder && horder;
    if (ok) printf("%s: %lld positions of %s\n", o.model, (long long)imp_seqs_rows(&sq),
                   o.text ? o.text : "the model's greedy text");
    ok = ok && attn_scores(&o, &sq, be, as);
    if (ok) {
        rank(as, L, aorder);
        printf("(a) attention sublayers, least important first: 1 - cos(x, x + attn(x))\n");
        for (int k = 0; k < L; k++) printf("  block %d  %.5f\n", aorder[k], as[aorder[k]]);
    }
    ok = ok && head_scores(&o, &sq, be, L, H, hp.n_vocab, hs);
    if (ok) {
        rank(hs, L * H, horder);
        printf("(b) heads, least important first: loss increase (nats) when pruned alone\n");
        for (int k = 0; k < L * H; k++) {
            printf("  block %d head %d  %+.5f\n", horder[k] / H, horder[k] % H, hs[horder[k]]);
        }
        ok = write_outputs(&o, aorder, horder, L, H);
    }
    skim_backend_destroy(be);
    imp_seqs_free(&sq);
    int rc = ok ? 0 : 1;
    if (ok && o.table) rc = imp_table(&o, aorder, L);
    free(as);
    free(hs);
    free(aorder);
    free(horder);
    return rc;
}
