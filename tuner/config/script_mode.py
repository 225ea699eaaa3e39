"""Studies without a Jsonnet config: scripts that take their hyper-parameters as flags.

README "Scripts that take flags".

``tune SPACE --command "python train.py --lr {lr}"`` has no config to render. Its study gets one made
from the space (:func:`parameters_snapshot`): a Jsonnet object with one field per parameter, so each
trial's ``config.json``, ``best_config.json`` and ``dump-best`` hold the sampled values as JSON
(``{"lr": 0.01, "hidden": 64}``) and everything a config study stores works unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.config.snapshot import ConfigSnapshot, ext_var_string
from tuner.config.sources import is_path, snapshot_and_study_name
from tuner.errors import OptionError
from tuner.space.parameters import Parameter, SearchSpace

# The entry of the config made from the space: a study whose snapshot has it was run without a config.
PARAMETERS_ENTRY = "<parameters>"


def config_or_parameters(arguments: Mapping[str, Any], space: SearchSpace) -> tuple[ConfigSnapshot, str]:
    """The config's snapshot and default study name (from :func:`tuner.tune`'s ``arguments``); without a
    config, those made from the space.

    A study without a config needs a ``command`` (the built-in trainer reads a config) and takes no
    ext vars; its default name is the space file's stem (``search_spaces/mlp.json`` -> ``mlp``).
    """
    if arguments["config"] is not None:
        return snapshot_and_study_name(arguments["config"])
    if arguments["command"] is None:
        raise OptionError(
            "no config given: the built-in trainer needs CONFIG; for a script that takes its hyper-parameters as "
            "flags, give --command (tune SPACE --command 'python train.py --lr {lr}')"
        )
    if arguments["ext_vars"]:
        raise OptionError("--ext-var sets a config's ext vars, and no config is given; put fixed values in --command")
    return parameters_snapshot(space), _space_name(arguments["search_space"], space)


def is_parameters_snapshot(snapshot: ConfigSnapshot) -> bool:
    """Whether ``snapshot`` was made from a search space (the study has no config of its own)."""
    return snapshot.entry == PARAMETERS_ENTRY


def parameters_snapshot(space: SearchSpace) -> ConfigSnapshot:
    """A Jsonnet config that renders to the parameters' values: ``{"lr": 0.01, "hidden": 64, ...}``."""
    fields = "".join(f"  {json.dumps(parameter.name)}: {_value_expression(parameter)},\n" for parameter in space)
    return ConfigSnapshot(entry=PARAMETERS_ENTRY, files={PARAMETERS_ENTRY: "{\n" + fields + "}\n"})


def _value_expression(parameter: Parameter) -> str:
    """The Jsonnet that turns the parameter's ext var string back into its value.

    Choices are looked up by their ext var string, so a string choice stays a string and ``3`` a number;
    an inactive conditional parameter renders as its default (``null`` when it has none).
    """
    read = f"std.extVar({json.dumps(parameter.name)})"
    values = [*(parameter.choices or ()), *([parameter.default] if parameter.condition else [])]
    if parameter.choices is not None or parameter.kind == "categorical":
        table = {ext_var_string(value): value for value in values}
        return f"{json.dumps(table)}[{read}]"
    expression = f"std.parseJson({read})"
    if parameter.condition:  # the default may be null, or of another type than the range
        default = json.dumps(parameter.default)
        return f"(if {read} == {json.dumps(ext_var_string(parameter.default))} then {default} else {expression})"
    return expression


def _space_name(search_space: Any, space: SearchSpace) -> str:
    if is_path(search_space):
        return Path(search_space).stem
    text = json.dumps(space.to_dict(), sort_keys=True)
    return "script-" + hashlib.sha256(text.encode()).hexdigest()[:8]
