"""Reproduction of Blum, Dick, Manoj, Zhang (2020): TRADES + Gaussian noise training and
randomized-smoothing certification in l-inf, at several image sizes.

Modules, one idea each: ``settings`` (each stage's settings, written once), ``config``
(validation, settings of an experiment), ``errors`` (what a user can cause), ``data``
(CIFAR-10 / digits, resizing, augmentation), ``models`` (CIFAR ResNet), ``trades`` (the
TRADES loss), ``methods`` (training methods), ``training`` (the loop), ``distributed``
(data-parallel training), ``noises`` (the smoothing noises: scale, sampler, certified radius
in each norm), ``smoothing`` (the smoothed classifier: sampling, CERTIFY, PREDICT),
``certificates`` (certificate variants from vote counts), ``bounds`` (their arithmetic),
``shards``, ``results`` (file formats), ``analysis`` (tables and figures), ``coverage`` (how
often a certificate claims too much). The package imports no Snakemake; scripts/ are its
command lines.
"""

__version__ = "0.3.0"
