"""Audio runs: the image run directory (``genlab.image.run``) with ``"kind": "audio"``.

Same files (``config.json``, ``model.safetensors``, ``model-best.safetensors``, ``train_state.pt``,
``metrics.jsonl``, ``data.safetensors`` with the int16 clips of each split, ``classifier.safetensors``)
and the same trainer; what differs is named here.
"""

from __future__ import annotations

from genlab.image.run import RunKind

FAMILIES: dict[str, str] = {"wavegan": "genlab.audio.wavegan:WaveGAN", "specgan": "genlab.audio.specgan:SpecGAN"}

AUDIO = RunKind("audio", FAMILIES, data_class="genlab.audio.data:AudioData",
                judge="genlab.audio.classifier:load_or_train", pictures="genlab.audio.plots:training_pictures",
                unit="clips", select_samples=300)
