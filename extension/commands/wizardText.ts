// The wizard's texts and files, without VS Code (so they can be tested): tokens shown with visible spaces, a label
// word's line in the list, and the answers written as a *.ulpt.json config file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Tokenized } from './tokenizer';

/** Tokens for people: [input][:][␣the]… (a leading space shown as ␣, so word boundaries are visible). */
export function showTokens(pieces: string[], max = 24): string {
  const shown = pieces.slice(0, max).map((p) => `[${p.replace(/ /g, '␣').replace(/\n/g, '⏎')}]`).join('');
  return pieces.length > max ? `${shown}… (+${pieces.length - max})` : shown;
}

/** How a label word reads in the list: its tokens, and a warning when it is several. */
export function describeLabelWord(w: { text: string; tokens: Tokenized | null }): { description: string; warning: boolean } {
  if (!w.tokens) return { description: `→ ${JSON.stringify(w.text)}`, warning: false };
  const n = w.tokens.ids.length;
  const warning = n !== 1;
  return { description: `→ ${JSON.stringify(w.text)} · ${n} token${n === 1 ? '' : 's'} ${showTokens(w.tokens.pieces)}${warning ? ' · several tokens: one-token words are scored more reliably' : ''}`, warning };
}

/**
 * The answers as a config file: paths relative to its folder, Hub references (org/name, hf://…) as written; no
 * backend (the settings of whoever trains it decide).
 */
export function configFileText(raw: Record<string, unknown>, dir: string): string {
  const rel = (p: unknown) => (typeof p !== 'string' || !path.isAbsolute(p) ? p : path.relative(dir, p).split(path.sep).join('/') || '.');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined || k === 'backend') continue; // the backend comes from the settings of whoever trains it
    out[k] = ['model', 'train', 'validation', 'out'].includes(k) ? rel(v) : v;
  }
  return JSON.stringify(out, null, 2) + '\n';
}

/** `dir/stem.ext`, or `dir/stem-2.ext`, `-3`, … : the first name no file has (a config or an adapter the wizard proposes). */
export function freeFileName(dir: string, stem: string, ext: string): string {
  for (let i = 1; ; i++) {
    const file = path.join(dir, `${stem}${i === 1 ? '' : `-${i}`}${ext}`);
    if (!fs.existsSync(file)) return file;
  }
}
