"""The student trainer: loss masking, truncation, resume-after-kill, output-folder safety, lm-eval parity."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import pytest

from cot_tasks.conditions import Target
from cot_tasks.errors import DataError
from cot_tasks.prompts import render_prompt
from cot_tasks.records import Example
from cot_tasks.targets import make_target
from trainers.config import TrainConfig
from trainers.data import IGNORE, batch_schedule, collate, encode
from trainers.tiny import TinyConfig

THINGS = [("money", "bank"), ("fish", "river"), ("books", "library"), ("bread", "bakery"), ("cars", "garage"),
          ("clothes", "closet"), ("milk", "fridge"), ("plants", "garden"), ("letters", "mailbox"),
          ("tools", "shed"), ("dishes", "cupboard"), ("shoes", "rack")]
PLACES = [place for _, place in THINGS]


def csqa_rows(n: int, offset: int = 0) -> list[dict]:
    """Rows in the official CSQA file layout (train_rand_split.jsonl)."""
    rows = []
    for i in range(offset, offset + n):
        thing, place = THINGS[i % len(THINGS)]
        others = [p for p in PLACES if p != place][i % 7: i % 7 + 4]
        texts = others[:]
        gold = i % 5
        texts.insert(gold, place)
        rows.append({"answerKey": "ABCDE"[gold], "id": f"csqa-{i:03d}",
                     "question": {"question_concept": thing, "stem": f"Where would you usually keep {thing} no. {i}?",
                                  "choices": [{"label": "ABCDE"[k], "text": t} for k, t in enumerate(texts)]}})
    return rows


def write_csqa(tmp: Path, n_train: int = 24, n_dev: int = 10) -> tuple[Path, Path]:
    """A CSQA source directory plus a rationale file for its train split."""
    src = tmp / "csqa_src"
    src.mkdir(parents=True)
    train = csqa_rows(n_train)
    for name, rows in (("train_rand_split.jsonl", train), ("dev_rand_split.jsonl", csqa_rows(n_dev, 100))):
        (src / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    rat = tmp / "csqa_rationales.jsonl"
    rat.write_text("".join(json.dumps({
        "id": r["id"], "dataset": "csqa", "teacher_answer": r["answerKey"], "teacher": "test", "source": "test",
        "rationale": f"People keep {r['question']['question_concept']} in a "
                     f"{r['question']['choices']['ABCDE'.index(r['answerKey'])]['text']}.\n\nSo that is where."})
        + "\n" for r in train))
    return src, rat


def examples(n: int = 24) -> list[Example]:
    out = []
    for r in csqa_rows(n):
        q = r["question"]
        out.append(Example(id=r["id"], dataset="csqa", split="train", question=q["stem"],
                           choices=tuple((c["label"], c["text"]) for c in q["choices"]), answer=r["answerKey"]))
    return out


def rationale_file(tmp: Path, exs: list[Example]) -> Path:
    path = tmp / "rationales.jsonl"
    path.write_text("".join(json.dumps({"id": ex.id, "dataset": "csqa", "rationale":
                                        f"One keeps it in a {ex.answer_text}, as everybody knows."}) + "\n"
                            for ex in exs))
    return path


def small_config(tmp: Path, name: str, **kw) -> TrainConfig:
    base = dict(dataset="csqa", condition="post", student="tiny", output=str(tmp / name), epochs=2, batch_size=4,
                lr=2e-3, max_length=128, save_steps=2, tiny=TinyConfig(vocab_size=512, n_layer=1, n_head=2,
                                                                       n_embd=32))
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def tok(tiny_checkpoint):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_checkpoint)


def test_loss_only_on_target(tok):
    ex = examples(1)[0]
    prompt = render_prompt(ex)
    item = encode(tok, prompt, make_target(ex, "One keeps it there.", "post"), 256)
    batch = collate([item, encode(tok, prompt, make_target(ex, "", "none"), 256)], tok.eos_token_id)
    n_prompt = len(tok(prompt)["input_ids"])
    assert item.n_prompt == n_prompt
    assert (batch["labels"][:, :n_prompt] == IGNORE).all()
    assert (batch["labels"][0, n_prompt:] != IGNORE).all()
    # The second row is shorter: its padding carries no loss and no attention.
    short = len(batch["labels"][1]) - int(batch["attention_mask"][1].sum())
    assert short > 0 and (batch["labels"][1, -short:] == IGNORE).all()
    assert item.input_ids[-1] == tok.eos_token_id
    assert tok.decode(item.input_ids[n_prompt]) == f" {ex.answer}"


def test_truncation_keeps_prompt_and_label(tok):
    ex = examples(1)[0]
    prompt = render_prompt(ex)
    n_prompt = len(tok(prompt)["input_ids"])
    long = " ".join(["because"] * 300)
    post = encode(tok, prompt, make_target(ex, long, "post"), n_prompt + 10)
    assert post.truncated and len(post.input_ids) == n_prompt + 10
    assert tok.decode(post.input_ids[:n_prompt]) == prompt  # every choice survives
    assert tok.decode(post.input_ids[n_prompt:n_prompt + 2]) == f" {ex.answer}."
    pre = encode(tok, prompt, make_target(ex, long, "pre"), n_prompt + 12)
    assert pre.truncated and tok.decode(pre.input_ids[:-1]).endswith(f"\nAnswer: {ex.answer}")
    with pytest.raises(DataError, match="raise --max-length"):
        encode(tok, prompt, Target(" A"), n_prompt)


def test_batch_schedule_is_seeded_and_length_grouped():
    lengths = [5, 50, 6, 51, 7, 52, 8, 53] * 4
    a = batch_schedule(lengths, 4, 1.5, seed=1)
    assert a == batch_schedule(lengths, 4, 1.5, seed=1) != batch_schedule(lengths, 4, 1.5, seed=2)
    assert len(a) == 8 + 4
    assert sorted(i for b in a[:8] for i in b) == list(range(32))
    assert all(max(lengths[i] for i in b) - min(lengths[i] for i in b) <= 3 for b in a)


def test_target_only_logits_give_the_same_loss(tiny_checkpoint, tok):
    import torch
    from transformers import AutoModelForCausalLM

    from trainers.loss import TargetLoss

    model = AutoModelForCausalLM.from_pretrained(tiny_checkpoint).eval()
    exs = examples(3)
    batch = collate([encode(tok, render_prompt(e), make_target(e, "It is kept there " * (i + 1), "post"), 256)
                     for i, e in enumerate(exs)], tok.eos_token_id)
    with torch.no_grad():
        fast, n = TargetLoss(model, True)(**batch)  # summed over target tokens, and their count
        full, n_full = TargetLoss(model, False)(**batch)
        hf = model(**batch).loss  # transformers' own shifted cross-entropy
    assert TargetLoss(model, True).target_only_logits
    assert n == n_full == (batch["labels"][:, 1:] != IGNORE).sum()
    torch.testing.assert_close(fast, full)
    torch.testing.assert_close(fast / n, hf)


class Killed(Exception):
    pass


def test_resume_after_kill_gives_identical_weights(tmp_path):
    import torch
    from safetensors.torch import load_file

    from trainers.train import train

    exs = examples()
    rat = rationale_file(tmp_path, exs)
    ref = train(small_config(tmp_path, "ref", rationales=str(rat), grad_accum=2), examples=exs, progress=False)

    def kill(step):
        if step == 3:  # after a checkpoint at step 2, before the next one: step 3 is lost and redone
            raise Killed

    cfg = small_config(tmp_path, "killed", rationales=str(rat), grad_accum=2)
    with pytest.raises(Killed):
        train(cfg, examples=exs, on_step=kill, progress=False)
    with pytest.raises(DataError, match="pass --resume"):
        train(cfg, examples=exs, progress=False)
    resumed = train(cfg, examples=exs, progress=False, resume=True)
    assert resumed.steps == ref.steps == 6 and resumed.target_tokens == ref.target_tokens
    a, b = load_file(Path(ref.output) / "model.safetensors"), load_file(Path(resumed.output) / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sorted(p.name for p in Path(cfg.output).iterdir() if p.name.startswith(".")) == []
    # The killed run's step 3 was logged, lost and redone: the log reads as the uninterrupted run's.
    from cot_tasks.train_log import read_train_log

    ref_log, log = read_train_log(Path(ref.output) / "train_log.jsonl"), read_train_log(Path(cfg.output) /
                                                                                        "train_log.jsonl")
    assert [r["step"] for r in log] == [r["step"] for r in ref_log] == [1, 2, 3, 4, 5, 6]
    assert [(r["loss"], r["lr"], r["grad_norm"], r["target_tokens"]) for r in log] == \
        [(r["loss"], r["lr"], r["grad_norm"], r["target_tokens"]) for r in ref_log]

    # Same config again: reused, nothing trained.
    again = train(cfg, examples=exs, progress=False)
    assert again.reused and again.steps == 6

    record = json.loads((Path(cfg.output) / "cot_distill.json").read_text())
    assert record["status"] == "finished" and len(record["data_sha256"]) == 64
    assert record["identity"]["rationales_sha256"] and record["config"]["condition"] == "post"

    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(cfg.output)  # loads as is


def test_a_second_process_on_the_same_output_folder_stops_before_writing(tmp_path):
    from trainers import run_folder
    from trainers.train import train

    exs = examples()
    cfg = small_config(tmp_path, "shared", rationales=str(rationale_file(tmp_path, exs)))
    # Another process holds the folder (flock conflicts across open files, as across processes).
    held, ok = run_folder._try_lock(Path(cfg.output))
    assert ok and held is not None
    with pytest.raises(DataError, match="in use by another training process") as err:
        train(cfg, examples=exs, progress=False)
    assert "\n" not in str(err.value) and not Path(cfg.output).exists()
    held.close()  # it finished (or was killed: the OS lets go of its lock either way)
    assert train(cfg, examples=exs, progress=False).steps > 0
    assert not any(p.name.endswith(".lock") for p in Path(cfg.output).iterdir())


def test_output_folder_of_another_run_is_refused(tmp_path):
    from trainers.train import train

    exs = examples(8)
    rat = rationale_file(tmp_path, exs)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="holds other files"):
        train(small_config(tmp_path, "foreign", rationales=str(rat)), examples=exs, progress=False)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]

    train(small_config(tmp_path, "run", rationales=str(rat), epochs=1), examples=exs, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").iterdir()}
    with pytest.raises(DataError, match="holds another run .differs in: lr"):
        train(small_config(tmp_path, "run", rationales=str(rat), epochs=1, lr=1e-3), examples=exs, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").iterdir()} == before


def test_cot_csqa_matches_builtin_commonsense_qa(tmp_path):
    """A trained tiny student scores the same under cot_csqa and lm-eval's built-in commonsense_qa."""
    import lm_eval
    import lm_eval.tasks
    from lm_eval import simple_evaluate

    from harness_plugins.lmeval.registry import TASKS_DIR, task_manager
    from trainers.train import train

    src, rat = write_csqa(tmp_path)
    ckpt = train(small_config(tmp_path, "student", condition="none", rationales=str(rat), source=str(src)),
                 progress=False).output

    # The built-in task, its data swapped for the same rows in the hub's tau/commonsense_qa shape.
    hub = tmp_path / "hub"
    hub.mkdir()
    for split, name in (("train", "train_rand_split.jsonl"), ("validation", "dev_rand_split.jsonl")):
        rows = [json.loads(line) for line in (src / name).read_text().splitlines()]
        (hub / f"{split}.jsonl").write_text("".join(json.dumps({
            "id": r["id"], "question": r["question"]["stem"], "question_concept": r["question"]["question_concept"],
            "choices": {"label": [c["label"] for c in r["question"]["choices"]],
                        "text": [c["text"] for c in r["question"]["choices"]]},
            "answerKey": r["answerKey"]}) + "\n" for r in rows))
    builtin = Path(lm_eval.tasks.__file__).parent / "commonsense_qa" / "default.yaml"
    (hub / "local_commonsense_qa.yaml").write_text(
        f"include: {builtin}\ntask: local_commonsense_qa\ndataset_path: json\ndataset_name: null\n"
        f"dataset_kwargs:\n  data_files:\n    train: {hub / 'train.jsonl'}\n"
        f"    validation: {hub / 'validation.jsonl'}\n")
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=[str(TASKS_DIR), str(hub)], include_defaults=False,
                          metadata={"source": str(src)})
    assert task_manager  # the project's own factory is the same TaskManager with our path
    out = simple_evaluate(model="hf", model_args={"pretrained": str(ckpt)}, device="cpu", batch_size=8,
                          tasks=["cot_csqa", "local_commonsense_qa"], task_manager=manager, log_samples=True)
    ours, theirs = out["samples"]["cot_csqa"], out["samples"]["local_commonsense_qa"]
    assert len(ours) == len(theirs) == 10
    for a, b in zip(ours, theirs):
        assert a["arguments"] == b["arguments"]  # same prompt and continuations
        assert [r[0][0] for r in a["resps"]] == [r[0][0] for r in b["resps"]]
    assert out["results"]["cot_csqa"]["acc,none"] == out["results"]["local_commonsense_qa"]["acc,none"]


