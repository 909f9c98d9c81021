"""A config bundle as text, and the entry points that check and compile it.

A bundle is read from a folder (`BundleSource.from_dir`) or built from stored files (the
database keeps each tenant's bundle as a map of relative path to YAML text), so the same
checker serves `callboard check`, `tenant apply` and the admin API.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from threading import Lock

from .model import TenantModel
from .problems import BundleError, Problem

FOLDERS = {"entities": "entity", "ticket_types": "ticket_type", "ivr": "ivr"}
MAX_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class BundleSource:
    """The files of a bundle: relative POSIX path -> YAML text."""

    files: Mapping[str, str]

    @classmethod
    def from_dir(cls, folder: str | os.PathLike[str]) -> BundleSource:
        """Read `tenant.yaml` and the YAML files of `entities/`, `ticket_types/`, `ivr/`."""
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"{folder}: no such folder")
        files: dict[str, str] = {}
        candidates = [root / "tenant.yaml"] + [
            p for sub in FOLDERS for p in sorted((root / sub).glob("*"))
            if (root / sub).is_dir()]
        for path in candidates:
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
            files[rel] = raw.decode("utf-8", errors="replace")
        return cls(files)

    @cached_property
    def digest(self) -> str:
        """A content hash: equal bundles compile to the same shared model."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name].encode() + b"\0")
        return h.hexdigest()


def check_bundle(source: BundleSource) -> list[Problem]:
    """Every problem in the bundle, sorted by file, line and column; [] when it is valid."""
    from .compiler import compile_source

    return sorted(compile_source(source)[1])


_cache: dict[str, TenantModel] = {}
_cache_lock = Lock()


def compile_bundle(source: BundleSource) -> TenantModel:
    """The runtime model of a valid bundle (cached by content); BundleError otherwise."""
    with _cache_lock:
        model = _cache.get(source.digest)
    if model is not None:
        return model
    from .compiler import compile_source

    model, problems = compile_source(source)
    if problems or model is None:
        raise BundleError(problems)
    with _cache_lock:
        if len(_cache) > 256:
            _cache.clear()
        _cache[source.digest] = model
    return model


def load_dir(folder: str | os.PathLike[str]) -> TenantModel:
    """Read, check and compile the bundle in `folder`."""
    return compile_bundle(BundleSource.from_dir(folder))
