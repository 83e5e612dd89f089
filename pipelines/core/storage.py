"""The data lake: date-partitioned Parquet on a local folder (default) or ``s3://``.

Paths: ``<root>/<zone>/<dataset>/date=YYYY-MM-DD/part-0.parquet`` (the zones and names are
``pipelines.core.layout``'s). One file per partition, published atomically: a local write
goes to a temp file in the same folder and is renamed; an S3 write is one upload that only
becomes visible when complete. Readers therefore never see half a partition. Every storage
call goes through ``Lake``, so an unreachable store always surfaces as
``StorageUnavailableError`` naming the URI (and is retried as such).

S3 credentials and endpoint arrive as plain ``storage_options`` (the DAG layer resolves them
from the Airflow ``aws_default`` connection); this module never reads the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.core.errors import (
    CorruptPartitionError,
    PartitionMissingError,
    StorageUnavailableError,
)
from pipelines.core.jsonsafe import json_safe
from pipelines.core.layout import PART_FILE, dated, partition_file

# Bounded network behaviour for S3: every call has a timeout and a retry budget.
S3_DEFAULT_CONFIG = {
    "connect_timeout": 5,
    "read_timeout": 60,
    "retries": {"max_attempts": 3, "mode": "standard"},
}


@dataclass(frozen=True)
class PartitionInfo:
    """What a step wrote: where, how many rows, and a content hash for lineage."""

    uri: str
    rows: int
    sha256: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_connection_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(
        names
        & {
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ConnectionClosedError",
            "ClientConnectorError",
            "ServerDisconnectedError",
            "NoCredentialsError",
            "ConnectionRefusedError",
        }
    )


@contextmanager
def _storage_errors(uri: str) -> Iterator[None]:
    """Turn network failures into one clear error naming the URI."""
    try:
        yield
    except (FileNotFoundError, CorruptPartitionError, PartitionMissingError):
        raise
    except Exception as exc:
        chain: BaseException | None = exc
        while chain is not None:
            if _is_connection_error(chain):
                raise StorageUnavailableError(
                    f"{uri}: object store unreachable after retries ({type(chain).__name__}: "
                    f"{chain}); check the endpoint and credentials of the aws_default connection"
                ) from exc
            chain = chain.__cause__ or chain.__context__
        raise


@contextmanager
def _parquet_errors(uri: str) -> Iterator[None]:
    """A file that exists but does not parse is corrupt: say which, and what to do."""
    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        if _is_connection_error(exc):
            raise
        raise CorruptPartitionError(
            f"{uri}: not a readable Parquet file ({exc}); re-deliver or delete this "
            "partition, then re-run the task"
        ) from exc


# Pre-buffering coalesces every column chunk's bytes before decoding: the file's bytes and
# the decoded table both in memory (a 2.3 GB table read with a 5.0 GB peak, 3.3 GB without).
PRE_BUFFER = False


def release_arrow_memory() -> None:
    """Hand the memory Arrow freed back to the OS. Its allocator (mimalloc) keeps freed
    pages for reuse, so after a 2.5 GB table is converted or written its pages stayed in
    the process's RSS while pandas and numpy (which do not use that pool) allocated more:
    +2.5 GB per large read at the task's peak. Costs milliseconds."""
    pa.default_memory_pool().release_unused()


def to_frame(table: pa.Table) -> pd.DataFrame:
    """``table`` as a DataFrame, consuming it: Arrow buffers released column by column as
    they convert, no consolidation copy, Arrow's pool handed back (one copy at the peak)."""
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    release_arrow_memory()
    return frame


