/* cascade_scan.c — OpenCV 4.6's CascadeClassifier::detectMultiScale redone in C, box for box: the
 * scale list, the bit-exact bilinear pyramid, integral images, variance-normalised stages and
 * groupRectangles. Each pyramid level is produced and scanned in bands of rows, so the memory
 * used beyond the input image is a few dozen rows per level, whatever the image size. */
#define _POSIX_C_SOURCE 200809L
#include "face_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* OpenCV's arithmetic is float and double without fused multiply-add (its x86-64 build has no
 * FMA in this code); clang would otherwise contract a*b+c. GCC in -std=c11 mode does not. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define BAND_ROWS 32          /* window rows scanned per band; even, so both y steps line up */
#define MAX_SCALES 100000     /* a scale factor barely above 1 cannot run away */
static const double group_eps = 0.2; /* detectMultiScale's GROUP_EPS */

/* cvRound: round half to even in the default rounding mode, like _mm_cvtss_si32/_mm_cvtsd_si32. */
static int round_f(float v)
{
    return (int)lrintf(v);
}

static int round_d(double v)
{
    return (int)lrint(v);
}

/* -------------------------------------------------------- boxes, grouping */

struct box_list {
    vx_box *b;
    size_t n, cap;
};

static int box_push(struct box_list *l, int x, int y, int w, int h, vx_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        vx_box *b = realloc(l->b, cap * sizeof *b);
        if (!b)
            return vx_fail(err, "out of memory: %zu candidate boxes", l->n);
        l->b = b;
        l->cap = cap;
    }
    l->b[l->n++] = (vx_box){x, y, w, h, 1};
    return 0;
}

/* OpenCV's SimilarRects. */
static int boxes_similar(const vx_box *a, const vx_box *b, double eps)
{
    double delta = eps * ((a->w < b->w ? a->w : b->w) + (a->h < b->h ? a->h : b->h)) * 0.5;
    return abs(a->x - b->x) <= delta && abs(a->y - b->y) <= delta && abs(a->x + a->w - b->x - b->w) <= delta &&
           abs(a->y + a->h - b->y - b->h) <= delta;
}

static int find_root(int *parent, int i)
{
    int r = i;
    while (parent[r] != r)
        r = parent[r];
    while (parent[i] != r) {
        int next = parent[i];
        parent[i] = r;
        i = next;
    }
    return r;
}

struct by_x {
    int x, i;
};

static int cmp_by_x(const void *a, const void *b)
{
    const struct by_x *p = a, *q = b;
    return p->x != q->x ? (p->x < q->x ? -1 : 1) : (p->i < q->i ? -1 : p->i > q->i);
}

/* cv::partition with SimilarRects: connected components of the similarity graph, numbered in
 * order of their first member, as OpenCV numbers them. Pairs are looked for only among boxes
 * whose x differ by at most the largest possible delta, which leaves the components unchanged. */
static int partition_boxes(const vx_box *b, size_t n, double eps, int *label, vx_error *err)
{
    int *parent = malloc(n * sizeof *parent);
    struct by_x *order = malloc(n * sizeof *order);
    if (!parent || !order) {
        free(parent);
        free(order);
        return vx_fail(err, "out of memory grouping %zu boxes", n);
    }
    for (size_t i = 0; i < n; i++) {
        parent[i] = (int)i;
        order[i] = (struct by_x){b[i].x, (int)i};
    }
    qsort(order, n, sizeof *order, cmp_by_x);
    for (size_t k = 0; k < n; k++) {
        const vx_box *a = &b[order[k].i];
        double reach = eps * (a->w + a->h) * 0.5; /* delta never exceeds this for a */
        for (size_t m = k + 1; m < n && order[m].x - a->x <= reach; m++) {
            if (!boxes_similar(a, &b[order[m].i], eps))
                continue;
            int r1 = find_root(parent, order[k].i), r2 = find_root(parent, order[m].i);
            if (r1 != r2)
                parent[r1 > r2 ? r1 : r2] = r1 < r2 ? r1 : r2;
        }
    }
    /* A component's class number is fixed by its first member in the original order. */
    free(order);
    int *cls = malloc(n * sizeof *cls);
    if (!cls) {
        free(parent);
        return vx_fail(err, "out of memory grouping %zu boxes", n);
    }
    for (size_t i = 0; i < n; i++)
        cls[i] = -1;
    int nclasses = 0;
    for (size_t i = 0; i < n; i++) {
        int r = find_root(parent, (int)i);
        if (cls[r] < 0)
            cls[r] = nclasses++;
        label[i] = cls[r];
    }
    free(cls);
    free(parent);
    return nclasses;
}

