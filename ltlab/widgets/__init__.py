"""ipywidgets panels: controls wired to pure figure builders of `ltlab.viz`.

The mechanism, `LivePanel`, lives in `ltlab.widgets.live_panel`; topic panels live in
submodules (``ltlab.widgets.<topic>``). Everything is re-exported here.
"""

from .live_panel import *  # noqa: F401,F403
from .calibration import *  # noqa: F401,F403
from .lda import *  # noqa: F401,F403
from .logit_adjustment import *  # noqa: F401,F403
from .balpoe import *  # noqa: F401,F403
from .gh import *  # noqa: F401,F403
from .flexda import *  # noqa: F401,F403
