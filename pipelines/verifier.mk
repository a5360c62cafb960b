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

models/verifier.vxm: models/verifier.arch | $(BUILD)/bin/vx-train $(VERIFIER_CACHE)/train.vxs
	$(BUILD)/bin/vx-train --arch models/verifier.arch $(VERIFIER_TRAIN_OPTS) --threads $(FACE_THREADS) \
	  --log models/verifier.tsv -o $@ $(VERIFIER_CACHE)/train.vxs

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
