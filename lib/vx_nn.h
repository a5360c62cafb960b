/* vx_nn.h — the neural-network engine: networks built from architecture texts,
 * model files, prediction with test-time views, training sets, training and evaluation. */
#ifndef VX_NN_H
#define VX_NN_H

#include "vx.h"

/* A convolutional network built from an architecture text (models/face/NAME.arch, vx-model(5)),
 * trained by vx-train, saved as a model file and run by vx-infer. */
typedef struct vx_net vx_net;

/* Parses an architecture and allocates the network for batches of up to `batch` samples;
 * parameters are initialised (He) from seed. */
vx_net *vx_net_create(const char *arch, uint64_t seed, vx_error *err);
void vx_net_free(vx_net *net);
/* Memory: a network takes its parameters and their gradients, the activations of its largest
 * batch and a workspace per thread; training adds the optimiser's state (two more copies of the
 * parameters). The sum is computed from the architecture and the batch before anything is
 * allocated, and vx_net_create, vx_net_load, vx_trainer_create and prediction refuse, giving the
 * figure, a network above the limit: VX_NET_MEMORY_DEFAULT unless set (process-wide). */
#define VX_NET_MEMORY_DEFAULT ((size_t)4096 << 20)
void vx_net_set_memory_limit(size_t bytes);
size_t vx_net_memory_limit(void);
/* Parses an architecture and checks, allocating nothing, that it fits the limit for batches of
 * `batch`, for training (optimiser state included) or for inference. */
int vx_net_check_arch(const char *arch, int batch, int training, vx_error *err);
/* Input shape [C,H,W], number of classes, number of parameters. */
void vx_net_shape(const vx_net *net, uint32_t input[3], int *nclasses, size_t *nparams);
/* Name=value metadata kept in the model file (architecture, classes, normalisation, training facts). */
const char *vx_net_get_meta(const vx_net *net, const char *name);
int vx_net_set_meta(vx_net *net, const char *name, const char *value, vx_error *err);
/* Atomic save (vx_output); load rejects truncated or inconsistent files. */
int vx_net_save(const vx_net *net, const char *path, vx_error *err);
vx_net *vx_net_load(const char *path, vx_error *err);
/* A u8 (0..255) or f32 (0..1) [C,H,W] record -> normalised input x [C][H][W]; errors name the key. */
int vx_net_input(const vx_net *net, const vx_record *r, float *x, vx_error *err);
/* Class probabilities probs [n][classes] for inputs x [n][C][H][W]. */
int vx_net_predict(vx_net *net, const float *x, int n, float *probs, vx_error *err);
/* Test-time augmentation: the probabilities averaged over several views of each image, the image
 * itself, with flip its mirror, and with shift > 0 the image moved that many pixels up, down,
 * left and right (border repeated), each also mirrored when flip is set. */
typedef struct vx_views {
    int flip;
    int shift;
} vx_views;
int vx_net_predict_views(vx_net *net, const float *x, int n, const vx_views *views, float *probs, vx_error *err);
/* Views as text: "none", "flip", "shift=N" or "flip,shift=N" (the form a model's views= metadata
 * holds: how vx-train recorded the model is meant to be run). */
int vx_views_parse(const char *text, vx_views *views, vx_error *err);
void vx_views_format(const vx_views *views, char *buf, size_t size);

/* A labelled training set in memory: u8 images, held compactly, or real-valued f32 samples
 * (spectrograms) kept exactly as they are. f32 samples share C and H but may be wider than the
 * network's input, as a whole song's spectrogram is: training takes a W-wide window of each
 * (random with the audio augmentation, else the middle one). Memory: the payloads, plus a few
 * words a sample. */
