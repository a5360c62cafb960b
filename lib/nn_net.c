/* nn_net.c — a network over a batch: the buffers it needs (checked against the memory limit before
 * anything is allocated), the layers inference fuses into a convolution, and the forward and backward passes. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"
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

static int is_activation(const nn_layer *l) { return l->kind == NN_RELU || l->kind == NN_LEAKY; }

/* The layers inference runs inside the convolution at i: returns the last of them. */
static int inference_span(const vx_net *net, int i, nn_conv_post *post)
{
    *post = (nn_conv_post){NULL, NULL, NULL};
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
    size_t kernels; /* inference's kernels of every conv layer, made ready for its path */
} buffer_plan;

static void plan_buffers(const vx_net *net, int batch, int training, buffer_plan *bp)
{
    bp->total = 0;
    bp->per_thread = NN_GEMM_PACK;
    bp->part = bp->packed = bp->kernels = 0;
    int written[NN_MAX_LAYERS], learns = 0;
    inference_outputs(net, written);
    for (int i = 0; i < net->nlayers; i++) {
        const nn_layer *l = &net->layer[i];
        learns |= l->weight != NULL;
        size_t out = (size_t)l->c * batch * l->h * l->w, in = (size_t)l->in_c * batch * l->in_h * l->in_w;
        size_t *sizes = bp->sizes[i];
        /* Inference keeps no gradients, no dropout masks, no normalised BN inputs and no outputs of
         * fused layers: at batch 64 those are most of the memory, and zeroing it cost more than
         * the network. */
        sizes[0] = training || written[i] ? out : 0;
        /* An output gradient only where some layer at or below has weights to learn (and below
         * the softmax, where the loss puts it): the verifier's convolution after its average
         * pooling had computed an input gradient that nothing read. */
        sizes[1] = i > 0 && training && (learns || i == net->nlayers - 2) ? out : 0;
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
            bp->kernels += nn_conv_kernel_floats(l);
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
    size_t work = bp.per_thread * (size_t)threads_now() + bp.part + bp.packed + bp.kernels;
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
    float *kernels = packbuf ? nn_aligned_alloc(bp.kernels, err) : NULL;
    if (!kernels) {
        free(acts);
        free(thread);
        free(partbuf);
        free(packbuf);
        return -1;
    }
    free(net->acts);
    free(net->work.thread);
    free(net->work.part);
    free(net->work.packed_weight);
    free(net->kernels);
    net->acts = acts;
    net->kernels = kernels;
    net->kernels_ready = 0;
    net->work = (nn_work){.nthreads = nthreads,
                          .per_thread = per_thread,
                          .thread = thread,
                          .part = partbuf,
                          .packed_weight = packbuf,
                          .conv = net->work.conv,
                          .wino_tile = net->work.wino_tile};
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
    for (int i = 0; i < net->nlayers; i++) {
        nn_layer *l = &net->layer[i];
        l->kernels = l->kind == NN_CONV ? kernels : NULL;
        kernels += l->kernels ? nn_conv_kernel_floats(l) : 0;
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
    float *dx = prev->dout; /* NULL where no layer below learns: no input gradient needed */
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
    /* Inference's kernels change only with training: made ready once for every batch after (at
     * batch 1 the prototype had spent 5% of its time packing the same weights again). */
    if (!net->kernels_ready) {
        for (int i = 1; i < net->nlayers; i++)
            if (net->layer[i].kernels)
                nn_conv_prepare_kernels(&net->layer[i], &net->work, net->layer[i].kernels);
        net->kernels_ready = 1;
    }
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
        post.kernels = l->kernels;
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
    net->kernels_ready = 0; /* the kernels are about to be trained */
    for (int i = 1; i < net->nlayers; i++)
        nn_layer_forward(net, i, n, train, dropout_seed);
    return net->layer[net->nlayers - 1].out;
}

void nn_net_backward_range(vx_net *net, int n, int from, int to)
{
    for (int i = from; i >= to; i--)
        nn_layer_backward(net, i, n);
}

/* The loss has written d(loss)/d(logits) into the dout of the layer below softmax. */
void nn_net_backward(vx_net *net, int n) { nn_net_backward_range(net, n, net->nlayers - 2, 1); }


void nn_net_params_changed(vx_net *net) { net->kernels_ready = 0; }

void vx_set_threads(int n)
{
#ifdef _OPENMP
    if (n > 0)
        omp_set_num_threads(n);
#else
    (void)n;
#endif
}

void vx_net_use_direct_conv(vx_net *net, int direct)
{
    net->work.conv = direct ? NN_CONV_DIRECT : NN_CONV_BEST;
    net->kernels_ready = 0;
}
