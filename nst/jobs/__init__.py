"""The kinds of work an executor (:mod:`nst.execution`) runs, each a typed record with its wire form.

- :mod:`nst.jobs.picture`: :class:`PictureJob`, one optimised picture (:func:`nst.engine.transfer`);
  the figures' small runs (race, grid, layer views) are picture jobs too.
- :mod:`nst.jobs.chunk`: :class:`ChunkJob`, a range of frames of a video clip, each following the last.
- :mod:`nst.jobs.sweep`: :class:`SweepJob`, a run of a clip's frames in one pass of the multi-pass algorithm.
- :mod:`nst.jobs.instant`: :class:`InstantJob`, the one-pass picture (:mod:`nst.instant`).

Each kind registers itself by subclassing :class:`nst.execution.base.Job` with a ``kind`` name.
"""

from nst.jobs.chunk import ChunkJob
from nst.jobs.instant import InstantJob
from nst.jobs.picture import PictureJob
from nst.jobs.sweep import SweepJob

__all__ = ["ChunkJob", "InstantJob", "PictureJob", "SweepJob"]
