# music.mk — the music model: the artist-disjoint split of 4Q, spectrogram streams, training
# (seeded, resumable), per-song evaluation and plots. Included by the Makefile; uses $(BUILD),
# $(MUSIC4Q) (any folder-per-class music collection; the Makefile's default is 4Q in SHARED) and the
# vx-* programs.

MUSIC_ARCH     ?= models/music/music.arch
MUSIC_SPLIT    ?= models/music/split.tsv
MUSIC_CACHE    ?= data/cache/music
# Class names are the collection's folder names, in byte order (vx-decode's label order).
comma := ,
folders_of = $(subst $(eval) ,$(comma),$(sort $(notdir $(patsubst %/,%,$(wildcard $(1)/*/)))))
MUSIC_CLASSES  ?= $(call folders_of,$(MUSIC4Q))
# Without a split (MUSIC_SPLIT=), the whole collection trains and also validates, which shows only
# that the model learned it: the user-collection test runs that way.
MUSIC_OUT      ?= models/music.vxm
MUSIC_THREADS  ?= 2
# How songs become network input; the model records these and vx-embed cuts songs the same way.
# The bands stop at 4 kHz: above it lie mostly cymbals, distortion and production, which tell 4Q's
# genres apart more than its emotions (measured: 73.9% on the validation songs and 11 of the 22
# title-labelled library tracks, against 71.8% and 10 with the whole band, and 71.1% and 8 at 2 kHz).
SPECTRO_OPTS   ?= --n-fft 2048 --hop 512 --mels 96 --fmax 4000
SEGMENT_OPTS   ?= --segment 3 --segment-hop 1.5
# The recipe. Training draws 3 random 3-second windows of each clip an epoch, with a +-6 dB gain,
# SpecAugment masks, played up to 15% faster or slower and moved up to 3 mel bands; every input has
# its own band means removed, then per-band standardisation.
MUSIC_EPOCHS   ?= 20
MUSIC_SEED     ?= 1
MUSIC_TRAIN_OPTS = --batch 32 --optimizer adamw --lr 0.002 --weight-decay 0.01 --schedule cosine --warmup 1 \
                   --label-smoothing 0.1 --augment=audio --repeat 3 --gain 6 --time-mask 20 --freq-mask 12 --stretch 0.15 --band-shift 3 \
                   --norm bands,segment --seed $(MUSIC_SEED) --epochs $(MUSIC_EPOCHS)

.PHONY: music-streams eval-music music-plots

ifeq ($(MUSIC_SPLIT),)
MUSIC_TRAIN_DIR = $(MUSIC4Q)
MUSIC_VAL_DIR   = $(MUSIC4Q)
$(MUSIC_CACHE)/split.stamp:
	@mkdir -p $(@D)
	touch $@
else
MUSIC_TRAIN_DIR = $(MUSIC_CACHE)/train
MUSIC_VAL_DIR   = $(MUSIC_CACHE)/val
endif

# The split as folder-per-class trees of links to the clips: a change of the split rebuilds them, and vx-decode reads them as any collection.
ifneq ($(MUSIC_SPLIT),)
$(MUSIC_CACHE)/split.stamp: $(MUSIC_SPLIT)
	@test -d "$(MUSIC4Q)" || { echo "music: no $(MUSIC4Q) (make ... MUSIC4Q=dir)" >&2; exit 1; }
	rm -rf $(MUSIC_CACHE)/train $(MUSIC_CACHE)/val
	awk -F'\t' '!/^#/ { print $$3, $$2, $$1 }' $(MUSIC_SPLIT) | while read part quad song; do \
	  mkdir -p $(MUSIC_CACHE)/$$part/$$quad; \
	  ln -s "$(abspath $(MUSIC4Q))/$$quad/$$song.mp3" $(MUSIC_CACHE)/$$part/$$quad/$$song.mp3; \
	done
	touch $@
endif

# Whole-clip spectrograms for training (windows are drawn from them), 3-second segments with a
# 1.5-second hop for validation and evaluation, judged per song. They are made again when the split
# or a class folder changes, or when how they are made does (MUSIC_STREAMS_RECIPE: the spectrogram
# options and the classes, compared as make starts with what made them; a stamp written the first
# time is dated 1970, so streams made before it are taken as made so).
MUSIC_STREAMS_STAMP = $(MUSIC_CACHE)/streams.txt
MUSIC_STREAMS_RECIPE = $(SPECTRO_OPTS) | $(SEGMENT_OPTS) | $(MUSIC_CLASSES)
ifneq ($(strip $(file <$(MUSIC_STREAMS_STAMP))),$(strip $(MUSIC_STREAMS_RECIPE)))
$(MUSIC_STREAMS_STAMP): FORCE
endif
# Run by make -n and -q as well (+), so that they see what a make would do.
$(MUSIC_STREAMS_STAMP):
	+@mkdir -p $(@D); new=$$([ -f $@ ] || echo 1); echo "$(strip $(MUSIC_STREAMS_RECIPE))" > $@; \
	  [ -z "$$new" ] || touch -d @0 $@
MUSIC_DIRS = $(patsubst %/,%,$(wildcard $(1)/*/))
$(MUSIC_CACHE)/train.vxs: $(MUSIC_CACHE)/split.stamp $(MUSIC_STREAMS_STAMP) $(call MUSIC_DIRS,$(MUSIC_TRAIN_DIR)) \
                          | $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro
	$(BUILD)/bin/vx-decode --rate 22050 --labels $(MUSIC_CLASSES) $(MUSIC_TRAIN_DIR) | \
	  $(BUILD)/bin/vx-spectro $(SPECTRO_OPTS) -o $@
$(MUSIC_CACHE)/val.vxs: $(MUSIC_CACHE)/split.stamp $(MUSIC_STREAMS_STAMP) $(call MUSIC_DIRS,$(MUSIC_VAL_DIR)) \
                        | $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro
	$(BUILD)/bin/vx-decode --rate 22050 --labels $(MUSIC_CLASSES) $(MUSIC_VAL_DIR) | \
	  $(BUILD)/bin/vx-spectro $(SPECTRO_OPTS) $(SEGMENT_OPTS) -o $@

music-streams: $(MUSIC_CACHE)/train.vxs $(MUSIC_CACHE)/val.vxs

# Checkpoints every epoch; the same command resumes after a kill. The model retrains when the
# arguments vx-train records or the architecture's text change (the Makefile's model_stale), or
# when the training stream is newer (a new split, new clips, new spectrogram options); `touch` the
# model to keep it instead. The streams are made only when it trains.
MUSIC_ARGS = --arch $(MUSIC_ARCH) $(MUSIC_TRAIN_OPTS) --val $(MUSIC_CACHE)/val.vxs --log $(MUSIC_CACHE)/music.tsv \
             --checkpoint $(MUSIC_CACHE)/music.ckpt --resume -o $(MUSIC_OUT) $(MUSIC_CACHE)/train.vxs
MUSIC_STALE := $(call model_stale,$(MUSIC_OUT),$(MUSIC_ARCH),$(MUSIC_ARGS))
$(MUSIC_OUT): $(call model_prereqs,$(MUSIC_STALE),$(MUSIC_CACHE)/train.vxs $(MUSIC_CACHE)/music.ckpt)
	$(if $(MUSIC_STALE),@echo "$(MUSIC_STALE)")
	@$(MAKE) --no-print-directory $(BUILD)/bin/vx-train music-streams
	@$(call fresh_checkpoint,$(MUSIC_CACHE)/music.ckpt,$(MUSIC_ARCH),$(MUSIC_ARGS),$(MUSIC_CACHE)/train.vxs)
	$(BUILD)/bin/vx-train --threads $(MUSIC_THREADS) --progress $(MUSIC_ARGS)
	cp $(MUSIC_CACHE)/music.tsv $(MUSIC_OUT:.vxm=.tsv)

# Per-segment, then per-song confusion matrix and recall of the music model on any folder-per-class
# collection, `make eval-music SPLIT=dir` (default: the validation part of the split); the last
# line is the per-song accuracy. Its folders must be the model's classes.
MUSIC_MODEL ?= $(MUSIC_OUT)
MUSIC_EVAL_DIR = $(if $(filter command line,$(origin SPLIT)),$(SPLIT),$(MUSIC_VAL_DIR))
# The split's folders are made by a prerequisite, after make has read the directory: its classes
# are the collection's.
MUSIC_EVAL_CLASSES = $(if $(filter command line,$(origin SPLIT)),$(call folders_of,$(SPLIT)),$(MUSIC_CLASSES))
eval-music: | $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro $(BUILD)/bin/vx-infer $(if $(filter command line,$(origin SPLIT)),,$(MUSIC_CACHE)/split.stamp)
	@[ -d "$(MUSIC_EVAL_DIR)" ] || { echo "eval-music: $(MUSIC_EVAL_DIR): no such folder (SPLIT= names a folder of class folders)" >&2; exit 1; }
	@[ -n "$(MUSIC_EVAL_CLASSES)" ] || { echo "eval-music: $(MUSIC_EVAL_DIR): no class folders in it" >&2; exit 1; }
	@mkdir -p $(MUSIC_CACHE)
	$(BUILD)/bin/vx-decode --rate 22050 --labels $(MUSIC_EVAL_CLASSES) $(MUSIC_EVAL_DIR) | \
	  $(BUILD)/bin/vx-spectro $(SPECTRO_OPTS) $(SEGMENT_OPTS) | \
	  $(BUILD)/bin/vx-infer --eval $(MUSIC_MODEL) | tee $(MUSIC_CACHE)/eval-music.txt

# Training curves (from the log) and the per-song confusion matrix (from the last eval-music) as
# PNGs, committed beside the model.
MUSIC_PLOTS ?= models/music
music-plots: $(MUSIC_OUT:.vxm=.tsv)
	[ -s $(MUSIC_CACHE)/eval-music.txt ] || $(MAKE) --no-print-directory eval-music
	$(call training_curves,$(MUSIC_OUT:.vxm=.tsv),$(MUSIC_PLOTS)/curves.png,accuracy (per 3 s segment),train accuracy (random windows),validation accuracy (unseen artists),validation loss)
	awk -F'\t' 'blank && NR > start + 1 && NF > 4 && $$1 != "songs" && $$1 != "accuracy" { \
	    t = 0; for (k = 2; k <= NF - 1; k++) t += $$k; \
	    for (k = 2; k <= NF - 1; k++) print row + 0, k - 2, (t ? $$k / t : 0), $$k; print ""; row++ } \
	  /^$$/ { blank = 1; start = NR }' $(MUSIC_CACHE)/eval-music.txt > $(MUSIC_CACHE)/confusion.dat
	gnuplot -e "set terminal pngcairo size 640,560; set output '$(MUSIC_PLOTS)/confusion.png'; \
	  set title 'validation songs by unseen artists (rows true, columns predicted)'; \
	  set xtics ('Q1' 0, 'Q2' 1, 'Q3' 2, 'Q4' 3); set ytics ('Q1' 0, 'Q2' 1, 'Q3' 2, 'Q4' 3); \
	  set yrange [3.5:-0.5]; set xrange [-0.5:3.5]; set cbrange [0:1]; set palette grey negative; \
	  plot '$(MUSIC_CACHE)/confusion.dat' using 2:1:3 with image notitle, \
	       '' using 2:1:(sprintf('%d (%.0f%%)', \$$4, 100 * \$$3)) with labels notitle"
	@echo "plots in $(MUSIC_PLOTS)"
