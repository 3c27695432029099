"""``cot-distill rationales generate``: few-shot CoT rationales from a teacher LM.

Batched generation with any Hugging Face causal LM (left padding, greedy or
sampled; bf16 on a GPU), or vLLM when installed. Rows are appended per batch,
so a rerun skips the ids already in the output file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from cot_tasks.errors import DataError, ModelError, check_at_least
from cot_tasks.io import append_rows
from cot_tasks.progress import stage_bar
from cot_tasks.rationales.format import Rationale, resume_rationales
from cot_tasks.rationales.parse import parse_answer, strip_answer_sentence
from cot_tasks.rationales.teacher_prompts import PROMPT_VERSION, STOP_STRINGS, cut_continuation, teacher_prompt
from cot_tasks.records import Example
from trainers.config import option, source_option, split_option

ENGINES = ("hf", "vllm")


@dataclass(frozen=True)
class GenerateConfig:
    """One generation run; its fields are ``cot-distill rationales generate``'s options."""

    teacher: str = option(help="hub id or local checkpoint, e.g. mistralai/Mistral-7B-Instruct-v0.2")
    dataset: str = option(help="which dataset")
    out: Path = option(help="rationale file to write (JSON lines; resumes)")
    split: str = split_option()
    source: str = source_option()
    limit: int | None = option(None, "only the first N questions")
    batch_size: int = option(8, "prompts per generate call")
    max_new_tokens: int = option(128, "longest rationale in teacher tokens")
    do_sample: bool = option(False, "sample instead of greedy decoding")
    temperature: float | None = option(None, "sampling temperature (only with --do-sample; unset: 1.0)")
    seed: int = option(0, "sampling seed")
    engine: str = option("hf", "transformers (hf) or vllm")
    device: str | None = option(None, "default: cuda when available")


@dataclass(frozen=True)
class GenerateReport:
    out: Path
    done_before: int  # rows already in the file (resumed)
    generated: int
    correct: int
    wrong: int
    unparseable: int
    dropped_broken_line: bool

    def line(self) -> str:
        resumed = f"{self.done_before} already there, " if self.done_before else ""
        broken = " (dropped an unfinished last line from a killed run)" if self.dropped_broken_line else ""
        return (f"{self.out}: {resumed}{self.generated} generated; teacher answer correct {self.correct}, "
                f"wrong {self.wrong}, unparseable {self.unparseable}{broken}")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def hf_engine(config: GenerateConfig) -> Callable[[list[str]], list[str]]:
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    from trainers.model import load_causal_lm, pick_device

    device = pick_device(config.device)
    tokenizer, model = load_causal_lm(config.teacher, device, torch.bfloat16 if device.startswith("cuda") else None,
                                      role="teacher")
    tokenizer.padding_side = "left"  # generation continues from the right end of every row

    class StopAtNextQuestion(StoppingCriteria):
        """Per row: stop once the continuation starts another question (saves most of the tokens)."""

        def __init__(self, start: int):
            self.start = start

        def __call__(self, input_ids, scores, **kwargs):
            texts = tokenizer.batch_decode(input_ids[:, self.start:], skip_special_tokens=True)
            return torch.tensor([any(s in t for s in STOP_STRINGS) for t in texts], device=input_ids.device)

    def generate(prompts: list[str]) -> list[str]:
        enc = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
        start = enc["input_ids"].shape[1]
        sampling = ({"do_sample": True, "temperature": config.temperature or 1.0} if config.do_sample
                    else {"do_sample": False})
        with torch.no_grad():
            out = model.generate(
                **enc, max_new_tokens=config.max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=StoppingCriteriaList([StopAtNextQuestion(start)]), **sampling,
            )
        return tokenizer.batch_decode(out[:, start:], skip_special_tokens=True)

    return generate


def vllm_engine(config: GenerateConfig) -> Callable[[list[str]], list[str]]:
    try:
        from vllm import LLM, SamplingParams
    except ImportError:
        raise DataError("--engine vllm needs the vllm package (pip install 'cot-distill[vllm]'); "
                        "or use --engine hf") from None
    try:
        llm = LLM(model=config.teacher, dtype="bfloat16", seed=config.seed)
    except Exception as err:
        raise ModelError(f"cannot load teacher model in vLLM ({_first_line(err)})", path=config.teacher) from None
    params = SamplingParams(temperature=(config.temperature or 1.0) if config.do_sample else 0.0,
                            max_tokens=config.max_new_tokens, stop=list(STOP_STRINGS), seed=config.seed)

    def generate(prompts: list[str]) -> list[str]:
        return [out.outputs[0].text for out in llm.generate(prompts, params, use_tqdm=False)]

    return generate


def to_rationale(example: Example, text: str, teacher: str) -> Rationale:
    answer = cut_continuation(text)
    return Rationale(id=example.id, dataset=example.dataset, rationale=strip_answer_sentence(answer),
                     teacher_answer=parse_answer(answer, example.choices), teacher=teacher,
                     source="generate", prompt_version=PROMPT_VERSION)


def generate_rationales(config: GenerateConfig, examples: Sequence[Example] | None = None,
                        engine: Callable[[list[str]], list[str]] | None = None) -> GenerateReport:
    """Generate for ``examples`` (default: ``load_split`` of the config) the ids not yet in ``config.out``."""
    if config.engine not in ENGINES:
        raise DataError(f"unknown --engine {config.engine!r} (known: {', '.join(ENGINES)})")
    check_at_least(config, batch_size=1, max_new_tokens=1, limit=1)
    if config.temperature is not None and not config.do_sample:
        raise DataError("--temperature is read only when sampling: add --do-sample, or leave it out for greedy")
    if config.temperature is not None and config.temperature <= 0:
        raise DataError(f"--temperature must be > 0, got {config.temperature}")
    if examples is None:
        from cot_tasks.data import load_split

        examples = load_split(config.dataset, config.split, config.source)
    examples = list(examples)[: config.limit]
    done, repaired = resume_rationales(config.out)
    for r in done.values():
        if (r.teacher, r.prompt_version) != (config.teacher, PROMPT_VERSION):
            raise DataError(f"holds rationales from teacher {r.teacher!r} with prompt {r.prompt_version!r}, "
                            f"not {config.teacher!r} with {PROMPT_VERSION!r}; choose another --out", path=config.out)
    todo = [ex for ex in examples if ex.id not in done]
    counts = {"correct": 0, "wrong": 0, "unparseable": 0}
    if todo:
        import torch

        torch.manual_seed(config.seed)
        engine = engine or (vllm_engine if config.engine == "vllm" else hf_engine)(config)
        with stage_bar(len(todo), f"teacher {config.dataset} {config.split}", unit="ex") as bar:
            for i in range(0, len(todo), config.batch_size):
                batch = todo[i: i + config.batch_size]
                texts = engine([teacher_prompt(ex) for ex in batch])
                rows = [to_rationale(ex, text, config.teacher) for ex, text in zip(batch, texts)]
                append_rows(config.out, (asdict(r) for r in rows))
                for ex, r in zip(batch, rows):
                    key = "unparseable" if r.teacher_answer is None else (
                        "correct" if r.teacher_answer == ex.answer else "wrong")
                    counts[key] += 1
                bar.update(len(batch))
    return GenerateReport(out=Path(config.out), done_before=len(done), generated=len(todo),
                          dropped_broken_line=repaired, **counts)
