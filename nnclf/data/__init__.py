"""Data: where the examples come from, read, checked, split and scaled.

Contract
--------
The one edge where raw data enters nnclf. Above the graph, below training:

- :mod:`~nnclf.data.sources`        ``load_dataset``: a config's source as a checked Dataset
- :mod:`~nnclf.data.bundled`        scikit-learn's small data sets, the digits without importing it
- :mod:`~nnclf.data.tables`          ``open_table``: CSV, Parquet, .npz and .npy folders read
  through one interface (named, typed columns; the file's own test part), every fault named
- :mod:`~nnclf.data.npyfolder`      data larger than memory: a folder of memory-mapped .npy
- :mod:`~nnclf.data.checks`         what every reader checks: a readable file, labels, the error
- :mod:`~nnclf.data.frame`          raw columns of mixed kinds (numbers, text), missing values
- :mod:`~nnclf.data.preparation`    imputation and one-hot coding learned on the training part
- :mod:`~nnclf.data.preprocessing`  the seeded stratified split and standardisation
- :mod:`~nnclf.data.fingerprints`   what identifies a data set's contents
"""
