# verifier.mk — the face verifier behind vx-facecrop's default detector: the photo set, its training
# data (FER faces against the detector's own candidates on face-free photos), the model, and the
# measure of both detectors on the hand-boxed photo set. `make models/verifier.vxm` rebuilds the
# committed model exactly (seed 1; results do not depend on the thread count).
FACECROP_CACHE  ?= data/cache/facecrop
VERIFIER_CACHE  ?= data/cache/verifier
VERIFIER_TRAIN_OPTS = --epochs 20 --batch 64 --optimizer adamw --lr 0.003 --weight-decay 0.01 \
                      --schedule cosine --warmup 1 --class-weights balanced --augment --seed 1

# Real photos, most with faces and a few without, from Debian and npm packages (fetched once, kept
# out of git): the face-free ones train the verifier, all of them measure the detectors.
.PHONY: facecrop-photos
facecrop-photos: $(FACECROP_CACHE)/photos/MANIFEST
$(FACECROP_CACHE)/photos/MANIFEST: pipelines/facecrop-photos.sh
	pipelines/facecrop-photos.sh $(FACECROP_CACHE)

$(VERIFIER_CACHE)/train.vxs: pipelines/verifier-data.sh | $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-facecrop $(BUILD)/bin/vx-ls $(FACECROP_CACHE)/photos/MANIFEST
	$(VX_PATH) pipelines/verifier-data.sh $(FER)/Training $(FACECROP_CACHE)/pkgs $(VERIFIER_CACHE)

# Retrained when the recorded arguments or the architecture's text change (the Makefile's
# model_stale) or when the training stream is newer; the stream is made only then.
VERIFIER_ARCH = models/verifier.arch
VERIFIER_ARGS = --arch $(VERIFIER_ARCH) $(VERIFIER_TRAIN_OPTS) --log models/verifier.tsv -o models/verifier.vxm \
                $(VERIFIER_CACHE)/train.vxs
VERIFIER_STALE := $(call model_stale,models/verifier.vxm,$(VERIFIER_ARCH),$(VERIFIER_ARGS))
models/verifier.vxm: $(call model_prereqs,$(VERIFIER_STALE),$(VERIFIER_CACHE)/train.vxs)
	$(if $(VERIFIER_STALE),@echo "$(VERIFIER_STALE)")
	@$(MAKE) --no-print-directory $(BUILD)/bin/vx-train $(VERIFIER_CACHE)/train.vxs
	$(BUILD)/bin/vx-train --threads $(FACE_THREADS) $(VERIFIER_ARGS)

# Faces found and false boxes of both detectors on the photo set (tests/data/facecrop/truth.txt).
.PHONY: eval-detector
bench: eval-detector
eval-detector: $(BUILD)/bin/vx-facecrop $(FACECROP_CACHE)/photos/MANIFEST
	@echo "OpenCV (--opencv):  $$($(VX_PATH) tests/facecrop-eval.sh $(FACECROP_CACHE)/photos --opencv)"
	@echo "default (verified): $$($(VX_PATH) tests/facecrop-eval.sh $(FACECROP_CACHE)/photos)"

# The verifier goes where an installed vx-facecrop looks for it: PREFIX/share/vibelux.
.PHONY: install-verifier uninstall-verifier
install: install-verifier
uninstall: uninstall-verifier
install-verifier:
	install -d $(DESTDIR)$(PREFIX)/share/vibelux
	install -m 644 models/verifier.vxm $(DESTDIR)$(PREFIX)/share/vibelux/verifier.vxm
uninstall-verifier:
	rm -f $(DESTDIR)$(PREFIX)/share/vibelux/verifier.vxm