int vx_boxes_group(vx_box *boxes, size_t *n, int min_neighbors, double eps, vx_error *err)
{
    size_t count = *n;
    if (min_neighbors <= 0 || count == 0) {
        for (size_t i = 0; i < count; i++)
            boxes[i].strength = 1;
        return 0;
    }
    if (count > (size_t)1 << 30)
        return vx_fail(err, "too many boxes to group (%zu)", count);
    int *label = malloc(count * sizeof *label);
    if (!label)
        return vx_fail(err, "out of memory grouping %zu boxes", count);
    int nclasses = partition_boxes(boxes, count, eps, label, err);
    if (nclasses < 0) {
        free(label);
        return -1;
    }
    long long (*sum)[4] = calloc((size_t)nclasses, sizeof *sum);
    int *weight = calloc((size_t)nclasses, sizeof *weight);
    vx_box *avg = malloc((size_t)nclasses * sizeof *avg);
    if (!sum || !weight || !avg) {
        free(label);
        free(sum);
        free(weight);
        free(avg);
        return vx_fail(err, "out of memory grouping %zu boxes", count);
    }
    for (size_t i = 0; i < count; i++) {
        int c = label[i];
        sum[c][0] += boxes[i].x;
        sum[c][1] += boxes[i].y;
        sum[c][2] += boxes[i].w;
        sum[c][3] += boxes[i].h;
        weight[c]++;
    }
    /* The mean as OpenCV takes it: int sum times a float reciprocal, rounded half to even. */
    for (int c = 0; c < nclasses; c++) {
        float s = 1.f / (float)weight[c];
        avg[c] = (vx_box){round_f((float)sum[c][0] * s), round_f((float)sum[c][1] * s),
                          round_f((float)sum[c][2] * s), round_f((float)sum[c][3] * s), weight[c]};
    }
    size_t out = 0;
    for (int i = 0; i < nclasses; i++) {
        const vx_box *r1 = &avg[i];
        int n1 = weight[i], j;
        if (n1 <= min_neighbors)
            continue;
        /* Drop a small group inside a larger, stronger one. */
        for (j = 0; j < nclasses; j++) {
            int n2 = weight[j];
            if (j == i || n2 <= min_neighbors)
                continue;
            const vx_box *r2 = &avg[j];
            int dx = round_d(r2->w * eps), dy = round_d(r2->h * eps);
            if (r1->x >= r2->x - dx && r1->y >= r2->y - dy && r1->x + r1->w <= r2->x + r2->w + dx &&
                r1->y + r1->h <= r2->y + r2->h + dy && (n2 > (n1 > 3 ? n1 : 3) || n1 < 3))
                break;
        }
        if (j == nclasses)
            boxes[out++] = *r1;
    }
    *n = out;
    free(label);
    free(sum);
    free(weight);
    free(avg);
    return 0;
}

long vx_boxes_largest(const vx_box *boxes, size_t n)
{
    long best = -1;
    long long best_area = -1;
    for (size_t i = 0; i < n; i++) {
        long long a = (long long)boxes[i].w * boxes[i].h;
        if (a > best_area) {
            best_area = a;
            best = (long)i;
        }
    }
    return best;
}

/* ------------------------------------------------------ bit-exact resize */

/* cv::resize(INTER_LINEAR_EXACT) on 8-bit data works in 8.8 fixed point (ufixedpoint16):
 * each output column/row takes source index ofs and weights (256 - c, c). Columns before
 * `lo` repeat the first source pixel, columns from `hi` on repeat the last. */
struct axis {
    int *ofs;
    unsigned short *coef; /* pairs */
    int lo, hi;
};

