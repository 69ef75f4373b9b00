"""Tiny ONNX generators built with onnx.helper: contract files and foreign shapes of every kind.

Graph: z -> MatMul(W) [+ class embedding] -> activation -> Reshape to the requested layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from explorer.io import contract
from explorer.io.contract import ModelCard


def _dim(v):
    return v if isinstance(v, int) else v  # helper accepts int or str


def make_generator(path, *, latent_dim: int = 8, latent_layout: str = "flat", out: str = "nchw",
                   channels: int = 1, height: int = 8, width: int = 8, activation: str = "sigmoid",
                   fixed_batch: int | None = None, label_classes: int | None = None, label_rank: int = 1,
                   flat_values: int | None = None, card: ModelCard | None = None, nan_when_z0_negative=False,
                   input_name: str = "z", output_name: str = "image", seed: int = 0,
                   weights_classes: int | None = None, weights_name: str = "class_weights",
                   weights_first: bool = False) -> Path:
    """Write a generator and return its path. ``flat_values`` overrides C*H*W for odd flat outputs.

    ``weights_classes``: a class_weights float [N, K] input (a cgan / cvae decoder): the image is
    act(z @ W + class_weights @ E), so a blend of rows is the blend of their pre-activations."""
    rng = np.random.default_rng(seed)
    batch = fixed_batch if fixed_batch else "batch"
    k = flat_values or channels * height * width
    nodes, inits = [], []
    if latent_layout == "nchw":
        zin = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, latent_dim, 1, 1])
        nodes.append(helper.make_node("Flatten", [input_name], ["zf"], axis=1))
        zname = "zf"
    else:
        zin = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, latent_dim])
        zname = input_name
    inputs = [zin]
    w = (rng.standard_normal((latent_dim, k)) * 0.7).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "W"))
    nodes.append(helper.make_node("MatMul", [zname, "W"], ["h0"]))
    h = "h0"
    if label_classes:
        inputs.append(helper.make_tensor_value_info("label", TensorProto.INT64,
                                                    [batch] if label_rank == 1 else [batch, 1]))
        emb = (rng.standard_normal((label_classes, k)) * 2.0).astype(np.float32)
        inits.append(numpy_helper.from_array(emb, "E"))
        lab = "label"
        if label_rank == 2:
            inits.append(numpy_helper.from_array(np.array([-1], np.int64), "flat1"))
            nodes.append(helper.make_node("Reshape", ["label", "flat1"], ["label1"]))
            lab = "label1"
        nodes.append(helper.make_node("Gather", ["E", lab], ["emb"], axis=0))
        nodes.append(helper.make_node("Add", [h, "emb"], ["h1"]))
        h = "h1"
    if weights_classes:
        win = helper.make_tensor_value_info(weights_name, TensorProto.FLOAT, [batch, weights_classes])
        inputs.insert(0, win) if weights_first else inputs.append(win)
        emb = (rng.standard_normal((weights_classes, k)) * 2.0).astype(np.float32)
        inits.append(numpy_helper.from_array(emb, "EW"))
        nodes.append(helper.make_node("MatMul", [weights_name, "EW"], ["wemb"]))
        nodes.append(helper.make_node("Add", [h, "wemb"], ["h2"]))
        h = "h2"
    act = {"sigmoid": "Sigmoid", "tanh": "Tanh", "linear": "Identity", "relu10": "Relu"}[activation]
    nodes.append(helper.make_node(act, [h], ["a"]))
    h = "a"
    if activation == "relu10":  # unbounded: 0..large
        inits.append(numpy_helper.from_array(np.array(10.0, np.float32), "ten"))
        nodes.append(helper.make_node("Mul", [h, "ten"], ["a10"]))
        h = "a10"
    if nan_when_z0_negative:  # sqrt(z0) is NaN for z0 < 0: those samples come out all NaN
        inits += [numpy_helper.from_array(np.array([0], np.int64), "s0"),
                  numpy_helper.from_array(np.array([1], np.int64), "s1"),
                  numpy_helper.from_array(np.array([1], np.int64), "ax1"),
                  numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
        nodes.append(helper.make_node("Slice", [zname, "s0", "s1", "ax1"], ["z0"]))
        nodes.append(helper.make_node("Sqrt", ["z0"], ["rz0"]))
        nodes.append(helper.make_node("Mul", ["rz0", "zero"], ["nz"]))
        nodes.append(helper.make_node("Add", [h, "nz"], ["hn"]))
        h = "hn"
    shape = {"nchw": [channels, height, width], "nhwc": [height, width, channels], "hw": [height, width],
             "flat": [k]}[out]
    inits.append(numpy_helper.from_array(np.array([-1] + shape, np.int64), "shape"))
    nodes.append(helper.make_node("Reshape", [h, "shape"], [output_name]))
    yout = helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch] + shape)
    graph = helper.make_graph(nodes, "gen", inputs, [yout], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", contract.OPSET)])
    model.ir_version = contract.IR_VERSION
    if card is not None:
        contract.write_metadata(model, card)
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def card(role="generator", *, latent_dim=8, channels=1, height=8, width=8, value_range=(0.0, 1.0),
         class_names=(), name="test gan", siblings=None, conditional=False) -> ModelCard:
    family = ("cgan" if conditional else "gan") if role == "generator" else ("cvae" if conditional else "vae")
    return ModelCard(role=role, family=family, image_channels=channels, image_height=height, image_width=width,
                     value_range=value_range, latent_dim=latent_dim, dataset="synthetic",
                     class_names=tuple(class_names), epoch=3, metrics={"d_x": 0.5}, siblings=siblings or {},
                     name=name)


GARMENTS = ("Tee", "Dress", "Coat", "Boot")


def make_contract_cgan(folder, *, latent_dim=8, size=8, classes=GARMENTS, name="test cgan") -> Path:
    """A cgan bundle: generator.onnx with z [N, D] and class_weights [N, K] inputs, contract metadata."""
    folder = Path(folder)
    return make_generator(folder / "generator.onnx", latent_dim=latent_dim, height=size, width=size,
                          weights_classes=len(classes),
                          card=card("generator", latent_dim=latent_dim, height=size, width=size,
                                    class_names=classes, name=name, conditional=True))


def make_contract_gan(folder, *, latent_dim=8, size=8, name="test gan") -> Path:
    folder = Path(folder)
    return make_generator(folder / "generator.onnx", latent_dim=latent_dim, height=size, width=size,
                          activation="tanh", card=card(latent_dim=latent_dim, height=size, width=size,
                                                       value_range=(-1.0, 1.0), name=name))


def make_contract_vae(folder, *, latent_dim=6, size=8, n_atlas=50) -> Path:
    """A VAE bundle: decoder + a stand-in encoder + atlas (the encoder only needs to be valid ONNX)."""
    folder = Path(folder)
    dec = make_generator(folder / "decoder.onnx", latent_dim=latent_dim, height=size, width=size,
                         card=card("decoder", latent_dim=latent_dim, height=size, width=size, name="test vae",
                                   siblings={"encoder": "encoder.onnx"}))
    enc_card = card("encoder", latent_dim=latent_dim, height=size, width=size, name="test vae",
                    siblings={"decoder": "decoder.onnx"})
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, size, size])
    mu = helper.make_tensor_value_info("mu", TensorProto.FLOAT, ["batch", latent_dim])
    lv = helper.make_tensor_value_info("logvar", TensorProto.FLOAT, ["batch", latent_dim])
    w = numpy_helper.from_array(np.zeros((size * size, latent_dim), np.float32), "W")
    nodes = [helper.make_node("Flatten", ["image"], ["f"], axis=1), helper.make_node("MatMul", ["f", "W"], ["mu"]),
             helper.make_node("Identity", ["mu"], ["logvar"])]
    model = helper.make_model(helper.make_graph(nodes, "enc", [x], [mu, lv], [w]),
                              opset_imports=[helper.make_opsetid("", contract.OPSET)])
    model.ir_version = contract.IR_VERSION
    contract.write_metadata(model, enc_card)
    onnx.save(model, str(folder / "encoder.onnx"))
    rng = np.random.default_rng(1)
    contract.Atlas(mu=(rng.standard_normal((n_atlas, latent_dim)) * np.linspace(2, 0.1, latent_dim)).astype(np.float32),
                   logvar=np.zeros((n_atlas, latent_dim), np.float32), labels=np.arange(n_atlas) % 3,
                   class_names=("a", "b", "c")).save(folder / contract.ATLAS_FILE)
    return dec
