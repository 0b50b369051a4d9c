"""PyTorch's CPU threads, set on each thread that computes tokens rather than once for the process.

PyTorch's CPU kernels run on OpenMP, whose thread count belongs to the calling thread, and each
thread that runs a parallel kernel gets its own team of helper threads. A server loads its models on
the main thread (the event loop's) and computes on other threads (a batcher per model, or token
workers): when both have used several threads, the process holds more OpenMP threads than cores,
libgomp stops spinning between kernels, and every one of the ~100 small kernels of a decoding step
pays a futex wake-up. Measured with a 6-layer 384-wide GPT, batch 8, 2 cores: a step took 4.0 ms
on the thread that alone used 2 threads, and 6.7–7.0 ms on a second thread after the main thread
had used 2 (10.8 ms with ``OMP_WAIT_POLICY=ACTIVE``).

So the main thread keeps one PyTorch thread (:func:`main_thread`, before any model is loaded), and
each computing thread sets its own count when it starts (:func:`computing_thread`).
"""

from __future__ import annotations

import torch


def main_thread(device: str) -> None:
    """On a CPU, the loading and event-loop thread computes with one thread (no OpenMP team of its own)."""
    if str(device) == "cpu":
        torch.set_num_threads(1)


def computing_thread(threads: int | None) -> None:
    """Called first on a thread that computes tokens: its own PyTorch thread count (None: leave it)."""
    if threads:
        torch.set_num_threads(threads)
