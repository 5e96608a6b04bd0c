import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  Dialog,
  ICommandPalette,
  ISessionContext,
  Notification,
  showDialog
} from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import {
  FAILED_POLL_MS,
  INoticeAnswer,
  IOpenDocument,
  Phase,
  RESTARTING_MESSAGE,
  documentsToSave,
  endedMessage,
  nextStep,
  noticeMessage,
  pollDelayMs,
  restartedMessage,
  savedText,
  secondsLeft
} from './notice';
import {
  IHubInfo,
  NOT_CONFIGURED_MESSAGE,
  RestartOutcome,
  hubHomeUrl,
  hubInfoFrom,
  networkFailure,
  noticeUrl,
  onHub,
  outcomeOf,
  restartUrl,
  scopesAllowRestart,
  serverLabel,
  whoAmIUrl
} from './restart';

export const COMMAND_ID = 'resettable-spawner:restart-server';
const PLUGIN_ID = 'resettable-spawner-labextension:plugin';

/** How long the restart request may take: the hub's restart_timeout plus http_timeout, with room. */
const RESTART_REQUEST_TIMEOUT_MS = 300_000;
/** How long to wait for this server to answer through the proxy after the hub's 200. */
const READY_TIMEOUT_MS = 60_000;
/** Connection failures are still ignored this long after the server answered again. */
const SETTLE_MS = 3_000;

class RestartError extends Error {
  constructor(readonly outcome: RestartOutcome) {
    super('message' in outcome ? outcome.message : 'Restart failed');
  }
}

async function hubFetch(
  url: string,
  init: RequestInit,
  timeoutMs: number
): Promise<Response> {
  const token = PageConfig.getToken();
  const headers = new Headers(init.headers);
  if (token) {
    headers.set('Authorization', `token ${token}`);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    // The token authenticates; the hub's cookie (path /hub/) is not sent, so the
    // hub needs no XSRF token and acts with the token's scopes only.
    return await fetch(url, {
      ...init,
      headers,
      credentials: 'omit',
      cache: 'no-store',
      signal: controller.signal
    });
  } finally {
    clearTimeout(timer);
  }
}

/** true or false when the hub said which scopes the lab's token holds; null when unknown. */
async function tokenMayRestart(info: IHubInfo): Promise<boolean | null> {
  try {
    const response = await hubFetch(whoAmIUrl(info), { method: 'GET' }, 15_000);
    if (!response.ok) {
      return null;
    }
    const model = await response.json();
    if (!Array.isArray(model.scopes)) {
      return null;
    }
    return scopesAllowRestart(model.scopes, info);
  } catch {
    return null;
  }
}

async function requestRestart(info: IHubInfo): Promise<RestartOutcome> {
  let response: Response;
  try {
    response = await hubFetch(
      restartUrl(info),
      { method: 'POST', headers: { Accept: 'application/json' } },
      RESTART_REQUEST_TIMEOUT_MS
    );
  } catch (error) {
    return networkFailure(error);
  }
  let body: unknown = null;
  try {
    body = await response.json();
  } catch {
    // a proxy's error page, or no body
  }
  return outcomeOf(response.status, body, response.headers.get('Retry-After'));
}

