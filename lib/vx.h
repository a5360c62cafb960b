/* vx.h — the core of libvx that every vx-* program includes: errors, checked sizes, command-line
 * helpers, atomic output, progress, the emotion classes and the tensor stream (records, reader, writer).
 * Library functions never exit and never print: they return a status and fill a vx_error.
 * Each module has its own header: vx_io.h (decoding, data sets, images out), vx_audio.h,
 * vx_nn.h (networks, training), vx_face.h (detection, crops), vx_bars.h, vx_song.h.
 *
 * A filter that copies a stream, dropping records without a label:
 *
 *     vx_error err;
 *     vx_reader rd;
 *     vx_record r;
 *     vx_reader_init(&rd, stdin, "stdin");
 *     vx_record_init(&r);
 *     int got;
 *     while ((got = vx_reader_next(&rd, &r, &err)) == 1)
 *         if (r.label != VX_NO_LABEL && vx_record_write(stdout, &r, &err) < 0)
 *             break;
 *     vx_record_free(&r);
 *     if (got < 0 || ferror(stdout))
 *         vx_die("vx-labelled", 1, "%s", err.msg);
 */
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

/* ------------------------------------------------------------ byte order */

/* Every file and stream VibeluX writes is little-endian, whatever the host's order. */
static inline void vx_put_le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static inline void vx_put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline void vx_put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static inline unsigned vx_get_le16(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }
static inline uint32_t vx_get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t vx_get_le64(const unsigned char *p) { return vx_get_le32(p) | (uint64_t)vx_get_le32(p + 4) << 32; }

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
/* The index of text among the n words (NULL-free), else "OPTION: 'x' is not a, b or c". */
int vx_parse_choice(const char *text, const char *option, const char *const *words, int n, vx_error *err);

/* Standard handling of --help/--version for every program: returns 1 when it printed and the program should exit 0. */
int vx_cli_standard(int argc, char **argv, const char *prog, const char *usage);

/* The message for getopt_long's ':' (a value missing) or '?' (an unknown option), run with
 * opterr = 0 and an option string starting with ':' so that getopt prints nothing itself:
 * "unknown option '--foo'", "option '-b' needs a value". Pass optind and optopt. */
const char *vx_cli_option_error(int c, char **argv, int optind_now, int optopt_now, char *buf, size_t size);
/* The same said as "PROG: MESSAGE (see --help)", exiting 2: every program's getopt default case. */
_Noreturn void vx_cli_bad_option(const char *prog, int c, char **argv, int optind_now, int optopt_now);

/* "-" or NULL means stdin, for every path a program reads; vx_input_name is what messages call it. */
int vx_is_stdin(const char *path);
const char *vx_input_name(const char *path);
/* Opens a path for reading (vx_is_stdin: stdin). */
FILE *vx_open_input(const char *path, vx_error *err);
void vx_close_input(FILE *f);
/* Reads the whole file at path into *data (malloc'd, with a NUL after its *len bytes), refusing
 * one larger than max bytes ("PATH: larger than N MiB: not WHAT"); `kind` ("cascade", "model")
 * names it in the message when it cannot be opened. */
int vx_read_file(const char *path, size_t max, const char *kind, char **data, size_t *len, vx_error *err);

/* ------------------------------------------------------- atomic output */

/* Output that appears under its final name only when complete: a regular file (or one a
 * symbolic link points to) is written to a temp file beside it, FINAL.vxtmp.PID.XXXXXX, then
 * renamed; anything else that exists (a device, a FIFO) is written through, never replaced.
 * A path of "-" or NULL means stdout (written directly). SIGINT, SIGTERM, SIGHUP, SIGQUIT,
 * SIGPIPE, SIGXCPU and SIGXFSZ remove the temp files being written before the process dies of
 * the signal; a temp file whose process is gone (kill -9) is removed by the next output to the
 * same path. */
typedef struct vx_output {
    FILE *file;
    char *final_path; /* NULL for stdout and for written-through outputs */
    char *temp_path;
    int direct;       /* written through: not a regular file */
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
/* The most classes any model, stream or class set may have. */
#define VX_NET_MAX_CLASSES 16
/* The emotion classes, index 0-6: anger disgust fear happy neutral sad surprise. */
const char *vx_class_name(int index);
/* Accepts the canonical names and common folder spellings (angry, disgusted, fearful, surprised, ...);
 * returns the index or -1. */
int vx_class_from_name(const char *name);
/* The name of class `index` in a classes= list ("a,b,c"): 1 with the name in buf, 0 when the list
 * is NULL or shorter. Every class set other than the seven emotions travels as such a list. */
int vx_classes_name(const char *list, int index, char *buf, size_t size);
/* Number of names in a classes= list (0 for NULL or ""). */
int vx_classes_count(const char *list);

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
/* The shape as text, "1x48x48" ("scalar" for rank 0), into buf; returns buf. */
const char *vx_record_shape_text(const vx_record *r, char *buf, size_t size);
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
    uint64_t nrecords; /* records read whole so far */
    uint64_t record_start, payload_size, payload_left; /* of the record being read */
    size_t payload_esize;
} vx_reader;

void vx_reader_init(vx_reader *rd, FILE *file, const char *where);
int vx_reader_next(vx_reader *rd, vx_record *r, vx_error *err);
/* The same in two steps, for a payload too long to want in memory at once (a song): the header,
 * key and metadata into r (its dtype, rank, dim, nbytes, label, key and meta; r->data is left as
 * it was and is not the payload), then the payload read in pieces of whole elements with
 * vx_reader_payload, in order (f32 in host order), failing when more is asked than is left or
 * the stream ends early. What a reader leaves of a payload is skipped by its next read. */
int vx_reader_head(vx_reader *rd, vx_record *r, vx_error *err);
int vx_reader_payload(vx_reader *rd, void *buf, size_t n, vx_error *err);
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

#endif
