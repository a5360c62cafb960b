/* nn_model.c — networks: architecture text to layers, parameter initialisation, the forward and
 * backward passes over a batch, prediction, and the model file (formats/model.md). */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void *nn_aligned_alloc(size_t floats, vx_error *err)
{
    size_t bytes;
    if (vx_size_mul(floats ? floats : 1, sizeof(float), &bytes, err) < 0)
        return NULL;
    void *p = vx_alloc_large(bytes, &bytes, err);
    if (p)
        memset(p, 0, bytes);
    return p;
}

/* ------------------------------------------------------ architecture text */

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
static int alloc_params(vx_net *net, vx_error *err)
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
static vx_net *net_parse(const char *arch, vx_error *err)
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
    vx_net *net = net_parse(arch, err);
    if (net && alloc_params(net, err) < 0) {
        vx_net_free(net);
        return NULL;
    }
    if (net)
        init_params(net, seed);
    return net;
}

int vx_net_check_arch(const char *arch, int batch, int training, vx_error *err)
{
    vx_net *net = net_parse(arch, err);
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

/* -------------------------------------------------------------- metadata */

const char *vx_net_get_meta(const vx_net *net, const char *name)
{
    if (strcmp(name, "arch") == 0)
        return net->arch;
    for (int i = 0; i < net->nmeta; i++)
        if (strcmp(net->meta_key[i], name) == 0)
            return net->meta_value[i];
    return NULL;
}

/* A whole non-empty string as a number within [lo, hi]. */
static int meta_number(const char *value, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end || errno == ERANGE || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* A whole non-empty string of decimal digits. */
static int meta_count(const char *value)
{
    size_t n = strspn(value, "0123456789");
    return n > 0 && n <= 19 && !value[n] ? 0 : -1;
}

/* classes=: one name per output of the network, none of them empty, repeated or longer than 63
 * bytes, no control characters (they travel in stream metadata lines and tab-separated text). */
static int check_classes(const vx_net *net, const char *value, vx_error *err)
{
    int want = net->layer[net->nlayers - 1].c, have = vx_classes_count(value);
    if (have != want)
        return vx_fail(err, "metadata classes '%s': %d names for %d outputs", value, have, want);
    for (const char *p = value;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 63)
            return vx_fail(err, "metadata classes '%s': a name is empty or longer than 63 bytes", value);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return vx_fail(err, "metadata classes: a name holds a control character");
        for (const char *q = value; q < p; q += strcspn(q, ",") + 1)
            if (strcspn(q, ",") == len && strncmp(q, p, len) == 0)
                return vx_fail(err, "metadata classes '%s': '%.*s' appears twice", value, (int)len, p);
        p += len;
        if (!*p)
            return 0;
    }
}

/* The rule each known metadata value obeys (formats/model.md); unknown keys are kept as text. */
static int check_meta(const vx_net *net, const char *name, const char *value, vx_error *err)
{
    static const char *const counts[] = {"seed", "epochs", "best_epoch", "train_images", "checkpoint_epoch",
                                         "checkpoint_step"};
    static const char *const fractions[] = {"train_acc", "val_acc", "best_val_acc"};
    double v;
    if (strcmp(name, "input_mean") == 0 && meta_number(value, -1e6, 1e6, &v) < 0)
        return vx_fail(err, "metadata input_mean: '%s' is not a number from -1e6 to 1e6", value);
    if (strcmp(name, "input_std") == 0 && meta_number(value, 1e-6, 1e6, &v) < 0)
        return vx_fail(err, "metadata input_std: '%s' is not a number from 1e-6 to 1e6", value);
    if (strcmp(name, "classes") == 0)
        return check_classes(net, value, err);
    if (strcmp(name, "augment") == 0 && strcmp(value, "audio") && strcmp(value, "image") && strcmp(value, "none"))
        return vx_fail(err, "metadata augment: '%s' is not audio, image or none", value);
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (strcmp(name, counts[i]) == 0 && meta_count(value) < 0)
            return vx_fail(err, "metadata %s: '%s' is not a whole number", name, value);
    for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++)
        if (strcmp(name, fractions[i]) == 0 && meta_number(value, 0, 1, &v) < 0)
            return vx_fail(err, "metadata %s: '%s' is not a fraction from 0 to 1", name, value);
    if (strncmp(name, "spectro_", 8) == 0 && meta_number(value, 1e-6, 1e9, &v) < 0)
        return vx_fail(err, "metadata %s: '%s' is not a positive number", name, value);
    return 0;
}

