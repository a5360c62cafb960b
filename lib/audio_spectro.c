/* audio_spectro.c — log-mel spectrograms as librosa makes them (center=False, Slaney mel, power in
 * dB), computed frame by frame as samples stream in and handed out one segment record at a time. */
#define _POSIX_C_SOURCE 200809L
#include "vx_audio.h"

#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DB_FLOOR (-100.0f) /* 10 log10(1e-10): power_to_db's amin */
#define PI 3.14159265358979323846

void vx_spectro_opts_init(vx_spectro_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rate = 22050;
    o->n_fft = 2048;
    o->hop = 512;
    o->mels = 96;
}

/* ------------------------------------------------------- the mel scale */

/* Slaney's Auditory Toolbox scale: 3 mels per 200 Hz up to 1 kHz, then 27 mels per factor 6.4. */
#define MEL_SP (200.0 / 3.0)
#define MEL_BREAK_HZ 1000.0
#define MEL_BREAK (MEL_BREAK_HZ / MEL_SP)

static double mel_logstep(void)
{
    return log(6.4) / 27.0;
}

double vx_mel_from_hz(double hz)
{
    if (hz >= MEL_BREAK_HZ)
        return MEL_BREAK + log(hz / MEL_BREAK_HZ) / mel_logstep();
    return hz / MEL_SP;
}

double vx_hz_from_mel(double mel)
{
    if (mel >= MEL_BREAK)
        return MEL_BREAK_HZ * exp(mel_logstep() * (mel - MEL_BREAK));
    return MEL_SP * mel;
}

static double effective_fmax(const vx_spectro_opts *o)
{
    return o->fmax > 0 ? o->fmax : (double)o->rate / 2;
}

/* Band i's weight on FFT bin k, as librosa.filters.mel: the triangle over mel edges i, i+1, i+2
 * (placed evenly on the mel scale, as np.linspace places them), scaled by 2 / (width in Hz). */
static void band_edges(const vx_spectro_opts *o, double *edges)
{
    double lo = vx_mel_from_hz(o->fmin), hi = vx_mel_from_hz(effective_fmax(o));
    long n = o->mels + 2;
    double step = (hi - lo) / (double)(n - 1);
    for (long i = 0; i < n; i++)
        edges[i] = vx_hz_from_mel(i == n - 1 ? hi : (double)i * step + lo);
}

static double band_weight(const double *edges, long i, double freq)
{
    double lower = (freq - edges[i]) / (edges[i + 1] - edges[i]);
    double upper = (edges[i + 2] - freq) / (edges[i + 2] - edges[i + 1]);
    double w = lower < upper ? lower : upper;
    return w > 0 ? w * 2.0 / (edges[i + 2] - edges[i]) : 0.0;
}

static double bin_freq(const vx_spectro_opts *o, long k)
{
    return (double)k * ((double)o->rate / (double)o->n_fft);
}

/* The FFT bins band i can weigh: those between its outer edges, with a bin to spare either side
 * for rounding; band_weight is 0 beyond them. Only these are computed, a few dozen bins a band
 * instead of all of them: a maker's set-up was a good part of a short song's cost. */
static void band_bins(const vx_spectro_opts *o, const double *edges, long i, long *first, long *last)
{
    double spacing = (double)o->rate / (double)o->n_fft;
    long nbins = o->n_fft / 2 + 1;
    long a = (long)floor(edges[i] / spacing) - 1, b = (long)ceil(edges[i + 2] / spacing) + 1;
    *first = a < 0 ? 0 : a;
    *last = b > nbins - 1 ? nbins - 1 : b;
}

