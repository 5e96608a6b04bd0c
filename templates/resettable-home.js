// resettable-spawner: Restart and Reset Home Volume on the hub's home page.
// Included inline by home.html (a Jinja include: keep template delimiters out of this file).
// Calls go through JupyterHub's JHAPI, which sends the XSRF token; no token is in the page.
require(["jquery", "jhapi", "utils"], function ($, JHAPI, utils) {
  "use strict";

  var user = window.jhdata.user;
  var api = new JHAPI(window.jhdata.base_url);
  var restartModalEl = document.getElementById("restart-server-modal");
  var resetModalEl = document.getElementById("reset-volume-modal");
  var restartModal = new window.bootstrap.Modal(restartModalEl);
  var resetModal = new window.bootstrap.Modal(resetModalEl);
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

  function call(method, server, action) {
    return new Promise(function (resolve, reject) {
      api.api_request(apiPath(server, action), {
        type: method,
        success: function (body) {
          resolve(body);
        },
        error: function (xhr) {
          reject(errorMessage(xhr));
        },
      });
    });
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
    ctrl.restartBtn.prop("hidden", !actions.restart).prop("disabled", false);
    ctrl.resetBtn.prop("hidden", !actions.reset).prop("disabled", false);
    ctrl.restartBtn.text(ctrl.labels.restart);
    ctrl.resetBtn.text(ctrl.labels.reset);
    if (info && info.state !== "running") {
      ctrl.gotoLink.prop("hidden", true);
    }
  }

  function refresh(ctrl) {
    return call("GET", ctrl.server, "home-volume").then(
      function (info) {
        ctrl.info = info;
        render(ctrl);
        if (["pending", "restarting", "resetting"].indexOf(info.state) !== -1) {
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

  function reset(ctrl) {
    working(ctrl, ctrl.resetBtn, "Resetting…");
    say(ctrl, "info", "Deleting the home volume of " + serverLabel(ctrl) + "…");
    call("DELETE", ctrl.server, "reset-home-volume")
      .then(function (body) {
        say(
          ctrl,
          "success",
          "Deleted " + body.volume + ". The next start of " + serverLabel(ctrl) +
            " creates a fresh home directory.",
        );
      })
      .catch(function (message) {
        say(ctrl, "danger", "Reset failed: " + message);
      })
      .then(function () {
        return done(ctrl);
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
        if (!info.actions.reset) {
          say(ctrl, "warning", "The home volume cannot be reset right now (" + info.state + ").");
          return;
        }
        $(".resettable-server-label").text(serverLabel(ctrl));
        $("#reset-volume-name").text(info.volume.name);
        $("#reset-volume-user-name").text(user);
        var kept = $("#reset-volume-kept-list").empty();
        info.kept_volumes.forEach(function (v) {
          kept.append(
            $("<li>").append($("<code>").text(v.name), " at ", $("<code>").text(v.mount_path)),
          );
        });
        $("#reset-volume-kept").prop("hidden", info.kept_volumes.length === 0);
        confirmInput.val("");
        confirmReset.prop("disabled", true);
        resetModal.show();
      },
      function (message) {
        say(ctrl, "danger", message);
      },
    );
  }

  function typedConfirmation() {
    var typed = confirmInput.val().trim();
    var info = current && current.info;
    return Boolean(info && typed && (typed === info.volume.name || typed === user));
  }

  confirmInput.on("input", function () {
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
    resetModal.hide();
    reset(current);
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
