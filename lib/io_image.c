/* image.c — PNG (libpng) and PNM/PAM (libnetpbm) files decoded into image records
 * [channels, height, width], gray by OpenCV's luma formula or RGB, u8 or f32. */
#define _POSIX_C_SOURCE 200809L
#include "io_internal.h"
#include "vx_face.h"

#include <errno.h>
#include <pam.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* Far above any photograph, far below what would let one row's buffer reach gigabytes. */
#define IMAGE_MAX_SIDE 1000000u

unsigned char vx_gray_from_rgb(unsigned char r, unsigned char g, unsigned char b)
{
    return (unsigned char)((9798u * r + 19235u * g + 3735u * b + 16384u) >> 15);
}

/* Shapes r for a width x height image in the layout o asks for; refuses absurd sizes before
 * anything is allocated. */
static int shape_image(vx_record *r, const vx_decode_opts *o, const char *where, unsigned long width,
                       unsigned long height, vx_error *err)
{
    if (width == 0 || height == 0 || width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE)
        return vx_fail(err, "%s: image size %lux%lu is outside 1..%u per side", where, width, height,
                       IMAGE_MAX_SIDE);
    uint32_t dim[3] = {o->rgb ? 3 : 1, (uint32_t)height, (uint32_t)width};
    vx_error why;
    if (vx_record_shape(r, o->f32 ? VX_F32 : VX_U8, 3, dim, &why) < 0)
        return vx_fail(err, "%s: image %lux%lu: %s", where, width, height, why.msg);
    return 0;
}

/* Stores row y, given as 8-bit interleaved pixels of 1 (gray) or 3 (RGB) channels, into the
 * planes of r, converting to r's channels and dtype. */
static void store_row(vx_record *r, uint32_t y, const unsigned char *row, int src_channels)
{
    uint32_t channels = r->dim[0], height = r->dim[1], width = r->dim[2];
    size_t plane = (size_t)height * width;
    for (uint32_t x = 0; x < width; x++) {
        const unsigned char *px = row + (size_t)x * (size_t)src_channels;
        unsigned char v[3];
        if (channels == 1 && src_channels == 3)
            v[0] = vx_gray_from_rgb(px[0], px[1], px[2]);
        else
            for (uint32_t c = 0; c < channels; c++)
                v[c] = px[src_channels == 1 ? 0 : c];
        for (uint32_t c = 0; c < channels; c++) {
            size_t i = c * plane + (size_t)y * width + x;
            if (r->dtype == VX_F32)
                ((float *)r->data)[i] = (float)v[c] / 255.0f;
            else
                ((unsigned char *)r->data)[i] = v[c];
        }
    }
}

/* ------------------------------------------------------------------- PNG */

/* libpng reports errors by calling png_on_error, which must not return: it records the message
 * and longjmps back to png_decode. Everything allocated lives here, so the caller frees it. */
struct png_job {
    FILE *file;
    const char *where;
    vx_error *err;
    png_structp png;
    png_infop info;
    unsigned char *pixels;
    png_bytep *rows;
    char io_msg[128];
};

static void png_on_error(png_structp png, png_const_charp msg)
{
    struct png_job *job = png_get_error_ptr(png);
    vx_fail(job->err, "%s: %s", job->where, msg);
    png_longjmp(png, 1);
}

/* Warnings (an odd colour profile, a bad ancillary chunk) do not stop decoding. */
static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_on_read(png_structp png, png_bytep data, size_t n)
{
    struct png_job *job = png_get_io_ptr(png);
    if (fread(data, 1, n, job->file) == n)
        return;
    if (ferror(job->file)) {
        snprintf(job->io_msg, sizeof job->io_msg, "read error: %s", strerror(errno));
        png_error(png, job->io_msg);
    }
    png_error(png, "file is truncated");
}

