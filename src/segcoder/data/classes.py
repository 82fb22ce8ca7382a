"""The class list: names, display colours, mask values and the ignored value.

``classes.json`` has the format of CamVid's::

    {"name": "...", "ignore_index": 11,
     "classes": [{"id": 0, "name": "sky", "color": [128, 128, 128]}, ...]}

``id`` is the value the class has in the mask files. The network predicts
``num_classes`` trained classes in the order of the file, leaving out the
ignored one; :meth:`ClassMap.lut` maps mask values to those training indices.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from segcoder._atomic import write_text
from segcoder.errors import SegcoderError

# Training label of pixels that count for nothing: void, padding, unknown.
IGNORE_LABEL = 255

# Distinct colours for classes found from mask values (no classes.json given).
_PALETTE = [
    (0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
]


@dataclass
class ClassInfo:
    id: int  # value in the mask files
    name: str
    color: tuple[int, int, int]


@dataclass
class ClassMap:
    classes: list[ClassInfo]
    ignore_index: int | None = None
    name: str = "segcoder classes"
    extra: dict = field(default_factory=dict)  # other keys of classes.json, kept on save

    @property
    def trained(self) -> list[ClassInfo]:
        """The classes the network predicts, in output-channel order."""
        return [c for c in self.classes if c.id != self.ignore_index]

    @property
    def num_classes(self) -> int:
        return len(self.trained)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.trained]

    def lut(self) -> np.ndarray:
        """A 65536-entry table from mask value to training index (IGNORE_LABEL elsewhere)."""
        table = np.full(65536, IGNORE_LABEL, dtype=np.uint8)
        for index, c in enumerate(self.trained):
            table[c.id] = index
        return table

    def values(self) -> np.ndarray:
        """Mask value written for each training index."""
        return np.array([c.id for c in self.trained], dtype=np.int64)

    def colors(self) -> np.ndarray:
        """RGB colour of each training index, shape (num_classes, 3)."""
        return np.array([c.color for c in self.trained], dtype=np.uint8)

    def to_json(self) -> str:
        raw = {"name": self.name}
        if self.ignore_index is not None:
            raw["ignore_index"] = self.ignore_index
        raw["classes"] = [{"id": c.id, "name": c.name, "color": list(c.color)} for c in self.classes]
        raw.update(self.extra)
        return json.dumps(raw, indent=2) + "\n"

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "ClassMap":
        path = Path(path)
        if not path.is_file():
            raise SegcoderError(f"{path}: classes file not found; check the --classes path")
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SegcoderError(f"{path}: not valid JSON ({exc}); fix the file") from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "classes.json") -> "ClassMap":
        hint = 'expected {"classes": [{"id": 0, "name": "...", "color": [r, g, b]}, ...]}'
        if not isinstance(raw, dict) or not isinstance(raw.get("classes"), list) or not raw["classes"]:
            raise SegcoderError(f"{source}: {hint}")
        classes = []
        for entry in raw["classes"]:
            try:
                cid = int(entry["id"])
                color = tuple(int(v) for v in entry.get("color", _PALETTE[cid % len(_PALETTE)]))
                name = str(entry.get("name", f"class_{cid}"))
            except (KeyError, TypeError, ValueError):
                raise SegcoderError(f"{source}: bad class entry {entry!r}; {hint}") from None
            if not 0 <= cid < 65536 or len(color) != 3 or not all(0 <= v <= 255 for v in color):
                raise SegcoderError(f"{source}: class {entry!r} needs an id in 0..65535 and an RGB colour")
            classes.append(ClassInfo(cid, name, color))
        ids = [c.id for c in classes]
        if len(set(ids)) != len(ids):
            raise SegcoderError(f"{source}: class ids repeat ({ids}); give each class its own id")
        ignore = raw.get("ignore_index")
        ignore = None if ignore is None else int(ignore)
        cmap = cls(classes, ignore, str(raw.get("name", "segcoder classes")),
                   {k: v for k, v in raw.items() if k not in ("name", "ignore_index", "classes")})
        if cmap.num_classes < 2:
            raise SegcoderError(f"{source}: at least two classes besides ignore_index are needed")
        if cmap.num_classes >= IGNORE_LABEL:
            raise SegcoderError(f"{source}: at most {IGNORE_LABEL - 1} classes are supported")
        return cmap

    @classmethod
    def from_values(cls, values) -> "ClassMap":
        """Build a class list from the distinct values found in the masks."""
        values = sorted(int(v) for v in values)
        classes = [ClassInfo(v, f"class_{v}", _PALETTE[i % len(_PALETTE)]) for i, v in enumerate(values)]
        if len(classes) == 1:
            raise SegcoderError(
                f"every mask holds only the value {values[0]}; masks need at least two classes"
            )
        return cls(classes, None, "found from mask values")
