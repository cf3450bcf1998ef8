"""Byte-deterministic file writing: gzip without a timestamp, Parquet with fixed settings."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import polars as pl

from dagster_project.simulator.window import JSONL_GZ


def gzip_bytes(data: bytes) -> bytes:
    # mtime=0 and no file name in the header, so the same content always gives the same bytes.
    return gzip.compress(data, compresslevel=6, mtime=0)


def jsonl_bytes(lines: list[str] | str, fmt: str) -> bytes:
    """Lines (or already joined text) as a JSONL file's bytes, gzipped for `jsonl.gz`."""
    text = lines if isinstance(lines, str) else "".join(line + "\n" for line in lines)
    data = text.encode("utf-8")
    return gzip_bytes(data) if fmt == JSONL_GZ else data


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", compression_level=3, statistics=True)
    return buffer.getvalue()


def file_name(stem: str, fmt: str) -> str:
    return f"{stem}.{fmt}"


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
