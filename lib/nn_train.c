/* nn_train.c — training: the in-memory image set, seeded augmentation, the optimisers and
 * learning-rate schedules, one epoch of mini-batch training, evaluation and checkpoints. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* -------------------------------------------------------------- image set */

void vx_imageset_init(vx_imageset *d) { memset(d, 0, sizeof *d); }

void vx_imageset_free(vx_imageset *d)
{
    free(d->pixels);
    free(d->values);
    free(d->start);
    free(d->width);
    free(d->labels);
    free(d->classes);
    vx_imageset_init(d);
}

/* Room for one more sample's bookkeeping (labels, and for f32 its start and width). */
static int grow_index(vx_imageset *d, size_t per, vx_error *err)
{
    if (d->n < d->cap)
        return 0;
    size_t cap = d->cap ? 2 * d->cap : 1024, bytes;
    if (d->dtype == VX_U8) {
        if (vx_size_mul(cap, per, &bytes, err) < 0)
            return -1;
        uint8_t *p = realloc(d->pixels, bytes);
        if (!p)
            return vx_fail(err, "out of memory holding %zu images", cap);
        d->pixels = p;
    } else {
        size_t *st = realloc(d->start, cap * sizeof *st);
        if (st)
            d->start = st;
        uint32_t *w = st ? realloc(d->width, cap * sizeof *w) : NULL;
        if (!w)
            return vx_fail(err, "out of memory holding %zu samples", cap);
        d->width = w;
    }
    int *l = realloc(d->labels, cap * sizeof *l);
    if (!l)
        return vx_fail(err, "out of memory holding %zu images", cap);
    d->labels = l;
    d->cap = cap;
    return 0;
}

/* Keeps the classes= metadata of the stream, which every record must share. */
static int keep_classes(vx_imageset *d, const vx_record *r, vx_error *err)
{
    char names[VX_MAX_TEXT];
    int has = vx_record_get_meta(r, "classes", names, sizeof names);
    if (d->n == 0) {
        if (has && !(d->classes = strdup(names)))
            return vx_fail(err, "out of memory");
        return 0;
    }
    if (has != (d->classes != NULL) || (has && strcmp(names, d->classes) != 0))
        return vx_fail(err, "record '%s' has classes '%s' but earlier records have '%s'", r->key, has ? names : "",
                       d->classes ? d->classes : "");
    return 0;
}

const char *const vx_spectro_keys[VX_SPECTRO_KEYS] = {"rate", "n_fft", "hop", "mels", "fmin", "fmax"};

/* Keeps a spectrogram's parameters, which every record must share: a model is trained on one. */
static int keep_spectro(vx_imageset *d, const vx_record *r, vx_error *err)
{
    for (int i = 0; i < VX_SPECTRO_KEYS; i++) {
        char text[32];
        long count = 0;
        double v = 0;
        if (vx_record_get_meta(r, vx_spectro_keys[i], text, sizeof text)) {
            int bad = i < 4 ? vx_parse_long(text, vx_spectro_keys[i], 1, 1000000, &count, err)
                            : vx_parse_double(text, vx_spectro_keys[i], 0, 1000000, &v, err);
            if (bad < 0)
                return vx_fail(err, "record '%s': metadata %s=%s is not a %s", r->key, vx_spectro_keys[i], text,
                               i < 4 ? "count" : "frequency");
            if (i < 4)
                v = (double)count;
        }
        if (d->n == 0)
            d->spectro[i] = v;
        else if (v != d->spectro[i])
            return vx_fail(err, "record '%s' has %s=%g but earlier records have %g", r->key, vx_spectro_keys[i], v,
                           d->spectro[i]);
    }
    return 0;
}

int vx_imageset_add(vx_imageset *d, const vx_record *r, vx_error *err)
{
    uint32_t dim[3] = {1, r->dim[0], r->dim[1]};
    if (r->rank == 3)
        memcpy(dim, r->dim, sizeof dim);
    else if (r->rank != 2)
        return vx_fail(err, "record '%s' has rank %d; images are [C,H,W]", r->key, r->rank);
    if (r->label >= VX_NET_MAX_CLASSES || (r->label < 0 && !d->unlabelled))
        return vx_fail(err, "record '%s' has no label (or one above %d)", r->key, VX_NET_MAX_CLASSES - 1);
    if (keep_classes(d, r, err) < 0 || keep_spectro(d, r, err) < 0)
        return -1;
    if (d->n == 0) {
        memcpy(d->dim, dim, sizeof dim);
        d->dtype = r->dtype;
    } else if (r->dtype != d->dtype) {
        return vx_fail(err, "record '%s' is %s but earlier records are %s", r->key, vx_dtype_name(r->dtype),
                       vx_dtype_name(d->dtype));
    } else if (dim[0] != d->dim[0] || dim[1] != d->dim[1] || (d->dtype == VX_U8 && dim[2] != d->dim[2])) {
        return vx_fail(err, "record '%s' is %ux%ux%u but earlier images are %ux%ux%u", r->key, dim[0], dim[1],
                       dim[2], d->dim[0], d->dim[1], d->dim[2]);
    }
    size_t per = (size_t)dim[0] * dim[1] * dim[2];
    if (grow_index(d, per, err) < 0)
        return -1;
    if (r->dtype == VX_U8) {
        memcpy(d->pixels + d->n * per, r->data, per);
    } else {
        if (vx_record_require_finite(r, err) < 0)
            return -1;
        if (d->nvalues + per > d->values_cap) {
            size_t cap = d->values_cap ? d->values_cap : (size_t)1 << 20;
            while (cap < d->nvalues + per)
                cap *= 2;
            float *v = realloc(d->values, cap * sizeof *v);
            if (!v)
                return vx_fail(err, "out of memory holding %zu MB of samples", cap * sizeof *v >> 20);
            d->values = v;
            d->values_cap = cap;
        }
        memcpy(d->values + d->nvalues, r->data, per * sizeof *d->values);
        d->start[d->n] = d->nvalues;
        d->width[d->n] = dim[2];
        d->nvalues += per;
        if (dim[2] < d->dim[2])
            d->dim[2] = dim[2];
    }
    d->labels[d->n++] = r->label < 0 ? -1 : r->label;
    return 0;
}

