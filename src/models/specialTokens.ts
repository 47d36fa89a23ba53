// Which ids are BOS, EOS, padding and the decoder start, and which special tokens every input gets, reconciled from
// the four files a Hugging Face folder spreads them over:
//   config.json              bos/eos/pad_token_id, decoder_start_token_id (eos may be a list)
//   generation_config.json   the same fields, as `generate` uses them (Llama 3.x: eos [end_of_text, eom, eot])
//   tokenizer_config.json    bos/eos/pad/unk_token as strings (or {content}); add_bos_token / add_eos_token
//   special_tokens_map.json  older folders keep the token strings here
//   tokenizer.json           the post-processor's template: the special tokens added around every input
// A token named by the tokenizer is always a valid row; a number from a config file may not be (real checkpoints
// carry eos ids ≥ vocab_size and pad_token_id −1). Such an id never reaches the model: the tokenizer's token for
// the same role replaces it, or it is ignored with a warning naming the file and field (or, for the decoder start,
// which cannot be done without, refused).

export interface JsonFile {
  file: string;
  json: Record<string, unknown>;
}

export interface ModelFiles {
  config: JsonFile;
  generationConfig: JsonFile | null;
  tokenizerConfig: JsonFile | null;
  specialTokensMap: JsonFile | null;
  tokenizer: JsonFile;
}

export interface Vocabulary {
  /** Rows of the embedding matrix (config.json vocab_size): every id fed to the model must be below it. */
  rows: number;
  /** Tokens the tokenizer knows. */
  size: number;
  idOf(token: string): number | undefined;
}

export interface SpecialTokens {
  bos: number | null;
  /** Appended to generation targets: the tokenizer's own EOS, else the configs'. */
  eos: number | null;
  /** Generation stops at any of these. */
  stop: number[];
  /** Padding filler (masked): the tokenizer's pad, else the configs', else EOS, else UNK, else 0. */
  pad: number;
  /** Encoder-decoder models: decoder_start_token_id, else the pad token (T5's convention). */
  decoderStart: number | null;
  inputPrefix: number[];
  inputSuffix: number[];
  warnings: string[];
}

export class SpecialTokenError extends Error {
  override name = 'SpecialTokenError';
}

type Role = 'bos' | 'eos' | 'pad' | 'unk';

/** transformers' Llama-style fast tokenizers rebuild their template from add_bos_token / add_eos_token. */
const FLAG_TEMPLATE_CLASSES = /^(Llama|CodeLlama|Gemma|Cohere)Tokenizer(Fast)?$/;

export function resolveSpecialTokens(files: ModelFiles, vocab: Vocabulary, seq2seq: boolean): SpecialTokens {
  const warnings: string[] = [];
  const name = (f: JsonFile) => f.file.split(/[\\/]/).pop() ?? f.file;

  /** A numeric id field: valid ids (a list field may hold several), with a warning for each invalid one. */
  const ids = (f: JsonFile | null, field: string): number[] => {
    if (!f) return [];
    const raw = f.json[field];
    if (raw === undefined || raw === null) return [];
    const list = Array.isArray(raw) ? raw : [raw];
    return list.filter((id) => {
      if (Number.isInteger(id) && (id as number) >= 0 && (id as number) < vocab.rows) return true;
      warnings.push(`${name(f)}: ${field} ${JSON.stringify(id)} is not a token id below vocab_size ${vocab.rows} (${f.file}); it is ignored.`);
      return false;
    }) as number[];
  };

  /** A token-string field (tokenizer_config.json, special_tokens_map.json): its id, if the tokenizer knows it. */
  const tokenId = (f: JsonFile | null, role: Role): number | null | undefined => {
    if (!f) return undefined;
    const raw = f.json[`${role}_token`];
    if (raw === undefined) return undefined;
    if (raw === null) return null; // explicitly none (Qwen's bos_token)
    const content = typeof raw === 'string' ? raw : typeof raw === 'object' && typeof (raw as { content?: unknown }).content === 'string' ? (raw as { content: string }).content : undefined;
    if (content === undefined) {
      warnings.push(`${name(f)}: ${role}_token ${JSON.stringify(raw)} is neither a string nor {"content": …}; it is ignored.`);
      return undefined;
    }
    const id = vocab.idOf(content);
    if (id === undefined || id >= vocab.rows) {
      warnings.push(`${name(f)}: ${role}_token ${JSON.stringify(content)} is not a token of tokenizer.json; it is ignored.`);
      return undefined;
    }
    return id;
  };

  /** The tokenizer's token for a role (tokenizer_config.json, then special_tokens_map.json); null when it says none. */
  const fromTokenizer = (role: Role): number | null | undefined => {
    const a = tokenId(files.tokenizerConfig, role);
    return a !== undefined ? a : tokenId(files.specialTokensMap, role);
  };
  const fromConfigs = (field: string): number[] => [...ids(files.generationConfig, field), ...ids(files.config, field)];

  const tokEos = fromTokenizer('eos');
  const configEos = fromConfigs('eos_token_id');
  const eos = tokEos ?? configEos[0] ?? null;
  const stop = [...new Set([...(eos === null ? [] : [eos]), ...configEos])];

  const tokBos = fromTokenizer('bos');
  const bos = tokBos === null ? null : tokBos ?? fromConfigs('bos_token_id')[0] ?? null;

  const unk = fromTokenizer('unk');
  const pad = fromTokenizer('pad') ?? fromConfigs('pad_token_id')[0] ?? eos ?? unk ?? 0;

  let decoderStart: number | null = null;
  if (seq2seq) {
    const given = files.config.json.decoder_start_token_id ?? files.generationConfig?.json.decoder_start_token_id;
    decoderStart = fromConfigs('decoder_start_token_id')[0] ?? null;
    if (decoderStart === null) {
      const tokPad = fromTokenizer('pad');
      if (tokPad === undefined || tokPad === null) {
        throw new SpecialTokenError(`${files.config.file}: the decoder needs a start token: decoder_start_token_id is ${given === undefined ? 'missing' : `${JSON.stringify(given)}, not a token id below vocab_size ${vocab.rows}`}, and the tokenizer names no pad_token to start from (T5's convention).`);
      }
      decoderStart = tokPad;
      if (given !== undefined) warnings.push(`The decoder starts from the pad token (${tokPad}) instead.`);
    }
  }

  const { prefix, suffix } = inputTemplate(files, vocab, bos, eos, warnings);
  return { bos, eos, stop, pad, decoderStart, inputPrefix: prefix, inputSuffix: suffix, warnings };
}

