/* face_scenes.c — the face detector against answers recorded from OpenCV 4.6 (tiny hand-made
 * cascades on drawn scenes, the real cascade on the sample photo, resize outputs), broken cascade
 * files, memory on a large image, grouping and the crop against hand-computed values.
 * `facecrop.t --dump DIR` writes the scenes as PGM so the answers can be re-derived with OpenCV. */
#define _POSIX_C_SOURCE 200809L
#include "tap.h"
#include "face_internal.h"
#include "io_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DATA "tests/data/facecrop/"

/* Answers recorded from OpenCV 4.6 (Debian's python3-opencv, cv2.setNumThreads(1)) on the same
 * inputs: `tests/opencv-compare.py --answers` re-derives them from the scenes this test dumps. */
#define EXPECT_A_RAW "20 12 10 10 1;20 14 10 10 1;20 16 10 10 1;"
#define EXPECT_A_N "3"
#define EXPECT_B2_RAW \
    "46 30 10 10 1;46 32 10 10 1;46 34 10 10 1;46 36 10 10 1;46 38 10 10 1;46 40 10 10 1;" \
    "40 24 20 20 1;40 26 20 20 1;40 28 20 20 1;40 30 20 20 1;40 32 20 20 1;40 34 20 20 1;" \
    "40 36 20 20 1;"
#define EXPECT_B2_MIN \
    "40 24 20 20 1;40 26 20 20 1;40 28 20 20 1;40 30 20 20 1;40 32 20 20 1;40 34 20 20 1;" \
    "40 36 20 20 1;"
#define EXPECT_B_RAW \
    "46 30 10 10 1;46 32 10 10 1;46 34 10 10 1;46 36 10 10 1;46 38 10 10 1;46 40 10 10 1;" \
    "44 29 11 11 1;46 31 11 11 1;48 31 11 11 1;46 33 11 11 1;48 33 11 11 1;46 35 11 11 1;" \
    "48 35 11 11 1;46 37 11 11 1;48 37 11 11 1;46 40 11 11 1;44 42 11 11 1;44 27 12 12 1;" \
    "44 41 12 12 1;43 27 13 13 1;43 29 13 13 1;45 29 13 13 1;43 32 13 13 1;45 32 13 13 1;" \
    "43 35 13 13 1;45 35 13 13 1;43 37 13 13 1;45 37 13 13 1;41 29 15 15 1;44 29 15 15 1;" \
    "41 32 15 15 1;44 32 15 15 1;41 35 15 15 1;44 35 15 15 1;43 32 18 18 1;39 31 19 19 1;" \
    "39 26 21 21 1;39 28 21 21 1;39 30 21 21 1;39 32 21 21 1;"
#define EXPECT_B_GROUPED "44 33 13 13 40;"
#define EXPECT_TILTED_A 260, 0x6db34ee7f9dc1886ull
#define EXPECT_TILTED_B \
    "19 2 10 10 4;39 6 11 11 3;2 40 11 11 4;18 2 18 18 4;19 13 29 29 54;53 23 21 21 13;" \
    "16 32 20 20 4;53 9 23 23 6;5 1 24 24 2;47 2 24 24 3;14 2 24 24 2;6 33 24 24 3;" \
    "44 36 24 24 2;40 3 31 31 2;46 20 31 31 10;"
#define EXPECT_RESIZE \
    {88, 55, 0x64b4db61cf061629ull}, {48, 31, 0x34f79734efca2f53ull}, {120, 80, 0xf83111af9d256dabull}, \
    {97, 30, 0xd40ca1542cde860aull}, {1, 1, 0x44bce0d473cc7828ull}, {50, 61, 0x0001fb5e6fa73fd2ull}, \
    {200, 3, 0xb5360aebbe3b2c30ull}, {3, 200, 0xf33519ef181ec77eull}, {33, 20, 0xd99dc6b6916dc88eull}, \
    {96, 60, 0xb83664ab338bd978ull}
#define EXPECT_HALF 0xf1f25db1034076b8ull
#define EXPECT_FACE_RAW 33, 0xbd2ad5c6a8b40f1full
#define EXPECT_BIG "1781 1566 96 96 44;"

/* ---------------------------------------------------------------- scenes */

typedef struct image {
    int w, h;
    unsigned char *p;
} image;

