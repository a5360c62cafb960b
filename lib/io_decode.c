/* decode.c — one file in, one record out: tells PNG, PNM and audio apart by their first bytes
 * and hands the file to the right decoder. */
#define _POSIX_C_SOURCE 200809L
#include "io_internal.h"
#include "vx_audio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An input that cannot be rewound is held in memory whole; beyond this it is refused. */
#define MAX_UNSEEKABLE ((size_t)512 << 20)

void vx_decode_opts_init(vx_decode_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rate = 22050;
}

enum vx_media vx_media_sniff(const unsigned char *head, size_t n)
{
    static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (n >= 8 && memcmp(head, png_signature, 8) == 0)
        return VX_MEDIA_PNG;
    if (n >= 2 && head[0] == 'P' && head[1] >= '1' && head[1] <= '7')
        return VX_MEDIA_PNM;
    return VX_MEDIA_OTHER;
}

int vx_peek_image(FILE *f, const char *where, int *first, vx_error *err)
{
    int c = getc(f);
    *first = c;
    /* One byte is all stdio promises to push back. */
    if (c != EOF && ungetc(c, f) == EOF)
        return vx_fail(err, "%s: cannot push back a byte", where);
    return c == 'P' || c == 0x89;
}

void vx_decoder_init(vx_decoder *d, const vx_decode_opts *o)
{
    memset(d, 0, sizeof *d);
    d->opts = *o;
}

void vx_decoder_end(vx_decoder *d)
{
    if (d->in)
        vx_close_input(d->in);
    d->in = NULL;
    if (d->audio_started)
        vx_audio_end();
    free(d->buf);
    d->buf = NULL;
    d->bufcap = 0;
    d->audio_started = 0;
}

/* Reads the rest of f after the n bytes already in head into d->buf; returns the total length. */
static int slurp(vx_decoder *d, FILE *f, const unsigned char *head, size_t n, const char *where, size_t *len,
                 vx_error *err)
{
    size_t used = 0;
    for (;;) {
        if (d->bufcap - used < 65536) {
            size_t cap = d->bufcap ? 2 * d->bufcap : (size_t)1 << 20;
            if (cap > MAX_UNSEEKABLE + 65536)
                return vx_fail(err, "%s: more than %zu MiB of input that cannot be rewound", where,
                               MAX_UNSEEKABLE >> 20);
            unsigned char *p = realloc(d->buf, cap);
            if (!p)
                return vx_fail(err, "%s: out of memory holding the input", where);
            d->buf = p;
            d->bufcap = cap;
        }
        if (used == 0) {
            memcpy(d->buf, head, n);
            used = n;
        }
        size_t got = fread(d->buf + used, 1, d->bufcap - used, f);
        used += got;
        if (got == 0)
            break;
    }
    if (ferror(f))
        return vx_fail(err, "%s: read error: %s", where, strerror(errno));
    *len = used;
    return 0;
}

static int decode_image(enum vx_media kind, FILE *f, const char *where, const vx_decode_opts *o, vx_record *r,
                        vx_error *err)
{
    return kind == VX_MEDIA_PNG ? vx_png_read(f, where, o, r, err) : vx_pnm_read(f, where, o, r, err);
}

static int decode_open(vx_decoder *d, FILE *f, const char *path, const char *where, vx_record *r,
                       vx_error *err)
{
    unsigned char head[8];
    size_t n = fread(head, 1, sizeof head, f);
    if (n == 0)
        return ferror(f) ? vx_fail(err, "%s: read error: %s", where, strerror(errno))
                         : vx_fail(err, "%s: empty file", where);
    enum vx_media kind = vx_media_sniff(head, n);
    int seekable = f != stdin && fseek(f, 0, SEEK_SET) == 0;
    if (seekable && kind != VX_MEDIA_OTHER)
        return decode_image(kind, f, where, &d->opts, r, err);

    size_t len = 0;
    if (!seekable && slurp(d, f, head, n, where, &len, err) < 0)
        return -1;
    if (kind != VX_MEDIA_OTHER) {
        FILE *mem = fmemopen(d->buf, len, "rb");
        if (!mem)
            return vx_fail(err, "%s: cannot read from memory: %s", where, strerror(errno));
        int rc = decode_image(kind, mem, where, &d->opts, r, err);
        fclose(mem);
        return rc;
    }
    if (!d->audio_started) {
        if (vx_audio_begin(err) < 0)
            return -1;
        d->audio_started = 1;
    }
    return seekable ? vx_audio_read(path, NULL, 0, &d->opts, r, err)
                    : vx_audio_read(where, d->buf, len, &d->opts, r, err);
}

