"""Small real tokenizers in the formats the supported model families ship, with an independent Python encoder each.

Four kinds, each as Hugging Face writes it (tokenizer.json + tokenizer_config.json), built from CORPUS:

  byte_bpe("llama3")   byte-level BPE behind Llama 3's split regex (digits in runs of up to 3), ignore_merges, then
                       Llama 3's special tokens (<|begin_of_text|>, <|end_of_text|>, …, <|eot_id|>) as added tokens;
                       post-processor ByteLevel + TemplateProcessing "<|begin_of_text|> $A" (BOS on every input).
  byte_bpe("qwen2")    byte-level BPE behind Qwen2's regex (single digits), NFC normalizer, <|endoftext|>,
                       <|im_start|>, <|im_end|>; post-processor ByteLevel only: Qwen adds no BOS.
  spm_bpe(style)       a SentencePiece BPE model with byte fallback (as Llama 2 / Mistral ship), converted the way
                       transformers' converter does (vocab from the pieces, merges from the pieces' scores).
                       style "llama2": normalizer Prepend("▁") + Replace(" ", "▁") (the legacy Llama 2 file);
                       style "mistral": Metaspace pre-tokenizer (prepend_scheme "first"). BOS "<s>" by template.
  spm_unigram()        a SentencePiece Unigram model as T5 ships it: <pad> 0, </s> 1, <unk> 2, the pieces with their
                       scores, then <extra_id_N> added tokens; WhitespaceSplit + Metaspace; template "$A </s>".

The independent encoders: the byte-level ones are re-implemented here (regex module for \\p{L}; lowest-rank merge
first), the SentencePiece ones are the `sentencepiece` library itself (Debian python3-sentencepiece) - so a fixture's
ids do not come from tokenizers.js, which the engine uses. check_with_tokenizers_js() compares the two.
Needs: python3-regex, python3-sentencepiece, python3-protobuf (all Debian packages).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections import Counter
from typing import Callable, Dict, List, Optional, Tuple

import regex

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from make_bpe_tokenizer import BYTE_TO_CHAR, CHAR_TO_BYTE, _merge_word  # noqa: E402

CORPUS = """\
A language model reads a sequence of tokens and predicts the next one. The model is large, and training all of
its weights for every new task is slow and expensive. Prompt tuning keeps the model frozen. Only a few virtual
tokens are learned, and they are prepended to the input embeddings of every example.

Ultra-low-dimensional prompt tuning goes further. It learns the prompt in a tiny space of two or three dimensions
and projects it up with a fixed random matrix. A learned scale and shift then align the projected prompt with the
embeddings of the model. The number of trained parameters is small enough to fit in a few kilobytes.

The trainer reads a dataset of inputs and targets, builds batches, and runs the frozen model forward. The loss is
computed only on the target tokens. The optimizer updates the prompt, the scale and the shift, and nothing else.
After each epoch the trainer evaluates the adapter on held-out examples and writes the metrics to a file.

It's a simple idea, but it works: the prompt steers the model toward the task, and the model's own knowledge does
the rest. Isn't that neat? We think so, and we'd like you to try it on your own data, in your own editor.

Translate English to German: the house is small. Das Haus ist klein. Summarize: the review was positive.
In 2024 the model had 135 million parameters; in 2025 it had 494 million, 24 layers and 14 heads.
Question: what is 12 plus 30? Answer: 42. Question: what is 7 times 6? Answer: 42.
The café served crème brûlée, and the naïve critic called it "délicieux".
"""

# Texts the fixtures record ids for: contractions, runs of spaces, newlines, digits, accents, an emoji.
SAMPLES = [
    "The quick brown fox jumps over the lazy dog.",
    "It's frozen;  only the prompt is trained!\n\nIsn't it 4242 times smaller?",
    "naïve café 🙂 done",
    "Translate English to German: the model is small.",
]


# ----------------------------------------------------------------------------------------------------------------
# Byte-level BPE (Llama 3, Qwen2)
# ----------------------------------------------------------------------------------------------------------------

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")

LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
                   "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>"]
QWEN2_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

CLEANUP = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
           (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]


class Tok:
    """A built tokenizer: its files and an independent encoder/decoder with HF's special-token conventions."""

    def __init__(self, files: Dict[str, dict], encode: Callable[[str], List[int]], decode_body: Callable[[List[int]], str],
                 prefix: List[int], suffix: List[int], specials: Dict[str, int], cleanup: bool):
        self.files, self._encode, self._decode = files, encode, decode_body
        self.prefix, self.suffix, self.specials, self.cleanup = prefix, suffix, specials, cleanup

    @property
    def size(self) -> int:
        tj = self.files["tokenizer.json"]
        vocab = tj["model"]["vocab"]
        return max(len(vocab), max((t["id"] + 1 for t in tj["added_tokens"]), default=0))

    def encode(self, text: str, add_special_tokens: bool = False) -> List[int]:
        ids = self._encode(text)
        return self.prefix + ids + self.suffix if add_special_tokens else ids

    def decode(self, ids: List[int]) -> str:
        """skip_special_tokens=True, with the config's clean_up_tokenization_spaces."""
        text = self._decode([i for i in ids if i not in self.specials.values()])
        if self.cleanup:
            for a, b in CLEANUP:
                text = text.replace(a, b)
        return text

    def write(self, folder: str) -> None:
        os.makedirs(folder, exist_ok=True)
        for name, content in self.files.items():
            with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
                json.dump(content, f, ensure_ascii=False, indent=None if name == "tokenizer.json" else 2)
                f.write("\n")