int vx_imageset_read(vx_imageset *d, FILE *f, const char *where, vx_error *err)
{
    vx_reader rd;
    vx_record r;
    vx_reader_init(&rd, f, where);
    vx_record_init(&r);
    int got;
    while ((got = vx_reader_next(&rd, &r, err)) == 1)
        if (vx_imageset_add(d, &r, err) < 0) {
            got = -1;
            break;
        }
    vx_record_free(&r);
    return got < 0 ? -1 : 0;
}

/* ---------------------------------------------------------- augmentation */

/* Bilinear sample of a u8 plane with the border repeated. */
static float sample(const uint8_t *plane, int H, int W, float y, float x)
{
    x = x < 0 ? 0 : x > W - 1 ? (float)(W - 1) : x;
    y = y < 0 ? 0 : y > H - 1 ? (float)(H - 1) : y;
    int x0 = (int)x, y0 = (int)y;
    int x1 = x0 + 1 < W ? x0 + 1 : x0, y1 = y0 + 1 < H ? y0 + 1 : y0;
    float fx = x - (float)x0, fy = y - (float)y0;
    float top = plane[y0 * W + x0] + fx * (plane[y0 * W + x1] - plane[y0 * W + x0]);
    float bot = plane[y1 * W + x0] + fx * (plane[y1 * W + x1] - plane[y1 * W + x0]);
    return top + fy * (bot - top);
}

/* Random erasing: with probability p, a rectangle of 2% to 33% of the image (aspect 0.3 to 3.3)
 * becomes the mean (0 once normalised), so the net cannot lean on any one part of a face. */
static void erase_patch(uint64_t *rng, double p, int C, int H, int W, float *dst, size_t plane_stride)
{
    if (!(nn_uniform(rng) < p))
        return;
    float area = (0.02f + nn_uniform(rng) * 0.31f) * (float)(H * W);
    float aspect = expf(logf(0.3f) + nn_uniform(rng) * (logf(3.3f) - logf(0.3f)));
    int h = (int)lrintf(sqrtf(area * aspect)), w = (int)lrintf(sqrtf(area / aspect));
    h = h < 1 ? 1 : h > H ? H : h;
    w = w < 1 ? 1 : w > W ? W : w;
    int y0 = (int)(nn_uniform(rng) * (float)(H - h + 1)), x0 = (int)(nn_uniform(rng) * (float)(W - w + 1));
    y0 = y0 > H - h ? H - h : y0;
    x0 = x0 > W - w ? W - w : x0;
    for (int c = 0; c < C; c++)
        for (int y = y0; y < y0 + h; y++)
            memset(dst + c * plane_stride + (size_t)y * W + x0, 0, (size_t)w * sizeof *dst);
}

/* One image u8 [C][H][W] -> normalised floats, channel c at dst + c*plane_stride. With augment, a
 * random mirror, shift (up to 1/12 of the size), rotation (up to 10 degrees) and scale (up to 10%)
 * drawn from the sample's own RNG state, then random erasing with probability erase. */
static void prepare_image(const uint8_t *src, const uint32_t dim[3], int augment, double erase, uint64_t rng,
                          float mean, float std, float *dst, size_t plane_stride)
{
    int C = (int)dim[0], H = (int)dim[1], W = (int)dim[2];
    float scale = 1.0f / (255.0f * std), shift = mean / std;
    if (!augment) {
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H * W; i++)
                dst[c * plane_stride + (size_t)i] = src[(size_t)c * H * W + (size_t)i] * scale - shift;
        return;
    }
    int flip = nn_uniform(&rng) < 0.5f;
    float angle = (nn_uniform(&rng) * 2 - 1) * 0.17453f;
    float zoom = 1.0f + (nn_uniform(&rng) * 2 - 1) * 0.1f;
    float tx = (nn_uniform(&rng) * 2 - 1) * (float)W / 12, ty = (nn_uniform(&rng) * 2 - 1) * (float)H / 12;
    float cs = cosf(angle) / zoom, sn = sinf(angle) / zoom;
    float cx = (float)(W - 1) / 2, cy = (float)(H - 1) / 2;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            /* Inverse map: output pixel -> source position. */
            float dx = (float)x - cx - tx, dy = (float)y - cy - ty;
            float sx = cs * dx + sn * dy + cx, sy = -sn * dx + cs * dy + cy;
            if (flip)
                sx = (float)(W - 1) - sx;
            for (int c = 0; c < C; c++)
                dst[c * plane_stride + (size_t)y * W + x] = sample(src + (size_t)c * H * W, H, W, sy, sx) * scale - shift;
        }
    erase_patch(&rng, erase, C, H, W, dst, plane_stride);
}

/* A W-wide window of a spectrogram [C][H][width] at a random place, played faster or slower (its
 * frames read every s frames, s within [1/(1+stretch), 1+stretch] on a log scale, linearly
 * interpolated; as far as the sample is long) and moved up to band_shift bands up or down (the
 * edge band repeated), which roughly transposes it: timing and pitch that are no part of a
 * song's emotion, taught not to matter. */
