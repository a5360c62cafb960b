/* bars.c — class probabilities for people to read: smoothed over time (exponential moving
 * average, for a live stream of frames) and drawn as text bars. */
#include "vx_bars.h"

#include <stdio.h>
#include <string.h>

int vx_ema_init(vx_ema *e, double alpha, int n, vx_error *err)
{
    if (!(alpha > 0 && alpha <= 1))
        return vx_fail(err, "smoothing weight %g is outside (0, 1]", alpha);
    if (n < 1 || n > VX_NET_MAX_CLASSES)
        return vx_fail(err, "%d values; at most %d can be smoothed", n, VX_NET_MAX_CLASSES);
    memset(e, 0, sizeof *e);
    e->alpha = alpha;
    e->n = n;
    return 0;
}

void vx_ema_add(vx_ema *e, const float *p)
{
    /* The first sample is taken as it is, so the bars do not rise slowly from zero. */
    double keep = e->count ? 1 - e->alpha : 0;
    for (int k = 0; k < e->n; k++)
        e->value[k] = keep * e->value[k] + (1 - keep) * p[k];
    e->count++;
}

int vx_ema_top(const vx_ema *e)
{
    int top = 0;
    for (int k = 1; k < e->n; k++)
        top = e->value[k] > e->value[top] ? k : top;
    return top;
}

/* Eighths of a cell, so a bar grows smoothly: U+258F (one eighth) to U+2588 (full). */
static const char *const eighths[9] = {"",          "\u258f", "\u258e", "\u258d", "\u258c",
                                       "\u258b",    "\u258a", "\u2589", "\u2588"};

int vx_bar_format(char *buf, size_t size, const char *label, double value, int width, int utf8)
{
    double v = value > 0 ? (value < 1 ? value : 1) : 0; /* NaN draws as empty */
    long units = (long)(v * width * (utf8 ? 8 : 1) + 0.5), cells = 0;
    size_t used = 0;
    int n = snprintf(buf, size, "%-9s ", label);
    if (n < 0 || (size_t)n >= size)
        return -1;
    used = (size_t)n;
    for (; units > 0; cells++) {
        long step = utf8 ? (units >= 8 ? 8 : units) : 1;
        const char *piece = utf8 ? eighths[step] : "#";
        size_t len = strlen(piece);
        if (used + len >= size)
            return -1;
        memcpy(buf + used, piece, len);
        used += len;
        units -= step;
    }
    for (; cells < width; cells++) {
        if (used + 1 >= size)
            return -1;
        buf[used++] = utf8 ? ' ' : '.';
    }
    n = snprintf(buf + used, size - used, " %5.3f", value == value ? value : 0.0);
    return n < 0 || (size_t)n >= size - used ? -1 : 0;
}