int vx_net_set_meta(vx_net *net, const char *name, const char *value, vx_error *err)
{
    if (strcmp(name, "arch") == 0)
        return vx_fail(err, "metadata 'arch' is the architecture and cannot be set");
    if (!name[0] || strchr(name, '='))
        return vx_fail(err, "metadata name '%s' is empty or holds '='", name);
    if (check_meta(net, name, value, err) < 0)
        return -1;
    if (strcmp(name, "input_mean") == 0 || strcmp(name, "input_std") == 0)
        *(name[6] == 's' ? &net->in_std : &net->in_mean) = strtof(value, NULL);
    if ((strcmp(name, "input_norm") == 0 || strcmp(name, "input_band_mean") == 0 ||
         strcmp(name, "input_band_std") == 0) && nn_set_norm_meta(net, name, value, err) < 0)
        return -1;
    vx_views views; /* how the model is meant to be run: refused here, so no file can hold a bad one */
    if (strcmp(name, "views") == 0 && vx_views_parse(value, &views, err) < 0)
        return -1;
    int i = 0;
    while (i < net->nmeta && strcmp(net->meta_key[i], name) != 0)
        i++;
    if (i == NN_MAX_META)
        return vx_fail(err, "more than %d metadata entries", NN_MAX_META);
    char *v = strdup(value), *k = i == net->nmeta ? strdup(name) : NULL;
    if (!v || (i == net->nmeta && !k)) {
        free(v);
        free(k);
        return vx_fail(err, "out of memory");
    }
    if (i == net->nmeta) {
        net->meta_key[i] = k;
        net->nmeta++;
    } else {
        free(net->meta_value[i]);
    }
    net->meta_value[i] = v;
    return 0;
}

/* ----------------------------------------------------- batch buffers */

static int is_activation(const nn_layer *l) { return l->kind == NN_RELU || l->kind == NN_LEAKY; }

/* The layers inference runs inside the convolution at i: returns the last of them. */
static int inference_span(const vx_net *net, int i, nn_conv_post *post)
{
    *post = (nn_conv_post){NULL, NULL};
    if (i + 1 < net->nlayers && net->layer[i + 1].kind == NN_BN)
        post->bn = &net->layer[++i];
    if (i + 1 < net->nlayers && is_activation(&net->layer[i + 1]))
        post->act = &net->layer[++i];
    return i;
}

/* written[i]: inference writes layer i's out (its input layer, and the layers it does not fuse or skip). */
static void inference_outputs(const vx_net *net, int *written)
{
    for (int i = 0; i < net->nlayers; i++)
        written[i] = net->layer[i].kind != NN_DROPOUT;
    for (int i = 1; i < net->nlayers; i++)
        if (net->layer[i].kind == NN_CONV) {
            nn_conv_post post;
            int last = inference_span(net, i, &post);
            for (int j = i; j < last; j++)
                written[j] = 0;
            i = last;
        }
}

/* What the batch buffers of a network take, in floats: each layer's out, dout, aux and idx, the
 * workspace of each thread, the group partials and the packed weight. */
typedef struct buffer_plan {
    size_t sizes[NN_MAX_LAYERS][4]; /* out, dout, aux, idx */
    size_t total, per_thread, part, packed;
} buffer_plan;

