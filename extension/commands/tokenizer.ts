// The extension host's side of the tokenizer worker (src/process/tokenize.ts): tokenizes texts with a model folder's
// tokenizer off the main thread. One worker per wizard; dispose() ends it.
import { Worker } from 'node:worker_threads';
import type { TokenizeReply, TokenizeRequest } from '../../src/protocol';

export interface Tokenized {
  ids: number[];
  /** Each token's text ("␣"-free: spaces are as the tokenizer decodes them). */
  pieces: string[];
}

export class TokenizerClient {
  private worker: Worker | null = null;
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (r: Tokenized[]) => void; reject: (e: Error) => void }>();

  constructor(private readonly script: string) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.script);
    w.unref();
    w.on('message', (m: TokenizeReply) => {
      const pending = this.waiting.get(m.id);
      if (!pending) return;
      this.waiting.delete(m.id);
      if (m.type === 'tokens') pending.resolve(m.results);
      else pending.reject(new Error(m.message));
    });
    const fail = (e: Error) => {
      for (const p of this.waiting.values()) p.reject(e);
      this.waiting.clear();
      this.worker = null;
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the tokenizer worker exited (code ${code})`)));
    this.worker = w;
    return w;
  }

  tokenize(model: string, texts: string[]): Promise<Tokenized[]> {
    const id = this.next++;
    const request: TokenizeRequest = { type: 'tokenize', id, model, texts };
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.start().postMessage(request);
    });
  }

  dispose(): void {
    void this.worker?.terminate();
    this.worker = null;
  }
}
