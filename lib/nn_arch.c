/* nn_arch.c — a network from its architecture text (formats/arch.md): the layer table, each
 * line parsed and shaped, the parameter tensors declared, carved from one allocation and initialised. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The words of an architecture line. Adding a layer kind touches, in order:
 *   lib/nn.h        enum nn_kind, and the kernel's declaration (forward, backward, naive reference);
 *   here            layer_words[], layer_shape() (its output), parse_line() (its arguments) and,
 *                   if it has parameters, declare_params() and init_params();
 *   lib/nn_layers.c the kernels;
 *   lib/nn_net.c    layer_forward() and nn_layer_backward(), and inference_span() if inference
 *                   fuses it into the convolution before it;
 *   man/vx-model.5  the architecture text's list of words;
 *   tests/          nn_kernels.c (against the naive reference), nn_grad.c (finite differences),
 *                   and the architecture seed kinds.arch in tests/fuzz.mk. */
static const struct {
    const char *word;
    enum nn_kind kind;
} layer_words[] = {
    {"input", NN_INPUT},   {"conv", NN_CONV},       {"maxpool", NN_MAXPOOL},     {"avgpool", NN_AVGPOOL},
    {"gap", NN_GAP},       {"dense", NN_DENSE},     {"relu", NN_RELU},           {"leakyrelu", NN_LEAKY},
    {"dropout", NN_DROPOUT}, {"bn", NN_BN},         {"softmax", NN_SOFTMAX},
};

/* Parses "K" or "KxK" into *k. */
static int parse_kernel(const char *tok, int *k)
{
    char *end;
    long a = strtol(tok, &end, 10);
    if (*end == 'x') {
        long b = strtol(end + 1, &end, 10);
        if (b != a)
            return -1; /* only square kernels */
    }
    if (*end || a < 1 || a > 64)
        return -1;
    *k = (int)a;
    return 0;
}

