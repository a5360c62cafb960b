# recommend.mk — the main job: the song library embedded once into an index (vx-embed, updated
# only for what changed), then a face photo to a playlist and a picture (pipelines/recommend.sh).
# Included by the Makefile; uses $(BUILD), the library of library.mk and the committed models.

LIBRARY_INDEX ?= data/cache/library.vxi
SPACE_FILE    ?= models/emotion-space.txt
SONG_MODEL    ?= models/music.vxm
IMAGE         ?= data/samples/face.png
RECOMMEND_K   ?= 5
RECOMMEND_OUT ?= data/cache/recommend

.PHONY: library-index recommend

# Indexes depend on what the committed models hold, not on their rules: a plain `make demo` must
# never start training (a fresh clone's timestamps would make the models look older than their
# recipes). A stamp holds each model's checksum and changes only when the model does.
data/cache/%.md5: FORCE
	@mkdir -p $(@D)
	@md5sum $(subst +,/,$*) | cmp -s - $@ || md5sum $(subst +,/,$*) > $@
SONG_MODEL_SUM = data/cache/$(subst /,+,$(SONG_MODEL)).md5
FACE_MODEL_SUM = data/cache/$(subst /,+,$(FACE_MODEL)).md5

# The library is embedded by the music model adapted to it (vx-adapt, AdaBN): the batch-norm
# statistics of the library's own segments, a random sample of 2048, in place of 4Q's, the weights
# unchanged. Game scores are not 4Q's pop and rock; on the title-labelled tracks this took the model
# from 6 of 22 right to 10 (the set, 21 tracks now, then held a silent one). Made when the model changes; a library that grew into other music can
# be adapted again by removing it. Decoding the library for it costs as much again as embedding it.
LIBRARY_MODEL ?= data/cache/music-library.vxm
LIBRARY_MODEL_SUM = data/cache/$(subst /,+,$(LIBRARY_MODEL)).md5
$(LIBRARY_MODEL): $(SONG_MODEL_SUM) | $(LIBRARY_LIST) $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-spectro $(BUILD)/bin/vx-adapt
	@mkdir -p $(@D)
	tr '\n' '\0' < $(LIBRARY_LIST) | xargs -0 $(BUILD)/bin/vx-decode --rate 22050 | \
	  $(BUILD)/bin/vx-spectro $(SPECTRO_OPTS) $(SEGMENT_OPTS) | $(BUILD)/bin/vx-adapt -m $(SONG_MODEL) -o $@
$(LIBRARY_MODEL_SUM): $(LIBRARY_MODEL)

# vx-embed SONG-ARGS: vx-embed into $@, where a song it skips (silent, unreadable: it names them)
# leaves an index of the rest, as a music player's library scan would, rather than no index: its
# exit status 1 is taken as success when it wrote $@ (it writes the whole index or nothing).
embed_library = @rm -f $@.begun; touch $@.begun; \
	echo "$(BUILD)/bin/vx-embed $(1)"; $(BUILD)/bin/vx-embed $(1) || \
	{ st=$$?; [ $$st = 1 ] && [ $@ -nt $@.begun ] && echo "library: the songs above were skipped" >&2 || \
	  { rm -f $@.begun; exit $$st; }; }; rm -f $@.begun

# vx-embed keeps the songs whose path, size and mtime are unchanged and drops those that vanished,
# so it runs every time (30 ms when nothing changed): a song edited in place changes no list. A
# new model or space makes every kept vector stale, so the index then starts again.
$(LIBRARY_INDEX): $(LIBRARY_LIST) $(LIBRARY_MODEL_SUM) $(SPACE_FILE) FORCE | $(BUILD)/bin/vx-embed
	@if [ -f $@ ] && { [ $(LIBRARY_MODEL_SUM) -nt $@ ] || [ $(SPACE_FILE) -nt $@ ]; }; then \
	  echo "library: the model or the space changed: embedding every song again"; rm -f $@; fi
	$(call embed_library,-m $(LIBRARY_MODEL) -s $(SPACE_FILE) -o $@ - < $(LIBRARY_LIST))

library-index: $(LIBRARY_INDEX)

# The songs for the face in IMAGE (PNG, PNM, or JPEG through jpegtopnm), printed with why they
# matched, as an M3U playlist and as a PNG.
recommend: $(PROGS) $(LIBRARY_INDEX)
	@mkdir -p $(dir $(RECOMMEND_OUT))
	$(VX_PATH) pipelines/recommend.sh -k $(RECOMMEND_K) \
	  --m3u $(RECOMMEND_OUT).m3u --png $(RECOMMEND_OUT).png $(IMAGE) $(LIBRARY_INDEX)

# Judging the chain (make eval-congruence): every FER-2013 PublicTest face, through the face model,
# queries an index of the artist-disjoint validation clips; of its top 10 songs, the share from the
# quadrant of its true emotion, per emotion and macro-averaged, in both spaces. Then the same over
# the library's title-labelled tracks (data/library/moods.tsv), counting each emotion's top R songs,
# R being the number of labelled tracks in its quadrant.
CONGRUENCE = data/cache/congruence
$(CONGRUENCE)/faces.vxs: $(FACE_MODEL_SUM) | $(BUILD)/bin/vx-decode $(BUILD)/bin/vx-infer
	@mkdir -p $(@D)
	$(BUILD)/bin/vx-decode $(FER)/PublicTest | $(BUILD)/bin/vx-infer -o $@ $(FACE_MODEL)
