/* nn_grad.c — the backward pass of every layer against central finite differences: each layer
 * alone under the loss L = sum(r * y) for a fixed random r (summed in double), softmax with
 * cross-entropy (class weights, label smoothing) and the domain-adversarial head against
 * differences of their own losses. */
#include "nn.h"
#include "tap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 2024;

/* L = sum r*y of layer 1 after a training forward (fixed dropout seed). */
static double probe(vx_net *net, int n, const float *r)
{
    nn_layer_forward(net, 1, n, 1, 42);
    const nn_layer *l = &net->layer[1];
    size_t ny = (size_t)l->c * n * l->h * l->w;
    double s = 0;
    for (size_t i = 0; i < ny; i++)
        s += (double)r[i] * l->out[i];
    return s;
}

/* Compares analytic and numeric derivatives of L with respect to the floats v[0..count). */
static int compare(vx_net *net, int n, const float *r, float *v, const float *analytic, size_t count,
                   const char *what, const char *line, double *worst)
{
    int bad = 0;
    for (size_t i = 0; i < count; i++) {
        float keep = v[i];
        double eps = 1e-2 * fmax(1.0, fabs(keep));
        v[i] = (float)(keep + eps);
        double up = probe(net, n, r);
        v[i] = (float)(keep - eps);
        double down = probe(net, n, r);
        v[i] = keep;
        double numeric = (up - down) / (2 * eps), diff = fabs(numeric - analytic[i]);
        double rel = diff / fmax(1e-2, fabs(numeric) + fabs(analytic[i]));
        *worst = fmax(*worst, rel);
        if (rel > 1e-2) {
            if (bad < 3)
                tap_diag("%s: d%s[%zu] analytic %.6g numeric %.6g", line, what, i, analytic[i], numeric);
            bad++;
        }
    }
    return bad;
}

/* Layer `line` on input [c][n][h][w]: input and parameter gradients. */
static void check_layer(tap *t, const char *line, int c, int h, int w, int n)
{
    char arch[256];
    snprintf(arch, sizeof arch, "input %d %d %d\n%s\ngap\nsoftmax 2\n", c, h, w, line);
    vx_error err;
    vx_net *net = vx_net_create(arch, 5, &err);
    if (!net || nn_net_reserve(net, n, 1, &err) < 0) {
        tap_ok(t, 0, "%s: %s", line, err.msg);
        vx_net_free(net);
        return;
    }
    nn_layer *in = &net->layer[0], *l = &net->layer[1];
    size_t nx = (size_t)in->c * n * in->h * in->w, ny = (size_t)l->c * n * l->h * l->w;
    float *r = malloc(ny * sizeof *r), *dx = calloc(nx, sizeof *dx);
    /* Piecewise-linear layers get inputs no perturbation can carry across a kink: away from
     * zero for the ReLUs, and all distinct by a margin (a shuffled ramp) for max pooling. */
    for (size_t i = 0; i < nx; i++) {
        float v = nn_normal(&rng);
        in->out[i] = l->kind == NN_MAXPOOL ? 0.05f * (float)i - 0.025f * (float)nx : v + (v < 0 ? -0.05f : 0.05f);
    }
    for (size_t i = nx - 1; l->kind == NN_MAXPOOL && i > 0; i--) {
        size_t j = (size_t)(nn_splitmix64(&rng) % (i + 1));
        float tmp = in->out[i];
        in->out[i] = in->out[j];
        in->out[j] = tmp;
    }
    for (size_t i = 0; i < ny; i++)
        r[i] = nn_normal(&rng);
    for (size_t i = 0; i < net->nparams; i++) /* biases and beta away from their initial zero */
        if (net->params[i] == 0.0f)
            net->params[i] = 0.2f * nn_normal(&rng);
    in->dout = dx; /* the test wants the input gradient too */
    /* and the output gradient of a layer that learns nothing, which training leaves out */
    float *own = l->dout ? NULL : malloc(ny * sizeof *own);
    if (own)
        l->dout = own;
    probe(net, n, r);
    memcpy(l->dout, r, ny * sizeof *r);
    nn_layer_backward(net, 1, n);
    double worst = 0;
    int bad = compare(net, n, r, in->out, dx, nx, "x", line, &worst);
    if (l->weight) {
        size_t nw = l->kind == NN_CONV    ? (size_t)l->c * l->in_c * l->k * l->k
                    : l->kind == NN_DENSE ? (size_t)l->c * l->in_c * l->in_h * l->in_w
                                          : (size_t)l->c; /* bn: gamma */
        float *g = malloc((nw + (size_t)l->c) * sizeof *g);
        memcpy(g, l->dweight, nw * sizeof *g);
        memcpy(g + nw, l->dbias, (size_t)l->c * sizeof *g);
        bad += compare(net, n, r, l->weight, g, nw, "weight", line, &worst);
        bad += compare(net, n, r, l->bias, g + nw, (size_t)l->c, "bias", line, &worst);
        free(g);
    }
    in->dout = NULL;
    if (own) {
        l->dout = NULL;
        free(own);
    }
    tap_ok(t, bad == 0, "gradient of '%s' on %dx%dx%d, batch %d (worst relative difference %.2g)", line, c, h, w, n,
           worst);
    free(r);
    free(dx);
    vx_net_free(net);
}

