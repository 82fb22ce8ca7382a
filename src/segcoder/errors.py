"""The one error type a user's mistake raises.

The CLI turns it into one line on stderr and exit code 2; anything else that
escapes is a bug in segcoder and keeps its traceback.
"""


class SegcoderError(ValueError):
    """A problem with the user's input: the message names the file and the fix."""


class Interrupted(Exception):
    """Training stopped on the user's Ctrl-C after saving a checkpoint; the message says how to resume."""
