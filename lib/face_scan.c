/* face_scan.c — OpenCV 4.6's CascadeClassifier::detectMultiScale redone in C, box for box: the
 * scale list, the pyramid (face_resize.c), integral images, variance-normalised stages and the
 * grouping of raw boxes (face_boxes.c). Each pyramid level is produced and scanned in bands of rows, so the memory
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
        integral_row(lv, lv->next, face_resizer_next(&lv->rs), tilted);
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
    int winw = face_round_f((float)sc->c->win_w * lv->scale), winh = face_round_f((float)sc->c->win_h * lv->scale);
    for (int x = 0; x < xend; x += lv->ystep) {
        int result = run_at(sc, row + x, lv->sqofs);
        if (result > 0 &&
            face_box_push(out, face_round_f((float)x * lv->scale), face_round_f((float)y * lv->scale), winw, winh, err) < 0)
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
    face_resizer_free(&lv->rs);
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
    lv.w = face_round_f((float)width / scale);
    lv.h = face_round_f((float)height / scale);
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
    if (face_resizer_init(&lv.rs, gray, width, height, stride, lv.w, lv.h, err) < 0)
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
        int ww = face_round_d(c->win_w * factor), wh = face_round_d(c->win_h * factor);
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
        int ww = face_round_f((float)c->win_w * all[i]), wh = face_round_f((float)c->win_h * all[i]);
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
            int ww = face_round_f((float)c->win_w * all[i]), wh = face_round_f((float)c->win_h * all[i]);
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
        int w0 = face_round_f((float)width / scales[0]) + 1 - c->win_w;
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
            if (face_box_push(&found, b->x, b->y, b->w, b->h, err) < 0)
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
