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
/* The number of OpenMP threads the engine uses (n > 0; 0 leaves OpenMP's own choice). Results
 * never depend on it. (Here rather than with the core's utilities, so that programs without the
 * engine load no OpenMP runtime: a quarter of a millisecond of each vx-spectro's start.) */
void vx_set_threads(int n);
/* Convolutions by the direct algorithm only (im2col and GEMM), not Winograd's or the one-plane
 * kernel where they fit: slower, and different in the last bits; for checking the fast path
 * against. */
void vx_net_use_direct_conv(vx_net *net, int direct);
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
    /* A spectrogram stream's rate, n_fft, hop, mels, fmin and fmax metadata (vx-spectro(1); the
     * same on every record), which the model records for vx-embed; 0 when the records have none
     * (fmin and fmax at 0 are vx-spectro's defaults, 0 Hz and half the rate). */
    double spectro[6];
    int unlabelled; /* set before adding: records need no label (a domain set; label -1 kept) */
} vx_imageset;
/* The metadata names of vx_imageset's spectro[]: the four counts, then the two band edges. */
#define VX_SPECTRO_KEYS 6
extern const char *const vx_spectro_keys[VX_SPECTRO_KEYS];
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
/* Whether mode is one vx_net_fit_input takes: scalar, bands, scalar,segment or bands,segment. */
int vx_input_norm_check(const char *mode, vx_error *err);

/* AdaBN: a model's batch-norm statistics estimated again on inputs of the domain it is to run on
 * (a song library of game scores, say, for a model trained on pop and rock), its weights kept.
 * Records are checked and normalised as vx_net_input does and drawn into a seeded random sample of
 * at most `sample` inputs, so a stream of any length takes bounded memory; finishing sets each
 * batch-norm layer's running mean and variance, in order, to those of its input over the sample,
 * and records adapted_inputs in the metadata. */
typedef struct vx_adapt vx_adapt;
vx_adapt *vx_adapt_create(vx_net *net, size_t sample, uint64_t seed, vx_error *err);
int vx_adapt_add(vx_adapt *a, const vx_record *r, vx_error *err);
size_t vx_adapt_seen(const vx_adapt *a);
int vx_adapt_finish(vx_adapt *a, vx_error *err);
void vx_adapt_free(vx_adapt *a);

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
    double stretch;                    /* audio policy: tempo changed by a factor within 1 +- stretch */
    int band_shift;                    /* audio policy: bands moved up or down by up to this many */
    int repeat;                        /* windows drawn from each sample per epoch (1) */
    double mixup;                      /* any policy: mixup's Beta(alpha, alpha); 0 = off */
    double mix_style;                  /* real-valued input: the share of inputs given a mixture of
                                        * their bands' statistics and another's (Freq-MixStyle); 0 = off */
    double domain_weight;              /* with vx_trainer_set_domain: the reversed domain loss's
                                        * weight once its ramp is up */
    double label_smoothing;
    int use_class_weights;
    float class_weights[VX_NET_MAX_CLASSES];
} vx_train_opts;
void vx_train_defaults(vx_train_opts *o);

typedef struct vx_trainer vx_trainer;
vx_trainer *vx_trainer_create(vx_net *net, const vx_train_opts *o, vx_error *err);
void vx_trainer_free(vx_trainer *t);
/* Domain-adversarial training (DANN): every batch also draws as many inputs of `other`
 * (unlabelled real-valued samples of another domain, such as the library the model will run on;
 * kept by the caller while the trainer lives), and a small head on the network's pooled features
 * learns to tell the two domains apart while its gradient, reversed and weighted by
 * domain_weight (ramped up from 0 over training), pushes the features not to. The network needs
 * a gap layer; not with mixup or --mix-style. */
int vx_trainer_set_domain(vx_trainer *t, const vx_imageset *other, vx_error *err);
typedef struct vx_epoch_stats {
    double loss, acc, seconds, images_per_s, lr;
    double domain_loss, domain_acc; /* with a domain set: the head's loss and accuracy */
} vx_epoch_stats;
/* One epoch (numbered from 1) over d; progress (may be NULL) is called after every batch.
 * Results depend only on the seed, never on the number of threads. */
int vx_train_epoch(vx_trainer *t, const vx_imageset *d, int epoch, vx_epoch_stats *st,
                   void (*progress)(void *ctx, size_t done, size_t total), void *ctx, vx_error *err);
/* Checkpoint: the model, the optimiser state and the last finished epoch, saved atomically. */
int vx_trainer_save(const vx_trainer *t, const char *path, int epoch, vx_error *err);
/* Restores a checkpoint of the same architecture; *epoch is the last finished epoch. */
int vx_trainer_resume(vx_trainer *t, const char *path, int *epoch, vx_error *err);

