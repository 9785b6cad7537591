/* golden - checks a backend against another on a real model: the prefill graph, with
 * every node kept as an output, runs on both, and the tool prints per layer the largest
 * absolute and relative difference of the hidden state (the residual stream after the
 * block) and of any node of the block, then the first node that diverges past the
 * tolerance. The tool a user runs to check a new GPU or driver.
 *
 *   golden [-m MODEL.gguf] [--prompt TEXT] [--tol T] [--dense] [--masked]
 * Backends: cpu (skip mode) against vulkan when built and usable; otherwise, or with
 * --masked, cpu skip mode against cpu masked-dense (the dense-equivalence law).
 * Exit status 0 when nothing diverges, 1 otherwise. */
#include "skim-cpu.h"
#include "skim-model.h"
#ifdef SKIM_HAVE_VULKAN
#include "skim-vulkan.h"
#endif

#include "text.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SKIM_DEFAULT_MODEL
#define SKIM_DEFAULT_MODEL "assets/gated-shakespeare.gguf"
#endif

typedef struct side {
    skim_backend *be;
    skim_session *s;
    const char *label;
} side;

typedef struct diff {
    double abs, rel; /* rel: largest |a-b| / max(|a|, |b|) over elements above 1e-3 */
    double norm;     /* max |a-b| / max |a|: the normalised error checked against tol */
} diff;

static diff compare(const float *a, const float *b, size_t n) {
    diff d = {0, 0, 0};
    double amax = 0.0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]), m = fmax(fabs(a[i]), fabs(b[i]));
        if (isnan(a[i]) != isnan(b[i])) e = INFINITY;
        d.abs = fmax(d.abs, e);
        if (m > 1e-3) d.rel = fmax(d.rel, e / m);
        amax = fmax(amax, fabs(a[i]));
    }
    d.norm = d.abs / fmax(amax, 1e-6);
    return d;
}

static int layer_of(const char *name, int current) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : current;
}

/* For each node, the index of the first named node at or after it (-1: none). The
 * builder names the results that matter (blk.N.attn_norm, blk.N.out, ...); an unnamed
 * node is part of the computation of the next named one, and is reported by it. */
static int *next_named(skim_graph *g) {
    int n = skim_graph_n_nodes(g), next = -1;
    int *nx = malloc(((size_t)n + 1) * sizeof *nx);
    for (int i = n - 1; nx && i >= 0; i--) {
        const char *name = skim_tensor_name(skim_graph_node(g, i));
        if (name && name[0]) next = i;
        nx[i] = next;
    }
    return nx;
}

static bool open_side(side *sd, skim_model *m, const char *kind, skim_plan_mode mode) {
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_status s = SKIM_ERR_UNSUPPORTED;
    if (strcmp(kind, "cpu") == 0) {
        s = skim_backend_create_cpu(NULL, &sd->be);
    }
#ifdef SKIM_HAVE_VULKAN
    if (strcmp(kind, "vulkan") == 0) {
        s = skim_backend_create_vulkan_msg(NULL, &sd->be, msg, sizeof msg);
        if (s != SKIM_OK) {
            fprintf(stderr, "vulkan: %s\n", msg);
            return false;
        }
    }
#endif
    if (s != SKIM_OK) return false;
    skim_session_desc d = {.mode = mode};
    s = skim_session_create(m, sd->be, &d, &sd->s, msg, sizeof msg);
    if (s != SKIM_OK) {
        fprintf(stderr, "%s: %s\n", kind, msg);
        return false;
    }
    printf("%s: %s (%s)\n", sd->label, skim_backend_name(sd->be), skim_backend_device(sd->be));
    return true;
}

/* Compares every readable node; prints the per-layer table and the first divergence. */
static int compare_graph(skim_model *m, side *a, side *b, double tol) {
    skim_graph *g = skim_model_prefill_graph(m);
    int n_layer = skim_model_get_hparams(m)->n_layer, layer = -1, first = -1;
    diff *worst = calloc((size_t)n_layer + 1, sizeof *worst);
    diff *hidden = calloc((size_t)n_layer + 1, sizeof *hidden);
    char first_name[160] = "";
    int *nx = next_named(g);
    if (!nx || !worst || !hidden) {
        fprintf(stderr, "out of memory\n");
        free(nx);
        free(worst);
        free(hidden);
        return 2;
    }
    for (int i = 0; i < skim_graph_n_nodes(g); i++) {
        skim_tensor *t = skim_graph_node(g, i);
        const char *name = skim_tensor_name(t);
        const char *owner = nx[i] >= 0 ? skim_tensor_name(skim_graph_node(g, nx[i])) : "";
        layer = layer_of(owner, layer);
        if (skim_tensor_get_kind(t) != SKIM_KIND_NODE || skim_tensor_is_selection(t) ||
            skim_tensor_type(t) != SKIM_TYPE_F32 || skim_tensor_bound(t)) {
            continue; /* compact rows differ in layout between skip and masked runs */
        }
        size_t nb = skim_tensor_nbytes(t);
        float *x = malloc(nb), *y = malloc(nb);
        if (x && y && skim_plan_get_output(skim_session_prefill_plan(a->s), t, x, nb) == SKIM_OK &&
            skim_plan_get_output(skim_session_prefill_plan(b->s), t, y, nb) == SKIM_OK) {
            diff d = compare(x, y, nb / sizeof(float));
            int slot = layer < 0 ? n_layer : layer; /* before block 0: the embedding */
            if (d.norm > worst[slot].norm) worst[slot] = d;
            if (strstr(name, ".out") && layer >= 0) hidden[layer] = d;
            if (first < 0 && !(d.norm <= tol)) {
                first = i;
                if (name[0]) snprintf(first_name, sizeof first_name, "%s", name);
                else if (owner[0]) snprintf(first_name, sizeof first_name, "(unnamed, computing "
                                            "%s)", owner);
                else snprintf(first_name, sizeof first_name, "(unnamed)");
                char where[32] = "before block 0";
                if (layer >= 0) snprintf(where, sizeof where, "block %d", layer);
                printf("first divergence: node %d %s (%s): max abs %.3g, normalised %.3g > "
                       "%.1g\n", i, first_name, where, d.abs, d.norm, tol);
            }
        }
        free(x);
        free(y);
    }
    printf("\nlayer  hidden max abs  hidden max rel  any node: normalised error\n");
    for (int l = 0; l < n_layer; l++) {
        printf("%5d  %14.3g  %14.3g  %.3g\n", l, hidden[l].abs, hidden[l].rel, worst[l].norm);
    }
    if (first < 0) printf("\nno node diverges past %.1g\n", tol);
    free(worst);
    free(hidden);
    free(nx);
    return first < 0 ? 0 : 1;
}

