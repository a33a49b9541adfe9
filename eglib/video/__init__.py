"""Expert Gate beyond classification: video prediction (the paper's Table 4, notebook 06).

* :mod:`eglib.video.clips` -- clips of 6 frames: the embedded mini video domains, the user's frame
  folders, and the gate features of a clip;
* :mod:`eglib.video.dfn`   -- Dynamic Filter Network experts, their training and scoring;
* :mod:`eglib.video.rivals` -- predictions without learning (repeat, blurred, constant velocity);
* :mod:`eglib.video.measures` -- L1, SSIM and sharpness of predicted frames.

The clip functions are re-exported here: ``from eglib import video``.
"""

from eglib.video import dfn, measures, rivals
from eglib.video.clips import (CLIP_LENGTH, INPUT_FRAMES, PREDICTED_FRAMES, VIDEO_DOMAINS, VideoDataError,
                               VideoDomain, check_clips, clip_gate_features, load_frame_folders, make_mini_video,
                               write_frame_folders)

__all__ = ["CLIP_LENGTH", "INPUT_FRAMES", "PREDICTED_FRAMES", "VIDEO_DOMAINS", "VideoDataError", "VideoDomain",
           "check_clips", "clip_gate_features", "dfn", "load_frame_folders", "make_mini_video", "write_frame_folders"]