static void plan_buffers(const vx_net *net, int batch, int training, buffer_plan *bp)
{
    bp->total = 0;
    bp->per_thread = NN_GEMM_PACK;
    bp->part = bp->packed = 0;
    int written[NN_MAX_LAYERS];
    inference_outputs(net, written);
    for (int i = 0; i < net->nlayers; i++) {
        const nn_layer *l = &net->layer[i];
        size_t out = (size_t)l->c * batch * l->h * l->w, in = (size_t)l->in_c * batch * l->in_h * l->in_w;
        size_t *sizes = bp->sizes[i];
        /* Inference keeps no gradients, no dropout masks, no normalised BN inputs and no outputs of
         * fused layers: at batch 64 those are most of the memory, and zeroing it cost more than
         * the network. */
        sizes[0] = training || written[i] ? out : 0;
        sizes[1] = i > 0 && training ? out : 0;
        size_t saved = l->kind == NN_BN || l->kind == NN_DROPOUT ? out : l->kind == NN_DENSE ? in : 0;
        sizes[2] = training ? saved : 0;
        sizes[2] += l->kind == NN_DENSE ? in : 0; /* the flattened input */
        sizes[2] += l->kind == NN_BN ? 2 * (size_t)l->c : 0;
        sizes[3] = l->kind == NN_MAXPOOL && training ? out : 0; /* argmax, for the backward pass */
        for (int j = 0; j < 4; j++) {
            sizes[j] = (sizes[j] + 15) / 16 * 16;
            bp->total += sizes[j];
        }
        if (l->kind == NN_CONV) {
            size_t p, k, t = nn_conv_work(l, batch, &p, &k);
            bp->per_thread = t > bp->per_thread ? t : bp->per_thread;
            bp->part = training && p > bp->part ? p : bp->part; /* weight-gradient partials: backward only */
            bp->packed = k > bp->packed ? k : bp->packed;
        }
    }
}

