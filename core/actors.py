"""Who is acting: passed into services so the domain never reads a web session."""

from __future__ import annotations

from dataclasses import dataclass

from core.users import Role


@dataclass(frozen=True)
class Actor:
    name: str
    role: Role | None = None
    user_id: int | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls("system")

    @classmethod
    def oms(cls, key_name: str) -> Actor:
        """An OMS acting with an API key, named after the key (never its secret part)."""
        return cls(f"oms:{key_name}")
