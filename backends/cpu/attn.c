/* attn.c - causal grouped-query attention, one (head, query) row at a time.
 *
 * Keys are walked by rank: for a k bounded by a token selection, rank r is the r-th
 * selected token (SKIP: compact row r; MASKED_DENSE: row sel[r]), otherwise rank = row.
 * n_kv and kmask apply to ranks (as rows of the compact k in SKIP mode). Key r is visible
 * to query i when k_pos[r] <= q_pos[i]. Scores in rank order, max, exp (cpu-exp.h), sum
 * and the weighted sum of V in rank order: the same arithmetic in both modes. Unselected
 * heads (or head-query pairs) and rows without a visible key output zero. */
#include "cpu-exp.h"
#include "cpu-int.h"
#include "cpu-simd.h"

#include <math.h>
#include <string.h>

#define SKIM_CPU_MAX_GRP 64 /* query heads per KV head handled together */

/* Position of v in an ascending list, or -1. */
static int64_t list_find(const int32_t *list, int64_t n, int64_t v) {
    int64_t lo = 0, hi = n - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (list[mid] == v) {
            return mid;
        }
        if (list[mid] < v) {
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    return -1;
}

/* Whether head h runs for query row i (a row of q's run extent). */
static bool head_active(const skim_cpu_ctx *c, const skim_tensor *heads, const skim_tensor *q,
                        int64_t h, int64_t i) {
    if (!heads) {
        return true;
    }
    const int32_t *w = skim_cpu_words(c, heads);
    int64_t cap = heads->ne[0], groups = heads->ne[1];
    if (heads->sel_kind == SKIM_SEL_HEADS) {
        return list_find(w + 1, skim_cpu_count(w, 0, cap), h) >= 0;
    }
    int64_t ci = i;
    if (c->masked && q->bound) { /* row i is token i: find its compact row */
        const int32_t *bw = skim_cpu_words(c, q->bound);
        ci = list_find(bw + 1, skim_cpu_count(bw, 0, q->bound->ne[0]), i);
        if (ci < 0) {
            return false;
        }
    }
    return list_find(w + groups + h * cap, skim_cpu_count(w, h, cap), ci) >= 0;
}

/* A K or V row as floats (in place for F32). */
static const float *kv_row(const skim_cpu_ctx *c, const skim_tensor *t, const uint8_t *base,
                           int64_t kvh, int64_t row, float *buf) {
    const uint8_t *p = base + (size_t)kvh * t->nb[1] + (size_t)row * t->nb[2];
    if (t->type == SKIM_TYPE_F32) {
        return (const float *)(const void *)p;
    }
    skim_cpu_f16_to_f32((const uint16_t *)(const void *)p, buf, t->ne[0], c->avx2);
    return buf;
}

typedef struct attn_setup {
    const skim_tensor *q, *k, *v;
    const int32_t *qpos, *kpos;
    const float *kmask;
    int64_t hd, nh, grp, n_ranks;
    float scale;
} attn_setup;

/* Per-head state of one group: the heads sharing KV head kvh for query row i. */
typedef struct attn_group {
    int64_t n; /* heads in the group */
    bool active[SKIM_CPU_MAX_GRP];
    const float *q[SKIM_CPU_MAX_GRP];
    float *sc[SKIM_CPU_MAX_GRP], *acc[SKIM_CPU_MAX_GRP];
    float mx[SKIM_CPU_MAX_GRP], l[SKIM_CPU_MAX_GRP];
} attn_group;

/* The dot product and y += a * x of the matmul core (the same bits), called through the
 * core's dispatch; with AVX2 and a head dimension that is a multiple of 8 the two loops
 * below are compiled again with them inline (a call per key and head cost more than the
 * 8-value products). */
static inline float dot_c(const skim_cpu_ctx *c, const float *a, const float *b, int64_t n) {
    return skim_cpu_dot(c, a, b, n);
}
static inline void axpy_c(const skim_cpu_ctx *c, float *y, float a, const float *x, int64_t n) {
    skim_cpu_axpy(c, y, a, x, n);
}

#ifdef SKIM_CPU_X86
#define ATTN_AVX2 __attribute__((target("avx2,fma")))
/* n a multiple of 8: dot_avx's lanes, reduction and empty tail (+ 0.0f). */
ATTN_AVX2 static inline float dot_avx8(const skim_cpu_ctx *c, const float *a, const float *b,
                                       int64_t n) {
    (void)c;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t k = 0; k < n; k += 8) {
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
    }
    return skim_cpu_hsum_avx(acc) + 0.0f;
}
/* n a multiple of 8: axpy_avx's fused multiply-adds. */
ATTN_AVX2 static inline void axpy_avx8(const skim_cpu_ctx *c, float *y, float a, const float *x,
                                       int64_t n) {
    (void)c;
    __m256 va = _mm256_set1_ps(a);
    for (int64_t i = 0; i < n; i += 8) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    }
}
#endif

