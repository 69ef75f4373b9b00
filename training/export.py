"""Export trained modules to ONNX files that satisfy explorer/io/contract.py, and check every one."""

from __future__ import annotations

import copy
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from explorer.io import contract
from explorer.io.contract import Atlas, ModelCard
from explorer.io.run_folder import bundle_temp_name

from .config import TrainConfig
from .files import replace_dir

PARITY_TOLERANCE = 1e-4


class ExportError(RuntimeError):
    pass


class _DecoderExport(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, z):
        return torch.sigmoid(self.decoder(z))


class _CondDecoderExport(nn.Module):
    """(z, class_weights) -> Bernoulli means in [0, 1]: the cvae decoder's ONNX graph."""

    def __init__(self, decoder):
        super().__init__()
        self.decoder = decoder

    def forward(self, z, class_weights):
        return torch.sigmoid(self.decoder(z, class_weights))


def parity_class_weights(k: int) -> torch.Tensor:
    """The class weights of the parity check's three rows: class 0, class K-1, and a 0.3 / 0.7 blend of
    classes 0 and 1 (a blend row, as the app's blend slider sends)."""
    w = torch.zeros(3, k)
    w[0, 0], w[1, k - 1], w[2, 0], w[2, 1] = 1.0, 1.0, 0.3, 0.7
    return w


class _ClassifierExport(nn.Module):
    def __init__(self, classifier):
        super().__init__()
        self.classifier = classifier

    def forward(self, image):
        return self.classifier(image)


def export_onnx(module: nn.Module, card: ModelCard, path: str | os.PathLike, *, seed: int = 0) -> float:
    """Export ``module`` (eval mode) to ``path`` atomically; return max |onnxruntime - torch| on random input.

    Checks: onnx.checker (full), the contract's graph check, an onnxruntime load, and parity.
    """
    import onnxruntime as ort

    path = Path(path)
    module = copy.deepcopy(module).cpu().eval()  # never disturb the training copy (device, mode)
    gen = torch.Generator().manual_seed(seed)
    c, h, w = card.image_shape
    if card.input_names == ("z",):
        example = torch.randn(3, card.latent_dim, generator=gen)
    elif card.input_names == ("z", contract.CLASS_WEIGHTS):
        example = (torch.randn(3, card.latent_dim, generator=gen), parity_class_weights(len(card.class_names)))
    else:
        low, high = card.value_range
        example = torch.rand(3, c, h, w, generator=gen) * (high - low) + low
    names = list(card.input_names) + list(card.output_names)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example if isinstance(example, tuple) else (example,), str(tmp), input_names=list(card.input_names),
                          output_names=list(card.output_names), opset_version=contract.OPSET,
                          dynamic_axes={n: {0: "batch"} for n in names}, dynamo=False)
    try:
        model = onnx.load(str(tmp))
        model.ir_version = contract.IR_VERSION
        _declare_shapes(model, card)
        contract.write_metadata(model, card)
        onnx.checker.check_model(model, full_check=True)
        contract.check_model_proto(model, card, source=path.name)
        data = model.SerializeToString()
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        inputs = example if isinstance(example, tuple) else (example,)
        ort_out = session.run(None, {name: x.numpy() for name, x in zip(card.input_names, inputs)})
        with torch.no_grad():
            torch_out = module(*inputs)
        torch_out = torch_out if isinstance(torch_out, tuple) else (torch_out,)
        diff = max(float(np.max(np.abs(a - b.numpy()))) for a, b in zip(ort_out, torch_out))
        if not diff <= PARITY_TOLERANCE:
            raise ExportError(f"{path.name}: onnxruntime differs from PyTorch by {diff:.2e} "
                              f"(tolerance {PARITY_TOLERANCE:.0e})")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return diff


def _declare_shapes(model: onnx.ModelProto, card: ModelCard) -> None:
    """Write the contract's static dims into the graph's declared input/output shapes.

    The TorchScript exporter loses H and W after a ``view`` with a dynamic batch; the values are known.
    """
    shapes = contract.expected_shapes(card)
    for value in list(model.graph.input) + list(model.graph.output):
        if value.name not in shapes:
            continue
        dims = value.type.tensor_type.shape.dim
        for dim, want in zip(dims, shapes[value.name]):
            if isinstance(want, int):
                dim.ClearField("dim_param")
                dim.dim_value = want
            else:
                dim.ClearField("dim_value")
                dim.dim_param = want


