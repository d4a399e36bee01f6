#!/usr/bin/env python3
"""Generate torch_layers.json: PyTorch's outputs and gradients for the
compress/nn layers with groups, dilation, padding, ceil mode and the
activations, read by TestTorchConformance.

Each case holds a LayerSpec (compress/nn's JSON), the per-sample input
shape, the input batch x, the layer's parameters, a probe r, and PyTorch's
y = layer(x) and the gradients of sum(y * r) with respect to x and each
parameter. Values are float32 printed with 9 significant digits.

Usage: python3 compress/nn/testdata/gen_torch_layers.py > compress/nn/testdata/torch_layers.json
(Debian's python3-torch is installed for Debian's own python3, which may not
be the first python3 on PATH.)
"""
import json
import math

import torch
import torch.nn.functional as F

torch.manual_seed(20261202)


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def conv(spec, x, w, b):
    t, l, bo, r = spec.get("pads", [spec.get("pad", 0)] * 4)
    x = F.pad(x, (l, r, t, bo))
    return F.conv2d(x, w, b, stride=spec.get("stride", 1), dilation=spec.get("dilation", 1),
                    groups=spec.get("groups", 1))


def pool(spec, x):
    k, s, p = spec["kernel"], spec.get("stride", spec["kernel"]), spec.get("pad", 0)
    ceil = spec.get("ceil_mode", False)
    if "pads" in spec:  # asymmetric: explicit padding that never wins / never counts
        t, l, bo, r = spec["pads"]
        assert not ceil
        if spec["type"] == "maxpool2d":
            return F.max_pool2d(F.pad(x, (l, r, t, bo), value=-math.inf), k, s)
        ones = F.pad(torch.ones_like(x), (l, r, t, bo))
        return F.avg_pool2d(F.pad(x, (l, r, t, bo)), k, s) / F.avg_pool2d(ones, k, s)
    if spec["type"] == "maxpool2d":
        return F.max_pool2d(x, k, s, p, ceil_mode=ceil)
    return F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=spec.get("count_include_pad", False))


ACT = {
    "clip": lambda s, x: F.relu6(x) if s == {"type": "clip", "max": 6} else torch.clamp(x, s.get("min", 0.0), s.get("max", 0.0)),
    "leakyrelu": lambda s, x: F.leaky_relu(x, s.get("alpha", 0.01)),
    "sigmoid": lambda s, x: torch.sigmoid(x),
    "tanh": lambda s, x: torch.tanh(x),
    "hardswish": lambda s, x: F.hardswish(x),
    "hardsigmoid": lambda s, x: F.hardsigmoid(x) if s.get("alpha") == 1 / 6 and "beta" not in s
    else torch.clamp(s.get("alpha", 0.2) * x + s.get("beta", 0.5), 0, 1),
    "softmax": lambda s, x: torch.softmax(x, dim=1),
    "globalavgpool": lambda s, x: F.adaptive_avg_pool2d(x, 1),
    "globalmaxpool": lambda s, x: F.adaptive_max_pool2d(x, 1),
}


def case(name, spec, shape, n=2, scale=1.0):
    x = (torch.randn(n, *shape) * scale).requires_grad_()
    params = {}
    if spec["type"] == "conv2d":
        g, k = spec.get("groups", 1), spec["kernel"]
        bound = 1 / math.sqrt(shape[0] // g * k * k)
        w = ((torch.rand(spec["filters"], shape[0] // g, k, k) * 2 - 1) * bound).requires_grad_()
        b = ((torch.rand(spec["filters"]) * 2 - 1) * bound).requires_grad_()
        y = conv(spec, x, w, b)
        params = {"weight": w, "bias": b}
    elif spec["type"] in ("maxpool2d", "avgpool2d"):
        y = pool(spec, x)
    else:
        y = ACT[spec["type"]](spec, x)
    r = torch.rand_like(y) * 2 - 1
    (y * r).sum().backward()
    return {
        "name": name, "spec": spec, "input": shape,
        "x": flat(x), "r": flat(r), "y": flat(y), "y_shape": list(y.shape), "dx": flat(x.grad),
        "params": {k: flat(v) for k, v in params.items()},
        "grads": {k: flat(v.grad) for k, v in params.items()},
    }


cases = [
    case("conv grouped strided asymmetric", {"type": "conv2d", "filters": 6, "kernel": 3, "groups": 2, "stride": 2, "pads": [0, 1, 1, 0]}, [4, 7, 6]),
    case("conv depthwise x2 dilated", {"type": "conv2d", "filters": 6, "kernel": 3, "groups": 3, "dilation": 2, "pad": 2}, [3, 6, 7]),
    case("conv depthwise 3x3", {"type": "conv2d", "filters": 4, "kernel": 3, "groups": 4, "pad": 1}, [4, 6, 7]),
    case("conv depthwise 3x3 wide rows", {"type": "conv2d", "filters": 3, "kernel": 3, "groups": 3, "pad": 1}, [3, 4, 19]),
    case("conv depthwise 3x3 stride 2 asymmetric", {"type": "conv2d", "filters": 4, "kernel": 3, "groups": 4, "stride": 2, "pads": [1, 0, 2, 1]}, [4, 7, 8]),
    case("conv depthwise 5x5", {"type": "conv2d", "filters": 2, "kernel": 5, "groups": 2, "pad": 2}, [2, 6, 5]),
    case("conv dilated", {"type": "conv2d", "filters": 3, "kernel": 3, "dilation": 3, "pad": 1}, [2, 8, 9]),
    case("maxpool padded ceil", {"type": "maxpool2d", "kernel": 3, "stride": 2, "pad": 1, "ceil_mode": True}, [3, 6, 6]),
    case("maxpool asymmetric", {"type": "maxpool2d", "kernel": 2, "stride": 2, "pads": [1, 0, 0, 1]}, [2, 5, 6]),
    case("avgpool padded ceil include", {"type": "avgpool2d", "kernel": 3, "stride": 2, "pad": 1, "ceil_mode": True, "count_include_pad": True}, [3, 6, 6]),
    case("avgpool padded ceil exclude", {"type": "avgpool2d", "kernel": 3, "stride": 2, "pad": 1, "ceil_mode": True}, [3, 6, 6]),
    case("avgpool ceil no pad", {"type": "avgpool2d", "kernel": 2, "stride": 2, "ceil_mode": True}, [2, 5, 7]),
    case("avgpool asymmetric exclude", {"type": "avgpool2d", "kernel": 3, "stride": 1, "pads": [0, 2, 1, 0]}, [2, 5, 5]),
    case("globalavgpool", {"type": "globalavgpool"}, [3, 4, 5]),
    case("globalmaxpool", {"type": "globalmaxpool"}, [3, 4, 5]),
    case("relu6", {"type": "clip", "max": 6}, [3, 4, 4], scale=5),
    case("clip", {"type": "clip", "min": -0.5, "max": 0.75}, [12]),
    case("leakyrelu", {"type": "leakyrelu", "alpha": 0.1}, [12]),
    case("sigmoid", {"type": "sigmoid"}, [12], scale=3),
    case("tanh", {"type": "tanh"}, [12], scale=2),
    case("hardswish", {"type": "hardswish"}, [2, 3, 4], scale=3),
    case("hardsigmoid onnx defaults", {"type": "hardsigmoid"}, [12], scale=3),
    case("hardsigmoid pytorch", {"type": "hardsigmoid", "alpha": 1 / 6}, [12], scale=4),
    case("softmax", {"type": "softmax"}, [7], scale=3),
]
print(json.dumps({"generator": "gen_torch_layers.py", "torch": torch.__version__, "cases": cases}))
