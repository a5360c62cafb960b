/* facefind.c — the default face detector: OpenCV's cascade on a padded image for candidates, a
 * small face/non-face network to reject the false ones, and a ranking by evidence, not size. */
#include "face_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void vx_find_params_init(vx_find_params *p)
{
    vx_detect_params_init(&p->detect);
    /* Fewer neighbours find the faces OpenCV's 5 loses; the verifier removes what they add. */
    p->detect.min_neighbors = 2;
    p->pad = 0.25;
    p->threshold = 0.5;
}

void vx_crop_normalise(unsigned char *px, size_t n)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        sum += px[i];
        sq += (double)px[i] * px[i];
    }
    double mean = n ? sum / (double)n : 0, var = n ? sq / (double)n - mean * mean : 0;
    double gain = var > 1e-6 ? 48 / sqrt(var) : 0;
    for (size_t i = 0; i < n; i++) {
        double v = floor(128 + (px[i] - mean) * gain + 0.5);
        px[i] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
}

/* The image with `pad` pixels on every side repeating its edges. */
static unsigned char *pad_image(const unsigned char *gray, int w, int h, size_t stride, int pad, vx_error *err)
{
    size_t pw = (size_t)w + 2 * (size_t)pad, ph = (size_t)h + 2 * (size_t)pad, total;
    if (vx_size_mul(pw, ph, &total, err) < 0)
        return NULL;
    unsigned char *out = vx_malloc(total, err);
    if (!out)
        return NULL;
    for (size_t y = 0; y < ph; y++) {
        long sy = (long)y - pad;
        const unsigned char *src = gray + (size_t)(sy < 0 ? 0 : sy >= h ? h - 1 : sy) * stride;
        unsigned char *dst = out + y * pw;
        memset(dst, src[0], (size_t)pad);
        memcpy(dst + pad, src, (size_t)w);
        memset(dst + pad + w, src[w - 1], (size_t)pad);
    }
    return out;
}

/* A box and the verifier's face probability. */
struct cand {
    vx_box b;
    float score;
};

/* Face probabilities of every candidate's crop, averaged with its mirror image's (a face is
 * about as likely either way round; the average steadies the verdict), in one batch. */
static int verify(vx_net *net, const unsigned char *gray, int w, int h, size_t stride, struct cand *c, size_t n,
                  vx_error *err)
{
    uint32_t in[3];
    int classes;
    vx_net_shape(net, in, &classes, NULL);
    if (in[0] != 1 || in[1] != in[2] || classes < 2)
        return vx_fail(err, "the verifier takes %ux%ux%u images into %d classes; it must take square gray crops "
                            "into face and other", (unsigned)in[0], (unsigned)in[1], (unsigned)in[2], classes);
    size_t side = in[1], per = side * side, nx, np;
    vx_record crop;
    vx_record_init(&crop);
    float *x = NULL, *probs = NULL;
    int rc = -1;
    /* x [2n][side][side]: crop i at 2i, its mirror at 2i+1. */
    if (vx_size_mul(2 * n, per * sizeof *x, &nx, err) < 0 ||
        vx_size_mul(2 * n, (size_t)classes * sizeof *probs, &np, err) < 0 ||
        vx_record_shape(&crop, VX_U8, 3, in, err) < 0 || vx_record_set_key(&crop, "candidate", err) < 0 ||
        !(x = vx_malloc(nx, err)) || !(probs = vx_malloc(np, err)))
        goto done;
    for (size_t i = 0; i < n; i++) {
        float *xi = x + 2 * i * per, *xm = xi + per;
        if (vx_face_crop(gray, w, h, stride, c[i].b, 0, (int)side, crop.data, err) < 0)
            goto done;
        vx_crop_normalise(crop.data, per);
        if (vx_net_input(net, &crop, xi, err) < 0)
            goto done;
        for (size_t r = 0; r < side; r++)
            for (size_t k = 0; k < side; k++)
                xm[r * side + k] = xi[r * side + side - 1 - k];
    }
    if (vx_net_predict(net, x, (int)(2 * n), probs, err) < 0)
        goto done;
    for (size_t i = 0; i < n; i++)
        c[i].score = 0.5f * (probs[2 * i * (size_t)classes] + probs[(2 * i + 1) * (size_t)classes]);
    rc = 0;
done:
    vx_record_free(&crop);
    free(x);
    free(probs);
    return rc;
}

