"""Errors the person at the command line has to fix: `main()` prints the message and exits with `exit_code`.

Each message says what was wrong and what to do about it; nothing else reaches the user as a traceback.
"""


class UserError(Exception):
    """A problem with the user's input, files, machine or AWS account; the message says how to fix it."""

    exit_code = 1


class InputError(UserError):
    """What was asked cannot be done as given: a path that does not exist, a folder that is not a dataset or a
    model, a port in use, a command that needs an optional extra. Exit status 2, as for a wrong option."""

    exit_code = 2
