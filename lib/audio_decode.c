/* audio_decode.c — any file libsox reads, decoded to mono f32 at a chosen rate through the same
 * effects chain the sox command builds, so the samples equal `sox IN -t f32 -r R -c 1 -`: whole
 * into one record, or pulled from the chain a piece at a time for files too long to hold. */
#define _POSIX_C_SOURCE 200809L
#include "vx_audio.h"

#include <sox.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* libsox reports failures only through its process-wide message handler, which has no user
 * pointer: the last failure waits here until vx_audio_read puts it into a vx_error. */
static _Thread_local char sox_failure[400];

static void on_sox_message(unsigned level, const char *source_file, const char *fmt, va_list ap)
{
    (void)source_file;
    if (level == 1)
        vsnprintf(sox_failure, sizeof sox_failure, fmt, ap);
}

int vx_audio_begin(vx_error *err)
{
    sox_globals_t *g = sox_get_globals();
    g->output_message_handler = on_sox_message;
    g->verbosity = 1; /* failures only: warnings would be formatted just to be dropped */
    if (sox_init() != SOX_SUCCESS)
        return vx_fail(err, "cannot start libsox");
    return 0;
}

void vx_audio_end(void)
{
    sox_quit();
}

/* ------------------------------------------------------------------ sink */

/* The last effect of the chain: collects samples as f32 into the record's payload. */
struct sink {
    vx_record *r;
    size_t n;    /* samples collected */
    size_t want; /* stop after this many; 0 collects everything */
    size_t max;  /* more than this is an error */
    int full, too_long, no_memory;
};

static int sink_reserve(struct sink *s, size_t samples)
{
    return vx_record_reserve(s->r, samples * sizeof(float), NULL);
}

/* What SOX_SAMPLE_TO_FLOAT_32BIT does when sox writes -t f32: round to 24 bits, scale by 2^-31,
 * 1 for the top 64 values. Every step is exact in float, so the loop can vectorize. */
static void to_f32(const sox_sample_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] > SOX_SAMPLE_MAX - 64 ? 1.0f : (float)((in[i] + 64) & ~127) * (1.0f / 2147483648.0f);
}

static int sink_getopts(sox_effect_t *effp, int argc, char **argv)
{
    if (argc != 2)
        return SOX_EOF;
    memcpy(effp->priv, &argv[1], sizeof(struct sink *));
    return SOX_SUCCESS;
}

static int sink_flow(sox_effect_t *effp, const sox_sample_t *ibuf, sox_sample_t *obuf, size_t *isamp,
                     size_t *osamp)
{
    struct sink *s;
    (void)obuf;
    memcpy(&s, effp->priv, sizeof s);
    *osamp = 0;
    size_t n = *isamp, room = (s->want ? s->want : s->max + 1) - s->n;
    if (n > room)
        n = room;
    if (s->n + n > s->max) {
        s->too_long = 1;
        return SOX_EOF;
    }
    if (!s->want && sink_reserve(s, s->n + n) < 0) {
        /* Grow geometrically so a long file costs few copies. */
        size_t grown = 2 * (s->n + n) < s->max ? 2 * (s->n + n) : s->max;
        if (sink_reserve(s, grown) < 0) {
            s->no_memory = 1;
            return SOX_EOF;
        }
    }
    to_f32(ibuf, (float *)s->r->data + s->n, n);
    s->n += n;
    s->full = s->want && s->n == s->want;
    return SOX_SUCCESS;
}

static const sox_effect_handler_t *sink_handler(void)
{
    static const sox_effect_handler_t handler = {
        "vx-sink", NULL, SOX_EFF_MCHAN, sink_getopts, NULL, sink_flow, NULL, NULL, NULL, sizeof(struct sink *)};
    return &handler;
}

/* Stops the flow once a fixed --length is collected, or when the sink cannot take more. */
static int on_flow(sox_bool all_done, void *data)
{
    const struct sink *s = data;
    (void)all_done;
    return s->full || s->too_long || s->no_memory ? SOX_EOF : SOX_SUCCESS;
}

/* --------------------------------------------------------------- decoding */

