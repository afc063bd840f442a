"""Every picture is written, has the documented size and is not blank; the HTML report is self-contained."""
from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest

from scratchcnn.data import ArrayDataset
from scratchcnn.viz import (build_report, find_mistakes, plot_confusion, plot_curves, plot_feature_maps,
                            plot_filter, plot_gradcam, plot_kernels, plot_mistakes, plot_saliency, read_run)
from scratchcnn.viz.kernels import kernel_names

from .helpers import build_model, check_png


def test_kernels(ckpt, tmp_path):
    pic = plot_kernels(ckpt, tmp_path / "k.png")
    assert pic.info["layer"] == "conv1" and pic.info["kernels"] == 16
    check_png(pic.path, (120 * 8 + 140, 120 * 2 + 70))
    pic2 = plot_kernels(ckpt, tmp_path / "k2.png", layer="conv2")          # 32 kernels, mean over 16 inputs
    assert pic2.info["in_channels"] == 16
    check_png(pic2.path, (120 * 8 + 140, 120 * 4 + 70))


def test_feature_maps(ckpt, digit, tmp_path):
    pic = plot_feature_maps(ckpt, digit, tmp_path / "fm.png", max_maps=8)
    layers = pic.info["layers"]
    assert [lay["layer"] for lay in layers] == ["conv1 -> relu1", "conv2 -> relu2"]
    assert [lay["shown"] for lay in layers] == [8, 8] and layers[0]["std"] > 0 and layers[1]["std"] > 0
    # height: input block 2.0 in + one row of maps (1.15 in + 0.45 in) per layer, at 100 dpi
    check_png(pic.path, (950, round(100 * (2.0 + 2 * 1.6))))


@pytest.mark.parametrize("name", kernel_names())
def test_filter_every_named_kernel(scene, tmp_path, name):
    pic = plot_filter(scene, name, tmp_path / f"{name}.png")
    assert pic.info["kernel"] == name and pic.info["image_size"] == [80, 80]
    assert pic.info["output_max"] > pic.info["output_min"]
    check_png(pic.path, (1200, 420))


def test_filter_resizes_big_images_and_takes_matrices(tmp_path):
    from PIL import Image
    big = (np.indices((300, 700)).sum(axis=0) % 255).astype(np.uint8)
    Image.fromarray(big).save(tmp_path / "big.png")
    pic = plot_filter(tmp_path / "big.png", "[[0, -1], [1, 0]]", tmp_path / "f.png", mode="convolution",
                      max_side=200)
    assert pic.info["image_size"] == [200, 86] and pic.info["kernel"] == "custom"
    check_png(pic.path, (1200, 420))


@pytest.mark.parametrize("plot, kind", [(plot_gradcam, "gradcam"), (plot_saliency, "saliency")])
def test_attribution_pictures(ckpt, digit, tmp_path, plot, kind):
    pic = plot(ckpt, digit, tmp_path / f"{kind}.png")
    assert pic.info["class"] == pic.info["predicted"]
    check_png(pic.path, (1000, 360))
    pic = plot(ckpt, digit, tmp_path / f"{kind}3.png", target="3")
    assert pic.info["class"] == "3" and pic.info["class_index"] == 3
    check_png(pic.path, (1000, 360))
    with pytest.raises(ValueError, match="unknown class"):
        plot(ckpt, digit, tmp_path / "x.png", target="seven")


def test_gradcam_takes_a_model_and_an_array(tmp_path):
    model = build_model("lenet5", 1)
    img = np.zeros((28, 28))
    img[6:22, 12:16] = 1.0
    pic = plot_gradcam(model, img, tmp_path / "g.png", layer="conv2")
    assert pic.info["layer"] == "conv2"
    check_png(pic.path, (1000, 360))


def test_run_pictures(run_dir, tmp_path):
    run = read_run(run_dir)
    assert len(run.history) == 3 and run.meta["epoch"] == 3 and run.config["model"] == "seed000"
    pic = plot_curves(run_dir, tmp_path / "c.png")
    assert pic.info == {"epochs": 3, "panels": ["loss", "accuracy", "lr"]}
    check_png(pic.path, (1200, 380))
    pic = plot_confusion(run_dir, tmp_path / "cm.png")
    assert pic.info["classes"] == 10
    check_png(pic.path, (810, 710))


