/* nn_input.c — how real-valued input (a spectrogram) is normalised before the network sees it: one
 * mean and deviation for the whole input, or one per band from training statistics, optionally
 * after removing each band's own mean over the input (so a recording's level and equalisation do
 * not decide its class). The model file records which, so training and inference agree. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nn_normalise(const vx_net *net, const float *src, size_t src_row_stride, size_t src_plane_stride, float *dst,
                  size_t plane_stride)
{
    const nn_layer *in = &net->layer[0];
    int C = in->c, H = in->h, W = in->w;
    for (int c = 0; c < C; c++)
        for (int r = 0; r < H; r++) {
            const float *row = src + (size_t)c * src_plane_stride + (size_t)r * src_row_stride;
            float *out = dst + (size_t)c * plane_stride + (size_t)r * W;
            float centre = 0;
            if (net->norm_segment) {
                double sum = 0;
                for (int x = 0; x < W; x++)
                    sum += row[x];
                centre = (float)(sum / W);
            }
            float mean = net->norm_bands ? net->band_mean[r] : net->in_mean;
            float std = net->norm_bands ? net->band_std[r] : net->in_std;
            for (int x = 0; x < W; x++)
                out[x] = (row[x] - centre - mean) / std;
        }
}

/* A comma-separated list of exactly n finite numbers, each of them > 0 when positive is set. */
static int parse_list(const char *name, const char *value, int n, int positive, float **out, vx_error *err)
{
    float *v = malloc((size_t)n * sizeof *v);
    if (!v)
        return vx_fail(err, "out of memory");
    const char *p = value;
    for (int i = 0; i < n; i++) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || !isfinite(x) || fabs(x) > 1e6 || (positive && !(x > 1e-6)) ||
            *end != (i + 1 < n ? ',' : '\0')) {
            free(v);
            return vx_fail(err, "metadata %s: want %d comma-separated numbers%s (one per input band)", name, n,
                           positive ? " above 1e-6" : "");
        }
        v[i] = (float)x;
        p = end + 1;
    }
    free(*out);
    *out = v;
    return 0;
}

int vx_input_norm_check(const char *mode, vx_error *err)
{
    if (strcmp(mode, "scalar") == 0 || strcmp(mode, "bands") == 0 || strcmp(mode, "bands,segment") == 0 ||
        strcmp(mode, "scalar,segment") == 0)
        return 0;
    return vx_fail(err, "'%s' is not scalar, bands, scalar,segment or bands,segment", mode);
}

int nn_set_norm_meta(vx_net *net, const char *name, const char *value, vx_error *err)
{
    int H = net->layer[0].h;
    if (strcmp(name, "input_band_mean") == 0)
        return parse_list(name, value, H, 0, &net->band_mean, err);
    if (strcmp(name, "input_band_std") == 0)
        return parse_list(name, value, H, 1, &net->band_std, err);
    vx_error why;
    if (vx_input_norm_check(value, &why) < 0)
        return vx_fail(err, "metadata input_norm: %s", why.msg);
    net->norm_bands = strncmp(value, "bands", 5) == 0;
    net->norm_segment = strstr(value, "segment") != NULL;
    return 0;
}

/* Sets a metadata value from a number, in the precision the model files have always held. */
static int set_number(vx_net *net, const char *name, double v, vx_error *err)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", v);
    return vx_net_set_meta(net, name, buf, err);
}

/* u8 images: one mean and deviation of value/255 over every pixel. */
static int fit_pixels(vx_net *net, const vx_imageset *d, vx_error *err)
{
    size_t count = d->n * d->dim[0] * d->dim[1] * d->dim[2];
    double s = 0, ss = 0;
    for (size_t i = 0; i < count; i++) {
        double v = d->pixels[i] / 255.0;
        s += v;
        ss += v * v;
    }
    double mean = s / (double)count, var = ss / (double)count - mean * mean;
    if (set_number(net, "input_mean", mean, err) < 0 ||
        set_number(net, "input_std", var > 1e-12 ? sqrt(var) : 1.0, err) < 0)
        return -1;
    return 0;
}

/* Appends "%.6f" values joined by commas to a growing buffer. */
static char *join_numbers(const double *v, int n)
{
    char *text = malloc((size_t)n * 24 + 1), *p = text;
    if (!text)
        return NULL;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s%.6f", i ? "," : "", v[i]);
    return text;
}

int vx_net_fit_input(vx_net *net, const vx_imageset *d, const char *mode, vx_error *err)
{
    if (d->n == 0)
        return vx_fail(err, "no samples to take the input statistics from");
    if (d->dtype == VX_U8) {
        if (mode && strcmp(mode, "scalar") != 0)
            return vx_fail(err, "--norm %s is for real-valued input; these are u8 images", mode);
        return fit_pixels(net, d, err);
    }
    if (!mode)
        mode = "scalar";
    if (vx_net_set_meta(net, "input_norm", mode, err) < 0)
        return -1;
    int H = (int)d->dim[1], bands = net->norm_bands, segment = net->norm_segment;
    int rows = bands ? H : 1;
    double *sum = calloc((size_t)rows * 2, sizeof *sum), *sq = sum ? sum + rows : NULL;
    size_t *count = sum ? calloc((size_t)rows, sizeof *count) : NULL;
    if (!count) {
        free(sum);
        return vx_fail(err, "out of memory");
    }
    for (size_t i = 0; i < d->n; i++) {
        uint32_t W = d->width[i];
        for (uint32_t c = 0; c < d->dim[0]; c++)
            for (int r = 0; r < H; r++) {
                const float *row = d->values + d->start[i] + ((size_t)c * H + (size_t)r) * W;
                double centre = 0;
                if (segment) {
                    for (uint32_t x = 0; x < W; x++)
                        centre += row[x];
                    centre /= W;
                }
                int k = bands ? r : 0;
                for (uint32_t x = 0; x < W; x++) {
                    double v = row[x] - centre;
                    sum[k] += v;
                    sq[k] += v * v;
                }
                count[k] += W;
            }
    }
    double *mean = malloc((size_t)rows * 2 * sizeof *mean), *std = mean ? mean + rows : NULL;
    int rc = mean ? 0 : vx_fail(err, "out of memory");
    for (int k = 0; rc == 0 && k < rows; k++) {
        mean[k] = sum[k] / (double)count[k];
        double var = sq[k] / (double)count[k] - mean[k] * mean[k];
        std[k] = var > 1e-6 ? sqrt(var) : 1.0;
        if (!(fabs(mean[k]) <= 1e6 && std[k] <= 1e6))
            rc = vx_fail(err, "the samples' %smean %g and deviation %g are beyond the 1e6 a model's normalisation "
                              "holds: values this large overflow the network", bands ? "band " : "", mean[k], std[k]);
    }
    if (rc == 0 && !bands)
        rc = set_number(net, "input_mean", mean[0], err) < 0 || set_number(net, "input_std", std[0], err) < 0 ? -1 : 0;
    if (rc == 0 && bands) {
        char *m = join_numbers(mean, rows), *s = join_numbers(std, rows);
        rc = !m || !s ? vx_fail(err, "out of memory")
             : vx_net_set_meta(net, "input_band_mean", m, err) < 0 || vx_net_set_meta(net, "input_band_std", s, err) < 0
                 ? -1
                 : 0;
        free(m);
        free(s);
    }
    free(mean);
    free(sum);
    free(count);
    return rc;
}
