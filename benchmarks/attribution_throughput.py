"""Throughput of key-token attribution: the prompt cached, the full-sequence batched path, a per-example loop.

All three attribute log p(gold label | prompt + rationale + "\\nAnswer:") to the
input embeddings with LayerIntegratedGradients, the same model, steps and
baseline: (a) ours, the prompt run once and its keys/values reused at every step
(the ``integrated_gradients`` method, ``trainers.attribution_ig.IntegratedGradients``); (b) the batched
full-sequence path it replaces (``reuse_prompt=False``); (c) the plain loop one writes first: one example
per call, the full model forward (vocabulary-sized logits at every position).
Reports examples/s of each, the ratios, and completeness (sum of attributions vs
F(input) - F(baseline)) as the median relative error, with the machine load.

On a CPU the gain is the LM head evaluated at the label positions only; batching
more than a few examples makes the (examples x steps) activations overflow the
caches and slows it down (measured: batch 16 is 2x slower than batch 4). On a GPU
larger --batch-size is where the example batching pays.

    python benchmarks/attribution_throughput.py                 # small GPT-2 built locally, GPT-2's vocabulary
    python benchmarks/attribution_throughput.py --size tiny --vocab-size 0   # tiny, its own 2048-token vocabulary
    python benchmarks/attribution_throughput.py --model PATH --device cuda
    python benchmarks/attribution_throughput.py --model smollm2-135m --n 4 --steps 8 --batch-size 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SIZES = {"tiny": dict(n_layer=2, n_embd=128, n_head=4), "small": dict(n_layer=4, n_embd=256, n_head=4)}


def build_model(size: str, out: Path) -> Path:
    from cot_tasks.data import EVAL_SPLIT, load_split
    from cot_tasks.prompts import render_prompt
    from cot_tasks.rationales import read_rationales
    from cot_tasks.sample import rationale_path
    from trainers.tiny import TinyConfig, build_tiny_student

    texts = []
    for dataset in EVAL_SPLIT:
        texts += [render_prompt(ex) for ex in load_split(dataset, "train", "sample")]
        texts += [r.rationale for r in read_rationales(rationale_path(dataset)).values()]
    return build_tiny_student(texts, out, TinyConfig(**SIZES[size]))


def workload(n: int, tokenizer):
    """(example, rationale) pairs from the bundled sample, repeated up to ``n``."""
    from cot_tasks.data import load_split
    from cot_tasks.rationales import read_rationales
    from cot_tasks.sample import rationale_path
    from trainers.attribution import encode

    items = []
    for dataset in ("csqa", "obqa"):
        rats = read_rationales(rationale_path(dataset))
        items += [encode(ex, rats[ex.id].rationale, tokenizer)
                  for ex in load_split(dataset, "train", "sample") if ex.id in rats]
    return [items[i % len(items)] for i in range(n)]


def plain_loop(model, items, steps, baseline_id, device):
    """One captum call per example, full-vocabulary logits: the straightforward implementation."""
    import torch
    from captum.attr import LayerIntegratedGradients

    errors = []
    for it in items:
        ids = torch.tensor([it.input_ids], device=device)
        base = ids.clone()
        base[0, it.rationale] = baseline_id
        label_pos = torch.tensor(it.label, device=device)
        label_ids = ids[0, label_pos]

        def forward(x):  # label positions via the closure: captum would expand tensor arguments per step
            logp = torch.log_softmax(model(input_ids=x).logits.float(), dim=-1)
            return logp[:, label_pos - 1, label_ids].sum(-1)

        attr = LayerIntegratedGradients(forward, model.get_input_embeddings()).attribute(
            ids, baselines=base, n_steps=steps)
        with torch.no_grad():
            gap = float(forward(ids) - forward(base))
        errors.append(abs(float(attr.sum()) - gap) / max(abs(gap), 1e-8))
    return errors


def batched(model, tokenizer, items, steps, device, batch_size, reuse_prompt=True):
    """The attribution method as ``cot-distill attribute`` runs it: examples sorted by length, the pad baseline."""
    from trainers.attribution_ig import IntegratedGradients

    score = IntegratedGradients(steps, "pad", reuse_prompt=reuse_prompt).scorer(model, tokenizer, device)
    items = sorted(items, key=lambda it: len(it.input_ids))
    errors = []
    for i in range(0, len(items), batch_size):
        errors += [r.completeness_error for r in score(items[i: i + batch_size])]
    return errors


def main(argv=None) -> int:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="checkpoint or named student (default: a locally built GPT-2 of --size)")
    p.add_argument("--size", choices=SIZES, default="small")
    p.add_argument("--n", type=int, default=48, help="examples")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--vocab-size", type=int, default=50257,
                   help="pad the embedding to this many rows (GPT-2: 50257), as real checkpoints pad theirs")
    args = p.parse_args(argv)

    from trainers.students import resolve_student

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(resolve_student(args.model)) if args.model else build_model(args.size, Path(tmp) / args.size)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path)
    if not args.model and args.vocab_size > model.config.vocab_size:
        model.resize_token_embeddings(args.vocab_size)
    model = model.to(args.device).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    from trainers.model import pad_id

    pad = pad_id(tokenizer)
    items = workload(args.n, tokenizer)
    lengths = [len(it.input_ids) for it in items]

    runs = {
        "(a) prompt cached (ours)": lambda: batched(model, tokenizer, items, args.steps, args.device,
                                                    args.batch_size),
        "(b) batched, full sequence": lambda: batched(model, tokenizer, items, args.steps, args.device,
                                                      args.batch_size, reuse_prompt=False),
        "(c) per-example captum loop": lambda: plain_loop(model, items, args.steps, pad, args.device),
    }
    batched(model, tokenizer, items[:2], args.steps, args.device, 2)  # warm-up
    load = [Path("/proc/loadavg").read_text().split()[0]]
    speed, errors = {}, {}
    for name, run in runs.items():
        t0 = time.perf_counter()
        errors[name] = run()
        speed[name] = len(items) / (time.perf_counter() - t0)
        load.append(Path("/proc/loadavg").read_text().split()[0])

    name = args.model or f"{args.size} GPT-2 ({SIZES[args.size]}, vocab {len(tokenizer)}, " \
                         f"embedding {model.config.vocab_size})"
    print(f"model: {name}; device {args.device}; {len(items)} examples, {statistics.mean(lengths):.0f} tokens "
          f"mean, prompt {statistics.mean(it.rationale[0] for it in items):.0f}; steps {args.steps}; "
          f"batch {args.batch_size}; torch threads {torch.get_num_threads()}; loadavg {' -> '.join(load)}")
    for key in runs:
        print(f"{key:<30}{speed[key]:8.3f} examples/s   median completeness error "
              f"{statistics.median(errors[key]):.3%}   within 5%: {sum(e <= 0.05 for e in errors[key])}/{len(items)}")
    a, b, c = (speed[k] for k in runs)
    print(f"(a)/(b): {a / b:.2f}x (target >= 2x)   (a)/(c): {a / c:.2f}x (target >= 10x)   (b)/(c): {b / c:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
