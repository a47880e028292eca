"""Runs: what ``nnclf train`` makes of a config, and what the commands show of it.

Contract
--------
- :mod:`~nnclf.runs.run`       a config's splits and model trained into a run directory; resume
- :mod:`~nnclf.runs.rundir`    run directories claimed by one nnclf, built aside, renamed in
- :mod:`~nnclf.runs.runfiles`  the files of a run directory, written so that nothing is lost
- :mod:`~nnclf.runs.metrics`   scikit-learn's metrics of a trained model on labelled data
- :mod:`~nnclf.runs.report`    what the commands print and write
- :mod:`~nnclf.runs.card`      ``nnclf info``: the model card of a run or a model file
- :mod:`~nnclf.runs.explain`   ``nnclf explain``: a config's or a run's network on one example, as a page
- :mod:`~nnclf.runs.page`      ``nnclf report`` of a run: one self-contained HTML page of its files
"""