def split_specials(text: str, specials: List[str]) -> List[Tuple[bool, str]]:
    """(is_special, chunk) pieces of text, special tokens matched longest first."""
    if not specials:
        return [(False, text)]
    pat = regex.compile("|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)))
    out, pos = [], 0
    for m in pat.finditer(text):
        if m.start() > pos:
            out.append((False, text[pos:m.start()]))
        out.append((True, m.group()))
        pos = m.end()
    if pos < len(text):
        out.append((False, text[pos:]))
    return out


def train_byte_bpe(corpus: str, pattern: str, n_tokens: int) -> Tuple[Dict[str, int], List[Tuple[str, str]]]:
    """256 byte symbols (GPT-2's order) then one token per merge, learned by counting (ties: the smaller pair)."""
    vocab = {ch: i for i, ch in enumerate(BYTE_TO_CHAR.values())}
    words = Counter(tuple(BYTE_TO_CHAR[b] for b in w.encode("utf-8")) for w in regex.findall(pattern, corpus))
    merges: List[Tuple[str, str]] = []
    while len(vocab) < n_tokens:
        pairs: Counter = Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))
        words = Counter({_merge_word(w, best): n for w, n in words.items()})
    return vocab, merges


def byte_bpe(kind: str, n_model_tokens: int) -> Tok:
    pattern = LLAMA3_PATTERN if kind == "llama3" else QWEN2_PATTERN
    specials = LLAMA3_SPECIALS if kind == "llama3" else QWEN2_SPECIALS
    vocab, merges = train_byte_bpe(CORPUS, pattern, n_model_tokens)
    assert len(vocab) == n_model_tokens, f"corpus too small: {len(vocab)} tokens"
    special_ids = {s: len(vocab) + i for i, s in enumerate(specials)}
    ranks = {m: r for r, m in enumerate(merges)}
    ignore_merges = kind == "llama3"

    def bpe(symbols: str) -> List[str]:
        if ignore_merges and symbols in vocab:
            return [symbols]
        word = list(symbols)
        while len(word) > 1:
            rank, i = min((ranks.get((a, b), float("inf")), i) for i, (a, b) in enumerate(zip(word, word[1:])))
            if rank == float("inf"):
                break
            word[i:i + 2] = [word[i] + word[i + 1]]
        return word

    def encode(text: str) -> List[int]:
        ids: List[int] = []
        for special, chunk in split_specials(text, specials):
            if special:
                ids.append(special_ids[chunk])
                continue
            if kind == "qwen2":
                chunk = unicodedata.normalize("NFC", chunk)
            for piece in regex.findall(pattern, chunk):
                ids.extend(vocab[t] for t in bpe("".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))))
        return ids

    inverse = {i: t for t, i in vocab.items()}

    def decode(ids: List[int]) -> str:
        return bytes(CHAR_TO_BYTE[c] for i in ids for c in inverse[i]).decode("utf-8", errors="replace")

    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    added = [{"id": special_ids[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s in specials]
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
             "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]}
    if ignore_merges:
        model["ignore_merges"] = True
    pre = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}, byte_level]}
    if kind == "llama3":
        bos = "<|begin_of_text|>"
        post = {"type": "Sequence", "processors": [
            {**byte_level, "trim_offsets": False},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {bos: {"id": bos, "ids": [special_ids[bos]], "tokens": [bos]}}}]}
        normalizer = None
        # Llama 3.x Instruct: the tokenizer ends text with <|eot_id|>, the base model's <|end_of_text|> also stops.
        config = {"bos_token": bos, "eos_token": "<|eot_id|>", "clean_up_tokenization_spaces": True,
                  "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
                  "tokenizer_class": "PreTrainedTokenizerFast",
                  "chat_template": "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}"
                                   "<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}"}
        prefix = [special_ids[bos]]
    else:
        post = {**byte_level, "trim_offsets": False}
        normalizer = {"type": "NFC"}
        config = {"add_prefix_space": False, "bos_token": None, "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
                  "unk_token": None, "errors": "replace", "clean_up_tokenization_spaces": False,
                  "model_max_length": 32768, "split_special_tokens": False, "tokenizer_class": "Qwen2Tokenizer",
                  "additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}
        prefix = []
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": normalizer,
          "pre_tokenizer": pre, "post_processor": post, "decoder": {**byte_level}, "model": model}
    return Tok({"tokenizer.json": tj, "tokenizer_config.json": config}, encode, decode, prefix, [], special_ids,
               cleanup=bool(config.get("clean_up_tokenization_spaces")))


