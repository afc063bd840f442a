"""Training: the Trainer loop, metrics, callbacks, and the end-to-end runs behind the CLI.

Heavy libraries (tqdm, tensorboardX, matplotlib, safetensors) are imported only when used.
"""
from .callbacks import (BestCheckpoint, Callback, CallbackList, CurvePlotter, EarlyStopping, HistoryWriter,
                        ProgressBar, TensorBoardLogger, plot_confusion_matrix, plot_history)
from .config import TrainConfig, build_augmentation, build_optimizer, build_scheduler
from .evaluate import evaluate_checkpoint
from .metrics import accuracy, classification_report, confusion_matrix, precision_recall_f1, summarize
from .predict import predict_arrays, predict_images
from .run import train
from .trainer import Trainer, TrainingDivergedError, TrainingStateError, evaluate_model

__all__ = ["Trainer", "TrainingDivergedError", "TrainingStateError", "evaluate_model", "TrainConfig", "train",
           "evaluate_checkpoint", "predict_images", "predict_arrays", "build_optimizer", "build_scheduler",
           "build_augmentation", "accuracy", "confusion_matrix", "precision_recall_f1", "classification_report",
           "summarize", "Callback", "CallbackList", "BestCheckpoint", "EarlyStopping", "HistoryWriter",
           "ProgressBar", "TensorBoardLogger", "CurvePlotter", "plot_history", "plot_confusion_matrix"]
