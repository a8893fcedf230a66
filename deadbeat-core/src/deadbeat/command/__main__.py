"""``python -m deadbeat.command``: the ``deadbeat`` command."""

import sys

from . import main

sys.exit(main())