static void warp_window(const float *src, uint32_t width, int C, int H, int W, const vx_train_opts *o,
                        uint64_t *rng, float *out, size_t plane_stride)
{
    double s = 1;
    if (o->stretch > 0)
        s = exp((nn_uniform(rng) * 2 - 1) * log(1 + o->stretch));
    if (W > 1 && (double)(W - 1) * s > (double)(width - 1))
        s = (double)(width - 1) / (double)(W - 1);
    uint32_t span = (uint32_t)ceil((double)(W - 1) * s) + 1;
    span = span > width ? width : span;
    uint32_t spare = width - span, offset = (uint32_t)(nn_uniform(rng) * (float)(spare + 1));
    offset = offset > spare ? spare : offset;
    int shift = 0;
    if (o->band_shift > 0)
        shift = (int)(nn_uniform(rng) * (float)(2 * o->band_shift + 1)) - o->band_shift;
    for (int c = 0; c < C; c++)
        for (int r = 0; r < H; r++) {
            int from = r - shift < 0 ? 0 : r - shift >= H ? H - 1 : r - shift;
            const float *row = src + ((size_t)c * H + (size_t)from) * width + offset;
            float *o_row = out + (size_t)c * plane_stride + (size_t)r * W;
            for (int x = 0; x < W; x++) { /* at <= (W-1) s <= span - 1 < width - offset */
                double at = (double)x * s;
                uint32_t i = (uint32_t)at;
                float f = (float)(at - (double)i);
                o_row[x] = i + 1 < width - offset ? row[i] + f * (row[i + 1] - row[i]) : row[i];
            }
        }
}

/* One real-valued sample [C][H][width] -> a W-wide window, normalised as the model says. The
 * audio policy draws the window's place, a gain (a shift of the dB scale, which removing each
 * band's mean undoes, as it should) and SpecAugment masks from the sample's own RNG state; without
 * it the middle window is taken as it is. */
static void prepare_values(const vx_net *net, const float *src, uint32_t width, const vx_train_opts *o,
                           uint64_t rng, float *dst, size_t plane_stride)
{
    const nn_layer *in = &net->layer[0];
    int C = in->c, H = in->h, W = in->w, audio = o->augment == VX_AUGMENT_AUDIO;
    if (audio && (o->band_shift > 0 || o->stretch > 0)) {
        /* Normalised in place: each row's values are read (for its mean) before it is written. */
        warp_window(src, width, C, H, W, o, &rng, dst, plane_stride);
        nn_normalise(net, dst, (size_t)W, plane_stride, dst, plane_stride);
    } else {
        uint32_t spare = width - (uint32_t)W;
        uint32_t offset = audio ? (uint32_t)(nn_uniform(&rng) * (float)(spare + 1)) : spare / 2;
        offset = offset > spare ? spare : offset;
        nn_normalise(net, src + offset, width, (size_t)H * width, dst, plane_stride);
    }
    if (!audio)
        return;
    float gain = (nn_uniform(&rng) * 2 - 1) * (float)o->gain_db;
    if (gain != 0 && !net->norm_segment)
        for (int c = 0; c < C; c++)
            for (int r = 0; r < H; r++) {
                float step = gain / (net->norm_bands ? net->band_std[r] : net->in_std);
                float *row = dst + (size_t)c * plane_stride + (size_t)r * W;
                for (int x = 0; x < W; x++)
                    row[x] += step;
            }
    /* Masked cells become the mean, 0 once normalised. */
    if (o->time_mask > 0) {
        int t = (int)(nn_uniform(&rng) * (float)(o->time_mask + 1)), t0 = (int)(nn_uniform(&rng) * (float)W);
        for (int c = 0; c < C; c++)
            for (int r = 0; r < H; r++)
                for (int x = t0; x < t0 + t && x < W; x++)
                    dst[(size_t)c * plane_stride + (size_t)r * W + x] = 0;
    }
    if (o->freq_mask > 0) {
        int f = (int)(nn_uniform(&rng) * (float)(o->freq_mask + 1)), f0 = (int)(nn_uniform(&rng) * (float)H);
        for (int c = 0; c < C; c++)
            for (int r = f0; r < f0 + f && r < H; r++)
                memset(dst + (size_t)c * plane_stride + (size_t)r * W, 0, (size_t)W * sizeof *dst);
    }
}

/* ------------------------------------------------------------- optimiser */

void vx_train_defaults(vx_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 30;
    o->batch = 64;
    o->optimizer = VX_ADAMW;
    o->lr = 1e-3;
    o->weight_decay = 1e-4;
    o->momentum = 0.9;
    o->domain_weight = 1;
    o->schedule = VX_COSINE;
    o->warmup = 1;
    o->step_epochs = 10;
    o->step_gamma = 0.1;
    o->seed = 1;
    o->augment = VX_AUGMENT_IMAGE;
    o->repeat = 1;
}

struct vx_trainer {
    vx_net *net;
    vx_train_opts o;
    float *m, *v; /* optimiser state in the layout of net->params: AdamW moments, or SGD velocity in m */
    long step;
    int *labels;   /* of the current batch */
    int *partners; /* mixup: the label of the sample each one was mixed with */
    float *dmix;   /* mixup: [classes][batch] the partners' loss gradient */
    float *style;  /* --mix-style: [batch][input rows][2] each row's mean and deviation */
    /* vx_trainer_set_domain: the other domain's samples, the head on layer `pooled` (the gap),
     * the class probabilities of a batch's own half and their gradient, [classes][batch] */
    const vx_imageset *other;
    nn_domain *head;
    int pooled;
    float *own_p, *own_dz;
};

