"""scratchcnn.text: text classification data — corpora (folders of ``<label>.txt``, CSV/TSV/JSONL), the fixed
split rule, tokenizers (char, word, jieba), vocabularies, pretrained vectors, padded batches — and the training,
evaluation and prediction runs behind ``scratchcnn train-text`` / ``predict-text``.

Importing it needs only NumPy (jieba is imported when its tokenizer is built).
"""
from .callbacks import ConstraintCallback, WeightEMA
from .config import TEXT_MODELS, TextTrainConfig
from .corpus import RawCorpus, TextCorpusError, load_corpus, load_folder, load_table, read_lines
from .loader import TextLoader, encode_texts, pad_batch
from .run import (evaluate_text_checkpoint, is_text_checkpoint, load_text_model, predict_texts, prepare_splits,
                  train_text)
from .splits import CorpusSplits, TextSplit, split_corpus
from .tokenize import (CharTokenizer, JiebaTokenizer, Tokenizer, WordTokenizer, cjk_fraction, detect_tokenizer,
                       get_tokenizer)
from .vectors import load_vectors, save_vectors
from .vocab import PAD, PAD_ID, UNK, UNK_ID, Vocab

__all__ = ["TextTrainConfig", "TEXT_MODELS", "RawCorpus", "TextCorpusError", "load_corpus", "load_folder",
           "load_table", "read_lines", "TextLoader", "encode_texts", "pad_batch", "train_text", "prepare_splits",
           "evaluate_text_checkpoint", "predict_texts", "load_text_model", "is_text_checkpoint", "CorpusSplits",
           "TextSplit", "split_corpus", "Tokenizer", "CharTokenizer", "WordTokenizer", "JiebaTokenizer",
           "get_tokenizer", "detect_tokenizer", "cjk_fraction", "load_vectors", "save_vectors", "Vocab", "PAD",
           "UNK", "PAD_ID", "UNK_ID", "ConstraintCallback", "WeightEMA"]