class Lake:
    """Date-partitioned Parquet datasets under one root URI."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root.rstrip("/")
        options = dict(storage_options or {})
        if self.root.startswith("s3://"):
            options.setdefault("config_kwargs", S3_DEFAULT_CONFIG)
            options.setdefault("skip_instance_cache", True)
        self.fs, self._base = fsspec.core.url_to_fs(self.root, **options)
        self.is_local = self.fs.protocol in ("file", "local") or "file" in self.fs.protocol

    # ---------------------------------------------------------------- paths
    def dataset_path(self, zone: str, dataset: str) -> str:
        return f"{self._base}/{zone}/{dataset}"

    def partition_path(self, zone: str, dataset: str, day: date) -> str:
        return self.path(partition_file(zone, dataset, day))

    def uri(self, path: str) -> str:
        """The user-facing URI of an internal path (``s3://...`` or an absolute local path)."""
        return path if self.is_local else f"{self.fs.protocol[0]}://{path}"

    def partition_uri(self, zone: str, dataset: str, day: date) -> str:
        return self.uri(self.partition_path(zone, dataset, day))

    def path(self, path_in_lake: str) -> str:
        """The internal path of a lake-relative path such as ``validation/x/date=D/r.json``."""
        return f"{self._base}/{path_in_lake}"

    # ---------------------------------------------------------------- reads
    def exists(self, zone: str, dataset: str, day: date) -> bool:
        """Whether the partition of (zone, dataset, day) is published."""
        return self.file_exists(self.partition_path(zone, dataset, day))

    def file_exists(self, path: str) -> bool:
        """Whether a file exists at an internal path."""
        with _storage_errors(self.uri(path)):
            return bool(self.fs.exists(path))

    def size(self, path: str) -> int:
        """The size in bytes of a file at an internal path."""
        with _storage_errors(self.uri(path)):
            self._require(path)
            return int(self.fs.size(path))

    @contextmanager
    def open(self, path: str) -> Iterator[Any]:
        """A file at an internal path, open for reading (binary, seekable)."""
        with _storage_errors(self.uri(path)):
            self._require(path)
            with self.fs.open(path, "rb") as handle:
                yield handle

    def list_dates(self, zone: str, dataset: str) -> list[date]:
        """Dates that have a published partition, oldest first."""
        base = self.dataset_path(zone, dataset)
        with _storage_errors(self.uri(base)):
            if not self.fs.exists(base):
                return []
            names = self.fs.ls(base, detail=False)
        days = []
        for name in names:
            folder = dated(name)
            if folder is not None and self.file_exists(f"{name.rstrip('/')}/{PART_FILE}"):
                days.append(folder[0])
        return sorted(days)

    def read_partition(
        self, zone: str, dataset: str, day: date, columns: list[str] | None = None
    ) -> pd.DataFrame:
        """Read one partition; a missing one raises ``PartitionMissingError``."""
        return self.read_frame(self.partition_path(zone, dataset, day), columns)

    def read_frame(self, path: str, columns: list[str] | None = None) -> pd.DataFrame:
        """A file as a DataFrame, with about one copy of the data in memory at the peak."""
        return to_frame(self.read_table(path, columns))

    def read_table(self, path: str, columns: list[str] | None = None) -> pa.Table:
        uri = self.uri(path)
        with _storage_errors(uri):
            self._require(path)
            with _parquet_errors(uri), self.fs.open(path, "rb") as handle:
                return pq.read_table(handle, columns=columns, pre_buffer=PRE_BUFFER)

    def describe(self, path: str) -> PartitionInfo:
        """Rows, size and hash of a published file, checking its Parquet footer only."""
        rows, size = self.row_count(path), self.size(path)
        return PartitionInfo(uri=self.uri(path), rows=rows, sha256=self.sha256(path), bytes=size)

    def row_count(self, path: str) -> int:
        """The rows of a published file, from its Parquet footer (no data read)."""
        uri = self.uri(path)
        with _storage_errors(uri):
            self._require(path)
            with _parquet_errors(uri), self.fs.open(path, "rb") as handle:
                return int(pq.ParquetFile(handle).metadata.num_rows)

    def column_names(self, path: str) -> list[str]:
        """The columns of a published file, from its footer."""
        uri = self.uri(path)
        with _storage_errors(uri):
            self._require(path)
            with _parquet_errors(uri), self.fs.open(path, "rb") as handle:
                return list(pq.ParquetFile(handle).schema_arrow.names)

    def _require(self, path: str) -> None:
        if not self.fs.exists(path):
            raise PartitionMissingError(f"{self.uri(path)}: partition does not exist")

    def sha256(self, path: str) -> str:
        with _storage_errors(self.uri(path)), self.fs.open(path, "rb") as handle:
            return _sha256_of(handle)

    # ---------------------------------------------------------------- writes
    def write_partition(
        self, frame: pd.DataFrame | pa.Table, zone: str, dataset: str, day: date
    ) -> PartitionInfo:
        """Write (or overwrite) one partition atomically; re-runs replace it whole."""
        # Pandas metadata embeds nothing run-specific, so the same frame gives the same bytes.
        return self.write_file(frame, self.partition_path(zone, dataset, day))

    def write_file(self, frame: pd.DataFrame | pa.Table, path: str) -> PartitionInfo:
        """Write (or overwrite) one Parquet file at an internal path, atomically."""
        if isinstance(frame, pd.DataFrame):
            frame = pa.Table.from_pandas(frame, preserve_index=False)
        try:
            return self._publish(path, frame)
        finally:
            del frame
            release_arrow_memory()

    def write_json(self, payload: Any, path_in_lake: str) -> str:
        """Write a small JSON document (reports, manifests) atomically; returns its URI. NaN
        and infinity are written as null (JSON has neither)."""
        safe = json_safe(payload)
        data = json.dumps(safe, indent=2, sort_keys=True, default=str, allow_nan=False).encode()
        return self.write_bytes(data, path_in_lake)

    def write_bytes(self, data: bytes, path_in_lake: str) -> str:
        """Write a small document (JSON, HTML, text) atomically; returns its URI."""
        path = self.path(path_in_lake)
        self._publish_bytes(path, data)
        return self.uri(path)

    def create_once(self, data: bytes, path_in_lake: str) -> bool:
        """Write a small document only if nothing is there yet; False when it already was.

        Exclusive create (``O_EXCL`` locally, ``If-None-Match: *`` on S3): of two writers of
        the same path exactly one wins, so an append-only log numbered by sequence is a
        compare-and-set.
        """
        path = self.path(path_in_lake)
        if self.is_local:
            os.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with _storage_errors(self.uri(path)):
            try:
                with self.fs.open(path, "xb") as handle:
                    handle.write(data)
            except FileExistsError:
                return False
        return True

    def read_json(self, path_in_lake: str) -> Any:
        return json.loads(self.read_bytes(path_in_lake))

    def read_bytes(self, path_in_lake: str) -> bytes:
        """A small document (JSON, HTML, text) whole."""
        path = self.path(path_in_lake)
        with _storage_errors(self.uri(path)), self.fs.open(path, "rb") as handle:
            return bytes(handle.read())

    def exists_path(self, path_in_lake: str) -> bool:
        """Whether a file exists at a lake-relative path."""
        return self.file_exists(self.path(path_in_lake))

    def list_paths(self, prefix_in_lake: str) -> list[str]:
        """Lake-relative paths of the files under a folder, sorted ([] when it is absent)."""
        base = self.path(prefix_in_lake)
        with _storage_errors(self.uri(base)):
            if not self.fs.exists(base):
                return []
            found = self.fs.find(base)
        return sorted(name[len(self._base) + 1 :] for name in found)

    def move(self, src: str, dst: str) -> None:
        """Move one published file to another path (rename locally, copy + delete on S3).

        The target appears whole or not at all; a crash between copy and delete leaves the
        file in both places, never in neither.
        """
        with _storage_errors(self.uri(src)):
            self._require(src)
            if self.is_local:
                os.makedirs(dst.rsplit("/", 1)[0], exist_ok=True)
                os.replace(src, dst)
                return
            self.fs.copy(src, dst)
            self.fs.rm_file(src)

    def delete(self, path: str) -> None:
        """Remove one file if it exists."""
        with _storage_errors(self.uri(path)):
            if self.fs.exists(path):
                self.fs.rm_file(path)

    def _publish(self, path: str, table: pa.Table) -> PartitionInfo:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=self._local_tmp_dir(path))
        os.close(fd)
        try:
            pq.write_table(table, tmp, compression="zstd")
            with open(tmp, "rb") as handle:
                digest = _sha256_of(handle)
            size = os.path.getsize(tmp)
            self._move_into_place(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return PartitionInfo(uri=self.uri(path), rows=table.num_rows, sha256=digest, bytes=size)

    def _publish_bytes(self, path: str, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self._local_tmp_dir(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            self._move_into_place(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _local_tmp_dir(self, path: str) -> str | None:
        """Same folder as the target for local lakes (so rename is atomic), else system temp."""
        if not self.is_local:
            return None
        folder = path.rsplit("/", 1)[0]
        os.makedirs(folder, exist_ok=True)
        return folder

    def _move_into_place(self, tmp: str, path: str) -> None:
        if self.is_local:
            os.replace(tmp, path)
            return
        with _storage_errors(self.uri(path)):
            # put_file uploads in one request or one multipart upload completed at the end:
            # the object appears whole or not at all.
            self.fs.put_file(tmp, path)


def _sha256_of(handle: Any) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()
