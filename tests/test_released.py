"""Importing released checkpoints: a network with the original's and Cohen et al.'s exact key
layouts (bearpaw's CIFAR ResNet, re-implemented here from its published structure, with
random weights) gives identical logits after import."""
import pytest
import torch
from torch import nn

from conftest import ROOT, run_script
from linf_smoothing.results import load_model


class BearpawBlock(nn.Module):
    """bearpaw/pytorch-classification's BasicBlock: conv1 bn1 relu conv2 bn2 (+ downsample) relu."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class BearpawResNet(nn.Module):
    """conv1 bn1 relu layer1..3 avgpool fc; ``adaptive``: the original's pooling, else AvgPool2d(8) (Cohen's)."""

    def __init__(self, depth, num_classes=10, adaptive=True, in_channels=3):
        super().__init__()
        blocks, self.inplanes = (depth - 2) // 6, 16
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._layer(16, blocks)
        self.layer2 = self._layer(32, blocks, 2)
        self.layer3 = self._layer(64, blocks, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1)) if adaptive else nn.AvgPool2d(8)
        self.fc = nn.Linear(64, num_classes)

    def _layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BearpawBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BearpawBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x))))))
        return self.fc(self.avgpool(x).view(x.size(0), -1))


class CohenNormalize(nn.Module):
    """Cohen et al.'s NormalizeLayer: statistics as plain attributes (not in the state dict)."""

    def __init__(self):
        super().__init__()
        self.means = torch.tensor([0.4914, 0.4822, 0.4465])
        self.sds = torch.tensor([0.2023, 0.1994, 0.2010])

    def forward(self, x):
        return (x - self.means.view(1, 3, 1, 1)) / self.sds.view(1, 3, 1, 1)


def randomized(model):
    """Random weights and BatchNorm statistics, so that every key matters."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5 if name.endswith(("running_var", "bn1.weight"))
                             else 0.3 * torch.randn_like(tensor))
    return model.eval()


def import_checkpoint(tmp_path, form, released):
    torch.save(released, tmp_path / "released.pt")
    return run_script(ROOT / "scripts" / "import_checkpoint.py", "--format", form,
                      "--checkpoint", str(tmp_path / "released.pt"), "--out", str(tmp_path / "ours.pt"))


@pytest.mark.parametrize("depth", [20, 110])
def test_the_originals_checkpoint_gives_the_same_logits(tmp_path, depth):
    theirs = randomized(BearpawResNet(depth))
    state = nn.DataParallel(theirs).state_dict()
    assert all(key.startswith("module.") for key in state)
    assert import_checkpoint(tmp_path, "original", state).returncode == 0
    ours, meta = load_model(tmp_path / "ours.pt")
    assert meta["architecture"]["depth"] == depth and meta["requires_image_size"] is None
    for size in (32, 48):  # adaptive pooling, as the original's: any size
        x = torch.rand(4, 3, size, size)
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_cohens_checkpoint_gives_the_same_logits_with_its_normalization(tmp_path):
    theirs = nn.Sequential(CohenNormalize(), randomized(BearpawResNet(20, adaptive=False))).eval()
    assert all(key.startswith("1.") for key in theirs.state_dict())
    checkpoint = {"epoch": 90, "arch": "cifar_resnet20", "state_dict": theirs.state_dict(),
                  "optimizer": torch.optim.SGD(theirs.parameters(), lr=0.1).state_dict()}
    assert import_checkpoint(tmp_path, "cohen", checkpoint).returncode == 0
    ours, meta = load_model(tmp_path / "ours.pt")
    assert meta["requires_image_size"] == 32 and meta["imported"]["format"] == "cohen"
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
        # Without the normalization the logits would differ: it is part of the imported model.
        assert not torch.allclose(ours.stages(ours.stem(x)).mean(), ours.stages(ours.stem(ours.normalize(x))).mean())


def test_a_wrong_format_is_one_line(tmp_path):
    state = nn.DataParallel(randomized(BearpawResNet(20))).state_dict()
    result = import_checkpoint(tmp_path, "cohen", state)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "did you mean --format original" in result.stderr and not (tmp_path / "ours.pt").exists()
