// A sweep's results table: per arm, the mean ± sample standard deviation over seeds of the task's main metric (the
// best adapter's value, from each run's summary.json), the trainable parameters, and the share of vanilla prompt
// tuning's mean when the grid holds a method=prompt-tuning arm. With --pick, the picked key's value is chosen per
// arm on the dev split, and the chosen runs' held-out scores are reported instead. Plain Node: no TensorFlow.js.
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic';
import type { RunSummary } from '../protocol';
import { armKey, armLabel, ULPT_ONLY_KEYS, type Arm, type GridValue } from './grid';
import { cellRunDir, readSummary, RESULTS_CSV, RESULTS_MD, type SweepCell, type SweepFile } from './plan';

export interface CellResult {
  cell: SweepCell;
  runDir: string;
  /** summary.json of a finished run (completed or early-stopped), else null. */
  summary: RunSummary | null;
  /** The metric that chose the run's best adapter (its summary.json says), and that adapter's value. */
  metric: string | null;
  value: number | null;
}

export interface ArmRow {
  label: string;
  /** The arm without the picked key. */
  arm: Arm;
  /** --pick: the chosen value and its mean dev metric over seeds. */
  picked: { value: GridValue; devMean: number } | null;
  done: number;
  total: number;
  /** The reported value of each finished seed: validation best (no pick) or held-out score (pick). */
  values: number[];
  mean: number | null;
  std: number | null;
  trainableParameters: number | null;
  /** 100 · mean / the matching vanilla prompt tuning arm's mean, when the grid has one. */
  ofVanilla: number | null;
}

export interface SweepResults {
  metric: string;
  rows: ArmRow[];
  /** --pick: the frozen model (no prompt) on the held-out file. */
  baseline: number | null;
  done: number;
  total: number;
}

export function cellResults(dir: string, file: SweepFile): CellResult[] {
  return file.cells.map((cell) => {
    const runDir = cellRunDir(dir, cell);
    const s = readSummary(runDir);
    const summary = s && s.reason !== 'stopped' ? s : null;
    const metric = summary?.metric ?? null; // the key that picked the run's best adapter (both engines write it)
    const value = summary && metric && typeof summary.best?.[metric] === 'number' ? summary.best[metric] : null;
    return { cell, runDir, summary, metric, value };
  });
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null);
/** Sample standard deviation (n − 1); null below two values. */
export function sampleStd(xs: number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs)!;
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

function without(arm: Arm, key: string | null): Arm {
  return key ? Object.fromEntries(Object.entries(arm).filter(([k]) => k !== key)) : arm;
}

/** Groups of cells by arm (without the picked key), in the grid's order. */
function groups(results: CellResult[], pickKey: string | null): { arm: Arm; cells: CellResult[] }[] {
  const out = new Map<string, { arm: Arm; cells: CellResult[] }>();
  for (const r of results) {
    const arm = without(r.cell.arm, pickKey);
    const k = armKey(arm);
    if (!out.has(k)) out.set(k, { arm, cells: [] });
    out.get(k)!.cells.push(r);
  }
  return [...out.values()];
}

/** The picked key's value with the best mean dev metric (ties: the first in the grid), and that value's cells. */
function choose(cells: CellResult[], key: string): { value: GridValue; devMean: number; cells: CellResult[] } | null {
  const byValue = new Map<string, CellResult[]>();
  for (const c of cells) {
    const k = JSON.stringify(c.cell.arm[key]);
    byValue.set(k, [...(byValue.get(k) ?? []), c]);
  }
  let best: { value: GridValue; devMean: number; cells: CellResult[] } | null = null;
  for (const group of byValue.values()) {
    const dev = mean(group.map((c) => c.value).filter((v): v is number => v !== null));
    if (dev === null) continue;
    if (!best || dev > best.devMean) best = { value: group[0].cell.arm[key], devMean: dev, cells: group };
  }
  return best;
}

/** The cells whose held-out score the table needs (--pick): the chosen value's runs of every arm. */
export function chosenCells(dir: string, file: SweepFile): CellResult[] {
  if (!file.pick) return [];
  return groups(cellResults(dir, file), file.pick.key).flatMap((g) => choose(g.cells, file.pick!.key)?.cells ?? []).filter((c) => c.summary);
}

/** Vanilla prompt tuning's row for an arm: method prompt-tuning, every other (non-ULPT) key equal. */
function vanillaOf(arm: Arm, rows: ArmRow[]): ArmRow | null {
  if (!('method' in arm)) return null;
  const same = (a: Arm) => Object.keys(arm).every((k) => k === 'method' || ULPT_ONLY_KEYS.includes(k) || JSON.stringify(a[k]) === JSON.stringify(arm[k]));
  return rows.find((r) => r.arm.method === 'prompt-tuning' && same(r.arm)) ?? null;
}

/**
 * The table's numbers. `heldOut` (--pick): cell id → the held-out value of its best adapter, and the frozen
 * model's held-out value; without it a picked sweep's rows have no values yet.
 */