static int parse_int(const char *tok, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = tok ? strtol(tok, &end, 10) : 0;
    if (!tok || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_float(const char *tok, double lo, double hi, float *out)
{
    char *end;
    double v = tok ? strtod(tok, &end) : 0;
    if (!tok || *end || !(v >= lo && v <= hi))
        return -1;
    *out = (float)v;
    return 0;
}

/* Sets the output shape of l from its input shape; -1 when it does not fit. */
static int layer_shape(nn_layer *l, int same)
{
    l->c = l->kind == NN_CONV || l->kind == NN_DENSE || l->kind == NN_SOFTMAX ? l->c : l->in_c;
    l->h = l->in_h;
    l->w = l->in_w;
    switch (l->kind) {
    case NN_CONV:
    case NN_MAXPOOL:
    case NN_AVGPOOL:
        if (same) {
            l->h = (l->in_h + l->stride - 1) / l->stride;
            l->w = (l->in_w + l->stride - 1) / l->stride;
            int pad = (l->h - 1) * l->stride + l->k - l->in_h;
            l->pad = pad > 0 ? pad / 2 : 0;
        } else {
            if (l->in_h < l->k || l->in_w < l->k)
                return -1;
            l->h = (l->in_h - l->k) / l->stride + 1;
            l->w = (l->in_w - l->k) / l->stride + 1;
            l->pad = 0;
        }
        break;
    case NN_GAP:
    case NN_DENSE:
        l->h = l->w = 1;
        break;
    case NN_SOFTMAX:
        if (l->in_h * l->in_w != 1 || l->in_c != l->c)
            return -1;
        break;
    default: break;
    }
    return l->h >= 1 && l->w >= 1 ? 0 : -1;
}

/* One line "word args..." -> one layer (two for "softmax N": dense N, then softmax). */
static int parse_line(vx_net *net, char *line, int lineno, vx_error *err)
{
    char *tok[8];
    int ntok = 0;
    for (char *s = strtok(line, " \t\r"); s && ntok < 8; s = strtok(NULL, " \t\r"))
        tok[ntok++] = s;
    if (ntok == 0)
        return 0;
    int found = -1;
    for (size_t i = 0; i < sizeof layer_words / sizeof layer_words[0]; i++)
        if (strcmp(tok[0], layer_words[i].word) == 0)
            found = (int)i;
    if (found < 0)
        return vx_fail(err, "architecture line %d: unknown layer '%s'", lineno, tok[0]);
    enum nn_kind kind = layer_words[found].kind;
    if ((kind == NN_INPUT) != (net->nlayers == 0))
        return vx_fail(err, "architecture line %d: 'input C H W' must come first, once", lineno);
    if (net->nlayers > 0 && net->layer[net->nlayers - 1].kind == NN_SOFTMAX)
        return vx_fail(err, "architecture line %d: nothing may follow softmax", lineno);
    if (net->nlayers + 2 > NN_MAX_LAYERS)
        return vx_fail(err, "architecture line %d: more than %d layers", lineno, NN_MAX_LAYERS - 2);
    nn_layer l = {.kind = kind, .stride = 1, .k = 1};
    if (net->nlayers > 0) {
        const nn_layer *p = &net->layer[net->nlayers - 1];
        l.in_c = p->c;
        l.in_h = p->h;
        l.in_w = p->w;
    }
    int same = 0, bad = 0, want = 1;
    switch (kind) {
    case NN_INPUT:
        want = 4;
        bad = ntok != 4 || parse_int(tok[1], 1, 4096, &l.c) || parse_int(tok[2], 1, 4096, &l.h) ||
              parse_int(tok[3], 1, 4096, &l.w);
        break;
    case NN_CONV:
        /* conv OUT K [same|valid] [stride S] */
        want = 3;
        bad = ntok < 3 || parse_int(tok[1], 1, 65536, &l.c) || parse_kernel(tok[2], &l.k);
        same = 1;
        for (int i = 3; !bad && i < ntok; i++) {
            if (strcmp(tok[i], "same") == 0 || strcmp(tok[i], "valid") == 0)
                same = tok[i][0] == 's';
            else if (strcmp(tok[i], "stride") == 0 && i + 1 < ntok)
                bad = parse_int(tok[++i], 1, 16, &l.stride);
            else
                bad = 1;
        }
        want = ntok;
        break;
    case NN_MAXPOOL:
    case NN_AVGPOOL:
        /* maxpool K [stride S] (valid) */
        bad = ntok < 2 || parse_kernel(tok[1], &l.k);
        l.stride = l.k;
        if (!bad && ntok == 4 && strcmp(tok[2], "stride") == 0)
            bad = parse_int(tok[3], 1, 16, &l.stride);
        else if (ntok != 2)
            bad = 1;
        want = ntok;
        break;
    case NN_DENSE:
    case NN_SOFTMAX:
        want = 2;
        bad = ntok != 2 || parse_int(tok[1], 1, 1 << 20, &l.c);
        if (kind == NN_SOFTMAX && !bad && l.c > VX_NET_MAX_CLASSES)
            return vx_fail(err, "architecture line %d: at most %d classes", lineno, VX_NET_MAX_CLASSES);
        break;
    case NN_LEAKY:
        l.alpha = 0.01f;
        want = ntok;
        bad = ntok > 2 || (ntok == 2 && parse_float(tok[1], 0, 1, &l.alpha));
        break;
    case NN_DROPOUT:
        want = 2;
        bad = ntok != 2 || parse_float(tok[1], 0, 0.95, &l.alpha);
        break;
    case NN_BN:
        l.alpha = 1e-5f;
        want = ntok;
        bad = ntok > 2 || (ntok == 2 && parse_float(tok[1], 1e-12, 1, &l.alpha));
        break;
    default: break;
    }
    if (bad || ntok != want)
        return vx_fail(err, "architecture line %d: bad arguments for '%s'", lineno, tok[0]);
    if (kind == NN_SOFTMAX) {
        /* softmax N = dense N + softmax */
        nn_layer d = l;
        d.kind = NN_DENSE;
        layer_shape(&d, 0);
        net->layer[net->nlayers++] = d;
        l.in_c = d.c;
        l.in_h = l.in_w = 1;
    }
    if (kind != NN_INPUT && layer_shape(&l, same) < 0)
        return vx_fail(err, "architecture line %d: '%s' does not fit its input %dx%dx%d", lineno, tok[0], l.in_c,
                       l.in_h, l.in_w);
    /* Bounded here so that no size below overflows; the memory limit decides what is allocated. */
    uint64_t values = (uint64_t)l.c * (uint64_t)l.h * (uint64_t)l.w;
    if (values > NN_MAX_LAYER_VALUES)
        return vx_fail(err, "architecture line %d: '%s' makes %dx%dx%d = %llu values per sample, above %llu",
                       lineno, tok[0], l.c, l.h, l.w, (unsigned long long)values,
                       (unsigned long long)NN_MAX_LAYER_VALUES);
    net->layer[net->nlayers++] = l;
    return 0;
}

static int add_tensor(vx_net *net, int layer, const char *what, int rank, const uint32_t *dim, int trainable,
                      int decay)
{
    nn_tensor *t = &net->tensor[net->ntensors++];
    snprintf(t->name, sizeof t->name, "L%d.%s", layer, what);
    t->rank = rank;
    t->count = 1;
    for (int i = 0; i < rank; i++) {
        t->dim[i] = dim[i];
        t->count *= dim[i];
    }
    t->offset = net->nparams;
    t->trainable = trainable;
    t->decay = decay;
    net->nparams += (t->count + 15) / 16 * 16; /* every tensor starts 64-byte aligned */
    return net->ntensors - 1;
}

/* Declares every parameter tensor (nothing is allocated yet). */
static void declare_params(vx_net *net)
{
    for (int i = 0; i < net->nlayers; i++) {
        nn_layer *l = &net->layer[i];
        uint32_t c = (uint32_t)l->c;
        if (l->kind == NN_CONV) {
            uint32_t dim[4] = {c, (uint32_t)l->in_c, (uint32_t)l->k, (uint32_t)l->k};
            add_tensor(net, i, "weight", 4, dim, 1, 1);
            add_tensor(net, i, "bias", 1, &c, 1, 0);
        } else if (l->kind == NN_DENSE) {
            uint32_t dim[2] = {c, (uint32_t)((size_t)l->in_c * l->in_h * l->in_w)};
            add_tensor(net, i, "weight", 2, dim, 1, 1);
            add_tensor(net, i, "bias", 1, &c, 1, 0);
        } else if (l->kind == NN_BN) {
            add_tensor(net, i, "gamma", 1, &c, 1, 0);
            add_tensor(net, i, "beta", 1, &c, 1, 0);
            add_tensor(net, i, "running_mean", 1, &c, 0, 0);
            add_tensor(net, i, "running_var", 1, &c, 0, 0);
        }
    }
}

/* Carves the declared tensors from one allocation (and their gradients from another), after
 * checking that they and the activations of one sample fit the memory limit. */
int nn_net_alloc_params(vx_net *net, vx_error *err)
{
    if (nn_net_check_memory(net, 1, 0, 0, err) < 0)
        return -1;
    net->params = nn_aligned_alloc(net->nparams, err);
    net->grads = net->params ? nn_aligned_alloc(net->nparams, err) : NULL;
    if (!net->grads)
        return -1;
    for (int i = 0, ti = 0; i < net->nlayers; i++) {
        nn_layer *l = &net->layer[i];
        const nn_tensor *t = &net->tensor[ti];
        if (l->kind == NN_CONV || l->kind == NN_DENSE || l->kind == NN_BN) {
            l->weight = net->params + t[0].offset;
            l->dweight = net->grads + t[0].offset;
            l->bias = net->params + t[1].offset;
            l->dbias = net->grads + t[1].offset;
            ti += 2;
        }
        if (l->kind == NN_BN) {
            l->run_mean = net->params + t[2].offset;
            l->run_var = net->params + t[3].offset;
            ti += 2;
        }
    }
    return 0;
}

/* He initialisation for weights, zero biases, identity batch norm; each tensor has its own stream. */
static void init_params(vx_net *net, uint64_t seed)
{
    for (int ti = 0; ti < net->ntensors; ti++) {
        const nn_tensor *t = &net->tensor[ti];
        float *p = net->params + t->offset;
        const char *what = strchr(t->name, '.') + 1;
        uint64_t s = nn_rng_derive(seed, 0x1417, (uint64_t)ti);
        if (strcmp(what, "weight") == 0) {
            size_t fan_in = t->count / t->dim[0];
            float std = sqrtf(2.0f / (float)fan_in);
            for (size_t i = 0; i < t->count; i++)
                p[i] = std * nn_normal(&s);
        } else {
            float v = strcmp(what, "gamma") == 0 || strcmp(what, "running_var") == 0 ? 1.0f : 0.0f;
            for (size_t i = 0; i < t->count; i++)
                p[i] = v;
        }
    }
}

static int parse_arch(vx_net *net, const char *arch, vx_error *err)
{
    size_t len = strlen(arch);
    char *copy = malloc(len + 1);
    if (!copy)
        return vx_fail(err, "out of memory");
    memcpy(copy, arch, len + 1);
    int lineno = 0, rc = 0;
    for (char *line = copy, *next; line && rc == 0; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        rc = parse_line(net, line, lineno, err);
    }
    free(copy);
    if (rc < 0)
        return -1;
    if (net->nlayers < 3 || net->layer[net->nlayers - 1].kind != NN_SOFTMAX)
        return vx_fail(err, "architecture: needs an input line and must end with 'softmax N'");
    return 0;
}

/* The network an architecture describes, its tensors declared but nothing allocated. */
vx_net *nn_net_parse(const char *arch, vx_error *err)
{
    vx_net *net = calloc(1, sizeof *net);
    if (!net) {
        vx_fail(err, "out of memory");
        return NULL;
    }
    net->arch = strdup(arch);
    net->in_std = 1.0f;
    if (!net->arch || parse_arch(net, arch, err) < 0) {
        if (!net->arch)
            vx_fail(err, "out of memory");
        vx_net_free(net);
        return NULL;
    }
    declare_params(net);
    return net;
}

vx_net *vx_net_create(const char *arch, uint64_t seed, vx_error *err)
{
    vx_net *net = nn_net_parse(arch, err);
    if (net && nn_net_alloc_params(net, err) < 0) {
        vx_net_free(net);
        return NULL;
    }
    if (net)
        init_params(net, seed);
    return net;
}

int vx_net_check_arch(const char *arch, int batch, int training, vx_error *err)
{
    vx_net *net = nn_net_parse(arch, err);
    if (!net)
        return -1;
    int rc = nn_net_check_memory(net, batch, training, training ? 2 * net->nparams : 0, err);
    vx_net_free(net);
    return rc;
}

void vx_net_free(vx_net *net)
{
    if (!net)
        return;
    free(net->arch);
    free(net->params);
    free(net->grads);
    free(net->acts);
    free(net->work.thread);
    free(net->work.part);
    free(net->work.packed_weight);
    free(net->kernels);
    free(net->band_mean);
    free(net->band_std);
    for (int i = 0; i < net->nmeta; i++) {
        free(net->meta_key[i]);
        free(net->meta_value[i]);
    }
    free(net);
}

void vx_net_shape(const vx_net *net, uint32_t input[3], int *nclasses, size_t *nparams)
{
    if (input) {
        input[0] = (uint32_t)net->layer[0].c;
        input[1] = (uint32_t)net->layer[0].h;
        input[2] = (uint32_t)net->layer[0].w;
    }
    if (nclasses)
        *nclasses = net->layer[net->nlayers - 1].c;
    if (nparams) {
        size_t n = 0;
        for (int i = 0; i < net->ntensors; i++)
            n += net->tensor[i].trainable ? net->tensor[i].count : 0;
        *nparams = n;
    }
}

