"""Load a config: plain JSON, or Jsonnet with ext vars from ``--ext-var`` and then the environment."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.train.errors import TrainConfigError

_UNDEFINED = re.compile(r"undefined external variable: (\S+)", re.IGNORECASE)


def render_config_file(
    path: Path, ext_vars: Mapping[str, str] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Return the config at ``path`` as data.

    ``.json`` files are read as they are (``tune`` hands trials a rendered config);
    anything else is evaluated as Jsonnet. An ``std.extVar`` not in ``ext_vars``
    is taken from the environment, as ``allennlp train`` did.

    Raises:
        TrainConfigError: The file is missing, not valid JSON/Jsonnet, names an ext var
            set nowhere, or does not evaluate to an object.
    """
    path = Path(path)
    if not path.is_file():
        raise TrainConfigError(f"config file not found: {path}")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise TrainConfigError(f"{path}: not valid JSON: {error}") from None
    else:
        data = _evaluate_jsonnet(path, dict(ext_vars or {}), os.environ if environ is None else environ)
    if not isinstance(data, dict):
        raise TrainConfigError(f"{path}: the config must be an object, got {type(data).__name__}")
    return data


def _evaluate_jsonnet(path: Path, ext_vars: dict[str, str], environ: Mapping[str, str]) -> Any:
    import _gojsonnet

    while True:
        try:
            return json.loads(_gojsonnet.evaluate_file(str(path), ext_vars=ext_vars))
        except RuntimeError as error:
            missing = _UNDEFINED.search(str(error))
            if missing is None:
                first = str(error).strip().splitlines()[0]
                raise TrainConfigError(f"{path}: Jsonnet error: {first}") from None
            name = missing.group(1).strip("'\"")
            if name in ext_vars or name not in environ:
                raise TrainConfigError(
                    f"{path}: external variable '{name}' is not set; pass --ext-var {name}=VALUE or set ${name}"
                ) from None
            ext_vars[name] = environ[name]
