// Unit tests of src/restart.ts, run by `jlpm test` with Node's own test runner.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  IHubInfo,
  hubHomeUrl,
  hubInfoFrom,
  networkFailure,
  onHub,
  outcomeOf,
  restartUrl,
  scopesAllowRestart,
  whoAmIUrl
} from '../src/restart';

const alice: IHubInfo = { hubHost: '', hubPrefix: '/hub/', user: 'alice', serverName: '' };
const named: IHubInfo = { ...alice, serverName: 'lab' };

test('restart URL of the default server', () => {
  assert.equal(restartUrl(alice), '/hub/api/users/alice/restart-server');
});

test('restart URL of a named server', () => {
  assert.equal(restartUrl(named), '/hub/api/users/alice/servers/lab/restart-server');
});

test('names are escaped, hub host and prefix are kept', () => {
  const info: IHubInfo = {
    hubHost: 'https://hub.invalid/',
    hubPrefix: '/jh/hub',
    user: 'dot.user@x.org',
    serverName: 'my lab/2'
  };
  assert.equal(
    restartUrl(info),
    'https://hub.invalid/jh/hub/api/users/dot.user%40x.org/servers/my%20lab%2F2/restart-server'
  );
  assert.equal(whoAmIUrl(info), 'https://hub.invalid/jh/hub/api/user');
  assert.equal(hubHomeUrl(info), 'https://hub.invalid/jh/hub/home');
});

test('hub info from the page config: the server owner wins over the visitor', () => {
  const config: Record<string, string> = {
    hubPrefix: '/hub/',
    hubUser: 'admin',
    hubServerUser: 'alice',
    hubServerName: 'lab'
  };
  const info = hubInfoFrom(name => config[name] || '');
  assert.deepEqual(info, { hubHost: '', hubPrefix: '/hub/', user: 'alice', serverName: 'lab' });
  assert.ok(onHub(info));
  assert.ok(!onHub(hubInfoFrom(() => '')));
});

test('scopes that allow the restart', () => {
  const s = 'custom:resettable-spawner:restart';
  assert.ok(scopesAllowRestart([`${s}!server=alice/`], alice));
  assert.ok(!scopesAllowRestart([`${s}!server=alice/`], named));
  assert.ok(scopesAllowRestart([`${s}!server=alice/lab`], named));
  assert.ok(scopesAllowRestart([`${s}!user=alice`], named));
  assert.ok(scopesAllowRestart([s], alice));
  assert.ok(!scopesAllowRestart([`${s}!user=bob`], alice));
  assert.ok(!scopesAllowRestart(['access:servers!server=alice/', 'read:users:name!user=alice'], alice));
  // Stopping and starting is what the hub page uses, not what the lab's token may hold.
  assert.ok(!scopesAllowRestart(['delete:servers!user=alice'], alice));
});

test('200 is a restart', () => {
  assert.deepEqual(outcomeOf(200, { duration_seconds: 2.5 }), { kind: 'restarted', seconds: 2.5 });
  assert.deepEqual(outcomeOf(200, null), { kind: 'restarted', seconds: null });
});

test('403 means the hub config lacks the lab setup', () => {
  const o = outcomeOf(403, { status: 403, message: 'Action is not authorized' });
  assert.equal(o.kind, 'not-configured');
  assert.match((o as { message: string }).message, /restart scope/);
  assert.equal(outcomeOf(401, null).kind, 'not-configured');
});

test('404 means no in-place restart on this hub', () => {
  assert.equal(outcomeOf(404, { message: 'Not Found' }).kind, 'unavailable');
});

test('409 and 429 pass the hub message on, with Retry-After', () => {
  assert.deepEqual(outcomeOf(409, { message: 'Another restart is in progress.' }), {
    kind: 'refused',
    message: 'Another restart is in progress.',
    retryAfter: null
  });
  assert.deepEqual(outcomeOf(429, { message: 'Too many' }, '42'), {
    kind: 'refused',
    message: 'Too many',
    retryAfter: 42
  });
  assert.equal(outcomeOf(409, null).kind, 'refused');
});

test('5xx is a failure, with or without a JSON body', () => {
  assert.deepEqual(outcomeOf(502, { message: 'The server did not answer.' }), {
    kind: 'failed',
    message: 'The restart failed: The server did not answer.'
  });
  const proxy = outcomeOf(503, null);
  assert.equal(proxy.kind, 'failed');
  assert.match((proxy as { message: string }).message, /HTTP 503/);
});

test('network errors', () => {
  const o = networkFailure(new TypeError('Failed to fetch'));
  assert.equal(o.kind, 'failed');
  assert.match((o as { message: string }).message, /could not be reached \(Failed to fetch\)/);
});