def test_key_token_conditions_need_a_matching_attribution_file(tmp_path, capsys):
    from harness_plugins.cli import main
    from trainers.train import train

    exs = examples(8)
    rat = rationale_file(tmp_path, exs)
    with pytest.raises(DataError, match="needs an attribution file: set attributions .--attributions FILE"):
        small_config(tmp_path, "k", condition="keytokens_post:3", rationales=str(rat)).check()
    with pytest.raises(DataError, match="read only by keytokens_post/random_post"):
        small_config(tmp_path, "p", rationales=str(rat), attributions=str(rat)).check()
    assert main(["train", "--dataset", "csqa", "--condition", "random_post:2", "--rationales", str(rat),
                 "--output", str(tmp_path / "cli")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--attributions FILE" in err and err.count("\n") == 0

    # A file that mixes tokenizers is refused in one line, and the run folder is not left claimed.
    row = {"format": 2, "tokens": ["a"], "token_ids": [1], "spans": [[0, 1]], "scores": [0.5], "model": "gpt2",
           "tokenizer_fingerprint": "0123456789abcdef"}
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps({**row, "id": ex.id, **({"model": "phi", "tokenizer_fingerprint": "f" * 16}
                                                              if i == 1 else {})}) + "\n" for i, ex in enumerate(exs)))
    cfg = small_config(tmp_path, "mixed", condition="keytokens_post:3", rationales=str(rat), attributions=str(mixed))
    with pytest.raises(DataError) as err:
        train(cfg, examples=exs, progress=False)
    message = str(err.value)
    assert message.startswith(f"{mixed}:2: field 'tokenizer_fingerprint'") and "mixes tokenizers" in message
    assert "\n" not in message and not Path(cfg.output).exists()

    # A file from another model's tokenizer (a teacher's) serves this student: key tokens are text.
    teacher = tmp_path / "teacher.jsonl"
    teacher.write_text("".join(json.dumps({**row, "id": ex.id, "tokens": ["One", "keeps", "it"],
                                           "spans": [[0, 3], [4, 9], [10, 12]], "token_ids": [5, 6, 7],
                                           "scores": [0.9, 0.1, 0.5]}) + "\n" for ex in exs))
    cfg = small_config(tmp_path, "teacher", condition="keytokens_post:2", rationales=str(rat),
                       attributions=str(teacher))
    assert train(cfg, examples=exs, progress=False).examples == len(exs)


