/* decode.c — the decoding library without the programs: luma formula, content sniffing, PNG and
 * PNM round trips through vx_image_write, every truncation and byte flip of small files failing
 * cleanly, and data set walking on a made-up tree. */
#define _POSIX_C_SOURCE 200809L
#include "tap.h"
#include "io_internal.h"
#include "vx_audio.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An image record [channels, 5, 7] with distinct values. */
static void make_image(vx_record *r, uint32_t channels)
{
    vx_error err;
    uint32_t dim[3] = {channels, 5, 7};
    vx_record_init(r);
    vx_record_shape(r, VX_U8, 3, dim, &err);
    for (size_t i = 0; i < r->nbytes; i++)
        ((unsigned char *)r->data)[i] = (unsigned char)(i * 37 + 11);
    vx_record_set_key(r, "made", &err);
}

/* Writes r as an image into buf; returns the length, 0 on failure. */
static size_t encode(const vx_record *r, enum vx_image_format format, unsigned char *buf, size_t cap)
{
    vx_image_range range = {1, 0, 0};
    vx_error err;
    FILE *f = fmemopen(buf, cap, "wb");
    int rc = vx_image_write(f, r, format, &range, &err);
    long len = ftell(f);
    fclose(f);
    return rc == 0 ? (size_t)len : 0;
}

/* Decodes buf[0..len) with the decoder for format; 0 or -1 with err set. */
static int decode(const unsigned char *buf, size_t len, enum vx_image_format format, const vx_decode_opts *o,
                  vx_record *r, vx_error *err)
{
    if (len == 0) /* fmemopen of nothing is not portable; an empty file is simply no bytes */
        return format == VX_IMAGE_PNG ? vx_fail(err, "mem: file is truncated") : vx_fail(err, "mem: empty");
    FILE *f = fmemopen((void *)buf, len, "rb");
    int rc = format == VX_IMAGE_PNG ? vx_png_read(f, "mem", o, r, err) : vx_pnm_read(f, "mem", o, r, err);
    fclose(f);
    return rc;
}

static int same_pixels(const vx_record *a, const vx_record *b)
{
    return a->dtype == b->dtype && a->rank == b->rank && memcmp(a->dim, b->dim, sizeof a->dim) == 0 &&
           memcmp(a->data, b->data, a->nbytes) == 0;
}

/* Decodes every prefix and every one-byte corruption of a good file: each must either fail with a
 * message naming the input or succeed; a crash or leak shows under the sanitizer build. */
static int survives_damage(const unsigned char *good, size_t len, enum vx_image_format format, int *named)
{
    unsigned char *bad = malloc(len);
    vx_decode_opts o;
    vx_record r;
    vx_error err;
    int failures = 0, runs = 0;
    *named = 0;
    vx_decode_opts_init(&o);
    vx_record_init(&r);
    for (size_t cut = 0; cut < len; cut++, runs++)
        if (decode(good, cut, format, &o, &r, &err) < 0) {
            failures++;
            *named += strncmp(err.msg, "mem: ", 5) == 0;
        }
    for (size_t at = 0; at < len; at++, runs++) {
        memcpy(bad, good, len);
        bad[at] ^= 0xa5;
        if (decode(bad, len, format, &o, &r, &err) < 0) {
            failures++;
            *named += strncmp(err.msg, "mem: ", 5) == 0;
        }
    }
    vx_record_free(&r);
    free(bad);
    tap_diag("%d of %d damaged inputs refused", failures, runs);
    return failures;
}

static void touch_pgm(const char *path)
{
    FILE *f = fopen(path, "wb");
    fputs("P5\n2 1\n255\n\x10\x20", f);
    fclose(f);
}

/* Walks a data set; returns "label:path-under-root ..." in out. */
static int walk(const char *root, const vx_dataset_opts *o, char *out, size_t cap, vx_error *err)
{
    vx_dataset ds;
    const char *path;
    int label, got;
    size_t used = 0, skip = strlen(root) + 1;
    out[0] = '\0';
    if (vx_dataset_open(&ds, root, o, err) < 0)
        return -1;
    while ((got = vx_dataset_next(&ds, &path, &label, err)) == 1)
        used += (size_t)snprintf(out + used, cap - used, "%d:%s ", label, path + skip);
    vx_dataset_close(&ds);
    return got;
}

