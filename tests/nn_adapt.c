/* nn_adapt.c — AdaBN (vx_adapt): every batch-norm layer's statistics against a plain reference
 * computed sample by sample through the reference convolution, the sample drawn independently of
 * the thread count and by its seed, and each input it refuses. */
#include "nn.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char arch[] = "input 1 6 5\nconv 3 3 same\nbn\nrelu\nconv 4 3 same\nbn\nrelu\ngap\nsoftmax 2\n";
enum { H = 6, W = 5, C1 = 3, C2 = 4, N = 37 };

/* Input i: values of mean 3 and deviation about 2, unlike what the fresh net's statistics say. */
static void make_input(vx_record *r, int i)
{
    vx_error err;
    uint32_t dim[3] = {1, H, W};
    vx_record_shape(r, VX_F32, 3, dim, &err);
    uint64_t s = 1000 + (uint64_t)i;
    float *v = r->data;
    for (int k = 0; k < H * W; k++)
        v[k] = 3.0f + 4.0f * (nn_uniform(&s) - 0.5f) * (1.0f + (float)(k % 3));
    r->label = VX_NO_LABEL;
}

static vx_net *adapted(size_t sample, uint64_t seed, int threads, vx_error *err)
{
    vx_set_threads(threads);
    vx_net *net = vx_net_create(arch, 5, err);
    vx_adapt *a = net ? vx_adapt_create(net, sample, seed, err) : NULL;
    vx_record r;
    vx_record_init(&r);
    int ok = a != NULL;
    for (int i = 0; ok && i < N; i++) {
        make_input(&r, i);
        ok = vx_adapt_add(a, &r, err) == 0;
    }
    ok = ok && vx_adapt_finish(a, err) == 0;
    vx_record_free(&r);
    vx_adapt_free(a);
    if (!ok) {
        vx_net_free(net);
        return NULL;
    }
    return net;
}

/* Mean and unbiased variance of each channel of [N][c][H][W] values, in double. */
static void channel_stats(const float *v, int c, double *mean, double *var)
{
    for (int ch = 0; ch < c; ch++) {
        double s = 0, ss = 0, n = (double)N * H * W;
        for (int i = 0; i < N; i++)
            for (int k = 0; k < H * W; k++) {
                double x = v[((size_t)i * c + ch) * H * W + k];
                s += x;
                ss += x * x;
            }
        mean[ch] = s / n;
        var[ch] = (ss - n * mean[ch] * mean[ch]) / (n - 1);
    }
}

/* The largest difference of a layer's running statistics from the reference's, relative. */
static double worst(const nn_layer *bn, const double *mean, const double *var)
{
    double w = 0;
    for (int c = 0; c < bn->c; c++) {
        double dm = fabs(bn->run_mean[c] - mean[c]) / (fabs(mean[c]) + 1e-3);
        double dv = fabs(bn->run_var[c] - var[c]) / (var[c] + 1e-6);
        w = dm > w ? dm : w;
        w = dv > w ? dv : w;
    }
    return w;
}

static void check_reference(tap *t)
{
    vx_error err;
    vx_net *net = adapted(64, 1, 1, &err);
    if (!tap_ok(t, net != NULL, "37 inputs adapted (%s)", net ? "" : err.msg)) {
        tap_ok(t, 0, "first batch norm");
        tap_ok(t, 0, "second batch norm");
        return;
    }
    const nn_layer *conv1 = &net->layer[1], *bn1 = &net->layer[2], *conv2 = &net->layer[4], *bn2 = &net->layer[5];
    float *y1 = calloc((size_t)N * C1 * H * W, sizeof(float)), *y2 = calloc((size_t)N * C2 * H * W, sizeof(float));
    float z[C1 * H * W];
    vx_record r;
    vx_record_init(&r);
    for (int i = 0; i < N; i++) {
        make_input(&r, i);
        nn_conv_forward_ref(conv1, 1, r.data, y1 + (size_t)i * C1 * H * W);
    }
    double mean[C2], var[C2];
    channel_stats(y1, C1, mean, var);
    double w1 = worst(bn1, mean, var);
    tap_ok(t, w1 < 1e-5, "first batch norm: its input's mean and variance over the sample (worst %.2g relative)", w1);
    /* The second sees the first's output normalised by the adapted statistics, through ReLU. */
    for (int i = 0; i < N; i++) {
        for (int c = 0; c < C1; c++)
            for (int k = 0; k < H * W; k++) {
                float x = y1[((size_t)i * C1 + c) * H * W + k];
                float v = bn1->weight[c] * (x - bn1->run_mean[c]) / sqrtf(bn1->run_var[c] + bn1->alpha) + bn1->bias[c];
                z[c * H * W + k] = v > 0 ? v : 0;
            }
        nn_conv_forward_ref(conv2, 1, z, y2 + (size_t)i * C2 * H * W);
    }
    channel_stats(y2, C2, mean, var);
    double w2 = worst(bn2, mean, var);
    tap_ok(t, w2 < 1e-4, "second batch norm: its input through the adapted first (worst %.2g relative)", w2);
    vx_record_free(&r);
    free(y1);
    free(y2);
    vx_net_free(net);
}