vx_trainer *vx_trainer_create(vx_net *net, const vx_train_opts *o, vx_error *err)
{
    if (o->epochs < 1 || o->batch < 2 || !(o->lr > 0)) {
        vx_fail(err, "training needs epochs >= 1, batch >= 2 and lr > 0");
        return NULL;
    }
    vx_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        vx_fail(err, "out of memory");
        return NULL;
    }
    t->net = net;
    t->o = *o;
    /* The optimiser's two copies of the parameters count against the memory limit, checked with
     * the training buffers before either is allocated. */
    net->extra_floats = 2 * net->nparams;
    if (nn_net_check_memory(net, o->batch, 1, net->extra_floats, err) < 0) {
        net->extra_floats = 0;
        free(t);
        return NULL;
    }
    t->m = nn_aligned_alloc(net->nparams, err);
    t->v = t->m ? nn_aligned_alloc(net->nparams, err) : NULL;
    t->labels = t->v ? vx_calloc((size_t)o->batch, sizeof *t->labels, err) : NULL;
    t->partners = t->labels ? vx_calloc((size_t)o->batch, sizeof *t->partners, err) : NULL;
    t->dmix = t->partners ? vx_calloc((size_t)o->batch * (size_t)net->layer[net->nlayers - 1].c, sizeof *t->dmix, err)
                          : NULL;
    const nn_layer *in = &net->layer[0];
    t->style = t->dmix ? vx_calloc((size_t)o->batch * (size_t)in->c * (size_t)in->h * 2, sizeof *t->style, err) : NULL;
    if (!t->style || nn_net_reserve(net, o->batch, 1, err) < 0) {
        vx_trainer_free(t);
        return NULL;
    }
    return t;
}

void vx_trainer_free(vx_trainer *t)
{
    if (!t)
        return;
    free(t->m);
    free(t->v);
    free(t->labels);
    free(t->partners);
    free(t->dmix);
    free(t->style);
    nn_domain_free(t->head);
    free(t->own_p);
    free(t->own_dz);
    free(t);
}

/* Learning rate at a step (0-based) of a run of `total` steps, `per_epoch` to an epoch. */
static double schedule_lr(const vx_train_opts *o, long step, long per_epoch)
{
    long total = per_epoch * o->epochs, warm = (long)(o->warmup * (double)per_epoch);
    if (step < warm)
        return o->lr * (double)(step + 1) / (double)warm;
    switch (o->schedule) {
    case VX_COSINE:
        return total > warm ? o->lr * 0.5 * (1 + cos(3.14159265358979323846 * (double)(step - warm) / (double)(total - warm))) : o->lr;
    case VX_STEP: return o->lr * pow(o->step_gamma, (double)(step / per_epoch / (o->step_epochs ? o->step_epochs : 1)));
    case VX_CONSTANT: break;
    }
    return o->lr;
}

void nn_adamw(float *p, const float *g, float *m, float *v, size_t count, const nn_adamw_step *s)
{
    float b1 = s->b1, b2 = s->b2, bc1 = s->bc1, bc2 = s->bc2, eps = s->eps, rate = s->rate, wd = s->decay;
    NN_PRAGMA(omp parallel for schedule(static) if (count > 16384) default(none)
              shared(count, p, g, m, v, b1, b2, bc1, bc2, eps, rate, wd))
    for (size_t i = 0; i < count; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= rate * ((m[i] / bc1) / (sqrtf(v[i] / bc2) + eps) + wd * p[i]);
    }
}

/* AdamW's constants for step number `step` (from 1) at learning rate lr. */
static nn_adamw_step adamw_step(const vx_train_opts *o, long step, double lr)
{
    nn_adamw_step s = {.b1 = (float)o->momentum, .b2 = 0.999f, .eps = 1e-8f, .rate = (float)lr};
    s.bc1 = (float)(1 - pow(s.b1, (double)step));
    s.bc2 = (float)(1 - pow(s.b2, (double)step));
    return s;
}

static void optimiser_step(vx_trainer *t, double lr)
{
    const vx_train_opts *o = &t->o;
    vx_net *net = t->net;
    t->step++;
    nn_adamw_step adam = adamw_step(o, t->step, lr);
    float b1 = adam.b1, rate = (float)lr;
    for (int ti = 0; ti < net->ntensors; ti++) {
        const nn_tensor *tn = &net->tensor[ti];
        if (!tn->trainable)
            continue;
        float *p = net->params + tn->offset, *g = net->grads + tn->offset;
        float *m = t->m + tn->offset, *v = t->v + tn->offset;
        float wd = tn->decay ? (float)o->weight_decay : 0.0f;
        size_t count = tn->count;
        if (o->optimizer == VX_ADAMW) {
            adam.decay = wd;
            nn_adamw(p, g, m, v, count, &adam);
        } else {
            NN_PRAGMA(omp parallel for schedule(static) if (count > 16384) default(none)
                      shared(count, p, g, m, b1, rate, wd))
            for (size_t i = 0; i < count; i++) {
                m[i] = b1 * m[i] + g[i] + wd * p[i];
                p[i] -= rate * m[i];
            }
        }
    }
}

/* ------------------------------------------------------------------ epoch */

/* Normalised inputs beyond this overflow float arithmetic somewhere in a deep enough network
 * (squares in batch norm, sums in the GEMM): refused before training rather than found as NaN
 * weights after it. u8 images under any valid normalisation stay within it. */
#define NN_MAX_INPUT 1e6

/* The largest normalised input the set can give under the network's normalisation. */
static int check_range(const vx_net *net, const vx_imageset *d, vx_error *err)
{
    double vmax = 1.0; /* u8: value/255 */
    if (d->dtype == VX_F32) {
        vmax = 0;
        for (size_t i = 0; i < d->nvalues; i++)
            vmax = fabs(d->values[i]) > vmax ? fabs(d->values[i]) : vmax;
    }
    double mean = fabs(net->in_mean), std = net->in_std;
    if (d->dtype == VX_F32 && net->norm_bands && net->band_mean && net->band_std)
        for (int r = 0; r < net->layer[0].h; r++) {
            mean = fabs(net->band_mean[r]) > mean ? fabs(net->band_mean[r]) : mean;
            std = net->band_std[r] < std ? net->band_std[r] : std;
        }
    double reach = ((d->dtype == VX_F32 && net->norm_segment ? 2 : 1) * vmax + mean) / std;
    if (!(reach <= NN_MAX_INPUT))
        return vx_fail(err, "the samples hold values up to %g, which the normalisation (mean %g, deviation %g) "
                            "takes to %g, beyond the %g the network's arithmetic stays finite for",
                       vmax, mean, std, reach, NN_MAX_INPUT);
    return 0;
}

