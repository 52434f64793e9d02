import sys

from tickplant.cli import main

sys.exit(main())
