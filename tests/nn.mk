# nn.mk — the music net in `make bench-nn` (issue 12 item 7, issue 15 item 5): training and
# inference segments/s of models/music/music.arch on 4Q clips against the same net in PyTorch, by
# tests/nn-bench.sh as for the face nets (their rule is in pipelines/face.mk). It runs first, as a
# prerequisite, and prints its own table with the load average.
.PHONY: bench-nn-music
bench-nn: bench-nn-music $(BUILD)/bin/vx-ls
bench-nn-music: $(BUILD)/bin/vx-train $(BUILD)/bin/vx-infer $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro \
                $(BUILD)/bin/vx-ls
	BUILD=$(BUILD) MUSIC=$(MUSIC4Q) bash tests/nn-bench.sh models/music/music.arch
