/* vx-train — train a convolutional network (architecture text) on a labelled tensor stream,
 * with validation, a TSV log, per-epoch checkpoints and resume after a kill. */
#define _POSIX_C_SOURCE 200809L
#include "vx.h"
#include "vx_nn.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char prog[] = "vx-train";
static const char usage[] =
    "Usage: vx-train --arch FILE -o MODEL [OPTION]... [STREAM]\n"
    "Train the network of FILE on the labelled images of STREAM (standard input when absent or '-').\n"
    "\n"
    "  -a, --arch FILE          architecture text (see vx-model(5))\n"
    "  -o, --output MODEL       the trained model (written at the end)\n"
    "      --val STREAM         labelled images to validate on after every epoch\n"
    "      --best MODEL         also keep the model of the best validation accuracy\n"
    "      --log TSV            one line per epoch: epoch train_loss train_acc val_loss val_acc seconds images_per_s\n"
    "      --checkpoint FILE    save model and optimiser state after every epoch\n"
    "      --resume             continue from --checkpoint when it exists\n"
    "      --init MODEL         start from MODEL's weights and normalisation (same architecture)\n"
    "  -e, --epochs N           epochs (30)\n"
    "  -b, --batch N            batch size (64)\n"
    "      --lr X               peak learning rate (0.001)\n"
    "      --optimizer NAME     adamw or sgd (adamw)\n"
    "      --momentum X         SGD momentum, or AdamW beta1 (0.9)\n"
    "      --weight-decay X     decoupled (AdamW) or L2 (SGD) weight decay (0.0001)\n"
    "      --schedule NAME      cosine, step or constant (cosine)\n"
    "      --warmup E           epochs of linear warm-up (1)\n"
    "      --step-epochs N      step schedule: decay every N epochs (10)\n"
    "      --step-gamma X       step schedule: decay factor (0.1)\n"
    "      --label-smoothing X  (0)\n"
    "      --class-weights W    'balanced' or one comma-separated weight per class\n"
    "      --augment[=POLICY]   image (random flip, shift, rotation and scale; the default), audio\n"
    "                           (a random window in time, gain, masks) or none\n"
    "      --no-augment         the same as --augment=none\n"
    "      --erase P            image policy: blank a random rectangle with probability P (0)\n"
    "      --gain DB            audio policy: a random gain of up to +-DB (0)\n"
    "      --time-mask N        audio policy: blank up to N frames (0)\n"
    "      --freq-mask N        audio policy: blank up to N bands (0)\n"
    "      --stretch X          audio policy: play a window faster or slower, by a factor up to 1+X (0)\n"
    "      --band-shift N       audio policy: move it up to N bands up or down (0)\n"
    "      --mixup ALPHA        mix each input with another of its batch, labels alike, in a\n"
    "                           proportion drawn from Beta(ALPHA, ALPHA) (0: off)\n"
    "      --mix-style P        give a share P of the inputs, band by band, a mixture of their own\n"
    "                           mean and deviation over time and another input's (0: off)\n"
    "      --domain STREAM      domain-adversarial training: spectrograms of the music the model is\n"
    "                           to run on (unlabelled); the network learns features that do not\n"
    "                           tell them from the training set's (needs a gap layer)\n"
    "      --domain-weight X    the weight of the reversed domain loss, reached by a ramp (1)\n"
    "      --repeat N           windows taken from each real-valued sample per epoch (1)\n"
    "      --norm MODE          real-valued input: scalar (one mean and deviation), bands (one per\n"
    "                           band), either followed by ,segment to remove each input's own band\n"
    "                           means first (scalar)\n"
    "      --seed N             initialisation, order, augmentation and dropout (1)\n"
    "      --views SPEC         record how the model is to be run: flip, shift=N or both (none)\n"
    "  -j, --threads N          OpenMP threads (results do not depend on it)\n"
    "      --direct-conv        convolutions by im2col and GEMM only, not Winograd's algorithm or\n"
    "                           the one-plane kernel where they fit: slower, the same up to\n"
    "                           rounding; to check the fast path\n"
    "      --max-memory MB      refuse a network whose parameters, optimiser state, activations\n"
    "                           and workspace need more (4096)\n"
    "      --progress           progress on stderr even when it is not a terminal\n"
    "  -h, --help               show this help and exit\n"
    "      --version            show the version and exit\n";