static int png_decode(struct png_job *job, const vx_decode_opts *o, vx_record *r)
{
    png_structp png = job->png;
    png_infop info = job->info;
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_read_fn(png, job, png_on_read);
    png_set_user_limits(png, IMAGE_MAX_SIDE, IMAGE_MAX_SIDE);
    png_read_info(png, info);

    png_uint_32 width, height;
    int depth, color, interlace;
    png_get_IHDR(png, info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    if (color == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_scale_16(png); /* rounds, where png_set_strip_16 would truncate */
    /* Alpha, including a palette's tRNS that palette expansion turns into alpha, is dropped. */
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    /* RGB to gray is done here, not by libpng, whose formula truncates instead of rounding. */
    if (o->rgb && !(color & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    if (interlace != PNG_INTERLACE_NONE)
        png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info), total;
    if ((channels != 1 && channels != 3) || rowbytes != (size_t)width * (size_t)channels)
        return vx_fail(job->err, "%s: unexpected PNG layout (%d channels, %zu bytes a row)", job->where, channels,
                       rowbytes);
    if (shape_image(r, o, job->where, width, height, job->err) < 0 ||
        vx_size_mul(rowbytes, height, &total, job->err) < 0 || !(job->pixels = vx_malloc(total, job->err)) ||
        !(job->rows = vx_calloc(height, sizeof *job->rows, job->err)))
        return -1;
    for (png_uint_32 y = 0; y < height; y++)
        job->rows[y] = job->pixels + (size_t)y * rowbytes;
    png_read_image(png, job->rows);
    png_read_end(png, NULL);
    for (png_uint_32 y = 0; y < height; y++)
        store_row(r, y, job->rows[y], channels);
    return 0;
}

int vx_png_read(FILE *f, const char *where, const vx_decode_opts *o, vx_record *r, vx_error *err)
{
    struct png_job job = {.file = f, .where = where, .err = err};
    job.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning);
    if (!job.png)
        return vx_fail(err, "%s: out of memory starting libpng", where);
    job.info = png_create_info_struct(job.png);
    int rc = job.info ? png_decode(&job, o, r) : vx_fail(err, "%s: out of memory starting libpng", where);
    png_destroy_read_struct(&job.png, &job.info, NULL);
    free(job.rows);
    free(job.pixels);
    if (rc == 0)
        rc = vx_record_set_meta(r, "source", "png", err);
    return rc;
}

/* ------------------------------------------------------------------- PNM */

/* libnetpbm reports an error by calling the user message function and then longjmp-ing to the
 * buffer set with pm_setjmpbuf (or exiting when there is none). Both hooks are process-wide, so
 * the message has to wait in a process-wide buffer until pnm_decode's setjmp returns. */
static char pnm_message[400];

static void pnm_on_error(const char *msg)
{
    snprintf(pnm_message, sizeof pnm_message, "%s", msg);
    pnm_message[strcspn(pnm_message, "\n")] = '\0';
}

static void pnm_on_message(const char *msg)
{
    (void)msg;
}

struct pnm_job {
    FILE *file;
    const char *where;
    vx_error *err;
    jmp_buf jump;
    tuple *row;
    unsigned char *row8;
    char source[4];
};

static int pnm_decode(struct pnm_job *job, const vx_decode_opts *o, vx_record *r)
{
    struct pam pam;
    if (setjmp(job->jump))
        return vx_fail(job->err, "%s: %s", job->where, pnm_message);
    pnm_readpaminit(job->file, &pam, PAM_STRUCT_SIZE(tuple_type));
    switch (PAM_FORMAT_TYPE(pam.format)) {
    case PBM_TYPE: strcpy(job->source, "pbm"); break;
    case PGM_TYPE: strcpy(job->source, "pgm"); break;
    case PPM_TYPE: strcpy(job->source, "ppm"); break;
    default: strcpy(job->source, "pam"); break;
    }
    if (pam.depth < 1 || pam.depth > 4)
        return vx_fail(job->err, "%s: PAM depth %u is not 1 to 4 (gray or RGB, optionally with alpha)", job->where,
                       pam.depth);
    if (shape_image(r, o, job->where, (unsigned long)pam.width, (unsigned long)pam.height, job->err) < 0)
        return -1;
    /* Depth 2 is gray and 4 is RGB, each with alpha, which is dropped. */
    int src_channels = pam.depth >= 3 ? 3 : 1;
    job->row = pnm_allocpamrow(&pam);
    if (!(job->row8 = vx_calloc((size_t)pam.width, 3, job->err)))
        return -1;
    sample maxval = pam.maxval;
    for (int y = 0; y < pam.height; y++) {
        pnm_readpamrow(&pam, job->row);
        for (int x = 0; x < pam.width; x++)
            for (int c = 0; c < src_channels; c++) {
                sample v = job->row[x][c] < maxval ? job->row[x][c] : maxval;
                job->row8[(size_t)x * (size_t)src_channels + (size_t)c] =
                    (unsigned char)((v * 255 + maxval / 2) / maxval);
            }
        store_row(r, (uint32_t)y, job->row8, src_channels);
    }
    return 0;
}

int vx_pnm_read(FILE *f, const char *where, const vx_decode_opts *o, vx_record *r, vx_error *err)
{
    struct pnm_job job = {.file = f, .where = where, .err = err};
    jmp_buf *previous;
    strcpy(pnm_message, "malformed image");
    pm_setusererrormsgfn(pnm_on_error);
    pm_setusermessagefn(pnm_on_message);
    pm_setjmpbufsave(&job.jump, &previous);
    int rc = pnm_decode(&job, o, r);
    pm_setjmpbuf(previous);
    pm_setusermessagefn(NULL);
    pm_setusererrormsgfn(NULL);
    if (job.row)
        pnm_freepamrow(job.row);
    free(job.row8);
    if (rc == 0)
        rc = vx_record_set_meta(r, "source", job.source, err);
    return rc;
}
