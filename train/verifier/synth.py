#!/usr/bin/env python3
"""Make claim-verification pairs from technical prose: the installed manual pages.

The NLI sets in ../shared/train/nli are everyday and encyclopaedic English; the claims users check
are about software ("X defaults to 10", "Y cannot run inside a transaction"). This script writes
pairs in that register from the man pages of the training machine (sections 5 and 8, then
section 1 in name order), which no evaluation set is drawn from (the evaluation corpora are the
PostgreSQL, SQLite and Python manuals). Each pair is made by a rule whose label is known:

- entailment: the sentence restated under its program's name ("According to the cron manual,
  ..."), or with a parenthetical or a trailing "which"/"for example" clause dropped, or itself;
- contradiction: a negation added or removed ("can" / "cannot", "is" / "is not", "always" /
  "never"), an antonym swapped ("enabled" / "disabled", "before" / "after"), or a number changed;
- neutral: another sentence of the same page that shares words with it (related, not stated).

Usage: python3 train/verifier/synth.py --out /tmp/synth.jsonl [--pages 1500] [--seed 13]
It prints the counts and writes the list of pages read beside the output (FILE.sources).
"""

import argparse
import glob
import gzip
import json
import os
import random
import re

ESCAPES = [
    (r"\\f\[[^\]]*\]", ""),
    (r"\\f\(..", ""),
    (r"\\f.", ""),
    (r"\\s[+-]?\d", ""),
    (r"\\\(em", "-"),
    (r"\\\(en", "-"),
    (r"\\\(aq", "'"),
    (r"\\\(dq", '"'),
    (r"\\\(lq|\\\(rq", '"'),
    (r"\\\(oq|\\\(cq", "'"),
    (r"\\\(..", ""),
    (r"\\\*\(..", ""),
    (r"\\\*.", ""),
    (r"\\-", "-"),
    (r"\\&", ""),
    (r"\\e", "\\\\"),
    (r"\\ ", " "),
    (r"\\c", ""),
    (r"\\\|", ""),
    (r"\\\^", ""),
]

FONT_MACROS = {".B", ".I", ".BR", ".RB", ".IR", ".RI", ".BI", ".IB", ".SM", ".SB"}
BREAKS = {".PP", ".P", ".LP", ".IP", ".TP", ".br", ".sp", ".SH", ".SS", ".HP", ".RS", ".RE", ".nf", ".fi", ".TH"}

VERBS = re.compile(
    r"\b(is|are|was|were|be|has|have|can|cannot|will|does|do|may|must|should|uses|sets|"
    r"means|allows|specifies|defaults|causes|prints|reads|writes|returns|contains|takes)\b"
)

NEGATIONS = [
    (" cannot ", " can "),
    (" can not ", " can "),
    (" is not ", " is "),
    (" are not ", " are "),
    (" does not ", " does "),
    (" do not ", " do "),
    (" will not ", " will "),
    (" must not ", " must "),
    (" never ", " always "),
]
AFFIRMATIONS = [
    (" can ", " cannot "),
    (" is ", " is not "),
    (" are ", " are not "),
    (" will ", " will not "),
    (" must ", " must not "),
    (" always ", " never "),
    (" does ", " does not "),
]
ANTONYMS = [
    ("enabled", "disabled"),
    ("enable", "disable"),
    ("true", "false"),
    ("before", "after"),
    ("maximum", "minimum"),
    ("increase", "decrease"),
    ("increases", "decreases"),
    ("larger", "smaller"),
    ("first", "last"),
    ("ignored", "honoured"),
    ("required", "optional"),
    ("allowed", "forbidden"),
    ("older", "newer"),
    ("higher", "lower"),
    ("more", "fewer"),
]


def roff_text(raw):
    """Paragraphs of plain text from a man page's roff source."""
    paras, cur = [], []
    for line in raw.splitlines():
        if line.startswith(".\\\"") or line.startswith("'\\\""):
            continue
        if line.startswith(".") or line.startswith("'"):
            macro, _, rest = line.partition(" ")
            if macro in FONT_MACROS:
                words = re.findall(r'"[^"]*"|\S+', rest)
                cur.append(" ".join(w.strip('"') for w in words))
                continue
            if macro in BREAKS and cur:
                paras.append(" ".join(cur))
                cur = []
            continue
        cur.append(line)
    if cur:
        paras.append(" ".join(cur))
    out = []
    for p in paras:
        for pat, rep in ESCAPES:
            p = re.sub(pat, rep, p)
        p = re.sub(r"\s+", " ", p).strip()
        if p:
            out.append(p)
    return out


