"""Hugging Face model card (``README.md``) for a distilled student.

The YAML front matter carries ``model-index`` so the Hub (and leaderboards that
read it) show the lm-eval scores; the body says how the student was made and how
to score it again with lm-eval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from cot_tasks.data import DEFAULT_SOURCE
from cot_tasks.errors import DataError
from cot_tasks.io import write_files_atomic
from cot_tasks.names import PROTOCOL, Pass, passes_for
from cot_tasks.prompts import CF, MCF, check_formulation
from cot_tasks.records import FACTS
from harness_plugins.lmeval.results import split_key
from harness_plugins.report.compare import dataset_of_task
from trainers.config import read_run_record

SAMPLE = "sample"
# What the student answers with in each formulation: a card says which, since the scores mean different things.
FORMULATION_WORDS = {
    MCF: "MCF (multiple choice: lettered options in the prompt; the label is the gold letter)",
    CF: "CF (cloze: no options in the prompt; the label is the gold answer text, each option's text scored as "
          "the continuation)",
}


def _split(results: Mapping, task: str, dataset: str) -> str:
    config = results.get("configs", {}).get(task, {})
    return config.get("test_split") or config.get("validation_split") or FACTS[dataset].eval_split


def scored_source(results: Mapping, task: str) -> str | None:
    """The ``source`` lm-eval's task read its docs from (its metadata), None for results that do not say."""
    return (results.get("configs", {}).get(task, {}).get("metadata") or {}).get("source")


def public(value: Any) -> Any:
    """A value with every absolute path cut to its last part: a card is published, the user's machine is not."""
    if isinstance(value, Mapping):
        return {k: public(v) for k, v in value.items()}
    if isinstance(value, list):
        return [public(v) for v in value]
    if isinstance(value, str) and Path(value).is_absolute():
        return Path(value).name
    return value


def model_index(name: str, results: Mapping) -> list[dict]:
    """``model-index`` entries for every task of ``results`` that scores one of our datasets on the real data.

    Scores on the bundled sample are no scores of the hub dataset, so they get no entry (the body lists them)."""
    entries = []
    for task, scores in sorted(results.get("results", {}).items()):
        dataset = dataset_of_task(task)
        if dataset is None or scored_source(results, task) == SAMPLE:
            continue
        metrics = [
            {"type": PROTOCOL[metric].hub_type, "value": round(float(value), 4),
             "name": f"{metric} ({task}{'' if filt == 'none' else ', ' + filt})"}
            for key, value in sorted(scores.items())
            for metric, filt in [split_key(key)]
            if metric in PROTOCOL and isinstance(value, (int, float))
        ]
        if not metrics:
            continue
        facts = FACTS[dataset]
        hub_dataset = {"name": facts.display, "type": facts.hub_id, "split": _split(results, task, dataset)}
        if facts.hub_config:
            hub_dataset["config"] = facts.hub_config
        entries.append({"task": {"type": "multiple-choice", "name": "Multiple Choice"},
                        "dataset": hub_dataset, "metrics": metrics})
    if not entries:
        return []
    return [{"name": name, "results": entries}]


def _check_results(results: Mapping) -> None:
    if not any(dataset_of_task(task) for task in results.get("results", {})):
        tasks = ", ".join(results.get("results", {})) or "none"
        raise DataError(f"results hold no csqa/obqa/quarel task (tasks: {tasks})")


