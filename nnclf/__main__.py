"""``python -m nnclf`` runs the ``nnclf`` command."""

import sys

from .cli import main

sys.exit(main())
