"""A model whose outputs overflow float32 (finite weights, NaN/inf logits) is refused by the explanations with
predict's one line; it used to draw "predicted 0 (p=nan)" / "all zero: no positive evidence here" (exit 0) after
a dozen NumPy RuntimeWarnings."""
from __future__ import annotations

import numpy as np
import pytest

from cli.helpers import assert_one_line_error, run
from scratchcnn.viz import feature_maps, grad_cam, model_input, plot_mistakes, saliency

from .helpers import build_model, save_model

NONFINITE = "the model's outputs are NaN or infinite for 1 of 1 images"


@pytest.fixture(scope="module")
def overflowing(tmp_path_factory):
    """seed000 with fully connected weights of 3e38: every output overflows to inf/NaN."""
    model = build_model("seed000")
    model.fc1.weight.data[...] = 3e38
    model.fc2.weight.data[...] = 3e38
    return model, save_model(tmp_path_factory.mktemp("huge") / "huge", model)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("what,explain", [("Grad-CAM", grad_cam), ("saliency", saliency),
                                          ("feature maps", feature_maps)])
def test_library_refuses_nonfinite_outputs(overflowing, digit, what, explain):
    model, ckpt = overflowing
    x = model_input(digit, model, {"normalization": {"mean": [0.1307], "std": [0.3081]},
                                   "input_shape": [1, 28, 28]}).x
    with pytest.raises(ValueError) as e:
        explain(model, x)
    assert str(e.value).startswith(f"{what}: {NONFINITE}") and "\n" not in str(e.value)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("verb,what", [("gradcam", "Grad-CAM"), ("saliency", "saliency"),
                                       ("feature-maps", "feature maps")])
def test_cli_refuses_nonfinite_outputs_in_one_line(overflowing, digit, tmp_path, capsys, verb, what):
    out = tmp_path / "pic.png"
    rc, stdout, err = run(capsys, "visualize", verb, overflowing[1], "--image", digit, "--out", out, "--json")
    assert_one_line_error(rc, stdout, err, f"{what}: {NONFINITE}", "retrain it")
    assert "RuntimeWarning" not in err and not out.exists()


def test_finite_model_still_explained(ckpt, digit, tmp_path, capsys):
    rc, stdout, err = run(capsys, "visualize", "gradcam", ckpt, "--image", digit, "--out", tmp_path / "g.png")
    assert rc == 0 and err == ""


@pytest.mark.filterwarnings("error")
def test_mistakes_refuses_without_warnings(overflowing, tmp_path):
    from scratchcnn.data import ArrayDataset
    imgs = np.random.default_rng(0).integers(0, 256, size=(6, 28, 28)).astype(np.uint8)
    ds = ArrayDataset(imgs, np.arange(6) % 10, tuple(str(i) for i in range(10)), mean=0.1307, std=0.3081,
                      name="noise", split="test")
    with pytest.raises(ValueError, match="the model's outputs are NaN or infinite for 6 of 6 images"):
        plot_mistakes(overflowing[0], ds, tmp_path / "m.png")
    assert not (tmp_path / "m.png").exists()
