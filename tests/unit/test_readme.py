"""The README and docs/ stay true to the code, and their links stay inside the repository.

The tables live where the docs put them (the configuration table in docs/configuration.md, the
event catalogue in docs/messaging.md, ...); each check finds its table by its header row in
README.md or docs/*.md, so moving a table between those files keeps it checked.
"""

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from contracts.events import ALL_MESSAGES
from contracts.topology import SUBSCRIPTIONS, TELEMETRY_PARTITIONS, telemetry_routing_key
from infra.settings import Settings
from infra.upload_settings import UploadSettings
from services.deployer.config import DeployerSettings
from services.gateway.devices.config import DeviceSettings
from services.telemetry.config import TelemetrySettings

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOCS = {path: path.read_text() for path in DOC_FILES}
ALL_TEXT = "\n".join(DOCS.values())

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _tables(header: str) -> list[tuple[Path, str]]:
    """Every table whose header row starts with `header`, in README.md or docs/*.md."""
    found = []
    for path, text in DOCS.items():
        lines = text.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(header):
                rows = [line]
                for row in lines[i + 1 :]:
                    if not row.startswith("|"):
                        break
                    rows.append(row)
                found.append((path, "\n".join(rows)))
    return found


def _table(header: str) -> str:
    """The one table whose header row starts with `header`, in README.md or docs/*.md."""
    found = _tables(header)
    assert len(found) == 1, f"expected one table headed {header!r}, found {[p for p, _ in found]}"
    return found[0][1]


def _settings_tables() -> str:
    """The configuration tables: the common settings' and each service's own."""
    found = _tables("| variable | default | meaning |")
    assert found, "no configuration table"
    return "\n".join(text for _, text in found)


def _prose(text: str) -> str:
    """Text outside fenced code blocks (links in a code sample are not links)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def test_docs_exist_and_the_readme_links_each_one():
    assert len(DOC_FILES) > 1, "docs/*.md is missing"
    readme = DOCS[ROOT / "README.md"]
    unlinked = [p.name for p in DOC_FILES[1:] if f"](docs/{p.name})" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"


def test_every_setting_is_documented():
    table = _settings_tables()
    names = [  # the standard OTEL_* variables are read under their own names
        f.validation_alias if isinstance(f.validation_alias, str) else f"K1_{n.upper()}"
        for n, f in Settings.model_fields.items()
    ]
    missing = [name for name in names if f"`{name}" not in table]
    assert not missing, f"the configuration table lacks {missing}"


SERVICE_SETTINGS: tuple[type[BaseSettings], ...] = (
    UploadSettings,
    DeviceSettings,
    DeployerSettings,
    TelemetrySettings,
)


def test_every_service_setting_is_documented():
    table = _settings_tables()
    missing = [
        f"{cls.model_config.get('env_prefix', '')}{name}".upper()
        for cls in SERVICE_SETTINGS
        for name in cls.model_fields
        if f"`{cls.model_config.get('env_prefix', '')}{name}`".upper() not in table.upper()
    ]
    assert not missing, f"the configuration tables lack {missing}"


def test_every_settings_class_is_checked():
    """A new settings class is added to the checks above (and so to docs/configuration.md)."""
    declared = set()
    for folder in ("contracts", "infra", "k1", "services"):
        for path in (ROOT / folder).rglob("*.py"):
            declared |= set(re.findall(r"^class (\w+)\(BaseSettings\)", path.read_text(), re.M))
    checked = {Settings.__name__, *(cls.__name__ for cls in SERVICE_SETTINGS)}
    assert declared == checked, f"settings classes not checked: {declared - checked}"


def _in_catalogue(name: str, table: str) -> bool:
    """`name` in backticks, or matched by a backticked family name whose `pNN` stands for the
    partition number (`telemetry.device.telemetry.pNN`: one queue per telemetry partition)."""
    if f"`{name}`" in table:
        return True
    families = re.findall(r"`([^`\s]*\.pNN)`", table)
    return any(re.fullmatch(re.escape(f[: -len("pNN")]) + r"p\d{2}", name) for f in families)


def test_every_routing_key_and_queue_is_in_the_event_catalogue():
    table = _table("| routing key | kind | producer |")
    missing = [m.routing_key for m in ALL_MESSAGES if not _in_catalogue(m.routing_key, table)]
    missing += [s.queue for s in SUBSCRIPTIONS if not _in_catalogue(s.queue, table)]
    missing += [  # and every partition's routing key
        telemetry_routing_key(n)
        for n in range(TELEMETRY_PARTITIONS)
        if not _in_catalogue(telemetry_routing_key(n), table)
    ]
    assert not missing, f"the event catalogue lacks {missing}"


def test_every_command_in_the_commands_table_is_a_make_target():
    table = _table("| command | what it does |")
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_-]+):", makefile, flags=re.M))
    named = set(re.findall(r"`make ([A-Za-z0-9_-]+)", table))
    assert {"run", "test"} <= named
    assert not named - targets, f"the commands table names unknown targets {named - targets}"


def test_every_relative_link_points_to_a_file_in_the_repository():
    broken = []
    for path, text in DOCS.items():
        for target in LINK.findall(_prose(text)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):
                if not target.startswith(("https://", "http://", "mailto:")):
                    broken.append(f"{path.name}: {target} (not a web link)")
                continue
            file_part = target.split("#", 1)[0]
            if not file_part:
                continue  # an anchor in the same file
            if file_part.startswith("/"):
                broken.append(f"{path.name}: {target} (absolute path)")
                continue
            resolved = (path.parent / file_part).resolve()
            if not resolved.is_relative_to(ROOT):
                broken.append(f"{path.name}: {target} (leaves the repository)")
            elif not resolved.exists():
                broken.append(f"{path.name}: {target} (no such file)")
    assert not broken, "broken or outward links:\n" + "\n".join(broken)


def test_no_link_points_outside_the_repository():
    outward = [t for t in LINK.findall(_prose(ALL_TEXT)) if "../shared" in t]
    assert not outward, f"links into ../shared break in a user's clone: {outward}"
