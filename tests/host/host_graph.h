/* host_graph.h - the representative graph of the host tests (fault injection, threads): a
 * gated block in decode style on a given context, so that a test can hand the context its
 * own allocator. Token-halt, per-token head gate, Q through mul_mat_sel, RoPE, attention
 * over a KV cache (states written with set_rows, n_kv a run parameter), output projection
 * through mul_mat_sel_k, scatter_add_sel back, a GELU MLP, soft_max and argmax. Weights
 * and inputs come from a seed; the test keeps them alive while plans exist. */
#ifndef SKIM_HOST_GRAPH_H
#define SKIM_HOST_GRAPH_H

#include "test_common.h"

#define HG_EMBD 32
#define HG_HEADS 4
#define HG_HDIM 8
#define HG_TOK 6
#define HG_CTX 8
#define HG_FF 48
#define HG_NW 7

typedef struct host_graph {
    skim_tensor *x, *pos, *halt, *gate, *n_kv;
    skim_tensor *out, *probs, *best, *sel_tok;
    skim_graph *graph;
    /* host data */
    float *w[HG_NW];
    float x_data[HG_EMBD * HG_TOK], halt_data[HG_TOK], gate_data[HG_HEADS * HG_TOK];
    int32_t pos_data[HG_TOK];
    int32_t n_kv_value;
} host_graph;

/* Draws the weights and inputs from seed (malloc: not the allocator under test). Returns
 * false when out of memory. */
bool hg_init(host_graph *h, uint64_t seed);
/* New gate and halting scores from seed (the weights stay). */
void hg_new_gates(host_graph *h, uint64_t seed);
/* Builds the graph on ctx; returns skim_graph_build's status. */
skim_status hg_build(host_graph *h, skim_context *ctx);
/* Uploads the inputs and the n_kv parameter. */
skim_status hg_set_inputs(const host_graph *h, skim_plan *p);
/* Bytes of the outputs read by hg_read (out, probs, best). */
size_t hg_output_size(void);
/* Reads the outputs into dst (hg_output_size bytes). */
skim_status hg_read(const host_graph *h, skim_plan *p, void *dst);
void hg_free(host_graph *h);

#endif