# ----------------------------------------------------------------------------------------------------------------
# SentencePiece (Llama 2 / Mistral BPE with byte fallback; T5 Unigram)
# ----------------------------------------------------------------------------------------------------------------

def train_spm(**kwargs):
    import sentencepiece as spm
    buf = io.BytesIO()
    if kwargs.get("normalization_rule_name") == "small":
        # A real precompiled charsmap, but from a few rules instead of nmt_nfkc's thousands (which would make the
        # fixture's tokenizer.json 300 KB): tab/newline/CR and the ideographic space to a space, two full-width forms.
        # tokenizers.js's Precompiled normalizer does NFKC plus those whitespace rules for any charsmap.
        with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
            f.write("9\t20\nA\t20\nD\t20\n3000\t20\nFF01\t21\nFF1F\t3F\n")
        del kwargs["normalization_rule_name"]
        kwargs["normalization_rule_tsv"] = f.name
    spm.SentencePieceTrainer.train(sentence_iterator=iter([l for l in CORPUS.split("\n") if l]), model_writer=buf,
                                   character_coverage=1.0, num_threads=1, minloglevel=2, **kwargs)
    return spm.SentencePieceProcessor(model_proto=buf.getvalue()), buf.getvalue()


def spm_merges(vocab: Dict[str, int], scores: Dict[str, float]) -> List[Tuple[str, str]]:
    """BPE merges implied by a SentencePiece BPE vocabulary: every split of a piece into two pieces, the pieces
    that score higher (were merged earlier) first; splits of one piece ordered by their parts' ids."""
    merges = []
    for piece, score in scores.items():
        local = [(piece[:k], piece[k:], score) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        merges.extend(sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]])))
    merges.sort(key=lambda m: m[2], reverse=True)
    return [(a, b) for a, b, _ in merges]


def spm_bpe(style: str, vocab_size: int) -> Tok:
    sp, _ = train_spm(vocab_size=vocab_size, model_type="bpe", byte_fallback=True, unk_id=0, bos_id=1, eos_id=2,
                      pad_id=-1, normalization_rule_name="identity", remove_extra_whitespaces=False,
                      split_digits=True, add_dummy_prefix=True, allow_whitespace_only_pieces=True)
    n = sp.get_piece_size()
    pieces = [sp.id_to_piece(i) for i in range(n)]
    vocab = {p: i for i, p in enumerate(pieces)}
    scores = {p: sp.get_score(i) for i, p in enumerate(pieces) if sp.is_unknown(i) is False and not sp.is_control(i)
              and not sp.is_byte(i)}
    merges = spm_merges(vocab, scores)
    specials = {"<unk>": 0, "<s>": 1, "</s>": 2}
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for s, i in specials.items()]
    model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
             "vocab": vocab, "merges": [[a, b] for a, b in merges]}
    post = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
    decoder = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    if style == "llama2":
        normalizer = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}
        pre = None
    else:
        normalizer = None
        pre = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": normalizer,
          "pre_tokenizer": pre, "post_processor": post, "decoder": decoder, "model": model}
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>", "pad_token": None,
              "unk_token": "<unk>", "clean_up_tokenization_spaces": False, "legacy": style == "llama2",
              "model_max_length": 1000000000000000019884624838656, "sp_model_kwargs": {},
              "tokenizer_class": "LlamaTokenizer", "use_default_system_prompt": False}
    return Tok({"tokenizer.json": tj, "tokenizer_config.json": config},
               lambda t: sp.encode(t), lambda ids: sp.decode(ids), [1], [], specials, cleanup=False)


