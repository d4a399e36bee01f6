#!/usr/bin/python3
"""Generate the PyTorch-exported ONNX fixtures for the importer's acceptance tests.

Run with Debian's python3 (python3-torch, python3-torchvision, python3-onnx), from
the repository root:

    /usr/bin/python3 compress/onnx/testdata/pytorch/gen.py --mnist DIR

DIR holds the four original LeCun MNIST files (train-images-idx3-ubyte.gz,
train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz).
The script trains two small CNNs (resnet, mobilenet) on 28x28 pixels scaled to
[0, 1] (pixel/255, no mean/std normalisation), exports each to ONNX opset 13 with
explicit BatchNormalization nodes and a dynamic batch axis, checks the files, and
writes reference inputs/outputs in ONNX's test-data layout plus reference.json.
See README.md next to this file.
"""

import argparse
import gzip
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import onnx.shape_inference
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20261202
BATCH = 64
OPSET = 13

# Test-set image indices of the reference sets: set 0 is a batch of 8, sets 1
# and 2 are single images.
REFERENCE_SETS = [list(range(0, 8)), [8], [9]]


def read_idx(path, want_magic):
    """Return the array in a gzipped IDX file, checking its magic and size."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes, too short for an IDX header")
    magic = int.from_bytes(data[0:4], "big")
    if magic != want_magic:
        raise ValueError(f"{path}: magic {magic:#x}, want {want_magic:#x}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    off = 4 + 4 * ndim
    want = int(np.prod(dims))
    if len(data) - off != want:
        raise ValueError(f"{path}: {len(data) - off} payload bytes, dims {dims} need {want}")
    return np.frombuffer(data, dtype=np.uint8, offset=off).reshape(dims)


def load_mnist(directory):
    """Return (train_x, train_y, test_x, test_y); x is float32 N×1×28×28 in [0, 1]."""
    out = []
    for split in ("train", "t10k"):
        img = read_idx(os.path.join(directory, f"{split}-images-idx3-ubyte.gz"), 0x803)
        lab = read_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz"), 0x801)
        if img.shape[0] != lab.shape[0] or img.shape[1:] != (28, 28):
            raise ValueError(f"{split}: images {img.shape} and labels {lab.shape} disagree")
        x = torch.from_numpy(img.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
        y = torch.from_numpy(lab.astype(np.int64))
        out += [x, y]
    return tuple(out)


def conv_bn(cin, cout, k, stride, groups=1):
    """Conv (no bias, 'same'-style padding k//2) followed by BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    )


class BasicBlock(nn.Module):
    """ResNet basic block: conv-BN-ReLU-conv-BN plus shortcut, ReLU after the add.

    The shortcut is the identity, or a 1×1 conv+BN projection when the stride or
    channel count changes.
    """

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride)
        self.conv2 = conv_bn(cout, cout, 3, 1)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = conv_bn(cin, cout, 1, stride)

    def forward(self, x):
        y = F.relu(self.conv1(x))
        y = self.conv2(y)
        s = x if self.shortcut is None else self.shortcut(x)
        return F.relu(y + s)


class ResNet(nn.Module):
    """Small ResNet for 1×28×28: stem 16 ch, block 16→16, block 16→32 stride 2."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 16, 3, 1)
        self.block1 = BasicBlock(16, 16, 1)
        self.block2 = BasicBlock(16, 32, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.block2(self.block1(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class DepthwiseSeparable(nn.Module):
    """Depthwise 3×3 (groups=cin)-BN-ReLU6, pointwise 1×1-BN-ReLU6."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.dw = conv_bn(cin, cin, 3, stride, groups=cin)
        self.pw = conv_bn(cin, cout, 1, 1)

    def forward(self, x):
        return F.relu6(self.pw(F.relu6(self.dw(x))))


