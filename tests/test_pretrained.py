"""weights=: torchvision and paddle.vision files (fake caches, tests/_fake_caches.py) load into both
frameworks and give those libraries' own outputs; fine-tuning re-initialises the head and adapts
the stem; refused and missing files explain themselves.

The default run checks one model per source (torchvision resnet50, bit for bit in torch;
paddle.vision mobilenet_v3_small, whose names differ from ours). The sweep over every
published file that loads is marked heavy.
"""
import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from _fake_caches import fake_paddle_vision_file, fake_torchvision_file, point_caches
from _reference import max_rel, paddle_eval, torch_eval
from zoo import pretrained
from zoo import weight_sources as S
from zoo.state_keys import WeightMismatchError
from zoo.training import CheckpointError

TORCHVISION = [n for n in zoo.names() if S.loadable("torchvision", n)]
PADDLE_VISION = [n for n in zoo.names() if S.loadable("paddle.vision", n)]


# The CI budget (20 minutes on 2 cores): builds torchvision/paddle.vision models and full ImageNet-size nets; run with -m heavy.
pytestmark = pytest.mark.heavy


def _heavy_unless(name, cheap):
    return pytest.param(name, marks=[] if name in cheap else [pytest.mark.heavy])


def _input(name, source, batch=2):
    # paddle.vision's AlexNet has no adaptive pool: 224x224 only.
    side = 224 if (source, name) == ("paddle.vision", "alexnet") else zoo.get(name).check_size(2)
    return np.random.RandomState(0).standard_normal((batch, 3, side, side))


@pytest.fixture
def caches(tmp_path, monkeypatch):
    point_caches(monkeypatch, tmp_path)
    return tmp_path


# --- torchvision ----------------------------------------------------------------------------------

@pytest.mark.torchvision
@pytest.mark.parametrize("name,file", [("squeezenet1_1", "squeezenet1_1-b8a52dc0.pth"),
                                       pytest.param("resnet50", "resnet50-11ad3fa6.pth", marks=pytest.mark.heavy)])
def test_torchvision_bit_for_bit(name, file, caches):
    """The issue's first case (resnet50, heavy; squeezenet1_1 in the default run): torchvision's DEFAULT
    file gives torchvision's float32 outputs bit for bit in torch, and its float64 outputs to parity
    tolerance in paddle."""
    ref, path = fake_torchvision_file(name)
    assert path == caches / "torch" / "hub" / "checkpoints" / file
    x = _input(name, "torchvision").astype(np.float32)
    ours = torch_impl.build(name, weights="torchvision")
    assert np.array_equal(torch_eval(ours, x), torch_eval(ref, x))
    layer = paddle_impl.build(name, weights="torchvision")
    layer.to(dtype="float64")
    assert max_rel(paddle_eval(layer, x.astype(np.float64)), torch_eval(ref.double(), x.astype(np.float64))) < 1e-10


@pytest.mark.torchvision
@pytest.mark.parametrize("name", [_heavy_unless(n, ()) for n in TORCHVISION])
def test_torchvision_file_loads_in_both(name, caches, capsys):
    """Every torchvision file: our torch and paddle models built with weights="torchvision" give
    torchvision's float64 outputs (densenet's file has the legacy names and format; googlenet's
    and inception_v3's carry aux heads and are built with transform_input, as torchvision does)."""
    ref, _ = fake_torchvision_file(name)
    x = _input(name, "torchvision")
    expected = torch_eval(ref.double(), x)
    ours = torch_impl.build(name, weights="torchvision").double()
    assert max_rel(torch_eval(ours, x), expected) < 1e-12
    layer = paddle_impl.build(name, weights="torchvision")
    layer.to(dtype="float64")
    assert max_rel(paddle_eval(layer, x), expected) < 1e-10
    if name == "inception_v3":
        assert "built without AuxLogits" in capsys.readouterr().err


# --- paddle.vision -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", [_heavy_unless(n, ("mobilenet_v3_small",)) for n in PADDLE_VISION])
def test_paddle_vision_file_loads_in_both(name, caches, capsys):
    """Every paddle.vision file that loads: both our models give paddle.vision's float64 outputs.
    MobileNet v3 differs by paddle's Hardsigmoid slope (~1e-8, stated in a note); AlexNet is
    converted (fc6/fc7 halved for paddle.vision's downscale_in_infer dropout)."""
    ref, _ = fake_paddle_vision_file(name)
    ref.to(dtype="float64")
    x = _input(name, "paddle.vision", batch=1 if name == "alexnet" else 2)
    expected = paddle_eval(ref, x)
    tol = 1e-6 if ("paddle.vision", name) in S.NOTES else 1e-10
    layer = paddle_impl.build(name, weights="paddle.vision")
    layer.to(dtype="float64")
    assert max_rel(paddle_eval(layer, x), expected) < tol
    ours = torch_impl.build(name, weights="paddle.vision").double()
    assert max_rel(torch_eval(ours, x), expected) < tol
    err = capsys.readouterr().err
    assert ("biased batch variance" in err) == any(k.endswith("_variance") for k in ref.state_dict())
    if name == "alexnet":
        assert "fc6 and fc7" in err
    if ("paddle.vision", name) in S.NOTES:
        assert "Hardsigmoid" in err


