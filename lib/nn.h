/* nn.h — internals of the neural-network engine shared by lib/nn_*.c and the tests:
 * the GEMM, the layer kernels with their naive references, the network structure and the RNG. */
#ifndef NN_H
#define NN_H

#include "vx_nn.h"

#include <stddef.h>
#include <stdint.h>

/* OpenMP pragmas that vanish (instead of warning) in a build without OpenMP. */
#ifdef _OPENMP
#define NN_PRAGMA(x) _Pragma(#x)
#else
#define NN_PRAGMA(x)
#endif
/* Loops over `work` floats in all: split over threads only when there is enough to share, since
 * every parallel region ends at a barrier, costly on a busy machine (batch-1 inference). Which
 * thread computes an element never changes its value. The data-sharing clauses follow the work,
 * every variable named (default(none)). */
#define NN_PARALLEL_FOR_IF(work, ...) \
    NN_PRAGMA(omp parallel for schedule(static) if ((work) > 65536) default(none) __VA_ARGS__)
/* Elementwise loops: split over threads and vectorised (GCC's -O2 leaves most loops scalar). */
#define NN_PARALLEL_FOR_SIMD(work, ...) \
    NN_PRAGMA(omp parallel for simd schedule(static) if ((work) > 65536) default(none) __VA_ARGS__)
#define NN_SIMD NN_PRAGMA(omp simd)

#ifdef __AVX512F__
#include <immintrin.h>
/* The mask of lanes [0, n) of 16: all of them for n >= 16, none for n <= 0. */
static inline __mmask16 nn_first_lanes(int n) { return n >= 16 ? 0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }
#endif

/* ------------------------------------------------------------------ GEMM */

/* C[M,N] (+)= op(A)[M,K] @ op(B)[K,N], all row-major. op(A) is A, or A^T when trans_a (A stored [K,M]);
 * likewise B. lda/ldb/ldc are row strides in floats. accumulate=0 overwrites C.
 * Every C element is summed over K in the same order whatever the number of threads. */
void nn_gemm(int trans_a, int trans_b, int M, int N, int K, const float *A, size_t lda, const float *B, size_t ldb,
             int accumulate, float *C, size_t ldc);
/* The same on the calling thread only, with a caller-provided packing buffer of NN_GEMM_PACK floats
 * (64-byte aligned); for use inside parallel regions. */
#define NN_GEMM_PACK ((size_t)(96 + 512) * 256)
void nn_gemm_serial(int trans_a, int trans_b, int M, int N, int K, const float *A, size_t lda, const float *B,
                    size_t ldb, int accumulate, float *C, size_t ldc, float *pack);
/* A [M][K] (row-major, not transposed) packed once for many products: the size in floats of
 * the packed copy, the packing, and nn_gemm_serial taking it (packed_a) instead of A. With
 * packed_a NULL it is nn_gemm_serial; the sums are the same either way. */
size_t nn_gemm_packed_a_floats(int M, int K);
void nn_gemm_pack_a(int M, int K, const float *A, size_t lda, float *packed);
void nn_gemm_serial_packed(int trans_a, int trans_b, int M, int N, int K, const float *A, size_t lda,
                           const float *packed_a, const float *B, size_t ldb, int accumulate, float *C, size_t ldc,
                           float *pack);
/* B not as a matrix but as a function that packs any block of it: op(B)[p0:p0+kc, j0:j0+nc] as
 * NN_GEMM_NR-column panels, each [kc][NN_GEMM_NR], the columns past nc zero (as the GEMM's own
 * packing lays them out). A convolution packs its input this way without an im2col matrix. */
#define NN_GEMM_NR 32
typedef struct nn_gemm_b_packer {
    void (*pack)(const void *ctx, int j0, int nc, int p0, int kc, float *dst);
    const void *ctx;
} nn_gemm_b_packer;
/* nn_gemm_serial_packed with A packed and B from packer: the same sums in the same order. */
void nn_gemm_serial_packer(int M, int N, int K, const float *packed_a, const nn_gemm_b_packer *packer, int accumulate,
                           float *C, size_t ldc, float *pack);
