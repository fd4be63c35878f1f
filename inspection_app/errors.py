"""Errors the person at the command line has to fix: `main()` prints the message and exits with `exit_code`.

Each message says what was wrong and what to do about it; nothing else reaches the user as a traceback.
"""


class UserError(Exception):
    """A problem with the user's input, files, machine or AWS account; the message says how to fix it."""

    exit_code = 1
