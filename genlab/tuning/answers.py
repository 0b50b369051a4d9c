"""Does a chat run answer correctly? Greedy answers to the last user turn, compared exactly.

For each conversation, the model is given everything before the last assistant message (through the
run's chat template) and decodes greedily until its end of turn; the answer counts when it equals
that message, both whitespace-trimmed. An expected message with tool calls is compared as its text and
its calls (name and arguments, canonical JSON), so a tool skill scores whether the model called the right
function with the right arguments. Reports group the score by skill and by any tag
(``builtin:skills`` tags its test questions ``seen`` or ``unseen``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from torch import nn

from genlab.tokenizers import Tokenizer
from genlab.tuning.chat_data import Conversation
from genlab.tuning.template import ChatTemplate
from genlab.tuning.tools import reply_text

#: builtin:skills answers are short: a date in words is under 20 characters, a calculator call under 60
SKILLS_ANSWER_TOKENS = 80


@dataclass
class Miss:
    source: str
    question: str
    expected: str
    answer: str


@dataclass
class ExactMatchReport:
    correct: int = 0
    total: int = 0
    #: (group name, group value) → [correct, total], e.g. ("skill", "add") or ("phrasing", "unseen")
    groups: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    #: (skill, tag value) → [correct, total] for a skill × phrasing table
    cells: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    misses: list[Miss] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def add(self, conv: Conversation, ok: bool, question: str, expected: str, answer: str) -> None:
        self.correct += ok
        self.total += 1
        labels = ([("skill", conv.skill)] if conv.skill else []) + sorted(conv.tags.items())
        for label in labels:
            self.groups[label][0] += ok
            self.groups[label][1] += 1
        for tag in conv.tags.values():
            cell = self.cells[(conv.skill or "-", tag)]
            cell[0] += ok
            cell[1] += 1
        if not ok:
            self.misses.append(Miss(conv.source, question, expected, answer))

    def group_accuracy(self, name: str, value: str) -> float | None:
        correct, total = self.groups.get((name, value), (0, 0))
        return correct / total if total else None

    def as_dict(self) -> dict:
        return {"exact_match": self.accuracy, "correct": self.correct, "total": self.total,
                "groups": {f"{k}={v}": c / t for (k, v), (c, t) in sorted(self.groups.items()) if t},
                "cells": {f"{s}/{t}": c / n for (s, t), (c, n) in sorted(self.cells.items()) if n}}

    def lines(self, shown_misses: int = 10) -> list[str]:
        """The report as a person reads it: the score, a per-skill table, the first misses."""
        out = [f"exact match {100 * self.accuracy:.1f}% ({self.correct}/{self.total})"]
        for name in ("phrasing",):
            for (k, v), (c, t) in sorted(self.groups.items()):
                if k == name and t:
                    out.append(f"  {v} phrasings: {100 * c / t:.1f}% ({c}/{t})")
        skills = sorted({v for (k, v) in self.groups if k == "skill"})
        if skills:
            tags = sorted({t for (_, t) in self.cells})
            header = f"  {'skill':<16}{'all':>8}" + "".join(f"{t:>10}" for t in tags)
            out.append(header)
            for skill in skills:
                c, t = self.groups[("skill", skill)]
                row = f"  {skill:<16}{100 * c / t:>7.1f}%"
                for tag in tags:
                    cc, tt = self.cells.get((skill, tag), (0, 0))
                    row += f"{100 * cc / tt:>9.1f}%" if tt else f"{'-':>10}"
                out.append(row)
        if self.misses:
            out.append(f"first {min(shown_misses, len(self.misses))} of {len(self.misses)} misses:")
            for m in self.misses[:shown_misses]:
                out.append(f"  {m.source}: {m.question!r} → {m.answer!r} (expected {m.expected!r})")
        return out


def greedy_answers(model: nn.Module, tokenizer: Tokenizer, template: ChatTemplate, prompts: Sequence[list[int]],
                   device: str = "cpu", max_tokens: int = 128, batch_size: int = 64) -> list[str]:
    """Greedy answers to many prompts, decoded in batches of prompts of the same length.

    Prompts of equal length share one ``start``/``prefill``/``step`` pass (no padding, so no model needs
    an attention mask), which makes scoring a test set many times faster than answering one by one.
    Each row is the same computation as decoding that prompt alone (as ``genlab.generate`` does:
    ``<eos>`` first, a GPT keeps the prompt's last ``block_size`` tokens).
    """
    import torch

    from genlab.models.protocol import prefill
    from genlab.tokenizers import EOS_ID

    block = getattr(model, "block_size", None)
    inputs = []
    for ids in prompts:
        ids_in = [EOS_ID, *ids]
        if block and len(ids_in) > block:
            ids_in = ids_in[-int(block):]
        inputs.append(ids_in)
    stops = set(template.stop_ids(tools=True)) | {EOS_ID}  # a call is read as the answer (never a tool-less one)
    answers: list[list[int]] = [[] for _ in prompts]
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, ids_in in enumerate(inputs):
        by_length[len(ids_in)].append(i)
    with torch.inference_mode():
        for length in sorted(by_length):
            group = by_length[length]
            for start in range(0, len(group), batch_size):
                rows = group[start:start + batch_size]
                state = model.start(len(rows))
                ids = torch.tensor([inputs[i] for i in rows], dtype=torch.long, device=device)
                logits, state = prefill(model, ids, state)
                alive = [True] * len(rows)
                for _ in range(max_tokens):
                    nxt = logits.float().argmax(dim=-1)
                    for r, token in enumerate(nxt.tolist()):
                        if not alive[r]:
                            continue
                        if token in stops:
                            alive[r] = False
                        else:
                            answers[rows[r]].append(token)
                    if not any(alive):
                        break
                    logits, state = model.step(nxt, state)
    return [_reply(template, a) for a in answers]


def _reply(template: ChatTemplate, ids: list[int]) -> str:
    """A generated turn as text; a turn with tool calls as its text and calls (as the expected side is)."""
    content, bodies = template.split_calls(ids)
    return reply_text(content, bodies) if bodies else content


def exact_match(model: nn.Module, tokenizer: Tokenizer, conversations: Sequence[Conversation],
                device: str = "cpu", max_tokens: int = 128, progress: bool = False) -> ExactMatchReport:
    """Greedy answers to every conversation's last user turn, compared with its last assistant message."""
    from tqdm.auto import tqdm

    template = ChatTemplate(tokenizer)
    report = ExactMatchReport()
    questions, expected, prompts = [], [], []
    for conv in conversations:
        context, answer = conv.prompt_and_answer()
        questions.append(next((m.content for m in reversed(context) if m.role == "user"), ""))
        expected.append(answer)
        prompts.append(template.prompt_ids(context, tools=conv.tools))
    chunk = 256  # answered a chunk at a time, so the progress bar moves
    got: list[str] = []
    with tqdm(total=len(prompts), desc="answer", unit="q", disable=not progress, dynamic_ncols=True,
              mininterval=0.5) as bar:
        for start in range(0, len(prompts), chunk):
            got += greedy_answers(model, tokenizer, template, prompts[start:start + chunk], device, max_tokens)
            bar.update(len(prompts[start:start + chunk]))
    for conv, question, want, answer in zip(conversations, questions, expected, got):
        report.add(conv, answer.strip() == want.strip(), question, want, answer)
    return report


def eval_cli(args) -> int:
    """``genlab eval RUN --data FILE.jsonl|builtin:skills``: exact match of a chat run's greedy answers."""
    import json

    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.models import load_model
    from genlab.tuning.chat_data import BUILTIN_PREFIX, read_chat_file

    if not args.run:
        raise GenlabError("genlab eval --data needs a run directory")
    device = resolve_device(args.device)
    model, tokenizer, config = load_model(args.run, device=device, which=args.which)
    if getattr(model, "is_seq2seq", False) or not config.get("chat_template"):
        raise GenlabError(f"{args.run} was not fine-tuned for chat; --data scores a chat run's answers "
                          f"(make one with `genlab finetune {args.run} --data … --out RUN`)")
    if args.data.startswith(BUILTIN_PREFIX):
        from genlab.tuning.skills import builtin_dataset

        conversations = builtin_dataset(args.data[len(BUILTIN_PREFIX):], train_size=0).test
        args.max_answer_tokens = min(args.max_answer_tokens, SKILLS_ANSWER_TOKENS)
    else:
        conversations = read_chat_file(args.data, skip_bad_lines=args.skip_bad_lines)
    report = exact_match(model, tokenizer, conversations, device=device, max_tokens=args.max_answer_tokens,
                         progress=not args.quiet)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        print("\n".join(report.lines()))
    return 0
