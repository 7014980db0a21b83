"""Import every model module so that ``Base.metadata`` describes the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData


def load_all_models() -> MetaData:
    import devices.models  # noqa: F401
    import floor.models  # noqa: F401
    import orders.models  # noqa: F401
    import printing.models  # noqa: F401
    import sync.models  # noqa: F401
    from floor.db import Base

    return Base.metadata