interface TemplateItem {
  SpecialToken?: { id: string };
  Sequence?: { id: string };
}

/**
 * The special ids around a single input: tokenizer.json's post-processor (TemplateProcessing, possibly inside a
 * Sequence; Roberta/Bert processing), unless tokenizer_config.json's add_bos_token / add_eos_token rebuild it
 * (Llama-style tokenizer classes, as transformers does).
 */
function inputTemplate(files: ModelFiles, vocab: Vocabulary, bos: number | null, eos: number | null, warnings: string[]): { prefix: number[]; suffix: number[] } {
  const tc = files.tokenizerConfig?.json;
  const cls = typeof tc?.tokenizer_class === 'string' ? tc.tokenizer_class : '';
  if (tc && FLAG_TEMPLATE_CLASSES.test(cls) && (typeof tc.add_bos_token === 'boolean' || typeof tc.add_eos_token === 'boolean')) {
    const addBos = tc.add_bos_token ?? true;
    const addEos = tc.add_eos_token ?? false;
    const pick = (flag: unknown, id: number | null, role: string) => {
      if (flag !== true) return [];
      if (id === null) warnings.push(`tokenizer_config.json: add_${role}_token is true but there is no ${role}_token; none is added.`);
      return id === null ? [] : [id];
    };
    return { prefix: pick(addBos, bos, 'bos'), suffix: pick(addEos, eos, 'eos') };
  }
  const post = files.tokenizer.json.post_processor as Record<string, unknown> | null | undefined;
  return fromPostProcessor(post, vocab, warnings);
}

function fromPostProcessor(post: Record<string, unknown> | null | undefined, vocab: Vocabulary, warnings: string[]): { prefix: number[]; suffix: number[] } {
  const none = { prefix: [], suffix: [] };
  if (!post) return none;
  const idOf = (token: string): number[] => {
    const id = vocab.idOf(token);
    if (id === undefined || id >= vocab.rows) {
      warnings.push(`tokenizer.json: the post-processor adds "${token}", which is not a token of the vocabulary; it is left out.`);
      return [];
    }
    return [id];
  };
  switch (post.type) {
    case 'Sequence': {
      const parts = ((post.processors as Record<string, unknown>[] | undefined) ?? []).map((p) => fromPostProcessor(p, vocab, warnings));
      return { prefix: parts.flatMap((p) => p.prefix), suffix: parts.flatMap((p) => p.suffix) };
    }
    case 'TemplateProcessing': {
      const items = (post.single as TemplateItem[] | undefined) ?? [];
      const specials = (post.special_tokens as Record<string, { ids?: number[]; tokens?: string[] }> | undefined) ?? {};
      const seq = items.findIndex((i) => i.Sequence);
      const tokensOf = (i: TemplateItem) => {
        const token = i.SpecialToken?.id;
        if (token === undefined) return [];
        const entry = specials[token];
        return (entry?.tokens ?? [token]).flatMap(idOf);
      };
      return { prefix: items.slice(0, Math.max(0, seq)).flatMap(tokensOf), suffix: items.slice(seq + 1).flatMap(tokensOf) };
    }
    case 'RobertaProcessing':
    case 'BertProcessing': {
      const cls = post.cls as [string, number] | undefined;
      const sep = post.sep as [string, number] | undefined;
      return { prefix: cls ? idOf(cls[0]) : [], suffix: sep ? idOf(sep[0]) : [] };
    }
    default:
      return none;
  }
}