int vx_spectro_check(const vx_spectro_opts *o, long *segment_frames, long *segment_hop_frames, vx_error *err)
{
    if (o->rate < 1000 || o->rate > 384000)
        return vx_fail(err, "rate %ld Hz out of range (1000..384000)", o->rate);
    if (o->n_fft < 16 || o->n_fft > 65536 || o->n_fft % 2)
        return vx_fail(err, "--n-fft %ld out of range (an even number, 16..65536)", o->n_fft);
    if (o->hop < 1 || o->hop > o->n_fft)
        return vx_fail(err, "--hop %ld out of range (1..n_fft = %ld)", o->hop, o->n_fft);
    if (o->mels < 1 || o->mels > 1024)
        return vx_fail(err, "--mels %ld out of range (1..1024)", o->mels);
    double fmax = effective_fmax(o);
    if (fmax > (double)o->rate / 2)
        return vx_fail(err, "--fmax %g above half the rate (%g Hz)", fmax, (double)o->rate / 2);
    if (!(o->fmin >= 0) || !(o->fmin < fmax))
        return vx_fail(err, "--fmin %g out of range (0 up to below fmax = %g Hz)", o->fmin, fmax);
    long seg = 0, shop = 0;
    if (o->segment > 0) {
        double f = round(o->segment * (double)o->rate / (double)o->hop);
        /* A record's payload limit bounds a segment. */
        double most = (double)(VX_MAX_PAYLOAD / sizeof(float)) / (double)o->mels;
        if (f < 1 || f > most)
            return vx_fail(err, "--segment %g s is %.0f frames, out of range (1..%.0f frames of %ld samples at %ld Hz)",
                           o->segment, f, most, o->hop, o->rate);
        seg = (long)f;
        double h = o->segment_hop > 0 ? round(o->segment_hop * (double)o->rate / (double)o->hop) : f;
        if (h < 1 || h > 1e9)
            return vx_fail(err, "--segment-hop %g s is %.0f frames, out of range (at least 1)", o->segment_hop, h);
        shop = (long)h;
    } else if (o->segment_hop > 0) {
        return vx_fail(err, "--segment-hop needs --segment");
    }
    /* A band with no bin in it would be a row of silence whatever the sound: refused. */
    double *edges = malloc((size_t)(o->mels + 2) * sizeof *edges);
    if (!edges)
        return vx_fail(err, "out of memory");
    band_edges(o, edges);
    long empty = -1;
    for (long i = 0; i < o->mels && empty < 0; i++) {
        long k, last;
        band_bins(o, edges, i, &k, &last);
        while (k <= last && band_weight(edges, i, bin_freq(o, k)) <= 0)
            k++;
        if (k > last)
            empty = i;
    }
    free(edges);
    if (empty >= 0)
        return vx_fail(err, "--mels %ld is too many for --n-fft %ld between %g and %g Hz: band %ld holds no FFT bin",
                       o->mels, o->n_fft, o->fmin, fmax, empty);
    if (segment_frames)
        *segment_frames = seg;
    if (segment_hop_frames)
        *segment_hop_frames = shop;
    return 0;
}

int vx_spectro_filterbank(const vx_spectro_opts *o, float *w, vx_error *err)
{
    if (vx_spectro_check(o, NULL, NULL, err) < 0)
        return -1;
    double *edges = malloc((size_t)(o->mels + 2) * sizeof *edges);
    if (!edges)
        return vx_fail(err, "out of memory");
    band_edges(o, edges);
    long nbins = o->n_fft / 2 + 1;
    memset(w, 0, (size_t)o->mels * (size_t)nbins * sizeof *w);
    for (long i = 0; i < o->mels; i++) {
        long first, last;
        band_bins(o, edges, i, &first, &last);
        for (long k = first; k <= last; k++)
            w[i * nbins + k] = (float)band_weight(edges, i, bin_freq(o, k));
    }
    free(edges);
    return 0;
}

/* ------------------------------------------------------ the maker */

struct band {
    long first, n;       /* bins first .. first+n-1 */
    const float *weight; /* n weights */
};

struct vx_spectro {
    vx_spectro_opts o;
    long seg, seg_hop; /* frames per segment and between segment starts; 0 in whole-song mode */
    long nbins;        /* n_fft/2 + 1 */
    float *window;     /* [n_fft] periodic Hann */
    float *frame;      /* [n_fft] windowed samples, FFTW's input */
    fftwf_complex *spectrum; /* [n_fft/2] FFTW's output */
    fftwf_plan plan;
    float *cosine, *sine;    /* [n_fft/4 + 1] cos and sin of 2 pi k / n_fft */
    struct band *bands; /* [mels] */
    float *weights;     /* the bands' weights, back to back */
    float *power;       /* [nbins] */
    long top;           /* the highest bin any band reads: power is made up to it only */
    float *total;       /* [mels rounded up to 8] each band's power in the frame */

