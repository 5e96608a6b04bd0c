/**
 * The extension's own logic, free of JupyterLab imports so that it is unit-tested
 * with Node alone: where the hub's restart endpoint is, whether the lab's token may
 * call it, and what an answer means for the user.
 */

/** The custom scope that allows a restart in place and nothing else (the hub's RESTART_SCOPE). */
export const RESTART_SCOPE = 'custom:resettable-spawner:restart';

/** What the lab knows about its hub, from JupyterLab's page config. */
export interface IHubInfo {
  /** Hub origin when the hub is on another host, else '' (page config `hubHost`). */
  hubHost: string;
  /** Hub prefix, e.g. '/hub/' (page config `hubPrefix`); '' when not on a hub. */
  hubPrefix: string;
  /** Owner of this server (page config `hubServerUser`, else `hubUser`). */
  user: string;
  /** Named server, or '' for the default server (page config `hubServerName`). */
  serverName: string;
}

/** Reads the hub info through a page-config getter such as PageConfig.getOption. */
export function hubInfoFrom(getOption: (name: string) => string): IHubInfo {
  return {
    hubHost: getOption('hubHost') || '',
    hubPrefix: getOption('hubPrefix') || '',
    user: getOption('hubServerUser') || getOption('hubUser') || '',
    serverName: getOption('hubServerName') || ''
  };
}

/** Whether this lab runs behind a JupyterHub at all. */
export function onHub(info: IHubInfo): boolean {
  return !!info.hubPrefix && !!info.user;
}

function hubUrl(info: IHubInfo, ...parts: string[]): string {
  const prefix = info.hubPrefix.endsWith('/') ? info.hubPrefix : info.hubPrefix + '/';
  const host = info.hubHost.replace(/\/+$/, '');
  return host + prefix + parts.join('/');
}

/** POST target: the in-place restart of this server. */
export function restartUrl(info: IHubInfo): string {
  const user = encodeURIComponent(info.user);
  if (info.serverName) {
    const server = encodeURIComponent(info.serverName);
    return hubUrl(info, 'api', 'users', user, 'servers', server, 'restart-server');
  }
  return hubUrl(info, 'api', 'users', user, 'restart-server');
}

/** GET target: the notice of a bulk restart of this server (any lab's token may read it). */
export function noticeUrl(info: IHubInfo): string {
  const user = encodeURIComponent(info.user);
  if (info.serverName) {
    const server = encodeURIComponent(info.serverName);
    return hubUrl(info, 'api', 'users', user, 'servers', server, 'restart-notice');
  }
  return hubUrl(info, 'api', 'users', user, 'restart-notice');
}

/** GET target: the token's own model, with the scopes it holds. */
export function whoAmIUrl(info: IHubInfo): string {
  return hubUrl(info, 'api', 'user');
}

/** The hub's home page, where its own restart dialog is. */
export function hubHomeUrl(info: IHubInfo): string {
  return hubUrl(info, 'home');
}

/** How to name this server in messages. */
export function serverLabel(info: IHubInfo): string {
  return info.serverName ? `server "${info.serverName}"` : 'your server';
}

/**
 * Whether a token holding these (expanded) scopes may restart this server in place.
 *
 * The hub expands the lab's token to `custom:resettable-spawner:restart!server=<user>/<name>`;
 * a broader grant of the same scope (unfiltered, or for the whole user) also counts.
 */
export function scopesAllowRestart(scopes: readonly string[], info: IHubInfo): boolean {
  const wanted = new Set([
    RESTART_SCOPE,
    `${RESTART_SCOPE}!user=${info.user}`,
    `${RESTART_SCOPE}!server=${info.user}/${info.serverName}`
  ]);
  return scopes.some(s => wanted.has(s));
}

/** What the user is told after a restart request, by outcome. */
export type RestartOutcome =
  | { kind: 'restarted'; seconds: number | null }
  /** The hub's config does not let the lab's token restart (HTTP 401/403). */
  | { kind: 'not-configured'; message: string }
  /** The hub has no in-place restart for this server (HTTP 404). */
  | { kind: 'unavailable'; message: string }
  /** A refusal the user can act on: wrong state, busy, rate-limited. */
  | { kind: 'refused'; message: string; retryAfter: number | null }
  /** The restart or the hub failed. */
  | { kind: 'failed'; message: string };

export const NOT_CONFIGURED_MESSAGE =
  "This hub does not let JupyterLab restart your server: the hub's configuration does not " +
  "give JupyterLab's token the restart scope. Your administrator can enable it (see " +
  '"Restart from JupyterLab" in resettable-spawner\'s README). Until then, restart ' +
  "from the hub's home page.";

/** Maps the hub's answer (status, parsed JSON body or null, Retry-After) to an outcome. */
export function outcomeOf(
  status: number,
  body: unknown,
  retryAfterHeader: string | null = null
): RestartOutcome {
  const model = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const hubMessage = typeof model.message === 'string' && model.message ? model.message : '';
  if (status >= 200 && status < 300) {
    const seconds = typeof model.duration_seconds === 'number' ? model.duration_seconds : null;
    return { kind: 'restarted', seconds };
  }
  if (status === 401 || status === 403) {
    return { kind: 'not-configured', message: NOT_CONFIGURED_MESSAGE };
  }
  if (status === 404) {
    return {
      kind: 'unavailable',
      message:
        "The hub has no in-place restart for this server (it answered 404). Restart it from the hub's home page."
    };
  }
  if (status === 409 || status === 429 || status === 400) {
    const retry = retryAfterHeader === null ? NaN : parseInt(retryAfterHeader, 10);
    return {
      kind: 'refused',
      message: hubMessage || `The hub refused the restart (HTTP ${status}).`,
      retryAfter: Number.isFinite(retry) ? retry : null
    };
  }
  if (hubMessage) {
    return { kind: 'failed', message: `The restart failed: ${hubMessage}` };
  }
  return {
    kind: 'failed',
    message: `The restart failed: the hub answered HTTP ${status}. Try again, or restart from the hub's home page.`
  };
}

/** The outcome when the request itself failed (network down, hub unreachable). */
export function networkFailure(error: unknown): RestartOutcome {
  const detail = error instanceof Error && error.message ? ` (${error.message})` : '';
  return {
    kind: 'failed',
    message: `The hub could not be reached${detail}. Check your connection and try again.`
  };
}
