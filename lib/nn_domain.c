/* nn_domain.c — domain-adversarial training (Ganin and Lempitsky's gradient reversal): a small
 * classifier learns to tell the training set's pooled features from another domain's, and the
 * network below is pushed the other way, towards features that do not tell the two apart. */
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The head: hidden = relu(W1 x + b1), z = w2 . hidden + b2, p(other domain) = sigmoid(z). */
static float *w1(nn_domain *h) { return h->params; }
static float *b1(nn_domain *h) { return h->params + (size_t)h->hidden * h->features; }
static float *w2(nn_domain *h) { return b1(h) + h->hidden; }
static float *b2(nn_domain *h) { return w2(h) + h->hidden; }

nn_domain *nn_domain_create(int features, int hidden, int batch, uint64_t seed, vx_error *err)
{
    nn_domain *h = calloc(1, sizeof *h);
    if (!h) {
        vx_fail(err, "out of memory");
        return NULL;
    }
    h->features = features;
    h->hidden = hidden;
    h->batch = batch;
    h->nparams = (size_t)hidden * (size_t)features + 2 * (size_t)hidden + 1;
    h->params = vx_calloc(4 * h->nparams, sizeof *h->params, err);
    h->act = h->params ? vx_calloc(2 * (size_t)hidden * (size_t)batch + (size_t)batch, sizeof *h->act, err) : NULL;
    if (!h->act) {
        nn_domain_free(h);
        return NULL;
    }
    h->grads = h->params + h->nparams;
    h->m = h->grads + h->nparams;
    h->v = h->m + h->nparams;
    /* He initialisation for the ReLU layer, a unit-variance sum into the logistic one. */
    uint64_t rng = nn_rng_derive(seed, 0xd0a1, 0);
    for (size_t i = 0; i < (size_t)hidden * features; i++)
        w1(h)[i] = nn_normal(&rng) * sqrtf(2.0f / (float)features);
    for (int j = 0; j < hidden; j++)
        w2(h)[j] = nn_normal(&rng) * sqrtf(1.0f / (float)hidden);
    return h;
}

void nn_domain_free(nn_domain *h)
{
    if (!h)
        return;
    free(h->params);
    free(h->act);
    free(h);
}

double nn_domain_step(nn_domain *h, const float *x, int n, int first_other, float reverse, float *dx,
                      const nn_adamw_step *step, int *right)
{
    int F = h->features, H = h->hidden;
    float *hid = h->act, *dhid = hid + (size_t)H * n, *dz = dhid + (size_t)H * n;
    const float *W1 = w1(h), *B1 = b1(h), *W2 = w2(h);
    double loss = 0;
    *right = 0;
    for (int j = 0; j < H; j++)
        for (int b = 0; b < n; b++) {
            float s = B1[j];
            for (int f = 0; f < F; f++)
                s += W1[(size_t)j * F + f] * x[(size_t)f * n + b];
            hid[(size_t)j * n + b] = s > 0 ? s : 0;
        }
    for (int b = 0; b < n; b++) {
        float z = *b2(h);
        for (int j = 0; j < H; j++)
            z += W2[j] * hid[(size_t)j * n + b];
        float y = b >= first_other ? 1.0f : 0.0f;
        /* log(1 + e^-|z|) keeps both log-likelihoods finite for any z */
        double p = 1 / (1 + exp(-(double)z)), soft = log1p(exp(-fabs((double)z)));
        loss += (y > 0 ? fmax(-(double)z, 0) : fmax((double)z, 0)) + soft;
        *right += (p >= 0.5) == (y > 0);
        dz[b] = (float)((p - y) / n);
    }
    float *gW1 = h->grads, *gB1 = gW1 + (size_t)H * F, *gW2 = gB1 + H, *gB2 = gW2 + H;
    *gB2 = 0;
    for (int b = 0; b < n; b++)
        *gB2 += dz[b];
    for (int j = 0; j < H; j++) {
        float g = 0, gb = 0;
        for (int b = 0; b < n; b++) {
            g += dz[b] * hid[(size_t)j * n + b];
            float d = hid[(size_t)j * n + b] > 0 ? dz[b] * W2[j] : 0;
            dhid[(size_t)j * n + b] = d;
            gb += d;
        }
        gW2[j] = g;
        gB1[j] = gb;
        for (int f = 0; f < F; f++) {
            float s = 0;
            for (int b = 0; b < n; b++)
                s += dhid[(size_t)j * n + b] * x[(size_t)f * n + b];
            gW1[(size_t)j * F + f] = s;
        }
    }
    /* The reversal: the features' gradient, turned against the head and scaled, joins the one
     * the class loss gave them. */
    for (int f = 0; f < F; f++)
        for (int b = 0; b < n; b++) {
            float s = 0;
            for (int j = 0; j < H; j++)
                s += W1[(size_t)j * F + f] * dhid[(size_t)j * n + b];
            dx[(size_t)f * n + b] -= reverse * s;
        }
    nn_adamw(h->params, h->grads, h->m, h->v, h->nparams, step);
    return loss / n;
}
