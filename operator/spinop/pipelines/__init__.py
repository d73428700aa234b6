"""Pure pipeline logic: deterministic ids, rendering the Gate body, drift comparison and the tenant guard."""

from .drift import compare, foreign_editor, normalize
from .guard import TenantScope, check_pipeline, is_expression
from .ids import managed_service_account, pipeline_id
from .paths import Violation, format_path, parse_path
from .render import (
    RenderRefused,
    application_name_problem,
    lock_for,
    preserve_cron_trigger_ids,
    render_pipeline,
)

__all__ = [
    "RenderRefused",
    "TenantScope",
    "Violation",
    "application_name_problem",
    "check_pipeline",
    "compare",
    "foreign_editor",
    "format_path",
    "is_expression",
    "lock_for",
    "managed_service_account",
    "normalize",
    "parse_path",
    "pipeline_id",
    "preserve_cron_trigger_ids",
    "render_pipeline",
]
