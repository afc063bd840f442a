"""Stateless differentiable ops (PyTorch's ``torch.nn.functional`` plus tensor math), one file per family."""
from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .conv_pool import *  # noqa: F401,F403
from .conv_transpose import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .lrn import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .norm_more import *  # noqa: F401,F403
from .penalty import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .resample import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