static int threads_now(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static size_t memory_limit = VX_NET_MEMORY_DEFAULT;

void vx_net_set_memory_limit(size_t bytes) { memory_limit = bytes; }
size_t vx_net_memory_limit(void) { return memory_limit; }

static double mib(size_t floats) { return (double)floats * sizeof(float) / (1 << 20); }

int nn_net_check_memory(const vx_net *net, int batch, int training, size_t extra_floats, vx_error *err)
{
    /* Sizes are bounded by the architecture's limits (values per sample, layers, batch), so these
     * sums cannot wrap: at most 2^28 values x 65536 samples x 4 buffers x 64 layers. */
    buffer_plan bp;
    plan_buffers(net, batch, training, &bp);
    for (int i = 0; i < net->nlayers; i++) {
        const nn_layer *l = &net->layer[i];
        size_t values = (size_t)l->c * batch * l->h * l->w;
        if (values > INT32_MAX)
            return vx_fail(err, "layer %d holds %zu values for a batch of %d, above 2^31", i, values, batch);
    }
    size_t params = 2 * net->nparams + extra_floats; /* parameters and gradients (and optimiser state) */
    size_t work = bp.per_thread * (size_t)threads_now() + bp.part + bp.packed;
    size_t total = params + bp.total + work;
    if (total > memory_limit / sizeof(float))
        return vx_fail(err,
                       "the network needs %.1f MiB (parameters%s %.1f, activations for a batch of %d %.1f, "
                       "workspace %.1f), above the memory limit of %.0f MiB",
                       mib(total), extra_floats ? ", gradients and optimiser state" : " and gradients", mib(params),
                       batch, mib(bp.total), mib(work), (double)memory_limit / (1 << 20));
    return 0;
}

int nn_net_reserve(vx_net *net, int batch, int training, vx_error *err)
{
    int nthreads = threads_now();
    if (batch <= net->max_batch && nthreads <= net->work.nthreads && (!training || net->reserved_training))
        return 0;
    if (batch < net->max_batch)
        batch = net->max_batch;
    training = training || net->reserved_training;
    if (nn_net_check_memory(net, batch, training, net->extra_floats, err) < 0)
        return -1;
    buffer_plan bp;
    plan_buffers(net, batch, training, &bp);
    size_t total = bp.total, per_thread = bp.per_thread, part = bp.part, packed = bp.packed;
    size_t (*sizes)[4] = bp.sizes;
    float *acts = nn_aligned_alloc(total, err);
    float *thread = acts ? nn_aligned_alloc(per_thread * (size_t)nthreads, err) : NULL;
    float *partbuf = thread ? nn_aligned_alloc(part, err) : NULL;
    float *packbuf = partbuf ? nn_aligned_alloc(packed, err) : NULL;
    if (!packbuf) {
        free(acts);
        free(thread);
        free(partbuf);
        return -1;
    }
    free(net->acts);
    free(net->work.thread);
    free(net->work.part);
    free(net->work.packed_weight);
    net->acts = acts;
    net->work = (nn_work){
        .nthreads = nthreads, .per_thread = per_thread, .thread = thread, .part = partbuf, .packed_weight = packbuf};
    float *p = acts;
    for (int i = 0; i < net->nlayers; i++) {
        nn_layer *l = &net->layer[i];
        l->out = sizes[i][0] ? p : NULL;
        l->dout = sizes[i][1] ? p + sizes[i][0] : NULL;
        p += sizes[i][0] + sizes[i][1];
        l->aux = sizes[i][2] ? p : NULL;
        l->stat = l->kind == NN_BN ? p + (training ? (size_t)l->c * batch * l->h * l->w : 0) : NULL;
        p += sizes[i][2];
        l->idx = sizes[i][3] ? (int32_t *)p : NULL;
        p += sizes[i][3];
    }
    net->max_batch = batch;
    net->reserved_training = training;
    return 0;
}

/* ------------------------------------------------------ forward/backward */

void nn_net_set_input(vx_net *net, int n, int i, const float *chw)
{
    const nn_layer *in = &net->layer[0];
    size_t hw = (size_t)in->h * in->w;
    for (int c = 0; c < in->c; c++)
        memcpy(in->out + ((size_t)c * n + i) * hw, chw + c * hw, hw * sizeof(float));
}

static size_t layer_count(const nn_layer *l, int n) { return (size_t)l->c * n * l->h * l->w; }

/* Layer i's forward pass from x into its own out. */
static void layer_forward(vx_net *net, int i, int n, int train, uint64_t dropout_seed, const float *x)
{
    nn_layer *l = &net->layer[i];
    size_t count = layer_count(l, n);
    switch (l->kind) {
    case NN_CONV: nn_conv_forward(l, n, x, l->out, &net->work, NULL); break;
    case NN_MAXPOOL:
    case NN_AVGPOOL:
    case NN_GAP: nn_pool_forward(l, n, x, l->out, l->idx); break;
    case NN_DENSE: nn_dense_forward(l, n, x, l->out, l->aux); break;
    case NN_RELU:
    case NN_LEAKY: nn_act_forward(l, count, x, l->out); break;
    case NN_DROPOUT:
        if (train)
            nn_dropout_forward(l, count, nn_rng_derive(dropout_seed, 0xd0, (uint64_t)i), x, l->out, l->aux);
        else
            memcpy(l->out, x, count * sizeof(float));
        break;
    case NN_BN: nn_bn_forward(l, n, train, 0.1f, x, l->out, train ? l->aux : NULL, l->stat); break;
    case NN_SOFTMAX: nn_softmax_forward(l->c, n, x, l->out); break;
    case NN_INPUT: break;
    }
}

void nn_layer_forward(vx_net *net, int i, int n, int train, uint64_t dropout_seed)
{
    layer_forward(net, i, n, train, dropout_seed, net->layer[i - 1].out);
}

void nn_layer_backward(vx_net *net, int i, int n)
{
    nn_layer *l = &net->layer[i];
    const nn_layer *prev = &net->layer[i - 1];
    float *dx = prev->dout; /* NULL below the first layer: no input gradient needed */
    size_t count = layer_count(l, n);
    switch (l->kind) {
    case NN_CONV: nn_conv_backward(l, n, prev->out, l->dout, dx, &net->work); break;
    case NN_MAXPOOL:
    case NN_AVGPOOL:
    case NN_GAP:
        if (dx)
            nn_pool_backward(l, n, l->dout, dx, l->idx);
        break;
    case NN_DENSE: nn_dense_backward(l, n, l->aux, l->dout, dx, l->aux + layer_count(prev, n)); break;
    case NN_RELU:
    case NN_LEAKY:
        if (dx)
            nn_act_backward(l, count, prev->out, l->dout, dx);
        break;
    case NN_DROPOUT:
        if (dx)
            nn_dropout_backward(count, l->aux, l->dout, dx);
        break;
    case NN_BN: nn_bn_backward(l, n, l->aux, l->stat, l->dout, dx); break;
    case NN_SOFTMAX:
    case NN_INPUT: break;
    }
}

/* Inference: a convolution takes the batch norm and activation after it into its own pass, writing
 * where the last of them would have; dropout passes its input on. Each layer saved is a pass over
 * the batch's activations (a quarter of batch-64 inference time went to such passes). */
static const float *inference_forward(vx_net *net, int n)
{
    const float *x = net->layer[0].out;
    for (int i = 1; i < net->nlayers; i++) {
        nn_layer *l = &net->layer[i];
        if (l->kind == NN_DROPOUT)
            continue;
        if (l->kind != NN_CONV) {
            layer_forward(net, i, n, 0, 0, x);
            x = l->out;
            continue;
        }
        nn_conv_post post;
        int last = inference_span(net, i, &post);
        nn_conv_forward(l, n, x, net->layer[last].out, &net->work, &post);
        x = net->layer[last].out;
        i = last;
    }
    return x;
}

const float *nn_net_forward(vx_net *net, int n, int train, uint64_t dropout_seed)
{
    if (!train)
        return inference_forward(net, n);
    for (int i = 1; i < net->nlayers; i++)
        nn_layer_forward(net, i, n, train, dropout_seed);
    return net->layer[net->nlayers - 1].out;
}

void nn_net_backward(vx_net *net, int n)
{
    /* The loss has written d(loss)/d(logits) into the dout of the layer below softmax. */
    for (int i = net->nlayers - 2; i >= 1; i--)
        nn_layer_backward(net, i, n);
}

/* ------------------------------------------------------------ prediction */

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
        nn_normalise(net, r->data, (size_t)in->w, x, (size_t)in->h * in->w);
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

/* ------------------------------------------------------------ model file */

static const unsigned char model_magic[8] = {0x89, 'V', 'X', 'M', '\r', '\n', 0x1a, '\n'};
#define MODEL_VERSION 1
#define MODEL_HEAD 40
#define MODEL_MAX_BYTES ((uint64_t)1 << 31)


static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* A growing byte buffer for building the file in memory before one atomic write. */
typedef struct bytes {
    unsigned char *p;
    size_t len, cap;
    int oom;
} bytes;

static unsigned char *bytes_grow(bytes *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    unsigned char *at = b->p + b->len;
    memset(at, 0, n);
    b->len += n;
    return at;
}

static void bytes_u32(bytes *b, uint32_t v)
{
    unsigned char *p = bytes_grow(b, 4);
    if (p)
        vx_put_le32(p, v);
}
static void bytes_u64(bytes *b, uint64_t v)
{
    unsigned char *p = bytes_grow(b, 8);
    if (p)
        vx_put_le64(p, v);
}
static void bytes_put(bytes *b, const void *src, size_t n)
{
    unsigned char *p = bytes_grow(b, n);
    if (p)
        memcpy(p, src, n);
}

int nn_model_write(const vx_net *net, const nn_extra *extra, int nextra, const char *path, vx_error *err)
{
    /* A file the loader would refuse is never written. */
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        for (size_t j = 0; j < t->count; j++)
            if (!isfinite(net->params[t->offset + j]))
                return vx_fail(err, "not writing %s: tensor %s holds a non-finite value", path, t->name);
    }
    int nmeta = net->nmeta + 1, ntensors = net->ntensors + nextra;
    bytes b = {0};
    bytes_put(&b, model_magic, 8);
    bytes_u32(&b, MODEL_VERSION);
    bytes_u32(&b, (uint32_t)nmeta);
    bytes_u32(&b, (uint32_t)ntensors);
    bytes_u32(&b, 0);
    bytes_u64(&b, 0); /* data offset, patched below */
    bytes_u64(&b, 0); /* file size, patched below */
    for (int i = -1; i < net->nmeta; i++) {
        const char *k = i < 0 ? "arch" : net->meta_key[i], *v = i < 0 ? net->arch : net->meta_value[i];
        bytes_u32(&b, (uint32_t)strlen(k));
        bytes_u32(&b, (uint32_t)strlen(v));
        bytes_put(&b, k, strlen(k));
        bytes_put(&b, v, strlen(v));
    }
    uint64_t offset = 0;
    for (int i = 0; i < ntensors; i++) {
        const nn_tensor *t = i < net->ntensors ? &net->tensor[i] : &extra[i - net->ntensors].t;
        bytes_u32(&b, (uint32_t)strlen(t->name));
        bytes_u32(&b, (uint32_t)t->rank);
        for (int d = 0; d < t->rank; d++)
            bytes_u32(&b, t->dim[d]);
        bytes_u64(&b, offset);
        bytes_u64(&b, t->count);
        bytes_put(&b, t->name, strlen(t->name));
        offset += (t->count * 4 + 63) / 64 * 64;
    }
    size_t data_at = (b.len + 63) / 64 * 64;
    bytes_grow(&b, data_at - b.len);
    for (int i = 0; i < ntensors; i++) {
        const nn_tensor *t = i < net->ntensors ? &net->tensor[i] : &extra[i - net->ntensors].t;
        const float *src = i < net->ntensors ? net->params + t->offset : extra[i - net->ntensors].data;
        unsigned char *p = bytes_grow(&b, (t->count * 4 + 63) / 64 * 64);
        for (size_t j = 0; p && j < t->count; j++) {
            uint32_t u;
            memcpy(&u, &src[j], 4);
            vx_put_le32(p + 4 * j, u);
        }
    }
    bytes_u64(&b, 0); /* checksum */
    if (b.oom) {
        free(b.p);
        return vx_fail(err, "out of memory writing %s", path);
    }
    vx_put_le64(b.p + 24, data_at);
    vx_put_le64(b.p + 32, b.len);
    vx_put_le64(b.p + b.len - 8, fnv1a(b.p, b.len - 8));
    vx_output out;
    if (vx_output_open(&out, path, err) < 0) {
        free(b.p);
        return -1;
    }
    if (fwrite(b.p, 1, b.len, out.file) != b.len) {
        free(b.p);
        vx_output_abort(&out);
        return vx_fail(err, "error writing %s: %s", path, strerror(errno));
    }
    free(b.p);
    return vx_output_commit(&out, err);
}

