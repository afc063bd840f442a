"""``scratchcnn report RUN_DIR``: one self-contained HTML page about a training run (thin over
``scratchcnn.viz.build_report``)."""
from __future__ import annotations

import click

from ._common import emit_json, stdout_to_stderr


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="Output HTML file (default RUN_DIR/report.html).")
@click.option("--mistakes/--no-mistakes", default=True, show_default=True,
              help="Include misclassified test images (needs the dataset).")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False),   # a typo is an error, not a skipped section
              help="Folder with the dataset files.")
@click.option("--limit", type=click.IntRange(min=1),
              help="Look for mistakes in the first N test images only (default: the run's --limit-test).")
@click.option("--json", "as_json", is_flag=True, help='Print one JSON object {"out", "bytes", "images", ...}.')
def report(run_dir, out, mistakes, data_dir, limit, as_json):
    """Write an HTML report (configuration, metrics, curves, confusion matrix, kernels, mistakes)."""
    from ..viz import build_report
    with stdout_to_stderr(as_json):
        res = build_report(run_dir, out, mistakes=mistakes, data_dir=data_dir, mistakes_limit=limit)
    if as_json:
        emit_json(res)
        return
    click.echo(f"wrote {res['out']} ({res['bytes'] / 1024:.0f} KiB, {res['images']} pictures)")
    if res["missing"]:
        click.echo(f"not available: {', '.join(res['missing'])} (see the page)")
