/* vx-facecrop — find faces (OpenCV's Haar cascade on a padded image, checked by a small face
 * verifier network; or OpenCV's detector box for box) and turn them into small gray face records
 * for the emotion model, or list the boxes as text. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_face.h"
#include "vx_io.h"
#include "vx_nn.h"

#include <getopt.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "vx-facecrop";
static const char usage[] =
    "Usage: vx-facecrop [OPTION]... [FILE]...\n"
    "Find faces in images and write each as a SIZExSIZE gray u8 record [1,SIZE,SIZE] keyed KEY#I,\n"
    "with metadata box=\"x y w h\" and strength=N (raw detections merged into the box). A FILE is a\n"
    "tensor stream of image records or PNG/PNM images (several back to back, as netpbm files and\n"
    "ffmpeg -f image2pipe hold them, keyed FILE, FILE:2, ...); standard input (no FILE, or '-') is\n"
    "either, keyed stdin, stdin:2, ...\n"
    "Faces are numbered from the best: by the verifier's log-odds plus the log of the strength (the\n"
    "detections merged); with --opencv from the largest. By default only the first (#0) is written.\n"
    "An image without a face is an error (exit 1) unless --allow-none.\n"
    "\n"
    "Detection: the cascade on the image padded by a quarter of its smaller side (faces that fill\n"
    "the frame fit), its boxes checked by a face/non-face network (crop score= in the metadata):\n"
    "      --verifier FILE     the verifier model, or 'none' (default: verifier.vxm in the\n"
    "                          program's ../share/vibelux, or a build tree's models/)\n"
    "      --threshold P       face probability a box needs (default 0.5)\n"
    "      --pad F             padding, in parts of the smaller side (default 0.25)\n"
    "      --opencv            OpenCV 4.6 CascadeClassifier::detectMultiScale exactly, no more\n"
    "                          (with 5 neighbours and --min-size 30, not OpenCV's 3 and none:\n"
    "                          -n 3 --min-size 0 gives its defaults)\n"
    "  -c, --cascade FILE      cascade XML (default " VX_CASCADE_DEFAULT ")\n"
    "  -s, --scale-factor F    pyramid step, above 1 (default 1.1)\n"
    "  -n, --min-neighbors N   detections a face needs beyond itself (default 2; 5 with --opencv)\n"
    "      --min-size N[xM]    smallest face searched, in pixels (default 30)\n"
    "      --max-size N[xM]    largest face searched (default: the image)\n"
    "Output:\n"
    "  -a, --all               every face, not only the largest\n"
    "  -t, --text              print 'KEY x y w h strength' lines instead of records\n"
    "  -m, --margin F          grow each box by F times its size on every side (default 0)\n"
    "      --size N            crop size (default 48)\n"
    "      --normalise         stretch each crop to mean 128, deviation 48, as the verifier sees it\n"
    "      --allow-none        an image without a face writes nothing and is no error\n"
    "  -o, --output FILE       write to FILE, complete or not at all\n"
    "  -h, --help              show this help and exit\n"
    "      --version           show the version and exit\n";

struct cmdline {
    const char *cascade, *verifier;
    vx_find_params find; /* find.detect is the detection of both modes */
    int opencv, neighbors_given;
    int all, text, allow_none, size, normalise;
    double margin;
    const char *output;
    char **inputs;
    int ninputs;
};