int vx_net_save(const vx_net *net, const char *path, vx_error *err) { return nn_model_write(net, NULL, 0, path, err); }


/* Bounds-checked cursor over the header. */
typedef struct cursor {
    const unsigned char *p;
    size_t at, end;
    int bad;
} cursor;

static const unsigned char *take(cursor *c, size_t n)
{
    if (c->bad || c->at > c->end || n > c->end - c->at) {
        c->bad = 1;
        return NULL;
    }
    const unsigned char *p = c->p + c->at;
    c->at += n;
    return p;
}
static uint32_t take32(cursor *c)
{
    const unsigned char *p = take(c, 4);
    return p ? vx_get_le32(p) : 0;
}
static uint64_t take64(cursor *c)
{
    const unsigned char *p = take(c, 8);
    return p ? vx_get_le64(p) : 0;
}

static char *take_text(cursor *c, uint32_t len)
{
    const unsigned char *p = len <= 1 << 20 ? take(c, len) : NULL;
    char *s = p ? malloc((size_t)len + 1) : NULL;
    if (!s) {
        c->bad = 1;
        return NULL;
    }
    memcpy(s, p, len);
    s[len] = '\0';
    if (strlen(s) != len) { /* NUL inside */
        free(s);
        c->bad = 1;
        return NULL;
    }
    return s;
}

