// Entry point of the playground process (dist/playground.js): the adapter inspector and the playground ask it for
// what needs the model — answers with and without an adapter, the nearest vocabulary tokens of each virtual token,
// model fingerprints, dataset records, evaluations — so that neither TensorFlow.js nor model weights ever load in
// the extension host. The host forks it with an IPC channel (argv[2] = backend); requests are served one at a time,
// in order, and each is answered by its `id` (`failed` with a message for people when it cannot be done).
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { summarizeNorms } from '../analysis/neighbours';
import { nearestTokens, tableRowNorms } from '../analysis/neighboursTf';
import { initBackend, isBackendName, type BackendName } from '../backend';
import { defaultMaxLength } from '../config';
import { buildExamples, generatedAnswer, promptText, readRecords, type DataRecord } from '../data';
import { checkAdapterMatchesModel, materializePrompt, readAdapter, type Adapter } from '../io/adapter';
import { embeddingFingerprintOf, loadModel } from '../models/loader';
import type { LanguageModel } from '../models/types';
import { inputSpecials, wrapInput } from '../models/tokenizer';
import type { EvaluationReport, PlaygroundAnswer, PlaygroundReply, PlaygroundRequest, TokenNeighbourView } from '../protocol';
import { assertNever } from '../protocol';
import { classificationMetrics, evaluate, generationMetrics, labelSetFor, type EvalExample, type EvalTask, type LabelSet } from '../train/evaluate';
import { adapterTask, answer, answerRoom } from '../train/predict';
import { promptFromAdapter, type PromptModule } from '../ulpt/prompt';

function send(m: PlaygroundReply): void {
  process.send?.(m);
}

// ---- Models and adapters, kept between requests

/** Loaded models by folder; the least recently used goes when a third is needed (a model can be hundreds of MB). */
const models = new Map<string, Promise<LanguageModel>>();
const MAX_MODELS = 2;

async function model(dir: string): Promise<{ model: LanguageModel; loadMs: number }> {
  const key = path.resolve(dir);
  const t0 = performance.now();
  let p = models.get(key);
  if (p) models.delete(key); // re-inserted below: most recent last
  else p = loadModel(key);
  models.set(key, p);
  p.catch(() => models.delete(key));
  while (models.size > MAX_MODELS) {
    const [oldest, evicted] = models.entries().next().value as [string, Promise<LanguageModel>];
    models.delete(oldest);
    void evicted.then((m) => m.dispose(), () => undefined);
  }
  const m = await p;
  return { model: m, loadMs: performance.now() - t0 };
}

interface Adapted {
  model: LanguageModel;
  adapter: Adapter;
  prompt: PromptModule;
  labels: LabelSet | null;
  loadMs: number;
}

/** The model with the adapter checked against it (a mismatch is refused with both fingerprints). */
async function adapted(modelDir: string, adapterFile: string): Promise<Adapted> {
  const { model: m, loadMs } = await model(modelDir);
  const adapter = readAdapter(adapterFile);
  checkAdapterMatchesModel(adapter.meta, m.info, adapterFile);
  const prompt = await promptFromAdapter(adapter, m.tokenEmbeddings);
  return { model: m, adapter, prompt, labels: labelSetFor(adapter.meta.task.labels, m.tokenizer), loadMs };
}

// ---- Requests

async function predict(r: Extract<PlaygroundRequest, { type: 'predict' }>): Promise<void> {
  const a = await adapted(r.model, r.adapter);
  try {
    const task = adapterTask(a.adapter.meta);
    const { room, maxNewTokens, why } = answerRoom(a.model, a.prompt.length, a.labels);
    if (room - inputSpecials(a.model.tokenizer) < 1) throw new Error(`${why} leave no room for an input: this adapter cannot be used with this model.`);
    const records = r.inputs.map((text, i): DataRecord => ({ where: { file: 'the playground', label: `input ${i + 1}` }, fields: { [task.inputField]: text } }));
    const inputs = records.map((record) => {
      // With the tokenizer's own special tokens (Llama's BOS, T5's </s>), which take part of the room.
      const ids = wrapInput(a.model.tokenizer, a.model.tokenizer.encode(promptText(record, task)));
      if (ids.length > room) throw new Error(`The input is ${ids.length} tokens, but ${why} leave room for ${room}. Shorten it.`);
      return ids;
    });
    const results = [];
    // Generated text is shown as the answer the adapter was trained to give, without the separator before it.
    const shown = (x: PlaygroundAnswer, i: number): PlaygroundAnswer => x.scores ? x : { ...x, text: generatedAnswer(records[i], task, x.text, a.model.kind === 'encoder-decoder') };
    for (const [i, ids] of inputs.entries()) {
      const t0 = performance.now();
      const [withAdapter] = await answer(a.model, a.prompt, [ids], a.labels, maxNewTokens);
      const [without] = await answer(a.model, null, [ids], a.labels, maxNewTokens);
      results.push({ with: shown(withAdapter, i), without: shown(without, i), ms: performance.now() - t0 });
    }
    send({ type: 'predictions', id: r.id, results, loadMs: a.loadMs });
  } finally {
    a.prompt.dispose();
  }
}

function tokenText(m: LanguageModel, id: number): string {
  try {
    return m.tokenizer.decode([id]);
  } catch {
    return `<${id}>`; // a padded vocabulary row the tokenizer does not know
  }
}