/* "N" or "NxM". */
static int parse_size(const char *text, const char *option, int *w, int *h, vx_error *err)
{
    char buf[64];
    long a, b;
    const char *x = strchr(text, 'x');
    if (!x)
        x = strchr(text, 'X');
    if (!x) {
        if (vx_parse_long(text, option, 0, 1 << 24, &a, err) < 0)
            return -1;
        *w = *h = (int)a;
        return 0;
    }
    if (x == text || !x[1])
        return vx_fail(err, "%s: '%s' is not N or NxM (whole numbers of pixels)", option, text);
    snprintf(buf, sizeof buf, "%.*s", (int)(x - text), text);
    if (vx_parse_long(buf, option, 0, 1 << 24, &a, err) < 0 || vx_parse_long(x + 1, option, 0, 1 << 24, &b, err) < 0)
        return -1;
    *w = (int)a;
    *h = (int)b;
    return 0;
}

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    enum { OPENCV = 256, MIN_SIZE, MAX_SIZE, SIZE, ALLOW_NONE, VERIFIER, THRESHOLD, PAD, NORMALISE };
    static const struct option longopts[] = {
        {"opencv", no_argument, NULL, OPENCV},          {"cascade", required_argument, NULL, 'c'},
        {"scale-factor", required_argument, NULL, 's'}, {"min-neighbors", required_argument, NULL, 'n'},
        {"min-size", required_argument, NULL, MIN_SIZE}, {"max-size", required_argument, NULL, MAX_SIZE},
        {"all", no_argument, NULL, 'a'},                {"text", no_argument, NULL, 't'},
        {"margin", required_argument, NULL, 'm'},       {"size", required_argument, NULL, SIZE},
        {"allow-none", no_argument, NULL, ALLOW_NONE},  {"output", required_argument, NULL, 'o'},
        {"verifier", required_argument, NULL, VERIFIER}, {"threshold", required_argument, NULL, THRESHOLD},
        {"pad", required_argument, NULL, PAD},          {"normalise", no_argument, NULL, NORMALISE},
        {NULL, 0, NULL, 0}};
    vx_error err;
    long n;
    int c, bad = 0;
    memset(cmd, 0, sizeof *cmd);
    cmd->cascade = VX_CASCADE_DEFAULT;
    vx_find_params_init(&cmd->find);
    vx_detect_params *detect = &cmd->find.detect;
    cmd->size = 48;
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":c:s:n:atm:o:", longopts, NULL)) != -1) {
        switch (c) {
        case OPENCV: cmd->opencv = 1; break;
        case 'c': cmd->cascade = optarg; break;
        case 's': bad = vx_parse_double(optarg, "--scale-factor", 1.0001, 100, &detect->scale_factor, &err); break;
        case 'n':
            bad = vx_parse_long(optarg, "--min-neighbors", 0, 100000, &n, &err);
            detect->min_neighbors = (int)n;
            cmd->neighbors_given = 1;
            break;
        case MIN_SIZE: bad = parse_size(optarg, "--min-size", &detect->min_w, &detect->min_h, &err); break;
        case MAX_SIZE: bad = parse_size(optarg, "--max-size", &detect->max_w, &detect->max_h, &err); break;
        case VERIFIER: cmd->verifier = optarg; break;
        case THRESHOLD: bad = vx_parse_double(optarg, "--threshold", 0, 1, &cmd->find.threshold, &err); break;
        case NORMALISE: cmd->normalise = 1; break;
        case PAD: bad = vx_parse_double(optarg, "--pad", 0, 2, &cmd->find.pad, &err); break;
        case 'a': cmd->all = 1; break;
        case 't': cmd->text = 1; break;
        case 'm': bad = vx_parse_double(optarg, "--margin", 0, 1, &cmd->margin, &err); break;
        case SIZE:
            bad = vx_parse_long(optarg, "--size", 1, 4096, &n, &err);
            cmd->size = (int)n;
            break;
        case ALLOW_NONE: cmd->allow_none = 1; break;
        case 'o': cmd->output = optarg; break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
        if (bad)
            vx_die(prog, 2, "%s", err.msg);
    }
    if (cmd->opencv && !cmd->neighbors_given) {
        vx_detect_params exact;
        vx_detect_params_init(&exact);
        detect->min_neighbors = exact.min_neighbors;
    }
    cmd->inputs = argv + optind;
    cmd->ninputs = argc - optind;
}

/* The shipped verifier: beside an installed program (BIN/../share/vibelux) or in the source tree
 * of a build (BUILD/bin/../../models). Returns 0 and the path in buf, or -1. */
