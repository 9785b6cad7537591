/* gen_model - writes a synthetic llama-family GGUF of a real model's shapes with
 * deterministic random weights, for tests and benchmarks at the size users run.
 *
 *   gen_model [--preset NAME] [--type f16|q8_0|q4_0] [--seed S] [--ctx N] [--layers N]
 *             [--gated] [--head-frac F] [--token-frac F] OUT.gguf
 *
 * Presets: tinyllama-1.1b (d 2048, 22 layers, 32 heads, 4 KV heads, ffn 5632, vocab
 * 32000), llama-3.2-1b (d 2048, 16 layers, 32 heads, 8 KV heads, ffn 8192, vocab 128256,
 * RoPE base 500000) and tiny (d 64, 2 layers, 4 heads, 2 KV heads, ffn 192, vocab 320: the
 * test's). The context length written is --ctx (default 2048, 64 for tiny); the real
 * models' 131072 would make every default cache enormous.
 *
 * Weights: uniform, mean 0, standard deviation 1/sqrt(fan_in) for the projections, the
 * output projections (attn_output, ffn_down) also divided by sqrt(2 * layers) so that the
 * residual stream grows slowly over the blocks, as GPT-2's initialisation does; norms 1;
 * token embeddings of standard deviation 1. Every row comes from a generator seeded by
 * (seed, tensor name, row), so a file is the same however it is written. The data is
 * made a few rows at a time while the file is written (skim_gguf_writer_add_tensor_rows):
 * memory stays small whatever the model's size.
 *
 * --gated writes a "skim-gated" model (GELU feed-forward, a per-token head gate in every
 * block, a halting MLP before blocks 1..) whose gates are calibrated on inputs of unit RMS
 * with independent Gaussian entries (what an RMS-normalised hidden state looks like to a
 * random projection): a head's gate logit w.h + b is then N(b, |w|^2), so the bias
 * b = |w| * probit(head_frac) makes it run with probability head_frac; the halting MLP's
 * output bias is set from the logits of 1024 such samples so that a token halts in each
 * halting block with probability q, where (1 - q)^(halting blocks) = token_frac is the
 * fraction of tokens that reach the last block. Real hidden states are not independent
 * Gaussians: the fractions a run reports are measured, not promised.
 *
 * Tokenizer: a llama2.c-style vocabulary (<unk>, <s>, </s>, the 256 byte tokens, the
 * printable ASCII characters, then made-up pieces), so that generate can encode a prompt. */
#include "skim-gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct preset {
    const char *name;
    int d, layers, heads, kv_heads, ff, vocab, ctx;
    float rope_base;
} preset;

