"""`python -m conda_double ...`: what bin/conda and bin/mamba run (TEST DOUBLE)."""

import os
import sys

from .cli import main

rc = main()
sys.stdout.flush()
sys.stderr.flush()
# py-rattler's native runtime threads can crash during interpreter finalization
# (PyGILState_Release); everything is written, so leave without finalizing.
os._exit(rc)
