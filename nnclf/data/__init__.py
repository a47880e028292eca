"""Data: where the examples come from, read, checked, split and scaled.

Contract
--------
The one edge where raw data enters nnclf. Above the graph, below training:

- :mod:`~nnclf.data.sources`        ``load_dataset``: a config's source as a checked Dataset
- :mod:`~nnclf.data.tables`          CSV, Parquet and .npz files read, every way they fail named
- :mod:`~nnclf.data.npyfolder`      data larger than memory: a folder of memory-mapped .npy
- :mod:`~nnclf.data.preprocessing`  the seeded stratified split and standardisation
- :mod:`~nnclf.data.fingerprints`   what identifies a data set's contents
"""
