# fuzz.mk — `make fuzz`: libFuzzer (clang) on the tensor stream reader for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
FUZZ_DIR      = build-fuzz

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
