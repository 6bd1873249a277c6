"""Where recording bytes live: ``storages["recordings"]`` (S3 through django-storages, or local files), and the
object keys used in it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from django.core.files.storage import FileSystemStorage, Storage, storages

READ_BLOCK = 1024 * 1024


def recordings_storage() -> Storage:
    return storages["recordings"]


def presigns(storage: Storage) -> bool:
    """Whether the storage hands out its own expiring URLs (S3); local files are served by a signed link of ours."""
    return not isinstance(storage, FileSystemStorage)


def recording_prefix(organization_public_id: str, recording_public_id: str) -> str:
    return f"recordings/{organization_public_id}/{recording_public_id}"


def chunk_key(prefix: str, index: int, sha256: str) -> str:
    """Named by its hash too: a different body sent for the same index can never overwrite the stored one."""
    return f"{prefix}/chunks/{index:06d}-{sha256[:16]}"


def final_key(prefix: str) -> str:
    return f"{prefix}.webm"


def read_blocks(storage: Storage, key: str) -> Iterator[bytes]:
    with storage.open(key, "rb") as stored:
        while block := stored.read(READ_BLOCK):
            yield block


def sha256_of(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    for block in read_blocks(storage, key):
        digest.update(block)
    return digest.hexdigest()
