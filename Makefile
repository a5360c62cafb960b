# VibeluX — build, test, data sets and models.
# `make deps` installs what Debian needs, `make` builds, `make check` tests, `make demo` runs the main job.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DELETE_ON_ERROR:
.SUFFIXES:
# Objects are kept, not deleted as intermediates, so a second make has nothing to do.
.SECONDARY:

PREFIX   ?= /usr/local
SHARED   ?= ../shared
FER      ?= $(SHARED)/data/fer2013
MUSIC4Q  ?= $(SHARED)/data/music4q
JOBS     ?= 2

CC       ?= cc
OPENMP   ?= 1
SANITIZE ?=
CFLAGS   ?= -O2 -g -march=native
PKGS      = sox fftw3f libpng zlib netpbm

# Sanitizer builds live apart so they never mix objects with the normal build.
ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS  = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD    ?= build
SANFLAGS  =
endif
ifeq ($(OPENMP),1)
OMPFLAGS  = -fopenmp
endif

# Lazy (=), not :=, so that `make deps check` on a bare machine asks pkg-config after deps ran.
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS    = $(shell pkg-config --libs $(PKGS))
# -fno-trapping-math: nothing here reads floating-point exception flags, and without it GCC keeps
# every loop with a comparison scalar (ReLU, max pooling: a quarter of a training step).
ALL_CFLAGS  = -std=c11 -Wall -Wextra -Werror -fno-trapping-math $(CFLAGS) $(OMPFLAGS) $(SANFLAGS) -Ilib $(PKG_CFLAGS)
ALL_LDLIBS  = $(OMPFLAGS) $(SANFLAGS) $(PKG_LIBS) -lm
# Scripts run by the rules find the programs just built first.
VX_PATH     = PATH="$(abspath $(BUILD)/bin):$$PATH"
# libFuzzer targets (make fuzz, tests/*.mk) and their corpora.
FUZZ_DIR    = build-fuzz

