// What the commands, the task provider, the panel and the status bar share: the trainer sessions of this window,
// the "ULPT" output channel, the settings, and the one place where a training run is started.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { BackendName } from '../src/backend';
import schema from '../src/config.schema.json';
import type { Engine, TrainConfig } from '../src/config';
import { describeAdapterFile } from '../src/io/adapter';
import { freeFileName } from './commands/wizardText';
import { failureLines, messageLines } from './runs/format';
import { trainerLaunch, type LaunchSettings } from './runs/launch';
import { listRuns, RUNS_DIR, type RunListing } from './runs/runStore';
import { RunManager, type TrainingSession } from './runs/session';
import { createFileExclusive } from '../src/io/atomic';

/** A problem the user can fix: shown as it is, without a stack in the log. */
export class UserError extends Error {
  override name = 'UserError';
  constructor(message: string, readonly actions: { title: string; run: () => unknown }[] = []) {
    super(message);
  }
}

/** The backend names, from the config schema (importing src/backend.ts would pull TensorFlow.js into the host). */
const BACKENDS: readonly string[] = schema.properties.backend.enum;

export const UNTRUSTED_MESSAGE =
  'ULPT Studio does not train in an untrusted workspace: training reads the model and data this folder points to and runs a trainer process with its settings. Trust the workspace to train; saved runs can still be viewed.';

