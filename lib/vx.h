/* vx.h — the one public interface of libvx, the library behind every vx-* program.
 * Library functions never exit and never print: they return a status and fill a vx_error. */
#ifndef VX_H
#define VX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VX_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

typedef struct vx_error {
    char msg[512];
} vx_error;

/* Records a message in err (when err is non-NULL) and returns -1, so callers can `return vx_fail(...)`. */
int vx_fail(vx_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "prog: message" on stderr and exits with status (1 runtime, 2 usage). */
_Noreturn void vx_die(const char *prog, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --------------------------------------------------------- checked sizes */

/* a*b into *out; -1 (and a message) on overflow. */
int vx_size_mul(size_t a, size_t b, size_t *out, vx_error *err);
/* malloc/calloc that report failure in err instead of returning silently. */
void *vx_malloc(size_t n, vx_error *err);
void *vx_calloc(size_t count, size_t size, vx_error *err);
/* Uninitialised memory for free(), at least 64-byte aligned; from 2 MiB up, in transparent huge
 * pages (first touching megabytes page by page costs as much as the work on a virtual machine).
 * *capacity (may be NULL) gets the usable size, nbytes rounded up to the alignment. */
void *vx_alloc_large(size_t nbytes, size_t *capacity, vx_error *err);

/* -------------------------------------------------- command-line helpers */

/* Parses a whole string as a number within [lo, hi]; the message names the option and the range. */
int vx_parse_long(const char *text, const char *option, long lo, long hi, long *out, vx_error *err);
int vx_parse_double(const char *text, const char *option, double lo, double hi, double *out, vx_error *err);

/* Standard handling of --help/--version for every program: returns 1 when it printed and the program should exit 0. */
int vx_cli_standard(int argc, char **argv, const char *prog, const char *usage);

/* Opens a path for reading; "-" or NULL means stdin. */
FILE *vx_open_input(const char *path, vx_error *err);
void vx_close_input(FILE *f);

/* ------------------------------------------------------- atomic output */

/* Output that appears under its final name only when complete: write to a temp file in the
 * same directory, then rename. A path of "-" or NULL means stdout (written directly). */
typedef struct vx_output {
    FILE *file;
    char *final_path; /* NULL for stdout */
    char *temp_path;
} vx_output;

int vx_output_open(vx_output *out, const char *path, vx_error *err);
/* Flushes, checks, fsyncs and renames into place. */
int vx_output_commit(vx_output *out, vx_error *err);
/* Removes the temp file; safe to call after a failed commit or twice. */
void vx_output_abort(vx_output *out);

/* ------------------------------------------------------------ progress */

/* Progress lines on stderr: shown when stderr is a terminal, or when forced (e.g. --progress). */
typedef struct vx_progress {
    int enabled;
    int terminal;
    const char *prog;
    double start_seconds;
    double last_seconds;
} vx_progress;

void vx_progress_init(vx_progress *p, const char *prog, int force);
/* Redraws at most a few times per second; total may be 0 when unknown. */
void vx_progress_update(vx_progress *p, const char *what, size_t done, size_t total);
void vx_progress_done(vx_progress *p);
double vx_seconds_now(void);

/* ------------------------------------------------------------ classes */

#define VX_NCLASSES 7
/* The emotion classes, index 0-6: anger disgust fear happy neutral sad surprise. */
const char *vx_class_name(int index);
/* Accepts the canonical names and common folder spellings (angry, disgusted, fearful, surprised, ...);
 * returns the index or -1. */
int vx_class_from_name(const char *name);

/* ------------------------------------------------------ tensor stream */

/* The stream format is specified in formats/tensor-stream.md and vx-stream(5). */
enum vx_dtype { VX_U8 = 1, VX_F32 = 2 };
#define VX_MAX_RANK 4
#define VX_NO_LABEL (-1)
/* Limits that keep a hostile header from causing a huge allocation. */
#define VX_MAX_DIM (1u << 26)
#define VX_MAX_PAYLOAD ((size_t)256 << 20)
#define VX_MAX_TEXT 4096

typedef struct vx_record {
    enum vx_dtype dtype;
    int rank;
    uint32_t dim[VX_MAX_RANK]; /* outermost first; images are [channels, height, width] */
    int label;                 /* class index or VX_NO_LABEL */
    char *key;                 /* NUL-terminated, never NULL after read/set */
    char *meta;                /* "name=value\n" lines, NUL-terminated, may be empty */
    void *data;                /* payload, nbytes long */
    size_t nbytes;
    size_t capacity; /* bytes allocated for data; reused across reads */
} vx_record;

size_t vx_dtype_size(enum vx_dtype dtype);
const char *vx_dtype_name(enum vx_dtype dtype);
/* Number of elements (product of dims); 1 for rank 0. */
size_t vx_record_count(const vx_record *r);

void vx_record_init(vx_record *r);
void vx_record_free(vx_record *r);
/* Sets dtype and shape and makes room for the payload (contents unspecified). */
int vx_record_shape(vx_record *r, enum vx_dtype dtype, int rank, const uint32_t *dim, vx_error *err);
/* Makes room for nbytes of payload, keeping what is there; the shape is not changed. */
int vx_record_reserve(vx_record *r, size_t nbytes, vx_error *err);
int vx_record_set_key(vx_record *r, const char *key, vx_error *err);
/* Metadata is a list of name=value lines; set replaces an existing name. */
int vx_record_set_meta(vx_record *r, const char *name, const char *value, vx_error *err);
/* Copies the value of name into buf; returns 1 found, 0 absent. */
int vx_record_get_meta(const vx_record *r, const char *name, char *buf, size_t bufsize);
/* Deep copy of key, meta, shape and payload. */
int vx_record_copy(vx_record *dst, const vx_record *src, vx_error *err);

/* Reads the next record into r, reusing its buffers. Returns 1 on a record, 0 at a clean end of
 * stream, -1 on error. `where` names the input in messages (a path or "stdin"); messages give
 * the record number and byte offset. */
typedef struct vx_reader {
    FILE *file;
    const char *where;
    uint64_t offset;   /* bytes consumed so far */
    uint64_t nrecords; /* records read so far */
} vx_reader;

void vx_reader_init(vx_reader *rd, FILE *file, const char *where);
int vx_reader_next(vx_reader *rd, vx_record *r, vx_error *err);
/* Writes one record; -1 on an I/O error or an invalid record. */
int vx_record_write(FILE *f, const vx_record *r, vx_error *err);
/* Returns 0 if the record's fields are consistent and within limits. */
int vx_record_check(const vx_record *r, vx_error *err);

/* Element statistics over the payload (NaN-aware: counts non-finite values separately). */
typedef struct vx_stats {
    double min, max, mean;
    size_t nonfinite;
} vx_stats;
void vx_record_stats(const vx_record *r, vx_stats *s);
/* Fails with the key and element index of the first NaN or infinity in an f32 payload. */
int vx_record_require_finite(const vx_record *r, vx_error *err);

/* ---- images, audio and data sets (vx-decode) */

/* How decoders lay out what they decode. Images become [channels, height, width]: one gray plane
 * or R, G, B planes, u8, or f32 holding value/255. Audio becomes [samples] f32 mono at `rate` Hz. */
typedef struct vx_decode_opts {
    int rgb;         /* 3 planes instead of gray */
    int f32;         /* images as f32 in 0..1 instead of u8 */
    long rate;       /* audio sample rate in Hz */
    double offset;   /* audio seconds skipped at the start */
    double duration; /* audio seconds kept after the offset; 0 keeps the rest */
    long length;     /* audio samples exactly, zero-padded or cut; 0 keeps what the file gives */
} vx_decode_opts;

/* Gray u8 images, audio at 22050 Hz, whole. */
void vx_decode_opts_init(vx_decode_opts *o);

/* What the first bytes of a file say it is; anything that is no image is left to libsox. */
enum vx_media { VX_MEDIA_PNG, VX_MEDIA_PNM, VX_MEDIA_OTHER };
enum vx_media vx_media_sniff(const unsigned char *head, size_t n);

/* OpenCV's fixed-point luma on 8-bit values: (9798 R + 19235 G + 3735 B + 16384) >> 15. */
unsigned char vx_gray_from_rgb(unsigned char r, unsigned char g, unsigned char b);

/* Read one image from f into r's shape, payload and `source` metadata (key and label are the
 * caller's). `where` names the input in messages. 16-bit samples are rounded to 8 bits first;
 * alpha is dropped, colours are taken as stored. libnetpbm reports errors through process-wide
 * hooks, which vx_pnm_read installs and restores around each call: do not call it from two
 * threads at once. */
int vx_png_read(FILE *f, const char *where, const vx_decode_opts *o, vx_record *r, vx_error *err);
int vx_pnm_read(FILE *f, const char *where, const vx_decode_opts *o, vx_record *r, vx_error *err);

/* libsox has process-wide state: vx_audio_begin initialises it once per process and installs a
 * message handler that drops its warnings and keeps its last failure for vx_error; vx_audio_end
 * shuts it down. Not for several threads. */
int vx_audio_begin(vx_error *err);
void vx_audio_end(void);
/* Decodes the audio file at path, or the in-memory file data[0..size) when data is non-NULL
 * (path then only names it in messages), as `sox IN -t f32 -r RATE -c 1 - [trim OFFSET DURATION]`
 * would; meta rate= and source=. */
int vx_audio_read(const char *path, const void *data, size_t size, const vx_decode_opts *o, vx_record *r,
                  vx_error *err);

/* Decodes any supported file, telling the kind by content. A path of NULL or "-" is stdin.
 * The key becomes the path ("stdin" for stdin), the label VX_NO_LABEL. libsox is started on
 * the first audio file and stopped by vx_decoder_end. */
typedef struct vx_decoder {
    vx_decode_opts opts;
    int audio_started;
    unsigned char *buf; /* holds a whole input that cannot be rewound (stdin, pipes) */
    size_t bufcap;
    FILE *in;      /* the input vx_decode_next is reading images from, NULL between inputs */
    size_t images; /* images read from the current input */
    int finished;  /* vx_decode_next gave a whole input as one record: 0 comes next */
} vx_decoder;
void vx_decoder_init(vx_decoder *d, const vx_decode_opts *o);
int vx_decode_file(vx_decoder *d, const char *path, vx_record *r, vx_error *err);
/* A file, or standard input (path NULL or "-"), may carry several PNG/PNM images back to back, as
 * netpbm allows and ffmpeg's `-f image2pipe` writes: each call with the same path reads the next
 * image where the input stands (1), until its end (0), so frames are decoded as they arrive. The
 * first is keyed by the path ("stdin"), the Nth "PATH:N". An input that starts with neither a PNG
 * nor a PNM signature (audio) is one record, as vx_decode_file reads it. */
int vx_decode_next(vx_decoder *d, const char *path, vx_record *r, vx_error *err);
/* The same on an input the caller opened (and closes), standing at a PNG or PNM image: the next
 * image (whitespace between images is skipped), keyed `where`, then "where:N"; 1 an image, 0 at
 * the end, -1 on an error or anything that is no image. */
int vx_decode_image_next(vx_decoder *d, FILE *f, const char *where, vx_record *r, vx_error *err);
void vx_decoder_end(vx_decoder *d);

/* A folder-per-class data set: DIR/CLASS/FILE. Class folders in byte order of their names, files
 * in byte order within each; names starting with '.' and files directly in DIR are left out.
 * Only one folder's file names are held at a time. */
typedef struct vx_dataset_opts {
    const char *labels; /* "A,B,...": folder A is label 0, B 1...; NULL: folders name emotions */
    int unlabelled;     /* any folder names; no labels */
    long per_class;     /* at most this many files per folder; 0 means all */
} vx_dataset_opts;

typedef struct vx_dataset {
    vx_dataset_opts opts;
    char *root;
    char **folders; /* sorted class folder names */
    int *labels;    /* label of each folder */
    size_t nfolders, folder;
    char **files; /* sorted file names of folders[folder] */
    size_t nfiles, file;
    size_t total;  /* files in the whole data set, after per_class */
    char *path;    /* the last file returned */
    char *classes; /* value for the `classes` metadata, or NULL */
} vx_dataset;

/* Fails when a --labels list has an empty name or one holding '=' or a newline. */
int vx_dataset_check_labels(const char *labels, vx_error *err);
int vx_dataset_open(vx_dataset *ds, const char *dir, const vx_dataset_opts *o, vx_error *err);
/* The next file: 1 with *path (valid until the next call) and *label, 0 at the end, -1 on error. */
int vx_dataset_next(vx_dataset *ds, const char **path, int *label, vx_error *err);
void vx_dataset_close(vx_dataset *ds);

/* Writing a record as an image: rank 2 [H,W] or rank 3 [1 or 3,H,W]. f32 values map lo..hi
 * onto 0..255 (clamped, NaN to 0); with auto set, lo and hi are the record's finite min and max. */
enum vx_image_format { VX_IMAGE_PNM, VX_IMAGE_PNG };
typedef struct vx_image_range {
    int auto_range;
    double lo, hi;
} vx_image_range;
int vx_image_write(FILE *f, const vx_record *r, enum vx_image_format format, const vx_image_range *range,
                   vx_error *err);

/* ---- neural networks (vx-train, vx-infer) */

/* A convolutional network built from an architecture text (models/face/NAME.arch, vx-model(5)),
 * trained by vx-train, saved as a model file and run by vx-infer. */
typedef struct vx_net vx_net;
#define VX_NET_MAX_CLASSES 16

/* Parses an architecture and allocates the network for batches of up to `batch` samples;
 * parameters are initialised (He) from seed. */
vx_net *vx_net_create(const char *arch, uint64_t seed, vx_error *err);
void vx_net_free(vx_net *net);
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

/* A labelled image set held in memory compactly as u8. */
typedef struct vx_imageset {
    size_t n, cap;
    uint32_t dim[3];  /* [C,H,W] of every image */
    uint8_t *pixels; /* [n][C][H][W] */
    int *labels;     /* [n] */
} vx_imageset;
void vx_imageset_init(vx_imageset *d);
/* Appends a labelled u8 record, or an f32 one with values in [0,1] (quantised); NaN is an error. */
int vx_imageset_add(vx_imageset *d, const vx_record *r, vx_error *err);
/* Appends every record of a stream. */
int vx_imageset_read(vx_imageset *d, FILE *f, const char *where, vx_error *err);
void vx_imageset_free(vx_imageset *d);

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
    int augment;                       /* flip, shift, rotation, scale */
    double erase;                      /* with augment: probability of random erasing */
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

/* ---- probabilities for people (vx-bars) */

/* Exponential moving average of up to VX_NET_MAX_CLASSES values over a stream of samples:
 * value = alpha * sample + (1 - alpha) * value, the first sample taken whole. */
typedef struct vx_ema {
    double alpha;
    int n;
    unsigned long count; /* samples added */
    double value[VX_NET_MAX_CLASSES];
} vx_ema;
int vx_ema_init(vx_ema *e, double alpha, int n, vx_error *err);
void vx_ema_add(vx_ema *e, const float *sample);
/* Index of the largest value (the first of equals). */
int vx_ema_top(const vx_ema *e);
/* One line "label     bar value" into buf: the bar is value (0..1, clamped) of width cells, in
 * Unicode eighth blocks when utf8 is set, else '#' on '.'; -1 when buf is too small. */
int vx_bar_format(char *buf, size_t size, const char *label, double value, int width, int utf8);

/* ---- face detection (vx-facecrop) */

/* A Haar cascade in OpenCV's XML format (the one opencv_traincascade writes and Debian's
 * opencv-data installs), loaded by a purpose-built parser that names the line and element of
 * any fault. Read-only once loaded, so one cascade may serve several threads. */
typedef struct vx_cascade vx_cascade;

#define VX_CASCADE_DEFAULT "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

vx_cascade *vx_cascade_load(const char *path, vx_error *err);
/* Parses len bytes of XML text; `where` names it in messages. */
vx_cascade *vx_cascade_parse(const char *text, size_t len, const char *where, vx_error *err);
void vx_cascade_free(vx_cascade *c);
/* The training window, e.g. 24x24 for the frontal face cascades. */
void vx_cascade_window(const vx_cascade *c, int *width, int *height);

/* A face box in image pixels; strength is the number of raw detections merged into it
 * (OpenCV's numDetections from detectMultiScale2). */
typedef struct vx_box {
    int x, y, w, h;
    int strength;
} vx_box;

/* detectMultiScale's parameters. Sizes of 0 mean no limit; OpenCV's own defaults are
 * scale 1.1, 3 neighbours and no minimum; vx_detect_params_init gives the project's 1.1, 5, 30. */
typedef struct vx_detect_params {
    double scale_factor; /* > 1: each pyramid level is this much smaller */
    int min_neighbors;   /* a group needs more than this many raw detections; 0 keeps them all ungrouped */
    int min_w, min_h;    /* smallest box searched */
    int max_w, max_h;    /* largest box searched */
} vx_detect_params;

void vx_detect_params_init(vx_detect_params *p);

/* OpenCV 4.6's CascadeClassifier::detectMultiScale on an 8-bit gray image, box for box and in
 * OpenCV's single-threaded order: pyramid by bit-exact bilinear resize, integral images,
 * variance-normalised stages, groupRectangles (eps 0.2) and clipping to the image. *boxes is
 * malloc'd (NULL when none); memory beyond the image is a few rows of each pyramid level. */
int vx_cascade_detect(const vx_cascade *c, const unsigned char *gray, int width, int height, size_t stride,
                      const vx_detect_params *p, vx_box **boxes, size_t *nboxes, vx_error *err);

/* The default detector, better than OpenCV's on real photos. The image is padded on every side
 * by `pad` times its smaller side (edges repeated), so a face that fills the frame still fits the
 * cascade's window; the cascade's candidates (with the detect parameters, whose neighbours are
 * fewer than OpenCV's) are cropped (margin 0) to the verifier's input and kept when its class 0
 * (face) has at least `threshold` probability; a box whose centre lies in a better box, at most
 * twice its size, goes too. Boxes come best first, by the verifier's log-odds plus the log of
 * the strength (the strength alone unverified), in image pixels (they
 * may reach beyond the edges), with each box's face probability in *scores (malloc'd, NULL when
 * no box). verifier may be NULL: the candidates unverified, each scored 1. Memory: a padded copy
 * of the image, (w + 2 pad)(h + 2 pad) bytes, beside the cascade's own. */
typedef struct vx_find_params {
    vx_detect_params detect;
    double pad;       /* fraction of the smaller side */
    double threshold; /* face probability */
} vx_find_params;
/* Stretches n gray pixels to mean 128 and standard deviation 48 (clamped to 0..255; a flat patch
 * becomes 128), as the verifier sees every crop: faces in photos differ from FER's in contrast and
 * brightness far more than in shape, and the cascade also judges windows by normalised sums. */
void vx_crop_normalise(unsigned char *px, size_t n);
/* detect as vx_detect_params_init with 2 neighbours, pad 0.25, threshold 0.5. */
void vx_find_params_init(vx_find_params *p);
int vx_faces_find(const vx_cascade *c, vx_net *verifier, const unsigned char *gray, int width, int height,
                  size_t stride, const vx_find_params *p, vx_box **boxes, float **scores, size_t *nboxes,
                  vx_error *err);

/* The parts, for tests and for other detectors. */
/* cv::resize(src, dst, Size(dw, dh), 0, 0, INTER_LINEAR_EXACT) on 8-bit gray. */
int vx_resize_linear_exact(const unsigned char *src, int sw, int sh, size_t sstride, unsigned char *dst, int dw,
                           int dh, vx_error *err);
/* cv::groupRectangles(boxes, min_neighbors, eps) in place, with strength set to each group's size. */
int vx_boxes_group(vx_box *boxes, size_t *n, int min_neighbors, double eps, vx_error *err);
/* The largest box by area (the first of equals); -1 when n is 0. */
long vx_boxes_largest(const vx_box *boxes, size_t n);

/* The gray plane of an image record: u8 [1,h,w], [3,h,w] (R, G, B planes, OpenCV's luma),
 * [4,h,w] (alpha ignored) or [h,w]. *gray points into the record for gray images, else into
 * *scratch (malloc'd, to be freed by the caller). */
int vx_image_gray(const vx_record *r, const unsigned char **gray, int *width, int *height,
                  unsigned char **scratch, vx_error *err);

/* Area-averaging crop: the box grown by `margin` times its size on every side, pixels beyond
 * the image repeating the edge, averaged down (or up) to size x size; rounds half up. */
int vx_face_crop(const unsigned char *gray, int width, int height, size_t stride, vx_box box, double margin,
                 int size, unsigned char *out, vx_error *err);

#endif