    float *buf;   /* [n_fft]: the samples of the next frame gathered so far */
    size_t buf_n;
    const float *in; /* the piece being used: in[in_used .. in_n) still to go */
    size_t in_n, in_used;

    float *ring;      /* [ring_cap][mels] dB frames, frame t at row t % ring_cap */
    size_t ring_cap;
    size_t frames;    /* frames computed this song */
    size_t next_seg;  /* the next segment to give */
    size_t samples;   /* samples fed this song */
    size_t records;   /* records given this song */
    int started, finished, done, spoilt;
    char *key;
};

void vx_spectro_free(vx_spectro *s)
{
    if (!s)
        return;
    if (s->plan)
        fftwf_destroy_plan(s->plan);
    fftwf_free(s->frame);
    fftwf_free(s->spectrum);
    free(s->window);
    free(s->cosine);
    free(s->sine);
    free(s->bands);
    free(s->weights);
    free(s->power);
    free(s->total);
    free(s->buf);
    free(s->ring);
    free(s->key);
    free(s);
}

/* Each band's weights, only over the bins under its triangle (a few for a low band, a few dozen
 * for a high one): the rows of vx_spectro_filterbank without their zeros, computed alike. The
 * whole matrix, mostly zeros, took a good part of a short song's cost to make and to scan. */
static int make_bands(vx_spectro *s, vx_error *err)
{
    const vx_spectro_opts *o = &s->o;
    double *edges = vx_malloc((size_t)(o->mels + 2) * sizeof *edges, err);
    s->bands = vx_calloc((size_t)o->mels, sizeof *s->bands, err);
    if (!edges || !s->bands) {
        free(edges);
        return -1;
    }
    band_edges(o, edges);
    size_t most = 0;
    for (long i = 0; i < o->mels; i++) {
        long first, last;
        band_bins(o, edges, i, &first, &last);
        most += (size_t)(last - first + 1);
    }
    float *w = s->weights = vx_malloc(most * sizeof *s->weights, err);
    if (!w) {
        free(edges);
        return -1;
    }
    for (long i = 0; i < o->mels; i++) {
        long first, last;
        band_bins(o, edges, i, &first, &last);
        while (first <= last && (float)band_weight(edges, i, bin_freq(o, first)) == 0)
            first++;
        while (last >= first && (float)band_weight(edges, i, bin_freq(o, last)) == 0)
            last--;
        struct band *b = &s->bands[i];
        b->first = first;
        b->n = last - first + 1;
        b->weight = w;
        for (long k = first; k <= last; k++)
            *w++ = (float)band_weight(edges, i, bin_freq(o, k));
        if (b->n > 0 && last > s->top)
            s->top = last;
    }
    free(edges);
    return 0;
}

