"""``python -m fluvial.cli ...`` is the ``fluvial`` command."""

import sys

from fluvial.cli.main import main

sys.exit(main())
