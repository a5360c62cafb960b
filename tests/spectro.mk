# spectro.mk — `make bench-spectro` (part of `make bench`): vx-decode | vx-spectro against sox decoding alone.
.PHONY: bench-spectro
bench: bench-spectro
# 100 clips, 5 rounds: with 20 clips a round took half a second, and on the shared machine the
# rounds of one run ranged from 1.16x to 1.61x.
SPECTRO_BENCH_CLIPS  ?= 100
SPECTRO_BENCH_ROUNDS ?= 5
bench-spectro: $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro
	bash tests/spectro-bench.sh $(BUILD) $(MUSIC4Q) $(SPECTRO_BENCH_CLIPS) $(SPECTRO_BENCH_ROUNDS)

# The numpy reference of spectro.t (Debian's python3-numpy; the test skips without it).
DEB_BUILD += python3-numpy