def sentences(paragraph):
    for s in re.split(r"(?<=[.!])\s+(?=[A-Z])", paragraph):
        s = s.strip()
        words = s.split()
        if not (6 <= len(words) <= 40) or not s.endswith(".") or not s[0].isupper():
            continue
        letters = sum(c.isalpha() for c in s)
        if letters / max(1, sum(not c.isspace() for c in s)) < 0.8 or "\\" in s:
            continue
        if not VERBS.search(s):
            continue
        yield s


def content(s):
    return {w for w in re.findall(r"[a-z][a-z0-9_]{3,}", s.lower())}


def contradict(s, rng):
    """A contradiction of `s` by one edit, or None."""
    options = []
    for a, b in NEGATIONS:
        if a in s:
            options.append(s.replace(a, b, 1))
    if not options:
        for a, b in AFFIRMATIONS:
            if a in s:
                options.append(s.replace(a, b, 1))
    for a, b in ANTONYMS:
        for x, y in ((a, b), (b, a)):
            if re.search(rf"\b{x}\b", s):
                options.append(re.sub(rf"\b{x}\b", y, s, count=1))
    nums = [m for m in re.finditer(r"(?<![\w.])(\d{1,6})(?![\w.])", s)]
    if nums:
        m = rng.choice(nums)
        n = int(m.group(1))
        new = rng.choice([n * 2, n + 1 if n < 10 else n * 10, max(n // 2, 0) if n > 2 else n + 3])
        if new != n:
            options.append(s[: m.start()] + str(new) + s[m.end():])
    return rng.choice(options) if options else None


def entail(s, prog, rng):
    """A statement `s` entails, or None."""
    options = [f"According to the {prog} manual, {s[0].lower() + s[1:] if s[1:2].islower() else s}"]
    dropped = re.sub(r"\s*\([^()]*\)", "", s)
    if dropped != s and len(dropped.split()) >= 5:
        options.append(dropped)
    m = re.match(r"^(.{25,}?)(, which |, for example|, e\.g\.|; )", s)
    if m:
        options.append(m.group(1).rstrip(",;") + ".")
    if rng.random() < 0.1:
        options.append(s)
    return rng.choice(options)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--pages", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--man", default="/usr/share/man")
    ap.add_argument(
        "--kinds",
        default="entailment,contradiction,neutral",
        help="labels to make (comma-separated)",
    )
    args = ap.parse_args()
    rng = random.Random(args.seed)
    kinds = tuple(k for k in args.kinds.split(",") if k)

    files = []
    for section in ("man5", "man8", "man1"):
        files += sorted(glob.glob(os.path.join(args.man, section, "*.gz")))
    files = files[: args.pages]
    pairs, used = [], []
    for path in files:
        try:
            raw = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
        except OSError:
            continue
        if raw.startswith(".so "):
            continue
        prog = os.path.basename(path).split(".")[0]
        sents = [s for p in roff_text(raw) for s in sentences(p)]
        if len(sents) < 3:
            continue
        used.append(path)
        words = [content(s) for s in sents]
        for i, s in enumerate(sents):
            kind = rng.choice(kinds)
            hyp = None
            if kind == "contradiction":
                hyp = contradict(s, rng)
            elif kind == "entailment":
                hyp = entail(s, prog, rng)
            else:
                near = [j for j in range(len(sents)) if j != i and len(words[i] & words[j]) >= 2
                        and sents[j] != s]
                if near:
                    hyp = sents[rng.choice(near)]
            if hyp and hyp != s or kind == "entailment" and hyp:
                pairs.append({"premise": s, "hypothesis": hyp, "label": kind,
                              "source": f"man/{os.path.basename(path)}"})
    rng.shuffle(pairs)
    with open(args.out, "w") as f:
        for p in pairs:
            f.write(json.dumps(p) + "\n")
    with open(args.out + ".sources", "w") as f:
        f.write("\n".join(used) + "\n")
    counts = {k: sum(p["label"] == k for p in pairs) for k in ("entailment", "contradiction", "neutral")}
    print(f"{len(pairs)} pairs from {len(used)} pages: {counts}")


if __name__ == "__main__":
    main()