int vx_spectro_new(vx_spectro **out, const vx_spectro_opts *o, vx_error *err)
{
    *out = NULL;
    vx_spectro *s = vx_calloc(1, sizeof *s, err);
    if (!s)
        return -1;
    s->o = *o;
    if (vx_spectro_check(o, &s->seg, &s->seg_hop, err) < 0) {
        free(s);
        return -1;
    }
    size_t n = (size_t)o->n_fft;
    s->nbins = o->n_fft / 2 + 1;
    s->window = vx_malloc(n * sizeof *s->window, err);
    s->buf = vx_malloc(n * sizeof *s->buf, err);
    s->power = vx_malloc((size_t)s->nbins * sizeof *s->power, err);
    s->total = vx_calloc((size_t)(o->mels + 7) / 8 * 8, sizeof *s->total, err);
    s->frame = fftwf_alloc_real(n);
    s->spectrum = fftwf_alloc_complex(n / 2);
    s->cosine = vx_malloc((n / 4 + 1) * sizeof *s->cosine, err);
    s->sine = vx_malloc((n / 4 + 1) * sizeof *s->sine, err);
    if (!s->window || !s->buf || !s->power || !s->total || !s->frame || !s->spectrum || !s->cosine ||
        !s->sine ||
        make_bands(s, err) < 0) {
        vx_spectro_free(s);
        return vx_fail(err, "out of memory for the spectrogram maker");
    }
    /* scipy's hann(n, sym=False): one period of a cosine over n + 1 points, the last left out. */
    for (size_t i = 0; i < n; i++)
        s->window[i] = (float)(0.5 - 0.5 * cos(2.0 * PI * (double)i / (double)n));
    for (size_t k = 0; k <= n / 4; k++) {
        s->cosine[k] = (float)cos(2.0 * PI * (double)k / (double)n);
        s->sine[k] = (float)sin(2.0 * PI * (double)k / (double)n);
    }
    /* The real FFT of n points as a complex one of n/2 (the frame's even samples as real parts,
     * odd ones as imaginary: its own layout), untangled in power_spectrum: FFTW_ESTIMATE plans
     * that twice as fast as its real-input FFT. ESTIMATE picks the algorithm without timing, so
     * every run computes the same floats. */
    s->plan = fftwf_plan_dft_1d((int)(n / 2), (fftwf_complex *)s->frame, s->spectrum, FFTW_FORWARD, FFTW_ESTIMATE);
    if (!s->plan) {
        vx_spectro_free(s);
        return vx_fail(err, "FFTW cannot plan an FFT of %ld points", o->n_fft);
    }
    if (s->seg) {
        s->ring_cap = (size_t)s->seg;
        if (!(s->ring = vx_malloc(s->ring_cap * (size_t)o->mels * sizeof *s->ring, err))) {
            vx_spectro_free(s);
            return -1;
        }
    }
    *out = s;
    return 0;
}

int vx_spectro_reset(vx_spectro *s, const char *key, vx_error *err)
{
    char *k = strdup(key ? key : "");
    if (!k)
        return vx_fail(err, "out of memory");
    free(s->key);
    s->key = k;
    s->buf_n = 0;
    s->in = NULL;
    s->in_n = s->in_used = 0;
    s->frames = s->next_seg = s->samples = s->records = 0;
    s->finished = s->done = s->spoilt = 0;
    s->started = 1;
    return 0;
}

int vx_spectro_feed(vx_spectro *s, const float *samples, size_t n, vx_error *err)
{
    if (!s->started)
        return vx_fail(err, "vx_spectro_feed before vx_spectro_reset");
    if (s->spoilt)
        return vx_fail(err, "%s: an earlier error spoilt this song", s->key);
    if (s->finished)
        return vx_fail(err, "%s: fed after vx_spectro_finish (reset for the next song)", s->key);
    if (s->in_used < s->in_n)
        return vx_fail(err, "%s: fed before the last piece was used up (vx_spectro_next until 0)", s->key);
    /* Checked a block at a time without branching, since nearly every song is clean. */
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t bad = 0, bits;
        for (size_t j = 0; j < 64; j++) {
            memcpy(&bits, samples + i + j, sizeof bits);
            bad |= (bits & 0x7f800000u) == 0x7f800000u;
        }
        if (bad)
            break;
    }
    for (; i < n; i++)
        if (!isfinite(samples[i])) {
            s->spoilt = 1;
            return vx_fail(err, "%s: sample %zu is %s", s->key, s->samples + i,
                           isnan(samples[i]) ? "NaN" : "infinite");
        }
    s->in = samples;
    s->in_n = n;
    s->in_used = 0;
    s->samples += n;
    return 0;
}

int vx_spectro_finish(vx_spectro *s, vx_error *err)
{
    if (!s->started)
        return vx_fail(err, "vx_spectro_finish before vx_spectro_reset");
    s->finished = 1;
    return 0;
}