export function sweepResults(dir: string, file: SweepFile, heldOut?: { scores: Map<string, number>; baseline: number | null }): SweepResults {
  const results = cellResults(dir, file);
  const metric = results.find((r) => r.metric)?.metric ?? 'metric';
  const pickKey = file.pick?.key ?? null;
  const rows: ArmRow[] = groups(results, pickKey).map(({ arm, cells }) => {
    const picked = pickKey ? choose(cells, pickKey) : null;
    const reported = pickKey ? picked?.cells ?? [] : cells;
    const values = reported
      .map((c) => (pickKey ? heldOut?.scores.get(c.cell.id) ?? null : c.value))
      .filter((v): v is number => v !== null);
    return {
      label: armLabel(arm), arm, picked: picked ? { value: picked.value, devMean: picked.devMean } : null,
      done: cells.filter((c) => c.summary).length, total: cells.length, values, mean: mean(values), std: sampleStd(values),
      trainableParameters: reported.find((c) => c.summary)?.summary!.trainableParameters ?? null, ofVanilla: null,
    };
  });
  for (const row of rows) {
    const vanilla = vanillaOf(row.arm, rows);
    if (vanilla && vanilla !== row && vanilla.mean && row.mean !== null) row.ofVanilla = (100 * row.mean) / vanilla.mean;
  }
  return { metric, rows, baseline: heldOut?.baseline ?? null, done: results.filter((r) => r.summary).length, total: results.length };
}

// ---- The table as text

const pct = (v: number | null) => (v === null ? '–' : (100 * v).toFixed(1));

/** "93.8 ± 2.1" (×100), "93.8" for one seed, "–" for none. */
function meanStd(row: ArmRow): string {
  if (row.mean === null) return '–';
  return row.std === null ? pct(row.mean) : `${pct(row.mean)} ± ${pct(row.std)}`;
}

/** What the numbers are, in one paragraph above the table. */
function caption(r: SweepResults, file: SweepFile, workspace: string): string {
  const seeds = file.seeds.length > 1 ? `mean ± sample std over seeds ${file.seeds.join(', ')}` : `seed ${file.seeds[0]}`;
  const runs = `${r.done} of ${r.total} runs finished`;
  if (file.pick) {
    const test = path.relative(workspace, file.pick.test) || file.pick.test;
    return `${r.metric} ×100 on \`${test}\` (held out: never trained or chosen on). Each arm's ${file.pick.key} is the one with the best mean ${r.metric} ` +
      `on a ${Math.round(100 * file.pick.devSplit)} % dev split of the training file, where each run's best step is chosen too; ${seeds} of that ${file.pick.key}; ${runs}.`;
  }
  const where = file.base.validation ? `\`${path.relative(workspace, file.base.validation)}\`` : `a ${Math.round(100 * file.base.validationSplit)} % split of the training file`;
  return `${r.metric} ×100 of each run's best adapter on ${where} (its best evaluation: the validation data also chose the step, so this is not a held-out score — see --pick); ${seeds}; ${runs}.`;
}

export function resultsMarkdown(r: SweepResults, file: SweepFile, workspace: string): string {
  const pick = file.pick;
  const hasVanilla = r.rows.some((row) => row.ofVanilla !== null);
  const head = ['arm', ...(pick ? [`${pick.key} (chosen)`, `dev ${r.metric} ×100`] : []), 'runs', 'trainable parameters', `${r.metric} ×100`, ...(hasVanilla ? ['% of vanilla'] : [])];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const rows = r.rows.map((row) => line([
    row.label,
    ...(pick ? [row.picked ? String(row.picked.value) : '–', row.picked ? pct(row.picked.devMean) : '–'] : []),
    `${row.done}/${row.total}`, row.trainableParameters === null ? '–' : String(row.trainableParameters), meanStd(row),
    ...(hasVanilla ? [row.ofVanilla === null ? '' : `${row.ofVanilla.toFixed(1)} %`] : []),
  ]));
  const baseline = pick && r.baseline !== null ? [line(['no prompt (frozen model)', '–', '–', '–', '0', pct(r.baseline), ...(hasVanilla ? [''] : [])])] : [];
  return [caption(r, file, workspace), '', line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...baseline, ...rows].join('\n') + '\n';
}

function csvField(v: string | number | null): string {
  const s = v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One line per arm with full-precision numbers; the per-seed values joined by ";". */
export function resultsCsv(r: SweepResults, file: SweepFile): string {
  const keys = file.grid.map((g) => g.key).filter((k) => k !== file.pick?.key);
  const head = ['arm', ...keys, ...(file.pick ? [`${file.pick.key}_chosen`, 'dev_mean'] : []), 'runs_done', 'runs_total', 'trainable_parameters', 'metric', 'mean', 'std', 'percent_of_vanilla', 'values'];
  const lines = r.rows.map((row) => [
    row.label, ...keys.map((k) => (k in row.arm ? String(row.arm[k]) : '')),
    ...(file.pick ? [row.picked ? String(row.picked.value) : '', row.picked?.devMean ?? null] : []),
    row.done, row.total, row.trainableParameters, r.metric, row.mean, row.std, row.ofVanilla, row.values.join(';'),
  ].map((v) => csvField(v as string | number | null)).join(','));
  const baseline = file.pick && r.baseline !== null
    ? [['no prompt (frozen model)', ...keys.map(() => ''), '', '', '', '', 0, r.metric, r.baseline, '', '', String(r.baseline)].map((v) => csvField(v as string | number)).join(',')]
    : [];
  return [head.join(','), ...baseline, ...lines].join('\n') + '\n';
}

/** Writes results.md and results.csv into the sweep folder (each atomically); returns their paths. */
export function writeResults(dir: string, file: SweepFile, r: SweepResults): { markdown: string; csv: string; text: string } {
  const workspace = path.dirname(path.resolve(file.configFile));
  const text = resultsMarkdown(r, file, workspace);
  const md = path.join(dir, RESULTS_MD);
  const csv = path.join(dir, RESULTS_CSV);
  writeFileAtomic(md, text);
  writeFileAtomic(csv, resultsCsv(r, file));
  return { markdown: md, csv, text };
}
