"""The one exception type that means "the user gave us something we can't use".

Every part raises a subclass with a one-line message that names the bad thing and the fix.
The CLI prints it as ``error: ...`` and exits with status 2; the live show logs it and keeps
running on the last good state. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input from the user (file, value, device, preset). One line, names the thing and the fix."""

    exit_code = 2
