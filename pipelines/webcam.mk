# webcam.mk — what people see: `make webcam` (live emotion bars from a camera, a video file or a
# folder of frames) and `make face-picture` (a PNG of the face crop beside the emotion bars).
# FACE_MODEL comes from face.mk (models/face.vxm unless given), IMAGE from recommend.mk.
WEBCAM  ?= /dev/video0
PICTURE ?= data/cache/face-picture.png
LIVE_PROGS = $(BUILD)/bin/vx-facecrop $(BUILD)/bin/vx-infer $(BUILD)/bin/vx-bars $(BUILD)/bin/vx-topng

.PHONY: webcam face-picture
# WEBCAM may be a V4L2 device, a video file or a folder of PNG/PNM frames; WEBCAM_OPTS e.g. --fast.
# With the library's index (make library-index), the top songs for the smoothed emotion every 3 s.
webcam: $(LIVE_PROGS)
	$(VX_PATH) pipelines/webcam.sh --model $(FACE_MODEL) $(if $(wildcard $(LIBRARY_INDEX)),--index $(LIBRARY_INDEX)) \
	  $(WEBCAM_OPTS) $(WEBCAM)

face-picture: $(LIVE_PROGS)
	@mkdir -p $(dir $(PICTURE))
	$(VX_PATH) pipelines/face-picture.sh --model $(FACE_MODEL) -o $(PICTURE) $(IMAGE)

# ffmpeg: the camera (and video files standing in for it) as PPM frames on a pipe.
DEB_BUILD += ffmpeg
