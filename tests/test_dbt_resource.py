"""The dbt CLI resource skips dagster-dbt's `dbt --version` subprocess and in-process adapter."""

from __future__ import annotations

import sys
from importlib.metadata import version as installed_version
from pathlib import Path

from dagster_dbt.core import resource as dagster_dbt_resource
from packaging import version

from dagster_project.dbt_project import get_dbt_project
from dagster_project.dbt_resource import CoachwhDbtCliResource


def _no_subprocess(*args, **kwargs):
    raise AssertionError(f"a subprocess was started: {args}")


def test_the_bundled_dbt_gives_its_version_without_starting_a_process(monkeypatch):
    monkeypatch.setattr(dagster_dbt_resource, "check_output", _no_subprocess)
    dbt = CoachwhDbtCliResource(project_dir=get_dbt_project(), dbt_executable=str(Path(sys.executable).with_name("dbt")))

    assert dbt._cli_version == version.parse(installed_version("dbt-core"))


def test_the_bundled_dbt_loads_no_adapter_in_the_dagster_process():
    dbt = CoachwhDbtCliResource(project_dir=get_dbt_project(), dbt_executable=str(Path(sys.executable).with_name("dbt")))

    assert dbt._initialize_dbt_core_adapter(["build"]) is None


def test_a_dbt_from_elsewhere_is_asked_for_its_version(monkeypatch, tmp_path):
    other_dbt = tmp_path / "dbt"
    other_dbt.write_text("#!/bin/sh\necho 'Core: - installed: 1.10.3'\n")
    other_dbt.chmod(0o755)
    asked = []

    def fake_check_output(cmd, *args, **kwargs):
        asked.append(cmd)
        return b"Core:\n  - installed: 1.10.3\n"

    monkeypatch.setattr(dagster_dbt_resource, "check_output", fake_check_output)
    dbt = CoachwhDbtCliResource(project_dir=get_dbt_project(), dbt_executable=str(other_dbt))

    assert dbt._cli_version == version.parse("1.10.3")
    assert asked == [[str(other_dbt), "--version"]]
