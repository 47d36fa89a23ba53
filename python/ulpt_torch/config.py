"""Mirrors src/config.ts: the training configuration, validated against src/config.schema.json (the one definition)."""
import json
import os
from typing import List

SCHEMA_ENV = "ULPT_CONFIG_SCHEMA"


class ConfigError(Exception):
    pass


def schema_path() -> str:
    """$ULPT_CONFIG_SCHEMA, else the schema beside the package (a job folder), else the repository's src/."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get(SCHEMA_ENV), os.path.join(here, "config.schema.json"), os.path.join(here, "..", "..", "src", "config.schema.json")]
    for path in candidates:
        if path and os.path.exists(path):
            return os.path.normpath(path)
    raise ConfigError(f"The configuration schema was not found: looked for ${SCHEMA_ENV}, {candidates[1]} and {os.path.normpath(candidates[2])}.")


def config_problems(config) -> List[str]:
    """Every problem the schema finds, one per line, naming the field as a config file does ("task.template")."""
    import jsonschema

    with open(schema_path(), encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft7Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        field = ".".join(map(str, error.absolute_path)) or "(config)"
        problems.append(f"{field}: {error.message}")
    seed = config.get("seed") if isinstance(config, dict) else None
    if str(seed).isdigit() and int(str(seed)) >= 1 << 64:
        problems.append(f"seed: must be a whole number from 0 to {(1 << 64) - 1} (64 bits)")
    return problems


def check_config(config: dict, source: str) -> dict:
    problems = config_problems(config)
    if problems:
        raise ConfigError(f"{source} has {'a problem' if len(problems) == 1 else f'{len(problems)} problems'}:\n  " + "\n  ".join(problems))
    return config