static int check_set(const vx_net *net, const vx_imageset *d, vx_error *err)
{
    const nn_layer *in = &net->layer[0];
    if (d->n == 0)
        return vx_fail(err, "no images");
    /* f32 samples may be wider than the input: a window of each is taken. */
    if (d->dim[0] != (uint32_t)in->c || d->dim[1] != (uint32_t)in->h ||
        (d->dtype == VX_U8 ? d->dim[2] != (uint32_t)in->w : d->dim[2] < (uint32_t)in->w))
        return vx_fail(err, "%s are %ux%ux%u%s but the network takes %dx%dx%d",
                       d->dtype == VX_U8 ? "images" : "samples", d->dim[0], d->dim[1], d->dim[2],
                       d->dtype == VX_U8 ? "" : " at the narrowest", in->c, in->h, in->w);
    if (d->dtype == VX_F32 && net->norm_bands && (!net->band_mean || !net->band_std))
        return vx_fail(err, "input_norm=bands but no band statistics are set");
    int classes = net->layer[net->nlayers - 1].c;
    for (size_t i = 0; i < d->n; i++)
        if (d->labels[i] >= classes)
            return vx_fail(err, "image %zu has label %d but the network has %d classes", i, d->labels[i], classes);
    return check_range(net, d, err);
}

/* Loads samples order[0..n) of d into columns [first, first + n) of a batch of `total` in the
 * input layer, their labels into labels[0..n). */
static void load_batch(vx_net *net, const vx_imageset *d, const size_t *order, int n, int first, int total,
                       const vx_train_opts *o, int epoch, int *labels)
{
    size_t per = (size_t)d->dim[0] * d->dim[1] * d->dim[2], plane = (size_t)d->dim[1] * d->dim[2];
    if (d->dtype == VX_F32) {
        /* order holds draws: draw k is a window of sample k mod n, with its own RNG state. */
        plane = (size_t)net->layer[0].h * net->layer[0].w;
        NN_PRAGMA(omp parallel for schedule(static) default(none) \
                  shared(net, d, order, n, first, total, o, epoch, labels, plane))
        for (int i = 0; i < n; i++) {
            size_t idx = order[i] % d->n;
            labels[i] = d->labels[idx];
            prepare_values(net, d->values + d->start[idx], d->width[idx], o,
                           nn_rng_derive(o->seed, (uint64_t)epoch, order[i]),
                           net->layer[0].out + (size_t)(first + i) * plane, (size_t)total * plane);
        }
        return;
    }
    NN_PRAGMA(omp parallel for schedule(static) default(none) \
              shared(net, d, order, n, first, total, o, epoch, labels, per, plane))
    for (int i = 0; i < n; i++) {
        size_t idx = order[i];
        labels[i] = d->labels[idx];
        prepare_image(d->pixels + idx * per, d->dim, o->augment == VX_AUGMENT_IMAGE, o->erase,
                      nn_rng_derive(o->seed, (uint64_t)epoch, idx), net->in_mean, net->in_std,
                      net->layer[0].out + (size_t)(first + i) * plane, (size_t)total * plane);
    }
}

float nn_mixup_batch(vx_net *net, int n, double alpha, uint64_t rng, const int *labels, int *partners)
{
    double g1 = nn_gamma(&rng, alpha), g2 = nn_gamma(&rng, alpha);
    float lambda = (float)(g1 / (g1 + g2));
    if (lambda < 0.5f)
        lambda = 1 - lambda;
    const nn_layer *in = &net->layer[0];
    size_t plane = (size_t)in->h * in->w;
    NN_PRAGMA(omp parallel for schedule(static) default(none) shared(net, n, in, plane, lambda, labels, partners))
    for (int i = 0; i < n; i++) {
        int j = n - 1 - i;
        partners[i] = labels[j];
        if (j <= i)
            continue;
        for (int c = 0; c < in->c; c++) {
            float *a = in->out + ((size_t)c * n + i) * plane, *b = in->out + ((size_t)c * n + j) * plane;
            for (size_t k = 0; k < plane; k++) {
                float x = a[k], y = b[k];
                a[k] = lambda * x + (1 - lambda) * y;
                b[k] = lambda * y + (1 - lambda) * x;
            }
        }
    }
    return lambda;
}

/* Freq-MixStyle (Kim et al., 2022; after MixStyle, Zhou et al., 2021): with probability p an
 * input takes, band by band, a mixture of its own mean and deviation over time and those of
 * another input of the batch, in a proportion drawn from Beta(0.3, 0.3); its label stays. What a
 * band's level and spread over time are is much of a recording's and a genre's style, which the
 * net should not learn as emotion. stats: [n][C*H][2], scratch. */