static int axis_init(struct axis *a, int ssize, int dsize, vx_error *err)
{
    a->ofs = calloc((size_t)dsize, sizeof *a->ofs);
    a->coef = calloc((size_t)dsize * 2, sizeof *a->coef);
    if (!a->ofs || !a->coef)
        return vx_fail(err, "out of memory resizing to %d pixels", dsize);
    /* interpolationLinear: softdouble arithmetic, which is IEEE double. */
    double scale = 1.0 / ((double)dsize / ssize);
    a->lo = 0;
    a->hi = dsize;
    for (int d = 0; d < dsize; d++) {
        double f = scale * ((double)d + 0.5) - 0.5;
        int i = (int)floor(f);
        if (i >= 0 && ssize > 1) {
            if (i < ssize - 1) {
                double frac = f - (double)i;
                long c1 = signbit(frac) ? 0 : lrint(frac * 256.0);
                a->ofs[d] = i;
                a->coef[2 * d + 1] = (unsigned short)c1;
                a->coef[2 * d] = (unsigned short)(c1 < 256 ? 256 - c1 : 0);
            } else {
                a->ofs[d] = ssize - 1;
                if (d < a->hi)
                    a->hi = d;
            }
        } else if (d + 1 > a->lo) {
            a->lo = d + 1;
        }
    }
    return 0;
}

static void axis_free(struct axis *a)
{
    free(a->ofs);
    free(a->coef);
}

enum resize_mode { RESIZE_COPY, RESIZE_AREA2, RESIZE_LINEAR };

/* Produces the rows of one resized image in order, holding two horizontally resized source rows. */
struct resizer {
    const unsigned char *src;
    int sw, sh;
    size_t sstride;
    int dw, dh;
    enum resize_mode mode;
    struct axis x, y;
    unsigned short *hrow[2]; /* 8.8 fixed point, dw each */
    int hsrc[2];             /* which source row each holds, -1 none */
    unsigned char *row;      /* the current output row, dw bytes */
    int next;                /* the next output row */
};

static int resizer_init(struct resizer *rs, const unsigned char *src, int sw, int sh, size_t sstride, int dw, int dh,
                        vx_error *err)
{
    memset(rs, 0, sizeof *rs);
    rs->src = src;
    rs->sw = sw;
    rs->sh = sh;
    rs->sstride = sstride;
    rs->dw = dw;
    rs->dh = dh;
    rs->hsrc[0] = rs->hsrc[1] = -1;
    if (dw == sw && dh == sh) {
        rs->mode = RESIZE_COPY;
        return 0;
    }
    /* hal::resize turns an exact halving into INTER_AREA's 2x2 mean, which it says is the same. */
    double scale_x = 1. / ((double)dw / sw), scale_y = 1. / ((double)dh / sh);
    long ix = lrint(scale_x), iy = lrint(scale_y);
    if (fabs(scale_x - (double)ix) < DBL_EPSILON && fabs(scale_y - (double)iy) < DBL_EPSILON && ix == 2 && iy == 2)
        rs->mode = RESIZE_AREA2;
    else
        rs->mode = RESIZE_LINEAR;
    rs->row = malloc((size_t)dw);
    if (!rs->row)
        return vx_fail(err, "out of memory resizing to %dx%d", dw, dh);
    if (rs->mode == RESIZE_AREA2)
        return 0;
    rs->hrow[0] = malloc((size_t)dw * sizeof(unsigned short));
    rs->hrow[1] = malloc((size_t)dw * sizeof(unsigned short));
    if (!rs->hrow[0] || !rs->hrow[1])
        return vx_fail(err, "out of memory resizing to %dx%d", dw, dh);
    if (axis_init(&rs->x, sw, dw, err) < 0 || axis_init(&rs->y, sh, dh, err) < 0)
        return -1;
    return 0;
}

static void resizer_free(struct resizer *rs)
{
    free(rs->row);
    free(rs->hrow[0]);
    free(rs->hrow[1]);
    axis_free(&rs->x);
    axis_free(&rs->y);
}

/* hlineResize for one channel: source row sy resized across, in 8.8 fixed point. */
static const unsigned short *resizer_hrow(struct resizer *rs, int sy)
{
    for (int k = 0; k < 2; k++)
        if (rs->hsrc[k] == sy)
            return rs->hrow[k];
    /* Rows are asked for in increasing order: replace the older one. */
    int k = rs->hsrc[0] < rs->hsrc[1] ? 0 : 1;
    const unsigned char *s = rs->src + (size_t)sy * rs->sstride;
    unsigned short *h = rs->hrow[k];
    const struct axis *a = &rs->x;
    int i = 0;
    for (; i < a->lo; i++)
        h[i] = (unsigned short)(s[0] << 8);
    for (; i < a->hi; i++) {
        const unsigned char *p = s + a->ofs[i];
        h[i] = (unsigned short)(a->coef[2 * i] * p[0] + a->coef[2 * i + 1] * p[1]);
    }
    unsigned short last = (unsigned short)(s[a->ofs[rs->dw - 1]] << 8);
    for (; i < rs->dw; i++)
        h[i] = last;
    rs->hsrc[k] = sy;
    return h;
}

