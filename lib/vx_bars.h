/* vx_bars.h — probabilities for people: smoothing over time and terminal bars. */
#ifndef VX_BARS_H
#define VX_BARS_H

#include "vx.h"

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

#endif
