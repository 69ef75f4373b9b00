"""Training toolkit: VAEs, GANs and a classifier on Fashion-MNIST or any image folder, exported to ONNX."""
