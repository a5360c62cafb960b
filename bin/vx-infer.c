/* vx-infer — run a trained model over a stream of images: class probabilities as a stream or
 * text, or with --eval the accuracy, per-class recall and confusion matrix of labelled input. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_nn.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char prog[] = "vx-infer";
static const char usage[] =
    "Usage: vx-infer [OPTION]... MODEL [STREAM]...\n"
    "Classify the images of STREAM (standard input when absent or '-') with MODEL.\n"
    "Writes one f32 [classes] record of probabilities per image, key and label kept.\n"
    "\n"
    "  -t, --text          key, label and probabilities as tab-separated text instead\n"
    "  -e, --eval          labelled input: accuracy, per-class recall and the confusion matrix\n"
    "                      (rows true, columns predicted); the last line is the accuracy. Segments\n"
    "                      of one song (consecutive records with the same song= metadata, as\n"
    "                      vx-spectro cuts them) are also judged together, by their mean\n"
    "                      probabilities: then the last line is the accuracy per song\n"
    "  -s, --songs         one output per song instead of per segment: the mean of its segments\n"
    "      --views SPEC    test-time views to average: none, flip, shift=N or flip,shift=N\n"
    "                      (default: the model's views= metadata, else none)\n"
    "      --flip          the same as --views flip\n"
    "  -b, --batch N       images per batch (64)\n"
    "  -u, --unbuffered    classify each image as it arrives and flush its output (live streams)\n"
    "  -j, --threads N     OpenMP threads\n"
    "      --direct-conv   convolutions by im2col and GEMM only, not Winograd's algorithm or the\n"
    "                      one-plane kernel where they fit: slower, the same up to rounding; to\n"
    "                      check the fast path\n"
    "  -o, --output FILE   write to FILE, complete or not at all\n"
    "      --max-memory MB refuse a model whose parameters, activations and workspace need more (4096)\n"
    "  -h, --help          show this help and exit\n"
    "      --version       show the version and exit\n";

struct cmdline {
    int text, eval, batch, threads, unbuffered, songs, direct_conv;
    int views_given; /* views set on the command line, over the model's own */
    vx_views views;
    const char *output, *model;
    char **inputs;
    int ninputs;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    static const struct option longopts[] = {
        {"text", no_argument, NULL, 't'},          {"eval", no_argument, NULL, 'e'},
        {"songs", no_argument, NULL, 's'},
        {"flip", no_argument, NULL, 'F'},          {"views", required_argument, NULL, 'V'},
        {"batch", required_argument, NULL, 'b'},
        {"unbuffered", no_argument, NULL, 'u'},
        {"threads", required_argument, NULL, 'j'}, {"output", required_argument, NULL, 'o'},
        {"max-memory", required_argument, NULL, 'M'}, {"direct-conv", no_argument, NULL, 'D'},
        {NULL, 0, NULL, 0}};
    int c;
    long v;
    vx_error err;
    memset(cmd, 0, sizeof *cmd);
    cmd->batch = 64;
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":tesub:j:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 't': cmd->text = 1; break;
        case 'e': cmd->eval = 1; break;
        case 's': cmd->songs = 1; break;
        case 'F': cmd->views = (vx_views){.flip = 1}; cmd->views_given = 1; break;
        case 'V':
            if (vx_views_parse(optarg, &cmd->views, &err) < 0)
                vx_die(prog, 2, "--views: %s", err.msg);
            cmd->views_given = 1;
            break;
        case 'u': cmd->unbuffered = 1; break;
        case 'D': cmd->direct_conv = 1; break;
        case 'M':
            if (vx_parse_long(optarg, "--max-memory", 1, 1L << 20, &v, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            vx_net_set_memory_limit((size_t)v << 20);
            break;
        case 'o': cmd->output = optarg; break;
        case 'b':
        case 'j':
            if (vx_parse_long(optarg, c == 'b' ? "--batch" : "--threads", 1, 4096, &v, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            *(c == 'b' ? &cmd->batch : &cmd->threads) = (int)v;
            break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
    }
    if (optind >= argc)
        vx_die(prog, 2, "no MODEL (see --help)");
    if (cmd->text && cmd->eval)
        vx_die(prog, 2, "--text and --eval exclude each other");
    if (cmd->unbuffered)
        cmd->batch = 1; /* a batch would wait for images that may be seconds away */
    cmd->model = argv[optind];
    cmd->inputs = argv + optind + 1;
    cmd->ninputs = argc - optind - 1;
}

/* Everything a run accumulates and writes. */
struct run {
    const struct cmdline *cmd;
    vx_net *net;
    vx_views views;
    uint32_t dim[3];
    int classes;
    char *class_meta;     /* "a,b,..." from the model, or NULL */
    FILE *out;
    vx_record *recs;      /* one batch of input records */
    float *x, *probs;
    vx_record outrec;
    vx_confusion confusion, song_confusion;
    size_t unlabelled;
    vx_song_mean song; /* the song whose segments are being summed */
    size_t songs;      /* and the songs judged so far */
    vx_output output;
};

/* Leaves no partial output file behind. */
static _Noreturn void fail(struct run *run, const char *msg)
{
    vx_output_abort(&run->output);
    vx_die(prog, 1, "%s", msg);
}

/* One result, of a segment or a whole song: counted, or written as text or as a record. */
static void emit(struct run *run, const char *key, int label, const float *p, vx_confusion *confusion)
{
    vx_error err;
    if (run->cmd->eval) {
        if (label >= 0 && label < run->classes)
            vx_confusion_add(confusion, label, p, 1);
        else if (confusion == &run->confusion)
            run->unlabelled++;
    } else if (run->cmd->text) {
        fprintf(run->out, "%s\t", key);
        if (label == VX_NO_LABEL)
            fputc('-', run->out);
        else
            fprintf(run->out, "%d", label);
        for (int k = 0; k < run->classes; k++)
            fprintf(run->out, "\t%.6f", p[k]);
        fputc('\n', run->out);
    } else {
        uint32_t dim = (uint32_t)run->classes;
        if (vx_record_shape(&run->outrec, VX_F32, 1, &dim, &err) < 0 || vx_record_set_key(&run->outrec, key, &err) < 0 ||
            (run->class_meta && vx_record_set_meta(&run->outrec, "classes", run->class_meta, &err) < 0))
            fail(run, err.msg);
        memcpy(run->outrec.data, p, (size_t)run->classes * sizeof *p);
        run->outrec.label = label;
        if (vx_record_write(run->out, &run->outrec, &err) < 0)
            fail(run, err.msg);
    }
}

/* A song judged from the mean of its segments' probabilities. */
static void emit_song(struct run *run, const vx_song_result *song)
{
    emit(run, song->name, song->label, song->probs, &run->song_confusion);
    run->songs++;
}

static void flush_batch(struct run *run, int n)
{
    vx_error err;
    size_t per = (size_t)run->dim[0] * run->dim[1] * run->dim[2];
    for (int i = 0; i < n; i++)
        if (vx_net_input(run->net, &run->recs[i], run->x + (size_t)i * per, &err) < 0)
            fail(run, err.msg);
    if (vx_net_predict_views(run->net, run->x, n, &run->views, run->probs, &err) < 0)
        fail(run, err.msg);
    for (int i = 0; i < n; i++) {
        const vx_record *r = &run->recs[i];
        const float *p = run->probs + (size_t)i * run->classes;
        for (int k = 0; k < run->classes; k++)
            if (!(p[k] >= 0 && p[k] <= 1)) {
                snprintf(err.msg, sizeof err.msg, "%s: the model gave a probability of %g", r->key, p[k]);
                fail(run, err.msg);
            }
        vx_song_result song;
        if (!run->cmd->songs)
            emit(run, r->key, r->label, p, &run->confusion);
        if ((run->cmd->eval || run->cmd->songs) && vx_song_mean_add(&run->song, r, p, &song))
            emit_song(run, &song);
    }
}

static void finish_song(struct run *run)
{
    vx_song_result song;
    if (vx_song_mean_finish(&run->song, &song))
        emit_song(run, &song);
}

/* Per image (or segment); when segments were grouped into fewer songs, per song after it. */
static void print_eval(struct run *run)
{
    finish_song(run);
    long images = vx_confusion_write(run->out, &run->confusion, run->class_meta, "images", run->unlabelled);
    if (images == 0) {
        vx_output_abort(&run->output);
        vx_die(prog, 1, "--eval: no record had a label the model knows");
    }
    if (run->songs < (size_t)images) {
        fputc('\n', run->out);
        vx_confusion_write(run->out, &run->song_confusion, run->class_meta, "songs", 0);
    }
}

/* The model, as it was meant to be run, and the buffers of one batch. */
static void start_run(struct run *run, const struct cmdline *cmd)
{
    vx_error err;
    memset(run, 0, sizeof *run);
    run->cmd = cmd;
    run->net = vx_net_load(cmd->model, &err);
    if (!run->net)
        vx_die(prog, 1, "%s", err.msg);
    vx_net_use_direct_conv(run->net, cmd->direct_conv);
    /* The batch's activations too, before any of them is allocated. */
    if (vx_net_check_arch(vx_net_get_meta(run->net, "arch"), cmd->batch < 64 ? cmd->batch : 64, 0, &err) < 0)
        vx_die(prog, 1, "%s: %s (--max-memory raises it)", cmd->model, err.msg);
    vx_net_shape(run->net, run->dim, &run->classes, NULL);
    vx_confusion_init(&run->confusion, run->classes);
    vx_confusion_init(&run->song_confusion, run->classes);
    vx_song_mean_init(&run->song, run->classes);
    /* The model says how it was meant to be run (checked when it was loaded); the command line
     * overrides it. */
    const char *views = vx_net_get_meta(run->net, "views");
    if (cmd->views_given)
        run->views = cmd->views;
    else if (views && vx_views_parse(views, &run->views, &err) < 0)
        vx_die(prog, 1, "%s: %s", cmd->model, err.msg);
    const char *cm = vx_net_get_meta(run->net, "classes");
    run->class_meta = cm ? strdup(cm) : NULL;
    if (cm && !run->class_meta)
        vx_die(prog, 1, "out of memory");
    size_t per = (size_t)run->dim[0] * run->dim[1] * run->dim[2];
    run->recs = vx_calloc((size_t)cmd->batch, sizeof *run->recs, &err);
    run->x = run->recs ? vx_calloc((size_t)cmd->batch * per, sizeof(float), &err) : NULL;
    run->probs = run->x ? vx_calloc((size_t)cmd->batch * (size_t)run->classes, sizeof(float), &err) : NULL;
    if (!run->probs)
        vx_die(prog, 1, "%s", err.msg);
    for (int i = 0; i < cmd->batch; i++)
        vx_record_init(&run->recs[i]);
    vx_record_init(&run->outrec);
}

static void end_run(struct run *run)
{
    for (int i = 0; i < run->cmd->batch; i++)
        vx_record_free(&run->recs[i]);
    vx_record_free(&run->outrec);
    free(run->recs);
    free(run->x);
    free(run->probs);
    free(run->class_meta);
    vx_net_free(run->net);
}

/* Records of one input, predicted a batch at a time; returns how many wait for the next batch. */
static int read_input(struct run *run, const char *path, int n)
{
    vx_error err;
    FILE *f = vx_open_input(path, &err);
    if (!f)
        fail(run, err.msg);
    vx_reader rd;
    vx_reader_init(&rd, f, vx_input_name(path));
    int got;
    while ((got = vx_reader_next(&rd, &run->recs[n], &err)) == 1)
        if (++n == run->cmd->batch) {
            flush_batch(run, n);
            n = 0;
            if (run->cmd->unbuffered && fflush(run->out) != 0)
                fail(run, "error writing the output");
        }
    if (got < 0)
        fail(run, err.msg);
    vx_close_input(f);
    return n;
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    vx_set_threads(cmd.threads);
    vx_error err;
    struct run run;
    start_run(&run, &cmd);
    if (vx_output_open(&run.output, cmd.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    run.out = run.output.file;
    int pending = 0;
    for (int i = 0; i < (cmd.ninputs ? cmd.ninputs : 1); i++)
        pending = read_input(&run, cmd.ninputs ? cmd.inputs[i] : "-", pending);
    if (pending)
        flush_batch(&run, pending);
    if (cmd.eval)
        print_eval(&run);
    else if (cmd.songs)
        finish_song(&run);
    if (vx_output_commit(&run.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    end_run(&run);
    return 0;
}
