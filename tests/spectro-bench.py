#!/usr/bin/python3
"""spectro-bench.py — `vx-decode | vx-spectro OPTIONS` against `sox` decoding alone, on one core,
over the same clips: music4q MP3s when present, else clips made with sox.

Usage: spectro-bench.py BUILD MUSIC_DIR FILES ROUNDS OPTIONS [OPTIONS]...

Each OPTIONS (one argument: vx-spectro's options, split at spaces) is a side of its own; the first
is the headline, whose ratio is held to the goal.

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
    if len(sys.argv) < 6:
        sys.exit(__doc__.split("\n\n")[1])
    build, music = sys.argv[1], sys.argv[2]
    count, rounds = int(sys.argv[3]), int(sys.argv[4])
    sides = {"sox": "sox \"$1\" -t f32 -r 22050 -c 1 - >/dev/null 2>&1"}
    for options in sys.argv[5:]:
        name = f"vx-decode | vx-spectro {' '.join(options.split())}"
        sides[name] = f"{build}/bin/vx-decode --rate 22050 \"$1\" | {build}/bin/vx-spectro {options} >/dev/null"
    headline = list(sides)[1]
    with tempfile.TemporaryDirectory() as scratch:
        files, what = clips(music, count, scratch)
        # Every clip must go through every side without an error before anything is timed.
        for clip in files:
            for side in list(sides)[1:]:
                timed(sides[side], clip)
        print(f"bench-spectro: {what}, one core (taskset -c 0), {rounds} rounds, the sides alternating clip by clip")
        best = {side: [(float("inf"), float("inf"))] * len(files) for side in sides}
        for r in range(rounds):
            total = {side: [0.0, 0.0] for side in sides}
            for i, clip in enumerate(files):
                order = list(sides) if (r + i) % 2 == 0 else list(sides)[::-1]
                for side in order:
                    wall, cpu = timed(sides[side], clip)
                    total[side][0] += wall
                    total[side][1] += cpu
                    best[side][i] = (min(best[side][i][0], wall), min(best[side][i][1], cpu))
            (sw, sc) = total["sox"]
            print(f"round {r + 1}: sox {sw:.3f} s (cpu {sc:.3f})" +
                  "".join(f"; {side} {w:.3f} s (cpu {c:.3f}): ratio {w / sw:.3f} wall, {c / sc:.3f} cpu"
                          for side, (w, c) in list(total.items())[1:]))
        sums = {side: [sum(t[k] for t in best[side]) for k in (0, 1)] for side in sides}
        (sw, sc) = sums["sox"]
        print(f"each clip's best: sox {sc:.3f} s cpu")
        for side, (w, c) in list(sums.items())[1:]:
            goal = " (goal <= 1.25)" if side == headline else ""
            print(f"each clip's best: {side} {c:.3f} s cpu: ratio {c / sc:.3f} cpu, {w / sw:.3f} wall{goal}")

main()
