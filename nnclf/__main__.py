"""``python -m nnclf`` runs the ``nnclf`` command."""

import sys

from nnclf.cli import main

sys.exit(main())