struct cmdline {
    const char *arch, *output, *val, *best, *log, *checkpoint, *class_weights, *input, *init, *norm, *domain;
    int resume, threads, progress, direct_conv;
    char views[32]; /* --views in its canonical form, or empty */
    vx_train_opts opts;
};

enum { OPT_VAL = 256, OPT_BEST, OPT_LOG, OPT_CKPT, OPT_RESUME, OPT_LR, OPT_OPTIM, OPT_MOM, OPT_WD, OPT_SCHED,
       OPT_WARM, OPT_STEPE, OPT_STEPG, OPT_LS, OPT_CW, OPT_AUG, OPT_NOAUG, OPT_SEED, OPT_PROGRESS, OPT_INIT,
       OPT_ERASE, OPT_VIEWS, OPT_GAIN, OPT_TMASK, OPT_FMASK, OPT_REPEAT, OPT_NORM, OPT_MAXMEM, OPT_STRETCH, OPT_BSHIFT, OPT_MIXUP, OPT_MIXSTYLE,
       OPT_DIRECT, OPT_DOMAIN, OPT_DOMAINW };

static double num(const char *text, const char *opt, double lo, double hi)
{
    double v;
    vx_error err;
    if (vx_parse_double(text, opt, lo, hi, &v, &err) < 0)
        vx_die(prog, 2, "%s", err.msg);
    return v;
}

static long whole(const char *text, const char *opt, long lo, long hi)
{
    long v;
    vx_error err;
    if (vx_parse_long(text, opt, lo, hi, &v, &err) < 0)
        vx_die(prog, 2, "%s", err.msg);
    return v;
}

/* In the order of their enums (vx_nn.h). */
static const char *const augment_names[] = {"none", "image", "audio"};
static const char *const optimizer_names[] = {"adamw", "sgd"};
static const char *const schedule_names[] = {"cosine", "step", "constant"};

static int choice(const char *text, const char *opt, const char *const *words, int n)
{
    vx_error err;
    int i = vx_parse_choice(text, opt, words, n, &err);
    if (i < 0)
        vx_die(prog, 2, "%s", err.msg);
    return i;
}

