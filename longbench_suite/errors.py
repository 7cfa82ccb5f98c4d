"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """Bad input: unknown name, malformed parameter, missing or corrupt file, unreachable endpoint."""


class SystemFailure(Exception):
    """A system under test failed to answer one probe; recorded in predictions, never fatal to a run."""


def one_line(text: object, limit: int = 300) -> str:
    """The first non-empty line of a message, cut to `limit` characters (errors are one line)."""
    line = next((s.strip() for s in str(text).splitlines() if s.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


class RunAborted(Exception):
    """A run stopped early on purpose (the circuit breaker: many consecutive failures of one kind).
    The runner records status `aborted` with this reason and the run stays resumable."""
