"""Continuous batching: every running request of one model advances by one batched step per token.

Decoding one row reads every weight once per token, so a step over 8 rows costs little more than a
step over one (the model is memory-bound at these sizes); a server that decodes each request on its
own stops gaining tokens/s at 2 clients. Here one thread per model keeps a batch of up to
``--max-batch`` rows (one row per choice: ``n`` choices of a prompt are ``n`` rows), as llama.cpp's
slots and TGI do:

- a row has its own place in the model's state (``genlab.serve.slots``: a GPT's per-row-position KV
  cache, an RNN's hidden state, a Markov context), so it joins and leaves on its own;
- a new request's prompt is fed in chunks of at most ``prefill_chunk`` tokens (at most
  ``prefill_budget`` tokens per iteration for all new rows together), between the running rows'
  steps, so a long prompt never stalls the streams already running; the row joins the decode step at
  the next token boundary after its prompt is in;
- a row that finishes (``<eos>``, a stop string, ``max_tokens``) or whose client goes away leaves at
  once, and its slot is taken by the next waiting row in the same iteration.

Sampling is per row, with each row's own temperature, top-k, top-p, stop strings, ``max_tokens`` and
logprobs, exactly as ``genlab.generate.stream`` does for a request alone (``choose_rows`` filters every
row at once and gives each row what ``choose`` gives it alone, bit for bit; the same ``StreamDecoder``),
and each row draws from its own seeded ``torch.Generator``: what a row samples
never depends on its neighbours' draws, nor on when the batch had room for it. Choice 0 of a request
uses the request's seed itself, so a one-choice request gives what ``genlab generate --seed`` gives;
choice ``i`` uses a seed derived from it and ``i``. The unbatched server (``--max-batch 1``) draws all ``n``
choices from one generator instead, so for a request with ``n`` > 1 its choices, choice 0 included, differ
from these; with ``n`` = 1 the two servers give the same tokens.

What a batch can change is floating-point rounding: batched matrix products may sum in another order
than batch-1 ones (scores differ by ~1e-7), so two candidates whose probabilities differ by less than
that could swap (vLLM documents the same for its batches). A GPT's one-token steps go through its
decode plan alone and in a batch alike (``genlab.models.gpt_decode``). genlab therefore guarantees identical
tokens alone and in a batch for identical scores, and its tests check that greedy and seeded requests
give the same tokens alone and inside a batch of 8 on its test models (GPT, LSTM, Markov).

With ``--quantize int8`` the scores themselves depend on the batch: PyTorch's dynamic int8 products
quantize each call's whole input with one scale and zero point, so a row's activations are rounded on
a grid set by the range of all the rows stepped with it. Its tokens usually, not always, match the row
alone (on the 6-layer, 384-wide benchmark GPT, 15 of 16 greedy 64-token requests did). Serve in float32
where a request must decode the same whichever batch it lands in.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any

import torch

from genlab.errors import GenlabError
from genlab.generate import (
    Delta,
    SamplingConfig,
    StreamDecoder,
    TokenInfo,
    _safe_log_softmax,
    choose_rows,
    constrained_logprobs,
    grammar_masks,
)
from genlab.serve.compute_threads import computing_thread
from genlab.serve.errors import APIError, log
from genlab.serve.generation import ChoiceStream, JobEvents, Outbox, prompt_start
from genlab.serve.registry import ServedModel
from genlab.serve.slots import SlotStates, slot_states
from genlab.tokenizers import EOS_ID

#: longest piece of one row's prompt fed in one iteration
PREFILL_CHUNK = 128
#: prompt tokens fed per iteration for all joining rows together (the running rows wait this long)
PREFILL_BUDGET = 512


@dataclass(eq=False)
class _Request:
    job: JobEvents
    cfg: SamplingConfig
    rows_left: int = 0


@dataclass(eq=False)
class _Row:
    request: _Request
    index: int  # the choice's number in the request (prompt p, sample i → p·n+i)
    prompt: list[int]  # <eos> + the prompt's ids: fed before the first token is chosen
    decoder: StreamDecoder
    generator: torch.Generator | None
    fed: int = 0  # how much of the prompt the slot holds
    slot: int = -1
    next_token: int | None = None  # chosen, to be fed at the next step
    produced: int = 0
    done: bool = False
    constraint: Any = None  # the row's grammar state (genlab.structured.Constraint), with a response_format


class Batcher:
    """One model's running batch, advanced by its own thread; ``submit`` is called on the event loop."""

    def __init__(self, served: ServedModel, max_batch: int, prefill_chunk: int = PREFILL_CHUNK,
                 prefill_budget: int = PREFILL_BUDGET, threads: int | None = None) -> None:
        self.served = served
        self.threads = threads  # PyTorch threads of the batcher's thread (genlab.serve.compute_threads)
        self.max_batch = max_batch
        self.prefill_chunk = prefill_chunk
        self.prefill_budget = max(prefill_budget, prefill_chunk)
        self._slots: SlotStates | None = None  # made on the batcher's thread, on first use
        self._cond = threading.Condition()
        self._incoming: collections.deque[tuple[JobEvents, ChoiceStream]] = collections.deque()
        self._waiting: collections.deque[_Row] = collections.deque()
        self._rows: list[_Row | None] = [None] * max_batch
        self._thread: threading.Thread | None = None
        self._closed = False
        self._outbox = Outbox()  # one hand-off to the event loop per iteration, not per event

    @property
    def running(self) -> int:
        """Rows in the batch now (a row leaves before its request's end is sent)."""
        return sum(row is not None for row in self._rows)

    def submit(self, work: ChoiceStream, on_done: Any) -> JobEvents:
        """Queue a request's rows; its events arrive on the returned job (on the calling event loop)."""
        job = JobEvents(on_done, self._outbox)
        with self._cond:
            if self._closed:
                raise RuntimeError("the batcher has shut down")
            self._incoming.append((job, work))
            if self._thread is None:  # started on first use, inside the serving process
                self._thread = threading.Thread(target=self._work, name=f"genlab-batch-{self.served.id}",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
        return job

    def close(self, wait: float = 10.0) -> None:
        """Stop after the current iteration (waiting up to ``wait`` s for it, so no step is cut off by the
        interpreter's exit); requests still running or waiting get an error."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(wait)

    # --- the batcher's thread ----------------------------------------------------------------------
    def _work(self) -> None:
        computing_thread(self.threads)
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not (self._incoming or self._waiting or self.running or self._closed):
                        self._cond.wait()
                    if self._closed:
                        break
                    incoming = list(self._incoming)
                    self._incoming.clear()
                for job, work in incoming:
                    self._accept(job, work)
                try:
                    self._leave_cancelled()
                    self._admit()
                    self._iterate()
                except Exception as exc:  # never lose the thread: every request in the batch gets the error
                    log.error("batched generation failed", exc_info=exc)
                    for row in [r for r in (*self._rows, *self._waiting) if r is not None]:
                        self._fail(row.request, exc)
                finally:
                    self._outbox.flush()
        gone = APIError(503, "the server is shutting down; retry on another server or later", type="server_error",
                        code="shutting_down")
        for job, _ in self._incoming:
            job.end(gone)
        for row in [*self._waiting, *(r for r in self._rows if r is not None)]:
            self._fail(row.request, gone)
        self._outbox.flush()

    def _accept(self, job: JobEvents, work: ChoiceStream) -> None:
        """Tokenize a request's prompts, announce them, and line up one row per choice."""
        tokenizer, cfg, n = self.served.tokenizer, work.cfg, work.n
        try:
            cfg.validate()
            request = _Request(job, cfg)
            rows = []
            vocab = int(getattr(self.served.model, "vocab_size", tokenizer.vocab_size))
            for p, prompt in enumerate(work.prompts):
                ids = tokenizer.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
                if any(not 0 <= t < vocab for t in ids):  # refused here, alone, not inside the batch's step
                    raise GenlabError(f"prompt {p} holds token ids outside the model's vocabulary (0…{vocab - 1})")
                constraints = cfg.constraints(tokenizer, n) or [None] * n
                job.send(prompt_start(tokenizer, prompt, ids))
                rows += [_Row(request, p * n + i, self._prompt_ids(ids), StreamDecoder(tokenizer, cfg.stop),
                              _generator(cfg.seed, p * n + i), constraint=constraints[i]) for i in range(n)]
        except Exception as exc:
            job.end(exc)
            return
        if cfg.max_tokens == 0:
            for row in rows:
                job.send(Delta(row.index, "", finish_reason="length"))
            job.end()
            return
        request.rows_left = len(rows)
        self._waiting.extend(rows)

    def _prompt_ids(self, ids: list[int]) -> list[int]:
        """``<eos>`` first (the prompt starts a document); a model with a hard input limit keeps the end."""
        ids_in = [EOS_ID] + ids
        model = self.served.model
        block = getattr(model, "block_size", None)
        if block and len(ids_in) > block and getattr(model, "truncate_prompt", True):
            ids_in = ids_in[-int(block):]
        return ids_in

    def _leave_cancelled(self) -> None:
        for row in [r for r in (*self._rows, *self._waiting) if r is not None]:
            if row.request.job.cancelled:
                self._finish(row)

    def _admit(self) -> None:
        """Waiting rows take the free slots, lowest first (running rows stay packed at the front)."""
        if not self._waiting:
            return
        if self._slots is None:
            self._slots = slot_states(self.served.model, self.max_batch)
        for slot in range(self.max_batch):
            if not self._waiting:
                break
            if self._rows[slot] is None:
                row = self._waiting.popleft()
                row.slot = slot
                self._rows[slot] = row
                self._slots.reset(slot)

    def _iterate(self) -> None:
        """One step: a chunk of every joining row's prompt, then one token for every running row."""
        slots = self._slots
        if slots is None:
            return
        active = [r for r in self._rows if r is not None]
        joining = [r for r in active if r.fed < len(r.prompt)]
        running = [r for r in active if r.next_token is not None]
        rows: list[_Row] = []
        scores: list[torch.Tensor] = []
        if joining:
            budget, fed_rows, chunks = self.prefill_budget, [], []
            for row in joining:
                size = min(self.prefill_chunk, len(row.prompt) - row.fed, budget)
                if size <= 0:
                    break
                fed_rows.append(row)
                chunks.append(row.prompt[row.fed:row.fed + size])
                budget -= size
            logits = slots.feed([r.slot for r in fed_rows], chunks)
            ready = []
            for i, (row, chunk) in enumerate(zip(fed_rows, chunks)):
                row.fed += len(chunk)
                if row.fed == len(row.prompt):
                    ready.append(i)
            if ready:
                rows += [fed_rows[i] for i in ready]
                scores.append(logits[ready])
        if running:
            rows += running
            scores.append(slots.feed([r.slot for r in running], [[r.next_token] for r in running]))
        if rows:
            self._choose(rows, scores[0] if len(scores) == 1 else torch.cat(scores))

    def _choose(self, rows: list[_Row], logits: torch.Tensor) -> None:
        """Pick each row's next token with its own settings and generator, and send what became final."""
        if any(row.constraint is not None for row in rows):
            rows, logits = self._without_stuck(rows, logits)
            if not rows:
                return
        logprobs = _safe_log_softmax(logits)
        if any(row.constraint is not None for row in rows):
            allowed = grammar_masks([row.constraint for row in rows], logprobs.shape[-1], logprobs.device)
            logprobs = constrained_logprobs(logprobs, allowed)
        nxt = choose_rows(logprobs, [row.request.cfg for row in rows], [row.generator for row in rows])
        chosen = logprobs.gather(-1, nxt.unsqueeze(-1)).squeeze(-1)
        pairs = torch.stack([nxt.double(), chosen.double()], dim=-1).tolist()  # one copy to the host
        most = max(row.request.cfg.top_logprobs for row in rows)
        tops = None
        if most:
            vals, idx = torch.topk(logprobs, min(most, logprobs.shape[-1]), dim=-1)
            tops = (vals.tolist(), idx.tolist())
        for i, (row, (tid, lp)) in enumerate(zip(rows, pairs)):
            self._emit(row, int(tid), lp, None if tops is None else (tops[0][i], tops[1][i]))

    def _without_stuck(self, rows: list[_Row], logits: torch.Tensor) -> tuple[list[_Row], torch.Tensor]:
        """Rows whose grammar cannot go on with this vocabulary fail alone (their request gets the error)."""
        keep = []
        for i, row in enumerate(rows):
            try:
                if row.constraint is not None:
                    row.constraint.allowed_mask(logits.shape[-1])  # computed once, kept for grammar_masks
                keep.append(i)
            except GenlabError as exc:
                self._fail(row.request, exc)
        if len(keep) == len(rows):
            return rows, logits
        kept = [rows[i] for i in keep if not rows[i].done]
        return kept, logits[[i for i in keep if not rows[i].done]]

    def _emit(self, row: _Row, tid: int, logprob: float, top: tuple[list[float], list[int]] | None) -> None:
        """What ``genlab.generate.stream`` yields for one row's token: the same rules, in the same order."""
        cfg, tokenizer, dec = row.request.cfg, self.served.tokenizer, row.decoder
        info = TokenInfo(tid, _token_text(tokenizer, tid), logprob)
        if top is not None and cfg.top_logprobs:
            info.top = [(t, _token_text(tokenizer, t), v) for v, t in zip(top[0][:cfg.top_logprobs],
                                                                         top[1][:cfg.top_logprobs])]
        row.produced += 1
        job = row.request.job
        if (tid == EOS_ID and cfg.stop_at_eos) or tid in cfg.stop_ids:  # stop_ids: a chat run's end of turn
            job.send(Delta(row.index, dec.flush(), info, finish_reason="stop"))
            self._finish(row)
            return
        complete = False
        if row.constraint is not None:
            row.constraint.advance(tid)
            complete = row.constraint.is_finished()  # nothing may follow: the output is whole
        delta = dec.push(tid)
        if not dec.stopped and (complete or row.produced >= cfg.max_tokens):
            delta += dec.flush()
        if dec.stopped or complete or row.produced >= cfg.max_tokens:
            job.send(Delta(row.index, delta, info, finish_reason="stop" if dec.stopped or complete else "length"))
            self._finish(row)
            return
        job.send(Delta(row.index, delta, info))
        row.next_token = tid

    def _finish(self, row: _Row) -> None:
        """The row leaves its slot at once; the request ends with its last row."""
        if row.done:
            return
        row.done = True
        if 0 <= row.slot < self.max_batch and self._rows[row.slot] is row:
            self._rows[row.slot] = None
        elif row in self._waiting:
            self._waiting.remove(row)
        row.request.rows_left -= 1
        if row.request.rows_left == 0:
            row.request.job.end()

    def _fail(self, request: _Request, exc: BaseException) -> None:
        """Every row of ``request`` leaves, and the request ends with ``exc``."""
        for row in [r for r in (*self._rows, *self._waiting) if r is not None and r.request is request]:
            row.done = True
            if 0 <= row.slot < self.max_batch and self._rows[row.slot] is row:
                self._rows[row.slot] = None
            elif row in self._waiting:
                self._waiting.remove(row)
        if request.rows_left > 0:
            request.rows_left = 0
            request.job.end(exc)


#: mixes a choice's number into its request's seed (the golden-ratio constant spreads the bits)
_SEED_STRIDE = 0x9E3779B97F4A7C15


def _generator(seed: int | None, choice: int) -> torch.Generator | None:
    """Choice ``choice``'s own generator: the request's seed for choice 0, a seed derived from both after."""
    if seed is None:
        return None
    generator = torch.Generator(device="cpu")
    generator.manual_seed((int(seed) ^ (choice * _SEED_STRIDE)) % 2**64)
    return generator


def _token_text(tokenizer: Any, token_id: int) -> str:
    return tokenizer.decode_bytes([token_id]).decode("utf-8", errors="replace")