static int sox_error(vx_error *err, const char *where, const char *what)
{
    /* Some libsox messages end in ": " with the reason left empty. */
    size_t n = strlen(sox_failure);
    while (n > 0 && (sox_failure[n - 1] == ' ' || sox_failure[n - 1] == ':'))
        n--;
    if (n == 0)
        return vx_fail(err, "%s: %s", where, what);
    return vx_fail(err, "%s: %s (libsox: %.*s)", where, what, (int)n, sox_failure);
}

/* Adds the effect of handler with its arguments; sig follows the signal along the chain. */
static int add_effect(sox_effects_chain_t *chain, const sox_effect_handler_t *handler, int argc, char **argv,
                      sox_signalinfo_t *sig, const sox_signalinfo_t *target)
{
    if (!handler)
        return -1;
    sox_effect_t *e = sox_create_effect(handler);
    if (!e)
        return -1;
    int rc = sox_effect_options(e, argc, argv) == SOX_SUCCESS && sox_add_effect(chain, e, sig, target) == SOX_SUCCESS;
    if (!rc)
        free(e->priv);
    free(e); /* sox_add_effect keeps a copy */
    return rc ? 0 : -1;
}

/* The chain of `sox IN -t f32 -r RATE -c 1 - trim OFFSET [DURATION]`: user effects first, then,
 * as sox.c's add_effects orders them, channels (before rate, since it lowers the count) and rate;
 * then the sink when s is non-NULL (the streaming decoder pulls from the chain's end instead). */
static int build_chain(sox_effects_chain_t *chain, sox_format_t *in, const vx_decode_opts *o, struct sink *s,
                       const char *where, vx_error *err)
{
    sox_signalinfo_t sig = in->signal, target = in->signal;
    target.channels = 1;
    target.rate = (sox_rate_t)o->rate;
    target.length = SOX_UNKNOWN_LEN;
    char *input_args[1] = {(char *)in}, *sink_args[1] = {(char *)s};
    if (add_effect(chain, sox_find_effect("input"), 1, input_args, &sig, &target) < 0)
        return sox_error(err, where, "cannot start the libsox input");
    if (o->offset > 0 || o->duration > 0) {
        char start[40], length[40];
        char *trim_args[2] = {start, length};
        snprintf(start, sizeof start, "%.17g", o->offset);
        snprintf(length, sizeof length, "%.17g", o->duration);
        if (add_effect(chain, sox_find_effect("trim"), o->duration > 0 ? 2 : 1, trim_args, &sig, &target) < 0)
            return sox_error(err, where, "cannot set up libsox trim");
    }
    if (sig.channels != 1 && add_effect(chain, sox_find_effect("channels"), 0, NULL, &sig, &target) < 0)
        return sox_error(err, where, "cannot set up libsox channels");
    if (sig.rate != target.rate && add_effect(chain, sox_find_effect("rate"), 0, NULL, &sig, &target) < 0)
        return sox_error(err, where, "cannot set up libsox rate");
    if (s && add_effect(chain, sink_handler(), 1, sink_args, &sig, &target) < 0)
        return sox_error(err, where, "cannot set up the libsox output");
    return 0;
}

static int collect(sox_format_t *in, const vx_decode_opts *o, struct sink *s, const char *where, vx_error *err)
{
    sox_encodinginfo_t f32 = {SOX_ENCODING_FLOAT, 32, 0, sox_option_default, sox_option_default,
                              sox_option_default, sox_false};
    sox_effects_chain_t *chain = sox_create_effects_chain(&in->encoding, &f32);
    if (!chain)
        return vx_fail(err, "%s: out of memory starting libsox", where);
    int rc = build_chain(chain, in, o, s, where, err);
    if (rc == 0) {
        sox_flow_effects(chain, on_flow, s);
        if (s->no_memory)
            rc = vx_fail(err, "%s: out of memory for %zu samples", where, s->n);
        else if (s->too_long)
            rc = vx_fail(err, "%s: more than %zu samples (use --duration or --length)", where, s->max);
        else if (in->sox_errno)
            rc = vx_fail(err, "%s: %s", where, in->sox_errstr);
        else if (sox_failure[0])
            rc = sox_error(err, where, "decoding failed");
        else if (s->n == 0 && !s->want)
            rc = vx_fail(err, "%s: no audio samples decoded", where);
    }
    sox_delete_effects_chain(chain);
    return rc;
}

/* libsox tells MP3 from its content only when it has an ID3 tag, and otherwise goes by the file
 * name's extension, which stdin has not: an MPEG audio frame header names the type for it. */
