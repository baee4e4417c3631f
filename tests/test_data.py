import pickle
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms

from conftest import write_cifar10_batches
from linf_smoothing import data
from linf_smoothing.data import DataError


def photo_patches(count: int = 64, size: int = 32) -> np.ndarray:
    """Real photographs (scikit-learn's bundled china.jpg and flower.jpg), cut into
    size x size RGB patches at a few scales: uint8 (count, 3, size, size)."""
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(0)
    patches = []
    for i in range(count):
        photo = load_sample_images().images[i % 2]
        scale = rng.integers(1, 5)
        span = size * scale
        top = rng.integers(0, photo.shape[0] - span)
        left = rng.integers(0, photo.shape[1] - span)
        crop = Image.fromarray(photo[top:top + span, left:left + span]).resize((size, size), Image.BILINEAR)
        patches.append(np.asarray(crop).transpose(2, 0, 1))
    return np.stack(patches)


def test_load_cifar10_reads_the_pickle_format(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    expected_images, expected_labels = write_cifar10_batches(folder, per_batch=4)
    images, labels = data.load_split("cifar10", "train", tmp_path)
    assert images.shape == (20, 3, 32, 32) and images.dtype == np.uint8
    assert np.array_equal(images, expected_images) and np.array_equal(labels, expected_labels)
    # CIFAR-10 rows are 1024 red, then 1024 green, then 1024 blue values, row-major.
    with open(folder / "data_batch_1", "rb") as handle:
        row = pickle.load(handle, encoding="bytes")[b"data"][0]
    assert images[0, 1, 2, 3] == row[1024 + 2 * 32 + 3]
    test_images, _ = data.load_split("cifar10", "test", tmp_path)
    assert test_images.shape == (4, 3, 32, 32)


def test_load_cifar10_missing_and_corrupt_files(tmp_path):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    with pytest.raises(DataError, match="missing.*download"):
        data.load_split("cifar10", "train", tmp_path)
    write_cifar10_batches(folder)
    (folder / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR-10 batch"):
        data.load_split("cifar10", "train", tmp_path)


def test_download_offline_says_where_to_put_the_archive(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torchvision.datasets.utils.download_url", offline)
    with pytest.raises(DataError) as error:
        data.download_cifar10(tmp_path)
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(error.value)
    assert data.CIFAR10_ARCHIVE_MD5 in str(error.value)


def test_download_rejects_a_corrupt_archive_without_fetching(tmp_path, monkeypatch):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"truncated")
    fetched = []
    monkeypatch.setattr("torchvision.datasets.utils.download_url", lambda *a, **k: fetched.append(a))
    with pytest.raises(DataError, match="fails its md5 check"):
        data.download_cifar10(tmp_path)
    assert len(fetched) == 1  # a bad archive is fetched again, then still refused


def test_download_uses_a_verified_archive_offline(tmp_path, monkeypatch):
    """A verified archive is extracted without any network access."""
    import io
    import tarfile

    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"batch"
        info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    monkeypatch.setattr(data, "CIFAR10_ARCHIVE_MD5", __import__("hashlib").md5(archive.read_bytes()).hexdigest())
    monkeypatch.setattr("torchvision.datasets.utils.download_url",
                        lambda *a, **k: pytest.fail("fetched although a verified archive was there"))
    folder = data.download_cifar10(tmp_path)
    assert (folder / "test_batch").read_bytes() == b"batch"


def test_digits_split_is_fixed_and_stratified():
    train_x, train_y = data.load_split("digits", "train")
    test_x, test_y = data.load_split("digits", "test")
    assert train_x.shape[1:] == (1, 8, 8) and train_x.dtype == np.uint8 and train_x.max() == 255
    assert len(train_x) + len(test_x) == 1797
    assert np.array_equal(test_y, data.load_split("digits", "test")[1])
    assert set(np.bincount(test_y)) <= set(range(34, 38))


@pytest.mark.parametrize("size", [48, 64])
def test_resize_matches_torchvision_resize_of_pil_images(size):
    patches = photo_patches()
    ours = data.resize_images(patches, size).astype(int)
    resize = transforms.Resize(size)  # what the original applies to each PIL image
    theirs = np.stack([np.asarray(resize(Image.fromarray(p.transpose(1, 2, 0)))).transpose(2, 0, 1)
                       for p in patches]).astype(int)
    assert ours.shape == theirs.shape == (len(patches), 3, size, size)
    assert np.abs(ours - theirs).max() <= 1
    assert np.mean(ours != theirs) < 0.05


def test_resize_to_own_size_is_identity():
    patches = photo_patches(4)
    assert data.resize_images(patches, 32) is patches


def test_split_roundtrip_and_corrupt_file(tmp_path):
    images = np.arange(2 * 1 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4)
    labels = np.array([3, 7])
    data.save_split(tmp_path / "a.npz", images, labels, "digits")
    back_x, back_y = data.read_split(tmp_path / "a.npz")
    assert np.array_equal(back_x, images) and np.array_equal(back_y, labels)
    assert not (tmp_path / "a.npz.tmp").exists()
    (tmp_path / "b.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="rerun the resize rule"):
        data.read_split(tmp_path / "b.npz")
    with pytest.raises(DataError, match="missing"):
        data.read_split(tmp_path / "c.npz")


def test_random_crop_flip_takes_a_window_of_the_padded_image():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 8, 8)
    out = data.random_crop_flip(x, padding=2, generator=generator)
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (2,) * 4)
    flips = 0
    for i in range(len(x)):
        windows = [padded[i, :, t:t + 8, left:left + 8] for t in range(5) for left in range(5)]
        plain = any(torch.equal(out[i], w) for w in windows)
        flipped = any(torch.equal(out[i], w.flip(-1)) for w in windows)
        assert plain or flipped
        flips += flipped and not plain
    assert 10 < flips < 54  # about half flipped


def test_random_crop_flip_without_padding_only_flips():
    x = torch.rand(16, 1, 5, 5)
    out = data.random_crop_flip(x, padding=0, generator=torch.Generator().manual_seed(1))
    for i in range(len(x)):
        assert torch.equal(out[i], x[i]) or torch.equal(out[i], x[i].flip(-1))