/* The naive triple loop (double accumulation), for tests. */
void nn_gemm_ref(int trans_a, int trans_b, int M, int N, int K, const float *A, size_t lda, const float *B,
                 size_t ldb, int accumulate, float *C, size_t ldc);

/* ------------------------------------------------------------------- RNG */

/* splitmix64: tiny, well mixed, and a pure function of its state, so streams can be derived
 * from (seed, epoch, index) and never depend on which thread draws them. */
static inline uint64_t nn_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* A state derived from a few integers (seed, epoch, index, ...). */
static inline uint64_t nn_rng_derive(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t s = seed;
    uint64_t h = nn_splitmix64(&s);
    s = h ^ (a * 0xd1b54a32d192ed03ull);
    h = nn_splitmix64(&s);
    s = h ^ (b * 0x8cb92ba72f3d8dd7ull);
    return nn_splitmix64(&s);
}
/* Uniform in [0, 1). */
static inline float nn_uniform(uint64_t *state)
{
    return (float)(nn_splitmix64(state) >> 40) * (1.0f / 16777216.0f);
}
/* Uniform in (0, 1]: never 0, so its logarithm stays finite. */
static inline float nn_uniform_positive(uint64_t *state)
{
    return (nn_uniform(state) * 16777215.0f + 1.0f) / 16777216.0f;
}
float nn_normal(uint64_t *state);
/* Gamma(a, 1), a > 0. */
double nn_gamma(uint64_t *state, double a);

/* ---------------------------------------------------------------- layers */

enum nn_kind {
    NN_INPUT,
    NN_CONV,
    NN_MAXPOOL,
    NN_AVGPOOL,
    NN_GAP,
    NN_DENSE,
    NN_RELU,
    NN_LEAKY,
    NN_DROPOUT,
    NN_BN,
    NN_SOFTMAX,
};

/* Activations of a batch of n samples are stored channel-major, [C][n][H][W], so that a
 * convolution over the whole batch is one GEMM and batch norm sees each channel contiguous.
 * A dense layer's output is [O][n] (H = W = 1). */
typedef struct nn_layer {
    enum nn_kind kind;
    int c, h, w;        /* output shape of one sample */
    int in_c, in_h, in_w;
    int k, stride, pad; /* conv and pooling: kernel, stride, padding before (top/left) */
    float alpha;        /* leaky ReLU slope, dropout rate, batch-norm epsilon */
    /* Parameters and their gradients (views into the network's single allocations). */
    float *weight, *dweight; /* conv [c][in_c*k*k], dense [c][in_c*in_h*in_w], bn gamma [c] */
    float *bias, *dbias;     /* [c]; bn beta */
    float *run_mean, *run_var; /* bn running statistics [c] */
    /* Batch buffers, sized for the network's largest batch. */
    float *out;   /* [c][n][h][w] */
    float *dout;  /* gradient of the loss with respect to out */
    float *aux;   /* bn: normalised x [c][n][h][w]; dropout: mask; dense: flattened input [F][n] */
    float *stat;  /* bn: mean [c], inverse std [c] */
    int32_t *idx; /* max pooling: argmax index of each output within its input plane */
    /* Convolutions: inference's kernels made ready, by nn_winograd_pack_kernels on the Winograd
     * path, by nn_gemm_pack_a on the direct one (nn_conv_kernel_floats: room for either) */
    float *kernels;
} nn_layer;

/* Per-thread scratch for the layers. A convolution splits the batch into NN_GROUPS fixed groups of
 * samples; each group's weight gradient is summed apart and the groups are added in order, so the
 * result does not depend on how many threads took the groups. */
