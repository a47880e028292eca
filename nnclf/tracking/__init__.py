"""Tracking: a run logged to MLflow and TensorBoard as it trains, besides its run directory.

Contract
--------
- :mod:`~nnclf.tracking.tracker`     the config's ``track`` section connected before anything
  is written, fed every evaluation, ended FINISHED, FAILED or KILLED; a sweep's parent run
- :mod:`~nnclf.tracking.mlflowrun`   one MLflow run: parameters, metrics at step t, tags,
  artifacts and status, through ``MlflowClient``
- :mod:`~nnclf.tracking.tensorboard` one TensorBoard folder: scalars, the config as text and a
  histogram per parameter, through ``tensorboardX``

mlflow and tensorboardX are imported only when a config asks for them; without them the
request is one :class:`~nnclf.errors.ConfigError` line naming the extra. Tracking never
changes what is trained.
"""
