/* gated_stack.h - random small gated transformer stacks for the property and thread
 * tests: per layer a token-halt (chained), head-gated attention (per-run [n_head] or
 * per-token [n_head, n_tok] scores) and an MLP, both added back with scatter_add_sel. */
#ifndef SKIM_TEST_GATED_STACK_H
#define SKIM_TEST_GATED_STACK_H

#include "test_common.h"

#define GS_MAX_LAYERS 4

typedef struct gs_config {
    int n_layer, n_tok, n_head, n_kv_head, head_dim, n_embd, n_ff;
    bool per_token[GS_MAX_LAYERS]; /* per-token head gate scores in that layer */
    bool f16_weights;
} gs_config;

typedef struct gs_layer {
    skim_tensor *halt_in, *gate_in; /* inputs: halting scores [n_tok], gate scores */
    skim_tensor *tok_sel, *head_sel;
    skim_tensor *x_out;             /* the residual stream after the layer (an output) */
    float tau_halt, tau_head;
    float *halt, *gate;             /* host data */
} gs_layer;

typedef struct gs_model {
    gs_config cfg;
    skim_context *ctx;
    skim_tensor *x_in, *pos;
    float *x_data;
    int32_t *pos_data;
    gs_layer layers[GS_MAX_LAYERS];
    skim_graph *graph;
    void *weights[GS_MAX_LAYERS * 8];
    int n_weights;
} gs_model;

/* A random configuration within the test's ranges. */
void gs_random_config(trng *r, gs_config *cfg);
/* Builds the stack with random weights and inputs (data drawn from r). Returns the
 * status of skim_graph_build (the context's message says why on failure). */
skim_status gs_build(gs_model *m, const gs_config *cfg, trng *r);
/* Draws new halting and gate scores (some NaN) for the thresholds fixed at build time
 * (some of which make selections empty or full). */
void gs_randomize_gates(gs_model *m, trng *r);
/* Uploads every input to the plan. */
skim_status gs_set_inputs(const gs_model *m, skim_plan *p);
void gs_free(gs_model *m);

#endif
