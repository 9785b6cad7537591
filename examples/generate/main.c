/* generate - the demo: a GGUF model (the shipped gated model by default) generating text
 * on the Vulkan backend (or --backend cpu), streamed with a live tokens-per-second figure,
 * ending with the work the gates skipped. --trace FILE.svg draws where tokens halted and
 * how often each head ran. --eval FILE measures bits per character over the last 10% of
 * FILE (the validation split of tinyshakespeare) in windows of the context length.
 *
 *   generate [-m MODEL.gguf] [--backend vulkan|cpu] [--dense] [-n N] [--temp T]
 *            [--top-p P] [--seed S] [--prompt TEXT] [--threads N] [--trace FILE.svg]
 *            [--eval FILE] [--drop-attn LIST] [--drop-mlp LIST] [--head-mask FILE] [--qact]
 *            [--ctx N] [--batch N]
 *
 * --ctx: cache positions (default: the file's context length); --batch: the largest
 * prefill chunk and the prefill window (default: --ctx); a prompt runs in chunks of up to
 * that many tokens.
 * --drop-attn / --drop-mlp leave the attention / feed-forward sublayers of the listed
 * blocks ("3,5-7") out of the model; --head-mask prunes heads statically (a file of
 * n_layer x n_head 0/1 values, as tools/importance writes). --qact rounds activations to
 * 8 bits before Q8_0/Q4_0 products (SKIM_PLAN_QUANTIZED_ACTIVATIONS; CPU). */
#include "skim-cpu.h"
#include "skim-model.h"
#include "skim-text.h"
#ifdef SKIM_HAVE_VULKAN
#include "skim-vulkan.h"
#endif

#include "generate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SKIM_DEFAULT_MODEL
#define SKIM_DEFAULT_MODEL "assets/gated-shakespeare.gguf"
#endif


double ex_now_s(void) {
    struct timespec ts;
#if defined(_WIN32) && !defined(TIME_UTC) /* MinGW's msvcrt: winpthreads' clock */
    clock_gettime(CLOCK_REALTIME, &ts);
#else
    timespec_get(&ts, TIME_UTC);
#endif
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int usage(void) {
    fprintf(stderr, "usage: generate [-m MODEL.gguf] [--backend vulkan|cpu] [--dense] [-n N] "
                    "[--temp T] [--top-p P] [--seed S] [--prompt TEXT] [--threads N] "
                    "[--trace FILE.svg] [--eval FILE] [--tau-g T] [--tau-h T]\n"
                    "                [--drop-attn LIST] [--drop-mlp LIST] [--head-mask FILE] [--qact]"
                    " [--ctx N] [--batch N]\n"
                    "  --qact: activations rounded to 8 bits before Q8_0/Q4_0 products (CPU)\n"
                    "  default model: %s\n",
            SKIM_DEFAULT_MODEL);
    return 2;
}

static bool parse(int argc, char **argv, options *o) {
    memset(o, 0, sizeof *o);
    o->model = SKIM_DEFAULT_MODEL;
#ifdef SKIM_HAVE_VULKAN
    o->backend = "vulkan";
#else
    o->backend = "cpu";
#endif
    o->n = 256;
    o->temp = 0.8f;
    o->top_p = 0.9f;
    o->seed = (uint64_t)time(NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;
        if (strcmp(a, "--dense") == 0) o->dense = true, takes = false;
        else if (strcmp(a, "--qact") == 0) o->qact = true, takes = false;
        else if (!v) return a[0] != '-' ? (o->model = a, true) : false;
        else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) o->model = v;
        else if (strcmp(a, "--backend") == 0) o->backend = v;
        else if (strcmp(a, "-n") == 0) o->n = atoi(v);
        else if (strcmp(a, "--temp") == 0) o->temp = strtof(v, NULL);
        else if (strcmp(a, "--top-p") == 0) o->top_p = strtof(v, NULL);
        else if (strcmp(a, "--tau-g") == 0) o->tau_g = strtof(v, NULL);
        else if (strcmp(a, "--tau-h") == 0) o->tau_h = strtof(v, NULL);
        else if (strcmp(a, "--seed") == 0) o->seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--prompt") == 0 || strcmp(a, "-p") == 0) o->prompt = v;
        else if (strcmp(a, "--threads") == 0) o->threads = atoi(v);
        else if (strcmp(a, "--ctx") == 0) o->ctx = atoi(v);
        else if (strcmp(a, "--batch") == 0) o->batch = atoi(v);
        else if (strcmp(a, "--trace") == 0) o->trace = v;
        else if (strcmp(a, "--eval") == 0) o->eval = v;
        else if (strcmp(a, "--drop-attn") == 0) o->drop_attn = v;
        else if (strcmp(a, "--drop-mlp") == 0) o->drop_mlp = v;
        else if (strcmp(a, "--head-mask") == 0) o->head_mask = v;
        else if (a[0] != '-') o->model = a, takes = false;
        else return false;
        i += takes;
    }
    return o->n >= 0;
}

static skim_status make_backend(const options *o, skim_backend **be) {
    if (strcmp(o->backend, "cpu") == 0) {
        skim_cpu_desc d;
        memset(&d, 0, sizeof d);
        d.n_threads = o->threads;
        return skim_backend_create_cpu(&d, be);
    }
#ifdef SKIM_HAVE_VULKAN
    if (strcmp(o->backend, "vulkan") == 0) {
        char msg[256] = "";
        skim_status s = skim_backend_create_vulkan_msg(NULL, be, msg, sizeof msg);
        if (s != SKIM_OK) fprintf(stderr, "vulkan: %s\n", msg);
        return s;
    }
#endif
    fprintf(stderr, "backend '%s' is not built in (cpu%s)\n", o->backend,
#ifdef SKIM_HAVE_VULKAN
            ", vulkan"
#else
            ""
#endif
    );
    return SKIM_ERR_UNSUPPORTED;
}

