"""API keys and roles. Only SHA-256 hashes of keys are kept, on disk and in memory.

Keys come from a keys file (``KBASSIST_KEYS_FILE``: lines ``role:sha256hex``, ``#`` comments) written by
``kbassist keys add``, and/or from ``KBASSIST_API_KEYS=agent:key1,admin:key2`` (hashed at start). With no
key at all the service runs in development mode: loopback only, every request treated as admin.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from kbassist.settings import Settings

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class Role(StrEnum):
    AGENT = "agent"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        return self is Role.ADMIN or needed is Role.AGENT


class KeyConfigError(ValueError):
    """The keys file or KBASSIST_API_KEYS cannot be used; the message says where and why."""


class AuthError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return "kb_" + secrets.token_urlsafe(32)


def _role(text: str, where: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise KeyConfigError(f"{where}：未知角色 {text.strip()!r}，可选：agent / admin") from None


@dataclass(frozen=True)
class KeyRing:
    roles: Mapping[str, Role]  # sha256 hex of a key -> its role

    @property
    def dev_mode(self) -> bool:
        return not self.roles

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        roles: dict[str, Role] = {}
        if settings.keys_file is not None:
            roles.update(read_keys_file(settings.keys_file))
        for number, pair in enumerate(settings.api_keys, start=1):
            role, sep, key = pair.partition(":")
            where = f"KBASSIST_API_KEYS 第 {number} 项"
            if not sep or not key.strip():
                raise KeyConfigError(f"{where}：应写成 角色:密钥，例如 agent:xxxx")
            roles[hash_key(key.strip())] = _role(role, where)
        return cls(roles)

    def role_of(self, presented: str | None) -> Role | None:
        if presented is None:
            return None
        return self.roles.get(hash_key(presented))

    def authenticate(self, headers: Mapping[str, str], needed: Role) -> Role:
        """The caller's role, or AuthError(401 / 403) with a message for the agent desktop's log."""
        if self.dev_mode:
            return Role.ADMIN
        presented = presented_key(headers)
        if presented is None:
            raise AuthError(401, "缺少 API 密钥：请在请求头 X-API-Key（或 Authorization: Bearer）中提供")
        role = self.role_of(presented)
        if role is None:
            raise AuthError(401, "API 密钥无效或已停用")
        if not role.allows(needed):
            raise AuthError(403, "权限不足：此接口需要管理员（admin）密钥")
        return role


def presented_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key and key.strip():
        return key.strip()
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def read_keys_file(path: Path) -> dict[str, Role]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise KeyConfigError(f"密钥文件 {path} 不存在：用 `kbassist keys add --role agent` 创建") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyConfigError(f"无法读取密钥文件 {path}：{exc}") from None
    roles: dict[str, Role] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{path}:{number}"
        role, sep, digest = line.partition(":")
        digest = digest.strip().lower()
        if not sep or not _SHA256_HEX.match(digest):
            raise KeyConfigError(f"{where}：应写成 角色:SHA-256（64 位十六进制）；密钥文件只保存哈希，不保存明文")
        roles[digest] = _role(role, where)
    return roles


def append_key(path: Path, role: Role, key: str, label: str | None = None) -> None:
    """Adds the key's hash to the keys file (created with owner-only permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    comment = f"  # {label}" if label else ""
    line = f"{role.value}:{hash_key(key)}{comment}\n"
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    with path.open("a", encoding="utf-8") as handle:
        if existing and not existing.endswith("\n"):
            handle.write("\n")
        handle.write(line)
    path.chmod(0o600)


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def describe(roles: Iterable[Role]) -> str:
    counts: dict[str, int] = {}
    for role in roles:
        counts[role.value] = counts.get(role.value, 0) + 1
    return "，".join(f"{role} {n} 个" for role, n in sorted(counts.items())) or "无"
