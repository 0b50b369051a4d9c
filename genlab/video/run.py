"""Video runs: the image run directory (``genlab.image.run``) with ``"kind": "video"``.

Same files and trainer as images; ``data.safetensors`` holds the clips ``[N, C, T, H, W]`` of each split.
"""

from __future__ import annotations

from genlab.image.run import RunKind

FAMILIES: dict[str, str] = {"vgan": "genlab.video.vgan:VGAN"}

VIDEO = RunKind("video", FAMILIES, data_class="genlab.video.data:VideoData",
                judge="genlab.video.classifier:load_or_train", pictures="genlab.video.plots:training_pictures",
                unit="clips", select_samples=100)
