"""``cot-distill eval``: lm-eval's own command line with our tasks on its include path."""

from __future__ import annotations

import argparse
import sys

PREFACE = """usage: cot-distill eval <lm_eval arguments>

Runs lm-eval's own command line (every argument goes to lm_eval unchanged) with
--include_path set to our task folder, so the cot_* tasks and groups are known.
Our tasks read their data from the `source` metadata; the default is
--metadata '{"source": "sample"}' (the bundled sample, offline). For the real
data add --metadata '{"source": "hub"}' or
--metadata '{"source": "/path/to/original/files"}'. Example:

  cot-distill eval --model hf --model_args pretrained=CKPT --tasks cot_distill \\
      --metadata '{"source": "hub"}' --output_path out --log_samples

lm_eval's own help follows.
"""


def register(sub) -> None:
    # '+' as prefix so every '-' option (even -h) is passed through to lm-eval untouched.
    p = sub.add_parser(
        "eval",
        help="run lm-eval's CLI with our tasks included (all arguments go to lm_eval)",
        add_help=False,
        prefix_chars="+",
    )
    p.add_argument("lm_eval_args", nargs=argparse.REMAINDER, help="lm_eval arguments")
    p.set_defaults(func=_eval)


def _eval(args) -> int:
    from harness_plugins.lmeval.evaluate import run_lm_eval

    if not args.lm_eval_args:
        print(PREFACE.split("\n\nlm_eval's own help")[0], file=sys.stderr)
        return 2
    if any(a in ("-h", "--help") for a in args.lm_eval_args):
        print(PREFACE)
    return run_lm_eval(args.lm_eval_args)
