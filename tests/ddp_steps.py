"""A few data-parallel training steps on a fixed batch; run by test_distributed.py, in one
process and, under torchrun, in several (each saves its replica after every step as
rank{RANK}.pt)."""
import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

from linf_smoothing import distributed
from linf_smoothing.models import cifar_resnet
from linf_smoothing.settings import TrainSettings
from linf_smoothing.training import make_optimizer, train_step

SETTINGS = TrainSettings(method="trades", depth=8, widths=(4, 8, 8), sigma=0.25, epsilon=0.3, beta=6.0, attack_steps=2,
                         epochs=1, batch_size=15, lr=0.1, momentum=0.9, weight_decay=1e-4, lr_milestones=(),
                         lr_gamma=0.1, crop_padding=1, seed=1)
STEPS = 3
# Other methods (tests/test_methods.py): ``ddp_steps.py OUTDIR METHOD`` runs METHOD's settings.
METHOD_SETTINGS = {
    "trades": SETTINGS,
    "smoothadv": dataclasses.replace(SETTINGS, method="smoothadv", beta=0.0, noise_copies=3, attack="ddn",
                                     warmup_epochs=2),
    "macer": dataclasses.replace(SETTINGS, method="macer", epsilon=0.0, beta=0.0, attack_steps=0, noise_copies=3,
                                 macer_lambda=12.0, macer_beta=4.0),
}


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """15 images (odd, so two processes hold 7 and 8 rows) of two learnable classes."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, SETTINGS.batch_size)
    images = rng.integers(0, 80, (SETTINGS.batch_size, 1, 8, 8)) + 150 * labels[:, None, None, None]
    return torch.from_numpy(images.astype(np.uint8)), torch.from_numpy(labels)


def run_steps(replica: distributed.Replica, settings: TrainSettings = SETTINGS) -> list[dict[str, torch.Tensor]]:
    """The model's state after each of STEPS steps on the same global batch."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = cifar_resnet(8, (4, 8, 8), in_channels=1, num_classes=2)
    parallel_model = distributed.data_parallel(model, replica)
    optimizer = make_optimizer(model, settings)
    generator = torch.Generator().manual_seed(settings.seed)
    images, labels = batch()
    states = []
    for step in range(STEPS):
        train_step(model, optimizer, images, labels, settings, generator, replica, parallel_model, epoch=step)
        states.append({key: value.clone() for key, value in model.state_dict().items()})
    return states


if __name__ == "__main__":
    replica, _ = distributed.start(torch.device("cpu"))
    states = run_steps(replica, METHOD_SETTINGS[sys.argv[2] if len(sys.argv) > 2 else "trades"])
    torch.save(states, Path(sys.argv[1]) / f"rank{replica.rank}.pt")
    distributed.stop(replica)
