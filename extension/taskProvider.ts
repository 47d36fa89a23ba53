// The `ulpt` task type: training from tasks.json or "Tasks: Run Task". A task runs in a pseudoterminal that prints
// the trainer's progress and ends with its status: 0 finished, 130 stopped, 1 failed, 137 ended at once.
//   { "type": "ulpt", "config": "ulpt.config.json" }            a training config file (inline fields override it)
//   { "type": "ulpt", "model": "model", "train": "data/x.jsonl" } everything inline
//   { "type": "ulpt", "resume": ".ulpt/runs/<run-id>" }           continue a run from its checkpoint
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isInternalError } from '../src/train/runFolder';
import { failureLines, messageLines } from './runs/format';
import { taskConfig, checkInputs, type ConfigSource, type UlptTaskDefinition } from './commands/configFile';
import { SEARCH_EXCLUDE } from './commands/discovery';
import { newRunId, readRunFiles } from './runs/runStore';
import type { SessionEvent, TrainingSession } from './runs/session';
import { UserError, type Studio } from './studio';

export const TASK_TYPE = 'ulpt';
export const CONFIG_GLOB = '**/{ulpt.config.json,*.ulpt.json}';

export class UlptTaskProvider implements vscode.TaskProvider {
  static register(context: vscode.ExtensionContext, studio: Studio): vscode.Disposable {
    const d = vscode.tasks.registerTaskProvider(TASK_TYPE, new UlptTaskProvider(studio));
    context.subscriptions.push(d);
    return d;
  }

  constructor(private readonly studio: Studio) {}

  /** One task per training config file in the workspace. */
  async provideTasks(): Promise<vscode.Task[]> {
    const uris = await vscode.workspace.findFiles(CONFIG_GLOB, SEARCH_EXCLUDE, 100);
    const tasks: vscode.Task[] = [];
    for (const uri of uris) {
      const folder = vscode.workspace.getWorkspaceFolder(uri);
      if (!folder) continue;
      const rel = path.relative(folder.uri.fsPath, uri.fsPath).split(path.sep).join('/');
      tasks.push(this.task({ type: TASK_TYPE, config: rel }, folder, `train ${rel}`));
    }
    return tasks;
  }

  resolveTask(task: vscode.Task): vscode.Task | undefined {
    const def = task.definition as UlptTaskDefinition;
    if (def.type !== TASK_TYPE) return undefined;
    // The same definition object must come back (VS Code matches tasks by it).
    return this.task(def, task.scope ?? vscode.TaskScope.Workspace, task.name);
  }

  task(def: UlptTaskDefinition, scope: vscode.WorkspaceFolder | vscode.TaskScope, name: string): vscode.Task {
    const folder = typeof scope === 'object' ? scope : vscode.workspace.workspaceFolders?.[0];
    const execution = new vscode.CustomExecution(async (resolved) => new TrainingTaskTerminal(this.studio, folder, resolved as UlptTaskDefinition));
    const task = new vscode.Task(def, scope, name, TASK_TYPE, execution, []);
    task.detail = def.resume ? `resume ${def.resume}` : def.config ? `ULPT training from ${def.config}` : 'ULPT training';
    task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
    return task;
  }
}

const RED = '\x1b[31m';
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';

/** The terminal a `ulpt` task runs in. Ctrl+C stops after the current step; a second Ctrl+C ends the process. */
export class TrainingTaskTerminal implements vscode.Pseudoterminal {
  private readonly writer = new vscode.EventEmitter<string>();
  private readonly closer = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writer.event;
  readonly onDidClose = this.closer.event;
  private session: TrainingSession | null = null;
  private listener: { dispose(): void } | null = null;
  private closed = false;

  constructor(private readonly studio: Studio, private readonly folder: vscode.WorkspaceFolder | undefined, private readonly def: UlptTaskDefinition) {}

