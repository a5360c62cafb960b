/* nn_domain.c — domain-adversarial training (Ganin and Lempitsky's gradient reversal): a small
 * classifier learns to tell the training set's pooled features from another domain's, and the
 * network below is pushed the other way, towards features that do not tell the two apart. */
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The head: hidden = relu(W1 x + b1), z = w2 . hidden + b2, p(other domain) = sigmoid(z), as the
 * engine's dense and ReLU layers over [features][n] (one value per plane: h = w = 1). */
static nn_layer dense(int in, int out, float *weight, float *dweight)
{
    return (nn_layer){.kind = NN_DENSE, .c = out, .h = 1, .w = 1, .in_c = in, .in_h = 1, .in_w = 1,
                      .weight = weight, .dweight = dweight, .bias = weight + (size_t)in * out,
                      .dbias = dweight + (size_t)in * out};
}

/* Scratch floats per sample: flattened input, hidden pre-activation and output, its flattened
 * copy, logit, and the gradients of the logit, hidden output and pre-activation, their flat
 * copies, and of the features. */
static size_t scratch_per_sample(int F, int H) { return 3 * (size_t)F + 6 * (size_t)H + 2; }

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
    h->scratch = h->params ? vx_calloc(scratch_per_sample(features, hidden) * (size_t)batch, sizeof *h->scratch, err)
                           : NULL;
    if (!h->scratch) {
        nn_domain_free(h);
        return NULL;
    }
    h->grads = h->params + h->nparams;
    h->m = h->grads + h->nparams;
    h->v = h->m + h->nparams;
    size_t first = (size_t)hidden * features + hidden;
    h->dense_hidden = dense(features, hidden, h->params, h->grads);
    h->relu = (nn_layer){.kind = NN_RELU, .c = hidden, .h = 1, .w = 1, .in_c = hidden, .in_h = 1, .in_w = 1};
    h->dense_logit = dense(hidden, 1, h->params + first, h->grads + first);
    /* He initialisation for the ReLU layer, a unit-variance sum into the logistic one. */
    uint64_t rng = nn_rng_derive(seed, 0xd0a1, 0);
    for (size_t i = 0; i < (size_t)hidden * features; i++)
        h->dense_hidden.weight[i] = nn_normal(&rng) * sqrtf(2.0f / (float)features);
    for (int j = 0; j < hidden; j++)
        h->dense_logit.weight[j] = nn_normal(&rng) * sqrtf(1.0f / (float)hidden);
    return h;
}

void nn_domain_free(nn_domain *h)
{
    if (!h)
        return;
    free(h->params);
    free(h->scratch);
    free(h);
}

double nn_domain_step(nn_domain *h, const float *x, int n, int first_other, float reverse, float *dx,
                      const nn_adamw_step *step, int *right)
{
    size_t F = (size_t)h->features * n, H = (size_t)h->hidden * n;
    float *flat = h->scratch, *pre = flat + F, *hid = pre + H, *hid_flat = hid + H, *z = hid_flat + H;
    float *dz = z + n, *dhid = dz + n, *dpre = dhid + H, *dflat_hid = dpre + H, *dflat = dflat_hid + H;
    float *dfeat = dflat + F;
    nn_dense_forward(&h->dense_hidden, n, x, pre, flat);
    nn_act_forward(&h->relu, H, pre, hid);
    nn_dense_forward(&h->dense_logit, n, hid, z, hid_flat);
    double loss = 0;
    *right = 0;
    for (int b = 0; b < n; b++) {
        double y = b >= first_other ? 1 : 0, zb = z[b], p = 1 / (1 + exp(-zb));
        /* log(1 + e^-|z|) keeps both log-likelihoods finite for any z */
        loss += (y > 0 ? fmax(-zb, 0) : fmax(zb, 0)) + log1p(exp(-fabs(zb)));
        *right += (p >= 0.5) == (y > 0);
        dz[b] = (float)((p - y) / n);
    }
    nn_dense_backward(&h->dense_logit, n, hid_flat, dz, dhid, dflat_hid);
    nn_act_backward(&h->relu, H, pre, dhid, dpre);
    nn_dense_backward(&h->dense_hidden, n, flat, dpre, dfeat, dflat);
    /* The reversal: the features' gradient, turned against the head and scaled, joins the one
     * the class loss gave them. */
    for (size_t i = 0; i < F; i++)
        dx[i] -= reverse * dfeat[i];
    nn_adamw(h->params, h->grads, h->m, h->v, h->nparams, step);
    return loss / n;
}
