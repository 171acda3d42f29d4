"""``python -m metrictap``: the same as the ``metrictap`` command."""

import sys

from metrictap._cli import main

sys.exit(main())