static int run(skim_model *m, const ex_text *text, const char *prompt, bool masked, double tol) {
    int32_t *tok = calloc((size_t)skim_model_n_batch(m), sizeof *tok);
    int64_t n = tok ? ex_text_encode(text, prompt, strlen(prompt), tok, skim_model_n_batch(m)) : -1;
    if (n < 1) {
        fprintf(stderr, "the prompt cannot be encoded\n");
        free(tok);
        return 2;
    }
    side a = {NULL, NULL, "reference"}, b = {NULL, NULL, "checked  "};
    int rc = 2;
    bool ok = open_side(&a, m, "cpu", SKIM_MODE_SKIP);
#ifdef SKIM_HAVE_VULKAN
    bool b_ok = ok && !masked && open_side(&b, m, "vulkan", SKIM_MODE_SKIP);
#else
    bool b_ok = false;
#endif
    if (ok && !b_ok) {
        printf("comparing cpu skip mode with cpu masked-dense\n");
        b_ok = open_side(&b, m, "cpu", SKIM_MODE_MASKED_DENSE);
    }
    if (ok && b_ok) {
        skim_status sa = skim_session_prefill(a.s, tok, (int32_t)n, NULL);
        skim_status sb = skim_session_prefill(b.s, tok, (int32_t)n, NULL);
        if (sa != SKIM_OK || sb != SKIM_OK) {
            fprintf(stderr, "run: %s / %s\n", skim_session_error(a.s), skim_session_error(b.s));
        } else {
            printf("%lld tokens (window %d), tolerance %.1g (max |diff| / max |reference|)\n",
                   (long long)n, skim_model_n_batch(m), tol);
            rc = compare_graph(m, &a, &b, tol);
        }
    }
    skim_session_destroy(a.s);
    skim_session_destroy(b.s);
    skim_backend_destroy(a.be);
    skim_backend_destroy(b.be);
    free(tok);
    return rc;
}

int main(int argc, char **argv) {
    const char *path = SKIM_DEFAULT_MODEL, *prompt = NULL;
    bool masked = false, dense = false;
    double tol = 1e-3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--masked") == 0) masked = true;
        else if (strcmp(argv[i], "--dense") == 0) dense = true;
        else if (strcmp(argv[i], "-m") == 0 && i + 1 < argc) path = argv[++i];
        else if (strcmp(argv[i], "--prompt") == 0 && i + 1 < argc) prompt = argv[++i];
        else if (strcmp(argv[i], "--tol") == 0 && i + 1 < argc) tol = atof(argv[++i]);
        else if (argv[i][0] != '-') path = argv[i];
        else {
            fprintf(stderr, "usage: golden [-m MODEL.gguf] [--prompt TEXT] [--tol T] [--dense] "
                            "[--masked]\n");
            return 2;
        }
    }
    skim_model_desc md;
    memset(&md, 0, sizeof md);
    md.dense = dense;
    md.debug_outputs = true;
    md.n_ctx = 64;
    skim_model *m = NULL;
    char msg[SKIM_MODEL_MSG_LEN] = "";
    skim_status s = skim_model_load_file(path, &md, &m, msg, sizeof msg);
    if (s != SKIM_OK) {
        fprintf(stderr, "%s: %s\n", skim_status_str(s), msg);
        return 2;
    }
    ex_text text;
    int rc = 2;
    if (ex_text_load(&text, skim_model_gguf(m))) {
        if (!prompt) {
            prompt = text.bpe ? "Once upon a time, there was a little girl"
                              : "ROMEO:\nWhat light through yonder window breaks?\nJULIET:\n";
        }
        rc = run(m, &text, prompt, masked, tol);
        ex_text_free(&text);
    }
    skim_model_destroy(m);
    return rc;
}
