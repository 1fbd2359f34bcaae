#!/usr/bin/env python3
"""Writes pretokenize_golden.jsonl: GPT-2's pre-tokenisation of edge-case
and random strings, as split by GPT-2's own regular expression with Python's
`regex` module (the reference the Go scanner in pretokenize.go must match).

Run from this directory with a Python that has `regex`:

    python3 gen_pretokenize_golden.py > pretokenize_golden.jsonl

Each line is {"text": ..., "pieces": [...]}. Random strings draw from an
alphabet of characters whose class (letter, number, space, other) is the
same in Go's Unicode 15 tables and in regex's newer ones.
"""
import json
import random

import regex

PAT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)

EDGE = [
    "", " ", "  ", "   ", "a", " a", "  a", "   a", "a ", "a  ", "a   ",
    "hello world", "hello  world", "hello   world", "hello world ",
    "hello world  ", "\n", "\n\n", "a\nb", "a\n\nb", "a\n\n\nb", "a \nb",
    "a\n b", "a \n b", "a\t\tb", "\t a", " \t a", "a\t", "a \t", "x\r\ny",
    "\r\n\r\n", "  \n  x", "don't", "DON'T", "I'm", "I'M", "we're", "we'Re",
    "you've", "they'll", "he'd", "it's", "it'S", "'s", "'S", "'sup", "''s",
    "'''", "' s", " 's", " 'll", "x'", "x''", "o'clock", "rock'n'roll",
    "l'l", "'l", "'r", "'v", "'re", "'ve", "'ll", "'d", "'m", "'t", "'",
    "a'", "1's", "a1", "1a", "a 1", "1 a", "12 34", " 12", "3.14", "1,000",
    "-1", " -1", "x = -y", "x==y", "a!=b", "f(x)", "  f(x) ", "a.b.c",
    "...", " ...", "...a", "!!! ???", "#include <stdio.h>",
    "func main() {\n\tfmt.Println(\"hi\")\n}\n",
    "\tif err != nil {\n\t\treturn err\n\t}\n",
    "caf\u00e9", "na\u00efve", "stra\u00dfe", "\u00e9t\u00e9 2024",
    "\u03a9mega \u03b1\u03b2", "\u041f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440",
    "\u4e2d\u6587\u5b57", "\u4e2d \u6587", "\u0663\u0664 \u0665",
    "x\u00b2", "\u216b\u216c", "\u00bd cup",
    "e\u0301", " e\u0301t\u00e9", "\u0301", " \u0301",
    "\U0001F600", " \U0001F600", "\U0001F600\U0001F600", "a\U0001F600b",
    "\U0001F468\u200d\U0001F469", "\u2019s", "don\u2019t",
    "\u00a0", "a\u00a0b", "a \u00a0b", "a\u00a0 b", "\u3000x", "x\u3000\u3000y",
    "a\u2028b", "a\u0085b", "\u000b\u000c", "a\u001cb", "a \u001cb",
    " \u001c", "\u001f ", "\u200b", "a\u200bb", "\ufeffx", "\ufffd",
    "    return x", "\n    return x\n", "x  ", "x \n", " \n", "\n ", "\n \n",
    "a  \n\n  b", "1\u00a02", "$100", " $ 100", "@user", "#tag", "<|endoftext|>",
    "a<|endoftext|>b", "http://example.com/a?b=c&d=e",
]

ALPHABET = (
    list("abcxyzABCXYZ0123456789") * 3
    + list(" " * 20)
    + list("\t\n\r\u000b\u000c") * 2
    + list("'" * 8)
    + list("srtvlmdSRTVLMD")
    + list(".,;:!?-_()[]{}<>=+*/\\\"#$%&@^|~`")
    + ["\u00a0", "\u3000", "\u2028", "\u0085", "\u2009", "\u001c", "\u001f", "\u200b", "\u200d"]
    + ["\u00e9", "\u00df", "\u03a9", "\u0436", "\u4e2d", "\u6587", "\u05d0", "\u0645"]
    + ["\u0663", "\u00b2", "\u216b", "\u00bd", "\u2460"]
    + ["\u0301", "\u0308", "\U0001F600", "\U0001F44D", "\u2019", "\u2014", "\u20ac", "\ufffd"]
)


def main():
    rng = random.Random(1234)
    cases = list(EDGE)
    for _ in range(400):
        n = rng.randint(1, 24)
        cases.append("".join(rng.choice(ALPHABET) for _ in range(n)))
    # Runs of white space of every kind before, after and between words.
    ws = [" ", "\t", "\n", "\u00a0", "\u3000"]
    for _ in range(100):
        parts = []
        for _ in range(rng.randint(1, 4)):
            parts.append("".join(rng.choice(ws) for _ in range(rng.randint(0, 4))))
            parts.append(rng.choice(["a", "bc", "1", "!", "'s", "\u00e9", "\U0001F600", ""]))
        cases.append("".join(parts))
    for text in cases:
        pieces = PAT.findall(text)
        assert "".join(pieces) == text, text
        print(json.dumps({"text": text, "pieces": pieces}))


if __name__ == "__main__":
    main()
