"""The version of nnclf: what model files, ONNX graphs and the compiled cache record."""

__version__ = "0.1.0"
