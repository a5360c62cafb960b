/* vx-bars — class probabilities (vx-infer's records) drawn as bars in the terminal, smoothed
 * over time by an exponential moving average: the live view of a webcam's emotion. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_bars.h"

#include <getopt.h>
#include <langinfo.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "vx-bars";
static const char usage[] =
    "Usage: vx-bars [OPTION]... [STREAM]\n"
    "Draw the class probabilities of STREAM (vx-infer's f32 [classes] records; standard input\n"
    "when absent or '-') as labelled bars, smoothed by an exponential moving average.\n"
    "On a terminal the bars are redrawn in place a few times a second and the last state stays;\n"
    "elsewhere every record prints its block of bars, followed by a blank line.\n"
    "\n"
    "  -a, --alpha A     weight of each new record in the average, 0 < A <= 1 (0.3; 1: none)\n"
    "  -r, --rate HZ     redraws per second on a terminal (4)\n"
    "  -w, --width N     bar length in characters (40)\n"
    "  -t, --text        a tab-separated line per record: key, smoothed values, top class\n"
    "      --ascii       bars of '#' even where the locale is UTF-8\n"
    "  -h, --help        show this help and exit\n"
    "      --version     show the version and exit\n";

struct cmdline {
    double alpha, rate;
    int width, text, ascii;
    const char *input;
};

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    enum { ASCII = 256 };
    static const struct option longopts[] = {
        {"alpha", required_argument, NULL, 'a'}, {"rate", required_argument, NULL, 'r'},
        {"width", required_argument, NULL, 'w'}, {"text", no_argument, NULL, 't'},
        {"ascii", no_argument, NULL, ASCII},     {NULL, 0, NULL, 0}};
    vx_error err;
    long n;
    int c, bad = 0;
    memset(cmd, 0, sizeof *cmd);
    cmd->alpha = 0.3;
    cmd->rate = 4;
    cmd->width = 40;
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":a:r:w:t", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': bad = vx_parse_double(optarg, "--alpha", 1e-6, 1, &cmd->alpha, &err); break;
        case 'r': bad = vx_parse_double(optarg, "--rate", 0.01, 1000, &cmd->rate, &err); break;
        case 'w':
            bad = vx_parse_long(optarg, "--width", 1, 1000, &n, &err);
            cmd->width = (int)n;
            break;
        case 't': cmd->text = 1; break;
        case ASCII: cmd->ascii = 1; break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
        if (bad)
            vx_die(prog, 2, "%s", err.msg);
    }
    if (argc - optind > 1)
        vx_die(prog, 2, "one STREAM at most (see --help)");
    cmd->input = optind < argc ? argv[optind] : "-";
}

/* What the display keeps between records. */
struct view {
    const struct cmdline *cmd;
    vx_ema ema;
    char names[VX_NET_MAX_CLASSES][32];
    int terminal, utf8, drawn_lines;
    double last_draw;
    char key[128];
};

/* Class names from the record's classes= metadata, else the seven emotions, else numbers. */
static void take_names(struct view *v, const vx_record *r)
{
    char list[VX_MAX_TEXT];
    const char *p = vx_record_get_meta(r, "classes", list, sizeof list) ? list : NULL;
    for (int k = 0; k < v->ema.n; k++) {
        if (vx_classes_name(p, k, v->names[k], sizeof v->names[k]) && v->names[k][0])
            continue;
        if (v->ema.n == VX_NCLASSES)
            snprintf(v->names[k], sizeof v->names[k], "%s", vx_class_name(k));
        else
            snprintf(v->names[k], sizeof v->names[k], "%d", k);
    }
}

static void draw(struct view *v)
{
    char line[8 * 1000 + 128];
    int top = vx_ema_top(&v->ema);
    /* On a terminal, go back over the last drawing and overwrite it line by line. */
    if (v->terminal && v->drawn_lines)
        printf("\033[%dA", v->drawn_lines);
    printf("%s%s  %s %.2f  (%lu frames)\n", v->terminal ? "\033[2K" : "", v->key, v->names[top],
           v->ema.value[top], v->ema.count);
    for (int k = 0; k < v->ema.n; k++) {
        if (vx_bar_format(line, sizeof line, v->names[k], v->ema.value[k], v->cmd->width, v->utf8) < 0)
            line[0] = '\0';
        printf("%s%s\n", v->terminal ? "\033[2K" : "", line);
    }
    if (!v->terminal)
        putchar('\n');
    fflush(stdout);
    v->drawn_lines = v->ema.n + 1;
    v->last_draw = vx_seconds_now();
}

static void print_text(const struct view *v)
{
    printf("%s", v->key);
    for (int k = 0; k < v->ema.n; k++)
        printf("\t%.6f", v->ema.value[k]);
    printf("\t%s\n", v->names[vx_ema_top(&v->ema)]);
    fflush(stdout);
}

/* Checks a record and adds it to the average. */
static int take(struct view *v, const vx_record *r, vx_error *err)
{
    if (r->dtype != VX_F32 || r->rank != 1 || r->dim[0] < 1 || r->dim[0] > VX_NET_MAX_CLASSES)
        return vx_fail(err, "%s: not a probability record (f32 [classes], as vx-infer writes)", r->key);
    if (v->ema.count == 0) {
        if (vx_ema_init(&v->ema, v->cmd->alpha, (int)r->dim[0], err) < 0)
            return -1;
        take_names(v, r);
    } else if ((int)r->dim[0] != v->ema.n) {
        return vx_fail(err, "%s: %u classes after %d", r->key, (unsigned)r->dim[0], v->ema.n);
    }
    if (vx_record_require_finite(r, err) < 0)
        return -1;
    vx_ema_add(&v->ema, r->data);
    snprintf(v->key, sizeof v->key, "%s", r->key);
    return 0;
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    setlocale(LC_CTYPE, "");
    struct view v = {.cmd = &cmd, .terminal = isatty(STDOUT_FILENO)};
    v.utf8 = !cmd.ascii && strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

    vx_error err;
    FILE *f = vx_open_input(cmd.input, &err);
    if (!f)
        vx_die(prog, 1, "%s", err.msg);
    vx_reader rd;
    vx_reader_init(&rd, f, vx_input_name(cmd.input));
    vx_record r;
    vx_record_init(&r);
    int got, pending = 0;
    while ((got = vx_reader_next(&rd, &r, &err)) == 1) {
        if (take(&v, &r, &err) < 0) {
            got = -1;
            break;
        }
        pending = 1;
        if (cmd.text)
            print_text(&v);
        else if (!v.terminal || vx_seconds_now() - v.last_draw >= 1 / cmd.rate)
            draw(&v);
        else
            continue;
        pending = 0;
    }
    /* The last state stays on the screen, whatever the rate skipped. */
    if (pending && !cmd.text)
        draw(&v);
    vx_record_free(&r);
    vx_close_input(f);
    if (got < 0)
        vx_die(prog, 1, "%s", err.msg);
    if (fflush(stdout) != 0 || ferror(stdout))
        vx_die(prog, 1, "error writing standard output");
    return 0;
}
