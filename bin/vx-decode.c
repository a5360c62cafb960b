/* vx-decode — images (PNG, PBM/PGM/PPM/PAM) and audio (anything libsox reads) decoded into a
 * tensor stream, one record per file, or a whole folder-per-class data set with labels. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_audio.h"
#include "vx_io.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char prog[] = "vx-decode";
static const char usage[] =
    "Usage: vx-decode [OPTION]... [FILE|DIR]...\n"
    "Decode images and audio into a tensor stream, one record per file (standard input when no\n"
    "FILE or '-'). The kind is told by content: PNG, PBM/PGM/PPM/PAM, else audio through libsox.\n"
    "Images back to back in a file or on standard input (ffmpeg -f image2pipe) are each a record,\n"
    "written as they arrive: keyed FILE (or stdin), FILE:2, FILE:3, ...\n"
    "A DIR is a data set DIR/CLASS/FILE: class folders and their files in name order, labelled.\n"
    "\n"
    "Images, as [channels, height, width]:\n"
    "      --rgb             three planes R, G, B instead of one gray plane\n"
    "      --f32             f32 values in 0..1 (value/255) instead of u8\n"
    "Audio, as [samples] f32 mono:\n"
    "  -r, --rate HZ         sample rate (default 22050)\n"
    "      --offset SEC      skip SEC seconds at the start\n"
    "      --duration SEC    keep at most SEC seconds\n"
    "      --length N        exactly N samples: cut, or padded with silence\n"
    "      --chunk SEC       audio files as records of at most SEC seconds each, in order,\n"
    "                        keyed by the file, with chunk=0,1,... and offset= (samples)\n"
    "Data sets:\n"
    "      --labels A,B,...  folder A is label 0, B label 1, ... (default: emotion folder names)\n"
    "      --unlabelled      accept any folder names; records carry no label\n"
    "      --limit N         at most N files from each class folder\n"
    "\n"
    "  -o, --output FILE     write the stream to FILE, complete or not at all\n"
    "      --progress        report progress even when standard error is not a terminal\n"
    "  -h, --help            show this help and exit\n"
    "      --version         show the version and exit\n";

struct cmdline {
    vx_decode_opts decode;
    vx_dataset_opts dataset;
    const char *output;
    int progress;
    size_t chunk; /* --chunk in samples; 0 decodes audio whole */
    double chunk_seconds;
    char **inputs;
    int ninputs;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    enum { RGB = 256, F32, OFFSET, DURATION, LENGTH, LABELS, UNLABELLED, LIMIT, PROGRESS, CHUNK };
    static const struct option longopts[] = {
        {"rgb", no_argument, NULL, RGB},           {"f32", no_argument, NULL, F32},
        {"rate", required_argument, NULL, 'r'},     {"offset", required_argument, NULL, OFFSET},
        {"duration", required_argument, NULL, DURATION}, {"length", required_argument, NULL, LENGTH},
        {"labels", required_argument, NULL, LABELS}, {"unlabelled", no_argument, NULL, UNLABELLED},
        {"limit", required_argument, NULL, LIMIT},   {"output", required_argument, NULL, 'o'},
        {"progress", no_argument, NULL, PROGRESS},   {"chunk", required_argument, NULL, CHUNK},
        {NULL, 0, NULL, 0}};
    vx_error err;
    long n;
    int c, bad = 0;
    memset(cmd, 0, sizeof *cmd);
    vx_decode_opts_init(&cmd->decode);
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":r:o:", longopts, NULL)) != -1) {
        switch (c) {
        case RGB: cmd->decode.rgb = 1; break;
        case F32: cmd->decode.f32 = 1; break;
        case 'r': bad = vx_parse_long(optarg, "--rate", 1000, 384000, &cmd->decode.rate, &err); break;
        case OFFSET: bad = vx_parse_double(optarg, "--offset", 0, 1e7, &cmd->decode.offset, &err); break;
        case DURATION: bad = vx_parse_double(optarg, "--duration", 1e-6, 1e7, &cmd->decode.duration, &err); break;
        case LENGTH: bad = vx_parse_long(optarg, "--length", 1, VX_MAX_DIM, &cmd->decode.length, &err); break;
        case LABELS:
            cmd->dataset.labels = optarg;
            bad = vx_dataset_check_labels(optarg, &err);
            break;
        case UNLABELLED: cmd->dataset.unlabelled = 1; break;
        case LIMIT:
            bad = vx_parse_long(optarg, "--limit", 1, LONG_MAX, &n, &err);
            cmd->dataset.per_class = n;
            break;
        case 'o': cmd->output = optarg; break;
        case PROGRESS: cmd->progress = 1; break;
        case CHUNK: bad = vx_parse_double(optarg, "--chunk", 0.01, 3000, &cmd->chunk_seconds, &err); break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
        if (bad)
            vx_die(prog, 2, "%s", err.msg);
    }
    if (cmd->dataset.labels && cmd->dataset.unlabelled)
        vx_die(prog, 2, "--labels and --unlabelled exclude each other");
    /* 3000 s at the highest rate is below one dimension's limit. */
    if (cmd->chunk_seconds > 0) {
        double n = cmd->chunk_seconds * (double)cmd->decode.rate + 0.5;
        cmd->chunk = n < 1 ? 1 : (size_t)n;
    }
    cmd->inputs = argv + optind;
    cmd->ninputs = argc - optind;
}

