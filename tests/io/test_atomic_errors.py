"""An output path under a FILE: one line naming the file that stands where a folder must be made (it used to be
``[Errno 17] cannot write X/k.png: File exists (in X)``), and nothing written."""
from __future__ import annotations

import pytest

from scratchcnn.io.atomic import atomic_directory, atomic_write_bytes, atomic_write_text


@pytest.mark.parametrize("sub", ["k.png", "deeper/k.png"])
def test_file_where_a_folder_is_needed(tmp_path, sub):
    blocker = tmp_path / "X"
    blocker.write_text("x")
    target = blocker / sub
    with pytest.raises(OSError) as e:
        atomic_write_bytes(target, b"data")
    assert str(e.value) == f"cannot create folder {blocker}: a file of that name exists (to write {target})"
    assert e.value.errno is not None and "Errno" not in str(e.value)
    with pytest.raises(OSError, match=f"cannot create folder {blocker}: a file of that name exists"):
        with atomic_directory(blocker / "run"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["X"] and blocker.read_text() == "x"


def test_dangling_link_where_a_folder_is_needed(tmp_path):
    link = tmp_path / "L"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(OSError, match=f"cannot create folder {link}: a link of that name leads to no folder"):
        atomic_write_text(link / "a.txt", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["L"]

