// A data-parallel training worker (worker_threads; bundled as train-worker.js beside the trainer): its own
// backend instance and its own copy of the frozen model, loaded from the model folder. It answers
// each `gradients` request with the loss and prompt gradients of the micro-batch shards it was given, at the prompt
// values it was given (see parallel.ts).
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { initBackend, tf } from '../backend';
import { loadModel } from '../models/loader';
import type { WorkerReply, WorkerRequest, WorkerStart } from '../protocol';
import { createPrompt } from '../ulpt/prompt';
import { inProcessRunner, passPlan } from './step';

// Loaded any other way (e.g. by a test runner that collects every file in its folder) it does nothing.
const port = parentPort;
const send = (m: WorkerReply, transfer: ArrayBuffer[] = []) => port?.postMessage(m, transfer);

async function main(port: MessagePort): Promise<void> {
  const start = workerData as WorkerStart;
  await initBackend(start.backend, { nativeSearchPath: start.nativeSearchPath });
  const model = await loadModel(start.modelDir);
  const p = start.prompt;
  const prompt = await createPrompt({ ...p, seed: BigInt(p.seed) }, model.tokenEmbeddings);
  const runner = inProcessRunner(model, prompt, passPlan(start.backend, model, prompt.length, start.threads));
  // One request at a time: the trainer sends the next only after this one's answer.
  port.on('message', (req: WorkerRequest) => {
    void (async () => {
      try {
        prompt.assign(req.values);
        const { loss: lossTensor, grads } = await runner.gradients(req.batches, req.normalizer);
        const loss = (await lossTensor.data())[0];
        lossTensor.dispose();
        const out: Record<string, Float32Array> = {};
        for (const [name, g] of grads) out[name] = Float32Array.from(await g.data()); // a copy of our own to transfer
        tf.dispose([...grads.values()]);
        send({ type: 'gradients', id: req.id, loss, grads: out }, Object.values(out).map((a) => a.buffer as ArrayBuffer));
      } catch (e) {
        send({ type: 'error', id: req.id, message: (e as Error).message, stack: (e as Error).stack });
      }
    })();
  });
  send({ type: 'ready' });
}

if (port) main(port).catch((e: unknown) => send({ type: 'error', id: null, message: (e as Error).message, stack: (e as Error).stack }));
