from difftest.frontends.cli import main
import sys
sys.exit(main())
