// Data-parallel training steps on every core: each micro-batch is cut into one run of examples per thread; this
// thread computes the first run and N − 1 worker_threads (src/train/worker.ts), each with its own backend instance
// and its own copy of the frozen model, compute the others at the prompt's current values. The gradients are
// summed in a fixed order (this thread's, then worker 1's, 2's, …), so a run with the same thread count is
// reproducible to the bit and resumes exactly; against one thread the sums differ only by float reassociation.
//
// Why workers and not tfjs-backend-wasm's own threads: its threaded build does start under Node with a shim (its
// pthread workers come from blob: URLs, which worker_threads refuses), but in 4.22 XNNPACK's matrix products run
// without its thread pool, so a second thread bought nothing there (see README, Benchmarks).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { tf, type ConcreteBackend, type Scalar } from '../backend';
import type { LanguageModel, ModelInfo } from '../models/types';
import type { WorkerReply, WorkerRequest, WorkerStart } from '../protocol';
import type { PromptModule } from '../ulpt/prompt';
import { splitBatch, type Batch } from './batch';
import { inProcessRunner, passBytesPerExample, passPlan, WASM_HEAP_BUDGET, type Gradients, type StepRunner } from './step';

/** The cores this process may use. */
export function availableCores(): number {
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

export interface ThreadChoice {
  threads: number;
  /** Why fewer threads than asked for (or than cores, for "auto"), in words; absent when none was needed. */
  note?: string;
}

/**
 * How many threads a run uses. `auto`: one per core, but never more than the examples in a micro-batch and never
 * more threads than about two thirds of the free memory holds (`threadBytes`: what one thread needs). The native
 * TensorFlow backends spread one step over every core themselves, so they get one.
 */
export function chooseThreads(
  requested: number | 'auto', backend: ConcreteBackend, batchSize: number, threadBytes: (threads: number) => number,
  busy: { threads: number; runs: string[] } = { threads: 0, runs: [] },
): ThreadChoice {
  if (backend === 'tensorflow' || backend === 'tensorflow-gpu' || backend === 'webgpu') {
    const why = backend === 'webgpu' ? 'computes a whole step on the GPU' : 'uses every core within one step';
    return requested === 'auto' || requested === 1 ? { threads: 1 } : { threads: 1, note: `the ${backend} backend ${why}, so threads=${requested} is not needed` };
  }
  const cores = availableCores();
  // "auto" takes the cores other runs on this machine do not already use (threadBudget.ts), at least one.
  const free = Math.max(1, cores - busy.threads);
  let threads = requested === 'auto' ? free : requested;
  let note: string | undefined;
  if (requested === 'auto' && free < cores) {
    note = `${Math.min(cores, busy.threads)} of the ${cores} cores train ${busy.runs.length === 1 ? 'another run' : `${busy.runs.length} other runs`} (${busy.runs.map((r) => path.basename(r)).join(', ')})`;
  }
  if (threads > batchSize) {
    note = `a micro-batch of ${batchSize} example${batchSize === 1 ? '' : 's'} gives at most ${batchSize} thread${batchSize === 1 ? '' : 's'} work`;
    threads = batchSize;
  }
  if (requested === 'auto' && threads > 1) {
    const memory = 0.66 * os.freemem();
    while (threads > 1 && threads * threadBytes(threads) > memory) threads -= 1;
    if (threads < Math.min(free, batchSize)) {
      note = `each thread holds its own copy of the model and its activations (~${(threadBytes(threads) / 2 ** 30).toFixed(1)} GB) and ${(os.freemem() / 2 ** 30).toFixed(1)} GB are free`;
    }
  }
  return { threads: Math.max(1, threads), ...(note ? { note } : {}) };
}

/**
 * What one thread holds: the weights as many times as the architecture keeps them (ModelInfo.weightCopies: up to
 * 4×, the backend's copy, XNNPACK's packed copy, the backward pass's transposes and theirs) and its share of a
 * micro-batch's activations, which on WASM stop where passPlan splits (its 4 GiB heap); plus a margin of one more
 * copy of the weights for the engine around them.
 */
export function threadBytesFor(backend: ConcreteBackend, info: ModelInfo, batchSize: number, positions: number): (threads: number) => number {
  const weights = 4 * info.parameters;
  return (threads) => {
    const activations = Math.ceil(batchSize / threads) * passBytesPerExample(info, positions);
    const kept = info.weightCopies * weights + activations;
    return (backend === 'wasm' ? Math.min(WASM_HEAP_BUDGET, kept) : kept) + weights;
  };
}

/** "CPU (WASM SIMD)" → "CPU (WASM SIMD, 2 threads)". */
export function deviceWithThreads(device: string, threads: number): string {
  const words = `${threads} thread${threads === 1 ? '' : 's'}`;
  return device.endsWith(')') ? `${device.slice(0, -1)}, ${words})` : `${device}, ${words}`;
}

export interface RunnerOptions {
  threads: number;
  backend: ConcreteBackend;
  nativeSearchPath?: string;
  model: LanguageModel;
  prompt: PromptModule;
  seed: bigint;
}

/** One thread: the in-process runner. More: this thread plus threads − 1 workers. */
export async function createStepRunner(o: RunnerOptions): Promise<StepRunner> {
  if (o.threads <= 1) return inProcessRunner(o.model, o.prompt, passPlan(o.backend, o.model, o.prompt.length, 1));
  const file = path.join(__dirname, 'train-worker.js');
  if (!fs.existsSync(file)) throw new Error(`Training on ${o.threads} threads needs the worker bundle ${file}; build with \`npm run build\`, or set threads to 1.`);
  // Each worker loads the folder itself, one tensor at a time (the loader never holds a host copy of the whole
  // model), into its own backend: WASM instances cannot share a heap.
  const start: WorkerStart = {
    backend: o.backend, nativeSearchPath: o.nativeSearchPath, modelDir: o.model.info.dir, threads: o.threads,
    prompt: { method: o.prompt.method, length: o.prompt.length, rank: o.prompt.rank, hidden: o.prompt.hidden, seed: o.seed.toString(), alignment: o.prompt.alignment },
  };
  const workers: TrainWorker[] = [];
  try {
    for (let i = 1; i < o.threads; i++) workers.push(new TrainWorker(file, start, i));
    await Promise.all(workers.map((w) => w.ready));
  } catch (e) {
    await Promise.all(workers.map((w) => w.terminate()));
    throw e;
  }
  // Planned once the workers hold their models, so the free memory it shares out is what is left.
  return new DataParallelRunner(inProcessRunner(o.model, o.prompt, passPlan(o.backend, o.model, o.prompt.length, o.threads)), o.prompt, workers);
}

class TrainWorker {
  readonly ready: Promise<void>;
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: Extract<WorkerReply, { type: 'gradients' }>) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private failure: Error | null = null;

  constructor(file: string, start: WorkerStart, readonly index: number) {
    this.worker = new Worker(file, { workerData: start });
    this.ready = new Promise((resolve, reject) => {
      const fail = (e: Error) => {
        this.failure = new Error(`Training thread ${index} stopped: ${e.message}`);
        reject(this.failure);
        for (const p of this.pending.values()) p.reject(this.failure);
        this.pending.clear();
      };
      this.worker.on('message', (m: WorkerReply) => {
        switch (m.type) {
          case 'ready':
            return resolve();
          case 'gradients': {
            const p = this.pending.get(m.id);
            this.pending.delete(m.id);
            return p?.resolve(m);
          }
          case 'error':
            if (m.id === null) return fail(new Error(m.message));
            this.pending.get(m.id)?.reject(new Error(`Training thread ${index}: ${m.message}`));
            this.pending.delete(m.id);
            return;
          default: {
            const never: never = m;
            void never;
          }
        }
      });
      this.worker.on('error', fail);
      this.worker.on('exit', (code) => fail(new Error(`it exited with code ${code}${code === 134 || code === 1 ? ' (out of memory?)' : ''}`)));
    });
    this.ready.catch(() => {}); // observed through `ready` and every request
  }

  gradients(req: Omit<WorkerRequest, 'id' | 'type'>): Promise<Extract<WorkerReply, { type: 'gradients' }>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const msg: WorkerRequest = { type: 'gradients', id, ...req };
      this.worker.postMessage(msg);
    });
  }

  async terminate(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}

