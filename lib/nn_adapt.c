/* nn_adapt.c — AdaBN (Li et al., 2016): a model's batch-norm statistics estimated again on inputs
 * of the domain it is to run on, such as a user's game scores instead of 4Q's pop and rock. The
 * inputs are a seeded random sample of a stream of any length (a reservoir), and each batch-norm
 * layer in turn takes the mean and variance of its input over the sample, as seen through the
 * layers before it, already adapted. Weights are never touched. */
#include "nn.h"
#include <stdlib.h>
#include <string.h>

struct vx_adapt {
    vx_net *net;
    size_t per;      /* floats in one input */
    size_t capacity; /* the sample's size */
    size_t held, allocated, seen;
    float *inputs;  /* [held][per], normalised as the model says */
    float *scratch; /* [per]: the input being read */
    uint64_t rng;
};

vx_adapt *vx_adapt_create(vx_net *net, size_t sample, uint64_t seed, vx_error *err)
{
    uint32_t dim[3];
    vx_net_shape(net, dim, NULL, NULL);
    size_t per = (size_t)dim[0] * dim[1] * dim[2];
    if (sample < 2)
        return vx_fail(err, "a sample of %zu: batch norm needs at least 2 inputs", sample), NULL;
    if (sample > vx_net_memory_limit() / sizeof(float) / per)
        return vx_fail(err, "a sample of %zu inputs of %zu values needs %.0f MiB, above the memory limit of %.0f MiB",
                       sample, per, (double)sample * per * sizeof(float) / (1 << 20),
                       (double)vx_net_memory_limit() / (1 << 20)),
               NULL;
    vx_adapt *a = vx_calloc(1, sizeof *a, err);
    float *scratch = a ? vx_calloc(per, sizeof *scratch, err) : NULL;
    if (!scratch) {
        free(a);
        return NULL;
    }
    *a = (vx_adapt){.net = net, .per = per, .capacity = sample, .scratch = scratch, .rng = seed};
    return a;
}

void vx_adapt_free(vx_adapt *a)
{
    if (!a)
        return;
    free(a->inputs);
    free(a->scratch);
    free(a);
}

size_t vx_adapt_seen(const vx_adapt *a) { return a->seen; }

/* Where input number `seen` goes, or NULL when the sample leaves it out: every input of the stream
 * ends in the sample with the same chance (Vitter's algorithm R). The sample grows as it fills, so
 * a short stream takes only its own size. */
static int sample_slot(vx_adapt *a, float **slot, vx_error *err)
{
    *slot = NULL;
    if (a->held < a->capacity) {
        if (a->held == a->allocated) {
            size_t more = a->allocated ? 2 * a->allocated : 64;
            more = more < a->capacity ? more : a->capacity;
            float *grown = realloc(a->inputs, more * a->per * sizeof(float));
            if (!grown)
                return vx_fail(err, "out of memory for a sample of %zu inputs", more);
            a->inputs = grown;
            a->allocated = more;
        }
        *slot = a->inputs + a->held++ * a->per;
        return 0;
    }
    uint64_t j = nn_splitmix64(&a->rng) % (a->seen + 1);
    *slot = j < a->capacity ? a->inputs + j * a->per : NULL;
    return 0;
}

int vx_adapt_add(vx_adapt *a, const vx_record *r, vx_error *err)
{
    /* Checked before the draw, so a bad record is an error wherever it falls. */
    float *slot;
    if (vx_net_input(a->net, r, a->scratch, err) < 0 || sample_slot(a, &slot, err) < 0)
        return -1;
    if (slot)
        memcpy(slot, a->scratch, a->per * sizeof(float));
    a->seen++;
    return 0;
}

/* Batch norm layer b's input over the whole sample: its channels' mean and unbiased variance, as
 * training keeps them, summed in double per channel (the same on any number of threads). */
static void input_statistics(vx_adapt *a, int b, int batch, double *mean, double *var)
{
    vx_net *net = a->net;
    const nn_layer *l = &net->layer[b];
    int C = l->c;
    size_t hw = (size_t)l->h * l->w;
    double *sum = mean, *sq = var;
    memset(sum, 0, (size_t)C * sizeof *sum);
    memset(sq, 0, (size_t)C * sizeof *sq);
    for (size_t b0 = 0; b0 < a->held; b0 += (size_t)batch) {
        int m = a->held - b0 < (size_t)batch ? (int)(a->held - b0) : batch;
        for (int i = 0; i < m; i++)
            nn_net_set_input(net, m, i, a->inputs + (b0 + (size_t)i) * a->per);
        for (int i = 1; i < b; i++)
            nn_layer_forward(net, i, m, 0, 0);
        const float *x = net->layer[b - 1].out; /* [C][m][H][W] */
        size_t count = (size_t)m * hw;
        NN_PARALLEL_FOR_IF((size_t)C * count, shared(C, count, x, sum, sq))
        for (int c = 0; c < C; c++) {
            const float *xc = x + (size_t)c * count;
            double s = 0, ss = 0;
            for (size_t k = 0; k < count; k++) {
                s += xc[k];
                ss += (double)xc[k] * xc[k];
            }
            sum[c] += s;
            sq[c] += ss;
        }
    }
    double n = (double)a->held * (double)hw;
    for (int c = 0; c < C; c++) {
        double mu = sum[c] / n, v = (sq[c] - n * mu * mu) / (n > 1 ? n - 1 : 1);
        mean[c] = mu;
        var[c] = v > 0 ? v : 0;
    }
}

int vx_adapt_finish(vx_adapt *a, vx_error *err)
{
    vx_net *net = a->net;
    if (a->held < 2)
        return vx_fail(err, "%zu input%s: batch norm needs at least 2", a->held, a->held == 1 ? "" : "s");
    int layers = 0, widest = 0;
    for (int i = 1; i < net->nlayers; i++)
        if (net->layer[i].kind == NN_BN) {
            layers++;
            widest = net->layer[i].c > widest ? net->layer[i].c : widest;
        }
    if (layers == 0)
        return vx_fail(err, "the model has no batch-norm layer to adapt");
    int batch = a->held < 32 ? (int)a->held : 32;
    /* Training's buffers: inference keeps no outputs of the layers it fuses into a convolution. */
    if (nn_net_reserve(net, batch, 1, err) < 0)
        return -1;
    double *mean = vx_calloc(2 * (size_t)widest, sizeof *mean, err), *var = mean ? mean + widest : NULL;
    if (!mean)
        return -1;
    for (int b = 1; b < net->nlayers; b++) {
        nn_layer *l = &net->layer[b];
        if (l->kind != NN_BN)
            continue;
        input_statistics(a, b, batch, mean, var);
        for (int c = 0; c < l->c; c++) {
            l->run_mean[c] = (float)mean[c];
            l->run_var[c] = (float)var[c];
        }
    }
    free(mean);
    nn_net_params_changed(net);
    char text[32];
    snprintf(text, sizeof text, "%zu", a->held);
    return vx_net_set_meta(net, "adapted_inputs", text, err);
}
