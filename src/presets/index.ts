// Presets: `preset: "glue/rte"` in a config (or --preset) fills in the dataset, template, label words, task type and
// metric of one of the paper's tasks (table.ts). The user's own fields override the preset's, inside `task` too.
// This module reads no TensorFlow.js and nothing of the extension, so the CLI, the trainer and the wizard share it.
import { DatasetError } from '../data/errors';
import type { DataRecord } from '../data/readers';
import { templateFields } from '../data/template';
import { editDistance } from '../editDistance';
import { PRESETS } from './table';
import type { Preset } from './types';

export { PRESETS };
export type { Preset, PresetTask } from './types';

const BY_NAME = new Map(PRESETS.map((p) => [p.name, p]));

export function findPreset(name: string): Preset | undefined {
  return BY_NAME.get(name);
}

export function presetNames(): string[] {
  return PRESETS.map((p) => p.name);
}

/** "no preset "glue/rtee"; did you mean glue/rte? The presets: glue/mnli, …" */
export function unknownPresetMessage(name: string): string {
  const wanted = name.toLowerCase();
  // The same name in other case, the task without its benchmark ("rte"), or a slip of at most two characters.
  const near = presetNames().find((n) => n.toLowerCase() === wanted || n.endsWith(`/${wanted}`)) ?? presetNames().find((n) => editDistance(n, wanted) <= 2);
  return `there is no preset "${name}"${near ? `; did you mean ${near}?` : '.'} The presets: ${presetNames().join(', ')} (ulpt presets lists them with their datasets and metrics).`;
}

type RawConfig = Record<string, unknown> & { task?: Record<string, unknown> };

/**
 * The config with the preset's fields where the user gave none. The data files go together: a user who gives their
 * own `train` (a local copy, a subset) or a `validationSplit` does not get the preset's validation file beside it.
 * The adapter's default name is the preset's ("glue-rte.ulpt") unless the user names the training data.
 */
export function withPreset(preset: Preset, raw: RawConfig): RawConfig {
  const ownData = raw.train !== undefined || (typeof raw.validationSplit === 'number' && raw.validationSplit > 0);
  // Copies: a resolved config never shares an object with the table.
  const { filter, task } = structuredClone({ filter: preset.filter, task: preset.task });
  const filled: RawConfig = {
    train: preset.train,
    ...(ownData ? {} : { validation: preset.validation }),
    ...(filter ? { filter } : {}),
    ...(raw.train === undefined ? { out: `adapters/${preset.name.replace(/\//g, '-')}.ulpt` } : {}),
    ...raw,
  };
  filled.task = { ...task, ...(raw.task ?? {}) };
  return filled;
}

/** The task fields a dataset must have as columns: what the template reads, the target, and the grouping fields. */
interface TaskColumns {
  template: string;
  inputField: string;
  targetField: string;
  groupField?: string | string[];
  answersField?: string;
}

/** The columns a config reads from every record: template fields, target, filter keys, grouping and answer fields. */
export function columnsRead(task: TaskColumns, filter?: Record<string, unknown>): string[] {
  const fromTemplate = task.template === '{input}' ? [task.inputField] : templateFields(task.template);
  // A dotted path (idx.question) reads a column holding an object: the column is its first part.
  const dotted = [task.groupField ?? [], task.answersField ?? []].flat().map((f) => f.split('.')[0]);
  return [...new Set([...fromTemplate, task.targetField, ...dotted, ...Object.keys(filter ?? {})])];
}

/**
 * Refuses a data file whose columns are not the ones a preset's config reads, naming the file, the preset, the
 * missing columns and the ones the file has: the usual cause is a dataset other than the preset's.
 */
export function checkPresetColumns(presetName: string, records: DataRecord[], task: TaskColumns, filter?: Record<string, unknown>): void {
  if (!records.length) return;
  const first = records[0];
  const has = Object.keys(first.fields);
  const missing = columnsRead(task, filter).filter((c) => !Object.prototype.hasOwnProperty.call(first.fields, c));
  if (!missing.length) return;
  const preset = findPreset(presetName);
  const from = preset ? ` (${preset.dataset}, ${preset.config})` : '';
  throw new DatasetError(first.where.file, `the preset ${presetName}${from} reads the column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which this file does not have ` +
    `(its columns: ${has.join(', ') || 'none'}). Give the preset's data, or set the task fields (task.template, task.targetField) for this file's columns.`, missing[0]);
}

/**
 * The records whose fields equal every value of `filter` (compared as text: a Parquet integer 1 matches "1"). None
 * left is an error naming the values the field does have, so a misspelt subset is found at once.
 */
export function filterRecords(records: DataRecord[], filter: Record<string, unknown> | undefined, spec: string): DataRecord[] {
  const entries = Object.entries(filter ?? {});
  if (!entries.length) return records;
  const kept = records.filter((r) => entries.every(([k, v]) => String(r.fields[k]) === String(v)));
  if (kept.length) return kept;
  const [key, value] = entries.find(([k, v]) => !records.some((r) => String(r.fields[k]) === String(v))) ?? entries[0];
  const seen = [...new Set(records.map((r) => r.fields[key]).filter((v) => v !== undefined).map(String))];
  const values = seen.length ? `its values there: ${seen.slice(0, 12).join(', ')}${seen.length > 12 ? `, … (${seen.length} in all)` : ''}` : `no record has a "${key}" field`;
  throw new DatasetError(spec, `no record is left by filter ${JSON.stringify(Object.fromEntries(entries))}: none has ${key} = ${JSON.stringify(value)} (${values}).`, key);
}

/** `ulpt presets`: one line per preset. */
export function presetsText(): string {
  const rows = PRESETS.map((p) => [p.name, p.dataset + (p.filter ? ` [${Object.values(p.filter).join(',')}]` : ''), p.task.type, p.task.metric, String(p.sizes.train), `${p.sizes.validation} (${p.validationSplit})`]);
  const head = ['preset', 'dataset', 'task', 'metric', 'train', 'evaluated on'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i >= 4 && i < 5 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/** `ulpt presets --json`: what each preset fills in. */
export function presetsJson(): object[] {
  return PRESETS.map((p) => ({ name: p.name, dataset: p.dataset, config: p.config, card: p.card, train: p.train, validation: p.validation, validationSplit: p.validationSplit, ...(p.filter ? { filter: p.filter } : {}), task: p.task, sizes: p.sizes }));
}