/* The next output row. */
static const unsigned char *resizer_next(struct resizer *rs)
{
    int dy = rs->next++;
    unsigned char *out = rs->row;
    if (rs->mode == RESIZE_COPY)
        return rs->src + (size_t)dy * rs->sstride;
    if (rs->mode == RESIZE_AREA2) {
        const unsigned char *s0 = rs->src + (size_t)(2 * dy) * rs->sstride, *s1 = s0 + rs->sstride;
        for (int x = 0; x < rs->dw; x++)
            out[x] = (unsigned char)((s0[2 * x] + s0[2 * x + 1] + s1[2 * x] + s1[2 * x + 1] + 2) >> 2);
        return out;
    }
    const struct axis *a = &rs->y;
    if (dy < a->lo || dy >= a->hi) {
        /* Rows above the first or below the last source row: that row, rounded from 8.8. */
        const unsigned short *h = resizer_hrow(rs, dy < a->lo ? 0 : rs->sh - 1);
        for (int x = 0; x < rs->dw; x++)
            out[x] = (unsigned char)((h[x] + 128u) >> 8);
        return out;
    }
    int sy = a->ofs[dy];
    const unsigned short *h0 = resizer_hrow(rs, sy), *h1 = resizer_hrow(rs, sy + 1);
    unsigned c0 = a->coef[2 * dy], c1 = a->coef[2 * dy + 1];
    for (int x = 0; x < rs->dw; x++) {
        unsigned v = (h0[x] * c0 + h1[x] * c1 + 32768u) >> 16;
        out[x] = (unsigned char)(v > 255 ? 255 : v);
    }
    return out;
}

int vx_resize_linear_exact(const unsigned char *src, int sw, int sh, size_t sstride, unsigned char *dst, int dw,
                           int dh, vx_error *err)
{
    if (sw <= 0 || sh <= 0 || dw <= 0 || dh <= 0)
        return vx_fail(err, "cannot resize %dx%d to %dx%d", sw, sh, dw, dh);
    struct resizer rs;
    if (resizer_init(&rs, src, sw, sh, sstride, dw, dh, err) < 0) {
        resizer_free(&rs);
        return -1;
    }
    for (int y = 0; y < dh; y++)
        memcpy(dst + (size_t)y * dw, resizer_next(&rs), (size_t)dw);
    resizer_free(&rs);
    return 0;
}

/* ------------------------------------------------------- integral images */

/* One pyramid level. The integral images (sum, squared sum and, for tilted features, OpenCV's
 * 45-degree sum) hold integral rows base .. base+rows-1, each stride = width + 1 wide; values
 * wrap modulo 2^32 as OpenCV's CV_32S buffers do, and window differences come out exact. */
struct level {
    float scale;
    int ystep;
    int w, h; /* the resized image */
    size_t stride;
    int rows;            /* buffer capacity in integral rows */
    unsigned *sum;       /* rows * stride; sq and tilt follow in the same block */
    size_t sqofs, tofs;  /* offsets of the squared and tilted sums from sum */
    unsigned *tbuf;      /* OpenCV's running helper row for the tilted sum */
    int base, next;      /* first integral row held; next integral row to compute */
    struct resizer rs;
};