  private print(text: string, style = ''): void {
    for (const line of text.split('\n')) this.writer.fire(`${style}${line}${style ? RESET : ''}\r\n`);
  }

  private finish(code: number): void {
    if (this.closed) return;
    this.closed = true;
    this.listener?.dispose();
    this.closer.fire(code);
  }

  open(): void {
    void this.begin();
  }

  private async begin(): Promise<void> {
    try {
      this.studio.assertTrusted();
      if (!this.folder) throw new UserError('The ulpt task needs a workspace folder.');
      const resolved = this.resolve(this.folder.uri.fsPath);
      const { runDir, resume, source } = resolved;
      const config = resume ? resolved.config : await this.studio.confirmOut(resolved.config);
      if (!config) {
        this.print(`not started: ${vscode.workspace.asRelativePath(resolved.config.out)} holds an adapter you chose to keep, or another run is writing it.`, RED);
        return this.finish(1);
      }
      if (this.closed) return;
      this.print(`${BOLD}ULPT${RESET} ${resume ? 'resuming' : 'training'} from ${source}`);
      this.session = this.studio.start(config, runDir, resume);
      this.print(`${DIM}${this.session.title}: ${runDir} (the run goes on if this window closes; "ULPT: Stop Training" or Ctrl+C here stops it)${RESET}`);
      this.listener = this.session.on((e) => this.onEvent(e));
    } catch (e) {
      // A problem with the config or the data is one line; only a fault in the program shows its stack.
      const message = e instanceof Error ? (isInternalError(e) ? e.stack ?? e.message : e.message) : String(e);
      this.print(message, RED);
      this.finish(1);
    }
  }

  private resolve(folder: string): { config: ConfigSource['config']; runDir: string; resume: boolean; source: string } {
    if (this.def.resume) {
      const runDir = path.resolve(folder, this.def.resume);
      const { config } = readRunFiles(runDir);
      if (!config) throw new UserError(`${runDir} is not a run folder: it has no config.json.`);
      checkInputs(config, path.join(runDir, 'config.json'));
      return { config, runDir, resume: true, source: runDir };
    }
    const read = (file: string) => vscode.workspace.textDocuments.find((d) => d.uri.fsPath === file)?.getText();
    const src = taskConfig(this.def, folder, this.studio.defaultBackend(), read, this.studio.defaultEngine());
    return { config: src.config, runDir: path.join(this.studio.runsDir(folder), newRunId(src.runName)), resume: false, source: src.source };
  }

  private onEvent(e: SessionEvent): void {
    switch (e.kind) {
      case 'message':
        if (e.message.type === 'error') return; // printed with the exit, together with the last lines
        for (const line of messageLines(e.message, { everyStep: true })) this.print(line, e.message.type === 'eval' || e.message.type === 'finished' ? BOLD : '');
        return;
      case 'output':
        this.print(e.line, DIM);
        return;
      case 'state':
        if (e.state === 'stopping') this.print('stopping after this step (keeps a checkpoint; Ctrl+C again ends it now)…');
        return;
      case 'ended': {
        const { failure, summary, killed } = e.end;
        if (failure) {
          this.print(failureLines(failure).join('\n'), RED);
          return this.finish(1);
        }
        if (killed) {
          this.print('ended at once; resume the run from its last checkpoint with "ULPT: Resume Training".', RED);
          return this.finish(137);
        }
        if (!summary) this.print(`interrupted: ${e.end.interruption ?? 'the trainer process ended without finishing'}`, RED);
        return this.finish(summary?.reason === 'stopped' ? 130 : summary ? 0 : 1);
      }
    }
  }

  handleInput(data: string): void {
    if (data === '\x03' && this.session) this.studio.stop(this.session);
  }

  /** The terminal was closed or the task terminated: stop the run cleanly (its checkpoint is kept). */
  close(): void {
    if (this.session && this.session.state === 'running') this.studio.stop(this.session);
    this.closed = true;
    this.listener?.dispose();
  }
}
