# The package is imported from the repository's python/ folder, as `ulpt train --engine torch` puts it on PYTHONPATH.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
