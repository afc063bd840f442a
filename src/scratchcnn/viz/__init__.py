"""scratchcnn.viz: make convolution visible.

* ``explain_conv`` / ``explain_pool``: step-by-step explanations of small convolutions and poolings (numbers
  from the engine, cross-checked against the textbook loops);
* pictures (PNG, matplotlib imported lazily, non-interactive): learned kernels, feature maps, classic filters on
  an image, Grad-CAM and saliency heat maps, training curves, confusion matrix, misclassified examples;
* ``build_report``: one self-contained HTML page for a training run.
"""
from .explain import ConvExplanation, PoolExplanation, explain_conv, explain_pool
from .inputs import load_kernel, load_matrix
from .kernels import KERNELS, get_kernel, kernel_names

__all__ = ["explain_conv", "explain_pool", "ConvExplanation", "PoolExplanation", "load_matrix", "load_kernel",
           "KERNELS", "get_kernel", "kernel_names"]
