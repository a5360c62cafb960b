# spectro.mk — `make bench-spectro` (part of `make bench`): vx-decode | vx-spectro against sox decoding alone.
.PHONY: bench-spectro
bench: bench-spectro
bench-spectro: $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro
	bash tests/spectro-bench.sh $(BUILD) $(MUSIC4Q)

# The numpy reference of spectro.t (Debian's python3-numpy; the test skips without it).
DEB_BUILD += python3-numpy
