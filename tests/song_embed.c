/* song_embed.c — the embedder's plumbing on an untrained model: a tone gives segments every
 * 1.5 s, probabilities that sum to 1 and a place from the space; silence and a 0.1 s file are
 * refused. With --model OUT it writes that model for the shell tests. */
#define _POSIX_C_SOURCE 200809L
#include "tap.h"
#include "vx_audio.h"
#include "vx_nn.h"
#include "vx_song.h"

#include <string.h>
#include <unistd.h>

static vx_net *make_model(vx_error *err)
{
    vx_net *net = vx_net_create("input 1 96 129\nconv 8 3 same\nrelu\ngap\nsoftmax 4\n", 1, err);
    if (net && vx_net_set_meta(net, "classes", "Q1,Q2,Q3,Q4", err) < 0) {
        vx_net_free(net);
        return NULL;
    }
    return net;
}

/* A mono WAV of `seconds` of a 440 Hz tone (amplitude a) written with sox. */
static int tone(const char *path, double seconds, double a)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sox -n -r 22050 -c 1 %s synth %g sine 440 vol %g 2>/dev/null", path, seconds, a);
    return system(cmd);
}

int main(int argc, char **argv)
{
    vx_error err;
    if (argc == 3 && !strcmp(argv[1], "--model")) {
        vx_net *net = make_model(&err);
        if (!net || vx_net_save(net, argv[2], &err) < 0) {
            fprintf(stderr, "song_embed: %s\n", err.msg);
            return 1;
        }
        vx_net_free(net);
        return 0;
    }
    if (system("sox --version >/dev/null 2>&1") != 0)
        tap_skip_all("no sox to make test audio");
    vx_space space;
    const char *file = getenv("VX_SPACE_FILE") ? getenv("VX_SPACE_FILE") : "models/emotion-space.txt";
    if (vx_space_load(&space, file, &err) < 0)
        tap_skip_all("no models/emotion-space.txt (run from the source tree)");
    tap t;
    tap_plan(&t, 9);
    char dir[] = "/tmp/song_embed.XXXXXX", a[600], silent[600], shortf[600], faint[600], quiet[600];
    if (!mkdtemp(dir))
        return 1;
    snprintf(a, sizeof a, "%s/tone.wav", dir);
    snprintf(silent, sizeof silent, "%s/silent.wav", dir);
    snprintf(faint, sizeof faint, "%s/faint.wav", dir);
    snprintf(quiet, sizeof quiet, "%s/quiet.wav", dir);
    snprintf(shortf, sizeof shortf, "%s/short.wav", dir);
    tone(a, 7.5, 0.5);
    tone(silent, 4, 0);
    tone(faint, 4, 0.0005); /* -66 dBFS: inaudible */
    tone(quiet, 4, 0.002);  /* -54 dBFS: quiet, but there */
    tone(shortf, 0.1, 0.5);
    vx_net *net = make_model(&err);
    vx_song_embedder *e = net && vx_audio_begin(&err) == 0 ? vx_song_embedder_create(net, &space, 3, &err) : NULL;
    tap_ok(&t, e != NULL, "an embedder for a Q1..Q4 model of input [1x96x129] (%s)", e ? "ok" : err.msg);
    if (!e)
        return tap_done(&t);
    vx_song s;
    int rc = vx_song_embed(e, a, &s, &err);
    /* 7.5 s in 3 s segments every 1.5 s: starts 0, 1.5, 3, 4.5 (and 6 when at least half of it exists). */
    tap_ok(&t, rc == 0 && s.nsegments >= 4 && s.nsegments <= 5 && s.segments[0] == 0 && fabsf(s.segments[5] - 1.509f) < 0.01f &&
                   fabsf(s.duration - 7.5f) < 0.01f,
           "a 7.5 s tone: %u segments starting every 65 frames (1.509 s), duration %.2f s", rc == 0 ? s.nsegments : 0, rc == 0 ? s.duration : 0);
    double sum = 0, mean0 = 0;
    for (int k = 0; rc == 0 && k < 4; k++)
        sum += s.probs[k];
    for (uint32_t i = 0; rc == 0 && i < s.nsegments; i++)
        mean0 += s.segments[i * 5 + 1] / s.nsegments;
    tap_ok(&t, rc == 0 && fabs(sum - 1) < 1e-4 && fabs(mean0 - s.probs[0]) < 1e-5,
           "the song's probabilities are the mean of its segments' and sum to 1");
    float vec[7], va[2];
    if (rc == 0)
        vx_space_song(&space.sets[0], s.probs, vec, va);
    tap_ok(&t, rc == 0 && !memcmp(vec, s.vec, sizeof vec) && !memcmp(va, s.va, sizeof va), "its 7-vector and point come from the space");
    /* A model trained on a band-limited spectrogram records its band, and is given that band. */
    vx_song narrow;
    vx_song_embedder *ne = vx_net_set_meta(net, "spectro_fmax", "4000", &err) == 0
                               ? vx_song_embedder_create(net, &space, 3, &err) : NULL;
    int nrc = ne ? vx_song_embed(ne, a, &narrow, &err) : -1;
    double moved = 0;
    for (int k = 0; rc == 0 && nrc == 0 && k < 4; k++)
        moved = fmax(moved, fabs(log(fmax(narrow.probs[k], 1e-30)) - log(fmax(s.probs[k], 1e-30))));
    /* The untrained net's softmax saturates, so the change shows in the log of the small ones. */
    tap_ok(&t, rc == 0 && nrc == 0 && narrow.nsegments == s.nsegments && moved > 0.1,
           "spectro_fmax=4000 gives the model another spectrogram (log-probabilities moved by up to %.2f)", moved);
    vx_song_embedder_free(ne);
    tap_ok(&t, vx_song_embed(e, silent, &s, &err) < 0 && strstr(err.msg, "silent"), "a silent file is refused: %s", err.msg);
    tap_ok(&t, vx_song_embed(e, faint, &s, &err) < 0 && strstr(err.msg, "silent"), "a tone at -66 dBFS is refused as silent: %s",
           err.msg);
    tap_ok(&t, vx_song_embed(e, quiet, &s, &err) == 0, "a tone at -54 dBFS is embedded (%s)", "quiet.wav");
    tap_ok(&t, vx_song_embed(e, shortf, &s, &err) < 0 && strstr(err.msg, "too short"), "a 0.1 s file is refused: %s", err.msg);
    vx_song_embedder_free(e);
    vx_net_free(net);
    vx_audio_end();
    unlink(a);
    unlink(silent);
    unlink(faint);
    unlink(quiet);
    unlink(shortf);
    rmdir(dir);
    return tap_done(&t);
}
