#!/usr/bin/env python3
# spectro_ref.py — an independent float64 numpy log-mel spectrogram (own Hann window, rfft, Slaney
# mel filterbank from the formulas), compared with vx-spectro's records of the same audio.
# Usage: spectro_ref.py AUDIO.vxt SPECTRO.vxt N_FFT HOP MELS FMIN FMAX SEG SEG_HOP BOUND_DB
# Prints the largest |vx - numpy| in dB over bands within 80 dB of their frame's loudest (librosa's
# top_db; deeper bands are at float32's rounding floor, about 140 dB below a frame's energy, where
# fftwf cannot match float64) and over all bands. Exits 1 when the first is above BOUND_DB, the
# second above 1 dB, a shape differs or the record count is not the one expected.
import struct
import sys

import numpy as np


def records(path):
    """Yields (key, meta dict, array) for each record of a vx tensor stream."""
    data = open(path, "rb").read()
    at = 0
    while at < len(data):
        magic, version, hlen, dtype, rank, label = struct.unpack_from("<4sHHBBH", data, at)
        assert magic == b"VXTS" and version == 1, "not a vx stream"
        dims = struct.unpack_from("<4I", data, at + 12)[:rank]
        klen, mlen = struct.unpack_from("<HH", data, at + 28)
        key = data[at + hlen:at + hlen + klen].decode()
        meta = data[at + hlen + klen:at + hlen + klen + mlen].decode()
        count = int(np.prod(dims)) if rank else 1
        size = 1 if dtype == 1 else 4
        start = at + hlen + klen + mlen
        arr = np.frombuffer(data, np.uint8 if dtype == 1 else "<f4", count, start).reshape(dims)
        at = start + count * size
        yield key, dict(l.split("=", 1) for l in meta.splitlines() if "=" in l), arr


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    lin = f / (200.0 / 3)
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-300) / 1000.0) / (np.log(6.4) / 27), lin)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27) * (m - 15.0)), (200.0 / 3) * m)


def filterbank(rate, n_fft, mels, fmin, fmax):
    freqs = np.arange(n_fft // 2 + 1) * (rate / n_fft)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), mels + 2))
    w = np.zeros((mels, len(freqs)))
    for i in range(mels):
        rising = (freqs - edges[i]) / (edges[i + 1] - edges[i])
        falling = (edges[i + 2] - freqs) / (edges[i + 2] - edges[i + 1])
        w[i] = np.maximum(0, np.minimum(rising, falling)) * 2.0 / (edges[i + 2] - edges[i])
    return w


def logmel(x, rate, n_fft, hop, mels, fmin, fmax):
    x = x.astype(np.float64)
    nframes = 1 + (len(x) - n_fft) // hop if len(x) >= n_fft else 0
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    frames = np.stack([x[t * hop:t * hop + n_fft] * window for t in range(nframes)], axis=1)
    power = np.abs(np.fft.rfft(frames, axis=0)) ** 2
    mel = filterbank(rate, n_fft, mels, fmin, fmax) @ power
    return 10 * np.log10(np.maximum(mel, 1e-10)), mel


def main():
    audio, spectro = sys.argv[1], sys.argv[2]
    n_fft, hop, mels = (int(v) for v in sys.argv[3:6])
    fmin, fmax, seg, seg_hop, bound = (float(v) for v in sys.argv[6:11])
    x = np.concatenate([a for _, _, a in records(audio)])  # chunks of one song, joined
    rate = int(next(records(audio))[1]["rate"])
    fmax = fmax or rate / 2
    want_db, want_power = logmel(x, rate, n_fft, hop, mels, fmin, fmax)
    frames = int(round(seg * rate / hop)) if seg else want_db.shape[1]
    step = int(round((seg_hop or seg) * rate / hop)) if seg else frames
    peak = want_db.max(axis=0) if want_db.size else want_db
    worst_db = worst_all = worst_rel = 0.0
    n = 0
    for key, meta, got in records(spectro):
        first = n * step
        want = np.full((mels, frames), -100.0)
        real = min(frames, want_db.shape[1] - first)
        want[:, :real] = want_db[:, first:first + real]
        if got.shape != (1, mels, frames):
            print(f"{key}: shape {got.shape}, expected {(1, mels, frames)}")
            return 1
        err = np.abs(got[0].astype(np.float64) - want)
        worst_all = max(worst_all, float(np.max(err)))
        near = want_db[:, first:first + real] >= peak[first:first + real] - 80
        worst_db = max(worst_db, float(np.max(err[:, :real][near])))
        # Relative error on power, in the same bands, above the floor.
        p = want_power[:, first:first + real]
        gp = 10 ** (got[0, :, :real].astype(np.float64) / 10)
        live = near & (p > 1e-10)
        if live.any():
            worst_rel = max(worst_rel, float(np.max(np.abs(gp[live] - p[live]) / p[live])))
        n += 1
    expected = 0
    if seg:
        while expected * step < want_db.shape[1] and 2 * (want_db.shape[1] - expected * step) >= frames:
            expected += 1
    else:
        expected = 1 if want_db.shape[1] else 0
    print(f"max_abs_db_80={worst_db:.3g} max_rel_power_80={worst_rel:.3g} max_abs_db_all={worst_all:.3g} "
          f"records={n} expected={expected}")
    return 0 if n == expected and worst_db <= bound and worst_all <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
