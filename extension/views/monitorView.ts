// The side-panel monitor (host side): the "Runs" webview view in the ULPT activity-bar container. It lists every run
// of the workspace from the run folders (RunIndex), sends the full list when the view (re)loads and one row each
// time a run changes, and carries out the rows' buttons.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { HostToMonitor, MonitorAction, MonitorToHost } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { runAdapter } from '../commands/adapters';
import type { RunIndex } from '../runs/runIndex';
import { readSweeps } from '../runs/sweeps';
import { runTitle } from '../runs/runStore';
import { UserError, type Studio } from '../studio';
import { CompareView } from './compareView';
import { pageHtml, webviewOptions } from './pageHtml';
import { reporting, TrainingPanel } from './panel';

const ACTIONS = new Set<MonitorAction>(['open', 'stop', 'resume', 'revealAdapter', 'saveAdapter', 'try', 'delete']);

function isMessage(m: unknown): m is MonitorToHost {
  if (!m || typeof m !== 'object') return false;
  const x = m as Record<string, unknown>;
  switch (x.type) {
    case 'ready':
    case 'train':
      return true;
    case 'action':
      return ACTIONS.has(x.action as MonitorAction) && typeof x.dir === 'string';
    case 'compare':
      return Array.isArray(x.dirs) && x.dirs.every((d) => typeof d === 'string');
    default:
      return false;
  }
}

const BODY = `  <main id="app" data-testid="monitor" data-ready="false">
    <div id="toolbar" class="toolbar" hidden>
      <span id="count" class="detail" data-testid="run-count"></span>
      <button id="compare" class="secondary" data-testid="compare" disabled title="Overlay the curves of the selected runs">Compare</button>
    </div>
    <ul id="runs" class="runs" data-testid="runs" aria-label="Training runs"></ul>
    <div id="empty" class="empty" data-testid="empty" hidden>
      <p>No training runs in this workspace yet.</p>
      <p class="detail">A run starts from a training config (<code>ulpt.config.json</code>), from the questions of <em>ULPT: Train Prompt Adapter…</em>, or from <code>ulpt train</code> in a terminal; it appears here as it runs.</p>
      <button id="train" data-testid="train">Train Prompt Adapter…</button>
    </div>
  </main>`;

export class MonitorView implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewType = 'ulpt.monitor';

  static register(context: vscode.ExtensionContext, studio: Studio, index: RunIndex): MonitorView {
    const view = new MonitorView(studio, index);
    context.subscriptions.push(view, vscode.window.registerWebviewViewProvider(MonitorView.viewType, view));
    return view;
  }

  private view: vscode.WebviewView | null = null;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];
  private viewDisposables: vscode.Disposable[] = [];

  private constructor(private readonly studio: Studio, private readonly index: RunIndex) {
    this.disposables.push(
      index.onDidChange((c) => {
        if (c.added.length || c.removed.length) return this.postAll();
        for (const dir of c.changed) {
          const run = index.row(dir);
          if (run) this.post({ type: 'run', run });
        }
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    for (const d of this.viewDisposables.splice(0)) d.dispose();
    this.view = view;
    this.ready = false;
    const ext = this.studio.context.extensionUri;
    view.webview.options = webviewOptions(ext);
    view.webview.html = pageHtml({ webview: view.webview, extensionUri: ext, bundle: 'monitor', title: 'ULPT Runs', body: BODY });
    this.viewDisposables.push(
      view.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      // A hidden view's page is torn down; it sends `ready` again when shown.
      view.onDidChangeVisibility(() => {
        if (!view.visible) this.ready = false;
      }),
      view.onDidDispose(() => {
        this.view = null;
        this.ready = false;
      }),
    );
  }

  private post(m: HostToMonitor): void {
    if (this.view && this.ready) void this.view.webview.postMessage(m);
  }

  private postAll(): void {
    // Sweeps are read with the list: a sweep's first run folder appearing is what posts the list again.
    const sweeps = readSweeps((vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath));
    this.post({ type: 'runs', runs: this.index.rows(), sweeps, workspace: (vscode.workspace.workspaceFolders?.length ?? 0) > 0 });
  }

  private onMessage(raw: unknown): void {
    if (!isMessage(raw)) return;
    const m = raw;
    const run = (f: () => unknown) => reporting(this.studio, f);
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.postAll();
        return;
      case 'action':
        void run(() => this.act(m.action, m.dir));
        return;
      case 'compare':
        void run(() => CompareView.show(this.studio, this.index, m.dirs));
        return;
      case 'train':
        void run(() => vscode.commands.executeCommand('ulpt.train'));
        return;
      default:
        assertNever(m);
    }
  }

  private async act(action: MonitorAction, dir: string): Promise<void> {
    const name = runTitle(dir);
    switch (action) {
      case 'open':
        TrainingPanel.show(this.studio, dir);
        return;
      case 'stop': {
        // Whoever started it: a session of this window follows every run a live process trains (or attaches now).
        const session = this.studio.manager.get(dir) ?? this.studio.manager.attach(dir);
        if (!session) throw new UserError(`${name} is not training any more.`);
        return this.studio.stop(session);
      }
      case 'resume':
        await vscode.commands.executeCommand('ulpt.resume', dir);
        return;
      case 'revealAdapter': {
        const a = runAdapter(dir);
        if (!a) throw new UserError(`${name} has no adapter yet: it appears after the first evaluation, or when the run ends.`);
        await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(a.file));
        return;
      }
      case 'saveAdapter':
        await vscode.commands.executeCommand('ulpt.saveAdapter', dir);
        return;
      case 'try':
        await vscode.commands.executeCommand('ulpt.tryAdapter', dir);
        return;
      case 'delete':
        return this.deleteRun(dir, name);
      default:
        assertNever(action);
    }
  }

  private async deleteRun(dir: string, name: string): Promise<void> {
    const row = this.index.row(dir);
    if (row && (row.status === 'running' || row.status === 'stopping')) {
      throw new UserError(`${name} is ${row.status}; stop it before deleting it.`);
    }
    const adapters = row?.adapters.best || row?.adapters.final ? ' and its adapters' : '';
    const choice = await vscode.window.showWarningMessage(
      `Delete the run ${name}?`,
      { modal: true, detail: `Its folder ${vscode.workspace.asRelativePath(dir)} — metrics, checkpoint${adapters} — is removed from disk. Adapters already saved into the project stay. This cannot be undone.` },
      'Delete',
    );
    if (choice !== 'Delete') return;
    TrainingPanel.get(dir)?.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
    this.studio.output.info(`deleted run folder ${dir}`);
  }

  dispose(): void {
    for (const d of [...this.viewDisposables.splice(0), ...this.disposables.splice(0)]) d.dispose();
  }
}