static int find_verifier(char *buf, size_t size)
{
    static const char *const places[] = {"%s/../share/vibelux/verifier.vxm", "%s/../../models/verifier.vxm"};
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0)
        return -1;
    exe[len] = '\0';
    const char *dir = dirname(exe);
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        snprintf(buf, size, places[i], dir);
        if (access(buf, R_OK) == 0)
            return 0;
    }
    return -1;
}

/* Largest first; equal areas keep OpenCV's order (an insertion sort is stable; face lists are short). */
static void sort_by_area(vx_box *b, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        vx_box v = b[i];
        long long area = (long long)v.w * v.h;
        size_t j = i;
        for (; j > 0 && (long long)b[j - 1].w * b[j - 1].h < area; j--)
            b[j] = b[j - 1];
        b[j] = v;
    }
}

struct job {
    const struct cmdline *cmd;
    const vx_cascade *cascade;
    vx_net *verifier; /* NULL: --opencv or --verifier none */
    FILE *out;
    vx_record crop;
};

/* Writes one face as a crop record keyed KEY#I, carrying the image's label and metadata. */
static int write_crop(struct job *job, const vx_record *r, const unsigned char *gray, int w, int h, const vx_box *b,
                      float score, size_t i, vx_error *err)
{
    const struct cmdline *cmd = job->cmd;
    vx_record *c = &job->crop;
    uint32_t dim[3] = {1, (uint32_t)cmd->size, (uint32_t)cmd->size};
    char key[VX_MAX_TEXT + 32], value[64];
    snprintf(key, sizeof key, "%s#%zu", r->key, i);
    if (vx_record_shape(c, VX_U8, 3, dim, err) < 0 || vx_record_set_key(c, key, err) < 0)
        return -1;
    free(c->meta);
    c->meta = strdup(r->meta ? r->meta : "");
    if (!c->meta)
        return vx_fail(err, "out of memory");
    c->label = r->label;
    snprintf(value, sizeof value, "%d %d %d %d", b->x, b->y, b->w, b->h);
    if (vx_record_set_meta(c, "box", value, err) < 0)
        return -1;
    snprintf(value, sizeof value, "%d", b->strength);
    if (vx_record_set_meta(c, "strength", value, err) < 0)
        return -1;
    snprintf(value, sizeof value, "%.4f", score);
    if ((!cmd->opencv && vx_record_set_meta(c, "score", value, err) < 0) ||
        vx_face_crop(gray, w, h, (size_t)w, *b, cmd->margin, cmd->size, c->data, err) < 0)
        return -1;
    if (cmd->normalise)
        vx_crop_normalise(c->data, (size_t)cmd->size * (size_t)cmd->size);
    return vx_record_write(job->out, c, err);
}

/* Detects in one image record and writes its faces. */
static int process(struct job *job, const vx_record *r, vx_error *err)
{
    const struct cmdline *cmd = job->cmd;
    const unsigned char *gray;
    unsigned char *scratch;
    int w, h;
    if (vx_image_gray(r, &gray, &w, &h, &scratch, err) < 0)
        return -1;
    vx_box *boxes;
    float *scores = NULL;
    size_t n;
    int rc = cmd->opencv
                 ? vx_cascade_detect(job->cascade, gray, w, h, (size_t)w, &cmd->find.detect, &boxes, &n, err)
                 : vx_faces_find(job->cascade, job->verifier, gray, w, h, (size_t)w, &cmd->find, &boxes, &scores, &n, err);
    if (rc < 0) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        vx_fail(err, "%s: %s", r->key, msg);
    } else if (n == 0 && !cmd->allow_none) {
        rc = vx_fail(err, "%s: no face found", r->key);
    }
    if (cmd->opencv)
        sort_by_area(boxes, n);
    size_t keep = cmd->all ? n : (n > 0);
    for (size_t i = 0; rc == 0 && i < keep; i++) {
        const vx_box *b = &boxes[i];
        if (!cmd->text)
            rc = write_crop(job, r, gray, w, h, b, scores ? scores[i] : 0, i, err);
        else if (fprintf(job->out, "%s %d %d %d %d %d\n", r->key, b->x, b->y, b->w, b->h, b->strength) < 0)
            rc = vx_fail(err, "error writing the output");
    }
    free(boxes);
    free(scores);
    free(scratch);
    /* Each image's faces leave at once, so a live stream of frames flows through. */
    if (rc == 0 && fflush(job->out) != 0)
        rc = vx_fail(err, "error writing the output");
    return rc;
}

