"""Reading a delivery: tell a file that is not readable Parquet (empty, another format,
truncated) from one that is, before anything parses it. An unreadable file is a failed check
with a reason code, not an exception: it always blocks, and people see why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.core.storage import PRE_BUFFER, Lake
from pipelines.validation.results import CheckResult

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_MAGIC = b"PAR1"


def sniff_unreadable(head: bytes, tail: bytes, size: int) -> CheckResult | None:
    """Why a file cannot be read as Parquet (empty, another format, truncated), or None."""
    if size == 0:
        return reader_failure("empty_file", "the file is empty (0 bytes)")
    if head[:4] != PARQUET_MAGIC:
        text = head.lstrip()[:1]
        kind = "JSON" if text in (b"{", b"[") else "CSV or text" if b"," in head else "unknown"
        return reader_failure(
            "not_parquet", f"expected Parquet, found {kind} data (first bytes {head[:16]!r})"
        )
    if tail[-4:] != PARQUET_MAGIC:
        return reader_failure("corrupt_parquet", "truncated: the Parquet footer is missing")
    return None


def reader_failure(code: str, detail: str) -> CheckResult:
    return CheckResult(
        code=code,
        severity="block",
        success=False,
        description="the file is readable Parquet",
        engine="reader",
        detail=detail,
    )


def read_batch(lake: Lake, path: str) -> pa.Table | CheckResult:
    """The file as an Arrow table, or the failed check that says why it cannot be read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = lake.size(path)
    with lake.open(path) as handle:
        head = handle.read(64)
        handle.seek(max(0, size - 4))
        tail = handle.read(4)
        problem = sniff_unreadable(head, tail, size)
        if problem:
            return problem
        handle.seek(0)
        try:
            return pq.read_table(handle, pre_buffer=PRE_BUFFER)
        except (pa.ArrowInvalid, OSError) as exc:
            return reader_failure("corrupt_parquet", f"unreadable Parquet: {exc}")