async function neighbours(r: Extract<PlaygroundRequest, { type: 'neighbours' }>): Promise<void> {
  const { model: m } = await model(r.model);
  const adapter = readAdapter(r.adapter);
  checkAdapterMatchesModel(adapter.meta, m.info, r.adapter);
  const t0 = performance.now();
  const n = adapter.meta.num_virtual_tokens;
  const prompt = materializePrompt(adapter, r.adapter);
  const norms = summarizeNorms(await tableRowNorms(m.tokenEmbeddings));
  const near = await nearestTokens(prompt, n, m.tokenEmbeddings, r.k);
  const tokens: TokenNeighbourView[][] = near.map((row) => row.map((x) => ({ id: x.id, text: tokenText(m, x.id), cosine: x.cosine })));
  send({ type: 'neighbours', id: r.id, tokens, embeddingNorms: { mean: norms.mean, median: norms.median, p10: norms.p10, p90: norms.p90 }, ms: performance.now() - t0 });
}

async function fingerprints(r: Extract<PlaygroundRequest, { type: 'fingerprint' }>): Promise<void> {
  const results = [];
  for (const dir of r.dirs) {
    try {
      // From the embedding tensor alone when its key is unambiguous; else load the model (and keep it).
      const fingerprint = embeddingFingerprintOf(dir) ?? (await model(dir)).model.info.fingerprint;
      results.push({ dir, fingerprint, error: null });
    } catch (e) {
      results.push({ dir, fingerprint: null, error: firstLine(e) });
    }
  }
  send({ type: 'fingerprints', id: r.id, results });
}

function fieldString(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

async function records(r: Extract<PlaygroundRequest, { type: 'records' }>): Promise<void> {
  const all = await readRecords(r.file);
  const out = all.slice(0, r.limit).map((rec) => ({
    input: fieldString(rec.fields[r.inputField]) ?? JSON.stringify(rec.fields),
    expected: fieldString(rec.fields[r.targetField]),
    where: rec.where.label,
  }));
  send({ type: 'records', id: r.id, records: out, total: all.length });
}

/**
 * Loss and metrics of the model with the adapter and without it, in chunks so progress can be reported. The loss is
 * the mean over target tokens (chunk means weighted by their token counts); the metrics are computed once over all
 * predictions, exactly as one `evaluate` call would.
 */
async function evaluateData(r: Extract<PlaygroundRequest, { type: 'evaluate' }>): Promise<void> {
  const a = await adapted(r.model, r.adapter);
  try {
    const t0 = performance.now();
    const task = adapterTask(a.adapter.meta);
    const n = a.prompt.length;
    const trained = a.adapter.meta.training.maxLength;
    const fallback = defaultMaxLength(a.model.info.maxPositions, n);
    if (fallback < 2) throw new Error(`The adapter's ${n} virtual tokens fill ${a.model.info.name}'s ${a.model.info.maxPositions} positions: no room for any input.`);
    const maxLength = typeof trained === 'number' && trained >= 2 && trained <= a.model.info.maxPositions - n ? trained : fallback;
    const recs = await readRecords(r.data);
    const examples = buildExamples(recs, task, a.model.tokenizer, maxLength, a.adapter.meta.task.labels, undefined, { seq2seq: a.model.kind === 'encoder-decoder' });
    const CHUNK = 32;
    const total = examples.length * 2;
    let done = 0;
    const run = async (prompt: PromptModule | null) => {
      let nll = 0;
      let tokens = 0;
      const predictions: (number | string)[] = [];
      for (let i = 0; i < examples.length; i += CHUNK) {
        const part: EvalExample[] = examples.slice(i, i + CHUNK);
        const res = await evaluate(a.model, prompt, part, task, a.labels, 16);
        const count = part.reduce((s, e) => s + e.targetIds.length, 0);
        nll += res.loss * count;
        tokens += count;
        predictions.push(...res.predictions);
        done += part.length;
        send({ type: 'progress', id: r.id, done, total });
      }
      return { loss: nll / Math.max(1, tokens), metrics: metricsOf(task, predictions, examples, a.labels) };
    };
    const withAdapter = await run(a.prompt);
    const without = await run(null);
    const report: EvaluationReport = { data: r.data, examples: examples.length, with: withAdapter, without, ms: performance.now() - t0 };
    send({ type: 'evaluation', id: r.id, report });
  } finally {
    a.prompt.dispose();
  }
}

function metricsOf(task: EvalTask, predictions: (number | string)[], examples: EvalExample[], labels: LabelSet | null): Record<string, number> {
  if (labels) return classificationMetrics(task, labels.names, predictions.map((p) => labels.names.indexOf(String(p))), examples);
  return generationMetrics(task, predictions.map(String), examples);
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

async function serve(r: PlaygroundRequest): Promise<void> {
  switch (r.type) {
    case 'predict':
      return predict(r);
    case 'neighbours':
      return neighbours(r);
    case 'fingerprint':
      return fingerprints(r);
    case 'records':
      return records(r);
    case 'evaluate':
      return evaluateData(r);
    default:
      assertNever(r);
  }
}

if (!process.send) {
  console.error('dist/playground.js is started by ULPT Studio with an IPC channel; use `ulpt predict` / `ulpt eval` on the command line.');
  process.exit(2);
}

const backendName = (isBackendName(process.argv[2] ?? '') ? process.argv[2] : 'auto') as BackendName;
const ready = initBackend(backendName, { nativeSearchPath: process.env.ULPT_TFJS_NODE_PATH }).then((b) => {
  send({ type: 'ready', backend: b.name, device: b.device });
});
let queue: Promise<void> = ready;
process.on('message', (raw: unknown) => {
  const r = raw as PlaygroundRequest;
  queue = queue
    .then(() => serve(r))
    .catch((e: unknown) => send({ type: 'failed', id: r.id, message: e instanceof Error ? e.message : String(e) }));
});
process.on('disconnect', () => process.exit(0));
