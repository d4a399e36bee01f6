#!/usr/bin/python3
"""Time Debian's PyTorch on an exported fixture: the peer for compressq's graph benchmarks.

Run with Debian's python3 from the repository root, after gen.py has written the
.onnx files:

    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 compress/onnx/testdata/pytorch/bench.py --mnist DIR

The model is rebuilt from the .onnx file's initializers (as gen.py's accuracy
check does). Per thread count it measures, best of --repeats:
  - forward in eval mode under no_grad at batch 64 over the full batches of the
    MNIST test set, in images/s;
  - one training epoch (gen.py's recipe for the model, batch 64, 60k training
    images) starting from the exported weights, in seconds.
Each thread count runs in its own process with OMP_NUM_THREADS and
OPENBLAS_NUM_THREADS set, since a BLAS reads its thread count when it loads.
OPENBLAS_CORETYPE is read from the environment and echoed; it has an effect
only when torch's BLAS is OpenBLAS ("blas" in the output).
Prints one JSON object on stdout; progress goes to stderr.
"""

import argparse
import copy
import importlib.util
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_gen():
    spec = importlib.util.spec_from_file_location("gen", os.path.join(HERE, "gen.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def child(args, threads):
    """Measure at one thread count; print one JSON object."""
    import onnx
    import torch

    torch.set_num_threads(threads)
    gen = load_gen()
    train_x, train_y, test_x, _ = gen.load_mnist(args.mnist)
    path = os.path.join(args.dir, f"{args.model}.onnx")
    base = gen.reload_from_onnx(args.model, onnx.load(path))

    full = (test_x.shape[0] // 64) * 64
    forward = []
    model = copy.deepcopy(base).eval()
    with torch.no_grad():
        model(test_x[:64])
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for i in range(0, full, 64):
                model(test_x[i:i + 64])
            forward.append(full / (time.perf_counter() - t0))

    recipe = dict(gen.RECIPES[args.model], epochs=1)
    epoch = []
    for r in range(args.repeats):
        model = copy.deepcopy(base)
        g = torch.Generator().manual_seed(gen.SEED)
        t0 = time.perf_counter()
        gen.train(model, recipe, train_x, train_y, g)
        epoch.append(time.perf_counter() - t0)
        print(f"threads {threads} epoch run {r + 1}: {epoch[-1]:.1f} s", file=sys.stderr)

    print(json.dumps({
        "torch_threads": torch.get_num_threads(),
        "forward_batch64_images_per_s": max(forward),
        "forward_runs_images_per_s": forward,
        "train_epoch_s": min(epoch),
        "train_epoch_runs_s": epoch,
        "train_images": int(train_x.shape[0]),
        "forward_images": full,
        "blas": gen.blas_library(),
        "torch_version": torch.__version__,
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist", required=True, help="directory with the four MNIST .gz IDX files")
    ap.add_argument("--dir", default=HERE, help="directory with the .onnx files (default: here)")
    ap.add_argument("--model", default="resnet", help="resnet or mobilenet")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure; the best is kept")
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeats < 1:
        raise SystemExit(f"--repeats: {args.repeats}, want at least 1")
    if args.child:
        child(args, args.child)
        return

    results = {}
    blas, version = "unknown", ""
    for t in args.threads.split(","):
        n = int(t)
        if n < 1:
            raise SystemExit(f"--threads: {n}, want at least 1")
        env = dict(os.environ, OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n))
        cmd = [sys.executable, os.path.abspath(__file__), "--mnist", args.mnist,
               "--dir", args.dir, "--model", args.model, "--repeats", str(args.repeats),
               "--child", str(n)]
        out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        blas, version = r.pop("blas"), r.pop("torch_version")
        results[str(n)] = r
    print(json.dumps({
        "model": args.model,
        "torch_version": version,
        "blas": blas,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        "cpu": cpu_model(),
        "repeats": args.repeats,
        "batch": 64,
        "threads": results,
    }, indent=2))


if __name__ == "__main__":
    main()
