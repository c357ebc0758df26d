"""Domain exceptions: errors a person can cause, with a message written for them.

The doors translate them: a flash message or form error (views), a 4xx JSON body (API),
a non-zero exit with the message (CLI).
"""


class AtriumError(Exception):
    """Base for errors with a human message; ``status`` is the HTTP status a door uses."""

    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(AtriumError):
    status = 422



class NotFound(AtriumError):
    status = 404


class PermanentError(AtriumError):
    """A failure that retrying cannot fix (rejected credentials, a refused request): a job
    raising it ends as failed at once, with this message, instead of burning retries."""

    status = 502
