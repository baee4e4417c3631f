"""The TRADES + noise loss, point by point against docs/paper.md."""
import pytest
import torch
import torch.nn.functional as F

from linf_smoothing.models import cifar_resnet
from linf_smoothing.trades import l2_adversary, trades_loss


class Recorder(torch.nn.Module):
    """Wraps a model and keeps every input it is called on."""

    def __init__(self, model):
        super().__init__()
        self.model, self.inputs = model, []

    def forward(self, x):
        self.inputs.append(x.detach().clone())
        return self.model(x)


@pytest.fixture
def batch():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 12, 12)
    y = torch.randint(0, 10, (8,))
    return x, y


def small_model():
    torch.manual_seed(1)
    return cifar_resnet(8, (8, 8, 16))


def test_adversary_stays_in_the_ball_and_the_box(batch):
    x, _ = batch
    model = small_model()
    eta = 0.25 * torch.randn_like(x)
    for epsilon in (0.05, 0.5, 3.0):
        x_adv = l2_adversary(model, x, eta, epsilon, steps=5, generator=torch.Generator().manual_seed(0))
        assert x_adv.min() >= 0 and x_adv.max() <= 1
        assert ((x_adv - x).flatten(1).norm(dim=1) <= epsilon * (1 + 1e-6)).all()


def test_adversary_raises_the_kl_above_a_random_perturbation(batch):
    x, _ = batch
    model = small_model().eval()
    eta = 0.1 * torch.randn_like(x)
    epsilon = 0.5
    x_adv = l2_adversary(model, x, eta, epsilon, steps=10, generator=torch.Generator().manual_seed(0))
    random = torch.randn_like(x)
    x_rand = (x + epsilon * random / random.flatten(1).norm(dim=1).view(-1, 1, 1, 1)).clamp(0, 1)

    def kl(x_other):
        with torch.no_grad():
            return F.kl_div(F.log_softmax(model(x_other + eta), 1), F.softmax(model(x + eta), 1),
                            reduction="none").sum(1)

    assert (kl(x_adv) > kl(x_rand)).all()


def test_attack_leaves_batchnorm_statistics_and_mode_alone(batch):
    x, _ = batch
    model = small_model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    l2_adversary(model, x, 0.1 * torch.randn_like(x), 0.5, steps=3)
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_beta_zero_is_exactly_the_noisy_cross_entropy(batch):
    x, y = batch
    model = small_model()
    eta = 0.12 * torch.randn_like(x)
    loss, logits = trades_loss(model, x, y, sigma=0.12, epsilon=0.5, beta=0.0, steps=10, eta=eta)
    model.train()
    assert torch.equal(loss, F.cross_entropy(model(x + eta), y))
    assert torch.equal(logits, model(x + eta))
    recorder = Recorder(model)
    trades_loss(recorder, x, y, sigma=0.12, epsilon=0.5, beta=0.0, steps=10, eta=eta)
    assert len(recorder.inputs) == 1  # Gaussian augmentation: no attack, no adversarial pass


def test_one_noise_draw_reaches_every_forward_pass(batch):
    """Every input the model sees is (x, an attack iterate, or x_adv) + the same eta."""
    x, y = batch
    sigma, epsilon, steps = 40.0, 0.5, 4  # huge noise: any other draw would stand out
    recorder = Recorder(small_model())
    trades_loss(recorder, x, y, sigma, epsilon, beta=6.0, steps=steps, generator=torch.Generator().manual_seed(3))
    eta = sigma * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))  # the loss's first draw
    assert len(recorder.inputs) == 1 + steps + 3
    for seen in recorder.inputs:
        image = seen - eta
        assert image.min() > -0.01 and image.max() < 1.01
        assert ((image - x).flatten(1).norm(dim=1) <= epsilon + 0.01).all()
    assert torch.allclose(recorder.inputs[0], x + eta)   # natural side of the attack
    assert torch.allclose(recorder.inputs[-3], x + eta)  # natural side of the outer loss
    assert torch.equal(recorder.inputs[-1], recorder.inputs[-3])  # the original's third, natural pass