/* Uniform noise from a fixed LCG, so the scenes are the same everywhere. */
static image noise_image(int w, int h, unsigned seed)
{
    image im = {w, h, malloc((size_t)w * h)};
    unsigned x = seed;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        x = x * 1103515245u + 12345u;
        im.p[i] = (unsigned char)(x >> 16);
    }
    return im;
}

/* The pattern tiny.xml looks for: an s x s square, left half white, right half black. */
static void draw_pattern(image *im, int x0, int y0, int s)
{
    for (int y = y0; y < y0 + s; y++)
        for (int x = x0; x < x0 + s; x++)
            im->p[(size_t)y * im->w + x] = x - x0 < s / 2 ? 255 : 0;
}

static void write_pgm(const char *dir, const char *name, const image *im)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fprintf(f, "P5\n%d %d\n255\n", im->w, im->h);
    fwrite(im->p, 1, (size_t)im->w * im->h, f);
    fclose(f);
}

static image scene_a(void)
{
    image im = noise_image(64, 48, 1);
    draw_pattern(&im, 20, 14, 10);
    return im;
}

static image scene_b(void)
{
    image im = noise_image(80, 60, 2);
    draw_pattern(&im, 40, 30, 20);
    return im;
}

/* -------------------------------------------------------------- helpers */

static int detect(const char *cascade, const image *im, double scale, int neighbors, int min_size, vx_box **b,
                  size_t *n)
{
    vx_error err;
    vx_cascade *c = vx_cascade_load(cascade, &err);
    if (!c) {
        tap_diag("%s", err.msg);
        return -1;
    }
    vx_detect_params p;
    vx_detect_params_init(&p);
    p.scale_factor = scale;
    p.min_neighbors = neighbors;
    p.min_w = p.min_h = min_size;
    int rc = vx_cascade_detect(c, im->p, im->w, im->h, (size_t)im->w, &p, b, n, &err);
    if (rc < 0)
        tap_diag("%s", err.msg);
    vx_cascade_free(c);
    return rc;
}

/* Boxes as "x y w h n;" text, in OpenCV's order, for comparing with recorded answers. */
static const char *boxes_text(const vx_box *b, size_t n)
{
    static char buf[8192];
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && used < sizeof buf - 64; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%d %d %d %d %d;", b[i].x, b[i].y, b[i].w, b[i].h,
                                 b[i].strength);
    return buf;
}

static int check_boxes(tap *t, const char *cascade, const image *im, double scale, int neighbors, int min_size,
                       const char *expected, const char *what)
{
    vx_box *b;
    size_t n;
    int ok = detect(cascade, im, scale, neighbors, min_size, &b, &n) == 0;
    const char *got = ok ? boxes_text(b, n) : "(failed)";
    ok = ok && strcmp(got, expected) == 0;
    if (!ok)
        tap_diag("got      %s\n# expected %s", got, expected);
    free(b);
    return tap_ok(t, ok, "%s", what);
}

/* For long answers: the number of boxes and a digest of their text. */
static unsigned long long fnv1a(const unsigned char *p, size_t n);

static int check_digest(tap *t, const char *cascade, const image *im, double scale, int neighbors, int min_size,
                        size_t count, unsigned long long digest, const char *what)
{
    vx_box *b;
    size_t n = 0;
    int ok = detect(cascade, im, scale, neighbors, min_size, &b, &n) == 0;
    const char *text = ok ? boxes_text(b, n) : "";
    ok = ok && n == count && fnv1a((const unsigned char *)text, strlen(text)) == digest;
    free(b);
    return tap_ok(t, ok, "%s (%zu boxes)", what, n);
}

/* ------------------------------------------------------------ bad files */

/* tiny.xml with one piece of text replaced; the load must fail with `want` in the message. */
static int bad_cascade(tap *t, const char *from, const char *to, const char *want)
{
    FILE *f = fopen(DATA "tiny.xml", "rb");
    static char text[1 << 16], edited[1 << 16];
    size_t len = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[len] = 0;
    char *at = strstr(text, from);
    if (!at)
        return tap_ok(t, 0, "fixture text '%s' not found", from);
    snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    vx_error err = {""};
    vx_cascade *c = vx_cascade_parse(edited, strlen(edited), "bad.xml", &err);
    int ok = c == NULL && strstr(err.msg, want) != NULL;
    vx_cascade_free(c);
    return tap_ok(t, ok, "rejected: %s", err.msg[0] ? err.msg : "(accepted)");
}

/* ---------------------------------------------------------- resize, crop */

