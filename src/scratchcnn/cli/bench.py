"""``scratchcnn bench``: training and inference throughput of scratchcnn vs PyTorch, same process and threads."""
from __future__ import annotations

import click

from ._common import FiniteFloatRange, emit_json, stdout_to_stderr


@click.command()
@click.option("--models", default="seed000,seed001,lenet5,textcnn", show_default=True,
              help="Comma-separated models: seed000, seed001, lenet5, textcnn.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for both libraries (default: the CPUs this process may use).")
@click.option("--seconds", type=FiniteFloatRange(min=0.05), default=1.0, show_default=True,
              help="Length of one timed block; the best of --rounds alternating blocks counts.")
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Pairs of blocks (scratchcnn, PyTorch) timed back to back; their ratios' median and range "
                   "are reported too.")
@click.option("--no-memory", is_flag=True, help="Skip the peak-memory measurement (child processes).")
@click.option("--no-torch", is_flag=True, help="Measure scratchcnn only, even when PyTorch is installed.")
@click.option("--torch-adam", type=click.Choice(["default", "fused"]), default="default", show_default=True,
              help="PyTorch's Adam: 'default' is what torch.optim.Adam picks on the CPU (its single-tensor loop); "
                   "'fused' passes fused=True (the same update, one kernel per parameter, faster).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: {\"rows\": [...], ...}.")
def bench(models, batch_size, threads, seconds, rounds, no_memory, no_torch, torch_adam, as_json):
    """Benchmark the seeds' networks (and TextCNN) against PyTorch: images or sentences per second, their
    ratio (scratchcnn / PyTorch), peak memory, achieved GFLOP/s and this machine's SGEMM peak. Compare ratios,
    not raw speeds: they are taken in one run, on an otherwise idle machine (a warning says when it is not).
    Unset OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE in the shell first if they are set (a warning says so too)."""
    from ..bench import format_table, run_bench
    names = [m.strip() for m in models.split(",") if m.strip()]
    with stdout_to_stderr(as_json):
        result = run_bench(names, batch_size=batch_size, threads=threads, seconds=seconds, rounds=rounds,
                           memory=not no_memory, with_torch=not no_torch, torch_adam=torch_adam,
                           log=lambda s: click.echo(s, err=True))
    if as_json:
        emit_json(result)
    else:
        click.echo(format_table(result["rows"]))