#define NN_GROUPS 8
typedef struct nn_work {
    int nthreads;
    size_t per_thread; /* floats for each thread: col, dcol, GEMM packing */
    float *thread;     /* [nthreads][per_thread], 64-byte aligned */
    float *part;       /* [NN_GROUPS][largest conv weight] */
    float *packed_weight; /* the largest conv weight, packed for the GEMM (nn_gemm_pack_a) */
    enum nn_conv_choice { NN_CONV_BEST, NN_CONV_DIRECT, NN_CONV_WINOGRAD } conv;
    /* BEST: Winograd where it fits and pays (nn_winograd_pays); DIRECT: never, to check the fast
     * paths against; WINOGRAD: wherever it fits (tests, on shapes too small to pay) */
    int wino_tile; /* 0: Winograd's tile by the layer's shape (nn_winograd_tile); 2, 4 or 6: that one
                      everywhere (tests), set before the network's first batch */
} nn_work;
/* Group g of the nn_groups(n) fixed groups of n samples: [b0, b1). */
static inline int nn_groups(int n) { return n < NN_GROUPS ? n : NN_GROUPS; }
static inline void nn_group_range(int n, int g, int *b0, int *b1)
{
    *b0 = (int)((long)g * n / nn_groups(n));
    *b1 = (int)((long)(g + 1) * n / nn_groups(n));
}
/* Floats a conv layer needs per thread, for its group partials and for its packed weight. */
size_t nn_conv_work(const nn_layer *l, int n, size_t *part, size_t *packed);
/* The calling thread's number, and the threads of a region using ws's per-thread scratch: as many
 * as allowed, no more than it has slices. */
int nn_thread_id(void);
int nn_team_size(const nn_work *ws);
/* The calling thread's slice of ws's scratch, per_thread floats, 64-byte aligned. */
float *nn_thread_scratch(const nn_work *ws);

/* What inference applies to a convolution's output while it is still in cache, instead of in
 * passes of their own: batch norm with its running statistics, then an activation. Either may be
 * NULL. The arithmetic is that of the separate layers, so the results are bit-identical. */
typedef struct nn_conv_post {
    const nn_layer *bn, *act;
    const float *kernels; /* the kernels made ready for the path the layer takes (nn_layer.kernels), or NULL */
} nn_conv_post;

/* A convolution's kernels made ready for the path it takes (Winograd's transform, or the GEMM's
 * packing), into room for nn_conv_kernel_floats floats, a multiple of 16; the Winograd path uses
 * ws->packed_weight on the way. */
size_t nn_conv_kernel_floats(const nn_layer *l);
void nn_conv_prepare_kernels(const nn_layer *l, const nn_work *ws, float *kernels);
/* conv2d over a batch: x [in_c][n][in_h][in_w] -> y [c][n][h][w]; post may be NULL. */
void nn_conv_forward(const nn_layer *l, int n, const float *x, float *y, const nn_work *ws, const nn_conv_post *post);
/* dx may be NULL (first layer). Overwrites dweight and dbias. */
void nn_conv_backward(const nn_layer *l, int n, const float *x, const float *dy, float *dx, const nn_work *ws);
void nn_conv_forward_ref(const nn_layer *l, int n, const float *x, float *y);
void nn_conv_backward_ref(const nn_layer *l, int n, const float *x, const float *dy, float *dx);
/* Adds the bias, then post's batch norm and activation, to count outputs of every channel of
 * sample b, from the sample's output first; and the bias gradient of channel oc. */
void nn_conv_epilogue(const nn_layer *l, int n, int b, size_t first, size_t count, float *y,
                      const nn_conv_post *post);
float nn_conv_bias_gradient(const nn_layer *l, int n, const float *dy, int oc);

/* 3x3 stride-1 convolutions of one input plane (a first layer), computed from padded copies of
 * its rows rather than by im2col and the GEMM, with AVX-512 unless ws->conv is NN_CONV_DIRECT. The forward
 * pass's floats are the direct path's; plain: the loops without vectors, for tests (the same
 * floats). The weight gradient overwrites dweight and dbias, through ws->part (NN_GROUPS * c * 10
 * floats, nn_plane_part_floats); each thread's scratch takes nn_plane_scratch_floats, within
 * NN_GEMM_PACK. */
int nn_plane_fits(const nn_layer *l);
int nn_conv_uses_plane(const nn_layer *l, const nn_work *ws);
size_t nn_plane_scratch_floats(const nn_layer *l);
size_t nn_plane_part_floats(const nn_layer *l);
void nn_plane_forward(const nn_layer *l, int n, const float *x, float *y, const nn_work *ws, const nn_conv_post *post,
                      int plain);
void nn_plane_weight_gradient(const nn_layer *l, int n, const float *x, const float *dy, const nn_work *ws, int plain);

