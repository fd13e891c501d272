"""``python -m fercls.cli``: the ``fercls`` command."""

import sys

from . import main

sys.exit(main())