@pytest.mark.parametrize("source,name", sorted(S.REFUSED))
def test_refused_files_say_why(source, name, caches):
    with pytest.raises(CheckpointError, match=f"{name} weights do not load here: {source}'s"):
        torch_impl.build(name, weights=source)
    folder = S.cache_dir(source)
    folder.mkdir(parents=True)
    path = folder / S.files(source, name)[0].file
    path.write_bytes(b"")  # refused by its name before it is read
    with pytest.raises(CheckpointError, match="do not load here"):
        paddle_impl.build(name, weights=str(path))


# --- finding files ---------------------------------------------------------------------------------

def test_missing_file_names_file_folder_and_url(caches):
    with pytest.raises(CheckpointError) as info:
        pretrained.resolve("torchvision", "resnet50")
    msg = str(info.value)
    for part in (str(caches / "torch" / "hub" / "checkpoints"), "resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth",
                 "https://download.pytorch.org/models/resnet50-11ad3fa6.pth", "nothing is downloaded"):
        assert part in msg
    with pytest.raises(CheckpointError, match=r"(?s)\.cache/paddle/hapi/weights.*resnet50\.pdparams.*"
                                              r"https://paddle-hapi\.bj\.bcebos\.com/models/resnet50\.pdparams"):
        pretrained.resolve("paddle.vision", "resnet50")
    with pytest.raises(CheckpointError, match="publishes no weights for lenet5"):
        pretrained.resolve("torchvision", "lenet5")
    with pytest.raises(CheckpointError, match=r"no 'V9' weights for resnet50 \(it has: IMAGENET1K_V2, IMAGENET1K_V1"):
        pretrained.resolve("torchvision:V9", "resnet50")


def test_any_cached_file_and_tags(caches):
    """DEFAULT is preferred, another published file is used when it is the one cached, a tag picks one."""
    folder = S.cache_dir("torchvision")
    folder.mkdir(parents=True)
    (folder / "resnet50-0676ba61.pth").write_bytes(b"")
    assert pretrained.resolve("torchvision", "resnet50").path.name == "resnet50-0676ba61.pth"
    (folder / "resnet50-11ad3fa6.pth").write_bytes(b"")
    assert pretrained.resolve("torchvision", "resnet50").path.name == "resnet50-11ad3fa6.pth"
    assert pretrained.resolve("torchvision:IMAGENET1K_V1", "resnet50").path.name == "resnet50-0676ba61.pth"


