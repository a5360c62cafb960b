#!/usr/bin/python3
"""spectro-bench.py — `vx-decode | vx-spectro --segment 3 --segment-hop 1.5` against `sox` decoding
alone, on one core, over the same clips: music4q MP3s when present, else clips made with sox.

Usage: spectro-bench.py BUILD MUSIC_DIR [FILES] [ROUNDS]

Each clip is run by both sides one after the other, ROUNDS times, the side that goes first taking
turns, and each side's time of a clip is the least of its rounds: on a shared machine a burst of
other load then spoils one run of one clip, not a whole round of one side. The CPU time (user +
system of every process, from wait4) is the headline; the wall time is printed beside it."""
import os
import subprocess
import sys
import tempfile
import time


def timed(command, clip):
    """Wall and CPU seconds of `sh -c command clip` on core 0 (the shell's children included)."""
    start = time.perf_counter()
    child = subprocess.Popen(["taskset", "-c", "0", "sh", "-c", command, "sh", clip])
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"spectro-bench: {command} failed on {clip}")
    return wall, usage.ru_utime + usage.ru_stime


def clips(music, count, scratch):
    if os.path.isdir(music):
        found = sorted(os.path.join(d, f) for d, _, fs in os.walk(music) for f in fs if f.endswith(".mp3"))
        return found[:count], f"{min(count, len(found))} music4q MP3s"
    made = []
    for i in range(1, count + 1):
        path = os.path.join(scratch, f"clip{i}.mp3")
        subprocess.run(["sox", "-n", "-r", "44100", "-c", "2", path, "synth", "30", "pinknoise", "synth", "30",
                        "sine", "mix", f"{200 * i}-{300 * i + 2000}", "vol", "0.5"],
                       check=True, stderr=subprocess.DEVNULL)
        made.append(path)
    return made, f"{count} sox-made 30 s MP3s (no {music})"


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.split("\n\n")[1])
    build, music = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    sides = {
        "sox": "sox \"$1\" -t f32 -r 22050 -c 1 - >/dev/null 2>&1",
        "vx": f"{build}/bin/vx-decode --rate 22050 \"$1\" | "
              f"{build}/bin/vx-spectro --segment 3 --segment-hop 1.5 >/dev/null",
    }
    with tempfile.TemporaryDirectory() as scratch:
        files, what = clips(music, count, scratch)
        # Every clip must go through without an error before anything is timed.
        for clip in files:
            timed(sides["vx"], clip)
        print(f"bench-spectro: {what}, one core (taskset -c 0), {rounds} rounds, the sides alternating clip by clip")
        best = {side: [(float("inf"), float("inf"))] * len(files) for side in sides}
        for r in range(rounds):
            total = {side: [0.0, 0.0] for side in sides}
            for i, clip in enumerate(files):
                order = ["sox", "vx"] if (r + i) % 2 == 0 else ["vx", "sox"]
                for side in order:
                    wall, cpu = timed(sides[side], clip)
                    total[side][0] += wall
                    total[side][1] += cpu
                    best[side][i] = (min(best[side][i][0], wall), min(best[side][i][1], cpu))
            (sw, sc), (vw, vc) = total["sox"], total["vx"]
            print(f"round {r + 1}: sox {sw:.3f} s (cpu {sc:.3f}), vx-decode | vx-spectro {vw:.3f} s (cpu {vc:.3f}): "
                  f"ratio {vw / sw:.3f} wall, {vc / sc:.3f} cpu")
        sums = {side: [sum(t[k] for t in best[side]) for k in (0, 1)] for side in sides}
        print(f"each clip's best: sox {sums['sox'][1]:.3f} s cpu, vx-decode | vx-spectro {sums['vx'][1]:.3f} s cpu: "
              f"ratio {sums['vx'][1] / sums['sox'][1]:.3f} cpu, {sums['vx'][0] / sums['sox'][0]:.3f} wall (goal <= 1.25)")


main()
