/* audio_spectro.c — the spectrogram library without the program: the mel scale and filterbank
 * against values worked out by hand, and the streaming maker fed in odd-sized pieces giving the
 * same records as one piece, segments equal to the columns of the whole spectrogram. */
#include "tap.h"
#include "vx_audio.h"

#include <string.h>

/* A test signal: two sines and a slow ramp, deterministic. */
static void make_signal(float *x, size_t n, double rate)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(0.5 * sin(2 * 3.14159265358979 * 440 * (double)i / rate) +
                       0.25 * sin(2 * 3.14159265358979 * 3100 * (double)i / rate) + 1e-6 * (double)(i % 977));
}

/* Feeds x in pieces of the sizes in `pieces` (cycled), collecting every record's payload into
 * out (back to back) and keys into keys; returns the number of records, -1 on an error. */
static int run_pieces(const vx_spectro_opts *o, const float *x, size_t n, const size_t *pieces, size_t npieces,
                      float *out, size_t outcap, char keys[][64], vx_error *err)
{
    vx_spectro *s;
    vx_record r;
    size_t used = 0, at = 0;
    int records = 0, got = 0;
    vx_record_init(&r);
    if (vx_spectro_new(&s, o, err) < 0 || vx_spectro_reset(s, "song", err) < 0)
        return -1;
    for (size_t p = 0; at < n && got >= 0; p++) {
        size_t len = pieces[p % npieces] < n - at ? pieces[p % npieces] : n - at;
        if (vx_spectro_feed(s, x + at, len, err) < 0)
            got = -1;
        at += len;
        while (got >= 0 && (got = vx_spectro_next(s, &r, err)) == 1) {
            if (used + r.nbytes / 4 > outcap)
                return vx_fail(err, "more output than expected");
            memcpy(out + used, r.data, r.nbytes);
            used += r.nbytes / 4;
            snprintf(keys[records++], 64, "%s", r.key);
        }
    }
    if (got >= 0 && vx_spectro_finish(s, err) == 0)
        while ((got = vx_spectro_next(s, &r, err)) == 1) {
            if (used + r.nbytes / 4 > outcap)
                return vx_fail(err, "more output than expected");
            memcpy(out + used, r.data, r.nbytes);
            used += r.nbytes / 4;
            snprintf(keys[records++], 64, "%s", r.key);
        }
    vx_spectro_free(s);
    vx_record_free(&r);
    return got < 0 ? -1 : records;
}

