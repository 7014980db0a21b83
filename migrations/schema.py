"""Import every package's models so that ``Base.metadata`` describes the whole schema.

It lives beside the migrations because it is the one place that knows every package: nothing
below ``migrations`` may import all of them (the layers in the README forbid it).
"""

from __future__ import annotations

from sqlalchemy import MetaData


def load_all_models() -> MetaData:
    import core.exception_queue  # noqa: F401
    import core.users  # noqa: F401
    import devices.models  # noqa: F401
    import floor.fulfilment.models  # noqa: F401
    import floor.site.layout  # noqa: F401
    import floor.site.settings  # noqa: F401
    import floor.site.stock  # noqa: F401
    import orders.models  # noqa: F401
    import orders.outbox  # noqa: F401
    import printing.models  # noqa: F401
    from core.db import Base

    return Base.metadata
