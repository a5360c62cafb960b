# decode.mk — `make bench-decode` (part of `make bench`): vx-decode against sox, and on FER-2013.
.PHONY: bench-decode
# /usr/bin/time measures peak memory.
DEB_BUILD += time
bench: bench-decode
bench-decode: $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-ls
	bash tests/decode-bench.sh $(BUILD) $(MUSIC4Q) $(FER)
