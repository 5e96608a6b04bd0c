// resettable-spawner: the pure parts of the home page's Restart, Reset Volumes, backups,
// server logs and maintenance history.
// No DOM, no jQuery, no network: what the page shows and sends, from the API's answers.
// UMD: RequireJS loads it in the hub's page (an anonymous AMD module), Node's tests
// require() it (tests/js/).
(function (root, factory) {
  "use strict";
  if (typeof define === "function" && define.amd) {
    define([], factory);
  } else if (typeof module === "object" && module.exports) {
    module.exports = factory();
  } else {
    root.resettableHomeCore = factory();
  }
})(this, function () {
  "use strict";

  // How often the page asks the hub for each server's state: quickly while something
  // is changing (our action or a stock start/stop), slowly otherwise.
  var timing = {
    FOLLOW_MS: 1000,
    IDLE_MS: 5000,
    FOLLOW_FOR_MS: 60000,
    SERVER_ANSWER_TIMEOUT_MS: 60000,
    SERVER_RETRY_MS: 500,
  };

  // States in which the page follows the server quickly.
  var CHANGING_STATES = ["pending", "restarting", "resetting", "restoring", "queued"];

  function isChanging(state) {
    return CHANGING_STATES.indexOf(state) !== -1;
  }

  function pollDelay(now, followUntil) {
    return now < followUntil ? timing.FOLLOW_MS : timing.IDLE_MS;
  }

  // --- URLs ---------------------------------------------------------------------

  // As JupyterHub's utils.url_path_join: join with "/", skipping empty parts.
  function urlPathJoin() {
    var url = "";
    for (var i = 0; i < arguments.length; i++) {
      if (arguments[i] === "") {
        continue;
      }
      if (url.length > 0 && url[url.length - 1] !== "/") {
        url = url + "/" + arguments[i];
      } else {
        url = url + arguments[i];
      }
    }
    return url.replace(/\/\/+/, "/");
  }

  // users/<user>[/servers/<server>]/<action>, each name one encoded segment; the
  // action may have several ("home-volume-backups/<id>"), each encoded.
  function apiPath(user, server, action) {
    var parts = ["users", encodeURIComponent(user)];
    if (server) {
      parts.push("servers", encodeURIComponent(server));
    }
    parts.push(String(action).split("/").map(encodeURIComponent).join("/"));
    return parts.join("/");
  }

  // As JHAPI's requests (base_url + "api/" + path, the XSRF token as _xsrf), plus a
  // query: a list of [name, value] pairs, repeatable names kept in order.
  function apiUrl(baseUrl, user, server, action, query, xsrfToken) {
    var url = urlPathJoin(baseUrl, "api", apiPath(user, server, action));
    var params = (query || []).slice();
    if (xsrfToken) {
      params.push(["_xsrf", xsrfToken]);
    }
    if (params.length) {
      url += "?" + params.map(function (kv) {
        return encodeURIComponent(kv[0]) + "=" + encodeURIComponent(kv[1]);
      }).join("&");
    }
    return url;
  }

  // What an XHR-like failure ({status, responseJSON}) tells the user.
  function errorMessage(xhr) {
    xhr = xhr || {};
    if (xhr.responseJSON && xhr.responseJSON.message) {
      return xhr.responseJSON.message;
    }
    if (xhr.status === 0) {
      return "The hub could not be reached. Check your connection and try again.";
    }
    if (xhr.status === 403) {
      return "You are not allowed to do this.";
    }
    return "Something went wrong (HTTP " + xhr.status + "). Try again later.";
  }

  // --- formatting ---------------------------------------------------------------

  function humanSize(bytes) {
    if (bytes === null || bytes === undefined) {
      return "size unknown";
    }
    var units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    var n = bytes;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
  }

  // locale: undefined means the browser's, as the page uses them.
  function day(iso, locale) {
    return new Date(iso).toLocaleDateString(locale, { day: "numeric", month: "long" });
  }

  function when(iso, locale) {
    return new Date(iso).toLocaleString(locale, {
      day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
    });
  }

  function age(iso, now) {
    now = now === undefined ? Date.now() : now;
    var seconds = Math.max(0, (now - new Date(iso).getTime()) / 1000);
    var steps = [[86400, "day"], [3600, "hour"], [60, "minute"]];
    for (var i = 0; i < steps.length; i++) {
      if (seconds >= steps[i][0]) {
        var n = Math.floor(seconds / steps[i][0]);
        return n + " " + steps[i][1] + (n === 1 ? "" : "s") + " ago";
      }
    }
    return "just now";
  }

  function retentionText(policy, now, locale) {
    if (!policy || !policy.enabled) {
      return "No backup is kept: this cannot be undone.";
    }
    now = now === undefined ? Date.now() : now;
    var until = new Date(now + policy.retention_seconds * 1000).toISOString();
    return "A backup of each is kept until " + day(until, locale) +
      ", and you can restore it from this page until then.";
  }

  function serverLabel(server) {
    return server ? 'server "' + server + '"' : "your server";
  }

  function serverHeading(server) {
    return server ? 'Server "' + server + '"' : "Your server";
  }

  // The aria-labels of a named server's row buttons.
  function rowLabels(server) {
    return {
      restart: 'Restart server "' + server + '"',
      reset: 'Reset the home volume of server "' + server + '"',
      logs: 'Logs of server "' + server + '"',
    };
  }

  // A selector-safe attribute value: CSS.escape where the browser has it.
  function cssEscape(text, css) {
    return css && css.escape ? css.escape(text) : String(text).replace(/["\\]/g, "\\$&");
  }

  // --- state -> what the page offers ----------------------------------------------

  // info: GET .../home-volume's answer, or null when unknown (then nothing is offered).
  function buttons(info) {
    var actions = (info && info.actions) || {};
    var mayReset = actions.reset_volumes !== undefined ? actions.reset_volumes : actions.reset;
    return {
      restart: Boolean(actions.restart),
      reset: Boolean(mayReset),
      hideGoto: Boolean(info && info.state !== "running"),
    };
  }

  // Changes whenever the backups list must be drawn again.
  function backupsKey(info) {
    var backups = (info && info.backups) || [];
    return JSON.stringify([backups, info && info.actions, info && info.state]);
  }

  function backupActions(info) {
    var actions = (info && info.actions) || {};
    var restore = Boolean(actions.restore);
    return {
      restore: restore,
      delete: Boolean(actions.delete_backup),
      restoreTitle: restore ? "Replace the volume's content with this backup" : "Stop the server to restore",
    };
  }

  // The text after a backup's volume name in the list; madeBy: the history entry that
  // made it (madeBy() below), or null.
  function backupSummary(b, now, locale, madeBy) {
    var origin = madeBy
      ? ", made by the " + madeBy.action + " of " + when(madeBy.time, locale) + " by " + madeBy.actor
      : (b.reason === "restore" ? ", before a restore" : "");
    return " \u2014 " + age(b.created, now) + origin +
      ", " + humanSize(b.size_bytes) + ", kept until " + day(b.expires, locale);
  }

  // Ids of backups whose size is not measured yet (made before the hub restarted), "a,b".
  function unmeasured(backups) {
    return (backups || []).filter(function (b) {
      return b.size_bytes === null;
    }).map(function (b) {
      return b.id;
    }).join(",");
  }

  function anyBackups(infos) {
    return infos.some(function (info) {
      return Boolean(info && info.backups && info.backups.length);
    });
  }

  function interruptedRestoreText(info, server) {
    var interrupted = info && info.interrupted_restore;
    if (!interrupted) {
      return null;
    }
    return "A restore of " + interrupted.volume + " was interrupted. Restore that backup again " +
      "(or reset the volume) before starting " + serverLabel(server) + ".";
  }

  // --- the reset dialog -----------------------------------------------------------

  // Null when the dialog may open, else why not.
  function resetRefusal(info) {
    if (info && info.actions && info.actions.reset_volumes) {
      return null;
    }
    return "The volumes cannot be reset right now (" + (info && info.state) + ").";
  }

  // One checkbox per volume: home ticked; shared and missing volumes shown but disabled.
  function volumeChoice(v) {
    return {
      checked: Boolean(v.home && v.resettable && v.exists),
      disabled: !v.resettable || !v.exists,
      shared: !v.resettable,
      sizeText: v.exists ? "measuring…" : "does not exist",
    };
  }

  function measuredSize(v) {
    return v.exists ? humanSize(v.size_bytes) : "does not exist";
  }

  // The typed name must be the home volume's or the user's, and a volume ticked.
  function confirmationMatches(typed, info, user, chosenCount) {
    var text = (typed || "").trim();
    return Boolean(
      info && info.volume && text && (text === info.volume.name || text === user) && chosenCount,
    );
  }

  // --- the four actions -------------------------------------------------------------
  //
  // What the page's one action runner needs from each: the request, the texts, and
  // how the server's controls behave meanwhile:
  //   button: which of the server's buttons shows `working` while it runs (or none);
  //   busy: the server's actions are hidden and polling pauses, then follows quickly;
  //   relist: the backups list is drawn again afterwards;
  //   waitsForServer: after the API answers, wait until the server answers through the
  //     proxy, saying `answered` meanwhile, then offer the link to it.
  // Texts get the server's label, the action's argument, the server's info from before
  // the action, and the API's answer (succeeded); locale is for dates (undefined: the
  // browser's).
  var actions = {
    restart: {
      button: "restart",
      working: "Restarting…",
      busy: true,
      waitsForServer: true,
      request: function () {
        return { method: "POST", action: "restart-server" };
      },
      starting: function (label) {
        return "Restarting " + label + "…";
      },
      answered: function (label) {
        return "Restarted; waiting for " + label + " to answer…";
      },
      succeeded: function (label, arg, info, body) {
        return "Restarted " + label + " in " + body.duration_seconds.toFixed(1) + " s.";
      },
      failed: "Restart failed: ",
      offerLogsOnFailure: true,
    },
    reset: {
      button: "reset",
      working: "Resetting…",
      busy: true,
      request: function (volumes) {
        return {
          method: "DELETE",
          action: "reset-home-volume",
          query: volumes.map(function (v) {
            return ["volume", v];
          }),
        };
      },
      starting: function (label, volumes, info) {
        var backup = info && info.backup_policy && info.backup_policy.enabled;
        return (backup ? "Backing up and deleting " : "Deleting ") + volumes.join(", ") + " of " +
          label + "…";
      },
      succeeded: function (label, volumes, info, body, locale) {
        var kept = body.backups && body.backups.length
          ? " Backups are kept until " + day(body.backups[0].expires, locale) + "."
          : "";
        return "Deleted " + body.volumes.join(", ") + "." + kept + " The next start of " +
          label + " creates fresh volumes.";
      },
      failed: "Reset failed: ",
    },
    restore: {
      busy: true,
      relist: true,
      request: function (backup) {
        return { method: "POST", action: "restore-home-volume", query: [], body: { backup: backup.id } };
      },
      starting: function (label, backup, info, locale) {
        return "Restoring " + backup.volume + " from the backup of " + when(backup.created, locale) + "…";
      },
      succeeded: function (label, backup, info, body, locale) {
        return "Restored " + body.volume + " from the backup of " + when(body.backup.created, locale) + "." +
          (body.replaced_backup ? " Its previous content is kept as a backup too." : "");
      },
      failed: "Restore failed: ",
    },
    deleteBackup: {
      relist: true,
      request: function (backup) {
        return { method: "DELETE", action: "home-volume-backups/" + backup.id };
      },
      starting: function (label, backup, info, locale) {
        return "Deleting the backup of " + backup.volume + " from " + when(backup.created, locale) + "…";
      },
      succeeded: function (label, backup, info, body, locale) {
        return "Deleted the backup of " + backup.volume + " from " + when(backup.created, locale) + ".";
      },
      failed: "Deleting the backup failed: ",
    },
  };

  // --- the server's log ---------------------------------------------------------------

  var LOG_TAILS = [100, 500, 1000];

  // "2025-03-15T12:00:00.123456789Z text" -> "2025-03-15 12:00:00  text" (UTC, as Docker keeps it).
  function logLine(line) {
    if (!line.time) {
      return line.text;
    }
    return line.time.slice(0, 19).replace("T", " ") + "  " + line.text;
  }

  function logText(body) {
    return ((body && body.lines) || []).map(logLine).join("\n");
  }

  function lastLogLine(body) {
    var lines = (body && body.lines) || [];
    for (var i = lines.length - 1; i >= 0; i--) {
      if (lines[i].text.trim()) {
        return lines[i].text;
      }
    }
    return null;
  }

  // Stopped by the hub (SIGTERM, or SIGKILL after the grace period), or ended cleanly.
  var ORDINARY_EXITS = [0, 130, 137, 143];

  function containerText(container) {
    if (!container) {
      return "";
    }
    if (container.status === "running") {
      return "The container is running.";
    }
    if (container.status === "exited") {
      return "The container exited with code " + container.exit_code +
        (container.oom_killed ? " (out of memory)" : "") + ".";
    }
    return "The container is " + container.status + ".";
  }

  function logSummary(body) {
    var n = body.lines.length;
    var shown = body.truncated
      ? "The last " + n + " lines; older ones are not shown."
      : (n ? "All " + n + " line" + (n === 1 ? "" : "s") + " of the log." : "The log is empty.");
    return shown + " " + containerText(body.container);
  }

  // Null, or what to tell the user when the server's last start failed (JupyterHub's word),
  // or its container ended by itself with an error.
  function startFailure(body, server) {
    if (!body) {
      return null;
    }
    if (body.last_start_error) {
      return "The last start of " + serverLabel(server) + " failed: " + body.last_start_error;
    }
    var c = body.container || {};
    if (c.status === "exited" && (c.oom_killed || ORDINARY_EXITS.indexOf(c.exit_code) === -1)) {
      return "The container of " + serverLabel(server) + " exited with code " + c.exit_code +
        (c.oom_killed ? " (out of memory)" : "") + ".";
    }
    return null;
  }

  // While JupyterHub starts or stops a server (its "pending": spawn, stop, ...).
  function pendingText(pending, server) {
    var what = { spawn: "starting", stop: "stopping" }[pending] || "busy (" + pending + ")";
    return serverHeading(server) + " is " + what + "…";
  }

  // --- the maintenance history --------------------------------------------------------

  var HISTORY_VERBS = {
    restart: "Restart",
    reset: "Reset",
    restore: "Restore",
    "delete-backup": "Backup deleted",
  };

  function historyTitle(entry, locale) {
    return when(entry.time, locale) + " \u2014 " + (HISTORY_VERBS[entry.action] || entry.action) +
      " by " + entry.actor;
  }

  // What happened, in a sentence: outcome, then the volumes and backups involved.
  function historyDetail(entry) {
    var parts = [];
    if (entry.outcome === "done") {
      parts.push("Done.");
    } else {
      parts.push((entry.outcome === "refused" ? "Refused" : "Failed") +
        (entry.message ? ": " + entry.message : " (" + entry.reason + ")."));
    }
    if (entry.volumes && entry.volumes.length) {
      parts.push((entry.action === "restore" ? "Restored: " : "Deleted: ") + entry.volumes.join(", ") + ".");
    }
    if (entry.backups && entry.backups.length) {
      parts.push("Backups made: " + entry.backups.join(", ") + ".");
    }
    if (entry.backup) {
      parts.push((entry.action === "restore" ? "From the backup " : "Backup: ") + entry.backup + ".");
    }
    return parts.join(" ");
  }

  function historyKind(entry) {
    return entry.outcome === "done" ? "success" : (entry.outcome === "refused" ? "warning" : "danger");
  }

  // The successful history entry whose backups include this one: the reset (or restore) that made it.
  function madeBy(backup, entries) {
    var list = entries || [];
    for (var i = 0; i < list.length; i++) {
      if (list[i].outcome === "done" && (list[i].backups || []).indexOf(backup.id) !== -1) {
        return list[i];
      }
    }
    return null;
  }

  // --- the status line ------------------------------------------------------------------

  // A message describes the state the server reached when it was written (statusFor,
  // bound at the first poll after it); once the state changes by other means (the hub's
  // own Stop or Start, another tab), it no longer says something true.
  function statusStale(statusFor, state) {
    return statusFor !== undefined && statusFor !== null && statusFor !== state;
  }

  return {
    timing: timing,
    isChanging: isChanging,
    pollDelay: pollDelay,
    urlPathJoin: urlPathJoin,
    apiPath: apiPath,
    apiUrl: apiUrl,
    errorMessage: errorMessage,
    humanSize: humanSize,
    day: day,
    when: when,
    age: age,
    retentionText: retentionText,
    serverLabel: serverLabel,
    serverHeading: serverHeading,
    rowLabels: rowLabels,
    cssEscape: cssEscape,
    buttons: buttons,
    backupsKey: backupsKey,
    backupActions: backupActions,
    backupSummary: backupSummary,
    unmeasured: unmeasured,
    anyBackups: anyBackups,
    interruptedRestoreText: interruptedRestoreText,
    resetRefusal: resetRefusal,
    volumeChoice: volumeChoice,
    measuredSize: measuredSize,
    confirmationMatches: confirmationMatches,
    actions: actions,
    LOG_TAILS: LOG_TAILS,
    logLine: logLine,
    logText: logText,
    lastLogLine: lastLogLine,
    logSummary: logSummary,
    startFailure: startFailure,
    pendingText: pendingText,
    historyTitle: historyTitle,
    historyDetail: historyDetail,
    historyKind: historyKind,
    madeBy: madeBy,
    statusStale: statusStale,
  };
});