def _dataset(model, n=40, agree=False, seed=0):
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, size=n)
    ds = ArrayDataset(imgs, labels, tuple(str(i) for i in range(10)), mean=0.1307, std=0.3081, name="noise",
                      split="test")
    if agree:    # relabel with the model's own predictions: no mistakes
        m = find_mistakes(model, {}, ds)
        labels = labels.copy()
        labels[m["indices"]] = m["pred"]
        ds = ArrayDataset(imgs, labels, ds.classes, mean=0.1307, std=0.3081, name="noise", split="test")
    return ds


def test_mistakes_gallery(tmp_path):
    model = build_model("seed000", 0)
    ds = _dataset(model)
    m = find_mistakes(model, {}, ds)
    assert m["total"] == 40 and len(m["indices"]) == int(40 - round(m["accuracy"] * 40))
    assert np.all(m["pred"] != ds.labels[m["indices"]]) and np.all(np.diff(m["probability"]) <= 0)
    k = min(len(m["indices"]), 12)
    pic = plot_mistakes(model, ds, tmp_path / "m.png", max_images=12)
    assert pic.info["shown"] == k and len(pic.info["examples"]) == k
    rows = -(-k // 8)
    check_png(pic.path, (130 * min(8, k) + 40, 150 * rows + 60))
    none = plot_mistakes(model, _dataset(model, agree=True), tmp_path / "none.png")
    assert none.info["misclassified"] == 0
    check_png(none.path, (800, 160))


def test_mistakes_on_real_data(ckpt, data_dir, tmp_path):
    pic = plot_mistakes(ckpt, "mnist", tmp_path / "m.png", data_dir=data_dir, limit=100, max_images=16)
    assert pic.info["examined"] == 100 and pic.info["misclassified"] > 0     # an untrained model errs
    check_png(pic.path)


def test_no_conv_checkpoint(noconv_ckpt, digit, tmp_path):
    for fn, args in ((plot_kernels, ()), (plot_feature_maps, (digit,)), (plot_gradcam, (digit,))):
        with pytest.raises(ValueError, match="no Conv2d layers"):
            fn(noconv_ckpt, *args, out=tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_bad_outputs_and_inputs(ckpt, run_dir, tmp_path):
    with pytest.raises(ValueError, match="PNG"):
        plot_kernels(ckpt, tmp_path / "k.jpg")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match="broken.png"):
        plot_gradcam(ckpt, tmp_path / "broken.png", tmp_path / "g.png")
    with pytest.raises(ValueError, match="does not look like a training run"):
        plot_curves(tmp_path, tmp_path / "c.png")
    with pytest.raises(ValueError, match="no layer"):
        plot_kernels(ckpt, tmp_path / "k.png", layer="conv9")


def _embedded_pngs(page: str) -> list[np.ndarray]:
    from PIL import Image
    out = []
    for b64 in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=np.float64))
    return out


