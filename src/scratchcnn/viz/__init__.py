"""scratchcnn.viz: make convolution visible.

* ``explain_conv`` / ``explain_pool`` / ``explain_conv_transpose`` / ``explain_batchnorm``: step-by-step
  explanations of small convolutions, poolings, transposed convolutions and batch norms (numbers from the
  engine, cross-checked against the textbook loops in ``functional/reference.py`` or the formulas shown);
  ``explain_receptive_field``: a model's receptive field, jump and start after every conv and pooling layer;
* pictures (PNG via matplotlib's Agg canvas, imported lazily): ``plot_kernels``, ``plot_feature_maps``,
  ``plot_filter``, ``plot_gradcam``, ``plot_saliency`` (from a checkpoint and an image), ``plot_curves``,
  ``plot_confusion`` (from a run folder), ``plot_mistakes`` (a checkpoint on a dataset);
* the numbers behind them: ``feature_maps``, ``grad_cam``, ``saliency``, ``apply_filter``, ``find_mistakes``;
* ``build_report``: one self-contained HTML page for a training run.

``import scratchcnn.viz`` loads only NumPy; matplotlib and Pillow load when a picture is made or read.
"""
from .attribution import GradCam, Saliency, feature_maps, grad_cam, resize_bilinear, saliency
from .explain import ConvExplanation, PoolExplanation, explain_conv, explain_pool
from .explain_norm import BatchNormExplanation, explain_batchnorm
from .explain_receptive import ReceptiveFieldExplanation, explain_receptive_field
from .explain_transpose import ConvTransposeExplanation, explain_conv_transpose
from .figure import Picture
from .inputs import load_kernel, load_matrix
from .kernels import KERNELS, get_kernel, kernel_names
from .modelio import model_input
from .plots import apply_filter, plot_feature_maps, plot_filter, plot_gradcam, plot_kernels, plot_saliency
from .report import build_report
from .runs import find_mistakes, plot_confusion, plot_curves, plot_mistakes, read_run

__all__ = ["explain_conv", "explain_pool", "ConvExplanation", "PoolExplanation", "explain_conv_transpose",
           "explain_batchnorm", "ConvTransposeExplanation", "BatchNormExplanation", "explain_receptive_field",
           "ReceptiveFieldExplanation", "load_matrix", "load_kernel",
           "KERNELS", "get_kernel", "kernel_names", "Picture", "plot_kernels", "plot_feature_maps", "plot_filter",
           "plot_gradcam", "plot_saliency", "plot_curves", "plot_confusion", "plot_mistakes", "build_report",
           "feature_maps", "grad_cam", "saliency", "resize_bilinear", "GradCam", "Saliency", "apply_filter",
           "find_mistakes", "read_run", "model_input"]
