"""The operation log of a working tree's rewinds, so that any of them can be undone and redone, as jj's op log does.

One JSON file per worktree (`<worktree git dir>/trail/oplog.json`): the operations in order, and how many of them
are in effect. An operation names the tree the working tree had before it and the tree it left; both trees are
held by steps (the state before is recorded as a `rewind` step first), so `git gc` never takes them. Rewinding
after an undo drops the operations that were undone, as an editor's redo does. Readers and writers of the log
hold the worktree's rewind lock.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NAME = "oplog.json"


@dataclass
class Operation:
    id: int
    session: str
    target: str  # what was asked for, as typed (`3f2a9b1c@12`)
    before: str  # the working tree's tree before the operation
    after: str  # the tree it left
    recorded_at: int  # the `rewind` step that holds `before`
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


@dataclass
class OpLog:
    path: Path
    ops: list[Operation] = field(default_factory=list)
    position: int = 0  # ops[:position] are in effect; ops[position:] were undone and may be redone

    @classmethod
    def load(cls, folder: Path) -> OpLog:
        path = folder / NAME
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            ops = [Operation(**op) for op in data.get("ops", [])]
            position = max(0, min(int(data.get("position", len(ops))), len(ops)))
            return cls(path, ops, position)
        except (OSError, ValueError, TypeError):
            return cls(path)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{NAME}.{os.getpid()}")
        tmp.write_text(json.dumps({"position": self.position, "ops": [asdict(op) for op in self.ops]}, indent=1))
        os.replace(tmp, self.path)

    def push(self, op: Operation) -> None:
        del self.ops[self.position :]  # what was undone cannot be redone after a new rewind
        self.ops.append(op)
        self.position = len(self.ops)

    def next_id(self) -> int:
        return max((op.id for op in self.ops), default=0) + 1

    @property
    def undoable(self) -> Operation | None:
        return self.ops[self.position - 1] if self.position > 0 else None

    @property
    def redoable(self) -> Operation | None:
        return self.ops[self.position] if self.position < len(self.ops) else None
