/* vx-match — recommend songs for faces: each query (face probabilities from vx-infer, --vector or
 * --emotion) against a song index, the top k as text, an M3U playlist or plain paths. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_song.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char prog[] = "vx-match";
static const char usage[] =
    "Usage: vx-match [OPTION]... INDEX [STREAM]...\n"
    "Recommend the songs of INDEX closest to each face of STREAM (f32 [7] probability records from\n"
    "vx-infer; standard input when absent or '-'), or to one --vector or --emotion.\n"
    "Text lines: query key, rank, score, song path, the song's vector (tab-separated).\n"
    "\n"
    "  -v, --vector LIST     one query: 7 comma-separated weights, anger..surprise\n"
    "  -e, --emotion NAME    one query: all weight on one emotion (happy, sad, ...)\n"
    "  -s, --space SPACE     emotions (cosine of the 7-vectors, default) or va (valence/arousal plane)\n"
    "  -k N                  songs per query (10)\n"
    "  -x, --exclude FILE    never recommend the paths listed in FILE, one per line\n"
    "  -d, --diversity L     maximal marginal relevance, 0 (pure similarity, default) .. 1\n"
    "  -l, --lift STEP       mood lift toward positive valence: emotions 0..1 (share of negative\n"
    "                        weight moved to happy), va 0..8 (added to valence); 0 = off (default)\n"
    "      --explain         show each query's target and each dimension's share of each score\n"
    "      --text            tab-separated results (default)\n"
    "      --m3u             an extended M3U playlist (play, mpv, vlc)\n"
    "      --paths           song paths only, one per line (mpc add)\n"
    "  -o, --output FILE     write to FILE, complete or not at all\n"
    "  -h, --help            show this help and exit\n"
    "      --version         show the version and exit\n";

enum form { FORM_TEXT, FORM_M3U, FORM_PATHS };

struct cmdline {
    vx_match_opts opts;
    enum form form;
    int explain;
    const char *vector, *emotion, *exclude, *output, *index;
    char **inputs;
    int ninputs;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    enum { OPT_EXPLAIN = 256, OPT_TEXT, OPT_M3U, OPT_PATHS };
    static const struct option longopts[] = {
        {"vector", required_argument, NULL, 'v'},  {"emotion", required_argument, NULL, 'e'},
        {"space", required_argument, NULL, 's'},   {"exclude", required_argument, NULL, 'x'},
        {"diversity", required_argument, NULL, 'd'}, {"lift", required_argument, NULL, 'l'},
        {"output", required_argument, NULL, 'o'},  {"explain", no_argument, NULL, OPT_EXPLAIN},
        {"text", no_argument, NULL, OPT_TEXT},     {"m3u", no_argument, NULL, OPT_M3U},
        {"paths", no_argument, NULL, OPT_PATHS},   {NULL, 0, NULL, 0}};
    int c;
    long v;
    vx_error err;
    memset(cmd, 0, sizeof *cmd);
    cmd->opts.k = 10;
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":v:e:s:k:x:d:l:o:", longopts, NULL)) != -1) {
        switch (c) {
        case 'v': cmd->vector = optarg; break;
        case 'e': cmd->emotion = optarg; break;
        case 's': {
            static const char *const spaces[] = {"emotions", "va"}; /* enum vx_match_space's order */
            int i = vx_parse_choice(optarg, "--space", spaces, 2, &err);
            if (i < 0)
                vx_die(prog, 2, "%s", err.msg);
            cmd->opts.space = (enum vx_match_space)i;
            break;
        }
        case 'k':
            if (vx_parse_long(optarg, "-k", 1, 100000, &v, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            cmd->opts.k = (int)v;
            break;
        case 'x': cmd->exclude = optarg; break;
        case 'd':
            if (vx_parse_double(optarg, "--diversity", 0, 1, &cmd->opts.diversity, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            break;
        case 'l':
            if (vx_parse_double(optarg, "--lift", 0, 8, &cmd->opts.lift, &err) < 0)
                vx_die(prog, 2, "%s", err.msg);
            break;
        case 'o': cmd->output = optarg; break;
        case OPT_EXPLAIN: cmd->explain = 1; break;
        case OPT_TEXT: cmd->form = FORM_TEXT; break;
        case OPT_M3U: cmd->form = FORM_M3U; break;
        case OPT_PATHS: cmd->form = FORM_PATHS; break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
    }
    if (optind >= argc)
        vx_die(prog, 2, "no INDEX (see --help)");
    if (cmd->vector && cmd->emotion)
        vx_die(prog, 2, "--vector and --emotion exclude each other");
    if ((cmd->vector || cmd->emotion) && optind + 1 < argc)
        vx_die(prog, 2, "a --vector or --emotion query takes no STREAM");
    if (cmd->opts.space == VX_MATCH_EMOTIONS && cmd->opts.lift > 1)
        vx_die(prog, 2, "--lift: in the emotion space the step is a share of weight, 0..1");
    if (cmd->explain && cmd->form == FORM_PATHS)
        vx_die(prog, 2, "--explain needs --text or --m3u (plain paths have no room for it)");
    cmd->index = argv[optind];
    cmd->inputs = argv + optind + 1;
    cmd->ninputs = argc - optind - 1;
}

struct run {
    const struct cmdline *cmd;
    vx_index *ix;
    unsigned char *exclude; /* [count], or NULL */
    vx_match_result *results;
    vx_output output;
    FILE *out;
    int skipped; /* songs left out of a playlist for a newline in their path */
};

static _Noreturn void fail(struct run *run, const char *fmt, const char *msg)
{
    vx_output_abort(&run->output);
    vx_die(prog, 1, fmt, msg);
}

/* The excluded paths as a mask over the index; paths not in it are ignored. */
static void load_exclude(struct run *run, const char *path)
{
    vx_error err;
    FILE *f = vx_open_input(path, &err);
    if (!f)
        fail(run, "%s", err.msg);
    run->exclude = vx_calloc(vx_index_count(run->ix), 1, &err);
    if (!run->exclude)
        fail(run, "%s", err.msg);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = 0;
        long long i = len ? vx_index_find(run->ix, line) : -1;
        if (i >= 0)
            run->exclude[i] = 1;
    }
    int bad = ferror(f);
    free(line);
    vx_close_input(f);
    if (bad)
        fail(run, "cannot read %s", path);
}

static void put_title(FILE *f, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    fprintf(f, "%.*s", (int)n, base);
}

static void explain(FILE *f, enum vx_match_space space, const float *target, const float *vec, double score)
{
    static const char *axes[2] = {"valence", "arousal"};
    double contrib[VX_NCLASSES];
    int d = vx_match_dims(space);
    vx_match_similarity(space, target, vec, contrib);
    if (space == VX_MATCH_VA) {
        double dist = (1 - score) * VX_VA_MAX_DISTANCE;
        fprintf(f, "#\tdistance %.4f, score = 1 - %.4f / %.4f\n", dist, dist, VX_VA_MAX_DISTANCE);
    }
    for (int i = 0; i < d; i++)
        fprintf(f, "#\t%-8s\tquery %.4f\tsong %.4f\t%s %+.4f\n", space == VX_MATCH_VA ? axes[i] : vx_class_name(i),
                target[i], vec[i], space == VX_MATCH_VA ? "share of distance^2" : "contribution", contrib[i]);
}

/* One query: its results in the chosen form. */
static void answer(struct run *run, const char *key, const float p[VX_NCLASSES], const char *where)
{
    const struct cmdline *cmd = run->cmd;
    vx_error err;
    float target[VX_NCLASSES];
    int n;
    const vx_index_space *sp = vx_index_space_of(run->ix);
    if (vx_match_target(sp, &cmd->opts, p, target, &err) < 0) {
        char msg[sizeof err.msg + 256];
        snprintf(msg, sizeof msg, "%s: query '%.200s': %s", where, key, err.msg);
        fail(run, "%s", msg);
    }
    if (vx_match_run(run->ix, &cmd->opts, target, run->results, &n, &err) < 0)
        fail(run, "%s", err.msg);
    FILE *f = run->out;
    int d = vx_match_dims(cmd->opts.space);
    if (cmd->explain) {
        fputs("# query ", f);
        vx_song_put_escaped(f, key);
        fprintf(f, " target (%s):", cmd->opts.space == VX_MATCH_VA ? "valence arousal" : "anger..surprise");
        for (int i = 0; i < d; i++)
            fprintf(f, " %.4f", target[i]);
        fputc('\n', f);
    }
    for (int r = 0; r < n; r++) {
        vx_song s;
        if (vx_index_get(run->ix, run->results[r].song, &s, &err) < 0)
            fail(run, "%s", err.msg);
        const float *vec = cmd->opts.space == VX_MATCH_VA ? s.va : s.vec;
        if (cmd->form != FORM_TEXT && strchr(s.path, '\n')) {
            run->skipped++;
            continue;
        }
        if (cmd->form == FORM_TEXT) {
            vx_song_put_escaped(f, key);
            fprintf(f, "\t%d\t%.6f\t", r + 1, run->results[r].score);
            vx_song_put_escaped(f, s.path);
            for (int i = 0; i < d; i++)
                fprintf(f, "\t%.4f", vec[i]);
            fputc('\n', f);
        } else if (cmd->form == FORM_M3U) {
            fprintf(f, "#EXTINF:%ld,", lround(s.duration));
            put_title(f, s.path);
            fprintf(f, "\n%s\n", s.path);
        } else {
            fprintf(f, "%s\n", s.path);
        }
        if (cmd->explain)
            explain(f, cmd->opts.space, target, vec, run->results[r].score);
    }
}

/* Every probability record of one input is a query. */
static void answer_stream(struct run *run, const char *input)
{
    vx_error err;
    FILE *f = vx_open_input(input, &err);
    if (!f)
        fail(run, "%s", err.msg);
    const char *where = vx_input_name(input);
    vx_reader rd;
    vx_record r;
    vx_reader_init(&rd, f, where);
    vx_record_init(&r);
    char classes[VX_MAX_TEXT], expect[128] = "", msg[sizeof err.msg + 512];
    for (int e = 0; e < VX_NCLASSES; e++)
        snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "%s%s", e ? "," : "", vx_class_name(e));
    int got;
    while ((got = vx_reader_next(&rd, &r, &err)) == 1) {
        const char *bad = NULL;
        if (r.dtype != VX_F32 || vx_record_count(&r) != VX_NCLASSES)
            bad = "a query is an f32 record of the 7 emotion probabilities";
        else if (vx_record_get_meta(&r, "classes", classes, sizeof classes) && strcmp(classes, expect))
            bad = "the record's classes= are not the 7 face emotions";
        if (bad) {
            snprintf(msg, sizeof msg, "%s: record %llu '%.200s': %s", where, (unsigned long long)rd.nrecords, r.key,
                     bad);
            fail(run, "%s", msg);
        }
        answer(run, r.key, r.data, where);
    }
    vx_record_free(&r);
    vx_close_input(f);
    if (got < 0)
        fail(run, "%s", err.msg);
}

