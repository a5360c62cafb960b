/* vx-embed — songs (files, folders searched recursively, or a list on stdin) to a song index,
 * with a music model and the emotion space; with an old index only changed songs are embedded. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_audio.h"
#include "vx_nn.h"
#include "vx_song.h"

#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

static const char prog[] = "vx-embed";
static const char usage[] =
    "Usage: vx-embed -m MODEL -o INDEX [OPTION]... SONG|FOLDER|-...\n"
    "Embed songs (folders searched recursively; '-' reads paths from standard input, one per line)\n"
    "with MODEL into INDEX. Songs of the old index (-i, else INDEX itself when it exists) whose path,\n"
    "size and mtime are unchanged are kept, not re-embedded; songs not given are dropped.\n"
    "\n"
    "  -m, --model FILE     the music model (classes= must be a set of the space)\n"
    "  -s, --space FILE     the emotion space (models/emotion-space.txt)\n"
    "  -o, --output INDEX   the index to write, complete or not at all\n"
    "  -i, --old INDEX      the index to update (default: INDEX when it exists)\n"
    "  -b, --batch N        segments per network batch (32)\n"
    "      --progress       progress on stderr even when it is not a terminal\n"
    "  -h, --help           show this help and exit\n"
    "      --version        show the version and exit\n";

struct cmdline {
    const char *model, *space, *output, *old;
    int batch, progress;
    char **inputs;
    int ninputs;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'}, {"space", required_argument, NULL, 's'},
        {"output", required_argument, NULL, 'o'}, {"old", required_argument, NULL, 'i'},
        {"batch", required_argument, NULL, 'b'}, {"progress", no_argument, NULL, 'P'}, {NULL, 0, NULL, 0}};
    int c;
    long v;
    vx_error err;
    memset(cmd, 0, sizeof *cmd);
    cmd->space = "models/emotion-space.txt";
    cmd->batch = 32;
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":m:s:o:i:b:", longopts, NULL)) != -1) {
        switch (c) {
        case 'm': cmd->model = optarg; break;
        case 's': cmd->space = optarg; break;
        case 'o': cmd->output = optarg; break;
        case 'i': cmd->old = optarg; break;
        case 'P': cmd->progress = 1; break;
        case 'b':
            if (vx_parse_long(optarg, "--batch", 1, 1024, &v, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            cmd->batch = (int)v;
            break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
    }
    if (!cmd->model || !cmd->output)
        vx_die(prog, 2, "-m MODEL and -o INDEX are needed (see --help)");
    if (optind >= argc)
        vx_die(prog, 2, "no SONG, FOLDER or - (see --help)");
    cmd->inputs = argv + optind;
    cmd->ninputs = argc - optind;
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    vx_error err;
    vx_space space;
    if (vx_space_load(&space, cmd.space, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_net *net = vx_net_load(cmd.model, &err);
    if (!net)
        vx_die(prog, 1, "%s", err.msg);
    if (vx_audio_begin(&err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_song_embedder *em = vx_song_embedder_create(net, &space, cmd.batch, &err);
    if (!em)
        vx_die(prog, 1, "%s: %s", cmd.model, err.msg);
    /* The old index: -i, else the output itself when it is there already. */
    struct stat st;
    const char *old_path = cmd.old ? cmd.old : (stat(cmd.output, &st) == 0 ? cmd.output : NULL);
    vx_index *old = old_path ? vx_index_open(old_path, &err) : NULL;
    if (old_path && (!old || vx_index_check(old, &err) < 0))
        vx_die(prog, 1, "%s", err.msg);
    vx_index_builder *b = vx_index_builder_create(vx_song_embedder_space(em), &err);
    if (!b)
        vx_die(prog, 1, "%s", err.msg);

    vx_song_files songs = {.warn = prog};
    for (int i = 0; i < cmd.ninputs; i++)
        if ((vx_is_stdin(cmd.inputs[i]) ? vx_song_files_read(&songs, stdin, "stdin", &err)
                                         : vx_song_files_add(&songs, cmd.inputs[i], &err)) < 0)
            vx_die(prog, 1, "%s", err.msg);
    vx_progress pr;
    vx_progress_init(&pr, prog, cmd.progress);
    size_t embedded = 0, kept = 0, skipped = 0, dropped = 0, seen_old = 0;
    double audio_s = 0;
    char what[128];
    for (size_t i = 0; i < songs.n; i++) {
        vx_song s;
        int in_old, fate = vx_song_update(em, old, b, songs.paths[i], &s, &in_old, &err);
        seen_old += in_old;
        if (fate < 0)
            vx_die(prog, 1, "%s", err.msg);
        if (fate == VX_SONG_SKIPPED) {
            fprintf(stderr, "%s: warning: %s, skipped\n", prog, err.msg);
            skipped++;
        }
        kept += fate == VX_SONG_KEPT;
        if (fate != VX_SONG_EMBEDDED)
            continue;
        embedded++;
        audio_s += s.duration;
        double el = vx_seconds_now() - pr.start_seconds;
        snprintf(what, sizeof what, "songs (%.2f h of audio, %.1f songs/s)", audio_s / 3600,
                 el > 0 ? (double)embedded / el : 0.0);
        vx_progress_update(&pr, what, i + 1, songs.n);
    }
    vx_progress_done(&pr);
    /* Songs of the old index that were not given this time are gone. */
    size_t written;
    if (vx_index_builder_write(b, cmd.output, &written, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    if (old)
        dropped = vx_index_count(old) - seen_old;
    fprintf(stderr, "%s: %zu embedded, %zu kept, %zu dropped, %zu skipped: %zu songs in %s\n", prog, embedded, kept,
            dropped, skipped, written, cmd.output);
    vx_song_files_free(&songs);
    vx_index_builder_free(b);
    vx_index_close(old);
    vx_song_embedder_free(em);
    vx_audio_end();
    vx_net_free(net);
    return skipped ? 1 : 0;
}
