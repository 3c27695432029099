"""The student trainer: one training function on accelerate (cf. accelerate's nlp_example.py).

The output folder's bookkeeping (claim, run record, resumable state, final
checkpoint) is ``trainers.run_folder``; this module reads data, builds targets
and runs the loop. Runs the same under ``python`` and ``accelerate launch``: every process builds
the same batch schedule and takes every N-th micro-batch, so the order of the
data after a resume is the same as in a run that never stopped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from cot_tasks.conditions import label_first, parse_condition
from cot_tasks.errors import DataError
from cot_tasks.progress import stage_bar
from cot_tasks.prompts import MCF, gold_label, render_prompt
from cot_tasks.records import Example
from cot_tasks.targets import build_targets
from cot_tasks.train_log import TRAIN_LOG, append_train_log, resume_train_log
from trainers import run_folder
from trainers.config import LOGS_DIR, RUN_FILE, TrainConfig
from trainers.data import (
    Encoded,
    batch_schedule,
    collate,
    data_sha256,
    encode,
    file_sha256,
    lm_eval_adds_special_tokens,
    step_token_counts,
)
from trainers.model import device_name, load_model, load_model_type, load_tokenizer, pad_id, resolve_mixed_precision
from trainers.students import resolve_student


@dataclass
class TrainResult:
    output: Path
    reused: bool
    steps: int
    examples: int
    dropped: int  # examples without a rationale (see cot_tasks.conditions: policy)
    truncated: int  # examples whose rationale was cut to fit max_length
    target_tokens: int
    seconds: float
    final_loss: float | None


def load_training_examples(config: TrainConfig) -> list[Example]:
    from cot_tasks.data import load_split

    examples = load_split(config.dataset, config.split, source=config.source)
    return examples[: config.limit] if config.limit else examples


def train(config: TrainConfig, *, resume: bool = False, examples: Sequence[Example] | None = None,
          on_step: Callable[[int], None] | None = None, progress: bool = True,
          run_name: str | None = None) -> TrainResult:
    """Fine-tune ``config.student`` on prompt -> condition target; save a ``from_pretrained`` checkpoint.

    ``examples`` overrides loading ``config.split`` from ``config.source``.
    ``on_step(step)`` runs after every optimizer step (tests use it to kill a run).
    Every step is a line of ``<output>/train_log.jsonl``; ``config.report_to`` names accelerate trackers that
    get the same values, under ``run_name`` (default: the output folder's name) in ``<output>/logs``.
    A finished run with the same config is reused; an unfinished one resumes
    with ``resume=True`` and ends with the same weights as an uninterrupted run.
    """
    from accelerate import Accelerator, PartialState
    from accelerate.utils import parse_flag_from_env

    from cot_tasks.rationales import read_rationales
    from cot_tasks.rationales.keytokens import read_attributions

    config.check()
    cond = parse_condition(config.condition)
    out = Path(config.output)
    # The device accelerate will train on decides what ``auto`` means; the run record keeps the answer.
    # PartialState is the one Accelerator then shares, so it must get ACCELERATE_USE_CPU as Accelerator
    # passes it (without it a CPU `accelerate launch --multi_gpu` comes up as one process per process).
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    precision = resolve_mixed_precision(config.mixed_precision, state.device)
    trackers = config.trackers()
    accelerator = Accelerator(mixed_precision=precision, log_with=trackers or None,
                              project_dir=str(out / LOGS_DIR) if trackers else None)

    # --- data: examples, rationales, the student's tokenizer, targets ---
    examples = list(examples) if examples is not None else load_training_examples(config)
    rationales, rationale_sha = None, None
    if config.rationales:
        rationales = {rid: r.rationale for rid, r in read_rationales(config.rationales, config.dataset).items()}
        rationale_sha = file_sha256(config.rationales)
    identity = {**config.identity(), "rationales_sha256": rationale_sha}
    # Everything that can be checked without the student is checked before the folder is claimed,
    # so a corrected command is never refused as "another run".
    build_targets(examples, rationales, "none" if rationales is not None else cond,
                  source=config.rationales or "rationales")
    extras = {}
    if config.attributions:
        if not Path(config.attributions).is_file():
            raise DataError("no such attribution file; run `cot-distill attribute` first", path=config.attributions)
        identity["attributions_sha256"] = file_sha256(config.attributions)
        # Key tokens reach the target as text, so a teacher's tokenizer serves any student;
        # the reader still refuses a file that mixes tokenizers.
        extras["attributions"] = read_attributions(config.attributions)
    with run_folder.exclusive(accelerator, out):
        record = run_folder.check_output(out, identity)
        if record is not None and record.get("status") == "finished":
            return TrainResult(out, True, record["steps"], record["examples"], record["dropped"],
                               record["truncated"], record["target_tokens"], 0.0, record.get("final_loss"))
        if record is not None and run_folder.has_state(out) and not resume:
            raise DataError("output folder holds an unfinished run of this config; pass --resume to continue it",
                            path=out)
        with run_folder.claimed(accelerator, out, identity, record):
            return _train_claimed(config, accelerator, cond, out, examples, rationales, identity, record, extras,
                                  resume=resume, on_step=on_step, progress=progress,
                                  run_name=run_name or out.name)


def _train_claimed(config: TrainConfig, accelerator, cond, out: Path, examples, rationales, identity: dict,
                   record: dict | None, extras: dict, *, resume: bool, on_step, progress: bool,
                   run_name: str) -> TrainResult:
    import torch
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    from trainers.loss import TargetLoss, accumulate, param_groups

    main = accelerator.is_main_process
    student = resolve_student(config.student)
    if student == "tiny":
        corpus = [render_prompt(ex, config.formulation) + " " + (rationales or {}).get(ex.id, "") for ex in examples]
        if main:
            run_folder.tiny_student(out, corpus, config)
        accelerator.wait_for_everyone()
        student = str(out / run_folder.INIT_DIR)
    tokenizer = load_tokenizer(student, "student", config.trust_remote_code)
    pairs, report = build_targets(examples, rationales, cond, seed=config.seed, tokenizer=tokenizer,
                                  source=config.rationales or "rationales", extras=extras,
                                  formulation=config.formulation)
    rows = [(ex.id, render_prompt(ex, config.formulation), target.text) for ex, target in pairs]
    data_hash = data_sha256(rows)
    if record is not None and record.get("data_sha256") not in (None, data_hash):
        raise DataError("output folder holds a run of this config on different data; choose another --output",
                        path=out)
    # BOS or not as lm-eval will encode the same prompt for this model.
    model_type = load_model_type(student, "student", config.trust_remote_code)
    special_tokens = lm_eval_adds_special_tokens(model_type)
    check_label = label_first(cond)
    encoded: list[Encoded] = [encode(tokenizer, prompt, target, config.max_length, special_tokens=special_tokens,
                                     label=gold_label(ex, config.formulation) if check_label else None,
                                     one_token=config.formulation == MCF, example_id=ex.id)
                              for (ex, target), (_, prompt, _) in zip(pairs, rows)]
    n_truncated = sum(e.truncated for e in encoded)
    run_record = {"identity": identity, "data_sha256": data_hash, "status": "training",
                  "condition": cond.spec, "examples": len(encoded), "dropped": report.unjoined,
                  "truncated": n_truncated, "mixed_precision": accelerator.mixed_precision,
                  "device": device_name(accelerator.device),
                  # The student's tokens per target (label + body + EOS): how every condition's length compares.
                  "target_length_mean": sum(e.n_target for e in encoded) / max(len(encoded), 1),
                  **report.measurements()}
    if main:
        run_folder.write_json(out / RUN_FILE, run_record)
        print(f"[{config.dataset}/{cond.spec}] {report.line()}; {n_truncated} rationale(s) cut to "
              f"max_length {config.max_length}")

    # --- the batch schedule: every process builds it alike and takes its share ---
    schedule = batch_schedule([len(e.input_ids) for e in encoded], config.batch_size, config.epochs, config.seed)
    world, rank = accelerator.num_processes, accelerator.process_index
    # Every process must run the same number of steps; the last < world micro-batches are dropped.
    schedule = schedule[: len(schedule) - len(schedule) % world]
    local = schedule[rank::world]
    total_steps = math.ceil(len(local) / config.grad_accum)
    # Counted from the schedule every process holds: the divisor is known before the backward
    # passes without a collective, and a resumed run recomputes it alike.
    step_tokens = step_token_counts(schedule, [e.n_target for e in encoded], world * config.grad_accum)

    # --- model, optimizer, schedule ---
    set_seed(config.seed)
    model = load_model(student, "student", trust_remote_code=config.trust_remote_code)
    pad = pad_id(tokenizer)
    # Fused AdamW (what transformers' Trainer defaults to): the same update in one kernel. On a CPU the
    # per-tensor loop it replaces took 13 s a step for SmolLM2-135M's 272 tensors, fused 3.4 s.
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr,
                                  fused=accelerator.device.type in ("cpu", "cuda"))
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    loss_model, optimizer = accelerator.prepare(TargetLoss(model, config.target_only_logits), optimizer)
    # The scheduler is stepped once per optimizer step here (not accelerate's per-process stepping),
    # so it is registered for checkpointing rather than prepared.
    accelerator.register_for_checkpointing(scheduler)

    saved = run_folder.load_state(accelerator, out) if resume else None
    step, target_tokens = (saved["step"], saved["target_tokens"]) if saved else (0, 0)
    log_path = out / TRAIN_LOG
    if main:
        resume_train_log(log_path, step)  # a killed run's steps past its saved state are done again
    if accelerator.log_with:
        accelerator.init_trackers(run_name, config=config.hyperparameters())

    # --- the loop ---
    loss_model.train()
    bar = stage_bar(total_steps, f"{config.dataset}/{cond.spec}", initial=step, disable=not (main and progress))
    final_loss, started = None, time.perf_counter()
    window_tokens, window_start = 0, time.perf_counter()
    first = step * config.grad_accum
    for group_start in range(first, len(local), config.grad_accum):
        group = local[group_start:group_start + config.grad_accum]
        batches = [{k: v.to(accelerator.device) for k, v in collate([encoded[j] for j in indices], pad).items()}
                   for indices in group]
        step_start = time.perf_counter()
        stats = accumulate(accelerator, loss_model, batches, step_tokens[step])  # summed loss, tokens
        # The norm before clipping (with clipping off, an infinite bound only measures it).
        grad_norm = accelerator.clip_grad_norm_(loss_model.parameters(), config.max_grad_norm or math.inf)
        lr = scheduler.get_last_lr()[0]  # this step's rate: the scheduler moves on after it
        optimizer.step()
        if not accelerator.optimizer_step_was_skipped:
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        stats = accelerator.reduce(stats, reduction="sum")
        final_loss = (stats[0] / stats[1]).item()
        target_tokens += int(stats[1].item())
        window_tokens += int(stats[1].item())
        row = {"step": step, "loss": final_loss, "lr": lr, "grad_norm": float(grad_norm),
               "target_tokens": int(stats[1].item()),
               "tokens_per_s": int(stats[1].item()) / max(time.perf_counter() - step_start, 1e-9)}
        if main:
            append_train_log(log_path, row)
        if accelerator.log_with:
            accelerator.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step=step)
        if main and progress:
            now = time.perf_counter()
            bar.set_postfix(loss=f"{final_loss:.3f}", tok_s=f"{window_tokens / max(now - window_start, 1e-9):.0f}")
        bar.update(1)
        if config.save_steps and step % config.save_steps == 0 and step < total_steps:
            run_folder.save_state(accelerator, out, {"step": step, "target_tokens": target_tokens})
        if on_step is not None:
            on_step(step)
    bar.close()
    seconds = time.perf_counter() - started
    if accelerator.log_with:
        accelerator.end_training()

    # --- the checkpoint: save_pretrained + tokenizer + run record (finished last) ---
    run_record.update(status="finished", steps=step, target_tokens=target_tokens, final_loss=final_loss,
                      config=config.to_dict())
    run_folder.save_final(accelerator, out, accelerator.unwrap_model(loss_model).model, tokenizer, run_record)
    return TrainResult(out, False, step, len(encoded), report.unjoined, n_truncated, target_tokens, seconds,
                       final_loss)


