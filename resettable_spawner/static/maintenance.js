// resettable-spawner: the maintenance page (/hub/maintenance), a RequireJS module that
// templates/maintenance.html loads. Every server the caller may read comes from one call
// (GET /hub/api/maintenance/servers). Per row, the home page's actions go through the same
// endpoints, with the requests and texts of resettable-home-core.js and the same kinds of
// confirmation (a typed name for a reset). Bulk restarts (POST /hub/api/bulk-restart) run
// in the hub; the page follows them, also after a reload. What it shows comes from
// maintenance-core.js (pure, unit-tested). Calls carry the XSRF token; no token is in the page.
define(["jquery", "./resettable-home-core", "./maintenance-core"], function ($, home, core) {
  "use strict";

  var base = window.jhdata.base_url;
  var xsrf = window.jhdata.xsrf_token;
  var table = $("#maintenance-table");
  var tbody = table.find("tbody");
  var filterInput = $("#maintenance-filter");
  var selectAll = $("#maintenance-select-all");
  var progress = $("#bulk-restart-progress");
  var restartSelected = $("#restart-selected-btn");
  var restartAll = $("#restart-all-btn");

  function modal(id) {
    return new window.bootstrap.Modal(document.getElementById(id));
  }
  var modals = {
    restart: modal("restart-server-modal"),
    reset: modal("reset-volume-modal"),
    restore: modal("restore-backup-modal"),
    deleteBackup: modal("delete-backup-modal"),
    logs: modal("server-logs-modal"),
    backups: modal("server-backups-modal"),
    bulk: modal("bulk-restart-modal"),
  };

  var rows = []; // the API's rows, as loaded
  var selected = {}; // ref -> true
  var sortKey = "user";
  var sortDir = 1;
  var bulkEntries = {}; // ref -> that server's entry in the bulk restart followed
  var rowStatus = {}; // ref -> {kind, text}: the last per-row action's message
  var sizes = {}; // ref -> the volume sizes' text, once asked for
  var current = null; // {user, server, info} whose dialog is open
  var chosenBackup = null;
  var pendingBulk = null; // the refs (or "all") the bulk dialog is about
  var confirmInput = $("#reset-volume-confirm-input");
  var confirmReset = $("#confirm-reset-btn");

  // Resolves with the API's JSON answer; rejects with the text to show.
  function request(method, url, body) {
    return new Promise(function (resolve, reject) {
      $.ajax(url, {
        type: method,
        contentType: "application/json",
        cache: false,
        dataType: "json",
        processData: false,
        data: body === undefined ? undefined : JSON.stringify(body),
        success: resolve,
        error: function (xhr) {
          reject(home.errorMessage(xhr));
        },
      });
    });
  }

  function serverCall(method, t, action, query, body) {
    return request(method, home.apiUrl(base, t.user, t.server, action, query, xsrf), body);
  }

  function say(kind, text) {
    $("#maintenance-status")
      .prop("hidden", !text)
      .removeClass("alert-info alert-success alert-danger alert-warning")
      .addClass("alert-" + kind)
      .text(text || "");
  }

  // --- the list ----------------------------------------------------------------------

  function load() {
    return request("GET", core.hubApiUrl(base, "maintenance/servers", [], xsrf)).then(
      function (answer) {
        rows = answer.servers;
        say("info", "");
        render();
        window._maintenance_ready = true;
      },
      function (message) {
        say("danger", "The list of servers could not be loaded: " + message);
      },
    );
  }

  function button(cls, text, label) {
    return $('<button type="button" class="btn btn-sm"></button>').addClass(cls).text(text).attr("aria-label", label);
  }

  function rowElement(r) {
    var ref = core.rowRef(r);
    var who = core.ownerLabel(r.user, r.server);
    var tr = $('<tr class="maintenance-server"></tr>').attr({
      "data-user": r.user,
      "data-server": r.server,
      "data-ref": ref,
      "data-state": r.state,
    });
    var check = $('<input type="checkbox" class="form-check-input maintenance-select">')
      .attr("aria-label", "Select " + who)
      .prop("disabled", !core.selectable(r))
      .prop("checked", Boolean(selected[ref]) && core.selectable(r));
    var stateCell = $('<td class="maintenance-state-cell"></td>').append(
      $('<span class="badge maintenance-state"></span>').addClass("text-bg-" + core.stateKind(r.state)).text(core.stateText(r)),
    );
    var bulkText = core.bulkRowText(bulkEntries[ref]);
    if (bulkText) {
      stateCell.append(" ", $('<span class="maintenance-bulk-state small text-muted"></span>').text(bulkText));
    }
    var now = Date.now();
    var last = function (entry) {
      return $("<td></td>").append($('<span class="small"></span>').addClass("text-" + core.lastKind(entry))
        .text(core.lastText(entry, now)));
    };
    var actions = $('<td class="text-nowrap maintenance-actions"></td>');
    if (r.actions.restart) {
      actions.append(button("btn-warning maintenance-restart-btn", "Restart", "Restart " + who), " ");
    }
    actions.append(button("btn-outline-secondary maintenance-logs-btn", "Logs", "Logs of " + who), " ");
    if (r.actions.reset) {
      actions.append(button("btn-outline-danger maintenance-reset-btn", "Reset", "Reset volumes of " + who), " ");
    }
    if (r.actions.backups) {
      actions.append(button("btn-outline-secondary maintenance-backups-btn", "Backups", "Backups of " + who));
    }
    var status = rowStatus[ref];
    if (status) {
      actions.append($('<div class="maintenance-row-status small text-wrap"></div>')
        .addClass("text-" + status.kind).text(status.text));
    }
    var volumes = $('<td class="small"></td>');
    if (sizes[ref]) {
      volumes.append($('<span class="maintenance-sizes"></span>').text(sizes[ref]));
    } else {
      volumes.append(button("btn-link p-0 maintenance-sizes-btn", "sizes", "Measure the volumes of " + who));
    }
    tr.append(
      $("<td></td>").append(check),
      $('<td class="maintenance-user"></td>').text(r.user),
      $('<td class="maintenance-server-name"></td>').text(core.serverText(r)),
      stateCell,
      $('<td class="small text-nowrap maintenance-started"></td>').text(core.startedText(r)),
      $('<td class="small text-break maintenance-image"></td>').text(core.imageText(r)),
      last(r.last_restart).addClass("maintenance-last-restart"),
      last(r.last_reset).addClass("maintenance-last-reset"),
      $('<td class="small maintenance-backups"></td>').text(core.backupsText(r.backups)),
      volumes,
      actions,
    );
    return tr;
  }

  function render() {
    var shown = shownRows();
    tbody.empty().append(shown.map(rowElement));
    $("#maintenance-count").text(shown.length + " of " + rows.length + " servers shown");
    table.find("th[data-sort]").each(function () {
      var sort = core.ariaSort($(this).attr("data-sort"), sortKey, sortDir);
      $(this).attr("aria-sort", sort);
      $(this).find(".maintenance-sort-arrow").text({ ascending: "\u25b2", descending: "\u25bc" }[sort] || "");
    });
    var visibleSelectable = shown.filter(core.selectable);
    selectAll.prop("checked", visibleSelectable.length > 0 && visibleSelectable.every(function (r) {
      return selected[core.rowRef(r)];
    }));
    updateBulkButtons();
  }

  function rerender(ref) {
    var old = tbody.children("tr").filter(function () {
      return $(this).attr("data-ref") === ref;
    });
    var r = rows.filter(function (x) {
      return core.rowRef(x) === ref;
    })[0];
    if (old.length && r) {
      old.replaceWith(rowElement(r));
    }
  }

  // What the filter shows, in the table's order: only those rows' checkboxes count.
  function shownRows() {
    return core.visibleRows(rows, filterInput.val(), sortKey, sortDir);
  }

  function updateBulkButtons() {
    var chosen = core.selectedRefs(shownRows(), selected).length;
    restartSelected.prop("disabled", chosen === 0).text(chosen ? "Restart selected (" + chosen + ")" : "Restart selected");
    restartAll.prop("disabled", core.runningCount(rows) === 0);
  }

  function targetOf(el) {
    var tr = $(el).closest("tr");
    return { user: String(tr.attr("data-user")), server: String(tr.attr("data-server")), info: null };
  }

  function setStatus(t, kind, text) {
    var ref = core.ref(t.user, t.server);
    rowStatus[ref] = { kind: kind, text: text };
    rerender(ref);
  }

  function showLabel(t) {
    $(".resettable-server-label").text(core.ownerLabel(t.user, t.server));
  }

  // --- per-row actions: the home page's requests and texts ---------------------------------

  function run(name, t, arg) {
    var action = home.actions[name];
    var who = core.ownerLabel(t.user, t.server);
    var req = action.request(arg, t.info);
    delete sizes[core.ref(t.user, t.server)]; // measured before: no longer true afterwards
    setStatus(t, "info", action.starting(who, arg, t.info));
    serverCall(req.method, t, req.action, req.query, req.body)
      .then(function (body) {
        setStatus(t, "success", action.succeeded(who, arg, t.info, body));
      }, function (message) {
        setStatus(t, "danger", action.failed + message);
      })
      .then(load);
  }

  function openRestart(t) {
    current = t;
    showLabel(t);
    modals.restart.show();
  }

  function openReset(t) {
    current = t;
    serverCall("GET", t, "home-volume").then(function (info) {
      t.info = info;
      var refusal = home.resetRefusal(info);
      if (refusal) {
        setStatus(t, "warning", refusal);
        return;
      }
      showLabel(t);
      $("#reset-volume-name").text(info.volume.name || "");
      $("#reset-volume-user-name").text(t.user);
      $("#reset-volume-backup-note").text(home.retentionText(info.backup_policy));
      renderChoices(info);
      confirmInput.val("");
      confirmReset.prop("disabled", true);
      modals.reset.show();
      serverCall("GET", t, "home-volume", [["sizes", "1"]]).then(function (sized) {
        sized.volumes.forEach(function (v) {
          $('.reset-volume-size[data-volume="' + home.cssEscape(v.name, window.CSS) + '"]').text(home.measuredSize(v));
        });
      }, function () {
        $(".reset-volume-size").text(home.humanSize(null));
      });
    }, function (message) {
      setStatus(t, "danger", message);
    });
  }

  function renderChoices(info) {
    var box = $("#reset-volume-choices").empty();
    info.volumes.forEach(function (v, i) {
      var id = "reset-volume-choice-" + i;
      var shown = home.volumeChoice(v);
      var input = $('<input class="form-check-input reset-volume-choice" type="checkbox">')
        .attr("id", id).val(v.name).prop("checked", shown.checked).prop("disabled", shown.disabled);
      var text = $('<label class="form-check-label"></label>').attr("for", id).append(
        $("<code>").text(v.name), " at ", $("<code>").text(v.mount_path), " ",
        $('<span class="reset-volume-size text-muted small"></span>').attr("data-volume", v.name).text(shown.sizeText),
      );
      if (shown.shared) {
        text.append(" ", $('<span class="badge text-bg-secondary"></span>').text("shared, never reset"));
      }
      box.append($('<div class="form-check"></div>').append(input, text));
    });
  }

  function chosenVolumes() {
    return $(".reset-volume-choice:checked").map(function () {
      return this.value;
    }).get();
  }

  function typedConfirmation() {
    return Boolean(current) &&
      home.confirmationMatches(confirmInput.val(), current.info, current.user, chosenVolumes().length);
  }

  function openBackups(t) {
    current = t;
    showLabel(t);
    $("#server-backups-list").empty();
    $("#server-backups-summary").text("Loading…");
    modals.backups.show();
    serverCall("GET", t, "home-volume").then(function (info) {
      t.info = info;
      var may = home.backupActions(info);
      var now = Date.now();
      var list = $("#server-backups-list");
      $("#server-backups-summary").text(info.backups.length
        ? info.backups.length + " backup" + (info.backups.length === 1 ? "" : "s") + ", newest first. " +
          (may.restore ? "" : may.restoreTitle + ".")
        : "This server has no backups.");
      info.backups.forEach(function (b) {
        var restoreBtn = $('<button type="button" class="btn btn-sm btn-outline-warning restore-backup-btn">Restore</button>')
          .prop("disabled", !may.restore).attr("title", may.restoreTitle).data("backup", b);
        var deleteBtn = $('<button type="button" class="btn btn-sm btn-outline-danger delete-backup-btn">Delete</button>')
          .prop("hidden", !may.delete).data("backup", b);
        list.append($('<li class="list-group-item d-flex justify-content-between align-items-center resettable-backup"></li>')
          .attr("data-backup-id", b.id)
          .append(
            $("<div>").append($("<code>").text(b.volume), $('<span class="text-muted small"></span>').text(home.backupSummary(b, now))),
            $('<div class="text-nowrap ms-2"></div>').append(restoreBtn, " ", deleteBtn),
          ));
      });
    }, function (message) {
      $("#server-backups-summary").text(message);
    });
  }

  function openBackupDialog(el, volumeEl, createdEl) {
    chosenBackup = $(el).data("backup");
    modals.backups.hide();
    showLabel(current);
    $(volumeEl).text(chosenBackup.volume);
    $(createdEl).text(home.when(chosenBackup.created));
    return chosenBackup;
  }

  var logsFor = null;
  function openLogs(t) {
    logsFor = t;
    showLabel(t);
    $("#server-logs-output").text("");
    $("#server-logs-summary").text("Loading…");
    modals.logs.show();
    loadLogs();
  }

  function loadLogs() {
    var t = logsFor;
    serverCall("GET", t, "server-logs", [["tail", $("#server-logs-tail").val()]]).then(function (body) {
      if (t === logsFor) {
        var out = $("#server-logs-output").text(home.logText(body) || "(nothing yet)");
        $("#server-logs-summary").text(home.logSummary(body));
        out.scrollTop(out.prop("scrollHeight"));
      }
    }, function (message) {
      $("#server-logs-output").text("");
      $("#server-logs-summary").text(message);
    });
  }

  function measureSizes(t) {
    var ref = core.ref(t.user, t.server);
    sizes[ref] = "measuring…";
    rerender(ref);
    serverCall("GET", t, "home-volume", [["sizes", "1"]]).then(function (info) {
      sizes[ref] = core.sizesText(info);
      rerender(ref);
    }, function (message) {
      sizes[ref] = message;
      rerender(ref);
    });
  }

  // --- bulk restarts -----------------------------------------------------------------

  function noticeSeconds() {
    return parseInt($("#bulk-notice-seconds").val(), 10) || 0;
  }

  function openBulk(refs) {
    pendingBulk = refs;
    $("#bulk-restart-modal-label").text(core.bulkTitle(refs === "all" ? "all" : refs.length));
    $("#bulk-restart-servers").text(refs === "all"
      ? "Every running server you may restart (" + core.runningCount(rows) + " now)."
      : refs.join(", "));
    $("#bulk-restart-notice").text(core.noticeText(noticeSeconds()));
    modals.bulk.show();
  }

  function showProgress(kind, text) {
    progress.prop("hidden", false)
      .removeClass("alert-info alert-success alert-danger alert-warning")
      .addClass("alert-" + kind)
      .text(text);
  }

  function showBulk(bulk) {
    var changed = [];
    bulk.servers.forEach(function (s) {
      var before = bulkEntries[s.name];
      if (!before || before.state !== s.state) {
        changed.push(s.name);
      }
      bulkEntries[s.name] = s;
    });
    showProgress(core.progressKind(bulk), core.progressText(bulk));
    progress.attr({ "data-bulk-id": bulk.id, "data-finished": String(bulk.finished), "data-done": bulk.counts.done });
    changed.forEach(rerender);
  }

  function forgetBulk() {
    try {
      window.localStorage.removeItem(core.BULK_STORAGE_KEY);
    } catch (e) {
      // no storage: nothing to forget
    }
  }

  function follow(bulk) {
    showBulk(bulk);
    if (bulk.finished) {
      forgetBulk();
      load();
      return;
    }
    setTimeout(function () {
      request("GET", core.bulkUrl(base, bulk.id, xsrf)).then(follow, function (message) {
        showProgress("warning", "Lost track of the bulk restart: " + message);
      });
    }, core.timing.BULK_POLL_MS);
  }

  function startBulk() {
    var body = core.bulkBody(pendingBulk, noticeSeconds());
    modals.bulk.hide();
    showProgress("info", "Starting the bulk restart…");
    request("POST", core.bulkUrl(base, null, xsrf), body).then(function (bulk) {
      try {
        window.localStorage.setItem(core.BULK_STORAGE_KEY, bulk.id);
      } catch (e) {
        // no storage: the page just cannot follow it after a reload
      }
      selected = {};
      bulkEntries = {};
      render();
      follow(bulk);
    }, function (message) {
      showProgress("danger", "The bulk restart was refused: " + message);
    });
  }

  // After a reload: the bulk restart this browser started last, if the hub still knows it.
  function resumeBulk() {
    var id = null;
    try {
      id = window.localStorage.getItem(core.BULK_STORAGE_KEY);
    } catch (e) {
      return;
    }
    if (id) {
      request("GET", core.bulkUrl(base, id, xsrf)).then(function (bulk) {
        if (bulk.finished) {
          forgetBulk(); // it ended while no page followed it; the rows show how
        } else {
          follow(bulk);
        }
      }, forgetBulk);
    }
  }

  // --- events --------------------------------------------------------------------------

  filterInput.on("input", render);
  table.on("click", ".maintenance-sort", function () {
    var key = $(this).attr("data-sort");
    sortDir = key === sortKey ? -sortDir : 1;
    sortKey = key;
    render();
  });
  table.on("change", ".maintenance-select", function () {
    selected[$(this).closest("tr").attr("data-ref")] = this.checked;
    updateBulkButtons();
  });
  selectAll.on("change", function () {
    var on = this.checked;
    shownRows().filter(core.selectable).forEach(function (r) {
      selected[core.rowRef(r)] = on;
    });
    render();
  });
  table.on("click", ".maintenance-restart-btn", function () {
    openRestart(targetOf(this));
  });
  table.on("click", ".maintenance-reset-btn", function () {
    openReset(targetOf(this));
  });
  table.on("click", ".maintenance-backups-btn", function () {
    openBackups(targetOf(this));
  });
  table.on("click", ".maintenance-logs-btn", function () {
    openLogs(targetOf(this));
  });
  table.on("click", ".maintenance-sizes-btn", function () {
    measureSizes(targetOf(this));
  });
  $("#maintenance-refresh-btn").on("click", load);
  restartSelected.on("click", function () {
    openBulk(core.selectedRefs(shownRows(), selected));
  });
  restartAll.on("click", function () {
    openBulk("all");
  });
  $("#confirm-bulk-restart-btn").on("click", startBulk);
  $("#confirm-restart-btn").on("click", function () {
    modals.restart.hide();
    run("restart", current);
  });
  confirmInput.on("input", function () {
    confirmReset.prop("disabled", !typedConfirmation());
  });
  $(document).on("change", ".reset-volume-choice", function () {
    confirmReset.prop("disabled", !typedConfirmation());
  });
  confirmInput.on("keydown", function (e) {
    if (e.key === "Enter" && typedConfirmation()) {
      confirmReset.click();
    }
  });
  confirmReset.on("click", function () {
    if (typedConfirmation()) {
      var volumes = chosenVolumes();
      modals.reset.hide();
      run("reset", current, volumes);
    }
  });
  $(document).on("click", ".restore-backup-btn", function () {
    var b = openBackupDialog(this, "#restore-backup-volume", "#restore-backup-created");
    $("#restore-backup-size").text(home.humanSize(b.size_bytes));
    modals.restore.show();
  });
  $(document).on("click", ".delete-backup-btn", function () {
    openBackupDialog(this, "#delete-backup-volume", "#delete-backup-created");
    modals.deleteBackup.show();
  });
  $("#confirm-restore-btn").on("click", function () {
    modals.restore.hide();
    run("restore", current, chosenBackup);
  });
  $("#confirm-delete-backup-btn").on("click", function () {
    modals.deleteBackup.hide();
    run("deleteBackup", current, chosenBackup);
  });
  $("#server-logs-refresh-btn").on("click", loadLogs);
  $("#server-logs-tail").on("change", loadLogs);
  // Focus moves into each dialog.
  [
    ["restart-server-modal", "#confirm-restart-btn"],
    ["reset-volume-modal", "#reset-volume-confirm-input"],
    ["restore-backup-modal", "#confirm-restore-btn"],
    ["delete-backup-modal", "#confirm-delete-backup-btn"],
    ["server-logs-modal", "#server-logs-refresh-btn"],
    ["bulk-restart-modal", "#confirm-bulk-restart-btn"],
  ].forEach(function (pair) {
    document.getElementById(pair[0]).addEventListener("shown.bs.modal", function () {
      $(pair[1]).trigger("focus");
    });
  });

  load().then(resumeBulk);
});
