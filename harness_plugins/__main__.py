import sys

from harness_plugins.cli import main

sys.exit(main())
