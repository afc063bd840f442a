"""Child process of :func:`scratchcnn.bench.measure.peak_memory_mb`: prints ``{"peak_mb": ...}``.

    python -m scratchcnn.bench._memory_child LIB MODEL PHASE BATCH THREADS
"""
from __future__ import annotations

import json
import sys

from .measure import measure_here

if __name__ == "__main__":
    lib, model, phase, batch, threads = sys.argv[1:6]
    print(json.dumps({"peak_mb": round(measure_here(lib, model, phase, int(batch), int(threads)), 1)}))
