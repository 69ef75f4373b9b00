"""Qt views of the explorer: thin widgets bound to the Qt-free models in ``explorer/``."""
