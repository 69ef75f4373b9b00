"""Model I/O, the bottom layer: the ONNX contract, opening and running models, the run folder, files.

Nothing here imports ``explorer.core``, ``explorer.qt`` or ``explorer.cli``; training imports from here.
"""
