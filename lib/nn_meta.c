/* nn_meta.c — a network's metadata (formats/model.md): the text it keeps, and the rule each known
 * key obeys, applied when it is set, whether by vx-train or from a model file. */
#define _POSIX_C_SOURCE 200809L
#include "nn.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *vx_net_get_meta(const vx_net *net, const char *name)
{
    if (strcmp(name, "arch") == 0)
        return net->arch;
    for (int i = 0; i < net->nmeta; i++)
        if (strcmp(net->meta_key[i], name) == 0)
            return net->meta_value[i];
    return NULL;
}

/* A whole non-empty string as a number within [lo, hi]. */
static int meta_number(const char *value, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    if (end == value || *end || errno == ERANGE || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* A whole non-empty string of decimal digits. */
static int meta_count(const char *value)
{
    size_t n = strspn(value, "0123456789");
    return n > 0 && n <= 19 && !value[n] ? 0 : -1;
}

/* classes=: one name per output of the network, none of them empty, repeated or longer than 63
 * bytes, no control characters (they travel in stream metadata lines and tab-separated text). */
static int check_classes(const vx_net *net, const char *value, vx_error *err)
{
    int want = net->layer[net->nlayers - 1].c, have = vx_classes_count(value);
    if (have != want)
        return vx_fail(err, "metadata classes '%s': %d names for %d outputs", value, have, want);
    for (const char *p = value;; p++) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 63)
            return vx_fail(err, "metadata classes '%s': a name is empty or longer than 63 bytes", value);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
                return vx_fail(err, "metadata classes: a name holds a control character");
        for (const char *q = value; q < p; q += strcspn(q, ",") + 1)
            if (strcspn(q, ",") == len && strncmp(q, p, len) == 0)
                return vx_fail(err, "metadata classes '%s': '%.*s' appears twice", value, (int)len, p);
        p += len;
        if (!*p)
            return 0;
    }
}

/* The rule each known metadata value obeys (formats/model.md); unknown keys are kept as text. */
static int check_meta(const vx_net *net, const char *name, const char *value, vx_error *err)
{
    static const char *const counts[] = {"seed", "epochs", "best_epoch", "train_images", "checkpoint_epoch",
                                         "checkpoint_step", "adapted_inputs"};
    static const char *const fractions[] = {"train_acc", "val_acc", "best_val_acc"};
    double v;
    if (strcmp(name, "input_mean") == 0 && meta_number(value, -1e6, 1e6, &v) < 0)
        return vx_fail(err, "metadata input_mean: '%s' is not a number from -1e6 to 1e6", value);
    if (strcmp(name, "input_std") == 0 && meta_number(value, 1e-6, 1e6, &v) < 0)
        return vx_fail(err, "metadata input_std: '%s' is not a number from 1e-6 to 1e6", value);
    if (strcmp(name, "classes") == 0)
        return check_classes(net, value, err);
    if (strcmp(name, "augment") == 0 && strcmp(value, "audio") && strcmp(value, "image") && strcmp(value, "none"))
        return vx_fail(err, "metadata augment: '%s' is not audio, image or none", value);
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (strcmp(name, counts[i]) == 0 && meta_count(value) < 0)
            return vx_fail(err, "metadata %s: '%s' is not a whole number", name, value);
    for (size_t i = 0; i < sizeof fractions / sizeof fractions[0]; i++)
        if (strcmp(name, fractions[i]) == 0 && meta_number(value, 0, 1, &v) < 0)
            return vx_fail(err, "metadata %s: '%s' is not a fraction from 0 to 1", name, value);
    /* A band edge may be 0 Hz (fmin, or fmax meaning half the rate); everything else is positive. */
    int edge = strcmp(name, "spectro_fmin") == 0 || strcmp(name, "spectro_fmax") == 0;
    if (strncmp(name, "spectro_", 8) == 0 && meta_number(value, edge ? 0 : 1e-6, 1e9, &v) < 0)
        return vx_fail(err, "metadata %s: '%s' is not a %s number", name, value, edge ? "non-negative" : "positive");
    return 0;
}

int vx_net_set_meta(vx_net *net, const char *name, const char *value, vx_error *err)
{
    if (strcmp(name, "arch") == 0)
        return vx_fail(err, "metadata 'arch' is the architecture and cannot be set");
    if (!name[0] || strchr(name, '='))
        return vx_fail(err, "metadata name '%s' is empty or holds '='", name);
    if (check_meta(net, name, value, err) < 0)
        return -1;
    if (strcmp(name, "input_mean") == 0 || strcmp(name, "input_std") == 0)
        *(name[6] == 's' ? &net->in_std : &net->in_mean) = strtof(value, NULL);
    if ((strcmp(name, "input_norm") == 0 || strcmp(name, "input_band_mean") == 0 ||
         strcmp(name, "input_band_std") == 0) && nn_set_norm_meta(net, name, value, err) < 0)
        return -1;
    vx_views views; /* how the model is meant to be run: refused here, so no file can hold a bad one */
    if (strcmp(name, "views") == 0 && vx_views_parse(value, &views, err) < 0)
        return -1;
    int i = 0;
    while (i < net->nmeta && strcmp(net->meta_key[i], name) != 0)
        i++;
    if (i == NN_MAX_META)
        return vx_fail(err, "more than %d metadata entries", NN_MAX_META);
    char *v = strdup(value), *k = i == net->nmeta ? strdup(name) : NULL;
    if (!v || (i == net->nmeta && !k)) {
        free(v);
        free(k);
        return vx_fail(err, "out of memory");
    }
    if (i == net->nmeta) {
        net->meta_key[i] = k;
        net->nmeta++;
    } else {
        free(net->meta_value[i]);
    }
    net->meta_value[i] = v;
    return 0;
}

