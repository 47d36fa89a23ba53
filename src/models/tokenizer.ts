// The text side of a model folder: tokenizer.json through @huggingface/tokenizers (tokenizers.js).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

/** What the engine needs of a tokenizer. Data code depends on this, not on the library. */
export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: number[]): string;
  /** End-of-sequence id (appended to generation targets), or null when the tokenizer has none. */
  eosId: number | null;
  /** Id used for padding positions (masked out; any valid id works). */
  padId: number;
  vocabSize: number;
}

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`The model folder has no ${what}: looked for ${file}.`);
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

export function loadTokenizer(modelDir: string, eosHint?: number | null): TextTokenizer {
  const json = readJson(path.join(modelDir, 'tokenizer.json'), 'tokenizer.json');
  const cfgFile = path.join(modelDir, 'tokenizer_config.json');
  const config = fs.existsSync(cfgFile) ? readJson(cfgFile, 'tokenizer_config.json') : {};
  const tok = new Tokenizer(json, config);
  const model = json.model as { vocab?: Record<string, number> | unknown[] } | undefined;
  const added = (json.added_tokens as { id: number; content: string }[] | undefined) ?? [];
  const vocabSize = Math.max(
    model?.vocab ? (Array.isArray(model.vocab) ? model.vocab.length : Object.keys(model.vocab).length) : 0,
    ...added.map((t) => t.id + 1),
  );
  const byContent = (s: unknown) => (typeof s === 'string' ? added.find((t) => t.content === s)?.id : undefined);
  const eosToken = typeof config.eos_token === 'object' && config.eos_token ? (config.eos_token as { content?: string }).content : config.eos_token;
  const eosId = eosHint ?? byContent(eosToken) ?? byContent('<|endoftext|>') ?? byContent('</s>') ?? null;
  return {
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    // tokenizers.js refuses an empty list; an empty generation (EOS first) is simply no text.
    decode: (ids) => (ids.length ? tok.decode(ids, { skip_special_tokens: true }) : ''),
    eosId,
    padId: eosId ?? 0,
    vocabSize,
  };
}