static const char *type_hint(const char *path, const void *data, size_t size)
{
    unsigned char head[3] = {0};
    if (data) {
        memcpy(head, data, size < 3 ? size : 3);
    } else {
        FILE *f = fopen(path, "rb");
        if (!f)
            return NULL;
        size = fread(head, 1, 3, f);
        fclose(f);
    }
    int id3 = size >= 3 && memcmp(head, "ID3", 3) == 0;
    int frame = size >= 3 && head[0] == 0xff && (head[1] & 0xe0) == 0xe0 && (head[1] & 0x06) != 0 &&
                (head[2] & 0xf0) != 0xf0;
    return id3 || frame ? "mp3" : NULL;
}

/* Room for the whole output at once, from the length libsox expects, saves growing the payload
 * (each step touching fresh pages) while decoding. */
static size_t expected_samples(const sox_format_t *in, const vx_decode_opts *o, size_t max)
{
    double frames = 65536;
    if (in->signal.length != SOX_UNSPEC && in->signal.length != SOX_UNKNOWN_LEN)
        frames = (double)in->signal.length / in->signal.channels * (double)o->rate / in->signal.rate + 4096;
    if (o->duration > 0 && frames > o->duration * (double)o->rate + 4096)
        frames = o->duration * (double)o->rate + 4096;
    return frames < (double)max ? (size_t)frames : max;
}

int vx_audio_read(const char *path, const void *data, size_t size, const vx_decode_opts *o, vx_record *r,
                  vx_error *err)
{
    const char *where = vx_input_name(path);
    const char *type = type_hint(path, data, size);
    sox_failure[0] = '\0';
    sox_format_t *in = data ? sox_open_mem_read((void *)data, size, NULL, NULL, type)
                            : sox_open_read(path, NULL, NULL, type);
    if (!in)
        return sox_error(err, where, "not an image, nor audio libsox can read");
    if (in->signal.channels == 0 || in->signal.rate <= 0) {
        sox_close(in);
        return vx_fail(err, "%s: audio without channels or sample rate", where);
    }
    /* One dimension and the payload limit bound the samples. */
    size_t max = VX_MAX_PAYLOAD / sizeof(float) < VX_MAX_DIM ? VX_MAX_PAYLOAD / sizeof(float) : VX_MAX_DIM;
    struct sink s = {.r = r, .want = (size_t)o->length, .max = max};
    int rc = 0;
    if (s.want > max)
        rc = vx_fail(err, "%s: --length %zu is above %zu samples", where, s.want, max);
    else if (sink_reserve(&s, s.want ? s.want : expected_samples(in, o, max)) < 0)
        rc = vx_fail(err, "%s: out of memory", where);
    if (rc == 0)
        rc = collect(in, o, &s, where, err);
    char source[32];
    snprintf(source, sizeof source, "%s", in->filetype ? in->filetype : "audio");
    sox_close(in);
    if (rc < 0)
        return -1;

    /* A fixed length pads the end with silence. */
    for (size_t i = s.n; i < s.want; i++)
        ((float *)r->data)[i] = 0.0f;
    uint32_t dim[1] = {(uint32_t)(s.want ? s.want : s.n)};
    char rate[32];
    vx_error why;
    snprintf(rate, sizeof rate, "%ld", o->rate);
    if (vx_record_shape(r, VX_F32, 1, dim, &why) < 0 || vx_record_set_meta(r, "source", source, &why) < 0 ||
        vx_record_set_meta(r, "rate", rate, &why) < 0)
        return vx_fail(err, "%s: %s", where, why.msg);
    return 0;
}

/* ------------------------------------------------------ streaming decode */

/* sox_flow_effects pushes a whole file through the chain and cannot be resumed, so the stream
 * drives the same effects itself, pulling: an effect's output buffer is refilled by flowing its
 * upstream's output through it, or, once upstream is spent (or the effect said it is done, as
 * trim does), by draining it; the first effect, libsox's "input", drains the file. The effects
 * see the same samples in the same order, so the output equals vx_audio_read's bit for bit. */