size_t vx_spectro_samples(const vx_spectro *s) { return s->samples; }
size_t vx_spectro_frames(const vx_spectro *s) { return s->frames; }
size_t vx_spectro_records(const vx_spectro *s) { return s->records; }

/* Eight floats at a time through GCC's and clang's vector extensions: the build's -O2 leaves
 * these loops scalar, and they were over half of vx-spectro's time beside the FFT. */
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* out[0..8) = 10 log10(max(in, 1e-10)), the floor exactly -100 (vectors pass through memory, not
 * by value, whose ABI would depend on -mavx): x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), ln m = 2 atanh(z), z = (m-1)/(m+1), |z| < 0.172, by its series to z^11
 * (truncation below 1e-10; float rounding gives about 1e-5 dB at the floor, 1e-6 near 0 dB). */
static void db8(const float *in, float *out)
{
    v8f x;
    memcpy(&x, in, sizeof x);
    const v8f floor_x = {1e-10f, 1e-10f, 1e-10f, 1e-10f, 1e-10f, 1e-10f, 1e-10f, 1e-10f};
    v8i live = x > floor_x;                      /* -1 where above the floor, 0 elsewhere */
    v8f livef = __builtin_convertvector(-live, v8f); /* 1 or 0 */
    x = x * livef + floor_x * (1 - livef);
    v8i bits;
    memcpy(&bits, &x, sizeof bits);
    v8i e = ((bits >> 23) & 0xff) - 127;
    bits = (bits & 0x7fffff) | 0x3f800000; /* the mantissa as a float in [1, 2) */
    v8f m;
    memcpy(&m, &bits, sizeof m);
    v8i big = m > 1.41421356f;
    v8f bigf = __builtin_convertvector(-big, v8f);
    m = m * (1 - 0.5f * bigf);
    v8f ef = __builtin_convertvector(e, v8f) + bigf;
    v8f z = (m - 1) / (m + 1), z2 = z * z;
    v8f series = 1 + z2 * (1.0f / 3 + z2 * (1.0f / 5 + z2 * (1.0f / 7 + z2 * (1.0f / 9 + z2 * (1.0f / 11)))));
    v8f ln = 2 * z * series + ef * 0.693147181f;
    v8f db = ln * (float)(10 / 2.302585092994046);
    db = db * livef + DB_FLOOR * (1 - livef);
    memcpy(out, &db, sizeof db);
}

/* The real and imaginary parts of the eight complex values p[0..8), as they lie in the two
 * vectors after shuffles within each 128-bit half (bins 0 1 4 5 2 3 6 7): on AVX2 machines
 * without fast lane-crossing shuffles, one general shuffle of the sixteen floats per part made
 * power_spectrum half again as slow. in_order and in_reverse then cross halves once. */
static void load_parts(const float (*p)[2], v8f *re, v8f *im)
{
    v8f a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, p + 4, sizeof b);
    *re = __builtin_shufflevector(a, b, 0, 2, 8, 10, 4, 6, 12, 14);
    *im = __builtin_shufflevector(a, b, 1, 3, 9, 11, 5, 7, 13, 15);
}

static v8f in_order(v8f x) { return __builtin_shufflevector(x, x, 0, 1, 4, 5, 2, 3, 6, 7); }
static v8f in_reverse(v8f x) { return __builtin_shufflevector(x, x, 7, 6, 3, 2, 5, 4, 1, 0); }

/* |X[k]|^2 for k = 0..top and more (up to n/2) of the real frame x from Z, the n/2-point FFT of
 * z[j] = x[2j] + i x[2j+1]: with E and O the FFTs of the even and odd samples,
 * X[k] = E[k] + W^k O[k] (W = e^(-2 pi i/n)), E[k] = (Z[k] + conj Z[h-k]) / 2 and
 * O[k] = -i (Z[k] - conj Z[h-k]) / 2 (h = n/2). Bins k and h-k share E and O up to conjugation
 * and W^(h-k) = -conj W^k, so they are made together, eight pairs at a time: bins k..k+7 from
 * Z read forwards, bins h-k-7..h-k from Z read backwards; the upper bin of each pair only when
 * a band reaches it (below fmax = rate/4 none does). The vector lanes do the scalar tail's
 * arithmetic in the same order, so every bin gets the same float either way. */
