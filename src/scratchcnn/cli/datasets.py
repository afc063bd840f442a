"""``scratchcnn datasets list | path NAME | verify NAME | download NAME``."""
from __future__ import annotations

import click

from ._common import emit_json, stdout_to_stderr


@click.group()
def datasets():
    """Find and fetch the registered datasets."""


@datasets.command("list")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Also look in this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {\"datasets\": [...]}.")
def list_cmd(data_dir, as_json):
    """Registered datasets and where (if anywhere) they are on disk."""
    from ..data import list_datasets
    rows = list_datasets(data_dir)
    if as_json:
        emit_json({"datasets": rows})
        return
    for r in rows:
        where = r["path"] if r["found"] else "not found (downloadable: scratchcnn datasets download " + r["name"] + ")"
        click.echo(f"{r['name']:<14} {r['title']:<45} {where}")


@datasets.command("path")
@click.argument("name")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Also look in this folder.")
@click.option("--json", "as_json", is_flag=True)
def path_cmd(name, data_dir, as_json):
    """The folder holding NAME's files (never downloads)."""
    from ..data import locate
    path = locate(name, data_dir, download=False)
    if as_json:
        emit_json({"name": name, "path": str(path)})
    else:
        click.echo(str(path))


@datasets.command("download")
@click.argument("name")
@click.option("--root", type=click.Path(file_okay=False), help="Download into ROOT/NAME/ (default: user cache).")
@click.option("--json", "as_json", is_flag=True)
def download_cmd(name, root, as_json):
    """Download NAME from its official source (checksums verified)."""
    from ..data import download
    with stdout_to_stderr(as_json):
        path = download(name, root)
    if as_json:
        emit_json({"name": name, "path": str(path)})
    else:
        click.echo(str(path))


@datasets.command("verify")
@click.argument("name")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Also look in this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object {name, path, ok, files}.")
def verify_cmd(name, data_dir, as_json):
    """Check NAME's files on disk against the registry's checksums (never downloads).

    Exits with code 2 when a file is missing or does not match.
    """
    from ..data import locate, verify
    from ..data.sources import resolve_file
    path = locate(name, data_dir, download=False)
    report = verify(name, path)
    ok = all(v in ("ok", "unverified") for v in report.values())
    stored = {k: resolve_file(path, k) for k in report}   # a file may be stored without .gz: name that one
    if as_json:
        emit_json({"name": name, "path": str(path), "ok": ok, "files": report,
                   "stored_as": {k: p.name if p is not None else None for k, p in stored.items()}})
    else:
        for file_name, status in report.items():
            click.echo(f"{_shown(file_name, stored[file_name]):<28} {status}")
    if not ok:
        k, v = next((k, v) for k, v in report.items() if v not in ("ok", "unverified"))
        what, _, fix = v.partition("; ")   # mismatch/misnamed statuses end with their fix
        raise click.ClickException(f"dataset {name} in {path} failed verification ({_shown(k, stored[k])}: {what}); "
                                   f"{fix or 'delete the file and download it again'}")


def _shown(file_name: str, stored) -> str:
    """The name to print for a registry file: the one it is stored under (perhaps without .gz), if present."""
    return stored.name if stored is not None else file_name
