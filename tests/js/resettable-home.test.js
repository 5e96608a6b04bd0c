// Unit tests of the home page's pure module: `node --test tests/js/` (Node's own runner,
// no npm dependencies). The page itself is tested in Chromium by tests/test_page.py.
"use strict";

process.env.TZ = "UTC"; // dates are asserted as days and hours: the same in every zone

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const fs = require("node:fs");

const STATIC = path.join(__dirname, "..", "..", "resettable_spawner", "static");
const core = require(path.join(STATIC, "resettable-home-core.js"));

const NOW = Date.parse("2025-03-15T12:00:00Z");
const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;

function iso(ms) {
  return new Date(ms).toISOString();
}

test.describe("UMD module", () => {
  test("loads as an anonymous AMD module too", () => {
    const source = fs.readFileSync(path.join(STATIC, "resettable-home-core.js"), "utf8");
    const defined = [];
    const define = (deps, factory) => defined.push({ deps, api: factory() });
    define.amd = {};
    new Function("define", "module", source).call({}, define, undefined);
    assert.equal(defined.length, 1);
    assert.deepEqual(defined[0].deps, []);
    assert.equal(defined[0].api.humanSize(2048), "2.0 KiB");
  });

  test("the page module needs only jquery and the core, not jhapi or utils", () => {
    const page = fs.readFileSync(path.join(STATIC, "resettable-home.js"), "utf8");
    assert.match(page, /define\(\["jquery", "\.\/resettable-home-core"\], function \(\$, core\)/);
    assert.doesNotMatch(page, /jhapi|JHAPI\(|"utils"/);
  });
});

test.describe("API URLs", () => {
  test("default server, with the XSRF token", () => {
    assert.equal(
      core.apiUrl("/hub/", "alice", "", "home-volume", [], "tok"),
      "/hub/api/users/alice/home-volume?_xsrf=tok",
    );
  });

  test("named server, a base_url with a prefix", () => {
    assert.equal(
      core.apiUrl("/prefix/hub/", "alice", "lab", "restart-server", undefined, "tok"),
      "/prefix/hub/api/users/alice/servers/lab/restart-server?_xsrf=tok",
    );
  });

  test("no token, no query: no question mark", () => {
    assert.equal(core.apiUrl("/hub/", "alice", "", "restart-server"), "/hub/api/users/alice/restart-server");
    assert.equal(core.apiUrl("/hub/", "alice", "", "restart-server", [], ""), "/hub/api/users/alice/restart-server");
  });

  test("repeated query names keep their order, before _xsrf; values are encoded", () => {
    const query = [["volume", "rs-a--home"], ["volume", "rs a&b=c"]];
    assert.equal(
      core.apiUrl("/hub/", "alice", "", "reset-home-volume", query, "x/y+z"),
      "/hub/api/users/alice/reset-home-volume?volume=rs-a--home&volume=rs%20a%26b%3Dc&_xsrf=x%2Fy%2Bz",
    );
    assert.deepEqual(query, [["volume", "rs-a--home"], ["volume", "rs a&b=c"]], "query not modified");
  });

  test("user and server names are escaped, each one path segment", () => {
    assert.equal(
      core.apiPath("a b@x.org", "my lab#1", "home-volume"),
      "users/a%20b%40x.org/servers/my%20lab%231/home-volume",
    );
    assert.equal(core.apiPath("ü", "a/b", "home-volume"), "users/%C3%BC/servers/a%2Fb/home-volume");
    assert.equal(core.apiPath("?", "", "x"), "users/%3F/x");
  });

  test("a backup's path keeps its slash, its id escaped", () => {
    assert.equal(
      core.apiUrl("/hub/", "alice", "lab", "home-volume-backups/rs-backup 1", [], "t"),
      "/hub/api/users/alice/servers/lab/home-volume-backups/rs-backup%201?_xsrf=t",
    );
  });

  test("urlPathJoin as JupyterHub's url_path_join", () => {
    assert.equal(core.urlPathJoin("/hub/", "api", "users/a"), "/hub/api/users/a");
    assert.equal(core.urlPathJoin("/hub", "", "api"), "/hub/api");
    assert.equal(core.urlPathJoin("/hub//", "api"), "/hub/api");
    assert.equal(core.urlPathJoin(), "");
  });
});

test.describe("errorMessage", () => {
  test("the hub's message wins, whatever the status", () => {
    assert.equal(core.errorMessage({ status: 403, responseJSON: { message: "No." } }), "No.");
    assert.equal(core.errorMessage({ status: 0, responseJSON: { message: "Gone" } }), "Gone");
  });

  test("status 0: unreachable", () => {
    assert.equal(
      core.errorMessage({ status: 0 }),
      "The hub could not be reached. Check your connection and try again.",
    );
  });

  test("403 without a message", () => {
    assert.equal(core.errorMessage({ status: 403, responseJSON: {} }), "You are not allowed to do this.");
  });

  test("other statuses, an empty or missing message", () => {
    const generic = "Something went wrong (HTTP 500). Try again later.";
    assert.equal(core.errorMessage({ status: 500 }), generic);
    assert.equal(core.errorMessage({ status: 500, responseJSON: null }), generic);
    assert.equal(core.errorMessage({ status: 500, responseJSON: { message: "" } }), generic);
    assert.equal(core.errorMessage({ status: 404, responseJSON: { status: 404 } }),
      "Something went wrong (HTTP 404). Try again later.");
  });

  test("no xhr at all does not throw", () => {
    assert.equal(core.errorMessage(undefined), "Something went wrong (HTTP undefined). Try again later.");
  });
});

test.describe("humanSize", () => {
  test("unknown sizes", () => {
    assert.equal(core.humanSize(null), "size unknown");
    assert.equal(core.humanSize(undefined), "size unknown");
  });

  test("bytes stay whole, larger units get one decimal under 10", () => {
    assert.equal(core.humanSize(0), "0 bytes");
    assert.equal(core.humanSize(1023), "1023 bytes");
    assert.equal(core.humanSize(1024), "1.0 KiB");
    assert.equal(core.humanSize(1536), "1.5 KiB");
    assert.equal(core.humanSize(10 * 1024), "10 KiB");
    assert.equal(core.humanSize(1024 * 1024 - 1), "1024 KiB");
    assert.equal(core.humanSize(5.25 * 1024 ** 3), "5.3 GiB");
  });

  test("TiB is the largest unit", () => {
    assert.equal(core.humanSize(2048 * 1024 ** 4), "2048 TiB");
  });
});

test.describe("dates", () => {
  test("age", () => {
    assert.equal(core.age(iso(NOW), NOW), "just now");
    assert.equal(core.age(iso(NOW - 59 * 1000), NOW), "just now");
    assert.equal(core.age(iso(NOW + 60 * 1000), NOW), "just now", "a clock ahead of ours");
    assert.equal(core.age(iso(NOW - 60 * 1000), NOW), "1 minute ago");
    assert.equal(core.age(iso(NOW - 59 * 60 * 1000), NOW), "59 minutes ago");
    assert.equal(core.age(iso(NOW - HOUR), NOW), "1 hour ago");
    assert.equal(core.age(iso(NOW - 23 * HOUR), NOW), "23 hours ago");
    assert.equal(core.age(iso(NOW - DAY), NOW), "1 day ago");
    assert.equal(core.age(iso(NOW - 40 * DAY), NOW), "40 days ago");
  });

  test("day and when, in a given locale", () => {
    assert.equal(core.day("2025-03-15T12:00:00Z", "en-US"), "March 15");
    assert.match(core.when("2025-03-15T12:00:00Z", "en-US"), /^March 15(,| at) 12:00 PM$/);
  });

  test("retention: kept until a day, or no backup", () => {
    const policy = { enabled: true, retention_seconds: 7 * 86400 };
    assert.equal(
      core.retentionText(policy, NOW, "en-US"),
      "A backup of each is kept until March 22, and you can restore it from this page until then.",
    );
    const none = "No backup is kept: this cannot be undone.";
    assert.equal(core.retentionText({ enabled: false, retention_seconds: 86400 }, NOW), none);
    assert.equal(core.retentionText(null, NOW), none);
    assert.equal(core.retentionText(undefined), none);
  });
});

test.describe("labels", () => {
  test("server labels", () => {
    assert.equal(core.serverLabel(""), "your server");
    assert.equal(core.serverLabel("lab"), 'server "lab"');
    assert.equal(core.serverHeading(""), "Your server");
    assert.equal(core.serverHeading("lab"), 'Server "lab"');
    assert.deepEqual(core.rowLabels("lab"), {
      restart: 'Restart server "lab"',
      reset: 'Reset the home volume of server "lab"',
      logs: 'Logs of server "lab"',
    });
  });

  test("cssEscape uses CSS.escape, else escapes quotes and backslashes", () => {
    assert.equal(core.cssEscape('a"b\\c', undefined), 'a\\"b\\\\c');
    assert.equal(core.cssEscape("x", { escape: (t) => "<" + t + ">" }), "<x>");
    assert.equal(core.cssEscape("rs-a--home", {}), "rs-a--home");
  });
});

test.describe("state -> buttons", () => {
  const info = (state, actions) => ({ state, actions });

  test("unknown state offers nothing", () => {
    assert.deepEqual(core.buttons(null), { restart: false, reset: false, hideGoto: false });
    assert.deepEqual(core.buttons({ state: "running" }), { restart: false, reset: false, hideGoto: false });
  });

  test("running: restart only, the link stays", () => {
    assert.deepEqual(
      core.buttons(info("running", { restart: true, reset: false, reset_volumes: false })),
      { restart: true, reset: false, hideGoto: false },
    );
  });

  test("stopped: reset only, the link goes", () => {
    assert.deepEqual(
      core.buttons(info("stopped", { restart: false, reset: true, reset_volumes: true })),
      { restart: false, reset: true, hideGoto: true },
    );
  });

  test("reset_volumes, when given, decides over reset", () => {
    assert.equal(core.buttons(info("stopped", { reset: true, reset_volumes: false })).reset, false);
    assert.equal(core.buttons(info("stopped", { reset: false, reset_volumes: true })).reset, true);
    assert.equal(core.buttons(info("stopped", { reset: true })).reset, true, "an older hub: reset alone");
  });

  test("which states are followed quickly", () => {
    for (const s of ["pending", "restarting", "resetting", "restoring", "queued"]) {
      assert.equal(core.isChanging(s), true, s);
    }
    for (const s of ["running", "stopped", "", undefined]) {
      assert.equal(core.isChanging(s), false, String(s));
    }
  });

  test("poll delay: 1 s while following, 5 s otherwise", () => {
    assert.equal(core.pollDelay(NOW, NOW + 1), 1000);
    assert.equal(core.pollDelay(NOW, NOW), 5000);
    assert.equal(core.pollDelay(NOW, 0), 5000);
    assert.equal(core.timing.FOLLOW_FOR_MS, 60000);
    assert.equal(core.timing.SERVER_ANSWER_TIMEOUT_MS, 60000);
  });
});

test.describe("backups list", () => {
  const backup = {
    id: "b1",
    volume: "rs-alice--home",
    created: iso(NOW - 3 * HOUR),
    expires: "2025-03-22T12:00:00Z",
    size_bytes: 1536,
    reason: "reset",
  };

  test("summary: age, size, expiry; 'before a restore' for a restore's backup", () => {
    assert.equal(core.backupSummary(backup, NOW, "en-US"), " \u2014 3 hours ago, 1.5 KiB, kept until March 22");
    assert.equal(
      core.backupSummary({ ...backup, reason: "restore", size_bytes: null }, NOW, "en-US"),
      " \u2014 3 hours ago, before a restore, size unknown, kept until March 22",
    );
  });

  test("restore and delete follow the actions", () => {
    assert.deepEqual(core.backupActions({ actions: { restore: true, delete_backup: true } }), {
      restore: true,
      delete: true,
      restoreTitle: "Replace the volume's content with this backup",
    });
    assert.deepEqual(core.backupActions({ actions: { restore: false, delete_backup: false } }), {
      restore: false,
      delete: false,
      restoreTitle: "Stop the server to restore",
    });
    assert.equal(core.backupActions(null).restore, false);
  });

  test("unmeasured: ids with a null size only (0 is a size)", () => {
    assert.equal(
      core.unmeasured([{ id: "a", size_bytes: null }, { id: "b", size_bytes: 0 }, { id: "c", size_bytes: null }]),
      "a,c",
    );
    assert.equal(core.unmeasured([]), "");
    assert.equal(core.unmeasured(undefined), "");
  });

  test("the list shows when any server has a backup", () => {
    assert.equal(core.anyBackups([null, { backups: [] }]), false);
    assert.equal(core.anyBackups([null, { backups: [] }, { backups: [backup] }]), true);
    assert.equal(core.anyBackups([]), false);
  });

  test("the key changes with backups, actions and state", () => {
    const a = { state: "stopped", actions: { restore: true }, backups: [backup] };
    assert.equal(core.backupsKey(a), core.backupsKey(JSON.parse(JSON.stringify(a))));
    assert.notEqual(core.backupsKey(a), core.backupsKey({ ...a, state: "running" }));
    assert.notEqual(core.backupsKey(a), core.backupsKey({ ...a, actions: { restore: false } }));
    assert.notEqual(core.backupsKey(a), core.backupsKey({ ...a, backups: [] }));
    assert.notEqual(core.backupsKey(null), core.backupsKey(a));
  });

  test("an interrupted restore is named", () => {
    assert.equal(core.interruptedRestoreText({ interrupted_restore: null }, ""), null);
    assert.equal(core.interruptedRestoreText(null, ""), null);
    assert.equal(
      core.interruptedRestoreText({ interrupted_restore: { volume: "rs-alice--lab-home" } }, "lab"),
      "A restore of rs-alice--lab-home was interrupted. Restore that backup again " +
        '(or reset the volume) before starting server "lab".',
    );
  });
});

test.describe("reset dialog", () => {
  const info = {
    state: "stopped",
    actions: { reset_volumes: true },
    volume: { name: "rs-alice--home" },
  };

  test("refused unless reset_volumes", () => {
    assert.equal(core.resetRefusal(info), null);
    assert.equal(
      core.resetRefusal({ state: "running", actions: { reset_volumes: false } }),
      "The volumes cannot be reset right now (running).",
    );
  });

  test("choices: home ticked, others not; shared or missing ones disabled", () => {
    assert.deepEqual(core.volumeChoice({ home: true, resettable: true, exists: true }), {
      checked: true, disabled: false, shared: false, sizeText: "measuring…",
    });
    assert.deepEqual(core.volumeChoice({ home: false, resettable: true, exists: true }), {
      checked: false, disabled: false, shared: false, sizeText: "measuring…",
    });
    assert.deepEqual(core.volumeChoice({ home: false, resettable: false, exists: true }), {
      checked: false, disabled: true, shared: true, sizeText: "measuring…",
    });
    assert.deepEqual(core.volumeChoice({ home: true, resettable: true, exists: false }), {
      checked: false, disabled: true, shared: false, sizeText: "does not exist",
    });
  });

  test("measured sizes", () => {
    assert.equal(core.measuredSize({ exists: true, size_bytes: 2048 }), "2.0 KiB");
    assert.equal(core.measuredSize({ exists: true, size_bytes: null }), "size unknown");
    assert.equal(core.measuredSize({ exists: false, size_bytes: 5 }), "does not exist");
  });

  test("typed confirmation: the volume name or the user name, trimmed, and a volume ticked", () => {
    assert.equal(core.confirmationMatches("rs-alice--home", info, "alice", 1), true);
    assert.equal(core.confirmationMatches("  alice \n", info, "alice", 2), true);
    assert.equal(core.confirmationMatches("alice", info, "alice", 0), false, "nothing ticked");
    assert.equal(core.confirmationMatches("not-the-name", info, "alice", 1), false);
    assert.equal(core.confirmationMatches("Alice", info, "alice", 1), false, "case matters");
    assert.equal(core.confirmationMatches("", info, "", 1), false, "empty never matches");
    assert.equal(core.confirmationMatches("   ", { ...info, volume: { name: "" } }, "", 1), false);
    assert.equal(core.confirmationMatches(undefined, info, "alice", 1), false);
    assert.equal(core.confirmationMatches("alice", null, "alice", 1), false, "no info");
  });
});

test.describe("actions", () => {
  const a = core.actions;

  test("every action has a request, a start, a success and a failure text", () => {
    assert.deepEqual(Object.keys(a).sort(), ["deleteBackup", "reset", "restart", "restore"]);
    for (const [name, action] of Object.entries(a)) {
      assert.equal(typeof action.request, "function", name);
      assert.equal(typeof action.starting, "function", name);
      assert.equal(typeof action.succeeded, "function", name);
      assert.match(action.failed, /failed: $/, name);
    }
  });

  test("restart", () => {
    const r = a.restart;
    assert.deepEqual(r.request(), { method: "POST", action: "restart-server" });
    assert.equal(r.button, "restart");
    assert.equal(r.working, "Restarting…");
    assert.equal(r.busy, true);
    assert.equal(r.waitsForServer, true);
    assert.equal(r.starting("your server"), "Restarting your server…");
    assert.equal(r.answered('server "lab"'), 'Restarted; waiting for server "lab" to answer…');
    assert.equal(r.succeeded("your server", undefined, null, { duration_seconds: 3.14159 }),
      "Restarted your server in 3.1 s.");
    assert.equal(r.failed, "Restart failed: ");
  });

  test("reset: one volume query each; the text says whether backups are made", () => {
    const r = a.reset;
    assert.deepEqual(r.request(["v1", "v2"]), {
      method: "DELETE",
      action: "reset-home-volume",
      query: [["volume", "v1"], ["volume", "v2"]],
    });
    assert.equal(r.button, "reset");
    assert.equal(r.working, "Resetting…");
    assert.equal(r.busy, true);
    const withBackup = { backup_policy: { enabled: true } };
    assert.equal(r.starting("your server", ["v1", "v2"], withBackup), "Backing up and deleting v1, v2 of your server…");
    assert.equal(r.starting("your server", ["v1"], { backup_policy: { enabled: false } }), "Deleting v1 of your server…");
    assert.equal(r.starting('server "lab"', ["v1"], null), 'Deleting v1 of server "lab"…');
    assert.equal(
      r.succeeded("your server", ["v1"], null, {
        volumes: ["v1", "v2"], backups: [{ expires: "2025-03-22T12:00:00Z" }],
      }, "en-US"),
      "Deleted v1, v2. Backups are kept until March 22. The next start of your server creates fresh volumes.",
    );
    assert.equal(
      r.succeeded("your server", ["v1"], null, { volumes: ["v1"], backups: [] }),
      "Deleted v1. The next start of your server creates fresh volumes.",
    );
    assert.equal(r.failed, "Reset failed: ");
  });

  test("restore: the backup id in the body; the list is drawn again", () => {
    const r = a.restore;
    const b = { id: "b1", volume: "rs-alice--home", created: "2025-03-15T12:00:00Z" };
    assert.deepEqual(r.request(b), { method: "POST", action: "restore-home-volume", query: [], body: { backup: "b1" } });
    assert.equal(r.button, undefined, "no button shows progress");
    assert.equal(r.busy, true);
    assert.equal(r.relist, true);
    const when = core.when(b.created, "en-US");
    assert.equal(r.starting("your server", b, null, "en-US"), `Restoring rs-alice--home from the backup of ${when}…`);
    const body = { volume: "rs-alice--home", backup: { created: b.created }, replaced_backup: { id: "b2" } };
    assert.equal(
      r.succeeded("your server", b, null, body, "en-US"),
      `Restored rs-alice--home from the backup of ${when}. Its previous content is kept as a backup too.`,
    );
    assert.equal(
      r.succeeded("your server", b, null, { ...body, replaced_backup: null }, "en-US"),
      `Restored rs-alice--home from the backup of ${when}.`,
    );
    assert.equal(r.failed, "Restore failed: ");
  });

  test("delete a backup: its own path; the server's actions stay", () => {
    const r = a.deleteBackup;
    const b = { id: "rs-alice--home-backup-1", volume: "rs-alice--home", created: "2025-03-15T12:00:00Z" };
    assert.deepEqual(r.request(b), { method: "DELETE", action: "home-volume-backups/rs-alice--home-backup-1" });
    assert.equal(r.busy, undefined);
    assert.equal(r.relist, true);
    const when = core.when(b.created, "en-US");
    assert.equal(r.starting("your server", b, null, "en-US"), `Deleting the backup of rs-alice--home from ${when}…`);
    assert.equal(r.succeeded("your server", b, null, {}, "en-US"), `Deleted the backup of rs-alice--home from ${when}.`);
    assert.equal(r.failed, "Deleting the backup failed: ");
  });

  test("requests build the URLs the API routes expect", () => {
    const b = { id: "rs-b 1" };
    const req = a.deleteBackup.request(b);
    assert.equal(
      core.apiUrl("/hub/", "alice", "lab", req.action, req.query, "t"),
      "/hub/api/users/alice/servers/lab/home-volume-backups/rs-b%201?_xsrf=t",
    );
    const reset = a.reset.request(["rs-alice--home"]);
    assert.equal(
      core.apiUrl("/hub/", "alice", "", reset.action, reset.query, "t"),
      "/hub/api/users/alice/reset-home-volume?volume=rs-alice--home&_xsrf=t",
    );
  });
});

test.describe("the server's log", () => {
  const body = (lines, extra) => Object.assign({
    tail: 100,
    truncated: false,
    lines: lines,
    container: { status: "running", exit_code: null, oom_killed: false },
    last_start_error: null,
  }, extra || {});

  test("lines: Docker's time to the second, then the text; no time, the text alone", () => {
    assert.equal(
      core.logLine({ time: "2025-03-15T12:00:00.123456789Z", text: "[I ServerApp] up" }),
      "2025-03-15 12:00:00  [I ServerApp] up",
    );
    assert.equal(core.logLine({ time: null, text: "raw" }), "raw");
    assert.equal(
      core.logText(body([{ time: null, text: "a" }, { time: "2025-03-15T12:00:01Z", text: "b" }])),
      "a\n2025-03-15 12:00:01  b",
    );
    assert.equal(core.logText(null), "");
  });

  test("the last line that says something", () => {
    assert.equal(core.lastLogLine(body([{ time: null, text: "fatal: no" }, { time: null, text: "  " }])), "fatal: no");
    assert.equal(core.lastLogLine(body([])), null);
    assert.equal(core.lastLogLine(undefined), null);
  });

  test("summary: how much is shown, and the container's state", () => {
    const two = [{ time: null, text: "a" }, { time: null, text: "b" }];
    assert.equal(core.logSummary(body(two)), "All 2 lines of the log. The container is running.");
    assert.equal(core.logSummary(body(two.slice(1))), "All 1 line of the log. The container is running.");
    assert.equal(
      core.logSummary(body(two, { truncated: true, container: { status: "exited", exit_code: 3 } })),
      "The last 2 lines; older ones are not shown. The container exited with code 3.",
    );
    assert.equal(
      core.logSummary(body([], { container: { status: "exited", exit_code: 137, oom_killed: true } })),
      "The log is empty. The container exited with code 137 (out of memory).",
    );
    assert.equal(core.logSummary(body([], { container: { status: "created" } })),
      "The log is empty. The container is created.");
  });

  test("a failed start: JupyterHub's word first, else an exit code that is not a stop", () => {
    assert.equal(
      core.startFailure(body([], { last_start_error: "Spawner failed", container: { status: "exited", exit_code: 0 } }), ""),
      "The last start of your server failed: Spawner failed",
    );
    assert.equal(
      core.startFailure(body([], { container: { status: "exited", exit_code: 3 } }), "lab"),
      'The container of server "lab" exited with code 3.',
    );
    for (const code of [0, 130, 137, 143]) {
      assert.equal(core.startFailure(body([], { container: { status: "exited", exit_code: code } }), ""), null, code);
    }
    assert.match(
      core.startFailure(body([], { container: { status: "exited", exit_code: 137, oom_killed: true } }), ""),
      /exited with code 137 \(out of memory\)/,
    );
    assert.equal(core.startFailure(body([]), ""), null, "running");
    assert.equal(core.startFailure(null, ""), null);
  });

  test("the tails the dialog offers stay within the API's 1..1000", () => {
    assert.deepEqual(core.LOG_TAILS, [100, 500, 1000]);
  });
});

test.describe("the maintenance history", () => {
  const reset = {
    time: "2025-03-15T12:00:00Z", action: "reset", actor: "alice", outcome: "done", reason: "",
    status: 200, volumes: ["rs-a--home"], backups: ["rs-a--home.backup-1"], backup: null, message: null,
  };

  test("a title and a sentence per entry", () => {
    assert.match(core.historyTitle(reset, "en-US"), /^March 15(,| at) 12:00 PM — Reset by alice$/);
    assert.equal(core.historyDetail(reset), "Done. Deleted: rs-a--home. Backups made: rs-a--home.backup-1.");
    assert.equal(core.historyKind(reset), "success");
    const restore = Object.assign({}, reset, {
      action: "restore", volumes: ["rs-a--home"], backups: ["b2"], backup: "rs-a--home.backup-1",
    });
    assert.equal(core.historyDetail(restore),
      "Done. Restored: rs-a--home. Backups made: b2. From the backup rs-a--home.backup-1.");
    const refused = Object.assign({}, reset, {
      outcome: "refused", reason: "wrong-state", status: 409, volumes: [], backups: [],
      message: "The server is running or busy; stop it before resetting the home volume.",
    });
    assert.equal(core.historyDetail(refused),
      "Refused: The server is running or busy; stop it before resetting the home volume.");
    assert.equal(core.historyKind(refused), "warning");
    const failed = Object.assign({}, refused, { outcome: "failed", message: null, reason: "failed" });
    assert.equal(core.historyDetail(failed), "Failed (failed).");
    assert.equal(core.historyKind(failed), "danger");
    const deleted = Object.assign({}, reset, { action: "delete-backup", volumes: [], backups: [], backup: "b1" });
    assert.match(core.historyTitle(deleted, "en-US"), /Backup deleted by alice$/);
    assert.equal(core.historyDetail(deleted), "Done. Backup: b1.");
  });

  test("each backup names the reset that made it", () => {
    const b = { id: "rs-a--home.backup-1", created: "2025-03-15T12:00:00Z", expires: "2025-03-22T12:00:00Z",
      reason: "reset", size_bytes: 2048 };
    const failedFirst = Object.assign({}, reset, { outcome: "failed" });
    assert.equal(core.madeBy(b, [failedFirst, reset]), reset);
    assert.equal(core.madeBy(b, []), null);
    assert.equal(core.madeBy(b, undefined), null);
    assert.match(
      core.backupSummary(b, NOW, "en-US", reset),
      /^ — just now, made by the reset of March 15(,| at) 12:00 PM by alice, 2\.0 KiB, kept until March 22$/,
    );
    assert.equal(core.backupSummary(Object.assign({}, b, { reason: "restore" }), NOW, "en-US", null),
      " — just now, before a restore, 2.0 KiB, kept until March 22");
  });
});

test.describe("the status line", () => {
  test("stale once the state it described has changed", () => {
    assert.equal(core.statusStale("running", "running"), false);
    assert.equal(core.statusStale("running", "stopped"), true);
    assert.equal(core.statusStale("running", "pending"), true);
    assert.equal(core.statusStale(null, "stopped"), false, "not bound yet");
    assert.equal(core.statusStale(undefined, "stopped"), false);
  });
});

test.describe("pending", () => {
  test("what JupyterHub is doing, for the default and a named server", () => {
    assert.equal(core.pendingText("spawn", ""), "Your server is starting…");
    assert.equal(core.pendingText("stop", "lab"), 'Server "lab" is stopping…');
    assert.equal(core.pendingText("rename", ""), "Your server is busy (rename)…");
  });
});
