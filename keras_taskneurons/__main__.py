"""``python -m keras_taskneurons``: the command line."""

import sys

from keras_taskneurons.cli import main

sys.exit(main())
