"""``scratchcnn visualize <what>``: PNG pictures of a model, an image filter or a training run (thin over
``scratchcnn.viz``). Every verb takes ``--out FILE.png`` and ``--json`` (one object: ``out``, ``width``,
``height`` and what the picture found)."""
from __future__ import annotations

import click

from ._common import emit_json, stdout_to_stderr

_CKPT = click.Path(exists=True)   # a file: a .pt is refused with how to convert it
_IMAGE = click.Path(dir_okay=False)


def _out_option(default: str):
    return click.option("--out", type=click.Path(dir_okay=False), default=default, show_default=True,
                        help="Output PNG file.")


_json_option = click.option("--json", "as_json", is_flag=True,
                            help='Print one JSON object {"out", "width", "height", ...}.')


def _finish(pic, as_json: bool, what: str) -> None:
    if as_json:
        emit_json(pic.to_dict())
        return
    click.echo(f"wrote {what} to {pic.path} ({pic.width}x{pic.height})")


@click.group()
def visualize():
    """Draw kernels, feature maps, filters, Grad-CAM/saliency heat maps, curves, confusion matrices, mistakes."""


@visualize.command("kernels")
@click.argument("checkpoint", type=_CKPT)
@click.option("--layer", help="A conv layer's name (default: the first conv layer).")
@_out_option("kernels.png")
@_json_option
def kernels(checkpoint, layer, out, as_json):
    """The first conv layer's learned kernels as a grid."""
    from ..viz import plot_kernels
    with stdout_to_stderr(as_json):
        pic = plot_kernels(checkpoint, out, layer=layer)
    _finish(pic, as_json, f"{pic.info['kernels']} kernels of layer {pic.info['layer']}")


@visualize.command("feature-maps")
@click.argument("checkpoint", type=_CKPT)
@click.option("--image", required=True, type=_IMAGE, help="Picture file (converted like `scratchcnn predict`).")
@click.option("--max-maps", type=click.IntRange(min=1), default=16, show_default=True, help="Maps shown per layer.")
@_out_option("feature_maps.png")
@_json_option
def feature_maps(checkpoint, image, max_maps, out, as_json):
    """Each conv layer's activations for one input image."""
    from ..viz import plot_feature_maps
    with stdout_to_stderr(as_json):
        pic = plot_feature_maps(checkpoint, image, out, max_maps=max_maps)
    _finish(pic, as_json, f"feature maps of {len(pic.info['layers'])} conv layer(s)")


@visualize.command("filter")
@click.option("--image", required=True, type=_IMAGE, help="Picture file (used in grayscale).")
@click.option("--kernel", default="edge", show_default=True, metavar="NAME|FILE|JSON",
              help="identity, edge, sobel-x, sobel-y, laplacian, box-blur, gaussian, sharpen, or a matrix.")
@click.option("--mode", type=click.Choice(["correlation", "convolution"]), default="correlation", show_default=True)
@_out_option("filter.png")
@_json_option
def filter_(image, kernel, mode, out, as_json):
    """An image beside the output of a classic kernel (computed with the engine's conv2d)."""
    from ..viz import plot_filter
    with stdout_to_stderr(as_json):
        pic = plot_filter(image, kernel, out, mode=mode)
    _finish(pic, as_json, f"the {pic.info['kernel']} filter")


@visualize.command("gradcam")
@click.argument("checkpoint", type=_CKPT)
@click.option("--image", required=True, type=_IMAGE, help="Picture file (converted like `scratchcnn predict`).")
@click.option("--class", "target", help="Class name or index to explain (default: the predicted class).")
@click.option("--layer", help="Layer name (default: the last conv layer's activation).")
@_out_option("gradcam.png")
@_json_option
def gradcam(checkpoint, image, target, layer, out, as_json):
    """A Grad-CAM heat map over the input for one class."""
    from ..viz import plot_gradcam
    with stdout_to_stderr(as_json):
        pic = plot_gradcam(checkpoint, image, out, target=target, layer=layer)
    _finish(pic, as_json, f"Grad-CAM for class {pic.info['class']} (predicted {pic.info['predicted']})")


@visualize.command("saliency")
@click.argument("checkpoint", type=_CKPT)
@click.option("--image", required=True, type=_IMAGE, help="Picture file (converted like `scratchcnn predict`).")
@click.option("--class", "target", help="Class name or index to explain (default: the predicted class).")
@_out_option("saliency.png")
@_json_option
def saliency(checkpoint, image, target, out, as_json):
    """A saliency map (input gradients of the class score)."""
    from ..viz import plot_saliency
    with stdout_to_stderr(as_json):
        pic = plot_saliency(checkpoint, image, out, target=target)
    _finish(pic, as_json, f"saliency for class {pic.info['class']} (predicted {pic.info['predicted']})")


@visualize.command("curves")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@_out_option("curves.png")
@_json_option
def curves(run_dir, out, as_json):
    """Training curves (loss, accuracy, learning rate) of a run folder."""
    from ..viz import plot_curves
    with stdout_to_stderr(as_json):
        pic = plot_curves(run_dir, out)
    _finish(pic, as_json, f"curves of {pic.info['epochs']} epoch(s)")


@visualize.command("confusion")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@_out_option("confusion.png")
@_json_option
def confusion(run_dir, out, as_json):
    """The test confusion matrix of a run folder."""
    from ..viz import plot_confusion
    with stdout_to_stderr(as_json):
        pic = plot_confusion(run_dir, out)
    _finish(pic, as_json, f"the confusion matrix ({pic.info['samples']} test images)")


@visualize.command("mistakes")
@click.argument("checkpoint", type=_CKPT)
@click.option("--dataset", help="Dataset name (default: the one the checkpoint was trained on).")
@click.option("--split", type=click.Choice(["test", "train"]), default="test", show_default=True)
@click.option("--data-dir", type=click.Path(file_okay=False), help="Folder with the dataset files.")
@click.option("--limit", type=click.IntRange(min=1), help="Examine only the first N images.")
@click.option("--max-images", type=click.IntRange(min=1), default=32, show_default=True)
@_out_option("mistakes.png")
@_json_option
def mistakes(checkpoint, dataset, split, data_dir, limit, max_images, out, as_json):
    """A gallery of misclassified images with true and predicted labels (most confident mistakes first)."""
    from ..viz import plot_mistakes
    with stdout_to_stderr(as_json):
        pic = plot_mistakes(checkpoint, dataset, out, split=split, data_dir=data_dir, limit=limit,
                            max_images=max_images)
    _finish(pic, as_json, f"{pic.info['shown']} of {pic.info['misclassified']} misclassified images")
