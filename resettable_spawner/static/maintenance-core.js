// resettable-spawner: the pure parts of the maintenance page (/hub/maintenance).
// No DOM, no jQuery, no network: filtering, sorting, the texts of each row, the bulk
// restart's request and progress, from the API's answers. The per-server actions use
// resettable-home-core.js (the home page's), so that both pages send the same requests.
// UMD: RequireJS loads it in the hub's page, Node's tests require() it (tests/js/).
(function (root, factory) {
  "use strict";
  if (typeof define === "function" && define.amd) {
    define(["./resettable-home-core"], factory);
  } else if (typeof module === "object" && module.exports) {
    module.exports = factory(require("./resettable-home-core"));
  } else {
    root.maintenanceCore = factory(root.resettableHomeCore);
  }
})(this, function (home) {
  "use strict";

  var timing = {
    // GET /hub/api/bulk-restart/{id} while it runs: not more often, since on a small hub
    // polling itself slows the restarts it follows (benchmarks/bench_bulk.py).
    BULK_POLL_MS: 2000,
    NOTICE_CHOICES: [0, 30, 60, 300], // seconds the labs are warned, offered in the page
  };

  // The id of the last bulk restart started from this browser, to follow it after a reload.
  var BULK_STORAGE_KEY = "resettable-spawner.bulk-restart";

  // --- names and URLs -------------------------------------------------------------

  // "alice" for a default server, "bob/nb" for a named one: as POST /hub/api/bulk-restart takes them.
  function ref(user, server) {
    return server ? user + "/" + server : user;
  }

  function rowRef(row) {
    return ref(row.user, row.server);
  }

  // How an admin names someone's server in messages and dialog titles.
  function ownerLabel(user, server) {
    return server ? user + '\u2019s server "' + server + '"' : user + "\u2019s server";
  }

  // base_url + "api/" + path (segments as given, already safe) + query, with the XSRF token.
  function hubApiUrl(baseUrl, path, query, xsrfToken) {
    var url = home.urlPathJoin(baseUrl, "api", path);
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

  function bulkUrl(baseUrl, id, xsrfToken) {
    return hubApiUrl(baseUrl, id ? "bulk-restart/" + encodeURIComponent(id) : "bulk-restart", [], xsrfToken);
  }

  // --- one row's texts ----------------------------------------------------------------

  function serverText(row) {
    return row.server || "(default)";
  }

  var PENDING_WORDS = { spawn: "starting", stop: "stopping" };

  function stateText(row) {
    if (row.state === "pending") {
      return PENDING_WORDS[row.pending] || "pending";
    }
    return row.state;
  }

  var STATE_KINDS = {
    running: "success",
    stopped: "secondary",
    pending: "info",
    queued: "info",
    restarting: "warning",
    resetting: "danger",
    restoring: "warning",
  };

  function stateKind(state) {
    return STATE_KINDS[state] || "secondary";
  }

  function startedText(row, locale) {
    var started = row.container && row.container.started_at;
    return started ? home.when(started, locale) : "\u2014";
  }

  function imageText(row) {
    return (row.container && row.container.image) || "\u2014";
  }

  // The last restart or reset: "done, 2 hours ago, by admin"; "refused (wrong-state), ...".
  function lastText(entry, now) {
    if (!entry) {
      return "\u2014";
    }
    var outcome = entry.outcome === "done" ? "done" : entry.outcome + " (" + entry.reason + ")";
    return outcome + ", " + home.age(entry.time, now) + ", by " + entry.actor;
  }

  function lastKind(entry) {
    if (!entry) {
      return "muted";
    }
    return entry.outcome === "done" ? "success" : (entry.outcome === "refused" ? "warning" : "danger");
  }

  // Backups: "none", "2, 1.2 MiB", "3, 1.2 MiB + 1 not measured".
  function backupsText(backups) {
    if (!backups || !backups.count) {
      return "none";
    }
    var measured = backups.count - backups.unmeasured;
    var text = String(backups.count);
    if (measured) {
      text += ", " + home.humanSize(backups.size_bytes);
    }
    if (backups.unmeasured) {
      text += (measured ? " + " : ", ") + backups.unmeasured + " not measured";
    }
    return text;
  }

  // Volume sizes from GET .../home-volume?sizes=1: "home 52 KiB · work 4.0 KiB".
  function sizesText(info) {
    var volumes = ((info && info.volumes) || []).filter(function (v) {
      return v.exists;
    });
    if (!volumes.length) {
      return "no volumes";
    }
    return volumes.map(function (v) {
      var name = v.home ? "home" : v.mount_path.split("/").filter(Boolean).pop() || v.mount_path;
      return name + " " + home.humanSize(v.size_bytes);
    }).join(" \u00b7 ");
  }

  // --- filter and sort ------------------------------------------------------------------

  function searchText(row) {
    return [row.user, serverText(row), stateText(row), row.state, imageText(row)].join(" ").toLowerCase();
  }

  // Every word of the filter must occur in the row's user, server, state or image.
  function matches(row, filter) {
    var words = String(filter || "").toLowerCase().split(/\s+/).filter(Boolean);
    var text = searchText(row);
    return words.every(function (w) {
      return text.indexOf(w) !== -1;
    });
  }

  var SORT_VALUES = {
    user: function (r) { return r.user; },
    server: function (r) { return r.server; },
    state: function (r) { return stateText(r); },
    started: function (r) { return r.container && r.container.started_at; },
    image: function (r) { return r.container && r.container.image; },
    restart: function (r) { return r.last_restart && r.last_restart.time; },
    reset: function (r) { return r.last_reset && r.last_reset.time; },
    backups: function (r) { return r.backups ? r.backups.count : 0; },
  };
  var SORT_KEYS = Object.keys(SORT_VALUES);

  function compareValues(a, b) {
    if (typeof a === "number" && typeof b === "number") {
      return a - b;
    }
    return String(a).localeCompare(String(b));
  }

  // dir 1 ascending, -1 descending; missing values last either way; ties by user, then server.
  function compareRows(a, b, key, dir) {
    var value = SORT_VALUES[key] || SORT_VALUES.user;
    var va = value(a);
    var vb = value(b);
    var missingA = va === null || va === undefined || va === "";
    var missingB = vb === null || vb === undefined || vb === "";
    if (missingA !== missingB) {
      return missingA ? 1 : -1;
    }
    var c = missingA ? 0 : dir * compareValues(va, vb);
    return c || compareValues(a.user, b.user) || compareValues(a.server, b.server);
  }

  function visibleRows(rows, filter, key, dir) {
    return rows.filter(function (r) {
      return matches(r, filter);
    }).sort(function (a, b) {
      return compareRows(a, b, key, dir || 1);
    });
  }

  // The header's aria-sort for a column.
  function ariaSort(column, key, dir) {
    if (column !== key) {
      return "none";
    }
    return dir > 0 ? "ascending" : "descending";
  }

  // --- selection and the bulk restart -----------------------------------------------------

  function selectable(row) {
    return Boolean(row.actions && row.actions.restart);
  }

  // The refs to send for "Restart selected": those still selectable, in the table's order.
  function selectedRefs(rows, selected) {
    return rows.filter(function (r) {
      return selectable(r) && selected[rowRef(r)];
    }).map(rowRef);
  }

  function runningCount(rows) {
    return rows.filter(selectable).length;
  }

  function bulkBody(refs, noticeSeconds) {
    var body = refs === "all" ? { all_running: true } : { servers: refs };
    if (noticeSeconds) {
      body.notice_seconds = noticeSeconds;
    }
    return body;
  }

  function bulkTitle(count) {
    return count === "all" ? "Restart all running servers?" :
      "Restart " + count + " server" + (count === 1 ? "" : "s") + "?";
  }

  function noticeText(noticeSeconds) {
    if (!noticeSeconds) {
      return "They restart now, without a warning in their labs.";
    }
    return "Each open JupyterLab shows a " + noticeSeconds + " s countdown with a Save all button first; " +
      "the restarts start when it runs out, whether or not anyone saved.";
  }

  var PROGRESS_ORDER = ["done", "restarting", "queued", "noticed", "waiting", "failed", "forbidden", "skipped"];

  // "Bulk restart: 2 of 3 done · 1 restarting", and at the end "... finished: 3 done".
  function progressText(bulk) {
    var counts = bulk.counts || {};
    var total = (bulk.servers || []).length;
    var parts = PROGRESS_ORDER.filter(function (state) {
      return counts[state];
    }).map(function (state) {
      return counts[state] + " " + state;
    });
    var head = bulk.finished ? "Bulk restart finished: " : "Bulk restart: ";
    return head + (counts.done || 0) + " of " + total + " done" +
      (parts.length ? " (" + parts.join(", ") + ")" : "") + ".";
  }

  function progressKind(bulk) {
    var counts = bulk.counts || {};
    if (!bulk.finished) {
      return "info";
    }
    if (counts.failed) {
      return "danger";
    }
    return counts.forbidden || counts.skipped ? "warning" : "success";
  }

  // What a row shows while a bulk restart includes it (or null when it has ended there).
  function bulkRowText(entry) {
    if (!entry) {
      return null;
    }
    var words = {
      waiting: "waiting",
      noticed: "notice running",
      queued: "queued",
      restarting: "restarting",
      done: "restarted",
      failed: "failed",
      forbidden: "not allowed",
      skipped: "skipped",
    };
    var text = words[entry.state] || entry.state;
    return entry.message && ["failed", "forbidden", "skipped"].indexOf(entry.state) !== -1
      ? text + ": " + entry.message
      : text;
  }

  return {
    timing: timing,
    BULK_STORAGE_KEY: BULK_STORAGE_KEY,
    ref: ref,
    rowRef: rowRef,
    ownerLabel: ownerLabel,
    hubApiUrl: hubApiUrl,
    bulkUrl: bulkUrl,
    serverText: serverText,
    stateText: stateText,
    stateKind: stateKind,
    startedText: startedText,
    imageText: imageText,
    lastText: lastText,
    lastKind: lastKind,
    backupsText: backupsText,
    sizesText: sizesText,
    matches: matches,
    SORT_KEYS: SORT_KEYS,
    compareRows: compareRows,
    visibleRows: visibleRows,
    ariaSort: ariaSort,
    selectable: selectable,
    selectedRefs: selectedRefs,
    runningCount: runningCount,
    bulkBody: bulkBody,
    bulkTitle: bulkTitle,
    noticeText: noticeText,
    progressText: progressText,
    progressKind: progressKind,
    bulkRowText: bulkRowText,
  };
});
