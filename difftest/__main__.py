import sys

from difftest.frontends.cli import main

sys.exit(main())
