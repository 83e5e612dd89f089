"""What every spec section shares: unknown fields are errors, instances are immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z][a-z0-9_]{1,62}$"
K8S_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$"


class Strict(BaseModel):
    """Base for spec sections: unknown fields are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
