"""Every table, imported in one place for migrations and tests."""

from orbitask.audit import models as audit_models  # noqa: F401
from orbitask.auth import models as auth_models  # noqa: F401
from orbitask.boards import models as board_models  # noqa: F401
from orbitask.core import consumers as consumer_models  # noqa: F401
from orbitask.core import leases as lease_models  # noqa: F401
from orbitask.core.db import Base
from orbitask.core.events import Event  # noqa: F401
from orbitask.core.idempotency import IdempotencyRecord  # noqa: F401
from orbitask.notifications import models as notification_models  # noqa: F401
from orbitask.regions import models as region_models  # noqa: F401
from orbitask.search import models as search_models  # noqa: F401
from orbitask.tasks import models as task_models  # noqa: F401
from orbitask.transfer import models as transfer_models  # noqa: F401

metadata = Base.metadata
