/* vx_audio.h — audio: decoding any file libsox reads into mono f32 records, whole or in pieces,
 * and log-mel spectrograms of them, cut into segments as they stream. */
#ifndef VX_AUDIO_H
#define VX_AUDIO_H

#include "vx_io.h"

/* libsox has process-wide state: vx_audio_begin initialises it once per process and installs a
 * message handler that drops its warnings and keeps its last failure for vx_error; vx_audio_end
 * shuts it down. Not for several threads. */
int vx_audio_begin(vx_error *err);
void vx_audio_end(void);
/* Decodes the audio file at path, or the in-memory file data[0..size) when data is non-NULL
 * (path then only names it in messages), as `sox IN -t f32 -r RATE -c 1 - [trim OFFSET DURATION]`
 * would; meta rate= and source=. */
int vx_audio_read(const char *path, const void *data, size_t size, const vx_decode_opts *o, vx_record *r,
                  vx_error *err);

/* ------------------------------------------------------ streaming decode */

/* The same samples as vx_audio_read, in pieces, so a long file is never held whole: open, read
 * up to N samples at a time, close. Holds libsox's buffers only (a few hundred KiB), whatever
 * the file's length. Needs vx_audio_begin first. */
typedef struct vx_audio_stream vx_audio_stream;
/* Opens the file at path (not stdin), or the in-memory file data[0..size) when data is non-NULL
 * (path then only names it). o->length, when set, cuts or pads as in vx_audio_read. */
int vx_audio_open(vx_audio_stream **out, const char *path, const void *data, size_t size,
                  const vx_decode_opts *o, vx_error *err);
/* Up to max samples into buf: returns 1 with *got > 0 samples, 0 at the end (*got = 0), -1 on an
 * error. A file that gives no sample at all is an error on the first call, as in vx_audio_read. */
int vx_audio_stream_read(vx_audio_stream *s, float *buf, size_t max, size_t *got, vx_error *err);
/* The libsox format name (for source=). */
const char *vx_audio_stream_source(const vx_audio_stream *s);
/* Safe on NULL. */
void vx_audio_close(vx_audio_stream *s);

/* Whether the file at path is audio as vx-decode tells it (not a PNG or PNM by its first bytes):
 * 1 audio, 0 an image, -1 when it cannot be read or is empty. */
int vx_audio_sniff_file(const char *path, vx_error *err);

/* The next record of at most `samples` samples of an open stream, as `vx-decode --chunk` writes
 * them: key `key`, meta rate=, source=, chunk= (0, 1, ... in order) and offset= (the index of
 * the record's first sample in the whole decoded signal). 1 a record, 0 at the end, -1 on error. */
int vx_audio_next_chunk(vx_audio_stream *s, const char *key, size_t samples, vx_record *r, vx_error *err);

/* What an audio record says of itself: fails, naming the key, unless it is f32 rank 1 with at
 * least one sample and rate= an integer 1000..384000. chunk= and offset= (vx-decode --chunk) give
 * chunk >= 0 and the offset in samples; without them chunk is -1. */
typedef struct vx_audio_info {
    long rate;
    long chunk;
    size_t offset;
} vx_audio_info;
int vx_audio_record_info(const vx_record *r, vx_audio_info *info, vx_error *err);

/* ------------------------------------------------------- spectrograms */

/* Log-mel spectrograms of mono audio, as librosa computes them with center=False:
 *   frame t = samples [t*hop, t*hop + n_fft) times a periodic Hann window (scipy hann(n, sym=False));
 *   P = |rfft(frame)|^2 (n_fft/2 + 1 bins);
 *   M = W P with W = librosa.filters.mel(sr=rate, n_fft, n_mels=mels, fmin, fmax, htk=False,
 *       norm='slaney'): Slaney's mel scale (linear to 1 kHz, logarithmic above), each triangle
 *       scaled to unit area;
 *   dB = 10 log10(max(M, 1e-10)) (librosa.power_to_db, ref 1, amin 1e-10, no top_db): silence
 *       is -100 dB, never -inf or NaN.
 * Trailing samples that do not fill a whole frame are not used. */
typedef struct vx_spectro_opts {
    long rate;          /* Hz of the samples fed; 22050 */
    long n_fft;         /* FFT length, even, 16..65536; 2048 */
    long hop;           /* samples between frames, 1..n_fft; 512 */
    long mels;          /* mel bands, 1..1024; 96 */
    double fmin;        /* lowest filter edge in Hz; 0 */
    double fmax;        /* highest filter edge in Hz, <= rate/2; 0 means rate/2 */
    double segment;     /* seconds per segment; 0: one spectrogram of the whole song */
    double segment_hop; /* seconds from one segment's start to the next; 0: the segment length */
} vx_spectro_opts;

