"""Matplotlib pictures for notebooks: slices, slice geometry, studies in time, the tree.

Each function draws into ``ax`` when given one, otherwise into a new
:class:`matplotlib.figure.Figure` (never pyplot's global state, so nothing piles up
between cells), and returns the Axes. So that a returned Axes shows in a notebook
without pyplot, creating a figure in IPython registers a PNG formatter for Axes and
Figure objects that pyplot does not manage (unless one exists). Every text from a
DICOM file is clipped by :func:`dicomkit.text.clip` with its ``$`` escaped: a
hostile value can neither grow a label without bound nor switch on mathtext.

One module per figure: :mod:`~dicomkit.plot._montage`, :mod:`~dicomkit.plot._positions`,
:mod:`~dicomkit.plot._timeline` and :mod:`~dicomkit.plot._hierarchy`, over the helpers of
:mod:`~dicomkit.plot._common`.
"""

from dicomkit.plot._hierarchy import hierarchy
from dicomkit.plot._montage import montage
from dicomkit.plot._positions import slice_positions
from dicomkit.plot._timeline import timeline

__all__ = ["hierarchy", "montage", "slice_positions", "timeline"]
