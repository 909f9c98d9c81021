"""Settings from the environment (CONTRACT §1), resolved once into a plain object."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: str) -> Settings:
        """Read CALLBOARD_* variables; `overrides` (lower-case names) win over them."""
        env = dict(os.environ if env is None else env)
        for key, value in overrides.items():
            env[f"CALLBOARD_{key.upper()}"] = value
        data_dir = Path(env.get("CALLBOARD_DATA_DIR") or "instance").resolve()
        url = env.get("CALLBOARD_DATABASE_URL") or f"sqlite:///{data_dir / 'callboard.db'}"
        secret = env.get("CALLBOARD_SECRET_KEY") or _persisted_secret(data_dir)
        return cls(data_dir, url, env.get("CALLBOARD_REDIS_URL") or None, secret)


def _persisted_secret(data_dir: Path) -> str:
    """A random key kept in the data dir, so sessions and tokens survive a restart."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key
