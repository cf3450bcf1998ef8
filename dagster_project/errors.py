"""The one exception type whose message is meant for a person: the CLI prints it as one line."""


class CoachwhError(Exception):
    """A problem the user can fix; its message says what to do."""
