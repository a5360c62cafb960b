# face.mk — the face model: FER-2013 streams, training (exact, seeded, resumable), evaluation,
# training-curve plots. Included by the Makefile; uses $(BUILD), $(FER) and the vx-* programs.

FACE_ARCH    ?= models/face/vibelux.arch
FACE_CACHE   ?= data/cache
FACE_THREADS ?= 2
# The shipped recipe. Results depend only on these and the data, never on FACE_THREADS.
FACE_TRAIN_OPTS = --epochs 20 --batch 64 --optimizer adamw --lr 0.002 --weight-decay 0.05 \
                  --schedule cosine --warmup 1 --label-smoothing 0.1 --augment --seed 1

.PHONY: face-streams eval-face plots

# Labelled streams of the FER-2013 splits (u8 [1,48,48], label 0-6, key = path).
$(FACE_CACHE)/fer-%.vxs: | $(BUILD)/bin/vx-decode
	@mkdir -p $(@D)
	$(BUILD)/bin/vx-decode $(FER)/$* -o $@

face-streams: $(FACE_CACHE)/fer-Training.vxs $(FACE_CACHE)/fer-PublicTest.vxs

# Checkpoints every epoch; after a kill, the same command resumes where the last epoch ended.
models/face.vxm: $(FACE_ARCH) | $(BUILD)/bin/vx-train $(FACE_CACHE)/fer-Training.vxs $(FACE_CACHE)/fer-PublicTest.vxs
	$(BUILD)/bin/vx-train --arch $(FACE_ARCH) $(FACE_TRAIN_OPTS) --threads $(FACE_THREADS) --progress \
	  --val $(FACE_CACHE)/fer-PublicTest.vxs --log models/face.tsv \
	  --checkpoint $(FACE_CACHE)/face.ckpt --resume -o $@ $(FACE_CACHE)/fer-Training.vxs
