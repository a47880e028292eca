"""What every layer uses: the one file writer and the archive format, text tables, suggestions.

Contract
--------
The bottom layer above :mod:`nnclf.errors`. Nothing here knows about graphs, data, training
or runs, but for the one line that marks a run or sweep directory (defined in
:mod:`~nnclf.base.outputs`, written by the layers above); every other subpackage may import it.

- :mod:`~nnclf.base.rules`    the type and range of every setting, parameter and file field
  (:class:`~nnclf.base.rules.Rule`), and the one function that checks a value against it
- :mod:`~nnclf.base.outputs`  the one writer: every file nnclf writes, every ``--out`` checked
- :mod:`~nnclf.base.archive`  arrays plus JSON in an .npz
- :mod:`~nnclf.base.tables`   the one text-table formatter
- :mod:`~nnclf.base.pages`    self-contained HTML pages: a shipped template, its data as JSON
- :mod:`~nnclf.base.suggest`  "did you mean ...?" for mistyped names
- :mod:`~nnclf.base.version`  the version nnclf records in what it writes
- :mod:`~nnclf.base.memory`   arrays that start on a cache line (parameters, step buffers)
"""
