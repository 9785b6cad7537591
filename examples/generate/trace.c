/* trace.c - the --trace picture: a token-by-layer depth map (where each token halted) and
 * a layer-by-head map (how often each head ran, among the tokens that ran the layer).
 * What the model leaves out for good is drawn hatched, apart from what its gates skip:
 * dropped attention sublayers (depth map cells, every head of the layer), dropped
 * feed-forward sublayers (the row's label) and heads pruned by a static head mask. */
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ex_trace_push(ex_trace *tr, const skim_token_trace *t, const char *piece, size_t len) {
    if (tr->n == tr->cap) {
        int cap = tr->cap ? tr->cap * 2 : 256;
        skim_token_trace *nt = realloc(tr->tokens, (size_t)cap * sizeof *nt);
        char *nc = realloc(tr->chars, (size_t)cap);
        if (nt) tr->tokens = nt;
        if (nc) tr->chars = nc;
        if (!nt || !nc) return false;
        tr->cap = cap;
    }
    tr->tokens[tr->n] = *t;
    tr->chars[tr->n] = piece && len == 1 ? piece[0] : '?';
    tr->n++;
    return true;
}

void ex_trace_free(ex_trace *tr) {
    free(tr->tokens);
    free(tr->chars);
    memset(tr, 0, sizeof *tr);
}

static void svg_char(FILE *f, char c, double x, double y) {
    if (c == '\n') {
        fprintf(f, "<text x='%.1f' y='%.1f' class='c'>&#x21B5;</text>\n", x, y);
    } else if (c == '<') {
        fprintf(f, "<text x='%.1f' y='%.1f' class='c'>&lt;</text>\n", x, y);
    } else if (c == '&') {
        fprintf(f, "<text x='%.1f' y='%.1f' class='c'>&amp;</text>\n", x, y);
    } else if (c >= 32 && c < 127) {
        fprintf(f, "<text x='%.1f' y='%.1f' class='c'>%c</text>\n", x, y, c == ' ' ? '_' : c);
    }
}

/* Rows: layers (0 at the top); columns: tokens. A cell is dark when the token ran the
 * layer, pale when it had halted; the number of heads that ran shades it. */
static const char *layer_label(const skim_model *m, int l) {
    bool a = skim_model_sublayer_dropped(m, l, false), f = skim_model_sublayer_dropped(m, l, true);
    return a && f ? " -attn -mlp" : a ? " -attn" : f ? " -mlp" : "";
}

static double depth_map(FILE *f, const ex_trace *tr, const skim_model *m, double y0) {
    const double cw = 9, ch = 16, x0 = 96;
    int n_layer = skim_model_get_hparams(m)->n_layer, n_head = skim_model_get_hparams(m)->n_head;
    int per_row = 120;
    double y = y0;
    fprintf(f, "<text x='4' y='%.1f' class='h'>token-by-layer depth map (dark: ran the block, "
               "shade: heads that ran; pale: halted; hatched: attention dropped; -attn/-mlp: "
               "sublayers dropped)</text>\n", y + 12);
    y += 22;
    for (int start = 0; start < tr->n; start += per_row) {
        int end = start + per_row < tr->n ? start + per_row : tr->n;
        for (int l = 0; l < n_layer; l++) {
            fprintf(f, "<text x='4' y='%.1f' class='c'>layer %d%s</text>\n", y + l * ch + 12, l,
                    layer_label(m, l));
            bool dropped = skim_model_sublayer_dropped(m, l, false);
            for (int i = start; i < end; i++) {
                const skim_token_trace *t = &tr->tokens[i];
                if (dropped && l < t->depth) {
                    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' "
                               "fill='url(#hatch)' stroke='#1f4e9c' stroke-width='0.5'/>\n",
                            x0 + (i - start) * cw, y + l * ch, cw - 1, ch - 1);
                    continue;
                }
                int heads = __builtin_popcountll(t->head_mask[l]);
                double a = l < t->depth ? 0.35 + 0.65 * heads / (double)n_head : 0.0;
                const char *col = l < t->depth ? "#1f4e9c" : "#e8e8e8";
                fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='%s' "
                           "fill-opacity='%.2f'/>\n", x0 + (i - start) * cw, y + l * ch, cw - 1,
                        ch - 1, col, l < t->depth ? a : 1.0);
            }
        }
        for (int i = start; i < end; i++) {
            svg_char(f, tr->chars[i], x0 + (i - start) * cw + 1, y + n_layer * ch + 11);
        }
        y += n_layer * ch + 24;
    }
    return y;
}