void nn_mix_band_style(vx_net *net, int n, double p, uint64_t rng, float *stats)
{
    const nn_layer *in = &net->layer[0];
    size_t plane = (size_t)in->h * in->w, rows = (size_t)in->c * in->h, W = (size_t)in->w;
    NN_PRAGMA(omp parallel for schedule(static) default(none) shared(in, n, plane, rows, W, stats))
    for (int i = 0; i < n; i++)
        for (size_t r = 0; r < rows; r++) {
            size_t c = r / (size_t)in->h, y = r % (size_t)in->h;
            const float *row = in->out + ((size_t)c * n + i) * plane + y * W;
            double sum = 0, sq = 0;
            for (size_t x = 0; x < W; x++)
                sum += row[x];
            double mean = sum / (double)W;
            for (size_t x = 0; x < W; x++)
                sq += (row[x] - mean) * (row[x] - mean);
            stats[((size_t)i * rows + r) * 2] = (float)mean;
            stats[((size_t)i * rows + r) * 2 + 1] = (float)sqrt(sq / (double)W + 1e-6);
        }
    /* The draws, in order, before any input changes: the same mixing whatever the threads. */
    for (int i = 0; i < n; i++) {
        int partner = (int)(nn_uniform(&rng) * (float)(n - 1));
        partner = partner >= n - 1 ? n - 2 : partner;
        partner += partner >= i;
        double g1 = nn_gamma(&rng, 0.3), g2 = nn_gamma(&rng, 0.3);
        float lambda = (float)(g1 / (g1 + g2));
        if (!(nn_uniform(&rng) < p))
            continue;
        for (size_t r = 0; r < rows; r++) {
            size_t c = r / (size_t)in->h, y = r % (size_t)in->h;
            const float *own = stats + ((size_t)i * rows + r) * 2, *other = stats + ((size_t)partner * rows + r) * 2;
            float mean = lambda * own[0] + (1 - lambda) * other[0], dev = lambda * own[1] + (1 - lambda) * other[1];
            float scale = dev / own[1];
            float *row = in->out + ((size_t)c * n + i) * plane + y * W;
            for (size_t x = 0; x < W; x++)
                row[x] = (row[x] - own[0]) * scale + mean;
        }
    }
}

int vx_trainer_set_domain(vx_trainer *t, const vx_imageset *other, vx_error *err)
{
    vx_net *net = t->net;
    const vx_train_opts *o = &t->o;
    int pooled = -1;
    for (int i = 1; i < net->nlayers; i++)
        if (net->layer[i].kind == NN_GAP)
            pooled = i;
    if (pooled < 0)
        return vx_fail(err, "domain-adversarial training needs a gap layer (its features are what the domains share)");
    if (o->mixup > 0 || o->mix_style > 0)
        return vx_fail(err, "domain-adversarial training does not combine with mixup or --mix-style");
    if (other->dtype != VX_F32)
        return vx_fail(err, "the other domain's samples must be real-valued (spectrograms)");
    if (check_set(net, other, err) < 0)
        return vx_fail(err, "the other domain: %s", err->msg);
    int classes = net->layer[net->nlayers - 1].c;
    /* The head is small (64 hidden units); the batch it doubles is what the limit is about. */
    if (!(t->head = nn_domain_create(net->layer[pooled].c, 64, 2 * o->batch, o->seed, err)))
        return -1;
    size_t head_floats = 4 * t->head->nparams;
    if (nn_net_check_memory(net, 2 * o->batch, 1, net->extra_floats + head_floats, err) < 0)
        return -1;
    int *labels = realloc(t->labels, 2 * (size_t)o->batch * sizeof *labels);
    if (!labels)
        return vx_fail(err, "out of memory");
    t->labels = labels;
    size_t per_class = (size_t)classes * (size_t)o->batch;
    if (!(t->own_p = vx_calloc(per_class, sizeof *t->own_p, err)) ||
        !(t->own_dz = vx_calloc(per_class, sizeof *t->own_dz, err)) || nn_net_reserve(net, 2 * o->batch, 1, err) < 0)
        return -1;
    net->extra_floats += head_floats;
    t->other = other;
    t->pooled = pooled;
    return 0;
}

