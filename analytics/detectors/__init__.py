"""Streaming detectors with one interface (River-style), pure and seeded.

Each detector scores a value *before* learning it (no look-ahead):
``score_one(x) -> float`` (0 = normal, larger = more unusual; thresholds are
applied by the rules, not here) and ``learn_one(x)``. ``grace_period`` values
are learned before scores mean anything (the score is 0 until then).
``state()``/``from_state()`` round-trip through JSON so models survive restarts.
"""

from analytics.detectors.base import Detector
from analytics.detectors.cusum import Cusum
from analytics.detectors.flatline import Flatline
from analytics.detectors.spike import Spike
from analytics.detectors.window import WindowNovelty

__all__ = ["Cusum", "Detector", "Flatline", "Spike", "WindowNovelty"]