def test_head_logits_match_the_full_forward_of_a_soft_capping_model():
    # Gemma-2 squashes its logits (final_logit_softcapping): the loss and the attribution
    # score, which both run the head on chosen positions only, must squash them too.
    import torch
    from transformers import Gemma2Config, Gemma2ForCausalLM

    from trainers.model import HEAD_ON_HIDDEN, head_logits

    torch.manual_seed(0)
    config = Gemma2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=1, head_dim=16, final_logit_softcapping=2.0)
    model = Gemma2ForCausalLM(config).eval()
    assert config.model_type in HEAD_ON_HIDDEN
    ids = torch.randint(0, 64, (2, 7))
    with torch.no_grad():
        hidden = model.base_model(input_ids=ids)[0]
        torch.testing.assert_close(head_logits(model, hidden), model(input_ids=ids).logits)


@pytest.mark.parametrize("avx512_bf16, amx, expected", [(False, False, "no"), (True, False, "bf16"),
                                                        (False, True, "bf16")])
def test_auto_mixed_precision_is_bf16_only_where_the_cpu_has_it(monkeypatch, avx512_bf16, amx, expected):
    import torch

    from trainers.model import resolve_mixed_precision

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert resolve_mixed_precision("auto", "cpu") == expected
    for explicit in ("no", "fp16", "bf16"):  # what a user names is what accelerate gets
        assert resolve_mixed_precision(explicit, "cpu") == explicit


