#!/usr/bin/env python3
"""How the trained verifier reads the docs claims' own settling sentences (analysis only: the
evaluation set is read, never trained on).

For each supported or refuted claim of ../shared/eval/docs-claims.json, the model reads the
claim beside each sentence its `evidence` lists (the same input as the Rust side: no padding,
claim then evidence). Label: supported when the highest entailment is >= 0.5 and above the
highest contradiction, refuted when the highest contradiction is >= 0.5, else insufficient.
`--parts` reads a compound claim part by part (split as `text::conjuncts` splits): entailment is
the weakest part's, contradiction the strongest part's.

    python3 train/verifier/read_evidence.py --base /tmp/w/model [--parts]
"""

import argparse
import json
import os
import re
import sys

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import Bert, encode  # noqa: E402

JOINS = r"; |: |, so |, and so |, therefore |, but |, and |, because | because |, even though | even though |, although "
AND_CLAUSE = (
    r" and (?=(?:is|are|was|were|has|have|had|can|cannot|could|does|do|did|will|would|must|may|"
    r"might|should|only|also|then|it|its|they|this|that|so|not|never|always)\b)"
)


def parts(claim):
    ps = [p.strip().rstrip(".").strip() for p in re.split(f"(?:{JOINS}|{AND_CLAUSE})", claim)]
    if len(ps) < 2 or any(len(re.findall(r"\w+", p)) < 3 for p in ps):
        return [claim]
    return ps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="folder with model.safetensors and tokenizer.json")
    ap.add_argument("--adapter", default=os.path.join(os.path.dirname(__file__), "../../models/verifier/adapter.safetensors"))
    ap.add_argument("--claims", default=os.path.join(os.path.dirname(__file__), "../../../shared/eval/docs-claims.json"))
    ap.add_argument("--parts", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(2)
    tok = Tokenizer.from_file(os.path.join(args.base, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    base = {k: v for k, v in load_file(os.path.join(args.base, "model.safetensors")).items() if k != "embeddings.position_ids"}
    cfg = json.load(open(os.path.join(args.base, "config.json")))
    manifest = json.load(open(os.path.join(os.path.dirname(args.adapter), "verifier.json")))
    model = Bert(base, cfg["num_hidden_layers"], cfg["num_attention_heads"], manifest["lora"]["rank"], manifest["lora"]["alpha"])
    model.load(load_file(args.adapter))
    model.eval()

    def nli(claim, evidence):
        ids, types = encode(tok, claim, evidence, manifest["max_len"])
        with torch.no_grad():
            p = model(torch.tensor([ids]), torch.tensor([types]), torch.ones(1, len(ids), dtype=torch.long), dropout=0.0)
        return p.softmax(-1)[0].tolist()

    right = total = 0
    for c in json.load(open(args.claims))["claims"]:
        if c["label"] == "insufficient":
            continue
        total += 1
        evidence = [e["text"] for e in c["evidence"]]
        read = parts(c["claim"]) if args.parts else [c["claim"]]
        ent, con = [], []
        for p in read:
            probs = [nli(p, e) for e in evidence]
            ent.append(max(x[0] for x in probs))
            con.append(max(x[1] for x in probs))
        e, k = min(ent), max(con)
        label = "supported" if e >= 0.5 and e > k else "refuted" if k >= 0.5 else "insufficient"
        right += label == c["label"]
        print(f"{'ok' if label == c['label'] else '--'} {c['id']} gold {c['label']:<9} read {label:<12} E {e:.2f} C {k:.2f}")
    print(f"right: {right} of {total}")


if __name__ == "__main__":
    main()
