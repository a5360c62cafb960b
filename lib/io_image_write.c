/* image_write.c — a record written out as an image to look at: binary PGM/PPM, or PNG through
 * libpng, 8 bits a sample, f32 values mapped onto 0..255. */
#define _POSIX_C_SOURCE 200809L
#include "vx_io.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

struct layout {
    uint32_t channels, height, width;
    double lo, scale; /* f32 value v becomes (v - lo) * scale */
};

static int image_layout(const vx_record *r, const vx_image_range *range, struct layout *l, vx_error *err)
{
    if (r->rank == 2) {
        l->channels = 1;
        l->height = r->dim[0];
        l->width = r->dim[1];
    } else if (r->rank == 3 && (r->dim[0] == 1 || r->dim[0] == 3)) {
        l->channels = r->dim[0];
        l->height = r->dim[1];
        l->width = r->dim[2];
    } else {
        char shape[64];
        vx_record_shape_text(r, shape, sizeof shape);
        return vx_fail(err, "%s: shape %s is not an image ([H,W] or [1 or 3,H,W])", r->key ? r->key : "record",
                       shape);
    }
    double lo = range->lo, hi = range->hi;
    if (range->auto_range) {
        vx_stats s;
        vx_record_stats(r, &s);
        lo = isfinite(s.min) ? s.min : 0;
        hi = isfinite(s.max) ? s.max : 0;
    }
    l->lo = lo;
    l->scale = hi > lo ? 255.0 / (hi - lo) : 0; /* a constant image comes out black */
    return 0;
}

static unsigned char to_byte(const vx_record *r, const struct layout *l, size_t i)
{
    if (r->dtype == VX_U8)
        return ((const unsigned char *)r->data)[i];
    double x = ((double)((const float *)r->data)[i] - l->lo) * l->scale;
    if (!(x > 0)) /* also NaN */
        return 0;
    return x >= 255 ? 255 : (unsigned char)(x + 0.5);
}

/* Row y as interleaved 8-bit pixels. */
static void fill_row(const vx_record *r, const struct layout *l, uint32_t y, unsigned char *row)
{
    size_t plane = (size_t)l->height * l->width;
    for (uint32_t x = 0; x < l->width; x++)
        for (uint32_t c = 0; c < l->channels; c++)
            row[(size_t)x * l->channels + c] = to_byte(r, l, c * plane + (size_t)y * l->width + x);
}

static int write_pnm(FILE *f, const vx_record *r, const struct layout *l, unsigned char *row, vx_error *err)
{
    size_t rowbytes = (size_t)l->width * l->channels;
    if (fprintf(f, "P%c\n%u %u\n255\n", l->channels == 3 ? '6' : '5', (unsigned)l->width, (unsigned)l->height) < 0)
        return vx_fail(err, "write error: %s", strerror(errno));
    for (uint32_t y = 0; y < l->height; y++) {
        fill_row(r, l, y, row);
        if (fwrite(row, 1, rowbytes, f) != rowbytes)
            return vx_fail(err, "write error: %s", strerror(errno));
    }
    return 0;
}

/* libpng errors come to png_on_error, which records them and longjmps back to png_encode. */
struct png_out {
    FILE *file;
    vx_error *err;
    png_structp png;
    png_infop info;
};

static void png_on_error(png_structp png, png_const_charp msg)
{
    struct png_out *job = png_get_error_ptr(png);
    vx_fail(job->err, "PNG: %s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_on_write(png_structp png, png_bytep data, size_t n)
{
    struct png_out *job = png_get_io_ptr(png);
    if (fwrite(data, 1, n, job->file) != n) {
        vx_fail(job->err, "write error: %s", strerror(errno));
        png_longjmp(png, 1);
    }
}

static void png_on_flush(png_structp png)
{
    (void)png;
}

static int png_encode(struct png_out *job, const vx_record *r, const struct layout *l, unsigned char *row)
{
    if (setjmp(png_jmpbuf(job->png)))
        return -1;
    png_set_write_fn(job->png, job, png_on_write, png_on_flush);
    png_set_IHDR(job->png, job->info, l->width, l->height, 8,
                 l->channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(job->png, job->info);
    for (uint32_t y = 0; y < l->height; y++) {
        fill_row(r, l, y, row);
        png_write_row(job->png, row);
    }
    png_write_end(job->png, job->info);
    return 0;
}

static int write_png(FILE *f, const vx_record *r, const struct layout *l, unsigned char *row, vx_error *err)
{
    struct png_out job = {.file = f, .err = err};
    job.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning);
    if (!job.png)
        return vx_fail(err, "out of memory starting libpng");
    job.info = png_create_info_struct(job.png);
    int rc = job.info ? png_encode(&job, r, l, row) : vx_fail(err, "out of memory starting libpng");
    png_destroy_write_struct(&job.png, &job.info);
    return rc;
}

int vx_image_write(FILE *f, const vx_record *r, enum vx_image_format format, const vx_image_range *range,
                   vx_error *err)
{
    struct layout l = {0};
    if (vx_record_check(r, err) < 0 || image_layout(r, range, &l, err) < 0)
        return -1;
    unsigned char *row = vx_calloc(l.width, l.channels, err);
    if (!row)
        return -1;
    int rc = format == VX_IMAGE_PNG ? write_png(f, r, &l, row, err) : write_pnm(f, r, &l, row, err);
    free(row);
    return rc;
}