/* Winograd F(2x2,3x3), F(4x4,3x3) and F(6x6,3x3) for the convolutions they fit (3x3, stride 1, 'same', at
 * least 8 input channels), which nn_conv_forward and nn_conv_backward hand to them as ws->conv
 * says. Their floats differ from the direct path's by rounding only (tests/nn_kernels.c states
 * the bounds). */
int nn_winograd_fits(const nn_layer *l);
/* The output tile's side, 2, 4 or 6: the one with the fewest multiplies on the layer's map (6 only
 * on layers of up to 64 channels). */
int nn_winograd_tile(const nn_layer *l);
/* Values of the largest transformed tile (F(6x6,3x3)'s 8x8), one GEMM each. */
#define NN_WINO_PLANES 64
/* It fits and the layer is large enough for it to be the faster (make bench-layers); and whether
 * the convolution at l runs by it under ws's choice. */
int nn_winograd_pays(const nn_layer *l);
int nn_conv_uses_winograd(const nn_layer *l, const nn_work *ws);
/* Per-thread floats; *part the group partials; *packed room for the transformed kernels
 * (NN_WINO_PLANES*c*in_c) followed by their packing (nn_winograd_packed_floats). Any tile fits. */
size_t nn_winograd_work(const nn_layer *l, size_t *part, size_t *packed);
size_t nn_winograd_packed_floats(const nn_layer *l);
/* The kernels transformed, for the tile ws chooses, into u [planes][c][in_c], then packed into
 * packed for the GEMMs: what nn_winograd_forward takes. */
void nn_winograd_pack_kernels(const nn_layer *l, const nn_work *ws, float *u, float *packed);
void nn_winograd_forward(const nn_layer *l, int n, const float *x, float *y, const nn_work *ws,
                         const float *packed, const nn_conv_post *post);
void nn_winograd_backward(const nn_layer *l, int n, const float *x, const float *dy, float *dx, const nn_work *ws);

void nn_pool_forward(const nn_layer *l, int n, const float *x, float *y, int32_t *idx);
void nn_pool_backward(const nn_layer *l, int n, const float *dy, float *dx, const int32_t *idx);
void nn_pool_forward_ref(const nn_layer *l, int n, const float *x, float *y);
void nn_pool_backward_ref(const nn_layer *l, int n, const float *x, const float *dy, float *dx);

/* dense: x [F][n] (flattened when the input has H*W > 1; flat is scratch [F][n]) -> y [c][n]. */
void nn_dense_forward(const nn_layer *l, int n, const float *x, float *y, float *flat);
void nn_dense_backward(const nn_layer *l, int n, const float *flat, const float *dy, float *dx, float *dflat);

void nn_bn_forward(const nn_layer *l, int n, int train, float momentum, const float *x, float *y, float *xhat,
                   float *stat);
void nn_bn_backward(const nn_layer *l, int n, const float *xhat, const float *stat, const float *dy, float *dx);

void nn_act_forward(const nn_layer *l, size_t count, const float *x, float *y);
void nn_act_backward(const nn_layer *l, size_t count, const float *x, const float *dy, float *dx);

/* Inverted dropout with a mask that is a pure function of (seed, element index). */
void nn_dropout_forward(const nn_layer *l, size_t count, uint64_t seed, const float *x, float *y, float *mask);
void nn_dropout_backward(size_t count, const float *mask, const float *dy, float *dx);

/* Softmax over the classes of each sample: z [c][n] -> p [c][n]. Cross-entropy against labels
 * with label smoothing and optional class weights (NULL = all 1); returns the weighted mean loss
 * and writes dz = d(loss)/dz when dz is non-NULL. */
void nn_softmax_forward(int c, int n, const float *z, float *p);
double nn_xent(int c, int n, const float *p, const int *labels, const float *class_weight, float smoothing,
               float *dz);

/* Mixup (Zhang et al. 2018) of the batch of n in the input layer: sample i and sample n-1-i
 * (the batch is already in random order) become lambda x_i + (1 - lambda) x_(n-1-i) and the
 * converse, the middle one of an odd batch left alone; lambda is drawn from Beta(alpha, alpha)
 * once per batch and folded to >= 1/2, so each input's own label stays its larger part.
 * partners[i] gets the label sample i was mixed with. Returns lambda. */
