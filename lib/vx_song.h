/* vx_song.h — songs in the emotion space: the emotion space file (vx-space(5)), the binary song
 * index (vx-index(5)) with its builder, loader and merge, and matching a face to songs.
 * Nothing here prints or exits: every failure fills a vx_error and returns -1 (or NULL). */
#ifndef VX_SONG_H
#define VX_SONG_H

#include "vx.h"

/* ------------------------------------------------------------ the emotion space */

/* The most music class sets one space file may hold, and the longest class or anchor name. */
#define VX_SPACE_MAX_SETS 16
#define VX_SPACE_MAX_ANCHORS 16
#define VX_SPACE_NAME_MAX 32 /* including the NUL */
/* The largest space file read: the shipped one is 4 KiB, so anything near this is not a space file. */
#define VX_SPACE_MAX_BYTES (1u << 20)

/* One music class set: how a model's K classes map into the common space. A song's 7-vector is
 * its class probabilities times `profile`; its valence/arousal point is the probability-weighted
 * mean of the classes' points. */
typedef struct vx_space_set {
    int nclasses;                                          /* K, 1..VX_NET_MAX_CLASSES */
    char names[VX_NET_MAX_CLASSES][VX_SPACE_NAME_MAX];     /* in the model's class order */
    float profile[VX_NET_MAX_CLASSES][VX_NCLASSES];        /* [K][7], each row >= 0 summing to 1 */
    float va[VX_NET_MAX_CLASSES][2];                       /* [K] (valence, arousal), 1..9 */
    int face_class[VX_NCLASSES]; /* the class congruent with each face emotion, or -1 (judging only) */
} vx_space_set;

typedef struct vx_space {
    int version;                         /* of the file format: 1 */
    float emotion_va[VX_NCLASSES][2];    /* the 7 face emotions' (valence, arousal) on 1..9 */
    int nanchors;                        /* other named points (calm, relaxed) the file defines */
    char anchor_names[VX_SPACE_MAX_ANCHORS][VX_SPACE_NAME_MAX];
    float anchor_va[VX_SPACE_MAX_ANCHORS][2];
    int nsets;
    vx_space_set sets[VX_SPACE_MAX_SETS];
} vx_space;

/* Parses a space file held in text[0..len) (need not be NUL-terminated); `where` names it in
 * messages, which give the line number. Every one of the 7 emotions must be given exactly once;
 * every set's rows must be finite, non-negative, sum to 1 (within 0.001) and use points in 1..9. */
int vx_space_parse(vx_space *space, const char *text, size_t len, const char *where, vx_error *err);
/* Reads and parses the file at path (at most VX_SPACE_MAX_BYTES). */
int vx_space_load(vx_space *space, const char *path, vx_error *err);
/* The set whose class names, in order, are the comma-separated list `classes` ("Q1,Q2,Q3,Q4"); NULL
 * when the space has none. */
const vx_space_set *vx_space_find_set(const vx_space *space, const char *classes);
/* The set's class names joined by commas into buf (the form a model's classes= metadata holds). */
void vx_space_set_names(const vx_space_set *set, char *buf, size_t size);
/* A song's place from its class probabilities probs[K]: vec[7] = probs x profile, va[2] the
 * probability-weighted class points (the unweighted mean when the probabilities sum to 0). */
void vx_space_song(const vx_space_set *set, const float *probs, float vec[VX_NCLASSES], float va[2]);
/* A face's valence/arousal: the probability-weighted emotion points of p[7] (weights need not sum
 * to 1; all zero gives the centre of the scale, 5,5). */
void vx_space_face_va(const float emotion_va[VX_NCLASSES][2], const float p[VX_NCLASSES], float va[2]);

/* ------------------------------------------------------------------ the song index */

/* One song as the builder takes it and the loader gives it back. The loader's pointers point
 * into the mapped file and live as long as the index. */
typedef struct vx_song {
    const char *path;      /* NUL-terminated; any bytes but NUL */
    uint64_t size;         /* bytes of the file when it was embedded */
    int64_t mtime_ns;      /* its modification time, nanoseconds since the epoch */
    float duration;        /* seconds of audio */
    const float *probs;    /* [K] class probabilities */
    const float *vec;      /* [7] place in the emotion space */
    const float *va;       /* [2] valence, arousal */
    uint32_t nsegments;
    const float *segments; /* [nsegments][1 + K]: start in seconds, then the segment's K probabilities */
} vx_song;