/* The tensor named name in the file, checked against the expected rank and dims; NULL if absent. */
static int file_tensor(const nn_file *file, const char *name, const nn_tensor *want, const unsigned char **data,
                       vx_error *err)
{
    for (int i = 0; i < file->ntensors; i++) {
        const nn_tensor *t = &file->tensor[i];
        if (strcmp(t->name, name) != 0)
            continue;
        int same = t->rank == want->rank && t->count == want->count;
        for (int d = 0; same && d < t->rank; d++)
            same = t->dim[d] == want->dim[d];
        if (!same)
            return vx_fail(err, "%s: tensor %s has the wrong shape for the architecture", file->path, name);
        *data = file->data + t->offset;
        return 1;
    }
    return 0;
}

void nn_file_free(nn_file *file)
{
    free(file->buf);
    free(file->tensor);
    for (int i = 0; i < file->nmeta; i++) {
        free(file->meta_key[i]);
        free(file->meta_value[i]);
    }
    free(file->meta_key);
    free(file->meta_value);
    memset(file, 0, sizeof *file);
}

int nn_file_read(nn_file *file, const char *path, vx_error *err)
{
    memset(file, 0, sizeof *file);
    size_t len;
    char *buf;
    if (vx_read_file(path, MODEL_MAX_BYTES, "model", &buf, &len, err) < 0)
        return -1;
    return nn_file_parse(file, (unsigned char *)buf, len, path, err);
}

