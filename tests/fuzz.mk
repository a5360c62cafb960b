# fuzz.mk — `make fuzz`: libFuzzer (clang) on the tensor stream reader for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60

$(FUZZ_DIR)/fuzz-stream: tests/fuzz/stream.c lib/stream.c lib/util.c lib/vx.h
	@mkdir -p $(@D)
	clang -std=c11 -Wall -Wextra -Werror -g -O1 -Ilib -fsanitize=fuzzer,address,undefined \
	  tests/fuzz/stream.c lib/stream.c lib/util.c -lm -o $@

# The seed corpus is made by the test suite's own writer: one valid record of each kind.
$(FUZZ_DIR)/corpus/.seeded: $(BUILD)/bin/vx-ls
	@mkdir -p $(@D)
	printf 'VXTS\001\000\040\000\001\002\377\377\002\000\000\000\002\000\000\000\000\000\000\000\000\000\000\000\001\000\000\000kABCD' > $(@D)/u8
	printf 'VXTS\001\000\040\000\002\001\003\000\001\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\000\006\000rate=1\000\000\200\077' > $(@D)/f32
	cat $(@D)/u8 $(@D)/f32 > $(@D)/both
	$(BUILD)/bin/vx-ls $(@D)/both >/dev/null
	touch $@

fuzz: $(FUZZ_DIR)/fuzz-stream $(FUZZ_DIR)/corpus/.seeded
	$(FUZZ_DIR)/fuzz-stream -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=512 -print_final_stats=1 $(FUZZ_DIR)/corpus

# `make fuzz-model` and `make fuzz-arch` (part of `make fuzz`): the model loader and the
# architecture parser. The model target fixes up the file-size field and the checksum itself,
# so mutations reach the directory, metadata and tensors; networks are limited to 64 MiB (model) and 4 MiB (arch).
NN_FUZZ_SRC = $(wildcard lib/nn_*.c) lib/stream.c lib/classes.c \
              lib/util.c
.PHONY: fuzz-model fuzz-arch
fuzz: fuzz-model fuzz-arch

$(FUZZ_DIR)/fuzz-%: tests/fuzz/%.c $(NN_FUZZ_SRC) lib/nn.h lib/vx_nn.h lib/vx.h
	@mkdir -p $(@D)
	clang -std=c11 -Wall -Wextra -Werror -g -O1 -Ilib -fsanitize=fuzzer,address,undefined \
	  $< $(NN_FUZZ_SRC) -lm -o $@

# Seeds: a tiny model trained here on two 4x4 images, and the shipped architectures.
$(FUZZ_DIR)/corpus-model/.seeded: $(BUILD)/bin/vx-train $(BUILD)/bin/vx-decode
	@mkdir -p $(@D)/set/a $(@D)/set/b
	printf 'P2\n4 4\n255\n0 0 0 0\n0 0 0 0\n9 9 9 9\n9 9 9 9\n' > $(@D)/set/a/1.pgm
	printf 'P2\n4 4\n255\n9 9 0 0\n9 9 0 0\n9 9 0 0\n9 9 0 0\n' > $(@D)/set/b/1.pgm
	printf 'input 1 4 4\nconv 2 3 same\nbn\nrelu\nmaxpool 2\ndense 3\ndropout 0.1\nsoftmax 2\n' > $(@D)/tiny.arch
	$(BUILD)/bin/vx-decode --labels a,b $(@D)/set -o $(@D)/set.vxs
	$(BUILD)/bin/vx-train --arch $(@D)/tiny.arch -e 1 -b 2 --no-augment --views flip -o $(@D)/tiny.vxm $(@D)/set.vxs
	rm -rf $(@D)/set $(@D)/set.vxs $(@D)/tiny.arch
	touch $@
$(FUZZ_DIR)/corpus-arch/.seeded: $(wildcard models/*.arch models/*/*.arch)
	@mkdir -p $(@D)
	cp $^ $(@D)/
	printf 'input 3 9 7\nconv 4 3x3 valid stride 2\nleakyrelu 0.1\navgpool 2 stride 1\ngap\nbn 1e-3\nsoftmax 16\n' > $(@D)/kinds.arch
	touch $@

fuzz-model: $(FUZZ_DIR)/fuzz-model $(FUZZ_DIR)/corpus-model/.seeded
	$(FUZZ_DIR)/fuzz-model -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -max_len=65536 -print_final_stats=1 \
	  $(FUZZ_DIR)/corpus-model
fuzz-arch: $(FUZZ_DIR)/fuzz-arch $(FUZZ_DIR)/corpus-arch/.seeded
	$(FUZZ_DIR)/fuzz-arch -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -max_len=4096 -print_final_stats=1 \
	  $(FUZZ_DIR)/corpus-arch
