// Host side of the playground process (dist/playground.js): forks it, numbers the requests, and resolves each with
// its reply. Requests are answered in order; if the process dies, every open request fails with the reason and
// the last lines it printed. No VS Code here, so it is tested like the trainer client.
import { fork, type ChildProcess } from 'node:child_process';
import type { PlaygroundReply, PlaygroundRequest } from '../protocol';

/** A request without its id (the client numbers them). */
export type PlaygroundAsk = PlaygroundRequest extends infer R ? (R extends PlaygroundRequest ? Omit<R, 'id'> : never) : never;

/** The reply type that answers each request type. */
interface Answers {
  fingerprint: Extract<PlaygroundReply, { type: 'fingerprints' }>;
  predict: Extract<PlaygroundReply, { type: 'predictions' }>;
  neighbours: Extract<PlaygroundReply, { type: 'neighbours' }>;
  records: Extract<PlaygroundReply, { type: 'records' }>;
  evaluate: Extract<PlaygroundReply, { type: 'evaluation' }>;
}

export interface PlaygroundProcessOptions {
  /** dist/playground.js */
  script: string;
  /** The backend the process starts (auto, wasm, cpu, …). */
  backend: string;
  execPath?: string;
  env?: NodeJS.ProcessEnv;
}

interface Pending {
  resolve: (r: PlaygroundReply) => void;
  reject: (e: Error) => void;
  onProgress?: (done: number, total: number) => void;
}

export class PlaygroundProcess {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private readonly tail: string[] = [];
  private nextId = 1;
  private exitReason: string | null = null;
  /** The backend report, once the process has started it. */
  readonly ready: Promise<{ backend: string; device: string }>;

  constructor(opts: PlaygroundProcessOptions) {
    this.child = fork(opts.script, [opts.backend], { execPath: opts.execPath, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const collect = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split(/\r?\n/)) {
        if (!line.trim()) continue;
        this.tail.push(line);
        if (this.tail.length > 20) this.tail.shift();
      }
    };
    this.child.stdout?.on('data', collect);
    this.child.stderr?.on('data', collect);
    let readyResolve: (v: { backend: string; device: string }) => void = () => {};
    let readyReject: (e: Error) => void = () => {};
    this.ready = new Promise((res, rej) => ((readyResolve = res), (readyReject = rej)));
    this.ready.catch(() => undefined);
    this.child.on('message', (m: PlaygroundReply) => {
      if (m.type === 'ready') return readyResolve({ backend: m.backend, device: m.device });
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.type === 'progress') return p.onProgress?.(m.done, m.total);
      this.pending.delete(m.id);
      if (m.type === 'failed') p.reject(new Error(m.message));
      else p.resolve(m);
    });
    const gone = (why: string) => {
      this.exitReason ??= why;
      const err = new Error(`${why}${this.tail.length ? ` Last output: ${this.tail.slice(-5).join(' | ')}` : ''}`);
      readyReject(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.child.on('exit', (code, signal) => gone(signal === 'SIGKILL' || signal === 'SIGTERM' ? 'The playground process was stopped.' : `The playground process ended (${signal ?? `code ${code}`}).`));
    this.child.on('error', (e) => gone(`The playground process could not start: ${e.message}.`));
  }

  /** Sends a request; resolves with its answer, rejects with the process's message for people. */
  ask<K extends PlaygroundAsk['type']>(req: Extract<PlaygroundAsk, { type: K }>, onProgress?: (done: number, total: number) => void): Promise<Answers[K]> {
    if (this.exitReason) return Promise.reject(new Error(this.exitReason));
    const id = this.nextId++;
    return new Promise<Answers[K]>((resolve, reject) => {
      if (!this.child.connected) return reject(new Error('The playground process has ended.'));
      this.pending.set(id, { resolve: resolve as (r: PlaygroundReply) => void, reject, onProgress });
      this.child.send({ ...req, id } as PlaygroundRequest, (err) => {
        if (!err || !this.pending.has(id)) return;
        this.pending.delete(id);
        reject(new Error(`The playground process could not be reached: ${err.message}`));
      });
    });
  }

  get alive(): boolean {
    return this.exitReason === null;
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  dispose(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