int nn_file_parse(nn_file *file, unsigned char *buf, size_t len, const char *path, vx_error *err)
{
    memset(file, 0, sizeof *file);
    file->path = path;
    file->buf = buf;
    const unsigned char *p = file->buf;
    if (len < 8 || memcmp(p, model_magic, 8) != 0) {
        nn_file_free(file);
        return vx_fail(err, "%s: not a VibeluX model file (bad magic)", path);
    }
    if (len < MODEL_HEAD + 8) {
        nn_file_free(file);
        return vx_fail(err, "%s: truncated model file (%zu bytes)", path, len);
    }
    uint32_t version = vx_get_le32(p + 8);
    if (version != MODEL_VERSION) {
        nn_file_free(file);
        return vx_fail(err, "%s: model file version %u, this program reads %d", path, version, MODEL_VERSION);
    }
    uint64_t data_at = vx_get_le64(p + 24), size = vx_get_le64(p + 32);
    if (size != len) {
        nn_file_free(file);
        return vx_fail(err, "%s: truncated or extended model file (%zu bytes, header says %llu)", path, len,
                       (unsigned long long)size);
    }
    if (vx_get_le64(p + len - 8) != fnv1a(p, len - 8)) {
        nn_file_free(file);
        return vx_fail(err, "%s: model file is corrupt (checksum mismatch)", path);
    }
    uint32_t nmeta = vx_get_le32(p + 12), ntensors = vx_get_le32(p + 16);
    /* The directory lies between the fixed header and the data offset, the data between it and
     * the checksum: an offset of 0 (or anything inside the header) would put them on top of it. */
    if (data_at < MODEL_HEAD || data_at > len - 8 || data_at % 64 || nmeta < 1 || nmeta > 1024 ||
        ntensors > 4096 || vx_get_le32(p + 20) != 0) {
        nn_file_free(file);
        return vx_fail(err, "%s: inconsistent model header (data offset %llu, %u metadata entries, %u tensors, "
                            "%zu bytes)", path, (unsigned long long)data_at, nmeta, ntensors, len);
    }
    cursor c = {.p = p, .at = MODEL_HEAD, .end = (size_t)data_at};
    file->meta_key = calloc(nmeta + 1, sizeof(char *));
    file->meta_value = calloc(nmeta + 1, sizeof(char *));
    file->tensor = calloc(ntensors + 1, sizeof(nn_tensor));
    if (!file->meta_key || !file->meta_value || !file->tensor)
        c.bad = 1;
    for (uint32_t i = 0; i < nmeta && !c.bad; i++) {
        uint32_t kl = take32(&c), vl = take32(&c);
        file->meta_key[i] = take_text(&c, kl);
        file->meta_value[i] = take_text(&c, vl);
        file->nmeta = (int)i + 1;
    }
    size_t data_len = len - 8 - (size_t)data_at;
    for (uint32_t i = 0; i < ntensors && !c.bad; i++) {
        nn_tensor *t = &file->tensor[i];
        uint32_t nl = take32(&c);
        t->rank = (int)take32(&c);
        if (nl >= sizeof t->name || t->rank < 0 || t->rank > 4) {
            c.bad = 1;
            break;
        }
        uint64_t count = 1;
        for (int d = 0; d < t->rank; d++) {
            t->dim[d] = take32(&c);
            count *= t->dim[d] ? t->dim[d] : 0;
            if (count > data_len)
                c.bad = 1;
        }
        uint64_t off = take64(&c), n = take64(&c);
        const unsigned char *name = take(&c, nl);
        if (c.bad || n != count || off % 64 || off > data_len || n * 4 > data_len - off) {
            c.bad = 1;
            break;
        }
        if (memchr(name, '\0', nl)) {
            c.bad = 1;
            break;
        }
        memcpy(t->name, name, nl);
        t->name[nl] = '\0';
        t->offset = (size_t)off;
        t->count = (size_t)n;
        file->ntensors = (int)i + 1;
    }
    if (c.bad) {
        nn_file_free(file);
        return vx_fail(err, "%s: inconsistent model header (bad metadata or tensor directory)", path);
    }
    file->data = p + data_at;
    if (strcmp(file->meta_key[0], "arch") != 0) {
        vx_fail(err, "%s: the first metadata entry is '%s', not the architecture", path, file->meta_key[0]);
        nn_file_free(file);
        return -1;
    }
    for (int i = 0; i < file->nmeta; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(file->meta_key[i], file->meta_key[j]) == 0) {
                vx_fail(err, "%s: metadata '%s' appears twice", path, file->meta_key[i]);
                nn_file_free(file);
                return -1;
            }
    for (int i = 0; i < file->ntensors; i++) {
        if (!file->tensor[i].name[0]) {
            nn_file_free(file);
            return vx_fail(err, "%s: tensor %d has no name", path, i);
        }
        for (int j = 0; j < i; j++)
            if (strcmp(file->tensor[i].name, file->tensor[j].name) == 0) {
                vx_fail(err, "%s: tensor %s appears twice", path, file->tensor[i].name);
                nn_file_free(file);
                return -1;
            }
    }
    return 0;
}

