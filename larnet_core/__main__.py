import sys

from larnet_core.cli import main

sys.exit(main())