#ifdef SKIM_CPU_X86
/* Head dimension 8 with F32 keys: the scores of 8 keys at a time. The 8 key rows are
 * transposed so that column e holds value e of each key; a score is then the 8 products
 * q[e] * k[e] (each rounded once, as the fused multiply-add onto zero of dot_avx8 rounds
 * it) summed in dot_avx8's lane order ((p0+p4)+(p2+p6)) + ((p1+p5)+(p3+p7)), plus 0.0f:
 * the same bits as the key-by-key loop. Maxima as there (a NaN makes the head's max NaN). */
ATTN_AVX2 static void group_scores_k8(const skim_cpu_ctx *c, const skim_cpu_node *nd,
                                      const attn_setup *s, attn_group *ag, int64_t kvh,
                                      int32_t qp) {
    const uint8_t *kb = nd->src[SKIM_ATTN_K] + (size_t)kvh * s->k->nb[1];
    __m256 vmx[SKIM_CPU_MAX_GRP], bad[SKIM_CPU_MAX_GRP];
    for (int64_t g = 0; g < ag->n; g++) {
        vmx[g] = _mm256_set1_ps(-INFINITY);
        bad[g] = _mm256_setzero_ps();
    }
    const __m256 ninf = _mm256_set1_ps(-INFINITY), zero = _mm256_setzero_ps();
    const __m256 scale = _mm256_set1_ps(s->scale);
    for (int64_t r0 = 0; r0 < s->n_ranks; r0 += 8) {
        int nr = s->n_ranks - r0 < 8 ? (int)(s->n_ranks - r0) : 8;
        __m256 k[8];
        float vis[8], km[8];
        for (int i = 0; i < 8; i++) {
            int64_t r = r0 + (i < nr ? i : 0);
            int64_t j = skim_cpu_row_of(c, s->k->bound, r);
            int64_t kp = s->kpos ? s->kpos[j] : j;
            vis[i] = i < nr && kp <= qp ? 1.0f : 0.0f;
            km[i] = s->kmask && i < nr ? s->kmask[r] : 0.0f;
            k[i] = _mm256_loadu_ps((const float *)(const void *)(kb + (size_t)j * s->k->nb[2]));
        }
        /* transpose: t[e] lane i = k[i][e] */
        __m256 a0 = _mm256_unpacklo_ps(k[0], k[1]), a1 = _mm256_unpackhi_ps(k[0], k[1]);
        __m256 a2 = _mm256_unpacklo_ps(k[2], k[3]), a3 = _mm256_unpackhi_ps(k[2], k[3]);
        __m256 a4 = _mm256_unpacklo_ps(k[4], k[5]), a5 = _mm256_unpackhi_ps(k[4], k[5]);
        __m256 a6 = _mm256_unpacklo_ps(k[6], k[7]), a7 = _mm256_unpackhi_ps(k[6], k[7]);
        __m256 b0 = _mm256_shuffle_ps(a0, a2, 0x44), b1 = _mm256_shuffle_ps(a0, a2, 0xee);
        __m256 b2 = _mm256_shuffle_ps(a1, a3, 0x44), b3 = _mm256_shuffle_ps(a1, a3, 0xee);
        __m256 b4 = _mm256_shuffle_ps(a4, a6, 0x44), b5 = _mm256_shuffle_ps(a4, a6, 0xee);
        __m256 b6 = _mm256_shuffle_ps(a5, a7, 0x44), b7 = _mm256_shuffle_ps(a5, a7, 0xee);
        __m256 t[8];
        t[0] = _mm256_permute2f128_ps(b0, b4, 0x20);
        t[1] = _mm256_permute2f128_ps(b1, b5, 0x20);
        t[2] = _mm256_permute2f128_ps(b2, b6, 0x20);
        t[3] = _mm256_permute2f128_ps(b3, b7, 0x20);
        t[4] = _mm256_permute2f128_ps(b0, b4, 0x31);
        t[5] = _mm256_permute2f128_ps(b1, b5, 0x31);
        t[6] = _mm256_permute2f128_ps(b2, b6, 0x31);
        t[7] = _mm256_permute2f128_ps(b3, b7, 0x31);
        __m256 visible = _mm256_cmp_ps(_mm256_loadu_ps(vis), zero, _CMP_NEQ_OQ);
        __m256 vkm = _mm256_loadu_ps(km);
        __m256 inside = _mm256_cmp_ps(_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7),
                                      _mm256_set1_ps((float)nr), _CMP_LT_OQ);
        for (int64_t g = 0; g < ag->n; g++) {
            if (!ag->active[g]) {
                continue;
            }
            const float *q = ag->q[g];
            __m256 p[8];
            for (int e = 0; e < 8; e++) {
                p[e] = _mm256_mul_ps(_mm256_set1_ps(q[e]), t[e]);
            }
            __m256 e0 = _mm256_add_ps(_mm256_add_ps(p[0], p[4]), _mm256_add_ps(p[2], p[6]));
            __m256 e1 = _mm256_add_ps(_mm256_add_ps(p[1], p[5]), _mm256_add_ps(p[3], p[7]));
            __m256 d = _mm256_add_ps(_mm256_add_ps(e0, e1), zero);
            d = _mm256_blendv_ps(ninf, _mm256_add_ps(_mm256_mul_ps(d, scale), vkm), visible);
            float v8[8];
            _mm256_storeu_ps(v8, d);
            memcpy(ag->sc[g] + r0, v8, (size_t)nr * sizeof(float));
            __m256 live = _mm256_blendv_ps(ninf, d, inside);
            bad[g] = _mm256_or_ps(bad[g], _mm256_cmp_ps(live, live, _CMP_UNORD_Q));
            vmx[g] = _mm256_max_ps(vmx[g], live);
        }
    }
    for (int64_t g = 0; g < ag->n; g++) {
        float m8[8];
        _mm256_storeu_ps(m8, vmx[g]);
        float mx = -INFINITY;
        for (int i = 0; i < 8; i++) {
            mx = m8[i] > mx ? m8[i] : mx;
        }
        ag->mx[g] = _mm256_movemask_ps(bad[g]) ? NAN : mx;
    }
}
#endif

