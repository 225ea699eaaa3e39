"""Sampled values on a trial's command line and in its environment (README "Scripts that take flags").

Every parameter of the search space is a ``--command`` placeholder ``{name}`` and an environment
variable ``TUNER_PARAM_<NAME>`` (upper-cased, every character but letters and digits as ``_``);
``TUNER_PARAMS`` holds them all as one JSON object. Values are written as the Jsonnet ext vars are
(:func:`tuner.config.snapshot.ext_var_string`): ints ``128``, floats in shortest round-trip form
(``repr``: exactly the value sampled), booleans ``true``/``false``, strings raw, other choices as JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tuner.config.snapshot import ext_var_string
from tuner.contract import ENV_PARAM_PREFIX, ENV_PARAMS
from tuner.errors import OptionError

# What a placeholder looks like: braces around a name of letters, digits, "_", "." and "-".
# Parameters with other names reach the trial through the environment only.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


def env_name(name: str) -> str:
    """``TUNER_PARAM_`` and ``name`` upper-cased, each character other than a letter or digit as ``_``."""
    return ENV_PARAM_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def command_value(value: Any) -> str | None:
    """How ``value`` is written on the command line and in the environment; None for a null (inactive) value."""
    return None if value is None else ext_var_string(value)


def params_env(params: Mapping[str, Any], inherited: Iterable[str] = ()) -> dict[str, str | None]:
    """The trial's parameter variables; the ``inherited`` ones of that form no parameter sets map to None (unset)."""
    env: dict[str, str | None] = {name: None for name in inherited if name.startswith(ENV_PARAM_PREFIX)}
    for name, value in params.items():
        env[env_name(name)] = command_value(value)
    env[ENV_PARAMS] = json.dumps(dict(params))
    return env


def check_env_names(names: Sequence[str]) -> None:
    """Refuse two parameters whose environment variable would be the same (``model-lr`` and ``model_lr``)."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(env_name(name), name)
        if other != name:
            raise OptionError(
                f"parameters '{other}' and '{name}' would both be ${env_name(name)} in the trial's environment; "
                "rename one of them in the search space"
            )


def substitute(argv: Sequence[str], values: Mapping[str, str | None]) -> list[str]:
    """Fill ``{name}`` placeholders from ``values`` in one pass (a value is never read for placeholders).

    A placeholder whose value is None (an inactive conditional parameter without a default) drops its
    argument, and with it the option just before when the argument is exactly the placeholder and that
    option starts with ``-``: ``--momentum {momentum}`` vanishes, as ``--momentum={momentum}`` does.
    Names not in ``values`` stay as written.
    """
    rendered: list[str] = []
    for argument in argv:
        names = PLACEHOLDER.findall(argument)
        if any(name in values and values[name] is None for name in names):
            if PLACEHOLDER.fullmatch(argument) and rendered and _is_option(rendered[-1]):
                rendered.pop()
            continue
        rendered.append(PLACEHOLDER.sub(lambda match: _value(match, values), argument))
    return rendered


def _is_option(argument: str) -> bool:
    return argument.startswith("-") and not re.match(r"-\.?\d", argument)  # -0.5 is a value


def _value(match: re.Match[str], values: Mapping[str, str | None]) -> str:
    value = values.get(match.group(1))
    return match.group(0) if value is None else value


def trial_env(env: Mapping[str, str], params: Mapping[str, Any]) -> dict[str, str]:
    """``env`` with the trial's parameter variables; inherited ``TUNER_PARAM_*`` that no parameter sets are dropped."""
    updated = {**env, **params_env(params, inherited=env)}
    return {name: value for name, value in updated.items() if value is not None}
