/* vx_face.h — faces: the Haar cascade (OpenCV's, reproduced exactly), the verified
 * detector, the gray plane of an image record and the face crop. */
#ifndef VX_FACE_H
#define VX_FACE_H

#include "vx.h"
#include "vx_nn.h"

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
