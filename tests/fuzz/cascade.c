/* fuzz/cascade.c — libFuzzer target: any bytes given to the cascade XML reader must load or be
 * refused with a message, never crash or leak; a cascade that loads is run on a small image.
 * Built by `make fuzz-cascade` (tests/facecrop.mk), seeded with the XML files of tests/data/facecrop. */
#define _POSIX_C_SOURCE 200809L
#include "vx_face.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    vx_error err;
    vx_cascade *c = vx_cascade_parse((const char *)data, size, "fuzz", &err);
    if (!c)
        return 0;
    /* A 40x30 gradient with a little texture, at two scales, grouped and not. */
    static unsigned char img[40 * 30];
    for (int i = 0; i < 40 * 30; i++)
        img[i] = (unsigned char)((i * 37) ^ (i / 40 * 11));
    vx_detect_params p;
    vx_detect_params_init(&p);
    p.min_w = p.min_h = 0;
    vx_box *boxes;
    size_t n;
    for (int k = 0; k < 2; k++) {
        p.scale_factor = k ? 1.5 : 1.1;
        p.min_neighbors = k;
        if (vx_cascade_detect(c, img, 40, 30, 40, &p, &boxes, &n, &err) == 0)
            free(boxes);
    }
    vx_cascade_free(c);
    return 0;
}