static const preset presets[] = {
    {"tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f},
    {"llama-3.2-1b", 2048, 16, 32, 8, 8192, 128256, 2048, 500000.0f},
    {"tiny", 64, 2, 4, 2, 192, 320, 64, 10000.0f},
};

enum { HALT_HIDDEN = 32, CALIB_SAMPLES = 1024 };

typedef struct gen {
    preset p;
    skim_type type;
    uint64_t seed;
    bool gated;
    double head_frac, token_frac;
    float *row;  /* one row of floats, max width */
    float *bias; /* calibrated biases of the tensor being written */
} gen;

/* ---------------------------------------------------------------- random numbers */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t row_state(const gen *g, const char *name, int64_t row) {
    uint64_t s = g->seed ^ name_hash(name);
    s ^= splitmix(&s) + (uint64_t)row * 0xD1B54A32D192ED03ull;
    return s;
}

/* Uniform in [-1, 1) times sqrt(3): variance 1. */
static float unit(uint64_t *s) {
    return (float)(((double)(splitmix(s) >> 11) * 0x1.0p-53 * 2.0 - 1.0) * 1.7320508075688772);
}

static double gauss(uint64_t *s) {
    double u1 = ((double)(splitmix(s) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(splitmix(s) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Row r of a tensor of random weights, standard deviation sd. */
static void random_row(const gen *g, const char *name, int64_t r, int64_t n, double sd,
                       float *out) {
    uint64_t s = row_state(g, name, r);
    for (int64_t i = 0; i < n; i++) out[i] = (float)(unit(&s) * sd);
}

/* The inverse of the standard normal CDF (Acklam's rational approximation, |error| <
 * 1.2e-9 over (0, 1)). */
static double probit(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549671010229297e+00,
                               4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    if (p <= 0.0) return -40.0;
    if (p >= 1.0) return 40.0;
    double q, r;
    if (p < 0.02425) {
        q = sqrt(-2 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    }
    if (p > 1 - 0.02425) return -probit(1 - p);
    q = p - 0.5;
    r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/* ---------------------------------------------------------------- tensors */

typedef enum kind { K_NORM, K_EMBD, K_PROJ, K_OUT_PROJ, K_GATE_W, K_GATE_B, K_HALT_UP,
                    K_HALT_UP_B, K_HALT_DOWN, K_HALT_DOWN_B } kind;

typedef struct tdesc {
    char name[64];
    kind k;
    int layer;
    int64_t ne0, ne1; /* ne1 0: a vector */
    skim_type type;
} tdesc;

static double proj_sd(const gen *g, const tdesc *t) {
    double sd = 1.0 / sqrt((double)t->ne0);
    return t->k == K_OUT_PROJ ? sd / sqrt(2.0 * g->p.layers) : sd;
}

static float gelu(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The halting MLP's output bias of layer il: P(logit >= 0) = q over unit Gaussian
 * inputs (halt_norm is 1, so the MLP sees the RMS-normalised input itself). */
static float halt_bias(gen *g, int il, double q) {
    const int d = g->p.d;
    char up[64], down[64];
    snprintf(up, sizeof up, "blk.%d.halt_up.weight", il);
    snprintf(down, sizeof down, "blk.%d.halt_down.weight", il);
    float *wu = malloc(sizeof(float) * (size_t)d * HALT_HIDDEN), wd[HALT_HIDDEN];
    double *logit = malloc(sizeof(double) * CALIB_SAMPLES);
    float *h = malloc(sizeof(float) * (size_t)d);
    if (!wu || !logit || !h) {
        free(wu), free(logit), free(h);
        return 0.0f;
    }
    for (int j = 0; j < HALT_HIDDEN; j++) random_row(g, up, j, d, 1.0 / sqrt(d), wu + (size_t)j * d);
    random_row(g, down, 0, HALT_HIDDEN, 1.0 / sqrt(HALT_HIDDEN), wd);
    uint64_t s = g->seed ^ name_hash(down) ^ 0xC0FFEEull;
    for (int n = 0; n < CALIB_SAMPLES; n++) {
        for (int i = 0; i < d; i++) h[i] = (float)gauss(&s);
        double z = 0.0;
        for (int j = 0; j < HALT_HIDDEN; j++) {
            double u = 0.0;
            for (int i = 0; i < d; i++) u += (double)wu[(size_t)j * d + i] * h[i];
            z += wd[j] * gelu((float)u);
        }
        logit[n] = z;
    }
    qsort(logit, CALIB_SAMPLES, sizeof *logit, cmp_double);
    int k = (int)((1.0 - q) * CALIB_SAMPLES);
    if (k < 0) k = 0;
    if (k >= CALIB_SAMPLES) k = CALIB_SAMPLES - 1;
    float b = (float)(-logit[k]);
    if (q <= 0.0) b = -1e4f; /* never halts */
    free(wu), free(logit), free(h);
    return b;
}

typedef struct tctx {
    gen *g;
    tdesc t;
} tctx;

static skim_status rows_fn(void *user, const char *name, int64_t row, int64_t n_rows,
                           void *dst) {
    tctx *c = user;
    gen *g = c->g;
    const tdesc *t = &c->t;
    size_t rs = skim_row_size(t->type, t->ne0);
    for (int64_t r = 0; r < n_rows; r++) {
        float *f = g->row;
        switch (t->k) {
        case K_NORM: for (int64_t i = 0; i < t->ne0; i++) f[i] = 1.0f; break;
        case K_EMBD: random_row(g, name, row + r, t->ne0, 1.0, f); break;
        case K_PROJ: case K_OUT_PROJ: case K_GATE_W:
            random_row(g, name, row + r, t->ne0, proj_sd(g, t), f);
            break;
        case K_HALT_UP: random_row(g, name, row + r, t->ne0, 1.0 / sqrt(g->p.d), f); break;
        case K_HALT_DOWN: random_row(g, name, row + r, t->ne0, 1.0 / sqrt(HALT_HIDDEN), f); break;
        case K_HALT_UP_B: for (int64_t i = 0; i < t->ne0; i++) f[i] = 0.0f; break;
        case K_GATE_B: {
            /* |w_h| * probit(head_frac) for every head h (the rows of attn_gate.weight). */
            char wn[64];
            snprintf(wn, sizeof wn, "blk.%d.attn_gate.weight", t->layer);
            for (int64_t h = 0; h < t->ne0; h++) {
                random_row(g, wn, h, g->p.d, 1.0 / sqrt(g->p.d), g->bias);
                double n2 = 0.0;
                for (int i = 0; i < g->p.d; i++) n2 += (double)g->bias[i] * g->bias[i];
                f[h] = (float)(sqrt(n2) * probit(g->head_frac));
            }
            break;
        }
        case K_HALT_DOWN_B: {
            int halting = g->p.layers - 1;
            double q = 1.0 - pow(g->token_frac, 1.0 / halting);
            f[0] = halt_bias(g, t->layer, q);
            break;
        }
        }
        if (skim_quantize(t->type, f, (uint8_t *)dst + (size_t)r * rs, 1, t->ne0) != rs) {
            return SKIM_ERR_INVALID_ARG;
        }
    }
    return SKIM_OK;
}

/* ---------------------------------------------------------------- the file */

static tctx *add(skim_gguf_writer *w, gen *g, tctx *list, int *n, kind k, int il,
                 const char *suffix, int64_t ne0, int64_t ne1) {
    tctx *c = &list[(*n)++];
    c->g = g;
    c->t.k = k;
    c->t.layer = il;
    c->t.ne0 = ne0;
    c->t.ne1 = ne1;
    bool matrix = ne1 && (k == K_EMBD || k == K_PROJ || k == K_OUT_PROJ);
    c->t.type = matrix ? g->type : SKIM_TYPE_F32;
    if (il >= 0) snprintf(c->t.name, sizeof c->t.name, "blk.%d.%s", il, suffix);
    else snprintf(c->t.name, sizeof c->t.name, "%s", suffix);
    int64_t ne[2] = {ne0, ne1 ? ne1 : 1};
    if (skim_gguf_writer_add_tensor_rows(w, c->t.name, c->t.type, ne1 ? 2 : 1, ne, rows_fn, c) !=
        SKIM_OK) {
        fprintf(stderr, "gen_model: %s\n", skim_gguf_writer_error(w));
        return NULL;
    }
    return c;
}

static bool add_tensors(skim_gguf_writer *w, gen *g, tctx *list, int *n) {
    const preset *p = &g->p;
    const int64_t d = p->d, kv = (int64_t)(p->d / p->heads) * p->kv_heads, f = p->ff;
    bool ok = add(w, g, list, n, K_EMBD, -1, "token_embd.weight", d, p->vocab) &&
              add(w, g, list, n, K_NORM, -1, "output_norm.weight", d, 0) &&
              add(w, g, list, n, K_PROJ, -1, "output.weight", d, p->vocab);
    for (int il = 0; ok && il < p->layers; il++) {
        ok = add(w, g, list, n, K_NORM, il, "attn_norm.weight", d, 0) &&
             add(w, g, list, n, K_PROJ, il, "attn_q.weight", d, d) &&
             add(w, g, list, n, K_PROJ, il, "attn_k.weight", d, kv) &&
             add(w, g, list, n, K_PROJ, il, "attn_v.weight", d, kv) &&
             add(w, g, list, n, K_OUT_PROJ, il, "attn_output.weight", d, d) &&
             add(w, g, list, n, K_NORM, il, "ffn_norm.weight", d, 0) &&
             add(w, g, list, n, K_PROJ, il, "ffn_up.weight", d, f) &&
             add(w, g, list, n, K_OUT_PROJ, il, "ffn_down.weight", f, d);
        if (ok && !g->gated) ok = add(w, g, list, n, K_PROJ, il, "ffn_gate.weight", d, f);
        if (ok && g->gated) {
            ok = add(w, g, list, n, K_GATE_W, il, "attn_gate.weight", d, p->heads) &&
                 add(w, g, list, n, K_GATE_B, il, "attn_gate.bias", p->heads, 0);
        }
        if (ok && g->gated && il >= 1) {
            ok = add(w, g, list, n, K_NORM, il, "halt_norm.weight", d, 0) &&
                 add(w, g, list, n, K_HALT_UP, il, "halt_up.weight", d, HALT_HIDDEN) &&
                 add(w, g, list, n, K_HALT_UP_B, il, "halt_up.bias", HALT_HIDDEN, 0) &&
                 add(w, g, list, n, K_HALT_DOWN, il, "halt_down.weight", HALT_HIDDEN, 1) &&
                 add(w, g, list, n, K_HALT_DOWN_B, il, "halt_down.bias", 1, 0);
        }
    }
    return ok;
}

/* The vocabulary: <unk>, <s>, </s>, <0x00>..<0xFF>, printable ASCII, made-up pieces. */
static bool add_vocab(skim_gguf_writer *w, const gen *g) {
    int n = g->p.vocab;
    char *buf = malloc((size_t)n * 16);
    const char **strs = malloc(sizeof(char *) * (size_t)n);
    float *scores = malloc(sizeof(float) * (size_t)n);
    bool ok = buf && strs && scores;
    uint64_t s = g->seed ^ 0x70CE5ull;
    for (int i = 0; ok && i < n; i++) {
        char *t = buf + (size_t)i * 16;
        if (i < 3) snprintf(t, 16, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 259) snprintf(t, 16, "<0x%02X>", i - 3);
        else if (i < 259 + 95) snprintf(t, 16, "%c", 32 + (i - 259));
        else {
            int len = 2 + (int)(splitmix(&s) % 5);
            for (int k = 0; k < len; k++) t[k] = (char)('a' + splitmix(&s) % 26);
            t[len] = 0;
        }
        strs[i] = t;
        scores[i] = i < 259 ? 0.0f : -(float)(i - 259);
    }
    if (ok) {
        ok = skim_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, NULL, (uint64_t)n) ==
                 SKIM_OK &&
             skim_gguf_writer_set_arr(w, "tokenizer.ggml.scores", SKIM_GGUF_FLOAT32, scores,
                                      (uint64_t)n) == SKIM_OK &&
             skim_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1) == SKIM_OK &&
             skim_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2) == SKIM_OK;
    }
    free(buf), free(strs), free(scores);
    return ok;
}

static bool add_meta(skim_gguf_writer *w, const gen *g) {
    const preset *p = &g->p;
    const char *a = g->gated ? "skim" : "llama";
    char k[96];
    bool ok = skim_gguf_writer_set_str(w, "general.architecture",
                                       g->gated ? "skim-gated" : "llama") == SKIM_OK &&
              skim_gguf_writer_set_str(w, "general.name", p->name) == SKIM_OK;
#define U32(key, v) \
    (snprintf(k, sizeof k, "%s.%s", a, key), skim_gguf_writer_set_u32(w, k, (uint32_t)(v)) == SKIM_OK)
#define F32(key, v) \
    (snprintf(k, sizeof k, "%s.%s", a, key), skim_gguf_writer_set_f32(w, k, (float)(v)) == SKIM_OK)
    ok = ok && U32("context_length", p->ctx) && U32("embedding_length", p->d) &&
         U32("block_count", p->layers) && U32("feed_forward_length", p->ff) &&
         U32("attention.head_count", p->heads) && U32("attention.head_count_kv", p->kv_heads) &&
         U32("rope.dimension_count", p->d / p->heads) && F32("rope.freq_base", p->rope_base) &&
         F32("attention.layer_norm_rms_epsilon", 1e-5);
    if (ok && g->gated) {
        ok = U32("halt.hidden", HALT_HIDDEN) && U32("halt.first_block", 1) &&
             F32("gate.threshold", 0.5) && F32("halt.threshold", 0.5);
    }
#undef U32
#undef F32
    return ok && add_vocab(w, g);
}

static int usage(void) {
    fprintf(stderr, "usage: gen_model [--preset tinyllama-1.1b|llama-3.2-1b|tiny] "
                    "[--type f16|q8_0|q4_0] [--seed S] [--ctx N] [--layers N] [--gated] "
                    "[--head-frac F] [--token-frac F] OUT.gguf\n");
    return 2;
}

int main(int argc, char **argv) {
    gen g;
    memset(&g, 0, sizeof g);
    g.p = presets[0];
    g.type = SKIM_TYPE_Q8_0;
    g.seed = 1;
    g.head_frac = 0.75;
    g.token_frac = 0.75;
    const char *out = NULL;
    int ctx = 0, layers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--gated")) { g.gated = true; continue; }
        if (a[0] != '-') { out = a; continue; }
        if (!v) return usage();
        i++;
        if (!strcmp(a, "--preset")) {
            size_t k = 0;
            while (k < sizeof presets / sizeof presets[0] && strcmp(presets[k].name, v)) k++;
            if (k == sizeof presets / sizeof presets[0]) return usage();
            g.p = presets[k];
        } else if (!strcmp(a, "--type")) {
            g.type = !strcmp(v, "f16") ? SKIM_TYPE_F16 : !strcmp(v, "q8_0") ? SKIM_TYPE_Q8_0
                   : !strcmp(v, "q4_0") ? SKIM_TYPE_Q4_0 : SKIM_TYPE_COUNT;
            if (g.type == SKIM_TYPE_COUNT) return usage();
        } else if (!strcmp(a, "--seed")) g.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--ctx")) ctx = atoi(v);
        else if (!strcmp(a, "--layers")) layers = atoi(v);
        else if (!strcmp(a, "--head-frac")) g.head_frac = atof(v);
        else if (!strcmp(a, "--token-frac")) g.token_frac = atof(v);
        else return usage();
    }
    if (!out || g.head_frac < 0 || g.head_frac > 1 || g.token_frac < 0 || g.token_frac > 1) {
        return usage();
    }
    if (ctx > 0) g.p.ctx = ctx;
    if (layers > 0) g.p.layers = layers;
    if (g.gated && (g.p.layers < 2 || g.p.heads > 64)) {
        fprintf(stderr, "gen_model: a gated model needs 2 or more layers and at most 64 heads\n");
        return 2;
    }
    int64_t width = g.p.ff > g.p.vocab ? g.p.ff : g.p.vocab;
    if (width < g.p.d) width = g.p.d;
    g.row = malloc(sizeof(float) * (size_t)width);
    g.bias = malloc(sizeof(float) * (size_t)g.p.d);
    tctx *list = calloc((size_t)g.p.layers * 20 + 8, sizeof *list);
    skim_gguf_writer *w = NULL;
    int n = 0, rc = 1;
    if (g.row && g.bias && list && skim_gguf_writer_create(NULL, &w) == SKIM_OK &&
        add_meta(w, &g) && add_tensors(w, &g, list, &n)) {
        if (skim_gguf_writer_write_file(w, out) == SKIM_OK) rc = 0;
        else fprintf(stderr, "gen_model: %s\n", skim_gguf_writer_error(w));
    } else {
        fprintf(stderr, "gen_model: %s\n", w ? skim_gguf_writer_error(w) : "out of memory");
    }
    skim_gguf_writer_destroy(w);
    free(list), free(g.row), free(g.bias);
    return rc;
}