/* FNV-1a of a byte buffer: recorded digests of OpenCV's resize outputs. */
static unsigned long long fnv1a(const unsigned char *p, size_t n)
{
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static unsigned long long resized_digest(const image *im, int dw, int dh)
{
    unsigned char *d = malloc((size_t)dw * dh);
    vx_error err;
    unsigned long long h = 0;
    if (vx_resize_linear_exact(im->p, im->w, im->h, (size_t)im->w, d, dw, dh, &err) == 0)
        h = fnv1a(d, (size_t)dw * dh);
    else
        tap_diag("%s", err.msg);
    free(d);
    return h;
}

static int crop_is(tap *t, const image *im, vx_box box, double margin, int size, const unsigned char *want,
                   const char *what)
{
    unsigned char out[64];
    vx_error err;
    int ok = vx_face_crop(im->p, im->w, im->h, (size_t)im->w, box, margin, size, out, &err) == 0 &&
             memcmp(out, want, (size_t)size * size) == 0;
    if (!ok)
        for (int i = 0; i < size * size; i++)
            tap_diag("pixel %d: got %d want %d", i, out[i], want[i]);
    return tap_ok(t, ok, "%s", what);
}

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

int main(int argc, char **argv)
{
    image a = scene_a(), b = scene_b();
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
        write_pgm(argv[2], "scene-a.pgm", &a);
        write_pgm(argv[2], "scene-b.pgm", &b);
        image r = noise_image(97, 61, 3);
        write_pgm(argv[2], "resize.pgm", &r);
        free(a.p);
        free(b.p);
        free(r.p);
        return 0;
    }
    tap t;
    vx_error err;
    tap_plan(&t, 46);

    /* ---- the tiny cascade on drawn scenes; answers recorded from OpenCV 4.6 (python3-opencv) */
    vx_cascade *c = vx_cascade_load(DATA "tiny.xml", &err);
    int cw = 0, ch = 0;
    if (c)
        vx_cascade_window(c, &cw, &ch);
    tap_ok(&t, c && cw == 10 && ch == 10, "tiny.xml loads: a 10x10 window");
    vx_cascade_free(c);
    check_boxes(&t, DATA "tiny.xml", &a, 1.1, 0, 0, EXPECT_A_RAW,
                "scene A, every raw detection as OpenCV lists them (scale 1.1, no grouping)");
    check_boxes(&t, DATA "tiny.xml", &a, 1.1, 2, 0, "20 14 10 10 " EXPECT_A_N ";",
                "scene A grouped: the drawn 10x10 square at (20,14), exactly");
    check_boxes(&t, DATA "tiny.xml", &b, 2.0, 0, 0, EXPECT_B2_RAW,
                "scene B at scale factor 2 (the pyramid's exact halving): OpenCV's raw detections");
    check_boxes(&t, DATA "tiny.xml", &b, 2.0, 0, 15, EXPECT_B2_MIN,
                "scene B, min size 15: only the 20x20 level, the square at (40,30)");
    check_boxes(&t, DATA "tiny.xml", &b, 1.1, 0, 0, EXPECT_B_RAW, "scene B at scale 1.1: OpenCV's raw detections");
    check_boxes(&t, DATA "tiny.xml", &b, 1.1, 3, 0, EXPECT_B_GROUPED, "scene B at scale 1.1, grouped as OpenCV groups");
    check_digest(&t, DATA "tilted.xml", &a, 1.1, 0, 0, EXPECT_TILTED_A,
                 "tilted features and trees (tilted.xml) on scene A: OpenCV's raw detections");
    check_boxes(&t, DATA "tilted.xml", &b, 1.25, 1, 0, EXPECT_TILTED_B,
                "tilted.xml on scene B at scale 1.25, grouped");
    image flat = {64, 48, calloc(64 * 48, 1)};
    memset(flat.p, 128, 64 * 48);
    check_boxes(&t, DATA "tiny.xml", &flat, 1.1, 0, 0, "", "a flat image has no detection at all");
    image bare = noise_image(64, 48, 1);
    check_boxes(&t, DATA "tiny.xml", &bare, 1.1, 0, 0, "", "scene A without its square: nothing found");
    image small = noise_image(9, 40, 1);
    check_boxes(&t, DATA "tiny.xml", &small, 1.1, 0, 0, "", "an image narrower than the window: nothing, no error");

    /* ---- the bit-exact pyramid resize, against digests of cv2.resize(INTER_LINEAR_EXACT) */
    image r = noise_image(97, 61, 3);
    static const struct {
        int w, h;
        unsigned long long digest;
    } rs[] = {EXPECT_RESIZE};
    int rs_ok = 0, nrs = (int)(sizeof rs / sizeof rs[0]);
    for (int i = 0; i < nrs; i++) {
        unsigned long long d = resized_digest(&r, rs[i].w, rs[i].h);
        if (d == rs[i].digest)
            rs_ok++;
        else
            tap_diag("resize 97x61 -> %dx%d: digest %016llx, OpenCV %016llx", rs[i].w, rs[i].h, d, rs[i].digest);
    }
    tap_ok(&t, rs_ok == nrs, "resize matches OpenCV's INTER_LINEAR_EXACT byte for byte at %d sizes (down, up, one axis)",
           nrs);
    image r2 = noise_image(96, 60, 4);
    tap_ok(&t, resized_digest(&r2, 48, 30) == EXPECT_HALF, "an exact halving is OpenCV's 2x2 mean, rounded");

    /* ---- the real cascade on the sample photo (public domain, data/samples/face.png) */
    FILE *f = fopen("data/samples/face.png", "rb");
    vx_record photo;
    vx_record_init(&photo);
    vx_decode_opts o;
    vx_decode_opts_init(&o);
    int have_real = access(VX_CASCADE_DEFAULT, R_OK) == 0 && f && vx_png_read(f, "face.png", &o, &photo, &err) == 0;
    if (f)
        fclose(f);
    image face = {0, 0, NULL};
    if (have_real) {
        face.w = (int)photo.dim[2];
        face.h = (int)photo.dim[1];
        face.p = photo.data;
        check_boxes(&t, VX_CASCADE_DEFAULT, &face, 1.1, 5, 30, "79 65 99 99 33;",
                    "frontalface_default on the sample photo: OpenCV's box and strength");
        check_digest(&t, VX_CASCADE_DEFAULT, &face, 1.1, 0, 30, EXPECT_FACE_RAW,
                     "... and its raw detections, in OpenCV's order");
    } else {
        tap_ok(&t, 1, "# SKIP opencv-data or the sample photo is missing");
        tap_ok(&t, 1, "# SKIP opencv-data or the sample photo is missing");
    }

    /* ---- a large image: the photo pasted into 4000x3000 of noise-free gray. Memory beyond the
     * image is a few rows per pyramid level, measured as the growth of the peak RSS. */
    if (have_real) {
        image big = {4000, 3000, malloc((size_t)4000 * 3000)};
        memset(big.p, 128, (size_t)4000 * 3000);
        for (int y = 0; y < face.h; y++)
            memcpy(big.p + (size_t)(1500 + y) * big.w + 1700, face.p + (size_t)y * face.w, (size_t)face.w);
        long before = max_rss_kib();
        double t0 = vx_seconds_now();
        vx_box *bx;
        size_t n;
        int rc = detect(VX_CASCADE_DEFAULT, &big, 1.1, 5, 30, &bx, &n);
        double secs = vx_seconds_now() - t0;
        long grew = max_rss_kib() - before;
        tap_diag("4000x3000 image: %.2f s, peak RSS grew by %ld KiB (the image itself is %d KiB)", secs, grew,
                 4000 * 3000 / 1024);
        tap_ok(&t, rc == 0 && strcmp(boxes_text(bx, n), EXPECT_BIG) == 0, "the face found in a 4000x3000 image: %s",
               rc == 0 ? boxes_text(bx, n) : "(failed)");
        tap_ok(&t, UNDER_ASAN || grew < 16 * 1024, "memory beyond the image stays under 16 MiB (grew %ld KiB)%s", grew,
               UNDER_ASAN ? " # SKIP not measured under AddressSanitizer" : "");
        free(bx);
        free(big.p);
    } else {
        tap_ok(&t, 1, "# SKIP opencv-data or the sample photo is missing");
        tap_ok(&t, 1, "# SKIP opencv-data or the sample photo is missing");
    }

    /* ---- every cascade Debian ships loads, except the one still in the pre-2.4 format */
    int loaded = 0, old = 0, total = 0;
    static const char *const names[] = {"eye", "eye_tree_eyeglasses", "frontalcatface", "frontalcatface_extended",
                                        "frontalface_alt", "frontalface_alt2", "frontalface_alt_tree",
                                        "frontalface_default", "fullbody", "lefteye_2splits",
                                        "licence_plate_rus_16stages", "lowerbody", "profileface",
                                        "righteye_2splits", "russian_plate_number", "smile", "upperbody"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/usr/share/opencv4/haarcascades/haarcascade_%s.xml", names[i]);
        if (access(path, R_OK) != 0)
            continue;
        total++;
        vx_cascade *k = vx_cascade_load(path, &err);
        if (k)
            loaded++;
        else if (strstr(err.msg, "old-format"))
            old++;
        else
            tap_diag("%s", err.msg);
        vx_cascade_free(k);
    }
    if (total)
        tap_ok(&t, loaded == total - 1 && old == 1, "%d of %d Debian cascades load; the old-format one is named as such",
               loaded, total);
    else
        tap_ok(&t, 1, "# SKIP opencv-data is not installed");

    /* ---- grouping, by hand: three boxes within eps of each other and one apart */
    vx_box g[] = {{10, 10, 20, 20, 0}, {11, 10, 20, 20, 0}, {10, 12, 21, 21, 0}, {100, 100, 20, 20, 0}};
    size_t ng = 4;
    vx_boxes_group(g, &ng, 2, 0.2, &err);
    /* means: x 31/3 = 10.33 -> 10, y 32/3 -> 11, w 61/3 = 20.33 -> 20 */
    tap_ok(&t, ng == 1 && g[0].x == 10 && g[0].y == 11 && g[0].w == 20 && g[0].h == 20 && g[0].strength == 3,
           "groupRectangles: a group of 3 averaged, a lone box dropped: %s", boxes_text(g, ng));
    vx_box g2[] = {{0, 0, 40, 40, 0}, {1, 0, 40, 40, 0}, {0, 1, 40, 40, 0}, {1, 1, 40, 40, 0},
                   {10, 10, 12, 12, 0}, {10, 11, 12, 12, 0}, {11, 10, 12, 12, 0}};
    size_t ng2 = 7;
    vx_boxes_group(g2, &ng2, 2, 0.2, &err);
    /* x 2/4 = 0.5 and y 0.5 round half to even: 0 */
    tap_ok(&t, ng2 == 1 && g2[0].x == 0 && g2[0].y == 0 && g2[0].w == 40 && g2[0].strength == 4,
           "a weaker group inside a stronger one is dropped; halves round to even: %s", boxes_text(g2, ng2));
    vx_box g3[] = {{5, 5, 10, 10, 0}, {50, 50, 10, 10, 0}};
    size_t ng3 = 2;
    vx_boxes_group(g3, &ng3, 0, 0.2, &err);
    tap_ok(&t, ng3 == 2 && g3[1].x == 50 && g3[0].strength == 1, "min neighbours 0 keeps the raw boxes ungrouped");
    long big = vx_boxes_largest(g, 0);
    vx_box l[] = {{0, 0, 5, 5, 0}, {0, 0, 9, 9, 0}, {1, 1, 9, 9, 0}};
    tap_ok(&t, big == -1 && vx_boxes_largest(l, 3) == 1, "the largest box, the first of equals");

    /* ---- the crop, against values worked out by hand */
    unsigned char px4[16] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 151};
    image im4 = {4, 4, px4};
    /* cells: {0,10,40,50} = 25, {20,30,60,70} = 45, {80,90,120,130} = 105, {100,110,140,151} = 125.25 */
    unsigned char want_a[4] = {25, 45, 105, 125};
    crop_is(&t, &im4, (vx_box){0, 0, 4, 4, 0}, 0, 2, want_a, "4x4 to 2x2: the mean of each 2x2 block");
    unsigned char px3[9] = {0, 90, 180, 30, 120, 210, 60, 150, 240};
    image im3 = {3, 3, px3};
    /* 1.5-pixel cells: top-left = (0*1 + 90*.5 + 30*.5 + 120*.25) / 2.25 = 90/2.25 = 40;
     * top-right = (90*.5 + 180 + 120*.25 + 210*.5) / 2.25 = 360/2.25 = 160; bottom-left =
     * (30*.5 + 120*.25 + 60 + 150*.5) / 2.25 = 180/2.25 = 80; bottom-right = (120*.25 + 210*.5 +
     * 150*.5 + 240) / 2.25 = 450/2.25 = 200 */
    unsigned char want_b[4] = {40, 160, 80, 200};
    crop_is(&t, &im3, (vx_box){0, 0, 3, 3, 0}, 0, 2, want_b, "3x3 to 2x2: pixels split between cells by area");
    /* box (1,1,2,2) with margin 0.5 is (0,0)-(4,4) again */
    crop_is(&t, &im4, (vx_box){1, 1, 2, 2, 0}, 0.5, 2, want_a, "a margin of half the box on each side");
    /* box (2,2,2,2) with margin 0.5 spans (1,1)-(5,5): beyond the image the edge repeats.
     * cells: {50,60,90,100} = 75, {70,70,110,110} = 90, {130,140,130,140} = 135, {151,151,151,151} */
    unsigned char want_c[4] = {75, 90, 135, 151};
    crop_is(&t, &im4, (vx_box){2, 2, 2, 2, 0}, 0.5, 2, want_c, "beyond the image the edge pixels repeat");
    unsigned char px2[4] = {0, 1, 2, 3};
    image im2 = {2, 2, px2};
    unsigned char want_d[1] = {2}; /* 1.5 rounds half up */
    crop_is(&t, &im2, (vx_box){0, 0, 2, 2, 0}, 0, 1, want_d, "an exact half rounds up");
    unsigned char want_e[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3};
    crop_is(&t, &im2, (vx_box){0, 0, 2, 2, 0}, 0, 4, want_e, "upscaling repeats pixels");

    /* ---- broken cascade files: each message names the file, the line and the element */
    bad_cascade(&t, "<height>10</height>", "<height>0</height>", "bad.xml:9: <height>: value 0 is not an integer");
    bad_cascade(&t, "<featureType>HAAR", "<featureType>LBP", "bad.xml:8: <featureType>: only HAAR");
    bad_cascade(&t, "<stageType>BOOST</stageType>", "", "bad.xml:7: <cascade>: missing <stageType>");
    bad_cascade(&t, "0 -1 1 -0.3</internalNodes>", "0 -1 1</internalNodes>",
                "bad.xml:27: <internalNodes>: expected groups of 4 numbers");
    bad_cascade(&t, "-1. 1. -1.</leafValues>", "-1. 1.</leafValues>", "bad.xml:43: <leafValues>: 2 nodes need 3 leaf");
    bad_cascade(&t, "0 -1 1 -0.3</internalNodes>", "0 -1 7 -0.3</internalNodes>",
                "bad.xml:27: <internalNodes>: feature index 7 is not an integer in 0..1");
    bad_cascade(&t, "0 0 5 10 2.</_>", "0 0 15 10 2.</_>", "bad.xml:50: <_>: width 15 is not an integer in 0..10");
    bad_cascade(&t, "0 0 5 10 2.</_>", "0 0 5 10</_>", "bad.xml:50: <_>: expected 5 numbers");
    bad_cascade(&t, "0 -1 1 -0.3</internalNodes>", "0 -1 1 -0.3x</internalNodes>",
                "bad.xml:27: <internalNodes>: '-0.3x' is not a number");
    bad_cascade(&t, "0 1 0 1.2 -1 -2 1 0.3", "0 1 0 1.2 1 -2 1 0.3", "bad.xml:41: <internalNodes>: node 1 points back");
    bad_cascade(&t, "0 0 10 5 2.</_></rects>", "0 0 10 5 2.</_><_>0 0 1 1 1.</_><_>0 0 1 1 1.</_></rects>",
                "bad.xml:53: <rects>: more than 3 rectangles");
    bad_cascade(&t, "</stageNum>", "</stagenum>", "bad.xml:15: closing tag </stagenum> does not match <stageNum>");
    bad_cascade(&t, "</opencv_storage>", "", "bad.xml:6: <opencv_storage> is never closed");
    bad_cascade(&t, "<tilted>0</tilted>", "<tilted>1</tilted>", "bad.xml:53: <rects>: tilted rectangle 0 0 10 10 leaves");
    bad_cascade(&t, "<stageType>BOOST</stageType>", "<size>10 10</size>", "bad.xml:7: <cascade>: an old-format cascade");
    bad_cascade(&t, "<stageNum>2", "<stageNum>&amp;2", "bad.xml:15: character references");
    vx_error e2;
    vx_cascade *none = vx_cascade_load(DATA "no-such.xml", &e2);
    tap_ok(&t, !none && strstr(e2.msg, "cannot open cascade " DATA "no-such.xml"), "a missing file: %s", e2.msg);

    free(a.p);
    free(b.p);
    free(flat.p);
    free(bare.p);
    free(small.p);
    free(r.p);
    free(r2.p);
    vx_record_free(&photo);
    return tap_done(&t);
}
