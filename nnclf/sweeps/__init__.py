"""Sweeps: many runs of one base config, locally or on a Dask cluster.

Contract
--------
- :mod:`~nnclf.sweeps.sweepfile`  a sweep file read and expanded into trials, each checked
- :mod:`~nnclf.sweeps.sweep`      ``nnclf sweep``: the trials run, ranked, resumable
- :mod:`~nnclf.sweeps.page`       ``nnclf report`` of a sweep directory, as one HTML page
- :mod:`~nnclf.sweeps.search`     a ``search: {method: tpe}`` sweep: trials proposed by Optuna,
                                  pruned early, its study in a database
"""