/* Softmax + cross-entropy: dz against differences of the loss in z. */
static void check_loss(tap *t, const float *cw, float smoothing)
{
    enum { C = 4, N = 5 };
    float z[C * N], p[C * N], dz[C * N];
    int labels[N] = {0, 3, 1, 1, 2};
    for (int i = 0; i < C * N; i++)
        z[i] = 2 * nn_normal(&rng);
    nn_softmax_forward(C, N, z, p);
    nn_xent(C, N, p, labels, cw, smoothing, dz);
    double worst = 0;
    for (int i = 0; i < C * N; i++) {
        float keep = z[i];
        double eps = 1e-2;
        z[i] = (float)(keep + eps);
        nn_softmax_forward(C, N, z, p);
        double up = nn_xent(C, N, p, labels, cw, smoothing, NULL);
        z[i] = (float)(keep - eps);
        nn_softmax_forward(C, N, z, p);
        double down = nn_xent(C, N, p, labels, cw, smoothing, NULL);
        z[i] = keep;
        double numeric = (up - down) / (2 * eps);
        worst = fmax(worst, fabs(numeric - dz[i]) / fmax(1e-2, fabs(numeric) + fabs(dz[i])));
    }
    tap_ok(t, worst < 1e-3, "softmax + cross-entropy%s%s (worst relative difference %.2g)",
           cw ? ", class weights" : "", smoothing > 0 ? ", label smoothing" : "", worst);
}

/* The domain head's loss at its present weights: a step at learning rate 0 changes none. */
static double domain_loss(nn_domain *h, const float *x, int n, float *scratch)
{
    nn_adamw_step still = {.b1 = 0.9f, .b2 = 0.999f, .eps = 1e-8f, .bc1 = 1, .bc2 = 1};
    int right;
    return nn_domain_step(h, x, n, n / 2, 0, scratch, &still, &right);
}

/* The head's gradients of its weights and, reversed, of its input features. */
static void check_domain(tap *t)
{
    enum { F = 6, H = 5, N = 8 };
    vx_error err;
    nn_domain *h = nn_domain_create(F, H, N, 3, &err);
    float x[F * N], dx[F * N] = {0}, scratch[F * N];
    for (int i = 0; i < F * N; i++)
        x[i] = nn_normal(&rng);
    for (int j = 0; j < H; j++) /* biases away from 0, so that some units are off */
        h->params[(size_t)H * F + j] = 0.3f * nn_normal(&rng);
    nn_adamw_step still = {.b1 = 0.9f, .b2 = 0.999f, .eps = 1e-8f, .bc1 = 1, .bc2 = 1};
    int right;
    nn_domain_step(h, x, N, N / 2, 2.0f, dx, &still, &right);
    float *analytic = malloc(h->nparams * sizeof *analytic);
    memcpy(analytic, h->grads, h->nparams * sizeof *analytic);
    double worst_x = 0, worst_w = 0, eps = 1e-2;
    for (int i = 0; i < F * N; i++) {
        float keep = x[i];
        x[i] = (float)(keep + eps);
        double up = domain_loss(h, x, N, scratch);
        x[i] = (float)(keep - eps);
        double down = domain_loss(h, x, N, scratch);
        x[i] = keep;
        double numeric = -2.0 * (up - down) / (2 * eps); /* reversed, and weighted by 2 */
        worst_x = fmax(worst_x, fabs(numeric - dx[i]) / fmax(1e-2, fabs(numeric) + fabs(dx[i])));
    }
    for (size_t i = 0; i < h->nparams; i++) {
        float keep = h->params[i];
        h->params[i] = (float)(keep + eps);
        double up = domain_loss(h, x, N, scratch);
        h->params[i] = (float)(keep - eps);
        double down = domain_loss(h, x, N, scratch);
        h->params[i] = keep;
        double numeric = (up - down) / (2 * eps);
        worst_w = fmax(worst_w, fabs(numeric - analytic[i]) / fmax(1e-2, fabs(numeric) + fabs(analytic[i])));
    }
    tap_ok(t, worst_x < 1e-2, "domain head: its input's gradient, reversed and weighted (worst relative difference %.2g)",
           worst_x);
    tap_ok(t, worst_w < 1e-2, "domain head: its weights' gradients (worst relative difference %.2g)", worst_w);
    free(analytic);
    nn_domain_free(h);
}

int main(void)
{
    tap t;
    tap_plan(&t, 19);
    check_layer(&t, "conv 3 3 same", 2, 6, 5, 3);
    check_layer(&t, "conv 2 4x4 same", 1, 7, 7, 2);
    check_layer(&t, "conv 3 3 valid stride 2", 2, 9, 8, 2);
    check_layer(&t, "conv 2 5 same stride 2", 3, 6, 6, 2);
    check_layer(&t, "conv 4 1 same", 3, 3, 3, 4);
    check_layer(&t, "maxpool 2", 2, 6, 6, 3);
    check_layer(&t, "maxpool 3 stride 2", 1, 7, 7, 2);
    check_layer(&t, "avgpool 2", 2, 5, 5, 2);
    check_layer(&t, "gap", 3, 4, 3, 2);
    check_layer(&t, "dense 5", 3, 2, 2, 4);
    check_layer(&t, "relu", 2, 4, 4, 2);
    check_layer(&t, "leakyrelu 0.1", 2, 4, 4, 2);
    check_layer(&t, "dropout 0.4", 2, 4, 4, 2);
    check_layer(&t, "bn", 3, 4, 4, 3);
    check_loss(&t, NULL, 0.0f);
    float cw[4] = {0.5f, 2.0f, 1.0f, 3.0f};
    check_loss(&t, cw, 0.0f);
    check_loss(&t, cw, 0.1f);
    check_domain(&t);
    return tap_done(&t);
}
