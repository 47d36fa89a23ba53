// The training panel (host side): one webview panel per run folder. The webview asks for the full state with
// `ready` each time it loads (first open, shown again after being hidden, window reload); the host reads it from
// the run folder and then forwards deltas: new metrics lines (RunFollower) and status changes (the live session).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { HostToWebview, PanelState, RunHeader, WebviewToHost } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { isInternalError } from '../../src/train/runFolder';
import { exportCsv, saveAdapter } from '../commands/adapters';
import { makeNonce, panelHtml } from './panelHtml';
import { readRunFiles, RunFollower, runHeader, runTitle, type FollowEvent } from '../runs/runStore';
import { notificationText } from '../runs/format';
import type { TrainingSession } from '../runs/session';
import { UserError, type Studio } from '../studio';

const VIEW_TYPE = 'ulpt.trainingPanel';
const MESSAGE_TYPES = new Set<WebviewToHost['type']>(['ready', 'stop', 'resume', 'saveAdapter', 'tryAdapter', 'exportCsv', 'showLog']);

function isWebviewMessage(m: unknown): m is WebviewToHost {
  return !!m && typeof m === 'object' && MESSAGE_TYPES.has((m as { type: WebviewToHost['type'] }).type);
}

export class TrainingPanel implements vscode.Disposable {
  private static readonly panels = new Map<string, TrainingPanel>();

