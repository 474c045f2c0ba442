"""The recovery plan: its model (:mod:`.model`), cross-field rules (:mod:`.checks`) and safe
file loading (:mod:`.loader`). Import from here."""

from drsorch.plan.loader import load_plan, parse_plan, read_document, validate_data
from drsorch.plan.model import (
    DRS_MAX_SERVERS_PER_JOB,
    Defaults,
    HealthCheck,
    HealthCheckSettings,
    Notifications,
    Plan,
    Target,
    Wave,
)

__all__ = [
    "DRS_MAX_SERVERS_PER_JOB",
    "Defaults",
    "HealthCheck",
    "HealthCheckSettings",
    "Notifications",
    "Plan",
    "Target",
    "Wave",
    "load_plan",
    "parse_plan",
    "plan_json_schema",
    "read_document",
    "validate_data",
]


def plan_json_schema() -> dict[str, object]:
    """The JSON Schema of a plan file, for editors."""
    schema = Plan.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "drsorch recovery plan"
    return schema
