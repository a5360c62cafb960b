# facecrop.mk — vx-facecrop against OpenCV itself: `make bench-facecrop` (part of `make bench`)
# compares box sets and single-threaded time on the photo set of pipelines/verifier.mk (make
# facecrop-photos) with tests/opencv-compare.py, which needs python3-opencv (only for this comparison).
.PHONY: bench-facecrop
bench: bench-facecrop

bench-facecrop: $(BUILD)/bin/vx-facecrop $(FACECROP_CACHE)/photos/MANIFEST
	@/usr/bin/python3 -c 'import cv2' 2>/dev/null || \
	  { echo "bench-facecrop: needs python3-opencv: apt-get install python3-opencv"; exit 1; }
	nice tests/opencv-compare.py --vx $(BUILD)/bin/vx-facecrop --photos $(FACECROP_CACHE)/photos

# `make fuzz-cascade` (part of `make fuzz`): libFuzzer on the cascade XML reader for FUZZ_SECONDS.
.PHONY: fuzz-cascade
fuzz: fuzz-cascade

$(FUZZ_DIR)/fuzz-cascade: tests/fuzz/cascade.c lib/face_cascade.c lib/face_xml.c lib/face_scan.c lib/face_boxes.c lib/face_resize.c lib/util.c lib/face_internal.h lib/vx.h lib/vx_face.h
	@mkdir -p $(@D)
	clang -std=c11 -Wall -Wextra -Werror -g -O1 -Ilib -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/cascade.c lib/face_cascade.c lib/face_xml.c lib/face_scan.c lib/face_boxes.c lib/face_resize.c lib/util.c -lm -o $@

fuzz-cascade: $(FUZZ_DIR)/fuzz-cascade
	@mkdir -p $(FUZZ_DIR)/corpus-cascade
	cp tests/data/facecrop/*.xml $(FUZZ_DIR)/corpus-cascade/
	$(FUZZ_DIR)/fuzz-cascade -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=512 -max_len=65536 \
	  -print_final_stats=1 $(FUZZ_DIR)/corpus-cascade
