# music.mk — the music model: the artist-disjoint split of 4Q, spectrogram streams, training
# (seeded, resumable), per-song evaluation and plots. Included by the Makefile; uses $(BUILD),
# $(MUSIC4Q) (any folder-per-class music collection) and the vx-* programs.

MUSIC4Q        ?= $(MUSIC)
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
SPECTRO_OPTS   ?= --n-fft 2048 --hop 512 --mels 96
SEGMENT_OPTS   ?= --segment 3 --segment-hop 1.5
# The recipe. Training draws 4 random 3-second windows of each clip an epoch, with a +-6 dB gain and
# SpecAugment masks; every input has its own band means removed, then per-band standardisation.
MUSIC_EPOCHS   ?= 30
MUSIC_TRAIN_OPTS = --batch 32 --optimizer adamw --lr 0.002 --weight-decay 0.01 --schedule cosine --warmup 1 \
                   --label-smoothing 0.1 --augment=audio --repeat 4 --gain 6 --time-mask 20 --freq-mask 12 \
                   --norm bands,segment --seed 1 --epochs $(MUSIC_EPOCHS)

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

# The split as folder-per-class trees of links to the clips: a change of MUSIC4Q or of the split
# rebuilds them, and vx-decode reads them as any collection.
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
# 1.5-second hop for validation and evaluation, judged per song.
$(MUSIC_CACHE)/train.vxs: $(MUSIC_CACHE)/split.stamp | $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro
	$(BUILD)/bin/vx-decode --rate 22050 --labels $(MUSIC_CLASSES) $(MUSIC_TRAIN_DIR) | \
	  $(BUILD)/bin/vx-spectro $(SPECTRO_OPTS) -o $@
$(MUSIC_CACHE)/val.vxs: $(MUSIC_CACHE)/split.stamp | $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro
	$(BUILD)/bin/vx-decode --rate 22050 --labels $(MUSIC_CLASSES) $(MUSIC_VAL_DIR) | \
	  $(BUILD)/bin/vx-spectro $(SPECTRO_OPTS) $(SEGMENT_OPTS) -o $@

music-streams: $(MUSIC_CACHE)/train.vxs $(MUSIC_CACHE)/val.vxs

# Checkpoints every epoch; the same command resumes after a kill. The model depends on its data
# and recipe: a new split, architecture or recipe retrains (touch the model to keep it instead).
MUSIC_RECIPE = $(MUSIC_CACHE)/recipe.txt
$(MUSIC_RECIPE): FORCE
	@mkdir -p $(@D)
	@echo "$(MUSIC_TRAIN_OPTS) $(SPECTRO_OPTS) $(SEGMENT_OPTS) $(MUSIC_CLASSES)" | cmp -s - $@ || \
	  echo "$(MUSIC_TRAIN_OPTS) $(SPECTRO_OPTS) $(SEGMENT_OPTS) $(MUSIC_CLASSES)" > $@
.PHONY: FORCE
FORCE:

$(MUSIC_OUT): $(MUSIC_ARCH) $(MUSIC_SPLIT) $(MUSIC_RECIPE) | $(BUILD)/bin/vx-train $(MUSIC_CACHE)/train.vxs $(MUSIC_CACHE)/val.vxs
	$(BUILD)/bin/vx-train --arch $(MUSIC_ARCH) $(MUSIC_TRAIN_OPTS) --threads $(MUSIC_THREADS) --progress \
	  --val $(MUSIC_CACHE)/val.vxs --log $(MUSIC_CACHE)/music.tsv --checkpoint $(MUSIC_CACHE)/music.ckpt --resume \
	  -o $@ $(MUSIC_CACHE)/train.vxs
	cp $(MUSIC_CACHE)/music.tsv $(MUSIC_OUT:.vxm=.tsv)

# Per-segment, then per-song confusion matrix and recall of the music model on any folder-per-class
# collection, `make eval-music SPLIT=dir` (default: the validation part of the split); the last
# line is the per-song accuracy. Its folders must be the model's classes.
MUSIC_MODEL ?= $(MUSIC_OUT)
MUSIC_EVAL_DIR = $(if $(filter command line,$(origin SPLIT)),$(SPLIT),$(MUSIC_VAL_DIR))
eval-music: $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro $(BUILD)/bin/vx-infer $(if $(filter command line,$(origin SPLIT)),,$(MUSIC_CACHE)/split.stamp)
	@mkdir -p $(MUSIC_CACHE)
	$(BUILD)/bin/vx-decode --rate 22050 --labels $(call folders_of,$(MUSIC_EVAL_DIR)) $(MUSIC_EVAL_DIR) | \
	  $(BUILD)/bin/vx-spectro $(SPECTRO_OPTS) $(SEGMENT_OPTS) | \
	  $(BUILD)/bin/vx-infer --eval $(MUSIC_MODEL) | tee $(MUSIC_CACHE)/eval-music.txt
