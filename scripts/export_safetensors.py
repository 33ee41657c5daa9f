#!/usr/bin/env python3
"""Exports a PyTorch network to the safetensors file weir's `model` operator
serves (docs/models.md).

    from export_safetensors import export
    export(net, "model.safetensors", features=["amount", "hour"],
           output="probability", input_mean=mean, input_std=std)

`net` is a torch.nn.Sequential of Linear layers, each optionally followed by a
LayerNorm and then one activation (ReLU, Tanh, Sigmoid, GELU(approximate=
"none")). Weights are written as F32 in PyTorch's Linear layout (out x in);
the architecture goes into __metadata__["weir"] as a JSON string. The file is
written by hand (8-byte little-endian header length, JSON header, raw bytes),
so the `safetensors` package is not needed; safetensors.torch.load_file reads
it back.
"""
import json
import struct
import sys

import numpy as np

ACTIVATIONS = {"ReLU": "relu", "Tanh": "tanh", "Sigmoid": "sigmoid", "GELU": "gelu"}


def _f32(t):
    return np.ascontiguousarray(t.detach().cpu().numpy() if hasattr(t, "detach") else t,
                                dtype="<f4")


def write_safetensors(path, tensors, metadata):
    """tensors: name -> numpy array (written as F32); metadata: str -> str."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        arr = _f32(arr)
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        blobs.append(arr.tobytes())
        offset += arr.nbytes
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned, as the library writes it
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def export(net, path, features, output="raw", input_mean=None, input_std=None):
    import torch.nn as nn

    tensors, layers = {}, []
    for i, mod in enumerate(net):
        kind = type(mod).__name__
        if isinstance(mod, nn.Linear):
            layer = {"weight": f"{i}.weight", "activation": "none"}
            tensors[f"{i}.weight"] = mod.weight
            if mod.bias is not None:
                layer["bias"] = f"{i}.bias"
                tensors[f"{i}.bias"] = mod.bias
            layers.append(layer)
        elif isinstance(mod, nn.LayerNorm) and layers and "norm" not in layers[-1]:
            if layers[-1]["activation"] != "none":
                raise ValueError(f"module {i}: LayerNorm must come before the activation")
            layers[-1]["norm"] = {"weight": f"{i}.weight", "bias": f"{i}.bias", "eps": mod.eps}
            tensors[f"{i}.weight"], tensors[f"{i}.bias"] = mod.weight, mod.bias
        elif kind in ACTIVATIONS and layers and layers[-1]["activation"] == "none":
            if kind == "GELU" and getattr(mod, "approximate", "none") != "none":
                raise ValueError(f"module {i}: weir's gelu is the exact (erf) form")
            layers[-1]["activation"] = ACTIVATIONS[kind]
        elif isinstance(mod, (nn.Dropout, nn.Identity)):
            continue  # nothing at inference
        else:
            raise ValueError(f"module {i} ({kind}): weir serves Linear, LayerNorm and "
                             f"{', '.join(ACTIVATIONS)}")
    arch = {"features": list(features), "layers": layers, "output": output}
    if input_mean is not None:
        tensors["input_mean"], tensors["input_std"] = input_mean, input_std
        arch["input_mean"], arch["input_std"] = "input_mean", "input_std"
    write_safetensors(path, tensors, {"weir": json.dumps(arch)})


if __name__ == "__main__":
    sys.exit("import this module and call export(net, path, features, ...)")
