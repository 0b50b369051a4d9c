"""Video generators: the course's "video (3D CNN, GAN)", small enough to train on a CPU in minutes.

    data.py        clips [N, C, T, H, W]: builtin:moving-digits (bouncing sklearn digits) or animated GIFs
    vgan.py        VGAN: foreground + mask over a background; a 3D-conv clip discriminator and an object one
    object_stream.py  the default foreground stream: an object drawn once, moved along a learned bouncing path
    glimpses.py    each clip's frames cut to their inkiest window, for the object discriminator
    classifier.py  the image generators' digit classifier, applied to every (re-centred) frame
    metrics.py     per-frame digits FID, temporal consistency, motion — next to real clips
    plots.py       animated GIF grids, frame strips, loss curves
    run.py         the video RunKind: the image generators' trainer and run directory serve video too

Command line: ``genlab video train|sample|eval`` (``genlab/cli/video_cmd.py``).
"""
