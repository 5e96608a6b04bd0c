// resettable-spawner: Restart, Reset Volumes and volume backups on the hub's home page.
// Included inline by home.html (a Jinja include: keep template delimiters out of this file).
// Calls go to the hub's REST API with the XSRF token, as JupyterHub's JHAPI sends it; no token is in the page.
require(["jquery", "jhapi", "utils"], function ($, JHAPI, utils) {
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
  var backupsBox = $("#home-volume-backups");
  var chosenBackup = null; // {ctrl, backup} whose restore or delete dialog is open
  var confirmInput = $("#reset-volume-confirm-input");
  var confirmReset = $("#confirm-reset-btn");
  // How often to ask the hub for each server's state: quickly while something is
  // changing (our action or a stock start/stop), slowly otherwise.
  var FOLLOW_MS = 1000;
  var IDLE_MS = 5000;
  var FOLLOW_FOR_MS = 60000;
  var SERVER_ANSWER_TIMEOUT_MS = 60000;
  var followUntil = 0;
  var controls = [];
  var current = null; // the controls whose dialog is open

  function apiPath(server, action) {
    var parts = ["users", user];
    if (server) {
      parts.push("servers", server);
    }
    parts.push(action);
    return utils.url_path_join.apply(null, parts);
  }

  function errorMessage(xhr) {
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

  // As JHAPI.api_request (same URL, XSRF token, JSON), plus a query string and a body.
  function call(method, server, action, query, body) {
    var url = utils.url_path_join(
      window.jhdata.base_url,
      "api",
      utils.encode_uri_components(apiPath(server, action)),
    );
    var params = (query || []).slice();
    if (window.jhdata.xsrf_token) {
      params.push(["_xsrf", window.jhdata.xsrf_token]);
    }
    if (params.length) {
      url += "?" + params.map(function (kv) {
        return encodeURIComponent(kv[0]) + "=" + encodeURIComponent(kv[1]);
      }).join("&");
    }
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
          reject(errorMessage(xhr));
        },
      });
    });
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

  function day(iso) {
    return new Date(iso).toLocaleDateString(undefined, { day: "numeric", month: "long" });
  }

  function when(iso) {
    return new Date(iso).toLocaleString(undefined, {
      day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
    });
  }

  function age(iso) {
    var seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 60) {
      return "just now";
    }
    var steps = [[86400, "day"], [3600, "hour"], [60, "minute"]];
    for (var i = 0; i < steps.length; i++) {
      if (seconds >= steps[i][0]) {
        var n = Math.floor(seconds / steps[i][0]);
        return n + " " + steps[i][1] + (n === 1 ? "" : "s") + " ago";
      }
    }
    return "just now";
  }

  function retentionText(policy) {
    if (!policy || !policy.enabled) {
      return "No backup is kept: this cannot be undone.";
    }
    var until = new Date(Date.now() + policy.retention_seconds * 1000).toISOString();
    return "A backup of each is kept until " + day(until) +
      ", and you can restore it from this page until then.";
  }

  function serverLabel(ctrl) {
    return ctrl.server ? 'server "' + ctrl.server + '"' : "your server";
  }

  // Feedback stays in the page (no alert()): a status line per server.
  function say(ctrl, kind, text) {
    ctrl.feedback.prop("hidden", false);
    ctrl.status
      .removeClass("alert-info alert-success alert-danger alert-warning")
      .addClass("alert-" + kind)
      .text(text);
  }

  function render(ctrl) {
    if (ctrl.busy) {
      return;
    }
    var info = ctrl.info;
    var actions = info ? info.actions : { restart: false, reset: false };
    var mayReset = actions.reset_volumes !== undefined ? actions.reset_volumes : actions.reset;
    ctrl.restartBtn.prop("hidden", !actions.restart).prop("disabled", false);
    ctrl.resetBtn.prop("hidden", !mayReset).prop("disabled", false);
    ctrl.restartBtn.text(ctrl.labels.restart);
    ctrl.resetBtn.text(ctrl.labels.reset);
    if (info && info.state !== "running") {
      ctrl.gotoLink.prop("hidden", true);
    }
    renderBackups(ctrl);
  }

  // --- the backups list -----------------------------------------------------------

  function backupsSection(ctrl) {
    if (!ctrl.backupsSection) {
      ctrl.backupsSection = $('<div class="resettable-backups mb-3"></div>').attr("data-server", ctrl.server);
      ctrl.backupsSection.append(
        $('<h3 class="fs-6 mb-1"></h3>').text(ctrl.server ? 'Server "' + ctrl.server + '"' : "Your server"),
        $('<ul class="list-group resettable-backup-list"></ul>'),
      );
      backupsBox.append(ctrl.backupsSection);
    }
    return ctrl.backupsSection;
  }

  function renderBackups(ctrl) {
    var info = ctrl.info;
    var backups = (info && info.backups) || [];
    var key = JSON.stringify([backups, info && info.actions, info && info.state]);
    if (key === ctrl.backupsKey) {
      return;
    }
    ctrl.backupsKey = key;
    var interrupted = info && info.interrupted_restore;
    if (interrupted && !ctrl.busy) {
      say(
        ctrl,
        "warning",
        "A restore of " + interrupted.volume + " was interrupted. Restore that backup again " +
          "(or reset the volume) before starting " + serverLabel(ctrl) + ".",
      );
    }
    var section = backupsSection(ctrl);
    var list = section.find(".resettable-backup-list").empty();
    section.prop("hidden", backups.length === 0);
    var canRestore = Boolean(info && info.actions.restore);
    var canDelete = Boolean(info && info.actions.delete_backup);
    backups.forEach(function (b) {
      var restoreBtn = $('<button type="button" class="btn btn-sm btn-outline-warning restore-backup-btn">Restore</button>')
        .attr("data-backup-id", b.id)
        .prop("disabled", !canRestore)
        .attr("title", canRestore ? "Replace the volume's content with this backup" : "Stop the server to restore");
      var deleteBtn = $('<button type="button" class="btn btn-sm btn-outline-danger delete-backup-btn">Delete</button>')
        .attr("data-backup-id", b.id)
        .prop("hidden", !canDelete);
      restoreBtn.data("resettable", { ctrl: ctrl, backup: b });
      deleteBtn.data("resettable", { ctrl: ctrl, backup: b });
      var what = $("<div>").append(
        $("<code>").text(b.volume),
        $('<span class="text-muted small"></span>').text(
          " \u2014 " + age(b.created) + (b.reason === "restore" ? ", before a restore" : "") +
          ", " + humanSize(b.size_bytes) + ", kept until " + day(b.expires),
        ),
      );
      list.append(
        $('<li class="list-group-item d-flex justify-content-between align-items-center resettable-backup"></li>')
          .attr("data-backup-id", b.id)
          .append(what, $('<div class="text-nowrap ms-2"></div>').append(restoreBtn, " ", deleteBtn)),
      );
    });
    backupsBox.prop("hidden", !controls.some(function (c) {
      return c.info && c.info.backups && c.info.backups.length;
    }));
    // Sizes of backups made before the hub restarted are measured once, on request.
    var unknown = backups.filter(function (b) {
      return b.size_bytes === null;
    }).map(function (b) {
      return b.id;
    }).join(",");
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
        ctrl.info = info;
        render(ctrl);
        if (["pending", "restarting", "resetting", "restoring", "queued"].indexOf(info.state) !== -1) {
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
    followUntil = Date.now() + FOLLOW_FOR_MS;
  }

  function loop() {
    Promise.all(controls.map(refresh)).then(function () {
      window._resettable_ready = true;
      setTimeout(loop, Date.now() < followUntil ? FOLLOW_MS : IDLE_MS);
    });
  }

  function hideActions(ctrl) {
    ctrl.info = null;
    ctrl.restartBtn.prop("hidden", true);
    ctrl.resetBtn.prop("hidden", true);
  }

  function working(ctrl, button, text) {
    ctrl.busy = true;
    hideActions(ctrl);
    button.prop("hidden", false).prop("disabled", true).text(text);
  }

  function done(ctrl) {
    ctrl.busy = false;
    follow();
    return refresh(ctrl);
  }

  // The restart endpoint answers once the server is up; still follow it through the
  // proxy until it answers there too, then offer the link.
  function waitForServer(url) {
    var deadline = Date.now() + SERVER_ANSWER_TIMEOUT_MS;
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
          setTimeout(attempt, 500);
        }
      }
      attempt();
    });
  }

  function restart(ctrl) {
    working(ctrl, ctrl.restartBtn, "Restarting…");
    ctrl.gotoLink.prop("hidden", true);
    say(ctrl, "info", "Restarting " + serverLabel(ctrl) + "…");
    call("POST", ctrl.server, "restart-server")
      .then(function (body) {
        say(ctrl, "info", "Restarted; waiting for " + serverLabel(ctrl) + " to answer…");
        return waitForServer(ctrl.serverUrl).then(function () {
          say(
            ctrl,
            "success",
            "Restarted " + serverLabel(ctrl) + " in " + body.duration_seconds.toFixed(1) + " s.",
          );
          ctrl.gotoLink.prop("hidden", false);
        });
      })
      .catch(function (message) {
        say(ctrl, "danger", "Restart failed: " + message);
      })
      .then(function () {
        return done(ctrl);
      });
  }

  function reset(ctrl, volumes) {
    var backup = ctrl.info && ctrl.info.backup_policy && ctrl.info.backup_policy.enabled;
    working(ctrl, ctrl.resetBtn, "Resetting…");
    say(
      ctrl,
      "info",
      (backup ? "Backing up and deleting " : "Deleting ") + volumes.join(", ") + " of " +
        serverLabel(ctrl) + "…",
    );
    call("DELETE", ctrl.server, "reset-home-volume", volumes.map(function (v) {
      return ["volume", v];
    }))
      .then(function (body) {
        var kept = body.backups.length
          ? " Backups are kept until " + day(body.backups[0].expires) + "."
          : "";
        say(
          ctrl,
          "success",
          "Deleted " + body.volumes.join(", ") + "." + kept + " The next start of " +
            serverLabel(ctrl) + " creates fresh volumes.",
        );
      })
      .catch(function (message) {
        say(ctrl, "danger", "Reset failed: " + message);
      })
      .then(function () {
        return done(ctrl);
      });
  }

  function restore(ctrl, backup) {
    ctrl.busy = true;
    hideActions(ctrl);
    say(ctrl, "info", "Restoring " + backup.volume + " from the backup of " + when(backup.created) + "…");
    call("POST", ctrl.server, "restore-home-volume", [], { backup: backup.id })
      .then(function (body) {
        say(
          ctrl,
          "success",
          "Restored " + body.volume + " from the backup of " + when(body.backup.created) + "." +
            (body.replaced_backup ? " Its previous content is kept as a backup too." : ""),
        );
      })
      .catch(function (message) {
        say(ctrl, "danger", "Restore failed: " + message);
      })
      .then(function () {
        ctrl.backupsKey = null;
        return done(ctrl);
      });
  }

  function deleteBackup(ctrl, backup) {
    say(ctrl, "info", "Deleting the backup of " + backup.volume + " from " + when(backup.created) + "…");
    call("DELETE", ctrl.server, "home-volume-backups/" + backup.id)
      .then(function () {
        say(ctrl, "success", "Deleted the backup of " + backup.volume + " from " + when(backup.created) + ".");
      })
      .catch(function (message) {
        say(ctrl, "danger", "Deleting the backup failed: " + message);
      })
      .then(function () {
        ctrl.backupsKey = null;
        return refresh(ctrl);
      });
  }

  function openRestart(ctrl) {
    current = ctrl;
    $(".resettable-server-label").text(serverLabel(ctrl));
    restartModal.show();
  }

  function openReset(ctrl) {
    current = ctrl;
    // Always ask again: the dialog must show the name the spawner uses now.
    call("GET", ctrl.server, "home-volume").then(
      function (info) {
        ctrl.info = info;
        render(ctrl);
        if (!info.actions.reset_volumes) {
          say(ctrl, "warning", "The volumes cannot be reset right now (" + info.state + ").");
          return;
        }
        $(".resettable-server-label").text(serverLabel(ctrl));
        $("#reset-volume-name").text(info.volume.name || "");
        $("#reset-volume-user-name").text(user);
        $("#reset-volume-backup-note").text(retentionText(info.backup_policy));
        renderChoices(info);
        confirmInput.val("");
        confirmReset.prop("disabled", true);
        resetModal.show();
        // Sizes: measured now (one helper container), shown when they arrive.
        call("GET", ctrl.server, "home-volume", [["sizes", "1"]]).then(
          function (sized) {
            sized.volumes.forEach(function (v) {
              $('.reset-volume-size[data-volume="' + cssEscape(v.name) + '"]').text(
                v.exists ? humanSize(v.size_bytes) : "does not exist",
              );
            });
          },
          function () {
            $(".reset-volume-size").text("size unknown");
          },
        );
      },
      function (message) {
        say(ctrl, "danger", message);
      },
    );
  }

  function cssEscape(text) {
    return window.CSS && window.CSS.escape ? window.CSS.escape(text) : text.replace(/["\\]/g, "\\$&");
  }

  // One checkbox per volume: home ticked; shared and missing volumes shown but disabled.
  function renderChoices(info) {
    var box = $("#reset-volume-choices").empty();
    info.volumes.forEach(function (v, i) {
      var id = "reset-volume-choice-" + i;
      var input = $('<input class="form-check-input reset-volume-choice" type="checkbox">')
        .attr("id", id)
        .val(v.name)
        .prop("checked", v.home && v.resettable && v.exists)
        .prop("disabled", !v.resettable || !v.exists);
      var label = $('<label class="form-check-label"></label>').attr("for", id).append(
        $("<code>").text(v.name),
        " at ",
        $("<code>").text(v.mount_path),
        " ",
        $('<span class="reset-volume-size text-muted small"></span>')
          .attr("data-volume", v.name)
          .text(v.exists ? "measuring…" : "does not exist"),
      );
      if (!v.resettable) {
        label.append(" ", $('<span class="badge text-bg-secondary"></span>').text("shared, never reset"));
      }
      box.append($('<div class="form-check"></div>').append(input, label));
    });
  }

  function chosenVolumes() {
    return $(".reset-volume-choice:checked").map(function () {
      return this.value;
    }).get();
  }

  function typedConfirmation() {
    var typed = confirmInput.val().trim();
    var info = current && current.info;
    return Boolean(
      info && typed && (typed === info.volume.name || typed === user) && chosenVolumes().length,
    );
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
    restart(current);
  });
  confirmReset.on("click", function () {
    if (!typedConfirmation()) {
      return;
    }
    var volumes = chosenVolumes();
    resetModal.hide();
    reset(current, volumes);
  });
  $(document).on("click", ".restore-backup-btn", function () {
    chosenBackup = $(this).data("resettable");
    var b = chosenBackup.backup;
    current = chosenBackup.ctrl;
    $(".resettable-server-label").text(serverLabel(current));
    $("#restore-backup-volume").text(b.volume);
    $("#restore-backup-created").text(when(b.created));
    $("#restore-backup-size").text(humanSize(b.size_bytes));
    restoreModal.show();
  });
  $(document).on("click", ".delete-backup-btn", function () {
    chosenBackup = $(this).data("resettable");
    var b = chosenBackup.backup;
    $(".resettable-server-label").text(serverLabel(chosenBackup.ctrl));
    $("#delete-backup-volume").text(b.volume);
    $("#delete-backup-created").text(when(b.created));
    deleteModal.show();
  });
  $("#confirm-restore-btn").on("click", function () {
    restoreModal.hide();
    restore(chosenBackup.ctrl, chosenBackup.backup);
  });
  $("#confirm-delete-backup-btn").on("click", function () {
    deleteModal.hide();
    deleteBackup(chosenBackup.ctrl, chosenBackup.backup);
  });
  restoreModalEl.addEventListener("shown.bs.modal", function () {
    $("#confirm-restore-btn").trigger("focus");
  });
  deleteModalEl.addEventListener("shown.bs.modal", function () {
    $("#confirm-delete-backup-btn").trigger("focus");
  });
  // Focus moves into the dialog, and back to the button that opened it.
  restartModalEl.addEventListener("shown.bs.modal", function () {
    $("#confirm-restart-btn").trigger("focus");
  });
  resetModalEl.addEventListener("shown.bs.modal", function () {
    confirmInput.trigger("focus");
  });
  [restartModalEl, resetModalEl].forEach(function (el) {
    el.addEventListener("hidden.bs.modal", function () {
      if (current && !current.busy) {
        (el === restartModalEl ? current.restartBtn : current.resetBtn).trigger("focus");
      }
    });
  });

  function addControls(ctrl) {
    ctrl.restartBtn.data("resettable", ctrl);
    ctrl.resetBtn.data("resettable", ctrl);
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
    defaultBox.find("#restart-server-btn, #reset-home-volume-btn").appendTo(stockButtons);
    defaultBox.find(".resettable-feedback").appendTo(stockButtons);
  }
  addControls({
    server: "",
    serverUrl: defaultBox.data("server-url"),
    restartBtn: $("#restart-server-btn"),
    resetBtn: $("#reset-home-volume-btn"),
    feedback: stockButtons.find(".resettable-feedback").add(defaultBox.find(".resettable-feedback")),
    status: $(".resettable-feedback .resettable-status").first(),
    gotoLink: $(".resettable-feedback .resettable-goto").first(),
    labels: { restart: "Restart My Server", reset: "Reset Home Volume" },
  });

  // Named servers: the same two actions in each row of the stock table.
  $(".home-server-row[data-server-name]").each(function () {
    var row = $(this);
    var server = String(row.data("server-name"));
    var cell = row.children("td").last();
    var restartBtn = $(
      '<button type="button" class="restart-named-server btn btn-xs btn-warning" hidden>restart</button>',
    );
    var resetBtn = $(
      '<button type="button" class="reset-named-home-volume btn btn-xs btn-outline-danger" hidden>reset home</button>',
    );
    var feedback = $('<div class="resettable-feedback mt-1" hidden></div>');
    var status = $('<div class="resettable-status alert py-1 px-2 mb-0 small" role="status" aria-live="polite"></div>');
    var gotoLink = $('<a class="resettable-goto btn btn-xs btn-success" hidden>open</a>');
    var link = row.find(".server-link").attr("href");
    gotoLink.attr("href", link);
    restartBtn.attr("aria-label", 'Restart server "' + server + '"');
    resetBtn.attr("aria-label", 'Reset the home volume of server "' + server + '"');
    cell.append(" ", restartBtn, " ", resetBtn, feedback.append(status, gotoLink));
    addControls({
      server: server,
      serverUrl: link,
      restartBtn: restartBtn,
      resetBtn: resetBtn,
      feedback: feedback,
      status: status,
      gotoLink: gotoLink,
      labels: { restart: "restart", reset: "reset home" },
    });
  });

  // The stock page changes servers without a reload: hide our actions for the
  // affected server at once, then follow the hub until its state settles.
  $(document).on("click", "#start, #stop", function () {
    hideActions(controls[0]);
    follow();
  });
  $(document).on("click", ".stop-server, .start-server, .delete-server", function () {
    var server = String($(this).closest(".home-server-row").data("server-name"));
    controls.forEach(function (ctrl) {
      if (ctrl.server === server) {
        hideActions(ctrl);
      }
    });
    follow();
  });

  loop();
});
