"""Train a tiny GPT-2-style byte-level BPE tokenizer and write it as Hugging Face `tokenizer.json`.

What it makes
  tokenizer.json         HF tokenizers format: ByteLevel pre-tokenizer / post-processor / decoder, a BPE model whose
                         vocab is the 256 byte symbols (GPT-2's bytes_to_unicode, in GPT-2's id order), then one
                         token per learned merge, then `<|endoftext|>` as the last id (an added special token).
  tokenizer_config.json  eos/bos/unk = <|endoftext|>, model_max_length, tokenizer_class GPT2Tokenizer,
                         clean_up_tokenization_spaces false (so decoding round-trips exactly).

Merges are learned by plain BPE counting (most frequent adjacent pair, ties broken by the smaller pair) over the
GPT-2 pre-tokenized words of a corpus, until the vocab reaches the target size. `BPETokenizer` encodes and
decodes in Python with the same rules as Hugging Face tokenizers / tokenizers.js (GPT-2 split regex, lowest-rank
merge first), so fixtures can carry token ids computed here.

Run:  /usr/bin/python3 scripts/make_bpe_tokenizer.py CORPUS.txt OUT_DIR [--vocab-size 300] [--max-length 64]
      [--merges-format strings|pairs]
Merges are written as "a b" strings (the format of the hub's gpt2 tokenizer.json) or, with `pairs`, as
["a", "b"] arrays (what tokenizers >= 0.20 writes); tokenizers.js 0.2.0 reads both.
"""

from __future__ import annotations

import argparse
import json
import os
import unicodedata
from collections import Counter
from typing import Dict, List, Optional, Tuple

EOT = "<|endoftext|>"

# The contractions GPT-2's regex splits off first, in the regex's alternation order.
CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")
# Unicode White_Space (what \s means in the Rust tokenizers and, up to U+FEFF, in JavaScript).
WHITESPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}


