// The text side of a model folder: tokenizer.json through @huggingface/tokenizers (tokenizers.js), with the special
// tokens the folder's files agree on (specialTokens.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { resolveSpecialTokens, type ModelFiles } from './specialTokens';

/** What the engine needs of a tokenizer. Data code depends on this, not on the library. */
export interface TextTokenizer {
  /** Ids of plain text, without any special tokens. */
  encode(text: string): number[];
  /** Text of ids, special tokens (and ids the tokenizer does not know) left out. */
  decode(ids: number[]): string;
  /** End-of-sequence id (appended to generation targets), or null when the tokenizer has none. */
  eosId: number | null;
  /** Id used for padding positions (masked out; any valid id works). */
  padId: number;
  vocabSize: number;
  /** Beginning-of-sequence id, if the tokenizer has one (whether inputs get it: inputPrefix). */
  bosId?: number | null;
  /** Special ids the family's tokenizer puts before every input (Llama's BOS; none for GPT-2, Qwen, T5). */
  inputPrefix?: number[];
  /** Special ids after every input (T5's </s>). */
  inputSuffix?: number[];
  /** Generation stops at any of these (the EOS ids of config.json and generation_config.json too). */
  stopIds?: number[];
}

/** An input's ids with the family's special tokens around them. */
export function wrapInput(tok: TextTokenizer, ids: number[]): number[] {
  const pre = tok.inputPrefix ?? [];
  const post = tok.inputSuffix ?? [];
  return pre.length || post.length ? [...pre, ...ids, ...post] : ids;
}

/** How many special tokens wrapInput adds. */
export function inputSpecials(tok: TextTokenizer): number {
  return (tok.inputPrefix?.length ?? 0) + (tok.inputSuffix?.length ?? 0);
}

/** The ids that end a generation. */
export function stopIds(tok: TextTokenizer): number[] {
  return tok.stopIds ?? (tok.eosId === null ? [] : [tok.eosId]);
}

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new Error(`The model folder has no ${what}: looked for ${file}.`);
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
    return json as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

function optionalJson(file: string): Record<string, unknown> | null {
  return fs.existsSync(file) ? readJson(file, path.basename(file)) : null;
}

/**
 * The tokenizer of a model folder. `config` is config.json (read from the folder when not given); `modelVocab` the
 * rows of the embedding matrix (special ids must be below it; default: any id the tokenizer knows). Warnings
 * (ignored or replaced special ids) are pushed onto `warnings`.
 */
export function loadTokenizer(
  modelDir: string, config: Record<string, unknown> = optionalJson(path.join(modelDir, 'config.json')) ?? {}, modelVocab = Infinity,
  seq2seq = false, warnings: string[] = [],
): TextTokenizer & { decoderStartId: number | null } {
  const tokFile = path.join(modelDir, 'tokenizer.json');
  const json = readJson(tokFile, 'tokenizer.json');
  const cfgFile = path.join(modelDir, 'tokenizer_config.json');
  const tokConfig = optionalJson(cfgFile);
  let tok: Tokenizer;
  try {
    // tokenizers.js reads a few settings (clean_up_tokenization_spaces, …) from tokenizer_config.json.
    tok = new Tokenizer(json, tokConfig ?? {});
  } catch (e) {
    throw new Error(`${tokFile} could not be read as a tokenizer: ${(e as Error).message}`);
  }
  const model = json.model as { vocab?: Record<string, number> | unknown[] } | undefined;
  const added = (json.added_tokens as { id: number; content: string }[] | undefined) ?? [];
  const vocabSize = Math.max(
    model?.vocab ? (Array.isArray(model.vocab) ? model.vocab.length : Object.keys(model.vocab).length) : 0,
    ...added.map((t) => t.id + 1),
  );
  const files: ModelFiles = {
    config: { file: path.join(modelDir, 'config.json'), json: config },
    generationConfig: wrap(path.join(modelDir, 'generation_config.json')),
    tokenizerConfig: tokConfig ? { file: cfgFile, json: tokConfig } : null,
    specialTokensMap: wrap(path.join(modelDir, 'special_tokens_map.json')),
    tokenizer: { file: tokFile, json },
  };
  const special = resolveSpecialTokens(files, { rows: modelVocab, size: vocabSize, idOf: (s) => tok.token_to_id(s) }, seq2seq);
  warnings.push(...special.warnings);
  const known = (id: number) => Number.isInteger(id) && id >= 0 && id < vocabSize && tok.id_to_token(id) !== undefined;
  return {
    encode: (text) => tok.encode(text, { add_special_tokens: false }).ids,
    decode: (ids) => {
      // Rows beyond the tokenizer (Qwen pads its embedding matrix) have no text; tokenizers.js refuses an empty list.
      const kept = ids.filter(known);
      return kept.length ? tok.decode(kept, { skip_special_tokens: true }) : '';
    },
    eosId: special.eos,
    padId: special.pad,
    bosId: special.bos,
    inputPrefix: special.inputPrefix,
    inputSuffix: special.inputSuffix,
    stopIds: special.stop,
    vocabSize,
    decoderStartId: special.decoderStart,
  };
}

function wrap(file: string): { file: string; json: Record<string, unknown> } | null {
  const json = optionalJson(file);
  return json ? { file, json } : null;
}
