"""One audit record per restart, reset, restore or backup deletion: an event, a log line and metrics."""

import logging
from pathlib import Path

from prometheus_client import Counter, Histogram

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
):
    """Emit the audit event, log one line and update the metrics.

    ``volumes`` (deleted or restored), ``backups`` (made) and ``backup`` (restored or
    deleted) go into the event when given.
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