/* The evidence for a face: the verifier's log-odds plus the log of the cascade's strength (how
 * many raw detections agree), so a strong cascade group needs the verifier's agreement too, and
 * one the verifier is sure of needs only a few detections. Unverified, the strength alone. */
static double evidence(const struct cand *c)
{
    double p = c->score < 1e-6 ? 1e-6 : c->score > 1 - 1e-6 ? 1 - 1e-6 : c->score;
    return log(p / (1 - p)) + log(c->b.strength > 1 ? c->b.strength : 1);
}

static int better(const struct cand *a, const struct cand *b)
{
    return evidence(a) > evidence(b);
}

/* b lies in a: its centre inside a, and a at most twice as wide. */
static int inside(const vx_box *b, const vx_box *a)
{
    long cx = 2L * b->x + b->w, cy = 2L * b->y + b->h;
    return cx >= 2L * a->x && cx < 2L * (a->x + a->w) && cy >= 2L * a->y && cy < 2L * (a->y + a->h) &&
           a->w <= 2 * b->w;
}

/* Drops the unverified, sorts best first (stable), and drops boxes inside better ones. */
static size_t rank_candidates(struct cand *c, size_t n, double threshold)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].score >= threshold)
            c[m++] = c[i];
    for (size_t i = 1; i < m; i++) {
        struct cand v = c[i];
        size_t j = i;
        for (; j > 0 && better(&v, &c[j - 1]); j--)
            c[j] = c[j - 1];
        c[j] = v;
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        int dropped = 0;
        for (size_t j = 0; j < k && !dropped; j++)
            dropped = inside(&c[i].b, &c[j].b) || inside(&c[j].b, &c[i].b);
        if (!dropped)
            c[k++] = c[i];
    }
    return k;
}

int vx_faces_find(const vx_cascade *cascade, vx_net *verifier, const unsigned char *gray, int width, int height,
                  size_t stride, const vx_find_params *p, vx_box **boxes, float **scores, size_t *nboxes,
                  vx_error *err)
{
    *boxes = NULL;
    *scores = NULL;
    *nboxes = 0;
    if (width <= 0 || height <= 0)
        return vx_fail(err, "cannot search a %dx%d image", width, height);
    if (!(p->pad >= 0 && p->pad <= 2))
        return vx_fail(err, "padding %g is outside 0..2", p->pad);
    int pad = (int)(p->pad * (width < height ? width : height) + 0.5);
    unsigned char *padded = pad_image(gray, width, height, stride, pad, err);
    if (!padded)
        return -1;
    int pw = width + 2 * pad, ph = height + 2 * pad;
    vx_box *b;
    size_t n;
    int rc = vx_cascade_detect(cascade, padded, pw, ph, (size_t)pw, &p->detect, &b, &n, err);
    free(padded);
    if (rc < 0 || n == 0)
        return rc;
    struct cand *c = vx_calloc(n, sizeof *c, err);
    float *s = c ? vx_calloc(n, sizeof *s, err) : NULL;
    if (s) {
        for (size_t i = 0; i < n; i++)
            c[i] = (struct cand){{b[i].x - pad, b[i].y - pad, b[i].w, b[i].h, b[i].strength}, 1};
        rc = verifier ? verify(verifier, gray, width, height, stride, c, n, err) : 0;
    }
    if (!s || rc < 0) {
        free(b);
        free(c);
        free(s);
        return -1;
    }
    n = rank_candidates(c, n, verifier ? p->threshold : 0);
    for (size_t i = 0; i < n; i++) {
        b[i] = c[i].b;
        s[i] = c[i].score;
    }
    free(c);
    if (n == 0) {
        free(b);
        free(s);
        return 0;
    }
    *boxes = b;
    *scores = s;
    *nboxes = n;
    return 0;
}
