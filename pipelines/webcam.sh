#!/bin/bash
# webcam.sh — the live view: frames from a V4L2 camera (ffmpeg's v4l2 input writing PPM to a pipe),
# or a video file or a folder of frames standing in for it, through vx-facecrop -> vx-infer -> vx-bars.
set -uo pipefail
me=webcam
usage="Usage: pipelines/webcam.sh [OPTION]... [SOURCE]
Show the emotion of the face in front of a camera as bars in the terminal, smoothed over time.
SOURCE is a V4L2 camera device (default /dev/video0), a video file (anything ffmpeg reads), or a
folder of PNG/PNM frames (taken in name order). The vx-* programs are found on PATH.

  -m, --model FILE   face model (default models/face.vxm)
  -f, --fps N        frames analysed per second (default 5)
  -a, --alpha A      weight of each new frame in the moving average (default 0.3)
  -s, --size WxH     camera frame size (default 640x480)
  -w, --width N      frames are scaled to N pixels wide before detection (default 320: a face in
                     front of a camera is large, and smaller frames keep the pipeline live)
      --fast         a video file as fast as it decodes, not at its own pace
      --text         a tab-separated line per face instead of bars (see vx-bars --text)
  -i, --index FILE   also recommend songs of this index (vx-embed) for the smoothed emotion:
                     every --every seconds, the top 3 by vx-match, shown under the emotion
      --every SEC    seconds between recommendations (default 3)
      --detector ARGS  extra vx-facecrop options, e.g. '--opencv'
  -h, --help         show this help and exit
      --version      show the version and exit
Frames without a face are skipped; the bars keep the last faces' average.
Stop it with Ctrl-C."

model=models/face.vxm fps=5 alpha=0.3 size=640x480 width=320 fast=0 text=() detector=() sources=() index= every=3
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help) echo "$usage"; exit 0 ;;
    --version) echo "webcam.sh (VibeluX) $(vx-bars --version 2>/dev/null | awk '{ print $NF }')"; exit 0 ;;
    -m|--model) model=${2:?}; shift ;;
    -f|--fps) fps=${2:?}; shift ;;
    -a|--alpha) alpha=${2:?}; shift ;;
    -s|--size) size=${2:?}; shift ;;
    -w|--width) width=${2:?}; shift ;;
    --fast) fast=1 ;;
    --text) text=(--text) ;;
    -i|--index) index=${2:?}; shift ;;
    --every) every=${2:?}; shift ;;
    --detector) read -r -a detector <<< "${2:?}"; shift ;;
    --) shift; sources+=("$@"); break ;;
    -) sources+=("$1") ;;
    -*) echo "$me: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) sources+=("$1") ;;
    esac
    shift
done
set -- "${sources[@]}"
[ $# -le 1 ] || { echo "$me: one SOURCE at most (see --help)" >&2; exit 2; }
[[ $fps =~ ^[0-9]+([.][0-9]+)?$ ]] && [ "$fps" != 0 ] || { echo "$me: --fps: '$fps' is not a positive number" >&2; exit 2; }
[[ $width =~ ^[1-9][0-9]*$ ]] || { echo "$me: --width: '$width' is not a positive whole number" >&2; exit 2; }
[[ $every =~ ^[0-9]+([.][0-9]+)?$ ]] && [ "$every" != 0 ] || { echo "$me: --every: '$every' is not a positive number" >&2; exit 2; }
[ -z "$index" ] || [ -r "$index" ] || { echo "$me: no song index at $index (make library-index)" >&2; exit 1; }
filter="fps=$fps,scale=$width:-2"
source=${1:-/dev/video0}

for p in vx-facecrop vx-infer vx-bars; do
    command -v $p >/dev/null || { echo "$me: $p is not on PATH (build with make, then PATH=build/bin:\$PATH, or run make webcam)" >&2; exit 1; }
done
[ -r "$model" ] || { echo "$me: no face model at $model (make models/face.vxm, or give --model FILE)" >&2; exit 1; }

# Frames in, as PPM images back to back on standard output.
frames() {
    local quiet=(-hide_banner -loglevel error -nostdin)
    if [ -c "$source" ]; then
        ffmpeg "${quiet[@]}" -f v4l2 -video_size "$size" -i "$source" -vf "$filter" -f image2pipe -vcodec ppm -
    elif [ -d "$source" ]; then
        shopt -s nullglob nocaseglob
        local f list=("$source"/*.{png,pnm,pgm,ppm,pam})
        [ ${#list[@]} -gt 0 ] || { echo "$me: no PNG or PNM frames in $source" >&2; return 1; }
        # In name order, whatever the extension.
        printf '%s\0' "${list[@]}" | sort -z | while IFS= read -r -d '' f; do cat "$f"; done
    elif [ -f "$source" ]; then
        local pace=(-re)
        [ $fast = 1 ] && pace=()
        ffmpeg "${quiet[@]}" "${pace[@]}" -i "$source" -vf "$filter" -f image2pipe -vcodec ppm -
    else
        echo "$me: $source is no camera, video file or folder" >&2
        return 1
    fi || { echo "$me: no frames from $source" >&2; return 1; }
}

if [ ! -e "$source" ]; then
    if [[ $source == /dev/* ]]; then
        echo "$me: no camera: there is no $source; plug one in, or give a video file or a folder of frames" >&2
    else
        echo "$me: $source: no such file or folder" >&2
    fi
    exit 1
fi
# One thread each: the stages already run side by side, and OpenMP threads waiting on a busy core
# for work as small as one frame cost more than they give.
export OMP_NUM_THREADS=1
# With an index: the smoothed emotion of every frame, and every few seconds' worth of frames the
# songs that fit it (vx-match loads a small index in milliseconds).
recommend_live() {
    local n=0 per
    per=$(awk -v e="$every" -v f="$fps" 'BEGIN { p = int(e * f + 0.5); print p < 1 ? 1 : p }')
    while IFS=$'\t' read -r key a b c d e f g top; do
        [ $((n++ % per)) = 0 ] || continue
        printf '%s  %s  (anger %.2f disgust %.2f fear %.2f happy %.2f neutral %.2f sad %.2f surprise %.2f)\n' \
            "$key" "$top" "$a" "$b" "$c" "$d" "$e" "$f" "$g"
        vx-match -k 3 --vector "$a,$b,$c,$d,$e,$f,$g" "$index" |
            awk -F'\t' '{ n = split($4, p, "/"); printf "    %d. %.3f  %s\n", $2, $3, p[n] }'
    done
}
if [ -n "$index" ]; then
    frames | vx-facecrop --allow-none "${detector[@]}" | vx-infer --unbuffered "$model" |
        vx-bars --alpha "$alpha" --text | recommend_live
else
    frames | vx-facecrop --allow-none "${detector[@]}" | vx-infer --unbuffered "$model" |
        vx-bars --alpha "$alpha" "${text[@]}"
fi
status=("${PIPESTATUS[@]}")
for s in "${status[@]}"; do [ "$s" = 0 ] || exit 1; done
exit 0