/* A FILE argument or standard input: a tensor stream, or PNG/PNM images (several back to back in
 * a netpbm file or an ffmpeg image2pipe stream), each handled as it arrives. */
static int process_input(struct job *job, const char *path, vx_record *r, vx_error *err)
{
    FILE *f = vx_open_input(path, err);
    if (!f)
        return -1;
    int is_stdin = f == stdin, rc = 0, more;
    const char *where = vx_input_name(path);
    int first, image = vx_peek_image(f, where, &first, err);
    if (image < 0)
        rc = -1;
    if (image == 1) {
        vx_decoder dec;
        vx_decode_opts o;
        vx_decode_opts_init(&o);
        vx_decoder_init(&dec, &o);
        while ((more = vx_decode_image_next(&dec, f, where, r, err)) == 1 && (rc = process(job, r, err)) == 0)
            ;
        if (more < 0)
            rc = -1;
        vx_decoder_end(&dec);
    } else if (rc == 0 && first == EOF) {
        rc = ferror(f) ? vx_fail(err, "error reading %s", where) : 0; /* an empty stream: no records */
    } else if (rc == 0 && !is_stdin && first != 'V') {
        rc = vx_fail(err, "%s: neither a tensor stream nor a PNG/PNM image", path);
    } else if (rc == 0) {
        vx_reader rd;
        vx_reader_init(&rd, f, where);
        while ((more = vx_reader_next(&rd, r, err)) == 1 && (rc = process(job, r, err)) == 0)
            ;
        if (more < 0)
            rc = -1;
    }
    vx_close_input(f);
    return rc;
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);

    vx_error err;
    vx_cascade *cascade = vx_cascade_load(cmd.cascade, &err);
    if (!cascade)
        vx_die(prog, 1, "%s", err.msg);
    vx_net *verifier = NULL;
    char shipped[4200];
    const char *vpath = cmd.opencv || (cmd.verifier && strcmp(cmd.verifier, "none") == 0) ? NULL : cmd.verifier;
    if (!cmd.opencv && !cmd.verifier) {
        if (find_verifier(shipped, sizeof shipped) < 0)
            vx_die(prog, 1, "no face verifier (verifier.vxm in ../share/vibelux beside the program); "
                            "give --verifier FILE, --verifier none or --opencv");
        vpath = shipped;
    }
    if (vpath && !(verifier = vx_net_load(vpath, &err)))
        vx_die(prog, 1, "%s", err.msg);
    vx_output out;
    if (vx_output_open(&out, cmd.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    struct job job = {&cmd, cascade, verifier, out.file, {0}};
    vx_record_init(&job.crop);
    vx_record r;
    vx_record_init(&r);
    char *stdin_only[] = {"-"};
    char **inputs = cmd.ninputs ? cmd.inputs : stdin_only;
    int ninputs = cmd.ninputs ? cmd.ninputs : 1;
    int rc = 0;
    for (int i = 0; i < ninputs && rc == 0; i++)
        rc = process_input(&job, inputs[i], &r, &err);
    if (rc == 0)
        rc = vx_output_commit(&out, &err);
    if (rc < 0) {
        vx_output_abort(&out);
        vx_die(prog, 1, "%s", err.msg);
    }
    vx_record_free(&r);
    vx_record_free(&job.crop);
    vx_cascade_free(cascade);
    vx_net_free(verifier);
    return 0;
}
