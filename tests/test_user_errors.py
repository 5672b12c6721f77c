"""Every user mistake gets a clear message, and both frameworks fail alike: wrong input dtypes
over the registry, a batch of 1 in train mode, bad model sizes, comparisons of nothing,
unwritable outputs, and the training scripts' batch rule and interrupt messages."""
import os
import re
import time
import warnings

import numpy as np
import paddle
import pytest
import torch

import paddle_impl
import torch_impl
import zoo
from parity.cli_convert import main as convert_main
from parity.cli_summary import main as summary_main
from zoo import files, messages, training, verdicts
from zoo.registry import check_sizes

from test_train import FRAMEWORKS, cli, comparable, rows

WRONG_DTYPES = ["int64", "int32", "uint8", "bool", "float16", "bfloat16", "float64"]
# The default run sweeps these (about a second); the rest of the registry runs with -m heavy.
CHEAP = ("lenet5", "lenet_bn", "squeezenet1_1")


def registry_params():
    for name in zoo.names():
        yield pytest.param(name, marks=() if name in CHEAP else pytest.mark.heavy)


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("name", registry_params())
def test_wrong_input_dtype_is_a_type_error_naming_both(name, dims):
    """Every wrong dtype, in both frameworks: a TypeError naming the weights' dtype, the input's and
    the conversion, raised before any layer runs (never the framework's kernel error)."""
    info = zoo.get(name)
    kwargs = info.build_kwargs(dims, info.check_size(dims))
    shape = info.input_shape(dims, 2)
    t, p = torch_impl.build(name, **kwargs), paddle_impl.build(name, **kwargs)
    for dtype in WRONG_DTYPES:
        with pytest.raises(TypeError, match=rf"expects float32 input \(the dtype of its weights\), got {dtype}: "
                                            r"convert the input with x\.to\(torch\.float32\)"):
            t(torch.zeros(shape, dtype=getattr(torch, dtype)))
        with pytest.raises(TypeError, match=rf"expects float32 input \(the dtype of its weights\), got {dtype}: "
                                            r'convert the input with x\.astype\("float32"\)'):
            p(paddle.zeros(shape, dtype=dtype))
    t.double(), p.to(dtype="float64")
    with pytest.raises(TypeError, match=r"expects float64 input .*, got float32: .* or the model with "
                                        r"model\.to\(torch\.float32\)"):
        t(torch.zeros(shape))
    with pytest.raises(TypeError, match=r"expects float64 input .*, got float32: .* or the model with "
                                        r'model\.to\(dtype="float32"\)'):
        p(paddle.zeros(shape))


def test_autocast_input_is_left_to_autocast():
    t = torch_impl.build("lenet5").eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert t(torch.zeros(2, 1, 32, 32, dtype=torch.bfloat16)).shape == (2, 10)


@pytest.mark.parametrize("dims", [1, 2])
def test_one_value_per_channel_in_train_mode_is_refused_alike(dims):
    """torch's BatchNorm refuses one value per channel in train mode; paddle's computes the bias.
    paddle_impl's BatchNorm refuses it the same way; eval mode and two values run on both sides."""
    from paddle_impl.layers import batch_norm as paddle_bn
    from torch_impl.layers import batch_norm as torch_bn

    t, p = torch_bn(dims, 4), paddle_bn(dims, 4)
    one = (1, 4) + (1,) * dims
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        t(torch.zeros(one))
    with pytest.raises(ValueError, match=rf"Expected more than 1 value per channel when training, got input shape "
                                         rf"{re.escape(str(list(one)))}: use a batch of 2 or more, or eval mode"):
        p(paddle.zeros(one))
    two = (2, 4) + (1,) * dims
    assert tuple(t(torch.zeros(two)).shape) == tuple(p(paddle.zeros(two)).shape) == two
    t.eval(), p.eval()
    assert tuple(t(torch.zeros(one)).shape) == tuple(p(paddle.zeros(one)).shape) == one


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_b0"])
def test_a_batch_of_one_reaching_a_1x1_map_is_refused_alike(name):
    """The models themselves at their parity size (32x32): a batch of 1 in train mode reaches a
    1x1 map; both frameworks refuse it with the same message, and run it in eval mode."""
    info = zoo.get(name)
    kwargs = info.build_kwargs(2, info.check_size(2))
    t, p = torch_impl.build(name, **kwargs), paddle_impl.build(name, **kwargs)
    x = np.zeros(info.input_shape(2, 1), dtype=np.float32)
    for run in (lambda: t(torch.from_numpy(x)), lambda: p(paddle.to_tensor(x))):
        with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
            run()
    t.eval(), p.eval()
    assert tuple(t(torch.from_numpy(x)).shape) == tuple(p(paddle.to_tensor(x)).shape) == (1, info.num_classes)