/* Integral row r from image row r-1, the buffer already holding row r-1. */
static void integral_row(struct level *lv, int r, const unsigned char *img, int tilted)
{
    size_t k = (size_t)(r - lv->base);
    unsigned *S = lv->sum + k * lv->stride, *Q = S + lv->sqofs, *T = S + lv->tofs;
    const unsigned *Sp = S - lv->stride, *Qp = Q - lv->stride, *Tp = T - lv->stride;
    int w = lv->w;
    unsigned s = 0, q = 0;
    S[0] = Q[0] = 0;
    for (int x = 0; x < w; x++) {
        s += img[x];
        q += (unsigned)img[x] * img[x];
        S[x + 1] = Sp[x + 1] + s;
        Q[x + 1] = Qp[x + 1] + q;
    }
    if (!tilted)
        return;
    unsigned *buf = lv->tbuf;
    if (r == 1) {
        T[0] = 0;
        for (int x = 0; x < w; x++)
            buf[x] = T[x + 1] = img[x];
        if (w == 1)
            buf[1] = 0;
        return;
    }
    /* OpenCV's recurrence (integral_ in sumpixels), column c of T being pixel c-1. */
    unsigned t0 = img[0], t1;
    T[0] = Tp[1];
    T[1] = Tp[1] + t0 + buf[1];
    int x = 1;
    for (; x < w - 1; x++) {
        t1 = buf[x];
        buf[x - 1] = t1 + t0;
        t0 = img[x];
        t1 += buf[x + 1] + t0 + Tp[x];
        T[x + 1] = t1;
    }
    if (w > 1) {
        t1 = buf[x];
        buf[x - 1] = t1 + t0;
        t0 = img[x];
        T[x + 1] = t0 + t1 + Tp[x];
        buf[x] = t0;
    }
}

/* Makes integral rows up to `last` available, keeping rows from `first` on. */
static void level_fill(struct level *lv, int first, int last, int tilted)
{
    if (first > lv->base) {
        int keep = lv->next - first;
        size_t n = (size_t)(keep > 0 ? keep : 0) * lv->stride * sizeof(unsigned);
        size_t from = (size_t)(first - lv->base) * lv->stride;
        memmove(lv->sum, lv->sum + from, n);
        memmove(lv->sum + lv->sqofs, lv->sum + lv->sqofs + from, n);
        if (tilted)
            memmove(lv->sum + lv->tofs, lv->sum + lv->tofs + from, n);
        lv->base = first;
    }
    for (; lv->next <= last; lv->next++) {
        if (lv->next == 0) {
            memset(lv->sum, 0, lv->stride * sizeof(unsigned));
            memset(lv->sum + lv->sqofs, 0, lv->stride * sizeof(unsigned));
            if (tilted)
                memset(lv->sum + lv->tofs, 0, lv->stride * sizeof(unsigned));
            continue;
        }
        integral_row(lv, lv->next, resizer_next(&lv->rs), tilted);
    }
}

/* ------------------------------------------------------------ evaluation */

/* A feature's rectangles as offsets from a window's top-left corner in the level buffer
 * (OpenCV's OptFeature); tilted ones point into the tilted sum. */
struct opt_feature {
    long ofs[CASCADE_MAX_RECTS][4];
    float weight[CASCADE_MAX_RECTS];
};

struct scan {
    const vx_cascade *c;
    struct opt_feature *feat;
    long nofs[4]; /* the normalisation rectangle: the window less a 1-pixel border */
    double norm_area;
};

static void corner_offsets(long *o, const struct cascade_rect *r, int tilted, size_t stride, size_t tofs)
{
    long s = (long)stride;
    if (tilted) {
        o[0] = (long)tofs + r->x + s * r->y;
        o[1] = (long)tofs + r->x - r->h + s * (r->y + r->h);
        o[2] = (long)tofs + r->x + r->w + s * (r->y + r->w);
        o[3] = (long)tofs + r->x + r->w - r->h + s * (r->y + r->w + r->h);
    } else {
        o[0] = r->x + s * r->y;
        o[1] = r->x + r->w + s * r->y;
        o[2] = r->x + s * (r->y + r->h);
        o[3] = r->x + r->w + s * (r->y + r->h);
    }
}

static void scan_offsets(struct scan *sc, const struct level *lv)
{
    const vx_cascade *c = sc->c;
    for (int i = 0; i < c->nfeatures; i++) {
        const struct cascade_feature *f = &c->features[i];
        for (int k = 0; k < CASCADE_MAX_RECTS; k++) {
            /* Unused rectangles keep offset 0 and weight 0, so they add nothing. */
            if (k < f->nrects)
                corner_offsets(sc->feat[i].ofs[k], &f->rect[k], f->tilted, lv->stride, lv->tofs);
            else
                memset(sc->feat[i].ofs[k], 0, sizeof sc->feat[i].ofs[k]);
            sc->feat[i].weight[k] = k < f->nrects ? f->rect[k].weight : 0.f;
        }
    }
    struct cascade_rect nr = {1, 1, c->win_w - 2, c->win_h - 2, 0.f};
    corner_offsets(sc->nofs, &nr, 0, lv->stride, 0);
    sc->norm_area = (double)nr.w * nr.h;
}

