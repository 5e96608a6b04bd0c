// Unit tests of src/notice.ts (and the notice URL), run by `jlpm test` with Node's own test runner.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  INotice,
  documentsToSave,
  endedMessage,
  nextStep,
  noticeMessage,
  pollDelayMs,
  restartedMessage,
  savedText,
  secondsLeft
} from '../src/notice';
import { IHubInfo, noticeUrl } from '../src/restart';

const alice: IHubInfo = { hubHost: '', hubPrefix: '/hub/', user: 'alice', serverName: '' };

function notice(state: string, seconds_left = 20, bulk = 'b1'): INotice {
  return {
    bulk,
    requested_by: 'admin',
    notice_seconds: 20,
    restart_at: '2026-11-26T10:15:20Z',
    seconds_left,
    state
  };
}

test('notice URLs of default and named servers', () => {
  assert.equal(noticeUrl(alice), '/hub/api/users/alice/restart-notice');
  assert.equal(
    noticeUrl({ ...alice, user: 'a b', serverName: 'my/lab' }),
    '/hub/api/users/a%20b/servers/my%2Flab/restart-notice'
  );
});

test('a notice starts a countdown to the hub\'s deadline', () => {
  assert.deepEqual(nextStep(notice('noticed', 17.5), null, 'idle', 1000), {
    kind: 'countdown',
    bulk: 'b1',
    deadline: 18500
  });
  assert.deepEqual(nextStep(notice('waiting', 3), 'b1', 'countdown', 0).kind, 'countdown');
});

test('the restart under way, or a notice run out', () => {
  assert.deepEqual(nextStep(notice('restarting', 0), 'b1', 'countdown', 0), { kind: 'restarting', bulk: 'b1' });
  assert.deepEqual(nextStep(notice('queued', 0), null, 'idle', 0), { kind: 'restarting', bulk: 'b1' });
  assert.equal(nextStep(notice('noticed', 0), 'b1', 'countdown', 0).kind, 'restarting');
});

test('an end counts only for the restart being followed', () => {
  assert.deepEqual(nextStep(notice('done', 0), 'b1', 'restarting', 0), { kind: 'ended', bulk: 'b1', state: 'done' });
  assert.deepEqual(nextStep(notice('done', 0), null, 'idle', 0), { kind: 'none' });
  assert.deepEqual(nextStep(notice('done', 0), 'b1', 'idle', 0), { kind: 'none' });
  assert.deepEqual(nextStep(notice('skipped', 0, 'b2'), 'b1', 'restarting', 0), { kind: 'none' });
  // The hub forgot it (it restarted): the end is unknown; the lab checks on its server.
  assert.deepEqual(nextStep(null, 'b1', 'restarting', 0), { kind: 'ended', bulk: 'b1', state: 'unknown' });
  assert.deepEqual(nextStep(null, null, 'idle', 0), { kind: 'none' });
});

test('countdown texts', () => {
  assert.equal(secondsLeft(20_000, 2_500), 18);
  assert.equal(secondsLeft(1_000, 5_000), 0);
  assert.equal(noticeMessage(18), 'An administrator will restart this server in 18 s; save your work.');
  assert.equal(
    noticeMessage(5, savedText(2, [])),
    'An administrator will restart this server in 5 s; save your work. Saved 2 documents.'
  );
  assert.ok(noticeMessage(3600, savedText(12, ['a-long-name.ipynb'])).length <= 140);
});

test('what Save all reports', () => {
  assert.equal(savedText(0, []), 'Nothing to save.');
  assert.equal(savedText(1, []), 'Saved 1 document.');
  assert.equal(savedText(1, ['x.ipynb']), 'Saved 1 document. Could not save x.ipynb.');
});

test('end messages', () => {
  assert.equal(restartedMessage(3.24, 0), 'An administrator restarted this server (3.2 s).');
  assert.match(restartedMessage(3, 2), /2 open notebooks and consoles have fresh kernels/);
  assert.match(endedMessage('failed'), /failed/);
  assert.match(endedMessage('skipped'), /did not take place/);
});

test('poll delays', () => {
  assert.equal(pollDelayMs(10, 'idle', 0), 10_000);
  assert.equal(pollDelayMs(0, 'idle', 0), 10_000);
  assert.equal(pollDelayMs(1, 'idle', 0), 2_000); // never hammer the hub
  assert.equal(pollDelayMs(10_000, 'idle', 0), 300_000);
  assert.equal(pollDelayMs(10, 'countdown', 4), 4_000); // ask again when it runs out
  assert.equal(pollDelayMs(10, 'countdown', 60), 10_000);
  assert.equal(pollDelayMs(10, 'countdown', 0), 1_000);
  assert.equal(pollDelayMs(10, 'restarting', 0), 1_000);
});

test('documents to save: dirty and writable, each path once', () => {
  const docs = [
    { path: 'a.ipynb', dirty: true, writable: true, view: 1 },
    { path: 'b.py', dirty: false, writable: true, view: 2 },
    { path: 'a.ipynb', dirty: true, writable: true, view: 3 },
    { path: 'ro.txt', dirty: true, writable: false, view: 4 },
    { path: 'c.md', dirty: true, writable: true, view: 5 }
  ];
  assert.deepEqual(
    documentsToSave(docs).map(d => d.view),
    [1, 5]
  );
  assert.deepEqual(documentsToSave([]), []);
});