/* Both batch norms' statistics, for comparing two nets bit for bit. */
static int same_stats(const vx_net *a, const vx_net *b)
{
    for (int i = 0; i < a->nlayers; i++) {
        const nn_layer *la = &a->layer[i], *lb = &b->layer[i];
        if (la->kind == NN_BN && (memcmp(la->run_mean, lb->run_mean, (size_t)la->c * sizeof(float)) ||
                                  memcmp(la->run_var, lb->run_var, (size_t)la->c * sizeof(float))))
            return 0;
    }
    return 1;
}

static void check_sample(tap *t)
{
    vx_error err;
    vx_net *all1 = adapted(64, 1, 1, &err), *all2 = adapted(64, 1, 2, &err);
    vx_net *s1 = adapted(8, 1, 1, &err), *s2 = adapted(8, 1, 2, &err), *other = adapted(8, 2, 1, &err);
    int made = all1 && all2 && s1 && s2 && other;
    tap_ok(t, made && same_stats(all1, all2), "1 and 2 threads: the same statistics, bit for bit");
    tap_ok(t, made && same_stats(s1, s2) && !same_stats(s1, all1),
           "a sample of 8 of 37: the same on 1 and 2 threads, not those of all 37");
    tap_ok(t, made && !same_stats(s1, other), "another seed draws another sample");
    const char *m = made ? vx_net_get_meta(s1, "adapted_inputs") : NULL;
    tap_ok(t, m && strcmp(m, "8") == 0, "adapted_inputs records the sample's size (%s)", m ? m : "none");
    vx_net_free(all1);
    vx_net_free(all2);
    vx_net_free(s1);
    vx_net_free(s2);
    vx_net_free(other);
}

static void check_refusals(tap *t)
{
    vx_error err;
    vx_net *net = vx_net_create(arch, 5, &err);
    tap_ok(t, vx_adapt_create(net, 1, 1, &err) == NULL && strstr(err.msg, "at least 2"),
           "a sample of 1 refused (%s)", err.msg);
    tap_ok(t, vx_adapt_create(net, (size_t)1 << 40, 1, &err) == NULL && strstr(err.msg, "memory limit"),
           "a sample above the memory limit refused before any allocation (%s)", err.msg);
    vx_adapt *a = vx_adapt_create(net, 16, 1, &err);
    vx_record r;
    vx_record_init(&r);
    make_input(&r, 0);
    int added = vx_adapt_add(a, &r, &err) == 0;
    tap_ok(t, added && vx_adapt_finish(a, &err) < 0 && strstr(err.msg, "at least 2"), "one input is too few (%s)",
           err.msg);
    ((float *)r.data)[7] = NAN;
    tap_ok(t, vx_adapt_add(a, &r, &err) < 0 && strstr(err.msg, "finite"), "NaN refused (%s)", err.msg);
    uint32_t dim[3] = {1, W, H};
    vx_record_shape(&r, VX_F32, 3, dim, &err);
    memset(r.data, 0, sizeof(float) * H * W);
    tap_ok(t, vx_adapt_add(a, &r, &err) < 0 && strstr(err.msg, "shape"), "another shape refused (%s)", err.msg);
    vx_adapt_free(a);
    vx_net_free(net);
    net = vx_net_create("input 1 6 5\nconv 3 3 same\nrelu\ngap\nsoftmax 2\n", 5, &err);
    a = vx_adapt_create(net, 16, 1, &err);
    for (int i = 0; i < 3; i++) {
        make_input(&r, i);
        vx_adapt_add(a, &r, &err);
    }
    tap_ok(t, vx_adapt_finish(a, &err) < 0 && strstr(err.msg, "no batch-norm"), "a net without batch norm (%s)",
           err.msg);
    vx_adapt_free(a);
    vx_net_free(net);
    vx_record_free(&r);
}

int main(void)
{
    tap t;
    tap_plan(&t, 13);
    check_reference(&t);
    check_sample(&t);
    check_refusals(&t);
    return tap_done(&t);
}