void ex_print_skipped(const char *what, const skim_run_stats *st, int n_head) {
    double h = st->head_ops_dense ? 1.0 - (double)st->head_ops_executed / st->head_ops_dense : 0;
    /* assets/README.md section 4: head-ops among the tokens that ran the block. */
    double run = (double)st->token_layer_ops_executed * n_head;
    double hr = run > 0 ? 1.0 - st->head_ops_executed / run : 0;
    double t = st->token_layer_ops_dense
        ? 1.0 - (double)st->token_layer_ops_executed / st->token_layer_ops_dense : 0;
    double f = st->flops_dense > 0 ? 1.0 - st->flops_executed / st->flops_dense : 0;
    fprintf(stderr, "%s: skipped %.1f%% of token-layer ops (%lld of %lld run), %.1f%% of "
                    "head-ops among running tokens (%.1f%% counting halted tokens' heads: %lld of "
                    "%lld run), %.1f%% of FLOPs (%.3g of %.3g)\n", what, 100 * t,
            (long long)st->token_layer_ops_executed, (long long)st->token_layer_ops_dense,
            100 * hr, 100 * h, (long long)st->head_ops_executed, (long long)st->head_ops_dense,
            100 * f, st->flops_executed, st->flops_dense);
    if (st->runs > 0 && st->sublayers_dropped > 0) {
        fprintf(stderr, "layer drop: %lld sublayers left out of each run (counted as skipped)\n",
                (long long)(st->sublayers_dropped / st->runs));
    }
    if (st->runs > 0 && st->dispatches > 0) {
        fprintf(stderr, "runs: %.1f dispatches and %.1f pipeline barriers per run\n",
                (double)st->dispatches / (double)st->runs, (double)st->barriers / (double)st->runs);
        fprintf(stderr, "runs: %.1f workgroups launched per run\n",
                (double)st->workgroups / (double)st->runs);
    }
}

/* The desc's drop lists and head mask from the options; a head mask needs the model's
 * shape, read by loading it once without one. *mask (freed by the caller) holds it. */
skim_status ex_layer_choices(const options *o, skim_model_desc *md, float **mask, char *msg,
                             size_t size) {
    skim_status s = SKIM_OK;
    if (o->drop_attn) s = skim_model_parse_layers(o->drop_attn, 64, &md->drop_attn, msg, size);
    if (s == SKIM_OK && o->drop_mlp) {
        s = skim_model_parse_layers(o->drop_mlp, 64, &md->drop_mlp, msg, size);
    }
    if (s != SKIM_OK || !o->head_mask) {
        return s;
    }
    skim_model_desc plain = *md;
    plain.drop_attn = plain.drop_mlp = 0;
    plain.n_batch = -1;
    skim_model *m = NULL;
    if ((s = skim_model_load_file(o->model, &plain, &m, msg, size)) != SKIM_OK) {
        return s;
    }
    const skim_model_hparams *hp = skim_model_get_hparams(m);
    *mask = malloc((size_t)hp->n_layer * (size_t)hp->n_head * sizeof **mask);
    s = *mask ? skim_model_read_head_mask(o->head_mask, hp->n_layer, hp->n_head, *mask, msg, size)
              : SKIM_ERR_OUT_OF_MEMORY;
    md->head_mask = *mask;
    skim_model_destroy(m);
    return s;
}

int main(int argc, char **argv) {
    options o;
    if (!parse(argc, argv, &o)) return usage();
    skim_model_desc md;
    memset(&md, 0, sizeof md);
    md.dense = o.dense;
    md.gate_tau = o.tau_g;
    md.halt_tau = o.tau_h;
    md.n_ctx = o.ctx > 0 ? o.ctx : 0;
    md.n_batch = o.batch > 0 ? o.batch : 0; /* 0: n_ctx tokens (evaluation, long prompts) */
    skim_model *m = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    double t0 = ex_now_s();
    float *mask = NULL;
    skim_status s = ex_layer_choices(&o, &md, &mask, msg, sizeof msg);
    if (s == SKIM_OK) s = skim_model_load_file(o.model, &md, &m, msg, sizeof msg);
    free(mask);
    if (s != SKIM_OK) {
        fprintf(stderr, "%s: %s\n", skim_status_str(s), msg);
        return 1;
    }
    double t_load = ex_now_s() - t0;
    ex_text text;
    skim_backend *be = NULL;
    int rc = 1;
    if (ex_text_load(&text, skim_model_gguf(m))) {
        if (make_backend(&o, &be) == SKIM_OK) {
            fprintf(stderr, "model %s (%s%s), backend %s: %s\n", o.model,
                    skim_model_get_hparams(m)->arch == SKIM_ARCH_GATED ? "gated" : "llama",
                    skim_model_is_dense(m) ? ", no gates" : "", skim_backend_name(be),
                    skim_backend_device(be));
            fprintf(stderr, "loaded in %.3f s (file mapped, graphs built)\n", t_load);
            rc = o.eval ? run_eval(&o, m, be, &text) : run_generate(&o, m, be, &text);
        }
        ex_text_free(&text);
    }
    skim_backend_destroy(be);
    skim_model_destroy(m);
    return rc;
}