const char *nn_file_meta(const nn_file *file, const char *name)
{
    for (int i = 0; i < file->nmeta; i++)
        if (strcmp(file->meta_key[i], name) == 0)
            return file->meta_value[i];
    return NULL;
}

/* Copies a tensor's little-endian floats. */
static void copy_floats(float *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = vx_get_le32(src + 4 * i);
        memcpy(&dst[i], &u, 4);
    }
}

int nn_file_tensor(const nn_file *file, const char *name, const nn_tensor *want, float *dst, vx_error *err)
{
    const unsigned char *data = NULL;
    int got = file_tensor(file, name, want, &data, err);
    if (got == 1)
        copy_floats(dst, data, want->count);
    return got;
}

/* Refuses parameters that would make every output NaN: non-finite values, negative variances. */
static int check_params(const vx_net *net, const char *path, vx_error *err)
{
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        const float *p = net->params + t->offset;
        int var = strstr(t->name, ".running_var") != NULL;
        for (size_t j = 0; j < t->count; j++)
            if (!isfinite(p[j]) || (var && p[j] < 0))
                return vx_fail(err, "%s: tensor %s: element %zu is %g%s", path, t->name, j, p[j],
                               var ? " (a variance must be finite and not negative)" : ", not finite");
    }
    return 0;
}

vx_net *nn_net_from_file(const nn_file *file, vx_error *err)
{
    const char *arch = nn_file_meta(file, "arch");
    if (!arch) {
        vx_fail(err, "%s: model file has no architecture", file->path);
        return NULL;
    }
    vx_error sub;
    vx_net *net = net_parse(arch, &sub);
    if (!net) {
        vx_fail(err, "%s: %s", file->path, sub.msg);
        return NULL;
    }
    /* The file's tensors against the architecture first: a text asking for gigabytes of weights
     * the file does not hold is refused before any of it is allocated. */
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        const unsigned char *data;
        int got = file_tensor(file, t->name, t, &data, err);
        if (got <= 0) {
            if (got == 0)
                vx_fail(err, "%s: tensor %s is missing", file->path, t->name);
            vx_net_free(net);
            return NULL;
        }
    }
    if (alloc_params(net, &sub) < 0) {
        vx_fail(err, "%s: %s", file->path, sub.msg);
        vx_net_free(net);
        return NULL;
    }
    for (int i = 0; i < file->nmeta; i++)
        if (strcmp(file->meta_key[i], "arch") != 0 &&
            vx_net_set_meta(net, file->meta_key[i], file->meta_value[i], &sub) < 0) {
            vx_fail(err, "%s: %s", file->path, sub.msg);
            vx_net_free(net);
            return NULL;
        }
    if (net->norm_bands && (!net->band_mean || !net->band_std)) {
        vx_fail(err, "%s: input_norm=bands without input_band_mean and input_band_std", file->path);
        vx_net_free(net);
        return NULL;
    }
    for (int i = 0; i < net->ntensors; i++) {
        const nn_tensor *t = &net->tensor[i];
        nn_file_tensor(file, t->name, t, net->params + t->offset, err);
    }
    if (check_params(net, file->path, err) < 0) {
        vx_net_free(net);
        return NULL;
    }
    return net;
}

vx_net *vx_net_load(const char *path, vx_error *err)
{
    nn_file file;
    if (nn_file_read(&file, path, err) < 0)
        return NULL;
    vx_net *net = nn_net_from_file(&file, err);
    nn_file_free(&file);
    return net;
}
