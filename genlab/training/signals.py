"""Ctrl-C and SIGTERM during training: finish the current step, save, and exit cleanly.

Killing a training job mid-write would lose the work since the last checkpoint (or damage it), so
the first signal only raises a flag the loop checks after each step; a second Ctrl-C aborts at once
(checkpoints are written atomically, so even that leaves the previous ones intact).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType


class StopRequests:
    """Context manager: while active, SIGINT/SIGTERM set ``requested`` instead of killing the process."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = name
        print(f"\ngenlab: {name} received — finishing this step and saving "
              "(press Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
