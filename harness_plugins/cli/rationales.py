"""``cot-distill rationales generate|import|filter``: teacher rationales in our one format."""

from __future__ import annotations

from pathlib import Path

from cot_tasks.data import DEFAULT_SOURCE
from cot_tasks.rationales.filtering import KEEP
from cot_tasks.rationales.published import FORMATS
from cot_tasks.records import DATASETS
from harness_plugins.cli.options import add_config_options, config_from_args
from trainers.config import SOURCE_HELP, SPLIT_HELP
from trainers.teacher import ENGINES, GenerateConfig


def split_args(p) -> None:
    p.add_argument("--dataset", required=True, choices=DATASETS, help="which dataset")
    p.add_argument("--split", default="train", help=SPLIT_HELP)
    p.add_argument("--source", default=DEFAULT_SOURCE, help=SOURCE_HELP)


def register(sub) -> None:
    rat = sub.add_parser("rationales", help="teacher rationales: generate, import, filter")
    rsub = rat.add_subparsers(dest="rationales_command", required=True, metavar="ACTION")

    gen = rsub.add_parser("generate", help="few-shot CoT rationales from a teacher LM")
    add_config_options(gen, GenerateConfig, required=("teacher", "dataset", "out"),
                       choices={"dataset": DATASETS, "engine": ENGINES})
    gen.set_defaults(func=_generate)

    imp = rsub.add_parser("import", help="convert published rationale files into our format")
    imp.add_argument("--format", required=True, choices=FORMATS,
                     help="dss: distilling step-by-step (PaLM); cose: CoS-E; eit: EIT-NLP teachers; fact1: OBQA's "
                          "gold fact; generic: any CSV/JSONL")
    imp.add_argument("input", nargs="?", type=Path,
                     help="dss: the datasets/cqa folder; cose/eit/generic: the file; fact1: none")
    split_args(imp)
    imp.add_argument("--out", required=True, type=Path, help="rationale file to write (JSON lines)")
    imp.add_argument("--keep", choices=KEEP, default="correct",
                     help="keep only rationales whose teacher answer is the gold label (default)")
    imp.add_argument("--teacher", help="teacher name to record (eit/generic)")
    imp.add_argument("--id-column", help="generic: column with the example id (default: id; '' to join by question)")
    imp.add_argument("--rationale-column", help="generic: column with the rationale (default: rationale)")
    imp.add_argument("--question-column", help="generic: column with the question (to join by question text)")
    imp.add_argument("--answer-column", help="generic: column with the teacher's answer (else parsed from the text)")
    imp.set_defaults(func=_import)

    flt = rsub.add_parser("filter", help="keep rationales whose teacher answer is the gold label")
    flt.add_argument("input", type=Path, help="rationale file (JSON lines)")
    split_args(flt)
    flt.add_argument("--out", required=True, type=Path, help="rationale file to write")
    flt.add_argument("--keep", choices=KEEP, default="correct",
                     help="correct: only rationales whose teacher answered the gold label")
    flt.set_defaults(func=_filter)


def _examples(args):
    from cot_tasks.data import load_split

    return load_split(args.dataset, args.split, args.source)


def _generate(args) -> int:
    from trainers.teacher import generate_rationales

    print(generate_rationales(config_from_args(GenerateConfig, args)).line())
    return 0


def _import(args) -> int:
    from cot_tasks.rationales.published import ImportOptions, import_rationales

    options = ImportOptions(teacher=args.teacher, id_column=args.id_column, rationale_column=args.rationale_column,
                            question_column=args.question_column, answer_column=args.answer_column)
    for line in import_rationales(args.format, args.input, _examples(args), args.split, args.out, args.keep, options):
        print(line)
    return 0


def _filter(args) -> int:
    from cot_tasks.rationales.filtering import filter_rationales
    from cot_tasks.rationales.format import read_rationales, write_rationales

    kept, report = filter_rationales(_examples(args), read_rationales(args.input, args.dataset), args.keep)
    write_rationales(kept, args.out)
    print(report.line())
    return 0
