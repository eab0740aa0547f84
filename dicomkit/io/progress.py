"""Progress bars: what ``progress=`` means, in one place for every long job.

``None`` (the default) shows a ``tqdm.auto`` bar (a widget in notebooks) only
once the job has run for a second, and removes it when done; ``True`` shows it
at once and keeps it; ``False`` shows nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


def progress_bar(
    *, progress: bool | None, total: int, desc: str, unit: str = "it"
) -> Any:
    """The bar of a job of ``total`` steps, for ``progress`` as above."""
    from tqdm.auto import tqdm  # imported here: only long jobs need it

    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        delay=1.0 if progress is None else 0.0,
        disable=progress is False,
        leave=progress is True,
    )
