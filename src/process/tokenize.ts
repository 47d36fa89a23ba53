// Worker thread that tokenizes for the extension host (dist/tokenize.js): the wizard's template preview and label
// word check. Only the tokenizer is loaded (tokenizers.js, no TensorFlow.js), off the host's main thread; one
// tokenizer per model folder is kept while the worker lives (the wizard ends it when it closes).
import { parentPort } from 'node:worker_threads';
import { loadTokenizer, type TextTokenizer } from '../models/tokenizer';
import type { TokenizeReply, TokenizeRequest } from '../protocol';

const tokenizers = new Map<string, TextTokenizer>();

function reply(m: TokenizeReply): void {
  parentPort?.postMessage(m);
}

parentPort?.on('message', (m: TokenizeRequest) => {
  if (m?.type !== 'tokenize') return;
  try {
    let tok = tokenizers.get(m.model);
    if (!tok) {
      tok = loadTokenizer(m.model);
      tokenizers.set(m.model, tok);
    }
    const t = tok;
    reply({ type: 'tokens', id: m.id, results: m.texts.map((text) => {
      const ids = t.encode(text);
      return { ids, pieces: ids.map((id) => t.decode([id])) };
    }) });
  } catch (e) {
    reply({ type: 'error', id: m.id, message: (e as Error).message });
  }
});
