#!/usr/bin/env python3
"""Writes a tiny GPT-2-format tokenizer (vocab.json, merges.txt) and
encode_golden.jsonl, the encodings of test strings computed here with
GPT-2's own algorithm (the bytes_to_unicode table, the pre-tokenisation
regex and the bpe() loop of openai/gpt-2's encoder.py, restated).

Run from this directory with a Python that has `regex`:

    python3 gen_fixture.py

The vocabulary is the 256 byte tokens in GPT-2's order (so ' ' is 220 and
'\\n' is 198, as in GPT-2), then one token per merge, then <|endoftext|>.
"""
import json

import regex

PAT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)


def bytes_to_unicode():
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("\u00a1"), ord("\u00ac") + 1))
        + list(range(ord("\u00ae"), ord("\u00ff") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, [chr(c) for c in cs]


BS, CS = bytes_to_unicode()
B2U = dict(zip(BS, CS))

# Merges in rank order, written in raw text; "e r" comes before "h e", so
# "her" is "h" "er" but "the" is "t" "he".
MERGES_RAW = [
    (" ", "t"), ("e", "r"), ("h", "e"), (" t", "he"), ("i", "n"), (" ", "a"),
    ("r", "e"), (" ", "w"), ("o", "r"), (" w", "or"), ("l", "d"),
    (" wor", "ld"), ("l", "l"), ("he", "ll"), ("hell", "o"), (" ", " "),
    ("  ", "  "), ("\n", "\n"), ("'", "s"), ("'", "t"), ("a", "a"),
    ("aa", "a"), ("aa", "aa"), ("f", "u"), ("n", "c"), ("fu", "nc"),
    ("\u00e9".encode()[0:1], "\u00e9".encode()[1:2]), (" ", "in"), ("\t", "\t"),
    ("\U0001F600".encode()[0:1], "\U0001F600".encode()[1:2]),
    ("e", "n"), ("d", "o"), ("do", "n"), (" ", "do"), (" do", "n"),
]


def raw(x):
    return x if isinstance(x, bytes) else x.encode()


def text(x):
    return "".join(B2U[b] for b in raw(x))


def main():
    vocab = {CS[i]: i for i in range(256)}
    merges = []
    for a, b in MERGES_RAW:
        ta, tb = text(a), text(b)
        assert ta in vocab and tb in vocab, (a, b)
        merges.append((ta, tb))
        if ta + tb not in vocab:
            vocab[ta + tb] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    with open("vocab.json", "w") as f:
        json.dump(vocab, f)  # one line, \u escapes: as GPT-2's file
    with open("merges.txt", "w") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(a + " " + b + "\n")

    ranks = {m: i for i, m in enumerate(merges)}

    def bpe(token):
        word = tuple(token)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            bigram = min(pairs, key=lambda p: ranks.get(p, float("inf")))
            if bigram not in ranks:
                break
            first, second = bigram
            new, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new.extend(word[i:])
                    break
                new.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new.append(first + second)
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = tuple(new)
        return word

    def encode(s):
        ids = []
        for piece in PAT.findall(s):
            t = "".join(B2U[b] for b in piece.encode("utf-8"))
            ids.extend(vocab[x] for x in bpe(t))
        return ids

    tests = [
        "", "hello world", "hello  world", "the her there", "Hello World",
        "aaaaa", "aaaa aaaaaaaaa", "a" * 200, " " * 9 + "x", "\n\n\nfunc",
        "don't", "DON'T", "it's done", "caf\u00e9 \u00e9t\u00e9", "\U0001F600!",
        "in the world", " in", "\t\t\tfunc main()", "don donate done",
        "<|endoftext|>", "x<|endoftext|>y", "  " * 40 + "end", "func(" * 20,
        "the\n\n    the   the\t\tthe", "\u4e2d\u6587 hello\u00a0world",
        "hellohellohello" * 5, "een " * 10,
    ]
    with open("encode_golden.jsonl", "w") as f:
        for s in tests:
            f.write(json.dumps({"text": s, "ids": encode(s)}) + "\n")


if __name__ == "__main__":
    main()