/* The whole of an open input as one record, keyed `where`. */
static int decode_whole(vx_decoder *d, FILE *f, const char *path, const char *where, vx_record *r, vx_error *err)
{
    if (r->meta)
        r->meta[0] = '\0'; /* a reused record must not keep the last file's metadata */
    int rc = decode_open(d, f, path, where, r, err);
    if (rc == 0 && vx_record_set_key(r, where, err) < 0)
        rc = -1;
    r->label = VX_NO_LABEL;
    return rc;
}

int vx_decode_file(vx_decoder *d, const char *path, vx_record *r, vx_error *err)
{
    int from_stdin = vx_is_stdin(path);
    FILE *f = vx_open_input(from_stdin ? NULL : path, err);
    if (!f)
        return -1;
    int rc = decode_whole(d, f, path, vx_input_name(path), r, err);
    vx_close_input(f);
    return rc;
}

int vx_decode_image_next(vx_decoder *d, FILE *f, const char *where, vx_record *r, vx_error *err)
{
    int c;
    while ((c = getc(f)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        ;
    if (c == EOF) {
        d->images = 0;
        return ferror(f) ? vx_fail(err, "%s: read error: %s", where, strerror(errno)) : 0;
    }
    if (ungetc(c, f) == EOF)
        return vx_fail(err, "%s: cannot push back a byte", where);
    int image = vx_peek_image(f, where, &c, err);
    if (image < 0)
        return -1;
    if (!image)
        return vx_fail(err, "%s: not a PNG or PNM image (first byte 0x%02x)", where, (unsigned)c);
    if (r->meta)
        r->meta[0] = '\0';
    if (decode_image(c == 'P' ? VX_MEDIA_PNM : VX_MEDIA_PNG, f, where, &d->opts, r, err) < 0)
        return -1;
    char key[VX_MAX_TEXT];
    if (++d->images == 1)
        snprintf(key, sizeof key, "%s", where);
    else
        snprintf(key, sizeof key, "%.*s:%zu", VX_MAX_TEXT - 32, where, d->images);
    r->label = VX_NO_LABEL;
    return vx_record_set_key(r, key, err) < 0 ? -1 : 1;
}

/* Ends vx_decode_next's reading of the current input with `result`. */
static int next_done(vx_decoder *d, int result)
{
    if (d->in)
        vx_close_input(d->in);
    d->in = NULL;
    d->images = 0;
    return result;
}

int vx_decode_next(vx_decoder *d, const char *path, vx_record *r, vx_error *err)
{
    int from_stdin = vx_is_stdin(path);
    const char *where = vx_input_name(path);
    if (d->finished) {
        d->finished = 0;
        return 0;
    }
    if (!d->in) {
        if (!(d->in = vx_open_input(from_stdin ? NULL : path, err)))
            return -1;
        int c, image = vx_peek_image(d->in, where, &c, err);
        if (image < 0)
            return next_done(d, -1);
        if (!image) {
            /* Not an image (or empty): one record of the whole input, read from where it stands
             * so that a pipe loses nothing. */
            int rc = decode_whole(d, d->in, path, where, r, err);
            d->finished = rc == 0;
            return next_done(d, rc < 0 ? -1 : 1);
        }
    }
    int got = vx_decode_image_next(d, d->in, where, r, err);
    return got == 1 ? 1 : next_done(d, got);
}