float nn_mixup_batch(vx_net *net, int n, double alpha, uint64_t rng, const int *labels, int *partners);
/* Freq-MixStyle on the batch in the input layer: each input with probability p takes, row by
 * row, a Beta(0.3, 0.3) mixture of its own and one other input's mean and deviation over time.
 * stats: scratch of n * C * H * 2 floats. */
void nn_mix_band_style(vx_net *net, int n, double p, uint64_t rng, float *stats);

/* --------------------------------------------------------------- network */

typedef struct nn_tensor {
    char name[32];
    int rank;
    uint32_t dim[4];
    size_t offset, count; /* in floats, within net->params */
    int trainable;        /* has a gradient and is updated by the optimiser */
    int decay;            /* receives weight decay */
} nn_tensor;

#define NN_MAX_LAYERS 64
#define NN_MAX_TENSORS (3 * NN_MAX_LAYERS)
#define NN_MAX_META 32

struct vx_net {
    char *arch;       /* the architecture text it was built from */
    int nlayers;
    nn_layer layer[NN_MAX_LAYERS];
    int ntensors;
    nn_tensor tensor[NN_MAX_TENSORS];
    size_t nparams;
    float *params;  /* one aligned allocation: every tensor */
    float *grads;   /* same layout */
    int max_batch;  /* the batch buffers below hold this many samples */
    int reserved_training; /* ... and the gradients and saved values of training */
    float *acts;    /* one allocation for out/dout/aux of every layer */
    float *kernels; /* room for every conv layer's nn_layer.kernels, valid when kernels_ready */
    int kernels_ready;
    nn_work work;
    float in_mean, in_std; /* input normalisation: x = (value - mean) / std */
    /* input_norm=bands: one mean and deviation per input row (mel band) instead, in band_mean and
     * band_std [H]; with ",segment" each row's own mean over the input is removed first. */
    int norm_bands, norm_segment;
    float *band_mean, *band_std;
    int nmeta;
    char *meta_key[NN_MAX_META], *meta_value[NN_MAX_META];
    size_t extra_floats; /* held for it elsewhere (a trainer's optimiser state): counted against the limit */
};

/* Values one sample may have at any layer: keeps every size computed from an architecture far
 * from overflowing before the memory limit is checked. */
#define NN_MAX_LAYER_VALUES ((uint64_t)1 << 28)
/* Fails, with the figures, when parameters, gradients, extra_floats, the batch buffers of `batch`
 * samples and the workspace would exceed vx_net_memory_limit(); computed, nothing allocated. */
int nn_net_check_memory(const vx_net *net, int batch, int training, size_t extra_floats, vx_error *err);

/* Sets the batch capacity, (re)allocating activation buffers; training adds what backward needs. */
int nn_net_reserve(vx_net *net, int batch, int training, vx_error *err);
/* Forward pass over n samples already placed in layer[0].out ([C][n][H][W]); returns the
 * probabilities [classes][n]. train enables dropout and batch statistics; without it, inference
 * fuses layers and writes only the outputs it needs (the last layer's out when that is softmax). */
const float *nn_net_forward(vx_net *net, int n, int train, uint64_t dropout_seed);
/* After parameters are changed other than by training (tests, loading into a reserved network). */
void nn_net_params_changed(vx_net *net);
/* Backward pass after a training forward; dlogits is placed in the softmax layer's dout. */
void nn_net_backward(vx_net *net, int n);
/* The same for layers from down to to (from >= to >= 1) alone: a second loss may add its
 * gradient to a layer's dout in between. */
void nn_net_backward_range(vx_net *net, int n, int from, int to);
/* Layer i alone: forward from layer i-1's out; backward from its dout into layer i-1's dout
 * (when that exists) and its parameter gradients. */
void nn_layer_forward(vx_net *net, int i, int n, int train, uint64_t dropout_seed);
void nn_layer_backward(vx_net *net, int i, int n);
/* Places sample i of n (normalised floats [C][H][W]) into the input layer. */
void nn_net_set_input(vx_net *net, int n, int i, const float *chw);

