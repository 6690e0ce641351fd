"""Places by the names people know them by: a device's name, a zone's (district's) name, from the registry.
Texts read in a language name their places so (:func:`citywatch.i18n.render`); the names are re-read at
most every ``ttl_s``, so a list of alerts costs no query per alert."""

from __future__ import annotations

import threading
import time
from datetime import tzinfo
from typing import Any

from citywatch.i18n import Text, render


class PlaceNames:
    def __init__(self, db: Any, zone: tzinfo | None = None, ttl_s: float = 30.0) -> None:
        """``zone``: the city's time zone, which a text's times of day are read in."""
        self.db, self.zone, self.ttl_s = db, zone, ttl_s
        self._names: dict[str, str] = {}
        self._at = float("-inf")
        self._lock = threading.Lock()

    def _fresh(self) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                rows = self.db.all(
                    "SELECT device_id AS id, name FROM devices UNION ALL SELECT 'zone:' || zone_id, name FROM zones"
                    " UNION ALL SELECT 'lot:' || lot_id, name FROM parking_lots"
                )
                self._names = {r["id"]: r["name"] for r in rows if r["name"]}
                self._at = time.monotonic()
            return self._names

    def __call__(self, ident: str) -> str:
        return self._fresh().get(ident, ident.split(":", 1)[-1])

    def read(self, explanation: dict[str, Any] | None, which: str, recorded: str, language: str) -> str:
        """An alert's ``which`` (``title``, ``message``) in ``language``: from the text it was recorded from,
        if the alert still says that (a worse condition's title kept since is shown as recorded), else as
        recorded."""
        raw = ((((explanation or {}).get("details") or {}).get("text")) or {}).get(which)
        text = Text.from_json(raw)
        try:
            current = text is not None and render(text) == recorded
        except (KeyError, IndexError, ValueError):  # a text of a catalogue since changed: as recorded
            current = False
        return self.said(raw, recorded, language) if current else recorded

    def said(self, text: Any, recorded: str, language: str) -> str:
        """A text the system recorded (as :meth:`Text.as_json` wrote it) in ``language``; without one, or of a
        catalogue since changed, ``recorded``."""
        if (t := Text.from_json(text)) is None:
            return recorded
        try:
            return render(t, language, self, self.zone)
        except (KeyError, IndexError, ValueError):
            return recorded

    def title(self, row: dict[str, Any], language: str) -> str:
        return self.read(row.get("explanation"), "title", str(row["title"]), language)

    def explained(self, explanation: dict[str, Any] | None, language: str) -> dict[str, Any] | None:
        """An alert's explanation with its message in ``language``."""
        if not explanation or not explanation.get("message"):
            return explanation
        return {
            **explanation,
            "message": self.read(explanation, "message", str(explanation["message"]), language),
        }
