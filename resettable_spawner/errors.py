"""The errors that restart and reset raise.

Each class carries the HTTP status the API answers with, so the handlers map them
1:1 without a table of their own. Messages are safe to show to users: they never
carry Docker's own error text, socket paths or tracebacks (those go to the log).
"""


from tornado.web import HTTPError


class ResettableSpawnerError(Exception):
    """Base class: something a user can be told about in plain words."""

    status_code = 500
    reason = "error"

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class WrongServerState(ResettableSpawnerError):
    """The server is in a state that does not allow the action (running, stopped or pending)."""

    status_code = 409
    reason = "wrong-state"


class OperationInProgress(ResettableSpawnerError):
    """Another restart or reset of the same server has not finished yet."""

    status_code = 409
    reason = "in-progress"


class NotFound(ResettableSpawnerError):
    """The home volume does not exist, or none is configured."""

    status_code = 404
    reason = "not-found"


class DockerUnreachable(ResettableSpawnerError):
    """The Docker daemon did not answer (down, or the socket is missing)."""

    status_code = 503
    reason = "docker-unreachable"


class OperationFailed(ResettableSpawnerError):
    """Docker or the single-user server failed in a way the user cannot fix by retrying later."""

    status_code = 502
    reason = "failed"


class BadRequest(ResettableSpawnerError):
    """The request names something this server cannot act on (a volume that is not resettable)."""

    status_code = 400
    reason = "bad-request"


class StartRefused(WrongServerState, HTTPError):
    """The server must not start now (a restore of its volumes was interrupted).

    Raised from ``Spawner.start()``, where JupyterHub's own handlers see it: as a
    tornado ``HTTPError`` it answers the start request with 409 and this message
    (not a 500), and ``jupyterhub_message`` shows it on the spawn page.
    """

    def __init__(self, message):
        HTTPError.__init__(self, 409, "%s", message)
        self.message = message
        self.jupyterhub_message = message
