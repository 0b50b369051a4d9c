"""Video generators: the course's "video (3D CNN, GAN)", small enough to train on a CPU in minutes.

    data.py        clips [N, C, T, H, W]: builtin:moving-digits (bouncing sklearn digits) or animated GIFs
    vgan.py        VGAN: two-stream generator (3D foreground + mask, 2D background), 3D-conv discriminator
    classifier.py  the image generators' digit classifier, applied to every (re-centred) frame
    metrics.py     per-frame digits FID, temporal consistency, motion — next to real clips
    plots.py       animated GIF grids, frame strips, loss curves
    run.py         the video RunKind: the image generators' trainer and run directory serve video too

Command line: ``genlab video train|sample|eval`` (``genlab/cli/video_cmd.py``).
"""
