"""Plotly figure builders: data in, ``go.Figure`` out (no state, no widgets).

Widgets (`ltlab.widgets`) wrap these in ``go.FigureWidget`` and update their traces; a
notebook run with ``interactive=False`` shows them as static figures. Shared colours live
in `ltlab.viz.style`; topic figures in submodules, all re-exported here.
"""

from .style import *  # noqa: F401,F403
from .overview import *  # noqa: F401,F403
from .reliability import *  # noqa: F401,F403
from .sweep import *  # noqa: F401,F403
from .calibration import *  # noqa: F401,F403
from .lda import *  # noqa: F401,F403
from .logit_adjustment import *  # noqa: F401,F403
from .balpoe import *  # noqa: F401,F403
from .gh import *  # noqa: F401,F403
from .flexda import *  # noqa: F401,F403
from .flexda_demo import *  # noqa: F401,F403