/* What every index carries in its header: the class set its songs were placed with and the 7
 * emotion points, so that a query lands in the same space as the songs without the space file. */
typedef struct vx_index_space {
    vx_space_set set;
    float emotion_va[VX_NCLASSES][2];
} vx_index_space;

/* Limits that keep a hostile or mistaken index from asking for absurd work. */
#define VX_INDEX_MAX_SONGS ((uint64_t)1 << 32)
#define VX_INDEX_MAX_PATH 4096
#define VX_INDEX_MAX_SEGMENTS_PER_SONG (1u << 20)

/* Collects songs in memory and writes one index. Adding a path again replaces the earlier entry
 * ("later wins"), removing it drops whatever came before; the file is written in path order. */
typedef struct vx_index_builder vx_index_builder;
vx_index_builder *vx_index_builder_create(const vx_index_space *space, vx_error *err);
void vx_index_builder_free(vx_index_builder *b);
/* Copies the song (its pointers need not outlive the call). Refuses an empty or over-long path,
 * non-finite numbers, and more than VX_INDEX_MAX_SEGMENTS_PER_SONG segments. */
int vx_index_builder_add(vx_index_builder *b, const vx_song *song, vx_error *err);
int vx_index_builder_remove(vx_index_builder *b, const char *path, vx_error *err);
/* Songs added (replacements and removals not yet resolved). */
size_t vx_index_builder_pending(const vx_index_builder *b);
/* Writes the index to path ("-" for stdout) through vx_output: complete or not at all. The builder
 * stays usable. *nsongs (may be NULL) gets the number of songs written. */
int vx_index_builder_write(vx_index_builder *b, const char *path, size_t *nsongs, vx_error *err);

/* A loaded index: the file is mapped read-only, nothing is copied. The header and the section
 * sizes are checked against the file size when it is opened; each song's own offsets when it is
 * read (vx_index_get), so opening a million-song index touches only its header. */
typedef struct vx_index vx_index;
vx_index *vx_index_open(const char *path, vx_error *err);
void vx_index_close(vx_index *ix);
size_t vx_index_count(const vx_index *ix);
const vx_index_space *vx_index_space_of(const vx_index *ix);
/* The search arrays, contiguous: [count][7] and [count][2]. Values come from the file unchecked
 * (vx_index_check checks them); a scan must treat a non-finite value as no match. */
const float *vx_index_vectors(const vx_index *ix);
const float *vx_index_points(const vx_index *ix);
/* Song i (0 <= i < count); -1 when its entry points outside the file. */
int vx_index_get(const vx_index *ix, size_t i, vx_song *song, vx_error *err);
/* The position of path, or -1 when absent (binary search: songs are kept in path order). */
long long vx_index_find(const vx_index *ix, const char *path);
/* Checks everything: each entry, path order and uniqueness, finite values. */
int vx_index_check(const vx_index *ix, vx_error *err);
/* Adds every song of ix to b (whose class set and emotion points must be the same). */
int vx_index_builder_add_index(vx_index_builder *b, const vx_index *ix, const char *where, vx_error *err);
/* Merges the indexes paths[0..n) into out: later files win for equal paths. Each input is
 * checked in full; they must share one class set and one set of emotion points. */
int vx_index_merge(const char *const *paths, int n, const char *out, size_t *nsongs, vx_error *err);

/* Writes s as `ls -b` shows a name: backslash, tab, newline and other control bytes as \\, \t,
 * \n and \ooo; everything else, spaces and UTF-8 included, as it is. */
int vx_song_put_escaped(FILE *f, const char *s);

/* --------------------------------------------------------------------- matching */

enum vx_match_space {
    VX_MATCH_EMOTIONS, /* cosine similarity of the 7-vectors */
    VX_MATCH_VA        /* 1 - distance / VX_VA_MAX_DISTANCE on the valence/arousal plane */
};
/* The diagonal of the 1..9 square: the farthest two points can be. */
#define VX_VA_MAX_DISTANCE 11.313708498984761

typedef struct vx_match_opts {
    enum vx_match_space space;
    int k;                        /* results wanted, >= 1 */
    double diversity;             /* maximal marginal relevance lambda, 0 (pure similarity) .. 1 */
    double lift;                  /* mood lift step, 0 = off; see vx_match_target */
    const unsigned char *exclude; /* [count] nonzero = never recommend, or NULL */
} vx_match_opts;

typedef struct vx_match_result {
    size_t song;  /* index position */
    float score;  /* similarity to the target, the larger the closer */
} vx_match_result;

