"""Reproduction of Blum, Dick, Manoj, Zhang (2020): TRADES + Gaussian noise training and
randomized-smoothing certification in l-inf, at several image sizes.

Modules, one idea each: ``config`` (validation), ``data`` (CIFAR-10 / digits, resizing,
augmentation), ``models`` (CIFAR ResNet), ``trades`` (the loss), ``training`` (the loop),
``smoothing`` (sampling, CERTIFY, PREDICT), ``results`` (file formats), ``analysis``
(tables and figures). The package imports no Snakemake; scripts/ are its command lines.
"""