/* Scores sc[r] to softmax weights e^(sc[r] - mx) (cpu-exp.h: the same bits with and
 * without AVX2; a key that is not visible, -inf, gives 0) and their sum in rank order. */
static void exp_weights(const skim_cpu_ctx *c, float *sc, int64_t n, float mx, float *l) {
#ifdef SKIM_CPU_X86
    if (c->avx2) {
        skim_cpu_exp_shift_avx2(sc, n, mx);
    } else
#endif
    {
        (void)c;
        skim_cpu_exp_shift_c(sc, n, mx);
    }
    float sum = 0.0f;
    for (int64_t r = 0; r < n; r++) {
        sum += sc[r];
    }
    *l = sum;
}

#ifdef SKIM_CPU_X86
/* Head dimension 8 with F32 values: the weighted sum of V for up to 4 heads at a time in
 * registers (the key-by-key loop keeps them in memory and waits on each store). Per head
 * the same fused multiply-adds in rank order, skipping zero weights, as group_values. */
ATTN_AVX2 static void group_values_k8(const skim_cpu_ctx *c, const skim_cpu_node *nd,
                                      const attn_setup *s, attn_group *ag, int64_t kvh) {
    for (int64_t g = 0; g < ag->n; g++) {
        if (ag->active[g] && ag->mx[g] != -INFINITY) {
            exp_weights(c, ag->sc[g], s->n_ranks, ag->mx[g], &ag->l[g]);
        }
    }
    const uint8_t *vb = nd->src[SKIM_ATTN_V] + (size_t)kvh * s->v->nb[1];
    for (int64_t g0 = 0; g0 < ag->n; g0 += 4) {
        int n = ag->n - g0 < 4 ? (int)(ag->n - g0) : 4;
        const float *w[4];
        __m256 a[4];
        for (int h = 0; h < 4; h++) {
            int64_t g = g0 + (h < n ? h : 0);
            bool live = h < n && ag->active[g] && ag->mx[g] != -INFINITY;
            w[h] = live ? ag->sc[g] : NULL;
            a[h] = _mm256_loadu_ps(ag->acc[g]);
        }
        for (int64_t r = 0; r < s->n_ranks; r++) {
            int64_t j = skim_cpu_row_of(c, s->k->bound, r);
            __m256 v = _mm256_loadu_ps((const float *)(const void *)(vb + (size_t)j * s->v->nb[2]));
            for (int h = 0; h < 4; h++) {
                if (w[h] && w[h][r] != 0.0f) {
                    a[h] = _mm256_fmadd_ps(_mm256_set1_ps(w[h][r]), v, a[h]);
                }
            }
        }
        for (int h = 0; h < n; h++) {
            if (w[h]) {
                _mm256_storeu_ps(ag->acc[g0 + h], a[h]);
            }
        }
    }
}
#endif

