# song.mk — songs: `make bench-match` (part of `make bench`) times vx-match on a generated
# 1,000,000-song index; `make fuzz-song` (part of `make fuzz`) runs libFuzzer on the emotion space
# parser and the song index loader for FUZZ_SECONDS each.
.PHONY: bench-match fuzz-song
bench: bench-match
fuzz: fuzz-song

BENCH_SONGS ?= 1000000
BENCH_RUNS  ?= 7
SONG_BENCH   = $(BUILD)/bench-song

# The index is generated (seeded, deterministic) by the index test's own generator, never committed.
$(SONG_BENCH)/songs.vxi: $(BUILD)/tests/song_index.t models/emotion-space.txt
	@mkdir -p $(@D)
	$(BUILD)/tests/song_index.t --generate $(BENCH_SONGS) 1 $@
$(SONG_BENCH)/faces.vxt: $(BUILD)/tests/song_index.t
	@mkdir -p $(@D)
	$(BUILD)/tests/song_index.t --queries 3589 2 $@

# One query including the load, BENCH_RUNS times from a warm page cache; the median is the figure.
bench-match: $(BUILD)/bin/vx-match $(SONG_BENCH)/songs.vxi $(SONG_BENCH)/faces.vxt
	@ix=$(SONG_BENCH)/songs.vxi; \
	echo "index: $$($(BUILD)/bin/vx-index --check $$ix | cut -f2), $$(( $$(stat -c %s $$ix) / 1048576 )) MiB on disk"; \
	cat $$ix > /dev/null; \
	time_ms() { local t0 t1; t0=$$(date +%s%N); "$$@" > /dev/null || exit 1; t1=$$(date +%s%N); echo $$(( (t1 - t0) / 1000 )); }; \
	median() { sort -n | awk '{ v[NR] = $$1 } END { printf "%.1f", v[int((NR + 1) / 2)] / 1000 }'; }; \
	for space in va emotions; do \
	  for div in 0 0.5; do \
	    m=$$(for i in $$(seq $(BENCH_RUNS)); do time_ms $(BUILD)/bin/vx-match --space $$space --diversity $$div -k 10 --emotion sad $$ix; done | median); \
	    echo "one query, --space $$space --diversity $$div: $$m ms (median of $(BENCH_RUNS), load included)"; \
	  done; \
	done; \
	s=$$(for i in 1 2 3; do time_ms $(BUILD)/bin/vx-match -k 10 $$ix $(SONG_BENCH)/faces.vxt; done | median); \
	echo "3589 queries in one stream: $$s ms, $$(awk -v s=$$s 'BEGIN { printf "%.2f", s / 3589 }') ms per query"; \
	q=$$(for i in $$(seq $(BENCH_RUNS)); do time_ms $(BUILD)/bin/vx-match -k 10 --emotion happy $$ix; done | median); \
	echo "$$q ms per query"

SONG_FUZZ_SRC = lib/song_space.c lib/song_index.c lib/song_match.c lib/util.c lib/classes.c
SONG_FUZZ_DEPS = $(SONG_FUZZ_SRC) lib/vx.h lib/vx_song.h
$(FUZZ_DIR)/fuzz-song-%: tests/fuzz/song_%.c $(SONG_FUZZ_DEPS)
	@mkdir -p $(@D)
	clang -std=c11 -Wall -Wextra -Werror -g -O1 -Ilib -fsanitize=fuzzer,address,undefined \
	  $< $(SONG_FUZZ_SRC) -lm -o $@

# Seeds: the shipped space file, and a small index made by the test's generator.
$(FUZZ_DIR)/corpus-song-index/.seeded: $(BUILD)/tests/song_index.t
	@mkdir -p $(@D) $(FUZZ_DIR)/corpus-song-space
	$(BUILD)/tests/song_index.t --generate 3 1 $(@D)/three.vxi
	$(BUILD)/tests/song_index.t --generate 0 1 $(@D)/empty.vxi
	cp models/emotion-space.txt $(FUZZ_DIR)/corpus-song-space/
	touch $@

fuzz-song: $(FUZZ_DIR)/fuzz-song-space $(FUZZ_DIR)/fuzz-song-index $(FUZZ_DIR)/corpus-song-index/.seeded
	$(FUZZ_DIR)/fuzz-song-space -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=512 -max_len=8192 \
	  -print_final_stats=1 $(FUZZ_DIR)/corpus-song-space
	$(FUZZ_DIR)/fuzz-song-index -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=512 -max_len=16384 \
	  -print_final_stats=1 $(FUZZ_DIR)/corpus-song-index
