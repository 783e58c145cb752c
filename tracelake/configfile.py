"""Configuration files as pydantic models: one loader, one error line.

The drift rules (:mod:`tracelake.queries.alerts.rules`), the API keys file
(:mod:`tracelake.api.keys`) and the price table
(:mod:`tracelake.transforms.pricing`) are TOML files, each described by a
pydantic model. :func:`load_toml_model` reads and validates one of them and
turns every way it can fail into a :class:`~tracelake.errors.ConfigError`
whose message is ONE line naming the file, the entry and the field::

    rules.toml: rules.cost_spike.factor: Input should be greater than 0
    keys.toml: keys[2] (id 'ops').role: Input should be 'ingest', 'read' or 'admin'
    prices.toml: models."gpt-4.1": unknown key 'ouput' (known: input, cached_input, output)
    keys.toml: not valid TOML: Expected '=' after a key in a key/value pair (at line 3, column 5)
    rules.toml: rules file does not exist

How a location reads: tables by their TOML dotted key (quoted when the key is
not a bare key), array entries by their position counted from 1 as a person
counts the ``[[keys]]`` tables in the file, followed by the entry's ``id`` or
``name`` when it has one. When a file has several problems the first is
reported and the rest counted (``… (and 2 more problems)``).

Values are never echoed back: a keys file's ``sha256`` may hold a pasted
secret key by mistake, and the message ends up in logs.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from tracelake.errors import ConfigError

__all__ = ["describe", "describe_validation_error", "load_toml_model", "read_toml", "validate_model"]

M = TypeVar("M", bound=BaseModel)

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# pydantic's wording for container types, in TOML's words (a user writes
# tables and arrays, not dictionaries or "instances of KeyEntry").
_TOML_TYPES = {
    "list_type": "Input should be an array",
    "tuple_type": "Input should be an array",
    "dict_type": "Input should be a table",
    "model_type": "Input should be a table",
    "model_attributes_type": "Input should be a table",
}


def read_toml(path: str | os.PathLike[str], *, kind: str = "configuration file",
              error: type[ConfigError] = ConfigError, missing_hint: str = "") -> dict[str, Any]:
    """The parsed TOML document at ``path``.

    Raises ``error`` (one line, starting with the path) when the file does not
    exist (``<path>: <kind> does not exist<missing_hint>``), cannot be read,
    is not UTF-8, or is not valid TOML.
    """
    source = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise error(f"{source}: {kind} does not exist{missing_hint}") from None
    except OSError as exc:
        raise error(f"{source}: cannot read the {kind}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise error(f"{source}: not valid TOML: the file is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{source}: not valid TOML: {_one_line(str(exc))}") from None


def validate_model(source: str, data: Mapping[str, Any], model: type[M],
                   error: type[ConfigError] = ConfigError) -> M:
    """``data`` (a parsed file) as ``model``; ``source`` names the file in the message.

    Raises ``error`` with :func:`describe_validation_error`'s one line.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(describe_validation_error(source, exc, data, model)) from None


def load_toml_model(path: str | os.PathLike[str], model: type[M], *, kind: str = "configuration file",
                    error: type[ConfigError] = ConfigError, missing_hint: str = "") -> M:
    """Read the TOML file at ``path`` and validate it as ``model``.

    Every failure (missing or unreadable file, TOML syntax, a bad entry) raises
    ``error`` (a :class:`ConfigError`) with one line naming the file, the entry
    and the field; see the module docstring.
    """
    data = read_toml(path, kind=kind, error=error, missing_hint=missing_hint)
    return validate_model(os.fspath(path), data, model, error)


def describe(source: str, loc: Sequence[str | int], message: str, data: Any = None) -> str:
    """``<source>: <location>: <message>`` on one line.

    ``loc`` is a pydantic-style location (``("keys", 1, "role")``, indices from
    0); ``data`` is the parsed file, used to name array entries by their
    ``id`` or ``name``.
    """
    where = _location(loc, data)
    return _one_line(f"{source}: {where}: {message}" if where else f"{source}: {message}")


def describe_validation_error(source: str, exc: ValidationError, data: Any = None,
                              model: type[BaseModel] | None = None) -> str:
    """The first problem of ``exc`` as one line (see :func:`describe`), plus a count of the others.

    With ``model`` an unknown key's message lists the keys that are allowed there.
    """
    # An unknown key first: it is usually a misspelt one, which also makes the
    # intended key "Field required", and the misspelling is what to fix.
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    loc: tuple[str | int, ...] = tuple(first["loc"])
    kind = first["type"]
    if kind == "extra_forbidden" and loc:
        *parent, name = loc
        what = "section" if not parent and isinstance(first.get("input"), Mapping) else "key"
        message = f"unknown {what} {str(name)!r}"
        known = _known_keys(model, parent) if model is not None else None
        if known:
            message += f" (known: {', '.join(known)})"
        loc = tuple(parent)
    elif kind in ("value_error", "assertion_error"):
        # Our own validators' text, without pydantic's "Value error, " prefix.
        message = str(first.get("ctx", {}).get("error", first["msg"]))
    elif kind == "list_type" and model is not None and loc and isinstance(loc[-1], str) \
            and _array_of_tables(model, loc):
        message = f"Input should be an array of tables ([[{loc[-1]}]])"
    else:
        message = _TOML_TYPES.get(kind, first["msg"])
    line = describe(source, loc, message, data)
    if len(errors) > 1:
        more = len(errors) - 1
        line += f" (and {more} more problem{'s' if more > 1 else ''})"
    return line


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _location(loc: Sequence[str | int], data: Any) -> str:
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part + 1}]"
            node = node[part] if isinstance(node, Sequence) and not isinstance(node, str) \
                and 0 <= part < len(node) else None
            label = _label(node)
            if label:
                out += f" ({label})"
        else:
            key = part if _BARE_KEY.match(part) else '"' + part.replace('"', '\\"') + '"'
            out += f".{key}" if out else key
            node = node.get(part) if isinstance(node, Mapping) else None
    return out


def _label(entry: Any) -> str:
    if isinstance(entry, Mapping):
        for key in ("id", "name"):
            if isinstance(entry.get(key), str):
                return f"{key} {entry[key]!r}"
    return ""


def _type_at(model: type[BaseModel], loc: Sequence[str | int]) -> Any:
    """The type expected at ``loc`` inside ``model`` (unwrapped), or None when it cannot be told."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            tp = field.annotation
            continue
        origin, args = get_origin(tp), get_args(tp)
        if origin in (list, tuple, Sequence) and args:
            tp = args[0]
        elif origin in (dict, Mapping) and len(args) == 2:
            tp = args[1]
        else:
            return None
    return _unwrap(tp)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _known_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str] | None:
    """The field names of the table expected at ``loc``, or None."""
    tp = _type_at(model, loc)
    return list(tp.model_fields) if _is_model(tp) else None


def _array_of_tables(model: type[BaseModel], loc: Sequence[str | int]) -> bool:
    tp = _type_at(model, loc)
    args = get_args(tp)
    return get_origin(tp) in (list, Sequence) and bool(args) and _is_model(_unwrap(args[0]))


def _unwrap(tp: Any) -> Any:
    """``X`` from ``Annotated[X, …]`` and ``X | None``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
            if len(options) != 1:
                return tp
            tp = options[0]
        else:
            return tp
