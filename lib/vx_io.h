/* vx_io.h — decoding files into records: images (PNG, PNM) and audio (libsox)
 * by content, folder-per-class data sets, and records written back out as images. */
#ifndef VX_IO_H
#define VX_IO_H

#include "vx.h"

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
/* Whether what f holds next begins an image (its first byte 'P' or PNG's 0x89; the reader checks
 * the whole signature), the byte read and pushed back into *first (EOF when f is at its end):
 * 1 an image, 0 anything else, -1 when the byte cannot be pushed back. It tells images from
 * tensor streams ("VXTS") and audio. */
int vx_peek_image(FILE *f, const char *where, int *first, vx_error *err);

/* OpenCV's fixed-point luma on 8-bit values: (9798 R + 19235 G + 3735 B + 16384) >> 15. */
unsigned char vx_gray_from_rgb(unsigned char r, unsigned char g, unsigned char b);


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

#endif
