"""Trainer callbacks, one small file each; heavy libraries (tqdm, tensorboardX, matplotlib) load on use."""
from .base import Callback, CallbackList
from .checkpoint import BestCheckpoint
from .early_stopping import EarlyStopping, StopAtEpoch
from .history import HistoryWriter, history_to_csv
from .plots import CurvePlotter, plot_confusion_matrix, plot_history
from .progress import ProgressBar
from .tensorboard import TensorBoardLogger

__all__ = ["Callback", "CallbackList", "BestCheckpoint", "EarlyStopping", "StopAtEpoch", "HistoryWriter",
           "history_to_csv", "CurvePlotter", "plot_confusion_matrix", "plot_history", "ProgressBar",
           "TensorBoardLogger"]
