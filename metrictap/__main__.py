"""``python -m metrictap``: the same as the ``metrictap`` command."""

import sys

from metrictap.cli.main import main

sys.exit(main())
