/* trace.h - per-token gate traces and the --trace SVG. */
#ifndef SKIM_EXAMPLE_TRACE_H
#define SKIM_EXAMPLE_TRACE_H

#include "skim-model.h"

typedef struct ex_trace {
    skim_token_trace *tokens;
    char *chars;
    int n, cap;
} ex_trace;

bool ex_trace_push(ex_trace *tr, const skim_token_trace *t, const char *piece, size_t len);
void ex_trace_free(ex_trace *tr);
/* The SVG; the model says which sublayers were dropped and heads pruned (drawn hatched). */
bool ex_trace_write_svg(const ex_trace *tr, const char *path, const skim_model *m);

#endif
