from .ciss import *  # noqa: F401,F403
from .pseudo_gumbel import *  # noqa: F401,F403
