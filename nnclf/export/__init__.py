"""Export: a trained model as a file, the model file format and ONNX.

Contract
--------
- :mod:`~nnclf.export.trained`    TrainedModel: the network with its classes, features and scaling
- :mod:`~nnclf.export.modelfile`  model files: parameters by name plus JSON metadata, no pickle
- :mod:`~nnclf.export.onnx`       the trained model (preparation, scaling, network) as an ONNX graph
"""
