/* facecrop.c — from an image record to the emotion model's input: the gray plane of a record,
 * and a face box (grown by a margin) averaged down to a small square by exact pixel areas. */
#define _POSIX_C_SOURCE 200809L
#include "vx_face.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* OpenCV's fixed-point luma; kept here too so this file does not depend on the decoders. */
static unsigned char luma(unsigned r, unsigned g, unsigned b)
{
    return (unsigned char)((9798u * r + 19235u * g + 3735u * b + 16384u) >> 15);
}

int vx_image_gray(const vx_record *r, const unsigned char **gray, int *width, int *height, unsigned char **scratch,
                  vx_error *err)
{
    *scratch = NULL;
    if (r->dtype != VX_U8)
        return vx_fail(err, "%s: the record holds %s values, not u8 pixels", r->key, vx_dtype_name(r->dtype));
    uint32_t c, h, w;
    if (r->rank == 2) {
        c = 1, h = r->dim[0], w = r->dim[1];
    } else if (r->rank == 3) {
        c = r->dim[0], h = r->dim[1], w = r->dim[2];
    } else {
        return vx_fail(err, "%s: rank %d record is no image (expected [channels, height, width])", r->key, r->rank);
    }
    if (c != 1 && c != 3 && c != 4)
        return vx_fail(err, "%s: %u channels; expected 1 (gray), 3 (RGB) or 4 (RGBA)", r->key, (unsigned)c);
    if (w > (1u << 24) || h > (1u << 24))
        return vx_fail(err, "%s: image %ux%u is too large", r->key, (unsigned)w, (unsigned)h);
    *width = (int)w;
    *height = (int)h;
    const unsigned char *d = r->data;
    if (c == 1) {
        *gray = d;
        return 0;
    }
    size_t plane = (size_t)w * h; /* the record reader has bounded the payload */
    unsigned char *g = vx_malloc(plane, err);
    if (!g)
        return -1;
    for (size_t i = 0; i < plane; i++)
        g[i] = luma(d[i], d[plane + i], d[2 * plane + i]);
    *gray = *scratch = g;
    return 0;
}

/* How each output cell of one axis covers source pixels: the cell [a, b) overlaps pixel i
 * (which spans [i, i+1)) by a length; pixels outside the image stand for the nearest edge. */
struct span {
    int first, count; /* into the taps */
};

struct tap {
    int index;
    double weight;
};

static int axis_taps(double a0, double cell, int n, int limit, struct span *spans, struct tap **taps_out, vx_error *err)
{
    /* A cell of width w touches at most ceil(w) + 1 pixels. */
    size_t per = (size_t)ceil(cell) + 2, total;
    if (vx_size_mul(per, (size_t)n, &total, err) < 0)
        return -1;
    struct tap *taps = vx_malloc(total * sizeof *taps, err);
    if (!taps)
        return -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        double a = a0 + cell * i, b = a0 + cell * (i + 1);
        spans[i].first = k;
        for (double p = floor(a); p < b; p += 1) {
            double lo = p > a ? p : a, hi = p + 1 < b ? p + 1 : b;
            if (hi <= lo)
                continue;
            int idx = p < 0 ? 0 : p > limit - 1 ? limit - 1 : (int)p;
            taps[k].index = idx;
            taps[k].weight = (hi - lo) / cell;
            k++;
        }
        spans[i].count = k - spans[i].first;
    }
    *taps_out = taps;
    return 0;
}

int vx_face_crop(const unsigned char *gray, int width, int height, size_t stride, vx_box box, double margin,
                 int size, unsigned char *out, vx_error *err)
{
    if (width <= 0 || height <= 0 || size <= 0 || box.w <= 0 || box.h <= 0)
        return vx_fail(err, "cannot crop a %dx%d box from a %dx%d image to %d pixels", box.w, box.h, width, height,
                       size);
    if (!(margin >= 0) || margin > 10)
        return vx_fail(err, "margin %g is outside 0..10", margin);
    double x0 = box.x - margin * box.w, y0 = box.y - margin * box.h;
    double cw = box.w * (1 + 2 * margin) / size, ch = box.h * (1 + 2 * margin) / size;
    struct span *xs = vx_calloc((size_t)size, sizeof *xs, err), *ys = vx_calloc((size_t)size, sizeof *ys, err);
    struct tap *xt = NULL, *yt = NULL;
    int rc = -1;
    if (!xs || !ys || axis_taps(x0, cw, size, width, xs, &xt, err) < 0 || axis_taps(y0, ch, size, height, ys, &yt, err) < 0)
        goto done;
    for (int oy = 0; oy < size; oy++) {
        for (int ox = 0; ox < size; ox++) {
            double acc = 0;
            for (int j = 0; j < ys[oy].count; j++) {
                const struct tap *ty = &yt[ys[oy].first + j];
                const unsigned char *row = gray + (size_t)ty->index * stride;
                double racc = 0;
                for (int i = 0; i < xs[ox].count; i++)
                    racc += xt[xs[ox].first + i].weight * row[xt[xs[ox].first + i].index];
                acc += ty->weight * racc;
            }
            /* Weights sum to 1 up to rounding; a hair of slack keeps exact halves rounding up. */
            double v = floor(acc + 0.5 + 1e-9);
            out[(size_t)oy * size + ox] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    rc = 0;
done:
    free(xs);
    free(ys);
    free(xt);
    free(yt);
    return rc;
}
