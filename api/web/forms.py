"""Form widgets derived from the pydantic models, so a form offers exactly what the workflow accepts.

Labels and error messages are in the request's language (api/i18n.py): a handler that builds widgets or
errors before rendering sets it first (``use_locale`` in api/web/pages.py)."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from api.i18n import N_, display_qualified_label, gettext

LONG_TEXT = 500


@dataclass
class Widget:
    name: str
    label: str
    kind: str  # text | textarea | select | checkbox | datetime
    required: bool
    options: list[tuple[str, str]] = field(default_factory=list)
    help: str = ""


def _inner(annotation: Any) -> tuple[Any, bool]:
    """Strips ``X | None``; returns (X, optional)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0], len(args) < len(get_args(annotation))
    return annotation, False


def field_label(model: type[BaseModel], name: str) -> str:
    """A field's label; ``Model.field`` in the catalog wins where one word means different things
    (an order event's ``type`` is not a customer's)."""
    return display_qualified_label([f"{cls.__name__}.{name}" for cls in model.__mro__], name)


def option_label(enum: type[Enum], value: str) -> str:
    return display_qualified_label([f"{enum.__name__}.{value}"], value)


def widgets(model: type[BaseModel], *, skip: tuple[str, ...] = ("actor",)) -> list[Widget]:
    out = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        annotation, optional = _inner(info.annotation)
        required = info.is_required()
        help_text = info.description or ""
        text = field_label(model, name)
        if isinstance(annotation, type) and issubclass(annotation, Enum):
            options = [(m.value, option_label(annotation, m.value)) for m in annotation]
            if optional:
                options.insert(0, ("", "—"))
            out.append(Widget(name, text, "select", required, options, help_text))
        elif annotation is bool:
            out.append(Widget(name, text, "checkbox", False, help=help_text))
        elif annotation is datetime:
            out.append(Widget(name, text, "datetime", required, help=help_text))
        else:
            max_length = next((m.max_length for m in info.metadata if hasattr(m, "max_length")), None)
            kind = "textarea" if (max_length or 0) > LONG_TEXT else "text"
            out.append(Widget(name, text, kind, required, help=help_text))
    return out


def parse(model: type[BaseModel], form: dict[str, str], *, prefix: str = "") -> dict[str, Any]:
    """Form strings to the model's input: blank optional fields become None, checkboxes booleans."""
    data: dict[str, Any] = {}
    for w in widgets(model, skip=()):
        raw = form.get(prefix + w.name)
        if w.kind == "checkbox":
            data[w.name] = raw in ("on", "true", "1")
        elif raw is None or raw.strip() == "":
            if w.required:
                data[w.name] = raw if raw is not None else None
        else:
            data[w.name] = raw.strip()
    return {k: v for k, v in data.items() if v is not None}


# Pydantic's messages in the staff's language; anything not listed keeps pydantic's own words.
_MESSAGES = {
    "missing": N_("必填"),
    "string_too_short": N_("必填"),
    "string_too_long": N_("过长（最多 {max_length} 个字符）"),
    "enum": N_("请从列表中选择"),
    "datetime_from_date_parsing": N_("请填写有效的日期时间"),
    "datetime_parsing": N_("请填写有效的日期时间"),
    "int_parsing": N_("请填写整数"),
    "bool_parsing": N_("请选择是或否"),
}


def _as_is(text: str) -> str:
    return text


def message(error: dict[str, Any], translate: Callable[[str], str] = _as_is) -> str:
    """A pydantic error in the staff's words (zh-CN, as the API answers it); a page passes ``gettext`` as
    ``translate`` for the request's language."""
    template = _MESSAGES.get(error["type"])
    if template:
        return translate(template).format(**error.get("ctx", {}))
    return translate(str(error["msg"]).removeprefix("Value error, "))


def errors_by_field(err: ValidationError) -> dict[str, str]:
    """A form's errors by input name, in the request's language."""
    out: dict[str, str] = {}
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"] if p != "body") or "__all__"
        out.setdefault(loc, message(e, gettext))
    return out
