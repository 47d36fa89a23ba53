// Run comparison (host side): one editor-area panel overlaying the loss and evaluation curves of two or more runs,
// with a legend of the settings that differ. State from the run folders (RunIndex); the runs' growth is forwarded
// as it happens (at most a few times a second per run). Restored after a reload from the webview's saved state.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CompareState, CompareToHost, HostToCompare } from '../../src/protocol';
import { assertNever } from '../../src/protocol';
import { describeRun } from '../commands/pickers';
import { configDifferences } from '../runs/monitorRows';
import type { RunIndex } from '../runs/runIndex';
import { runName, type RunListing } from '../runs/runStore';
import { readSweeps } from '../runs/sweeps';
import type { MonitorSweep } from '../../src/protocol';
import { UserError, type Studio } from '../studio';
import { pageHtml, webviewOptions } from './pageHtml';
import { reportError, TrainingPanel } from './panel';

const VIEW_TYPE = 'ulpt.compare';
/** Fewest milliseconds between two updates of one run's curves. */
const THROTTLE_MS = 400;

function isMessage(m: unknown): m is CompareToHost {
  if (!m || typeof m !== 'object') return false;
  const x = m as Record<string, unknown>;
  return x.type === 'ready' || (x.type === 'open' && typeof x.dir === 'string');
}

const BODY = `  <main id="app" data-testid="compare" data-ready="false" data-runs="0">
    <header class="title">
      <h1 id="title">Compare runs</h1>
      <label class="control">Smoothing <input type="range" id="smoothing" data-testid="smoothing" min="0" max="0.99" step="0.01" value="0.6"></label>
    </header>
    <table id="legend" class="legend" data-testid="legend" aria-label="The runs and the settings that differ between them"></table>
    <p id="shared" class="detail" data-testid="shared"></p>
    <section class="chart"><h2>Training loss</h2><div id="loss-chart" class="plot" data-testid="loss-chart" data-series="0"></div></section>
    <section class="chart"><h2>Evaluation loss</h2><div id="eval-loss-chart" class="plot" data-testid="eval-loss-chart" data-series="0"></div></section>
    <section class="chart"><h2 id="metric-title">Evaluation metric</h2>
      <label class="control">Metric <select id="metric" data-testid="metric"></select></label>
      <div id="metric-chart" class="plot" data-testid="metric-chart" data-series="0"></div></section>
  </main>`;

export class CompareView implements vscode.Disposable {
  private static current: CompareView | null = null;

