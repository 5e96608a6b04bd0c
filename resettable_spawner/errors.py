"""The errors that restart and reset raise.

Each is a tornado ``HTTPError`` carrying its status and a message safe to show to
users, so JupyterHub's ``APIHandler.write_error`` renders it as
``{"status": ..., "message": ...}`` and the spawn page shows it as it is. Messages
never carry Docker's own error text, socket paths or tracebacks (those go to the
log). ``audit_reason`` is the word the audit event records.
"""

from tornado.web import HTTPError


class ResettableSpawnerError(HTTPError):
    """Base class: something a user can be told about in plain words."""

    status_code = 500
    audit_reason = "error"

    def __init__(self, message):
        super().__init__(type(self).status_code, "%s", message)
        self.message = message
        # Shown by JupyterHub's own pages and handlers (spawn page, start requests).
        self.jupyterhub_message = message

    def __str__(self):
        return self.message


class WrongServerState(ResettableSpawnerError):
    """The server is in a state that does not allow the action (running, stopped or pending)."""

    status_code = 409
    audit_reason = "wrong-state"


class OperationInProgress(ResettableSpawnerError):
    """Another restart or reset of the same server has not finished yet."""

    status_code = 409
    audit_reason = "in-progress"


class StartRefused(WrongServerState):
    """The server must not start now (a restore of its volumes was interrupted).

    Raised from ``Spawner.start()``, where JupyterHub's own handlers answer the start
    request with 409 and this message (not a 500), and the spawn page shows it.
    """


class VolumeInUse(WrongServerState):
    """A container still holds a volume that is to be removed (Docker's 409)."""

    def __init__(self, name, message=None):
        super().__init__(message or f"The volume {name} is in use by another container.")
        self.volume = name


class NotFound(ResettableSpawnerError):
    """The home volume does not exist, or none is configured."""

    status_code = 404
    audit_reason = "not-found"


class DockerUnreachable(ResettableSpawnerError):
    """The Docker daemon did not answer (down, frozen, or the socket is missing)."""

    status_code = 503
    audit_reason = "docker-unreachable"


class OperationFailed(ResettableSpawnerError):
    """Docker or the single-user server failed in a way the user cannot fix by retrying later."""

    status_code = 502
    audit_reason = "failed"


class EngineTimeout(OperationFailed):
    """The engine answers pings, but one call ran past its own timeout (a helper ran too long)."""


class BadRequest(ResettableSpawnerError):
    """The request names something this server cannot act on (a volume that is not resettable)."""

    status_code = 400
    audit_reason = "bad-request"