def test_auto_mixed_precision_trains_and_records_what_it_resolved_to(monkeypatch, tmp_path):
    import torch
    from accelerate import PartialState

    from trainers.train import train

    # A CPU without bf16 units: auto must train in fp32 (in-process, so no bf16 autocast leaks into other tests).
    # Where accelerate trains on a GPU (this process's state is shared), auto is that GPU's answer instead.
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    device = PartialState().device
    expected = "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "no"
    exs = examples(8)
    cfg = small_config(tmp_path, "auto", rationales=str(rationale_file(tmp_path, exs)), mixed_precision="auto",
                       epochs=1, save_steps=0)
    train(cfg, examples=exs, progress=False)
    record = json.loads((Path(cfg.output) / "cot_distill.json").read_text())
    assert record["config"]["mixed_precision"] == "auto" and record["mixed_precision"] == expected
    # ... and says where it trained, which a grid spanning machines reports per cell
    from trainers.model import cpu_model_name

    assert record["device"] == (f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda"
                                else f"cpu ({platform.machine()}, {cpu_model_name()}, no native bf16)")


def test_a_cpu_is_named_by_its_model_and_bf16_unit(tmp_path):
    """Two CPUs that both do bf16 natively still train one seed differently (an AMD EPYC with AVX512-BF16 and
    an Intel Xeon with AMX differ from the first step's loss): the record tells them apart."""
    from trainers.model import cpu_device_name, cpu_model_name

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: avx512_bf16\n\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC\n")
    assert cpu_model_name(info) == "AMD EPYC"
    assert cpu_model_name(tmp_path / "absent") != ""
    assert cpu_device_name("x86_64", "AMD EPYC", amx=False, avx512_bf16=True) == "cpu (x86_64, AMD EPYC, AVX512-BF16)"
    assert (cpu_device_name("x86_64", "Intel(R) Xeon(R) Processor", amx=True, avx512_bf16=True)
            == "cpu (x86_64, Intel(R) Xeon(R) Processor, AMX)")
    assert cpu_device_name("aarch64", "x", amx=False, avx512_bf16=False) == "cpu (aarch64, x, no native bf16)"