typedef struct vx_imageset {
    size_t n, cap;
    uint32_t dim[3];     /* [C,H,W] of every sample; for f32, W is the narrowest width */
    enum vx_dtype dtype; /* of every sample, from the first */
    uint8_t *pixels;     /* u8: [n][C][H][W] */
    float *values;       /* f32: sample i is [C][H][width[i]] at values + start[i] */
    size_t *start;
    uint32_t *width;
    size_t nvalues, values_cap;
    int *labels;   /* [n] */
    char *classes; /* the stream's classes= metadata (the same on every record), or NULL */
} vx_imageset;
void vx_imageset_init(vx_imageset *d);
/* Appends a labelled u8 or f32 record ([C,H,W] or [H,W]); NaN and infinity are errors. */
int vx_imageset_add(vx_imageset *d, const vx_record *r, vx_error *err);
/* Appends every record of a stream. */
int vx_imageset_read(vx_imageset *d, FILE *f, const char *where, vx_error *err);
void vx_imageset_free(vx_imageset *d);
/* Takes the model's input normalisation from a training set and records it in its metadata: for
 * u8 images the mean and deviation of value/255; for real-valued samples, as mode says (NULL is
 * "scalar"): one mean and deviation, or with "bands" one per band, and with ",segment" after
 * each sample's own band means are removed. */
int vx_net_fit_input(vx_net *net, const vx_imageset *d, const char *mode, vx_error *err);

/* Augmentation policies: none; image (mirror, shift, rotation, scale, random erasing); audio (a
 * random window in time, a random gain, SpecAugment time and frequency masks). */
enum { VX_AUGMENT_NONE = 0, VX_AUGMENT_IMAGE = 1, VX_AUGMENT_AUDIO = 2 };
enum vx_optimizer { VX_ADAMW, VX_SGD };
enum vx_schedule { VX_COSINE, VX_STEP, VX_CONSTANT };
typedef struct vx_train_opts {
    int epochs, batch;
    enum vx_optimizer optimizer;
    double lr, weight_decay, momentum; /* momentum: SGD momentum, or AdamW beta1 */
    enum vx_schedule schedule;
    double warmup;                     /* epochs of linear warm-up */
    int step_epochs;                   /* step schedule: multiply by step_gamma every step_epochs */
    double step_gamma;
    uint64_t seed;
    int augment;                       /* VX_AUGMENT_*: the policy, recorded in the model as augment= */
    double erase;                      /* image policy: probability of random erasing */
    double gain_db;                    /* audio policy: a random shift of the dB scale, +-gain_db */
    int time_mask, freq_mask;          /* audio policy: SpecAugment, masks up to this many frames / bands */
    int repeat;                        /* windows drawn from each sample per epoch (1) */
    double label_smoothing;
    int use_class_weights;
    float class_weights[VX_NET_MAX_CLASSES];
} vx_train_opts;
void vx_train_defaults(vx_train_opts *o);

typedef struct vx_trainer vx_trainer;
vx_trainer *vx_trainer_create(vx_net *net, const vx_train_opts *o, vx_error *err);
void vx_trainer_free(vx_trainer *t);
typedef struct vx_epoch_stats {
    double loss, acc, seconds, images_per_s, lr;
} vx_epoch_stats;
/* One epoch (numbered from 1) over d; progress (may be NULL) is called after every batch.
 * Results depend only on the seed, never on the number of threads. */
int vx_train_epoch(vx_trainer *t, const vx_imageset *d, int epoch, vx_epoch_stats *st,
                   void (*progress)(void *ctx, size_t done, size_t total), void *ctx, vx_error *err);
/* Checkpoint: the model, the optimiser state and the last finished epoch, saved atomically. */
int vx_trainer_save(const vx_trainer *t, const char *path, int epoch, vx_error *err);
/* Restores a checkpoint of the same architecture; *epoch is the last finished epoch. */
int vx_trainer_resume(vx_trainer *t, const char *path, int *epoch, vx_error *err);

/* Loss, accuracy and confusion matrix [true][predicted] on a labelled set (no augmentation). */
typedef struct vx_eval {
    size_t n;
    double loss, acc;
    long confusion[VX_NET_MAX_CLASSES][VX_NET_MAX_CLASSES];
} vx_eval;
int vx_net_evaluate(vx_net *net, const vx_imageset *d, vx_eval *ev, vx_error *err);

#endif
