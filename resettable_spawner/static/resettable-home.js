// resettable-spawner: Restart, Reset Volumes, volume backups, the server's log and its
// maintenance history on the hub's home page.
// A RequireJS module that templates/home.html loads, as the stock page loads home.js;
// what it shows and sends comes from resettable-home-core.js (pure, unit-tested).
// Calls go to the hub's REST API with the XSRF token, as JupyterHub's JHAPI sends it;
// no token is in the page.
define(["jquery", "./resettable-home-core"], function ($, core) {
  "use strict";

  var user = window.jhdata.user;
  var restartModalEl = document.getElementById("restart-server-modal");
  var resetModalEl = document.getElementById("reset-volume-modal");
  var restartModal = new window.bootstrap.Modal(restartModalEl);
  var resetModal = new window.bootstrap.Modal(resetModalEl);
  var restoreModalEl = document.getElementById("restore-backup-modal");
  var restoreModal = new window.bootstrap.Modal(restoreModalEl);
  var deleteModalEl = document.getElementById("delete-backup-modal");
  var deleteModal = new window.bootstrap.Modal(deleteModalEl);
  var logsModalEl = document.getElementById("server-logs-modal");
  var logsModal = new window.bootstrap.Modal(logsModalEl);
  var logsFor = null; // the controls whose log the dialog shows
  var backupsBox = $("#home-volume-backups");
  var historyBox = $("#maintenance-history");
  var chosenBackup = null; // {ctrl, backup} whose restore or delete dialog is open
  var confirmInput = $("#reset-volume-confirm-input");
  var confirmReset = $("#confirm-reset-btn");
  var timing = core.timing;
  var followUntil = 0;
  var controls = [];
  var current = null; // the controls whose dialog is open

  // Resolves with the API's JSON answer; rejects with the text to show.
  function call(method, server, action, query, body) {
    var url = core.apiUrl(window.jhdata.base_url, user, server, action, query, window.jhdata.xsrf_token);
    return new Promise(function (resolve, reject) {
      $.ajax(url, {
        type: method,
        contentType: "application/json",
        cache: false,
        dataType: "json",
        processData: false,
        data: body === undefined ? undefined : JSON.stringify(body),
        success: function (answer) {
          resolve(answer);
        },
        error: function (xhr) {
          reject(core.errorMessage(xhr));
        },
      });
    });
  }

  // Feedback stays in the page (no alert()): a status line per server.
  function say(ctrl, kind, text) {
    ctrl.feedback.prop("hidden", false);
    ctrl.status
      .removeClass("alert-info alert-success alert-danger alert-warning")
      .addClass("alert-" + kind)
      .text(text);
    ctrl.logHint.prop("hidden", true);
    // Bound to the state the next poll sees; cleared when the state changes by other means.
    ctrl.statusShown = true;
    ctrl.statusFor = null;
  }

  // No message, and no empty box left behind (nor the link to a server that changed).
  function clearStatus(ctrl) {
    ctrl.statusShown = false;
    ctrl.statusFor = null;
    ctrl.status.text("").removeClass("alert-info alert-success alert-danger alert-warning");
    ctrl.logHint.prop("hidden", true);
    ctrl.gotoLink.prop("hidden", true);
    ctrl.feedback.prop("hidden", true);
  }

  function followStatus(ctrl, state) {
    if (!ctrl.statusShown) {
      return;
    }
    if (ctrl.statusFor === null) {
      ctrl.statusFor = state;
    } else if (core.statusStale(ctrl.statusFor, state)) {
      clearStatus(ctrl);
    }
  }

  function label(ctrl) {
    return core.serverLabel(ctrl.server);
  }

  function render(ctrl) {
    if (ctrl.busy) {
      return;
    }
    var offer = core.buttons(ctrl.info);
    ctrl.restartBtn.prop("hidden", !offer.restart).prop("disabled", false).text(ctrl.labels.restart);
    ctrl.resetBtn.prop("hidden", !offer.reset).prop("disabled", false).text(ctrl.labels.reset);
    ctrl.logsBtn.prop("hidden", !ctrl.info);
    if (offer.hideGoto) {
      ctrl.gotoLink.prop("hidden", true);
    }
    renderBackups(ctrl);
  }

  // --- the backups list -----------------------------------------------------------

  function backupsSection(ctrl) {
    if (!ctrl.backupsSection) {
      ctrl.backupsSection = $('<div class="resettable-backups mb-3"></div>').attr("data-server", ctrl.server);
      ctrl.backupsSection.append(
        $('<h3 class="fs-6 mb-1"></h3>').text(core.serverHeading(ctrl.server)),
        $('<ul class="list-group resettable-backup-list"></ul>'),
      );
      backupsBox.append(ctrl.backupsSection);
    }
    return ctrl.backupsSection;
  }

  function renderBackups(ctrl) {
    var info = ctrl.info;
    var backups = (info && info.backups) || [];
    var key = core.backupsKey(info);
    if (key === ctrl.backupsKey) {
      return;
    }
    ctrl.backupsKey = key;
    var interrupted = core.interruptedRestoreText(info, ctrl.server);
    if (interrupted && !ctrl.busy) {
      say(ctrl, "warning", interrupted);
    }
    var section = backupsSection(ctrl);
    var list = section.find(".resettable-backup-list").empty();
    section.prop("hidden", backups.length === 0);
    var may = core.backupActions(info);
    var now = Date.now();
    var history = ctrl.history || [];
    backups.forEach(function (b) {
      var restoreBtn = $('<button type="button" class="btn btn-sm btn-outline-warning restore-backup-btn">Restore</button>')
        .attr("data-backup-id", b.id)
        .prop("disabled", !may.restore)
        .attr("title", may.restoreTitle);
      var deleteBtn = $('<button type="button" class="btn btn-sm btn-outline-danger delete-backup-btn">Delete</button>')
        .attr("data-backup-id", b.id)
        .prop("hidden", !may.delete);
      restoreBtn.data("resettable", { ctrl: ctrl, backup: b });
      deleteBtn.data("resettable", { ctrl: ctrl, backup: b });
      var what = $("<div>").append(
        $("<code>").text(b.volume),
        $('<span class="text-muted small"></span>').text(core.backupSummary(b, now, undefined, core.madeBy(b, history))),
      );
      list.append(
        $('<li class="list-group-item d-flex justify-content-between align-items-center resettable-backup"></li>')
          .attr("data-backup-id", b.id)
          .append(what, $('<div class="text-nowrap ms-2"></div>').append(restoreBtn, " ", deleteBtn)),
      );
    });
    backupsBox.prop("hidden", !core.anyBackups(controls.map(function (c) {
      return c.info;
    })));
    // Sizes of backups made before the hub restarted are measured once, on request.
    var unknown = core.unmeasured(backups);
    if (unknown && unknown !== ctrl.sizesAskedFor) {
      ctrl.sizesAskedFor = unknown;
      call("GET", ctrl.server, "home-volume", [["sizes", "1"]]).then(function (fresh) {
        if (!ctrl.busy) {
          ctrl.info = fresh;
          render(ctrl);
        }
      }, function () {});
    }
  }

  function refresh(ctrl) {
    return call("GET", ctrl.server, "home-volume").then(
      function (info) {
        var before = ctrl.lastState;
        ctrl.info = info;
        ctrl.lastState = info.state;
        render(ctrl);
        if (!ctrl.busy) {
          followStatus(ctrl, info.state);
          if (info.state === "pending" && !ctrl.statusShown) {
            say(ctrl, "info", core.pendingText(info.pending, ctrl.server));
          }
          // A stopped server whose last start failed: say so, and offer its log at once.
          if (info.state === "stopped" && (before === undefined || before === "pending")) {
            checkLastStart(ctrl);
          }
        }
        // The history changes with the state and the backups (any tab's actions).
        var historyKey = info.state + core.backupsKey(info);
        if (historyKey !== ctrl.historyKey) {
          ctrl.historyKey = historyKey;
          loadHistory(ctrl);
        }
        if (core.isChanging(info.state)) {
          follow();
        }
      },
      function () {
        // Unknown state: offer nothing rather than a button that may be wrong.
        ctrl.info = null;
        render(ctrl);
      },
    );
  }

  function follow() {
    followUntil = Date.now() + timing.FOLLOW_FOR_MS;
  }

  function loop() {
    Promise.all(controls.map(refresh)).then(function () {
      window._resettable_ready = true;
      setTimeout(loop, core.pollDelay(Date.now(), followUntil));
    });
  }

  function hideActions(ctrl) {
    ctrl.info = null;
    ctrl.restartBtn.prop("hidden", true);
    ctrl.resetBtn.prop("hidden", true);
  }

  // --- the server's log -------------------------------------------------------------

  function openLogs(ctrl) {
    logsFor = ctrl;
    showLabel(ctrl);
    $("#server-logs-output").text("");
    $("#server-logs-summary").text("Loading…");
    logsModal.show();
    loadLogs();
  }

  function loadLogs() {
    var ctrl = logsFor;
    var tail = $("#server-logs-tail").val();
    return call("GET", ctrl.server, "server-logs", [["tail", tail]]).then(
      function (body) {
        if (ctrl !== logsFor) {
          return;
        }
        var out = $("#server-logs-output").text(core.logText(body) || "(nothing yet)");
        $("#server-logs-summary").text(core.logSummary(body));
        out.scrollTop(out.prop("scrollHeight"));
      },
      function (message) {
        $("#server-logs-output").text("");
        $("#server-logs-summary").text(message);
      },
    );
  }

  // Under the status line: the log's last line and a button to the whole tail.
  function offerLogs(ctrl) {
    return call("GET", ctrl.server, "server-logs", [["tail", "20"]]).then(
      function (body) {
        showLogHint(ctrl, core.lastLogLine(body));
        return body;
      },
      function (message) {
        showLogHint(ctrl, message);
        return null;
      },
    );
  }

  function showLogHint(ctrl, lastLine) {
    ctrl.feedback.prop("hidden", false);
    ctrl.lastLine.text(lastLine || "").prop("hidden", !lastLine);
    ctrl.logHint.prop("hidden", false);
  }

  // Once per page load, and after a start this page saw fail.
  function checkLastStart(ctrl) {
    call("GET", ctrl.server, "server-logs", [["tail", "20"]]).then(function (body) {
      var failure = core.startFailure(body, ctrl.server);
      if (failure && !ctrl.busy) {
        say(ctrl, "danger", failure);
        showLogHint(ctrl, core.lastLogLine(body));
      }
    }, function () {});
  }

  // --- the maintenance history --------------------------------------------------------

  function loadHistory(ctrl) {
    return call("GET", ctrl.server, "maintenance-history").then(function (body) {
      ctrl.history = body.entries;
      ctrl.backupsKey = null; // each backup names the reset that made it
      render(ctrl);
      renderHistory(ctrl);
    }, function () {});
  }

  function renderHistory(ctrl) {
    if (!ctrl.historySection) {
      ctrl.historySection = $('<div class="resettable-history mb-3"></div>').attr("data-server", ctrl.server);
      ctrl.historySection.append(
        $('<h3 class="fs-6 mb-1"></h3>').text(core.serverHeading(ctrl.server)),
        $('<ol class="list-group resettable-history-list" style="max-height: 20rem; overflow-y: auto;"></ol>'),
      );
      historyBox.append(ctrl.historySection);
    }
    var entries = ctrl.history || [];
    var list = ctrl.historySection.find(".resettable-history-list").empty();
    entries.forEach(function (entry) {
      list.append(
        $('<li class="list-group-item resettable-history-entry"></li>')
          .attr("data-action", entry.action)
          .attr("data-outcome", entry.outcome)
          .append(
            $('<div class="fw-semibold small"></div>').text(core.historyTitle(entry)),
            $('<div class="small"></div>').addClass("text-" + core.historyKind(entry)).text(core.historyDetail(entry)),
          ),
      );
    });
    ctrl.historySection.prop("hidden", entries.length === 0);
    historyBox.prop("hidden", !controls.some(function (c) {
      return c.history && c.history.length;
    }));
  }

  // The restart endpoint answers once the server is up; still follow it through the
  // proxy until it answers there too, then offer the link.
  function waitForServer(url) {
    var deadline = Date.now() + timing.SERVER_ANSWER_TIMEOUT_MS;
    return new Promise(function (resolve, reject) {
      function attempt() {
        fetch(url + "api", { credentials: "same-origin", cache: "no-store" })
          .then(function (r) {
            if (r.ok) {
              resolve();
            } else {
              retry();
            }
          })
          .catch(retry);
      }
      function retry() {
        if (Date.now() > deadline) {
          reject("Your server restarted but does not answer yet. Try again in a minute.");
        } else {
          setTimeout(attempt, timing.SERVER_RETRY_MS);
        }
      }
      attempt();
    });
  }

  // The one action runner: core.actions[name] says what to send, what to say, and how
  // the server's controls behave meanwhile; arg is the action's (volumes, a backup).
  function run(name, ctrl, arg) {
    var action = core.actions[name];
    var who = label(ctrl);
    var before = ctrl.info;
    var request = action.request(arg, before);
    var starting = action.starting(who, arg, before);
    if (action.busy) {
      ctrl.busy = true;
      hideActions(ctrl);
    }
    if (action.button) {
      var button = action.button === "restart" ? ctrl.restartBtn : ctrl.resetBtn;
      button.prop("hidden", false).prop("disabled", true).text(action.working);
    }
    if (action.waitsForServer) {
      ctrl.gotoLink.prop("hidden", true);
    }
    say(ctrl, "info", starting);
    call(request.method, ctrl.server, request.action, request.query, request.body)
      .then(function (body) {
        function succeeded() {
          say(ctrl, "success", action.succeeded(who, arg, before, body));
        }
        if (!action.waitsForServer) {
          succeeded();
          return undefined;
        }
        say(ctrl, "info", action.answered(who));
        return waitForServer(ctrl.serverUrl).then(function () {
          succeeded();
          ctrl.gotoLink.prop("hidden", false);
        });
      })
      .catch(function (message) {
        say(ctrl, "danger", action.failed + message);
        if (action.offerLogsOnFailure) {
          offerLogs(ctrl);
        }
      })
      .then(function () {
        ctrl.historyKey = null;
        if (action.relist) {
          ctrl.backupsKey = null;
        }
        if (action.busy) {
          ctrl.busy = false;
          follow();
        }
        return refresh(ctrl);
      });
  }

  function showLabel(ctrl) {
    $(".resettable-server-label").text(label(ctrl));
  }

  function openRestart(ctrl) {
    current = ctrl;
    showLabel(ctrl);
    restartModal.show();
  }

  function openReset(ctrl) {
    current = ctrl;
    // Always ask again: the dialog must show the name the spawner uses now.
    call("GET", ctrl.server, "home-volume").then(
      function (info) {
        ctrl.info = info;
        render(ctrl);
        var refusal = core.resetRefusal(info);
        if (refusal) {
          say(ctrl, "warning", refusal);
          return;
        }
        showLabel(ctrl);
        $("#reset-volume-name").text(info.volume.name || "");
        $("#reset-volume-user-name").text(user);
        $("#reset-volume-backup-note").text(core.retentionText(info.backup_policy));
        renderChoices(info);
        confirmInput.val("");
        confirmReset.prop("disabled", true);
        resetModal.show();
        // Sizes: measured now (one helper container), shown when they arrive.
        call("GET", ctrl.server, "home-volume", [["sizes", "1"]]).then(
          function (sized) {
            sized.volumes.forEach(function (v) {
              $('.reset-volume-size[data-volume="' + core.cssEscape(v.name, window.CSS) + '"]').text(
                core.measuredSize(v),
              );
            });
          },
          function () {
            $(".reset-volume-size").text(core.humanSize(null));
          },
        );
      },
      function (message) {
        say(ctrl, "danger", message);
      },
    );
  }

  function renderChoices(info) {
    var box = $("#reset-volume-choices").empty();
    info.volumes.forEach(function (v, i) {
      var id = "reset-volume-choice-" + i;
      var shown = core.volumeChoice(v);
      var input = $('<input class="form-check-input reset-volume-choice" type="checkbox">')
        .attr("id", id)
        .val(v.name)
        .prop("checked", shown.checked)
        .prop("disabled", shown.disabled);
      var text = $('<label class="form-check-label"></label>').attr("for", id).append(
        $("<code>").text(v.name),
        " at ",
        $("<code>").text(v.mount_path),
        " ",
        $('<span class="reset-volume-size text-muted small"></span>')
          .attr("data-volume", v.name)
          .text(shown.sizeText),
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
    return core.confirmationMatches(
      confirmInput.val(), current && current.info, user, chosenVolumes().length,
    );
  }

  function openBackupDialog(button, volumeEl, createdEl) {
    chosenBackup = $(button).data("resettable");
    var b = chosenBackup.backup;
    showLabel(chosenBackup.ctrl);
    $(volumeEl).text(b.volume);
    $(createdEl).text(core.when(b.created));
    return b;
  }

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
  $("#confirm-restart-btn").on("click", function () {
    restartModal.hide();
    run("restart", current);
  });
  confirmReset.on("click", function () {
    if (!typedConfirmation()) {
      return;
    }
    var volumes = chosenVolumes();
    resetModal.hide();
    run("reset", current, volumes);
  });
  $(document).on("click", ".restore-backup-btn", function () {
    var b = openBackupDialog(this, "#restore-backup-volume", "#restore-backup-created");
    current = chosenBackup.ctrl;
    $("#restore-backup-size").text(core.humanSize(b.size_bytes));
    restoreModal.show();
  });
  $(document).on("click", ".delete-backup-btn", function () {
    openBackupDialog(this, "#delete-backup-volume", "#delete-backup-created");
    deleteModal.show();
  });
  $("#confirm-restore-btn").on("click", function () {
    restoreModal.hide();
    run("restore", chosenBackup.ctrl, chosenBackup.backup);
  });
  $("#confirm-delete-backup-btn").on("click", function () {
    deleteModal.hide();
    run("deleteBackup", chosenBackup.ctrl, chosenBackup.backup);
  });
  $("#server-logs-refresh-btn").on("click", loadLogs);
  $("#server-logs-tail").on("change", loadLogs);
  $(document).on("click", "#server-logs-btn, .server-logs-named", function () {
    openLogs($(this).data("resettable"));
  });
  $(document).on("click", ".resettable-show-logs", function () {
    openLogs($(this).data("resettable"));
  });
  // Focus moves into the dialog, and back to the button that opened it.
  [
    [restartModalEl, "#confirm-restart-btn"],
    [resetModalEl, "#reset-volume-confirm-input"],
    [restoreModalEl, "#confirm-restore-btn"],
    [deleteModalEl, "#confirm-delete-backup-btn"],
    [logsModalEl, "#server-logs-refresh-btn"],
  ].forEach(function (pair) {
    pair[0].addEventListener("shown.bs.modal", function () {
      $(pair[1]).trigger("focus");
    });
  });
  [restartModalEl, resetModalEl].forEach(function (el) {
    el.addEventListener("hidden.bs.modal", function () {
      if (current && !current.busy) {
        (el === restartModalEl ? current.restartBtn : current.resetBtn).trigger("focus");
      }
    });
  });
  logsModalEl.addEventListener("hidden.bs.modal", function () {
    if (logsFor && !logsFor.logsBtn.prop("hidden")) {
      logsFor.logsBtn.trigger("focus");
    }
  });

  function addControls(ctrl) {
    ctrl.restartBtn.data("resettable", ctrl);
    ctrl.resetBtn.data("resettable", ctrl);
    ctrl.logsBtn.data("resettable", ctrl);
    ctrl.feedback.find(".resettable-show-logs").data("resettable", ctrl);
    ctrl.lastLine = ctrl.logHint.find(".resettable-last-line");
    controls.push(ctrl);
  }

  // Delegated: the stock page's disableRow() strips click handlers from every
  // button in a row, ours included.
  $(document).on("click", "#restart-server-btn, .restart-named-server", function () {
    openRestart($(this).data("resettable"));
  });
  $(document).on("click", "#reset-home-volume-btn, .reset-named-home-volume", function () {
    openReset($(this).data("resettable"));
  });

  // The default server: buttons beside the stock Start/Stop.
  var defaultBox = $("#resettable-default-actions");
  var stockButtons = $("#start").parent();
  if (stockButtons.length) {
    defaultBox.find("#restart-server-btn, #reset-home-volume-btn, #server-logs-btn").appendTo(stockButtons);
    defaultBox.find(".resettable-feedback").appendTo(stockButtons);
  }
  var defaultFeedback = stockButtons.find(".resettable-feedback").add(defaultBox.find(".resettable-feedback"));
  addControls({
    server: "",
    serverUrl: defaultBox.data("server-url"),
    restartBtn: $("#restart-server-btn"),
    resetBtn: $("#reset-home-volume-btn"),
    logsBtn: $("#server-logs-btn"),
    feedback: defaultFeedback,
    status: defaultFeedback.find(".resettable-status").first(),
    logHint: defaultFeedback.find(".resettable-log-hint").first(),
    gotoLink: defaultFeedback.find(".resettable-goto").first(),
    labels: { restart: "Restart My Server", reset: "Reset Home Volume" },
  });

  // Named servers: the same two actions in each row of the stock table.
  $(".home-server-row[data-server-name]").each(function () {
    var row = $(this);
    var server = String(row.data("server-name"));
    var cell = row.children("td").last();
    var aria = core.rowLabels(server);
    var restartBtn = $(
      '<button type="button" class="restart-named-server btn btn-xs btn-warning" hidden>restart</button>',
    );
    var resetBtn = $(
      '<button type="button" class="reset-named-home-volume btn btn-xs btn-outline-danger" hidden>reset home</button>',
    );
    var logsBtn = $(
      '<button type="button" class="server-logs-named btn btn-xs btn-outline-secondary" hidden>logs</button>',
    );
    var feedback = $('<div class="resettable-feedback mt-1" hidden></div>');
    var status = $('<div class="resettable-status alert py-1 px-2 mb-0 small" role="status" aria-live="polite"></div>');
    var logHint = $('<div class="resettable-log-hint small mt-1" hidden></div>').append(
      $('<code class="resettable-last-line"></code>'),
      " ",
      $('<button type="button" class="resettable-show-logs btn btn-xs btn-outline-secondary">show logs</button>'),
    );
    var gotoLink = $('<a class="resettable-goto btn btn-xs btn-success" hidden>open</a>');
    var link = row.find(".server-link").attr("href");
    gotoLink.attr("href", link);
    restartBtn.attr("aria-label", aria.restart);
    resetBtn.attr("aria-label", aria.reset);
    logsBtn.attr("aria-label", aria.logs);
    cell.append(" ", restartBtn, " ", resetBtn, " ", logsBtn, feedback.append(status, logHint, gotoLink));
    addControls({
      server: server,
      serverUrl: link,
      restartBtn: restartBtn,
      resetBtn: resetBtn,
      logsBtn: logsBtn,
      feedback: feedback,
      status: status,
      logHint: logHint,
      gotoLink: gotoLink,
      labels: { restart: "restart", reset: "reset home" },
    });
  });

  // The stock page changes servers without a reload: hide our actions for the
  // affected server at once, then follow the hub until its state settles.
  // What our status line said is no longer true either.
  $(document).on("click", "#start, #stop", function () {
    hideActions(controls[0]);
    clearStatus(controls[0]);
    follow();
  });
  $(document).on("click", ".stop-server, .start-server, .delete-server", function () {
    var server = String($(this).closest(".home-server-row").data("server-name"));
    controls.forEach(function (ctrl) {
      if (ctrl.server === server) {
        hideActions(ctrl);
        clearStatus(ctrl);
      }
    });
    follow();
  });

  loop();
});
