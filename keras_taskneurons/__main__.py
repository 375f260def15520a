"""``python -m keras_taskneurons``: the command line."""

import sys

from keras_taskneurons.cli import main

if __name__ == "__main__":  # not when a documentation tool imports every module
    sys.exit(main())
