import sys

from flowser.cli import main

sys.exit(main())
