"""Queue template variables: the schema a queue declares and the check of a run's values.

A queue config may hold ``{{name}}`` placeholders. Each must be declared in the queue's
``template_variables`` as a string (optionally restricted by ``enum``) or an int/float
(optionally bounded by ``min``/``max``), with an optional ``default``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from launchq.errors import InvalidInput

Scalar = str | int | float


class StringVariable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["string"] = "string"
    description: str = ""
    enum: list[str] | None = None
    default: str | None = None

    @model_validator(mode="after")
    def _default_in_enum(self) -> StringVariable:
        if self.enum is not None and self.default is not None and self.default not in self.enum:
            raise ValueError(f"default {self.default!r} is not one of {self.enum}")
        return self

    def check(self, name: str, value: object) -> str:
        if not isinstance(value, str):
            raise InvalidInput(f"must be a string, got {value!r}", field=f"template_variables.{name}")
        if self.enum is not None and value not in self.enum:
            raise InvalidInput(f"{value!r} is not one of {self.enum}", field=f"template_variables.{name}")
        return value


class NumberVariable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["int", "integer", "float", "number"]
    description: str = ""
    min: float | None = None
    max: float | None = None
    default: int | float | None = None

    @model_validator(mode="after")
    def _bounds(self) -> NumberVariable:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        if self.default is not None:
            self.check("default", self.default)
        return self

    @property
    def integral(self) -> bool:
        return self.type in ("int", "integer")

    def check(self, name: str, value: object) -> int | float:
        where = f"template_variables.{name}"
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidInput(f"must be a number, got {value!r}", field=where)
        try:
            number: int | float = (
                int(value) if self.integral and not isinstance(value, float) else float(value)
            )
        except ValueError:
            raise InvalidInput(f"must be a number, got {value!r}", field=where) from None
        if self.integral and isinstance(value, float):
            if not value.is_integer():
                raise InvalidInput(f"must be an integer, got {value!r}", field=where)
            number = int(value)
        if self.min is not None and number < self.min:
            raise InvalidInput(f"{number} is below the minimum {self.min:g}", field=where)
        if self.max is not None and number > self.max:
            raise InvalidInput(f"{number} is above the maximum {self.max:g}", field=where)
        return number


TemplateVariable = Annotated[StringVariable | NumberVariable, Field(discriminator="type")]


def check_values(
    schema: dict[str, StringVariable | NumberVariable], values: dict[str, Scalar]
) -> dict[str, Scalar]:
    """Return the full set of values for ``schema``: given ones checked, defaults filled in."""
    unknown = sorted(set(values) - set(schema))
    if unknown:
        raise InvalidInput(
            f"unknown template variable {unknown[0]!r}; the queue declares {sorted(schema) or 'none'}",
            field=f"template_variables.{unknown[0]}",
        )
    out: dict[str, Scalar] = {}
    for name, var in schema.items():
        if name in values:
            out[name] = var.check(name, values[name])
        elif var.default is not None:
            out[name] = var.default
        else:
            raise InvalidInput(
                "is required by the queue and has no default", field=f"template_variables.{name}"
            )
    return out
