/* song_embed.c — one song file to its place in the emotion space: streaming decode, log-mel
 * segments, the music model over batches of segments, mean probabilities and the timeline; and in
 * a library update, whether a file is kept from the old index or embedded anew. */
#define _POSIX_C_SOURCE 200809L
#include "vx_song.h"
#include "vx_audio.h"
#include "vx_nn.h"

#include <math.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536 /* samples decoded at a time */
/* A song whose loudest sample stays below -60 dBFS is inaudible: the music model, which takes
 * every segment's own band means away, reads its dither as harsh noise (wesnoth's silence.ogg,
 * peak 1.2e-4, came out 99% angry), so it is skipped rather than recommended. */
#define SILENCE 1e-3f

struct vx_song_embedder {
    vx_net *net;
    vx_index_space space;
    const vx_space_set *set;
    vx_spectro_opts so;
    vx_decode_opts dopts;
    vx_spectro *spectro;
    int batch, k;
    size_t per;            /* floats per network input */
    float *x, *probs;      /* [batch][per], [batch][k] */
    double *starts;        /* [batch] start of each pending segment */
    int pending;
    float *samples;        /* [CHUNK] */
    vx_record rec;
    float *segs;           /* [nsegs][1 + k] the song's timeline */
    size_t nsegs, segs_cap;
    float song_probs[VX_NET_MAX_CLASSES], vec[VX_NCLASSES], va[2];
};

/* A number from the model's metadata, or the default when absent. */
static int meta_number(const vx_net *net, const char *name, double lo, double hi, double *v, vx_error *err)
{
    const char *s = vx_net_get_meta(net, name);
    if (!s)
        return 0;
    return vx_parse_double(s, name, lo, hi, v, err);
}

vx_song_embedder *vx_song_embedder_create(vx_net *net, const vx_space *space, int batch, vx_error *err)
{
    const char *classes = vx_net_get_meta(net, "classes");
    if (!classes)
        return vx_fail(err, "the model has no classes= metadata: cannot place its classes"), NULL;
    const vx_space_set *set = vx_space_find_set(space, classes);
    if (!set)
        return vx_fail(err, "the emotion space has no class set %s", classes), NULL;
    uint32_t dim[3];
    int k;
    vx_net_shape(net, dim, &k, NULL);
    if (k != set->nclasses)
        return vx_fail(err, "the model has %d classes but classes= names %d", k, set->nclasses), NULL;
    vx_song_embedder *e = vx_calloc(1, sizeof *e, err);
    if (!e)
        return NULL;
    e->net = net;
    e->set = set;
    e->space.set = *set;
    memcpy(e->space.emotion_va, space->emotion_va, sizeof space->emotion_va);
    e->k = k;
    e->batch = batch < 1 ? 1 : batch;
    vx_spectro_opts_init(&e->so);
    e->so.segment = 3;
    e->so.segment_hop = 1.5;
    double v[8] = {(double)e->so.n_fft, (double)e->so.hop, (double)e->so.mels, (double)e->so.rate, e->so.segment,
                   e->so.segment_hop, e->so.fmin, e->so.fmax};
    static const char *names[8] = {"spectro_n_fft", "spectro_hop", "spectro_mels", "spectro_rate", "spectro_segment",
                                   "spectro_segment_hop", "spectro_fmin", "spectro_fmax"};
    for (int i = 0; i < 8; i++)
        if (meta_number(net, names[i], 0, 1e6, &v[i], err) < 0)
            goto fail;
    e->so.n_fft = (long)v[0];
    e->so.hop = (long)v[1];
    e->so.mels = (long)v[2];
    e->so.rate = (long)v[3];
    e->so.segment = v[4];
    e->so.segment_hop = v[5];
    e->so.fmin = v[6];
    e->so.fmax = v[7];
    long frames, hop_frames;
    if (vx_spectro_check(&e->so, &frames, &hop_frames, err) < 0)
        goto fail;
    if (dim[0] != 1 || dim[1] != (uint32_t)e->so.mels || dim[2] != (uint32_t)frames) {
        vx_fail(err, "the model takes [%ux%ux%u] but its spectrogram options make [1x%ldx%ld]", dim[0], dim[1], dim[2],
                e->so.mels, frames);
        goto fail;
    }
    vx_decode_opts_init(&e->dopts);
    e->dopts.rate = e->so.rate;
    e->per = (size_t)dim[1] * dim[2];
    e->x = vx_malloc((size_t)e->batch * e->per * sizeof *e->x, err);
    e->probs = vx_malloc((size_t)e->batch * (size_t)k * sizeof *e->probs, err);
    e->starts = vx_malloc((size_t)e->batch * sizeof *e->starts, err);
    e->samples = vx_malloc(CHUNK * sizeof *e->samples, err);
    vx_record_init(&e->rec);
    if (!e->x || !e->probs || !e->starts || !e->samples || vx_spectro_new(&e->spectro, &e->so, err) < 0)
        goto fail;
    return e;
fail:
    vx_song_embedder_free(e);
    return NULL;
}

void vx_song_embedder_free(vx_song_embedder *e)
{
    if (!e)
        return;
    vx_spectro_free(e->spectro);
    vx_record_free(&e->rec);
    free(e->x);
    free(e->probs);
    free(e->starts);
    free(e->samples);
    free(e->segs);
    free(e);
}