def test_report_is_self_contained(run_dir, tmp_path, monkeypatch):
    import scratchcnn.data as data

    def no_data(name, *a, **kw):
        raise data.DatasetNotFoundError(f"dataset {name!r} not found (test)")
    monkeypatch.setattr(data, "load_dataset", no_data)                       # the mistakes section must say so
    res = build_report(run_dir, tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert res["images"] == 3 and res["missing"] == ["Misclassified test images"]
    assert res["sections"] == ["Summary", "Configuration", "Training curves", "Confusion matrix (test)",
                               "First-layer kernels", "Misclassified test images"]
    imgs = _embedded_pngs(page)
    assert len(imgs) == 3 and all(a.var() > 0 for a in imgs)
    assert not re.search(r'(src|href)="(?!data:)', page)                       # nothing fetched from outside
    assert "not available: dataset &#x27;mnist&#x27; not found (test)" in page and "seed000" in page and json.dumps(0.001) in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_report_with_mistakes(run_dir, data_dir, tmp_path):
    res = build_report(run_dir, tmp_path / "r.html", data_dir=data_dir, mistakes_limit=50)
    assert res["images"] == 4 and res["missing"] == []
    assert len(_embedded_pngs((tmp_path / "r.html").read_text())) == 4


def test_report_says_what_the_best_epoch_was_chosen_on(run_dir, tmp_path):
    import shutil
    build_report(run_dir, tmp_path / "v.html")
    assert "best epoch (on validation)" in (tmp_path / "v.html").read_text(encoding="utf-8")
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    meta = json.loads((copy / "best" / "meta.json").read_text())
    meta["selected_on"] = "accuracy"                     # a run without a validation split
    (copy / "best" / "meta.json").write_text(json.dumps(meta))
    build_report(copy, tmp_path / "t.html")
    page = (tmp_path / "t.html").read_text(encoding="utf-8")
    assert "best epoch (on training accuracy: no validation split)" in page and "(on validation)" not in page


@pytest.mark.parametrize("config_as_repr", [False, True])
def test_report_of_a_finetune_run(tmp_path, config_as_repr):
    """A `scratchcnn finetune --out` folder (result.json, history.json, merged/): the page shows its test accuracy,
    settings, curves and the fine-tuned model's kernels, and says why there is no confusion matrix."""
    from .helpers import make_finetune_dir
    run = make_finetune_dir(tmp_path / "ft", config_as_repr)
    res = build_report(run, tmp_path / "r.html", mistakes=False)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert res["images"] == 2 and res["missing"] == ["Confusion matrix (test)"]
    assert "<p class=big>test accuracy 0.6125</p>" in page
    assert "<th class=k>test images</th><td class=k>200</td>" in page
    assert "seed000 on mnist" in page and "result.json records the test accuracy" in page
    assert "<th class=k>strategy</th><td class=k>&quot;lora&quot;</td>" in page
    assert "<th class=k>lr</th><td class=k>0.003</td>" in page            # what ran, not the None default
    assert "<th class=k>classes</th><td class=k>&quot;5-9&quot;</td>" in page
    assert "no checkpoint" not in page and len(_embedded_pngs(page)) == 2


def test_report_of_a_finetune_run_with_mistakes(tmp_path, data_dir):
    from .helpers import make_finetune_dir
    run = make_finetune_dir(tmp_path / "ft")
    res = build_report(run, tmp_path / "r.html", data_dir=data_dir, mistakes_limit=60)
    assert res["missing"] == ["Confusion matrix (test)"] and res["images"] == 3


def test_report_escapes_class_names_and_paths(tmp_path):
    from .helpers import make_run_dir
    run = make_run_dir(tmp_path / "<i>run&")
    evil = [f"<script>alert({i})</script>" for i in range(10)]
    meta = json.loads((run / "best" / "meta.json").read_text())
    meta["class_names"] = evil
    meta["train_config"]["note"] = '"><img src=x onerror=alert(1)>'
    (run / "best" / "meta.json").write_text(json.dumps(meta))
    build_report(run, tmp_path / "r.html", mistakes=False)
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<i>run" not in page and "onerror=alert(1)>" not in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page and "&lt;i&gt;run&amp;" in page


def test_text_checkpoint_is_refused_with_what_it_is(tmp_path, digit):
    from scratchcnn.viz import find_mistakes
    from scratchcnn.viz.modelio import resolve_model
    from .helpers import make_text_checkpoint
    ck = make_text_checkpoint(tmp_path / "text")
    for fn, args in ((plot_kernels, ()), (plot_feature_maps, (digit,)), (plot_gradcam, (digit,)),
                     (plot_saliency, (digit,))):
        with pytest.raises(ValueError, match=r"no Conv2d layers: it is a text model \(Conv1d .*predict-text"):
            fn(ck, *args, out=tmp_path / "x.png")
    model, meta, _ = resolve_model(ck)
    with pytest.raises(ValueError, match="textcnn is a text classifier"):
        find_mistakes(model, meta)
    assert not (tmp_path / "x.png").exists()


def test_class_given_as_a_number_is_a_class_name_when_names_are_numbers():
    from scratchcnn.viz.modelio import parse_class
    digits = [str(i) for i in range(10)]
    assert parse_class("3", digits) == 3 and parse_class(3, digits) == 3
    subset = ["5", "6", "7", "8", "9"]                # fine-tuned on digits 5-9
    assert parse_class("7", subset) == 2 and parse_class(2, subset) == 2
    with pytest.raises(ValueError, match=r"class '3' is not one of this model's classes \(5, 6, 7, 8, 9\)"):
        parse_class("3", subset)
    assert parse_class("1", ["cat", "dog"]) == 1 and parse_class("Dog", ["cat", "dog"]) == 1
