# spectro.mk — `make bench-spectro` (part of `make bench`): vx-decode | vx-spectro against sox decoding alone.
.PHONY: bench-spectro
bench: bench-spectro
# 100 clips, 5 rounds, each clip timed by both sides in turn: when each side ran a whole round of
# clips at a time, other load on the shared machine moved the ratio of whole runs from 1.12x to
# 1.34x (four runs of one build in a row on 2026-12-03).
SPECTRO_BENCH_CLIPS  ?= 100
SPECTRO_BENCH_ROUNDS ?= 5
# The headline is the chain the pipelines run (pipelines/music.mk's options, --fmax 4000 among
# them); vx-spectro's defaults, which make every bin up to rate/2, are timed beside it.
bench-spectro: $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro
	python3 tests/spectro-bench.py $(BUILD) $(MUSIC4Q) $(SPECTRO_BENCH_CLIPS) $(SPECTRO_BENCH_ROUNDS) \
	  '$(SPECTRO_OPTS) $(SEGMENT_OPTS)' '$(SEGMENT_OPTS)'


# The numpy reference of spectro.t (Debian's python3-numpy; the test skips without it).
DEB_BUILD += python3-numpy