/* ------------------------------------------------------------ judging answers (nn_eval.c) */

/* The class of the highest of p[0], p[stride], ... p[(classes-1)*stride]; the first on a tie. */
int vx_argmax(const float *p, int classes, size_t stride);
/* Counts [true][predicted] of judged inputs. */
typedef struct vx_confusion {
    int classes;
    long count[VX_NET_MAX_CLASSES][VX_NET_MAX_CLASSES];
} vx_confusion;
void vx_confusion_init(vx_confusion *c, int classes);
/* Counts an input of class truth (0 <= truth < classes) whose probabilities are p (stride as
 * vx_argmax); returns the class picked. */
int vx_confusion_add(vx_confusion *c, int truth, const float *p, size_t stride);
/* All inputs counted, and in *right (may be NULL) those picked right. */
long vx_confusion_total(const vx_confusion *c, long *right);
/* The matrix as vx-infer(1) writes it: a header of class names (from a classes= list, else the
 * indices), one row per true class ending in its recall, "unlabelled N" when N > 0, then
 * "WHAT total" and "accuracy X". Returns the total. */
long vx_confusion_write(FILE *f, const vx_confusion *c, const char *class_names, const char *what,
                        size_t unlabelled);

/* A song's answer from its segments' answers: consecutive records with the same song= metadata
 * (a record without one is a song of its own) averaged, the label taken from the first. */
typedef struct vx_song_result {
    char name[VX_MAX_TEXT];
    int label;
    size_t segments;
    float probs[VX_NET_MAX_CLASSES];
} vx_song_result;
typedef struct vx_song_mean {
    int classes;
    char name[VX_MAX_TEXT];
    int label;
    size_t segments;
    double sum[VX_NET_MAX_CLASSES];
} vx_song_mean;
void vx_song_mean_init(vx_song_mean *s, int classes);
/* Adds a segment; when it begins another song, the one before is done: returns 1 with it in *finished. */
int vx_song_mean_add(vx_song_mean *s, const vx_record *r, const float *p, vx_song_result *finished);
/* The song being summed, if any: 1 with it in *song, 0 when there is none. */
int vx_song_mean_finish(vx_song_mean *s, vx_song_result *song);

/* Loss, accuracy and confusion matrix on a labelled set (no augmentation). */
typedef struct vx_eval {
    size_t n;
    double loss, acc;
    vx_confusion confusion;
} vx_eval;
int vx_net_evaluate(vx_net *net, const vx_imageset *d, vx_eval *ev, vx_error *err);

/* ------------------------------------------- a training run's records (nn_run.c, vx-train) */

/* --class-weights: "balanced" (each class weighted by n / (classes * its count) in d) or one
 * weight in [0, 1000] per class, comma-separated. */
int vx_train_class_weights(vx_train_opts *o, const char *spec, const vx_imageset *d, int classes, vx_error *err);
/* Metadata set from a number printed with fmt ("%.4f"). */
int vx_net_set_meta_number(vx_net *net, const char *name, const char *fmt, double v, vx_error *err);
/* What the model was trained on: classes (the stream's classes=, else the seven emotions for a
 * seven-class net), for a spectrogram stream spectro_rate, _n_fft, _hop, _mels, _fmin, _fmax and
 * _segment (the input's width in seconds), then train_data (data_name), seed and train_images. */
int vx_net_record_data(vx_net *net, const vx_imageset *d, const char *data_name, uint64_t seed, vx_error *err);
/* train_options: the command line that trained the model (up to 1 KiB), without the thread count
 * and --progress, which never change the model. */
int vx_net_record_command(vx_net *net, int argc, char **argv, vx_error *err);
/* The best validation accuracy the model records (best_val_acc; -1 when none). */
int vx_net_best_so_far(const vx_net *net, double *best, vx_error *err);
/* After an epoch: train_acc, and with a validation (ev not NULL) val_acc and, when it beats *best,
 * best_val_acc and best_epoch. Returns 1 for a new best, else 0 (-1 on error). */
int vx_net_record_epoch(vx_net *net, int epoch, const vx_epoch_stats *st, const vx_eval *ev, double *best,
                        vx_error *err);
/* The training log: a header, then one line per epoch (epoch train_loss train_acc val_loss val_acc
 * seconds images_per_s; val_* are 0 without a validation set), flushed as each epoch ends. After
 * `done` epochs are resumed, the log is cut back to them and continued. */
typedef struct vx_train_log vx_train_log;
vx_train_log *vx_train_log_open(const char *path, int done, vx_error *err);
int vx_train_log_epoch(vx_train_log *log, int epoch, const vx_epoch_stats *st, const vx_eval *ev, vx_error *err);
/* Closes (NULL does nothing), reporting a write error. */
int vx_train_log_close(vx_train_log *log, vx_error *err);

#endif