def spm_unigram(extra_ids: int) -> Tok:
    sp, proto = train_spm(vocab_size=400, model_type="unigram", hard_vocab_limit=False, pad_id=0, eos_id=1, unk_id=2,
                          bos_id=-1, normalization_rule_name="small")
    from sentencepiece import sentencepiece_model_pb2 as pb
    m = pb.ModelProto()
    m.ParseFromString(proto)
    charsmap = base64.b64encode(m.normalizer_spec.precompiled_charsmap).decode("ascii")
    n = sp.get_piece_size()
    vocab = [[sp.id_to_piece(i), 0.0 if sp.is_control(i) or sp.is_unknown(i) else sp.get_score(i)] for i in range(n)]
    extras = [f"<extra_id_{k}>" for k in range(extra_ids)]
    extra_id = {e: n + extra_ids - 1 - k for k, e in enumerate(extras)}          # <extra_id_0> is the last id
    for e in sorted(extras, key=lambda e: extra_id[e]):
        vocab.append([e, 0.0])
    specials = {"<pad>": 0, "</s>": 1, "<unk>": 2, **extra_id}
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for s, i in sorted(specials.items(), key=lambda kv: kv[1])]
    tj = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
          "normalizer": {"type": "Sequence", "normalizers": [
              {"type": "Precompiled", "precompiled_charsmap": charsmap},
              {"type": "Strip", "strip_left": False, "strip_right": True},
              {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}]},
          "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
              {"type": "WhitespaceSplit"}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}]},
          "post_processor": {"type": "TemplateProcessing",
                             "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                      {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                             "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
          "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
          "model": {"type": "Unigram", "unk_id": 2, "vocab": vocab, "byte_fallback": False}}
    config = {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "extra_ids": extra_ids,
              "additional_special_tokens": extras, "clean_up_tokenization_spaces": True, "model_max_length": 512,
              "tokenizer_class": "T5Tokenizer", "legacy": True}
    return Tok({"tokenizer.json": tj, "tokenizer_config.json": config},
               lambda t: sp.encode(t), lambda ids: sp.decode(ids), [], [1], specials, cleanup=True)


# ----------------------------------------------------------------------------------------------------------------
# Cross-check against tokenizers.js
# ----------------------------------------------------------------------------------------------------------------

JS = """
import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
const { folder, texts } = JSON.parse(readFileSync(0, 'utf8'));
const read = (f) => JSON.parse(readFileSync(folder + '/' + f, 'utf8'));
const tok = new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
process.stdout.write(JSON.stringify(texts.map((t) => {
  const plain = tok.encode(t, { add_special_tokens: false }).ids;
  return { plain, special: tok.encode(t).ids, decoded: tok.decode(plain, { skip_special_tokens: true }) };
})));
"""


def check_with_tokenizers_js(folder: str, tok: Tok, texts: List[str]) -> None:
    if not shutil.which("node") or not os.path.isdir(os.path.join(ROOT, "node_modules", "@huggingface")):
        print("  tokenizers.js check SKIPPED (no node or node_modules)")
        return
    res = subprocess.run(["node", "--input-type=module", "-e", JS], cwd=ROOT, check=True, capture_output=True, text=True,
                         input=json.dumps({"folder": folder, "texts": texts}))
    for text, r in zip(texts, json.loads(res.stdout)):
        ours = tok.encode(text)
        if r["plain"] != ours:
            raise SystemExit(f"{folder}: Python and tokenizers.js disagree on {text[:40]!r}:\n{ours}\n{r['plain']}")
        if r["special"] != tok.encode(text, add_special_tokens=True):
            raise SystemExit(f"{folder}: special tokens differ on {text[:40]!r}: {r['special'][:5]}…")
        if r["decoded"] != tok.decode(ours):
            raise SystemExit(f"{folder}: decode differs on {text[:40]!r}: {r['decoded']!r} vs {tok.decode(ours)!r}")
    print(f"  tokenizers.js agrees with the Python reference on {len(texts)} texts (ids, specials, decode)")
