"""Counts that add up across Locust processes."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict


class Counted(BaseModel):
    """Counts that add up across Locust processes."""

    model_config = ConfigDict(extra="forbid")

    def plus(self, other: Self) -> Self:
        """Field by field, this and `other` added."""
        return self.model_validate(
            {name: getattr(self, name) + getattr(other, name) for name in type(self).model_fields}
        )