static int rect_sum(const unsigned *p, const long *o)
{
    return (int)(p[o[0]] - p[o[1]] - p[o[2]] + p[o[3]]);
}

/* HaarEvaluator::OptFeature::calc: float arithmetic in OpenCV's order. */
static float feature_value(const struct opt_feature *f, const unsigned *p)
{
    float ret = f->weight[0] * (float)rect_sum(p, f->ofs[0]) + f->weight[1] * (float)rect_sum(p, f->ofs[1]);
    if (f->weight[2] != 0.0f)
        ret += f->weight[2] * (float)rect_sum(p, f->ofs[2]);
    return ret;
}

/* HaarEvaluator::setWindow: 0 when the window is too flat to judge, else its 1/(area*stddev). */
static int window_norm(const struct scan *sc, const unsigned *p, size_t sqofs, float *factor)
{
    int valsum = rect_sum(p, sc->nofs);
    unsigned valsqsum = (unsigned)rect_sum(p + sqofs, sc->nofs);
    double nf = sc->norm_area * valsqsum - (double)valsum * valsum;
    if (nf > 0.) {
        nf = sqrt(nf);
        *factor = (float)(1. / nf);
        return sc->norm_area * *factor < 1e-1;
    }
    *factor = 1.f;
    return 0;
}

/* runAt + predictOrderedStump / predictOrdered: 1 accepted, -k rejected at stage k, -1 flat. */
static int run_at(const struct scan *sc, const unsigned *p, size_t sqofs)
{
    float norm;
    if (!window_norm(sc, p, sqofs, &norm))
        return -1;
    const vx_cascade *c = sc->c;
    if (c->stumps) {
        const struct cascade_stump *st = c->stumps;
        for (int si = 0; si < c->nstages; si++) {
            int ntrees = c->stages[si].ntrees;
            double tmp = 0;
            for (int i = 0; i < ntrees; i++) {
                double value = feature_value(&sc->feat[st[i].feature], p) * norm;
                tmp += value < st[i].threshold ? st[i].left : st[i].right;
            }
            if (tmp < c->stages[si].threshold)
                return -si;
            st += ntrees;
        }
        return 1;
    }
    for (int si = 0; si < c->nstages; si++) {
        const struct cascade_stage *stage = &c->stages[si];
        double sum = 0;
        for (int t = stage->first_tree; t < stage->first_tree + stage->ntrees; t++) {
            const struct cascade_tree *tr = &c->trees[t];
            int idx = 0;
            do {
                const struct cascade_node *nd = &c->nodes[tr->first_node + idx];
                double value = feature_value(&sc->feat[nd->feature], p) * norm;
                idx = value < nd->threshold ? nd->left : nd->right;
            } while (idx > 0);
            sum += c->leaves[tr->first_leaf - idx];
        }
        if (sum < stage->threshold)
            return -si;
    }
    return 1;
}

/* One row of windows, as CascadeClassifierInvoker walks it: a window rejected by the very
 * first stage makes the scan skip the next position. */
static int scan_row(const struct scan *sc, const struct level *lv, int y, int xend, struct box_list *out, vx_error *err)
{
    const unsigned *row = lv->sum + (size_t)(y - lv->base) * lv->stride;
    int winw = round_f((float)sc->c->win_w * lv->scale), winh = round_f((float)sc->c->win_h * lv->scale);
    for (int x = 0; x < xend; x += lv->ystep) {
        int result = run_at(sc, row + x, lv->sqofs);
        if (result > 0 &&
            box_push(out, round_f((float)x * lv->scale), round_f((float)y * lv->scale), winw, winh, err) < 0)
            return -1;
        if (result == 0)
            x += lv->ystep;
    }
    return 0;
}

static void level_free(struct level *lv)
{
    free(lv->sum);
    free(lv->tbuf);
    resizer_free(&lv->rs);
}