struct vx_audio_stream {
    sox_format_t *in;
    sox_effects_chain_t *chain;
    size_t neffects;
    sox_sample_t **obuf; /* [neffects][bufsiz] each effect's output */
    size_t *obeg, *oend; /* what of obuf[e] is still to be taken */
    unsigned char *draining, *spent; /* effect e takes no more input / gives no more output */
    size_t bufsiz;
    size_t want, given; /* --length: samples to give in all (0: what the file has), given so far */
    size_t chunks;      /* records made by vx_audio_next_chunk */
    long rate;
    char where[512], source[32];
};

void vx_audio_close(vx_audio_stream *s)
{
    if (!s)
        return;
    if (s->chain)
        sox_delete_effects_chain(s->chain);
    if (s->in)
        sox_close(s->in);
    for (size_t e = 0; s->obuf && e < s->neffects; e++)
        free(s->obuf[e]);
    free(s->obuf);
    free(s->obeg);
    free(s->oend);
    free(s->draining);
    free(s->spent);
    free(s);
}

int vx_audio_open(vx_audio_stream **out, const char *path, const void *data, size_t size,
                  const vx_decode_opts *o, vx_error *err)
{
    *out = NULL;
    const char *where = vx_input_name(path);
    if (!data && vx_is_stdin(path))
        return vx_fail(err, "stdin: the streaming decoder reads files, not standard input");
    vx_audio_stream *s = vx_calloc(1, sizeof *s, err);
    if (!s)
        return -1;
    snprintf(s->where, sizeof s->where, "%s", where);
    s->rate = o->rate;
    s->want = o->length > 0 ? (size_t)o->length : 0;
    sox_failure[0] = '\0';
    const char *type = type_hint(path, data, size);
    s->in = data ? sox_open_mem_read((void *)data, size, NULL, NULL, type) : sox_open_read(path, NULL, NULL, type);
    if (!s->in) {
        vx_audio_close(s);
        return sox_error(err, where, "not an image, nor audio libsox can read");
    }
    if (s->in->signal.channels == 0 || s->in->signal.rate <= 0) {
        vx_audio_close(s);
        return vx_fail(err, "%s: audio without channels or sample rate", where);
    }
    snprintf(s->source, sizeof s->source, "%s", s->in->filetype ? s->in->filetype : "audio");
    static const sox_encodinginfo_t f32 = {SOX_ENCODING_FLOAT, 32, 0, sox_option_default, sox_option_default,
                                           sox_option_default, sox_false};
    s->chain = sox_create_effects_chain(&s->in->encoding, &f32);
    if (!s->chain || build_chain(s->chain, s->in, o, NULL, where, err) < 0) {
        if (!s->chain)
            vx_fail(err, "%s: out of memory starting libsox", where);
        vx_audio_close(s);
        return -1;
    }
    s->neffects = s->chain->length;
    s->bufsiz = sox_get_globals()->bufsiz;
    s->obuf = vx_calloc(s->neffects, sizeof *s->obuf, err);
    s->obeg = vx_calloc(s->neffects, sizeof *s->obeg, err);
    s->oend = vx_calloc(s->neffects, sizeof *s->oend, err);
    s->draining = vx_calloc(s->neffects, 1, err);
    s->spent = vx_calloc(s->neffects, 1, err);
    if (!s->obuf || !s->obeg || !s->oend || !s->draining || !s->spent) {
        vx_audio_close(s);
        return -1;
    }
    for (size_t e = 0; e < s->neffects; e++) {
        /* After channels every effect sees one channel, and trim and input take all channels at
         * once: each effect runs as one flow, which is all this driver does. */
        if (s->chain->effects[e][0].flows != 1 || !(s->obuf[e] = vx_malloc(s->bufsiz * sizeof **s->obuf, err))) {
            if (s->obuf[e])
                vx_fail(err, "%s: libsox effect %s runs per channel", where, s->chain->effects[e][0].handler.name);
            vx_audio_close(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

/* Makes effect e's output buffer hold something, unless the effect is spent. */
static int pull(vx_audio_stream *s, size_t e, vx_error *err)
{
    while (s->obeg[e] == s->oend[e] && !s->spent[e]) {
        sox_effect_t *effp = &s->chain->effects[e][0];
        size_t osamp = s->bufsiz;
        int rc;
        s->obeg[e] = s->oend[e] = 0;
        if (e > 0 && !s->draining[e]) {
            if (pull(s, e - 1, err) < 0)
                return -1;
            if (s->obeg[e - 1] == s->oend[e - 1]) {
                s->draining[e] = 1; /* upstream is spent */
                continue;
            }
            size_t isamp = s->oend[e - 1] - s->obeg[e - 1];
            rc = effp->handler.flow(effp, s->obuf[e - 1] + s->obeg[e - 1], s->obuf[e], &isamp, &osamp);
            if (isamp == 0 && osamp == 0 && rc == SOX_SUCCESS)
                return vx_fail(err, "%s: libsox effect %s took and gave nothing", s->where, effp->handler.name);
            s->obeg[e - 1] += isamp;
            s->draining[e] = rc != SOX_SUCCESS;
        } else {
            rc = effp->handler.drain(effp, s->obuf[e], &osamp);
            s->spent[e] = rc != SOX_SUCCESS || osamp == 0;
        }
        s->oend[e] = osamp;
    }
    return 0;
}

int vx_audio_stream_read(vx_audio_stream *s, float *buf, size_t max, size_t *got, vx_error *err)
{
    size_t n = 0, last = s->neffects - 1;
    *got = 0;
    while (n < max && (!s->want || s->given + n < s->want)) {
        if (pull(s, last, err) < 0)
            return -1;
        size_t avail = s->oend[last] - s->obeg[last];
        if (avail == 0) {
            if (s->in->sox_errno)
                return vx_fail(err, "%s: %s", s->where, s->in->sox_errstr);
            if (sox_failure[0])
                return sox_error(err, s->where, "decoding failed");
            if (!s->want)
                break;
            /* A fixed length pads the end with silence. */
            size_t pad = s->want - s->given - n < max - n ? s->want - s->given - n : max - n;
            memset(buf + n, 0, pad * sizeof *buf);
            n += pad;
            continue;
        }
        size_t take = avail < max - n ? avail : max - n;
        if (s->want && take > s->want - s->given - n)
            take = s->want - s->given - n;
        to_f32(s->obuf[last] + s->obeg[last], buf + n, take);
        s->obeg[last] += take;
        n += take;
    }
    if (n == 0 && s->given == 0 && max > 0)
        return vx_fail(err, "%s: no audio samples decoded", s->where);
    s->given += n;
    *got = n;
    return n > 0;
}

const char *vx_audio_stream_source(const vx_audio_stream *s)
{
    return s->source;
}

int vx_audio_next_chunk(vx_audio_stream *s, const char *key, size_t samples, vx_record *r, vx_error *err)
{
    if (samples == 0 || samples > VX_MAX_DIM)
        return vx_fail(err, "%s: chunks of %zu samples (1..%u)", s->where, samples, (unsigned)VX_MAX_DIM);
    if (vx_record_reserve(r, samples * sizeof(float), err) < 0)
        return -1;
    size_t n = 0, got;
    int rc;
    while (n < samples && (rc = vx_audio_stream_read(s, (float *)r->data + n, samples - n, &got, err)) == 1)
        n += got;
    if (n < samples && rc < 0)
        return -1;
    if (n == 0)
        return 0;
    uint32_t dim[1] = {(uint32_t)n};
    char v[32];
    vx_error why;
    if (r->meta)
        r->meta[0] = '\0';
    r->label = VX_NO_LABEL;
    int bad = vx_record_shape(r, VX_F32, 1, dim, &why) < 0 || vx_record_set_key(r, key, &why) < 0 ||
              vx_record_set_meta(r, "source", s->source, &why) < 0;
    snprintf(v, sizeof v, "%ld", s->rate);
    bad = bad || vx_record_set_meta(r, "rate", v, &why) < 0;
    snprintf(v, sizeof v, "%zu", s->chunks);
    bad = bad || vx_record_set_meta(r, "chunk", v, &why) < 0;
    snprintf(v, sizeof v, "%zu", s->given - n);
    bad = bad || vx_record_set_meta(r, "offset", v, &why) < 0;
    if (bad)
        return vx_fail(err, "%s: %s", s->where, why.msg);
    s->chunks++;
    return 1;
}

int vx_audio_sniff_file(const char *path, vx_error *err)
{
    unsigned char head[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return vx_fail(err, "%s: cannot open: %s", path, strerror(errno));
    size_t n = fread(head, 1, sizeof head, f);
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return vx_fail(err, "%s: read error", path);
    if (n == 0)
        return vx_fail(err, "%s: empty file", path);
    return vx_media_sniff(head, n) == VX_MEDIA_OTHER;
}
