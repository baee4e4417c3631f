import pytest
import torch

from linf_smoothing.models import cifar_resnet


def test_resnet110_shape_and_parameter_count():
    model = cifar_resnet(110)
    blocks = [m for m in model.modules() if type(m).__name__ == "BasicBlock"]
    assert len(blocks) == 54  # 18 per stage
    assert sum(p.numel() for p in model.parameters()) == 1_730_714  # "about 1.73 M"
    assert not any(type(m).__name__ in ("Normalize", "NormalizeLayer") for m in model.modules())


@pytest.mark.parametrize("size", [32, 48, 64])
def test_resnet110_takes_every_paper_size(size):
    model = cifar_resnet(110).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, size, size)).shape == (2, 10)


def test_depth_must_be_6n_plus_2():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        cifar_resnet(100)