/* Dimensions of a space's vectors: 7 or 2. */
int vx_match_dims(enum vx_match_space space);
/* The target a face query p[7] (finite, >= 0, not all 0; else -1) becomes in the chosen space,
 * with the lift applied: in the emotion space a fraction `lift` (0..1) of every negative emotion's
 * weight (valence below 5, the middle of the scale) moves to happy; on the plane `lift` (0..8) is
 * added to the valence, which stays within 1..9. target gets vx_match_dims(space) values. */
int vx_match_target(const vx_index_space *space, const vx_match_opts *o, const float p[VX_NCLASSES],
                    float *target, vx_error *err);
/* Similarity of two vectors of the space (the score of a song against a target); contrib (may be
 * NULL) gets each dimension's share: for cosine the terms t_i s_i / (|t| |s|), which add up to the
 * score; on the plane each axis' share of the squared distance. Non-finite input scores -1. */
double vx_match_similarity(enum vx_match_space space, const float *a, const float *b, double *contrib);
/* The best songs for target, best first: top k by similarity, or with diversity > 0 chosen
 * greedily among the top candidates by (1 - lambda) sim(target, s) - lambda max sim(s, chosen).
 * results has room for o->k; *nresults gets how many were found (fewer when the index is
 * smaller or songs are excluded). */
int vx_match_run(const vx_index *ix, const vx_match_opts *o, const float *target, vx_match_result *results,
                 int *nresults, vx_error *err);

/* ------------------------------------------------------------- a library's files */

/* The song files to embed, gathered before any is read so that progress knows the total. */
typedef struct vx_song_files {
    char **paths;
    size_t n, cap;
    const char *warn; /* a program's name: folders that cannot be read are warned of, not fatal */
} vx_song_files;
/* A file is added as named (it is read, and reported if unreadable, when embedded); a folder adds
 * the audio files below it (vx_audio_file_name), in name order, dot files left out. */
int vx_song_files_add(vx_song_files *l, const char *path, vx_error *err);
/* Adds each non-empty line of f as vx_song_files_add does. */
int vx_song_files_read(vx_song_files *l, FILE *f, const char *where, vx_error *err);
void vx_song_files_free(vx_song_files *l);
/* Whether a file name ends in an audio extension (.mp3, .flac, .ogg, .wav, ... in any case). */
int vx_audio_file_name(const char *name);

/* -------------------------------------------------------------------- embedding */

/* Songs to their place: decode (streaming), log-mel segments, the music model over batches of
 * segments, the song's class probabilities = the mean of its segments'. The model's classes=
 * must name a set of the space; its spectro_n_fft, spectro_hop, spectro_mels, spectro_rate,
 * spectro_fmin, spectro_fmax, spectro_segment and spectro_segment_hop metadata give the
 * spectrogram it was trained on (absent: the vx_spectro defaults, 3 s segments every 1.5 s),
 * which must fit its input shape. */
typedef struct vx_net vx_net;
typedef struct vx_song_embedder vx_song_embedder;
/* The embedder uses net (not owned) and libsox (vx_audio_begin must have been called). */
vx_song_embedder *vx_song_embedder_create(vx_net *net, const vx_space *space, int batch, vx_error *err);
void vx_song_embedder_free(vx_song_embedder *e);
/* The class set and emotion points the embedder's songs are placed with, for the index builder. */
const vx_index_space *vx_song_embedder_space(const vx_song_embedder *e);
/* Embeds the file at path: fills song (path, duration, probabilities, 7-vector, point, segments;
 * size and mtime are the caller's), its arrays valid until the next call. Fails, naming the file,
 * when it cannot be decoded, is silent (no sample above -60 dBFS, 1e-3), or too short for one segment. */
int vx_song_embed(vx_song_embedder *e, const char *path, vx_song *song, vx_error *err);
/* One file of a library update, into b: the old index's entry (old may be NULL) when it has the
 * path with the same size and mtime, else the file embedded anew; *song is what was added.
 * *in_old says whether old had the path. Returns VX_SONG_KEPT, VX_SONG_EMBEDDED, VX_SONG_SKIPPED
 * (not a readable regular file, or not decodable: why in err), or -1 when b refuses the song. */
enum { VX_SONG_KEPT = 0, VX_SONG_EMBEDDED = 1, VX_SONG_SKIPPED = 2 };
int vx_song_update(vx_song_embedder *e, const vx_index *old, vx_index_builder *b, const char *path, vx_song *song,
                   int *in_old, vx_error *err);

#endif