# --- model sizes ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(num_classes=-1), "num_classes must be 0 or more (0 builds a backbone that returns features), got -1"),
    (dict(in_channels=0), "in_channels must be at least 1, got 0"),
    (dict(num_classes=2.5), "num_classes must be a whole number, got 2.5"),
    (dict(in_channels=True), "in_channels must be a whole number, got True"),
])
def test_sizes_are_checked_before_building(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        check_sizes("lenet5", **kwargs)
    for build in (torch_impl.build, paddle_impl.build):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match=re.escape(f"lenet5: {message}")):
                build("lenet5", **kwargs)
        assert not seen, [str(w.message) for w in seen]  # no "Initializing zero-element tensors" first


@pytest.mark.parametrize("flag", ["--num-classes -1", "--in-channels 0"])
def test_summary_with_a_bad_size_is_one_line(flag, capsys):
    assert summary_main(["lenet5", *flag.split()]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: lenet5: ") and err.count("\n") == 1, err


# --- comparisons of nothing (framework-free checks the parity CLI and judge call) -------------------------

def test_a_comparison_of_nothing_cannot_pass():
    for bad in (0, -3):
        with pytest.raises(ValueError, match=rf"--batch must be at least 1, got {bad}: .* would compare nothing"):
            verdicts.check_batch(bad)
    verdicts.check_batch(None), verdicts.check_batch(1)
    assert verdicts.nothing_compared([]) == "compared nothing: no tensors to compare"
    assert verdicts.nothing_compared([(0, 10), (0,)]) == "compared nothing: every tensor is empty (shapes [0, 10], [0])"
    assert verdicts.nothing_compared([(0, 10), (2, 10)]) is None


# --- messages -------------------------------------------------------------------------------------------

def test_messages_are_cut_between_words_and_key_lists_grouped():
    text = "the checkpoint could not be unpickled because its header is damaged " * 10
    short = messages.shorten(text, 100)
    assert len(short) <= 100 and short.endswith(" ...") and text.startswith(short[:-4])
    assert short[:-4].split()[-1] in text.split()
    log = "line one\nthe paddle2onnx converter failed at node Conv_7 with shape mismatch\n" * 20
    end = messages.tail(log, 80)
    assert len(end) <= 80 and end.startswith("... ") and log.endswith(end[4:]) and log[-len(end) + 3] in " \n"
    keys = [f"features.{i}.{leaf}" for i in range(40) for leaf in ("weight", "bias")] + ["fc.weight", "fc.bias"]
    assert messages.key_list(keys).splitlines() == [
        "grouped by prefix", "    features.* (80): features.0.weight, features.0.bias, features.1.weight and 77 more",
        "    fc.* (2): fc.weight, fc.bias"]
    deep = messages.key_list([f"features.{i}.{leaf}" for i in range(40) for leaf in ("weight", "bias")])
    assert deep.splitlines()[1:3] == ["    features.0.* (2): features.0.weight, features.0.bias",
                                      "    features.1.* (2): features.1.weight, features.1.bias"]
    assert deep.splitlines()[-1] == "    ... 32 more prefixes with 64 keys"
    assert messages.key_list(["a.b", "c"]) == "a.b, c"


def test_a_checkpoint_of_another_model_lists_grouped_keys(tmp_path, capsys):
    torch.save(torch_impl.build("squeezenet1_1").state_dict(), tmp_path / "in.pt")
    assert convert_main(["--model", "lenet_bn", "--input-size", "32", "--from", "torch", str(tmp_path / "in.pt"),
                         "--to", "paddle", str(tmp_path / "out.pdparams")]) == 2
    err = capsys.readouterr().err
    assert ("  unexpected keys (50): grouped by prefix\n    classifier.* (2): classifier.1.bias, classifier.1.weight\n"
            "    features.* (48): features.10.expand1x1.bias, features.10.expand1x1.weight, "
            "features.10.expand3x3.bias and 45 more\n") in err
    assert max(len(line) for line in err.splitlines()[1:]) < 120, err


# --- convert: outputs -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lenet5_pt(tmp_path_factory):
    path = tmp_path_factory.mktemp("convert") / "lenet5.pt"
    torch.save(torch_impl.build("lenet5").state_dict(), path)
    return path


def convert(src, dst, *extra):
    return convert_main(["--model", "lenet5", "--from", "torch", str(src), "--to", "paddle", str(dst), *extra])


@pytest.mark.parametrize("where", ["/proc", "/sys", "under a file", "a folder"])
def test_convert_to_an_unwritable_place_is_one_line(where, lenet5_pt, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    dst = {"under a file": tmp_path / "afile" / "out.pdparams", "a folder": tmp_path}.get(where,
                                                                                          f"{where}/out.pdparams")
    if where.startswith("/") and not os.path.isdir(where):
        pytest.skip(f"{where} is not mounted here")
    assert convert(lenet5_pt, dst) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {dst}: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_convert_removes_stale_temps_and_follows_the_umask(lenet5_pt, tmp_path, capsys):
    from test_files import dead_pid

    stale = tmp_path / f".out.pdparams.{dead_pid()}{files.TEMP_SUFFIX}"
    stale.write_bytes(b"half")
    old = os.umask(0o022)
    try:
        assert convert(lenet5_pt, tmp_path / "out.pdparams") == 0
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["out.pdparams"]
    assert (tmp_path / "out.pdparams").stat().st_mode & 0o777 == 0o644


# --- training scripts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_training_checks_out_before_any_work(fw, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    t0 = time.perf_counter()
    rc, out, err = cli(fw, capsys, "lenet5", "--out", str(tmp_path / "afile" / "run"))
    assert rc == 2 and out == "" and time.perf_counter() - t0 < 5
    assert err == f"error: cannot write {tmp_path}/afile/run: {tmp_path}/afile is a file, not a directory\n"


@pytest.mark.parametrize("fw", FRAMEWORKS)
def test_training_removes_stale_temps_at_start(fw, tmp_path, capsys):
    from test_files import dead_pid

    ckpt = f"checkpoint{training.CHECKPOINT_SUFFIX[fw]}"
    stale = tmp_path / f".{ckpt}.{dead_pid()}{files.TEMP_SUFFIX}"
    stale.write_bytes(b"half")
    rc, _, _ = cli(fw, capsys, "lenet5", "--limit", "64", "--epochs", "0", "--out", str(tmp_path))
    assert rc == 0 and [p.name for p in tmp_path.iterdir()] == [ckpt]


def test_both_scripts_merge_a_last_batch_of_one(tmp_path, capsys):
    """--limit 129 at batch 128 leaves a last batch of 1: both scripts merge it into the batch
    before, say so, and print the same lines (torch's BatchNorm refused the batch of 1 before)."""
    texts = {}
    for fw in FRAMEWORKS:
        rc, texts[fw], err = cli(fw, capsys, "lenet_bn", "--limit", "129", "--epochs", "1", "--out",
                                 str(tmp_path / fw))
        assert rc == 0, err
        assert len(rows(tmp_path / fw / "steps.csv")) == 1
    assert texts["torch"].splitlines()[1] == (
        "note: each epoch's last batch would hold 1 example, too few for train-mode BatchNorm (2 or more); "
        "it is merged into the batch before it (129 examples)")
    assert comparable(texts["torch"]).splitlines()[:2] == comparable(texts["paddle"]).splitlines()[:2]


def test_batch_rule_edges():
    assert [len(b) for b in training.usable_batches(9, 4, 0, 1, world=2)] == [4, 5]
    assert [len(b) for b in training.usable_batches(8, 4, 0, 1)] == [4, 4]
    assert training.batch_note(8, 4) is None and training.batch_note(3, 4) is None
    with pytest.raises(training.UsageError, match="1 training example cannot make a training batch: .* --limit 2"):
        training.usable_batches(1, 128, 0, 1)
    with pytest.raises(training.UsageError, match="--batch-size 3 over 2 processes .* --batch-size 4 or more"):
        training.usable_batches(100, 3, 0, 1, world=2)
    with pytest.raises(SystemExit):
        training.parse_args("torch", ["lenet5", "--batch-size", "1"])


def test_interrupt_says_what_was_saved(tmp_path, capsys):
    ckpt = tmp_path / "checkpoint.pt"

    def interrupted(save):
        def train(args):
            if save:
                ckpt.write_bytes(b"epoch 1")
            raise KeyboardInterrupt
        return train

    argv = ["lenet5", "--out", str(tmp_path)]
    assert training.run_cli("torch", argv, interrupted(False)) == 130
    assert capsys.readouterr().err == "interrupted before the first checkpoint: nothing was saved\n"
    assert training.run_cli("torch", argv, interrupted(True)) == 130
    assert capsys.readouterr().err == f"interrupted: {ckpt} holds the last finished epoch; continue with --resume\n"
    os.utime(ckpt, (time.time() - 60, time.time() - 60))
    assert training.run_cli("torch", argv + ["--resume"], interrupted(False)) == 130
    assert "is as it was when resumed; continue with --resume" in capsys.readouterr().err
    assert training.run_cli("torch", argv, interrupted(False)) == 130
    assert capsys.readouterr().err == ("interrupted before the first checkpoint: nothing was saved "
                                       f"({ckpt} is from an earlier run)\n")