static void power_spectrum(long n, long top, const float (*restrict z)[2], const float *restrict cosine,
                           const float *restrict sine, float *restrict power)
{
    const long h = n / 2, last = top < h / 2 ? top : h / 2; /* the last k whose pair is made */
    const int upper = top >= h / 2;                         /* whether bins h-last..h-1 are read */
    power[0] = (z[0][0] + z[0][1]) * (z[0][0] + z[0][1]);
    power[h] = (z[0][0] - z[0][1]) * (z[0][0] - z[0][1]);
    long k = 1;
    for (; k + 7 <= last; k += 8) {
        v8f ar, ai, br, bi, c, sn;
        load_parts(z + k, &ar, &ai);
        ar = in_order(ar);
        ai = in_order(ai);
        load_parts(z + h - k - 7, &br, &bi);
        br = in_reverse(br);
        bi = in_reverse(bi);
        memcpy(&c, cosine + k, sizeof c);
        memcpy(&sn, sine + k, sizeof sn);
        v8f er = 0.5f * (ar + br), ei = 0.5f * (ai - bi), odr = 0.5f * (ai + bi), odi = -0.5f * (ar - br);
        v8f p = c * odr + sn * odi, q = c * odi - sn * odr;
        v8f low = (er + p) * (er + p) + (ei + q) * (ei + q);
        memcpy(power + k, &low, sizeof low);
        if (upper) {
            v8f high = (er - p) * (er - p) + (q - ei) * (q - ei);
            high = __builtin_shufflevector(high, high, 7, 6, 5, 4, 3, 2, 1, 0);
            memcpy(power + h - k - 7, &high, sizeof high); /* after low: bin h/2 is high's, as below */
        }
    }
    for (; k <= last; k++) {
        float ar = z[k][0], ai = z[k][1], br = z[h - k][0], bi = z[h - k][1];
        float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi), odr = 0.5f * (ai + bi), odi = -0.5f * (ar - br);
        float c = cosine[k], sn = sine[k];
        float p = c * odr + sn * odi, q = c * odi - sn * odr;
        power[k] = (er + p) * (er + p) + (ei + q) * (ei + q);
        if (upper)
            power[h - k] = (er - p) * (er - p) + (q - ei) * (q - ei);
    }
}

/* The frame of n_fft samples at `samples` (the gathering buffer, or straight in the piece fed)
 * into ring row frames % ring_cap as dB. */
static void compute_frame(vx_spectro *s, const float *samples)
{
    const long n = s->o.n_fft, mels = s->o.mels;
    /* Restrict-qualified copies: the buffers never overlap. */
    float *restrict frame = s->frame, *restrict power = s->power;
    const float *restrict buf = samples, *restrict window = s->window;
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        v8f a, b;
        memcpy(&a, buf + i, sizeof a);
        memcpy(&b, window + i, sizeof b);
        a *= b;
        memcpy(frame + i, &a, sizeof a);
    }
    for (; i < n; i++)
        frame[i] = buf[i] * window[i];
    fftwf_execute(s->plan);
    power_spectrum(n, s->top, (const float(*)[2])s->spectrum, s->cosine, s->sine, power);
    float *restrict total = s->total;
    for (long m = 0; m < mels; m++) {
        const struct band *b = &s->bands[m];
        const float *restrict p = power + b->first, *restrict w = b->weight;
        /* Four running sums in a fixed order: the same result every run, without waiting on
         * one addition after another. */
        float sum[4] = {0, 0, 0, 0};
        long k = 0;
        for (; k + 4 <= b->n; k += 4)
            for (int j = 0; j < 4; j++)
                sum[j] += w[k + j] * p[k + j];
        for (; k < b->n; k++)
            sum[0] += w[k] * p[k];
        total[m] = (sum[0] + sum[1]) + (sum[2] + sum[3]);
    }
    /* total has room for mels rounded up to 8; the spare entries are zero. */
    float *row = s->ring + (s->frames % s->ring_cap) * (size_t)mels;
    for (long m = 0; m < mels; m += 8) {
        float db[8];
        db8(total + m, db);
        memcpy(row + m, db, (size_t)(mels - m < 8 ? mels - m : 8) * sizeof(float));
    }
    s->frames++;
}

