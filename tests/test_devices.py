"""`device: auto` on a machine without a GPU: a job estimated to take longer than an hour on
the CPU stops before it starts, with the estimate, and asks for `device: cpu`; smaller jobs and
a device named outright run."""
import logging

import pytest
import torch

from linf_smoothing import devices
from linf_smoothing.costs import Cost, training_cost
from linf_smoothing.devices import check_cpu_time, duration
from linf_smoothing.errors import ConfigError
from test_estimate_gpu_hours import conv_flops, resnet_forward_flops
from test_training import settings

CPU = torch.device("cpu")


def never() -> Cost:
    raise AssertionError("the cost was computed for a job that needs no check")


@pytest.mark.parametrize(("requested", "device"), [("cpu", CPU), ("auto", torch.device("cuda")),
                                                   ("cuda", torch.device("cuda"))])
def test_a_device_named_outright_or_a_gpu_is_not_checked(requested, device):
    check_cpu_time(requested, device, "job", never)


def test_a_job_of_more_than_an_hour_stops_with_the_estimate_and_the_way_to_go_on():
    """10^15 FLOPs at a measured 10^11 FLOP/s: 10^4 s, 2.8 hours."""
    with pytest.raises(ConfigError) as error:
        check_cpu_time("auto", CPU, "training ResNet-110 (trades)", lambda: Cost(1e15, lambda: 1e11))
    assert str(error.value) == (
        "device auto found no CUDA device, and training ResNet-110 (trades) would take about 2.8 hours on this CPU "
        "(1 PFLOP counted, at 100 GFLOP/s measured on steps of this job here): run it where a GPU is visible, or set "
        "device: cpu (the scripts' option --device cpu) to run it on the CPU anyway")


def test_a_job_of_less_than_an_hour_runs_and_says_its_estimate(caplog):
    with caplog.at_level(logging.INFO, "devices"):
        check_cpu_time("auto", CPU, "certifying 10 images", lambda: Cost(3.5e14, lambda: 1e11))
    assert "certifying 10 images on the CPU, estimated at 58 minutes" in caplog.text


def test_a_job_that_even_a_slow_cpu_finishes_within_the_hour_is_not_measured(caplog):
    limit = devices.CPU_HOURS_WITHOUT_ASKING * 3600 * devices.SLOWEST_CPU_FLOPS

    def unmeasured() -> float:
        raise AssertionError("measured")

    with caplog.at_level(logging.INFO, "devices"):
        check_cpu_time("auto", CPU, "the demo's training", lambda: Cost(0.99 * limit, unmeasured))
    assert "the demo's training on the CPU" in caplog.text
    with pytest.raises(AssertionError, match="measured"):
        check_cpu_time("auto", CPU, "a larger one", lambda: Cost(1.01 * limit, unmeasured))


def test_amounts_of_flops_read_in_the_largest_whole_unit():
    assert [devices.amount_of_flops(f) for f in (4.1e14, 2.5e15, 1.5e18, 3e9, 1.2e8)] == [
        "410 TFLOP", "2.5 PFLOP", "1,500 PFLOP", "3 GFLOP", "0.12 GFLOP"]


def test_durations_read_in_the_largest_whole_unit():
    assert [duration(s) for s in (42, 60, 5400, 3600, 9.3 * 86400, 40 * 86400)] == [
        "42 seconds", "1 minute", "1.5 hours", "1 hour", "9.3 days", "40 days"]


def test_a_trainings_flops_are_its_steps_and_its_accuracy_passes():
    """Gaussian augmentation, by the closed forms of test_estimate_gpu_hours: a step is a forward
    and a backward (3 forwards less the stem's input gradient) per image, and every epoch ends
    with a forward pass of every training image and two of every test image."""
    widths, size = (4, 8, 8), 8  # even sizes, which the closed form halves exactly
    forward = resnet_forward_flops(8, widths, size, c_in=1, classes=2)
    step = 3 * forward - conv_flops(1, widths[0], 3, size, size)
    trained = settings(method="gaussian", epsilon=0.0, beta=0.0, attack_steps=0, epochs=3, batch_size=4)
    flops, _ = training_cost(trained, size, 1, 2, train_images=64, test_images=16)
    assert flops == 3 * (step * 64 + forward * (64 + 2 * 16))


def test_measuring_a_training_step_leaves_the_jobs_random_state_alone():
    """The check runs after the job drew its initial weights and before it trains."""
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    _, measure_rate = training_cost(settings(batch_size=4), 6, 1, 2, train_images=64, test_images=16)
    assert measure_rate() > 0
    assert torch.equal(torch.random.get_rng_state(), before)