class DataParallelRunner implements StepRunner {
  constructor(private readonly local: StepRunner, private readonly prompt: PromptModule, private readonly workers: TrainWorker[]) {}

  get threads(): number {
    return this.workers.length + 1;
  }

  async gradients(batches: Batch[], normalizer: number): Promise<Gradients> {
    // shards[t]: the micro-batches' pieces for thread t (a micro-batch smaller than the thread count has fewer).
    const shards: Batch[][] = Array.from({ length: this.threads }, () => []);
    for (const b of batches) splitBatch(b, this.threads, this.prompt.length).forEach((piece, t) => shards[t].push(piece));
    const values = await this.prompt.read();
    const asked = this.workers.map((w, i) => (shards[i + 1].length ? w.gradients({ values, batches: shards[i + 1], normalizer }) : null));
    let own: Gradients;
    try {
      own = await this.local.gradients(shards[0], normalizer);
    } catch (e) {
      await Promise.allSettled(asked);
      throw e;
    }
    const replies = await Promise.allSettled(asked);
    const failed = replies.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      tf.dispose([...own.grads.values(), own.loss]);
      throw failed.reason as Error;
    }
    // Fixed order: this thread's sum first, then each worker's in turn.
    let loss = own.loss;
    const grads = own.grads;
    for (const r of replies) {
      const reply = r.status === 'fulfilled' ? r.value : null;
      if (!reply) continue;
      const sum = tf.add(loss, reply.loss) as Scalar;
      loss.dispose();
      loss = sum;
      for (const [name, prev] of grads) {
        const add = tf.tensor(reply.grads[name], prev.shape, 'float32');
        grads.set(name, tf.add(prev, add));
        tf.dispose([prev, add]);
      }
    }
    return { loss, grads };
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