const vx_index_space *vx_song_embedder_space(const vx_song_embedder *e) { return &e->space; }

/* Runs the net on the pending segments and appends them to the timeline. */
static int flush(vx_song_embedder *e, vx_error *err)
{
    if (!e->pending)
        return 0;
    size_t k = (size_t)e->k, need = e->nsegs + (size_t)e->pending;
    if (need > e->segs_cap) {
        size_t cap = need * 2;
        float *q = realloc(e->segs, cap * (1 + k) * sizeof *q);
        if (!q)
            return vx_fail(err, "out of memory");
        e->segs = q;
        e->segs_cap = cap;
    }
    if (vx_net_predict(e->net, e->x, e->pending, e->probs, err) < 0)
        return -1;
    for (int i = 0; i < e->pending; i++) {
        float *row = e->segs + (e->nsegs + (size_t)i) * (1 + k);
        row[0] = (float)e->starts[i];
        memcpy(row + 1, e->probs + (size_t)i * k, k * sizeof *row);
    }
    e->nsegs = need;
    e->pending = 0;
    return 0;
}

/* Takes every finished segment record the maker has. */
static int drain(vx_song_embedder *e, const char *path, vx_error *err)
{
    int got;
    char start[32];
    while ((got = vx_spectro_next(e->spectro, &e->rec, err)) == 1) {
        if (vx_net_input(e->net, &e->rec, e->x + (size_t)e->pending * e->per, err) < 0)
            return -1;
        double at = 0;
        if (vx_record_get_meta(&e->rec, "start", start, sizeof start) &&
            vx_parse_double(start, "a segment's start", 0, 1e9, &at, err) < 0)
            return -1;
        e->starts[e->pending] = at;
        if (++e->pending == e->batch && flush(e, err) < 0)
            return -1;
    }
    (void)path;
    return got;
}

int vx_song_embed(vx_song_embedder *e, const char *path, vx_song *song, vx_error *err)
{
    vx_audio_stream *as = NULL;
    e->nsegs = 0;
    e->pending = 0;
    if (vx_spectro_reset(e->spectro, path, err) < 0 || vx_audio_open(&as, path, NULL, 0, &e->dopts, err) < 0)
        return -1;
    size_t got, total = 0;
    float peak = 0;
    int rc;
    while ((rc = vx_audio_stream_read(as, e->samples, CHUNK, &got, err)) == 1) {
        for (size_t i = 0; i < got; i++)
            peak = fmaxf(peak, fabsf(e->samples[i]));
        total += got;
        if (vx_spectro_feed(e->spectro, e->samples, got, err) < 0 || drain(e, path, err) < 0) {
            rc = -1;
            break;
        }
    }
    vx_audio_close(as);
    if (rc < 0) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        if (strstr(msg, path))
            return vx_fail(err, "%s", msg);
        return vx_fail(err, "%s: %.400s", path, msg);
    }
    if (vx_spectro_finish(e->spectro, err) < 0 || drain(e, path, err) < 0 || flush(e, err) < 0)
        return -1;
    double seconds = (double)total / (double)e->so.rate;
    if (!(peak > SILENCE))
        return vx_fail(err, "%s: silent (%.1f s without a sample above -60 dBFS, %g)", path, seconds, SILENCE);
    if (e->nsegs == 0)
        return vx_fail(err, "%s: too short (%.2f s; a segment is %g s)", path, seconds, e->so.segment);
    size_t k = (size_t)e->k;
    for (size_t c = 0; c < k; c++) {
        double sum = 0;
        for (size_t s = 0; s < e->nsegs; s++)
            sum += e->segs[s * (1 + k) + 1 + c];
        e->song_probs[c] = (float)(sum / (double)e->nsegs);
    }
    vx_space_song(e->set, e->song_probs, e->vec, e->va);
    memset(song, 0, sizeof *song);
    song->path = path;
    song->duration = (float)seconds;
    song->probs = e->song_probs;
    song->vec = e->vec;
    song->va = e->va;
    song->nsegments = (uint32_t)e->nsegs;
    song->segments = e->segs;
    return 0;
}

int vx_song_update(vx_song_embedder *e, const vx_index *old, vx_index_builder *b, const char *path, vx_song *song,
                   int *in_old, vx_error *err)
{
    struct stat st;
    *in_old = 0;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        vx_fail(err, "%s: cannot read it", path);
        return VX_SONG_SKIPPED;
    }
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    long long at = old ? vx_index_find(old, path) : -1;
    *in_old = at >= 0;
    int fate = VX_SONG_EMBEDDED;
    if (at >= 0 && vx_index_get(old, (size_t)at, song, err) == 0 && song->size == (uint64_t)st.st_size &&
        song->mtime_ns == mtime)
        fate = VX_SONG_KEPT;
    else if (vx_song_embed(e, path, song, err) < 0)
        return VX_SONG_SKIPPED;
    song->size = (uint64_t)st.st_size;
    song->mtime_ns = mtime;
    return vx_index_builder_add(b, song, err) < 0 ? -1 : fate;
}