int main(void)
{
    tap t;
    vx_error err;
    vx_decode_opts o;
    vx_record img, back;
    unsigned char png[4096], pnm[4096];
    tap_plan(&t, 21);
    vx_decode_opts_init(&o);
    vx_record_init(&back);

    int formula_ok = vx_gray_from_rgb(255, 255, 255) == 255 && vx_gray_from_rgb(0, 0, 0) == 0;
    for (unsigned r = 0; r < 256; r += 3)
        for (unsigned g = 0; g < 256; g += 5)
            for (unsigned b = 0; b < 256; b += 7)
                formula_ok &= vx_gray_from_rgb((unsigned char)r, (unsigned char)g, (unsigned char)b) ==
                              (9798 * r + 19235 * g + 3735 * b + 16384) / 32768;
    tap_ok(&t, formula_ok && vx_gray_from_rgb(255, 0, 0) == 76 && vx_gray_from_rgb(0, 255, 0) == 150 &&
                   vx_gray_from_rgb(0, 0, 255) == 29,
           "gray = (9798 R + 19235 G + 3735 B + 16384) >> 15");

    const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    tap_ok(&t, vx_media_sniff(sig, 8) == VX_MEDIA_PNG && vx_media_sniff(sig, 7) == VX_MEDIA_OTHER &&
                   vx_media_sniff((const unsigned char *)"P5\n", 3) == VX_MEDIA_PNM &&
                   vx_media_sniff((const unsigned char *)"P7", 2) == VX_MEDIA_PNM &&
                   vx_media_sniff((const unsigned char *)"P8", 2) == VX_MEDIA_OTHER &&
                   vx_media_sniff((const unsigned char *)"P", 1) == VX_MEDIA_OTHER &&
                   vx_media_sniff((const unsigned char *)"RIFF", 4) == VX_MEDIA_OTHER,
           "content sniffing: PNG signature, P1-P7, anything else");

    make_image(&img, 1);
    size_t png_len = encode(&img, VX_IMAGE_PNG, png, sizeof png);
    tap_ok(&t, png_len > 0 && decode(png, png_len, VX_IMAGE_PNG, &o, &back, &err) == 0 && same_pixels(&img, &back),
           "gray record -> PNG -> record is exact (%zu bytes)", png_len);
    char source[16] = "";
    vx_record_get_meta(&back, "source", source, sizeof source);
    tap_ok(&t, strcmp(source, "png") == 0, "metadata source=png");
    size_t pnm_len = encode(&img, VX_IMAGE_PNM, pnm, sizeof pnm);
    tap_ok(&t, pnm_len == 11 + 35 && memcmp(pnm, "P5\n7 5\n255\n", 11) == 0 &&
                   decode(pnm, pnm_len, VX_IMAGE_PNM, &o, &back, &err) == 0 && same_pixels(&img, &back),
           "gray record -> PGM -> record is exact");

    o.f32 = 1;
    int f32_ok = decode(pnm, pnm_len, VX_IMAGE_PNM, &o, &back, &err) == 0 && back.dtype == VX_F32;
    for (size_t i = 0; f32_ok && i < 35; i++)
        f32_ok = ((float *)back.data)[i] == (float)((unsigned char *)img.data)[i] / 255.0f;
    tap_ok(&t, f32_ok, "--f32 holds value/255");
    o.f32 = 0;
    vx_record_free(&img);

    make_image(&img, 3);
    png_len = encode(&img, VX_IMAGE_PNG, png, sizeof png);
    o.rgb = 1;
    tap_ok(&t, decode(png, png_len, VX_IMAGE_PNG, &o, &back, &err) == 0 && same_pixels(&img, &back),
           "RGB record -> PNG -> record (--rgb) is exact");
    o.rgb = 0;
    int gray_ok = decode(png, png_len, VX_IMAGE_PNG, &o, &back, &err) == 0 && back.dim[0] == 1;
    const unsigned char *p = img.data;
    for (size_t i = 0; gray_ok && i < 35; i++)
        gray_ok = ((unsigned char *)back.data)[i] == vx_gray_from_rgb(p[i], p[35 + i], p[70 + i]);
    tap_ok(&t, gray_ok, "RGB PNG read as gray uses the formula on each pixel");
    pnm_len = encode(&img, VX_IMAGE_PNM, pnm, sizeof pnm);
    o.rgb = 1;
    tap_ok(&t, memcmp(pnm, "P6\n7 5\n255\n", 11) == 0 && decode(pnm, pnm_len, VX_IMAGE_PNM, &o, &back, &err) == 0 &&
                   same_pixels(&img, &back),
           "RGB record -> PPM -> record is exact");
    o.rgb = 0;

    int named;
    int refused = survives_damage(png, png_len, VX_IMAGE_PNG, &named);
    tap_ok(&t, refused >= (int)png_len && named == refused,
           "every cut and most byte flips of a PNG are refused, each message naming the input");
    refused = survives_damage(pnm, pnm_len, VX_IMAGE_PNM, &named);
    tap_ok(&t, refused >= (int)pnm_len && named == refused,
           "every cut of a PPM inside its header or pixels is refused, naming the input");
    tap_ok(&t, decode(pnm, pnm_len, VX_IMAGE_PNM, &o, &back, &err) == 0,
           "after many libnetpbm errors a good PPM still decodes (its error hooks are restored)");

    unsigned char wide[64];
    int wide_len = snprintf((char *)wide, sizeof wide, "P5\n%u 1\n255\n", 2000000u);
    tap_ok(&t, decode(wide, (size_t)wide_len, VX_IMAGE_PNM, &o, &back, &err) < 0 && strstr(err.msg, "outside"),
           "absurd PGM width refused before allocating: %s", err.msg);

    uint32_t flat[1] = {9};
    vx_record line;
    vx_record_init(&line);
    vx_record_shape(&line, VX_F32, 1, flat, &err);
    memset(line.data, 0, line.nbytes);
    vx_record_set_key(&line, "line", &err);
    FILE *sink = fopen("/dev/null", "wb");
    vx_image_range range = {1, 0, 0};
    tap_ok(&t, vx_image_write(sink, &line, VX_IMAGE_PNG, &range, &err) < 0 && strstr(err.msg, "shape 9 is not"),
           "a rank-1 record is no image: %s", err.msg);
    fclose(sink);
    vx_record_free(&line);
    vx_record_free(&img);
    vx_record_free(&back);

    /* ---- data sets */
    char root[] = "/tmp/vx-decode-test-XXXXXX", path[256], out[1024];
    tap_ok(&t, mkdtemp(root) != NULL, "temporary data set at %s", root);
    const char *tree[] = {"sad/b.pgm", "sad/a.pgm", "3_happy/x.pgm", "Angry/2.pgm", "Angry/10.pgm", "loose.pgm"};
    const char *folders[] = {"sad", "3_happy", "Angry", ".git"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", root, folders[i]);
        mkdir(path, 0755);
    }
    for (size_t i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", root, tree[i]);
        touch_pgm(path);
    }
    vx_dataset_opts dso = {NULL, 0, 0};
    tap_ok(&t, walk(root, &dso, out, sizeof out, &err) == 0 &&
                   strcmp(out, "3:3_happy/x.pgm 0:Angry/10.pgm 0:Angry/2.pgm 5:sad/a.pgm 5:sad/b.pgm ") == 0,
           "class folders and files in byte order, emotion labels: %s", out);
    dso.per_class = 1;
    tap_ok(&t, walk(root, &dso, out, sizeof out, &err) == 0 && strcmp(out, "3:3_happy/x.pgm 0:Angry/10.pgm 5:sad/a.pgm ") == 0,
           "per_class 1: %s", out);
    dso.per_class = 0;
    dso.labels = "sad,Angry,3_happy";
    tap_ok(&t, walk(root, &dso, out, sizeof out, &err) == 0 &&
                   strcmp(out, "2:3_happy/x.pgm 1:Angry/10.pgm 1:Angry/2.pgm 0:sad/a.pgm 0:sad/b.pgm ") == 0,
           "labels list: position in the list: %s", out);
    dso.labels = "sad,Angry";
    tap_ok(&t, walk(root, &dso, out, sizeof out, &err) < 0 && strstr(err.msg, "folder '3_happy' is not in the labels"),
           "a folder missing from the labels: %s", err.msg);
    dso.labels = NULL;
    snprintf(path, sizeof path, "%s/zzz", root);
    mkdir(path, 0755);
    tap_ok(&t, walk(root, &dso, out, sizeof out, &err) < 0 && strstr(err.msg, "folder 'zzz' is not an emotion class"),
           "an unknown folder: %s", err.msg);
    rmdir(path);
    tap_ok(&t, vx_dataset_check_labels("a,,b", &err) < 0 && vx_dataset_check_labels("a,b=c", &err) < 0 &&
                   vx_dataset_check_labels(",a", &err) < 0 && vx_dataset_check_labels("Q1,Q2", &err) == 0,
           "labels lists with empty names or '=' are refused");

    for (size_t i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", root, tree[i]);
        unlink(path);
    }
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", root, folders[i]);
        rmdir(path);
    }
    rmdir(root);
    return tap_done(&t);
}