static void parse_cmdline(int argc, char **argv, struct cmdline *cmd)
{
    static const struct option longopts[] = {
        {"arch", required_argument, NULL, 'a'},        {"output", required_argument, NULL, 'o'},
        {"epochs", required_argument, NULL, 'e'},      {"batch", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 'j'},     {"val", required_argument, NULL, OPT_VAL},
        {"best", required_argument, NULL, OPT_BEST},   {"log", required_argument, NULL, OPT_LOG},
        {"checkpoint", required_argument, NULL, OPT_CKPT}, {"resume", no_argument, NULL, OPT_RESUME},
        {"lr", required_argument, NULL, OPT_LR},       {"optimizer", required_argument, NULL, OPT_OPTIM},
        {"momentum", required_argument, NULL, OPT_MOM}, {"weight-decay", required_argument, NULL, OPT_WD},
        {"schedule", required_argument, NULL, OPT_SCHED}, {"warmup", required_argument, NULL, OPT_WARM},
        {"step-epochs", required_argument, NULL, OPT_STEPE}, {"step-gamma", required_argument, NULL, OPT_STEPG},
        {"label-smoothing", required_argument, NULL, OPT_LS}, {"class-weights", required_argument, NULL, OPT_CW},
        {"augment", optional_argument, NULL, OPT_AUG},       {"no-augment", no_argument, NULL, OPT_NOAUG},
        {"seed", required_argument, NULL, OPT_SEED},   {"progress", no_argument, NULL, OPT_PROGRESS},
        {"init", required_argument, NULL, OPT_INIT},   {"erase", required_argument, NULL, OPT_ERASE},
        {"views", required_argument, NULL, OPT_VIEWS}, {"gain", required_argument, NULL, OPT_GAIN},
        {"time-mask", required_argument, NULL, OPT_TMASK}, {"freq-mask", required_argument, NULL, OPT_FMASK},
        {"repeat", required_argument, NULL, OPT_REPEAT}, {"norm", required_argument, NULL, OPT_NORM},
        {"direct-conv", no_argument, NULL, OPT_DIRECT},
        {"max-memory", required_argument, NULL, OPT_MAXMEM}, {"stretch", required_argument, NULL, OPT_STRETCH},
        {"band-shift", required_argument, NULL, OPT_BSHIFT}, {"mixup", required_argument, NULL, OPT_MIXUP},
        {"mix-style", required_argument, NULL, OPT_MIXSTYLE}, {"domain", required_argument, NULL, OPT_DOMAIN},
        {"domain-weight", required_argument, NULL, OPT_DOMAINW},
        {NULL, 0, NULL, 0}};
    int c;
    vx_error err;
    memset(cmd, 0, sizeof *cmd);
    vx_train_defaults(&cmd->opts);
    vx_train_opts *o = &cmd->opts;
    opterr = 0; /* getopt would print argv[0], not the program name */
    while ((c = getopt_long(argc, argv, ":a:o:e:b:j:", longopts, NULL)) != -1) {
        switch (c) {
        case 'a': cmd->arch = optarg; break;
        case 'o': cmd->output = optarg; break;
        case 'e': o->epochs = (int)whole(optarg, "--epochs", 1, 100000); break;
        case 'b': o->batch = (int)whole(optarg, "--batch", 2, 65536); break;
        case 'j': cmd->threads = (int)whole(optarg, "--threads", 1, 1024); break;
        case OPT_DIRECT: cmd->direct_conv = 1; break;
        case OPT_VAL: cmd->val = optarg; break;
        case OPT_BEST: cmd->best = optarg; break;
        case OPT_LOG: cmd->log = optarg; break;
        case OPT_CKPT: cmd->checkpoint = optarg; break;
        case OPT_RESUME: cmd->resume = 1; break;
        case OPT_LR: o->lr = num(optarg, "--lr", 1e-9, 10); break;
        case OPT_MOM: o->momentum = num(optarg, "--momentum", 0, 0.9999); break;
        case OPT_WD: o->weight_decay = num(optarg, "--weight-decay", 0, 1); break;
        case OPT_WARM: o->warmup = num(optarg, "--warmup", 0, 1000); break;
        case OPT_STEPE: o->step_epochs = (int)whole(optarg, "--step-epochs", 1, 100000); break;
        case OPT_STEPG: o->step_gamma = num(optarg, "--step-gamma", 0, 1); break;
        case OPT_LS: o->label_smoothing = num(optarg, "--label-smoothing", 0, 0.5); break;
        case OPT_CW: cmd->class_weights = optarg; break;
        case OPT_AUG: o->augment = optarg ? choice(optarg, "--augment", augment_names, 3) : VX_AUGMENT_IMAGE; break;
        case OPT_NOAUG: o->augment = VX_AUGMENT_NONE; break;
        case OPT_GAIN: o->gain_db = num(optarg, "--gain", 0, 60); break;
        case OPT_TMASK: o->time_mask = (int)whole(optarg, "--time-mask", 0, 100000); break;
        case OPT_FMASK: o->freq_mask = (int)whole(optarg, "--freq-mask", 0, 100000); break;
        case OPT_STRETCH: o->stretch = num(optarg, "--stretch", 0, 1); break;
        case OPT_BSHIFT: o->band_shift = (int)whole(optarg, "--band-shift", 0, 1000); break;
        case OPT_MIXUP: o->mixup = num(optarg, "--mixup", 0, 100); break;
        case OPT_MIXSTYLE: o->mix_style = num(optarg, "--mix-style", 0, 1); break;
        case OPT_DOMAIN: cmd->domain = optarg; break;
        case OPT_DOMAINW: o->domain_weight = num(optarg, "--domain-weight", 0, 100); break;
        case OPT_REPEAT: o->repeat = (int)whole(optarg, "--repeat", 1, 1000); break;
        case OPT_NORM:
            if (vx_input_norm_check(optarg, &err) < 0)
                vx_die(prog, 2, "--norm: %s", err.msg);
            cmd->norm = optarg;
            break;
        case OPT_ERASE: o->erase = num(optarg, "--erase", 0, 1); break;
        case OPT_SEED: o->seed = (uint64_t)whole(optarg, "--seed", 0, 0x7fffffffL); break;
        case OPT_PROGRESS: cmd->progress = 1; break;
        case OPT_MAXMEM: vx_net_set_memory_limit((size_t)whole(optarg, "--max-memory", 1, 1L << 20) << 20); break;
        case OPT_INIT: cmd->init = optarg; break;
        case OPT_VIEWS: {
            vx_views views;
            if (vx_views_parse(optarg, &views, &err) < 0)
                vx_die(prog, 2, "--views: %s", err.msg);
            vx_views_format(&views, cmd->views, sizeof cmd->views);
            break;
        }
        case OPT_OPTIM: o->optimizer = choice(optarg, "--optimizer", optimizer_names, 2); break;
        case OPT_SCHED: o->schedule = choice(optarg, "--schedule", schedule_names, 3); break;
        default: vx_cli_bad_option(prog, c, argv, optind, optopt);
        }
    }
    if (optind + 1 < argc)
        vx_die(prog, 2, "one training stream at most (see --help)");
    cmd->input = optind < argc ? argv[optind] : "-";
    if (!cmd->arch || !cmd->output)
        vx_die(prog, 2, "--arch and -o are required (see --help)");
    if (cmd->resume && !cmd->checkpoint)
        vx_die(prog, 2, "--resume needs --checkpoint");
    if (cmd->domain && (o->mixup > 0 || o->mix_style > 0))
        vx_die(prog, 2, "--domain does not combine with --mixup or --mix-style");
}

