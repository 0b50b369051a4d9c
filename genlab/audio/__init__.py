"""Audio generators: the course's "audio (1D CNN, GAN)", small enough to train on a CPU in minutes.

    data.py           clips (int16, 8 kHz, 1 s): builtin:spoken-digits or a folder of WAV files
    spoken_digits.py  English and Korean digits synthesised offline by espeak-ng, cached in a data dir
    espeak.py         the one place espeak-ng (a Debian package) is run
    wav.py            16-bit PCM WAV read (validated) and write, with the standard library's wave
    wavegan.py        WaveGAN: 1D transposed-conv generator, phase-shuffle discriminator, hinge / WGAN-GP
    specgan.py        SpecGAN: energy-centred word crops of the spectrum, a 2D critic, DiffAugment, Griffin-Lim
    spectrogram.py    log-mel spectrograms (the judge's input, the pictures)
    classifier.py     the judge: a small CNN word classifier trained on the real clips
    metrics.py        inception score, Fréchet distance, word coverage, loudness — next to real clips
    plots.py          spectrogram grids and loss curves
    listening_page.py index.html beside sampled clips: players, the judge's word, real clips to compare
    run.py            the audio RunKind: the image generators' trainer and run directory serve audio too

Command line: ``genlab audio train|sample|eval`` (``genlab/cli/audio_cmd.py``).
"""