int main(void)
{
    tap t;
    vx_error err;
    tap_plan(&t, 12);

    /* The scale: 3 mels per 200 Hz to 1 kHz (15 mels), then 27 mels per factor 6.4. */
    tap_ok(&t, fabs(vx_mel_from_hz(1000) - 15) < 1e-12 && fabs(vx_mel_from_hz(6400) - 42) < 1e-12 &&
                   fabs(vx_mel_from_hz(200) - 3) < 1e-12,
           "mel(200 Hz) = 3, mel(1 kHz) = 15, mel(6.4 kHz) = 42");
    double worst = 0;
    for (double hz = 10; hz < 20000; hz *= 1.37)
        worst = fmax(worst, fabs(vx_hz_from_mel(vx_mel_from_hz(hz)) - hz) / hz);
    tap_ok(&t, worst < 1e-12, "hz(mel(f)) = f within %.2g relative from 10 Hz to 20 kHz", worst);

    /* rate 1000, n_fft 16 (bins every 62.5 Hz to 500), 3 bands from 0 to 500 Hz, all below 1 kHz
     * where the scale is linear: edges at 0, 125, 250, 375, 500 Hz; each triangle is 250 Hz wide,
     * so scaled by 2/250 = 0.008 at its peak bin and 0.004 half way up either side. */
    vx_spectro_opts o;
    vx_spectro_opts_init(&o);
    o.rate = 1000;
    o.n_fft = 16;
    o.hop = 4;
    o.mels = 3;
    float w[3 * 9];
    static const float hand[3][9] = {{0, 0.004f, 0.008f, 0.004f, 0, 0, 0, 0, 0},
                                     {0, 0, 0, 0.004f, 0.008f, 0.004f, 0, 0, 0},
                                     {0, 0, 0, 0, 0, 0.004f, 0.008f, 0.004f, 0}};
    int rc = vx_spectro_filterbank(&o, w, &err);
    double diff = 0;
    for (int i = 0; i < 27; i++)
        diff = fmax(diff, fabs(w[i] - hand[i / 9][i % 9]));
    tap_ok(&t, rc == 0 && diff < 1e-9, "3-band filterbank at 1 kHz, n_fft 16: hand values within %.2g", diff);

    /* Each band's area in Hz is 1 (Slaney normalisation): sum of weights times the bin spacing,
     * for bands wide enough to hold many bins. */
    vx_spectro_opts_init(&o);
    o.n_fft = 8192;
    o.mels = 40;
    static float big[40 * 4097];
    rc = vx_spectro_filterbank(&o, big, &err);
    double area_err = 0;
    for (int m = 5; m < 40; m++) {
        double sum = 0;
        for (int k = 0; k < 4097; k++)
            sum += big[m * 4097 + k];
        area_err = fmax(area_err, fabs(sum * 22050.0 / 8192 - 1));
    }
    tap_ok(&t, rc == 0 && area_err < 0.02, "Slaney norm: 40 bands of n_fft 8192 have unit area within %.3f", area_err);

    vx_spectro_opts_init(&o);
    o.mels = 400;
    o.n_fft = 256;
    o.hop = 64;
    tap_ok(&t, vx_spectro_check(&o, NULL, NULL, &err) < 0 && strstr(err.msg, "holds no FFT bin"),
           "too many mels for the FFT is refused: %s", err.msg);
    vx_spectro_opts_init(&o);
    o.segment = 3;
    o.segment_hop = 1.5;
    long seg = 0, shop = 0;
    rc = vx_spectro_check(&o, &seg, &shop, &err);
    tap_ok(&t, rc == 0 && seg == 129 && shop == 65,
           "3 s segments every 1.5 s at 22050/512: %ld frames every %ld", seg, shop);

    /* Streaming: 7.3 s fed whole and in pieces of odd sizes give the same records. */
    size_t n = 161000;
    static float x[161000], one[96 * 129 * 8], odd[96 * 129 * 8], whole[96 * 400];
    static char keys1[16][64], keys2[16][64], keysw[2][64];
    make_signal(x, n, 22050);
    int n1 = run_pieces(&o, x, n, &n, 1, one, sizeof one / 4, keys1, &err);
    static const size_t pieces[] = {1, 7, 513, 2047, 3, 4096, 511, 29};
    int n2 = run_pieces(&o, x, n, pieces, 8, odd, sizeof odd / 4, keys2, &err);
    /* 161000 samples: 311 frames; segments start every 65: 0, 65, 130 complete (130+129 = 259), 195
     * has 116 real frames, 260 has 51 (less than half of 129): four records. */
    tap_ok(&t, n1 == 4 && n2 == 4, "7.3 s in 3 s segments every 1.5 s: %d records whole, %d in odd pieces", n1, n2);
    tap_ok(&t, n1 == n2 && n1 > 0 && memcmp(one, odd, (size_t)n1 * 96 * 129 * sizeof(float)) == 0,
           "pieces of 1, 7, 513, 2047, 3, 4096, 511, 29 samples: the same bytes as one piece");
    tap_ok(&t, n1 == 4 && strcmp(keys1[0], "song#0") == 0 && strcmp(keys1[3], "song#3") == 0, "keys song#0 .. %s",
           n1 > 0 ? keys1[n1 - 1] : "-");

    /* A segment's columns are the whole spectrogram's, the padding -100 dB. */
    vx_spectro_opts_init(&o);
    int nw = run_pieces(&o, x, n, pieces, 8, whole, sizeof whole / 4, keysw, &err);
    int same = nw == 1 && n1 == 4;
    size_t frames = 311;
    for (int s = 0; same && s < 4; s++)
        for (size_t m = 0; m < 96; m++)
            for (size_t j = 0; j < 129; j++) {
                size_t f = (size_t)s * 65 + j;
                float want = f < frames ? whole[m * frames + f] : -100.0f;
                same &= one[((size_t)s * 96 + m) * 129 + j] == want;
            }
    tap_ok(&t, same && strcmp(keysw[0], "song") == 0, "segments are the whole spectrogram's columns, padded with -100");

    /* Misuse and bad samples fail with a message instead of giving garbage. */
    vx_spectro *s;
    vx_record r;
    vx_record_init(&r);
    vx_spectro_opts_init(&o);
    vx_spectro_new(&s, &o, &err);
    vx_spectro_reset(s, "song", &err);
    vx_spectro_feed(s, x, 5000, &err);
    int again = vx_spectro_feed(s, x, 10, &err);
    tap_ok(&t, again < 0 && strstr(err.msg, "used up"), "feeding before the last piece is used: %s", err.msg);
    while (vx_spectro_next(s, &r, &err) == 1)
        ;
    x[100] = NAN;
    int bad = vx_spectro_feed(s, x, 200, &err) < 0 && strstr(err.msg, "song: sample 5100 is NaN");
    char why[sizeof err.msg];
    snprintf(why, sizeof why, "%s", err.msg);
    bad = bad && vx_spectro_next(s, &r, &err) < 0;
    tap_ok(&t, bad, "a NaN is refused, named by its index in the song, and spoils the song: %s", why);
    vx_spectro_free(s);
    vx_record_free(&r);
    return tap_done(&t);
}