export class Studio implements vscode.Disposable {
  readonly output: vscode.LogOutputChannel;
  readonly manager: RunManager;
  /** Called when a run starts from a command and should be shown (set by the panel module). */
  showPanel: (runDir: string) => void = () => {};
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly context: vscode.ExtensionContext) {
    this.output = vscode.window.createOutputChannel('ULPT', { log: true });
    this.disposables.push(this.output);
    const script = path.join(context.extensionPath, 'dist', 'trainer.js');
    this.manager = new RunManager(script, () => trainerLaunch(this.launchSettings(), { execPath: process.execPath, versions: process.versions, env: process.env }));
    // Deactivation (window reload or close) only stops following: the trainers are detached and keep training.
    this.disposables.push({ dispose: () => this.manager.dispose() });
    this.disposables.push(this.logSessions());
    this.disposables.push(this.manager.onDidStart((s) => this.notifyEnd(s)));
    const setContext = () => void vscode.commands.executeCommand('setContext', 'ulpt.training', this.manager.all().length > 0);
    this.disposables.push(this.manager.onDidStart(setContext), this.manager.onEvent((_s, e) => e.kind === 'ended' && setContext()));
    this.disposables.push(this.watchForRuns(), this.followPythonExtension());
  }

  /**
   * Attaches to the runs that are training now (started before a reload, by another window, or by `ulpt train` in
   * a terminal), and to every run that starts later anywhere in the workspace (its lock.json appears).
   */
  private watchForRuns(): vscode.Disposable {
    const folders = vscode.workspace.workspaceFolders ?? [];
    for (const s of this.manager.scan(folders.map((f) => this.runsDir(f.uri.fsPath)))) {
      this.output.info(`[${s.title}] training in ${s.pid !== undefined ? `process ${s.pid}` : 'another process'}: following it (${vscode.workspace.asRelativePath(s.runDir)}).`);
    }
    const watchers = folders.map((f) => {
      const w = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(f, '**/.ulpt/runs/*/lock.json'), false, true, true);
      w.onDidCreate((uri) => {
        const runDir = path.dirname(uri.fsPath);
        if (this.manager.get(runDir)) return;
        const s = this.manager.attach(runDir);
        if (s) this.output.info(`[${s.title}] started in ${s.pid !== undefined ? `process ${s.pid}` : 'another process'}: following it (${vscode.workspace.asRelativePath(runDir)}).`);
      });
      return w;
    });
    return vscode.Disposable.from(...watchers);
  }

  launchSettings(): LaunchSettings {
    const c = vscode.workspace.getConfiguration('ulpt');
    const backend = c.get<string>('backend', 'auto');
    return {
      backend: (BACKENDS as readonly string[]).includes(backend) ? (backend as BackendName) : 'auto',
      nodePath: c.get<string>('nodePath', ''),
      tfjsNodePath: c.get<string>('tfjsNodePath', ''),
      threads: c.get<number>('threads', 0),
      pythonPath: c.get<string>('pythonPath', '').trim() || this.selectedPython || '',
      torchProcesses: c.get<number>('torchProcesses', 1),
      torchFsdp: c.get<boolean>('torchFsdp', false),
    };
  }

  defaultBackend(): BackendName {
    return this.launchSettings().backend;
  }

  /** ulpt.engine: the engine a config that names none trains on. */
  defaultEngine(): Engine {
    return vscode.workspace.getConfiguration('ulpt').get<string>('engine', 'builtin') === 'torch' ? 'torch' : 'builtin';
  }

  /** The interpreter selected in the Python extension (ms-python.python), when it is installed: ulpt.pythonPath's default. */
  private selectedPython: string | undefined;

  private followPythonExtension(): vscode.Disposable {
    const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
    if (!ext) return { dispose() {} };
    const read = async () => {
      try {
        const api = ext.isActive ? ext.exports : await ext.activate();
        const env = api.environments?.getActiveEnvironmentPath();
        this.selectedPython = env?.path || undefined;
        return api;
      } catch {
        this.selectedPython = undefined; // an API this code does not know: fall back to python3
        return undefined;
      }
    };
    const subscription: vscode.Disposable[] = [];
    void read().then((api) => {
      const change = api?.environments?.onDidChangeActiveEnvironmentPath?.(() => void read());
      if (change) subscription.push(change);
    });
    return { dispose: () => subscription.forEach((d) => d.dispose()) };
  }

  // ---- Where runs live

  /** The workspace folder holding `file`, else the file's own folder. */
  rootFor(file: string): string {
    const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file));
    return folder ? folder.uri.fsPath : path.dirname(file);
  }

  runsDir(root: string): string {
    return path.join(root, RUNS_DIR);
  }

  /** Every run of every workspace folder, newest first. */
  listRuns(): RunListing[] {
    const live = this.manager.liveStatuses();
    const folders = vscode.workspace.workspaceFolders ?? [];
    return folders.flatMap((f) => listRuns(this.runsDir(f.uri.fsPath), live)).sort((a, b) => b.modified - a.modified);
  }

  /** The workspace folder a run belongs to (…/<root>/.ulpt/runs/<id>). */
  rootOfRun(runDir: string): string {
    return path.resolve(runDir, '..', '..', '..');
  }

  // ---- Starting and stopping

  assertTrusted(): void {
    if (!vscode.workspace.isTrusted) {
      throw new UserError(UNTRUSTED_MESSAGE, [{ title: 'Manage Workspace Trust', run: () => vscode.commands.executeCommand('workbench.trust.manage') }]);
    }
  }

  /**
   * Asks before a run that would write the same adapter file (`out`) as a run training now. True: go ahead.
   */
  /**
   * Asks before a new run would replace an adapter: one that a running run will write, or one already on disk
   * (another run's or another config's). Returns the config to start — with another free `out` when the user
   * chose it — or undefined when the user declined.
   */
  async confirmOut(config: TrainConfig): Promise<TrainConfig | undefined> {
    const rel = vscode.workspace.asRelativePath(config.out);
    const clash = this.manager.all().find((s) => s.out !== null && path.resolve(s.out) === path.resolve(config.out));
    if (clash) {
      const choice = await vscode.window.showWarningMessage(
        `ULPT: ${clash.title} is training now and will write ${rel} when it finishes. Start another run that writes the same file?`,
        { modal: true, detail: 'The run that finishes last replaces the other\'s adapter. Each run also keeps its own adapter in its run folder.' },
        'Start Anyway',
      );
      return choice === 'Start Anyway' ? config : undefined;
    }
    const existing = describeAdapterFile(config.out);
    if (!existing) return config;
    const free = freeFileName(path.dirname(config.out), path.basename(config.out, '.ulpt'), '.ulpt');
    const instead = `Write ${path.basename(free)} Instead`;
    const choice = await vscode.window.showWarningMessage(
      `ULPT: ${rel} already holds an adapter (${existing}). Replace it with this run's when the run finishes?`,
      { modal: true, detail: 'Each run also keeps its own adapter (best.ulpt) in its run folder.' },
      'Replace It', instead,
    );
    if (choice === 'Replace It') return config;
    if (choice === instead) {
      this.output.info(`the run writes ${vscode.workspace.asRelativePath(free)}: ${rel} holds another adapter`);
      return { ...config, out: free };
    }
    return undefined;
  }

  /** Starts a detached trainer process for a run folder. Everything about the run from here on is in the run folder. */
  start(config: TrainConfig, runDir: string, resume: boolean): TrainingSession {
    this.assertTrusted();
    const ulptDir = path.dirname(path.dirname(runDir));
    if (path.basename(ulptDir) === '.ulpt') writeUlptGitignore(ulptDir);
    return this.manager.start(config, runDir, resume);
  }

  /** The last stop request made in this window: a bare Stop soon after asks which run (stopTarget). */
  lastStopRequest: { runDir: string; at: number } | null = null;

  /** First call: stop after this step (checkpoint kept). Second call: end the process now. */
  stop(session: TrainingSession): void {
    this.lastStopRequest = { runDir: session.runDir, at: Date.now() };
    const r = session.stop();
    if (r === 'stopping') this.output.info(`[${session.title}] stop requested: the run ends after this step and keeps a checkpoint.`);
    if (r === 'killed') this.output.warn(`[${session.title}] second stop: the trainer process was ended at once; the last checkpoint is kept.`);
  }

  private notifyEnd(session: TrainingSession): void {
    void session.ended.then(async (end) => {
      const name = session.title;
      if (end.failure) {
        const tail = end.failure.tail.slice(-3).join(' | ');
        const first = end.failure.message.split('\n')[0];
        const choice = await vscode.window.showErrorMessage(
          `ULPT: training ${name} failed: ${first}${tail && !first.includes(tail) ? ` — last output: ${tail}` : ''}`,
          'Show Log',
          'Open Panel',
        );
        if (choice === 'Show Log') this.output.show(true);
        if (choice === 'Open Panel') this.showPanel(session.runDir);
        return;
      }
      if (end.killed) return void vscode.window.showWarningMessage(`ULPT: ${name} was ended at once; resume it from its last checkpoint with "ULPT: Resume Training".`);
      const s = end.summary;
      if (!s) {
        const choice = await vscode.window.showWarningMessage(`ULPT: ${name} was interrupted: ${end.interruption ?? 'its trainer process ended without finishing.'}`, 'Resume', 'Open Panel');
        if (choice === 'Resume') void vscode.commands.executeCommand('ulpt.resume', session.runDir);
        if (choice === 'Open Panel') this.showPanel(session.runDir);
        return;
      }
      if (s.reason === 'stopped') {
        const choice = await vscode.window.showInformationMessage(`ULPT: ${name} stopped at step ${s.steps}; its checkpoint is kept.`, 'Resume', 'Open Panel');
        if (choice === 'Resume') void vscode.commands.executeCommand('ulpt.resume', session.runDir);
        if (choice === 'Open Panel') this.showPanel(session.runDir);
        return;
      }
      const best = s.best ? ` Best: ${Object.entries(s.best).filter(([k]) => k !== 'loss').map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}.` : '';
      const choice = await vscode.window.showInformationMessage(`ULPT: ${name} ${s.reason === 'early-stopped' ? 'stopped early' : 'finished'} after ${s.steps} steps.${best}`, 'Save Adapter…', 'Open Panel');
      if (choice === 'Save Adapter…') void vscode.commands.executeCommand('ulpt.saveAdapter', session.runDir);
      if (choice === 'Open Panel') this.showPanel(session.runDir);
    });
  }

  /** Every session's story in the output channel: started (with backend), evaluations, errors with the last lines. */
  private logSessions(): vscode.Disposable {
    return this.manager.onEvent((session, e) => {
      const tag = `[${session.title}]`;
      switch (e.kind) {
        case 'message':
          if (e.message.type === 'error') break; // reported with the exit, together with the last lines
          for (const line of messageLines(e.message, { everyStep: false })) {
            if (e.message.type === 'log' && e.message.level === 'warn') this.output.warn(`${tag} ${line}`);
            else this.output.info(`${tag} ${line}`);
          }
          break;
        case 'output':
          this.output.info(`${tag} | ${e.line}`);
          break;
        case 'state':
          break;
        case 'ended':
          if (e.end.failure) {
            for (const line of failureLines(e.end.failure)) this.output.error(`${tag} ${line}`);
            // Only a fault in the program deserves its stack; a bad config or dataset is the one line above.
            if (e.end.failure.internal && e.end.failure.stack) this.output.error(`${tag} ${e.end.failure.stack}`);
          } else if (e.end.killed) this.output.warn(`${tag} trainer process ended at once (killed); resumable from its last checkpoint.`);
          else if (!e.end.summary) this.output.warn(`${tag} interrupted: ${e.end.interruption ?? `trainer process exited (code ${e.end.code})`}`);
          break;
      }
    });
  }

  dispose(): void {
    for (const d of this.disposables.splice(0).reverse()) d.dispose();
  }
}

/** `.ulpt/.gitignore` with "*": run folders (checkpoints, metrics) stay out of version control by default. */
function writeUlptGitignore(ulptDir: string): void {
  try {
    fs.mkdirSync(ulptDir, { recursive: true });
    const file = path.join(ulptDir, '.gitignore');
    if (!fs.existsSync(file)) createFileExclusive(file, '# Training runs of ULPT Studio: checkpoints and metrics, not sources.\n*\n');
  } catch {
    /* best effort */
  }
}


/** What this extension reads of the Python extension's API (its `environments` part). */
interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(): { path: string } | undefined;
    onDidChangeActiveEnvironmentPath?(listener: () => void): vscode.Disposable;
  };
}
