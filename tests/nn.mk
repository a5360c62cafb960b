# nn.mk — the music net in `make bench-nn` (issue 12 item 7, issue 15 item 5): training and
# inference segments/s of models/music/music.arch on 4Q clips against the same net in PyTorch, by
# tests/nn-bench.sh as for the face nets (their rule is in pipelines/face.mk). It runs first, as a
# prerequisite, and prints its own table with the load average.
.PHONY: bench-nn-music
bench-nn: bench-nn-music $(BUILD)/bin/vx-ls
bench-nn-music: $(BUILD)/bin/vx-train $(BUILD)/bin/vx-infer $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro \
                $(BUILD)/bin/vx-ls
	BUILD=$(BUILD) MUSIC=$(MUSIC4Q) bash tests/nn-bench.sh models/music/music.arch

# `make bench-layers` (part of `make bench`): forward and backward time of every layer of the
# shipped nets (face, prototype, music, verifier) in a training step, GFLOP/s and the fraction of
# the peak the engine's own GEMM reaches on large square matrices in the same run (OpenBLAS's
# sgemm printed beside it when libopenblas0 is installed: apt-get install libopenblas0).
.PHONY: bench-layers
bench: bench-layers
BENCH_THREADS ?= 2
BENCH_LAYERS_NETS = models/face/vibelux.arch models/face/prototype.arch models/music/music.arch models/verifier.arch
$(BUILD)/tests/bench-layers: tests/bench/layers.c $(LIBVX) lib/nn.h lib/vx_nn.h lib/vx.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $< $(LIBVX) $(ALL_LDLIBS) -o $@
bench-layers: $(BUILD)/tests/bench-layers
	@echo "load average: $$(cut -d' ' -f1-3 /proc/loadavg)"
	OPENBLAS_NUM_THREADS=$(BENCH_THREADS) $< -j $(BENCH_THREADS) $(BENCH_LAYERS_NETS)