@pytest.mark.parametrize("cap", [None, 2.0])
def test_gemma3_logits_are_its_head_on_the_hidden_states(cap):
    # Gemma-3 (the gemma3-270m student) mixes sliding-window and global layers; its logits are still
    # lm_head(hidden), soft-capped when the config says so, so its loss may skip the prompt's head.
    import torch

    try:
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    except ImportError:
        pytest.skip("this transformers has no Gemma-3")
    from trainers.model import HEAD_ON_HIDDEN, head_logits

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=4,
                              final_logit_softcapping=cap)
    model = Gemma3ForCausalLM(config).eval()
    assert config.model_type in HEAD_ON_HIDDEN
    ids = torch.randint(0, 64, (2, 9))  # longer than the sliding window
    with torch.no_grad():
        hidden = model.base_model(input_ids=ids)[0]
        torch.testing.assert_close(head_logits(model, hidden), model(input_ids=ids).logits)


def test_off_a_terminal_training_prints_one_line_for_its_stage(tmp_path, capfd):
    """Under nohup or CI (stderr not a terminal) a stage is one line at its end, never carriage-return frames."""
    from trainers.train import train

    exs = examples(8)
    result = train(small_config(tmp_path, "run", rationales=str(rationale_file(tmp_path, exs)), epochs=1),
                   examples=exs, progress=True)
    err = capfd.readouterr().err  # transformers' own bars are the CLI's to quiet (quiet_third_party)
    assert err.count("csqa/post") == 1
    (line,) = [x for x in err.splitlines() if x.startswith("csqa/post:")]
    assert line.startswith(f"csqa/post: {result.steps}/{result.steps} it in ") and "loss=" in line