/* Resizes, integrates and scans one pyramid level band by band. */
static int scan_level(const vx_cascade *c, const unsigned char *gray, int width, int height, size_t stride,
                      float scale, int nstripes, struct box_list *out, vx_error *err)
{
    struct scan sc = {c, NULL, {0, 0, 0, 0}, 0};
    struct level lv;
    memset(&lv, 0, sizeof lv);
    lv.scale = scale;
    lv.ystep = scale >= 2 ? 1 : 2;
    /* FeatureEvaluator::updateScaleData: int / float, rounded. */
    lv.w = round_f((float)width / scale);
    lv.h = round_f((float)height / scale);
    int xend = lv.w + 1 - c->win_w, yend = lv.h + 1 - c->win_h; /* the working size */
    if (lv.w <= 0 || lv.h <= 0 || xend <= 0 || yend <= 0)
        return 0;
    /* OpenCV splits the rows into nstripes stripes of whole y steps; when the stripes fall
     * short of the working height, the last rows are never scanned. */
    int stripe = (yend / lv.ystep + nstripes - 1) / nstripes;
    stripe = (stripe > 1 ? stripe : 1) * lv.ystep;
    if ((long)stripe * nstripes < yend)
        yend = stripe * nstripes;
    lv.stride = (size_t)lv.w + 1;
    lv.rows = BAND_ROWS + c->win_h;
    size_t plane = (size_t)lv.rows * lv.stride;
    lv.sqofs = plane;
    lv.tofs = 2 * plane;
    size_t nplanes = c->has_tilted ? 3 : 2, total;
    if (vx_size_mul(plane, nplanes * sizeof(unsigned), &total, err) < 0)
        return -1;
    lv.sum = malloc(total);
    lv.tbuf = c->has_tilted ? malloc(lv.stride * sizeof(unsigned)) : NULL;
    sc.feat = malloc((size_t)c->nfeatures * sizeof *sc.feat);
    int rc = -1;
    if (!lv.sum || (c->has_tilted && !lv.tbuf) || !sc.feat) {
        vx_fail(err, "out of memory scanning a %dx%d pyramid level", lv.w, lv.h);
        goto done;
    }
    if (resizer_init(&lv.rs, gray, width, height, stride, lv.w, lv.h, err) < 0)
        goto done;
    scan_offsets(&sc, &lv);
    for (int y0 = 0; y0 < yend; y0 += BAND_ROWS) {
        int y1 = y0 + BAND_ROWS < yend ? y0 + BAND_ROWS : yend;
        level_fill(&lv, y0, y1 - 1 + c->win_h, c->has_tilted);
        for (int y = y0; y < y1; y += lv.ystep)
            if (scan_row(&sc, &lv, y, xend, out, err) < 0)
                goto done;
    }
    rc = 0;
done:
    free(sc.feat);
    level_free(&lv);
    return rc;
}

/* --------------------------------------------------------------- driver */

void vx_detect_params_init(vx_detect_params *p)
{
    p->scale_factor = 1.1;
    p->min_neighbors = 5;
    p->min_w = p->min_h = 30;
    p->max_w = p->max_h = 0;
}

/* detectMultiScaleNoGrouping's scale list: every factor whose window fits the image, less those
 * outside [min, max]; when that leaves none, the one closest to the minimum size. */
static int scale_list(const vx_cascade *c, int width, int height, const vx_detect_params *p, float **out, int *n,
                      vx_error *err)
{
    int maxw = p->max_w > 0 && p->max_h > 0 ? p->max_w : width;
    int maxh = p->max_w > 0 && p->max_h > 0 ? p->max_h : height;
    int nall = 0, cap = 64;
    float *all = malloc((size_t)cap * sizeof *all);
    if (!all)
        return vx_fail(err, "out of memory");
    for (double factor = 1;; factor *= p->scale_factor) {
        int ww = round_d(c->win_w * factor), wh = round_d(c->win_h * factor);
        if (ww > width || wh > height)
            break;
        if (nall == MAX_SCALES) {
            free(all);
            return vx_fail(err, "scale factor %g makes more than %d pyramid levels", p->scale_factor, MAX_SCALES);
        }
        if (nall == cap) {
            float *a = realloc(all, (size_t)(cap *= 2) * sizeof *a);
            if (!a) {
                free(all);
                return vx_fail(err, "out of memory");
            }
            all = a;
        }
        all[nall++] = (float)factor;
    }
    int k = 0;
    for (int i = 0; i < nall; i++) {
        int ww = round_f((float)c->win_w * all[i]), wh = round_f((float)c->win_h * all[i]);
        if (ww > maxw || wh > maxh)
            break;
        if (ww < p->min_w || wh < p->min_h)
            continue;
        all[k++] = all[i]; /* k <= i: filtering in place keeps order */
    }
    if (k == 0 && nall > 0) {
        /* Nothing was kept, so nothing was overwritten: all[] is intact. */
        int best = 0;
        double bestd = 0;
        for (int i = 0; i < nall; i++) {
            int ww = round_f((float)c->win_w * all[i]), wh = round_f((float)c->win_h * all[i]);
            double d = (double)((p->min_w - ww) * (p->min_w - ww) + (p->min_h - wh) * (p->min_h - wh));
            if (i == 0 || bestd > d) {
                bestd = d;
                best = i;
            }
        }
        all[0] = all[best];
        k = 1;
    }
    *out = all;
    *n = k;
    return 0;
}

