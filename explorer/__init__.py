"""Latent Explorer: look inside VAEs and GANs exported as self-describing ONNX files."""

__version__ = "0.1.0"