def test_loss_is_ce_plus_beta_mean_kl_with_natural_side_attached(batch):
    x, y = batch
    model = small_model()
    beta, eta = 6.0, 0.12 * torch.randn_like(x)
    loss, _ = trades_loss(model, x, y, 0.12, 0.5, beta, 3, generator=torch.Generator().manual_seed(5), eta=eta)
    grads = torch.autograd.grad(loss, list(model.parameters()))

    model.load_state_dict(small_model().state_dict())  # the BatchNorm statistics before the loss
    x_adv = l2_adversary(model, x, eta, 0.5, 3, torch.Generator().manual_seed(5))
    model.train()
    natural = model(x + eta)
    kl = F.kl_div(F.log_softmax(model(x_adv + eta), 1), F.softmax(natural, 1), reduction="sum") / len(x)
    expected = F.cross_entropy(natural, y) + beta * kl
    assert torch.allclose(loss, expected, atol=1e-6)
    for got, want in zip(grads, torch.autograd.grad(expected, list(model.parameters()))):
        assert torch.allclose(got, want, atol=1e-5)
    detached = F.kl_div(F.log_softmax(model(x_adv + eta), 1), F.softmax(natural.detach(), 1), reduction="sum")
    stops = torch.autograd.grad(F.cross_entropy(model(x + eta), y) + beta * detached / len(x),
                                list(model.parameters()))
    assert any(not torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, stops))


def test_batchnorm_statistics_follow_the_originals_three_passes(batch):
    """The original's outer loss, CE(f(x + eta)) + beta KL(f(x_adv + eta), f(x + eta)) written
    as TRADES writes it, runs the model in train mode on the natural, the adversarial and the
    natural batch again: every BatchNorm buffer after our loss equals that replay's, and so
    do the loss and its gradients."""
    x, y = batch
    beta, eta = 6.0, 0.12 * torch.randn_like(x)
    ours = small_model()
    loss, _ = trades_loss(ours, x, y, 0.12, 0.5, beta, 3, generator=torch.Generator().manual_seed(5), eta=eta)
    grads = torch.autograd.grad(loss, list(ours.parameters()))

    original = small_model()
    x_adv = l2_adversary(original, x, eta, 0.5, 3, torch.Generator().manual_seed(5))
    original.train()
    loss_natural = F.cross_entropy(original(x + eta), y)
    loss_robust = F.kl_div(F.log_softmax(original(x_adv + eta), dim=1), F.softmax(original(x + eta), dim=1),
                           reduction="sum") / len(x)
    expected = loss_natural + beta * loss_robust
    assert torch.allclose(loss, expected, atol=1e-6)
    for got, want in zip(grads, torch.autograd.grad(expected, list(original.parameters()))):
        assert torch.allclose(got, want, atol=1e-5)
    buffers = dict(original.named_buffers())
    assert len(buffers) > 10
    for name, value in ours.named_buffers():
        assert torch.allclose(value, buffers[name], rtol=1e-5, atol=1e-7), name
    # Two passes (natural, adversarial) leave other statistics: the comparison can tell.
    two = small_model()
    x_adv = l2_adversary(two, x, eta, 0.5, 3, torch.Generator().manual_seed(5))
    two.train()
    two(x + eta), two(x_adv + eta)
    assert not all(torch.allclose(v, buffers[k], rtol=1e-5, atol=1e-7) for k, v in two.named_buffers()
                   if k.endswith("running_mean"))


def test_attack_matches_the_straightforward_trades_attack(batch):
    """Caching the natural logits and taking input-only gradients changes nothing but rounding:
    the same start and noise give the same x_adv as TRADES' usual loop (benchmarks/train_throughput.py)."""
    import sys

    from conftest import ROOT
    from linf_smoothing.settings import TrainSettings

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from train_throughput import straightforward_adversary

    x, _ = batch
    model = small_model()
    settings = TrainSettings(method="trades", depth=8, widths=(4, 8, 8), sigma=0.2, epsilon=0.5, beta=6.0,
                             attack_steps=5, epochs=1, batch_size=8, lr=0.1, momentum=0.9, weight_decay=0.0,
                             lr_milestones=(), lr_gamma=0.1, crop_padding=0, seed=0)
    eta = settings.sigma * torch.randn_like(x)
    torch.manual_seed(9)
    ours = l2_adversary(model, x, eta, settings.epsilon, settings.attack_steps)
    torch.manual_seed(9)
    theirs = straightforward_adversary(model, x, eta, settings)
    # Equal up to float rounding, which the per-step normalization can amplify a little:
    # within half an intensity level, and a tiny fraction of the perturbation itself.
    assert (ours - theirs).abs().max() < 2e-3
    assert ((ours - theirs).flatten(1).norm(dim=1) < 1e-2 * (ours - x).flatten(1).norm(dim=1)).all()