static double head_map(FILE *f, const ex_trace *tr, const skim_model *m, double y0) {
    const double cw = 44, ch = 22, x0 = 96;
    int n_layer = skim_model_get_hparams(m)->n_layer, n_head = skim_model_get_hparams(m)->n_head;
    fprintf(f, "<text x='4' y='%.1f' class='h'>layer-by-head map: share of the tokens running "
               "the layer for which the head ran (hatched: pruned by the static mask or the "
               "layer's attention dropped)</text>\n", y0 + 12);
    double y = y0 + 22;
    for (int l = 0; l < n_layer; l++) {
        int ran = 0, on[64] = {0};
        for (int i = 0; i < tr->n; i++) {
            if (l >= tr->tokens[i].depth) continue;
            ran++;
            for (int h = 0; h < n_head && h < 64; h++) {
                on[h] += (tr->tokens[i].head_mask[l] >> h) & 1;
            }
        }
        fprintf(f, "<text x='4' y='%.1f' class='c'>layer %d%s</text>\n", y + l * ch + 15, l,
                layer_label(m, l));
        for (int h = 0; h < n_head && h < 64; h++) {
            bool drop = skim_model_sublayer_dropped(m, l, false);
            if (drop || skim_model_head_pruned(m, l, h)) {
                fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='url(#hatch)' "
                           "stroke='#999'/>\n<text x='%.1f' y='%.1f' class='c'>%s</text>\n",
                        x0 + h * cw, y + l * ch, cw - 2, ch - 2, x0 + h * cw + 3, y + l * ch + 15,
                        drop ? "drop" : "pruned");
                continue;
            }
            double frac = ran ? on[h] / (double)ran : 0.0;
            fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='#b5361c' "
                       "fill-opacity='%.2f' stroke='#999'/>\n", x0 + h * cw, y + l * ch, cw - 2,
                    ch - 2, 0.05 + 0.95 * frac);
            fprintf(f, "<text x='%.1f' y='%.1f' class='c'>%.0f%%</text>\n", x0 + h * cw + 6,
                    y + l * ch + 15, 100 * frac);
        }
    }
    for (int h = 0; h < n_head && h < 64; h++) {
        fprintf(f, "<text x='%.1f' y='%.1f' class='c'>head %d</text>\n", x0 + h * cw + 4,
                y + n_layer * ch + 12, h);
    }
    return y + n_layer * ch + 20;
}

bool ex_trace_write_svg(const ex_trace *tr, const char *path, const skim_model *m) {
    FILE *f = fopen(path, "w");
    if (!f) return false;
    int n_layer = skim_model_get_hparams(m)->n_layer, n_head = skim_model_get_hparams(m)->n_head;
    int per_row = tr->n < 120 ? tr->n : 120;
    int rows = (tr->n + 119) / 120;
    double w = 96 + per_row * 9 + 20, h = 30 + rows * (n_layer * 16 + 24) + 40 + n_layer * 22 + 40;
    if (w < 96 + n_head * 44 + 20) w = 96 + n_head * 44 + 20;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
               "font-family='monospace'>\n<style>.c{font-size:10px}.h{font-size:12px;"
               "font-weight:bold}</style>\n<defs><pattern id='hatch' width='4' height='4' "
               "patternUnits='userSpaceOnUse' patternTransform='rotate(45)'><rect width='4' "
               "height='4' fill='white'/><line x1='0' y1='0' x2='0' y2='4' stroke='#555' "
               "stroke-width='1.5'/></pattern></defs>\n"
               "<rect width='100%%' height='100%%' fill='white'/>\n", w, h);
    double y = depth_map(f, tr, m, 4);
    head_map(f, tr, m, y + 8);
    fprintf(f, "</svg>\n");
    return fclose(f) == 0;
}