  static register(context: vscode.ExtensionContext, studio: Studio, index: RunIndex): void {
    context.subscriptions.push(
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
        async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
          const dirs = ((state as Partial<CompareState> | undefined)?.dirs ?? []).filter((d) => typeof d === 'string' && fs.existsSync(d));
          if (dirs.length < 2) return panel.dispose();
          CompareView.current?.dispose();
          CompareView.current = new CompareView(studio, index, panel, dirs);
        },
      }),
      vscode.commands.registerCommand('ulpt.compareRuns', async (...args: unknown[]) => {
        try {
          const given = args.flat().map((a) => (a instanceof vscode.Uri ? a.fsPath : a)).filter((a): a is string => typeof a === 'string');
          const dirs = given.length ? given : await pickRuns(studio);
          if (dirs) CompareView.show(studio, index, dirs);
          return dirs;
        } catch (e) {
          await reportError(studio, e);
          return undefined;
        }
      }),
      vscode.commands.registerCommand('ulpt.compareSweep', async (...args: unknown[]) => {
        try {
          const given = args.flat().map((a) => (a instanceof vscode.Uri ? a.fsPath : a)).find((a): a is string => typeof a === 'string');
          const sweep = await pickSweep(given);
          if (!sweep) return undefined;
          const dirs = sweep.runs.filter((d) => fs.existsSync(d));
          if (dirs.length < 2) throw new UserError(`The sweep ${sweep.name} has ${dirs.length} run folder${dirs.length === 1 ? '' : 's'} so far; compare it once two of its runs have started.`);
          CompareView.show(studio, index, dirs);
          return dirs;
        } catch (e) {
          await reportError(studio, e);
          return undefined;
        }
      }),
      { dispose: () => CompareView.current?.dispose() },
    );
  }

  /** Shows the comparison of `dirs` (reusing the open comparison panel). */
  static show(studio: Studio, index: RunIndex, dirs: string[]): CompareView {
    const unique = [...new Set(dirs.map((d) => path.resolve(d)))];
    if (unique.length < 2) throw new UserError('Select at least two runs to compare.');
    const open = CompareView.current;
    if (open) {
      open.setRuns(unique);
      open.panel.reveal();
      return open;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, 'ULPT: Compare Runs', vscode.ViewColumn.Active, webviewOptions(studio.context.extensionUri));
    CompareView.current = new CompareView(studio, index, panel, unique);
    return CompareView.current;
  }

  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];
  private readonly lastSent = new Map<string, number>();
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private disposed = false;

  private constructor(private readonly studio: Studio, private readonly index: RunIndex, readonly panel: vscode.WebviewPanel, private dirs: string[]) {
    const ext = studio.context.extensionUri;
    panel.webview.options = webviewOptions(ext);
    panel.iconPath = vscode.Uri.joinPath(ext, 'media', 'panel.svg');
    panel.webview.html = pageHtml({ webview: panel.webview, extensionUri: ext, bundle: 'compare', title: 'Compare runs', body: BODY });
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      index.onDidChange((c) => {
        if (c.removed.some((d) => this.dirs.includes(d))) return this.postState();
        for (const d of c.changed) if (this.dirs.includes(d)) this.postRun(d);
      }),
    );
  }

  private setRuns(dirs: string[]): void {
    this.dirs = dirs;
    this.postState();
  }

  private post(m: HostToCompare): void {
    if (this.ready && !this.disposed) void this.panel.webview.postMessage(m);
  }

  private postState(): void {
    const runs = this.dirs.flatMap((d) => {
      const r = this.index.compareRun(d);
      return r ? [r] : [];
    });
    const { differences, shared } = configDifferences(runs.map((r) => this.index.get(r.dir)?.files.config ?? null));
    this.panel.title = `ULPT: ${runs.map((r) => r.name).join(' vs ')}`.slice(0, 80);
    this.post({ type: 'state', runs, differences, shared });
  }

  /** One run's curves, no more often than THROTTLE_MS (the last change always gets through). */
  private postRun(dir: string): void {
    if (this.pending.has(dir)) return;
    const wait = Math.max(0, (this.lastSent.get(dir) ?? 0) + THROTTLE_MS - Date.now());
    this.pending.set(dir, setTimeout(() => {
      this.pending.delete(dir);
      this.lastSent.set(dir, Date.now());
      const run = this.index.compareRun(dir);
      if (run) this.post({ type: 'run', run });
    }, wait));
  }

  private onMessage(raw: unknown): void {
    if (!isMessage(raw)) return;
    const m = raw;
    switch (m.type) {
      case 'ready':
        this.ready = true;
        this.postState();
        return;
      case 'open':
        TrainingPanel.show(this.studio, m.dir, vscode.ViewColumn.Beside);
        return;
      default:
        assertNever(m);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (CompareView.current === this) CompareView.current = null;
    for (const t of this.pending.values()) clearTimeout(t);
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}

/** Asks which runs to compare (two or more), most recent first. */
async function pickRuns(studio: Studio): Promise<string[] | undefined> {
  const runs: RunListing[] = studio.listRuns();
  if (runs.length < 2) throw new UserError(`Comparing needs two runs; this workspace has ${runs.length}.`);
  const picked = await vscode.window.showQuickPick(runs.map((r) => ({ ...describeRun(r), dir: r.dir })), {
    canPickMany: true, placeHolder: 'Compare which runs? (two or more)', matchOnDescription: true,
  });
  if (!picked) return undefined;
  if (picked.length < 2) throw new UserError(`Select at least two runs to compare (${picked.length === 1 ? runName(path.basename(picked[0].dir)) + ' alone' : 'none'} was selected).`);
  return picked.map((p) => p.dir);
}

/** The sweep a command names (its folder or its sweep.json), else the only one, else the user's choice. */
async function pickSweep(given: string | undefined): Promise<MonitorSweep | undefined> {
  const sweeps = readSweeps((vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath));
  if (given) {
    const dir = path.resolve(path.basename(given) === 'sweep.json' ? path.dirname(given) : given);
    const found = sweeps.find((s) => path.resolve(s.dir) === dir);
    if (!found) throw new UserError(`${given} is not a sweep of this workspace (a folder under .ulpt/sweeps with a sweep.json).`);
    return found;
  }
  if (!sweeps.length) throw new UserError('This workspace has no sweeps yet: `ulpt sweep --config FILE --grid KEY=V1,V2` makes one (see the README, "Sweeps").');
  if (sweeps.length === 1) return sweeps[0];
  const choice = await vscode.window.showQuickPick(sweeps.map((s) => ({ label: s.name, description: `${s.runs.length} runs`, detail: s.dir, sweep: s })), { title: 'Compare the runs of which sweep?' });
  return choice?.sweep;
}