  /** The serializer (restores panels after a reload) and the hook that lets a started run show its panel. */
  static register(context: vscode.ExtensionContext, studio: Studio): vscode.Disposable {
    studio.showPanel = (runDir) => TrainingPanel.show(studio, runDir);
    const serializer = vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
        const runDir = (state as Partial<PanelState> | undefined)?.runDir;
        if (!runDir || !fs.existsSync(runDir)) {
          // The run folder was deleted (or the state is from another version): nothing to restore.
          panel.dispose();
          return;
        }
        TrainingPanel.adopt(studio, panel, path.resolve(runDir));
      },
    });
    const all = { dispose: () => [...TrainingPanel.panels.values()].forEach((p) => p.dispose()) };
    context.subscriptions.push(serializer, all);
    return vscode.Disposable.from(serializer, all);
  }

  static show(studio: Studio, runDir: string, column = vscode.ViewColumn.Active): TrainingPanel {
    const key = path.resolve(runDir);
    const open = TrainingPanel.panels.get(key);
    if (open) {
      open.panel.reveal(column);
      return open;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, `ULPT: ${runTitle(key)}`, column, TrainingPanel.options(studio));
    return TrainingPanel.adopt(studio, panel, key);
  }

  static get(runDir: string): TrainingPanel | undefined {
    return TrainingPanel.panels.get(path.resolve(runDir));
  }

  private static options(studio: Studio): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      // Only the bundles in dist/; nothing from the workspace or the network.
      localResourceRoots: [vscode.Uri.joinPath(studio.context.extensionUri, 'dist')],
      enableFindWidget: false,
    };
  }

  private static adopt(studio: Studio, panel: vscode.WebviewPanel, runDir: string): TrainingPanel {
    const p = new TrainingPanel(studio, panel, runDir);
    TrainingPanel.panels.set(runDir, p);
    return p;
  }

  private ready = false;
  private readonly follower: RunFollower;
  private readonly disposables: vscode.Disposable[] = [];
  private sessionListener: { dispose(): void } | null = null;
  private disposed = false;

  private constructor(private readonly studio: Studio, readonly panel: vscode.WebviewPanel, readonly runDir: string) {
    panel.webview.options = TrainingPanel.options(studio);
    panel.iconPath = vscode.Uri.joinPath(studio.context.extensionUri, 'media', 'panel.svg');
    panel.webview.html = this.html();
    this.follower = new RunFollower(runDir, (e) => this.onFollow(e));
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      // Hidden webviews are torn down (no retainContextWhenHidden); the page sends `ready` again when shown.
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      studio.manager.onDidStart((s) => s.runDir === runDir && this.attach(s)),
    );
    const live = studio.manager.get(runDir);
    if (live) this.attach(live);
  }

  private html(): string {
    const dist = vscode.Uri.joinPath(this.studio.context.extensionUri, 'dist');
    const w = this.panel.webview;
    return panelHtml({
      cspSource: w.cspSource,
      nonce: makeNonce(),
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
      styleUri: w.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css')).toString(),
      runDir: this.runDir,
      title: runTitle(this.runDir),
    });
  }

  /** Follows a live session of this run: its steps make the follower read at once, its state changes the status. */
  private attach(session: TrainingSession): void {
    this.sessionListener?.dispose();
    this.sessionListener = session.on((e) => {
      if (e.kind === 'message') {
        const t = e.message.type;
        if (t === 'step' || t === 'eval' || t === 'baseline') this.follower.poll();
        if (t === 'started' || t === 'step' || t === 'adapter' || t === 'finished') this.postStatus();
      } else if (e.kind === 'state') {
        this.postStatus();
      } else if (e.kind === 'ended') {
        this.sessionListener = null;
        this.follower.poll();
        this.postStatus();
      }
    });
    this.postStatus();
  }

  private header(): RunHeader {
    const session = this.studio.manager.get(this.runDir);
    const liveStatus = session ? (session.state === 'stopping' ? 'stopping' : session.state === 'running' ? 'running' : null) : null;
    const header = runHeader(this.runDir, readRunFiles(this.runDir), this.follower.points().lastStep, liveStatus);
    // The tab follows the name (a run's config.json, and so its method, may appear after the panel opened).
    const title = `ULPT: ${header.name}`;
    if (this.panel.title !== title) this.panel.title = title;
    return header;
  }

  private post(m: HostToWebview): void {
    if (!this.ready || this.disposed) return;
    void this.panel.webview.postMessage(m);
  }

  private postState(): void {
    this.follower.reload();
    const { train, eval: evals, baseline } = this.follower.points();
    this.post({ type: 'state', run: this.header(), train, eval: evals, baseline });
  }

  private postStatus(): void {
    this.post({ type: 'status', run: this.header() });
  }

  private onFollow(e: FollowEvent): void {
    if (e.reset) return this.postState();
    const { train, eval: evals, baseline } = e.points;
    if (train.length || evals.length || baseline) this.post({ type: 'points', train, eval: evals, baseline });
    if (e.filesChanged || evals.length) this.postStatus();
  }

  private onMessage(raw: unknown): void {
    if (!isWebviewMessage(raw)) return;
    const m = raw;
    const run = (f: () => unknown) => reporting(this.studio, f);
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.postState();
        return;
      case 'stop':
        void run(() => {
          // A run this window does not follow yet (the panel came back before the scan that attaches to live runs)
          // is attached now, as the monitor does: Stop then works through the run folder whoever started it.
          const session = this.studio.manager.get(this.runDir) ?? this.studio.manager.attach(this.runDir);
          if (session) this.studio.stop(session);
          this.postStatus();
          if (!session) throw new UserError(`${runTitle(this.runDir)} is not training any more.`);
        });
        return;
      case 'resume':
        void run(() => vscode.commands.executeCommand('ulpt.resume', this.runDir));
        return;
      case 'saveAdapter':
        void run(() => saveAdapter(this.studio, this.runDir));
        return;
      case 'tryAdapter':
        void run(() => vscode.commands.executeCommand('ulpt.tryAdapter', this.runDir));
        return;
      case 'exportCsv':
        void run(() => exportCsv(this.studio, this.runDir));
        return;
      case 'showLog':
        this.studio.output.show(true);
        return;
      default:
        assertNever(m);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    TrainingPanel.panels.delete(this.runDir);
    this.follower.dispose();
    this.sessionListener?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** A message as one log line: "x.json has problems: steps: must be >= 1; lr: must be > 0". */
export function oneLine(message: string): string {
  const [first, ...rest] = message.split('\n').map((l) => l.trim()).filter(Boolean);
  return rest.length ? `${first} ${rest.join('; ')}` : first ?? '';
}

/**
 * Shows an error to the user and logs it. Problems with what the user gave (a config, a dataset, a busy run…) are
 * logged as one readable line; only a fault in the program (TypeError and the like) gets its stack in the log.
 */
/** Runs what a webview message asked for; a failure is reported (see reportError), never thrown. */
export async function reporting(studio: Studio, f: () => unknown): Promise<void> {
  try {
    await f();
  } catch (e) {
    await reportError(studio, e);
  }
}

export async function reportError(studio: Studio, e: unknown): Promise<void> {
  const err = e instanceof Error ? e : new Error(String(e));
  studio.output.error(isInternalError(err) ? err.stack ?? err.message : oneLine(err.message));
  if (e instanceof UserError) {
    const choice = await vscode.window.showErrorMessage(`ULPT: ${notificationText(e.message)}`, ...e.actions.map((a) => a.title));
    await e.actions.find((a) => a.title === choice)?.run();
    return;
  }
  const choice = await vscode.window.showErrorMessage(`ULPT: ${notificationText(err.message)}`, 'Show Log');
  if (choice === 'Show Log') studio.output.show(true);
}
