"""The parts every OpenAI response object shares: its id/object/created/model head, and ``usage``."""

from __future__ import annotations

import time
import uuid
from typing import Any

from genlab import __version__

SYSTEM_FINGERPRINT = f"genlab-{__version__}"


def response_head(id_prefix: str, object_name: str, model_id: str) -> dict[str, Any]:
    """One head per request; streamed chunks all repeat it, as OpenAI's do."""
    return {"id": f"{id_prefix}-{uuid.uuid4().hex}", "object": object_name, "created": int(time.time()),
            "model": model_id, "system_fingerprint": SYSTEM_FINGERPRINT}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """Token counts: the prompt as the model's tokenizer splits it, and every sampled token (``<eos>`` too)."""
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}