/* Whole-song mode keeps every frame: the ring grows, to the payload limit of one record. */
static int grow_ring(vx_spectro *s, vx_error *err)
{
    size_t mels = (size_t)s->o.mels, most = VX_MAX_PAYLOAD / sizeof(float) / mels;
    if (most > VX_MAX_DIM)
        most = VX_MAX_DIM;
    if (s->frames < s->ring_cap)
        return 0;
    if (s->frames >= most)
        return vx_fail(err, "%s: spectrogram longer than %zu frames, above one record's limit (use --segment)",
                       s->key, most);
    size_t cap = s->ring_cap ? 2 * s->ring_cap : 1024;
    if (cap > most)
        cap = most;
    float *p = realloc(s->ring, cap * mels * sizeof *p);
    if (!p)
        return vx_fail(err, "%s: out of memory for a spectrogram of %zu frames", s->key, cap);
    s->ring = p;
    s->ring_cap = cap;
    return 0;
}

/* The record of `width` frames starting at frame `first`, the frames past s->frames at the floor. */
static int emit(vx_spectro *s, vx_record *out, size_t first, size_t width, long index, vx_error *err)
{
    const size_t mels = (size_t)s->o.mels;
    uint32_t dim[3] = {1, (uint32_t)mels, (uint32_t)width};
    char key[VX_MAX_TEXT], v[64];
    if (index >= 0)
        snprintf(key, sizeof key, "%.*s#%ld", VX_MAX_TEXT - 32, s->key, index);
    else
        snprintf(key, sizeof key, "%s", s->key);
    if (out->meta)
        out->meta[0] = '\0';
    out->label = VX_NO_LABEL;
    if (vx_record_shape(out, VX_F32, 3, dim, err) < 0 || vx_record_set_key(out, key, err) < 0 ||
        vx_record_set_meta(out, "song", s->key, err) < 0)
        return -1;
    float *data = out->data;
    size_t real = s->frames > first ? s->frames - first : 0;
    if (real > width)
        real = width;
    /* Frame by frame through the ring (one row of mels each), each band to its own row. */
    for (size_t j = 0; j < real; j++) {
        const float *src = s->ring + ((first + j) % s->ring_cap) * mels;
        for (size_t m = 0; m < mels; m++)
            data[m * width + j] = src[m];
    }
    for (size_t m = 0; m < mels; m++)
        for (size_t j = real; j < width; j++)
            data[m * width + j] = DB_FLOOR;
    int rc = 0;
    if (index >= 0) {
        snprintf(v, sizeof v, "%ld", index);
        rc |= vx_record_set_meta(out, "segment", v, err);
    }
    snprintf(v, sizeof v, "%.3f", (double)first * (double)s->o.hop / (double)s->o.rate);
    rc |= vx_record_set_meta(out, "start", v, err);
    snprintf(v, sizeof v, "%ld", s->o.rate);
    rc |= vx_record_set_meta(out, "rate", v, err);
    snprintf(v, sizeof v, "%ld", s->o.n_fft);
    rc |= vx_record_set_meta(out, "n_fft", v, err);
    snprintf(v, sizeof v, "%ld", s->o.hop);
    rc |= vx_record_set_meta(out, "hop", v, err);
    snprintf(v, sizeof v, "%ld", s->o.mels);
    rc |= vx_record_set_meta(out, "mels", v, err);
    snprintf(v, sizeof v, "%g", s->o.fmin);
    rc |= vx_record_set_meta(out, "fmin", v, err);
    snprintf(v, sizeof v, "%g", effective_fmax(&s->o));
    rc |= vx_record_set_meta(out, "fmax", v, err);
    rc |= vx_record_set_meta(out, "scale", "db", err);
    if (rc)
        return -1;
    s->records++;
    return 1;
}

