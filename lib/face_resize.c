/* face_resize.c — cv::resize(INTER_LINEAR_EXACT) on 8-bit gray, bit for bit: 8.8 fixed-point
 * weights per column and row, rows produced one at a time so a pyramid level needs two rows. */
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

int face_resizer_init(struct resizer *rs, const unsigned char *src, int sw, int sh, size_t sstride, int dw, int dh,
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

void face_resizer_free(struct resizer *rs)
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
const unsigned char *face_resizer_next(struct resizer *rs)
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
    if (face_resizer_init(&rs, src, sw, sh, sstride, dw, dh, err) < 0) {
        face_resizer_free(&rs);
        return -1;
    }
    for (int y = 0; y < dh; y++)
        memcpy(dst + (size_t)y * dw, face_resizer_next(&rs), (size_t)dw);
    face_resizer_free(&rs);
    return 0;
}
