"""Notebook widgets (ipywidgets; imported only when used: ``dk.widgets``).

Widgets compose and never compute: every number comes from the collection's
frames and the pure functions; the widgets lay them out and react to input.
"""

from dicomkit.widgets.anatomy import UIDAnatomy
from dicomkit.widgets.explorer import Explorer
from dicomkit.widgets.tags import TagBrowser
from dicomkit.widgets.viewer import SeriesViewer

__all__ = ["Explorer", "SeriesViewer", "TagBrowser", "UIDAnatomy"]
