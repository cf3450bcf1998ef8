"""The dbt project's files: old invocation folders are pruned, the current one never is."""

from __future__ import annotations

import os

from dagster_project.dbt_project import prune_invocation_folders


def test_only_the_newest_invocation_folders_are_kept(tmp_path):
    folders = []
    for n in range(25):
        folder = tmp_path / f"coachwh_dbt_models-run{n:02d}-abc{n}"
        folder.mkdir()
        (folder / "dbt.log").write_text("log")
        os.utime(folder, (1_000_000 + n, 1_000_000 + n))
        folders.append(folder)
    unrelated = tmp_path / "compiled"
    unrelated.mkdir()
    current = folders[3]  # an old mtime, but the invocation that just ran

    removed = prune_invocation_folders(current, keep=5)

    kept = sorted(p.name for p in tmp_path.glob("coachwh_dbt_models-*"))
    assert removed == 20
    assert kept == sorted([current.name, *(f.name for f in folders[21:])])
    assert unrelated.exists()
