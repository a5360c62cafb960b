#!/usr/bin/python3
"""opencv-compare.py — vx-facecrop's boxes against OpenCV's own CascadeClassifier.detectMultiScale
on real photos (gathered by pipelines/facecrop-photos.sh), with the same parameters, and the time each
takes (OpenCV single-threaded). Needs python3-opencv, which only this comparison uses.

  tests/opencv-compare.py [--photos DIR] [--vx PROGRAM] [--scale-factor F] [--min-neighbors N]
                          [--min-size N] [--cascade XML]
  tests/opencv-compare.py --answers DIR   re-derive the answers recorded in tests/facecrop.c from the
                                          scenes `facecrop.t --dump DIR` writes

Boxes match when their IoU is at least 0.9 (one to one, best first). The targets: at least 95% of
OpenCV's boxes matched and at most 5% extra; the exit status is 1 when they are missed."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import cv2
    import numpy as np
except ImportError:
    sys.exit("opencv-compare: needs python3-opencv (apt-get install python3-opencv)")

DEFAULT_CASCADE = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"


def iou(a, b):
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


def match(ref, got, threshold=0.9):
    """One-to-one matching, best pairs first: (matched, missed, extra)."""
    pairs = sorted(((iou(r, g), i, j) for i, r in enumerate(ref) for j, g in enumerate(got)), reverse=True)
    used_r, used_g = set(), set()
    for v, i, j in pairs:
        if v < threshold:
            break
        if i not in used_r and j not in used_g:
            used_r.add(i)
            used_g.add(j)
    return len(used_r), len(ref) - len(used_r), len(got) - len(used_g)


def find_vx(given):
    if given:
        return given
    for cand in (shutil.which("vx-facecrop"), "build/bin/vx-facecrop"):
        if cand and os.access(cand, os.X_OK):
            return cand
    sys.exit("opencv-compare: vx-facecrop not found (build it, or give --vx)")


def opencv_boxes(classifier, gray, args):
    boxes, counts = classifier.detectMultiScale2(gray, scaleFactor=args.scale_factor,
                                                 minNeighbors=args.min_neighbors,
                                                 minSize=(args.min_size, args.min_size))
    return [tuple(int(v) for v in b) + (int(n),) for b, n in zip(boxes, counts)]


def run_vx(vx, args, files):
    cmd = [vx, "--opencv", "--text", "--all", "--allow-none", "--cascade", args.cascade,
           "--scale-factor", repr(args.scale_factor), "--min-neighbors", str(args.min_neighbors),
           "--min-size", str(args.min_size)] + files
    # Single-threaded, as OpenCV is run here: the two times compare like for like.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit("opencv-compare: %s failed: %s" % (vx, out.stderr.strip()))
    boxes = {}
    for line in out.stdout.splitlines():
        key, *v = line.rsplit(" ", 5)
        boxes.setdefault(key, []).append(tuple(int(x) for x in v))
    return boxes, secs


def compare(args):
    vx = find_vx(args.vx)
    manifest = os.path.join(args.photos, "MANIFEST")
    if not os.path.exists(manifest):
        sys.exit("opencv-compare: no %s; run make facecrop-photos first" % manifest)
    photos = [line.split() for line in open(manifest) if line.strip()]
    cv2.setNumThreads(1)
    classifier = cv2.CascadeClassifier(args.cascade)
    if classifier.empty():
        sys.exit("opencv-compare: OpenCV cannot load %s" % args.cascade)
    tmp = tempfile.mkdtemp(prefix="opencv-compare.")
    try:
        ref, cv_secs, pgms, pngs, sizes = {}, 0.0, [], [], {}
        for name, kind, _origin in photos:
            path = os.path.join(args.photos, name)
            colour = cv2.imread(path, cv2.IMREAD_COLOR)
            if colour is None:
                print("# %s: OpenCV cannot read it; skipped" % name)
                continue
            # The gray both detectors see: OpenCV's own BGR2GRAY, the formula vx-decode uses too.
            gray = cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)
            pgm = os.path.join(tmp, name + ".pgm")
            cv2.imwrite(pgm, gray)
            pgms.append(pgm)
            if name.endswith(".png"):
                pngs.append(path)
            sizes[name] = (gray.shape[1], gray.shape[0], kind)
            t0 = time.perf_counter()
            ref[name] = opencv_boxes(classifier, gray, args)
            cv_secs += time.perf_counter() - t0
        got, vx_secs = run_vx(vx, args, pgms)
        tiny = os.path.join(tmp, "tiny.pgm")
        cv2.imwrite(tiny, np.full((24, 24), 128, np.uint8))
        _, start_secs = run_vx(vx, args, [tiny])  # start-up and cascade parsing, no detection
        # PNG photos again, decoded by vx-facecrop itself: the same boxes are expected.
        direct, _ = run_vx(vx, args, pngs) if pngs else ({}, 0.0)

        print("%-24s %11s %5s %5s %7s %6s %5s %s" % ("photo", "size", "kind", "cv", "matched", "missed", "extra",
                                                   "identical"))
        tm = tmi = tex = tref = same = 0
        for name in ref:
            mine = got.get(os.path.join(tmp, name + ".pgm"), [])
            m, mi, ex = match(ref[name], mine)
            identical = sorted(ref[name]) == sorted(mine)
            if name.endswith(".png"):
                identical = identical and sorted(direct.get(os.path.join(args.photos, name), [])) == sorted(mine)
            w, h, kind = sizes[name]
            print("%-24s %5dx%-5d %5s %5d %7d %6d %5d %s" % (name, w, h, kind, len(ref[name]), m, mi, ex,
                                                             "yes" if identical else "NO"))
            tm, tmi, tex, tref, same = tm + m, tmi + mi, tex + ex, tref + len(ref[name]), same + identical
        matched = tm / tref if tref else 1.0
        extra = tex / tref if tref else 0.0
        print("photos %d (%d with faces); OpenCV boxes %d: matched %d (%.1f%%), missed %d, extra %d (%.1f%%); "
              "identical box lists (with strengths) %d/%d"
              % (len(ref), sum(1 for v in sizes.values() if v[2] == "faces"), tref, tm, 100 * matched, tmi, tex,
                 100 * extra, same, len(ref)))
        det = max(vx_secs - start_secs, 1e-9)
        print("time: OpenCV %.2f s single-threaded (detection only); vx-facecrop %.2f s in one run "
              "(%.2f s of it start-up and cascade parsing): ratio %.2f, detection only %.2f"
              % (cv_secs, vx_secs, start_secs, vx_secs / cv_secs, det / cv_secs))
        return 0 if matched >= 0.95 and extra <= 0.05 else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def answers(scenes):
    """The #defines of tests/facecrop.c, from OpenCV on the scenes the test dumps."""
    cv2.setNumThreads(1)
    data = "tests/data/facecrop/"

    def text(cascade, gray, scale, neighbours, min_size):
        c = cv2.CascadeClassifier(cascade)
        r, k = c.detectMultiScale2(gray, scaleFactor=scale, minNeighbors=neighbours, minSize=(min_size, min_size))
        return "".join("%d %d %d %d %d;" % (x, y, w, h, n) for (x, y, w, h), n in zip(r, k))

    def lcg(w, h, seed):
        x, out = seed, bytearray(w * h)
        for i in range(w * h):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
            out[i] = (x >> 16) & 255
        return np.frombuffer(bytes(out), np.uint8).reshape(h, w)

    def fnv(b):
        h = 1469598103934665603
        for c in b:
            h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        return h

    def counted(t):
        return "%d, 0x%016xull" % (t.count(";"), fnv(t.encode()))

    a = cv2.imread(os.path.join(scenes, "scene-a.pgm"), cv2.IMREAD_GRAYSCALE)
    b = cv2.imread(os.path.join(scenes, "scene-b.pgm"), cv2.IMREAD_GRAYSCALE)
    r = lcg(97, 61, 3)
    out = [("EXPECT_A_RAW", '"%s"' % text(data + "tiny.xml", a, 1.1, 0, 0)),
           ("EXPECT_A_N", '"%s"' % text(data + "tiny.xml", a, 1.1, 2, 0).split()[4].rstrip(";")),
           ("EXPECT_B2_RAW", '"%s"' % text(data + "tiny.xml", b, 2.0, 0, 0)),
           ("EXPECT_B2_MIN", '"%s"' % text(data + "tiny.xml", b, 2.0, 0, 15)),
           ("EXPECT_B_RAW", '"%s"' % text(data + "tiny.xml", b, 1.1, 0, 0)),
           ("EXPECT_B_GROUPED", '"%s"' % text(data + "tiny.xml", b, 1.1, 3, 0)),
           ("EXPECT_TILTED_A", counted(text(data + "tilted.xml", a, 1.1, 0, 0))),
           ("EXPECT_TILTED_B", '"%s"' % text(data + "tilted.xml", b, 1.25, 1, 0))]
    sizes = [(88, 55), (48, 31), (120, 80), (97, 30), (1, 1), (50, 61), (200, 3), (3, 200), (33, 20), (96, 60)]
    out.append(("EXPECT_RESIZE", ", ".join("{%d, %d, 0x%016xull}" % (
        w, h, fnv(cv2.resize(r, (w, h), interpolation=cv2.INTER_LINEAR_EXACT).tobytes())) for w, h in sizes)))
    out.append(("EXPECT_HALF", "0x%016xull" % fnv(
        cv2.resize(lcg(96, 60, 4), (48, 30), interpolation=cv2.INTER_LINEAR_EXACT).tobytes())))
    face = cv2.cvtColor(cv2.imread("data/samples/face.png", cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    out.append(("EXPECT_FACE_RAW", counted(text(DEFAULT_CASCADE, face, 1.1, 0, 30))))
    big = np.full((3000, 4000), 128, np.uint8)
    big[1500:1500 + face.shape[0], 1700:1700 + face.shape[1]] = face
    out.append(("EXPECT_BIG", '"%s"' % text(DEFAULT_CASCADE, big, 1.1, 5, 30)))
    for name, value in out:
        print("#define %s %s" % (name, value))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", default="data/cache/facecrop/photos")
    ap.add_argument("--vx", help="the vx-facecrop program (default: PATH, then build/bin)")
    ap.add_argument("--cascade", default=DEFAULT_CASCADE)
    ap.add_argument("--scale-factor", type=float, default=1.1)
    ap.add_argument("--min-neighbors", type=int, default=5)
    ap.add_argument("--min-size", type=int, default=30)
    ap.add_argument("--answers", metavar="DIR", help="print tests/facecrop.c's recorded answers")
    args = ap.parse_args()
    sys.exit(answers(args.answers) if args.answers else compare(args))


if __name__ == "__main__":
    main()