/* Normalises one real-valued input [C][H][W] as the model's metadata says: row r of channel c is
 * read at src + c*src_plane_stride + r*src_row_stride and written at dst + c*plane_stride + r*W
 * (src may be dst, laid out alike). */
void nn_normalise(const vx_net *net, const float *src, size_t src_row_stride, size_t src_plane_stride, float *dst,
                  size_t plane_stride);
/* Parses input_norm, input_band_mean and input_band_std values into the network. */
int nn_set_norm_meta(vx_net *net, const char *name, const char *value, vx_error *err);

/* Zeroed, 64-byte aligned floats; free with free(). */
void *nn_aligned_alloc(size_t floats, vx_error *err);

/* The network an architecture describes, its tensors declared but nothing allocated (nn_arch.c);
 * nn_net_alloc_params then carves them, and their gradients, from one allocation each. */
vx_net *nn_net_parse(const char *arch, vx_error *err);
int nn_net_alloc_params(vx_net *net, vx_error *err);

/* ------------------------------------------------------------ optimiser */

/* One AdamW update of count parameters p from their gradients g and moments m, v. */
typedef struct nn_adamw_step {
    float b1, b2, eps;
    float bc1, bc2; /* the moments' bias corrections at this step */
    float rate, decay;
} nn_adamw_step;
void nn_adamw(float *p, const float *g, float *m, float *v, size_t count, const nn_adamw_step *s);

/* ------------------------------------------------- domain-adversarial head */

/* A two-layer classifier of pooled features [features][n] (nn_domain.c): dense layers run by the
 * engine's own kernels, their parameters (w1 [hidden][features], b1 [hidden], w2 [hidden], b2),
 * gradients and AdamW moments in one allocation, scratch for batches of up to `batch`. */
typedef struct nn_domain {
    int features, hidden, batch;
    size_t nparams;
    float *params, *grads, *m, *v;
    nn_layer dense_hidden, relu, dense_logit;
    float *scratch; /* the layers' outputs, saved inputs and gradients (nn_domain.c) */
} nn_domain;
nn_domain *nn_domain_create(int features, int hidden, int batch, uint64_t seed, vx_error *err);
void nn_domain_free(nn_domain *h);
/* One training step of the head on features x of n samples, of which [first_other, n) come from
 * the other domain: forward, the logistic loss (returned, per sample), the head's gradients and
 * its AdamW update; the gradient of the loss with respect to x, times -reverse, is added to dx.
 * *right counts the samples whose domain the head told right. */
double nn_domain_step(nn_domain *h, const float *x, int n, int first_other, float reverse, float *dx,
                      const nn_adamw_step *step, int *right);

/* --------------------------------------------------------- model files */

/* An extra tensor saved beside the network's own (optimiser state in checkpoints). */
typedef struct nn_extra {
    nn_tensor t;
    const float *data;
} nn_extra;
int nn_model_write(const vx_net *net, const nn_extra *extra, int nextra, const char *path, vx_error *err);

/* A model file read whole and validated: metadata and a directory of tensors. */
typedef struct nn_file {
    const char *path;
    unsigned char *buf;
    const unsigned char *data; /* start of the tensor data */
    int nmeta, ntensors;
    char **meta_key, **meta_value;
    nn_tensor *tensor; /* offset is in bytes from data */
} nn_file;
int nn_file_read(nn_file *file, const char *path, vx_error *err);
/* The same from len bytes in memory (malloc'd; the file takes them and frees them, even on error). */
int nn_file_parse(nn_file *file, unsigned char *buf, size_t len, const char *path, vx_error *err);
void nn_file_free(nn_file *file);
const char *nn_file_meta(const nn_file *file, const char *name);
/* Copies tensor `name`, which must have want's shape, into dst: 1 copied, 0 absent, -1 wrong shape. */
int nn_file_tensor(const nn_file *file, const char *name, const nn_tensor *want, float *dst, vx_error *err);
/* Builds the network the file describes, with its metadata and parameters. */
vx_net *nn_net_from_file(const nn_file *file, vx_error *err);

#endif
