"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input: unknown name, malformed parameter, missing or corrupt file, unreachable endpoint."""


class SystemFailure(Exception):
    """A system under test failed to answer one probe; recorded in predictions, never fatal to a run."""
