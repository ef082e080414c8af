"""Errors a user can act on.

`UserError` means the request cannot be served as given (bad file, bad flag, infeasible
budget): the CLI prints its message on one line and exits with status 2.  Anything else
escaping the library is a bug and exits with status 1.
"""


class UserError(Exception):
    """A problem with the input or the request, with a message that says what to do."""


class UnsupportedModelError(UserError):
    """The model uses something this tool cannot handle (an op, an attribute, a dynamic shape)."""
