"""Training: the notes' stochastic gradient descent and its parts.

Contract
--------
Above the graph and the data; knows nothing of config files or run directories.

- :mod:`~nnclf.training.trainer`     ``Trainer.fit``: for t = 1..T pick i, backward, step
- :mod:`~nnclf.training.sampler`     which example step t picks (the one Generator)
- :mod:`~nnclf.training.schedules`   step sizes eta^t
- :mod:`~nnclf.training.optimizers`  theta <- theta - eta^t grad and its variants, and their state
- :mod:`~nnclf.training.updates`     each update rule once: its numpy and its compiled form
- :mod:`~nnclf.training.stopping`    early stopping
- :mod:`~nnclf.training.weights`     sample and class weights as draw probabilities
- :mod:`~nnclf.training.engine`      which engine runs the steps (numpy or numba)
- :mod:`~nnclf.training.compiled`    the numba engine: steps generated from the graph's plan
- :mod:`~nnclf.training.progress`    progress on stderr
"""