/** Waits until this server answers again through the proxy, as the lab reaches it. */
async function waitForServer(settings: ServerConnection.ISettings): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const url = settings.baseUrl + 'api/status';
  while (Date.now() < deadline) {
    try {
      const response = await ServerConnection.makeRequest(
        url,
        { cache: 'no-store' },
        settings
      );
      if (response.ok) {
        return;
      }
    } catch {
      // not yet
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
  throw new RestartError({
    kind: 'failed',
    message:
      'The hub restarted the server, but this page could not reach it again. Reload the page.'
  });
}

function restartBody(info: IHubInfo): Widget {
  const body = document.createElement('div');
  body.className = 'rs-restart-dialog-body';
  const what = info.serverName ? `Server "${info.serverName}" restarts` : 'Your server restarts';
  body.innerHTML = `
    <p></p>
    <p><strong>Kept:</strong></p>
    <ul>
      <li>all files, in your home directory and elsewhere in the container</li>
      <li>your volumes and the container itself</li>
      <li>this JupyterLab tab: it carries on when the server is back, and open
        notebooks get fresh kernels</li>
    </ul>
    <p><strong>Lost:</strong></p>
    <ul>
      <li>running kernels, with their variables and outputs not yet saved</li>
      <li>running terminals and other processes</li>
      <li>unsaved changes that are not saved first (below)</li>
    </ul>`;
  (body.firstElementChild as HTMLElement).textContent =
    `${what} in place, in the same container. This takes a few seconds.`;
  return new Widget({ node: body });
}

async function explainNotConfigured(info: IHubInfo, message: string): Promise<void> {
  const body = document.createElement('div');
  body.className = 'rs-not-configured-body';
  const p = document.createElement('p');
  p.textContent = message;
  body.appendChild(p);
  const result = await showDialog({
    title: 'Restart from JupyterLab is not set up',
    body: new Widget({ node: body }),
    buttons: [
      Dialog.cancelButton({ label: 'Close' }),
      Dialog.okButton({ label: 'Open Hub Page' })
    ]
  });
  if (result.button.accept) {
    window.open(hubHomeUrl(info), '_blank');
  }
}

/** Silences the lab's connection-lost dialogs while our restart runs. */
function guardConnectionFailure(app: JupyterFrontEnd, suppressed: () => boolean): void {
  // JupyterLab's ServiceManager emits connectionFailure on network errors and on 503 or
  // 424 answers, which the proxy gives while the container restarts; JupyterLab (or
  // JupyterHub's lab extension) then offers a "Server unavailable" dialog whose
  // "Restart" opens /hub/spawn in a new tab. During our restart that is expected.
  const signal = app.serviceManager.connectionFailure as unknown as {
    emit?: (error: Error) => void;
  };
  if (typeof signal.emit !== 'function') {
    return;
  }
  const emit = signal.emit.bind(signal);
  signal.emit = (error: Error) => {
    if (suppressed()) {
      console.debug('resettable-spawner: connection failure during restart ignored', error);
      return;
    }
    emit(error);
  };
}

async function refreshAfterRestart(
  app: JupyterFrontEnd,
  browser: IDefaultFileBrowser | null
): Promise<void> {
  const services = app.serviceManager;
  const refreshes: Promise<unknown>[] = [
    services.kernelspecs.refreshSpecs(),
    services.sessions.refreshRunning(),
    services.kernels.refreshRunning()
  ];
  if (services.terminals.isAvailable()) {
    refreshes.push(services.terminals.refreshRunning());
  }
  if (browser) {
    refreshes.push(browser.model.refresh());
  }
  const results = await Promise.allSettled(refreshes);
  for (const r of results) {
    if (r.status === 'rejected') {
      console.warn('resettable-spawner: refresh after restart failed', r.reason);
    }
  }
}

interface IKernelToRestore {
  context: ISessionContext;
  name: string;
}

/** Open notebooks and consoles with a kernel, to give them a fresh one afterwards. */
function kernelsInUse(app: JupyterFrontEnd): IKernelToRestore[] {
  const found: IKernelToRestore[] = [];
  for (const widget of app.shell.widgets('main')) {
    const context = (widget as { sessionContext?: ISessionContext }).sessionContext;
    const name = context?.session?.kernel?.name;
    if (context && name && typeof context.changeKernel === 'function') {
      found.push({ context, name });
    }
  }
  return found;
}

/** Starts a fresh kernel, of the same kind, where the restart took one away. */
async function restoreKernels(kernels: IKernelToRestore[]): Promise<number> {
  const started = await Promise.all(
    kernels.map(async ({ context, name }) => {
      if (context.isDisposed || context.session) {
        return false;
      }
      try {
        await context.changeKernel({ name });
        return true;
      } catch (error) {
        console.warn(`resettable-spawner: could not start a ${name} kernel`, error);
        return false;
      }
    })
  );
  return started.filter(Boolean).length;
}

/** The part of a document widget's context that saving needs. */
interface IDocumentContext {
  path: string;
  isDisposed: boolean;
  model: { dirty: boolean; readOnly: boolean };
  contentsModel: { writable?: boolean } | null;
  save(): Promise<void>;
}

/** The open documents of the main area (notebooks, files), with their contexts. */
function openDocuments(app: JupyterFrontEnd): (IOpenDocument & { context: IDocumentContext })[] {
  const found: (IOpenDocument & { context: IDocumentContext })[] = [];
  for (const widget of app.shell.widgets('main')) {
    const context = (widget as { context?: IDocumentContext }).context;
    if (!context || context.isDisposed || !context.model || typeof context.save !== 'function') {
      continue;
    }
    found.push({
      path: context.path,
      dirty: context.model.dirty,
      writable: !context.model.readOnly && context.contentsModel?.writable !== false,
      context
    });
  }
  return found;
}

/** Saves every open document with unsaved changes; the paths saved and those that failed. */
async function saveDocuments(app: JupyterFrontEnd): Promise<{ saved: string[]; failed: string[] }> {
  const saved: string[] = [];
  const failed: string[] = [];
  for (const doc of documentsToSave(openDocuments(app))) {
    try {
      await doc.context.save();
      saved.push(doc.path);
    } catch (error) {
      console.warn(`resettable-spawner: could not save ${doc.path}`, error);
      failed.push(doc.path);
    }
  }
  return { saved, failed };
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Restart this JupyterHub server in place, from inside JupyterLab.',
  autoStart: true,
  optional: [ICommandPalette, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    browser: IDefaultFileBrowser | null
  ) => {
    const info = hubInfoFrom(name => PageConfig.getOption(name));
    let restarting = false;
    let settleUntil = 0;
    // An administrator's bulk restart of this server, once its notice has run out.
    let restartedByAdmin = false;
    guardConnectionFailure(app, () => restarting || restartedByAdmin || Date.now() < settleUntil);

    const restart = async (saveFirst: boolean): Promise<number> => {
      if (saveFirst) {
        const { failed } = await saveDocuments(app);
        if (failed.length) {
          throw new RestartError({
            kind: 'failed',
            message: `Could not save ${failed.join(', ')}; nothing was restarted.`
          });
        }
      }
      const kernels = kernelsInUse(app);
      const outcome = await requestRestart(info);
      if (outcome.kind !== 'restarted') {
        throw new RestartError(outcome);
      }
      await waitForServer(app.serviceManager.serverSettings);
      await refreshAfterRestart(app, browser);
      return restoreKernels(kernels);
    };

    app.commands.addCommand(COMMAND_ID, {
      label: 'Restart Server in Place',
      caption: 'Restart this server in its container; files stay, kernels restart',
      isVisible: () => onHub(info),
      isEnabled: () => onHub(info) && !restarting && !restartedByAdmin,
      execute: async () => {
        if (!onHub(info) || restarting || restartedByAdmin) {
          return;
        }
        if ((await tokenMayRestart(info)) === false) {
          await explainNotConfigured(info, NOT_CONFIGURED_MESSAGE);
          return;
        }
        const answer = await showDialog({
          title: info.serverName
            ? `Restart server "${info.serverName}" in place?`
            : 'Restart your server in place?',
          body: restartBody(info),
          buttons: [
            Dialog.cancelButton(),
            Dialog.warnButton({ label: 'Restart' })
          ],
          checkbox: {
            label: 'Save open documents first',
            caption: 'Save every open document with unsaved changes, then restart',
            checked: true,
            className: 'rs-save-first'
          },
          defaultButton: 1
        });
        if (!answer.button.accept) {
          return;
        }
        restarting = true;
        app.commands.notifyCommandChanged(COMMAND_ID);
        const started = Date.now();
        const done = restart(answer.isChecked !== false);
        Notification.promise(done, {
          pending: {
            message: `Restarting ${serverLabel(info)} in place…`,
            options: { autoClose: false }
          },
          success: {
            message: (result: unknown) => {
              const fresh = typeof result === 'number' ? result : 0;
              const seconds = ((Date.now() - started) / 1000).toFixed(1);
              const kernels =
                fresh === 0
                  ? ''
                  : fresh === 1
                    ? ' 1 open notebook or console has a fresh kernel.'
                    : ` ${fresh} open notebooks and consoles have fresh kernels.`;
              return `Restarted ${serverLabel(info)} in ${seconds} s.${kernels}`;
            },
            options: { autoClose: 8000 }
          },
          error: {
            message: (error: unknown) =>
              error instanceof Error ? error.message : String(error),
            options: { autoClose: false }
          }
        });
        try {
          await done;
        } catch (error) {
          if (
            error instanceof RestartError &&
            (error.outcome.kind === 'not-configured' || error.outcome.kind === 'unavailable')
          ) {
            await explainNotConfigured(info, error.outcome.message);
          }
        } finally {
          restarting = false;
          settleUntil = Date.now() + SETTLE_MS;
          app.commands.notifyCommandChanged(COMMAND_ID);
        }
      }
    });

    if (palette) {
      palette.addItem({ command: COMMAND_ID, category: 'Hub' });
    }

    // --- a bulk restart by an administrator: its notice, then the restart ---------
    //
    // The hub says so at GET .../restart-notice, which any lab's token may read. The lab
    // asks every poll_seconds (10 s) while nothing is going on, counts down locally to
    // the hub's deadline, and follows the restart once it has begun. The restart starts
    // when the notice runs out, whatever the lab does.
    let following: string | null = null;
    let phase: Phase = 'idle';
    let deadline = 0;
    let noteId: string | null = null;
    let saved = '';
    let ticker: number | undefined;
    let kernels: IKernelToRestore[] = [];
    let restartBegan = 0;

    const note = (message: string, type: 'warning' | 'in-progress' | 'success' | 'info' | 'error',
      actions: Notification.IAction[] = [], autoClose: number | false = false) => {
      if (noteId === null) {
        noteId = Notification.emit(message, type, { autoClose, actions });
      } else {
        Notification.update({ id: noteId, message, type, autoClose, actions });
      }
    };

    const saveAll: Notification.IAction = {
      label: 'Save all',
      caption: 'Save every open document with unsaved changes',
      displayType: 'accent',
      callback: (event: MouseEvent) => {
        event.preventDefault(); // the notice stays, with its countdown
        void saveDocuments(app).then(({ saved: done, failed }) => {
          saved = savedText(done.length, failed);
          showCountdown();
        });
      }
    };

    const showCountdown = () => {
      const left = secondsLeft(deadline, Date.now());
      if (left === 0) {
        beginRestart();
        return;
      }
      note(noticeMessage(left, saved), 'warning', [saveAll]);
    };

    const beginRestart = () => {
      if (phase === 'restarting') {
        return;
      }
      phase = 'restarting';
      window.clearInterval(ticker);
      restartedByAdmin = true;
      kernels = kernelsInUse(app);
      restartBegan = Date.now();
      note(RESTARTING_MESSAGE, 'in-progress');
      app.commands.notifyCommandChanged(COMMAND_ID);
    };

    const endRestart = async (state: string) => {
      phase = 'idle';
      window.clearInterval(ticker);
      try {
        if (state === 'done' || state === 'unknown') {
          await waitForServer(app.serviceManager.serverSettings);
          await refreshAfterRestart(app, browser);
          const fresh = await restoreKernels(kernels);
          note(restartedMessage((Date.now() - restartBegan) / 1000, fresh), 'success', [], 8000);
        } else {
          note(endedMessage(state), state === 'failed' ? 'error' : 'info', [], 8000);
        }
      } catch (error) {
        note(error instanceof Error ? error.message : String(error), 'error');
      } finally {
        noteId = null;
        saved = '';
        restartedByAdmin = false;
        settleUntil = Date.now() + SETTLE_MS;
        app.commands.notifyCommandChanged(COMMAND_ID);
      }
    };

    const onAnswer = async (answer: INoticeAnswer) => {
      const step = nextStep(answer.notice, following, phase, Date.now());
      if (step.kind === 'countdown') {
        if (following !== step.bulk || phase !== 'countdown') {
          following = step.bulk;
          phase = 'countdown';
          saved = '';
          window.clearInterval(ticker);
          ticker = window.setInterval(showCountdown, 1000);
        }
        deadline = step.deadline;
        showCountdown();
      } else if (step.kind === 'restarting') {
        following = step.bulk;
        beginRestart();
      } else if (step.kind === 'ended') {
        await endRestart(step.state);
      }
    };

    const pollNotice = async () => {
      let delay = FAILED_POLL_MS;
      try {
        const response = await hubFetch(noticeUrl(info), { method: 'GET' }, 15_000);
        if (response.status === 403 || response.status === 404) {
          // A hub without bulk restarts, or a token that may not read the notice.
          console.info(`resettable-spawner: no restart notices from this hub (HTTP ${response.status})`);
          return;
        }
        if (response.ok) {
          const answer = (await response.json()) as INoticeAnswer;
          await onAnswer(answer);
          delay = pollDelayMs(answer.poll_seconds, phase, secondsLeft(deadline, Date.now()));
        } else if (phase === 'restarting') {
          delay = 1000;
        }
      } catch (error) {
        console.debug('resettable-spawner: asking for a restart notice failed', error);
        if (phase === 'restarting') {
          delay = 1000;
        }
      }
      window.setTimeout(() => void pollNotice(), delay);
    };

    if (onHub(info)) {
      void pollNotice();
    }
  }
};

export default plugin;
