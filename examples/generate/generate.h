/* generate.h - the parts of the generate example shared by its files. */
#ifndef SKIM_EXAMPLE_GENERATE_H
#define SKIM_EXAMPLE_GENERATE_H

#include "skim-model.h"
#include "text.h"
#include "trace.h"

typedef struct options {
    const char *model, *backend, *prompt, *trace, *eval;
    const char *drop_attn, *drop_mlp, *head_mask; /* layer lists, a head-mask file */
    bool dense, qact;
    int n, threads;
    int ctx, batch; /* --ctx, --batch: cache positions and largest prefill chunk; 0: default */
    float temp, top_p, tau_g, tau_h;
    uint64_t seed;
} options;

double ex_now_s(void);
skim_status ex_layer_choices(const options *o, skim_model_desc *md, float **mask, char *msg,
                             size_t size);
void ex_print_skipped(const char *what, const skim_run_stats *st, int n_head);
/* Generation (run.c) and the bits-per-character evaluation (eval.c); exit codes. */
int run_generate(const options *o, skim_model *m, skim_backend *be, const ex_text *text);
int run_eval(const options *o, skim_model *m, skim_backend *be, const ex_text *text);

#endif
