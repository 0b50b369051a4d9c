"""The one exception type the command line turns into a one-line message and exit code 2."""


class GenlabError(Exception):
    """A problem with the user's input, data or files (not a bug in genlab).

    The message must name the problem and say what to do; the CLI prints it on one line
    and exits with status 2 (``--verbose`` shows the traceback).
    """