/* --vector LIST: 7 numbers, exactly. */
static void parse_vector(struct run *run, const char *text, float p[VX_NCLASSES])
{
    vx_error err;
    const char *c = text;
    int n = 0;
    for (;;) {
        char item[64];
        size_t len = strcspn(c, ",");
        double v;
        snprintf(item, sizeof item, "%.*s", (int)(len < sizeof item ? len : sizeof item - 1), c);
        if (n == VX_NCLASSES)
            fail(run, "--vector: %s", "more than 7 values (anger,disgust,fear,happy,neutral,sad,surprise)");
        if (vx_parse_double(item, "--vector", -HUGE_VAL, HUGE_VAL, &v, &err) < 0 || !isfinite(v))
            fail(run, "--vector: '%s' is not a finite number", item);
        p[n++] = (float)v;
        if (!c[len])
            break;
        c += len + 1;
    }
    if (n != VX_NCLASSES)
        fail(run, "--vector: %s", "fewer than 7 values (anger,disgust,fear,happy,neutral,sad,surprise)");
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    vx_error err;
    struct run run;
    memset(&run, 0, sizeof run);
    run.cmd = &cmd;
    run.ix = vx_index_open(cmd.index, &err);
    if (!run.ix)
        vx_die(prog, 1, "%s", err.msg);
    if (vx_index_count(run.ix) == 0)
        vx_die(prog, 1, "%s: the index holds no songs", cmd.index);
    run.results = vx_calloc((size_t)cmd.opts.k, sizeof *run.results, &err);
    if (!run.results)
        vx_die(prog, 1, "%s", err.msg);
    if (vx_output_open(&run.output, cmd.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    run.out = run.output.file;
    if (cmd.exclude) {
        load_exclude(&run, cmd.exclude);
        cmd.opts.exclude = run.exclude;
    }
    if (cmd.form == FORM_M3U)
        fputs("#EXTM3U\n", run.out);
    if (cmd.vector || cmd.emotion) {
        float p[VX_NCLASSES] = {0};
        int e = cmd.emotion ? vx_class_from_name(cmd.emotion) : 0;
        if (cmd.emotion && e < 0)
            fail(&run, "--emotion: '%s' is not one of anger disgust fear happy neutral sad surprise", cmd.emotion);
        if (cmd.emotion)
            p[e] = 1;
        else
            parse_vector(&run, cmd.vector, p);
        answer(&run, cmd.emotion ? vx_class_name(e) : "vector", p, "command line");
    } else {
        for (int i = 0; i < (cmd.ninputs ? cmd.ninputs : 1); i++)
            answer_stream(&run, cmd.ninputs ? cmd.inputs[i] : "-");
    }
    if (vx_output_commit(&run.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    if (run.skipped)
        fprintf(stderr, "%s: %d songs left out: a newline in the path cannot go in a playlist\n", prog, run.skipped);
    free(run.results);
    free(run.exclude);
    vx_index_close(run.ix);
    return 0;
}
