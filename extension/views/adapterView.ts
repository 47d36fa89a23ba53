// What the adapter inspector shows, read from the .ulpt file alone (no model, no TensorFlow.js) on the extension
// host. readAdapter checks the whole file, so a corrupt, truncated or hostile one becomes a message; every
// computation is bounded (file size, prompt size, PCA work) so no file can keep the host busy for long.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { adapterScatter, envelope, parameterComparison, virtualTokenNorms } from '../../src/analysis/adapterFacts';
import { AdapterError, materializePrompt, readAdapter, type AdapterMeta } from '../../src/io/adapter';
import type { AdapterView } from '../../src/protocol';

/** Larger files are refused without being read: a ULPT adapter is a few KB, a vanilla prompt a few MB. */
export const MAX_ADAPTER_BYTES = 64 * 1024 * 1024;
/** Multiply-adds allowed to materialise the prompt for the norms chart (n·r·d). */
const MAX_MATERIALIZE_WORK = 2e8;
/** Columns of the scale/shift charts. */
const CHART_COLUMNS = 1024;

export type AdapterReading = { ok: true; view: AdapterView; meta: AdapterMeta } | { ok: false; message: string };

function describe(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v) ?? String(v);
}

/** The training settings the file records, as label/value pairs (nested objects such as the task as JSON). */
function trainingEntries(training: Record<string, unknown>): { label: string; value: string }[] {
  return Object.entries(training)
    .filter(([k, v]) => v !== undefined && v !== null && k !== 'steps_done' && k !== 'backend')
    .map(([label, v]) => ({ label, value: describe(v) }));
}

export function readAdapterView(file: string): AdapterReading {
  let bytes: number;
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return { ok: false, message: `${file} is not a file.` };
    bytes = st.size;
  } catch (e) {
    return { ok: false, message: `${file} cannot be read: ${(e as Error).message}` };
  }
  if (bytes > MAX_ADAPTER_BYTES) {
    return { ok: false, message: `${path.basename(file)} is ${(bytes / 2 ** 20).toFixed(0)} MB; an adapter is a few KB (ULPT) to a few MB (vanilla prompt tuning), so this is not one. Nothing of it was read.` };
  }
  let adapter;
  try {
    adapter = readAdapter(file);
  } catch (e) {
    if (e instanceof AdapterError) return { ok: false, message: e.message };
    return { ok: false, message: `${file} cannot be read as an adapter: ${(e as Error).message}` };
  }
  const { meta, tensors } = adapter;
  const n = meta.num_virtual_tokens;
  const r = meta.rank;
  const d = meta.hidden_size;
  const notes: string[] = [];
  const scatter = adapterScatter(meta, tensors);
  if (!scatter) notes.push(`The ${n} × ${meta.method === 'ulpt' ? r : d} matrix is too large to project here.`);
  let norms: number[] | null = null;
  const work = meta.method === 'ulpt' ? n * r * d : n * d;
  if (work <= MAX_MATERIALIZE_WORK) norms = virtualTokenNorms(materializePrompt(adapter, file), n, d);
  else notes.push(`The prompt (${n} × ${d}) is too large to materialise here; its norms are not shown.`);
  const steps = meta.training.steps_done;
  const backend = meta.training.backend;
  const labels = meta.task.labels ? meta.task.labels.names.map((name, i) => ({ name, word: meta.task.labels!.words[i] })) : [];
  const view: AdapterView = {
    file,
    bytes,
    method: meta.method,
    n,
    r,
    d,
    alignment: meta.alignment,
    seed: meta.seed,
    parameters: parameterComparison(meta),
    base: { modelType: meta.base_model.model_type, name: meta.base_model.name, fingerprint: meta.base_model.fingerprint, vocabSize: meta.base_model.vocab_size },
    task: { type: meta.task.type, template: meta.task.template, inputField: meta.task.input_field, targetField: meta.task.target_field, labels },
    training: trainingEntries(meta.training),
    steps: typeof steps === 'number' ? steps : null,
    backend: typeof backend === 'string' ? backend : null,
    metrics: meta.metrics,
    created: meta.created,
    scatter,
    scale: tensors.scale ? envelope(tensors.scale, CHART_COLUMNS) : null,
    shift: tensors.shift ? envelope(tensors.shift, CHART_COLUMNS) : null,
    norms,
    notes,
  };
  return { ok: true, view, meta };
}