/* Scores of every visible key for the active heads (each K row converted once); then the
 * softmax weights and the weighted sum of V, in rank order (each V row converted once). */
#define ATTN_LOOPS(SUF, ATTR, DOT, AXPY)                                                   \
    ATTR static void group_scores##SUF(const skim_cpu_ctx *c, const skim_cpu_node *nd,    \
                                       const attn_setup *s, attn_group *ag, int64_t kvh,  \
                                       int32_t qp, float *buf) {                          \
        for (int64_t g = 0; g < ag->n; g++) {                                              \
            ag->mx[g] = -INFINITY;                                                         \
        }                                                                                  \
        for (int64_t r = 0; r < s->n_ranks; r++) {                                         \
            int64_t j = skim_cpu_row_of(c, s->k->bound, r);                                \
            int64_t kp = s->kpos ? s->kpos[j] : j;                                         \
            const float *kr =                                                              \
                kp <= qp ? kv_row(c, s->k, nd->src[SKIM_ATTN_K], kvh, j, buf) : NULL;      \
            float km = s->kmask ? s->kmask[r] : 0.0f;                                      \
            for (int64_t g = 0; g < ag->n; g++) {                                          \
                if (!ag->active[g]) {                                                      \
                    continue;                                                              \
                }                                                                          \
                float v = kr ? DOT(c, ag->q[g], kr, s->hd) * s->scale + km : -INFINITY;    \
                ag->sc[g][r] = v;                                                          \
                /* a NaN makes the max NaN, so the whole row is NaN, as the math says */   \
                ag->mx[g] = (v > ag->mx[g] || isnan(v)) && !isnan(ag->mx[g]) ? v : ag->mx[g]; \
            }                                                                              \
        }                                                                                  \
    }                                                                                      \
    ATTR static void group_values##SUF(const skim_cpu_ctx *c, const skim_cpu_node *nd,    \
                                       const attn_setup *s, attn_group *ag, int64_t kvh,  \
                                       float *buf) {                                      \
        for (int64_t g = 0; g < ag->n; g++) {                                              \
            if (ag->active[g] && ag->mx[g] != -INFINITY) {                                 \
                exp_weights(c, ag->sc[g], s->n_ranks, ag->mx[g], &ag->l[g]);               \
            }                                                                              \
        }                                                                                  \
        for (int64_t r = 0; r < s->n_ranks; r++) {                                         \
            const float *vr = NULL;                                                        \
            for (int64_t g = 0; g < ag->n; g++) {                                          \
                if (!ag->active[g] || ag->mx[g] == -INFINITY) {                            \
                    continue;                                                              \
                }                                                                          \
                float p = ag->sc[g][r];                                                    \
                if (p != 0.0f) {                                                           \
                    if (!vr) {                                                             \
                        int64_t j = skim_cpu_row_of(c, s->k->bound, r);                    \
                        vr = kv_row(c, s->v, nd->src[SKIM_ATTN_V], kvh, j, buf);           \
                    }                                                                      \
                    AXPY(c, ag->acc[g], p, vr, s->hd);                                     \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

ATTN_LOOPS(_c, , dot_c, axpy_c)
#ifdef SKIM_CPU_X86
ATTN_LOOPS(_avx, ATTN_AVX2, dot_avx8, axpy_avx8)
#endif

/* Heads h0 .. h0+n-1 (n <= SKIM_CPU_MAX_GRP), all of KV head kvh, for query row i. */
static void attn_group_run(const skim_cpu_ctx *c, const skim_cpu_node *nd, const attn_setup *s,
                           int64_t kvh, int64_t h0, int64_t n, int64_t i) {
    attn_group ag;
    float *sc = c->scratch, *acc = sc + n * s->n_ranks, *buf = acc + n * s->hd;
    bool any = false;
    ag.n = n;
    for (int64_t g = 0; g < n; g++) {
        int64_t h = h0 + g;
        ag.active[g] = head_active(c, nd->t->src[SKIM_ATTN_HEADS], s->q, h, i);
        ag.q[g] = (const float *)(const void *)(nd->src[SKIM_ATTN_Q] + (size_t)h * s->q->nb[1] +
                                                (size_t)i * s->q->nb[2]);
        ag.sc[g] = sc + g * s->n_ranks;
        ag.acc[g] = acc + g * s->hd;
        ag.l[g] = 0.0f;
        memset(ag.acc[g], 0, (size_t)s->hd * sizeof(float));
        any = any || ag.active[g];
    }
    if (any) {
#ifdef SKIM_CPU_X86
        if (c->avx2 && s->hd % 8 == 0) {
            if (s->hd == 8 && s->k->type == SKIM_TYPE_F32) {
                group_scores_k8(c, nd, s, &ag, kvh, s->qpos[i]);
            } else {
                group_scores_avx(c, nd, s, &ag, kvh, s->qpos[i], buf);
            }
            if (s->hd == 8 && s->v->type == SKIM_TYPE_F32) {
                group_values_k8(c, nd, s, &ag, kvh);
            } else {
                group_values_avx(c, nd, s, &ag, kvh, buf);
            }
            any = false;
        }
#endif
    }
    if (any) {
        group_scores_c(c, nd, s, &ag, kvh, s->qpos[i], buf);
        group_values_c(c, nd, s, &ag, kvh, buf);
    }
    for (int64_t g = 0; g < n; g++) {
        int64_t h = h0 + g;
        float *y = (float *)(void *)(nd->dst + (size_t)h * nd->t->nb[1] +
                                     (size_t)i * nd->t->nb[2]);
        bool live = ag.active[g] && ag.mx[g] != -INFINITY;
        for (int64_t e = 0; e < s->hd; e++) {
            y[e] = live ? ag.acc[g][e] / ag.l[g] : 0.0f;
        }
    }
}

void skim_cpu_op_attn(const skim_cpu_ctx *c, const skim_cpu_node *nd) {
    const skim_tensor *t = nd->t;
    attn_setup s;
    memset(&s, 0, sizeof s);
    s.q = t->src[SKIM_ATTN_Q];
    s.k = t->src[SKIM_ATTN_K];
    s.v = t->src[SKIM_ATTN_V];
    s.qpos = (const int32_t *)(const void *)nd->src[SKIM_ATTN_QPOS];
    s.kpos = (const int32_t *)(const void *)nd->src[SKIM_ATTN_KPOS];
    s.kmask = (const float *)(const void *)nd->src[SKIM_ATTN_KMASK];
    s.hd = s.q->ne[0];
    s.nh = s.q->ne[1];
    s.grp = s.nh / s.k->ne[1];
    s.scale = t->params.attn.scale;
    s.n_ranks = s.k->bound ? skim_cpu_count(skim_cpu_words(c, s.k->bound), 0, s.k->ne[2])
                           : s.k->ne[2];
    if (t->src[SKIM_ATTN_NKV]) {
        int64_t nkv = skim_cpu_param(c, t->src[SKIM_ATTN_NKV]);
        nkv = nkv < 0 ? 0 : nkv;
        s.n_ranks = nkv < s.n_ranks ? nkv : s.n_ranks;
    }
    int64_t nq = nd->sne[SKIM_ATTN_Q][2], nkvh = s.k->ne[1], ib, ie;
    int64_t nch = (s.grp + SKIM_CPU_MAX_GRP - 1) / SKIM_CPU_MAX_GRP; /* chunks per KV head */
    skim_cpu_split(nq * nkvh * nch, c->ith, c->nth, &ib, &ie);
    for (int64_t it = ib; it < ie; it++) {
        int64_t ch = it % nch, kvh = (it / nch) % nkvh, i = it / (nch * nkvh);
        int64_t h0 = kvh * s.grp + ch * SKIM_CPU_MAX_GRP;
        int64_t n = s.grp - ch * SKIM_CPU_MAX_GRP;
        attn_group_run(c, nd, &s, kvh, h0, n < SKIM_CPU_MAX_GRP ? n : SKIM_CPU_MAX_GRP, i);
    }
}
