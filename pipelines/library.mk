# library.mk — the song library: freely licensed game soundtracks from Debian packages
# (data/library/LICENSES.md: what each holds, its licence, its size), the list of its audio files
# and the out-of-domain check set of tracks whose names name a mood (data/library/moods.tsv).
# `make library-deps` installs the packages: 679 MB of .debs (698 MB with the dependencies they
# pull onto a machine with the project's own packages), 809 MB installed.

# Wesnoth (41 tracks, GPL-2+), SuperTux (51, GPL-2+), Adonthell's Waste's Edge (10, GPL-2+),
# Naev (54, GPL-2+, GPL-3 or CC-BY-3.0, CC-BY(-SA)-3.0): 156 Ogg Vorbis tracks, 6.1 hours, all
# read by libsox. Naev's electronic and orchestral space music widens a check set that was
# otherwise almost all Wesnoth's (data/library/LICENSES.md).
LIBRARY_PKGS  = wesnoth-1.16-music supertux-data adonthell-data naev-data
LIBRARY_DIRS  = /usr/share/games/wesnoth/1.16/data/core/music \
                /usr/share/games/supertux2/music \
                /usr/share/games/adonthell/games/wastesedge/audio \
                /usr/share/naev/dat/snd/music
# Not music: Adonthell's two menu clicks (0.1 s each) share its music folder.
LIBRARY_SKIP  = select.wav switch.wav
LIBRARY_EXTS  = ogg flac wav mp3 opus
LIBRARY_LIST ?= data/cache/library.list
LIBRARY_MOODS = data/library/moods.tsv

.PHONY: library-deps library-list library-moods

library-deps:
	@missing=$$(for p in $(LIBRARY_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Sorted audio files of the library, one path a line. Remade when a music folder (or one below
# it) changes, as when a package is installed, upgraded or removed.
$(LIBRARY_LIST): pipelines/library.mk $(wildcard $(LIBRARY_DIRS) $(addsuffix /*/,$(LIBRARY_DIRS)))
	@for d in $(LIBRARY_DIRS); do [ -d $$d ] || { echo "library: no $$d (make library-deps installs $(LIBRARY_PKGS))" >&2; exit 1; }; done
	@mkdir -p $(@D)
	find $(LIBRARY_DIRS) -type f \( -false $(foreach e,$(LIBRARY_EXTS),-o -iname '*.$(e)') \) \
	  $(foreach s,$(LIBRARY_SKIP),! -name '$(s)') | LC_ALL=C sort > $@.tmp
	mv $@.tmp $@
	@echo "library: $$(wc -l < $@) tracks in $@"

library-list: $(LIBRARY_LIST)

# The rule is code: file names and title tags naming a mood, to a quadrant (pipelines/library-moods.sh).
$(LIBRARY_MOODS): $(LIBRARY_LIST) pipelines/library-moods.sh
	@mkdir -p $(@D)
	pipelines/library-moods.sh $(LIBRARY_LIST) > $@.tmp
	mv $@.tmp $@

library-moods: $(LIBRARY_MOODS)