/* The defaults above, whole-song mode. */
void vx_spectro_opts_init(vx_spectro_opts *o);

/* Derived sizes: frames per segment = round(segment * rate / hop), segment hop in frames =
 * round(segment_hop * rate / hop) (3 s at 22050/512: 129 frames; 1.5 s: 65). Fails, naming the
 * option and the allowed range, on options out of range, a segment of less than one frame, an
 * fmax above rate/2 or not above fmin, or a mel band so narrow that no FFT bin falls in it. */
int vx_spectro_check(const vx_spectro_opts *o, long *segment_frames, long *segment_hop_frames, vx_error *err);

/* The mel filterbank W, [mels][n_fft/2 + 1] row-major in float, as librosa gives it (computed in
 * double, rounded once). Fills w, which must hold mels * (n_fft/2 + 1) floats. */
int vx_spectro_filterbank(const vx_spectro_opts *o, float *w, vx_error *err);

/* Slaney's mel scale, as librosa.hz_to_mel / mel_to_hz with htk=False. */
double vx_mel_from_hz(double hz);
double vx_hz_from_mel(double mel);

/* A spectrogram maker: one song at a time, fed in pieces of any size, giving finished records.
 * Memory: O(n_fft + mels * segment frames), whatever the song's length; in whole-song mode the
 * spectrogram being built grows with the song (mels floats per hop samples).
 *
 *     vx_spectro *s;
 *     vx_spectro_new(&s, &opts, &err);
 *     vx_spectro_reset(s, "song.mp3", &err);
 *     while ((n = more_samples(buf)) > 0) {
 *         vx_spectro_feed(s, buf, n, &err);
 *         while ((got = vx_spectro_next(s, &rec, &err)) == 1)
 *             use(&rec);                         // rec: f32 [1, mels, frames], key song.mp3#I
 *     }
 *     vx_spectro_finish(s, &err);
 *     while ((got = vx_spectro_next(s, &rec, &err)) == 1)
 *         use(&rec);
 *     vx_spectro_free(s);
 *
 * Segment records: key KEY#I (I = 0, 1, ...), f32 [1, mels, frames per segment], row 0 the
 * lowest band, column 0 the earliest frame; meta song=KEY, segment=I, start= (seconds, %.3f),
 * rate=, n_fft=, hop=, mels=, fmin=, fmax=, scale=db. Segment I covers frames
 * [I*hop_frames, I*hop_frames + frames). After finish, a last segment that only partly exists
 * is given when at least half its frames are real, the rest filled with -100 dB; shorter ones
 * are dropped. Whole-song mode gives one record after finish: key KEY, [1, mels, frames of the
 * song], the same meta without segment=; none when the song is shorter than n_fft.
 * Records have label VX_NO_LABEL: the caller adds its label and metadata (vx-spectro copies the
 * input's label and classes=). */
typedef struct vx_spectro vx_spectro;
int vx_spectro_new(vx_spectro **out, const vx_spectro_opts *o, vx_error *err);
/* Starts a song named key (what records' keys and song= are made of), dropping anything left
 * of the last one. Must be called before the first feed. */
int vx_spectro_reset(vx_spectro *s, const char *key, vx_error *err);
/* Hands the maker samples[0..n), which it reads from where they are during the next calls of
 * vx_spectro_next: they must stay unchanged until vx_spectro_next returns 0 (then all of them are
 * used and the next piece may be fed). Fails on NaN or infinity (naming the sample's index in
 * the song; the song is then spoilt until reset), or when the last piece is not used up yet. */
int vx_spectro_feed(vx_spectro *s, const float *samples, size_t n, vx_error *err);
/* Writes the next finished record into out (reusing its buffers): 1 a record, 0 when more input
 * (or, after finish, the next song) is needed, -1 on an error. */
int vx_spectro_next(vx_spectro *s, vx_record *out, vx_error *err);
/* The song has ended: the last partial segment (or the whole spectrogram) becomes available to
 * vx_spectro_next. Feeding after finish needs a reset first. */
int vx_spectro_finish(vx_spectro *s, vx_error *err);
/* Samples fed, frames computed, and records given since the last reset. */
size_t vx_spectro_samples(const vx_spectro *s);
size_t vx_spectro_frames(const vx_spectro *s);
size_t vx_spectro_records(const vx_spectro *s);
/* Safe on NULL. */
void vx_spectro_free(vx_spectro *s);

#endif
