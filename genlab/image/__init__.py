"""Image generators, small and real: the course's network families on images a CPU can learn in minutes.

The course names four generative families (GAN, VAE, flow-based, diffusion) and the autoencoder they
grow from; each is one readable module here, all behind one protocol (``protocol.py``) so one trainer,
one sampler and one evaluator serve them all:

    data.py         the images: scikit-learn's bundled 8×8 digits, or a folder of PNG/JPEG
    nets.py         convolutional encoder/decoder shared by autoencoder, VAE and GAN
    pixel_likelihood.py  p(x | decoder output) over discrete pixel levels (bits/dim without dequantising)
    ema.py          moving average of weights, for GAN and diffusion sampling
    autoencoder.py  deterministic codes; reconstruction only (the contrast to the VAE)
    vae.py          Gaussian encoder, reparameterisation, ELBO = reconstruction − KL
    gan.py          DCGAN generator vs discriminator, non-saturating loss
    flow.py         RealNVP affine couplings: exact likelihood, sampling by inversion
    diffusion.py    DDPM: noise schedule, ε-prediction U-Net, ancestral (or DDIM) sampling
    trainer.py      the loop: checkpoints, resume, early stopping, time budget, progress, metrics.jsonl
    run.py          the run directory: config.json, weights, the data split; loading a trained model;
                    RunKind, which lets audio (genlab.audio) and video (genlab.video) use this trainer
    classifier.py   the judge behind "digits FID"
    metrics.py      digits FID, mode coverage, confidence, k-NN precision/recall, memorisation, bits/dim
    plots.py        sample grids, reconstructions, interpolations, denoising strip, loss curves

Command line: ``genlab image train|sample|eval`` (``genlab/cli/image_cmd.py``).
"""