int vx_cascade_detect(const vx_cascade *c, const unsigned char *gray, int width, int height, size_t stride,
                      const vx_detect_params *p, vx_box **boxes, size_t *nboxes, vx_error *err)
{
    *boxes = NULL;
    *nboxes = 0;
    if (!(p->scale_factor > 1) || !isfinite(p->scale_factor))
        return vx_fail(err, "scale factor %g must be above 1", p->scale_factor);
    if (width <= 0 || height <= 0 || stride < (size_t)width)
        return vx_fail(err, "bad image geometry %dx%d", width, height);
    if (width > (1 << 24) || height > (1 << 24))
        return vx_fail(err, "image %dx%d is too large", width, height);
    if (height < c->win_h || width < c->win_w)
        return 0;
    float *scales = NULL;
    int nscales = 0;
    if (scale_list(c, width, height, p, &scales, &nscales, err) < 0)
        return -1;
    struct box_list found = {NULL, 0, 0};
    struct box_list *level = calloc((size_t)nscales + 1, sizeof *level);
    int rc = -1;
    if (!level) {
        vx_fail(err, "out of memory");
        goto done;
    }
    /* detectMultiScaleNoGrouping: stripes of 32 columns of the first level's working width. */
    int nstripes = 0;
    if (nscales > 0) {
        int w0 = round_f((float)width / scales[0]) + 1 - c->win_w;
        nstripes = w0 > 0 ? (w0 + 31) / 32 : 0;
    }
    if (nstripes == 0)
        nscales = 0;
    /* Levels are independent: under OpenMP each thread takes whole levels, whose boxes are kept
     * apart and joined in level order, so the result is OpenCV's single-threaded order on any
     * number of threads. One parallel region per image keeps the cost of waiting small, and each
     * thread holds the band buffers of one level at a time. */
    int failed = -1; /* the first level that failed, whose message is kept */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) default(none) \
    shared(c, gray, width, height, stride, scales, nscales, nstripes, level, failed, err)
#endif
    for (int i = 0; i < nscales; i++) {
        vx_error e;
        if (scan_level(c, gray, width, height, stride, scales[i], nstripes, &level[i], &e) < 0) {
#ifdef _OPENMP
#pragma omp critical(vx_cascade_detect_error)
#endif
            if (failed < 0 || i < failed) {
                failed = i;
                if (err)
                    *err = e;
            }
        }
    }
    if (failed >= 0)
        goto done;
    for (int i = 0; i < nscales; i++)
        for (size_t k = 0; k < level[i].n; k++) {
            const vx_box *b = &level[i].b[k];
            if (box_push(&found, b->x, b->y, b->w, b->h, err) < 0)
                goto done;
        }
    if (vx_boxes_group(found.b, &found.n, p->min_neighbors, group_eps, err) < 0)
        goto done;
    /* CascadeClassifier::detectMultiScale clips to the image and drops what is left empty. */
    size_t k = 0;
    for (size_t i = 0; i < found.n; i++) {
        vx_box b = found.b[i];
        int x1 = b.x > 0 ? b.x : 0, y1 = b.y > 0 ? b.y : 0;
        int x2 = b.x + b.w < width ? b.x + b.w : width, y2 = b.y + b.h < height ? b.y + b.h : height;
        if (x2 - x1 <= 0 || y2 - y1 <= 0)
            continue;
        found.b[k++] = (vx_box){x1, y1, x2 - x1, y2 - y1, b.strength};
    }
    found.n = k;
    rc = 0;
done:
    for (int i = 0; level && i < nscales; i++)
        free(level[i].b);
    free(level);
    free(scales);
    if (rc < 0 || found.n == 0) {
        free(found.b);
        found.b = NULL;
        found.n = 0;
    }
    *boxes = found.b;
    *nboxes = found.n;
    return rc;
}