class MobileNet(nn.Module):
    """MobileNet-style net for 1×28×28: stem 3×3/2 32 ch, DS 32→64, DS 64→128 stride 2."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 32, 3, 2)
        self.ds1 = DepthwiseSeparable(32, 64, 1)
        self.ds2 = DepthwiseSeparable(64, 128, 2)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu6(self.stem(x))
        x = self.ds2(self.ds1(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


# Training recipe per model; written to reference.json as is.
RECIPES = {
    "resnet": {"optimizer": "Adam", "lr": 2e-3, "schedule": "cosine to 0 per step",
               "epochs": 2, "batch": BATCH, "loss": "cross_entropy",
               "shuffle": "torch.randperm per epoch, seeded"},
    "mobilenet": {"optimizer": "Adam", "lr": 4e-3, "schedule": "cosine to 0 per step",
                  "epochs": 2, "batch": BATCH, "loss": "cross_entropy",
                  "shuffle": "torch.randperm per epoch, seeded"},
}
MODELS = {"resnet": ResNet, "mobilenet": MobileNet}


def train(model, recipe, x, y, gen):
    n = x.shape[0]
    steps = recipe["epochs"] * ((n + recipe["batch"] - 1) // recipe["batch"])
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    model.train()
    for epoch in range(recipe["epochs"]):
        t0 = time.time()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, recipe["batch"]):
            idx = perm[i:i + recipe["batch"]]
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * idx.numel()
        print(f"  epoch {epoch + 1}: mean loss {total / n:.4f} ({time.time() - t0:.1f} s)",
              file=sys.stderr)


@torch.no_grad()
def evaluate(model, x, y):
    """Return the number of misclassified images (model in eval mode)."""
    model.eval()
    errors = 0
    for i in range(0, x.shape[0], 1000):
        errors += int((model(x[i:i + 1000]).argmax(1) != y[i:i + 1000]).sum())
    return errors


def export(model, path):
    """Export in eval mode keeping BatchNormalization nodes and a dynamic batch axis.

    training=EVAL makes torch's ONNX peephole fold each BatchNorm into the conv
    before it; PRESERVE on a model in eval mode skips that pass, so BN stays an
    explicit node with its running statistics as initializers. Constant folding
    (torch's default) only removes the Cast nodes on ReLU6's Clip bounds.
    """
    model.eval()
    # torch warns that folding may alter parameters under PRESERVE; that concerns
    # models in training mode, and main() checks the file's weights reproduce
    # the trained module's logits exactly.
    warnings.filterwarnings("ignore", message="It is recommended that constant folding")
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), path,
        opset_version=OPSET,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=True,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
    )


def check(path):
    """Run the full checker and shape inference; return op counts by type."""
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(m, check_type=True, strict_mode=True)
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    if [d.dim_param or d.dim_value for d in out] != ["batch", 10]:
        raise ValueError(f"{path}: inferred output shape {out}, want [batch, 10]")
    counts = {}
    for node in m.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    if counts.get("BatchNormalization", 0) == 0:
        raise ValueError(f"{path}: BatchNormalization nodes were folded away")
    return m, counts


def reload_from_onnx(name, m):
    """Build a fresh torch module whose tensors are the .onnx file's initializers.

    Every initializer must map onto a state_dict entry of the same name and
    shape. torch's exporter stores equal-valued parameters once and recreates
    the others with an Identity node (initializer -> parameter name); those
    aliases are followed too. The only entries the file lacks are BN's
    num_batches_tracked, which eval mode does not read.
    """
    fresh = MODELS[name]()
    state = fresh.state_dict()
    tensors = {init.name: onnx.numpy_helper.to_array(init) for init in m.graph.initializer}
    for node in m.graph.node:
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
    loaded = {}
    for tname, arr in tensors.items():
        if tname not in state:
            raise ValueError(f"{name}: initializer {tname!r} has no module parameter")
        if tuple(arr.shape) != tuple(state[tname].shape):
            raise ValueError(f"{name}: initializer {tname!r} shape {arr.shape}, "
                             f"module wants {tuple(state[tname].shape)}")
        loaded[tname] = torch.from_numpy(arr.copy())
    missing = [k for k in state if k not in loaded and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{name}: .onnx lacks module tensors {missing}")
    fresh.load_state_dict(loaded, strict=False)
    fresh.eval()
    return fresh


def blas_library():
    """Name the BLAS torch loaded: "openblas", "netlib" (reference BLAS) or "unknown".

    The figures, and the exact bits of the trained weights, depend on it.
    """
    try:
        with open("/proc/self/maps") as f:
            libs = {os.path.realpath(line.split()[-1]) for line in f if "blas" in line}
    except OSError:
        return "unknown"
    if any("openblas" in lib for lib in libs):
        return "openblas"
    if any(os.path.basename(lib).startswith("libblas") for lib in libs):
        return "netlib"
    return "unknown"


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_tensor(path, arr, name):
    """Write arr as a serialized TensorProto named like the graph's input/output."""
    with open(path, "wb") as f:
        f.write(onnx.numpy_helper.from_array(arr, name).SerializeToString())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mnist", required=True, help="directory with the four MNIST .gz IDX files")
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)),
                    help="output directory (default: this script's directory)")
    ap.add_argument("--models", default="resnet,mobilenet", help="comma-separated subset")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    train_x, train_y, test_x, test_y = load_mnist(args.mnist)

    for name in args.models.split(","):
        if name not in MODELS:
            raise SystemExit(f"--models: unknown model {name!r} (have {sorted(MODELS)})")
        recipe = RECIPES[name]
        torch.manual_seed(SEED)
        np.random.seed(SEED)
        gen = torch.Generator().manual_seed(SEED)
        model = MODELS[name]()
        params = sum(p.numel() for p in model.parameters())
        print(f"{name}: {params} parameters", file=sys.stderr)
        train(model, recipe, train_x, train_y, gen)
        trained_errors = evaluate(model, test_x, test_y)

        path = os.path.join(args.out, f"{name}.onnx")
        export(model, path)
        m, counts = check(path)

        reloaded = reload_from_onnx(name, m)
        errors = evaluate(reloaded, test_x, test_y)
        if errors != trained_errors:
            raise SystemExit(f"{name}: reloaded .onnx weights give {errors} errors, "
                             f"trained module {trained_errors}")

        sets = []
        with torch.no_grad():
            for i, idx in enumerate(REFERENCE_SETS):
                d = os.path.join(args.out, name, f"test_data_set_{i}")
                os.makedirs(d, exist_ok=True)
                x = test_x[idx].contiguous()
                logits = reloaded(x)
                if not torch.equal(logits, model(x)):
                    raise SystemExit(f"{name}: reloaded and trained logits differ on set {i}")
                write_tensor(os.path.join(d, "input_0.pb"), x.numpy(), "input")
                write_tensor(os.path.join(d, "output_0.pb"), logits.numpy(), "logits")
                sets.append({"dir": f"test_data_set_{i}", "test_indices": idx,
                             "labels": test_y[idx].tolist(),
                             "predicted": logits.argmax(1).tolist()})

        n = test_x.shape[0]
        ref = {
            "model": name,
            "onnx_file": f"{name}.onnx",
            "onnx_sha256": sha256(path),
            "opset": OPSET,
            "input": {"name": "input", "shape": ["batch", 1, 28, 28], "dtype": "float32",
                      "convention": "MNIST pixels / 255, in [0, 1]; no mean/std normalisation"},
            "output": {"name": "logits", "shape": ["batch", 10], "dtype": "float32"},
            "parameters": params,
            "ops": dict(sorted(counts.items())),
            "test_images": n,
            "test_errors": errors,
            "test_accuracy": (n - errors) / n,
            "accuracy_method": ("torch module rebuilt from the .onnx file's initializers "
                                "(names and shapes checked), eval mode, MNIST t10k set"),
            "torch_version": torch.__version__,
            "onnx_version": onnx.__version__,
            "seed": SEED,
            "threads": 1,
            "deterministic_algorithms": True,
            "blas": blas_library(),
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
            "training": recipe,
            "export": {"training": "PRESERVE (model in eval mode)", "do_constant_folding": True,
                       "dynamic_axes": {"input": {"0": "batch"}, "logits": {"0": "batch"}}},
            "test_data_sets": sets,
        }
        with open(os.path.join(args.out, name, "reference.json"), "w") as f:
            json.dump(ref, f, indent=2)
            f.write("\n")
        print(f"{name}: test accuracy {ref['test_accuracy']:.4f} ({errors} errors), "
              f"{os.path.getsize(path)} bytes, ops {ref['ops']}", file=sys.stderr)


if __name__ == "__main__":
    main()