/* An architecture or a log: text files of a few kilobytes; a megabyte is refused, not cut. */
static char *read_text_file(const char *path, const char *kind)
{
    char *text;
    size_t len;
    vx_error err;
    if (vx_read_file(path, (size_t)1 << 20, kind, &text, &len, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    return text;
}

static void read_set(vx_imageset *d, const char *path)
{
    vx_error err;
    FILE *f = vx_open_input(path, &err);
    if (!f || vx_imageset_read(d, f, vx_input_name(path), &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_close_input(f);
    if (d->n == 0)
        vx_die(prog, 1, "%s: no images", path);
}

static void show_progress(void *ctx, size_t done, size_t total) { vx_progress_update(ctx, "images", done, total); }

/* One epoch: trained, validated, recorded in the model, logged, checkpointed, and told. */
static void run_epoch(const struct cmdline *cmd, vx_trainer *t, vx_net *net, const vx_imageset *train,
                      const vx_imageset *val, int epoch, double *best, vx_train_log *log)
{
    vx_error err;
    vx_progress progress;
    vx_progress_init(&progress, prog, cmd->progress);
    vx_epoch_stats st;
    if (vx_train_epoch(t, train, epoch, &st, show_progress, &progress, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_progress_done(&progress);
    vx_eval ev = {0};
    if (cmd->val && vx_net_evaluate(net, val, &ev, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    /* The log line goes before the checkpoint: a kill between the two then leaves a line that
     * resuming cuts and writes again, where the other order lost the epoch's line for good. */
    int new_best = vx_net_record_epoch(net, epoch, &st, cmd->val ? &ev : NULL, best, &err);
    if (new_best < 0 || (new_best && cmd->best && vx_net_save(net, cmd->best, &err) < 0) ||
        (log && vx_train_log_epoch(log, epoch, &st, cmd->val ? &ev : NULL, &err) < 0) ||
        (cmd->checkpoint && vx_trainer_save(t, cmd->checkpoint, epoch, &err) < 0))
        vx_die(prog, 1, "%s", err.msg);
    if (progress.enabled || cmd->progress) {
        char acc[64] = "";
        if (cmd->val)
            snprintf(acc, sizeof acc, " val_acc %.4f", ev.acc);
        if (cmd->domain)
            snprintf(acc + strlen(acc), sizeof acc - strlen(acc), " domain_acc %.3f", st.domain_acc);
        fprintf(stderr, "%s: epoch %d/%d loss %.4f acc %.4f%s %.0f images/s lr %.2g\n", prog, epoch,
                cmd->opts.epochs, st.loss, st.acc, acc, st.images_per_s, st.lr);
    }
}

int main(int argc, char **argv)
{
    struct cmdline cmd;
    if (vx_cli_standard(argc, argv, prog, usage))
        return 0;
    parse_cmdline(argc, argv, &cmd);
    vx_set_threads(cmd.threads);
    vx_error err;
    char *arch = read_text_file(cmd.arch, "architecture");
    /* Training's whole memory, from the text and the batch, before anything is allocated. */
    if (vx_net_check_arch(arch, cmd.domain ? 2 * cmd.opts.batch : cmd.opts.batch, 1, &err) < 0)
        vx_die(prog, 1, "%s: %s (--max-memory raises it)", cmd.arch, err.msg);
    vx_net *net = cmd.init ? vx_net_load(cmd.init, &err) : vx_net_create(arch, cmd.opts.seed, &err);
    if (!net && cmd.init) /* the loader's messages name the file already */
        vx_die(prog, 1, "--init: %s", err.msg);
    if (!net)
        vx_die(prog, 1, "%s: %s", cmd.arch, err.msg);
    if (cmd.init && strcmp(vx_net_get_meta(net, "arch"), arch) != 0)
        vx_die(prog, 1, "--init: %s was not built from %s", cmd.init, cmd.arch);
    vx_net_use_direct_conv(net, cmd.direct_conv);
    vx_imageset train, val, other;
    vx_imageset_init(&train);
    vx_imageset_init(&val);
    vx_imageset_init(&other);
    other.unlabelled = 1;
    read_set(&train, cmd.input);
    if (cmd.val)
        read_set(&val, cmd.val);
    if (cmd.domain)
        read_set(&other, cmd.domain);
    int classes;
    vx_net_shape(net, NULL, &classes, NULL);
    if (cmd.class_weights && vx_train_class_weights(&cmd.opts, cmd.class_weights, &train, classes, &err) < 0)
        vx_die(prog, 2, "--class-weights: %s", err.msg);
    vx_trainer *t = vx_trainer_create(net, &cmd.opts, &err);
    if (!t)
        vx_die(prog, 1, "%s", err.msg);
    if (cmd.domain && vx_trainer_set_domain(t, &other, &err) < 0)
        vx_die(prog, 1, "--domain: %s", err.msg);

    int done = 0;
    if (cmd.resume && access(cmd.checkpoint, F_OK) == 0) {
        if (vx_trainer_resume(t, cmd.checkpoint, &done, &err) < 0)
            vx_die(prog, 1, "%s", err.msg);
        fprintf(stderr, "%s: resuming after epoch %d of %d\n", prog, done, cmd.opts.epochs);
    } else {
        /* Fine-tuning keeps the normalisation the weights were trained with. */
        if (cmd.init ? vx_net_set_meta(net, "init_model", cmd.init, &err) < 0
                     : vx_net_fit_input(net, &train, cmd.norm, &err) < 0)
            vx_die(prog, 1, "%s", err.msg);
        if (vx_net_record_data(net, &train, cmd.input, cmd.opts.seed, &err) < 0)
            vx_die(prog, 1, "%s", err.msg);
    }
    /* After a resume too: the run that finishes the model is the one to record (a resume may
     * extend --epochs, which leaves the earlier epochs unchanged under a constant schedule). */
    if (vx_net_record_command(net, argc, argv, &err) < 0 ||
        vx_net_set_meta_number(net, "epochs", "%.0f", cmd.opts.epochs, &err) < 0 ||
        (cmd.views[0] && vx_net_set_meta(net, "views", cmd.views, &err) < 0) ||
        (cmd.opts.augment == VX_AUGMENT_AUDIO &&
         vx_net_set_meta(net, "augment", augment_names[cmd.opts.augment], &err) < 0))
        vx_die(prog, 1, "%s", err.msg);
    /* The best accuracy so far belongs to this run: carried over a resume, not from --init. */
    double best = -1;
    if (done && vx_net_best_so_far(net, &best, &err) < 0)
        vx_die(prog, 1, "%s: %s", cmd.checkpoint, err.msg);
    vx_train_log *log = cmd.log ? vx_train_log_open(cmd.log, done, &err) : NULL;
    if (cmd.log && !log)
        vx_die(prog, 1, "%s", err.msg);
    for (int epoch = done + 1; epoch <= cmd.opts.epochs; epoch++)
        run_epoch(&cmd, t, net, &train, &val, epoch, &best, log);
    if (vx_train_log_close(log, &err) < 0 || vx_net_save(net, cmd.output, &err) < 0)
        vx_die(prog, 1, "%s", err.msg);
    vx_trainer_free(t);
    vx_net_free(net);
    vx_imageset_free(&train);
    vx_imageset_free(&val);
    vx_imageset_free(&other);
    free(arch);
    return 0;
}
