/* nn_predict.c — class probabilities from records: an input checked and normalised as the model
 * says, a batch predicted, and test-time views (the image moved and mirrored) averaged. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int vx_net_input(const vx_net *net, const vx_record *r, float *x, vx_error *err)
{
    const nn_layer *in = &net->layer[0];
    int ok = (r->rank == 3 && r->dim[0] == (uint32_t)in->c && r->dim[1] == (uint32_t)in->h &&
              r->dim[2] == (uint32_t)in->w) ||
             (r->rank == 2 && in->c == 1 && r->dim[0] == (uint32_t)in->h && r->dim[1] == (uint32_t)in->w);
    if (!ok) {
        char shape[64];
        vx_record_shape_text(r, shape, sizeof shape);
        return vx_fail(err, "record '%s' has shape [%s], the model wants [%dx%dx%d]", r->key ? r->key : "", shape,
                       in->c, in->h, in->w);
    }
    size_t count = (size_t)in->c * in->h * in->w;
    if (r->dtype == VX_F32 && (net->norm_bands || net->norm_segment)) {
        if (net->norm_bands && (!net->band_mean || !net->band_std))
            return vx_fail(err, "the model's input_norm=bands has no input_band_mean or input_band_std");
        if (vx_record_require_finite(r, err) < 0)
            return -1;
        nn_normalise(net, r->data, (size_t)in->w, (size_t)in->h * in->w, x, (size_t)in->h * in->w);
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        float v = r->dtype == VX_U8 ? ((const uint8_t *)r->data)[i] / 255.0f : ((const float *)r->data)[i];
        if (!isfinite(v))
            return vx_fail(err, "record '%s': value %zu is not finite", r->key ? r->key : "", i);
        x[i] = (v - net->in_mean) / net->in_std;
    }
    return 0;
}

int vx_net_predict(vx_net *net, const float *x, int n, float *probs, vx_error *err)
{
    /* Up to 64 images fill the GEMM tiles; sizing for more than asked would only touch memory
     * (at batch 1, zeroing 64 images' activations cost more than the network itself). */
    if (nn_net_reserve(net, n < 64 ? (n > 0 ? n : 1) : 64, 0, err) < 0)
        return -1;
    int batch = net->max_batch;
    const nn_layer *in = &net->layer[0];
    size_t per = (size_t)in->c * in->h * in->w;
    int classes = net->layer[net->nlayers - 1].c;
    for (int b0 = 0; b0 < n; b0 += batch) {
        int m = n - b0 < batch ? n - b0 : batch;
        for (int i = 0; i < m; i++)
            nn_net_set_input(net, m, i, x + (size_t)(b0 + i) * per);
        const float *p = nn_net_forward(net, m, 0, 0); /* [classes][m] */
        for (int i = 0; i < m; i++)
            for (int k = 0; k < classes; k++)
                probs[(size_t)(b0 + i) * classes + k] = p[(size_t)k * m + i];
    }
    return 0;
}

/* One view of each of n images [n][C][H][W]: moved by (dy, dx) with the border repeated, then
 * mirrored if asked. */
static void make_view(const float *x, int n, int C, int H, int W, int dy, int dx, int flip, float *y)
{
    for (size_t p = 0; p < (size_t)n * C; p++) {
        const float *src = x + p * H * W;
        float *dst = y + p * H * W;
        for (int r = 0; r < H; r++) {
            int sr = r - dy < 0 ? 0 : r - dy >= H ? H - 1 : r - dy;
            for (int c = 0; c < W; c++) {
                int oc = flip ? W - 1 - c : c;
                int sc = oc - dx < 0 ? 0 : oc - dx >= W ? W - 1 : oc - dx;
                dst[(size_t)r * W + c] = src[(size_t)sr * W + sc];
            }
        }
    }
}

int vx_net_predict_views(vx_net *net, const float *x, int n, const vx_views *views, float *probs, vx_error *err)
{
    const nn_layer *in = &net->layer[0];
    int classes = net->layer[net->nlayers - 1].c;
    static const int moves[5][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}};
    int nmoves = views->shift > 0 ? 5 : 1, nflips = views->flip ? 2 : 1;
    if (nmoves == 1 && nflips == 1)
        return vx_net_predict(net, x, n, probs, err);
    size_t count = (size_t)n * in->c * in->h * in->w, nprob = (size_t)n * classes;
    float *view = malloc(count * sizeof *view), *p = malloc(nprob * sizeof *p);
    int rc = view && p ? 0 : vx_fail(err, "out of memory for %d images' views", n);
    for (size_t i = 0; i < nprob; i++)
        probs[i] = 0;
    for (int m = 0; m < nmoves && rc == 0; m++)
        for (int f = 0; f < nflips && rc == 0; f++) {
            make_view(x, n, in->c, in->h, in->w, moves[m][0] * views->shift, moves[m][1] * views->shift, f, view);
            rc = vx_net_predict(net, view, n, p, err);
            for (size_t i = 0; i < nprob && rc == 0; i++)
                probs[i] += p[i];
        }
    for (size_t i = 0; i < nprob; i++)
        probs[i] /= (float)(nmoves * nflips);
    free(view);
    free(p);
    return rc;
}

/* One item of a views text, p[0..len): "flip" or "shift=N". */
static int view_item(const char *p, size_t len, vx_views *v)
{
    if (len == 4 && strncmp(p, "flip", 4) == 0 && !v->flip) {
        v->flip = 1;
        return 0;
    }
    if (len <= 6 || strncmp(p, "shift=", 6) != 0 || v->shift || !isdigit((unsigned char)p[6]))
        return -1;
    char *end;
    long n = strtol(p + 6, &end, 10);
    if (end != p + len || n < 1 || n > 64)
        return -1;
    v->shift = (int)n;
    return 0;
}

int vx_views_parse(const char *text, vx_views *views, vx_error *err)
{
    vx_views v = {0, 0};
    for (const char *p = text; strcmp(text, "none") != 0; p++) {
        size_t len = strcspn(p, ",");
        if (view_item(p, len, &v) < 0)
            return vx_fail(err, "views '%s': '%.*s' is not flip or shift=N (N from 1 to 64)", text, (int)len, p);
        p += len;
        if (!*p)
            break;
    }
    *views = v;
    return 0;
}

void vx_views_format(const vx_views *views, char *buf, size_t size)
{
    if (!views->flip && !views->shift)
        snprintf(buf, size, "none");
    else if (!views->shift)
        snprintf(buf, size, "flip");
    else
        snprintf(buf, size, "%sshift=%d", views->flip ? "flip," : "", views->shift);
}
