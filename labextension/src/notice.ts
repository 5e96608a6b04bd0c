/**
 * What the lab does about a bulk restart an administrator started
 * (`POST /hub/api/bulk-restart` with `notice_seconds`): the notice's countdown, when to
 * ask the hub again, which documents "Save all" saves. Free of JupyterLab imports, so
 * that it is unit-tested with Node alone (tests/notice.test.ts).
 */

/** GET .../restart-notice's `notice`: the bulk restart of this server the hub knows of. */
export interface INotice {
  bulk: string;
  requested_by: string;
  notice_seconds: number;
  restart_at: string;
  /** Until the restart starts, by the hub's clock. */
  seconds_left: number;
  /** waiting, noticed, queued, restarting, done, failed, forbidden or skipped. */
  state: string;
}

/** The whole answer. */
export interface INoticeAnswer {
  user: string;
  server: string;
  notice: INotice | null;
  /** When to ask again, when nothing is going on. */
  poll_seconds: number;
}

const ENDED = ['done', 'failed', 'forbidden', 'skipped'];
const UNDER_WAY = ['restarting', 'queued'];

/** What the lab is doing about a bulk restart: nothing, counting down, or waiting for the restart. */
export type Phase = 'idle' | 'countdown' | 'restarting';

/** What to do on the hub's latest answer. */
export type NoticeStep =
  | { kind: 'none' }
  | { kind: 'countdown'; bulk: string; deadline: number }
  | { kind: 'restarting'; bulk: string }
  | { kind: 'ended'; bulk: string; state: string };

/**
 * The next step, from the notice (or null), the bulk restart being followed (or null),
 * the phase, and the time (ms).
 *
 * An end is acted on only for the bulk restart being followed: a lab opened after a
 * restart ended (the hub keeps the end for a while) shows nothing.
 */
export function nextStep(
  notice: INotice | null,
  following: string | null,
  phase: Phase,
  now: number
): NoticeStep {
  const active = phase !== 'idle' && following !== null;
  if (!notice) {
    return active ? { kind: 'ended', bulk: following as string, state: 'unknown' } : { kind: 'none' };
  }
  if (ENDED.includes(notice.state)) {
    return active && notice.bulk === following
      ? { kind: 'ended', bulk: notice.bulk, state: notice.state }
      : { kind: 'none' };
  }
  if (UNDER_WAY.includes(notice.state) || notice.seconds_left <= 0) {
    return { kind: 'restarting', bulk: notice.bulk };
  }
  return { kind: 'countdown', bulk: notice.bulk, deadline: now + notice.seconds_left * 1000 };
}

/** Whole seconds left until the deadline (ms), never below 0. */
export function secondsLeft(deadline: number, now: number): number {
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

/** The countdown notification. */
export function noticeMessage(seconds: number, saved = ''): string {
  const text = `An administrator will restart this server in ${seconds} s; save your work.`;
  return saved ? `${text} ${saved}` : text;
}

export const RESTARTING_MESSAGE = 'An administrator is restarting this server now…';

/** The notification once the server answers again. */
export function restartedMessage(seconds: number, freshKernels: number): string {
  const kernels =
    freshKernels === 0
      ? ''
      : freshKernels === 1
        ? ' 1 open notebook or console has a fresh kernel.'
        : ` ${freshKernels} open notebooks and consoles have fresh kernels.`;
  return `An administrator restarted this server (${seconds.toFixed(1)} s).${kernels}`;
}

/** The notification when the restart did not happen or failed. */
export function endedMessage(state: string): string {
  if (state === 'failed') {
    return "The administrator's restart of this server failed. If the server does not answer, reload the page.";
  }
  return "The administrator's restart of this server did not take place.";
}

/** What "Save all" did. */
export function savedText(saved: number, failed: readonly string[]): string {
  const done = saved === 0 ? 'Nothing to save.' : `Saved ${saved} document${saved === 1 ? '' : 's'}.`;
  return failed.length ? `${done} Could not save ${failed.join(', ')}.` : done;
}

/** Milliseconds until the next question to the hub. */
export function pollDelayMs(pollSeconds: number, phase: Phase, secondsToGo: number): number {
  const idle = Math.min(300, Math.max(2, pollSeconds || 10)) * 1000;
  if (phase === 'restarting') {
    return 1000;
  }
  if (phase === 'countdown') {
    // Ask again when the notice runs out, to hear that the restart began.
    return Math.max(1000, Math.min(idle, secondsToGo * 1000));
  }
  return idle;
}

/** After a failed question (the hub restarting, the network gone): wait longer. */
export const FAILED_POLL_MS = 60_000;

/** An open document, as the lab's document widgets describe it. */
export interface IOpenDocument {
  path: string;
  dirty: boolean;
  writable: boolean;
}

/**
 * The documents "Save all" (and "Save open documents first") save: those with unsaved
 * changes that may be written, each path once (several views share one document), in order.
 */
export function documentsToSave<T extends IOpenDocument>(docs: readonly T[]): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const doc of docs) {
    if (doc.dirty && doc.writable && !seen.has(doc.path)) {
      seen.add(doc.path);
      out.push(doc);
    }
  }
  return out;
}