def bytes_to_unicode() -> Dict[int, str]:
    """GPT-2's reversible byte -> printable character map; dict order is GPT-2's id order for the 256 symbols."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


# ----------------------------------------------------------------------------------------------------------------
# Pre-tokenization: GPT-2's pattern  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# Python's `re` has no \p{..}, so the pattern is scanned by hand (same alternation order, same greediness).
# ----------------------------------------------------------------------------------------------------------------

def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def _is_number(ch: str) -> bool:
    return unicodedata.category(ch).startswith("N")


def _is_other(ch: str) -> bool:
    return not (ch in WHITESPACE or _is_letter(ch) or _is_number(ch))


def _run(text: str, i: int, pred) -> int:
    """End of the run of characters satisfying pred starting at i."""
    while i < len(text) and pred(text[i]):
        i += 1
    return i


def _match_at(text: str, i: int) -> int:
    """End of the regex match starting at i (the pattern always matches at least one character)."""
    for c in CONTRACTIONS:
        if text.startswith(c, i):
            return i + len(c)
    start = i + 1 if text[i] == " " and i + 1 < len(text) else i  # the optional leading space
    for pred in (_is_letter, _is_number, _is_other):
        end = _run(text, start, pred)
        if end > start:
            return end
    end = _run(text, i, lambda ch: ch in WHITESPACE)
    # \s+(?!\S): a whitespace run not followed by a non-space, i.e. keep its last space for the next word.
    if end < len(text) and end - i > 1:
        return end - 1
    return end


def pre_tokenize(text: str) -> List[str]:
    words, i = [], 0
    while i < len(text):
        j = _match_at(text, i)
        words.append(text[i:j])
        i = j
    return words


def to_byte_symbols(word: str) -> str:
    return "".join(BYTE_TO_CHAR[b] for b in word.encode("utf-8"))


# ----------------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------------

def _merge_word(word: Tuple[str, ...], pair: Tuple[str, str]) -> Tuple[str, ...]:
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train_bpe(corpus: str, vocab_size: int) -> Tuple[Dict[str, int], List[Tuple[str, str]]]:
    """Vocab (bytes, merged tokens, then EOT) and merges, learned until len(vocab) == vocab_size or no pair
    occurs twice."""
    vocab = {ch: i for i, ch in enumerate(BYTE_TO_CHAR.values())}
    words = Counter(tuple(to_byte_symbols(w)) for w in pre_tokenize(corpus))
    merges: List[Tuple[str, str]] = []
    while len(vocab) < vocab_size - 1:
        pairs: Counter = Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # most frequent; ties: the smaller pair (deterministic)
        if pairs[best] < 2:
            break
        merges.append(best)
        vocab.setdefault(best[0] + best[1], len(vocab))  # a token reachable by two merges keeps its first id
        words = Counter({_merge_word(w, best): n for w, n in words.items()})
    vocab[EOT] = len(vocab)
    return vocab, merges


# ----------------------------------------------------------------------------------------------------------------
# Encoding / decoding (same rules as tokenizers.js: lowest-rank pair first, leftmost among equals)
# ----------------------------------------------------------------------------------------------------------------

class BPETokenizer:
    def __init__(self, vocab: Dict[str, int], merges: List[Tuple[str, str]]):
        self.vocab = vocab
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}

    @staticmethod
    def from_json(tokenizer_json: dict) -> "BPETokenizer":
        model = tokenizer_json["model"]
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
        vocab = dict(model["vocab"])
        for t in tokenizer_json["added_tokens"]:
            vocab[t["content"]] = t["id"]
        return BPETokenizer(vocab, merges)

    def bpe(self, symbols: str) -> List[str]:
        word = list(symbols)
        while len(word) > 1:
            ranked = [(self.ranks.get((a, b), float("inf")), i) for i, (a, b) in enumerate(zip(word, word[1:]))]
            rank, i = min(ranked)
            if rank == float("inf"):
                break
            word[i:i + 2] = [word[i] + word[i + 1]]
        return word

    def encode(self, text: str) -> List[int]:
        """Ids of text; `<|endoftext|>` in the text becomes the special id (as HF does with added tokens)."""
        ids: List[int] = []
        for k, chunk in enumerate(text.split(EOT)):
            if k > 0:
                ids.append(self.vocab[EOT])
            for word in pre_tokenize(chunk):
                ids.extend(self.vocab[t] for t in self.bpe(to_byte_symbols(word)))
        return ids

    def decode(self, ids: List[int]) -> str:
        out, buf = [], bytearray()
        for i in ids:
            tok = self.id_to_token[i]
            if tok == EOT:
                out.append(buf.decode("utf-8", errors="replace") + EOT)
                buf = bytearray()
            else:
                buf.extend(CHAR_TO_BYTE[c] for c in tok)
        return "".join(out) + buf.decode("utf-8", errors="replace")


# ----------------------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------------------

def tokenizer_json(vocab: Dict[str, int], merges: List[Tuple[str, str]], merges_format: str = "strings") -> dict:
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": vocab[EOT], "content": EOT, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": True, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", **byte_level},
        "post_processor": {"type": "ByteLevel", **byte_level},
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
            "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
            "vocab": vocab,  # includes <|endoftext|> (also listed in added_tokens), as the hub's gpt2 does
            "merges": [f"{a} {b}" for a, b in merges] if merges_format == "strings" else [[a, b] for a, b in merges],
        },
    }


def tokenizer_config(model_max_length: int) -> dict:
    # clean_up_tokenization_spaces: tokenizers.js defaults it to true, which rewrites " ," to "," on decode;
    # false keeps decode(encode(text)) == text, as byte-level BPE promises.
    return {"add_prefix_space": False, "bos_token": EOT, "clean_up_tokenization_spaces": False, "eos_token": EOT,
            "model_max_length": model_max_length, "tokenizer_class": "GPT2Tokenizer", "unk_token": EOT}


def write_tokenizer(directory: str, vocab: Dict[str, int], merges: List[Tuple[str, str]], model_max_length: int,
                    merges_format: str = "strings") -> None:
    os.makedirs(directory, exist_ok=True)
    files = {"tokenizer.json": tokenizer_json(vocab, merges, merges_format),
             "tokenizer_config.json": tokenizer_config(model_max_length)}
    for name, content in files.items():
        with open(os.path.join(directory, name), "w", encoding="utf-8") as f:
            json.dump(content, f, ensure_ascii=False, indent=2 if name == "tokenizer_config.json" else None)
            f.write("\n")


def main(argv: Optional[List[str]] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", help="UTF-8 text file to learn merges from")
    ap.add_argument("out_dir")
    ap.add_argument("--vocab-size", type=int, default=300)
    ap.add_argument("--max-length", type=int, default=1024, help="model_max_length in tokenizer_config.json")
    ap.add_argument("--merges-format", choices=["strings", "pairs"], default="strings")
    args = ap.parse_args(argv)
    with open(args.corpus, encoding="utf-8") as f:
        vocab, merges = train_bpe(f.read(), args.vocab_size)
    write_tokenizer(args.out_dir, vocab, merges, args.max_length, args.merges_format)
    print(f"{args.out_dir}: vocab {len(vocab)}, {len(merges)} merges")


if __name__ == "__main__":
    main()
