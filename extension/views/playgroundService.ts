// The playground process for this window: started on first need with the trainer's launch settings (which Node,
// native TensorFlow path, default backend), shared by every inspector and playground, and ended after a while
// without requests (it holds the models it loaded) or when the window goes. Evaluations get a process of their
// own, so a long one neither blocks the playground nor needs more than ending that process to be cancelled.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PlaygroundProcess } from '../../src/process/playgroundClient';
import { ModelFinder } from '../commands/modelMatch';
import { trainerLaunch } from '../runs/launch';
import type { Studio } from '../studio';

/** An idle process is ended after this long; the next request starts a fresh one (about a second on small models). */
const IDLE_MS = 10 * 60_000;

export class PlaygroundService implements vscode.Disposable {
  static register(context: vscode.ExtensionContext, studio: Studio): PlaygroundService {
    const s = new PlaygroundService(studio);
    context.subscriptions.push(s);
    return s;
  }

  readonly models: ModelFinder;
  private shared: PlaygroundProcess | null = null;
  private readonly own = new Set<PlaygroundProcess>();
  private idle: NodeJS.Timeout | null = null;

  private constructor(private readonly studio: Studio) {
    this.models = new ModelFinder(studio.context.workspaceState, () => this.process());
  }

  private start(): PlaygroundProcess {
    const launch = trainerLaunch(this.studio.launchSettings(), { execPath: process.execPath, versions: process.versions, env: process.env });
    const script = path.join(this.studio.context.extensionPath, 'dist', 'playground.js');
    const p = new PlaygroundProcess({ script, backend: this.studio.defaultBackend(), execPath: launch.execPath, env: launch.env });
    void p.ready.then(
      (b) => this.studio.output.info(`playground process started: backend ${b.backend} — ${b.device}`),
      (e: Error) => this.studio.output.error(`playground process: ${e.message}`),
    );
    return p;
  }

  /** The shared process (started, or restarted after it ended); each call counts as activity. */
  process(): PlaygroundProcess {
    if (!this.shared?.alive) this.shared = this.start();
    this.touch();
    return this.shared;
  }

  /** Starts the shared process ahead of the first request, so the first answer does not wait for it. */
  warmUp(): void {
    this.process();
  }

  /** A process for one long job; end it with dispose() to cancel the job. */
  dedicated(): PlaygroundProcess {
    const p = this.start();
    this.own.add(p);
    return p;
  }

  release(p: PlaygroundProcess): void {
    this.own.delete(p);
    p.dispose();
  }

  private touch(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      if (this.shared?.busy) return this.touch();
      this.shared?.dispose();
      this.shared = null;
    }, IDLE_MS);
    this.idle.unref?.();
  }

  dispose(): void {
    if (this.idle) clearTimeout(this.idle);
    this.shared?.dispose();
    for (const p of this.own) p.dispose();
    this.own.clear();
  }
}