def test_cache_folders_follow_each_library(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert S.cache_dir("torchvision") == tmp_path / "xdg" / "torch" / "hub" / "checkpoints"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert S.cache_dir("torchvision") == tmp_path / "th" / "hub" / "checkpoints"
    monkeypatch.setenv("HOME", str(tmp_path / "h"))
    assert S.cache_dir("paddle.vision") == tmp_path / "h" / ".cache" / "paddle" / "hapi" / "weights"


# --- fine-tuning: head and stem --------------------------------------------------------------------

@pytest.mark.torchvision
def test_other_classes_and_channels_adapt_head_and_stem(caches, capsys):
    """num_classes=10: the classifier keeps its fresh initialisation (named in a note). in_channels=1:
    the stem is summed over its channels, so a grey image gives the features the RGB model gives
    that image repeated 3 times; in_channels=5: repeated and scaled by 3/5 (timm's rule)."""
    ref, _ = fake_torchvision_file("squeezenet1_1")
    w = ref.features[0].weight.detach()
    grey = torch.randn(2, 1, 32, 32)
    for build in (torch_impl.build, paddle_impl.build):
        model = build("squeezenet1_1", weights="torchvision", num_classes=10, in_channels=1)
        err = capsys.readouterr().err
        assert "1000 classes, the model 10: classifier.1.weight, classifier.1.bias keep their fresh" in err
        assert "features.0.weight summed over its channels" in err
        stem = model.state_dict()["features.0.weight"]
        np.testing.assert_allclose(np.asarray(stem), w.sum(1, keepdim=True).numpy(), rtol=1e-6)
        five = build("squeezenet1_1", weights="torchvision", in_channels=5)
        np.testing.assert_allclose(np.asarray(five.state_dict()["features.0.weight"]),
                                   torch.cat([w, w], 1)[:, :5].numpy() * 3 / 5, rtol=1e-6)
    model = torch_impl.build("squeezenet1_1", weights="torchvision", num_classes=10, in_channels=1).eval()
    with torch.no_grad():
        np.testing.assert_allclose(model.features(grey).numpy(), ref.features(grey.repeat(1, 3, 1, 1)).numpy(),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.torchvision
def test_a_checkpoint_that_does_not_fit_lists_keys(caches):
    fake_torchvision_file("squeezenet1_1")
    with pytest.raises(WeightMismatchError, match=r"(?s)does not fit.*mis-shaped: features\.0\.weight: "
                                                  r"checkpoint \[64, 3, 3, 3\] vs model \[64, 3, 3\]"):
        torch_impl.build("squeezenet1_1", weights="torchvision", dims=1)


# --- the framework-free reader -------------------------------------------------------------------

def test_reader_matches_torch_load_and_paddle_load(tmp_path):
    from zoo.checkpoint_reader import read_checkpoint

    state = {"w": torch.randn(3, 4), "t": torch.randn(4, 3).t(), "n": torch.tensor(5), "h": torch.randn(2).half(),
             "e": torch.zeros(0, 3), "view": torch.arange(10.0)[2:5]}
    for zipped in (True, False):
        torch.save(state, tmp_path / "a.pt", _use_new_zipfile_serialization=zipped)
        got = read_checkpoint(tmp_path / "a.pt")
        assert got.framework == "torch"
        for k, v in torch.load(tmp_path / "a.pt").items():
            assert got.obj[k].dtype == v.numpy().dtype and np.array_equal(got.obj[k], v.numpy()), k
    torch.save({"b": torch.randn(3).bfloat16()}, tmp_path / "b.pt")
    assert np.array_equal(read_checkpoint(tmp_path / "b.pt").obj["b"], torch.load(tmp_path / "b.pt")["b"].float())
    layer = paddle.nn.BatchNorm2D(3)
    paddle.save(layer.state_dict(), str(tmp_path / "c.pdparams"))
    got = read_checkpoint(tmp_path / "c.pdparams")
    assert got.framework == "paddle"
    for k, v in paddle.load(str(tmp_path / "c.pdparams")).items():
        assert np.array_equal(got.obj[k], v.numpy()), k
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        read_checkpoint(tmp_path / "junk.pt")


def test_reader_leaves_foreign_objects_inert(tmp_path):
    """An optimizer state and other objects are read without running anything they name."""
    from zoo.checkpoint_reader import Opaque, read_checkpoint

    model = torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(1, 2)).sum().backward()
    opt.step()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "device": torch.device("cpu")}, tmp_path / "o.pt")
    obj = read_checkpoint(tmp_path / "o.pt").obj
    assert isinstance(obj["device"], Opaque)
    assert set(obj["opt"]["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    np.testing.assert_array_equal(obj["model"]["weight"], model.weight.detach().numpy())


# --- conventions ----------------------------------------------------------------------------------

def test_list_models_wildcards_and_get_model():
    for impl in (torch_impl, paddle_impl):
        assert impl.list_models("resnet*") == [n for n in zoo.names() if n.startswith("resnet")]
        assert impl.list_models(include="vgg*", exclude=["*_bn", "*d2l"]) == ["vgg11", "vgg13", "vgg16", "vgg19"]
        assert impl.list_models(include=["lenet5", "alexnet"]) == ["lenet5", "alexnet"]
        assert impl.list_models("lenet") == zoo.names("lenet")
        assert impl.list_models(weights="paddle.vision") == PADDLE_VISION
        with pytest.raises(KeyError, match="unknown family 'resnets'"):
            impl.list_models("resnets")
        assert type(impl.get_model("lenet5", num_classes=7)) is type(impl.build("lenet5"))


def test_hubconf_serves_every_model(tmp_path, monkeypatch):
    """torch.hub.load(dir, name, source="local") builds any model; its entry points are the zoo
    (torch.hub.list reads GitHub repositories only, so the module is inspected as it would be)."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    model = torch.hub.load(str(root), "lenet5", source="local", num_classes=7)
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 7)
    spec = importlib.util.spec_from_file_location("hubconf", root / "hubconf.py")
    hub = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hub)
    assert sorted(n for n in dir(hub) if callable(getattr(hub, n)) and not n.startswith("_")) == sorted(zoo.names())


@pytest.mark.torchvision
@pytest.mark.parametrize("fw", ["torch", "paddle"])
def test_train_fine_tunes_imagenet_weights_on_mnist5k(fw, caches, capsys):
    """--init-from an ImageNet file onto mnist5k (10 classes, 1 channel): both scripts start from it,
    with the head re-initialised and the stem summed, and say so."""
    import paddle_impl.train as paddle_train
    import torch_impl.train as torch_train
    from zoo import training

    _, path = fake_torchvision_file("squeezenet1_1")
    script = {"torch": torch_train, "paddle": paddle_train}[fw]
    where = "torchvision" if fw == "torch" else str(path)  # a source name, or the file itself
    rc = script.main(["squeezenet1_1", "--init-from", where, "--limit", "64", "--epochs", "1", "--threads", "1",
                      "--out", str(caches / f"run-{fw}")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "1000 classes, the model 10: classifier.1.weight, classifier.1.bias keep their fresh" in err
    assert "features.0.weight summed over its channels" in err
    assert "epoch 1" in out
    assert training.CHECKPOINT_SUFFIX[fw] in str(list((caches / f"run-{fw}").iterdir()))