/* What one run holds, so a failure anywhere can clean up all of it. */
struct run {
    vx_output out;
    vx_decoder decoder;
    vx_record record;
    vx_progress progress;
    size_t done;
    size_t chunk; /* --chunk in samples, 0 without */
};

/* --chunk: an audio file as consecutive records of at most cmd->chunk samples, each written as it
 * is decoded, so the file is never held whole. */
static int emit_chunks(struct run *run, const char *path, size_t chunk, int label, const char *classes,
                       vx_error *err)
{
    vx_audio_stream *s;
    int got;
    if (!run->decoder.audio_started) {
        if (vx_audio_begin(err) < 0)
            return -1;
        run->decoder.audio_started = 1; /* vx_decoder_end stops libsox */
    }
    if (vx_audio_open(&s, path, NULL, 0, &run->decoder.opts, err) < 0)
        return -1;
    while ((got = vx_audio_next_chunk(s, path, chunk, &run->record, err)) == 1) {
        run->record.label = label;
        if ((classes && vx_record_set_meta(&run->record, "classes", classes, err) < 0) ||
            vx_record_write(run->out.file, &run->record, err) < 0) {
            got = -1;
            break;
        }
    }
    vx_audio_close(s);
    run->done += got == 0;
    return got;
}

/* Whether --chunk applies to path: an audio file (not standard input, not an image). */
static int chunked(const struct run *run, const char *path, vx_error *err)
{
    if (!run->chunk || vx_is_stdin(path))
        return 0;
    return vx_audio_sniff_file(path, err);
}

static int emit(struct run *run, const char *path, int label, const char *classes, vx_error *err)
{
    int audio = chunked(run, path, err);
    if (audio)
        return audio < 0 ? -1 : emit_chunks(run, path, run->chunk, label, classes, err);
    if (vx_decode_file(&run->decoder, path, &run->record, err) < 0)
        return -1;
    run->record.label = label;
    if (classes && vx_record_set_meta(&run->record, "classes", classes, err) < 0)
        return -1;
    if (vx_record_write(run->out.file, &run->record, err) < 0)
        return -1;
    run->done++;
    return 0;
}

/* A file or standard input: every image of it (netpbm files and ffmpeg image2pipe streams hold
 * several), each written and flushed as it is decoded so a live stream flows on; or one audio
 * record. */
static int decode_input(struct run *run, const char *path, vx_error *err)
{
    int got = chunked(run, path, err);
    if (got)
        return got < 0 ? -1 : emit_chunks(run, path, run->chunk, VX_NO_LABEL, NULL, err);
    while ((got = vx_decode_next(&run->decoder, path, &run->record, err)) == 1) {
        if (vx_record_write(run->out.file, &run->record, err) < 0)
            return -1;
        if (fflush(run->out.file) != 0)
            return vx_fail(err, "error writing the output");
        run->done++;
    }
    return got;
}

static int decode_dataset(struct run *run, const char *dir, const vx_dataset_opts *o, vx_error *err)
{
    vx_dataset ds;
    const char *path;
    int label, got;
    if (vx_dataset_open(&ds, dir, o, err) < 0)
        return -1;
    size_t start = run->done;
    while ((got = vx_dataset_next(&ds, &path, &label, err)) == 1) {
        if (emit(run, path, label, ds.classes, err) < 0) {
            got = -1;
            break;
        }
        vx_progress_update(&run->progress, "files", run->done - start, ds.total);
    }
    vx_dataset_close(&ds);
    return got;
}

static int decode_all(struct run *run, const struct cmdline *cmd, vx_error *err)
{
    char *stdin_only[] = {"-"};
    char **inputs = cmd->ninputs ? cmd->inputs : stdin_only;
    int ninputs = cmd->ninputs ? cmd->ninputs : 1;
    for (int i = 0; i < ninputs; i++) {
        struct stat st;
        int is_dir = strcmp(inputs[i], "-") != 0 && stat(inputs[i], &st) == 0 && S_ISDIR(st.st_mode);
        if (is_dir ? decode_dataset(run, inputs[i], &cmd->dataset, err) < 0 : decode_input(run, inputs[i], err) < 0)
            return -1;
        if (!is_dir)
            vx_progress_update(&run->progress, "files", (size_t)i + 1, (size_t)ninputs);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    struct run run = {0};
    vx_error err;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    if (vx_output_open(&run.out, cmd.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_decoder_init(&run.decoder, &cmd.decode);
    run.chunk = cmd.chunk;
    vx_record_init(&run.record);
    vx_progress_init(&run.progress, prog, cmd.progress);

    int rc = decode_all(&run, &cmd, &err);
    vx_progress_done(&run.progress);
    vx_decoder_end(&run.decoder);
    vx_record_free(&run.record);
    if (rc < 0 || vx_output_commit(&run.out, &err) < 0) {
        vx_output_abort(&run.out);
        vx_die(prog, 1, "%s", err.msg);
    }
    return 0;
}