$(CONGRUENCE)/val.vxi: $(MUSIC_CACHE)/split.stamp $(SONG_MODEL_SUM) $(SPACE_FILE) | $(BUILD)/bin/vx-embed
	@mkdir -p $(@D)
	rm -f $@
	$(BUILD)/bin/vx-embed -m $(SONG_MODEL) -s $(SPACE_FILE) -o $@ $(MUSIC_VAL_DIR)
$(CONGRUENCE)/val-songs.tsv: $(MUSIC_CACHE)/split.stamp
	@mkdir -p $(@D)
	find $(MUSIC_VAL_DIR)/ -name '*.mp3' | awk -F/ '{ print $$0 "\t" $$(NF - 1) }' > $@
$(CONGRUENCE)/moods.vxi: $(LIBRARY_MOODS) $(LIBRARY_INDEX) | $(BUILD)/bin/vx-embed
	@mkdir -p $(@D)
	grep -v '^#' $(LIBRARY_MOODS) | cut -f1 > $@.list
	$(call embed_library,-m $(LIBRARY_MODEL) -s $(SPACE_FILE) -i $(LIBRARY_INDEX) -o $@ - < $@.list)
	rm -f $@.list

.PHONY: eval-congruence
eval-congruence: $(CONGRUENCE)/faces.vxs $(CONGRUENCE)/val.vxi $(CONGRUENCE)/val-songs.tsv $(CONGRUENCE)/moods.vxi
	@for space in emotions va; do \
	  echo "== 4Q validation clips, top 10, space $$space"; \
	  $(BUILD)/bin/vx-match -k 10 --space $$space $(CONGRUENCE)/val.vxi $(CONGRUENCE)/faces.vxs | \
	    pipelines/congruence.sh /dev/stdin $(CONGRUENCE)/val-songs.tsv $(SPACE_FILE); \
	done
	@r=$$(grep -v '^#' $(LIBRARY_MOODS) | cut -f2 | sort | uniq -c | sort -rn | awk 'NR == 1 { print $$1 }'); \
	for space in emotions va; do \
	  echo "== library's title-labelled tracks, top R, space $$space"; \
	  $(BUILD)/bin/vx-match -k $$r --space $$space $(CONGRUENCE)/moods.vxi $(CONGRUENCE)/faces.vxs | \
	    pipelines/congruence.sh /dev/stdin $(LIBRARY_MOODS) $(SPACE_FILE) --per-quadrant; \
	done

# Scale-out: the library cut into SHARDS lists (round robin), each embedded by its own vx-embed
# (`make -j SHARDS library-shards` runs them side by side; each shard can as well run on another
# host, see the README), then merged into one index, equal to embedding the whole list at once.
SHARDS      ?= 2
SHARD_DIR    = data/cache/shards
SHARD_NAMES  = $(shell seq -w 1 $(SHARDS))
$(SHARD_DIR)/list.stamp: $(LIBRARY_LIST)
	@mkdir -p $(@D)
	rm -f $(SHARD_DIR)/*.list
	split -d -a 2 -n r/$(SHARDS) --additional-suffix=.list $(LIBRARY_LIST) $(SHARD_DIR)/
	touch $@
$(SHARD_DIR)/%.vxi: $(SHARD_DIR)/list.stamp $(SONG_MODEL_SUM) $(SPACE_FILE) | $(BUILD)/bin/vx-embed
	$(BUILD)/bin/vx-embed -m $(SONG_MODEL) -s $(SPACE_FILE) -o $@ - < $(SHARD_DIR)/$$(printf '%02d' $$((10#$* - 1))).list
$(SHARD_DIR)/merged.vxi: $(addprefix $(SHARD_DIR)/,$(addsuffix .vxi,$(SHARD_NAMES))) | $(BUILD)/bin/vx-index
	$(BUILD)/bin/vx-index --merge -o $@ $^
.PHONY: library-shards
library-shards: $(SHARD_DIR)/merged.vxi
	@$(BUILD)/bin/vx-index --check $<

# The out-of-domain check: the library's own tracks whose names or title tags name a mood
# (data/library/moods.tsv, made by rule), as a folder-per-quadrant tree of links, through
# eval-music with the model adapted to the library (MUSIC_MODEL=models/music.vxm: without).
MOODS_TREE = $(MUSIC_CACHE)/moods
$(MOODS_TREE).stamp: $(LIBRARY_MOODS)
	rm -rf $(MOODS_TREE)
	grep -v '^#' $(LIBRARY_MOODS) | while IFS=$$'\t' read -r path quad word; do \
	  mkdir -p $(MOODS_TREE)/$$quad; ln -sf "$$path" "$(MOODS_TREE)/$$quad/$$(echo "$$path" | tr / _)"; done
	touch $@
.PHONY: eval-music-library
eval-music-library: $(MOODS_TREE).stamp $(if $(filter command line,$(origin MUSIC_MODEL)),,$(LIBRARY_MODEL))
	@$(MAKE) --no-print-directory eval-music SPLIT=$(MOODS_TREE) \
	  MUSIC_MODEL=$(if $(filter command line,$(origin MUSIC_MODEL)),$(MUSIC_MODEL),$(LIBRARY_MODEL))
