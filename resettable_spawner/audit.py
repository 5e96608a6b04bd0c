"""One audit record per restart, reset, restore or backup deletion: an event, a log line and metrics."""

import logging
from pathlib import Path

from prometheus_client import Counter, Histogram

from .history import history_entry

try:
    from jupyterhub.metrics import metrics_prefix
except ImportError:  # pragma: no cover - very old hubs
    metrics_prefix = "jupyterhub"

SCHEMA_ID = "urn:resettable-spawner:events:server-maintenance"
SCHEMA_PATH = Path(__file__).parent / "event-schemas" / "server-maintenance.yaml"

# Registered in prometheus_client's default registry, which /hub/metrics serves.
ACTIONS = Counter(
    "resettable_spawner_actions",
    "Restart and reset requests, by action and outcome",
    ["action", "outcome"],
    namespace=metrics_prefix,
)
ACTION_DURATION_SECONDS = Histogram(
    "resettable_spawner_action_duration_seconds",
    "Duration of restart and reset requests, by action and outcome",
    ["action", "outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, float("inf")),
    namespace=metrics_prefix,
)

log = logging.getLogger("resettable_spawner.audit")


def _ensure_schema(eventlog):
    if SCHEMA_ID not in eventlog.schemas.schema_ids:
        eventlog.register_event_schema(SCHEMA_PATH)


def record(
    eventlog,
    hub_log,
    *,
    action,
    actor,
    username,
    servername,
    outcome,
    reason,
    status,
    duration,
    volumes=None,
    backups=None,
    backup=None,
    bulk=None,
):
    """Emit the audit event, log one line and update the metrics.

    ``volumes`` (deleted or restored), ``backups`` (made), ``backup`` (restored or
    deleted) and ``bulk`` (the bulk restart the action was part of) go into the event
    when given.
    """
    ACTIONS.labels(action=action, outcome=outcome).inc()
    ACTION_DURATION_SECONDS.labels(action=action, outcome=outcome).observe(duration)
    details = {}
    if volumes is not None:
        details["volumes"] = list(volumes)
    if backups is not None:
        details["backups"] = list(backups)
    if backup is not None:
        details["backup"] = backup
    if bulk is not None:
        details["bulk"] = bulk
    hub_log.info(
        "audit: %s of %s/%s by %s: %s%s (HTTP %s, %.3fs)%s",
        action,
        username,
        servername,
        actor,
        outcome,
        f" ({reason})" if reason else "",
        status,
        duration,
        "".join(f" {k}={','.join(v) if isinstance(v, list) else v}" for k, v in details.items()),
    )
    if eventlog is None:
        return
    _ensure_schema(eventlog)
    eventlog.emit(
        schema_id=SCHEMA_ID,
        data={
            "action": action,
            "actor": actor,
            "username": username,
            "servername": servername,
            "outcome": outcome,
            "reason": reason,
            "status": status,
            "duration_seconds": round(duration, 3),
            **details,
        },
    )


# --- the outcome of a request, and the server's history -----------------------------

_REASONS = {403: "forbidden", 404: "not-found", 429: "rate-limited"}
# Refusals that stay out of the server's history: someone without the right to act, or
# over the rate limit, must not be able to push the server's real history out.
NOT_IN_HISTORY = (403, 429)


def outcome_of(error):
    """``(status, outcome, reason, message)`` of a tornado ``HTTPError``, as audit events record it."""
    status = error.status_code
    outcome = "failed" if status >= 500 else "refused"
    reason = getattr(error, "audit_reason", None) or _REASONS.get(status, "bad-request")
    return status, outcome, reason, safe_message(error)


def safe_message(error):
    """The user-facing message of an HTTPError (the one the response carries)."""
    message = getattr(error, "message", None) or error.log_message or ""
    if error.args and "%" in message:
        try:
            message = message % error.args
        except (TypeError, ValueError):
            pass
    return message or None


def record_with_history(eventlog, hub_log, spawner, *, action, actor, outcome, reason, status, duration,
                        username, servername, message=None, **details):
    """``record()``, and the entry in the server's maintenance history (history.py).

    ``spawner`` is the server acted on, or None when the request never reached one
    (unknown user or server). Refusals for permission or rate (``NOT_IN_HISTORY``) are
    not entered. ``details`` are ``record()``'s optional fields.
    """
    record(
        eventlog,
        hub_log,
        action=action,
        actor=actor,
        username=username,
        servername=servername,
        outcome=outcome,
        reason=reason,
        status=status,
        duration=duration,
        **details,
    )
    if spawner is None or status in NOT_IN_HISTORY:
        return
    entry = history_entry(action, actor, outcome, reason, status, duration, details, message)
    try:
        spawner.history.add(entry)
    except Exception as e:  # the answer stands; the event above has it all
        hub_log.error("Cannot record %s of %s in its history: %s", action, spawner._log_name, e)