def cards_for(cfg: TrainConfig, *, epoch: int, metrics: dict[str, float], name: str) -> dict[str, ModelCard]:
    """Role -> card for the files of one ``cfg.family`` bundle."""
    common = dict(image_channels=cfg.channels, image_height=cfg.image_size, image_width=cfg.image_size,
                  dataset=cfg.dataset, class_names=tuple(cfg.class_names), epoch=epoch,
                  metrics={k: float(v) for k, v in metrics.items()}, name=name)
    files = contract.BUNDLE_FILES
    if cfg.family == "vae":
        return {
            "decoder": ModelCard(role="decoder", family="vae", value_range=(0.0, 1.0), latent_dim=cfg.latent_dim,
                                 siblings={"encoder": files["encoder"]}, **common),
            "encoder": ModelCard(role="encoder", family="vae", value_range=(0.0, 1.0), latent_dim=cfg.latent_dim,
                                 siblings={"decoder": files["decoder"]}, **common),
        }
    if cfg.family == "gan":
        return {"generator": ModelCard(role="generator", family="gan", value_range=(-1.0, 1.0),
                                       latent_dim=cfg.latent_dim, **common)}
    if cfg.family == "cgan":  # conditional: the card's class_names are the class_weights columns
        return {"generator": ModelCard(role="generator", family="cgan", value_range=(-1.0, 1.0),
                                       latent_dim=cfg.latent_dim, **common)}
    if cfg.family == "cvae":
        return {
            "decoder": ModelCard(role="decoder", family="cvae", value_range=(0.0, 1.0), latent_dim=cfg.latent_dim,
                                 siblings={"encoder": files["encoder"]}, **common),
            "encoder": ModelCard(role="encoder", family="cvae", value_range=(0.0, 1.0), latent_dim=cfg.latent_dim,
                                 siblings={"decoder": files["decoder"]}, **common),
        }
    return {"classifier": ModelCard(role="classifier", family="classifier", value_range=(0.0, 1.0),
                                    latent_dim=None, latent_prior=None, feature_dim=cfg.feature_dim, **common)}


def export_modules(cfg: TrainConfig, modules: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """Role -> the module whose forward is exactly that role's ONNX graph."""
    if cfg.family == "vae":
        vae = modules["vae"]
        return {"decoder": _DecoderExport(vae.decoder), "encoder": vae.encoder}
    if cfg.family in ("gan", "cgan"):
        return {"generator": modules["generator"]}
    if cfg.family == "cvae":
        cvae = modules["cvae"]
        return {"decoder": _CondDecoderExport(cvae.decoder), "encoder": cvae.encoder}
    return {"classifier": _ClassifierExport(modules["classifier"])}


def export_bundle(cfg: TrainConfig, modules: dict[str, nn.Module], folder: str | os.PathLike, *, epoch: int,
                  metrics: dict[str, float], name: str, atlas: Atlas | None = None,
                  extra_files: dict[str, bytes] | None = None) -> dict[str, float]:
    """Write a complete bundle to ``folder`` in one step (temp folder + rename). Returns role -> parity."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(bundle_temp_name(folder.name, os.getpid()))
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        parity = {}
        cards = cards_for(cfg, epoch=epoch, metrics=metrics, name=name)
        exportable = export_modules(cfg, modules)
        for role, card in cards.items():
            parity[role] = export_onnx(exportable[role], card, tmp / contract.BUNDLE_FILES[role], seed=cfg.seed)
        if atlas is not None:
            atlas.save(tmp / contract.ATLAS_FILE)
        for fname, data in (extra_files or {}).items():
            (tmp / fname).write_bytes(data)
        for fh in tmp.iterdir():
            with open(fh, "rb") as f:
                os.fsync(f.fileno())
        replace_dir(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return parity