def render_model_card(checkpoint_dir: str | Path, run_info: Mapping[str, Any], results: Mapping | None) -> str:
    """The card; ``results`` None: a student not scored yet (a standalone ``train``), with no model-index."""
    checkpoint_dir = Path(checkpoint_dir)
    for name in ("dataset", "condition", "student") + (("metrics",) if results is not None else ()):
        if not run_info.get(name):
            raise DataError("missing from run info", field=name)
    dataset, condition, student = (str(run_info[k]) for k in ("dataset", "condition", "student"))
    if dataset not in FACTS:
        raise DataError(f"unknown dataset {dataset!r} (known: {', '.join(FACTS)})", field="dataset")
    # run.json carries it for CF cells only (harness_plugins.grid.cell): absent is MCF.
    try:
        formulation = check_formulation(str(run_info.get("formulation", MCF)))
    except DataError as err:
        raise DataError(str(err), field="formulation") from None
    if results is not None:
        _check_results(results)
    metrics = run_info.get("metrics") or {}
    record = read_run_record(checkpoint_dir) or {}
    train_config = record.get("config") or {}
    sources = {scored_source(results or {}, m["task"]) for m in metrics.values()} - {None}
    source = str(sources.pop() if len(sources) == 1 else run_info.get("source") or train_config.get("source")
                 or "unknown")
    # The passes in the order they run: a commit task reads the gen pass's samples.
    passes = passes_for(condition, dataset, formulation)
    name = f"cot-distill-{dataset}-{condition}-{Path(student).name}" + (
        f"-seed{run_info['seed']}" if run_info.get("seed") is not None else "")
    meta: dict[str, Any] = {}
    # base_model must be a Hub id; a local path or the built-in tiny student has none.
    if student != "tiny" and not Path(student).is_absolute() and not Path(student).exists():
        meta["base_model"] = student
    meta["library_name"] = "transformers"
    if source != SAMPLE:
        meta["datasets"] = [FACTS[dataset].hub_id]
    meta["tags"] = ["cot-distillation", condition]
    index = model_index(name, results) if results is not None else []
    if index:
        meta["model-index"] = index
    teacher = run_info.get("teacher") or "unknown"
    config = public(record)
    data = (f"the cot-distill bundled sample of {FACTS[dataset].display} (hand-written questions, not the "
            f"{FACTS[dataset].hub_id} data)" if source == SAMPLE else
            f"{FACTS[dataset].display} from {public(source)}")
    n_train = run_info.get("examples", record.get("examples"))
    split = train_config.get("split", "train")
    n_docs = sorted({m.get("n_docs") for m in metrics.values()} - {None})
    versions = (results or {}).get("versions", {})
    scores = [
        f"- `{metric}` = {float(m['value']):.4f} (lm-eval task `{m['task']}`"
        + (f" version {versions[m['task']]}" if m["task"] in versions else "")
        + f", key `{m['key']}`, {m.get('n_docs', '?')} docs"
        + (f", {float(m['invalid']):.1%} without a label" if m.get("invalid") else "") + ")"
        for metric, m in metrics.items()
    ]
    body = [
        f"# {name}",
        "",
        f"A student language model fine-tuned on {FACTS[dataset].display} with chain-of-thought-augmented "
        "distillation (Wadhwa, Amir and Wallace, *Investigating Mysteries of CoT-Augmented Distillation*, "
        "EMNLP 2024).",
        "",
        "## Training",
        "",
        f"- **Student (base model):** `{public(student)}`",
        f"- **CoT condition:** `{condition}` (how the gold label and the teacher rationale form the target)",
        f"- **Formulation:** {FORMULATION_WORDS[formulation]}",
        f"- **Teacher:** `{teacher}`",
        f"- **Rationales:** `{public(run_info.get('rationales') or train_config.get('rationales')) or 'none'}`",
        f"- **Data:** {data}; trained on `{split}`"
        + (f" ({n_train} examples)" if n_train is not None else "")
        + (f", scored on `{_split(results, passes[0].task, dataset)}` ({'/'.join(map(str, n_docs))} docs)"
           if results is not None else ", not scored yet"),
        f"- **Seed:** {run_info.get('seed', 'unknown')}",
        "",
    ]
    if config:
        body += ["Training configuration and data hashes (`cot_distill.json`):", "", "```json",
                 json.dumps(config, indent=2, sort_keys=True), "```", ""]
    body += [
        "## Evaluation",
        "",
        "Scored with lm-evaluation-harness: `acc` is the label picked where the student commits (right after "
        "the prompt, or after its own greedy rationale and the answer cue), `exact_match` the label it "
        "commits to in free generation."
        + (" The labels are answer texts: `acc_norm` picks by log-likelihood per byte, `acc` by the sum (which "
           "prefers short texts)." if formulation != MCF else ""),
        "",
        *(scores or ["Not scored yet: score it with the commands below."]),
        "",
        *(["Scores on the bundled sample say the pipeline works, nothing about the student on the real data.", ""]
          if source == SAMPLE and scores else []),
        "Reproduce with:",
        "",
        "```bash",
        *reproduce(passes, source),
        "```",
        "",
        "`cot-distill tasks-dir` prints the folder of the cot-distill lm-eval task definitions "
        "(`pip install cot-distill`).",
        "",
    ]
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n" + "\n".join(body)


def reproduce(passes: list[Pass], source: str = DEFAULT_SOURCE) -> list[str]:
    """``lm_eval`` command lines for each pass, in order; a commit task reads the samples of the gen pass."""
    lines = []
    given = {} if source in (DEFAULT_SOURCE, "unknown") else {
        "source": source if source in ("hub", SAMPLE) else "/path/to/the/original/files"}
    for task, reads in passes:
        keys = dict(given)
        if reads is not None:
            keys["generations"] = f"eval/<model>/samples_{reads}_<timestamp>.jsonl"
        metadata = f" --metadata '{json.dumps(keys)}'" if keys else ""
        lines += ["lm_eval --model hf --model_args pretrained=PATH_OR_HUB_ID \\",
                  f'  --include_path "$(cot-distill tasks-dir)" --tasks {task}{metadata} \\',
                  "  --log_samples --output_path eval/"]
    return lines


def write_model_card(checkpoint_dir: str | Path, run_info: dict, results: dict | None) -> Path:
    """Write ``<checkpoint_dir>/README.md`` (atomically) and return its path."""
    checkpoint_dir = Path(checkpoint_dir)
    if not checkpoint_dir.is_dir():
        raise DataError("checkpoint folder not found", path=checkpoint_dir)
    text = render_model_card(checkpoint_dir, run_info, results)
    return write_files_atomic({checkpoint_dir / "README.md": text})[0]
