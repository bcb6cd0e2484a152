"""``python -m aggregator`` is the ``aggregator`` command."""

import sys

from .cli import main

sys.exit(main())
