from .pseudo_gumbel import *  # noqa: F401,F403