def test_a_stage_on_a_terminal_is_a_tqdm_bar(monkeypatch):
    import sys

    from tqdm.auto import tqdm

    from cot_tasks.progress import StageLine, stage_bar

    assert isinstance(stage_bar(3, "x"), StageLine)  # pytest's stderr is no terminal
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = stage_bar(3, "x", disable=True)
    assert isinstance(bar, tqdm)
    bar.close()


def test_the_training_curves_go_to_train_log_and_to_tensorboard_on_request(tmp_path):
    """train_log.jsonl always; with report_to=tensorboard, event files whose scalars tensorboard's own reader
    reads back, with the run's config as hyper-parameters."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from cot_tasks.train_log import FIELDS, read_train_log
    from trainers.train import train

    exs = examples(8)
    cfg = small_config(tmp_path, "run", rationales=str(rationale_file(tmp_path, exs)), report_to="tensorboard")
    result = train(cfg, examples=exs, progress=False, run_name="csqa__post__tiny__seed0")
    log = read_train_log(Path(cfg.output) / "train_log.jsonl")
    assert len(log) == result.steps and all(set(FIELDS) == set(row) for row in log)
    assert all(r["lr"] > 0 and r["grad_norm"] > 0 and r["tokens_per_s"] > 0 for r in log)
    assert sum(r["target_tokens"] for r in log) == result.target_tokens and log[-1]["loss"] == result.final_loss
    (run_dir,) = (Path(cfg.output) / "logs").iterdir()
    assert run_dir.name == "csqa__post__tiny__seed0"
    events = EventAccumulator(str(run_dir))
    events.Reload()
    loss = events.Scalars("train/loss")
    assert [e.step for e in loss] == [r["step"] for r in log]
    assert [e.value for e in loss] == pytest.approx([r["loss"] for r in log], rel=1e-6)


def test_an_unknown_or_missing_tracker_is_one_line_before_anything_runs(tmp_path, monkeypatch):
    import accelerate.tracking

    from trainers.train import train

    exs = examples(8)
    with pytest.raises(DataError, match=r"^report_to: unknown tracker 'tensorbored' \(accelerate's: "):
        train(small_config(tmp_path, "a", report_to="tensorbored"), examples=exs, progress=False)
    monkeypatch.setattr(accelerate.tracking, "get_available_trackers", lambda: [])
    with pytest.raises(DataError, match=r"^report_to: the wandb tracker's package is not installed"):
        train(small_config(tmp_path, "b", report_to="wandb"), examples=exs, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_train_log_is_read_strictly(tmp_path):
    from cot_tasks.train_log import read_train_log

    row = {"loss": 1.0, "lr": 1e-4, "grad_norm": 2.0, "target_tokens": 10, "tokens_per_s": 5.0}
    path = tmp_path / "train_log.jsonl"
    path.write_text("".join(json.dumps({"step": s, **row}) + "\n" for s in (21, 22)))
    assert [r["step"] for r in read_train_log(path)] == [21, 22]  # resumed from state saved before logging
    path.write_text("".join(json.dumps({"step": s, **row}) + "\n" for s in (1, 3)))
    with pytest.raises(DataError, match=rf"^{path}:2: field 'step': step 3 where step 2 was due"):
        read_train_log(path)
    path.write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n")
    with pytest.raises(DataError, match=rf"^{path}:1: missing lr, grad_norm, target_tokens, tokens_per_s"):
        read_train_log(path)


def test_the_cli_quiets_a_librarys_own_tqdm_bars_but_not_ours():
    """transformers draws its GGUF conversion bar with tqdm itself: only tqdm's own switch quiets it, and the
    stage bars we draw on a terminal must survive that switch."""
    import subprocess
    import sys

    code = ("from harness_plugins.cli import quiet_third_party; quiet_third_party()\n"
            "from tqdm.auto import tqdm\n"
            "print(tqdm(total=1).disable, tqdm(total=1, disable=False).disable)")
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["True", "False"]


def test_the_loader_is_one_line_naming_the_folder_and_its_role(tmp_path):
    from cot_tasks.errors import ModelError
    from trainers.model import load_causal_lm, load_model, load_model_type, load_tokenizer

    empty, broken = tmp_path / "empty", tmp_path / "broken"
    empty.mkdir()
    broken.mkdir()
    (broken / "config.json").write_text('{"hello": 1}')  # a config.json, but no model's
    cases = [(lambda: load_causal_lm(str(tmp_path / "nope"), "cpu", role="attribution"),
              f"{tmp_path / 'nope'}: attribution folder not found"),
             (lambda: load_tokenizer(str(empty), "student"), f"{empty}: student folder holds no config.json"),
             (lambda: load_causal_lm(str(broken), "cpu", role="checkpoint"),
              f"{broken}: cannot load checkpoint tokenizer ("),
             (lambda: load_model_type(str(broken), "student"), f"{broken}: cannot load student config ("),
             (lambda: load_model(str(broken), "student"), f"{broken}: cannot load student model (")]
    for load, message in cases:
        with pytest.raises(ModelError) as err:
            load()
        assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_the_trainer_loads_its_student_through_the_loader(tmp_path):
    from trainers.train import train

    exs = examples(8)
    (tmp_path / "student").mkdir()
    cfg = small_config(tmp_path, "run", student=str(tmp_path / "student"),
                       rationales=str(rationale_file(tmp_path, exs)))
    with pytest.raises(DataError, match=r"student: student folder holds no config.json") as err:
        train(cfg, examples=exs, progress=False)
    assert "\n" not in str(err.value)


def test_a_tokenizer_without_pad_is_saved_as_it_came_and_padded_with_eos_for_inference(tiny_checkpoint, tmp_path):
    import shutil

    from trainers.model import load_causal_lm, load_tokenizer, pad_id

    folder = tmp_path / "no_pad"
    shutil.copytree(tiny_checkpoint, folder)
    tokenizer = load_tokenizer(str(folder))
    tokenizer.pad_token = None
    tokenizer.save_pretrained(folder)
    as_saved = load_tokenizer(str(folder), "student")
    assert as_saved.pad_token is None  # what the trainer saves beside the student
    tokenizer, _ = load_causal_lm(str(folder), "cpu", role="attribution")
    assert tokenizer.pad_token_id == as_saved.eos_token_id == pad_id(as_saved)  # the trainer's pad id


def test_trust_remote_code_reaches_every_from_pretrained_of_the_trainer(tmp_path, monkeypatch):
    import transformers

    from trainers.train import train

    seen = []
    for cls in (transformers.AutoTokenizer, transformers.AutoConfig, transformers.AutoModelForCausalLM):
        def record(*args, _cls=cls, _load=cls.from_pretrained, **kwargs):
            seen.append((_cls.__name__, kwargs.get("trust_remote_code")))
            return _load(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", record)
    exs = examples(8)
    cfg = small_config(tmp_path, "run", epochs=1, trust_remote_code=True, rationales=str(rationale_file(tmp_path, exs)))
    train(cfg, examples=exs, progress=False)
    assert {name for name, _ in seen} == {"AutoTokenizer", "AutoConfig", "AutoModelForCausalLM"}
    assert all(trusted is True for _, trusted in seen)
