"""Child process of :func:`scratchcnn.bench.measure.peak_memory_mb`: prints ``{"peak_mb": ...}`` (null when the
kernel does not let the process reset its resident-set high-water mark).

    python -m scratchcnn.bench._memory_child LIB MODEL PHASE BATCH THREADS [TORCH_ADAM]
"""
from __future__ import annotations

import json
import sys

from .measure import measure_here

if __name__ == "__main__":
    lib, model, phase, batch, threads = sys.argv[1:6]
    adam = sys.argv[6] if len(sys.argv) > 6 else "default"
    mb = measure_here(lib, model, phase, int(batch), int(threads), torch_adam=adam)
    print(json.dumps({"peak_mb": None if mb is None else round(mb, 1)}))
