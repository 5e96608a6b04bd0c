// Unit tests of the maintenance page's pure module: `node --test tests/js/` (Node's own
// runner, no npm dependencies). The page itself is tested in Chromium by
// tests/e2e/test_maintenance_page.py.
"use strict";

process.env.TZ = "UTC";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const fs = require("node:fs");

const STATIC = path.join(__dirname, "..", "..", "resettable_spawner", "static");
const core = require(path.join(STATIC, "maintenance-core.js"));

const NOW = Date.parse("2025-03-15T12:00:00Z");
const HOUR = 3600 * 1000;

function iso(ms) {
  return new Date(ms).toISOString().slice(0, 19) + "Z";
}

function row(user, server, extra) {
  return Object.assign(
    {
      user: user,
      server: server,
      state: "running",
      pending: null,
      container: { status: "running", started_at: iso(NOW - HOUR), image: "img:1" },
      last_restart: null,
      last_reset: null,
      backups: { count: 0, size_bytes: 0, unmeasured: 0 },
      actions: { restart: true, reset: false, backups: false, logs: true },
    },
    extra || {},
  );
}

test.describe("UMD module", () => {
  test("loads as an AMD module that needs the home page's core", () => {
    const source = fs.readFileSync(path.join(STATIC, "maintenance-core.js"), "utf8");
    const defined = [];
    const define = (deps, factory) => defined.push({ deps, api: factory(require(path.join(STATIC, "resettable-home-core.js"))) });
    define.amd = {};
    new Function("define", "module", source).call({}, define, undefined);
    assert.equal(defined.length, 1);
    assert.deepEqual(defined[0].deps, ["./resettable-home-core"]);
    assert.equal(defined[0].api.ref("bob", "nb"), "bob/nb");
  });

  test("the page module needs jquery and the two cores only", () => {
    const page = fs.readFileSync(path.join(STATIC, "maintenance.js"), "utf8");
    assert.match(page, /define\(\["jquery", "\.\/resettable-home-core", "\.\/maintenance-core"\]/);
    assert.doesNotMatch(page, /jhapi|JHAPI\(|"utils"/);
  });
});

test.describe("names and URLs", () => {
  test("refs as the bulk restart takes them", () => {
    assert.equal(core.ref("alice", ""), "alice");
    assert.equal(core.ref("bob", "nb"), "bob/nb");
    assert.equal(core.rowRef(row("carol", "lab")), "carol/lab");
  });

  test("owner labels", () => {
    assert.equal(core.ownerLabel("alice", ""), "alice\u2019s server");
    assert.equal(core.ownerLabel("bob", "nb"), 'bob\u2019s server "nb"');
  });

  test("API URLs carry the XSRF token", () => {
    assert.equal(core.hubApiUrl("/hub/", "maintenance/servers", [], "tok"), "/hub/api/maintenance/servers?_xsrf=tok");
    assert.equal(core.bulkUrl("/hub/", null, "t"), "/hub/api/bulk-restart?_xsrf=t");
    assert.equal(core.bulkUrl("/jh/hub/", "a b", ""), "/jh/hub/api/bulk-restart/a%20b");
  });
});

test.describe("row texts", () => {
  test("server, state and container", () => {
    assert.equal(core.serverText(row("a", "")), "(default)");
    assert.equal(core.serverText(row("a", "nb")), "nb");
    assert.equal(core.stateText(row("a", "", { state: "pending", pending: "spawn" })), "starting");
    assert.equal(core.stateText(row("a", "", { state: "pending", pending: "stop" })), "stopping");
    assert.equal(core.stateText(row("a", "", { state: "queued" })), "queued");
    assert.equal(core.stateKind("running"), "success");
    assert.equal(core.stateKind("nonsense"), "secondary");
    assert.equal(core.startedText(row("a", ""), "en-GB"), "15 March at 11:00");
    assert.equal(core.startedText(row("a", "", { container: null })), "\u2014");
    assert.equal(core.imageText(row("a", "")), "img:1");
    assert.equal(core.imageText(row("a", "", { container: { status: "exited", started_at: null, image: null } })), "\u2014");
  });

  test("last restart and reset", () => {
    const done = { time: iso(NOW - 2 * HOUR), actor: "admin", outcome: "done", reason: "", message: null };
    const refused = { time: iso(NOW - 60000), actor: "alice", outcome: "refused", reason: "wrong-state", message: "x" };
    assert.equal(core.lastText(done, NOW), "done, 2 hours ago, by admin");
    assert.equal(core.lastText(refused, NOW), "refused (wrong-state), 1 minute ago, by alice");
    assert.equal(core.lastText(null, NOW), "\u2014");
    assert.equal(core.lastKind(done), "success");
    assert.equal(core.lastKind(refused), "warning");
    assert.equal(core.lastKind({ outcome: "failed" }), "danger");
  });

  test("backups and sizes", () => {
    assert.equal(core.backupsText({ count: 0, size_bytes: 0, unmeasured: 0 }), "none");
    assert.equal(core.backupsText({ count: 2, size_bytes: 2048, unmeasured: 0 }), "2, 2.0 KiB");
    assert.equal(core.backupsText({ count: 3, size_bytes: 2048, unmeasured: 1 }), "3, 2.0 KiB + 1 not measured");
    assert.equal(core.backupsText({ count: 1, size_bytes: 0, unmeasured: 1 }), "1, 1 not measured");
    const info = {
      volumes: [
        { name: "h", mount_path: "/home/jovyan", home: true, exists: true, size_bytes: 53248 },
        { name: "w", mount_path: "/home/jovyan/work", exists: true, size_bytes: 4096 },
        { name: "c", mount_path: "/home/jovyan/.cache", exists: false, size_bytes: null },
      ],
    };
    assert.equal(core.sizesText(info), "home 52 KiB \u00b7 work 4.0 KiB");
    assert.equal(core.sizesText({ volumes: [] }), "no volumes");
  });
});

test.describe("filter and sort", () => {
  const rows = [
    row("carol", "", { state: "stopped", container: null, actions: { restart: false } }),
    row("alice", "nb", { backups: { count: 2, size_bytes: 1, unmeasured: 0 } }),
    row("alice", ""),
    row("bob", "", { container: { status: "running", started_at: iso(NOW), image: "other:2" } }),
  ];

  test("every word must match user, server, state or image", () => {
    assert.deepEqual(core.visibleRows(rows, "alice", "user", 1).map(core.rowRef), ["alice", "alice/nb"]);
    assert.deepEqual(core.visibleRows(rows, "ALICE nb", "user", 1).map(core.rowRef), ["alice/nb"]);
    assert.deepEqual(core.visibleRows(rows, "stopped", "user", 1).map(core.rowRef), ["carol"]);
    assert.deepEqual(core.visibleRows(rows, "other:2", "user", 1).map(core.rowRef), ["bob"]);
    assert.deepEqual(core.visibleRows(rows, "default", "user", 1).map(core.rowRef), ["alice", "bob", "carol"]);
    assert.equal(core.visibleRows(rows, "  ", "user", 1).length, 4);
    assert.equal(core.visibleRows(rows, "nobody", "user", 1).length, 0);
  });

  test("sorting by a column, missing values last, ties by name", () => {
    assert.deepEqual(core.visibleRows(rows, "", "user", -1).map(core.rowRef), ["carol", "bob", "alice", "alice/nb"]);
    assert.deepEqual(core.visibleRows(rows, "", "started", 1).map(core.rowRef), ["alice", "alice/nb", "bob", "carol"]);
    assert.deepEqual(core.visibleRows(rows, "", "started", -1).map(core.rowRef), ["bob", "alice", "alice/nb", "carol"]);
    assert.deepEqual(core.visibleRows(rows, "", "backups", -1).map(core.rowRef)[0], "alice/nb");
    assert.deepEqual(core.visibleRows(rows, "", "state", 1).map(core.rowRef), ["alice", "alice/nb", "bob", "carol"]);
    assert.ok(core.SORT_KEYS.includes("restart") && core.SORT_KEYS.includes("reset"));
    assert.equal(core.ariaSort("user", "user", -1), "descending");
    assert.equal(core.ariaSort("image", "user", 1), "none");
  });

  test("a few hundred rows sort quickly", () => {
    const many = [];
    for (let i = 0; i < 500; i++) {
      many.push(row("u" + ((i * 7919) % 500), i % 3 ? "" : "nb"));
    }
    const tic = Date.now();
    const sorted = core.visibleRows(many, "u1", "user", 1);
    assert.ok(Date.now() - tic < 200);
    assert.ok(sorted.length > 0 && sorted.every((r) => r.user.includes("u1")));
  });
});

test.describe("selection and the bulk restart", () => {
  const rows = [row("a", ""), row("b", "nb"), row("c", "", { actions: { restart: false } })];

  test("only running servers the caller may restart are sent", () => {
    assert.deepEqual(core.selectedRefs(rows, { a: true, "b/nb": true, c: true }), ["a", "b/nb"]);
    assert.deepEqual(core.selectedRefs(rows, {}), []);
    assert.equal(core.runningCount(rows), 2);
  });

  test("request bodies", () => {
    assert.deepEqual(core.bulkBody(["a", "b/nb"], 0), { servers: ["a", "b/nb"] });
    assert.deepEqual(core.bulkBody(["a"], 30), { servers: ["a"], notice_seconds: 30 });
    assert.deepEqual(core.bulkBody("all", 0), { all_running: true });
    assert.equal(core.bulkTitle(1), "Restart 1 server?");
    assert.equal(core.bulkTitle(3), "Restart 3 servers?");
    assert.equal(core.bulkTitle("all"), "Restart all running servers?");
    assert.match(core.noticeText(30), /30 s countdown/);
    assert.match(core.noticeText(0), /without a warning/);
  });

  test("progress", () => {
    const counts = { waiting: 0, noticed: 0, queued: 1, restarting: 1, done: 1, failed: 0, forbidden: 0, skipped: 0 };
    const running = { finished: false, counts: counts, servers: [{}, {}, {}] };
    assert.equal(core.progressText(running), "Bulk restart: 1 of 3 done (1 done, 1 restarting, 1 queued).");
    assert.equal(core.progressKind(running), "info");
    const done = { finished: true, counts: Object.assign({}, counts, { queued: 0, restarting: 0, done: 3 }), servers: [{}, {}, {}] };
    assert.equal(core.progressText(done), "Bulk restart finished: 3 of 3 done (3 done).");
    assert.equal(core.progressKind(done), "success");
    assert.equal(core.progressKind({ finished: true, counts: { done: 1, skipped: 1 }, servers: [{}, {}] }), "warning");
    assert.equal(core.progressKind({ finished: true, counts: { failed: 1 }, servers: [{}] }), "danger");
  });

  test("a row's bulk state", () => {
    assert.equal(core.bulkRowText({ state: "queued" }), "queued");
    assert.equal(core.bulkRowText({ state: "done" }), "restarted");
    assert.equal(core.bulkRowText({ state: "skipped", message: "The server is not running." }), "skipped: The server is not running.");
    assert.equal(core.bulkRowText(null), null);
  });
});
