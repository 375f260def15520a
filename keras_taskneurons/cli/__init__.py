"""The ``keras-taskneurons`` command line (``python -m keras_taskneurons``).

``main`` parses the arguments (``cli.entry``) and runs one command: ``fit``
(``cli.fit``) or a command on a saved model (``cli.saved_model``); the
tables it reads (``cli.tables``), the files and pictures it writes
(``cli.reports``) and its quiet start (``cli.startup``) have modules of
their own. Importing this package imports nothing heavy: ``--help`` answers
without Keras.
"""


def main(argv=None):
    """The console script's entry point: run the command ``argv`` names
    (``sys.argv[1:]`` by default); the exit status."""
    from keras_taskneurons.cli.entry import main as run

    return run(argv)