int vx_spectro_next(vx_spectro *s, vx_record *out, vx_error *err)
{
    if (!s->started)
        return vx_fail(err, "vx_spectro_next before vx_spectro_reset");
    if (s->spoilt)
        return vx_fail(err, "%s: an earlier error spoilt this song", s->key);
    const size_t n = (size_t)s->o.n_fft;
    for (;;) {
        /* The ring holds one segment: the next one is given as soon as its last frame exists,
         * before any later frame could overwrite its first. */
        if (s->seg && s->frames >= s->next_seg * (size_t)s->seg_hop + (size_t)s->seg) {
            size_t first = s->next_seg * (size_t)s->seg_hop;
            return emit(s, out, first, (size_t)s->seg, (long)s->next_seg++, err);
        }
        size_t left = s->in_n - s->in_used;
        if (s->buf_n == 0 && left >= n) {
            /* A whole frame in the piece: used where it is, without copying. */
            if (!s->seg && grow_ring(s, err) < 0) {
                s->spoilt = 1;
                return -1;
            }
            compute_frame(s, s->in + s->in_used);
            s->in_used += (size_t)s->o.hop;
            continue;
        }
        size_t take = n - s->buf_n;
        if (take > left)
            take = left;
        memcpy(s->buf + s->buf_n, s->in + s->in_used, take * sizeof *s->buf);
        s->buf_n += take;
        s->in_used += take;
        if (s->buf_n == n) {
            if (!s->seg && grow_ring(s, err) < 0) {
                s->spoilt = 1;
                return -1;
            }
            compute_frame(s, s->buf);
            /* The next frame starts one hop on. */
            memmove(s->buf, s->buf + s->o.hop, (n - (size_t)s->o.hop) * sizeof *s->buf);
            s->buf_n = n - (size_t)s->o.hop;
            continue;
        }
        /* Every sample fed is used. */
        if (!s->finished || s->done)
            return 0;
        if (!s->seg) {
            s->done = 1;
            return s->frames ? emit(s, out, 0, s->frames, -1, err) : 0;
        }
        size_t first = s->next_seg * (size_t)s->seg_hop;
        if (first < s->frames && 2 * (s->frames - first) >= (size_t)s->seg)
            return emit(s, out, first, (size_t)s->seg, (long)s->next_seg++, err);
        s->done = 1;
        return 0;
    }
}

/* ------------------------------------------------------ input records */

int vx_audio_record_info(const vx_record *r, vx_audio_info *info, vx_error *err)
{
    char v[64], *end;
    if (r->dtype != VX_F32 || r->rank != 1)
        return vx_fail(err, "%s: not mono f32 audio [samples] (%s, rank %d)", r->key,
                       vx_dtype_name(r->dtype), r->rank);
    if (r->dim[0] == 0)
        return vx_fail(err, "%s: no samples", r->key);
    if (!vx_record_get_meta(r, "rate", v, sizeof v))
        return vx_fail(err, "%s: no rate= in the metadata", r->key);
    long rate = strtol(v, &end, 10);
    if (end == v || *end || rate < 1000 || rate > 384000)
        return vx_fail(err, "%s: bad rate=%s (an integer, 1000..384000 Hz)", r->key, v);
    info->rate = rate;
    info->chunk = -1;
    info->offset = 0;
    if (vx_record_get_meta(r, "chunk", v, sizeof v)) {
        long c = strtol(v, &end, 10);
        if (end == v || *end || c < 0)
            return vx_fail(err, "%s: bad chunk=%s", r->key, v);
        info->chunk = c;
        if (!vx_record_get_meta(r, "offset", v, sizeof v))
            return vx_fail(err, "%s: chunk=%ld without offset=", r->key, c);
        unsigned long long off = strtoull(v, &end, 10);
        if (end == v || *end || v[0] == '-')
            return vx_fail(err, "%s: bad offset=%s", r->key, v);
        info->offset = (size_t)off;
    }
    return 0;
}
