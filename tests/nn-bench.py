#!/usr/bin/env python3
# nn-bench.py THREADS BATCH ARCH... — the VibeluX architectures rebuilt in PyTorch (CPU), timed like
# tests/nn-bench.sh times vx-train and vx-infer: training samples/s at batch BATCH (AdamW, label
# smoothing), inference samples/s at batch BATCH and 1, on random f32 input of the shape the
# arch's `input` line gives (1x48x48 images, 1x96x129 log-mel segments). Prints one line per net:
# name, batch, then the three rates.
import os
import sys
import time

import torch
import torch.nn as nn


def build(path):
    """The net, its input shape (C, H, W) and its number of classes."""
    layers, shape, input_shape = [], None, None  # shape: (C, H, W) or (F,)
    for raw in open(path):
        tok = raw.split("#")[0].split()
        if not tok:
            continue
        kind, args = tok[0], tok[1:]
        if kind == "input":
            shape = input_shape = tuple(int(a) for a in args)
        elif kind == "conv":
            out, k = int(args[0]), int(args[1].split("x")[0])
            same = "valid" not in args
            stride = int(args[args.index("stride") + 1]) if "stride" in args else 1
            pad = (k - 1) // 2 if same else 0
            layers.append(nn.Conv2d(shape[0], out, k, stride, pad))
            if same and k % 2 == 0:  # PyTorch pads symmetrically; even kernels need one more after
                layers.insert(-1, nn.ZeroPad2d((0, 1, 0, 1)))
            h = -(-shape[1] // stride) if same else (shape[1] - k) // stride + 1
            w = -(-shape[2] // stride) if same else (shape[2] - k) // stride + 1
            shape = (out, h, w)
        elif kind in ("maxpool", "avgpool"):
            k = int(args[0])
            s = int(args[2]) if len(args) > 2 else k
            layers.append((nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d)(k, s))
            shape = (shape[0], (shape[1] - k) // s + 1, (shape[2] - k) // s + 1)
        elif kind == "gap":
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            shape = (shape[0],)
        elif kind in ("dense", "softmax"):
            if len(shape) == 3:
                layers.append(nn.Flatten())
                shape = (shape[0] * shape[1] * shape[2],)
            layers.append(nn.Linear(shape[0], int(args[0])))
            shape = (int(args[0]),)
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "leakyrelu":
            layers.append(nn.LeakyReLU(float(args[0]) if args else 0.01))
        elif kind == "dropout":
            layers.append(nn.Dropout(float(args[0])))
        elif kind == "bn":
            layers.append(nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0]))
        else:
            raise SystemExit(f"{path}: unknown layer {kind}")
    return nn.Sequential(*layers), input_shape, shape[0]


def rate(fn, images, seconds=8.0):
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += images
    return n / (time.perf_counter() - t0)


def main():
    torch.set_num_threads(int(sys.argv[1]))
    batch = int(sys.argv[2])
    torch.manual_seed(1)
    for path in sys.argv[3:]:
        net, shape, classes = build(path)
        xb = torch.randn(batch, *shape, dtype=torch.float32)
        yb = torch.randint(0, classes, (batch,))
        opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.05)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

        def step():
            opt.zero_grad()
            loss_fn(net(xb), yb).backward()
            opt.step()

        net.train()
        train = rate(step, batch)
        net.eval()
        with torch.no_grad():
            bn = rate(lambda: net(xb), batch)
            x1 = torch.randn(1, *shape, dtype=torch.float32)
            b1 = rate(lambda: net(x1), 1)
        name = os.path.basename(path).rsplit(".", 1)[0]
        print(f"{name:<12} {batch:6d} {train:12.1f} {bn:14.1f} {b1:14.1f}", flush=True)


main()
