// The runs of the workspace for the monitor and the comparison panel: a RunsWatcher over every workspace folder's
// `.ulpt/runs`, plus what only this window knows (its trainer sessions: who trains a run, the trainer's own ETA).
// Emits the run folders that appeared, changed or went away; rows are built on demand from the last read.
import * as vscode from 'vscode';
import type { CompareRun, MonitorRun } from '../../src/protocol';
import { runActivity, type Activity } from './liveStatus';
import { compareRun, monitorRun } from './monitorRows';
import { RunsWatcher, type RunsChange, type WatchedRun } from './runsWatcher';
import type { Studio } from '../studio';

export class RunIndex implements vscode.Disposable {
  static register(context: vscode.ExtensionContext, studio: Studio): RunIndex {
    const index = new RunIndex(studio);
    context.subscriptions.push(index);
    return index;
  }

  private readonly watcher: RunsWatcher;
  private readonly emitter = new vscode.EventEmitter<RunsChange>();
  /** Fires after the run folders changed on disk or a session of this window changed state. */
  readonly onDidChange = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [];
  private recheck: NodeJS.Timeout | null = null;

  private constructor(private readonly studio: Studio) {
    this.watcher = new RunsWatcher(this.roots(), (c) => this.changed(c));
    const m = studio.manager;
    this.disposables.push(
      this.emitter,
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.watcher.setRoots(this.roots())),
      // Trusted after opening in Restricted Mode: follow what trains now, as a trusted window does from the start.
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.followLiveRuns(this.runs().map((r) => r.dir))),
      // A session's status (running → stopping → ended) changes without a file changing.
      m.onDidStart((s) => this.watcher.refresh(s.runDir)),
      m.onEvent((s, e) => {
        if (e.kind === 'state' || e.kind === 'ended' || (e.kind === 'message' && e.message.type === 'started')) this.watcher.refresh(s.runDir);
      }),
    );
    this.scheduleRecheck();
  }

  private roots(): string[] {
    return (vscode.workspace.workspaceFolders ?? []).map((f) => this.studio.runsDir(f.uri.fsPath));
  }

  private changed(c: RunsChange): void {
    this.followLiveRuns([...c.added, ...c.changed]);
    this.emitter.fire(c);
    this.scheduleRecheck();
  }

  /**
   * A run another process trains (a terminal's `ulpt train`, another window) gets a session here as soon as its
   * files say so — the status bar, Stop and the finished notification depend on it. A second path beside the
   * studio's lock.json watcher, which a window trusted after it opened in Restricted Mode did not serve.
   */
  private followLiveRuns(dirs: string[]): void {
    for (const dir of dirs) {
      const run = this.watcher.get(dir);
      if (run?.files.owner?.state === 'alive' && !this.studio.manager.get(dir)) this.studio.manager.attach(dir);
    }
  }

  /** Who trains a run, and its status: the seam in liveStatus.ts. */
  activity(run: WatchedRun): Activity {
    return runActivity(run.files, run.lastStep, this.studio.manager.get(run.dir) ?? null);
  }

  runs(): WatchedRun[] {
    return this.watcher.runs();
  }

  get(dir: string): WatchedRun | undefined {
    return this.watcher.get(dir);
  }

  rows(): MonitorRun[] {
    return this.runs().map((r) => this.toRow(r));
  }

  row(dir: string): MonitorRun | null {
    const r = this.get(dir);
    return r ? this.toRow(r) : null;
  }

  compareRun(dir: string): CompareRun | null {
    const r = this.get(dir);
    return r ? compareRun(r, this.activity(r)) : null;
  }

  private toRow(r: WatchedRun): MonitorRun {
    const session = this.studio.manager.get(r.dir);
    return monitorRun(r, this.activity(r), session?.lastStep?.etaMs ?? null);
  }

  /**
   * Whether another process still trains a run can change without a file changing (its process died): re-read
   * those runs when their answer is due (one timer for the earliest, none when no run is in that state).
   */
  private scheduleRecheck(): void {
    if (this.recheck) clearTimeout(this.recheck);
    this.recheck = null;
    const due = this.runs().map((r) => ({ dir: r.dir, at: this.activity(r).recheckAt })).filter((x): x is { dir: string; at: number } => x.at !== null);
    if (!due.length) return;
    const at = Math.min(...due.map((d) => d.at));
    this.recheck = setTimeout(() => {
      this.recheck = null;
      const now = Date.now();
      for (const d of due) if (d.at <= now + 50) this.watcher.refresh(d.dir);
    }, Math.max(0, at - Date.now()) + 100);
  }

  dispose(): void {
    if (this.recheck) clearTimeout(this.recheck);
    this.watcher.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