int vx_train_epoch(vx_trainer *t, const vx_imageset *d, int epoch, vx_epoch_stats *st,
                   void (*progress)(void *ctx, size_t done, size_t total), void *ctx, vx_error *err)
{
    vx_net *net = t->net;
    const vx_train_opts *o = &t->o;
    if (check_set(net, d, err) < 0)
        return -1;
    if (o->mix_style > 0 && d->dtype != VX_F32)
        return vx_fail(err, "--mix-style mixes bands of real-valued samples (spectrograms); these are u8 images");
    if (t->other && (d->dtype != VX_F32 || memcmp(d->spectro, t->other->spectro, sizeof d->spectro) != 0))
        return vx_fail(err, "the other domain's samples must be spectrograms made as the training set's are");
    /* Real-valued samples give `repeat` windows each per epoch; images one. */
    size_t draws = d->n * (size_t)(d->dtype == VX_F32 && o->repeat > 1 ? o->repeat : 1);
    size_t *order = malloc(draws * sizeof *order);
    if (!order)
        return vx_fail(err, "out of memory");
    /* A fresh permutation per epoch, from (seed, epoch) alone. */
    uint64_t rng = nn_rng_derive(o->seed, 0x5eed, (uint64_t)epoch);
    for (size_t i = 0; i < draws; i++)
        order[i] = i;
    for (size_t i = draws - 1; i > 0; i--) {
        size_t j = (size_t)(nn_splitmix64(&rng) % (i + 1)), tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    int classes = net->layer[net->nlayers - 1].c;
    long per_epoch = (long)((draws + (size_t)o->batch - 1) / (size_t)o->batch);
    double start = vx_seconds_now(), loss_sum = 0;
    size_t correct = 0, seen = 0, domain_right = 0;
    double domain_loss = 0;
    float *dlogits = net->layer[net->nlayers - 2].dout;
    for (size_t b0 = 0; b0 < draws; b0 += (size_t)o->batch) {
        int n = draws - b0 < (size_t)o->batch ? (int)(draws - b0) : o->batch;
        if (n < 2) /* batch norm needs two samples; a lone last one waits for the next epoch */
            break;
        long step = (long)(epoch - 1) * per_epoch + (long)(b0 / (size_t)o->batch);
        /* With another domain, the batch's second half is as many of its samples, drawn at random. */
        int total = t->other ? 2 * n : n;
        load_batch(net, d, order + b0, n, 0, total, o, epoch, t->labels);
        if (t->other) {
            size_t *draw = order + b0; /* reused: this batch's own draws are loaded */
            uint64_t pick = nn_rng_derive(o->seed, 0x07e5, (uint64_t)step);
            for (int i = 0; i < n; i++)
                draw[i] = (size_t)(nn_splitmix64(&pick) >> 1);
            load_batch(net, t->other, draw, n, n, total, o, epoch, t->labels + n);
        }
        if (o->mix_style > 0)
            nn_mix_band_style(net, n, o->mix_style, nn_rng_derive(o->seed, 0x57e1, (uint64_t)step), t->style);
        float lambda = o->mixup > 0 ? nn_mixup_batch(net, n, o->mixup, nn_rng_derive(o->seed, 0x313c, (uint64_t)step),
                                                t->labels, t->partners)
                                    : 1.0f;
        const float *p = nn_net_forward(net, total, 1, nn_rng_derive(o->seed, 0xd209, (uint64_t)step));
        const float *weights = o->use_class_weights ? o->class_weights : NULL;
        float *dz = dlogits;
        if (t->other) { /* the class loss is of the batch's own half: its columns, apart */
            for (int k = 0; k < classes; k++)
                memcpy(t->own_p + (size_t)k * n, p + (size_t)k * total, (size_t)n * sizeof *p);
            p = t->own_p;
            dz = t->own_dz;
        }
        double loss = nn_xent(classes, n, p, t->labels, weights, (float)o->label_smoothing, dz);
        if (lambda < 1) {
            /* The loss of a mixed input is the same mixture of its two labels' losses. */
            loss = lambda * loss +
                   (1 - lambda) * nn_xent(classes, n, p, t->partners, weights, (float)o->label_smoothing, t->dmix);
            for (size_t i = 0; i < (size_t)classes * (size_t)n; i++)
                dlogits[i] = lambda * dlogits[i] + (1 - lambda) * t->dmix[i];
        }
        if (!isfinite(loss)) {
            free(order);
            return vx_fail(err, "the loss became %g at epoch %d, batch %ld (learning rate too high?)", loss, epoch,
                           step % per_epoch + 1);
        }
        for (int b = 0; b < n; b++)
            correct += vx_argmax(p + b, classes, (size_t)n) == t->labels[b];
        loss_sum += loss * n;
        seen += (size_t)n;
        double lr = schedule_lr(o, step, per_epoch);
        if (t->other) {
            for (int k = 0; k < classes; k++) {
                memcpy(dlogits + (size_t)k * total, dz + (size_t)k * n, (size_t)n * sizeof *dz);
                memset(dlogits + (size_t)k * total + n, 0, (size_t)n * sizeof *dz);
            }
            /* Ganin and Lempitsky's ramp: the reversal grows from 0 as training goes on, while
             * the features are still being formed. */
            double done = (double)step / (double)(per_epoch * o->epochs);
            float reverse = (float)(o->domain_weight * (2 / (1 + exp(-10 * done)) - 1));
            nn_adamw_step adam = adamw_step(o, t->step + 1, lr);
            adam.decay = (float)o->weight_decay;
            nn_net_backward_range(net, total, net->nlayers - 2, t->pooled + 1);
            int right;
            const nn_layer *pool = &net->layer[t->pooled];
            domain_loss += nn_domain_step(t->head, pool->out, total, n, reverse, pool->dout, &adam, &right) * n;
            domain_right += (size_t)right;
            nn_net_backward_range(net, total, t->pooled, 1);
        } else {
            nn_net_backward(net, n);
        }
        optimiser_step(t, lr);
        if (st)
            st->lr = lr;
        if (progress)
            progress(ctx, seen, draws);
    }
    free(order);
    for (size_t i = 0; i < net->nparams; i++)
        if (!isfinite(net->params[i]))
            return vx_fail(err, "the weights became non-finite in epoch %d (learning rate too high?)", epoch);
    if (st) {
        st->seconds = vx_seconds_now() - start;
        st->loss = seen ? loss_sum / (double)seen : 0;
        st->acc = seen ? (double)correct / (double)seen : 0;
        st->images_per_s = st->seconds > 0 ? (double)seen / st->seconds : 0;
        st->domain_loss = seen ? domain_loss / (double)seen : 0;
        st->domain_acc = seen ? (double)domain_right / (double)(2 * seen) : 0;
    }
    return 0;
}

int vx_net_evaluate(vx_net *net, const vx_imageset *d, vx_eval *ev, vx_error *err)
{
    memset(ev, 0, sizeof *ev);
    if (check_set(net, d, err) < 0)
        return -1;
    int batch = net->max_batch ? net->max_batch : 64;
    if (nn_net_reserve(net, batch, 0, err) < 0)
        return -1;
    size_t *order = malloc((size_t)batch * sizeof *order);
    int *labels = malloc((size_t)batch * sizeof *labels);
    if (!order || !labels) {
        free(order);
        free(labels);
        return vx_fail(err, "out of memory");
    }
    int classes = net->layer[net->nlayers - 1].c;
    vx_confusion_init(&ev->confusion, classes);
    double loss_sum = 0;
    size_t correct = 0;
    vx_train_opts plain = {.augment = VX_AUGMENT_NONE}; /* evaluation sees the samples as they are */
    for (size_t b0 = 0; b0 < d->n; b0 += (size_t)batch) {
        int n = d->n - b0 < (size_t)batch ? (int)(d->n - b0) : batch;
        for (int i = 0; i < n; i++)
            order[i] = b0 + (size_t)i;
        load_batch(net, d, order, n, 0, n, &plain, 0, labels);
        const float *p = nn_net_forward(net, n, 0, 0);
        loss_sum += nn_xent(classes, n, p, labels, NULL, 0.0f, NULL) * n;
        for (int b = 0; b < n; b++)
            correct += vx_confusion_add(&ev->confusion, labels[b], p + b, (size_t)n) == labels[b];
    }
    free(order);
    free(labels);
    ev->n = d->n;
    ev->loss = loss_sum / (double)d->n;
    ev->acc = (double)correct / (double)d->n;
    return 0;
}

/* ------------------------------------------------------------ checkpoints */

static void forget_meta(vx_net *net, const char *name)
{
    for (int i = 0; i < net->nmeta; i++)
        if (strcmp(net->meta_key[i], name) == 0) {
            free(net->meta_key[i]);
            free(net->meta_value[i]);
            net->nmeta--;
            memmove(net->meta_key + i, net->meta_key + i + 1, (size_t)(net->nmeta - i) * sizeof *net->meta_key);
            memmove(net->meta_value + i, net->meta_value + i + 1, (size_t)(net->nmeta - i) * sizeof *net->meta_value);
            return;
        }
}

/* A checkpoint of domain-adversarial training also holds its head: weights and AdamW moments. */
static const char *const domain_parts[3] = {"params", "m", "v"};

int vx_trainer_save(const vx_trainer *t, const char *path, int epoch, vx_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%d", epoch);
    if (vx_net_set_meta(t->net, "checkpoint_epoch", buf, err) < 0)
        return -1;
    snprintf(buf, sizeof buf, "%ld", t->step);
    if (vx_net_set_meta(t->net, "checkpoint_step", buf, err) < 0)
        return -1;
    nn_extra extra[5];
    for (int i = 0; i < 2; i++) {
        extra[i].t = (nn_tensor){.rank = 1, .dim = {(uint32_t)t->net->nparams}, .count = t->net->nparams};
        snprintf(extra[i].t.name, sizeof extra[i].t.name, "optimizer.%s", i ? "v" : "m");
        extra[i].data = i ? t->v : t->m;
    }
    int nextra = 2;
    for (int i = 0; t->head && i < 3; i++, nextra++) {
        const nn_domain *h = t->head;
        extra[nextra].t = (nn_tensor){.rank = 1, .dim = {(uint32_t)h->nparams}, .count = h->nparams};
        snprintf(extra[nextra].t.name, sizeof extra[nextra].t.name, "domain.%s", domain_parts[i]);
        extra[nextra].data = i == 0 ? h->params : i == 1 ? h->m : h->v;
    }
    int rc = nn_model_write(t->net, extra, nextra, path, err);
    /* The checkpoint facts belong to the checkpoint file, not to the model. */
    forget_meta(t->net, "checkpoint_epoch");
    forget_meta(t->net, "checkpoint_step");
    return rc;
}

int vx_trainer_resume(vx_trainer *t, const char *path, int *epoch, vx_error *err)
{
    nn_file file;
    if (nn_file_read(&file, path, err) < 0)
        return -1;
    vx_net *net = t->net;
    const char *arch = nn_file_meta(&file, "arch"), *ep = nn_file_meta(&file, "checkpoint_epoch"),
               *st = nn_file_meta(&file, "checkpoint_step");
    int rc = 0;
    if (!arch || strcmp(arch, net->arch) != 0)
        rc = vx_fail(err, "%s: checkpoint of a different architecture", path);
    else if (!ep || !st)
        rc = vx_fail(err, "%s: a model, not a checkpoint (no checkpoint_epoch)", path);
    for (int i = 0; rc == 0 && i < net->ntensors; i++) {
        const nn_tensor *tn = &net->tensor[i];
        int got = nn_file_tensor(&file, tn->name, tn, net->params + tn->offset, err);
        if (got == 0)
            vx_fail(err, "%s: tensor %s is missing", path, tn->name);
        rc = got == 1 ? 0 : -1;
    }
    nn_net_params_changed(net); /* inference's transformed kernels are of the weights before */
    nn_tensor state = {.rank = 1, .dim = {(uint32_t)net->nparams}, .count = net->nparams};
    if (rc == 0 && (nn_file_tensor(&file, "optimizer.m", &state, t->m, err) != 1 ||
                    nn_file_tensor(&file, "optimizer.v", &state, t->v, err) != 1))
        rc = vx_fail(err, "%s: optimiser state is missing or does not fit", path);
    for (int i = 0; rc == 0 && t->head && i < 3; i++) {
        nn_domain *h = t->head;
        nn_tensor want = {.rank = 1, .dim = {(uint32_t)h->nparams}, .count = h->nparams};
        char name[sizeof want.name];
        snprintf(name, sizeof name, "domain.%s", domain_parts[i]);
        if (nn_file_tensor(&file, name, &want, i == 0 ? h->params : i == 1 ? h->m : h->v, err) != 1)
            rc = vx_fail(err, "%s: the domain head's %s is missing or does not fit (a checkpoint of training "
                         "without the other domain?)", path, domain_parts[i]);
    }
    for (int i = 0; rc == 0 && i < file.nmeta; i++)
        if (strcmp(file.meta_key[i], "arch") != 0 && strncmp(file.meta_key[i], "checkpoint_", 11) != 0)
            rc = vx_net_set_meta(net, file.meta_key[i], file.meta_value[i], err);
    long done = 0, step = 0;
    if (rc == 0 && (vx_parse_long(ep, "checkpoint_epoch", 1, 100000, &done, err) < 0 ||
                    vx_parse_long(st, "checkpoint_step", 0, LONG_MAX, &step, err) < 0))
        rc = -1;
    if (rc == 0) {
        *epoch = (int)done;
        t->step = step;
    }
    nn_file_free(&file);
    return rc;
}
