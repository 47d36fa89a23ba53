// --pick: the chosen runs' best adapters (best step chosen on the dev split) scored once on the held-out file, and
// the frozen model beside them. Scores are kept in heldout.json in the sweep folder, keyed by the adapter's and
// the file's digests, so a rerun of the sweep does not score them again and a changed file is scored anew.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../backend';
import { buildExamples, type DataRecord } from '../data';
import { DataWarnings } from '../data/warnings';
import { resolveHubInputs } from '../hub/resolve';
import { readAdapter } from '../io/adapter';
import { writeFileAtomic } from '../io/atomic';
import { loadModel } from '../models/loader';
import type { LanguageModel } from '../models/types';
import { evaluate, labelSetFor } from '../train/evaluate';
import { dataDigest, fileDigest } from '../train/inputs';
import { readData } from '../train/trainer';
import { adapterTask } from '../train/predict';
import { RUN_FILES } from '../train/runFolder';
import { promptFromAdapter } from '../ulpt/prompt';
import type { CellResult } from './results';
import type { SweepFile } from './plan';

export const HELD_OUT_FILE = 'heldout.json';

interface HeldOutCache {
  test: string;
  testDigest: string;
  /** cell id → the adapter scored (its digest) and its metrics on the test file. */
  scores: Record<string, { adapter: string; digest: string; metrics: Record<string, number> }>;
  /** The frozen model on the test file. */
  baseline: Record<string, number> | null;
}

function readCache(file: string, test: string, testDigest: string): HeldOutCache {
  try {
    const c = JSON.parse(fs.readFileSync(file, 'utf8')) as HeldOutCache;
    if (c.test === test && c.testDigest === testDigest && c.scores) return c;
  } catch {
    /* none yet, or unreadable: score again */
  }
  return { test, testDigest, scores: {}, baseline: null };
}

/** The adapter a run's score stands for: best.ulpt (the best evaluation on the dev split), else final.ulpt. */
function runAdapter(runDir: string): string {
  const best = path.join(runDir, RUN_FILES.best);
  return fs.existsSync(best) ? best : path.join(runDir, RUN_FILES.final);
}

/**
 * Scores `cells`' adapters and the frozen model on the sweep's held-out file (with the built-in engine, whatever
 * engine trained them). Returns cell id → `metric`, and the frozen model's `metric`.
 */
export async function scoreHeldOut(dir: string, file: SweepFile, cells: CellResult[], metric: string, onNote: (text: string) => void = () => {}): Promise<{ scores: Map<string, number>; baseline: number | null }> {
  const pick = file.pick;
  if (!pick || !cells.length) return { scores: new Map(), baseline: null };
  const cacheFile = path.join(dir, HELD_OUT_FILE);
  // The runs' own model and held-out data, local: a Hub id or an hf:// file (a preset's) from the cache, fetched if needed.
  const local = await resolveHubInputs({ ...file.base, validation: pick.test });
  const test = local.validation!;
  const cache = readCache(cacheFile, pick.test, dataDigest(test));
  // Each chosen adapter and its digest, read once: a score is kept while the adapter it was made of is unchanged.
  const adapters = new Map(cells.map((c) => {
    const adapterFile = runAdapter(c.runDir);
    return [c.cell.id, { file: adapterFile, digest: fileDigest(adapterFile) }] as const;
  }));
  const todo = cells.filter((c) => cache.scores[c.cell.id]?.digest !== adapters.get(c.cell.id)!.digest);
  if (todo.length || !cache.baseline) {
    await initBackend(file.base.backend);
    const model = await loadModel(local.model);
    try {
      // As the runs read theirs: the task's columns, the preset's check and the config's filter (MRQA's subset).
      const records = await readData(local, test, new DataWarnings());
      for (const c of todo) {
        const { file: adapterFile, digest } = adapters.get(c.cell.id)!;
        onNote(`scoring ${path.basename(c.runDir)}/${path.basename(adapterFile)} on ${path.basename(pick.test)}`);
        cache.scores[c.cell.id] = { adapter: path.relative(dir, adapterFile), digest, metrics: await score(model, adapterFile, records, true) };
        writeFileAtomic(cacheFile, JSON.stringify(cache, null, 2) + '\n');
      }
      if (!cache.baseline) {
        cache.baseline = await score(model, runAdapter(cells[0].runDir), records, false);
        writeFileAtomic(cacheFile, JSON.stringify(cache, null, 2) + '\n');
      }
    } finally {
      model.dispose();
    }
  }
  const scores = new Map(cells.map((c) => [c.cell.id, cache.scores[c.cell.id].metrics[metric]] as const).filter((e): e is [string, number] => typeof e[1] === 'number'));
  const base = cache.baseline?.[metric];
  return { scores, baseline: typeof base === 'number' ? base : null };
}

/**
 * The metrics of an adapter on `records` (or of the frozen model with its task, when `withPrompt` is false), built
 * as the run built its validation set: the adapter's task, label words and token budget.
 */
async function score(model: LanguageModel, adapterFile: string, records: DataRecord[], withPrompt: boolean): Promise<Record<string, number>> {
  const adapter = readAdapter(adapterFile);
  const task = adapterTask(adapter.meta);
  const maxLength = adapter.meta.training.maxLength;
  if (typeof maxLength !== 'number') throw new Error(`${adapterFile} records no maxLength; it cannot be scored as its run was.`);
  const labels = adapter.meta.task.labels;
  const examples = buildExamples(records, task, model.tokenizer, maxLength, labels, undefined, { seq2seq: model.kind === 'encoder-decoder' });
  const prompt = withPrompt ? await promptFromAdapter(adapter, model.tokenEmbeddings) : null;
  try {
    const batch = typeof adapter.meta.training.batchSize === 'number' ? adapter.meta.training.batchSize : 16;
    return (await evaluate(model, prompt, examples, task, labelSetFor(labels, model.tokenizer), batch)).metrics;
  } finally {
    prompt?.dispose();
  }
}