LIB_SRC   = $(sort $(wildcard lib/*.c))
LIB_OBJ   = $(LIB_SRC:%.c=$(BUILD)/%.o)
LIBVX     = $(BUILD)/libvx.a
PROG_SRC  = $(sort $(wildcard bin/vx-*.c))
PROGS     = $(PROG_SRC:bin/%.c=$(BUILD)/bin/%)
CTEST_SRC = $(sort $(wildcard tests/*.c))
CTESTS    = $(CTEST_SRC:tests/%.c=$(BUILD)/tests/%.t)
SHTESTS   = $(sort $(wildcard tests/*.t))
MANPAGES  = $(sort $(wildcard man/*.[15]))

.PHONY: all check lint-man install uninstall clean deps demo fuzz bench
all: $(PROGS)

$(BUILD)/%.o: %.c lib/vx.h $(wildcard lib/*.h)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBVX): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/bin/%.o $(LIBVX)
	$(CC) $< $(LIBVX) $(ALL_LDLIBS) -o $@

$(BUILD)/tests/%.t: $(BUILD)/tests/%.o $(LIBVX)
	$(CC) $< $(LIBVX) $(ALL_LDLIBS) -o $@

# ------------------------------------------------------------------ tests
# Tests find programs through PATH and data through VX_SHARED; those needing ../shared skip without it.
check: $(PROGS) $(CTESTS) lint-man
	VX_BUILD=$(abspath $(BUILD)) VX_SHARED=$(abspath $(SHARED)) PATH="$(abspath $(BUILD)/bin):$$PATH" \
	  prove -j$(JOBS) $(abspath $(CTESTS)) $(SHTESTS)

lint-man:
	@for page in $(MANPAGES); do \
	  out=$$(mandoc -T lint -W warning $$page 2>&1) || { echo "$$out"; exit 1; }; \
	done; echo "man pages: $(words $(MANPAGES)) checked by mandoc -T lint"

# ---------------------------------------------------------------- set-up
# Debian packages the project needs; installed only when missing, so `make deps` is cheap to repeat.
DEB_BUILD = build-essential clang libomp-dev pkg-config libsox-dev libsox-fmt-all sox libfftw3-dev \
            libpng-dev zlib1g-dev libnetpbm-dev netpbm mandoc perl gnuplot-nox opencv-data
deps:
	@missing=$$(for p in $(DEB_BUILD); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# ----------------------------------------------------------------- demo
# The main job on the bundled portrait: the song library installed (library-deps) and embedded
# once (a later run reuses the index), the face read, the songs that fit it printed with why,
# written as a playlist and drawn. The library's folders exist only after library-deps, so the
# rest runs in a make that starts after it.
DEMO_SAMPLE = data/samples/face.png
demo: library-deps $(PROGS)
	@$(MAKE) --no-print-directory recommend IMAGE=$(DEMO_SAMPLE) RECOMMEND_OUT=data/cache/demo

# --------------------------------------------------------------- install
install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(wildcard man/*.5) $(DESTDIR)$(PREFIX)/share/man/man5

uninstall:
	rm -f $(PROG_SRC:bin/%.c=$(DESTDIR)$(PREFIX)/bin/%)
	rm -f $(patsubst man/%,$(DESTDIR)$(PREFIX)/share/man/man1/%,$(wildcard man/*.1))
	rm -f $(patsubst man/%,$(DESTDIR)$(PREFIX)/share/man/man5/%,$(wildcard man/*.5))

clean:
	rm -rf build build-san $(FUZZ_DIR)

# ---------------------------------------------------------------- models
# A trained model (pipelines/*.mk) is retrained when what it records of its training, its vx-train
# arguments and architecture text (vx-model(5)), differs from what its rule would run now (read by
# pipelines/model-stale.pl as make starts, from the model itself, never from file times), when its
# training stream exists and is newer, when its checkpoint is newer (a run that did not finish), or
# with RETRAIN=1. Its rule makes vx-train and the streams only when it trains, so a clone without
# the data sets has nothing to make.
# $(call model_stale,MODEL,ARCH,VX-TRAIN-ARGUMENTS): why MODEL is not what they train, or nothing.
model_stale = $(shell perl pipelines/model-stale.pl $(1) $(2) $(3))
# $(call model_prereqs,WHY,FILES): FORCE when there is a why (or RETRAIN), and those FILES that exist.
model_prereqs = $(if $(RETRAIN)$(1),FORCE) $(wildcard $(2))
# $(call training_curves,LOG,PNG,YLABEL,TRAIN_ACC,VAL_ACC,VAL_LOSS): a training log's accuracies
# and losses by epoch as a PNG (gnuplot), the titles of its lines given.
training_curves = gnuplot -e "set terminal pngcairo size 900,500; set output '$(2)'; \
  set key autotitle columnhead bottom right; set xlabel 'epoch'; set ylabel '$(3)'; \
  set y2label 'loss'; set y2tics; set ytics nomirror; set grid; \
  plot '$(1)' using 1:3 with linespoints title '$(4)', '' using 1:5 with linespoints title '$(5)', \
       '' using 1:2 axes x1y2 with lines dashtype 2 title 'train loss', \
       '' using 1:4 axes x1y2 with lines dashtype 2 title '$(6)'"
# $(call fresh_checkpoint,CHECKPOINT,ARCH,VX-TRAIN-ARGUMENTS,STREAM): a recipe line removing the
# checkpoint the run must not resume: of another recipe, older than the stream, or with RETRAIN=1.
fresh_checkpoint = if [ -f $(1) ] && { [ -n "$(RETRAIN)" ] || [ $(4) -nt $(1) ] || \
	  [ -n "$$(perl pipelines/model-stale.pl $(1) $(2) $(3))" ]; }; then \
	  echo "$(1): another recipe, older data or RETRAIN: training from the first epoch"; rm -f $(1); fi
.PHONY: FORCE
FORCE:

# Rules for data sets and models (pipelines/), fuzzing and benchmarks (tests/) live beside their subject.
include $(sort $(wildcard pipelines/*.mk tests/*.mk))
