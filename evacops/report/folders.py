"""The output folder of a command (``--out DIR``): created with its parents, or refused in one
line."""

from __future__ import annotations

from pathlib import Path

from evacops.errors import UserError


def make_folder(folder: str | Path) -> Path:
    """Create the output folder (and its parents), or say in one line why it cannot be."""
    out = Path(folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the folder ({exc.strerror}); choose a writable path",
            field="out",
            value=folder,
        ) from None
    return out
